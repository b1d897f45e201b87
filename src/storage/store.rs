//! The embedding store: dense f16 rows per model and layer, memory-mapped.
//!
//! For each model, `vectors/<model>/` holds one file per layer
//! (`layer-NN.f16` for the model's layers and `own-NN.f16` for the layers
//! Strata computes itself, one row of `dim` little-endian f16 per track) and
//! `windows.f16`, one row per analysed window of the model's passage layer
//! (for passage matching). Rows are only appended. The catalog says which
//! rows are live: a writer fsyncs rows before the catalog commits the
//! pointers, and on opening truncates anything past the last committed row,
//! so a killed process leaves no half-written track visible.
//!
//! `rows.idx` beside them holds one [`RowRecord`] per track row: who wrote
//! it (a hash of the track's path) and a checksum of its bytes, so a reader
//! can tell a row that is not the catalog's track's (a foreign or torn
//! write, bit rot) from one that is; see [`crate::storage::store_check`]. Rows an
//! older Strata wrote have no record and cannot be verified.
#![allow(unsafe_code, reason = "memory-mapping the store files (memmap2) is unsafe by nature; see map_file")]

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use half::f16;
use memmap2::Mmap;

use crate::model::ModelManifest;
use crate::storage::data_dir::DataDir;

/// Shape of one model's store: the dimension of each layer and which layer
/// keeps per-window vectors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreLayout {
    /// The store folder for this model.
    pub dir: PathBuf,
    /// Dimension of each layer: the model's, in manifest order, then Strata's own.
    pub layer_dims: Vec<usize>,
    /// How many of the layers come from the model; the rest (the
    /// [`crate::analysis::tonal`] layer) Strata computes itself.
    pub model_layers: usize,
    /// Index of the layer whose per-window vectors are kept.
    pub passage_layer: usize,
}

impl StoreLayout {
    /// The layout for `manifest` in `data_dir`: the model's layers followed by the tonal layer.
    pub fn for_model(data_dir: &DataDir, manifest: &ModelManifest) -> Self {
        let mut layer_dims: Vec<usize> = manifest.layers.iter().map(|l| l.dim).collect();
        let model_layers = layer_dims.len();
        layer_dims.push(crate::analysis::tonal::DIM);
        Self { dir: data_dir.model_store_dir(&manifest.name), layer_dims, model_layers, passage_layer: manifest.passage_layer_index() }
    }

    /// The file of `layer`'s rows. The model's layers are `layer-NN.f16`; Strata's own are `own-NN.f16`,
    /// so a model that gains a layer never reads one of Strata's as its own.
    pub fn layer_path(&self, layer: usize) -> PathBuf {
        match layer.checked_sub(self.model_layers) {
            None => self.dir.join(format!("layer-{layer:02}.f16")),
            Some(own) => self.dir.join(format!("own-{own:02}.f16")),
        }
    }

    /// The file of the passage layer's window rows.
    pub fn window_path(&self) -> PathBuf {
        self.dir.join("windows.f16")
    }

    /// The row index: one [`RowRecord`] per track row.
    pub fn row_index_path(&self) -> PathBuf {
        self.dir.join("rows.idx")
    }

    /// Dimension of the per-window vectors.
    pub fn window_dim(&self) -> usize {
        self.layer_dims[self.passage_layer]
    }
}

/// The owner key of a track: a 64-bit FNV-1a hash of its path bytes
/// ([`crate::storage::catalog::path_bytes`]), known before the catalog gives it an id.
pub fn owner_key(path_bytes: &[u8]) -> u64 {
    path_bytes.iter().fold(FNV_OFFSET, |hash, &byte| (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME))
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// A 64-bit checksum of a track's rows, fed one row at a time (its layer
/// rows in order, then its window rows). FNV-style over 8-byte words: every
/// step is a bijection of the state, so one changed word always changes the
/// sum; the rotation carries high bits down so that changes do not cancel.
#[derive(Debug, Clone, Copy)]
pub struct RowChecksum {
    state: u64,
    len_bytes: u64,
}

impl Default for RowChecksum {
    fn default() -> Self {
        Self { state: FNV_OFFSET, len_bytes: 0 }
    }
}

impl RowChecksum {
    /// Adds one row.
    pub fn add_row(&mut self, row: &[f16]) {
        self.add_bytes(bytemuck::cast_slice(row));
    }

    /// Adds a run of bytes: a row's, or a section of a file the sum guards
    /// ([`crate::search::head_cache`]).
    pub fn add_bytes(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            let mut buf = [0u8; 8];
            buf.copy_from_slice(word);
            self.mix(u64::from_le_bytes(buf));
        }
        let tail = words.remainder();
        if !tail.is_empty() {
            let mut buf = [0u8; 8];
            buf[..tail.len()].copy_from_slice(tail);
            self.mix(u64::from_le_bytes(buf));
        }
        self.len_bytes += bytes.len() as u64;
    }

    fn mix(&mut self, word: u64) {
        self.state = (self.state ^ word).wrapping_mul(FNV_PRIME).rotate_left(29);
    }

    /// The sum, with the length folded in and the bits mixed (murmur3's finaliser).
    pub fn value(&self) -> u64 {
        let mut h = self.state ^ self.len_bytes;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// One track row's entry in `rows.idx`: who wrote it and what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowRecord {
    /// [`owner_key`] of the track the row was written for.
    pub owner_key: u64,
    /// [`RowChecksum`] of its layer rows and window rows as written.
    pub checksum: u64,
    /// First row of its windows in the window file.
    pub window_row: u64,
    /// How many window rows it wrote.
    pub window_count: u32,
}

/// Bytes of one record: owner key, checksum, first window row (u64 each),
/// window count and format (u32 each), little-endian.
pub const ROW_RECORD_BYTES: usize = 32;
/// The format word of a record; 0 (a zero-filled record) means "no record".
const ROW_RECORD_FORMAT: u32 = 1;

impl RowRecord {
    fn to_bytes(self) -> [u8; ROW_RECORD_BYTES] {
        let mut bytes = [0u8; ROW_RECORD_BYTES];
        bytes[0..8].copy_from_slice(&self.owner_key.to_le_bytes());
        bytes[8..16].copy_from_slice(&self.checksum.to_le_bytes());
        bytes[16..24].copy_from_slice(&self.window_row.to_le_bytes());
        bytes[24..28].copy_from_slice(&self.window_count.to_le_bytes());
        bytes[28..32].copy_from_slice(&ROW_RECORD_FORMAT.to_le_bytes());
        bytes
    }

    /// The record in `bytes`, or `None` for a zero-filled (or unknown-format) one.
    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let u64_at = |at: usize| bytes.get(at..at + 8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes);
        let u32_at = |at: usize| bytes.get(at..at + 4).and_then(|b| b.try_into().ok()).map(u32::from_le_bytes);
        if u32_at(28)? != ROW_RECORD_FORMAT {
            return None;
        }
        Some(Self { owner_key: u64_at(0)?, checksum: u64_at(8)?, window_row: u64_at(16)?, window_count: u32_at(24)? })
    }
}

/// Where [`StoreWriter::append`] put a track, and the checksum of what it wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendedRows {
    /// Row of the track in every per-layer file.
    pub store_row: u64,
    /// First row of its windows in the window file.
    pub window_row: u64,
    /// [`RowChecksum`] of its rows (the catalog keeps it too).
    pub checksum: u64,
}

/// Appends rows; see the module doc for the durability order.
pub struct StoreWriter {
    layout: StoreLayout,
    layer_files: Vec<BufWriter<File>>,
    window_file: BufWriter<File>,
    row_index: BufWriter<File>,
    rows: u64,
    window_rows: u64,
}

fn open_truncated(path: &Path, len_bytes: u64) -> std::io::Result<File> {
    let file = OpenOptions::new().create(true).read(true).write(true).truncate(false).open(path)?;
    let actual = file.metadata()?.len();
    if actual < len_bytes {
        return Err(std::io::Error::other(format!(
            "{} holds {actual} bytes but the catalog refers to {len_bytes}: the store is damaged; run `strata check --repair`",
            path.display()
        )));
    }
    if actual > len_bytes {
        file.set_len(len_bytes)?;
        file.sync_all()?;
    }
    let mut file = file;
    std::io::Seek::seek(&mut file, std::io::SeekFrom::End(0))?;
    Ok(file)
}

/// Extends one of Strata's own layer files (or the row index) with zero rows up to `len_bytes`.
/// A layer newer than the store (or one an older Strata did not write) has
/// no rows for the tracks analysed before it; they read as zeros until they
/// are analysed again. In the row index, zeros mean "no record".
fn zero_fill_to(path: &Path, len_bytes: u64) -> std::io::Result<()> {
    let file = OpenOptions::new().create(true).truncate(false).write(true).open(path)?;
    if file.metadata()?.len() < len_bytes {
        file.set_len(len_bytes)?;
        file.sync_all()?;
    }
    Ok(())
}

impl StoreWriter {
    /// Opens the store for appending after `committed_rows` track rows and
    /// `committed_window_rows` window rows, dropping anything written after
    /// them by an interrupted run.
    pub fn open(layout: &StoreLayout, committed_rows: u64, committed_window_rows: u64) -> std::io::Result<Self> {
        std::fs::create_dir_all(&layout.dir)?;
        let mut layer_files = Vec::with_capacity(layout.layer_dims.len());
        for (layer, &dim) in layout.layer_dims.iter().enumerate() {
            let path = layout.layer_path(layer);
            let len_bytes = committed_rows * dim as u64 * 2;
            if layer >= layout.model_layers {
                zero_fill_to(&path, len_bytes)?;
            }
            let file = open_truncated(&path, len_bytes)?;
            layer_files.push(BufWriter::with_capacity(1 << 16, file));
        }
        let window_file = open_truncated(&layout.window_path(), committed_window_rows * layout.window_dim() as u64 * 2)?;
        // Rows written before the index existed get zero ("no record") entries, so record `n` is row `n`.
        let index_len_bytes = committed_rows * ROW_RECORD_BYTES as u64;
        zero_fill_to(&layout.row_index_path(), index_len_bytes)?;
        let row_index = open_truncated(&layout.row_index_path(), index_len_bytes)?;
        Ok(Self {
            layout: layout.clone(),
            layer_files,
            window_file: BufWriter::with_capacity(1 << 16, window_file),
            row_index: BufWriter::with_capacity(1 << 12, row_index),
            rows: committed_rows,
            window_rows: committed_window_rows,
        })
    }

    /// Appends one track, written for the track whose [`owner_key`] is
    /// `owner`: a vector per layer, the passage layer's window vectors and
    /// its [`RowRecord`]. Not durable until [`StoreWriter::sync`].
    pub fn append(&mut self, owner: u64, layer_vectors: &[Vec<f32>], window_vectors: &[&[f32]]) -> std::io::Result<AppendedRows> {
        if layer_vectors.len() != self.layout.layer_dims.len()
            || layer_vectors.iter().zip(&self.layout.layer_dims).any(|(v, &d)| v.len() != d)
            || window_vectors.iter().any(|w| w.len() != self.layout.window_dim())
        {
            return Err(std::io::Error::other("vector dimensions do not match the store layout"));
        }
        let window_count = u32::try_from(window_vectors.len()).map_err(|_| std::io::Error::other("too many windows for one track"))?;
        let mut checksum = RowChecksum::default();
        for (file, vector) in self.layer_files.iter_mut().zip(layer_vectors) {
            write_f16_row(file, vector, &mut checksum)?;
        }
        for window in window_vectors {
            write_f16_row(&mut self.window_file, window, &mut checksum)?;
        }
        let appended = AppendedRows { store_row: self.rows, window_row: self.window_rows, checksum: checksum.value() };
        let record = RowRecord { owner_key: owner, checksum: appended.checksum, window_row: appended.window_row, window_count };
        self.row_index.write_all(&record.to_bytes())?;
        self.rows += 1;
        self.window_rows += u64::from(window_count);
        Ok(appended)
    }

    /// Flushes and fsyncs every file: after this, appended rows survive a crash.
    pub fn sync(&mut self) -> std::io::Result<()> {
        let files = self.layer_files.iter_mut().chain([&mut self.window_file, &mut self.row_index]);
        for file in files {
            file.flush()?;
            file.get_ref().sync_data()?;
        }
        Ok(())
    }
}

fn write_f16_row(out: &mut impl Write, vector: &[f32], checksum: &mut RowChecksum) -> std::io::Result<()> {
    let row: Vec<f16> = vector.iter().map(|&v| f16::from_f32(v)).collect();
    checksum.add_row(&row);
    out.write_all(bytemuck::cast_slice(&row))
}

/// A read-only, memory-mapped view of one model's store.
pub struct StoreReader {
    layout: StoreLayout,
    layers: Vec<Option<Mmap>>,
    windows: Option<Mmap>,
    /// `rows.idx`, read whole (32 bytes a track: 3 MB for 100k tracks).
    row_index: Vec<u8>,
}

/// Maps the file at `path` read-only; `None` when it is absent or empty.
/// Only for files Strata appends to or replaces whole by renaming
/// ([`crate::storage::data_dir::replace_file`]), never rewrites in place.
pub(crate) fn map_file(path: &Path) -> std::io::Result<Option<Mmap>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if file.metadata()?.len() == 0 {
        return Ok(None);
    }
    // SAFETY: Strata only ever appends to or truncates past the committed
    // rows of the store's files, and readers only touch committed rows; the
    // other files mapped are replaced by renaming a new file over them, which
    // leaves a mapping of the old one intact.
    unsafe { Mmap::map(&file) }.map(Some)
}

impl StoreReader {
    /// Maps the store's files; absent files read as empty.
    pub fn open(layout: &StoreLayout) -> std::io::Result<Self> {
        let layers = (0..layout.layer_dims.len()).map(|l| map_file(&layout.layer_path(l))).collect::<Result<_, _>>()?;
        let windows = map_file(&layout.window_path())?;
        let row_index = match std::fs::read(layout.row_index_path()) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        Ok(Self { layout: layout.clone(), layers, windows, row_index })
    }

    /// The record of track row `row`, or `None` when it has none (written
    /// before Strata kept records, or the index is damaged or short).
    pub fn row_record(&self, row: u64) -> Option<RowRecord> {
        let start = usize::try_from(row).ok()?.checked_mul(ROW_RECORD_BYTES)?;
        RowRecord::from_bytes(self.row_index.get(start..start.checked_add(ROW_RECORD_BYTES)?)?)
    }

    /// How many records `rows.idx` holds (zero-filled ones included).
    pub fn row_records(&self) -> u64 {
        (self.row_index.len() / ROW_RECORD_BYTES) as u64
    }

    /// How many whole rows `layer`'s file holds.
    pub fn layer_rows(&self, layer: usize) -> u64 {
        let dim = self.layout.layer_dims.get(layer).copied().unwrap_or(0);
        self.layer_data(layer).len().checked_div(dim).unwrap_or(0) as u64
    }

    /// How many whole rows the window file holds.
    pub fn window_rows_len(&self) -> u64 {
        Self::rows_of(self.windows.as_ref()).len().checked_div(self.layout.window_dim()).unwrap_or(0) as u64
    }

    /// The layout this reader was opened with.
    pub fn layout(&self) -> &StoreLayout {
        &self.layout
    }

    fn rows_of(map: Option<&Mmap>) -> &[f16] {
        match map {
            // Mmap is page-aligned, so the cast cannot fail on alignment; an odd trailing byte is ignored.
            Some(map) => bytemuck::cast_slice(&map[..map.len() & !1]),
            None => &[],
        }
    }

    /// All rows of `layer` as one slice of `rows × dim` f16.
    pub fn layer_data(&self, layer: usize) -> &[f16] {
        Self::rows_of(self.layers.get(layer).and_then(Option::as_ref))
    }

    /// One track row of `layer`, if present.
    pub fn layer_row(&self, layer: usize, row: u64) -> Option<&[f16]> {
        let dim = *self.layout.layer_dims.get(layer)?;
        let start = usize::try_from(row).ok()?.checked_mul(dim)?;
        self.layer_data(layer).get(start..start.checked_add(dim)?)
    }

    /// The [`RowChecksum`] of track row `row` with its `window_count` window
    /// rows from `window_row`, as they are on disk now; `None` when a file is too short.
    pub fn row_checksum(&self, row: u64, window_row: u64, window_count: usize) -> Option<u64> {
        let mut checksum = RowChecksum::default();
        for layer in 0..self.layout.layer_dims.len() {
            checksum.add_row(self.layer_row(layer, row)?);
        }
        let windows = self.window_rows(window_row, window_count)?;
        for window in windows.chunks_exact(self.layout.window_dim().max(1)) {
            checksum.add_row(window);
        }
        Some(checksum.value())
    }

    /// `count` window rows starting at `first`, as `count × window_dim` f16.
    pub fn window_rows(&self, first: u64, count: usize) -> Option<&[f16]> {
        let dim = self.layout.window_dim();
        let start = usize::try_from(first).ok()?.checked_mul(dim)?;
        Self::rows_of(self.windows.as_ref()).get(start..start.checked_add(count.checked_mul(dim)?)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(dir: &Path) -> StoreLayout {
        StoreLayout { dir: dir.join("m"), layer_dims: vec![2, 3], model_layers: 2, passage_layer: 1 }
    }

    #[test]
    fn rows_round_trip_and_uncommitted_tail_is_trimmed() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = layout(tmp.path());
        let mut writer = StoreWriter::open(&layout, 0, 0).unwrap();
        let w: Vec<f32> = vec![0.5, 0.25, -1.0];
        let first = writer.append(1, &[vec![1.0, 2.0], vec![3.0, 4.0, 5.0]], &[&w, &w]).unwrap();
        assert_eq!((first.store_row, first.window_row), (0, 0));
        let second = writer.append(2, &[vec![6.0, 7.0], vec![8.0, 9.0, 10.0]], &[&w]).unwrap();
        assert_eq!((second.store_row, second.window_row), (1, 2));
        writer.sync().unwrap();
        drop(writer);

        let reader = StoreReader::open(&layout).unwrap();
        let row: Vec<f32> = reader.layer_row(1, 1).unwrap().iter().map(|v| v.to_f32()).collect();
        assert_eq!(row, vec![8.0, 9.0, 10.0]);
        assert_eq!(reader.window_rows(2, 1).unwrap().len(), 3);

        // Only the first track was committed: reopening drops the second.
        let writer = StoreWriter::open(&layout, 1, 2).unwrap();
        drop(writer);
        let reader = StoreReader::open(&layout).unwrap();
        assert!(reader.layer_row(0, 1).is_none());
        assert_eq!(reader.layer_data(1).len(), 3);
        // A catalog that refers to more rows than exist is an error, not silence.
        assert!(StoreWriter::open(&layout, 5, 0).is_err());
    }

    #[test]
    fn a_layer_of_stratas_own_added_later_reads_as_zeros() {
        let tmp = tempfile::tempdir().unwrap();
        let old = layout(tmp.path());
        let mut writer = StoreWriter::open(&old, 0, 0).unwrap();
        writer.append(1, &[vec![1.0, 2.0], vec![3.0, 4.0, 5.0]], &[]).unwrap();
        writer.sync().unwrap();
        drop(writer);

        // The same store once Strata adds a 4-dim layer of its own.
        let new = StoreLayout { layer_dims: vec![2, 3, 4], ..old.clone() };
        let mut writer = StoreWriter::open(&new, 1, 0).unwrap();
        assert_eq!(writer.append(2, &[vec![6.0, 7.0], vec![8.0, 9.0, 10.0], vec![1.0; 4]], &[]).unwrap().store_row, 1);
        writer.sync().unwrap();
        drop(writer);
        let reader = StoreReader::open(&new).unwrap();
        assert_eq!(reader.layer_row(2, 0).unwrap(), &[f16::ZERO; 4]);
        assert_eq!(reader.layer_row(2, 1).unwrap(), &[f16::ONE; 4]);
        assert_eq!(reader.layer_row(1, 1).unwrap()[2].to_f32(), 10.0);

        // A short file of Strata's own (rows an older Strata appended to the
        // model's layers only) is filled up the same way.
        let mut writer = StoreWriter::open(&old, 2, 0).unwrap();
        writer.append(3, &[vec![0.5, 0.5], vec![1.0, 1.0, 1.0]], &[]).unwrap();
        writer.sync().unwrap();
        drop(writer);
        StoreWriter::open(&new, 3, 0).unwrap();
        let reader = StoreReader::open(&new).unwrap();
        assert_eq!(reader.layer_row(2, 2).unwrap(), &[f16::ZERO; 4]);
        assert_eq!(reader.layer_row(2, 1).unwrap(), &[f16::ONE; 4]);
        assert_eq!(reader.layer_data(2).len(), 12);

        // A missing layer of the model's own is still damage, not zeros.
        std::fs::remove_file(new.layer_path(0)).unwrap();
        assert!(StoreWriter::open(&new, 3, 0).is_err());
    }

    #[test]
    fn row_records_round_trip_and_are_trimmed_with_their_rows() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = layout(tmp.path());
        let mut writer = StoreWriter::open(&layout, 0, 0).unwrap();
        let w: Vec<f32> = vec![0.5, 0.25, -1.0];
        let first = writer.append(owner_key(b"/music/a.flac"), &[vec![1.0, 2.0], vec![3.0, 4.0, 5.0]], &[&w, &w]).unwrap();
        let second = writer.append(owner_key(b"/music/b.flac"), &[vec![6.0, 7.0], vec![8.0, 9.0, 10.0]], &[&w]).unwrap();
        writer.sync().unwrap();
        drop(writer);

        let reader = StoreReader::open(&layout).unwrap();
        let record = reader.row_record(1).unwrap();
        assert_eq!(record, RowRecord { owner_key: owner_key(b"/music/b.flac"), checksum: second.checksum, window_row: 2, window_count: 1 });
        assert_eq!(reader.row_record(0).unwrap().window_count, 2);
        // The checksum read back from the files is the one written.
        assert_eq!(reader.row_checksum(0, 0, 2), Some(first.checksum));
        assert_eq!(reader.row_checksum(1, 2, 1), Some(second.checksum));
        assert_ne!(first.checksum, second.checksum);
        assert_eq!(reader.row_record(2), None);
        assert_eq!(reader.row_checksum(2, 3, 1), None);

        // Reopening after one committed track drops the second's record with its rows.
        drop(StoreWriter::open(&layout, 1, 2).unwrap());
        let reader = StoreReader::open(&layout).unwrap();
        assert_eq!(reader.row_records(), 1);
        assert_eq!(reader.row_record(1), None);
        assert_eq!(reader.row_record(0).unwrap().owner_key, owner_key(b"/music/a.flac"));
    }

    #[test]
    fn rows_written_before_the_row_index_have_no_record_and_a_torn_index_never_panics() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = layout(tmp.path());
        let mut writer = StoreWriter::open(&layout, 0, 0).unwrap();
        writer.append(7, &[vec![1.0, 2.0], vec![3.0, 4.0, 5.0]], &[]).unwrap();
        writer.sync().unwrap();
        drop(writer);
        // An older Strata kept no index.
        std::fs::remove_file(layout.row_index_path()).unwrap();
        let mut writer = StoreWriter::open(&layout, 1, 0).unwrap();
        assert_eq!(writer.append(8, &[vec![6.0, 7.0], vec![8.0, 9.0, 10.0]], &[]).unwrap().store_row, 1);
        writer.sync().unwrap();
        drop(writer);
        let reader = StoreReader::open(&layout).unwrap();
        assert_eq!(reader.row_record(0), None);
        assert_eq!(reader.row_record(1).unwrap().owner_key, 8);

        // A torn last record (odd length) reads as none, and so do rows past the end.
        let index = std::fs::read(layout.row_index_path()).unwrap();
        std::fs::write(layout.row_index_path(), &index[..ROW_RECORD_BYTES + 5]).unwrap();
        let reader = StoreReader::open(&layout).unwrap();
        assert_eq!(reader.row_record(1), None);
        assert_eq!(reader.row_record(u64::MAX), None);
        assert_eq!(reader.row_checksum(u64::MAX, u64::MAX, usize::MAX), None);
        assert!(reader.window_rows(u64::MAX, usize::MAX).is_none());
        // The writer fills the torn record with zeros ("no record") rather than trusting it.
        drop(StoreWriter::open(&layout, 2, 0).unwrap());
        assert_eq!(StoreReader::open(&layout).unwrap().row_record(1), None);
    }

    #[test]
    fn a_changed_value_changes_the_checksum_and_two_changes_do_not_cancel() {
        let row: Vec<f16> = (0..16).map(|i| f16::from_f32(i as f32 * 0.25 - 1.0)).collect();
        let sum = |row: &[f16]| {
            let mut checksum = RowChecksum::default();
            checksum.add_row(row);
            checksum.value()
        };
        let original = sum(&row);
        for i in 0..row.len() {
            let mut changed = row.clone();
            changed[i] = f16::from_bits(changed[i].to_bits() ^ 1);
            assert_ne!(sum(&changed), original, "low bit of value {i}");
        }
        // Sign flips of the top value of two words cancel in plain word-wise FNV.
        let mut negated = row.clone();
        negated[3] = -negated[3];
        negated[7] = -negated[7];
        assert_ne!(sum(&negated), original);
        // Row boundaries count: the same values split differently sum differently.
        let mut split = RowChecksum::default();
        split.add_row(&row[..3]);
        split.add_row(&row[3..]);
        assert_ne!(split.value(), original);
    }
}
