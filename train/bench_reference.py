"""PyTorch reference timing for `tav bench generate`: the same model file (f32 weights, or s8
weights dequantised to f32), the same prompts, seed, steps and thread count, the same stages
(text encoder, Euler/CFG sampler over the DiT, per-frame decoder to bytes) as the C engine.

    python3 -m train.bench_reference --model FILE --prompt "c1" --prompt "c2" \
        [--steps K] [--seed S] [--threads N] [--repeat R]

Prints one JSON object: text_s, denoise_s, decode_s, total_s (best of R runs after a warm-up),
n_frames, threads, torch version. Written for the C engine's benchmark, not for training.

    python3 -m train.bench_reference --make-random 128 --out build/bench/random128.tavm

writes a random-weight model with the trainer's DEFAULT_CONFIG at that image size (speed does
not depend on the weights), with a vocabulary covering the benchmark's procedure prompts.
"""
import argparse
import json
import time

import torch

from train import export
from train import model as M


def run_once(m, scenes, steps, seed):
    cfg = m.cfg
    T = cfg.frames_per_scene * len(scenes)
    h, C = cfg.latent_size, cfg.latent_channels
    t0 = time.perf_counter()
    c0 = time.process_time()  # CPU seconds of all threads (load-independent)
    with torch.no_grad():
        ids, sc = m.tok.encode_batch([scenes], cfg.max_text, cfg.max_scenes)
        emb, mask = m.text(ids, sc)
        nids, nsc = m.tok.null_batch(1)
        nemb, nmask = m.text(nids, nsc)
        t1 = time.perf_counter()
        noise = torch.from_numpy(M.portable_noise(seed, T * C * h * h)).view(1, T, C, h, h)
        z = M.sample(m.dit, noise, emb, mask, nemb, nmask, steps=steps, cfg_scale=cfg.cfg_scale)
        t2 = time.perf_counter()
        rgb = M.to_bytes(m.ae.decode(z)).permute(0, 1, 3, 4, 2).contiguous()
        t3 = time.perf_counter()
    return {"text_s": t1 - t0, "denoise_s": t2 - t1, "decode_s": t3 - t2, "total_s": t3 - t0,
            "cpu_s": time.process_time() - c0,
            "n_frames": T, "rgb": rgb}


BENCH_WORDS = ("a red blue gear plate moves along the conveyor press stamps drill spins close view "
               "of wide robot welds rotates is drilled at in up inspected inspection camera").split()


def make_random(size, out):
    from train import common
    torch.manual_seed(0)
    cfg = dict(common.DEFAULT_CONFIG)
    cfg["image_size"] = size
    m = M.TavModel(M.ModelConfig(**cfg), M.Tokenizer(BENCH_WORDS))
    with torch.no_grad():
        for _, p in m.named_parameters():
            if p.dim() >= 2:
                p.normal_(0, 1 / p[0].numel() ** 0.5)
    export.export_model(m.eval(), out, stage="random-bench")
    print(f"wrote {out}: {cfg}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--make-random", type=int, metavar="SIZE")
    ap.add_argument("--out")
    ap.add_argument("--model")
    ap.add_argument("--prompt", action="append")
    ap.add_argument("--steps", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=2)
    a = ap.parse_args(argv)
    if a.make_random:
        return make_random(a.make_random, a.out)
    if not a.model or not a.prompt:
        ap.error("--model and --prompt are required")
    torch.set_num_threads(a.threads)
    m, _ = export.import_model(a.model)
    m.eval()
    steps = a.steps or m.cfg.sample_steps
    run_once(m, a.prompt, steps, a.seed)  # warm-up
    best = None
    for _ in range(max(1, a.repeat)):
        r = run_once(m, a.prompt, steps, a.seed)
        if best is None or r["total_s"] < best["total_s"]:
            best = r
    best.pop("rgb")
    best.update({"threads": a.threads, "steps": steps, "torch": torch.__version__})
    print(json.dumps(best))


if __name__ == "__main__":
    main()
