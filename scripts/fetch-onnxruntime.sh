#!/usr/bin/env bash
# Puts libonnxruntime from the PyPI wheel into the project cache, offline-safe:
# pip talks only to the package registry, and nothing is fetched at run time.
#   scripts/fetch-onnxruntime.sh        CPU build  -> .cache/onnxruntime-<ver>/
#   scripts/fetch-onnxruntime.sh gpu    CUDA build -> .cache/onnxruntime-gpu-<ver>/ (needs CUDA 13 + cuDNN 9 to run)
set -euo pipefail
version=1.31.1
flavour=${1:-cpu}
root=$(cd "$(dirname "$0")/.." && pwd)
case "$flavour" in
  cpu) package=onnxruntime; dest="$root/.cache/onnxruntime-$version" ;;
  gpu) package=onnxruntime-gpu; dest="$root/.cache/onnxruntime-gpu-$version" ;;
  *) echo "usage: $0 [cpu|gpu]" >&2; exit 2 ;;
esac
if [ -e "$dest/libonnxruntime.so" ]; then exit 0; fi
arch=$(uname -m)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "Fetching $package $version from PyPI into $dest"
python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
  --python-version 3.11 --implementation cp --abi cp311 \
  --platform "manylinux_2_28_$arch" --platform "manylinux_2_27_$arch" --platform "manylinux_2_17_$arch" --platform "manylinux2014_$arch" \
  -d "$tmp" "$package==$version"
python3 - "$tmp" "$dest" <<'PY'
import glob, os, shutil, sys, zipfile
tmp, dest = sys.argv[1], sys.argv[2]
wheel = glob.glob(os.path.join(tmp, "*.whl"))[0]
os.makedirs(dest, exist_ok=True)
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        base = os.path.basename(name)
        if name.startswith("onnxruntime/capi/") and base.startswith("libonnxruntime") and ".so" in base:
            with z.open(name) as src, open(os.path.join(dest, base), "wb") as out:
                shutil.copyfileobj(src, out)
        elif name in ("onnxruntime/LICENSE", "onnxruntime/ThirdPartyNotices.txt"):
            target = "LICENSE-onnxruntime" if base == "LICENSE" else "ThirdPartyNotices-onnxruntime.txt"
            with z.open(name) as src, open(os.path.join(dest, target), "wb") as out:
                shutil.copyfileobj(src, out)
PY
ln -sf "libonnxruntime.so.$version" "$dest/libonnxruntime.so"
ls -la "$dest"
