#!/usr/bin/env bash
# Frame times of the real window on a large, already indexed archive (the
# synthetic 300,000-track one of `strata synth-library`), one interaction at a
# time: typing in the search box, sorting by each column, selecting tracks,
# dragging an aspect slider with the map coloured by composer and then by
# similarity. Opens the window under Xvfb on the data folder as it is, waits
# SETTLE_SECONDS (default 90) for the start-up work (rescan, probe, map) to
# end, runs each interaction for SECONDS (default 20), and prints per
# interaction the p50 / p99 of Strata's own work per frame and of whole frames
# (from the window's STRATA_FRAME_LOG), the time to the first frame, and the
# window's resident memory (peak, and at rest after the interactions).
# Needs: xvfb, xdotool (apt); imagemagick for FRAME_TIMES_PICTURES.
#   [FRAME_TIMES_PICTURES=DIR] scripts/frame-times-archive.sh DATA_DIR [BINARY] [SECONDS] [SETTLE_SECONDS]
set -euo pipefail
# sort -g and awk read and print numbers with a '.' whatever the user's locale.
export LC_ALL=C
data=${1:?usage: scripts/frame-times-archive.sh DATA_DIR [BINARY] [SECONDS] [SETTLE_SECONDS]}
binary=${2:-target/release/strata}
seconds=${3:-20}
settle=${4:-90}
work=$(mktemp -d)
log=$work/frames.tsv phases=$work/phases.tsv memory=$work/memory.tsv
# On any exit, also stop the window and the memory sampler (their pids are known later).
on_exit="kill \$app \$sampler 2>/dev/null || true; rm -rf '$work'"
app= sampler=
source "$(dirname "$0")/virtual-display.sh"
# A fresh settings store, so the window starts as it would for a new user.
export XDG_DATA_HOME=$work/xdg XDG_CONFIG_HOME=$work/xdg
now() { date +%s.%N; }
launched=$(now)
STRATA_FRAME_LOG=$log "$binary" --data-dir "$data" >/dev/null 2>&1 &
app=$!
# Resident and anonymous memory (MB) every half second, with the time.
(while kill -0 "$app" 2>/dev/null; do
  # A process that has exited but is not yet reaped has no VmRSS: no sample.
  awk -v t="$(now)" '/^VmRSS/{r=$2} /^RssAnon/{a=$2} END{if (r != "") printf "%s\t%.0f\t%.0f\n", t, r/1024, a/1024}' "/proc/$app/status" 2>/dev/null || true
  sleep 0.5
done) >"$memory" &
sampler=$!
sleep "$settle"
kill -0 "$app" 2>/dev/null || { echo "the window exited during start-up" >&2; exit 1; }
rest_started=$(now)

# With FRAME_TIMES_PICTURES=DIR, what the window shows during each
# interaction is saved there (needs imagemagick): check the clicks land.
pictures=${FRAME_TIMES_PICTURES:-}
[[ -n $pictures ]] && mkdir -p "$pictures"
picture() {
  [[ -n $pictures && ! -e $pictures/$1.png ]] && import -window root "$pictures/$1.png"
  return 0
}
# Runs "$@" over and over for $seconds, recording the phase's start and end.
current=
phase() {
  local name=$1 start end
  shift
  current=$name
  start=$(now)
  end=$((SECONDS + seconds))
  while ((SECONDS < end)); do "$@"; done
  printf '%s\t%s\t%s\n' "$name" "$start" "$(now)" >>"$phases"
  sleep 1
}
typing() {
  # Without a window manager, keys reach the window only once it has the focus.
  xdotool windowfocus --sync "$(xdotool search --name '^Strata$' | head -n1)"
  xdotool mousemove 207 37 click 1
  for word in bach mozart "op 18" brahms; do
    xdotool type --delay 120 "$word"
    picture typing
    sleep 0.3
    xdotool key --delay 120 ctrl+a BackSpace
    sleep 0.3
  done
}
sorting() {
  # Title, Composer and Work headers, each clicked twice (both directions).
  for x in 88 240 373; do
    xdotool mousemove "$x" 85 click 1
    sleep 0.6
    picture "sorting-$x"
    xdotool click 1
    sleep 0.6
  done
}
row=0
selecting() {
  xdotool mousemove 60 $((134 + (row % 25) * 22)) click 1
  row=$((row + 1))
  sleep 0.8
  picture selecting
}
slider() {
  # The first aspect slider (below the selected track and its other
  # recordings), dragged across and back; the picture is taken mid-drag.
  xdotool mousemove 1125 180 mousedown 1
  for x in 1105 1085 1065 1045 1035 1050 1070 1090 1110 1125; do
    xdotool mousemove "$x" 180
    sleep 0.08
    ((x == 1035)) && picture "$current"
  done
  xdotool mouseup 1
  sleep 0.4
}
# The map coloured by composer, a track selected for the sliders to rerank.
xdotool mousemove 761 76 click 1
phase typing typing
phase sorting sorting
phase selecting selecting
xdotool mousemove 60 200 click 1
sleep 2
phase slider-composer slider
xdotool mousemove 948 76 click 1
sleep 2
phase slider-similarity slider
rest_ended=$(now)
kill -0 "$app" 2>/dev/null || { echo "the window exited during the run" >&2; exit 1; }
# Closed politely, the window writes its frame log as it exits.
xdotool search --name '^Strata$' windowclose 2>/dev/null || kill "$app"
for _ in $(seq 60); do kill -0 "$app" 2>/dev/null || break; sleep 0.5; done
kill -0 "$app" 2>/dev/null && { echo "the window did not exit within 30 s of closing" >&2; kill "$app"; }
wait "$app" 2>/dev/null || true
kill "$sampler" 2>/dev/null || true

# p50 and p99 of a column of numbers on stdin.
percentiles() { sort -g | awk '{v[NR]=$1} END{if (NR==0) {print "-\t-"; exit} i50=int((NR-1)*0.5+0.5)+1; i99=int((NR-1)*0.99+0.5)+1; printf "%.1f\t%.1f\n", v[i50], v[i99]}'; }
[[ -s $log ]] || { echo "no frame log: the window did not exit cleanly, or $binary does not know STRATA_FRAME_LOG" >&2; : >"$log"; }
first=$(head -n1 "$log" | cut -f1)
[[ -n $first ]] && echo "first frame: $(awk -v a="$launched" -v b="$first" 'BEGIN{printf "%.2f", b-a}') s after launch"
printf 'interaction\tframes\town p50\town p99\twhole p50\twhole p99 (ms)\n'
while IFS=$'\t' read -r name start end; do
  frames=$(awk -v s="$start" -v e="$end" '$1>=s && $1<=e' "$log")
  count=$(printf '%s\n' "$frames" | grep -c . || true)
  own=$(printf '%s\n' "$frames" | awk 'NF' | cut -f2 | percentiles)
  whole=$(printf '%s\n' "$frames" | awk 'NF && $3!="NaN"' | cut -f3 | percentiles)
  printf '%s\t%s\t%s\t%s\n' "$name" "$count" "$own" "$whole"
done <"$phases"
awk -v s="$rest_started" '{if ($2>r) r=$2; if ($3>a) a=$3} $1>=s && !p {pr=$2; pa=$3; p=1} END{printf "memory: peak %s MB resident (%s MB anonymous); after start-up %s MB (%s MB anonymous)\n", r, a, pr, pa}' "$memory"
awk -v e="$rest_ended" '$1<=e {r=$2; a=$3} END{printf "memory after the interactions: %s MB resident (%s MB anonymous)\n", r, a}' "$memory"
