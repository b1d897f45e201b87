"""The plain MFCC baseline for `strata eval`: mean and standard deviation of
20 MFCCs per track (librosa defaults at 22,050 Hz), z-scored over the library,
compared by cosine. Prints composer P@10 with the query's own work excluded
and ensemble P@10, the figures issue 5 compares Strata against.

    python benches/mfcc_reference.py LIBRARY_DIR [--labels labels.csv]

Needs librosa (pip install librosa==0.11.0) and ffmpeg (decodes every format
the same way, M4A included).
"""
import argparse
import csv
import os
import subprocess

import numpy as np


def decode(path, rate=22050):
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-ac", "1", "-ar", str(rate), "-f", "f32le", "-"],
                         capture_output=True, check=False).stdout
    return np.frombuffer(raw, dtype=np.float32)


def precision_at(similarity, label, work, k, exclude_work):
    """Mean P@k over queries with at least one relevant candidate, the same rule as `strata eval`."""
    n = len(label)
    total, counted = 0.0, 0
    for q in range(n):
        candidates = [c for c in range(n) if c != q and not (exclude_work and work[c] == work[q])]
        if not any(label[c] == label[q] for c in candidates):
            continue
        candidates.sort(key=lambda c: (-similarity[q, c], c))
        total += sum(label[c] == label[q] for c in candidates[:k]) / k
        counted += 1
    return total / max(counted, 1)


def main():
    import librosa

    parser = argparse.ArgumentParser()
    parser.add_argument("library")
    parser.add_argument("--labels", default=None)
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()
    labels_path = args.labels or os.path.join(args.library, "labels.csv")
    rows = list(csv.DictReader(open(labels_path, encoding="utf-8")))
    features, kept = [], []
    for row in rows:
        audio = decode(os.path.join(args.library, row["path"]))
        if len(audio) < 22050:
            continue
        mfcc = librosa.feature.mfcc(y=audio, sr=22050, n_mfcc=20)
        features.append(np.concatenate([mfcc.mean(axis=1), mfcc.std(axis=1)]))
        kept.append(row)
    x = np.array(features)
    x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-9)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    similarity = x @ x.T
    work = [r["work"] for r in kept]
    composer = precision_at(similarity, [r["composer"] for r in kept], work, args.k, True)
    ensemble = precision_at(similarity, [r["ensemble"] for r in kept], work, args.k, False)
    print(f"MFCC mean/std, {len(kept)} tracks: composer P@{args.k} (other works) {composer:.3f}, ensemble P@{args.k} {ensemble:.3f}")


if __name__ == "__main__":
    main()
