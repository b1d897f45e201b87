//! Other recordings of the same work: finding them from the audio and aligning them.
//!
//! [`features`] turns a file into tuned chroma, chroma onsets, CENS and a
//! bass line; [`summary`] gives each track a cheap key-invariant summary that
//! picks the candidates; [`verify`] scores a candidate by how much of the two
//! CENS sequences and of the two bass lines match in order under the best key
//! shift; [`calibrate`] turns scores into the probability that two tracks are
//! recordings of the same piece, fitted on the library itself without labels; [`align`] maps the
//! times of one recording onto another. [`cache`] keeps a library's
//! identification features between runs, [`found`] what the last search of
//! the whole library found.
//!
//! This module reads audio files and keeps its two files in the data folder;
//! it never writes the catalog or the vector store.

pub mod align;
pub mod cache;
pub mod calibrate;
pub mod features;
pub mod found;
pub mod summary;
pub mod verify;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::audio::AudioError;
use cache::{FeatureCache, FileStamp};
use features::IdentFeatures;

/// How [`find_versions`] searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchOptions {
    /// Verify only the best candidates of the cheap stages (else every pair).
    pub prefilter: bool,
    /// Candidates per query the summary passes on to the coarse verification.
    pub shortlist: usize,
    /// Candidates per query the coarse verification passes on to the full one.
    pub candidates: usize,
    /// Results kept per query.
    pub results: usize,
}

impl Default for SearchOptions {
    fn default() -> Self {
        Self { prefilter: true, shortlist: 128, candidates: 32, results: 10 }
    }
}

/// Another recording found for a query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VersionMatch {
    /// Index of the track in the list searched.
    pub track: usize,
    /// Estimated probability (0..1) that it is another recording of the same piece.
    pub confidence: f32,
    /// The verification score behind it ([`verify::Match::score`]: shares of the shorter track matched in order).
    pub score: f32,
    /// Semitones the track is shifted up to match the query's key (0..12).
    pub key_shift: usize,
}

/// For every track, the others most likely to be recordings of the same
/// piece, most likely first. With the prefilter, three stages: the
/// key-invariant summary shortlists [`SearchOptions::shortlist`] candidates
/// per query, the same verification on features [`verify::COARSE_FACTOR`] times
/// coarser ranks them (about that factor squared cheaper per pair), and its
/// best [`SearchOptions::candidates`] are verified in full.
pub fn find_versions(library: &[IdentFeatures], options: SearchOptions) -> Vec<Vec<VersionMatch>> {
    let n = library.len();
    let candidates: Vec<Vec<usize>> = if options.prefilter && n > options.candidates + 1 {
        let summaries: Vec<summary::Summary> = parallel_map("versions-summary", library, summary::summarise);
        let summarised = summary::standardise(&summaries);
        if options.shortlist <= options.candidates {
            // No coarse stage: the summary's best go straight to verification.
            summary::candidates(&summarised, options.candidates)
        } else {
            coarse_ranked(library, &summary::candidates(&summarised, options.shortlist), options.candidates)
        }
    } else {
        (0..n).map(|q| (0..n).filter(|&c| c != q).collect()).collect()
    };
    let verified: HashMap<(usize, usize), verify::Match> = verify_pairs("versions-verify", library, &candidates).into_iter().collect();
    let nulls = calibrate::null_samples(library, &candidates);
    let model = calibrate::Calibration::fit(&nulls, verified.iter().map(|(&(a, b), m)| (a, b, m.score)));
    candidates
        .iter()
        .enumerate()
        .map(|(q, cs)| {
            let mut results: Vec<VersionMatch> = cs
                .iter()
                .filter_map(|&c| {
                    let found = verified.get(&(q.min(c), q.max(c)))?;
                    // The shift was found moving the higher index onto the lower.
                    let key_shift = if q < c { found.key_shift } else { (features::N_CHROMA - found.key_shift) % features::N_CHROMA };
                    Some(VersionMatch { track: c, confidence: model.confidence(q, c, found.score), score: found.score, key_shift })
                })
                .collect();
            results.sort_by(|a, b| b.confidence.total_cmp(&a.confidence).then(b.score.total_cmp(&a.score)));
            results.truncate(options.results);
            results
        })
        .collect()
}

/// The `keep` of each query's `shortlist` that the coarse verification ranks highest, best first.
fn coarse_ranked(library: &[IdentFeatures], shortlist: &[Vec<usize>], keep: usize) -> Vec<Vec<usize>> {
    let coarse: Vec<IdentFeatures> = parallel_map("versions-coarse", library, verify::coarser);
    let scores: HashMap<(usize, usize), f32> =
        verify_pairs("versions-coarse-verify", &coarse, shortlist).into_iter().map(|(pair, m)| (pair, m.score)).collect();
    shortlist
        .iter()
        .enumerate()
        .map(|(q, cs)| {
            let mut ranked: Vec<(f32, usize)> = cs.iter().map(|&c| (scores[&(q.min(c), q.max(c))], c)).collect();
            ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
            ranked.into_iter().take(keep).map(|(_, c)| c).collect()
        })
        .collect()
}

/// [`verify::compare`] of every pair of a query and one of its candidates,
/// each unordered pair once (the score is symmetric), keyed (lower, higher).
fn verify_pairs(name: &str, library: &[IdentFeatures], candidates: &[Vec<usize>]) -> Vec<((usize, usize), verify::Match)> {
    let mut pairs: Vec<(usize, usize)> =
        candidates.iter().enumerate().flat_map(|(q, cs)| cs.iter().map(move |&c| (q.min(c), q.max(c)))).collect();
    pairs.sort_unstable();
    pairs.dedup();
    let matches = parallel_map(name, &pairs, |&(a, b)| verify::compare(&library[a], &library[b]));
    pairs.into_iter().zip(matches).collect()
}

/// Why a track's features are missing.
#[derive(Debug, thiserror::Error)]
pub enum FeatureError {
    /// The file could not be read or decoded.
    #[error(transparent)]
    Audio(#[from] AudioError),
    /// The file vanished or cannot be inspected.
    #[error("cannot read file metadata")]
    Missing,
}

/// Identification features of `paths`, from `cache` where the file is
/// unchanged, decoded in parallel otherwise (and added to `cache`).
pub fn library_features(
    paths: &[PathBuf],
    cache: &mut FeatureCache,
    progress: &(dyn Fn(usize) + Sync),
) -> Vec<Result<IdentFeatures, FeatureError>> {
    let stamps: Vec<Option<FileStamp>> = paths.iter().map(|p| FileStamp::of(p)).collect();
    let done = AtomicUsize::new(0);
    let computed = parallel_map("versions-decode", &(0..paths.len()).collect::<Vec<_>>(), |&i| {
        let stamp = stamps[i].ok_or(FeatureError::Missing)?;
        let result = match cache.get(&paths[i], stamp) {
            Some(features) => Ok((features.clone(), false)),
            None => features::fine_features(&paths[i]).map(|f| (f.ident, true)).map_err(FeatureError::from),
        };
        progress(done.fetch_add(1, Ordering::Relaxed) + 1);
        result
    });
    computed
        .into_iter()
        .zip(paths.iter().zip(&stamps))
        .map(|(result, (path, stamp))| {
            let (features, fresh) = result?;
            if let (true, Some(stamp)) = (fresh, stamp) {
                cache.insert(path.clone(), *stamp, features.clone());
            }
            Ok(features)
        })
        .collect()
}

/// `work` applied to every item on the machine's cores, each core taking the
/// next item when it is free (tracks differ in length), results in item order.
fn parallel_map<T: Sync, R: Send>(name: &str, items: &[T], work: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get()).min(8);
    let pieces = crate::parallel::map_ranges(name, cores.min(items.len()), 1, |_| {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else { break };
            done.push((i, work(item)));
        }
        done
    });
    let mut all: Vec<(usize, R)> = pieces.into_iter().flatten().collect();
    all.sort_unstable_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, r)| r).collect()
}
