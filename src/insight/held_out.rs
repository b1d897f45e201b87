//! Choices that cannot flatter themselves: a choice among rankings (a layer,
//! a mix of layers, a normalisation) is made on some tracks' labels and
//! scored on the others'.
//!
//! The tracks are split into folds ([`Split`]). For each fold, the candidate
//! with the best mean P@k over the queries *and* candidates of the other
//! folds is chosen (no pair inside the fold is seen), and the fold's queries
//! are ranked by that choice over every track. The pooled rankings are then
//! scored as any other ranking: the figure is what the procedure that
//! chooses would give on music it did not choose on. Two ways to split:
//!
//! * **by work** ([`Split::by_group`] over work labels): every movement of a
//!   work falls in one fold, so a choice is never scored on the siblings of
//!   the tracks it was made on (which share a recording and a score);
//! * **leave one collection out** ([`Split::one_per_group`]): one fold per
//!   collection (a composer's corpus, the quartets…): a choice made on every
//!   other style, scored on the one left out.
//!
//! Ties go to the earlier candidate, so callers list simpler candidates first.
//! Ranking is the caller's; this module only splits, chooses and pools.

use std::collections::BTreeSet;

use crate::insight::eval::{Evaluation, evaluate_rankings, evaluate_rankings_where};

/// A partition of the tracks into folds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// What the split is, in words (`by work, 5 folds`).
    pub name: String,
    /// The fold of each track.
    pub fold_of: Vec<usize>,
    /// What each fold holds (a collection's name, or `fold 3`).
    pub fold_names: Vec<String>,
}

impl Split {
    /// `folds` folds of whole groups: the distinct groups in a seeded random
    /// order, dealt out in turn. A track without a group is a group of its own.
    pub fn by_group(name: &str, groups: &[Option<String>], folds: usize, seed: u64) -> Self {
        let keys = group_keys(groups);
        let distinct: Vec<&String> = keys.iter().collect::<BTreeSet<_>>().into_iter().collect();
        let folds = folds.clamp(1, distinct.len().max(1));
        let mut order: Vec<usize> = (0..distinct.len()).collect();
        let mut rng = crate::prng::SplitMix64(seed);
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i + 1));
        }
        let mut fold_of_group = vec![0; distinct.len()];
        for (position, &group) in order.iter().enumerate() {
            fold_of_group[group] = position % folds;
        }
        let fold_of = keys.iter().map(|k| distinct.binary_search(&k).map_or(0, |g| fold_of_group[g])).collect();
        Self { name: name.to_string(), fold_of, fold_names: (0..folds).map(|f| format!("fold {}", f + 1)).collect() }
    }

    /// One fold per distinct group, in name order; tracks without a group form one fold, `(none)`.
    pub fn one_per_group(name: &str, groups: &[Option<String>]) -> Self {
        let named: Vec<String> = groups.iter().map(|g| g.clone().filter(|g| !g.is_empty()).unwrap_or_else(|| "(none)".into())).collect();
        let fold_names: Vec<String> = named.iter().cloned().collect::<BTreeSet<_>>().into_iter().collect();
        let fold_of = named.iter().map(|g| fold_names.binary_search(g).unwrap_or(0)).collect();
        Self { name: name.to_string(), fold_of, fold_names }
    }

    /// Number of folds.
    pub fn folds(&self) -> usize {
        self.fold_names.len()
    }
}

/// Each track's group key; a track without one gets a key no label can equal.
fn group_keys(groups: &[Option<String>]) -> Vec<String> {
    groups
        .iter()
        .enumerate()
        .map(|(t, g)| match g.as_deref() {
            Some(g) if !g.is_empty() => format!("={g}"),
            _ => format!("#{t}"),
        })
        .collect()
}

/// The outcome of a held-out choice under one split.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldOut {
    /// The candidate chosen for each fold (chosen on the other folds).
    pub chosen: Vec<usize>,
    /// Every query's ranking by its fold's choice.
    pub rankings: Vec<Vec<usize>>,
}

/// What [`choose`] returns: one [`HeldOut`] per split, and the in-sample best
/// (chosen and scored on every label, which flatters it) with its evaluation.
pub struct Choice {
    /// Per split, in the order given.
    pub held_out: Vec<HeldOut>,
    /// The candidate with the best P@k over all queries, and its evaluation.
    pub in_sample: (usize, Evaluation),
}

/// Chooses among `candidates` rankings (`rank(i)` ranks every query by
/// candidate `i`, best first) by mean P@k on `labels`, held out under each of
/// `splits` (see the module doc). Each candidate is ranked once, and each
/// chosen one once more; `exclude` is the evaluation's own exclusion.
pub fn choose(
    candidates: usize,
    mut rank: impl FnMut(usize) -> Vec<Vec<usize>>,
    labels: &[Option<String>],
    k: usize,
    exclude: &dyn Fn(usize, usize) -> bool,
    splits: &[Split],
) -> Choice {
    // scores[s][f][i]: P@k of candidate i on split s without fold f.
    let mut scores: Vec<Vec<Vec<f64>>> = splits.iter().map(|s| (0..s.folds()).map(|_| Vec::with_capacity(candidates)).collect()).collect();
    let mut in_sample: Vec<Evaluation> = Vec::with_capacity(candidates);
    for i in 0..candidates {
        let rankings = rank(i);
        for (split, per_fold) in splits.iter().zip(&mut scores) {
            for (fold, fold_scores) in per_fold.iter_mut().enumerate() {
                let outside = |t: usize| split.fold_of.get(t).is_some_and(|&f| f != fold);
                let exclude_fold = |q: usize, c: usize| !outside(c) || exclude(q, c);
                fold_scores.push(evaluate_rankings_where(&rankings, labels, k, &exclude_fold, &outside).metrics.precision_at_k);
            }
        }
        in_sample.push(evaluate_rankings(&rankings, labels, k, exclude));
    }
    let best = |score: &dyn Fn(usize) -> f64| (0..candidates).max_by(|&a, &b| score(a).total_cmp(&score(b)).then(b.cmp(&a))).unwrap_or(0);
    let chosen: Vec<Vec<usize>> =
        scores.iter().map(|per_fold| per_fold.iter().map(|fold_scores| best(&|i| fold_scores[i])).collect()).collect();
    let mut pooled: Vec<Vec<Vec<usize>>> = vec![vec![Vec::new(); labels.len()]; splits.len()];
    let mut needed: Vec<usize> = chosen.iter().flatten().copied().collect::<BTreeSet<_>>().into_iter().collect();
    needed.retain(|&i| i < candidates);
    for candidate in needed {
        let rankings = rank(candidate);
        for ((split, chosen), pooled) in splits.iter().zip(&chosen).zip(&mut pooled) {
            for (q, ranking) in rankings.iter().enumerate() {
                if split.fold_of.get(q).is_some_and(|&f| chosen[f] == candidate)
                    && let Some(slot) = pooled.get_mut(q)
                {
                    slot.clone_from(ranking);
                }
            }
        }
    }
    let best_in_sample = best(&|i| in_sample[i].metrics.precision_at_k);
    Choice {
        held_out: chosen.into_iter().zip(pooled).map(|(chosen, rankings)| HeldOut { chosen, rankings }).collect(),
        in_sample: (best_in_sample, in_sample.get(best_in_sample).copied().unwrap_or(evaluate_rankings(&[], labels, k, exclude))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(values: &[&str]) -> Vec<Option<String>> {
        values.iter().map(|v| (!v.is_empty()).then(|| v.to_string())).collect()
    }

    #[test]
    fn group_folds_keep_every_work_whole_and_use_every_fold() {
        let works = labels(&["a", "a", "b", "c", "c", "c", "d", "", "", "e"]);
        let split = Split::by_group("by work", &works, 3, 7);
        assert_eq!(split.folds(), 3);
        for (x, y) in [(0, 1), (3, 4), (4, 5)] {
            assert_eq!(split.fold_of[x], split.fold_of[y], "a work is never cut");
        }
        for fold in 0..3 {
            assert!(split.fold_of.contains(&fold), "fold {fold} is empty: {:?}", split.fold_of);
        }
        // Seeded: the same split every time; never more folds than groups.
        assert_eq!(split, Split::by_group("by work", &works, 3, 7));
        assert_eq!(Split::by_group("x", &labels(&["a", "a"]), 5, 1).folds(), 1);
    }

    #[test]
    fn one_fold_per_collection_in_name_order() {
        let split = Split::one_per_group("collection", &labels(&["quartets", "palestrina", "", "quartets"]));
        assert_eq!(split.fold_names, ["(none)", "palestrina", "quartets"]);
        assert_eq!(split.fold_of, [2, 1, 0, 2]);
    }

    #[test]
    fn each_fold_is_ranked_by_the_choice_made_without_it() {
        // Two collections of two labels each. Candidate 0 retrieves the right
        // label only for queries of collection "x", candidate 1 only for "y".
        let tracks = 16;
        let label: Vec<Option<String>> = (0..tracks).map(|t| Some(format!("{}{}", t / 8, t % 2))).collect();
        let collection: Vec<Option<String>> = (0..tracks).map(|t| Some(if t < 8 { "x" } else { "y" }.to_string())).collect();
        let rank = |candidate: usize| -> Vec<Vec<usize>> {
            (0..tracks)
                .map(|q| {
                    let right = (q < 8) == (candidate == 0);
                    let mut ranking: Vec<usize> = (0..tracks).filter(|&c| c != q).collect();
                    ranking.sort_by_key(|&c| ((label[c] == label[q]) != right, c));
                    ranking
                })
                .collect()
        };
        let split = Split::one_per_group("collection", &collection);
        let choice = choose(2, rank, &label, 3, &|_, _| false, std::slice::from_ref(&split));
        // Left out "x", the choice is made on "y": candidate 1, wrong for "x"; and the other way round.
        assert_eq!(choice.held_out[0].chosen, [1, 0]);
        let held_out = evaluate_rankings(&choice.held_out[0].rankings, &label, 3, &|_, _| false);
        assert_eq!(held_out.metrics.precision_at_k, 0.0);
        // In-sample each candidate is right for half the queries; the tie goes to the first.
        assert_eq!(choice.in_sample.0, 0);
        assert_eq!(choice.in_sample.1.metrics.precision_at_k, 0.5);
        // A candidate right for everyone is chosen in every fold and keeps its score held out.
        let perfect = |_: usize| rank(0).into_iter().zip(rank(1)).enumerate().map(|(q, (a, b))| if q < 8 { a } else { b }).collect();
        let choice = choose(1, perfect, &label, 3, &|_, _| false, &[split]);
        let held_out = evaluate_rankings(&choice.held_out[0].rankings, &label, 3, &|_, _| false);
        assert_eq!(held_out.metrics.precision_at_k, 1.0);
    }
}
