"""Stage 1: the per-frame video autoencoder.

    python3 -m train.stage_ae [--minutes 40] [--steps 3000] [--batch 24] [--lr 2e-3]

Frames come from the procedural renderer (train/data/render.py): a pool of random single scenes
is rendered once and cached in train/data_cache/. Loss: MSE of the reconstruction, with Gaussian
noise (sigma 0.1) added to the latents before decoding so the decoder tolerates the small latent
errors a denoiser makes, plus 1e-3 * mean(z^2) to keep the latent scale bounded.
Resumes from train/runs/ae/ckpt.pt; logs train/runs/ae/loss.csv; sheets train/runs/ae/sheet_*.png
(top row: rendered frames, bottom row: reconstructions). At the end the per-channel latent mean
and std are measured on the pool and the fp16 result is written to train/checkpoints/ae.pt.
"""
import argparse
import os

import numpy as np
import torch
import torch.nn.functional as F

from train import common as Cm
from train import model as M

LAT_NOISE = 0.1
LAT_L2 = 1e-3


def frame_pool(size, n_scenes, frames, seed):
    path = os.path.join(Cm.ROOT, "train", "data_cache", f"ae_frames_{size}_{n_scenes}_{frames}_{seed}.npy")
    if os.path.exists(path):
        return np.load(path)
    from train.data.render import render_scene
    from train.data.scenes import sample_scene
    rng = np.random.default_rng(seed)
    out = np.empty((n_scenes, frames, size, size, 3), np.uint8)
    for i in range(n_scenes):
        out[i] = render_scene(sample_scene(rng), frames, size, rng)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.save(path, out)
    return out


def to_float(u8):
    """uint8 [...,H,W,3] -> float [...,3,H,W] in [-1,1]."""
    x = torch.from_numpy(u8).float() / 127.5 - 1.0
    return x.movedim(-1, -3)


class AEOnly(torch.nn.Module):
    """The autoencoder with the config attached (what the AE stage trains and saves)."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.ae = M.AutoEncoder(cfg)
        self.tok = M.Tokenizer([])


def main(argv=None):
    ap = argparse.ArgumentParser(description="train the per-frame autoencoder")
    ap.add_argument("--minutes", type=float, default=40,
                    help=Cm.MINUTES_HELP)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=24)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--scenes", type=int, default=1500)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(Cm.CKPT, "ae.pt"))
    a = ap.parse_args(argv)
    Cm.setup_torch(a.threads)
    cfg = M.ModelConfig(**Cm.DEFAULT_CONFIG)
    d = Cm.run_dir("ae")
    clock = Cm.RunClock()
    pool = frame_pool(cfg.image_size, a.scenes, 12, seed=1)
    val = pool[-50:].reshape(-1, *pool.shape[2:])
    train = pool[:-50].reshape(-1, *pool.shape[2:])
    print(f"pool: {len(train)} train frames, {len(val)} val frames ({clock.elapsed():.0f}s)", flush=True)

    net = AEOnly(cfg)
    opt = torch.optim.AdamW(net.ae.parameters(), lr=a.lr, weight_decay=0.0)
    ck = os.path.join(d, "ckpt.pt")
    step, extra = (Cm.load_full(ck, net, opt) if os.path.exists(ck) else (0, {}))
    clock.resume(step, extra.get("wall", 0.0), extra.get("cpu", 0.0))
    log = Cm.CsvLog(os.path.join(d, "loss.csv"), ["step", "loss", "mse", "val_mse", "wall_s", "cpu_s"])
    g = np.random.default_rng(step + 7)
    vx = to_float(val[::7][:64])
    print(f"autoencoder: {M.count_params(net.ae)} params; resume at step {step}", flush=True)

    while step < a.steps and Cm.within_budget(clock.wall(step), a.minutes):
        lr = Cm.cosine_lr(step, a.steps, a.lr, warmup=100)
        for pg in opt.param_groups:
            pg["lr"] = lr
        x = to_float(train[g.integers(0, len(train), a.batch)])
        z = net.ae.enc(x)
        y = net.ae.dec(z + LAT_NOISE * torch.randn_like(z))
        mse = F.mse_loss(y, x)
        loss = mse + LAT_L2 * z.pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        vm = ""
        if step % 100 == 0:
            with torch.no_grad():
                vm = F.mse_loss(net.ae.dec(net.ae.enc(vx)), vx).item()
            print(f"step {step} loss {loss.item():.5f} mse {mse.item():.5f} val {vm:.5f} "
                  f"lr {lr:.2e} {clock.elapsed():.0f}s", flush=True)
        t = clock.counts(step)
        log.row(step, f"{loss.item():.6f}", f"{mse.item():.6f}", vm, f"{t['wall']:.1f}", f"{t['cpu']:.1f}")
        if step % 250 == 0:
            Cm.save_full(ck, net, opt, step, t)
        if step % 500 == 0:
            sheet(net, val, os.path.join(d, f"sheet_{step:06d}.png"))
    t = clock.counts(step)                  # the same counts in the checkpoint and the result
    Cm.save_full(ck, net, opt, step, t)
    sheet(net, val, os.path.join(d, "sheet_last.png"))
    # latent statistics for normalisation (DiT sees zn = (z - mean) / std)
    with torch.no_grad():
        idx = np.random.default_rng(0).integers(0, len(train), 2048)
        zs = torch.cat([net.ae.enc(to_float(train[idx[i:i + 256]])) for i in range(0, 2048, 256)])
        net.ae.latent_mean.copy_(zs.mean(dim=(0, 2, 3)))
        net.ae.latent_std.copy_(zs.std(dim=(0, 2, 3)))
        vmse = F.mse_loss(net.ae.dec(net.ae.enc(vx)), vx).item()
    info = {"steps": step, "wall_s": t["wall"], "cpu_s": t["cpu"], "val_mse": vmse,
            "latent_mean": net.ae.latent_mean.tolist(), "latent_std": net.ae.latent_std.tolist()}
    Cm.save_fp16(a.out, net, info)
    Cm.plot_curve(os.path.join(d, "loss.csv"), os.path.join(d, "loss.png"), "mse", "autoencoder")
    print("done", info, flush=True)


def sheet(net, val, path):
    with torch.no_grad():
        pick = val[::37][:12]
        y = M.to_bytes(net.ae.dec(net.ae.enc(to_float(pick)))).movedim(-3, -1).numpy()
    Cm.contact_sheet([pick, y], scale=2).save(path)


if __name__ == "__main__":
    main()
