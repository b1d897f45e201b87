//! `pytorch_model.bin` as `torch.save` writes it: a zip (entries stored, not compressed) holding
//! `<archive>/data.pkl` (the pickled state dict), `<archive>/data/<key>` (one entry per storage),
//! `<archive>/version` and maybe `<archive>/byteorder`.

use super::{CheckpointError, RawTensor};

/// The tensors of a torch.save zip.
pub(super) fn read(_data: &[u8]) -> Result<Vec<RawTensor>, CheckpointError> {
    Err(CheckpointError::Unsupported("pytorch_model.bin: not built yet".into()))
}
