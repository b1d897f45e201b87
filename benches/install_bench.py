#!/usr/bin/env python3
"""Time `strata models install` from a loopback hub, once per checkpoint format.

A stand-in for the Hugging Face hub (stdlib only) serves one checkpoint folder
under the hub's layout `/<repo>/resolve/<revision>/<file>` for any repo and
revision (HEAD with X-Linked-Size/X-Linked-Etag/X-Repo-Commit behind a
redirect for the weights, Range GETs); for each format it serves config.json
and that weights file only, then runs the install under `/usr/bin/time -v`
into a fresh data folder and prints wall time and peak RSS.

    cargo build --release
    python3 benches/install_bench.py --model mert-tiny --checkpoint tests/fixtures/mert-tiny-checkpoint
    python3 benches/install_bench.py --model mert-v1-95m --checkpoint /tmp/mert-95m-random
"""

import argparse
import hashlib
import http.server
import os
import re
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def make_handler(files):
    """files: name -> (path, size, sha256)."""

    class Hub(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def lookup(self):
            match = re.match(r"^/(?:cdn/(\w+)|.+/resolve/[^/]+/(.+))$", self.path)
            if not match:
                return None, False
            if match.group(1):
                return next((n for n, f in files.items() if f[2] == match.group(1)), None), False
            return (match.group(2) if match.group(2) in files else None), match.group(2) != "config.json"

        def common(self, status, length):
            self.send_response(status)
            self.send_header("X-Repo-Commit", "0" * 40)
            self.send_header("Content-Length", str(length))
            self.send_header("Connection", "close")

        def do_HEAD(self, body=False):
            name, redirect = self.lookup()
            if name is None:
                self.common(404, 0)
                self.end_headers()
                return
            path, size, sha = files[name]
            if redirect:
                self.common(302, 0)
                self.send_header("Location", f"/cdn/{sha}")
                self.send_header("X-Linked-Size", str(size))
                self.send_header("X-Linked-Etag", f'"{sha}"')
                self.end_headers()
                return
            start = 0
            range_header = self.headers.get("Range", "")
            if body and range_header.startswith("bytes="):
                start = int(range_header[6:].rstrip("-"))
            if start:
                self.common(206, size - start)
                self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
            else:
                self.common(200, size)
                self.send_header("ETag", f'"{sha[:40]}"')
            self.end_headers()
            if body:
                with open(path, "rb") as f:
                    f.seek(start)
                    while chunk := f.read(1 << 20):
                        self.wfile.write(chunk)

        def do_GET(self):
            self.do_HEAD(body=True)

    return Hub


def serve(files):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), make_handler(files))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def described(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return (path, path.stat().st_size, digest.hexdigest())


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="mert-tiny")
    p.add_argument("--checkpoint", type=Path, default=REPO_ROOT / "tests/fixtures/mert-tiny-checkpoint")
    p.add_argument("--strata", type=Path, default=REPO_ROOT / "target/release/strata")
    args = p.parse_args()
    for weights in ["model.safetensors", "pytorch_model.bin"]:
        if not (args.checkpoint / weights).is_file():
            print(f"{weights}: not in {args.checkpoint}, skipped")
            continue
        files = {name: described(args.checkpoint / name) for name in ["config.json", weights]}
        server = serve(files)
        with tempfile.TemporaryDirectory() as data:
            env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
            env["HF_ENDPOINT"] = f"http://127.0.0.1:{server.server_address[1]}"
            command = ["/usr/bin/time", "-v", str(args.strata), "--data-dir", data,
                       "models", "install", args.model, "--accept-licence"]
            run = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
            server.shutdown()
            wall = re.search(r"Elapsed \(wall clock\) time.*: (\S+)", run.stderr)
            rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", run.stderr)
            if run.returncode != 0:
                print(f"{weights}: install failed ({run.returncode})\n{run.stdout}{run.stderr}", file=sys.stderr)
                continue
            size_mb = files[weights][1] / 1e6
            peak_mb = f"{int(rss.group(1)) / 1024:.0f} MB" if rss else "?"
            print(f"{args.model} from {weights} ({size_mb:.1f} MB): wall {wall.group(1) if wall else '?'}, peak RSS {peak_mb}")
            print("   " + run.stdout.strip().replace("\n", "\n   "))


if __name__ == "__main__":
    main()
