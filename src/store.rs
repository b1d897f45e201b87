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

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use half::f16;
use memmap2::Mmap;

use crate::model::ModelManifest;

/// Shape of one model's store: the dimension of each layer and which layer
/// keeps per-window vectors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreLayout {
    /// The store folder for this model.
    pub dir: PathBuf,
    /// Dimension of each layer: the model's, in manifest order, then Strata's own.
    pub layer_dims: Vec<usize>,
    /// How many of the layers come from the model; the rest (the
    /// [`crate::tonal`] layer) Strata computes itself.
    pub model_layers: usize,
    /// Index of the layer whose per-window vectors are kept.
    pub passage_layer: usize,
}

impl StoreLayout {
    /// The layout for `manifest` under the data folder `root`: the model's
    /// layers followed by the tonal layer.
    pub fn for_model(root: &Path, manifest: &ModelManifest) -> Self {
        let mut layer_dims: Vec<usize> = manifest.layers.iter().map(|l| l.dim).collect();
        let model_layers = layer_dims.len();
        layer_dims.push(crate::tonal::DIM);
        Self { dir: root.join("vectors").join(&manifest.name), layer_dims, model_layers, passage_layer: manifest.passage_layer_index() }
    }

    /// The model's layers are `layer-NN.f16`; Strata's own are `own-NN.f16`,
    /// so a model that gains a layer never reads one of Strata's as its own.
    fn layer_path(&self, layer: usize) -> PathBuf {
        match layer.checked_sub(self.model_layers) {
            None => self.dir.join(format!("layer-{layer:02}.f16")),
            Some(own) => self.dir.join(format!("own-{own:02}.f16")),
        }
    }

    fn window_path(&self) -> PathBuf {
        self.dir.join("windows.f16")
    }

    /// Dimension of the per-window vectors.
    pub fn window_dim(&self) -> usize {
        self.layer_dims[self.passage_layer]
    }

    /// Bytes one track takes: its layer rows plus `windows` window rows.
    pub fn bytes_per_track(&self, windows: usize) -> usize {
        2 * (self.layer_dims.iter().sum::<usize>() + windows * self.window_dim())
    }
}

/// Appends rows; see the module doc for the durability order.
pub struct StoreWriter {
    layout: StoreLayout,
    layer_files: Vec<BufWriter<File>>,
    window_file: BufWriter<File>,
    rows: u64,
    window_rows: u64,
}

fn open_truncated(path: &Path, len_bytes: u64) -> std::io::Result<File> {
    let file = OpenOptions::new().create(true).read(true).write(true).truncate(false).open(path)?;
    let actual = file.metadata()?.len();
    if actual < len_bytes {
        return Err(std::io::Error::other(format!(
            "{} holds {actual} bytes but the catalog refers to {len_bytes}: the store is damaged",
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

/// Extends one of Strata's own layer files with zero rows up to `len_bytes`.
/// A layer newer than the store (or one an older Strata did not write) has
/// no rows for the tracks analysed before it; they read as zeros until they
/// are analysed again.
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
        Ok(Self {
            layout: layout.clone(),
            layer_files,
            window_file: BufWriter::with_capacity(1 << 16, window_file),
            rows: committed_rows,
            window_rows: committed_window_rows,
        })
    }

    /// Appends one track: a vector per layer and the passage layer's window
    /// vectors. Returns its track row and first window row. Not durable until [`StoreWriter::sync`].
    pub fn append(&mut self, layer_vectors: &[Vec<f32>], window_vectors: &[&[f32]]) -> std::io::Result<(u64, u64)> {
        if layer_vectors.len() != self.layout.layer_dims.len()
            || layer_vectors.iter().zip(&self.layout.layer_dims).any(|(v, &d)| v.len() != d)
            || window_vectors.iter().any(|w| w.len() != self.layout.window_dim())
        {
            return Err(std::io::Error::other("vector dimensions do not match the store layout"));
        }
        for (file, vector) in self.layer_files.iter_mut().zip(layer_vectors) {
            write_f16_row(file, vector)?;
        }
        for window in window_vectors {
            write_f16_row(&mut self.window_file, window)?;
        }
        let rows = (self.rows, self.window_rows);
        self.rows += 1;
        self.window_rows += window_vectors.len() as u64;
        Ok(rows)
    }

    /// Flushes and fsyncs every file: after this, appended rows survive a crash.
    pub fn sync(&mut self) -> std::io::Result<()> {
        for file in self.layer_files.iter_mut().chain(std::iter::once(&mut self.window_file)) {
            file.flush()?;
            file.get_ref().sync_data()?;
        }
        Ok(())
    }
}

fn write_f16_row(out: &mut impl Write, vector: &[f32]) -> std::io::Result<()> {
    let row: Vec<f16> = vector.iter().map(|&v| f16::from_f32(v)).collect();
    out.write_all(bytemuck::cast_slice(&row))
}

/// A read-only, memory-mapped view of one model's store.
pub struct StoreReader {
    layout: StoreLayout,
    layers: Vec<Option<Mmap>>,
    windows: Option<Mmap>,
}

fn map_file(path: &Path) -> std::io::Result<Option<Mmap>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if file.metadata()?.len() == 0 {
        return Ok(None);
    }
    // SAFETY: Strata only ever appends to or truncates past the committed
    // rows of these files, and readers only touch committed rows.
    unsafe { Mmap::map(&file) }.map(Some)
}

impl StoreReader {
    /// Maps the store's files; absent files read as empty.
    pub fn open(layout: &StoreLayout) -> std::io::Result<Self> {
        let layers = (0..layout.layer_dims.len()).map(|l| map_file(&layout.layer_path(l))).collect::<Result<_, _>>()?;
        let windows = map_file(&layout.window_path())?;
        Ok(Self { layout: layout.clone(), layers, windows })
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
        self.layer_data(layer).get(start..start + dim)
    }

    /// `count` window rows starting at `first`, as `count × window_dim` f16.
    pub fn window_rows(&self, first: u64, count: usize) -> Option<&[f16]> {
        let dim = self.layout.window_dim();
        let start = usize::try_from(first).ok()?.checked_mul(dim)?;
        Self::rows_of(self.windows.as_ref()).get(start..start + count * dim)
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
        assert_eq!(writer.append(&[vec![1.0, 2.0], vec![3.0, 4.0, 5.0]], &[&w, &w]).unwrap(), (0, 0));
        assert_eq!(writer.append(&[vec![6.0, 7.0], vec![8.0, 9.0, 10.0]], &[&w]).unwrap(), (1, 2));
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
        writer.append(&[vec![1.0, 2.0], vec![3.0, 4.0, 5.0]], &[]).unwrap();
        writer.sync().unwrap();
        drop(writer);

        // The same store once Strata adds a 4-dim layer of its own.
        let new = StoreLayout { layer_dims: vec![2, 3, 4], ..old.clone() };
        let mut writer = StoreWriter::open(&new, 1, 0).unwrap();
        assert_eq!(writer.append(&[vec![6.0, 7.0], vec![8.0, 9.0, 10.0], vec![1.0; 4]], &[]).unwrap(), (1, 0));
        writer.sync().unwrap();
        drop(writer);
        let reader = StoreReader::open(&new).unwrap();
        assert_eq!(reader.layer_row(2, 0).unwrap(), &[f16::ZERO; 4]);
        assert_eq!(reader.layer_row(2, 1).unwrap(), &[f16::ONE; 4]);
        assert_eq!(reader.layer_row(1, 1).unwrap()[2].to_f32(), 10.0);

        // A short file of Strata's own (rows an older Strata appended to the
        // model's layers only) is filled up the same way.
        let mut writer = StoreWriter::open(&old, 2, 0).unwrap();
        writer.append(&[vec![0.5, 0.5], vec![1.0, 1.0, 1.0]], &[]).unwrap();
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
}
