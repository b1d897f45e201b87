"""What Strata's quality studies share: reading a data folder's MusicNN
vectors straight from the store's f16 files, the ways of normalising and
fusing layers, and the per-query metrics `strata eval` defines (composer
P@10 over other works, ensemble P@10, composer mAP@10 within the query's
ensemble) and hubness. Used by similarity_candidates.py and sampling_quality.py.
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
