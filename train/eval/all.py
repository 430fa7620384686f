"""`make eval`: every model stage that exists, evaluated on the committed prompt set, and the
table written into docs/results.md.

    python3 -m train.eval.all [--per-count 50] [--out build/eval] [--doc docs/results.md]
        [--stages base tav tav_p1 tav_cs distill distill-int8] [--tav ./tav] [--no-rendered]

Rows: the rendered ground truth (the judge's ceiling), then for each stage whose committed
weights exist (train/checkpoints/<stage>.pt) its fp32 export (`python3 -m train.export --stage
<stage> --out <out>/<stage>_step<steps>.tavm`, steps from the stage file's info, so interim
weights the trainer is still updating are labelled by their step); `distill-int8` is
`tav quantize` of the distilled export. The distilled rows use train/checkpoints/ae_up.pt's
decoder when it exists (`train.export --decoder`, as the shipped model): files and run
directories are then tagged `_up`.
A missing stage is listed as such, never silently dropped. Each row is
`python3 -m train.eval.run --model <file> --limit <per-count> --resume`, so an interrupted
run continues where it stopped. One generation at a time, one thread each.
"""
import argparse
import os
import subprocess
import sys

from train.eval import report, run

ROOT = run.ROOT
CKPT = os.path.join(ROOT, "train", "checkpoints")
LABELS = {"base": "base (single-scene training only)", "tav": "post-trained (TAV)",
          "tav_p1": "post-trained (TAV), patch 1",
          "tav_cs": "post-trained (TAV), patch 1 + piece contrast + same-station: the teacher",
          "distill": "distilled",
          "distill-int8": "distilled + int8"}


def up_label():
    """", RxR decoder": the output size of train/checkpoints/ae_up.pt's decoder."""
    import torch
    r = torch.load(os.path.join(CKPT, "ae_up.pt"), map_location="cpu")["cfg"]["image_size"]
    return f", {r}x{r} decoder"


def stage_steps(ck):
    """Training steps recorded in a committed stage file (info.steps), or None."""
    import torch
    return (torch.load(ck, map_location="cpu").get("info") or {}).get("steps")


def file_id(path):
    """The first 8 hex digits of a file's SHA-256: two trainings that stop at the same step
    count still get different export names and run directories."""
    import hashlib
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:8]


def model_file(stage, out, tav):
    """Exports (or quantises) a stage's model file -> (path, tag "step<N>-<id>[_up]",
    why-missing). Files are named by the stage file's step count and content, so a stage file
    that is still being updated (interim weights) or retrained never mixes with an older
    export or older results."""
    src = "distill" if stage == "distill-int8" else stage
    ck = os.path.join(CKPT, f"{src}.pt")
    if not os.path.exists(ck):
        return None, None, f"{LABELS[stage]}: train/checkpoints/{src}.pt does not exist yet"
    steps = stage_steps(ck)
    # The distilled student ships with train.stage_ae_up's decoder when it exists (as
    # train.make_model exports it), so its rows are evaluated that way: tag "_up".
    up = os.path.join(CKPT, "ae_up.pt")
    dec = ["--decoder", up] if src == "distill" and os.path.exists(up) else []
    tag = f"step{steps}-{file_id(ck)}" + ("_up" if dec else "")
    f32 = os.path.join(out, f"{src}_{tag}.tavm")
    if not os.path.exists(f32):
        subprocess.run([sys.executable, "-m", "train.export", "--stage", src, "--out", f32] + dec,
                       check=True, cwd=ROOT)
    if stage != "distill-int8":
        return f32, tag, ""
    q = os.path.join(out, f"distill-int8_{tag}.tavm")
    if not os.path.exists(q):
        subprocess.run([tav, "quantize", f32, q], check=True, cwd=ROOT)
    return q, tag, ""


def export_checkpoint(path, out):
    """An in-progress run checkpoint (train/runs/<stage>/ckpt.pt: raw weights + EMA) -> fp32
    .tavm of its EMA weights (what the stage would commit), with its step in model.stage."""
    import torch
    from train import export as E
    from train import model as M
    ck = torch.load(path, map_location="cpu")
    tok = M.Tokenizer([w for w in ck["vocab"] if w not in M.SPECIALS])
    m = M.TavModel(M.ModelConfig.from_dict(ck["cfg"]), tok)
    sd = (ck.get("extra") or {}).get("ema") or ck["model"]
    m.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in sd.items()})
    E.export_model(m, out, stage=f"checkpoint step {ck.get('step')}")
    return ck.get("step")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-count", type=int, default=50)
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "eval"))
    ap.add_argument("--doc", default=os.path.join(ROOT, "docs", "results.md"))
    ap.add_argument("--block", default=report.BLOCK, help="the doc's marked block to replace")
    ap.add_argument("--stages", nargs="*", default=list(LABELS), help="none: only --checkpoint runs")
    ap.add_argument("--prompts", default=os.path.join(ROOT, "tests", "data", "eval_prompts.jsonl"))
    ap.add_argument("--tav", default=os.path.join(ROOT, "tav"))
    ap.add_argument("--no-rendered", action="store_true")
    ap.add_argument("--checkpoint", action="append", default=[], metavar="LABEL=PATH",
                    help="also evaluate an in-progress run checkpoint (EMA weights), e.g. "
                         "'base (in progress)=train/runs/base/ckpt.pt'")
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    runs, missing = [], []
    common = ["--prompts", a.prompts, "--limit", str(a.per_count), "--tav", a.tav, "--resume"]
    if not a.no_rendered:
        d = os.path.join(a.out, "rendered")
        run.main(["--model", "rendered", "--out", d, "--label", "rendered ground truth"] + common)
        runs.append(d)
    for st in a.stages:
        f, tag, why = model_file(st, a.out, a.tav)
        if f is None:
            print(f"eval: {why}", file=sys.stderr)
            missing.append(why)
            continue
        d = os.path.join(a.out, f"{st}_{tag}")
        steps_part = tag.split("-")[0].replace("step", "step ")
        label = f"{LABELS[st]}, {steps_part}" + (up_label() if tag.endswith("_up") else "")
        run.main(["--model", f, "--out", d, "--label", label] + common)
        runs.append(d)
    for i, spec in enumerate(a.checkpoint):
        label, path = spec.split("=", 1)
        f = os.path.join(a.out, f"checkpoint{i}.tavm")
        step = export_checkpoint(path, f)
        d = os.path.join(a.out, f"checkpoint{i}_step{step}")   # --resume never mixes steps
        run.main(["--model", f, "--out", d, "--label", f"{label}, step {step}"] + common)
        runs.append(d)
    if not runs:
        raise SystemExit("eval: nothing evaluated (no stage file found, no --checkpoint)")
    report.main(["--runs"] + runs + ["--missing"] + missing + (["--doc", a.doc, "--block", a.block] if a.doc else []))


if __name__ == "__main__":
    main()
