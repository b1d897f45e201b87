//! `pytorch_model.bin` as `torch.save` writes it: a zip (entries stored, not compressed) holding
//! `<archive>/data.pkl` (the pickled state dict), `<archive>/data/<key>` (one entry per storage),
//! `<archive>/version` and maybe `<archive>/byteorder`; `<archive>` is the file's stem when saved.
//!
//! Only stored entries are accepted, so nothing is decompressed (no zip bomb) and every storage is
//! read in place from the mapped file: each entry's bytes are checked to lie within the file, and
//! each storage's size against its element count and dtype.

use std::collections::HashMap;
use std::io::Cursor;

use zip::{CompressionMethod, ZipArchive};

use super::pickle::read_state_dict;
use super::{CheckpointError, RawTensor, TensorInfo};

fn corrupt(reason: impl Into<String>) -> CheckpointError {
    CheckpointError::Corrupt { format: "pytorch-zip", reason: reason.into() }
}

/// The tensors of a torch.save zip.
pub(super) fn read(data: &[u8]) -> Result<Vec<RawTensor>, CheckpointError> {
    let mut archive = ZipArchive::new(Cursor::new(data)).map_err(|e| corrupt(format!("not a readable zip: {e}")))?;
    // Entry name → (first byte in the file, length).
    let mut entries: HashMap<String, (usize, usize)> = HashMap::new();
    for index in 0..archive.len() {
        let entry = archive.by_index_raw(index).map_err(|e| corrupt(format!("zip entry {index}: {e}")))?;
        let name = entry.name().map_err(|e| corrupt(format!("zip entry {index}: {e}")))?.into_owned();
        if entry.is_dir() {
            continue;
        }
        if entry.encrypted() || entry.compression() != CompressionMethod::Stored {
            return Err(CheckpointError::Unsupported(format!(
                "zip entry {name:?} is compressed or encrypted; torch.save stores entries uncompressed"
            )));
        }
        let start = entry.data_start().ok_or_else(|| corrupt(format!("zip entry {name:?} has no data offset")))?;
        let (start, len) = (usize::try_from(start), usize::try_from(entry.size()));
        let (Ok(start), Ok(len)) = (start, len) else {
            return Err(corrupt(format!("zip entry {name:?} lies past the end of the file")));
        };
        if entry.compressed_size() != entry.size() || start.checked_add(len).is_none_or(|end| end > data.len()) {
            return Err(corrupt(format!("zip entry {name:?} lies past the end of the file")));
        }
        entries.insert(name, (start, len));
    }
    let slice = |range: (usize, usize)| &data[range.0..range.0 + range.1];

    let pickles: Vec<(&String, &(usize, usize))> =
        entries.iter().filter(|(name, _)| name.ends_with("/data.pkl") && name.matches('/').count() == 1).collect();
    let [(pickle_name, &pickle_range)] = pickles[..] else {
        return Err(corrupt(format!("expected one <archive>/data.pkl in the zip, found {}", pickles.len())));
    };
    let archive_dir = pickle_name.trim_end_matches("data.pkl").to_string();
    if let Some(&range) = entries.get(&format!("{archive_dir}byteorder")) {
        let order = slice(range);
        if order != b"little" {
            return Err(CheckpointError::Unsupported(format!(
                "byteorder {:?}: only little-endian checkpoints are read",
                String::from_utf8_lossy(order)
            )));
        }
    }
    let tensors = read_state_dict(slice(pickle_range))?;

    let mut raw = Vec::with_capacity(tensors.len());
    for tensor in &tensors {
        let entry_name = format!("{archive_dir}data/{}", tensor.storage_key);
        let &(start, len) = entries.get(&entry_name).ok_or_else(|| corrupt(format!("storage {entry_name:?} is not in the zip")))?;
        if tensor.storage_elements.checked_mul(tensor.dtype.size_bytes()) != Some(len) {
            return Err(corrupt(format!(
                "storage {entry_name:?} has {len} bytes, not {} {:?} elements",
                tensor.storage_elements, tensor.dtype
            )));
        }
        // The pickle reader checked offset + elements against the storage's element count.
        let offset_bytes = tensor
            .offset_elements
            .checked_mul(tensor.dtype.size_bytes())
            .and_then(|offset| offset.checked_add(start))
            .ok_or_else(|| corrupt(format!("tensor {:?}: offset overflows", tensor.name)))?;
        raw.push(RawTensor {
            name: tensor.name.clone(),
            info: TensorInfo { dtype: tensor.dtype, shape: tensor.shape.clone() },
            offset_bytes,
        });
    }
    Ok(raw)
}
