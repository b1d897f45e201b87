#!/usr/bin/env bash
# Installs what building and running Strata needs on Debian/Ubuntu, once.
# Skips packages that are already there; needs root (or sudo) only when something is missing.
set -euo pipefail
packages=(
  gcc g++ make pkg-config libasound2-dev          # build: C parts of -sys crates, ALSA for audio output
  python3 python3-pip ca-certificates curl        # fetching ONNX Runtime from its PyPI wheel
  libxkbcommon-x11-0 libgl1 libegl1 libxcursor1 libxrandr2 libxi6 libwayland-client0 libwayland-egl1  # the window
  ffmpeg                                          # tests encode MP3/AAC/Ogg fixtures with it
  mesa-vulkan-drivers                             # lavapipe: the window's snapshot tests render on the CPU
)
if command -v dpkg-query >/dev/null 2>&1; then
  missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "Installing system packages: ${missing[*]}"
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
else
  echo "Not a Debian-like system: install the equivalents of: ${packages[*]} (see README.md)" >&2
fi
if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    echo "cargo is in ~/.cargo/bin; add it to PATH" >&2
  else
    echo "Installing the Rust toolchain with rustup"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  fi
fi
# `make test` checks formatting and clippy's lints before the tests.
export PATH="$HOME/.cargo/bin:$PATH"
if command -v rustup >/dev/null 2>&1; then
  for component in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component"
  done
fi
