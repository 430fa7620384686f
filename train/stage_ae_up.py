"""Stage 1b: a decoder with one extra 2x upsampling level (the asymmetric autoencoder).

    python3 -m train.stage_ae_up [--minutes 40] [--steps 3500] [--batch 16] [--lr 1e-3]
                                 [--edge 0.0] [--threads 2]

The encoder, its latent space and the latent statistics of train/checkpoints/ae.pt stay exactly
as they are (the DiT and its cached latents stay valid); only the decoder changes: its first L
levels start from ae.pt's, one level of width --up-width (16) is appended, and conv_out starts
from ae.pt's (its input width is the same 16). The result decodes the same 8x8x4 latents to
frames twice the encoder's input size (64 -> 128 for the shipped config).

Data: pairs of renders of the SAME scene and frames at the encoder's size and at the output
size (train/data/render.py is resolution-independent: same spec, same rng seed; the stage checks
that the 2x2-averaged large render matches the small one). Cached in train/data_cache/.
The encoder is frozen, so the latents of the small renders are computed once. Training input:
latents + N(0, 0.1^2) (the latent-noise augmentation of train.stage_ae); target: the large
render. Loss: MSE, plus --edge * L1 between the finite-difference gradients of output and
target (a term that rewards sharp edges; 0 = plain MSE, the default: in a 300-step A/B from the
same init it gave the same validation MSE, 0.01707 vs 0.01709, and slightly LESS gradient energy,
0.244 vs 0.258 of the target's, so it did not help).
Resumes from train/runs/ae_up/ckpt.pt; logs train/runs/ae_up/loss.csv; sheets
train/runs/ae_up/sheet_*.png (rows: large render, this decoder, bilinear 2x of ae.pt's decoder).
Writes train/checkpoints/ae_up.pt (fp16, no optimiser state). Validation MSE is reported against
the baseline of bilinear-upsampling the ae.pt decoder's output of the same latents.
"""
import argparse
import os

import numpy as np
import torch
import torch.nn.functional as F

from train import common as Cm
from train import model as M
from train.stage_ae import AEOnly, LAT_NOISE, to_float

N_VAL = 50          # held-out scenes (the last ones of the pool)
ALIGN_MAX = 4.0     # largest MSE (0-255 units^2) allowed between the 2x2-averaged large render
                    # and the small one: anti-aliased edges differ by ~1; a one-pixel shift is ~100+


def pair_pool(small, n_scenes, frames, seed):
    """-> (uint8 [n,T,small,small,3], uint8 [n,T,2*small,2*small,3]): scene i is sample_scene of
    a generator seeded (seed, i), rendered at both sizes with the same render seed."""
    big = 2 * small
    base = os.path.join(Cm.ROOT, "train", "data_cache", f"ae_up_pairs_{small}_{n_scenes}_{frames}_{seed}")
    if os.path.exists(base + f".{big}.npy"):
        return np.load(base + f".{small}.npy"), np.load(base + f".{big}.npy")
    from train.data.render import render_scene
    from train.data.scenes import sample_scene
    a = np.empty((n_scenes, frames, small, small, 3), np.uint8)
    b = np.empty((n_scenes, frames, big, big, 3), np.uint8)
    for i in range(n_scenes):
        spec = sample_scene(np.random.default_rng((seed, i)))
        a[i] = render_scene(spec, frames, small, np.random.default_rng((seed, i, 1)))
        b[i] = render_scene(spec, frames, big, np.random.default_rng((seed, i, 1)))
    err = alignment_mse(a, b)
    if err > ALIGN_MAX:
        raise RuntimeError(f"renders at {small} and {big} do not line up (MSE {err:.2f} > {ALIGN_MAX})")
    os.makedirs(os.path.dirname(base), exist_ok=True)
    for arr, s in ((a, small), (b, big)):
        np.save(base + f".{s}.tmp.npy", arr)
        os.replace(base + f".{s}.tmp.npy", base + f".{s}.npy")
    return a, b


def alignment_mse(a, b):
    """MSE (0-255 units^2) between small renders a [...,h,h,3] and 2x2-averaged b [...,2h,2h,3]."""
    h = a.shape[-2]
    bd = b.reshape(*b.shape[:-3], h, 2, h, 2, 3).astype(np.float32).mean(axis=(-4, -2))
    return float(np.mean((a.astype(np.float32) - bd) ** 2))


def up_config(cfg, width):
    d = cfg.to_dict()
    d["dec_up_channels"] = list(cfg.dec_up_channels) + [width]
    d["image_size"] = cfg.image_size * 2
    return M.ModelConfig.from_dict(d)


def init_from(net, src):
    """Copy every tensor of src (ae.pt's AEOnly) whose name and shape match into net; -> names
    left at their random init."""
    sd, ss = net.state_dict(), src.state_dict()
    fresh = []
    for k in sd:
        if k in ss and ss[k].shape == sd[k].shape:
            sd[k] = ss[k].clone()
        else:
            fresh.append(k)
    net.load_state_dict(sd)
    return fresh


def init_pass_through(dec, ae64_dec, level, gain, shift=0.3):
    """Start the appended level as (nearly) a pass-through, so step 0 decodes like nearest-2x of
    ae.pt's decoder instead of noise. Its input h is a SiLU output (>= -0.279): conv a = gain * I
    with bias gain * shift, conv b = I, so both SiLUs see inputs >> 1 and act as the identity on
    gain * (h + shift); conv_out (ae.pt's) is divided by gain and its bias takes off the shift.
    Only exact away from the 1-pixel border (zero padding of conv_out)."""
    lv = dec.up[level]
    n = lv[0].weight.shape[0]
    with torch.no_grad():
        for conv, g, b in ((lv[0], gain, gain * shift), (lv[1], 1.0, 0.0)):
            conv.weight.zero_()
            conv.bias.fill_(b)
            for i in range(n):
                conv.weight[i, i, 1, 1] = g
        w = ae64_dec.conv_out.weight
        dec.conv_out.weight.copy_(w / gain)
        dec.conv_out.bias.copy_(ae64_dec.conv_out.bias - shift * w.sum(dim=(1, 2, 3)))


def start_net(cfg, ae64, gain):
    """The step-0 network: ae.pt's tensors where they fit, the new level a pass-through of this
    gain (0: PyTorch's random init) -> (AEOnly, names left at random init)."""
    net = AEOnly(cfg)
    fresh = init_from(net, ae64)
    if gain > 0:
        L = len(ae64.cfg.ae_channels)
        assert cfg.dec_up_channels[0] == ae64.cfg.ae_channels[0], \
            "the pass-through init needs --up-width = ae_channels[0]"
        init_pass_through(net.ae.dec, ae64.ae.dec, L, gain)
    return net, fresh


def edge_l1(y, x):
    """Mean L1 between the horizontal and vertical finite differences of y and x [N,3,H,W]."""
    dx = (y[..., :, 1:] - y[..., :, :-1]) - (x[..., :, 1:] - x[..., :, :-1])
    dy = (y[..., 1:, :] - y[..., :-1, :]) - (x[..., 1:, :] - x[..., :-1, :])
    return 0.5 * (dx.abs().mean() + dy.abs().mean())


def grad_energy(x):
    """Mean squared finite-difference gradient of x [N,3,H,W]: falls when frames blur."""
    return float(((x[..., :, 1:] - x[..., :, :-1]) ** 2).mean() + ((x[..., 1:, :] - x[..., :-1, :]) ** 2).mean())


def encode_all(ae, frames, chunk=256):
    """Frozen encoder over uint8 [N,h,h,3] -> unnormalised latents [N,C,8,8] (float32)."""
    with torch.no_grad():
        return torch.cat([ae.enc(to_float(frames[i:i + chunk])) for i in range(0, len(frames), chunk)])


def bilinear_baseline(ae64, z):
    """ae.pt's decoder at its own size, then bilinear 2x (the thing this stage must beat)."""
    with torch.no_grad():
        return F.interpolate(ae64.ae.dec(z), scale_factor=2, mode="bilinear", align_corners=False)


def evaluate(net, ae64, zv, xv):
    """-> dict of validation figures on latents zv and large targets xv (float [-1,1])."""
    with torch.no_grad():
        y = torch.cat([net.ae.dec(zv[i:i + 64]) for i in range(0, len(zv), 64)])
        b = torch.cat([bilinear_baseline(ae64, zv[i:i + 64]) for i in range(0, len(zv), 64)])
    ge = grad_energy(xv)
    return {"val_mse": F.mse_loss(y, xv).item(), "bilinear_mse": F.mse_loss(b, xv).item(),
            "val_grad_ratio": grad_energy(y) / ge, "bilinear_grad_ratio": grad_energy(b) / ge}


def main(argv=None):
    ap = argparse.ArgumentParser(description="train a decoder with one extra 2x upsampling level")
    ap.add_argument("--minutes", type=float, default=40,
                    help=Cm.MINUTES_HELP)
    ap.add_argument("--steps", type=int, default=3500)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--edge", type=float, default=0.0, help="weight of the edge (gradient L1) term")
    ap.add_argument("--up-width", type=int, default=16)
    ap.add_argument("--init-gain", type=float, default=8.0,
                    help="start the new level as a pass-through of this gain (0 = random init)")
    ap.add_argument("--scenes", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ae", default=os.path.join(Cm.CKPT, "ae.pt"))
    ap.add_argument("--run", default="ae_up", help="run directory name under train/runs/")
    ap.add_argument("--out", default=os.path.join(Cm.CKPT, "ae_up.pt"))
    ap.add_argument("--report", metavar="PNG",
                    help="no training: measure --out (and its step-0 init) on every held-out frame, "
                         "print the figures as JSON and write a 6-frame sheet to PNG")
    a = ap.parse_args(argv)
    Cm.setup_torch(a.threads)
    clock = Cm.RunClock()
    ck64 = torch.load(a.ae, map_location="cpu")
    cfg64 = M.ModelConfig.from_dict(ck64["cfg"])
    ae64 = AEOnly(cfg64)
    ae64.load_state_dict({k: v.float() for k, v in ck64["model"].items()})
    ae64.eval()
    cfg = up_config(cfg64, a.up_width)
    assert cfg.latent_size == cfg64.latent_size and cfg.enc_image_size == cfg64.image_size
    d = Cm.run_dir(a.run)

    small, big = pair_pool(cfg.enc_image_size, a.scenes, 12, seed=5)
    print(f"pairs: {small.shape[0]} scenes x {small.shape[1]} frames at {small.shape[2]} and "
          f"{big.shape[2]}; alignment MSE {alignment_mse(small[:20], big[:20]):.3f} "
          f"({clock.elapsed():.0f}s)", flush=True)
    n_tr = (len(small) - N_VAL) * small.shape[1]
    big_f = big.reshape(-1, *big.shape[2:])
    small_f = small.reshape(-1, *small.shape[2:])
    net, fresh = start_net(cfg, ae64, a.init_gain)
    if a.report:   # held-out frames only
        return report(net, ae64, a.out, encode_all(ae64.ae, small_f[n_tr:]), big_f[n_tr:], a.report)
    z_all = encode_all(ae64.ae, small_f)
    zv = z_all[n_tr:][::5]
    xv = to_float(big_f[n_tr:][::5])

    print(f"decoder: {M.count_params(net.ae.dec)} params; fresh: {', '.join(fresh)}", flush=True)
    for p in list(net.ae.enc.parameters()):
        p.requires_grad_(False)   # frozen: latent_mean/std are buffers, never trained
    opt = torch.optim.AdamW(net.ae.dec.parameters(), lr=a.lr, weight_decay=0.0)
    ck = os.path.join(d, "ckpt.pt")
    step, extra = (Cm.load_full(ck, net, opt) if os.path.exists(ck) else (0, {}))
    clock.resume(step, extra.get("wall", 0.0), extra.get("cpu", 0.0))
    log = Cm.CsvLog(os.path.join(d, "loss.csv"),
                    ["step", "loss", "mse", "val_mse", "bilinear_mse", "wall_s", "cpu_s"])
    g = np.random.default_rng(step + 11)
    tg = torch.Generator().manual_seed(step + 13)
    print(f"resume at step {step}; {len(zv)} val frames", flush=True)

    def save():
        t = clock.counts(step)
        Cm.save_full(ck, net, opt, step, t)
        return t

    while step < a.steps and Cm.within_budget(clock.wall(step), a.minutes):
        lr = Cm.cosine_lr(step, a.steps, a.lr, warmup=50)
        for pg in opt.param_groups:
            pg["lr"] = lr
        idx = g.integers(0, n_tr, a.batch)
        z = z_all[idx]
        x = to_float(big_f[idx])
        y = net.ae.dec(z + LAT_NOISE * torch.randn(z.shape, generator=tg))
        mse = F.mse_loss(y, x)
        loss = mse + a.edge * edge_l1(y, x) if a.edge > 0 else mse
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        ev = {}
        if step % 100 == 0:
            ev = evaluate(net, ae64, zv, xv)
            print(f"step {step} loss {loss.item():.5f} mse {mse.item():.5f} val {ev['val_mse']:.5f} "
                  f"(bilinear {ev['bilinear_mse']:.5f}) lr {lr:.2e} {clock.elapsed():.0f}s", flush=True)
        t = clock.counts(step)
        log.row(step, f"{loss.item():.6f}", f"{mse.item():.6f}", ev.get("val_mse", ""),
                ev.get("bilinear_mse", ""), f"{t['wall']:.1f}", f"{t['cpu']:.1f}")
        if step % 250 == 0:
            save()
        if step % 1000 == 0:
            sheet(net, ae64, z_all[n_tr:], big_f[n_tr:], os.path.join(d, f"sheet_{step:06d}.png"))
    sheet(net, ae64, z_all[n_tr:], big_f[n_tr:], os.path.join(d, "sheet_last.png"))
    ev = evaluate(net, ae64, zv, xv)
    t = save()                                # the same counts in the checkpoint and the result
    info = {"steps": step, "wall_s": t["wall"], "cpu_s": t["cpu"],
            "edge": a.edge, "val_frames": len(zv), **ev,
            "latent_mean": net.ae.latent_mean.tolist(), "latent_std": net.ae.latent_std.tolist()}
    Cm.save_fp16(a.out, net, info)
    Cm.plot_curve(os.path.join(d, "loss.csv"), os.path.join(d, "loss.png"), "mse", "decoder 2x")
    print("done", info, flush=True)


def report(init, ae64, path, z, big, png):
    """The figures of docs/model.md: the trained decoder at `path`, its step-0 init (the
    pass-through level) and ae.pt's decoder upsampled (bilinear, nearest) on the held-out frames."""
    import json
    ck = torch.load(path, map_location="cpu")
    net = AEOnly(M.ModelConfig.from_dict(ck["cfg"]))
    net.load_state_dict({k: v.float() for k, v in ck["model"].items()})
    x = to_float(big)
    out = {"frames": len(z), "trained": evaluate(net, ae64, z, x),
           "step0_init": evaluate(init, ae64, z, x)["val_mse"]}
    with torch.no_grad():
        near = torch.cat([F.interpolate(ae64.ae.dec(z[i:i + 64]), scale_factor=2, mode="nearest")
                          for i in range(0, len(z), 64)])
    out["nearest_mse"] = F.mse_loss(near, x).item()
    for k in ("val_mse", "bilinear_mse"):   # PSNR on [-1, 1]: peak-to-peak 2
        out[k.replace("mse", "psnr_db")] = 10 * np.log10(4.0 / out["trained"][k])
    out["info"] = ck.get("info", {})
    print(json.dumps(out, indent=1), flush=True)
    sheet(net, ae64, z, big, png, n=6, every=97)
    return out


def sheet(net, ae64, z, big, path, n=8, every=37):
    """Rows: the large render, this decoder, bilinear 2x of ae.pt's decoder (held-out frames)."""
    pick = np.arange(0, len(z), every)[:n]
    with torch.no_grad():
        y = M.to_bytes(net.ae.dec(z[pick])).movedim(-3, -1).numpy()
        b = M.to_bytes(bilinear_baseline(ae64, z[pick])).movedim(-3, -1).numpy()
    Cm.contact_sheet([big[pick], y, b]).save(path)


if __name__ == "__main__":
    main()
