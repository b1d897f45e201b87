#!/usr/bin/env bash
# Memory and pace of one long `strata index` run: indexes MUSIC_DIR into a new
# data folder and samples, every second, the indexer's resident and anonymous
# memory beside the number of tracks the catalog holds analysed (or failed:
# its analyses rows); then prints them at
# every 1,000 tracks with the seconds each 1,000 took, and the slope of
# resident memory per 1,000 tracks after the first 1,000 (warm-up).
# Needs: sqlite3 (apt).
#   scripts/index-memory.sh MUSIC_DIR [BINARY] [DATA_DIR]
# e.g. after `strata synth-library --audio 20000 --out /tmp/synth-audio --format flac --format wav`.
set -euo pipefail
export LC_ALL=C
command -v sqlite3 >/dev/null || { echo "needs sqlite3 (apt install sqlite3)" >&2; exit 1; }
music=${1:?usage: scripts/index-memory.sh MUSIC_DIR [BINARY] [DATA_DIR]}
binary=${2:-target/release/strata}
data=${3:-$(mktemp -d)}
[[ -e $data/catalog.sqlite ]] && { echo "$data already holds a library: give a new DATA_DIR" >&2; exit 1; }
samples=$data/index-memory.tsv
mkdir -p "$data"
"$binary" --data-dir "$data" index "$music" >"$data/index.log" 2>&1 &
app=$!
started=$(date +%s.%N)
while kill -0 "$app" 2>/dev/null; do
  # A process that has exited but is not yet reaped has no VmRSS: no sample.
  memory=$(awk '/^VmRSS/{r=$2} /^RssAnon/{a=$2} END{if (r != "") printf "%.1f\t%.1f", r/1024, a/1024}' "/proc/$app/status" 2>/dev/null || true)
  tracks=$(sqlite3 -readonly "file:$data/catalog.sqlite?mode=ro" "SELECT count(*) FROM analyses" 2>/dev/null || echo 0)
  [[ -n $memory ]] && printf '%s\t%s\t%s\n' "$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')" "$memory" "${tracks:-0}" >>"$samples"
  sleep 1
done
wait "$app" || { echo "strata index failed; see $data/index.log" >&2; exit 1; }
tail -n1 "$data/index.log"
printf 'tracks\tseconds\tresident MB\tanonymous MB\tseconds since the mark before\n'
awk -F'\t' '
  { t[NR]=$1; r[NR]=$2; a[NR]=$3; n[NR]=$4 }
  END {
    mark = 1000; last = 0
    for (i = 1; i <= NR; i++) if (n[i] >= mark) {
      printf "%d\t%.1f\t%.1f\t%.1f\t%.1f\n", mark, t[i], r[i], a[i], t[i] - last
      last = t[i]; while (n[i] >= mark) mark += 1000
    }
    # Least-squares slope of resident memory against tracks, past warm-up.
    for (i = 1; i <= NR; i++) if (n[i] >= 1000) { k++; sx += n[i]; sy += r[i]; sxx += n[i]*n[i]; sxy += n[i]*r[i] }
    if (k > 1 && k*sxx != sx*sx) printf "slope after 1,000 tracks: %.3f MB per 1,000 tracks\n", 1000*(k*sxy - sx*sy)/(k*sxx - sx*sx)
  }' "$samples"
echo "samples: $samples"
