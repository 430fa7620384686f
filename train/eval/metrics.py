"""Metric code of the evaluation: confidence intervals, the Frechet distance, sharpness.

All pure numpy, deterministic (bootstrap draws from a fixed seed)."""
import math

import numpy as np

Z95 = 1.959963984540054     # two-sided 95 % normal quantile


def wilson(k: int, n: int, z: float = Z95):
    """Wilson score interval of a rate k/n -> (rate, lo, hi); (nan, nan, nan) when n == 0.
    Chosen over the normal interval because it stays inside [0, 1] and is honest at 0 % and
    100 % (e.g. 50/50 -> [0.929, 1])."""
    if n <= 0:
        return (math.nan, math.nan, math.nan)
    p = k / n
    den = 1 + z * z / n
    c = (p + z * z / (2 * n)) / den
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (p, max(0.0, c - h), min(1.0, c + h))


def bootstrap_mean(x, n_boot: int = 2000, seed: int = 0, alpha: float = 0.05):
    """Mean of x with a percentile-bootstrap 95 % interval -> (mean, lo, hi). A constant sample
    gives a zero-width interval; one value gives (v, v, v); empty gives nans."""
    x = np.asarray(x, np.float64)
    if x.size == 0:
        return (math.nan, math.nan, math.nan)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return (float(x.mean()), float(lo), float(hi))


def _sqrt_psd(a):
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet(f1, f2) -> float:
    """Frechet distance between Gaussians fitted to two feature sets [N, D]:
    |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2)  (the FID formula; the matrix
    square root through symmetric eigendecompositions, so no scipy). Needs N >= 2 each."""
    f1 = np.asarray(f1, np.float64)
    f2 = np.asarray(f2, np.float64)
    if len(f1) < 2 or len(f2) < 2:
        return math.nan
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    r1 = _sqrt_psd(s1)
    cross = np.linalg.eigvalsh((r1 @ s2 @ r1 + (r1 @ s2 @ r1).T) / 2)
    tr_cross = float(np.sum(np.sqrt(np.clip(cross, 0, None))))
    d = float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * tr_cross)
    return max(d, 0.0)


def laplacian_variance(frame) -> float:
    """Sharpness of one uint8 RGB frame [H, W, 3]: variance of the 4-neighbour Laplacian of its
    luma (BT.601 weights) over the interior pixels, in (0-255 units)^2. Blur lowers it; flat
    images give 0."""
    f = np.asarray(frame, np.float64)
    y = f[..., 0] * 0.299 + f[..., 1] * 0.587 + f[..., 2] * 0.114
    lap = (y[:-2, 1:-1] + y[2:, 1:-1] + y[1:-1, :-2] + y[1:-1, 2:] - 4 * y[1:-1, 1:-1])
    return float(lap.var())


def sharpness(frames) -> float:
    """Mean Laplacian variance over frames [T, H, W, 3]."""
    return float(np.mean([laplacian_variance(f) for f in frames])) if len(frames) else math.nan


# ---------------------------------------------------------------- which requested cuts were found

CUT_KINDS = ("station changes", "same station, framing changes", "same station, action only")


def cut_kind(a: dict, b: dict) -> str:
    """The kind of the cut between two scenes' attribute dicts (one of CUT_KINDS)."""
    if a["station"] != b["station"]:
        return CUT_KINDS[0]
    return CUT_KINDS[1] if a["framing"] != b["framing"] else CUT_KINDS[2]


def cut_recall(records, prompts, tol: int = 3):
    """Requested cuts found by the detector, per kind -> ({kind: (found, total)}, unmatched).
    records: a run's per_prompt.jsonl records (detected "cuts", "frames"); prompts: the prompt
    records by id. Requested cut k of n scenes in T frames lies at k T // n (train.eval.run's
    boundaries); it counts as found when a detected cut not yet matched lies within tol frames.
    unmatched: detected cuts that matched no requested one."""
    found = {k: 0 for k in CUT_KINDS}
    total = {k: 0 for k in CUT_KINDS}
    unmatched = 0
    for r in records:
        sc = prompts[r["id"]]["scenes"]
        n, T = len(sc), r["frames"]
        free = list(r["cuts"])
        for k, (a, b) in enumerate(zip(sc, sc[1:]), 1):
            kind = cut_kind(a["attributes"], b["attributes"])
            total[kind] += 1
            want = k * T // n
            near = [c for c in free if abs(c - want) <= tol]
            if near:
                found[kind] += 1
                free.remove(min(near, key=lambda c: abs(c - want)))
        unmatched += len(free)
    return {k: (found[k], total[k]) for k in CUT_KINDS if total[k]}, unmatched
