# Sourced by the window scripts: starts Xvfb (1440 × 900) on a free display,
# exports DISPLAY, and on exit stops Xvfb and runs $on_exit if the caller set it.
#   on_exit="rm -rf /tmp/x"; source scripts/virtual-display.sh
display=:$((90 + RANDOM % 9))
Xvfb "$display" -screen 0 1440x900x24 >/dev/null 2>&1 &
xvfb=$!
# shellcheck disable=SC2064 # expand now: the cleanup names this Xvfb and this caller's files
trap "kill $xvfb 2>/dev/null || true; ${on_exit:-true}" EXIT
sleep 1
export DISPLAY=$display
