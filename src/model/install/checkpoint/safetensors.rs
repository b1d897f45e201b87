//! `model.safetensors`: the safetensors crate parses and validates the header (its length within
//! the file, every tensor's offsets contiguous, shape × dtype size = byte length, the data ending
//! exactly at the end of the file); this maps its dtypes and offsets onto the file's bytes.

use safetensors::{Dtype, SafeTensors};

use super::{CheckpointError, DType, RawTensor, TensorInfo};

/// The tensors of a safetensors file.
pub(super) fn read(data: &[u8]) -> Result<Vec<RawTensor>, CheckpointError> {
    let corrupt = |reason: String| CheckpointError::Corrupt { format: "safetensors", reason };
    let (header_len, metadata) = SafeTensors::read_metadata(data).map_err(|e| corrupt(e.to_string()))?;
    // read_metadata checked that the 8-byte length and the header lie within the file.
    let data_start = header_len + 8;
    let mut tensors = Vec::new();
    for (name, info) in metadata.tensors() {
        let dtype = match info.dtype {
            Dtype::F32 => DType::F32,
            Dtype::F16 => DType::F16,
            Dtype::BF16 => DType::BF16,
            Dtype::F64 => DType::F64,
            Dtype::I64 => DType::I64,
            Dtype::I32 => DType::I32,
            Dtype::I16 => DType::I16,
            Dtype::I8 => DType::I8,
            Dtype::U8 => DType::U8,
            Dtype::BOOL => DType::Bool,
            other => return Err(CheckpointError::Unsupported(format!("tensor {name:?} has dtype {other:?}"))),
        };
        let offset_bytes =
            data_start.checked_add(info.data_offsets.0).ok_or_else(|| corrupt(format!("tensor {name:?}: offset overflows")))?;
        tensors.push(RawTensor { name, info: TensorInfo { dtype, shape: info.shape.clone() }, offset_bytes });
    }
    Ok(tensors)
}
