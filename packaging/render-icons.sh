#!/usr/bin/env bash
# Renders assets/strata.svg to the PNG icon sizes the packages install
# (assets/strata-<size>.png). Needs rsvg-convert: `apt-get install librsvg2-bin`.
# The PNGs are committed, so packaging needs this only after editing the SVG.
set -euo pipefail
assets=$(cd "$(dirname "$0")/../assets" && pwd)
command -v rsvg-convert >/dev/null || { echo "rsvg-convert is missing: apt-get install librsvg2-bin" >&2; exit 1; }
for size in 48 128 256; do
  rsvg-convert --width "$size" --height "$size" "$assets/strata.svg" --output "$assets/strata-$size.png"
done
ls -l "$assets"/strata-*.png
