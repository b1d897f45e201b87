//! Choosing the best mix of layers for a label, and saying how well the choice generalises (`strata eval --best-mix`).
//!
//! The candidates are every set of the distinct layers the probe's aspects
//! resolve to ([`mix_candidates`]). Choosing the best on the same labels it is
//! scored on flatters it, so [`best_mix_rows`] also reports a held-out
//! choice: the tracks are split into two random halves, each half's queries
//! are ranked by the mix chosen within the other half. Ranking is the
//! caller's (it owns the search engine); this module only chooses and scores.

use crate::insight::aspects::ResolvedAspect;
use crate::insight::eval::{Evaluation, evaluate_rankings, evaluate_rankings_where};
use crate::search::Facet;

/// The two rows of `eval --best-mix`: the held-out choice and the in-sample best.
pub fn best_mix_rows(
    candidates: &[Vec<Facet>],
    mut rank: impl FnMut(&[Facet]) -> Vec<Vec<usize>>,
    labels: &[Option<String>],
    k: usize,
    exclude: &dyn Fn(usize, usize) -> bool,
    layer_names: &[String],
) -> Vec<(String, Evaluation)> {
    let halves = crate::insight::probe::kfold_assignment(labels.len(), 2, MIX_SPLIT_SEED);
    // Per candidate: P@k within each half (queries and candidates from that
    // half only, so no pair a choice is made on is scored later), and the
    // evaluation over all queries.
    let scored: Vec<([f64; 2], Evaluation)> = candidates
        .iter()
        .map(|facets| {
            let rankings = rank(facets);
            let within_half = |half: usize| {
                let exclude_other_half = |q: usize, c: usize| halves[c] != half || exclude(q, c);
                evaluate_rankings_where(&rankings, labels, k, &exclude_other_half, &|q| halves[q] == half).metrics.precision_at_k
            };
            ([within_half(0), within_half(1)], evaluate_rankings(&rankings, labels, k, exclude))
        })
        .collect();
    // Ties go to the earlier candidate, which compares on fewer layers.
    let best =
        |score: &dyn Fn(usize) -> f64| (0..candidates.len()).max_by(|&a, &b| score(a).total_cmp(&score(b)).then(b.cmp(&a))).unwrap_or(0);
    let chosen_within = [best(&|i| scored[i].0[0]), best(&|i| scored[i].0[1])];
    // The queries of each half, over every candidate track, ranked by the mix the other half chose.
    let held_out: Vec<Vec<usize>> = if chosen_within[0] == chosen_within[1] {
        rank(&candidates[chosen_within[0]])
    } else {
        let (for_half_0, for_half_1) = (rank(&candidates[chosen_within[1]]), rank(&candidates[chosen_within[0]]));
        for_half_0.into_iter().zip(for_half_1).zip(&halves).map(|((r0, r1), &half)| if half == 0 { r0 } else { r1 }).collect()
    };
    let name = |i: usize| mix_name_of(&candidates[i], layer_names);
    let in_sample = best(&|i| scored[i].1.metrics.precision_at_k);
    vec![
        (
            format!("best mix, held out [{} | {}]", name(chosen_within[1]), name(chosen_within[0])),
            evaluate_rankings(&held_out, labels, k, exclude),
        ),
        (format!("best mix in-sample [{}]", name(in_sample)), scored[in_sample].1),
    ]
}

/// Seed of the random halves `eval --best-mix` chooses and scores on.
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
    fn the_held_out_row_ranks_each_half_by_the_mix_the_other_half_chose() {
        // Two labels; "timbre" retrieves only for the queries of half 0,
        // "harmony" only for those of half 1, both together for none.
        let tracks = 16;
        let labels: Vec<Option<String>> = (0..tracks).map(|i| Some(if i % 2 == 0 { "a" } else { "b" }.to_string())).collect();
        let halves = crate::insight::probe::kfold_assignment(tracks, 2, MIX_SPLIT_SEED);
        let ranked = |q: usize, same_label_first: bool| {
            let mut ranking: Vec<usize> = (0..tracks).filter(|&c| c != q).collect();
            ranking.sort_by_key(|&c| ((c % 2 == q % 2) != same_label_first, c));
            ranking
        };
        let candidates = mix_candidates(&[aspect("timbre", 0), aspect("harmony", 1)]);
        let rank = |facets: &[Facet]| -> Vec<Vec<usize>> {
            (0..tracks).map(|q| ranked(q, facets.len() == 1 && facets[0].layer == halves[q])).collect()
        };
        let rows = best_mix_rows(&candidates, rank, &labels, 1, &|_, _| false, &["mean".into(), "tonal".into()]);
        let names: Vec<&str> = rows.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["best mix, held out [harmony@tonal | timbre@mean]", "best mix in-sample [timbre@mean]"]);
        // Chosen and scored on the same labels a layer looks right for half the
        // queries; chosen on the other half it is right for none.
        assert_eq!(rows[0].1.metrics.precision_at_k, 0.0);
        assert_eq!(rows[1].1.metrics.precision_at_k, 0.5);
    }
}
