"""Issue 24's quality check: two indexings of the same library (say, today's
sampling and a cheaper one), compared query by query.

    python benches/sampling_quality.py DATA_A DATA_B LIBRARY_DIR LABELS_CSV [STRATA]

For today's default ranking (the probe's aspect layers of each data folder,
centred, scores averaged as the default mix weighs them) and for every
layer: composer P@10 over other works, ensemble P@10 and composer mAP@10
within the query's ensemble, each as A, B and the paired difference B − A
with a 95 % bootstrap interval over the queries both count (4,000
resamples). Then the probe's best R² per descriptor in A and B
(`STRATA probe --json`; STRATA defaults to target/release/strata).
Tracks are matched by path, so the two folders may store them in any order.
Needs numpy and scipy.
"""

import json, os, subprocess, sys
import numpy as np

from quality_metrics import NAMES, cos, load, per_query, prep

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def probe(strata, data_dir):
    out = subprocess.run([strata, "probe", "--data-dir", data_dir, "--json"], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def evaluate(strata, data_dir, lib, labels):
    paths, X, _, lab = load(data_dir, lib, labels)
    report = probe(strata, data_dir)
    aspects = [a["layer"] for a in report["aspects"]]
    sims = [cos(prep(x, "center")) for x in X]
    per = {"default": per_query(sum(sims[li] for li in aspects) / len(aspects), lab)}
    per.update({NAMES[li]: per_query(sims[li], lab) for li in range(len(X))})
    r2 = np.array(report["probe"]["r2"], dtype=float)  # layers × targets
    best = {t: float(np.nanmax(r2[:, ti])) for ti, t in enumerate(report["probe"]["targets"])}
    order = np.argsort(paths)
    return [paths[i] for i in order], {k: v[order] for k, v in per.items()}, best, [NAMES[li] for li in aspects]


def paired(a, b, reps=4000):
    both = ~np.isnan(a) & ~np.isnan(b)
    d = b[both] - a[both]
    rng = np.random.default_rng(7)
    boots = [d[rng.integers(0, len(d), len(d))].mean() for _ in range(reps)]
    return d.mean(), np.percentile(boots, 2.5), np.percentile(boots, 97.5)


def main():
    a_dir, b_dir, lib, labels = sys.argv[1:5]
    strata = sys.argv[5] if len(sys.argv) > 5 else os.path.join(ROOT, "target", "release", "strata")
    paths_a, per_a, best_a, aspects_a = evaluate(strata, a_dir, lib, labels)
    paths_b, per_b, best_b, aspects_b = evaluate(strata, b_dir, lib, labels)
    if paths_a != paths_b:
        sys.exit("the two data folders hold different tracks")
    print(f"A = {a_dir}: aspect layers {aspects_a}\nB = {b_dir}: aspect layers {aspects_b}")
    metrics = ["composer P@10", "ensemble P@10", "within-ensemble mAP@10"]
    print(f"{'ranking':<12}" + "".join(f" | {m:<38}" for m in metrics))
    for name in ["default"] + NAMES:
        row = f"{name:<12}"
        for j in range(3):
            mean, lo, hi = paired(per_a[name][:, j], per_b[name][:, j])
            row += f" | {np.nanmean(per_a[name][:, j]):.3f} → {np.nanmean(per_b[name][:, j]):.3f}  {mean:+.3f} [{lo:+.3f}, {hi:+.3f}]"
        print(row)
    print("probe's best R² per descriptor: A → B (B − A)")
    for target, r2 in best_a.items():
        print(f"  {target:<24} {r2:.3f} → {best_b[target]:.3f} ({best_b[target] - r2:+.3f})")


if __name__ == "__main__":
    main()
