"""docs/results.md's tables from evaluation run directories (train/eval/run.py's results.json).

    python3 -m train.eval.report --runs build/eval/base build/eval/tav ... [--missing "label: why" ...]
        [--doc docs/results.md] [--block eval-table]

Prints the markdown; with --doc replaces the text between the lines
`<!-- eval-table:begin -->` and `<!-- eval-table:end -->` of that file (--block NAME: between
`<!-- NAME:begin -->` and `<!-- NAME:end -->`, e.g. the same-station set's table).

Seen-word adherence (accuracy over the scenes whose caption names the attribute with a word the
model trained on) comes from results.json's "adherence_split"; for a run written before that
existed it is computed from the run's per_prompt.jsonl and the prompt set named in results.json
(nothing is regenerated; the re-read records must reproduce the stored all-scenes adherence).
"""
import argparse
import json
import os
import sys

from train.eval import metrics as Mt
from train.eval import prompts as P
from train.eval import run
from train.eval.run import ADHERENCE_ATTRS, fmt_ci

BLOCK = "eval-table"
GOAL_EXACT, GOAL_ADHERENCE, GOAL_FRECHET = 0.90, 0.85, 0.10
COUNTS = ("1", "2", "3", "4", "5", "6")


def _bad(v):
    return v is None or v != v


def pct(c):
    return "—" if _bad(c["value"]) else f"{100 * c['value']:.0f}"


def span(c):
    """' [lo–hi]' in %, or '' when the interval is undefined."""
    return "" if _bad(c["lo"]) or _bad(c["hi"]) else f" [{100 * c['lo']:.0f}–{100 * c['hi']:.0f}]"


def num(v, nd=2):
    return "—" if _bad(v) else f"{v:.{nd}f}"


def load_runs(dirs):
    out = []
    for d in dirs:
        with open(os.path.join(d, "results.json")) as f:
            res = json.load(f)
        res["dir"] = d
        if "adherence_split" not in res:
            res["adherence_split"] = split_from_per_prompt(d, res)
        out.append(res)
    return out


def split_from_per_prompt(d, res):
    """run.adherence_split of an older run: its per_prompt.jsonl records (the prompts its
    results.json counted) with each scene's naming computed from the prompt set's captions."""
    prompts, records = counted_records(res)
    try:
        records = run.add_naming(records, prompts)
    except ValueError as e:
        raise SystemExit(f"report: {d}: {e}")
    again = run.adherence(records)
    if any((again[a]["k"], again[a]["n"]) != (res["adherence"][a]["k"], res["adherence"][a]["n"])
           for a in ADHERENCE_ATTRS):
        raise SystemExit(f"report: {d}: per_prompt.jsonl does not reproduce results.json's adherence")
    return run._clean(run.adherence_split(records))


def prompts_path(res):
    pf = res["prompts_file"]
    return pf if os.path.isabs(pf) else os.path.join(run.ROOT, pf)


def counted_records(res, prompt_set=None):
    """The prompts a run's results.json counted and their per_prompt.jsonl records, in order
    (prompt_set: its prompt file, already loaded)."""
    pf = prompts_path(res)
    prompts = run.select(prompt_set if prompt_set is not None else P.load(pf),
                         [int(n) for n in res["by_count"]], res.get("limit_per_count") or 0)
    pp = {}
    with open(os.path.join(res["dir"], "per_prompt.jsonl")) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                pp[r["id"]] = r
    lost = [p["id"] for p in prompts if p["id"] not in pp]
    if lost or len(prompts) != res["prompts"]:
        raise SystemExit(f"report: {res['dir']}: per_prompt.jsonl and {pf} do not give the "
                         f"{res['prompts']} prompts of results.json (missing: {', '.join(lost[:5]) or 'none'})")
    return prompts, [pp[p["id"]] for p in prompts]


def cut_recall_table(runs):
    """For prompt sets with same-station cuts: which requested cuts the detector found, by kind
    (metrics.cut_recall) -> markdown lines ([] for sets without such cuts)."""
    sets = {pf: P.load(pf) for pf in {prompts_path(r) for r in runs}}   # each file read once
    if not any("same_station_cuts" in p for ps in sets.values() for p in ps):
        return []
    counted = [counted_records(r, sets[prompts_path(r)]) for r in runs]
    L = ["", "Requested cuts the detector found within 3 frames of their place, by kind (found / "
         "requested, %); unmatched: detected cuts at no requested place:", "",
         "| model | " + " | ".join(Mt.CUT_KINDS) + " | unmatched |", "|---|---|---|---|---|"]
    for r, (prompts, records) in zip(runs, counted):
        rec, extra = Mt.cut_recall(records, {p["id"]: p for p in prompts})
        cells = [f"{rec[k][0]} / {rec[k][1]} ({100 * rec[k][0] / rec[k][1]:.0f} %)" if k in rec else "—"
                 for k in Mt.CUT_KINDS]
        L.append(f"| {r['label']} | " + " | ".join(cells) + f" | {extra} |")
    return L


def naming_note(r):
    """'station 242, piece 268, colour 66, action 293 of 1050 scenes held-out-only (869 of 4200
    mentions)' for one run."""
    nm, sc = r["adherence_split"]["naming"], r["scenes"]
    held = [nm[a][P.HELDOUT_ONLY] for a in ADHERENCE_ATTRS]
    absent = sum(nm[a][P.ABSENT] for a in ADHERENCE_ATTRS)
    return (", ".join(f"{a} {k}" for a, k in zip(ADHERENCE_ATTRS, held)) +
            f" of {sc} scenes ({sum(held)} of {4 * sc} attribute mentions)" +
            (f"; {absent} mentions missing from the caption" if absent else ""))


def goals(r, base):
    """Goal checks of one row -> list of strings."""
    msgs = []
    short = [n for n in COUNTS if n in r["by_count"] and not r["by_count"][n]["exact_match"]["value"] >= GOAL_EXACT]
    asked = [n for n in COUNTS if n in r["by_count"]]
    msgs.append("exact count ≥ 90 % for every N: " +
                ("met" if not short else f"NOT met (N = {', '.join(short)})") +
                ("" if len(asked) == 6 else f" (only N = {', '.join(asked)} evaluated)"))
    ad = r["adherence"]["mean_four"]
    sw = r["adherence_split"]["all"]["seen_words"]["mean_four"]
    msgs.append(f"adherence ≥ 85 %: {'met' if not _bad(ad) and ad >= GOAL_ADHERENCE else 'NOT met'} "
                f"({pct({'value': ad})} %; on attributes named by trained words "
                f"{'met' if not _bad(sw) and sw >= GOAL_ADHERENCE else 'NOT met'}, {pct({'value': sw})} %)")
    if base is not None and base is not r and not _bad(base["frechet"]["value"]):
        lim = base["frechet"]["value"] * (1 + GOAL_FRECHET)
        fd = r["frechet"]["value"]
        msgs.append(f"Fréchet within 10 % of the base model's ({num(base['frechet']['value'])}): "
                    f"{'met' if not _bad(fd) and fd <= lim else 'NOT met'} ({num(fd)})")
    return msgs


def table(runs, missing):
    base = next((r for r in runs if r["label"].startswith("base")), None)
    L = ["Scene count: exact-match rate in % (95 % Wilson interval) and mean generated scenes, per "
         "requested count N; prompts per count in the header.", ""]
    ns = [n for n in COUNTS if any(n in r["by_count"] for r in runs)]
    hdr = "| model | " + " | ".join(
        f"N={n} (n={max(r['by_count'][n]['prompts'] for r in runs if n in r['by_count'])})" for n in ns) + " | s / video |"
    L += [hdr, "|---|" + "---|" * (len(ns) + 1)]
    for r in runs:
        cells = []
        for n in ns:
            b = r["by_count"].get(n)
            if not b:
                cells.append("—")
                continue
            e = b["exact_match"]
            cells.append(f"{pct(e)} %{span(e)}, {num(b['mean_generated']['value'])} sc, "
                         f"\\|Δ\\| {num(b['mean_abs_error']['value'])}")
        L.append(f"| {r['label']} | " + " | ".join(cells) + f" | {num(r['seconds']['value'])} |")
    for m in missing:
        L.append(f"| {m} | " + " | ".join("—" for _ in ns) + " | — |")
    L += ["", "Per-scene adherence (accuracy of the judge's reading of each requested scene, %, "
          "95 % Wilson interval) and quality:", "",
          "| model | station | piece | colour | action | mean of 4 | all 4 right | framing | "
          "Fréchet [95 %] | sharpness gen / rendered |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        ad = r["adherence"]
        cells = [f"{pct(ad[a])}{span(ad[a])}" for a in ("station", "piece", "colour", "action")]
        cells += [pct({"value": ad["mean_four"]}), pct(ad["all_four"]), pct(ad["framing"]),
                  fmt_ci(r["frechet"]),
                  f"{num(r['sharpness_generated']['value'], 0)} / {num(r['sharpness_rendered']['value'], 0)}"]
        L.append(f"| {r['label']} | " + " | ".join(cells) + " |")
    for m in missing:
        L.append(f"| {m} | " + " | ".join("—" for _ in range(9)) + " |")
    L += seen_word_table(runs, missing)
    L += cut_recall_table(runs)
    L += ["", "Goals (shipped model = distilled + int8):", ""]
    for r in runs:
        if r["label"].startswith("rendered"):
            continue
        L.append(f"- **{r['label']}**: " + "; ".join(goals(r, base)) + ".")
    if missing:
        L.append("- Not evaluated (model file missing): " + "; ".join(missing) + ".")
    L += ["", "Runs: " + "; ".join(f"`{r['label']}`: {r['prompts']} prompts "
                                   f"({r['limit_per_count'] or 'all'} per count) of "
                                   f"`{r['prompts_file']}`" for r in runs) + "."]
    return "\n".join(L)


def seen_word_table(runs, missing):
    """The seen-word adherence table and single- vs multi-scene means -> markdown lines."""
    L = ["", "Seen-word adherence: the same accuracy over only the scenes whose caption names that "
         "attribute's value with a word the model trained on (%, 95 % Wilson interval, scenes); "
         "mean of 4 at N = 1 (single-scene prompts) and N ≥ 2, all scenes / seen-word:", "",
         "| model | station | piece | colour | action | mean of 4 | N = 1: all / seen | N ≥ 2: all / seen |",
         "|---|---|---|---|---|---|---|---|"]
    for r in runs:
        sp = r["adherence_split"]
        sw = sp["all"]["seen_words"]
        cells = [f"{pct(sw[a])}{span(sw[a])} ({sw[a]['n']})" for a in ADHERENCE_ATTRS]
        cells.append(pct({"value": sw["mean_four"]}))
        for g in ("n1", "n2plus"):
            cells.append("—" if not sp[g]["prompts"] else
                         f"{pct({'value': sp[g]['all_scenes']['mean_four']})} / "
                         f"{pct({'value': sp[g]['seen_words']['mean_four']})}")
        L.append(f"| {r['label']} | " + " | ".join(cells) + " |")
    for m in missing:
        L.append(f"| {m} | " + " | ".join("—" for _ in range(7)) + " |")
    notes = {naming_note(r) for r in runs}
    L += ["", "Named only by held-out-only synonyms (words no training caption contains): " +
          (notes.pop() if len(notes) == 1 else
           "; ".join(f"`{r['label']}`: {naming_note(r)}" for r in runs)) + "."]
    return L


def replace_block(doc, text, block=BLOCK):
    BEGIN, END = f"<!-- {block}:begin -->", f"<!-- {block}:end -->"
    s = open(doc).read()
    if BEGIN not in s or END not in s:
        raise SystemExit(f"report: {doc} has no {BEGIN} ... {END} block")
    a, rest = s.split(BEGIN, 1)
    _, b = rest.split(END, 1)
    tmp = doc + ".tmp"
    with open(tmp, "w") as f:
        f.write(a + BEGIN + "\n" + text + "\n" + END + b)
    os.replace(tmp, doc)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", nargs="+", required=True)
    ap.add_argument("--missing", nargs="*", default=[])
    ap.add_argument("--doc", default="")
    ap.add_argument("--block", default=BLOCK, help="the doc's marked block to replace")
    a = ap.parse_args(argv)
    text = table(load_runs(a.runs), a.missing)
    print(text)
    if a.doc:
        replace_block(a.doc, text, a.block)
        print(f"report: table written to {a.doc}", file=sys.stderr)


if __name__ == "__main__":
    main()
