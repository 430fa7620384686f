"""docs/results.md's tables from evaluation run directories (train/eval/run.py's results.json).

    python3 -m train.eval.report --runs build/eval/base build/eval/tav ... [--missing "label: why" ...]
        [--doc docs/results.md]

Prints the markdown; with --doc replaces the text between the lines
`<!-- eval-table:begin -->` and `<!-- eval-table:end -->` of that file.
"""
import argparse
import json
import os
import sys

from train.eval.run import fmt_ci

BEGIN, END = "<!-- eval-table:begin -->", "<!-- eval-table:end -->"
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
            out.append(json.load(f))
    return out


def goals(r, base):
    """Goal checks of one row -> list of strings."""
    msgs = []
    short = [n for n in COUNTS if n in r["by_count"] and not r["by_count"][n]["exact_match"]["value"] >= GOAL_EXACT]
    asked = [n for n in COUNTS if n in r["by_count"]]
    msgs.append("exact count ≥ 90 % for every N: " +
                ("met" if not short else f"NOT met (N = {', '.join(short)})") +
                ("" if len(asked) == 6 else f" (only N = {', '.join(asked)} evaluated)"))
    ad = r["adherence"]["mean_four"]
    msgs.append(f"adherence ≥ 85 %: {'met' if not _bad(ad) and ad >= GOAL_ADHERENCE else 'NOT met'} "
                f"({pct({'value': ad})} %)")
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


def replace_block(doc, text):
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
    a = ap.parse_args(argv)
    text = table(load_runs(a.runs), a.missing)
    print(text)
    if a.doc:
        replace_block(a.doc, text)
        print(f"report: table written to {a.doc}", file=sys.stderr)


if __name__ == "__main__":
    main()
