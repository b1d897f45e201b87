"""Issue 21's candidate study: label-free changes to how Strata ranks, each
scored on the same held-out protocols as today's default.

    python benches/similarity_candidates.py DATA_DIR LIBRARY_DIR LABELS_CSV '["mean_pool", ...]'

DATA_DIR is a Strata data folder indexed with the default model (MusicNN);
the last argument lists the layer of each aspect as `strata probe --json`
resolves them (the default mix weighs a layer by how many aspects use it).
MFCC features are read from LIBRARY_DIR.mfcc.pkl when present (mean and
std of 20 MFCCs per track, as benches/mfcc_reference.py computes them).

It reads the store's f16 files directly, so it needs numpy and scipy only.
Metrics (as `strata eval` defines them): composer P@10 over other works
(the query's own work excluded), ensemble P@10, composer mAP@10 within the
query's ensemble (other works), and hubness of every track's 10 nearest
(N10 skewness, share never suggested, largest hub). Held out: a choice
among several candidates is made on four fifths of the works (or on every
collection but one; a collection is the corpus folder in `source`) and
scored on the rest; a candidate with nothing to choose scores the same
under every protocol, since it uses no labels.
"""

from quality_metrics import *  # noqa: F403 (the study's vocabulary: load, prep, per_query, ...)

import sys, json, pickle, os
import numpy as np

data_dir, lib_root, labels_csv = sys.argv[1:4]
default_layers = json.loads(sys.argv[4])  # names of the aspect layers
paths, X, W, lab = load(data_dir, lib_root, labels_csv)
n = len(paths)
LI = {nm: i for i, nm in enumerate(NAMES)}
mfcc_path = os.path.join(lib_root, "..", os.path.basename(lib_root) + ".mfcc.pkl")
print(n, "tracks")

def collection(l):
    return l["source"].split("/")[0]

work = np.array([l["work"] for l in lab])
coll = np.array([collection(l) for l in lab])

cache = {}
def layer_sim(li, p, h):
    key = (li, p, h)
    if key not in cache:
        if li == "meanstd":
            base = cos(unit(pooled_windows(W, "meanstd")))
        elif li == "set":
            base = cache.setdefault(("set0",), set_match(W))
        else:
            base = cos(prep(X[li], p))
        cache[key] = hub(base, h)
    return cache[key]

configs = {}
def add(name, layers, p="center", h="none", f="score"):
    mats = [layer_sim(l, p, h) for l in layers]
    configs[name] = mats[0] if len(mats) == 1 else fuse(mats, f)

D = [LI[x] for x in default_layers]  # with repeats: one per aspect, as the default mix weighs them
ALL = list(range(len(NAMES)))
add("default (aspect layers, centred, score mean)", D)
for li in ALL:
    add(f"layer {NAMES[li]}", [li])
if os.path.exists(mfcc_path):
    feats = pickle.load(open(mfcc_path, "rb"))
    F = np.array([feats[p] for p in paths]); F = (F - F.mean(0)) / (F.std(0) + 1e-9)
    configs["MFCC mean/std (z-scored, cosine)"] = cos(unit(F))
for p in ["raw", "std", "whiten"]:
    add(f"default layers, {p}", D, p=p)
for h in ["zt", "zqt", "mp", "csls10", "ls10"]:
    add(f"default layers, hub {h}", D, h=h)
for f in ["zscore", "rrf", "borda"]:
    add(f"default layers, fusion {f}", D, f=f)
add("penultimate mean+std", ["meanstd"])
add("penultimate set-to-set", ["set"])
add("all layers, centred", ALL)
add("all layers, hub mp", ALL, h="mp")
add("all layers, hub zqt", ALL, h="zqt")
add("all layers, rrf", ALL, f="rrf")
add("default layers, std, mp", D, p="std", h="mp")
add("default layers, std, zqt", D, p="std", h="zqt")
add("default layers, whiten, mp", D, p="whiten", h="mp")
add("default layers + set, mp", D + ["set"], h="mp")
for li in ALL:
    add(f"layer {NAMES[li]}, std", [li], p="std")
add("all layers, std", ALL, p="std")
add("default + penultimate, std", D + [LI["penultimate"]], p="std")
add("default + penultimate x2, std", D + [LI["penultimate"]] * 2, p="std")
add("default layers, std, borda", D, p="std", f="borda")
add("default layers, std, rrf", D, p="std", f="rrf")
add("default layers, std, csls10", D, p="std", h="csls10")
add("distinct default layers, std", sorted(set(D)), p="std")
add("default layers, unitcenter", D, p="unitcenter")
add("default layers, std0.5", D, p="std0.5")
add("default layers, std0.75", D, p="std0.75")

PQ = {name: per_query(S, lab) for name, S in configs.items()}

def fmt(name, pq, hb):
    m = summary(pq)
    return f"{name:<52} {m[0]:6.3f} {m[1]:6.3f} {m[2]:6.3f}   {hb[0]:6.2f} {hb[1]:6.3f} {hb[2]:4d}"

print(f"{'ranking (all queries, no choice)':<52} {'compP':>6} {'ensP':>6} {'wMAP':>6}   {'skew':>6} {'never':>6} {'hub':>4}")
for name, S in configs.items():
    print(fmt(name, PQ[name], hubness(S)))

# ---- held-out choice among a family ----
def groups_folds(keys, k):
    uniq = sorted(set(keys)); rng = np.random.default_rng(7); rng.shuffle(uniq)
    fold_of = {g: i % k for i, g in enumerate(uniq)}
    return np.array([fold_of[g] for g in keys])

def held_out(family, folds):
    pooled = np.full((n, 3), np.nan); rows = np.zeros((n, K), int); chosen = []
    for f in sorted(set(folds)):
        train = folds != f
        best, bestv = None, -1
        for name in family:
            pq = per_query(configs[name], lab, cmask=train)[train]
            v = objective(pq)
            if v > bestv + 1e-12:
                best, bestv = name, v
        chosen.append(best)
        test = folds == f
        pooled[test] = PQ[best][test]
        M = configs[best].copy(); np.fill_diagonal(M, -np.inf)
        rows[test] = np.argsort(-M, 1, kind="stable")[test, :K]
    return pooled, hubness(None if False else np.zeros((n, n)), rows), chosen

work_folds = groups_folds(list(work), 5)
coll_folds = np.array([sorted(set(coll)).index(c) for c in coll])
print("collections:", {c: int((coll == c).sum()) for c in sorted(set(coll))})
fams = {
    "today's default": ["default (aspect layers, centred, score mean)"],
    "best single layer": [f"layer {NAMES[li]}" for li in ALL],
    "MFCC": [k for k in configs if k.startswith("MFCC")],
}
for name in configs:
    if name.startswith(("default layers", "penultimate", "all layers")):
        fams[name] = [name]
fams["best single layer, std"] = [f"layer {NAMES[li]}, std" for li in ALL]
fams["std: default / all / +penultimate"] = ["default layers, std", "all layers, std", "default + penultimate, std"]
fams["any candidate"] = list(configs)
for proto, folds in [("held out by work (5 folds)", work_folds), ("leave one collection out", coll_folds)]:
    print("\n==", proto)
    for fam, members in fams.items():
        if not members: continue
        pooled, hb, chosen = held_out(members, folds)
        extra = "" if len(members) == 1 else "  chose " + ", ".join(sorted(set(chosen)))
        print(fmt(fam, pooled, hb) + extra)

def paired(a, b, reps=2000):
    rng = np.random.default_rng(1)
    out = []
    for j in range(3):
        m = ~np.isnan(PQ[a][:, j]) & ~np.isnan(PQ[b][:, j])
        d = PQ[b][m, j] - PQ[a][m, j]
        boots = [d[rng.integers(0, len(d), len(d))].mean() for _ in range(reps)]
        out.append(f"{d.mean():+.3f} [{np.percentile(boots, 2.5):+.3f}, {np.percentile(boots, 97.5):+.3f}] n={m.sum()}")
    print(f"{b} vs {a}: " + " | ".join(out))
if os.environ.get("PAIRED"):
    for b in ["default layers, std", "distinct default layers, std", "all layers, std", "default layers, std, mp"]:
        paired("default (aspect layers, centred, score mean)", b)

# Per collection: today's default beside standardising, over that collection's queries.
print("\nper collection (queries of that collection, every track a candidate): compP / ensP / wMAP")
for c in sorted(set(coll)):
    m = coll == c
    a = np.nanmean(PQ["default (aspect layers, centred, score mean)"][m], 0)
    b = np.nanmean(PQ["default layers, std"][m], 0)
    print(f"  {c:<16} {m.sum():3d} tracks  default {a[0]:.3f} {a[1]:.3f} {a[2]:.3f}   standardised {b[0]:.3f} {b[1]:.3f} {b[2]:.3f}")
