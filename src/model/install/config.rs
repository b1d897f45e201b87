//! A checkpoint's `config.json`, checked against the architecture Strata's graphs implement.
//!
//! The rules are `models/export_mert.py`'s (`arch_from_hf_config`, `infer_arch_from_state_dict`,
//! `clean_state_dict`): an m-a-p MERTConfig or a transformers HubertConfig whose forward pass is
//! HubertModel's — no CQT input features, no deepnorm, exact GELU, MERT's 7-layer conv stack.
//!
//! Owner: H-B (issue 19).

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::checkpoint::Checkpoint;

/// The hyper-parameters of a MERT / HuBERT encoder that decide its graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchConfig {
    /// Width of the hidden states (768 for 95M, 1024 for 330M).
    pub hidden_size: usize,
    /// Transformer layers (the graph outputs one more hidden state).
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// Width of each layer's feed-forward block.
    pub intermediate_size: usize,
    /// Kernel of the positional convolution.
    pub num_conv_pos_embeddings: usize,
    /// Groups of the positional convolution.
    pub num_conv_pos_embedding_groups: usize,
    /// Pre-LN encoder (330M) when true, post-LN (95M) when false.
    pub do_stable_layer_norm: bool,
    /// `"group"` (GroupNorm after the first conv) or `"layer"` (LayerNorm after every conv).
    pub feat_extract_norm: String,
    /// Whether the feature extractor's convolutions have biases.
    pub conv_bias: bool,
    /// Epsilon of every LayerNorm.
    pub layer_norm_eps: f64,
}

/// MERT's feature extractor (the only one the graphs implement): 7 convolutions, 320 samples per frame.
const CONV_KERNEL: [usize; 7] = [10, 3, 3, 3, 3, 2, 2];
const CONV_STRIDE: [usize; 7] = [5, 2, 2, 2, 2, 2, 2];

/// Reads an HF `config.json` (MERTConfig or HubertConfig); refuses the variants the graphs do not implement, saying why.
pub fn read_config(path: &Path) -> Result<ArchConfig, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let json: Value = serde_json::from_str(&text).map_err(|e| format!("{}: not valid JSON: {e}", path.display()))?;
    parse_config(&json).map_err(|e| format!("{}: {e}", path.display()))
}

/// [`read_config`] on a parsed JSON object.
pub fn parse_config(json: &Value) -> Result<ArchConfig, String> {
    let object = json.as_object().ok_or("config.json is not a JSON object")?;
    let flag = |key: &str| object.get(key).and_then(Value::as_bool).unwrap_or(false);
    if flag("feature_extractor_cqt") {
        return Err(
            "feature_extractor_cqt=true: CQT input features are not supported (MERT uses them only as a pre-training target)".into()
        );
    }
    if flag("deepnorm") {
        return Err("deepnorm=true: the deepnorm residual scaling is not implemented".into());
    }
    if flag("conv_pos_batch_norm") {
        return Err("conv_pos_batch_norm=true: not a MERT-v1 configuration".into());
    }
    if object.get("feat_proj_layer_norm").and_then(Value::as_bool) == Some(false) {
        return Err("feat_proj_layer_norm=false: the graphs always apply the feature projection's LayerNorm".into());
    }
    for key in ["hidden_act", "feat_extract_activation"] {
        match object.get(key) {
            None => {}
            Some(Value::String(s)) if s == "gelu" => {}
            Some(other) => return Err(format!("{key}={other}: only exact GELU (\"gelu\") is implemented")),
        }
    }
    if let Some(rate) = object.get("sample_rate")
        && rate.as_u64() != Some(24_000)
    {
        return Err(format!("sample_rate={rate}: MERT-v1 graphs take 24 kHz audio"));
    }
    let list = |key: &str| -> Result<Option<Vec<usize>>, String> {
        match object.get(key) {
            None => Ok(None),
            Some(value) => serde_json::from_value(value.clone()).map(Some).map_err(|_| format!("{key}={value}: expected a list of sizes")),
        }
    };
    let conv_dim = list("conv_dim")?;
    if let Some(dims) = &conv_dim
        && (dims.len() != CONV_KERNEL.len() || dims.iter().any(|&d| d != dims[0] || d == 0))
    {
        return Err(format!("conv_dim={dims:?}: MERT's feature extractor is 7 convolutions of one width"));
    }
    if let Some(layers) = object.get("num_feat_extract_layers")
        && layers.as_u64() != Some(CONV_KERNEL.len() as u64)
    {
        return Err(format!("num_feat_extract_layers={layers}: MERT's feature extractor has 7 convolutions"));
    }
    if let Some(kernel) = list("conv_kernel")?
        && kernel != CONV_KERNEL
    {
        return Err(format!("conv_kernel={kernel:?}: MERT's feature extractor has kernels {CONV_KERNEL:?}"));
    }
    if let Some(stride) = list("conv_stride")?
        && stride != CONV_STRIDE
    {
        return Err(format!("conv_stride={stride:?}: MERT's feature extractor has strides {CONV_STRIDE:?}"));
    }
    let size = |key: &str, default: Option<usize>| -> Result<usize, String> {
        match object.get(key) {
            None => default.ok_or_else(|| format!("{key} is missing")),
            Some(value) => value
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("{key}={value}: expected a positive integer")),
        }
    };
    let bool_or = |key: &str, default: bool| -> Result<bool, String> {
        match object.get(key) {
            None => Ok(default),
            Some(value) => value.as_bool().ok_or_else(|| format!("{key}={value}: expected true or false")),
        }
    };
    let feat_extract_norm = match object.get("feat_extract_norm") {
        None => "group".to_string(),
        Some(Value::String(s)) if s == "group" || s == "layer" => s.clone(),
        Some(other) => return Err(format!("feat_extract_norm={other}: expected \"group\" or \"layer\"")),
    };
    let layer_norm_eps = match object.get("layer_norm_eps") {
        None => 1e-5,
        Some(value) => value
            .as_f64()
            .filter(|eps| *eps > 0.0 && eps.is_finite())
            .ok_or_else(|| format!("layer_norm_eps={value}: expected a positive number"))?,
    };
    Ok(ArchConfig {
        hidden_size: size("hidden_size", None)?,
        num_hidden_layers: size("num_hidden_layers", None)?,
        num_attention_heads: size("num_attention_heads", None)?,
        intermediate_size: size("intermediate_size", None)?,
        num_conv_pos_embeddings: size("num_conv_pos_embeddings", Some(128))?,
        num_conv_pos_embedding_groups: size("num_conv_pos_embedding_groups", Some(16))?,
        do_stable_layer_norm: bool_or("do_stable_layer_norm", false)?,
        feat_extract_norm,
        conv_bias: bool_or("conv_bias", false)?,
        layer_norm_eps,
    })
}

/// The feature extractor's norm and conv bias as the tensors say (`export_mert.py`'s
/// `infer_arch_from_state_dict`: MERT-v1-330M's config.json and its weights have been described
/// differently, and the weights are what the graph must match); other fields as in `config`.
pub fn infer_from_tensors(config: &ArchConfig, ckpt: &Checkpoint) -> ArchConfig {
    let has = |name: &str| ckpt.info(name).is_some();
    ArchConfig {
        feat_extract_norm: if has("feature_extractor.conv_layers.1.layer_norm.weight") { "layer" } else { "group" }.to_string(),
        conv_bias: has("feature_extractor.conv_layers.0.conv.bias"),
        ..config.clone()
    }
}

/// Ok when `found` (the checkpoint's) builds the same graph as `expected` (the architecture's); else every differing field.
pub fn check_config(found: &ArchConfig, expected: &ArchConfig) -> Result<(), String> {
    let mut diffs = Vec::new();
    let mut field = |name: &str, found: String, expected: String| {
        if found != expected {
            diffs.push(format!("{name}: checkpoint {found}, expected {expected}"));
        }
    };
    field("hidden_size", found.hidden_size.to_string(), expected.hidden_size.to_string());
    field("num_hidden_layers", found.num_hidden_layers.to_string(), expected.num_hidden_layers.to_string());
    field("num_attention_heads", found.num_attention_heads.to_string(), expected.num_attention_heads.to_string());
    field("intermediate_size", found.intermediate_size.to_string(), expected.intermediate_size.to_string());
    field("num_conv_pos_embeddings", found.num_conv_pos_embeddings.to_string(), expected.num_conv_pos_embeddings.to_string());
    field(
        "num_conv_pos_embedding_groups",
        found.num_conv_pos_embedding_groups.to_string(),
        expected.num_conv_pos_embedding_groups.to_string(),
    );
    field("do_stable_layer_norm", found.do_stable_layer_norm.to_string(), expected.do_stable_layer_norm.to_string());
    field("feat_extract_norm", format!("{:?}", found.feat_extract_norm), format!("{:?}", expected.feat_extract_norm));
    field("conv_bias", found.conv_bias.to_string(), expected.conv_bias.to_string());
    // The epsilon is written in decimal in config.json and may round-trip with a last-digit difference.
    if (found.layer_norm_eps - expected.layer_norm_eps).abs() > 1e-6 * expected.layer_norm_eps.abs() {
        diffs.push(format!("layer_norm_eps: checkpoint {}, expected {}", found.layer_norm_eps, expected.layer_norm_eps));
    }
    if diffs.is_empty() { Ok(()) } else { Err(format!("config.json does not match the architecture: {}", diffs.join("; "))) }
}

/// One tensor the architecture's graphs need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedTensor {
    /// The encoder's name (see [`crate::model::install::checkpoint::canonical_name`]).
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
}

/// How many of each kind of problem [`check_tensors`] names before it just counts.
const LISTED: usize = 5;

/// Every expected tensor present with its shape and a float dtype; every other tensor explained by `ignored_prefixes` (CQT, label embeddings, masked_spec_embed…); else Err listing what is missing / mis-shaped / unexplained.
pub fn check_tensors(ckpt: &Checkpoint, expected: &[ExpectedTensor], ignored_prefixes: &[String]) -> Result<(), String> {
    let mut missing = Vec::new();
    let mut misshaped = Vec::new();
    let mut not_float = Vec::new();
    for tensor in expected {
        match ckpt.info(&tensor.name) {
            None => missing.push(tensor.name.clone()),
            Some(info) if info.shape != tensor.shape => {
                misshaped.push(format!("{} {:?} (expected {:?})", tensor.name, info.shape, tensor.shape))
            }
            Some(info) if !info.dtype.is_float() => not_float.push(format!("{} {:?}", tensor.name, info.dtype)),
            Some(_) => {}
        }
    }
    let wanted: std::collections::HashSet<&str> = expected.iter().map(|t| t.name.as_str()).collect();
    let unexplained: Vec<String> = ckpt
        .names()
        .into_iter()
        .filter(|name| !wanted.contains(name) && !ignored_prefixes.iter().any(|prefix| name.starts_with(prefix.as_str())))
        .map(str::to_string)
        .collect();
    let mut problems = Vec::new();
    for (what, list) in [("missing", missing), ("mis-shaped", misshaped), ("not float", not_float), ("unexplained", unexplained)] {
        if list.is_empty() {
            continue;
        }
        let more = list.len().saturating_sub(LISTED);
        let shown = list.iter().take(LISTED).cloned().collect::<Vec<_>>().join(", ");
        problems.push(if more > 0 {
            format!("{} {what}: {shown} and {more} more", list.len())
        } else {
            format!("{} {what}: {shown}", list.len())
        });
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("the checkpoint's tensors do not match the architecture ({} expected): {}", expected.len(), problems.join("; ")))
    }
}
