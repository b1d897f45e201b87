#!/usr/bin/env python3
"""Generate librosa reference values for `src/descriptors.rs`.

Writes ``tests/golden/descriptors.json`` next to this script. For every test
signal the JSON holds a *generator spec* (closed-form components plus a tiny
LCG for noise) that ``tests/descriptors.rs`` regenerates sample-for-sample in
Rust, and librosa's value for each descriptor. No audio files are stored.

Setup and run (from the repository root)::

    python3 -m venv /tmp/desc-venv
    /tmp/desc-venv/bin/pip install librosa==0.11.0 numpy==2.4.6 scipy==1.17.1 \\
        numba==0.68.1 llvmlite==0.50.0 soundfile==0.14.0
    /tmp/desc-venv/bin/python tests/golden/make_descriptor_goldens.py

Signal recipe (the Rust test implements exactly the same arithmetic):

* every sample is computed in float64, components are added in list order into
  a zeroed float64 buffer, then the optional gain ramp is applied, then the
  buffer is cast to float32 (librosa's usual dtype);
* ``chirp``: ``amp * sin(phase(t))``, ``t = i / sr``; ``"lin"``:
  ``phase = 2*pi*(f0*t + (f1-f0)*t^2/(2*T))``; ``"exp"``:
  ``phase = 2*pi*f0*T/ln(f1/f0) * (exp(t*ln(f1/f0)/T) - 1)``, ``T`` = duration;
* ``noise``: ``amp * lcg(seed)[i]`` for every sample ``i``;
* ``clicks``: events at ``t_k = offset_s + k*60/bpm`` for ``k = 0, 1, ...``
  while ``t_k < duration``; each starts at sample ``s_k = floor(t_k*sr + 0.5)``
  and lasts ``L = floor(8*decay_s*sr + 0.5)`` samples (clipped at the end),
  value ``amp * sin(2*pi*freq_hz*j/sr) * exp(-j/(decay_s*sr))`` for ``j`` in
  ``0..L``; with ``"noise_seed"`` present the sine is replaced by the LCG
  stream (one stream per component, indexed by the absolute sample ``s_k+j``);
* ``notes``: each note starts at ``s = floor(start_s*sr + 0.5)``, lasts
  ``n = floor(dur_s*sr + 0.5)`` samples (clipped), ``f0 = 440*2^((midi-69)/12)``;
  value at ``j`` is ``amp * env(j) * sum_{p=1..partials} sin(2*pi*f_p*j/sr)/p``,
  ``f_p = p*f0*sqrt(1 + inharm*p^2)``, partials with ``f_p >= sr/2`` skipped,
  ``env(j) = exp(-j/(decay_s*sr)) * min(1, j/a) * min(1, (n-j)/r)`` with
  ``a = max(1, floor(0.005*sr + 0.5))`` and ``r = max(1, floor(0.010*sr + 0.5))``;
* ``gain_db``: ``[g0, g1]`` multiplies sample ``i`` by
  ``10^((g0 + (g1-g0)*i/N)/20)``, ``N`` = number of samples;
* ``lcg(seed)``: ``state = seed`` (uint32); per sample
  ``state = (1664525*state + 1013904223) mod 2^32`` then
  ``value = (state >> 8) / 2^23 - 1`` (uniform in [-1, 1)).

Besides the descriptors, each signal records librosa's intermediates
(``extra``: frame count, onset count, the tuning ``chroma_stft`` estimates
from the power spectrogram, and the mean chroma) and an ``input_checksum`` of
the float32 signal (float64 sums of ``|y|``, ``y^2`` and the squared first
difference) so that the Rust test can tell that it rendered the same input.

The committed ``descriptors.json`` keeps the librosa values of its first run;
``input_checksum`` and ``extra.chroma_tuning`` were added to it later by running
this script with ``--add-checks`` (same package versions), which computes only
those, rather than by a full re-run, which moves librosa's float32 values in
their last digits (relative 1e-7) for no gain.

Descriptor definitions (track level, librosa 0.11 defaults: n_fft 2048,
hop 512, hann window, center=True, pad_mode='constant'):
means over frames of spectral_centroid / spectral_rolloff(0.85) /
zero_crossing_rate / spectral_flatness / rms; dynamic range = 95th minus 10th
percentile (numpy 'linear') of 20*log10(max(rms, 1e-10)) over frames above
-80 dB (0 when fewer than 2); onset rate = len(onset_detect) / duration
(with pre_max and wait at least one frame, see below);
tempo = librosa.feature.rhythm.tempo (quantised to the lag grid); key clarity
= max Pearson correlation of the mean chroma_stft vector with the 24 rotated
Krumhansl-Kessler profiles.
"""

import json
import math
import os
import sys

import librosa
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "descriptors.json")

KK_MAJOR = [6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88]
KK_MINOR = [6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17]


def lcg(seed, n):
    out = np.empty(n, dtype=np.float64)
    state = seed & 0xFFFFFFFF
    for i in range(n):
        state = (1664525 * state + 1013904223) & 0xFFFFFFFF
        out[i] = (state >> 8) / 8388608.0 - 1.0
    return out


def rnd(x):
    return int(math.floor(x + 0.5))


def render(spec):
    sr = spec["sr"]
    n = spec["n_samples"]
    dur = n / sr
    y = np.zeros(n, dtype=np.float64)
    idx = np.arange(n, dtype=np.float64)
    for c in spec["components"]:
        kind = c["kind"]
        if kind == "chirp":
            t = idx / sr
            f0, f1 = c["f0"], c["f1"]
            if c["law"] == "lin":
                phase = 2.0 * math.pi * (f0 * t + (f1 - f0) * t * t / (2.0 * dur))
            else:
                k = math.log(f1 / f0)
                phase = 2.0 * math.pi * f0 * dur / k * (np.exp(t * k / dur) - 1.0)
            y += c["amp"] * np.sin(phase)
        elif kind == "noise":
            y += c["amp"] * lcg(c["seed"], n)
        elif kind == "clicks":
            period = 60.0 / c["bpm"]
            length = rnd(8.0 * c["decay_s"] * sr)
            noise = lcg(c["noise_seed"], n) if "noise_seed" in c else None
            k = 0
            while True:
                tk = c["offset_s"] + k * period
                if tk >= dur:
                    break
                s = rnd(tk * sr)
                e = min(n, s + length)
                j = np.arange(e - s, dtype=np.float64)
                env = np.exp(-j / (c["decay_s"] * sr))
                if noise is not None:
                    src = noise[s:e]
                else:
                    src = np.sin(2.0 * math.pi * c["freq_hz"] * j / sr)
                y[s:e] += c["amp"] * src * env
                k += 1
        elif kind == "notes":
            a = max(1, rnd(0.005 * sr))
            r = max(1, rnd(0.010 * sr))
            for nt in c["notes"]:
                s = rnd(nt["start_s"] * sr)
                ln = rnd(nt["dur_s"] * sr)
                e = min(n, s + ln)
                j = np.arange(e - s, dtype=np.float64)
                f0 = 440.0 * 2.0 ** ((nt["midi"] - 69) / 12.0)
                acc = np.zeros(e - s, dtype=np.float64)
                for p in range(1, nt["partials"] + 1):
                    fp = p * f0 * math.sqrt(1.0 + nt.get("inharm", 0.0) * p * p)
                    if fp >= sr / 2:
                        continue
                    acc += np.sin(2.0 * math.pi * fp * j / sr) / p
                env = (
                    np.exp(-j / (nt["decay_s"] * sr))
                    * np.minimum(1.0, j / a)
                    * np.minimum(1.0, (ln - j) / r)
                )
                y[s:e] += nt["amp"] * env * acc
        else:
            raise ValueError(kind)
    if "gain_db" in spec:
        g0, g1 = spec["gain_db"]
        y *= 10.0 ** ((g0 + (g1 - g0) * idx / n) / 20.0)
    return y.astype(np.float32)


def chord(start, dur, midis, amp=0.12, partials=4, decay=3.0):
    return [
        {"start_s": start, "dur_s": dur, "midi": m, "amp": amp, "partials": partials, "decay_s": decay}
        for m in midis
    ]


def signals():
    out = []
    out.append({
        "name": "sweep_exp_22k", "sr": 22050, "n_samples": 8 * 22050, "check_tempo": False,
        "components": [{"kind": "chirp", "law": "exp", "amp": 0.5, "f0": 80.0, "f1": 8000.0}],
    })
    out.append({
        "name": "sweep_lin_16k", "sr": 16000, "n_samples": 6 * 16000, "check_tempo": False,
        "components": [{"kind": "chirp", "law": "lin", "amp": 0.3, "f0": 200.0, "f1": 6000.0},
                       {"kind": "noise", "amp": 0.01, "seed": 7}],
    })
    out.append({
        "name": "noise_ramp_22k", "sr": 22050, "n_samples": 6 * 22050, "check_tempo": False,
        "gain_db": [-50.0, 0.0],
        "components": [{"kind": "noise", "amp": 0.4, "seed": 12345}],
    })
    out.append({
        "name": "clicks_120_22k", "sr": 22050, "n_samples": 10 * 22050, "check_tempo": True, "true_bpm": 120.0,
        "components": [{"kind": "clicks", "bpm": 120.0, "offset_s": 0.25, "amp": 0.8, "freq_hz": 1500.0, "decay_s": 0.01},
                       {"kind": "noise", "amp": 0.001, "seed": 99}],
    })
    out.append({
        "name": "clicks_90_44k", "sr": 44100, "n_samples": 10 * 44100, "check_tempo": True, "true_bpm": 90.0,
        "components": [{"kind": "clicks", "bpm": 90.0, "offset_s": 0.1, "amp": 0.7, "freq_hz": 2000.0, "decay_s": 0.008}],
    })
    out.append({
        "name": "clicks_140_16k", "sr": 16000, "n_samples": 10 * 16000, "check_tempo": True, "true_bpm": 140.0,
        "components": [{"kind": "clicks", "bpm": 140.0, "offset_s": 0.05, "amp": 0.6, "freq_hz": 1000.0, "decay_s": 0.012},
                       {"kind": "noise", "amp": 0.002, "seed": 4242}],
    })
    # C - Am - F - G, 2 s each, organ-like partials.
    prog = []
    for i, ch in enumerate([[48, 60, 64, 67], [45, 57, 60, 64], [41, 57, 60, 65], [43, 55, 59, 62]]):
        prog += chord(2.0 * i, 2.0, ch)
    out.append({
        "name": "chords_22k", "sr": 22050, "n_samples": 8 * 22050, "check_tempo": False,
        "components": [{"kind": "notes", "notes": prog}],
    })
    # Decaying piano-like tones: a C-major melody at 100 BPM over a bass line.
    mel = [60, 64, 67, 72, 71, 67, 65, 62, 60, 64, 69, 67, 65, 64, 62, 60]
    notes = []
    beat = 0.6
    for k, m in enumerate(mel):
        notes.append({"start_s": 0.05 + k * beat, "dur_s": 1.2, "midi": m, "amp": 0.25,
                      "partials": 8, "decay_s": 0.35, "inharm": 0.0004})
    for k, m in enumerate([36, 43, 41, 43]):
        notes.append({"start_s": 0.05 + 4 * k * beat, "dur_s": 2.4, "midi": m, "amp": 0.3,
                      "partials": 6, "decay_s": 0.8, "inharm": 0.0002})
    out.append({
        "name": "piano_44k", "sr": 44100, "n_samples": int(9.8 * 44100), "check_tempo": True, "true_bpm": 100.0,
        "components": [{"kind": "notes", "notes": notes}],
    })
    # A "real-ish" groove at 110 BPM: kick on beats, noise hi-hat on off-beats, A-minor pad.
    pad = chord(0.0, 8.0, [57, 60, 64], amp=0.05, partials=5, decay=6.0)
    out.append({
        "name": "groove_110_22k", "sr": 22050, "n_samples": 8 * 22050, "check_tempo": True, "true_bpm": 110.0,
        "components": [
            {"kind": "clicks", "bpm": 110.0, "offset_s": 0.02, "amp": 0.9, "freq_hz": 60.0, "decay_s": 0.06},
            {"kind": "clicks", "bpm": 110.0, "offset_s": 0.02 + 30.0 / 110.0, "amp": 0.25,
             "freq_hz": 0.0, "decay_s": 0.015, "noise_seed": 2024},
            {"kind": "notes", "notes": pad},
        ],
    })
    # Quiet-to-loud sine for dynamic range.
    out.append({
        "name": "fade_in_sine_22k", "sr": 22050, "n_samples": 6 * 22050, "check_tempo": False,
        "gain_db": [-70.0, 0.0],
        "components": [{"kind": "chirp", "law": "lin", "amp": 0.5, "f0": 440.0, "f1": 440.0}],
    })
    return out


def key_clarity(chroma_mean):
    best = -1.0
    c = np.asarray(chroma_mean, dtype=np.float64)
    if np.std(c) == 0:
        return 0.0
    for prof in (KK_MAJOR, KK_MINOR):
        p = np.asarray(prof)
        for k in range(12):
            r = np.corrcoef(c, np.roll(p, k))[0, 1]
            best = max(best, r)
    return float(best)


def input_checksum(y):
    """Sums of the float32 signal that any change of recipe moves (all positive, so relative checks work)."""
    y64 = y.astype(np.float64)
    return {
        "sum_abs": float(np.abs(y64).sum()),
        "sum_sq": float((y64 * y64).sum()),
        "diff_sq": float((np.diff(y64) ** 2).sum()),
    }


def chroma_tuning(y, sr):
    """The tuning ``chroma_stft`` uses: ``estimate_tuning`` on the power spectrogram (the
    default ``estimate_tuning(y=y)`` reads the magnitude spectrogram and can differ)."""
    power = np.abs(librosa.stft(y)) ** 2
    return float(librosa.estimate_tuning(S=power, sr=sr, bins_per_octave=12))


def descriptors(y, sr):
    cen = librosa.feature.spectral_centroid(y=y, sr=sr)
    rol = librosa.feature.spectral_rolloff(y=y, sr=sr, roll_percent=0.85)
    zcr = librosa.feature.zero_crossing_rate(y)
    flat = librosa.feature.spectral_flatness(y=y, power=2.0, amin=1e-10)
    rms = librosa.feature.rms(y=y)[0]
    db = 20.0 * np.log10(np.maximum(rms.astype(np.float64), 1e-10))
    loud = db[db > -80.0]
    dr = float(np.percentile(loud, 95) - np.percentile(loud, 10)) if loud.size >= 2 else 0.0
    env = librosa.onset.onset_strength(y=y, sr=sr)
    # librosa defaults, except that the 30 ms max-window and wait are at least
    # one frame (they floor to 0 frames below ~17 kHz); identical for >= 17 kHz.
    one_frame_min = max(1.0, 0.03 * sr // 512)
    onsets = librosa.onset.onset_detect(
        onset_envelope=env, sr=sr, pre_max=one_frame_min, wait=one_frame_min
    )
    tempo = librosa.feature.tempo(onset_envelope=env, sr=sr)
    chroma = librosa.feature.chroma_stft(y=y, sr=sr)
    cm = chroma.mean(axis=1)
    return {
        "spectral_centroid_hz": float(np.mean(cen)),
        "spectral_rolloff_hz": float(np.mean(rol)),
        "zero_crossing_rate": float(np.mean(zcr)),
        "spectral_flatness": float(np.mean(flat)),
        "rms": float(np.mean(rms)),
        "dynamic_range_db": dr,
        "onset_rate_per_s": float(len(onsets) / (len(y) / sr)),
        "tempo_bpm": float(np.atleast_1d(tempo)[0]),
        "key_clarity": key_clarity(cm),
    }, {
        "onset_count": int(len(onsets)),
        "chroma_tuning": chroma_tuning(y, sr),
        "chroma_mean": [float(v) for v in cm],
        "n_frames": int(cen.shape[-1]),
    }


def add_checks():
    """Adds ``input_checksum`` and ``extra.chroma_tuning`` to the existing file, keeping every other value."""
    with open(OUT) as f:
        golden = json.load(f)
    for entry in golden["signals"]:
        y = render(entry)
        entry["input_checksum"] = input_checksum(y)
        extra = entry["extra"]
        extra.pop("tuning", None)
        extra["chroma_tuning"] = chroma_tuning(y, entry["sr"])
        print(entry["name"], json.dumps(entry["input_checksum"]), extra["chroma_tuning"])
    with open(OUT, "w") as f:
        json.dump(golden, f, indent=1)
        f.write("\n")
    print("updated", OUT)


def main():
    out = {
        "librosa_version": librosa.__version__,
        "numpy_version": np.__version__,
        "signals": [],
    }
    for spec in signals():
        y = render(spec)
        vals, extra = descriptors(y, spec["sr"])
        entry = dict(spec)
        entry["expected"] = vals
        entry["extra"] = extra
        entry["input_checksum"] = input_checksum(y)
        out["signals"].append(entry)
        print(spec["name"], json.dumps(vals))
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print("wrote", OUT)


if __name__ == "__main__":
    if sys.argv[1:] == ["--add-checks"]:
        add_checks()
    else:
        main()
