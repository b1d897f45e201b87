//! Reading checkpoints: `model.safetensors` (memory-mapped) and `pytorch_model.bin` (zip of pickled tensors, never executed).
//!
//! Both formats end up as the same thing: for each tensor a dtype, a shape and a byte range of the
//! mapped file, checked against the file's length when it is opened, so reading a tensor never
//! reads past the data and a lying header fails at once rather than half-way through a conversion.
//!
//! Names are the encoder's Hugging Face names as `models/export_mert.py`'s `clean_state_dict` makes
//! them: wrapper prefixes (`mert_model.`, `hubert.`, `model.`) stripped and the newer weight-norm
//! parametrisation names (`…parametrizations.weight.original0/1`) mapped to `weight_g`/`weight_v`,
//! so one checkpoint saved by any transformers version reads under the names the graphs use.
//!
//! Owner: H-B (issue 19).
#![allow(unsafe_code, reason = "memory-mapping the checkpoint file (memmap2) is unsafe by nature; see map_file")]

pub mod pickle;
mod pytorch_zip;
mod safetensors;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

/// How torch's pre-1.6 format begins: PROTO 2, then LONG1 of its 10-byte magic number.
const LEGACY_TORCH_MAGIC: &[u8] = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19";

/// The weights file names looked for in a checkpoint folder, in order of preference.
pub const WEIGHT_FILES: [&str; 2] = ["model.safetensors", "pytorch_model.bin"];

/// Which container a checkpoint's weights came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointFormat {
    /// `model.safetensors`: a JSON header, then the tensors' bytes.
    Safetensors,
    /// `pytorch_model.bin` as `torch.save` writes it since torch 1.6: a zip of a pickled state dict and one entry per storage.
    PytorchZip,
}

impl CheckpointFormat {
    /// The name used in messages and in `install.json`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Safetensors => "safetensors",
            Self::PytorchZip => "pytorch-zip",
        }
    }
}

/// A tensor's element type, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    /// 32-bit float.
    F32,
    /// IEEE half.
    F16,
    /// bfloat16.
    BF16,
    /// 64-bit float.
    F64,
    /// 64-bit signed integer (e.g. a BatchNorm's `num_batches_tracked`).
    I64,
    /// 32-bit signed integer.
    I32,
    /// 16-bit signed integer.
    I16,
    /// 8-bit signed integer.
    I8,
    /// 8-bit unsigned integer.
    U8,
    /// One byte per boolean.
    Bool,
}

impl DType {
    /// Bytes per element.
    pub fn size_bytes(self) -> usize {
        match self {
            Self::F64 | Self::I64 => 8,
            Self::F32 | Self::I32 => 4,
            Self::F16 | Self::BF16 | Self::I16 => 2,
            Self::I8 | Self::U8 | Self::Bool => 1,
        }
    }

    /// Whether [`Checkpoint::read_f32`] converts it.
    pub fn is_float(self) -> bool {
        matches!(self, Self::F32 | Self::F16 | Self::BF16 | Self::F64)
    }
}

/// One tensor's dtype and shape (row-major, contiguous).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// Element type as stored.
    pub dtype: DType,
    /// Dimensions, outermost first; empty for a scalar.
    pub shape: Vec<usize>,
}

impl TensorInfo {
    /// Number of elements, or None when the shape's product overflows.
    pub fn element_count(&self) -> Option<usize> {
        self.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
    }

    /// Bytes the tensor's data takes, or None on overflow.
    pub fn byte_len(&self) -> Option<usize> {
        self.element_count()?.checked_mul(self.dtype.size_bytes())
    }
}

/// Why a checkpoint could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The file or folder could not be opened or mapped.
    #[error("{path}: {source}")]
    Io {
        /// What was being read.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A folder with neither `model.safetensors` nor `pytorch_model.bin`.
    #[error("{0}: no model.safetensors or pytorch_model.bin in this folder")]
    NoWeights(PathBuf),
    /// The bytes do not form a valid file of the format (bad header, sizes that disagree, an entry past the end…).
    #[error("corrupt {format} checkpoint: {reason}")]
    Corrupt {
        /// The format being read.
        format: &'static str,
        /// What is wrong, naming the tensor or entry.
        reason: String,
    },
    /// Valid but not something Strata reads (a dtype, a compressed zip entry, a big-endian file, the legacy torch format…).
    #[error("unsupported checkpoint: {0}")]
    Unsupported(String),
    /// The pickle asks for something a state dict never needs; it is refused, never executed.
    #[error("refused pytorch_model.bin: {0} (a state dict saved by torch.save never needs it; the file is not loaded)")]
    UnsafePickle(String),
    /// No tensor of that name.
    #[error("no tensor named {0:?} in the checkpoint")]
    NoTensor(String),
    /// The tensor is not a float tensor, so it has no f32 reading.
    #[error("tensor {name:?} is {dtype:?}, not a float tensor")]
    NotFloat {
        /// The tensor.
        name: String,
        /// Its dtype.
        dtype: DType,
    },
}

/// Where one tensor's bytes lie in the file.
#[derive(Debug, Clone)]
struct Entry {
    info: TensorInfo,
    /// The name in the file, before [`canonical_name`].
    raw_name: String,
    /// Byte offset of the first element in the file.
    offset_bytes: usize,
}

/// The file's bytes: mapped from disk, or owned (tests and fuzzing).
enum Bytes {
    Mapped(Mmap),
    Owned(Vec<u8>),
}

impl Bytes {
    fn as_slice(&self) -> &[u8] {
        match self {
            Self::Mapped(map) => map,
            Self::Owned(bytes) => bytes,
        }
    }
}

/// An opened checkpoint: its tensors' dtypes and shapes, read lazily from the mapped file.
pub struct Checkpoint {
    format: CheckpointFormat,
    bytes: Bytes,
    tensors: BTreeMap<String, Entry>,
    config_path: Option<PathBuf>,
}

impl std::fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpoint").field("format", &self.format).field("tensors", &self.tensors.len()).finish()
    }
}

/// The encoder's name for a state-dict key, as `export_mert.py`'s `clean_state_dict` maps it.
pub fn canonical_name(raw: &str) -> String {
    let mut name = raw;
    for prefix in ["mert_model.", "hubert.", "model."] {
        name = name.strip_prefix(prefix).unwrap_or(name);
    }
    match name {
        "encoder.pos_conv_embed.conv.parametrizations.weight.original0" => "encoder.pos_conv_embed.conv.weight_g".to_string(),
        "encoder.pos_conv_embed.conv.parametrizations.weight.original1" => "encoder.pos_conv_embed.conv.weight_v".to_string(),
        other => other.to_string(),
    }
}

/// A tensor as a format reader found it, before it is checked against the file.
struct RawTensor {
    name: String,
    info: TensorInfo,
    offset_bytes: usize,
}

impl Checkpoint {
    /// A checkpoint folder (model.safetensors preferred, else pytorch_model.bin; config.json beside) or one weights file.
    pub fn open(path: &Path) -> Result<Self, CheckpointError> {
        let io = |source| CheckpointError::Io { path: path.to_path_buf(), source };
        let weights = if std::fs::metadata(path).map_err(io)?.is_dir() {
            WEIGHT_FILES
                .iter()
                .map(|name| path.join(name))
                .find(|p| p.is_file())
                .ok_or_else(|| CheckpointError::NoWeights(path.to_path_buf()))?
        } else {
            path.to_path_buf()
        };
        let map = map_file(&weights).map_err(|source| CheckpointError::Io { path: weights.clone(), source })?;
        let mut checkpoint = Self::from_bytes_inner(Bytes::Mapped(map))?;
        checkpoint.config_path = weights.parent().map(|dir| dir.join("config.json")).filter(|p| p.is_file());
        Ok(checkpoint)
    }

    /// A checkpoint from bytes in memory (the format is told by its first bytes); it has no config.json.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, CheckpointError> {
        Self::from_bytes_inner(Bytes::Owned(bytes))
    }

    fn from_bytes_inner(bytes: Bytes) -> Result<Self, CheckpointError> {
        let data = bytes.as_slice();
        let (format, raw) = if data.starts_with(b"PK\x03\x04") {
            (CheckpointFormat::PytorchZip, pytorch_zip::read(data)?)
        } else if data.starts_with(LEGACY_TORCH_MAGIC) {
            return Err(CheckpointError::Unsupported(
                "this pytorch_model.bin is in torch's legacy (pre-1.6) format; re-save it with torch>=1.6: \
                 torch.save(torch.load(f, weights_only=True), f)"
                    .into(),
            ));
        } else {
            (CheckpointFormat::Safetensors, safetensors::read(data)?)
        };
        let corrupt = |reason: String| CheckpointError::Corrupt { format: format.label(), reason };
        let mut tensors = BTreeMap::new();
        for tensor in raw {
            let len = tensor
                .info
                .byte_len()
                .ok_or_else(|| corrupt(format!("tensor {:?}: shape {:?} overflows", tensor.name, tensor.info.shape)))?;
            if tensor.offset_bytes.checked_add(len).is_none_or(|end| end > data.len()) {
                return Err(corrupt(format!("tensor {:?} lies past the end of the file", tensor.name)));
            }
            let name = canonical_name(&tensor.name);
            let entry = Entry { info: tensor.info, raw_name: tensor.name, offset_bytes: tensor.offset_bytes };
            if let Some(other) = tensors.insert(name.clone(), entry) {
                return Err(corrupt(format!("tensors {:?} and {name:?} both name the encoder's {name:?}", other.raw_name)));
            }
        }
        Ok(Self { format, bytes, tensors, config_path: None })
    }

    /// Which container the weights came in.
    pub fn format(&self) -> CheckpointFormat {
        self.format
    }

    /// Every tensor's (canonical) name, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.tensors.keys().map(String::as_str).collect()
    }

    /// A tensor's dtype and shape.
    pub fn info(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.get(name).map(|entry| &entry.info)
    }

    /// A float tensor's values as f32, row-major; any float dtype is converted.
    pub fn read_f32(&self, name: &str) -> Result<Vec<f32>, CheckpointError> {
        let entry = self.tensors.get(name).ok_or_else(|| CheckpointError::NoTensor(name.to_string()))?;
        let corrupt =
            || CheckpointError::Corrupt { format: self.format.label(), reason: format!("tensor {name:?} lies past the end of the file") };
        // Both were checked against the file when it was opened.
        let len = entry.info.byte_len().ok_or_else(corrupt)?;
        let bytes = self.bytes.as_slice().get(entry.offset_bytes..entry.offset_bytes + len).ok_or_else(corrupt)?;
        Ok(match entry.info.dtype {
            DType::F32 => bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
            DType::F16 => bytes.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            DType::BF16 => bytes.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            DType::F64 => {
                bytes.chunks_exact(8).map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32).collect()
            }
            dtype => return Err(CheckpointError::NotFloat { name: name.to_string(), dtype }),
        })
    }

    /// config.json beside the weights, if any.
    pub fn config_path(&self) -> Option<&Path> {
        self.config_path.as_deref()
    }
}

/// Maps a checkpoint file read-only.
fn map_file(path: &Path) -> std::io::Result<Mmap> {
    let file = File::open(path)?;
    // SAFETY: the checkpoint is only read. A file another process truncates
    // while it is mapped would fault (SIGBUS); Strata never writes a
    // checkpoint, and installs read from their own download folder.
    unsafe { Mmap::map(&file) }
}
