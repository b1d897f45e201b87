#!/usr/bin/env bash
# Frame times of the real window while it indexes a library at full load.
# Indexes a few tracks from the command line first (killed after a few seconds,
# which also shows that a killed indexer loses nothing), then opens the window,
# whose start-up rescan indexes the rest in the background while xdotool
# selects tracks, hovers the map, sweeps the layers, switches PCA / t-SNE and
# tabs. Prints the window's
# frame statistics (p50/p99 of Strata's own work and of whole frames).
# Needs: xvfb, xdotool (apt).
#   scripts/frame-times.sh LIBRARY_DIR [BINARY] [SECONDS]
set -euo pipefail
library=${1:?usage: scripts/frame-times.sh LIBRARY_DIR [BINARY] [SECONDS]}
binary=${2:-target/release/strata}
seconds=${3:-90}
data=$(mktemp -d)
stats=$data/frame-stats.json
trap 'rm -rf "$data"' EXIT
# Seed the catalog with the library's root and a few tracks.
timeout -s KILL 6 "$binary" --data-dir "$data" index "$library" >/dev/null 2>&1 || true
on_exit="rm -rf '$data'"
source "$(dirname "$0")/virtual-display.sh"
# A fresh settings store, so the window starts as it would for a new user.
export XDG_DATA_HOME=$data/xdg XDG_CONFIG_HOME=$data/xdg
STRATA_FRAME_STATS=$stats "$binary" --data-dir "$data" >/dev/null 2>&1 &
app=$!
sleep 5
end=$((SECONDS + seconds))
row=0
while ((SECONDS < end)); do
  # A track in the table, then the map (hover and click), the probe tab and back.
  xdotool mousemove 90 $((150 + (row % 12) * 22)) click 1
  sleep 0.7
  for x in 500 600 700 800; do xdotool mousemove "$x" $((300 + row % 5 * 40)); sleep 0.15; done
  # The layer sweep: drag its slider across the layers, then back to the aspect mix.
  xdotool mousemove 415 99 mousedown 1 mousemove 450 99 sleep 0.2 mousemove 480 99 sleep 0.2 mousemove 508 99 mouseup 1
  sleep 0.5
  # Every third round the map switches between PCA and t-SNE.
  if ((row % 3 == 2)); then xdotool mousemove $((row % 2 ? 575 : 628)) 76 click 1; sleep 0.5; fi
  xdotool mousemove 498 44 click 1
  sleep 0.5
  xdotool mousemove 428 44 click 1
  sleep 0.5
  row=$((row + 1))
done
kill -0 "$app" 2>/dev/null || { echo "the window exited during the run" >&2; exit 1; }
xdotool search --name '^Strata$' windowclose 2>/dev/null || kill "$app"
wait "$app" 2>/dev/null || true
cat "$stats"
