//! How well inferred works agree with labelled ones: pairwise precision, recall and F1 of "same work".
//!
//! Two tracks are the same work for the inference when their works share a
//! [`super::Work::work_key`] (so two recordings of one work count as one, as
//! a label column does), and for the labels when their labels are equal.
//! Only tracks with a label take part.

use std::collections::HashMap;

use serde::Serialize;

use super::Works;

/// Pairwise agreement of inferred works with labels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PairScores {
    /// Tracks with a label (the only ones scored).
    pub labelled_tracks: usize,
    /// Pairs of labelled tracks with the same label.
    pub labelled_pairs: u64,
    /// Pairs of labelled tracks the inference puts in the same work.
    pub inferred_pairs: u64,
    /// Pairs both agree are the same work.
    pub agreeing_pairs: u64,
    /// `agreeing_pairs / inferred_pairs` (1 when the inference pairs nothing).
    pub precision: f64,
    /// `agreeing_pairs / labelled_pairs` (1 when the labels pair nothing).
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
}

/// Scores `works` against one label per track (`None`: unlabelled, left out).
pub fn pairwise_scores(works: &Works, labels: &[Option<String>]) -> PairScores {
    let mut by_label: HashMap<&str, u64> = HashMap::new();
    let mut by_work: HashMap<&str, u64> = HashMap::new();
    let mut by_both: HashMap<(&str, &str), u64> = HashMap::new();
    let mut labelled_tracks = 0;
    for (track, label) in labels.iter().enumerate() {
        let (Some(label), Some(&work)) = (label, works.work_of_track.get(track)) else { continue };
        let work_key = works.works[work].work_key.as_str();
        labelled_tracks += 1;
        *by_label.entry(label).or_default() += 1;
        *by_work.entry(work_key).or_default() += 1;
        *by_both.entry((label, work_key)).or_default() += 1;
    }
    let pairs = |counts: &mut dyn Iterator<Item = &u64>| counts.map(|&n| n * n.saturating_sub(1) / 2).sum::<u64>();
    let labelled_pairs = pairs(&mut by_label.values());
    let inferred_pairs = pairs(&mut by_work.values());
    let agreeing_pairs = pairs(&mut by_both.values());
    let ratio = |part: u64, whole: u64| if whole == 0 { 1.0 } else { part as f64 / whole as f64 };
    let precision = ratio(agreeing_pairs, inferred_pairs);
    let recall = ratio(agreeing_pairs, labelled_pairs);
    let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
    PairScores { labelled_tracks, labelled_pairs, inferred_pairs, agreeing_pairs, precision, recall, f1 }
}

#[cfg(test)]
mod tests {
    use super::super::{Work, WorkSource};
    use super::*;

    fn works(keys: &[&str]) -> Works {
        let works = keys
            .iter()
            .enumerate()
            .map(|(i, key)| Work {
                id: i.to_string(),
                work_key: key.to_string(),
                title: key.to_string(),
                composer: None,
                catalogue: None,
                source: WorkSource::Single,
                tracks: vec![i],
            })
            .collect();
        Works::from_works(works, vec![None; keys.len()])
    }

    fn labels(values: &[Option<&str>]) -> Vec<Option<String>> {
        values.iter().map(|v| v.map(str::to_string)).collect()
    }

    #[test]
    fn pairs_are_counted_over_labelled_tracks() {
        // Inferred: {0,1,2} {3}; labelled: {0,1} {2,3}; track 4 unlabelled.
        let scores = pairwise_scores(&works(&["a", "a", "a", "b", "a"]), &labels(&[Some("x"), Some("x"), Some("y"), Some("y"), None]));
        assert_eq!((scores.labelled_tracks, scores.labelled_pairs, scores.inferred_pairs, scores.agreeing_pairs), (4, 2, 3, 1));
        assert!((scores.precision - 1.0 / 3.0).abs() < 1e-12 && (scores.recall - 0.5).abs() < 1e-12);
        assert!((scores.f1 - 0.4).abs() < 1e-12);
    }

    #[test]
    fn a_perfect_inference_scores_one() {
        let scores = pairwise_scores(&works(&["a", "a", "b"]), &labels(&[Some("x"), Some("x"), Some("y")]));
        assert_eq!((scores.precision, scores.recall, scores.f1), (1.0, 1.0, 1.0));
    }
}
