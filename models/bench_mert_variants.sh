#!/usr/bin/env bash
# MERT-v1-95M in Strata, end to end through `strata models install` and
# `strata index` (issue 19).
#
#   models/bench_mert_variants.sh cpu [CHECKPOINT] [LIBRARY]
#       every installed variant on the CPU, against PyTorch eager measured in
#       the same run: CPU-s per audio-s, drift, peak RSS.
#   models/bench_mert_variants.sh gpu [CHECKPOINT] [LIBRARY]
#       the fp16 variant on CUDA (onnxruntime-gpu from PyPI), audio-s per
#       wall-s, decode included, for batches of 1, 4 and 16 equal-length 5 s
#       windows. PROVIDER=cpu VARIANT=int8 runs the same path on the CPU.
#
# CHECKPOINT  a MERT-v1-95M checkpoint folder or weights file (default: the path
#             in /tmp/mert95m-checkpoint.txt; if there is none and the venv has
#             torch, a random-init one is written with export_mert.py: speed
#             does not depend on the weights).
# LIBRARY     audio folder (default /tmp/devlib); the first $FILES files in path
#             order are used as they are (mixed formats: decoding is included).
# Env: STRATA (default target/release/strata, built if missing), FILES (10),
#      THREADS (2; cpu: ONNX Runtime intra-op threads = torch threads),
#      VARIANTS (cpu; default every installed variant that runs on the CPU),
#      PROVIDER (gpu; cuda), VARIANT (gpu; fp16), BATCHES (gpu; "1 4 16"),
#      JOBS (gpu; 2 analysis workers, so decoding overlaps inference),
#      VENV (/tmp/mert-venv: PyTorch, models/requirements-mert.txt),
#      GPU_VENV (/tmp/ort-gpu-venv), OUT (/tmp/bench-mert-<mode>), INSTALLED
#      (a models folder that already holds mert-v1-95m: no install; the gpu
#      mode needs one installed with CUDA present, or fp16 is left out).
#
# What the cpu mode measures, and how the two sides compare:
#  - Strata: `/usr/bin/time -v strata index --full --jobs 1` on a fresh data
#    folder per variant: process CPU seconds (user + sys, all threads) over the
#    audio seconds indexed (the summary's audio_s). That includes model load,
#    decoding, resampling, Strata's descriptors and the store: the whole cost
#    a user pays. Windows are the manifest's 5 s, one per call.
#  - Pipeline without the model: the same run with the tiny MERT fixture
#    stretched to 5 s windows (its inference is negligible); "model only" is
#    Strata minus this.
#  - PyTorch: models/bench_mert.py --engines torch --windows 5: the forward
#    pass of the same architecture on one 5 s window, CPU-s per audio-s, decode
#    excluded (which favours PyTorch).
#  - Drift: each variant's lowest per-layer cosine against fp32 on the
#    built-in test signal, as install measured it (manifest.toml).
set -euo pipefail
mode=${1:?usage: $0 cpu|gpu [CHECKPOINT] [LIBRARY]}
root=$(cd "$(dirname "$0")/.." && pwd)
checkpoint=${2:-$(cat /tmp/mert95m-checkpoint.txt 2>/dev/null || true)}
library=${3:-/tmp/devlib}
files=${FILES:-10}
threads=${THREADS:-2}
venv=${VENV:-/tmp/mert-venv}
out=${OUT:-/tmp/bench-mert-$mode}
strata=${STRATA:-$root/target/release/strata}
export RUST_LOG=warn
[ -x "$strata" ] || (cd "$root" && cargo build --release --bin strata)
rm -rf "$out" && mkdir -p "$out/music"

if [ -z "${INSTALLED:-}" ] && { [ -z "$checkpoint" ] || [ ! -e "$checkpoint" ]; }; then
  "$venv/bin/python" -c 'import torch' 2>/dev/null || { echo "no checkpoint: give its path, or a VENV with torch to write one" >&2; exit 2; }
  checkpoint=$out/checkpoint
  echo "== writing a random-init MERT-v1-95M checkpoint to $checkpoint"
  "$venv/bin/python" "$root/models/export_mert.py" --variant 95m --write-checkpoint "$checkpoint" > "$out/checkpoint.log"
fi

# The first $files audio files, linked so that decoding reads the originals.
find "$library" -type f \( -iname '*.flac' -o -iname '*.mp3' -o -iname '*.ogg' -o -iname '*.wav' -o -iname '*.m4a' -o -iname '*.opus' \) \
  -not -path '*/_broken/*' | LC_ALL=C sort | head -n "$files" | nl -w3 -nrz | while IFS=$'\t' read -r n path; do
  ln -s "$path" "$out/music/$n-$(basename "$path")"
done

# Runs a command under /usr/bin/time -v (stdout to $1.json) and writes "cpu_s peak_rss_mb wall_s" to $1.stats.
timed() {
  local log=$1; shift
  /usr/bin/time -v "$@" 2> "$log.time" > "$log.json" || { tail -n 30 "$log.time" >&2; return 1; }
  awk -F': ' '/User time/{u=$2} /System time/{s=$2} /Maximum resident/{r=$2} /Elapsed \(wall/{w=$2}
    END {n=split(w,p,":"); ws=0; for(i=1;i<=n;i++) ws=ws*60+p[i]; printf "%.2f %.0f %.2f\n", u+s, r/1024, ws}' "$log.time" > "$log.stats"
}
audio_s() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["audio_s"])' "$1"; }
# A fresh data folder whose models/ is $2 (installed once, indexed from scratch each run).
fresh_data() { rm -rf "$1" && mkdir -p "$1" && ln -s "$2" "$1/models"; }

if [ "$mode" = gpu ] && [ "${PROVIDER:-cuda}" = cuda ]; then
  # ONNX Runtime with CUDA from PyPI, with the CUDA and cuDNN libraries its extras bring.
  gpu_venv=${GPU_VENV:-/tmp/ort-gpu-venv}
  if [ ! -x "$gpu_venv/bin/python" ]; then
    python3 -m venv "$gpu_venv"
    "$gpu_venv/bin/pip" install --quiet "onnxruntime-gpu[cuda,cudnn]==1.31.1" || "$gpu_venv/bin/pip" install --quiet "onnxruntime-gpu==1.31.1"
  fi
  capi=$("$gpu_venv/bin/python" -c 'import onnxruntime, os; print(os.path.join(os.path.dirname(onnxruntime.__file__), "capi"))')
  ORT_DYLIB_PATH=$(ls "$capi"/libonnxruntime.so.* | head -n 1)
  export ORT_DYLIB_PATH
  nvidia_libs=$(find "$(dirname "$(dirname "$capi")")/nvidia" -maxdepth 2 -name lib -type d 2>/dev/null | tr '\n' ':')
  export LD_LIBRARY_PATH="$capi:${nvidia_libs}${LD_LIBRARY_PATH:-}"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  echo "ORT_DYLIB_PATH=$ORT_DYLIB_PATH"
fi

if [ -n "${INSTALLED:-}" ]; then
  models_dir=$INSTALLED
else
  echo "== install (from $checkpoint)"
  timed "$out/install" "$strata" --data-dir "$out/installed" models install mert-v1-95m --from "$checkpoint" --accept-licence --json
  read -r cpu rss wall < "$out/install.stats"
  echo "install: ${wall} s wall, ${cpu} CPU-s, peak RSS ${rss} MB"
  models_dir=$out/installed/models
fi
model_dir=$models_dir/mert-v1-95m
grep -E '^(default_|\[\[variants|name = "(fp|fu|in)|min_layer_cosine)' "$model_dir/manifest.toml" | tr '\n' ' ' || true; echo

if [ "$mode" = gpu ]; then
  provider=${PROVIDER:-cuda}
  variant=${VARIANT:-fp16}
  echo "| batch | windows of 5 s | audio-s | wall-s | audio-s per s | peak RSS (MB) |"
  echo "|---|---|---|---|---|---|"
  for batch in ${BATCHES:-1 4 16}; do
    # The installed model with another batch size: same graphs, edited manifest.
    models=$out/models-b$batch
    mkdir -p "$models/mert-v1-95m"
    for f in "$model_dir"/*; do ln -sf "$f" "$models/mert-v1-95m/"; done
    rm "$models/mert-v1-95m/manifest.toml"
    sed "s/^batch_size = .*/batch_size = $batch/" "$model_dir/manifest.toml" > "$models/mert-v1-95m/manifest.toml"
    fresh_data "$out/data-b$batch" "$models"
    timed "$out/index-b$batch" "$strata" --data-dir "$out/data-b$batch" --provider "$provider" --model-variant "$variant" \
      index --model mert-v1-95m --full --jobs "${JOBS:-2}" --json "$out/music"
    read -r cpu rss wall < "$out/index-b$batch.stats"
    audio=$(audio_s "$out/index-b$batch.json")
    python3 -c 'import sys; a, w = map(float, sys.argv[1:3]); print(f"| {sys.argv[3]} | 5 s | {a:.0f} | {w:.1f} | {a / w:.1f} | {sys.argv[4]} |")' "$audio" "$wall" "$batch" "$rss"
  done
  exit 0
fi

variants=${VARIANTS:-$(python3 - "$model_dir/manifest.toml" <<'PY'
import sys, tomllib
m = tomllib.load(open(sys.argv[1], "rb"))
print(" ".join(v["name"] for v in m.get("variants", []) if not v.get("providers") or "cpu" in v["providers"]))
PY
)}
results=$out/results.tsv
: > "$results"
for variant in $variants; do
  echo "== strata index, variant $variant"
  fresh_data "$out/data-$variant" "$models_dir"
  timed "$out/index-$variant" "$strata" --data-dir "$out/data-$variant" --provider cpu --model-variant "$variant" \
    index --model mert-v1-95m --full --jobs 1 --json "$out/music"
  read -r cpu rss wall < "$out/index-$variant.stats"
  audio=$(audio_s "$out/index-$variant.json")
  printf '%s\t%s\t%s\t%s\t%s\n' "$variant" "$cpu" "$rss" "$wall" "$audio" >> "$results"
  echo "  $cpu CPU-s, $wall s wall, $audio audio-s, peak RSS $rss MB"
done

echo "== pipeline without the model (tiny MERT, 5 s windows)"
mkdir -p "$out/tiny-models/mert-tiny"
cp "$root/tests/fixtures/mert-tiny/model.onnx" "$out/tiny-models/mert-tiny/"
sed -e 's/^window_s = .*/window_s = 5.0/' -e 's/^hop_s = .*/hop_s = 5.0/' "$root/tests/fixtures/mert-tiny/manifest.toml" > "$out/tiny-models/mert-tiny/manifest.toml"
fresh_data "$out/data-pipeline" "$out/tiny-models"
timed "$out/index-pipeline" "$strata" --data-dir "$out/data-pipeline" --provider cpu \
  index --model mert-tiny --full --jobs 1 --json "$out/music"
read -r pipe_cpu _ _ < "$out/index-pipeline.stats"
pipe_audio=$(audio_s "$out/index-pipeline.json")

echo "== PyTorch eager (models/bench_mert.py, 5 s windows, $threads threads)"
"$venv/bin/python" "$root/models/bench_mert.py" --variant 95m --windows 5 --threads "$threads" --engines torch --runs 5 \
  --json-out "$out/torch.json" > "$out/torch.log"

python3 - "$results" "$model_dir/manifest.toml" "$pipe_cpu" "$pipe_audio" "$out/torch.json" <<'PY'
import json, sys, tomllib
results, manifest, pipe_cpu, pipe_audio, torch_json = sys.argv[1:6]
drift = {v["name"]: v.get("min_layer_cosine") for v in tomllib.load(open(manifest, "rb")).get("variants", [])}
pipe = float(pipe_cpu) / float(pipe_audio)
t = json.load(open(torch_json))[0]
torch = t["cpu_s_per_audio_s"]
print(f"\npipeline without the model: {pipe:.3f} CPU-s per audio-s; PyTorch eager forward (5 s windows): "
      f"{torch:.3f} median, {t['cpu_s_per_audio_s_min']:.3f} min, peak RSS {t['peak_rss_mb']:.0f} MB")
print("\n| variant | CPU-s / audio-s, strata index (decode included) | model only | PyTorch / strata | PyTorch / model only "
      "| lowest layer cosine vs fp32 | peak RSS (MB) |")
print("|---|---|---|---|---|---|---|")
for line in open(results):
    variant, cpu, rss, wall, audio = line.split("\t")
    total = float(cpu) / float(audio)
    model = total - pipe
    cosine = drift.get(variant)
    print(f"| {variant} | {total:.3f} | {model:.3f} | {torch / total:.2f}x | {torch / model:.2f}x | "
          f"{'-' if cosine is None else f'{cosine:.4f}'} | {float(rss):.0f} |")
PY
