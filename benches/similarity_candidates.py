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

import csv, os, sqlite3, struct
import numpy as np

DIMS = [408, 153, 64, 64, 64, 753, 753, 200, 50]
NAMES = ["timbral", "temporal", "cnn1", "cnn2", "cnn3", "mean_pool", "max_pool", "penultimate", "taggram", "tonal"]
PASSAGE = 7

def load(data_dir, lib_root, labels_csv):
    db = sqlite3.connect(os.path.join(data_dir, "catalog.sqlite"))
    rows = db.execute("select t.path, a.store_row, a.window_row, a.window_count from tracks t join analyses a on a.track_id=t.id "
                      "where a.model='musicnn' and a.status='done' order by a.store_row").fetchall()
    vec = os.path.join(data_dir, "vectors", "musicnn")
    tonal_dim = os.path.getsize(os.path.join(vec, "own-00.f16")) // 2
    layers = []
    for i, d in enumerate(DIMS):
        a = np.fromfile(os.path.join(vec, f"layer-{i:02d}.f16"), dtype="<f2").reshape(-1, d)
        layers.append(a)
    nrows = layers[0].shape[0]
    t = np.fromfile(os.path.join(vec, "own-00.f16"), dtype="<f2")
    layers.append(t.reshape(nrows, -1))
    win = np.fromfile(os.path.join(vec, "windows.f16"), dtype="<f2").reshape(-1, DIMS[PASSAGE])
    labels = {r["path"]: r for r in csv.DictReader(open(labels_csv, encoding="utf-8"))}
    paths, X, W, lab = [], [[] for _ in layers], [], []
    for path, srow, wrow, wc in rows:
        rel = os.path.relpath(path, lib_root)
        if rel not in labels:
            continue
        paths.append(rel)
        for li, a in enumerate(layers):
            X[li].append(a[srow].astype(np.float64))
        W.append(win[wrow:wrow + wc].astype(np.float64))
        lab.append(labels[rel])
    return paths, [np.array(x) for x in X], W, lab

import sys, json, itertools, math
import numpy as np
from scipy.stats import norm

K = 10

def unit(X):
    n = np.linalg.norm(X, axis=1, keepdims=True)
    n[n == 0] = 1
    return X / n

def prep(X, how):
    if how == "raw":
        return unit(X)
    Xc = X - X.mean(0)
    if how == "center":
        return unit(Xc)
    if how == "std":
        return unit(Xc / (X.std(0) + 1e-6 * (X.std(0).max() + 1e-12)))
    if how.startswith("std") and how != "std":
        a = float(how[3:])
        return unit(Xc / (X.std(0) + 1e-6 * (X.std(0).max() + 1e-12)) ** a)
    if how == "whiten":
        # PCA whitening with shrinkage: component variance + mean variance
        U, s, Vt = np.linalg.svd(Xc, full_matrices=False)
        lam = s ** 2 / len(X)
        scale = 1 / np.sqrt(lam + lam.mean())
        return unit((Xc @ Vt.T) * scale)
    if how == "unitcenter":   # unit first, then centre, then unit
        U = unit(X)
        return unit(U - U.mean(0))
    raise ValueError(how)

def cos(Xn):
    return Xn @ Xn.T

def hub(S, how):
    n = len(S)
    off = ~np.eye(n, dtype=bool)
    if how == "none":
        return S
    vals = np.where(off, S, np.nan)
    mu = np.nanmean(vals, 1)
    sd = np.nanstd(vals, 1) + 1e-9
    if how == "zt":          # standardise by the candidate's own distribution (query's is rank-neutral)
        return (S - mu[None, :]) / sd[None, :]
    if how == "zqt":         # symmetric: both sides
        return 0.5 * ((S - mu[:, None]) / sd[:, None] + (S - mu[None, :]) / sd[None, :])
    if how == "mp":
        return norm.cdf((S - mu[:, None]) / sd[:, None]) * norm.cdf((S - mu[None, :]) / sd[None, :])
    if how.startswith("csls"):
        k = int(how[4:])
        srt = -np.sort(-np.where(off, S, -np.inf), 1)[:, :k]
        r = srt.mean(1)
        return 2 * S - r[:, None] - r[None, :]
    if how.startswith("ls"):   # local scaling (Zelnik-Manor/Perona) on distance d = 1 - s
        k = int(how[2:])
        D = 1 - S
        sig = np.sort(np.where(off, D, np.inf), 1)[:, k - 1]
        return np.exp(-D ** 2 / (sig[:, None] * sig[None, :] + 1e-12))
    raise ValueError(how)

def fuse(mats, how):
    if how == "score":
        return sum(mats) / len(mats)
    if how == "zscore":   # per query, standardise each layer's row
        out = 0
        for M in mats:
            mu = M.mean(1, keepdims=True); sd = M.std(1, keepdims=True) + 1e-9
            out = out + (M - mu) / sd
        return out / len(mats)
    if how == "rrf":
        out = 0
        n = len(mats[0])
        for M in mats:
            M = M.copy(); np.fill_diagonal(M, -np.inf)
            ranks = np.argsort(np.argsort(-M, 1), 1)   # 0 = best
            out = out + 1.0 / (60 + ranks)
        return out / len(mats)
    if how == "borda":
        out = 0
        for M in mats:
            M = M.copy(); np.fill_diagonal(M, -np.inf)
            out = out - np.argsort(np.argsort(-M, 1), 1)
        return out / len(mats)
    raise ValueError(how)

def pooled_windows(W, how):
    if how == "meanstd":
        m = np.array([w.mean(0) for w in W]); s = np.array([w.std(0) for w in W])
        return np.hstack([unit(m - m.mean(0)), unit(s - s.mean(0))])
    raise ValueError(how)

def set_match(W):
    Wn = [unit(w - 0) for w in W]
    allw = np.vstack(W); mu = allw.mean(0)
    Wn = [unit(w - mu) for w in W]
    n = len(W)
    S = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            C = Wn[i] @ Wn[j].T
            S[i, j] = 0.5 * (C.max(1).mean() + C.max(0).mean())
    return S

# ---------------- metrics ----------------
def per_query(S, lab, cmask=None):
    """Per-query composer P@10 (other works), ensemble P@10, within-ensemble composer AP@10 (other works); NaN when not counted."""
    n = len(S)
    comp = np.array([l["composer"] for l in lab]); work = np.array([l["work"] for l in lab]); ens = np.array([l["ensemble"] for l in lab])
    if cmask is None:
        cmask = np.ones(n, bool)
    out = np.full((n, 3), np.nan)
    for q in range(n):
        order = np.argsort(-S[q], kind="stable")
        order = order[(order != q) & cmask[order]]
        def prec(cands, rel):
            R = rel[cands].sum()
            if R == 0: return np.nan, np.nan
            kk = min(K, len(cands)); top = rel[cands[:kk]]
            hits = np.cumsum(top); ap = (hits / np.arange(1, kk + 1) * top).sum() / min(kk, R)
            return top.sum() / kk, ap
        c1 = order[work[order] != work[q]]
        out[q, 0] = prec(c1, comp == comp[q])[0]
        out[q, 1] = prec(order, ens == ens[q])[0]
        c3 = order[(ens[order] == ens[q]) & (work[order] != work[q])]
        out[q, 2] = prec(c3, comp == comp[q])[1]
    return out

def hubness(S, rows=None):
    n = len(S)
    M = S.copy(); np.fill_diagonal(M, -np.inf)
    top = np.argsort(-M, 1, kind="stable")[:, :K]
    if rows is not None:
        top = rows
    N = np.bincount(top.ravel(), minlength=n).astype(float)
    mu, sd = N.mean(), N.std()
    skew = ((N - mu) ** 3).mean() / sd ** 3 if sd > 0 else 0.0
    return skew, (N == 0).mean(), int(N.max())

def summary(pq):
    return np.nanmean(pq, 0)

def objective(pq):
    return np.nanmean(np.nanmean(pq, 0))

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
