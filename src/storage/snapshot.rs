//! A read-only snapshot of one model's indexed library.
//!
//! Joins the catalog's committed tracks with the memory-mapped vector store.
//! Search, probing, evaluation, the map and the window read snapshots; the
//! indexer never touches one. A snapshot is cheap to rebuild after a commit
//! and is swapped in whole. Loading verifies every track's row record
//! ([`crate::storage::store_check`]): a track whose rows are not its own is left out
//! and counted in [`LibrarySnapshot::damage`], never served.

use std::path::Path;

use half::f16;
use ndarray::Array2;

use crate::model::{self, ModelInfo};
use crate::storage::catalog::{Catalog, StoredAnalysis, Track};
use crate::storage::data_dir::DataDir;
use crate::storage::store::{StoreLayout, StoreReader};
use crate::storage::store_check::{self, StoreDamage};
use crate::versions::found::{FoundVersions, TrackVersions};
use crate::works::Works;

/// Tracks of one model with their vectors.
pub struct LibrarySnapshot {
    /// The model the vectors come from.
    pub model: ModelInfo,
    /// Tracks in store-row order; index `i` here is "track `i`" everywhere downstream.
    pub tracks: Vec<Track>,
    /// Where each track's vectors are.
    pub analyses: Vec<StoredAnalysis>,
    /// Catalogued tracks left out because the store cannot give them their own vectors.
    pub damage: StoreDamage,
    /// Every track's work, inferred from [`Self::tracks`] and the user's
    /// corrections, with the recordings of one piece found from the audio linked.
    pub works: Works,
    /// Each track's other recordings, as the last search of the library found them.
    pub versions: TrackVersions,
    store: StoreReader,
    data_dir: DataDir,
}

impl LibrarySnapshot {
    /// Loads the committed state of `model_name` from the data folder.
    pub fn load(data_dir: &DataDir, model_name: &str) -> anyhow::Result<Self> {
        let model = model::find_model(model_name, &data_dir.model_search_dirs())?;
        let catalog_file = data_dir.catalog_path();
        if !catalog_file.exists() {
            anyhow::bail!("nothing indexed yet in {} (run `strata index DIR` first)", data_dir.root().display());
        }
        let catalog = Catalog::open(&catalog_file)?;
        let layout = StoreLayout::for_model(data_dir, &model.manifest);
        // The catalog first: every row it points at was synced before it committed.
        let load = || -> anyhow::Result<_> {
            let entries = catalog.analysed_tracks(&model.manifest.name)?;
            let store = StoreReader::open(&layout)?;
            Ok((store_check::split_damaged(&store, entries), store))
        };
        let ((mut served, mut damage), mut store) = load()?;
        if !damage.is_empty() {
            // A writer that dropped rows (of removed tracks) between the two reads looks like damage once; real damage stays.
            ((served, damage), store) = load()?;
        }
        let (tracks, analyses): (Vec<Track>, _) = served.into_iter().unzip();
        let mut works = Works::infer(&tracks, &catalog.work_edits()?);
        let versions = FoundVersions::load(&data_dir.versions_found_path()).for_tracks(&tracks);
        works.link_recordings(versions.sure_pairs());
        Ok(Self { model, tracks, analyses, damage, works, versions, store, data_dir: data_dir.clone() })
    }

    /// The data folder the snapshot was loaded from.
    pub fn data_dir(&self) -> &DataDir {
        &self.data_dir
    }

    /// Number of tracks.
    pub fn len(&self) -> usize {
        self.tracks.len()
    }

    /// Whether no track is indexed.
    pub fn is_empty(&self) -> bool {
        self.tracks.is_empty()
    }

    /// Catalog id of each track, in snapshot order (stable across reloads, unlike indices).
    pub fn track_ids(&self) -> Vec<i64> {
        self.tracks.iter().map(|t| t.id).collect()
    }

    /// Layer names: the model's in manifest order, then [`crate::analysis::tonal::LAYER_NAME`].
    pub fn layer_names(&self) -> Vec<String> {
        self.model.manifest.layers.iter().map(|l| l.name.clone()).chain([crate::analysis::tonal::LAYER_NAME.to_string()]).collect()
    }

    /// Index of the layer with this name (the model's or the tonal layer).
    pub fn layer_index(&self, name: &str) -> Option<usize> {
        self.layer_names().iter().position(|l| l == name)
    }

    /// What `layer` holds, in words (empty for a layer the model lacks).
    pub fn layer_description(&self, layer: usize) -> &str {
        match self.model.manifest.layers.get(layer) {
            Some(spec) => &spec.description,
            None if layer == self.store.layout().model_layers => crate::analysis::tonal::DESCRIPTION,
            None => "",
        }
    }

    /// Dimension of `layer` (0 for a layer the store lacks).
    pub fn layer_dim(&self, layer: usize) -> usize {
        self.store.layout().layer_dims.get(layer).copied().unwrap_or(0)
    }

    /// The mapped f16 data of `layer`: rows of [`Self::layer_dim`] values.
    pub fn layer_data(&self, layer: usize) -> &[f16] {
        self.store.layer_data(layer)
    }

    /// Where `track`'s row of `layer` starts in [`Self::layer_data`], if the
    /// store has it. An all-zero row of one of Strata's own layers has no
    /// vector (a silent track, or one analysed before the layer existed), so
    /// search leaves it out rather than centring it into a shared point.
    pub fn layer_row_offset(&self, layer: usize, track: usize) -> Option<usize> {
        let dim = self.layer_dim(layer);
        let offset = usize::try_from(self.analyses.get(track)?.store_row).ok()?.checked_mul(dim)?;
        let row = self.layer_data(layer).get(offset..offset + dim)?;
        let own_layer = layer >= self.store.layout().model_layers;
        (!own_layer || row.iter().any(|v| v.to_f32() != 0.0)).then_some(offset)
    }

    /// One layer's vectors as a `tracks × dim` f32 matrix (rows the store
    /// lacks, which a consistent store never has, are zero).
    pub fn layer_matrix(&self, layer: usize) -> Array2<f32> {
        self.layer_rows(layer, 0..self.tracks.len())
    }

    /// The vectors of `tracks` (in that order) in one layer, as a
    /// `tracks × dim` f32 matrix; what [`Self::layer_matrix`] holds for
    /// those tracks, without converting the rest of the layer.
    pub fn layer_rows(&self, layer: usize, tracks: impl ExactSizeIterator<Item = usize>) -> Array2<f32> {
        let mut matrix = Array2::<f32>::zeros((tracks.len(), self.layer_dim(layer)));
        for (track, mut row) in tracks.zip(matrix.rows_mut()) {
            if let Some(stored) = self.track_layer_row(layer, track) {
                for (out, v) in row.iter_mut().zip(stored) {
                    *out = v.to_f32();
                }
            }
        }
        matrix
    }

    /// `track`'s stored row of `layer`, if the store has it.
    pub fn track_layer_row(&self, layer: usize, track: usize) -> Option<&[f16]> {
        self.store.layer_row(layer, self.analyses.get(track)?.store_row)
    }

    /// A track's per-window vectors of the passage layer (`windows × dim`) and their start times.
    pub fn window_matrix(&self, track: usize) -> Option<(Array2<f32>, &[f32])> {
        let analysis = self.analyses.get(track)?;
        let count = analysis.window_starts_s.len();
        let dim = self.store.layout().window_dim();
        let rows = self.store.window_rows(analysis.window_row, count)?;
        let data: Vec<f32> = rows.iter().map(|v| v.to_f32()).collect();
        Array2::from_shape_vec((count, dim), data).ok().map(|m| (m, analysis.window_starts_s.as_slice()))
    }

    /// Index of the track with this catalog id or path.
    pub fn find(&self, query: &str) -> Option<usize> {
        if let Ok(id) = query.parse::<i64>()
            && let Some(index) = self.tracks.iter().position(|t| t.id == id)
        {
            return Some(index);
        }
        let path = Path::new(query);
        let canonical = std::fs::canonicalize(path).ok();
        self.tracks.iter().position(|t| t.path == path || Some(&t.path) == canonical.as_ref())
    }
}
