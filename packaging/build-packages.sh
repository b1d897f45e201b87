#!/usr/bin/env bash
# Builds Strata's installable packages, with MusicNN and ONNX Runtime inside,
# so an installed Strata needs no network, no environment variables and no
# source tree:
#   strata_<version>_<deb arch>.deb           (dpkg-deb; /usr/bin, /usr/lib/strata, /usr/share/...)
#   strata-<version>-linux-<arch>.tar.gz      (the same layout under strata-<version>/)
#
# The binary finds its runtime at <exe dir>/../lib/strata/libonnxruntime.so and
# its models at <exe dir>/../share/strata/models (src/onnx_runtime.rs,
# src/model.rs), which is what both layouts provide.
#
# usage: packaging/build-packages.sh [--binary PATH] [--out DIR] [--gpu] [--ort-dir DIR] [--fast]
#   --binary PATH   the strata executable (default: target/release/strata)
#   --out DIR       where the packages go (default: target/package)
#   --gpu           bundle the CUDA build of ONNX Runtime (.cache/onnxruntime-gpu-<ver>/,
#                   from `make onnxruntime-gpu`); packages are named strata-cuda
#   --ort-dir DIR   take the ONNX Runtime files from DIR instead of the project cache
#   --fast          light gzip compression instead of xz / gzip -9 (for tests)
# Environment: STRATA_MAINTAINER overrides the Maintainer field.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
binary="$root/target/release/strata"
out="$root/target/package"
flavour=cpu
ort_dir=""
fast=0

die() { echo "build-packages: $*" >&2; exit 1; }
usage() { sed -n '12,18p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --binary) [ $# -ge 2 ] || die "--binary needs a path"; binary=$2; shift 2 ;;
    --binary=*) binary=${1#*=}; shift ;;
    --out) [ $# -ge 2 ] || die "--out needs a folder"; out=$2; shift 2 ;;
    --out=*) out=${1#*=}; shift ;;
    --gpu) flavour=gpu; shift ;;
    --ort-dir) [ $# -ge 2 ] || die "--ort-dir needs a folder"; ort_dir=$2; shift 2 ;;
    --ort-dir=*) ort_dir=${1#*=}; shift ;;
    --fast) fast=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

# --- What goes in -------------------------------------------------------------
version=$(sed -n '/^\[package\]/,/^\[/ s/^version *= *"\([^"]*\)".*/\1/p' "$root/Cargo.toml" | head -n1)
[ -n "$version" ] || die "no version in $root/Cargo.toml"
ort_version=$(sed -n 's/^version=\([0-9.]*\)$/\1/p' "$root/scripts/fetch-onnxruntime.sh" | head -n1)
[ -n "$ort_version" ] || die "no ONNX Runtime version in scripts/fetch-onnxruntime.sh"

if [ ! -f "$binary" ] || [ ! -x "$binary" ]; then
  die "no executable at $binary (build it: cargo build --release --bin strata, or pass --binary)"
fi
binary=$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")

ort_libs=(libonnxruntime_providers_shared.so)
if [ "$flavour" = gpu ]; then
  ort_libs+=(libonnxruntime_providers_cuda.so)
  name=strata-cuda
else
  name=strata
fi
if [ -z "$ort_dir" ]; then
  if [ "$flavour" = gpu ]; then ort_dir="$root/.cache/onnxruntime-gpu-$ort_version"; else ort_dir="$root/.cache/onnxruntime-$ort_version"; fi
  [ -f "$ort_dir/libonnxruntime.so.$ort_version" ] || "$root/scripts/fetch-onnxruntime.sh" "$flavour" >&2
fi
for f in "libonnxruntime.so.$ort_version" "${ort_libs[@]}" LICENSE-onnxruntime ThirdPartyNotices-onnxruntime.txt; do
  [ -f "$ort_dir/$f" ] || die "missing $ort_dir/$f (run scripts/fetch-onnxruntime.sh $flavour)"
done

models="$root/models/musicnn"
for f in model.onnx manifest.toml LICENSE; do
  [ -f "$models/$f" ] || die "missing $models/$f"
done

if command -v dpkg >/dev/null 2>&1; then
  deb_arch=$(dpkg --print-architecture)
else
  case "$(uname -m)" in x86_64) deb_arch=amd64 ;; aarch64) deb_arch=arm64 ;; *) deb_arch=$(uname -m) ;; esac
fi
tar_arch=$(uname -m)
command -v dpkg-deb >/dev/null 2>&1 || die "dpkg-deb is missing (Debian/Ubuntu: apt-get install dpkg)"

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
umask 022

# --- The installed tree, shared by both packages ----------------------------
# install_tree PREFIX: PREFIX/bin, PREFIX/lib/strata, PREFIX/share/...
install_tree() {
  local prefix=$1 s
  install -d "$prefix/bin" "$prefix/lib/strata" "$prefix/share/strata/models" \
    "$prefix/share/applications" "$prefix/share/metainfo" "$prefix/share/doc/strata" \
    "$prefix/share/icons/hicolor/scalable/apps"
  if command -v strip >/dev/null 2>&1; then
    strip --strip-all -o "$prefix/bin/strata" "$binary"
  else
    cp "$binary" "$prefix/bin/strata"
  fi
  chmod 0755 "$prefix/bin/strata"

  install -m 0644 "$ort_dir/libonnxruntime.so.$ort_version" "$prefix/lib/strata/"
  ln -s "libonnxruntime.so.$ort_version" "$prefix/lib/strata/libonnxruntime.so"
  for s in "${ort_libs[@]}"; do install -m 0644 "$ort_dir/$s" "$prefix/lib/strata/"; done

  cp -R "$models" "$prefix/share/strata/models/musicnn"
  chmod -R u=rwX,go=rX "$prefix/share/strata/models/musicnn"

  install -m 0644 "$root/packaging/strata.desktop" "$prefix/share/applications/strata.desktop"
  install -m 0644 "$root/packaging/org.strata.Strata.metainfo.xml" "$prefix/share/metainfo/org.strata.Strata.metainfo.xml"
  for s in 48 128 256; do
    install -D -m 0644 "$root/assets/strata-$s.png" "$prefix/share/icons/hicolor/${s}x$s/apps/strata.png"
  done
  install -m 0644 "$root/assets/strata.svg" "$prefix/share/icons/hicolor/scalable/apps/strata.svg"

  write_copyright > "$prefix/share/doc/strata/copyright"
  install -m 0644 "$root/LICENSE" "$prefix/share/doc/strata/LICENSE"
  install -m 0644 "$models/LICENSE" "$prefix/share/doc/strata/LICENSE-musicnn"
  install -m 0644 "$ort_dir/LICENSE-onnxruntime" "$prefix/share/doc/strata/LICENSE-onnxruntime"
  install -m 0644 "$ort_dir/ThirdPartyNotices-onnxruntime.txt" "$prefix/share/doc/strata/ThirdPartyNotices-onnxruntime.txt"
  chmod 0644 "$prefix/share/doc/strata/copyright"
}

indent() { sed 's/^$/./; s/^/ /'; }

# Debian machine-readable copyright (DEP-5), with every licence text in full.
write_copyright() {
  cat <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: Strata
Comment: Strata is MIT-licensed. It bundles the MusicNN model (ISC) and
 ONNX Runtime $ort_version (MIT; its third-party notices are in
 /usr/share/doc/strata/ThirdPartyNotices-onnxruntime.txt). The Rust crates
 linked statically into bin/strata keep their own licences (see Cargo.lock).

Files: *
Copyright: The Strata developers
License: MIT

Files: usr/share/strata/models/musicnn/* share/strata/models/musicnn/*
Copyright: 2019 Music Technology Group, Universitat Pompeu Fabra (Jordi Pons)
License: ISC

Files: usr/lib/strata/* lib/strata/*
Copyright: Microsoft Corporation
License: MIT-onnxruntime

License: MIT
EOF
  indent < "$root/LICENSE"
  printf '\nLicense: ISC\n'
  indent < "$models/LICENSE"
  printf '\nLicense: MIT-onnxruntime\n'
  indent < "$ort_dir/LICENSE-onnxruntime"
}

# --- Depends ------------------------------------------------------------------
# Libraries the binary loads with dlopen (so neither ldd nor dpkg-shlibdeps sees
# them), by soname: the window (winit/glutin/xkbcommon via x11-dl, x11rb,
# wayland-sys, xkbcommon-dl) and the file dialog (rfd's xdg-portal backend
# talks to D-Bus through libdbus).
declare -A dlopen_packages=(
  [libGL.so.1]=libgl1 [libEGL.so.1]=libegl1
  [libX11.so.6]=libx11-6 [libX11-xcb.so.1]=libx11-xcb1 [libXcursor.so.1]=libxcursor1
  [libXi.so.6]=libxi6 [libXrandr.so.2]=libxrandr2 [libXrender.so.1]=libxrender1 [libxcb.so.1]=libxcb1
  [libxkbcommon.so.0]=libxkbcommon0 [libxkbcommon-x11.so.0]=libxkbcommon-x11-0
  [libwayland-client.so.0]=libwayland-client0 [libwayland-egl.so.1]=libwayland-egl1
  [libwayland-cursor.so.0]=libwayland-cursor0 [libdbus-1.so.3]=libdbus-1-3
)
# Always listed, whatever the scan finds: audio, libc, and the window's GL/EGL/xkbcommon.
base_depends=(libasound2 libc6 libgl1 libegl1 libxkbcommon-x11-0)

# Linked libraries (ELF NEEDED) of the binary and the bundled runtime, with
# version constraints: dpkg-shlibdeps when dpkg-dev is there, else objdump/ldd
# + dpkg -S without versions.
linked_depends() { # STAGE FILES...
  local stage=$1; shift
  if command -v dpkg-shlibdeps >/dev/null 2>&1; then
    local d; d=$(mktemp -d "$work/shlibdeps.XXXX")
    mkdir -p "$d/debian"
    printf 'Source: strata\n\nPackage: strata\nArchitecture: any\n' > "$d/debian/control"
    local args=() f
    for f in "$@"; do args+=("-e$f"); done
    if (cd "$d" && dpkg-shlibdeps --warnings=0 -O "-S$stage" "${args[@]}" 2>/dev/null) | sed -n 's/^shlibs:Depends=//p' | tr ',' '\n' | sed 's/^ *//; /^$/d'; then
      return
    fi
  fi
  local lib
  for lib in $(for f in "$@"; do objdump -p "$f" 2>/dev/null | awk '$1 == "NEEDED" { print $2 }'; done | sort -u); do
    package_of_soname "$lib" || echo "build-packages: warning: no installed package has $lib; not in Depends" >&2
  done
}

# The installed package that ships a file named SONAME (by name, so merged-/usr
# systems, where /lib and /usr/lib are the same folder, answer too).
package_of_soname() { # SONAME
  command -v dpkg >/dev/null 2>&1 || return 1
  dpkg -S "*/$1" 2>/dev/null | awk -v l="$1" '{ i = index($0, ": "); path = substr($0, i + 2); n = split(path, p, "/");
    if (p[n] == l) { pkg = substr($0, 1, i - 1); sub(/,.*/, "", pkg); sub(/:.*/, "", pkg); print pkg; found = 1; exit } }
    END { exit !found }'
}

# Sonames written into the binary as strings: what it may dlopen.
dlopen_depends() { # BINARY
  local soname owner
  for soname in $(grep -aoE 'lib[A-Za-z0-9_+-]{1,40}\.so\.[0-9]+' "$1" | sort -u); do
    case "$soname" in libonnxruntime*|libc.so.*|libm.so.*|libgcc_s.so.*|libasound.so.*|libdl.so.*|libpthread.so.*|librt.so.*) continue ;; esac
    if [ -n "${dlopen_packages[$soname]:-}" ]; then
      echo "${dlopen_packages[$soname]}"
    elif owner=$(package_of_soname "$soname"); then
      echo "build-packages: note: $soname (dlopen'd?) is in $owner; add it to dlopen_packages" >&2
      echo "$owner"
    else
      echo "build-packages: warning: the binary mentions $soname, which no known package provides; not in Depends" >&2
    fi
  done
}

# Joins dependency lines (name or "name (>= v)"), one per package; a versioned
# entry wins over a bare one.
merge_depends() {
  awk '{ name = $1; if (!(name in dep) || index($0, "(")) dep[name] = $0; if (!(name in seen)) { seen[name] = 1; order[++n] = name } }
       END { for (i = 1; i <= n; i++) printf "%s%s", (i > 1 ? ", " : ""), dep[order[i]] }' | sed 's/, $//'
}

# --- The .deb -----------------------------------------------------------------
stage="$work/deb"
install_tree "$stage/usr"
shlib_files=("$stage/usr/bin/strata" "$stage/usr/lib/strata/libonnxruntime.so.$ort_version" "$stage/usr/lib/strata/libonnxruntime_providers_shared.so")
mkdir -p "$stage/DEBIAN"
depends=$( { printf '%s\n' "${base_depends[@]}"; linked_depends "$stage" "${shlib_files[@]}"; dlopen_depends "$stage/usr/bin/strata"; } | sort -s -k1,1 | merge_depends)

if [ "$flavour" = gpu ]; then
  gpu_fields="Provides: strata
Conflicts: strata
Replaces: strata
"
  gpu_note=" .
 This build bundles the CUDA build of ONNX Runtime $ort_version. Using the GPU
 needs the NVIDIA driver, CUDA 13 and cuDNN 9 (not packaged here); without
 them Strata falls back to the CPU."
else
  gpu_fields=""
  gpu_note=""
fi
installed_size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<EOF
Package: $name
Version: $version
Architecture: $deb_arch
Maintainer: ${STRATA_MAINTAINER:-The Strata developers <strata@packages.invalid>}
Installed-Size: $installed_size
Depends: $depends
Recommends: xdg-desktop-portal-gtk | xdg-desktop-portal-backend | zenity
${gpu_fields}Section: sound
Priority: optional
Description: desktop music explorer built on audio-embedding models
 Strata indexes a music library (FLAC, MP3, Ogg Vorbis, WAV, AIFF, M4A) and
 runs pretrained audio-embedding models on every track through ONNX Runtime.
 It finds the tracks most similar to a given one, weights musical aspects
 (brightness, timbre, rhythm, harmony) and shows which model layer encodes
 which aspect, measured on the user's own music.
 .
 Everything runs locally and offline: the MusicNN model and ONNX Runtime
 are installed with it, under /usr/share/strata and /usr/lib/strata.
$gpu_note
EOF
sed -i '/^$/d' "$stage/DEBIAN/control"
maintainer=$(sed -n 's/^Maintainer: //p' "$stage/DEBIAN/control")
printf '%s (%s) unstable; urgency=medium\n\n  * Strata %s, packaged by packaging/build-packages.sh.\n\n -- %s  %s\n' \
  "$name" "$version" "$version" "$maintainer" "$(date -R ${SOURCE_DATE_EPOCH:+-d @$SOURCE_DATE_EPOCH})" |
  gzip -9n > "$stage/usr/share/doc/strata/changelog.gz"
chmod 0644 "$stage/usr/share/doc/strata/changelog.gz"
(cd "$stage" && find usr -type f -print0 | LC_ALL=C sort -z | xargs -0 md5sum) > "$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/md5sums"

deb="$out/${name}_${version}_${deb_arch}.deb"
if [ "$fast" = 1 ]; then deb_compress=(-Zgzip -z1); else deb_compress=(-Zxz); fi
dpkg-deb --root-owner-group "${deb_compress[@]}" --build "$stage" "$deb" >/dev/null

# --- The tarball --------------------------------------------------------------
top="strata-$version"
suffix=""; [ "$flavour" = gpu ] && suffix="-cuda"
tstage="$work/tar"
install_tree "$tstage/$top"
cat > "$tstage/$top/README" <<EOF
Strata $version for Linux ($tar_arch)$([ "$flavour" = gpu ] && echo ", CUDA build of ONNX Runtime")

Everything Strata needs is in this folder: the program (bin/strata), ONNX
Runtime $ort_version (lib/strata) and the MusicNN model (share/strata/models).
No installation or network is needed; keep the folder's layout as it is.

  ./bin/strata                  opens the window
  ./bin/strata tag song.flac    MusicNN's top tags for a file
  ./bin/strata models           where the model and the runtime were found

The system must provide ALSA (libasound2), OpenGL/EGL, libxkbcommon and
X11 or Wayland libraries; a desktop portal (xdg-desktop-portal) or zenity
for the file dialog.$([ "$flavour" = gpu ] && printf '\nThe GPU needs the NVIDIA driver, CUDA 13 and cuDNN 9; without them Strata uses the CPU.')

To put it in the desktop's menu for your user:

  ln -s "\$PWD/bin/strata" ~/.local/bin/strata
  mkdir -p ~/.local/share/applications ~/.local/share/icons
  cp share/applications/strata.desktop ~/.local/share/applications/
  cp -R share/icons/hicolor ~/.local/share/icons/

Licences: share/doc/strata/ (Strata: MIT; MusicNN: ISC; ONNX Runtime: MIT).
EOF
chmod 0644 "$tstage/$top/README"
tarball="$out/strata-$version-linux-$tar_arch$suffix.tar.gz"
if [ "$fast" = 1 ]; then gz_level=-1; else gz_level=-9; fi
tar -C "$tstage" --owner=0 --group=0 --numeric-owner --sort=name -cf - "$top" | gzip -n "$gz_level" > "$tarball"

echo "Depends: $depends"
ls -l "$deb" "$tarball"
