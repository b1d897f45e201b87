//! Search heads kept on disk, mapped instead of fitted again.
//!
//! Fitting a layer's head ([`crate::search::layer_index`]) projects every
//! track, a second or more for a 300,000 × 768 layer, and its bands take
//! 80 MB there. Once fitted, an index writes its normalisation and head to
//! one file per layer and normalisation ([`DataDir::search_head_path`]) and
//! serves the bands from a read-only map of that file: file-backed pages the
//! kernel can drop and read back, not process memory, and the next start
//! maps the file instead of fitting again.
//!
//! A file serves only the library it was fitted on. Its key hashes the fit's
//! settings and every track's store row and row checksum, in order, so any
//! change to the library (a track added, removed, re-analysed, or reordered)
//! gives another key. A checksum of the header and every section is verified
//! when the file is mapped. A file that fails either check reads as no file:
//! the head is fitted again and the file replaced. Files are only ever
//! replaced whole ([`replace_file_with`]), so two processes never see half of one.
//!
//! [`DataDir::search_head_path`]: crate::storage::data_dir::DataDir::search_head_path

use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};

use half::f16;
use memmap2::Mmap;
use ndarray::Array2;

use crate::storage::data_dir::replace_file_with;
use crate::storage::snapshot::LibrarySnapshot;
use crate::storage::store::{RowChecksum, map_file};

/// The first bytes of every head file.
const MAGIC: &[u8; 8] = b"STRAHEAD";

/// The layout version; a file of another version is fitted again.
const FORMAT: u32 = 1;

/// Bytes of the header: magic (8), format (u32), zero (4), key (u64), tracks
/// (u64), dim (u32), width (u32), checksum (u64), zero padding (16); the
/// header is little-endian, the sections in the machine's own byte order
/// (a file is only ever read where it was written; another order fails the checksum).
const HEADER_BYTES: usize = 64;

/// Where the header's checksum sits: after the fields it covers.
const CHECKSUM_AT: usize = 40;

/// Every section starts at a multiple of this, so that a band row (32 f16) never straddles a cache line.
const SECTION_ALIGN: usize = 64;

/// Coordinates per band, as the index stores them.
const BAND_WIDTH: usize = crate::search::layer_index::HEAD_STEP;

/// Where one layer's head file is and which library it must have been fitted on.
pub(crate) struct HeadFile {
    /// Where the file is ([`DataDir::search_head_path`]).
    path: PathBuf,
    /// What the header must hold for the file to be this library's.
    key: u64,
}

/// What an index keeps of a layer, as read from or written to its file.
pub(crate) struct HeadParts<'a> {
    /// The library mean.
    pub mean: &'a [f32],
    /// The per-dimension scale.
    pub scale: &'a [f32],
    /// One inverse norm per track.
    pub inverse_norms: &'a [f32],
    /// `dim × width` axes.
    pub axes: &'a Array2<f32>,
    /// `bands[b]`: `tracks × 32` coordinates.
    pub bands: &'a [Vec<f16>],
    /// `rests[b]`: one norm per track.
    pub rests: &'a [Vec<f32>],
}

/// A layer's index read back from its file: the small parts copied, the bands and rests mapped.
pub(crate) struct CachedIndex {
    /// The library mean.
    pub mean: Vec<f32>,
    /// The per-dimension scale.
    pub scale: Vec<f32>,
    /// One inverse norm per track.
    pub inverse_norms: Vec<f32>,
    /// `dim × width` axes.
    pub axes: Array2<f32>,
    /// The bands and their rests.
    pub head: MappedHead,
}

/// A head's bands and rests served from a read-only map of its file.
pub(crate) struct MappedHead {
    map: Mmap,
    sections: Sections,
    bands: usize,
}

impl MappedHead {
    /// How many bands the head has.
    pub fn band_count(&self) -> usize {
        self.bands
    }

    /// Band `b`: `tracks × 32` coordinates.
    pub fn band(&self, b: usize) -> Option<&[f16]> {
        bytemuck::try_cast_slice(self.piece(&self.sections.bands, b)?).ok()
    }

    /// The rests after band `b`: one norm per track.
    pub fn rests(&self, b: usize) -> Option<&[f32]> {
        bytemuck::try_cast_slice(self.piece(&self.sections.rests, b)?).ok()
    }

    /// Band `b`'s share of `section`, which holds one equal share per band.
    fn piece(&self, section: &Range<usize>, b: usize) -> Option<&[u8]> {
        if b >= self.bands {
            return None;
        }
        let per_band = section.len() / self.bands;
        let start = section.start.checked_add(b.checked_mul(per_band)?)?;
        self.map.get(start..start.checked_add(per_band)?)
    }
}

/// Byte ranges of a file's sections, each after the last at [`SECTION_ALIGN`].
struct Sections {
    mean: Range<usize>,
    scale: Range<usize>,
    inverse_norms: Range<usize>,
    axes: Range<usize>,
    rests: Range<usize>,
    bands: Range<usize>,
}

impl Sections {
    /// The layout for `tracks` tracks of `dim` values and a head `width` wide; `None` on overflow.
    fn new(tracks: usize, dim: usize, width: usize) -> Option<Self> {
        let bands = width / BAND_WIDTH;
        let mut at = HEADER_BYTES;
        let mut next = |bytes: usize| -> Option<Range<usize>> {
            let start = at;
            at = start.checked_add(bytes)?.checked_next_multiple_of(SECTION_ALIGN)?;
            Some(start..start + bytes)
        };
        let f32s = |count: usize| count.checked_mul(4);
        Some(Self {
            mean: next(f32s(dim)?)?,
            scale: next(f32s(dim)?)?,
            inverse_norms: next(f32s(tracks)?)?,
            axes: next(f32s(dim.checked_mul(width)?)?)?,
            rests: next(f32s(bands.checked_mul(tracks)?)?)?,
            bands: next(bands.checked_mul(tracks)?.checked_mul(BAND_WIDTH * 2)?)?,
        })
    }

    /// The file's length: the end of the last section.
    fn len(&self) -> usize {
        self.bands.end
    }

    /// What the checksum reads, in file order: the small sections whole,
    /// then each band's rests and each band.
    fn pieces(&self, bands: usize) -> Vec<Range<usize>> {
        let split = |range: &Range<usize>| {
            let (start, per_band) = (range.start, range.len() / bands.max(1));
            (0..bands).map(move |b| start + b * per_band..start + (b + 1) * per_band)
        };
        [&self.mean, &self.scale, &self.inverse_norms, &self.axes]
            .into_iter()
            .cloned()
            .chain(split(&self.rests))
            .chain(split(&self.bands))
            .collect()
    }
}

/// The header's fields before the checksum, in file order.
fn header(key: u64, tracks: usize, dim: usize, width: usize) -> Option<[u8; CHECKSUM_AT]> {
    let mut out = [0u8; CHECKSUM_AT];
    out[0..8].copy_from_slice(MAGIC);
    out[8..12].copy_from_slice(&FORMAT.to_le_bytes());
    out[16..24].copy_from_slice(&key.to_le_bytes());
    out[24..32].copy_from_slice(&u64::try_from(tracks).ok()?.to_le_bytes());
    out[32..36].copy_from_slice(&u32::try_from(dim).ok()?.to_le_bytes());
    out[36..40].copy_from_slice(&u32::try_from(width).ok()?.to_le_bytes());
    Some(out)
}

impl HeadFile {
    /// The file of `layer` of `snapshot` under normalisation `normalization`
    /// (its name), for a head fitted with the settings `fit`; `None` when a
    /// track's rows carry no checksum (written by an older Strata), since
    /// then nothing tells this library from another. The key also holds
    /// Strata's version, so that a release whose fit differs in code, not in
    /// settings, never serves an older release's file.
    pub fn for_layer(snapshot: &LibrarySnapshot, layer: usize, normalization: &str, fit: &[u64]) -> Option<Self> {
        let mut key = RowChecksum::default();
        key.add_bytes(env!("CARGO_PKG_VERSION").as_bytes());
        key.add_bytes(normalization.as_bytes());
        for value in [u64::from(FORMAT), layer as u64, snapshot.layer_dim(layer) as u64, snapshot.len() as u64].iter().chain(fit) {
            key.add_bytes(&value.to_le_bytes());
        }
        for analysis in &snapshot.analyses {
            key.add_bytes(&analysis.store_row.to_le_bytes());
            let Some(checksum) = analysis.checksum else {
                log::debug!("layer {layer}: rows without a checksum (an older Strata's); its search head is not kept in a file");
                return None;
            };
            key.add_bytes(&checksum.to_le_bytes());
        }
        let path = snapshot.data_dir().search_head_path(&snapshot.model.manifest.name, layer, normalization);
        Some(Self { path, key: key.value() })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The index kept in the file, if the file is there, was fitted on this
    /// library (`tracks` tracks of `dim` values) and is whole.
    pub fn load(&self, tracks: usize, dim: usize) -> Option<CachedIndex> {
        let map = match map_file(&self.path) {
            Ok(map) => map?,
            Err(e) => {
                log::debug!("search head {}: {e}", self.path.display());
                return None;
            }
        };
        let read_u32 = |at: usize| Some(u32::from_le_bytes(map.get(at..at + 4)?.try_into().ok()?));
        let read_u64 = |at: usize| Some(u64::from_le_bytes(map.get(at..at + 8)?.try_into().ok()?));
        let width = usize::try_from(read_u32(36)?).ok()?;
        let expected = header(self.key, tracks, dim, width)?;
        if map.get(..CHECKSUM_AT)? != expected.as_slice() || width == 0 || width % BAND_WIDTH != 0 {
            log::debug!("search head {}: another library's, or another format's", self.path.display());
            return None;
        }
        let sections = Sections::new(tracks, dim, width)?;
        let pieces: Option<Vec<&[u8]>> = sections.pieces(width / BAND_WIDTH).into_iter().map(|range| map.get(range)).collect();
        let whole = map.len() == sections.len() && pieces.is_some_and(|pieces| read_u64(CHECKSUM_AT) == Some(checksum(&expected, &pieces)));
        if !whole {
            log::warn!("search head {} is damaged; fitting it again", self.path.display());
            return None;
        }
        let f32s = |range: &Range<usize>| -> Option<Vec<f32>> {
            Some(bytemuck::try_cast_slice::<u8, f32>(map.get(range.clone())?).ok()?.to_vec())
        };
        let axes = Array2::from_shape_vec((dim, width), f32s(&sections.axes)?).ok()?;
        let (mean, scale, inverse_norms) = (f32s(&sections.mean)?, f32s(&sections.scale)?, f32s(&sections.inverse_norms)?);
        Some(CachedIndex { mean, scale, inverse_norms, axes, head: MappedHead { map, sections, bands: width / BAND_WIDTH } })
    }

    /// Replaces the file with `parts`.
    pub fn store(&self, parts: &HeadParts<'_>) -> std::io::Result<()> {
        let (tracks, dim, width) = (parts.inverse_norms.len(), parts.mean.len(), parts.axes.ncols());
        let invalid = || std::io::Error::new(std::io::ErrorKind::InvalidInput, "search head of inconsistent shape");
        let header = header(self.key, tracks, dim, width).ok_or_else(invalid)?;
        let sections = Sections::new(tracks, dim, width).ok_or_else(invalid)?;
        let axes = parts.axes.as_standard_layout();
        let band_count = width / BAND_WIDTH;
        let consistent = parts.scale.len() == dim
            && axes.nrows() == dim
            && parts.bands.len() == band_count
            && parts.rests.len() == band_count
            && parts.bands.iter().all(|band| band.len() == tracks * BAND_WIDTH)
            && parts.rests.iter().all(|rests| rests.len() == tracks);
        let axes = axes.as_slice().filter(|_| consistent).ok_or_else(invalid)?;
        // Every piece's bytes, in file order, as `Sections::pieces` lists them.
        let pieces: Vec<&[u8]> = [parts.mean, parts.scale, parts.inverse_norms, axes]
            .into_iter()
            .map(bytemuck::cast_slice)
            .chain(parts.rests.iter().map(|rests| bytemuck::cast_slice(rests)))
            .chain(parts.bands.iter().map(|band| bytemuck::cast_slice(band)))
            .collect();
        let sum = checksum(&header, &pieces);
        replace_file_with(&self.path, |out: &mut dyn Write| {
            out.write_all(&header)?;
            out.write_all(&sum.to_le_bytes())?;
            let mut at = CHECKSUM_AT + 8;
            for (range, piece) in sections.pieces(band_count).iter().zip(&pieces) {
                out.write_all(&vec![0u8; range.start - at])?;
                out.write_all(piece)?;
                at = range.end;
            }
            out.write_all(&vec![0u8; sections.len() - at])
        })
    }
}

/// The checksum of a file's header fields and its pieces ([`Sections::pieces`]).
fn checksum(header: &[u8], pieces: &[&[u8]]) -> u64 {
    let mut sum = RowChecksum::default();
    sum.add_bytes(header);
    for piece in pieces {
        sum.add_bytes(piece);
    }
    sum.value()
}
