"""The distillation's teacher-pair prompts (train.stage_distill.random_prompt): the default draws
stay what the shipped student trained on; --same-station P gives cuts at one station."""
import unittest

import numpy as np

from train import stage_distill as Sd
from train.data import captions as C
from train.eval import prompts as P


def stations(prompt):
    """The station each scene's caption names (None when not exactly one)."""
    out = []
    for cap in C.split_scenes(prompt):
        found = {v for a, v, _ in P.named_values(cap) if a == "station"}
        out.append(found.pop() if len(found) == 1 else None)
    return out


class TestDistillPrompts(unittest.TestCase):
    def test_zero_share_draws_as_before(self):
        a = [Sd.random_prompt(np.random.default_rng(5), n) for n in (1, 3, 6)]
        b = [Sd.random_prompt(np.random.default_rng(5), n, 0.0) for n in (1, 3, 6)]
        self.assertEqual(a, b)

    def test_station_changes_or_stays(self):
        rng = np.random.default_rng(6)
        for _ in range(20):
            st = stations(Sd.random_prompt(rng, 4))
            self.assertTrue(all(x != y for x, y in zip(st, st[1:]) if x and y), st)
        same = known = 0
        for _ in range(20):
            st = stations(Sd.random_prompt(rng, 4, 1.0))
            pairs = [(x, y) for x, y in zip(st, st[1:]) if x and y]
            same, known = same + sum(x == y for x, y in pairs), known + len(pairs)
        self.assertGreater(known, 20)
        self.assertEqual(same, known)

    def test_bad_share_refused(self):
        with self.assertRaises(SystemExit):
            Sd.main(["--same-station", "1.5"])


if __name__ == "__main__":
    unittest.main()
