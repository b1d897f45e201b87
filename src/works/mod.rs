//! Works and movements: which tracks belong together, inferred from tags and titles.
//!
//! A *work* here is one recording of a work: the tracks of one album that play
//! together (a symphony's four movements, a mass's sections), in movement
//! order. Every [`Work`] also carries a [`Work::work_key`] shared by every
//! recording of the same work (same composer and catalogue number, or same
//! composer and normalised title), so "other recordings of this work" is a
//! comparison of keys. Ids are stable: derived from the key and the album,
//! never from row order, so they survive re-indexing and can key the user's
//! corrections ([`edits`]).
//!
//! Inference ([`infer`]) applies these rules, first match wins, and records
//! which one in [`Work::source`]:
//! 1. `tag`: a WORK tag names the work.
//! 2. `title_separator`: a title `Work: Movement`, `Work - I. Allegro`, whose
//!    prefix another track of the album shares or which carries a catalogue number;
//!    after a set's title (`6 Quartets, Op. 76: No. 2 … - I. Allegro`) the piece is the work.
//! 3. `catalogue_number`: tracks of one album with the same catalogue number
//!    ([`catalogue`]; `BWV 153.1` belongs to `BWV 153`).
//! 4. `shared_prefix`: consecutive tracks of one album whose titles share a long
//!    enough prefix.
//! 5. `album_work`: an album that is itself one work (a mass, a madrigal book, a cycle).
//! 6. `single`: otherwise a track is a work of its own.
//!
//! User corrections ([`edits`]) are applied last and mark the works they touch `user`.
//! Nothing here reads files or the catalog; callers pass tracks and edits in.

pub mod catalogue;
pub mod edits;
mod infer;
pub mod score;
pub mod similarity;
mod title;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

pub use edits::WorkEdit;
pub use score::{PairScores, pairwise_scores};

use crate::storage::catalog::Track;

/// Where a track's work assignment came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkSource {
    /// A WORK (or MusicBrainz work id) tag.
    Tag,
    /// The part of the title before a separator (`Work: Movement`).
    TitleSeparator,
    /// A catalogue number in the title (BWV, K., Op. …).
    CatalogueNumber,
    /// Consecutive tracks of one album sharing a title prefix.
    SharedPrefix,
    /// The album is one work.
    AlbumWork,
    /// A track on its own.
    Single,
    /// Found from the audio.
    Audio,
    /// The user's correction.
    User,
}

impl WorkSource {
    /// The name as serialized (`tag`, `title_separator`, …).
    pub fn name(self) -> &'static str {
        match self {
            Self::Tag => "tag",
            Self::TitleSeparator => "title_separator",
            Self::CatalogueNumber => "catalogue_number",
            Self::SharedPrefix => "shared_prefix",
            Self::AlbumWork => "album_work",
            Self::Single => "single",
            Self::Audio => "audio",
            Self::User => "user",
        }
    }
}

/// One recording of a work: its movements (tracks of one album), in movement order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Work {
    /// Stable id: derived from [`Self::work_key`] and the album, never from row order.
    pub id: String,
    /// Shared by every recording of the same work (composer and catalogue number, or composer and normalised title).
    pub work_key: String,
    /// Display title.
    pub title: String,
    /// Composer, when tagged.
    pub composer: Option<String>,
    /// Normalised catalogue number (`BWV 153`, `Op. 18 No. 1`), when known.
    pub catalogue: Option<String>,
    /// Which rule (or tag, or user) made it.
    pub source: WorkSource,
    /// Indices into the track slice it was inferred from, in movement order.
    pub tracks: Vec<usize>,
}

/// Every track's work, for one slice of tracks.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Works {
    /// The works, ordered by their first track's album position.
    pub works: Vec<Work>,
    /// For each track, the index of its work in [`Self::works`].
    pub work_of_track: Vec<usize>,
    /// For each track, its movement number when known.
    pub movement_of_track: Vec<Option<u32>>,
}

impl Works {
    /// Infers every track's work by the module's rules, then applies the user's `edits`.
    pub fn infer(tracks: &[Track], edits: &[WorkEdit]) -> Works {
        let inferred = infer::infer(tracks);
        edits::apply(inferred, tracks, edits)
    }

    /// The work `track` belongs to.
    ///
    /// # Panics
    /// When `track` is not an index into the slice these works were inferred from.
    pub fn work_of(&self, track: usize) -> &Work {
        &self.works[self.work_of_track[track]]
    }

    /// Index of the work with this id.
    pub fn find(&self, id: &str) -> Option<usize> {
        self.works.iter().position(|w| w.id == id)
    }

    /// Links the works of tracks found from the audio to be recordings of
    /// the same piece ([`crate::versions`]), given as `pairs` of tracks: the
    /// works of each connected group (joined by the pairs only, never through
    /// a shared key, so one pair cannot pull in every work that happens to
    /// share a weak key such as "Track 04") end up with one work key: the
    /// key of a work that names it (not a lone track's title), then the one
    /// most works of the library carry, then the smallest, so the tagged
    /// recordings of a work keep theirs. Works whose key changed are
    /// marked [`WorkSource::Audio`]. A work the user corrected keeps its key
    /// and takes no part. Ids do not change, so corrections still find their works.
    pub fn link_recordings(&mut self, pairs: impl IntoIterator<Item = (usize, usize)>) {
        let mut groups = UnionFind::new(self.works.len());
        let mut linked = false;
        for (a, b) in pairs {
            if let (Some(&wa), Some(&wb)) = (self.work_of_track.get(a), self.work_of_track.get(b))
                && self.works[wa].source != WorkSource::User
                && self.works[wb].source != WorkSource::User
            {
                linked |= groups.join(wa, wb);
            }
        }
        if !linked {
            return;
        }
        let mut works_per_key: HashMap<&str, usize> = HashMap::new();
        for work in &self.works {
            *works_per_key.entry(work.work_key.as_str()).or_default() += 1;
        }
        // Per group (by its root), the key to share: one that names the work
        // (not a lone track's title), then the one most works carry, then the smallest.
        let rank = |w: usize| {
            let work = &self.works[w];
            let names_the_work = !matches!(work.source, WorkSource::Single | WorkSource::Audio);
            (names_the_work, works_per_key[work.work_key.as_str()], std::cmp::Reverse(work.work_key.as_str()))
        };
        let mut chosen: HashMap<usize, usize> = HashMap::new();
        for w in 0..self.works.len() {
            let best = chosen.entry(groups.root(w)).or_insert(w);
            if rank(w) > rank(*best) {
                *best = w;
            }
        }
        let chosen: HashMap<usize, &str> = chosen.into_iter().map(|(root, w)| (root, self.works[w].work_key.as_str())).collect();
        let new_keys: Vec<Option<String>> = (0..self.works.len())
            .map(|w| {
                let key = chosen[&groups.root(w)];
                (key != self.works[w].work_key).then(|| key.to_string())
            })
            .collect();
        for (work, key) in self.works.iter_mut().zip(new_keys) {
            if let Some(key) = key {
                work.work_key = key;
                work.source = WorkSource::Audio;
            }
        }
    }

    /// Builds the lookup tables from works whose track lists cover `track_count` tracks exactly once.
    fn from_works(works: Vec<Work>, movement_of_track: Vec<Option<u32>>) -> Works {
        let mut work_of_track = vec![0; movement_of_track.len()];
        for (index, work) in works.iter().enumerate() {
            for &track in &work.tracks {
                work_of_track[track] = index;
            }
        }
        Works { works, work_of_track, movement_of_track }
    }
}

/// Disjoint sets of `0..n` (union by smaller root, path halving).
struct UnionFind {
    parent: Vec<usize>,
}

impl UnionFind {
    fn new(n: usize) -> Self {
        Self { parent: (0..n).collect() }
    }

    fn root(&mut self, mut k: usize) -> usize {
        while self.parent[k] != k {
            self.parent[k] = self.parent[self.parent[k]];
            k = self.parent[k];
        }
        k
    }

    /// Puts `a` and `b` in one set; whether they were apart.
    fn join(&mut self, a: usize, b: usize) -> bool {
        let (ra, rb) = (self.root(a), self.root(b));
        self.parent[ra.max(rb)] = ra.min(rb);
        ra != rb
    }
}

/// A stable 16-hex-digit id of `parts` (FNV-1a 64 over them, each ended by a zero byte).
/// Ids are stored in the user's corrections, so this must never change.
fn stable_id(parts: &[&str]) -> String {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash =
        parts.iter().flat_map(|part| part.bytes().chain([0])).fold(OFFSET, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(PRIME));
    format!("{hash:016x}")
}
