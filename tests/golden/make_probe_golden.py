"""Golden reference for Strata's layer probe (src/probe.rs, tests/probe.rs).

Builds a small deterministic synthetic data set, scores ridge probes with
scikit-learn and writes ``probe_golden.json`` next to this file.

Data (regenerated bit-for-bit by tests/probe.rs, so keep both in sync):

* 64-bit LCG ``s = (A*s + C) mod 2**64`` (Knuth's MMIX constants), uniform
  ``u = (s >> 11) / 2**53``; "normal" ``z = (u1 + ... + u12) - 6`` summed left
  to right (exact same float operations in Python and Rust, no libm).
* 120 tracks; latents drawn in this order: ``a[i]`` (target A), ``b[i]``
  (target B), ``c[i]`` (target C, unrelated noise), each ``z()`` for i in
  0..120.
* layer0 (64 dims): ``w0[j] = z()``; then row-major ``w0[j]*a[i] + 0.1*z()``
  -> encodes A linearly with small noise.
* layer1 (64 dims): row-major ``z()`` -> pure noise.
* layer2 (64 dims): ``w2[j] = z()`` for all j, then ``v2[j] = z()`` for all j;
  then row-major ``w2[j]*(b*b*b)/3 + v2[j]*abs(b) + 0.5*z()`` with ``b = b[i]``
  -> encodes B nonlinearly.
* Every feature is rounded to float32 (the probe takes f32 matrices); the
  sklearn side works in float64 on those float32 values.

Reference: for each fixed alpha, layer and target,
``cross_val_score(make_pipeline(StandardScaler(), Ridge(alpha=alpha)), X, y,
cv=KFold(5, shuffle=True, random_state=0), scoring='r2')`` (mean over folds
and per fold), plus the fold assignment that KFold used, so the Rust test can
use identical folds via ``strata::probe::probe_with_folds``.

Run (pinned versions; any machine with Python 3.11):

    python3 -m venv /tmp/probe-venv
    /tmp/probe-venv/bin/pip install scikit-learn==1.9.1 numpy==2.4.6
    /tmp/probe-venv/bin/python tests/golden/make_probe_golden.py
"""

import json
import os

import numpy as np
import sklearn
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

LCG_A = 6364136223846793005
LCG_C = 1442695040888963407
SEED = 20240601
TRACKS = 120
DIMS = 64
NOISE0 = 0.1
NOISE2 = 0.5
ALPHAS = [1.0, 100.0]
FOLDS = 5
RANDOM_STATE = 0


class Lcg:
    def __init__(self, seed):
        self.s = seed % 2**64

    def u(self):
        self.s = (LCG_A * self.s + LCG_C) % 2**64
        return (self.s >> 11) / float(2**53)

    def z(self):
        acc = 0.0
        for _ in range(12):
            acc += self.u()
        return acc - 6.0


def generate():
    rng = Lcg(SEED)
    a = [rng.z() for _ in range(TRACKS)]
    b = [rng.z() for _ in range(TRACKS)]
    c = [rng.z() for _ in range(TRACKS)]
    w0 = [rng.z() for _ in range(DIMS)]
    l0 = [[w0[j] * a[i] + NOISE0 * rng.z() for j in range(DIMS)] for i in range(TRACKS)]
    l1 = [[rng.z() for _ in range(DIMS)] for _ in range(TRACKS)]
    w2 = [rng.z() for _ in range(DIMS)]
    v2 = [rng.z() for _ in range(DIMS)]
    l2 = []
    for i in range(TRACKS):
        bi = b[i]
        l2.append([w2[j] * (bi * bi * bi) / 3.0 + v2[j] * abs(bi) + NOISE2 * rng.z() for j in range(DIMS)])
    layers = [np.asarray(m, dtype=np.float64).astype(np.float32).astype(np.float64) for m in (l0, l1, l2)]
    targets = [np.asarray(t, dtype=np.float64) for t in (a, b, c)]
    return layers, targets


def main():
    layers, targets = generate()
    layer_names = ["layer0", "layer1", "layer2"]
    target_names = ["A", "B", "C"]
    cv = KFold(FOLDS, shuffle=True, random_state=RANDOM_STATE)
    fold_of = [-1] * TRACKS
    for k, (_, test) in enumerate(cv.split(layers[0])):
        for i in test:
            fold_of[int(i)] = k
    assert min(fold_of) == 0

    cases = []
    for alpha in ALPHAS:
        r2, r2_folds = [], []
        for x in layers:
            row, row_folds = [], []
            for y in targets:
                model = make_pipeline(StandardScaler(), Ridge(alpha=alpha))
                scores = cross_val_score(model, x, y, cv=cv, scoring="r2")
                row.append(float(scores.mean()))
                row_folds.append([float(s) for s in scores])
            r2.append(row)
            r2_folds.append(row_folds)
        cases.append({"alpha": alpha, "r2": r2, "r2_folds": r2_folds})

    out = {
        "description": "Golden R2 for strata::probe (see make_probe_golden.py)",
        "generator": {
            "lcg_a": LCG_A,
            "lcg_c": LCG_C,
            "seed": SEED,
            "uniform": "(s >> 11) / 2**53",
            "normal": "sum of 12 uniforms - 6",
            "tracks": TRACKS,
            "dims": DIMS,
            "noise0": NOISE0,
            "noise2": NOISE2,
        },
        "layers": layer_names,
        "targets": target_names,
        "checksums": {
            "layers": [float(x.sum()) for x in layers],
            "targets": [float(y.sum()) for y in targets],
        },
        "kfold": {"n_splits": FOLDS, "shuffle": True, "random_state": RANDOM_STATE},
        "fold_of": fold_of,
        "cases": cases,
        "versions": {"scikit-learn": sklearn.__version__, "numpy": np.__version__},
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "probe_golden.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    for case in cases:
        print("alpha", case["alpha"])
        for name, row in zip(layer_names, case["r2"]):
            print("  ", name, " ".join(f"{v:+.4f}" for v in row))


if __name__ == "__main__":
    main()
