#!/usr/bin/env python3
"""Export MERT-v1 (95M / 330M) music audio encoders to ONNX for ONNX Runtime.

LICENSE: the pretrained MERT-v1 weights (m-a-p/MERT-v1-95M, m-a-p/MERT-v1-330M)
are released by m-a-p under CC-BY-NC-4.0 (non-commercial use only). An ONNX file
exported from them carries that license; the manifest says so and the default
output directories (models/mert-v1-*/) are git-ignored: never commit them.
Models built with --random-init or --tiny contain only random numbers made here.

Usage (venv: models/requirements-mert.txt):
    python models/export_mert.py --variant 95m                 # real weights (needs the HF hub)
    python models/export_mert.py --variant 95m --random-init   # benchmark model, no download
    python models/export_mert.py --tiny                        # tests/fixtures/mert-tiny
    options: --out DIR  --checkpoint PATH_OR_HF_ID  --opset 18  --fuse  --quantize

    # Strata's installer (issue 19): the committed architecture-only graphs and their recipe
    python models/export_mert.py --variant 95m --arch-only     # assets/models/mert-v1-95m/ (also 330m, --tiny)
    # a random-init checkpoint as m-a-p ships one, with PyTorch's outputs (tests, benchmarks)
    python models/export_mert.py --tiny --seed 1 --write-checkpoint tests/fixtures/mert-tiny-checkpoint

--arch-only exports every variant (fp32, fused, int8 from the fused graph, fp16
from the fused graph with float32 inputs/outputs) from random-init weights, then,
for each initializer, finds by value which transform of which checkpoint
tensor(s) it is: copy, transpose, weight-norm fold of pos_conv, packed-QKV
concatenation, int8 weight / scale as quantize_dynamic makes them, fp16 as ORT's
float16 converter makes it. It fails on an initializer none of these explains
(small constants and constant fills stay in the graph), moves the explained ones
to external data (<graph>.data, 64-byte aligned) and writes recipe.json, which
src/model/install/convert.rs follows to write real weights in Rust.

What the graph computes
-----------------------
input  `waveform`      [batch, samples] float32, 24 kHz mono, ALREADY normalised per
                       clip to zero mean / unit variance (x - mean) / sqrt(var + 1e-7)
                       (Wav2Vec2FeatureExtractor do_normalize); the caller does that,
                       the graph does not.  Never zero-pad clips to form a batch: the
                       first conv layer's GroupNorm is over the whole time axis, so
                       padding changes every frame.  Batch only equal-length windows.
output `hidden_states` [batch, L, frames, D]   stacked hidden states (L = layers + 1)
output `layer_means`   [batch, L, D]           their mean over frames (in-graph)
frames = conv-stack output length (320 samples per frame -> 75 frames/s at 24 kHz).

Architecture (own torch module; Hugging Face parameter names so a state dict of
m-a-p's MERTModel loads strictly after dropping the CQT / label / masked_spec_embed
keys).  MERT's remote code (scripts/mert_hf/modeling_MERT.py in the MERT repo) is a
thin wrapper over transformers' Hubert classes; with feature_extractor_cqt=false
and deepnorm=false its forward pass is exactly HubertModel's, so that is what is
re-implemented here:

  feature extractor: 7 Conv1d (512 ch, kernels 10,3,3,3,3,2,2, strides 5,2,2,2,2,2,2)
      feat_extract_norm="group": GroupNorm(512 groups, 512 ch) after conv 0 only
      feat_extract_norm="layer": LayerNorm over channels after every conv
      each followed by exact (erf) GELU
  feature projection: LayerNorm(512, eps) -> Linear(512 -> D)   (dropout ignored)
  positional conv: Conv1d(D, D, k=128, groups=16, padding=64), weight norm over
      dim=2 (weight_g/weight_v, folded into a plain weight at export), drop the
      last frame (HubertSamePadLayer, even kernel), GELU, added to x
  post-LN encoder (do_stable_layer_norm=false, 95M):
      x = LayerNorm(x); hs[0] = x
      layer: x = LN(x + Attn(x)); x = LN_final(x + FFN(x)); hs[i] = x
  pre-LN encoder (do_stable_layer_norm=true, 330M):
      hs[0] = x (no encoder LayerNorm before the layers)
      layer: x = x + Attn(LN(x)); x = x + FFN(LN_final(x)); hs[i] = x
      after the last layer x = encoder.layer_norm(x); hs[-1] is that normed state
      (transformers 4.x semantics, which MERT's remote code runs under;
      transformers >= 5 reports the un-normed last layer output instead).
  attention: softmax(q k^T / sqrt(head_dim)) v -- written as a *division*
      so that ONNX Runtime's transformer optimizer recognises the pattern.

Assumptions about MERT-v1-330M (not checkable offline here; when a real checkpoint
is loaded its config.json is used and the feature-extractor norm / conv bias are
inferred from the state-dict keys, so these only matter for --random-init):
  * hidden 1024, 24 layers, 16 heads, FFN 4096, pos-conv 128/16, eps 1e-5,
    do_stable_layer_norm=true (pre-LN).
  * feature extractor: MERT's scripts/hf_config/mert_large.json and the fairseq
    pre-training config (extractor_mode: default, layer_norm_first: true) say
    feat_extract_norm="group" with conv_bias=false, the same as 95M.  Some
    descriptions claim "layer" norm + conv bias (the wav2vec2/HuBERT-large
    convention); both are supported and chosen from the checkpoint.
  * attention_relax=32 in its config only affects MERT's deepnorm encoder
    variant, which 330M does not use (and it is a softmax-invariant shift anyway).
  * feature_extractor_cqt must be false (CQT is a pre-training target only);
    deepnorm must be false.  Both are checked when config.json is read.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_RATE = 24000
NORM_EPS = 1e-7
REAL_LICENSE = "CC-BY-NC-4.0 (weights by m-a-p)"
RANDOM_LICENSE = "CC0-1.0 (random weights made by export_mert.py; real MERT-v1 weights are CC-BY-NC-4.0)"


# --------------------------------------------------------------------------- config

@dataclasses.dataclass
class MertArch:
    name: str
    display_name: str
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    do_stable_layer_norm: bool
    conv_dim: tuple = (512,) * 7
    conv_kernel: tuple = (10, 3, 3, 3, 3, 2, 2)
    conv_stride: tuple = (5, 2, 2, 2, 2, 2, 2)
    conv_bias: bool = False
    feat_extract_norm: str = "group"  # "group" | "layer"
    num_conv_pos_embeddings: int = 128
    num_conv_pos_embedding_groups: int = 16
    layer_norm_eps: float = 1e-5
    feat_proj_layer_norm: bool = True
    sample_rate: int = SAMPLE_RATE

    @property
    def hop(self) -> int:
        return int(np.prod(self.conv_stride))

    @property
    def frames_per_s(self) -> float:
        return self.sample_rate / self.hop

    @property
    def num_states(self) -> int:
        return self.num_layers + 1


def arch_for(variant: str, tiny: bool = False) -> MertArch:
    if tiny:
        return MertArch(
            name="mert-tiny", display_name="MERT tiny (test fixture)",
            hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64,
            do_stable_layer_norm=(variant == "330m"), conv_dim=(32,) * 7,
            num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
        )
    if variant == "95m":
        return MertArch(
            name="mert-v1-95m", display_name="MERT-v1-95M",
            hidden_size=768, num_layers=12, num_heads=12, intermediate_size=3072,
            do_stable_layer_norm=False,
        )
    if variant == "330m":
        return MertArch(
            name="mert-v1-330m", display_name="MERT-v1-330M",
            hidden_size=1024, num_layers=24, num_heads=16, intermediate_size=4096,
            do_stable_layer_norm=True,
        )
    raise ValueError(variant)


def arch_from_hf_config(cfg: dict, base: MertArch) -> MertArch:
    """Read an m-a-p MERTConfig / HubertConfig config.json."""
    if cfg.get("feature_extractor_cqt", False):
        raise SystemExit("config has feature_extractor_cqt=true: CQT input features are not supported")
    if cfg.get("deepnorm", False):
        raise SystemExit("config has deepnorm=true: the deepnorm residual scaling is not implemented")
    if cfg.get("conv_pos_batch_norm", False):
        raise SystemExit("config has conv_pos_batch_norm=true: not a MERT-v1 configuration")
    if cfg.get("num_feat_extract_layers", 7) != len(cfg.get("conv_dim", base.conv_dim)):
        raise SystemExit("num_feat_extract_layers does not match conv_dim")
    if cfg.get("hidden_act", "gelu") != "gelu" or cfg.get("feat_extract_activation", "gelu") != "gelu":
        raise SystemExit("only exact GELU activations are implemented")
    return dataclasses.replace(
        base,
        hidden_size=cfg["hidden_size"],
        num_layers=cfg["num_hidden_layers"],
        num_heads=cfg["num_attention_heads"],
        intermediate_size=cfg["intermediate_size"],
        do_stable_layer_norm=bool(cfg.get("do_stable_layer_norm", base.do_stable_layer_norm)),
        conv_dim=tuple(cfg.get("conv_dim", base.conv_dim)),
        conv_kernel=tuple(cfg.get("conv_kernel", base.conv_kernel)),
        conv_stride=tuple(cfg.get("conv_stride", base.conv_stride)),
        conv_bias=bool(cfg.get("conv_bias", base.conv_bias)),
        feat_extract_norm=cfg.get("feat_extract_norm", base.feat_extract_norm),
        num_conv_pos_embeddings=cfg.get("num_conv_pos_embeddings", base.num_conv_pos_embeddings),
        num_conv_pos_embedding_groups=cfg.get("num_conv_pos_embedding_groups",
                                              base.num_conv_pos_embedding_groups),
        layer_norm_eps=float(cfg.get("layer_norm_eps", base.layer_norm_eps)),
        feat_proj_layer_norm=bool(cfg.get("feat_proj_layer_norm", True)),
        sample_rate=int(cfg.get("sample_rate", base.sample_rate)),
    )


# --------------------------------------------------------------------------- module

class ConvLayer(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, s: int, bias: bool, norm: str | None):
        super().__init__()
        self.conv = nn.Conv1d(cin, cout, k, stride=s, bias=bias)
        self.norm = norm
        if norm == "group":
            self.layer_norm = nn.GroupNorm(cout, cout, affine=True)  # eps 1e-5 (torch default, as HF)
        elif norm == "layer":
            self.layer_norm = nn.LayerNorm(cout, elementwise_affine=True)

    def forward(self, x):
        x = self.conv(x)
        if self.norm == "group":
            x = self.layer_norm(x)
        elif self.norm == "layer":
            x = self.layer_norm(x.transpose(-2, -1)).transpose(-2, -1)
        return F.gelu(x)


class FeatureExtractor(nn.Module):
    def __init__(self, a: MertArch):
        super().__init__()
        layers = []
        for i, (c, k, s) in enumerate(zip(a.conv_dim, a.conv_kernel, a.conv_stride)):
            cin = 1 if i == 0 else a.conv_dim[i - 1]
            if a.feat_extract_norm == "group":
                norm = "group" if i == 0 else None
            elif a.feat_extract_norm == "layer":
                norm = "layer"
            else:
                raise ValueError(a.feat_extract_norm)
            layers.append(ConvLayer(cin, c, k, s, a.conv_bias, norm))
        self.conv_layers = nn.ModuleList(layers)

    def forward(self, waveform):
        x = waveform.unsqueeze(1)
        for layer in self.conv_layers:
            x = layer(x)
        return x


class FeatureProjection(nn.Module):
    def __init__(self, a: MertArch):
        super().__init__()
        self.use_ln = a.feat_proj_layer_norm
        if self.use_ln:
            self.layer_norm = nn.LayerNorm(a.conv_dim[-1], eps=a.layer_norm_eps)
        self.projection = nn.Linear(a.conv_dim[-1], a.hidden_size)

    def forward(self, x):
        if self.use_ln:
            x = self.layer_norm(x)
        return self.projection(x)


class WeightNormConv1d(nn.Module):
    """Conv1d with weight norm over dim=2 stored as weight_g / weight_v (HF names)."""

    def __init__(self, channels: int, kernel: int, groups: int):
        super().__init__()
        self.kernel, self.groups = kernel, groups
        self.weight_g = nn.Parameter(torch.ones(1, 1, kernel))
        self.weight_v = nn.Parameter(torch.empty(channels, channels // groups, kernel))
        self.bias = nn.Parameter(torch.zeros(channels))

    def effective_weight(self):
        if hasattr(self, "weight"):
            return self.weight
        return torch._weight_norm(self.weight_v, self.weight_g, 2)

    def fold(self):
        """Replace (g, v) by the plain weight they define (done before export)."""
        if hasattr(self, "weight"):
            return
        w = self.effective_weight().detach().clone()
        del self.weight_g, self.weight_v
        self.weight = nn.Parameter(w)

    def forward(self, x):
        return F.conv1d(x, self.effective_weight(), self.bias, padding=self.kernel // 2, groups=self.groups)


class PositionalConvEmbedding(nn.Module):
    def __init__(self, a: MertArch):
        super().__init__()
        self.conv = WeightNormConv1d(a.hidden_size, a.num_conv_pos_embeddings, a.num_conv_pos_embedding_groups)
        self.remove_last = a.num_conv_pos_embeddings % 2 == 0

    def forward(self, x):  # x [B, T, D]
        y = self.conv(x.transpose(1, 2))
        if self.remove_last:
            y = y[:, :, :-1]
        return F.gelu(y).transpose(1, 2)


class Attention(nn.Module):
    def __init__(self, d: int, h: int):
        super().__init__()
        self.num_heads, self.head_dim = h, d // h
        assert self.head_dim * h == d
        # sqrt(64) = 8 and sqrt(16) = 4 are exact, so x / 8 == x * 0.125 bit for bit
        self.scale_div = float(math.sqrt(self.head_dim))
        self.q_proj = nn.Linear(d, d)
        self.k_proj = nn.Linear(d, d)
        self.v_proj = nn.Linear(d, d)
        self.out_proj = nn.Linear(d, d)

    def forward(self, x):
        b, t, d = x.shape
        q = self.q_proj(x).view(b, t, self.num_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.num_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.num_heads, self.head_dim).transpose(1, 2)
        scores = torch.matmul(q, k.transpose(2, 3)) / self.scale_div
        probs = torch.softmax(scores, dim=-1)
        out = torch.matmul(probs, v).transpose(1, 2).reshape(b, t, d)
        return self.out_proj(out)


class FeedForward(nn.Module):
    def __init__(self, d: int, ff: int):
        super().__init__()
        self.intermediate_dense = nn.Linear(d, ff)
        self.output_dense = nn.Linear(ff, d)

    def forward(self, x):
        return self.output_dense(F.gelu(self.intermediate_dense(x)))


class EncoderLayer(nn.Module):
    def __init__(self, a: MertArch):
        super().__init__()
        self.pre_ln = a.do_stable_layer_norm
        self.attention = Attention(a.hidden_size, a.num_heads)
        self.layer_norm = nn.LayerNorm(a.hidden_size, eps=a.layer_norm_eps)
        self.feed_forward = FeedForward(a.hidden_size, a.intermediate_size)
        self.final_layer_norm = nn.LayerNorm(a.hidden_size, eps=a.layer_norm_eps)

    def forward(self, x):
        if self.pre_ln:
            x = x + self.attention(self.layer_norm(x))
            return x + self.feed_forward(self.final_layer_norm(x))
        x = self.layer_norm(x + self.attention(x))
        return self.final_layer_norm(x + self.feed_forward(x))


class Encoder(nn.Module):
    def __init__(self, a: MertArch):
        super().__init__()
        self.pre_ln = a.do_stable_layer_norm
        self.pos_conv_embed = PositionalConvEmbedding(a)
        self.layer_norm = nn.LayerNorm(a.hidden_size, eps=a.layer_norm_eps)
        self.layers = nn.ModuleList([EncoderLayer(a) for _ in range(a.num_layers)])

    def forward(self, x):
        x = x + self.pos_conv_embed(x)
        if not self.pre_ln:
            x = self.layer_norm(x)
        states = [x]
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if self.pre_ln and i == len(self.layers) - 1:
                x = self.layer_norm(x)
            states.append(x)
        return states


class MertEncoder(nn.Module):
    """waveform [B, S] -> (hidden_states [B, L, T, D], layer_means [B, L, D])."""

    def __init__(self, a: MertArch):
        super().__init__()
        self.arch = a
        self.feature_extractor = FeatureExtractor(a)
        self.feature_projection = FeatureProjection(a)
        self.encoder = Encoder(a)

    def forward(self, waveform):
        feats = self.feature_extractor(waveform).transpose(1, 2)
        states = self.encoder(self.feature_projection(feats))
        hidden_states = torch.stack(states, dim=1)
        return hidden_states, hidden_states.mean(dim=2)

    def fold_weight_norm(self):
        self.encoder.pos_conv_embed.conv.fold()
        return self


def frames_for(samples: int, a: MertArch) -> int:
    n = samples
    for k, s in zip(a.conv_kernel, a.conv_stride):
        n = (n - k) // s + 1
    return n


def min_samples(a: MertArch) -> int:
    n = 1
    for k, s in reversed(list(zip(a.conv_kernel, a.conv_stride))):
        n = (n - 1) * s + k
    return n


# --------------------------------------------------------------------------- weights

def random_init_(model: MertEncoder, seed: int) -> MertEncoder:
    """Deterministic HF-like random init, with norm affines and biases perturbed so
    that a wrongly mapped parameter shows up in comparisons."""
    g = torch.Generator().manual_seed(seed)

    def normal(shape, std, mean=0.0):
        return torch.randn(shape, generator=g) * std + mean

    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if name.endswith("weight_v"):
                k, cin_g = p.shape[2], p.shape[1]
                p.copy_(normal(p.shape, 2.0 * math.sqrt(1.0 / (k * cin_g))))
            elif name.endswith("weight_g"):
                pass  # set below from weight_v
            elif ".conv_layers." in name and name.endswith("conv.weight"):
                fan_in = p.shape[1] * p.shape[2]
                p.copy_(normal(p.shape, math.sqrt(2.0 / fan_in)))  # kaiming normal
            elif "layer_norm" in name and name.endswith("weight"):
                p.copy_(normal(p.shape, 0.1, 1.0))
            elif "layer_norm" in name and name.endswith("bias"):
                p.copy_(normal(p.shape, 0.1))
            elif name.endswith("weight"):  # Linear
                p.copy_(normal(p.shape, 0.02))
            elif name.endswith("bias"):
                p.copy_(normal(p.shape, 0.02))
            else:
                raise AssertionError(name)
        conv = model.encoder.pos_conv_embed.conv
        norm = conv.weight_v.pow(2).sum(dim=(0, 1), keepdim=True).sqrt()
        conv.weight_g.copy_(norm * (1.0 + 0.1 * torch.randn(norm.shape, generator=g)))
    return model


WN_ALIASES = {
    "encoder.pos_conv_embed.conv.parametrizations.weight.original0": "encoder.pos_conv_embed.conv.weight_g",
    "encoder.pos_conv_embed.conv.parametrizations.weight.original1": "encoder.pos_conv_embed.conv.weight_v",
}
KEEP_PREFIXES = ("feature_extractor.", "feature_projection.", "encoder.")


def clean_state_dict(sd: dict) -> tuple[dict, list]:
    """Strip wrapper prefixes, map weight-norm names, drop CQT / label / masking keys."""
    out, dropped = {}, []
    for k, v in sd.items():
        for pre in ("mert_model.", "hubert.", "model."):
            if k.startswith(pre):
                k = k[len(pre):]
        k = WN_ALIASES.get(k, k)
        if not k.startswith(KEEP_PREFIXES):
            dropped.append(k)  # masked_spec_embed, label_embs_concat, final_proj, feature_extractor_cqt ...
            continue
        out[k] = v.float() if v.is_floating_point() else v
    return out, dropped


def infer_arch_from_state_dict(a: MertArch, sd: dict) -> MertArch:
    norm = "layer" if "feature_extractor.conv_layers.1.layer_norm.weight" in sd else "group"
    bias = "feature_extractor.conv_layers.0.conv.bias" in sd
    if norm != a.feat_extract_norm or bias != a.conv_bias:
        print(f"note: state dict says feat_extract_norm={norm!r} conv_bias={bias} "
              f"(config said {a.feat_extract_norm!r} / {a.conv_bias}); using the state dict")
    return dataclasses.replace(a, feat_extract_norm=norm, conv_bias=bias)


def load_pretrained(variant: str, checkpoint: str | None) -> tuple[MertEncoder, dict]:
    """Load m-a-p MERT-v1 weights from a local dir / file or a Hugging Face repo id."""
    repo = checkpoint or {"95m": "m-a-p/MERT-v1-95M", "330m": "m-a-p/MERT-v1-330M"}[variant]
    path = Path(repo).expanduser()
    if path.is_dir():
        ckpt_dir, weight_files = path, []
    elif path.is_file():
        ckpt_dir, weight_files = path.parent, [path]
    else:
        from huggingface_hub import snapshot_download  # lazy: only for real weights
        print(f"fetching {repo} via huggingface_hub (cache: ~/.cache/huggingface; "
              "HF_HUB_OFFLINE=1 uses the cache only) ...")
        meta = ["config.json", "preprocessor_config.json"]
        # prefer safetensors; fall back to pytorch_model*.bin (never download both)
        ckpt_dir = Path(snapshot_download(repo, allow_patterns=meta + ["*.safetensors"]))
        if not any(ckpt_dir.glob("*.safetensors")):
            ckpt_dir = Path(snapshot_download(repo, allow_patterns=meta + ["pytorch_model*.bin"]))
        weight_files = []
    if not weight_files:
        weight_files = sorted(ckpt_dir.glob("*.safetensors")) or sorted(ckpt_dir.glob("pytorch_model*.bin"))
    if not weight_files:
        raise SystemExit(f"no *.safetensors / pytorch_model*.bin in {ckpt_dir}")

    base = arch_for(variant)
    cfg_path = ckpt_dir / "config.json"
    arch = arch_from_hf_config(json.loads(cfg_path.read_text()), base) if cfg_path.is_file() else base
    prep = {}
    prep_path = ckpt_dir / "preprocessor_config.json"
    if prep_path.is_file():
        prep = json.loads(prep_path.read_text())
        sr = prep.get("sampling_rate", SAMPLE_RATE)
        if sr != arch.sample_rate:
            raise SystemExit(f"preprocessor sampling_rate {sr} != {arch.sample_rate}")

    sd = {}
    for f in weight_files:
        if f.suffix == ".safetensors":
            from safetensors.torch import load_file
            sd.update(load_file(str(f), device="cpu"))
        else:
            sd.update(torch.load(str(f), map_location="cpu", weights_only=True))
    sd, dropped = clean_state_dict(sd)
    if dropped:
        print(f"dropped {len(dropped)} non-encoder keys: {sorted(set(k.split('.')[0] for k in dropped))}")
    arch = infer_arch_from_state_dict(arch, sd)
    model = MertEncoder(arch)
    model.load_state_dict(sd, strict=True)
    info = {"source": str(repo), "do_normalize": bool(prep.get("do_normalize", True))}
    return model.eval(), info


# --------------------------------------------------------------------------- HF check

def check_against_transformers(model: MertEncoder, x: torch.Tensor) -> float | None:
    """Load the same weights into transformers.HubertModel; return max abs diff."""
    try:
        import transformers
        from transformers import HubertConfig, HubertModel
    except Exception as e:  # noqa: BLE001
        print(f"transformers not importable ({e}); skipping the HubertModel cross-check")
        return None
    a = model.arch
    cfg = HubertConfig(
        hidden_size=a.hidden_size, num_hidden_layers=a.num_layers, num_attention_heads=a.num_heads,
        intermediate_size=a.intermediate_size, hidden_act="gelu", feat_extract_activation="gelu",
        feat_extract_norm=a.feat_extract_norm, conv_dim=list(a.conv_dim), conv_kernel=list(a.conv_kernel),
        conv_stride=list(a.conv_stride), conv_bias=a.conv_bias,
        num_conv_pos_embeddings=a.num_conv_pos_embeddings,
        num_conv_pos_embedding_groups=a.num_conv_pos_embedding_groups,
        do_stable_layer_norm=a.do_stable_layer_norm, layer_norm_eps=a.layer_norm_eps,
        feat_proj_layer_norm=a.feat_proj_layer_norm, mask_time_prob=0.0, mask_feature_prob=0.0,
        hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, feat_proj_dropout=0.0,
        layerdrop=0.0,
    )
    cfg._attn_implementation = "eager"
    hf = HubertModel(cfg).eval()
    ours = model.state_dict()
    hf_keys = set(hf.state_dict().keys())
    mapped = {}
    inv = {v: k for k, v in WN_ALIASES.items()}
    for k, v in ours.items():
        if k not in hf_keys and k in inv:
            k = inv[k]
        mapped[k] = v
    hf.load_state_dict(mapped, strict=True)
    with torch.no_grad():
        out = hf(x, output_hidden_states=True)
        hs, _ = model(x)
    ref = list(out.hidden_states)
    if a.do_stable_layer_norm:
        # transformers >= 5 reports the last layer before the final encoder LayerNorm;
        # 4.x (and so MERT's remote code) reported it after. We follow 4.x.
        ref[-1] = out.last_hidden_state
    assert len(ref) == hs.shape[1], (len(ref), hs.shape)
    diffs = [float((hs[:, i] - r).abs().max()) for i, r in enumerate(ref)]
    print(f"transformers {transformers.__version__} HubertModel vs ours: max abs diff per layer "
          + " ".join(f"{d:.2e}" for d in diffs))
    return max(diffs)


# --------------------------------------------------------------------------- export

def export_onnx(model: MertEncoder, path: Path, opset: int) -> str:
    a = model.arch
    example = torch.randn(2, 2 * a.sample_rate, generator=torch.Generator().manual_seed(1))
    names = dict(input_names=["waveform"], output_names=["hidden_states", "layer_means"])
    try:
        from torch.export import Dim
        batch = Dim("batch", min=1, max=1024)
        samples = Dim("samples", min=min_samples(a), max=a.sample_rate * 3600)
        prog = torch.onnx.export(
            model, (example,), dynamic_shapes={"waveform": {0: batch, 1: samples}},
            opset_version=opset, dynamo=True, optimize=True, external_data=False, **names)
        prog.save(str(path))
        _name_frames_axis(path)
        return f"torch.onnx.export(dynamo=True, opset {opset})"
    except Exception as e:  # noqa: BLE001
        print(f"dynamo export failed ({type(e).__name__}: {e}); falling back to the TorchScript exporter")
        torch.onnx.export(
            model, (example,), str(path), opset_version=min(opset, 18), dynamo=False,
            dynamic_axes={"waveform": {0: "batch", 1: "samples"},
                          "hidden_states": {0: "batch", 2: "frames"}, "layer_means": {0: "batch"}},
            do_constant_folding=True, **names)
        return f"torch.onnx.export(TorchScript, opset {min(opset, 18)})"


def _name_frames_axis(path: Path) -> None:
    """The dynamo exporter names the frames axis by its formula; call it "frames"."""
    import onnx
    m = onnx.load(str(path))
    for o in m.graph.output:
        dims = o.type.tensor_type.shape.dim
        if o.name == "hidden_states" and len(dims) == 4 and dims[2].dim_param:
            dims[2].dim_param = "frames"
    onnx.save(m, str(path))


def ort_session(path: Path, threads: int = 2):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def compare(label: str, got: np.ndarray, ref: np.ndarray, rel_tol: float) -> float:
    """Per-layer max abs diff for [B, L, ...] arrays; returns the worst relative diff."""
    worst = 0.0
    parts = []
    for i in range(ref.shape[1]):
        d = float(np.abs(got[:, i] - ref[:, i]).max())
        scale = max(float(np.abs(ref[:, i]).max()), 1e-12)
        worst = max(worst, d / scale)
        parts.append(f"{d:.2e}")
    print(f"  {label}: max abs diff per layer [{' '.join(parts)}]  worst relative {worst:.2e}")
    if worst > rel_tol:
        raise SystemExit(f"FAIL: {label} differs by {worst:.2e} relative (> {rel_tol})")
    return worst


def verify(model: MertEncoder, onnx_path: Path, rel_tol: float = 1e-3) -> dict:
    """ONNX Runtime (CPU) vs PyTorch on random inputs of two shapes (dynamic axes)."""
    a = model.arch
    sess = ort_session(onnx_path)
    g = torch.Generator().manual_seed(2)
    worst = 0.0
    for b, n in ((2, int(2.0 * a.sample_rate)), (1, int(1.37 * a.sample_rate) + 7)):
        x = torch.randn(b, n, generator=g)
        with torch.no_grad():
            hs, lm = model(x)
        ort_hs, ort_lm = sess.run(["hidden_states", "layer_means"], {"waveform": x.numpy()})
        assert ort_hs.shape == tuple(hs.shape), (ort_hs.shape, hs.shape)
        assert hs.shape[2] == frames_for(n, a), (hs.shape, frames_for(n, a))
        print(f"ONNX Runtime vs PyTorch, input [{b}, {n}] -> hidden_states {list(ort_hs.shape)}")
        worst = max(worst, compare("hidden_states", ort_hs, hs.numpy(), rel_tol))
        worst = max(worst, compare("layer_means  ", ort_lm, lm.numpy(), rel_tol))
    return {"worst_relative": worst}


def fuse(onnx_path: Path, out_path: Path, a: MertArch) -> dict:
    from onnxruntime.transformers.optimizer import optimize_model
    opt = optimize_model(str(onnx_path), model_type="bert", num_heads=a.num_heads,
                         hidden_size=a.hidden_size, opt_level=0)
    stats = {k: v for k, v in opt.get_fused_operator_statistics().items() if v}
    opt.save_model_to_file(str(out_path))
    print(f"fused model -> {out_path}: {stats}")
    return stats


def quantize(src: Path, dst: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic
    quantize_dynamic(str(src), str(dst), op_types_to_quantize=["MatMul", "Attention"],
                     weight_type=QuantType.QInt8, per_channel=False,
                     extra_options={"MatMulConstBOnly": True})
    print(f"int8 (dynamic, MatMul/Attention only, Conv stays fp32) -> {dst}")


def test_signal(seconds: float, sr: int = SAMPLE_RATE, seed: int = 3) -> np.ndarray:
    """Music-ish deterministic test audio (chord + noise), normalised like Rust does."""
    n = np.arange(int(seconds * sr))
    x = sum(0.2 * np.sin(2 * np.pi * f * n / sr) for f in (220.0, 277.18, 329.63, 440.0))
    x = x + 0.05 * np.random.default_rng(seed).standard_normal(len(n))
    return normalize(x)


def normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return ((x - x.mean()) / np.sqrt(x.var() + NORM_EPS)).astype(np.float32)


def cosine_drift(ref_path: Path, test_path: Path, a: MertArch, seconds: float = 5.0) -> list:
    x = test_signal(seconds, a.sample_rate)[None]
    ref = ort_session(ref_path).run(["layer_means"], {"waveform": x})[0][0]
    got = ort_session(test_path).run(["layer_means"], {"waveform": x})[0][0]
    cos = [float(np.dot(r, t) / (np.linalg.norm(r) * np.linalg.norm(t))) for r, t in zip(ref, got)]
    print(f"  cosine({test_path.name} vs {ref_path.name}) of time-averaged vectors per layer: "
          + " ".join(f"{c:.5f}" for c in cos))
    return cos


# --------------------------------------------------------------------------- manifest

def toml_str(s: str) -> str:
    return json.dumps(s, ensure_ascii=True)


def write_manifest(path: Path, a: MertArch, *, description: str, license: str,
                   window_s: float, normalize_mode: str) -> None:
    lines = [
        f"# {a.display_name}, exported by models/export_mert.py. Outputs: hidden_states",
        f"# [batch, {a.num_states}, frames, {a.hidden_size}] at {a.frames_per_s:g} frames/s and layer_means",
        f"# [batch, {a.num_states}, {a.hidden_size}] (time mean, in-graph). Windows of one call must",
        "# have equal length: never zero-pad (the first conv's GroupNorm spans the whole window).",
        f"name = {toml_str(a.name)}",
        f"display_name = {toml_str(a.display_name)}",
        f"description = {toml_str(description)}",
        f"license = {toml_str(license)}",
        "version = 1",
        f"sample_rate_hz = {a.sample_rate}",
        'input_name = "waveform"',
        f"window_s = {float(window_s)!r}",
        f"hop_s = {float(window_s)!r}",
        f"normalize = {toml_str(normalize_mode)}",
        "batch_size = 1",
        'frame_output = "hidden_states"',
        f"frames_per_s = {float(a.frames_per_s)!r}",
    ]
    for i in range(a.num_states):
        if i == 0:
            desc = "input layer (CNN features + positional conv)"
        else:
            desc = f"transformer block {i} output"
            if a.do_stable_layer_norm and i == a.num_layers:
                desc += " (after the final encoder LayerNorm)"
        lines += ["", "[[layers]]", f'name = "layer_{i}"', 'output = "layer_means"', f"index = {i}",
                  f"dim = {a.hidden_size}", 'pool = "none"', f"description = {toml_str(desc)}"]
    path.write_text("\n".join(lines) + "\n")


def model_text(a: MertArch, kind: str, seed: int) -> tuple[str, str, float]:
    """(description, licence, window_s) of a manifest; kind is "tiny", "random" or "real"."""
    if kind == "tiny":
        return ("Tiny random-weight model with MERT-v1's topology (conv stack 320 samples/frame, pos-conv, "
                f"{a.num_layers} transformer layers of {a.hidden_size} dims) for tests; outputs are meaningless.",
                RANDOM_LICENSE, 1.0)
    if kind == "random":
        return (f"{a.display_name}: MERT-v1 architecture with RANDOM weights (seed {seed}), for "
                "benchmarks only; embeddings are meaningless.", RANDOM_LICENSE, 5.0)
    return (f"{a.display_name} music audio encoder by m-a-p (self-supervised, 24 kHz); "
            f"{a.num_states} hidden states of {a.hidden_size} dims at {a.frames_per_s:g} frames/s, "
            "time-averaged in-graph. Analysis window 5 s = pre-training context.", REAL_LICENSE, 5.0)


# --------------------------------------------------------------------------- tiny fixture

def reference_input() -> np.ndarray:
    n = np.arange(SAMPLE_RATE, dtype=np.float64)
    x = 0.5 * np.sin(2 * np.pi * 440 * n / SAMPLE_RATE) + 0.25 * np.sin(2 * np.pi * 660 * n / SAMPLE_RATE)
    return normalize(x)


def write_reference(out: Path, model: MertEncoder, onnx_path: Path) -> None:
    x = reference_input()[None]
    ort_hs, ort_lm = ort_session(onnx_path).run(["hidden_states", "layer_means"], {"waveform": x})
    with torch.no_grad():
        _, lm = model(torch.from_numpy(x))
    diff = float(np.abs(ort_lm - lm.numpy()).max())
    print(f"reference input: ONNX vs PyTorch layer_means max abs diff {diff:.2e}")
    if diff > 1e-5:
        raise SystemExit("FAIL: reference outputs disagree")
    ref = {
        "description": "ONNX Runtime outputs of tests/fixtures/mert-tiny/model.onnx (random weights) "
                       "for a closed-form input; a Rust test regenerates the input and compares.",
        "input": {
            "formula": "x[n] = 0.5*sin(2*pi*440*n/24000) + 0.25*sin(2*pi*660*n/24000), n = 0..23999",
            "n_samples": int(x.shape[1]),
            "sample_rate_hz": SAMPLE_RATE,
            "normalize": "y[n] = (x[n] - mean(x)) / sqrt(var(x) + 1e-7), var = population variance "
                         "(divide by N); computed in f64 here, then cast to f32",
            "precision_note": "generate the sines in f64 (an f32 phase 2*pi*440*n/24000 is off by ~1e-3 "
                              "rad at n ~ 24000, which moves layer_means by ~4e-5); normalising in f32 "
                              "or f64 changes layer_means by < 1e-6",
            "shape": [1, int(x.shape[1])],
            "check_first_4": [float(v) for v in x[0, :4]],
            "check_sum_abs": float(np.abs(x[0].astype(np.float64)).sum()),
        },
        "output": "layer_means",
        "shape": list(ort_lm.shape),
        "frames": int(ort_hs.shape[2]),
        "tolerance_abs": 1e-4,
        "onnx_vs_pytorch_max_abs_diff": diff,
        "layer_means": [[[round(float(v), 7) for v in layer] for layer in ort_lm[0]]],
    }
    (out / "reference.json").write_text(json.dumps(ref, indent=1) + "\n")


# --------------------------------------------------------------------------- architecture-only graphs

# Checkpoint keys that are not part of the encoder graph: pre-training heads and
# the masking embedding (see clean_state_dict). Strata's installer ignores them.
IGNORED_PREFIXES = ["masked_spec_embed", "label_embs_concat", "final_proj", "feature_extractor_cqt"]
# variant -> (graph file, execution providers it is meant for)
ARCH_VARIANTS = {
    "fp32": ("model.onnx", ["cpu", "cuda"]),
    "fused": ("model.fused.onnx", ["cpu", "cuda"]),
    "int8": ("model.int8.onnx", ["cpu"]),
    "fp16": ("model.fp16.onnx", ["cuda"]),
}
ALIGN = 64  # byte alignment of each tensor in a weights file
INLINE_MAX_ELEMENTS = 16  # unexplained initializers up to this size (or constant fills) are graph constants


def hf_config(a: MertArch) -> dict:
    """config.json in the layout of m-a-p's MERTConfig (MERT-v1-95M's, with this arch's sizes)."""
    return {
        "_name_or_path": a.name, "activation_dropout": 0.0, "apply_spec_augment": True,
        "architectures": ["MERTModel"], "attention_dropout": 0.0, "attention_relax": -1.0,
        "auto_map": {"AutoConfig": "configuration_MERT.MERTConfig", "AutoModel": "modeling_MERT.MERTModel"},
        "bos_token_id": 1, "classifier_proj_size": 256, "conv_bias": a.conv_bias, "conv_dim": list(a.conv_dim),
        "conv_kernel": list(a.conv_kernel), "conv_stride": list(a.conv_stride), "deepnorm": False,
        "do_stable_layer_norm": a.do_stable_layer_norm, "eos_token_id": 2, "feat_extract_activation": "gelu",
        "feat_extract_norm": a.feat_extract_norm, "feat_proj_dropout": 0.0,
        "feat_proj_layer_norm": a.feat_proj_layer_norm, "feature_extractor_cqt": False,
        "feature_extractor_cqt_bins": 336, "final_dropout": 0.0, "hidden_act": "gelu", "hidden_dropout": 0.0,
        "hidden_size": a.hidden_size, "initializer_range": 0.02, "intermediate_size": a.intermediate_size,
        "layer_norm_eps": a.layer_norm_eps, "layerdrop": 0.0, "mask_time_prob": 0.05, "model_type": "mert_model",
        "num_attention_heads": a.num_heads, "num_conv_pos_embedding_groups": a.num_conv_pos_embedding_groups,
        "num_conv_pos_embeddings": a.num_conv_pos_embeddings, "num_feat_extract_layers": len(a.conv_dim),
        "num_hidden_layers": a.num_layers, "pad_token_id": 0, "sample_rate": a.sample_rate,
        "torch_dtype": "float32", "transformers_version": "4.25.1", "vocab_size": 32,
    }


def arch_config(a: MertArch) -> dict:
    """The fields Strata's installer checks a checkpoint's config.json against (src/model/install/config.rs)."""
    return {
        "hidden_size": a.hidden_size, "num_hidden_layers": a.num_layers, "num_attention_heads": a.num_heads,
        "intermediate_size": a.intermediate_size, "num_conv_pos_embeddings": a.num_conv_pos_embeddings,
        "num_conv_pos_embedding_groups": a.num_conv_pos_embedding_groups,
        "do_stable_layer_norm": a.do_stable_layer_norm, "feat_extract_norm": a.feat_extract_norm,
        "conv_bias": a.conv_bias, "layer_norm_eps": a.layer_norm_eps,
    }


def hf_state_dict(model: MertEncoder) -> dict:
    """HF-named float32 tensors of an unfolded model (weight_g / weight_v, as m-a-p's checkpoints)."""
    sd = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    assert "encoder.pos_conv_embed.conv.weight_g" in sd, "fold_weight_norm() already ran"
    return sd


def quantize_int8(x: np.ndarray) -> tuple[np.ndarray, np.float32]:
    """ORT quantize_dynamic's QInt8 weights: per tensor, symmetric (zero point 0, range ±127)."""
    x = x.astype(np.float32)
    absmax = max(abs(min(float(x.min()), 0.0)), max(float(x.max()), 0.0))
    absmax = np.float32(absmax)
    scale = np.float32((np.float64(absmax) * 2.0) / 254.0)
    if scale < np.finfo(np.float32).tiny:
        scale = np.float32(1.0)
    q = np.clip(np.round(x / scale), -128, 127).astype(np.int8)
    return q, scale


def to_fp16(x: np.ndarray) -> np.ndarray:
    """float16 as onnxruntime.transformers.float16 writes weights: non-zero values below 5.96e-8 in
    magnitude become ±5.96e-8 (so ±2^-24, the smallest subnormal) instead of 0; finite values beyond
    ±65504 saturate."""
    tiny, big = np.float32(5.96e-08), np.float32(65504.0)
    x = np.where((x > 0) & (x < tiny), tiny, x)
    x = np.where((x < 0) & (x > -tiny), -tiny, x)
    x = np.where((x > big) & (x < np.inf), big, x)
    x = np.where((x < -big) & (x > -np.inf), -big, x)
    return x.astype(np.float16)


def digest(arr: np.ndarray) -> bytes:
    import hashlib
    return hashlib.blake2b(np.ascontiguousarray(arr).tobytes(), digest_size=20).digest()


def weight_norm_fold(g: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return torch._weight_norm(v, g, 2)


def candidate_sources(sd: dict, a: MertArch):
    """Every checkpoint-derived tensor a graph initializer may be: (source expression, float32 array)."""
    for name, t in sorted(sd.items()):
        yield {"op": "copy", "tensor": name}, t.numpy()
        if t.dim() == 2:
            yield {"op": "transpose", "tensor": name}, t.t().contiguous().numpy()
    g, v = "encoder.pos_conv_embed.conv.weight_g", "encoder.pos_conv_embed.conv.weight_v"
    yield {"op": "weight_norm", "g": g, "v": v, "dim": 2}, weight_norm_fold(sd[g], sd[v]).numpy()
    for i in range(a.num_layers):
        p = f"encoder.layers.{i}.attention."
        qkv = [p + f"{n}_proj" for n in "qkv"]
        yield ({"op": "concat", "axis": 1, "parts": [{"op": "transpose", "tensor": n + ".weight"} for n in qkv]},
               np.concatenate([sd[n + ".weight"].t().numpy() for n in qkv], axis=1))
        yield ({"op": "concat", "axis": 0, "parts": [{"op": "copy", "tensor": n + ".bias"} for n in qkv]},
               np.concatenate([sd[n + ".bias"].numpy() for n in qkv], axis=0))


class Explainer:
    """Finds, by value, which transform of which checkpoint tensor(s) each initializer is."""

    def __init__(self, sd: dict, a: MertArch):
        self.by_f32, self.by_f16, self.by_i8, self.scales = {}, {}, {}, {}
        # keyed by a digest of the bytes, so that 330M's candidates need not stay in memory
        for expr, arr in candidate_sources(sd, a):
            arr = np.ascontiguousarray(arr, dtype=np.float32)
            self.by_f32.setdefault(digest(arr), expr)
            self.by_f16.setdefault(digest(to_fp16(arr)), expr)
            if arr.ndim == 2:
                q, scale = quantize_int8(arr)
                self.by_i8.setdefault(digest(q), (expr, scale))

    def explain(self, init, quantized_of: dict) -> dict | None:
        from onnx import TensorProto, numpy_helper
        raw = digest(numpy_helper.to_array(init))
        if init.data_type == TensorProto.FLOAT and raw in self.by_f32:
            return {"encode": "f32", "source": self.by_f32[raw]}
        if init.data_type == TensorProto.FLOAT16 and raw in self.by_f16:
            return {"encode": "f16", "source": self.by_f16[raw]}
        if init.data_type == TensorProto.INT8 and raw in self.by_i8:
            expr, scale = self.by_i8[raw]
            quantized_of[json.dumps(expr, sort_keys=True)] = scale
            return {"encode": "int8", "source": expr}
        return None

    def explain_scale(self, init, quantized_of: dict) -> dict | None:
        from onnx import TensorProto, numpy_helper
        if init.data_type != TensorProto.FLOAT or int(np.prod(init.dims)) != 1:
            return None
        value = np.float32(numpy_helper.to_array(init).reshape(()))
        found = [k for k, s in quantized_of.items() if s.tobytes() == value.tobytes()]
        if len(found) >= 1:
            return {"encode": "int8_scale", "source": json.loads(found[0])}
        return None


def externalize(model, explainer: Explainer, weights_file: str) -> list:
    """Move every checkpoint-derived initializer to external data; returns the recipe's tensor list."""
    from onnx import TensorProto, numpy_helper
    inits = list(model.graph.initializer)
    quantized_of: dict = {}
    found = {id(i): explainer.explain(i, quantized_of) for i in inits}
    for i in inits:  # scales after every quantized weight was seen
        if found[id(i)] is None:
            found[id(i)] = explainer.explain_scale(i, quantized_of)
    tensors, offset, inline = [], 0, []
    for init in inits:
        how = found[id(init)]
        arr = numpy_helper.to_array(init)
        if how is None:
            fill = arr.size > 0 and bool(np.all(arr.reshape(-1) == arr.reshape(-1)[0]))
            if arr.size > INLINE_MAX_ELEMENTS and not fill:
                raise SystemExit(f"FAIL: initializer {init.name} {list(init.dims)} (dtype {init.data_type}) "
                                 "is not explained by any transform of the checkpoint's tensors")
            inline.append(init.name)
            continue
        length = arr.nbytes
        offset = (offset + ALIGN - 1) // ALIGN * ALIGN
        dtype = {TensorProto.FLOAT: "f32", TensorProto.FLOAT16: "f16", TensorProto.INT8: "i8"}[init.data_type]
        tensors.append({"name": init.name, "dtype": dtype, "shape": list(init.dims), "offset": offset,
                        "length": length, **how})
        init.ClearField("raw_data")
        for field in ("float_data", "int32_data", "int64_data", "double_data"):
            init.ClearField(field)
        init.data_location = TensorProto.EXTERNAL
        del init.external_data[:]
        for k, v in (("location", weights_file), ("offset", str(offset)), ("length", str(length))):
            e = init.external_data.add()
            e.key, e.value = k, v
        offset += length
    print(f"  {weights_file}: {len(tensors)} external tensors, {offset / 1e6:.1f} MB; inline constants: {len(inline)}")
    return tensors


def convert_fp16(src: Path, dst: Path) -> None:
    """fp16 weights and compute for CUDA; inputs and outputs stay float32 as Strata feeds and reads them."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16
    m = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
    onnx.save(m, str(dst))
    print(f"fp16 (onnxruntime.transformers.float16, float32 inputs/outputs) -> {dst}")


def write_arch_only(a: MertArch, out: Path, opset: int, seed: int) -> None:
    """assets/models/<name>/: every variant's graph without weights + recipe.json (how install makes them)."""
    import tempfile
    import onnx
    model = random_init_(MertEncoder(a), seed).eval()
    explainer = Explainer(hf_state_dict(model), a)
    expected = [{"name": k, "shape": list(v.shape)} for k, v in sorted(hf_state_dict(model).items())]
    model.fold_weight_norm()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        paths = {v: Path(tmp) / f for v, (f, _) in ARCH_VARIANTS.items()}
        export_onnx(model, paths["fp32"], opset)
        verify(model, paths["fp32"])
        fuse(paths["fp32"], paths["fused"], a)
        verify(model, paths["fused"])
        quantize(paths["fused"], paths["int8"])
        convert_fp16(paths["fused"], paths["fp16"])
        variants = []
        for v, (file, providers) in ARCH_VARIANTS.items():
            m = onnx.load(str(paths[v]))
            weights = file + ".data"
            tensors = externalize(m, explainer, weights)
            for node in m.graph.node:  # the exporter's per-node provenance (stack traces) is most of the bytes
                del node.metadata_props[:]
                node.doc_string = ""
            onnx.save(m, str(out / file))
            variants.append({"name": v, "file": file, "weights": weights, "providers": providers,
                             "weights_bytes": max(t["offset"] + t["length"] for t in tensors), "tensors": tensors})
            print(f"  {v}: {out / file} ({(out / file).stat().st_size / 1e3:.0f} kB)")
    recipe = {
        "description": f"How Strata's installer writes {a.display_name}'s weights for these architecture-only "
                       "graphs from an m-a-p checkpoint; written by models/export_mert.py --arch-only, which "
                       "found each transform by value on random-init weights.",
        "name": a.name,
        "config": arch_config(a),
        "expected_tensors": expected,
        "ignored_prefixes": IGNORED_PREFIXES,
        "variants": variants,
    }
    (out / "recipe.json").write_text(json.dumps(recipe, indent=1) + "\n")
    desc, lic, window = model_text(a, "tiny" if a.name == "mert-tiny" else "real", seed)
    write_manifest(out / "manifest.toml", a, description=desc, license=lic, window_s=window,
                   normalize_mode="zero-mean-unit-var")


def write_checkpoint(a: MertArch, out: Path, seed: int) -> None:
    """A random-init checkpoint as m-a-p ships one (both formats, config.json) and PyTorch's own outputs."""
    from safetensors.torch import save_file
    model = random_init_(MertEncoder(a), seed).eval()
    sd = hf_state_dict(model)
    g = torch.Generator().manual_seed(seed + 1)
    extra = {"masked_spec_embed": torch.rand(a.hidden_size, generator=g),
             "label_embs_concat": torch.randn(4, 8, generator=g),
             "final_proj.weight": torch.randn(8, a.hidden_size, generator=g),
             "final_proj.bias": torch.randn(8, generator=g)}
    full = {**sd, **extra}
    out.mkdir(parents=True, exist_ok=True)
    save_file(full, str(out / "model.safetensors"), metadata={"format": "pt"})
    torch.save(full, str(out / "pytorch_model.bin"))
    (out / "config.json").write_text(json.dumps(hf_config(a), indent=2) + "\n")
    x = torch.from_numpy(reference_input()[None])
    with torch.no_grad():
        _, lm = model(x)  # eager PyTorch, weight norm unfolded
    ref = {
        "description": f"PyTorch eager layer_means of this random-init {a.display_name} checkpoint (seed {seed}) "
                       "for the closed-form input of tests/fixtures/mert-tiny/reference.json",
        "input": "x[n] = 0.5*sin(2*pi*440*n/24000) + 0.25*sin(2*pi*660*n/24000), n = 0..23999, then "
                 "(x - mean) / sqrt(var + 1e-7)",
        "shape": list(lm.shape),
        "layer_means": lm[0].tolist(),
    }
    (out / "reference.json").write_text(json.dumps(ref) + "\n")
    print(f"checkpoint ({sum(t.numel() for t in sd.values()) / 1e6:.2f} M params) -> {out}")


# --------------------------------------------------------------------------- main

def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variant", choices=["95m", "330m"], default="95m")
    p.add_argument("--random-init", action="store_true", help="random weights (fixed seed), no download")
    p.add_argument("--tiny", action="store_true", help="tiny random model for the committed test fixture")
    p.add_argument("--out", type=Path, help="output dir (default models/mert-v1-<variant>[-random] "
                                            "or tests/fixtures/mert-tiny)")
    p.add_argument("--checkpoint", help="local dir / weights file / HF repo id (default m-a-p/MERT-v1-<V>)")
    p.add_argument("--opset", type=int, default=18)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fuse", action="store_true", help="also write model.fused.onnx (ORT transformer optimizer)")
    p.add_argument("--quantize", action="store_true",
                   help="also write model.int8.onnx (dynamic int8 MatMul/Attention; from the fused model with --fuse)")
    p.add_argument("--no-hf-check", action="store_true", help="skip the transformers.HubertModel cross-check")
    p.add_argument("--arch-only", action="store_true",
                   help="write assets/models/<name>/ (or --out): every variant's graph with its weights as "
                        "external data Strata's installer writes, and recipe.json saying how (random init)")
    p.add_argument("--write-checkpoint", type=Path, metavar="DIR",
                   help="write a random-init checkpoint as m-a-p ships one (model.safetensors, pytorch_model.bin, "
                        "config.json) and PyTorch's layer_means for the reference input (reference.json)")
    args = p.parse_args(argv)
    torch.set_num_threads(2)
    t0 = time.time()
    if args.arch_only or args.write_checkpoint:
        a = arch_for(args.variant, tiny=args.tiny)
        if args.arch_only:
            write_arch_only(a, args.out or REPO_ROOT / "assets" / "models" / a.name, args.opset, args.seed)
        if args.write_checkpoint:
            write_checkpoint(a, args.write_checkpoint, args.seed)
        print(f"done in {time.time() - t0:.0f} s")
        return 0

    if args.tiny or args.random_init:
        a = arch_for(args.variant, tiny=args.tiny)
        if args.random_init and not args.tiny:
            a = dataclasses.replace(a, name=a.name + "-random", display_name=a.display_name + " (random weights)")
        model = random_init_(MertEncoder(a), args.seed).eval()
        info = {"source": f"random init, seed {args.seed}", "do_normalize": True}
    else:
        model, info = load_pretrained(args.variant, args.checkpoint)
        a = model.arch
    if args.tiny:
        out = args.out or REPO_ROOT / "tests" / "fixtures" / "mert-tiny"
    else:
        out = args.out or REPO_ROOT / "models" / a.name
    out.mkdir(parents=True, exist_ok=True)
    nparams = sum(p.numel() for p in model.parameters())
    print(f"{a.display_name}: {nparams / 1e6:.2f} M params, {a.num_states} hidden states x {a.hidden_size}, "
          f"feat_extract_norm={a.feat_extract_norm} conv_bias={a.conv_bias} "
          f"pre_ln={a.do_stable_layer_norm}; weights: {info['source']}")

    if not args.no_hf_check:
        x = torch.randn(2, int(1.5 * a.sample_rate), generator=torch.Generator().manual_seed(4))
        hf_diff = check_against_transformers(model, x)
        if hf_diff is not None and hf_diff > 1e-4:
            raise SystemExit(f"FAIL: differs from transformers.HubertModel by {hf_diff:.2e}")

    model.fold_weight_norm()
    onnx_path = out / "model.onnx"
    how = export_onnx(model, onnx_path, args.opset)
    import onnx
    onnx.checker.check_model(str(onnx_path))
    m = onnx.load(str(onnx_path), load_external_data=False)
    print(f"exported with {how}: {onnx_path} ({onnx_path.stat().st_size / 1e6:.1f} MB, "
          f"{len(m.graph.node)} nodes, opset {[o.version for o in m.opset_import if o.domain in ('', 'ai.onnx')]})")
    del m
    verify(model, onnx_path)

    int8_src = onnx_path
    if args.fuse:
        fused = out / "model.fused.onnx"
        fuse(onnx_path, fused, a)
        print("fused model:")
        verify(model, fused)
        int8_src = fused
    if args.quantize:
        q = out / "model.int8.onnx"
        quantize(int8_src, q)
        cosine_drift(onnx_path, q, a, seconds=5.0)

    desc, lic, window = model_text(a, "tiny" if args.tiny else "random" if args.random_init else "real", args.seed)
    norm_mode = "zero-mean-unit-var" if info["do_normalize"] else "none"
    write_manifest(out / "manifest.toml", a, description=desc, license=lic, window_s=window,
                   normalize_mode=norm_mode)
    if args.tiny:
        write_reference(out, model, onnx_path)
    print(f"wrote {sorted(f.name for f in out.iterdir())} in {out} ({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
