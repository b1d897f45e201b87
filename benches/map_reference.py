#!/usr/bin/env python3
"""Reference projections for `cargo bench --bench strata -- map`: the same data
through scikit-learn (PCA; t-SNE reduced to 50 PCA dimensions first, as Strata
does) and openTSNE when installed, on the same threads.

    python benches/map_reference.py FEATURES.npy pca|tsne OUT_PREFIX

Prints one JSON line per engine: {"engine", "seconds"}; writes each engine's
2D layout to OUT_PREFIX.<engine>.npy so the bench scores it with Strata's own
neighbourhood measure.
"""

import json
import sys
import time

import numpy as np


def main() -> None:
    features_path, method, out_prefix = sys.argv[1:4]
    x = np.load(features_path)
    engines = []
    if method == "pca":
        from sklearn.decomposition import PCA

        engines.append(("sklearn-pca-auto", lambda: PCA(n_components=2, random_state=42).fit_transform(x)))
        engines.append(("sklearn-pca-randomized", lambda: PCA(n_components=2, svd_solver="randomized", random_state=42).fit_transform(x)))
    else:
        from sklearn.decomposition import PCA
        from sklearn.manifold import TSNE

        def reduced():
            return PCA(n_components=min(50, x.shape[1]), svd_solver="randomized", random_state=42).fit_transform(x)

        engines.append(("sklearn-tsne", lambda: TSNE(n_components=2, perplexity=30.0, init="pca", random_state=42).fit_transform(reduced())))
        try:
            from openTSNE import TSNE as OpenTSNE

            engines.append(("opentsne", lambda: np.asarray(OpenTSNE(perplexity=30.0, random_state=42).fit(reduced()))))
        except ImportError:
            pass
    for name, run in engines:
        started = time.perf_counter()
        points = run()
        seconds = time.perf_counter() - started
        np.save(f"{out_prefix}.{name}.npy", np.ascontiguousarray(points, dtype=np.float32))
        print(json.dumps({"engine": name, "seconds": seconds}), flush=True)


if __name__ == "__main__":
    main()
