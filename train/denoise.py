"""The denoiser training loop shared by train.stage_base and train.stage_tav.

Trains the text encoder and the DiT (the autoencoder is frozen) on cached latents of rendered
clips with the rectified-flow loss; 10% of prompts are replaced by the unconditional prompt so
classifier-free guidance works. Keeps an EMA of the weights (decay 0.999); samples and the
committed fp16 result use the EMA. Resumable: train/runs/<stage>/ckpt.pt holds weights, EMA and
optimiser state (never committed). Logs train/runs/<stage>/loss.csv and writes contact sheets
(one row per requested scene: a clip of n scenes is cut into n rows of frames_per_scene frames)
to train/runs/<stage>/sheet_<step>.png.
"""
import copy
import os

import numpy as np
import torch

from train import common as Cm
from train import latents as Lt
from train import model as M

P_UNCOND = 0.1
EMA_DECAY = 0.999

# Fixed evaluation prompts: 1, 2, 4 and 6 scenes (drawn once from the train phrasings).
def eval_prompts(seed=2024):
    from train.data.captions import caption, join_scenes
    from train.data.scenes import sample_scene_sequence
    rng = np.random.default_rng(seed)
    return [join_scenes([caption(s, rng) for s in sample_scene_sequence(rng, n)]) for n in (1, 2, 4, 6)]


def drop_prompts(ids, sc, rng, p=P_UNCOND, keep=None):
    """Replace a random share p of the prompts by the unconditional one -> (ids, sc, keep)
    (keep: which were kept; given, it is applied instead of drawn)."""
    if keep is None:
        keep = torch.from_numpy(rng.random(ids.shape[0]) >= p)
    ids = ids.clone()
    sc = sc.clone()
    ids[~keep] = M.PAD
    ids[~keep, 0] = M.BOS
    sc[~keep] = 0
    return ids, sc, keep


def piece_contrast_loss(err, err_other, cover, keep, margin):
    """Hinge on how much worse the prediction gets on the piece's pixels when the caption names
    another piece: mean over kept prompts of relu(margin - (e_other - e_true)), e = the
    coverage-weighted mean squared error of one clip."""
    w = cover.expand_as(err)
    dims = tuple(range(1, err.dim()))
    den = w.sum(dims).clamp_min(1e-6)
    gap = (w * err_other).sum(dims) / den - (w * err).sum(dims) / den
    hinge = torch.relu(margin - gap)[keep]
    return hinge.mean() if hinge.numel() else err.new_zeros(())


@torch.no_grad()
def generate(m, prompts, seed=0, steps=None, cfg_scale=None, frames_per_scene=None):
    """prompts -> list of uint8 [T,R,R,3] videos (T = n_scenes * frames_per_scene)."""
    cfg = m.cfg
    steps = steps or cfg.sample_steps
    cfg_scale = cfg.cfg_scale if cfg_scale is None else cfg_scale
    fps_ = frames_per_scene or cfg.frames_per_scene
    out = []
    for k, p in enumerate(prompts):
        n = len(M.split_prompt(p))
        T, C, h = n * fps_, cfg.latent_channels, cfg.latent_size
        noise = torch.from_numpy(M.portable_noise(seed + k, T * C * h * h)).view(1, T, C, h, h)
        emb, mask = m.encode_text([p])
        nemb, nmask = m.null_text(1)
        z = M.sample(m.dit, noise, emb, mask, nemb, nmask, steps=steps, cfg_scale=cfg_scale)
        out.append(M.to_bytes(m.ae.decode(z[0])).permute(0, 2, 3, 1).numpy())
    return out


def sheet(m, prompts, path, seed=0, every=1, **kw):
    vids = generate(m, prompts, seed=seed, **kw)
    rows, labels = [], []
    fps_ = kw.get("frames_per_scene") or m.cfg.frames_per_scene
    for p, v in zip(prompts, vids):
        scenes = M.split_prompt(p)
        for i, s in enumerate(scenes):
            rows.append(v[i * fps_:(i + 1) * fps_])
            labels.append(f"[{len(scenes)} scenes] {i + 1}: {s}")
    img = Cm.contact_sheet(rows, labels, every=every)
    img.save(path)
    return vids


def train_stage(stage, a, sets, init_from, init_prefixes, n_scene_probs, tokens_per_step=96 * 16,
                cfg_scale=None, cfg_overrides=None, name=None, piece_weight=0.0,
                piece_contrast=0.0, contrast_margin=0.1):
    """sets: {n_scenes: ClipSampler}; n_scene_probs: {n_scenes: probability}; cfg_scale: the
    sampler's default guidance scale stored with the result (None: keep the initial model's);
    cfg_overrides: configuration changed over the initial model's (text_scene_pos, patch;
    Cm.load_fp16).
    When the initial stage file is this stage's own result (a later run continuing it, e.g.
    `--init train/checkpoints/tav.pt`), steps, wall and CPU time continue from its counts; the
    optimiser starts fresh, with its own warm-up. name: the run directory and stage file to
    write (default: the stage's own; another name keeps an experiment off the committed file).
    piece_weight: weight the loss by 1 + piece_weight * (piece coverage) on latent pixels (the
    samplers need piece masks, latents.piece_mask_set); the CSV's loss column stays the plain
    MSE so curves compare across runs, the weighted loss goes to loss_w.
    piece_contrast: add piece_contrast * piece_contrast_loss (the same clips, noise and taus
    with every caption naming another piece, phrased the same way; logged as loss_c); the
    prompts are then drawn as such pairs."""
    Cm.setup_torch(a.threads)
    name = name or stage
    d = Cm.run_dir(name)
    clock = Cm.RunClock()
    init_info = {}
    if "text." in init_prefixes:      # continue a whole model: keep its vocabulary and config
        m, init_info = Cm.load_fp16(init_from, cfg_overrides)
        n = len(m.state_dict())
    else:
        m = Cm.new_model()
        n = Cm.load_weights_from(m, init_from, init_prefixes)
    print(f"{stage}: loaded {n} tensors from {init_from}", flush=True)
    if cfg_scale is not None:
        m.cfg.cfg_scale = cfg_scale
    for p in m.ae.parameters():
        p.requires_grad_(False)
    params = list(m.text.parameters()) + list(m.dit.parameters())
    opt = torch.optim.AdamW(params, lr=a.lr, weight_decay=0.01, betas=(0.9, 0.99))
    ema = copy.deepcopy(m)
    ck = os.path.join(d, "ckpt.pt")
    step, extra = 0, {}
    continuing = init_info.get("stage") == stage      # the initial file is this stage's result
    if os.path.exists(ck):
        step, extra = Cm.load_full(ck, m, opt)
        ema.load_state_dict(extra.pop("ema"))
    elif continuing:
        step = int(init_info["steps"])
        extra = {"cpu": init_info.get("cpu_s", 0.0), "wall": init_info.get("wall_s", 0.0),
                 "start": step, "continued_from": os.path.basename(init_from)}
    clock.resume(step, extra.get("wall", 0.0), extra.get("cpu", 0.0))
    # wall and CPU counts run on from the initial file's; the time budget is this run's alone
    # (checkpoints written before run_wall0 was stored: the initial file's count, or 0)
    run_wall0 = extra.get("run_wall0", init_info.get("wall_s", 0.0) if continuing else 0.0)
    start = int(extra.get("start", 0))        # the LR schedule runs from here to a.steps
    print(f"{stage}: text {M.count_params(m.text)}, dit {M.count_params(m.dit)}, "
          f"ae {M.count_params(m.ae)} params; resume at step {step}", flush=True)
    cols = (["step", "loss", "n_scenes", "lr", "wall_s", "cpu_s"] + (["loss_w"] if piece_weight else [])
            + (["loss_c"] if piece_contrast else []))
    log_path = os.path.join(d, "loss.csv")
    losses = Cm.logged_losses(log_path, step)      # so a resumed run's loss_last500 covers 500 steps
    log = Cm.CsvLog(log_path, cols)
    rng = np.random.default_rng(1000 + step)
    torch.manual_seed(1000 + step)
    ns = sorted(n_scene_probs)
    pr = np.array([n_scene_probs[k] for k in ns], np.float64)
    pr /= pr.sum()
    S = m.cfg.tokens_per_frame
    prompts = eval_prompts()

    def save(final=False):
        ex = {**clock.counts(step), "ema": ema.state_dict(), "start": start, "run_wall0": run_wall0}
        if "continued_from" in extra:
            ex["continued_from"] = extra["continued_from"]
        Cm.save_full(ck, m, opt, step, ex)
        info = {"stage": stage, "steps": step, "wall_s": ex["wall"], "cpu_s": ex["cpu"],
                "lr": a.lr, "loss_last500": float(np.mean(losses[-500:])) if losses else None}
        if start:
            info.update(continued_at_step=start, continued_from=extra.get("continued_from"))
        info.update({k: v for k, v in init_info.items() if k.endswith("_note")})
        Cm.save_fp16(os.path.join(Cm.CKPT, f"{name}.pt"), ema, info)
        Cm.plot_curve(os.path.join(d, "loss.csv"), os.path.join(d, "loss.png"), "loss", stage,
                      smooth=100, logy=False)

    def run_wall():                           # wall time this run has used, across resumptions
        return clock.wall(step) - run_wall0

    while step < a.steps and Cm.within_budget(run_wall(), a.minutes):
        lr = Cm.budget_lr(step, start, a.steps, a.lr, run_wall(),
                          a.minutes if a.time_schedule else None)
        for pg in opt.param_groups:
            pg["lr"] = lr
        n = int(rng.choice(ns, p=pr))
        smp = sets[n]
        T = n * Lt.FPS_SCENE
        B = max(1, tokens_per_step // (T * S))
        z0, ptxt, cl = smp.batch(n, B)
        if piece_contrast:
            ptxt, other = zip(*[smp.prompt_pair(c) for c in cl])
        ids, sc = m.tok.encode_batch(list(ptxt), m.cfg.max_text, m.cfg.max_scenes)
        ids, sc, keep = drop_prompts(ids, sc, rng)
        emb, mask = m.text(ids, sc)
        tau, noise = torch.sigmoid(torch.randn(B)), torch.randn(z0.shape)
        err = M.flow_error(m.dit, z0, emb, mask, tau, noise)
        plain = err.mean()
        cover = smp.piece_cover(cl) if piece_weight or piece_contrast else None
        loss_w = M.weighted_mean(err, 1.0 + piece_weight * cover) if piece_weight else plain
        extra_cols = [f"{loss_w.item():.5f}"] if piece_weight else []
        if piece_contrast:
            oids, osc = m.tok.encode_batch(list(other), m.cfg.max_text, m.cfg.max_scenes)
            oemb, omask = m.text(*drop_prompts(oids, osc, rng, keep=keep)[:2])
            err_o = M.flow_error(m.dit, z0, oemb, omask, tau, noise)
            loss_c = piece_contrast_loss(err, err_o, cover, keep, contrast_margin)
            loss_w = loss_w + piece_contrast * loss_c
            extra_cols.append(f"{loss_c.item():.5f}")
        opt.zero_grad()
        loss_w.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        with torch.no_grad():
            dec = min(EMA_DECAY, (1 + step) / (10 + step))
            for pe, pm in zip(ema.parameters(), m.parameters()):
                pe.mul_(dec).add_(pm.detach(), alpha=1 - dec)
        step += 1
        losses.append(plain.item())
        t = clock.counts(step)
        log.row(step, f"{plain.item():.5f}", n, f"{lr:.3e}", f"{t['wall']:.1f}", f"{t['cpu']:.1f}",
                *extra_cols)
        if step % 50 == 0:
            print(f"{stage} step {step} loss(avg50) {np.mean(losses[-50:]):.4f} lr {lr:.2e} "
                  f"{clock.elapsed():.0f}s", flush=True)
        if step % a.save_every == 0:
            save()
        if step % a.sheet_every == 0:
            ema.eval()
            sheet(ema, prompts, os.path.join(d, f"sheet_{step:06d}.png"))
    save(final=True)
    log.close()
    ema.eval()
    sheet(ema, prompts, os.path.join(d, "sheet_last.png"))
    print(f"{stage}: done at step {step}, {clock.elapsed():.0f}s", flush=True)


def add_args(ap, minutes, steps, lr, threads=2):
    ap.add_argument("--minutes", type=float, default=minutes,
                    help=Cm.MINUTES_HELP)
    ap.add_argument("--steps", type=int, default=steps)
    ap.add_argument("--lr", type=float, default=lr)
    ap.add_argument("--threads", type=int, default=threads)
    ap.add_argument("--save-every", type=int, default=250)
    ap.add_argument("--sheet-every", type=int, default=500)
    ap.add_argument("--time-schedule", action="store_true",
                    help="the cosine LR follows the wall-clock budget when it runs out before --steps")
