#!/usr/bin/env bash
# Seeds for the decode target: short tones in every container and codec
# symphonia reads, at rates other than the models' 16 kHz so that resampling
# runs too, each behind the target's control byte (low nibble: the extension
# hint's index in fuzz_targets/decode.rs's HINTS; high nibble: where to seek).
# Needs ffmpeg. Writes corpus/decode/ and corpus/resample/.
set -euo pipefail
cd "$(dirname "$0")"
out=corpus/decode
mkdir -p "$out" corpus/resample
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

tone() { # rate channels seconds file [codec args…]
    local rate=$1 channels=$2 seconds=$3 file=$4
    shift 4
    ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi -i "sine=frequency=330:sample_rate=$rate:duration=$seconds" \
        -ac "$channels" -metadata title=seed -metadata artist=Strata "$@" "$tmp/$file"
}
seed() { # hint-index file
    { printf "\\x$(printf '%x' $((0x80 | $1)))"; cat "$tmp/$2"; } > "$out/$2"
}

tone 22050 1 0.2 pcm16.wav -c:a pcm_s16le && seed 1 pcm16.wav
tone 22050 2 0.2 pcm24.wav -c:a pcm_s24le && seed 1 pcm24.wav
tone 22050 1 0.2 float.wav -c:a pcm_f32le && seed 1 float.wav
tone 8000 1 0.2 ulaw.wav -c:a pcm_mulaw && seed 1 ulaw.wav
tone 22050 1 0.3 adpcm-ms.wav -c:a adpcm_ms && seed 1 adpcm-ms.wav
tone 11025 1 0.3 adpcm-ima.wav -c:a adpcm_ima_wav && seed 1 adpcm-ima.wav
tone 22050 2 0.3 seed.flac -c:a flac -frame_size 1024 && seed 2 seed.flac
tone 44100 2 0.3 seed.mp3 -c:a libmp3lame -b:a 64k && seed 3 seed.mp3
tone 22050 1 0.3 seed.ogg -c:a libvorbis -q:a 0 && seed 4 seed.ogg
tone 22050 1 0.3 aac.m4a -c:a aac -b:a 48k && seed 5 aac.m4a
tone 22050 1 0.2 alac.m4a -c:a alac && seed 5 alac.m4a
tone 22050 1 0.2 seed.aiff -c:a pcm_s16be && seed 6 seed.aiff
tone 32000 1 0.2 seed.caf -c:a pcm_s16le && seed 7 seed.caf
tone 22050 1 0.3 flac.mkv -c:a flac && seed 8 flac.mkv
tone 22050 1 0.3 seed.aac -c:a aac -b:a 48k && seed 9 seed.aac

# Resample seeds: 44.1 kHz → 16 kHz (the models' rate) and 48 kHz → 22.05 kHz, folded (byte 8 even), 256 samples.
python3 - <<'PY'
import math, struct
for name, src, dst in [("44100-16000", 44100, 16000), ("48000-22050", 48000, 22050)]:
    fold = lambda r: (r - 1000) % 767001  # rate_from() maps v to 1000 + v % 767001
    body = b"".join(struct.pack("<f", 0.5 * math.sin(2 * math.pi * 440 * i / src)) for i in range(256))
    open(f"corpus/resample/{name}", "wb").write(struct.pack("<II", fold(src), fold(dst)) + b"\x00" + body)
PY
ls -l "$out" corpus/resample
