#!/usr/bin/env python3
"""CPU benchmark of MERT-v1 (random weights) in ONNX Runtime vs PyTorch eager.

    python models/bench_mert.py [--model-dir DIR] [--variant 95m] [--windows 5 30]
                                [--threads 2] [--engines torch,ort-fp32,ort-fused,ort-int8]

Exports DIR/model.onnx, model.fused.onnx and model.int8.onnx with
`export_mert.py --random-init --fuse --quantize` if they are missing (default DIR
/tmp/mert-bench-<variant>, outside the repo).  Every (engine, window) pair runs in a
fresh subprocess so that its peak RSS (VmHWM) is its own; each reports the median (and
the minimum, the better estimate on a busy machine) over --runs of process CPU-seconds (user + sys, all threads) per audio-second, wall
seconds per audio-second and RSS.  PyTorch runs the very module that was exported
(same seed), torch.set_num_threads(threads), inference_mode.  ONNX Runtime runs with
intra_op_num_threads=threads, inter_op 1, ORT_ENABLE_ALL.  With --no-spin ORT's idle
worker spinning is switched off (session.intra_op.allow_spinning=0), which is what a
desktop app that runs the model now and then should do.

The numbers are for random weights: speed does not depend on them, int8 accuracy does.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ENGINES = {"torch": None, "ort-fp32": "model.onnx", "ort-fused": "model.fused.onnx", "ort-int8": "model.int8.onnx"}


def proc_status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def test_input(seconds: float, sr: int = 24000) -> np.ndarray:
    n = np.arange(int(seconds * sr))
    x = sum(0.2 * np.sin(2 * np.pi * f * n / sr) for f in (220.0, 277.18, 329.63, 440.0))
    x = x + 0.05 * np.random.default_rng(0).standard_normal(len(n))
    x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
    return x.astype(np.float32)[None]


def worker(args) -> None:
    rss_start = proc_status_mb("VmRSS")
    x = test_input(args.window)
    if args.engine == "torch":
        import torch
        sys.path.insert(0, str(HERE))
        import export_mert as em
        torch.set_num_threads(args.threads)
        model = em.random_init_(em.MertEncoder(em.arch_for(args.variant)), args.seed).eval()
        model.fold_weight_norm()
        xt = torch.from_numpy(x)

        def run():
            with torch.inference_mode():
                return model(xt)[1].numpy()
    else:
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = args.threads
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if args.no_spin:
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        sess = ort.InferenceSession(str(Path(args.model_dir) / ENGINES[args.engine]), so,
                                    providers=["CPUExecutionProvider"])

        def run():
            return sess.run(["layer_means"], {"waveform": x})[0]
    rss_loaded = proc_status_mb("VmRSS")
    run()  # warm-up
    cpu, wall = [], []
    for _ in range(args.runs):
        c0, w0 = time.process_time(), time.perf_counter()
        out = run()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    assert np.isfinite(out).all()
    print(json.dumps({
        "engine": args.engine + ("/no-spin" if args.no_spin and args.engine != "torch" else ""),
        "window_s": args.window, "runs": args.runs,
        "cpu_s_per_audio_s": float(np.median(cpu)) / args.window,
        "cpu_s_per_audio_s_min": float(np.min(cpu)) / args.window,
        "wall_s_per_audio_s": float(np.median(wall)) / args.window,
        "rss_start_mb": rss_start, "rss_loaded_mb": rss_loaded, "peak_rss_mb": proc_status_mb("VmHWM"),
    }))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variant", choices=["95m", "330m"], default="95m")
    p.add_argument("--model-dir", type=Path)
    p.add_argument("--windows", type=float, nargs="+", default=[5.0, 30.0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=0, help="timed runs per pair (default 5 for <=10 s, else 3)")
    p.add_argument("--engines", default=",".join(ENGINES))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-spin", action="store_true")
    p.add_argument("--json-out", type=Path)
    p.add_argument("--worker", dest="engine", help=argparse.SUPPRESS)
    p.add_argument("--window", type=float, help=argparse.SUPPRESS)
    args = p.parse_args()
    args.model_dir = args.model_dir or Path(f"/tmp/mert-bench-{args.variant}")
    if args.engine:
        worker(args)
        return 0

    engines = args.engines.split(",")
    missing = [e for e in engines if ENGINES.get(e) and not (args.model_dir / ENGINES[e]).is_file()]
    if missing:
        print(f"exporting random-init {args.variant} to {args.model_dir} (missing for {missing}) ...", flush=True)
        subprocess.run([sys.executable, str(HERE / "export_mert.py"), "--variant", args.variant,
                        "--random-init", "--seed", str(args.seed), "--out", str(args.model_dir),
                        "--fuse", "--quantize"], check=True)
    print(f"load average before: {os.getloadavg()}", flush=True)
    results = []
    for w in args.windows:
        for e in engines:
            runs = args.runs or (5 if w <= 10 else 3)
            cmd = [sys.executable, __file__, "--worker", e, "--window", str(w), "--runs", str(runs),
                   "--threads", str(args.threads), "--variant", args.variant, "--seed", str(args.seed),
                   "--model-dir", str(args.model_dir)] + (["--no-spin"] if args.no_spin else [])
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            results.append(r)
            print(f"  {r['engine']:<18} {w:>5.1f} s  cpu/audio {r['cpu_s_per_audio_s']:.3f}  "
                  f"wall/audio {r['wall_s_per_audio_s']:.3f}  peak RSS {r['peak_rss_mb']:.0f} MB", flush=True)
    print(f"load average after: {os.getloadavg()}")
    print("\n| engine | window | CPU-s / audio-s median (min) | wall-s / audio-s | RSS loaded (MB) | peak RSS (MB) |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['engine']} | {r['window_s']:g} s | {r['cpu_s_per_audio_s']:.3f} "
              f"({r['cpu_s_per_audio_s_min']:.3f}) | "
              f"{r['wall_s_per_audio_s']:.3f} | {r['rss_loaded_mb']:.0f} | {r['peak_rss_mb']:.0f} |")
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
