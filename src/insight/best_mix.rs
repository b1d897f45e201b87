//! Choosing the best mix of layers for a label, and saying how well the choice generalises (`strata eval --best-mix`).
//!
//! The candidates are every set of the distinct layers the probe's aspects
//! resolve to ([`mix_candidates`]), or every single layer. Choosing the best
//! on the same labels it is scored on flatters it, so [`best_mix_rows`]
//! reports the choice held out under each split it is given (by work, one
//! collection left out: see [`crate::insight::held_out`]) beside the
//! flattering in-sample best. Ranking is the caller's (it owns the search
//! engine); this module only names, chooses and scores.

use crate::insight::aspects::ResolvedAspect;
use crate::insight::eval::{Evaluation, Hubness, evaluate_rankings, hubness};
use crate::insight::held_out::{self, Split};
use crate::search::Facet;

/// One row of `eval --best-mix`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MixRow {
    /// What was chosen how (`best mix, held out by work (5 folds)`).
    pub name: String,
    /// The rankings' retrieval figures.
    pub evaluation: Evaluation,
    /// Their hubness.
    pub hubness: Hubness,
    /// The distinct candidates chosen (one per fold held out, in fold order), by name.
    pub chosen: Vec<String>,
}

/// The rows of `eval --best-mix` for one family of candidates (`what`: "best
/// mix", "best layer"): one held-out row per split, and the in-sample best.
#[allow(clippy::too_many_arguments, reason = "the evaluation's parts, each needed once")]
pub fn best_mix_rows(
    what: &str,
    candidates: &[Vec<Facet>],
    mut rank: impl FnMut(&[Facet]) -> Vec<Vec<usize>>,
    labels: &[Option<String>],
    k: usize,
    exclude: &dyn Fn(usize, usize) -> bool,
    layer_names: &[String],
    splits: &[Split],
) -> Vec<MixRow> {
    let choice = held_out::choose(candidates.len(), |i| rank(&candidates[i]), labels, k, exclude, splits);
    let name = |i: usize| candidates.get(i).map_or_else(String::new, |c| mix_name_of(c, layer_names));
    let mut rows: Vec<MixRow> = splits
        .iter()
        .zip(&choice.held_out)
        .map(|(split, held)| {
            let mut chosen: Vec<String> = Vec::new();
            for i in &held.chosen {
                if !chosen.contains(&name(*i)) {
                    chosen.push(name(*i));
                }
            }
            MixRow {
                name: format!("{what}, held out {}", split.name),
                evaluation: evaluate_rankings(&held.rankings, labels, k, exclude),
                hubness: hubness(&held.rankings, k),
                chosen,
            }
        })
        .collect();
    let (in_sample, evaluation) = choice.in_sample;
    let in_sample_hubness = candidates.get(in_sample).map_or(hubness(&[], k), |c| hubness(&rank(c), k));
    rows.push(MixRow { name: format!("{what} in-sample"), evaluation, hubness: in_sample_hubness, chosen: vec![name(in_sample)] });
    rows
}

/// Seed of the random order in which `eval --best-mix` deals works out to folds.
pub const MIX_SPLIT_SEED: u64 = 7;

/// The mixes `eval --best-mix` tries: every non-empty set of the distinct
/// layers the aspects resolve to (aspects sharing a layer rank alike), each
/// layer named by its first aspect; fewer layers first.
pub fn mix_candidates(resolved: &[ResolvedAspect]) -> Vec<Vec<Facet>> {
    let mut layers: Vec<Facet> = Vec::new();
    for aspect in resolved {
        if !layers.iter().any(|f| f.layer == aspect.layer) {
            layers.push(Facet { name: aspect.name.clone(), layer: aspect.layer });
        }
    }
    let mut sets: Vec<u32> = (1..1u32 << layers.len()).collect();
    sets.sort_by_key(|set| (set.count_ones(), *set));
    sets.iter().map(|set| layers.iter().enumerate().filter(|(i, _)| set & (1 << i) != 0).map(|(_, f)| f.clone()).collect()).collect()
}

/// `timbre@mean_pool+harmony@tonal`: what `--aspect timbre --aspect harmony` reproduces.
pub fn mix_name_of(facets: &[Facet], layer_names: &[String]) -> String {
    facets.iter().map(|f| format!("{}@{}", f.name, layer_names.get(f.layer).map_or("?", String::as_str))).collect::<Vec<_>>().join("+")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aspect(name: &str, layer: usize) -> ResolvedAspect {
        ResolvedAspect { name: name.into(), label: name.into(), layer, layer_name: format!("l{layer}"), r2: 0.5 }
    }

    #[test]
    fn candidates_are_the_sets_of_distinct_layers_fewer_first_named_by_their_first_aspect() {
        let resolved = [aspect("timbre", 2), aspect("texture", 2), aspect("harmony", 5)];
        let names: Vec<String> = mix_candidates(&resolved).iter().map(|facets| mix_name_of(facets, &[])).collect();
        assert_eq!(names, ["timbre@?", "harmony@?", "timbre@?+harmony@?"]);
        assert!(mix_candidates(&[]).is_empty());
    }

    #[test]
    fn the_held_out_row_ranks_each_fold_by_the_mix_the_other_folds_chose() {
        // Two labels in two collections; "timbre" retrieves only for the
        // queries of collection 0, "harmony" only for those of collection 1,
        // both together for none.
        let tracks = 16;
        let labels: Vec<Option<String>> = (0..tracks).map(|i| Some(if i % 2 == 0 { "a" } else { "b" }.to_string())).collect();
        let collection = |t: usize| t / 8;
        let collections: Vec<Option<String>> = (0..tracks).map(|t| Some(format!("c{}", collection(t)))).collect();
        let ranked = |q: usize, same_label_first: bool| {
            let mut ranking: Vec<usize> = (0..tracks).filter(|&c| c != q).collect();
            ranking.sort_by_key(|&c| ((c % 2 == q % 2) != same_label_first, c));
            ranking
        };
        let candidates = mix_candidates(&[aspect("timbre", 0), aspect("harmony", 1)]);
        let rank = |facets: &[Facet]| -> Vec<Vec<usize>> {
            (0..tracks).map(|q| ranked(q, facets.len() == 1 && facets[0].layer == collection(q))).collect()
        };
        let splits = [Split::one_per_group("by collection", &collections)];
        let rows = best_mix_rows("best mix", &candidates, rank, &labels, 1, &|_, _| false, &["mean".into(), "tonal".into()], &splits);
        let names: Vec<(&str, Vec<&str>)> = rows.iter().map(|r| (r.name.as_str(), r.chosen.iter().map(String::as_str).collect())).collect();
        assert_eq!(
            names,
            [("best mix, held out by collection", vec!["harmony@tonal", "timbre@mean"]), ("best mix in-sample", vec!["timbre@mean"])]
        );
        // Chosen and scored on the same labels a layer looks right for half the
        // queries; chosen on the other collection it is right for none.
        assert_eq!(rows[0].evaluation.metrics.precision_at_k, 0.0);
        assert_eq!(rows[1].evaluation.metrics.precision_at_k, 0.5);
        assert_eq!(rows[0].hubness.k, 1);
    }
}
