"""The template probe's ground truth (train.eval.template_probe --model rendered): each step's
text becomes the scene it names, so the ceiling row measures the detector on the product's
own procedures, not on made-up scenes."""
import unittest

import numpy as np

from train.eval import template_probe as Tp


class TestTemplateProbe(unittest.TestCase):
    def test_step_scene_keeps_named_values(self):
        rng = np.random.default_rng(1)
        sp = Tp.step_scene("the blue plate is drilled at the drill press in a close up", rng)
        self.assertEqual(sp.attributes(), {"station": "drill", "piece": "plate", "colour": "blue",
                                           "action": "drilled", "framing": "close"})
        sp = Tp.step_scene("drill press, wide view: the blue plate rotates", rng)
        self.assertEqual((sp.action, sp.framing), ("rotates", "wide"))

    def test_unnamed_or_impossible_values_are_drawn_validly(self):
        rng = np.random.default_rng(2)
        # no framing named: wide; an action the press cannot do: drawn from the press's own
        sp = Tp.step_scene("the red gear is drilled at the stamping press", rng)
        self.assertEqual((sp.station, sp.piece, sp.colour, sp.framing),
                         ("press", "gear", "red", "wide"))
        sp.validate()
        self.assertEqual(Tp.framing_of("forklift bay, detail shot: a box"), "close")


if __name__ == "__main__":
    unittest.main()
