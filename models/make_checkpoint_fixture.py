#!/usr/bin/env python3
"""Write the small checkpoints tests/model_checkpoint.rs reads, with torch's and safetensors' own writers.

    python models/make_checkpoint_fixture.py [--out tests/fixtures/checkpoint]

Needs torch and safetensors (models/requirements-mert.txt). The files are committed so the Rust
test checks Strata's readers against the real bytes these libraries write, without Python in CI.
Every value is exact in its dtype, so the test states the expected values itself:

  state_dict.bin      torch.save of an OrderedDict state dict with `_metadata` (what
                      model.state_dict() gives): f32, f16, bf16, f64 and i64 tensors, a tensor
                      tied to another (one storage, one pickled object), a view at an offset into
                      that storage, a scalar, and a wrapper-prefixed weight-norm parametrisation
                      name (hubert.…parametrizations.weight.original0).
  model.safetensors   safetensors.torch.save_file of the same tensors, minus the tie and the view
                      (safetensors refuses shared storage).
  transposed.bin      torch.save of a non-contiguous (transposed) tensor: refused with a clear message.
  legacy.bin          torch.save(..., _use_new_zipfile_serialization=False): the pre-1.6 format, refused.
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path

import torch
from safetensors.torch import save_file

REPO_ROOT = Path(__file__).resolve().parent.parent


def state_dict() -> collections.OrderedDict:
    sd = collections.OrderedDict()
    weight = torch.arange(6, dtype=torch.float32).reshape(2, 3) * 0.5
    sd["encoder.weight"] = weight
    sd["encoder.half"] = torch.tensor([1.0, -2.0, 0.25], dtype=torch.float16)
    sd["encoder.brain"] = torch.tensor([[1.5, -3.0], [0.125, 8.0]], dtype=torch.bfloat16)
    sd["encoder.double"] = torch.tensor([0.5, -1024.0], dtype=torch.float64)
    sd["encoder.count"] = torch.tensor(7, dtype=torch.int64)
    sd["encoder.scalar"] = torch.tensor(2.5, dtype=torch.float32)
    sd["hubert.encoder.pos_conv_embed.conv.parametrizations.weight.original0"] = torch.tensor([[[3.0, 4.0]]])
    sd["encoder.tied"] = weight  # the same tensor: one storage, pickled once
    sd["encoder.tail"] = weight.view(-1)[3:]  # a view at element offset 3 of that storage
    sd._metadata = collections.OrderedDict([("", {"version": 1}), ("encoder", {"version": 2})])
    return sd


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "tests" / "fixtures" / "checkpoint")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    sd = state_dict()
    torch.save(sd, args.out / "state_dict.bin")
    plain = {k: v.clone().contiguous() for k, v in sd.items() if k not in ("encoder.tied", "encoder.tail")}
    save_file(plain, str(args.out / "model.safetensors"), metadata={"format": "pt"})
    torch.save({"encoder.transposed": torch.arange(6, dtype=torch.float32).reshape(2, 3).t()}, args.out / "transposed.bin")
    torch.save({"encoder.weight": torch.ones(2)}, args.out / "legacy.bin", _use_new_zipfile_serialization=False)

    # The reader must agree with torch on every file it accepts.
    loaded = torch.load(args.out / "state_dict.bin", weights_only=True)
    assert all(torch.equal(loaded[k], sd[k]) for k in sd)
    for f in sorted(args.out.iterdir()):
        print(f"{f.name}: {f.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
