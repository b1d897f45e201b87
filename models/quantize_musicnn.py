#!/usr/bin/env python3
"""Try int8 MusicNN: quantise models/musicnn/model.onnx and compare it with fp32.

    python3 -m venv /tmp/q && /tmp/q/bin/pip install onnx==1.23.2 onnxruntime==1.31.1 numpy
    /tmp/q/bin/python models/quantize_musicnn.py OUT_DIR AUDIO_FILE [AUDIO_FILE ...]

Writes OUT_DIR/dynamic.onnx (dynamic int8: ConvInteger/MatMulInteger) and
OUT_DIR/static.onnx (static QDQ int8, calibrated on the audio given), then for
each prints the CPU milliseconds per 3 s window on one ONNX Runtime thread
(the indexer's setting) beside fp32, and each output's cosine with fp32 over
every window of the audio (decoded to 16 kHz mono with ffmpeg).

Issue 24 ran it on the development library (Xeon with AVX-512 VNNI, ONNX
Runtime 1.31.1): fp32 32 ms per window, dynamic int8 130 ms, static int8 58 ms
(fp32 45 ms in that noisier run); cosine with fp32 per window on 135 windows
of six tracks: cnn3 worst (dynamic min 0.962, median 0.992), penultimate min
0.972, the rest >= 0.99. Neither is faster, so Strata ships fp32 only;
the convolutions' odd kernel shapes (7 x 38, 7 x 67, 128 x 1 ...) have no fast
int8 kernels in ONNX Runtime's CPU provider.
"""

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_dynamic, quantize_static

MODEL = Path(__file__).resolve().parent / "musicnn" / "model.onnx"
RATE, WINDOW = 16_000, 48_000


def windows_of(path):
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-ac", "1", "-ar", str(RATE), "-f", "f32le", "-"], check=True, capture_output=True
    ).stdout
    audio = np.frombuffer(raw, dtype=np.float32)
    return [audio[s : s + WINDOW][None, :] for s in range(0, len(audio) - WINDOW + 1, WINDOW)]


class Windows(CalibrationDataReader):
    def __init__(self, windows):
        self.left = iter(windows)

    def get_next(self):
        window = next(self.left, None)
        return None if window is None else {"waveform": window}


def session(path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def cpu_ms_per_window(model, windows):
    model.run(None, {"waveform": windows[0]})
    started = time.process_time()
    for window in windows:
        model.run(None, {"waveform": window})
    return 1000 * (time.process_time() - started) / len(windows)


def main():
    out_dir, audio = Path(sys.argv[1]), sys.argv[2:]
    out_dir.mkdir(parents=True, exist_ok=True)
    windows = [w for path in audio for w in windows_of(path)]
    quantize_dynamic(str(MODEL), str(out_dir / "dynamic.onnx"), weight_type=QuantType.QInt8)
    quantize_static(
        str(MODEL),
        str(out_dir / "static.onnx"),
        Windows(windows[::4]),
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=["Conv", "MatMul"],
        per_channel=True,
    )
    reference = session(MODEL)
    names = [o.name for o in reference.get_outputs()]
    fp32 = [reference.run(None, {"waveform": w}) for w in windows]
    print(f"fp32: {cpu_ms_per_window(reference, windows[:20]):.1f} ms per window, {len(windows)} windows")
    for variant in ["dynamic", "static"]:
        model = session(out_dir / f"{variant}.onnx")
        int8 = [model.run(None, {"waveform": w}) for w in windows]
        print(f"{variant} int8: {cpu_ms_per_window(model, windows[:20]):.1f} ms per window")
        for i, name in enumerate(names):
            a = np.stack([out[i].reshape(-1) for out in fp32])
            b = np.stack([out[i].reshape(-1) for out in int8])
            cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
            print(f"  {name:<12} cosine with fp32 per window: min {cos.min():.4f}  5 % {np.quantile(cos, 0.05):.4f}  median {np.median(cos):.4f}")


if __name__ == "__main__":
    main()
