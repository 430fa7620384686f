"""Stage 4: step distillation to a <=4-step student with guidance folded in ("reflow" on teacher
pairs, Liu et al. 2022; Luhman & Luhman 2021).

    python3 -m train.stage_distill [--pairs 1600] [--minutes 60] [--steps 3500] [--lr 2e-4] [--threads 1]
        [--teacher F] [--same-station P] [--cut-weight W] [--target reflow|guided] [--name NAME]

Teacher: train/checkpoints/tav.pt sampled with its default steps and CFG scale. Phase 1 draws
(noise eps, prompt) pairs with the TAV stage's scene-count mix and records the teacher's sample
x0 for each (cached and extended in train/runs/distill/pairs.pt, so it resumes); with
--same-station P a prompt's cut keeps the station (another action or framing) with chance P
(train/data/scenes.sample_scene_sequence), for a teacher post-trained on such cuts
(train.stage_tav --same-station). Phase 2 trains a
student initialised from the teacher on the straight line between them:
z_tau = (1 - tau) x0 + tau eps, target eps - x0, prompt always given (no guidance needed at
sampling time). --target guided keeps those points z_tau but takes the target from the teacher
itself, its guided velocity there (v_u + w (v_c - v_u), CFG folded in: guidance distillation,
Meng et al. 2023), for a student that follows the teacher's 4-step CFG sampler rather than the
straight line to its 12-step sample (two more teacher passes per step). --cut-weight W > 1
weights the loss on the two latent frames either side of each scene boundary W times
(normalised so the mean weight is 1): the cut is a few frames of a clip, and a student that
blurs it still scores well on the plain mean. The student is saved with sample_steps = 4 and
cfg_scale = 1, so the engine runs 4 Euler steps with one DiT pass each. Writes
train/checkpoints/distill.pt (--name NAME: the run
directory train/runs/NAME and train/checkpoints/NAME.pt instead, keeping an experiment off the
committed student).

Phase 1 can be spread over cores: `--shard K --pairs N` (K = 1, 2, ...) draws N pairs into
train/runs/distill/pairs.K.pt and stops; a later normal run counts every shard's pairs towards
--pairs and trains on all of them.
"""
import argparse
import collections
import copy
import os

import numpy as np
import torch
import torch.nn.functional as F

from train import common as Cm
from train import denoise as Dn
from train import model as M

STUDENT_STEPS = 4


def random_prompt(rng, n, p_same_station=0.0):
    """A training-phrased prompt of n scenes (p_same_station = 0 draws what it always drew)."""
    from train.data.captions import caption, join_scenes
    from train.data.scenes import sample_scene_sequence
    return join_scenes([caption(s, rng) for s in sample_scene_sequence(rng, n, p_same_station)])


def cut_weights(n, frames_per_scene, w):
    """[n * frames_per_scene] loss weights: w on the last frame of each scene and the first
    of the next, 1 elsewhere, scaled to mean 1."""
    out = torch.ones(n * frames_per_scene)
    for k in range(1, n):
        out[k * frames_per_scene - 1: k * frames_per_scene + 1] = w
    return out / out.mean()


@torch.no_grad()
def guided_velocity(teacher, z, tau, prompts):
    """The teacher's classifier-free-guided velocity at z (its own CFG scale), as M.sample
    computes it: v_u + w (v_c - v_u)."""
    emb, mask = teacher.encode_text(prompts)
    nemb, nmask = teacher.null_text(len(prompts))
    vc = teacher.dit(z, tau, emb, mask)
    vu = teacher.dit(z, tau, nemb, nmask)
    return vu + teacher.cfg.cfg_scale * (vc - vu)


def main(argv=None):
    ap = argparse.ArgumentParser(description="distil the TAV model into a 4-step student")
    Dn.add_args(ap, minutes=60, steps=3500, lr=2e-4, threads=1)
    ap.add_argument("--pairs", type=int, default=1600)
    ap.add_argument("--teacher", default=os.path.join(Cm.CKPT, "tav.pt"))
    ap.add_argument("--shard", type=int, default=0,
                    help="K >= 1: phase 1 only, drawing --pairs teacher pairs into pairs.K.pt (run "
                         "shards as parallel one-thread processes); a normal run counts and uses "
                         "every shard's pairs")
    ap.add_argument("--same-station", type=float, default=0.0, metavar="P",
                    help="chance that a prompt's cut keeps the station (another action or framing)")
    ap.add_argument("--cut-weight", type=float, default=1.0, metavar="W",
                    help="loss weight of the frames either side of a scene boundary (1: plain)")
    ap.add_argument("--target", choices=("reflow", "guided"), default="reflow",
                    help="the student's regression target at z_tau: eps - x0 of the pair (reflow) "
                         "or the teacher's guided velocity there")
    ap.add_argument("--name", default="distill",
                    help="run directory and stage file to write (train/checkpoints/NAME.pt)")
    a = ap.parse_args(argv)
    if not 0.0 <= a.same_station <= 1.0:
        ap.error("--same-station must be in [0, 1]")
    if a.cut_weight <= 0:
        ap.error("--cut-weight must be positive")
    Cm.setup_torch(a.threads)
    d = Cm.run_dir(a.name)
    out = os.path.join(Cm.CKPT, f"{a.name}.pt")
    clock = Cm.RunClock()                     # phase 1's time counts towards the student's
    teacher, _ = Cm.load_fp16(a.teacher)
    teacher.eval()
    cfg = teacher.cfg
    C, h = cfg.latent_channels, cfg.latent_size
    pp = os.path.join(d, f"pairs.{a.shard}.pt" if a.shard else "pairs.pt")
    own = torch.load(pp) if os.path.exists(pp) else []
    shard_pairs = []
    if not a.shard:
        for f in sorted(f for f in os.listdir(d) if f.startswith("pairs.") and f[6:-3].isdigit()):
            shard_pairs += torch.load(os.path.join(d, f))
    print(f"distill: {len(shard_pairs) + len(own)} teacher pairs on disk ({len(shard_pairs)} from "
          f"shards)", flush=True)
    seed = len(own) + 77 + 100003 * a.shard
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    # phase 1: teacher samples
    budget = a.minutes * 60 if a.shard else a.minutes * 60 / 2
    while len(shard_pairs) + len(own) < a.pairs and clock.elapsed() < budget:
        n = int(rng.choice([1, 2, 3, 4, 5, 6], p=[0.25, 0.15, 0.15, 0.15, 0.15, 0.15]))
        p = random_prompt(rng, n, a.same_station)
        T = n * cfg.frames_per_scene
        eps = torch.randn(1, T, C, h, h)
        emb, mask = teacher.encode_text([p])
        nemb, nmask = teacher.null_text(1)
        x0 = M.sample(teacher.dit, eps, emb, mask, nemb, nmask, cfg.sample_steps, cfg.cfg_scale)
        own.append((p, eps[0].half(), x0[0].half()))   # this process's pairs file holds only these
        if len(own) % 50 == 0:
            torch.save(own, pp)
            print(f"distill: {len(shard_pairs) + len(own)} teacher pairs, {clock.elapsed():.0f}s", flush=True)
    torch.save(own, pp)
    if a.shard:
        print(f"distill: shard {a.shard} done with {len(own)} pairs", flush=True)
        return
    pairs = shard_pairs + own
    # phase 2: student
    student = copy.deepcopy(teacher)
    student.cfg.sample_steps, student.cfg.cfg_scale = STUDENT_STEPS, 1.0
    for q in student.ae.parameters():
        q.requires_grad_(False)
    params = list(student.text.parameters()) + list(student.dit.parameters())
    opt = torch.optim.AdamW(params, lr=a.lr, weight_decay=0.0)
    ck = os.path.join(d, "ckpt.pt")
    step, extra = Cm.load_full(ck, student, opt) if os.path.exists(ck) else (0, {})
    clock.resume(step, extra.get("wall", 0.0), extra.get("cpu", 0.0))   # earlier runs of this student

    log_path = os.path.join(d, "loss.csv")
    losses = collections.deque(Cm.logged_losses(log_path, step, 300), maxlen=300)

    def save():
        t = clock.counts(step)
        Cm.save_full(ck, student, opt, step, t)
        Cm.save_fp16(out, student, {"steps": step, "pairs": len(pairs), "wall_s": t["wall"], "cpu_s": t["cpu"],
                                    "loss_last300": float(np.mean(list(losses))) if losses else None})
    log = Cm.CsvLog(log_path, ["step", "loss", "n_scenes", "lr", "wall_s", "cpu_s"])
    by_n = {}
    for i, (p, _, _) in enumerate(pairs):
        by_n.setdefault(len(M.split_prompt(p)), []).append(i)
    taus = torch.tensor(M.sample_taus(STUDENT_STEPS)[:-1])
    while step < a.steps and Cm.within_budget(clock.wall(step), a.minutes):
        n = int(rng.choice(sorted(by_n)))
        B = max(1, 144 // (n * cfg.frames_per_scene))
        idx = rng.choice(by_n[n], B)
        eps = torch.stack([pairs[i][1].float() for i in idx])
        x0 = torch.stack([pairs[i][2].float() for i in idx])
        # half the taus on the student's own grid, half uniform
        tau = torch.where(torch.rand(B) < 0.5, taus[torch.randint(len(taus), (B,))], torch.rand(B))
        t = tau.view(B, 1, 1, 1, 1)
        prompts = [pairs[i][0] for i in idx]
        z = (1 - t) * x0 + t * eps
        target = eps - x0 if a.target == "reflow" else guided_velocity(teacher, z, tau, prompts)
        emb, mask = student.encode_text(prompts)
        v = student.dit(z, tau, emb, mask)
        if a.cut_weight == 1.0:
            loss = F.mse_loss(v, target)
        else:
            w = cut_weights(n, cfg.frames_per_scene, a.cut_weight).view(1, -1, 1, 1, 1)
            loss = ((v - target) ** 2 * w).mean()
        lr = Cm.budget_lr(step, 0, a.steps, a.lr, clock.wall(step),
                          a.minutes if a.time_schedule else None, warmup=50)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        losses.append(loss.item())
        t = clock.counts(step)
        log.row(step, f"{loss.item():.5f}", n, f"{lr:.3e}", f"{t['wall']:.1f}", f"{t['cpu']:.1f}")
        if step % a.save_every == 0:
            save()
    save()
    log.close()
    student.eval()
    Dn.sheet(student, Dn.eval_prompts(), os.path.join(d, "sheet_last.png"))
    print(f"distill: done at step {step}", flush=True)


if __name__ == "__main__":
    main()
