#!/usr/bin/env bash
# Runs the real window under Xvfb on an indexed library and saves screenshots
# (what a user sees) into docs/. Needs: xvfb, xdotool, imagemagick (apt).
#   scripts/screenshots.sh DATA_DIR [BINARY]
set -euo pipefail
data=${1:?usage: scripts/screenshots.sh DATA_DIR [BINARY]}
binary=${2:-target/release/strata}
out=docs
mkdir -p "$out"
source "$(dirname "$0")/virtual-display.sh"
"$binary" --data-dir "$data" >/dev/null 2>&1 &
app=$!
sleep 10
import -window root "$out/window-map.png"
# Select the third track in the table: the results and their aspect bars appear.
xdotool mousemove 90 160 click 1
sleep 3
import -window root "$out/window-results.png"
# The layer probe tab.
xdotool mousemove 498 44 click 1
sleep 2
import -window root "$out/window-probe.png"
# Close the window politely so settings (and frame statistics) are written.
xdotool search --name '^Strata$' windowclose 2>/dev/null || kill "$app"
wait "$app" 2>/dev/null || true
ls -la "$out"
