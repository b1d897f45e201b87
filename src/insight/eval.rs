//! Retrieval-quality metrics against labels, with exact random-ranking baselines.
//!
//! This module answers "how well does an embedding retrieve tracks that share a
//! label with the query?" (e.g. same composer), and, next to it, "what would a
//! uniformly random ranking of the same candidates score?". The baseline is
//! computed **exactly** (closed forms, no simulation), per query, with the same
//! number of candidates and relevant candidates as the real evaluation, and is
//! averaged the same way, so the two numbers are directly comparable.
//!
//! # Setting
//!
//! For one query there are `M` candidates (the query itself and any candidates
//! the caller excluded are *not* candidates), `R ≥ 1` of which are relevant.
//! A ranking lists the candidates best first; `rel_i ∈ {0, 1}` says whether the
//! item at 1-based rank `i` is relevant. All "@k" metrics use the effective
//! cut-off `k' = min(k, M)` (and `k = 0` is treated as `k = 1`).
//!
//! # Metric definitions
//!
//! * **P@k** = (number of relevant items in the top `k'`) / `k'`.
//! * **AP@k** = `(1 / min(k', R)) · Σ_{i ≤ k', rel_i = 1} P@i`;
//!   **mAP@k** is the mean of AP@k over queries.
//! * **nDCG@k** = `DCG@k / IDCG@k` with binary gains, where
//!   `DCG@k = Σ_{i ≤ k'} rel_i / log2(i + 1)` and `IDCG@k` is the DCG of an
//!   ideal ranking, i.e. of `min(R, k')` relevant items at the top.
//! * **MRR** = mean over queries of `1 / (rank of the first relevant item)` in
//!   the *full* ranking. If the ranking handed to [`evaluate`] was truncated
//!   and contains no relevant item, the query's reciprocal rank is taken as 0
//!   (the value then is MRR cut at the list length, a lower bound of the true
//!   MRR). Pass full rankings when MRR matters.
//! * **HitRate@k** = fraction of queries with at least one relevant item in the
//!   top `k'`.
//!
//! Every metric is averaged over the queries with at least one relevant
//! candidate (`R ≥ 1`); other queries are skipped and not counted in
//! [`RetrievalMetrics::queries`].
//!
//! # Exact expectations under a uniformly random ranking
//!
//! Under a uniformly random permutation of the `M` candidates, each rank holds
//! a relevant item with probability `R/M`, and two distinct ranks both hold
//! relevant items with probability `R(R−1) / (M(M−1))`. From this:
//!
//! * `E[P@k] = R / M`.
//! * `E[HitRate@k] = 1 − C(M−R, k') / C(M, k')`, evaluated as the product
//!   `Π_{j<k'} (M−R−j)/(M−j)` (no overflow).
//! * `E[MRR] = Σ_{r=1}^{M−R+1} (1/r) · C(M−r, R−1) / C(M, R)`, where the
//!   probability that the first relevant item sits at rank `r` is evaluated as
//!   `Π_{j<r−1} (M−R−j)/(M−j) · R/(M−r+1)`.
//! * `E[nDCG@k] = (R/M) · Σ_{i=1}^{k'} 1/log2(i+1) / IDCG@k`.
//! * `E[AP@k] = (1/min(k', R)) · Σ_{i=1}^{k'} (R/M) · (1 + (i−1)(R−1)/(M−1)) / i`,
//!   because `E[rel_i · hits(top i)] = P(rel_i) + Σ_{j<i} P(rel_i ∧ rel_j)`.
//!
//! These identities are checked against exhaustive enumeration and Monte Carlo
//! simulation in the unit tests.
//!
//! # Hubness
//!
//! Beside the label metrics, [`hubness`] says how evenly a ranking spreads
//! its suggestions over the library (k-occurrence skewness, the share of
//! tracks never suggested, the largest hub); it needs no labels.

use std::collections::HashMap;

/// Mean retrieval metrics over a set of queries.
///
/// All fields except `queries` are means over the counted queries and lie in
/// `[0, 1]`; with zero counted queries every mean is 0.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize, Default)]
pub struct RetrievalMetrics {
    /// Mean P@k: fraction of the top `k` that is relevant.
    pub precision_at_k: f64,
    /// Mean average precision at `k` (AP normalised by `min(k, R)`).
    pub map_at_k: f64,
    /// Mean normalised discounted cumulative gain at `k` (binary gains).
    pub ndcg_at_k: f64,
    /// Mean reciprocal rank of the first relevant item.
    pub mrr: f64,
    /// Fraction of queries with at least one relevant item in the top `k`.
    pub hit_rate_at_k: f64,
    /// Number of queries averaged over (those with at least one relevant candidate).
    pub queries: usize,
}

/// One query's ranked candidate list, as booleans "is relevant", best first,
/// already excluding the query itself and any candidates the caller excluded;
/// plus the total number of relevant candidates among ALL candidates (which may
/// be more than appear in `relevant_flags` if the caller truncated the list to
/// k) and the number of candidates M.
///
/// Inconsistent inputs are repaired conservatively: the effective number of
/// relevant candidates is `max(relevant_total, number of true flags)` and the
/// effective number of candidates is
/// `max(candidates, relevant_flags.len(), effective relevant count)`.
#[derive(Debug, Clone, Copy)]
pub struct RankedQuery<'a> {
    /// `relevant_flags[i]` is true when the candidate at rank `i + 1` is relevant.
    pub relevant_flags: &'a [bool],
    /// Number of relevant candidates among all `candidates` (R).
    pub relevant_total: usize,
    /// Number of candidates (M), including those not listed in `relevant_flags`.
    pub candidates: usize,
}

/// What [`evaluate_rankings`] reports for one ranking method.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Evaluation {
    /// Mean metrics over the counted queries.
    pub metrics: RetrievalMetrics,
    /// Their exact expectation under random rankings of the same candidates.
    pub random: RetrievalMetrics,
    /// 95 % bootstrap interval of the mean P@k over queries.
    pub precision_interval: (f64, f64),
}

/// Effective cut-off `k' = min(max(k, 1), m)`.
fn effective_k(k: usize, m: usize) -> usize {
    k.max(1).min(m)
}

/// Ideal DCG with `ones` relevant items at the top.
fn ideal_dcg(ones: usize) -> f64 {
    (1..=ones).map(discount).sum()
}

/// Binary-gain discount at 1-based rank `i`: 1 / log2(i + 1).
fn discount(i: usize) -> f64 {
    1.0 / ((i + 1) as f64).log2()
}

/// Running sums of per-query metric values, and each query's P@k.
#[derive(Debug, Default, Clone)]
struct Accumulator {
    precision: f64,
    ap: f64,
    ndcg: f64,
    rr: f64,
    hit: f64,
    queries: usize,
    precisions: Vec<f64>,
}

/// Resamples of the queries behind a P@k confidence interval.
const BOOTSTRAP_RESAMPLES: usize = 2000;

impl Accumulator {
    /// Add one query's metric values (a `RetrievalMetrics` used as a per-query record).
    fn add(&mut self, m: &RetrievalMetrics) {
        self.precisions.push(m.precision_at_k);
        self.precision += m.precision_at_k;
        self.ap += m.map_at_k;
        self.ndcg += m.ndcg_at_k;
        self.rr += m.mrr;
        self.hit += m.hit_rate_at_k;
        self.queries += 1;
    }

    /// The 95 % percentile-bootstrap interval of the mean P@k: the queries
    /// are resampled with replacement (fixed seed, so it repeats). How far
    /// the mean could move with another sample of queries like these.
    fn precision_interval(&self) -> (f64, f64) {
        let n = self.precisions.len();
        if n == 0 {
            return (0.0, 0.0);
        }
        let mut rng = crate::prng::SplitMix64(0xB007_5712);
        let mut means: Vec<f64> =
            (0..BOOTSTRAP_RESAMPLES).map(|_| (0..n).map(|_| self.precisions[rng.below(n)]).sum::<f64>() / n as f64).collect();
        means.sort_by(f64::total_cmp);
        let at = |q: f64| means[((q * (BOOTSTRAP_RESAMPLES - 1) as f64).round() as usize).min(BOOTSTRAP_RESAMPLES - 1)];
        (at(0.025), at(0.975))
    }

    fn finish(&self) -> RetrievalMetrics {
        if self.queries == 0 {
            return RetrievalMetrics::default();
        }
        let n = self.queries as f64;
        RetrievalMetrics {
            precision_at_k: self.precision / n,
            map_at_k: self.ap / n,
            ndcg_at_k: self.ndcg / n,
            mrr: self.rr / n,
            hit_rate_at_k: self.hit / n,
            queries: self.queries,
        }
    }
}

/// Metric values for a single query, or `None` when it has no relevant candidate.
fn score_query(q: &RankedQuery<'_>, k: usize) -> Option<RetrievalMetrics> {
    let flags = q.relevant_flags;
    let listed_relevant = flags.iter().filter(|&&f| f).count();
    let r = q.relevant_total.max(listed_relevant);
    if r == 0 {
        return None;
    }
    let m = q.candidates.max(flags.len()).max(r);
    let kk = effective_k(k, m);

    let mut hits = 0usize;
    let mut ap_sum = 0.0;
    let mut dcg = 0.0;
    for (idx, _) in flags.iter().take(kk).enumerate().filter(|(_, f)| **f) {
        let rank = idx + 1;
        hits += 1;
        ap_sum += hits as f64 / rank as f64;
        dcg += discount(rank);
    }
    let rr = flags.iter().position(|&f| f).map_or(0.0, |idx| 1.0 / (idx + 1) as f64);

    Some(RetrievalMetrics {
        precision_at_k: hits as f64 / kk as f64,
        map_at_k: ap_sum / r.min(kk) as f64,
        ndcg_at_k: dcg / ideal_dcg(r.min(kk)),
        mrr: rr,
        hit_rate_at_k: if hits > 0 { 1.0 } else { 0.0 },
        queries: 1,
    })
}

/// Mean metrics over queries with at least one relevant candidate (others are
/// skipped and not counted).
///
/// See the module documentation for the exact metric definitions. `k = 0` is
/// treated as `k = 1`; a `k` larger than a query's candidate count is clamped
/// to that count for that query.
pub fn evaluate<'a>(queries: impl IntoIterator<Item = RankedQuery<'a>>, k: usize) -> RetrievalMetrics {
    let mut acc = Accumulator::default();
    for q in queries {
        if let Some(m) = score_query(&q, k) {
            acc.add(&m);
        }
    }
    acc.finish()
}

/// Exact expected metric values for one query with `r ≥ 1` relevant among `m ≥ r`
/// candidates under a uniformly random ranking.
fn expected_query(r: usize, m: usize, k: usize) -> RetrievalMetrics {
    debug_assert!(r >= 1 && m >= r);
    let kk = effective_k(k, m);
    let (rf, mf) = (r as f64, m as f64);
    let p_rel = rf / mf;

    // HitRate: 1 - P(top k' all non-relevant) = 1 - Π_{j<k'} (M-R-j)/(M-j).
    let mut all_miss = 1.0;
    for j in 0..kk {
        if j >= m - r {
            all_miss = 0.0;
            break;
        }
        all_miss *= (m - r - j) as f64 / (m - j) as f64;
    }

    // MRR: P(first relevant at rank t) = Π_{j<t-1} (M-R-j)/(M-j) · R/(M-t+1).
    let mut mrr = 0.0;
    let mut survive = 1.0; // P(ranks 1..t-1 are all non-relevant)
    for t in 1..=(m - r + 1) {
        mrr += survive * rf / (m - t + 1) as f64 / t as f64;
        let j = t - 1;
        survive *= (m - r - j) as f64 / (m - j) as f64;
        if survive == 0.0 {
            break;
        }
    }

    // nDCG: each rank is relevant with probability R/M.
    let dcg: f64 = (1..=kk).map(discount).sum::<f64>() * p_rel;
    let ndcg = dcg / ideal_dcg(r.min(kk));

    // AP: E[rel_i · hits(top i)] = (R/M)(1 + (i-1)(R-1)/(M-1)).
    let pair = if m > 1 { (rf - 1.0) / (mf - 1.0) } else { 0.0 };
    let ap_sum: f64 = (1..=kk).map(|i| p_rel * (1.0 + (i - 1) as f64 * pair) / i as f64).sum();
    let ap = ap_sum / r.min(kk) as f64;

    RetrievalMetrics { precision_at_k: p_rel, map_at_k: ap, ndcg_at_k: ndcg, mrr, hit_rate_at_k: 1.0 - all_miss, queries: 1 }
}

/// The EXACT expected value of each metric under a uniformly random ranking,
/// for the same queries (same relevant_total and candidates per query),
/// averaged the same way.
///
/// Each item is `(relevant_total, candidates)`. Queries with
/// `relevant_total == 0` are skipped, exactly as in [`evaluate`]; a candidate
/// count smaller than `relevant_total` is raised to it. Note that `E[MRR]`
/// is the expectation for a *full* random ranking. Results are memoised per
/// distinct `(relevant_total, candidates)` pair, so large query sets sharing
/// the same shape are cheap.
pub fn random_expectation(
    queries: impl IntoIterator<Item = (usize /*relevant_total*/, usize /*candidates*/)>,
    k: usize,
) -> RetrievalMetrics {
    let mut cache: HashMap<(usize, usize), RetrievalMetrics> = HashMap::new();
    let mut acc = Accumulator::default();
    for (r, m) in queries {
        if r == 0 {
            continue;
        }
        let m = m.max(r);
        let e = *cache.entry((r, m)).or_insert_with(|| expected_query(r, m, k));
        acc.add(&e);
    }
    acc.finish()
}

/// Per-candidate status for the query being evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    /// Not a candidate (the query itself, or excluded by the caller).
    Excluded,
    Irrelevant,
    Relevant,
}

/// Labels → per-query relevance. For each query index q with a non-empty
/// label, relevant = other tracks with the same label. `exclude(q, c)` says
/// candidate c must be removed for query q (e.g. same work when evaluating
/// composer) — excluded candidates count neither as candidates nor as relevant.
///
/// * `rankings[q]` is query `q`'s ranking of candidate indices, best first. It
///   should be the full ranking; it may include `q` itself (skipped). Indices
///   outside `labels`, and repeated indices after their first occurrence, are
///   ignored.
/// * `labels[c]` is track `c`'s label; `None` and `Some("")` mean unlabeled.
///   Labels are compared exactly (no trimming or case folding). Unlabeled
///   tracks are never queries and never relevant, but they *are* candidates
///   (non-relevant); exclude them via `exclude` to restrict the pool to
///   labeled tracks.
/// * The candidate pool of query `q` is every track `c` in `0..labels.len()`
///   with `c != q` and `!exclude(q, c)`, whether or not it appears in
///   `rankings[q]`. `relevant_total` and `candidates` are counted over that
///   pool, so a truncated ranking still gets the right @k denominators
///   (only its MRR becomes a lower bound, see the module docs).
/// * Queries `q >= labels.len()` have no label and are skipped, as are
///   queries without any relevant candidate.
///
/// Returns the metrics, the random expectation over the same set of
/// queries, and the 95 % bootstrap interval of P@k.
/// `exclude` is called once per (query, track) pair of labeled queries.
pub fn evaluate_rankings(
    rankings: &[Vec<usize>],
    labels: &[Option<String>],
    k: usize,
    exclude: &dyn Fn(usize, usize) -> bool,
) -> Evaluation {
    evaluate_rankings_where(rankings, labels, k, exclude, &|_| true)
}

/// [`evaluate_rankings`] over only the queries `q` with `counts(q)` (for
/// held-out halves); every track stays a candidate.
pub fn evaluate_rankings_where(
    rankings: &[Vec<usize>],
    labels: &[Option<String>],
    k: usize,
    exclude: &dyn Fn(usize, usize) -> bool,
    counts: &dyn Fn(usize) -> bool,
) -> Evaluation {
    // Intern labels so the per-pair comparison is an integer compare.
    let mut ids: HashMap<&str, usize> = HashMap::new();
    let label_id: Vec<Option<usize>> = labels
        .iter()
        .map(|l| match l.as_deref() {
            Some(s) if !s.is_empty() => {
                let next = ids.len();
                Some(*ids.entry(s).or_insert(next))
            }
            _ => None,
        })
        .collect();

    let n = labels.len();
    let mut status = vec![Status::Excluded; n];
    let mut flags: Vec<bool> = Vec::with_capacity(n);
    let mut shapes: Vec<(usize, usize)> = Vec::new();
    let mut acc = Accumulator::default();

    for (q, ranking) in rankings.iter().enumerate() {
        let Some(qid) = label_id.get(q).copied().flatten().filter(|_| counts(q)) else {
            continue;
        };

        // Classify the whole pool for this query.
        let mut relevant_total = 0usize;
        let mut candidates = 0usize;
        for (c, st) in status.iter_mut().enumerate() {
            *st = if c == q || exclude(q, c) {
                Status::Excluded
            } else if label_id[c] == Some(qid) {
                relevant_total += 1;
                candidates += 1;
                Status::Relevant
            } else {
                candidates += 1;
                Status::Irrelevant
            };
        }
        if relevant_total == 0 {
            continue;
        }

        // Walk the ranking only as far as needed: the top k' for the @k
        // metrics and up to the first relevant item for MRR. Visited
        // candidates are marked Excluded so duplicates are ignored.
        let kk = effective_k(k, candidates);
        flags.clear();
        let mut found_relevant = false;
        for &c in ranking {
            let Some(st) = status.get_mut(c) else {
                continue;
            };
            let is_rel = match *st {
                Status::Excluded => continue,
                Status::Irrelevant => false,
                Status::Relevant => true,
            };
            *st = Status::Excluded;
            flags.push(is_rel);
            found_relevant |= is_rel;
            if found_relevant && flags.len() >= kk {
                break;
            }
        }

        let query = RankedQuery { relevant_flags: &flags, relevant_total, candidates };
        if let Some(m) = score_query(&query, k) {
            acc.add(&m);
            shapes.push((relevant_total, candidates));
        }
    }

    Evaluation { metrics: acc.finish(), random: random_expectation(shapes, k), precision_interval: acc.precision_interval() }
}

/// How unevenly a ranking spreads its suggestions: the k-occurrence `N_k(t)`
/// of a track is how many other tracks have it among their `k` nearest.
/// In high-dimensional spaces a few tracks (hubs) are everybody's neighbour
/// and many are nobody's, so "similar" keeps suggesting the same few.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Hubness {
    /// The `k` of the k-occurrence.
    pub k: usize,
    /// Skewness of the `N_k` distribution (0 for a symmetric spread; large and positive when a few hubs take most slots).
    pub skewness: f64,
    /// Share of tracks in nobody's top `k`: never suggested.
    pub never_suggested_share: f64,
    /// The largest `N_k`: how many tracks list the biggest hub.
    pub largest_hub: usize,
}

/// [`Hubness`] of the top `k` of each ranking (`rankings[q]` best first; `q`
/// itself, indices out of range and repeats are skipped), over the
/// `rankings.len()` tracks. Every track counts, suggested or not.
pub fn hubness(rankings: &[Vec<usize>], k: usize) -> Hubness {
    let n = rankings.len();
    let mut occurrences = vec![0usize; n];
    let mut listed = vec![usize::MAX; n];
    for (q, ranking) in rankings.iter().enumerate() {
        let mut taken = 0;
        for &c in ranking {
            if taken == k {
                break;
            }
            if c == q || c >= n || listed[c] == q {
                continue;
            }
            listed[c] = q;
            occurrences[c] += 1;
            taken += 1;
        }
    }
    let count = n.max(1) as f64;
    let mean = occurrences.iter().sum::<usize>() as f64 / count;
    let moment = |p: i32| occurrences.iter().map(|&o| (o as f64 - mean).powi(p)).sum::<f64>() / count;
    let spread = moment(2).sqrt();
    Hubness {
        k,
        skewness: if spread > 0.0 { moment(3) / spread.powi(3) } else { 0.0 },
        never_suggested_share: occurrences.iter().filter(|&&o| o == 0).count() as f64 / count,
        largest_hub: occurrences.iter().copied().max().unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPS: f64 = 1e-12;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    fn assert_metrics_close(a: &RetrievalMetrics, b: &RetrievalMetrics, tol: f64) {
        assert_eq!(a.queries, b.queries, "{a:?} vs {b:?}");
        for (name, x, y) in [
            ("P@k", a.precision_at_k, b.precision_at_k),
            ("mAP@k", a.map_at_k, b.map_at_k),
            ("nDCG@k", a.ndcg_at_k, b.ndcg_at_k),
            ("MRR", a.mrr, b.mrr),
            ("HR@k", a.hit_rate_at_k, b.hit_rate_at_k),
        ] {
            assert!(close(x, y, tol), "{name}: {x} vs {y} (tol {tol})\n{a:?}\n{b:?}");
        }
    }

    fn one(flags: &[bool], r: usize, m: usize, k: usize) -> RetrievalMetrics {
        evaluate([RankedQuery { relevant_flags: flags, relevant_total: r, candidates: m }], k)
    }

    #[test]
    fn perfect_ranking_scores_one() {
        for (r, m, k) in [(1, 5, 3), (3, 10, 3), (3, 10, 10), (5, 5, 2), (4, 9, 20)] {
            let flags: Vec<bool> = (0..m).map(|i| i < r).collect();
            let got = one(&flags, r, m, k);
            let want = RetrievalMetrics {
                precision_at_k: (r.min(k.min(m))) as f64 / k.min(m) as f64,
                map_at_k: 1.0,
                ndcg_at_k: 1.0,
                mrr: 1.0,
                hit_rate_at_k: 1.0,
                queries: 1,
            };
            assert_metrics_close(&got, &want, EPS);
        }
        // When R >= k, a perfect ranking has P@k = 1 too.
        let got = one(&[true; 4], 4, 8, 4);
        assert!(close(got.precision_at_k, 1.0, EPS));
    }

    #[test]
    fn worked_example() {
        // Ranking: - + - + - +   (R = 3, M = 6), k = 4.
        let flags = [false, true, false, true, false, true];
        let got = one(&flags, 3, 6, 4);
        // P@4 = 2/4. AP@4 = (P@2 + P@4)/min(4,3) = (1/2 + 2/4)/3 = 1/3.
        // DCG = 1/log2 3 + 1/log2 5; IDCG = 1 + 1/log2 3 + 1/log2 4.
        // MRR = 1/2. Hit = 1.
        let want = RetrievalMetrics {
            precision_at_k: 0.5,
            map_at_k: 1.0 / 3.0,
            ndcg_at_k: 1.0616063116448506 / 2.1309297535714578,
            mrr: 0.5,
            hit_rate_at_k: 1.0,
            queries: 1,
        };
        assert_metrics_close(&got, &want, EPS);
        assert!(close(got.ndcg_at_k, 0.49818925746641285, 1e-12));

        // k = 1: top item irrelevant.
        let got = one(&flags, 3, 6, 1);
        let want = RetrievalMetrics { mrr: 0.5, queries: 1, ..Default::default() };
        assert_metrics_close(&got, &want, EPS);
    }

    #[test]
    fn averages_over_queries_and_skips_those_without_relevant() {
        let a = [true, false, false]; // RR 1, P@2 1/2, AP@2 = 1/min(2,1) = 1
        let b = [false, false, true]; // RR 1/3, P@2 0, AP 0, miss
        let c = [false, false, false]; // R = 0: skipped
        let got = evaluate(
            [
                RankedQuery { relevant_flags: &a, relevant_total: 1, candidates: 3 },
                RankedQuery { relevant_flags: &b, relevant_total: 1, candidates: 3 },
                RankedQuery { relevant_flags: &c, relevant_total: 0, candidates: 3 },
            ],
            2,
        );
        let want = RetrievalMetrics {
            precision_at_k: 0.25,
            map_at_k: 0.5,
            ndcg_at_k: 0.5,
            mrr: (1.0 + 1.0 / 3.0) / 2.0,
            hit_rate_at_k: 0.5,
            queries: 2,
        };
        assert_metrics_close(&got, &want, EPS);

        // No counted queries at all: zeros, and the same for the baseline.
        let none = evaluate([RankedQuery { relevant_flags: &c, relevant_total: 0, candidates: 3 }], 2);
        assert_eq!(none, RetrievalMetrics::default());
        assert_eq!(random_expectation([(0, 10), (0, 3)], 5), RetrievalMetrics::default());
        assert_eq!(random_expectation([(1, 10), (0, 3)], 5).queries, 1);
    }

    #[test]
    fn k_larger_than_candidates_is_clamped() {
        // M = 3, k = 10: k' = 3.
        let flags = [false, true, true];
        let got = one(&flags, 2, 3, 10);
        // P = 2/3; AP = (1/2 + 2/3)/min(3,2) = 7/12.
        let ndcg = (discount(2) + discount(3)) / (discount(1) + discount(2));
        let want =
            RetrievalMetrics { precision_at_k: 2.0 / 3.0, map_at_k: 7.0 / 12.0, ndcg_at_k: ndcg, mrr: 0.5, hit_rate_at_k: 1.0, queries: 1 };
        assert_metrics_close(&got, &want, EPS);
        // With all candidates relevant every metric is 1 for any ranking/k.
        let e = random_expectation([(3, 3)], 10);
        let ones = RetrievalMetrics { precision_at_k: 1.0, map_at_k: 1.0, ndcg_at_k: 1.0, mrr: 1.0, hit_rate_at_k: 1.0, queries: 1 };
        assert_metrics_close(&e, &ones, EPS);
        // The random P@k with k > M is R/M, which equals the deterministic
        // P@k of any ranking (all candidates are in the top k').
        let e = random_expectation([(2, 3)], 10);
        assert!(close(e.precision_at_k, 2.0 / 3.0, EPS));
        assert!(close(e.hit_rate_at_k, 1.0, EPS));
    }

    #[test]
    fn truncated_list_uses_relevant_total() {
        // Only the top 2 of M = 10 are listed; R = 4 in total.
        let flags = [true, false];
        let got = one(&flags, 4, 10, 2);
        // AP@2 = P@1 / min(2, 4) = 1/2; IDCG uses min(R, k) = 2 ones.
        assert!(close(got.map_at_k, 0.5, EPS));
        assert!(close(got.ndcg_at_k, 1.0 / (1.0 + discount(2)), EPS));
        // Truncated, no relevant listed: RR = 0 by convention.
        let got = one(&[false, false], 4, 10, 2);
        assert_eq!(got.mrr, 0.0);
        assert_eq!(got.queries, 1);
    }

    #[test]
    fn k_zero_is_treated_as_one() {
        let flags = [true, false, true];
        assert_eq!(one(&flags, 2, 3, 0), one(&flags, 2, 3, 1));
        let a = random_expectation([(2, 3)], 0);
        let b = random_expectation([(2, 3)], 1);
        assert_eq!(a, b);
    }

    /// Exact mean of the empirical metrics over all C(M, R) placements of the
    /// relevant items (each equally likely under a uniform random ranking).
    fn enumerate_exact(r: usize, m: usize, k: usize) -> RetrievalMetrics {
        assert!(m <= 20);
        let mut acc = Accumulator::default();
        let mut flags = vec![false; m];
        for mask in 0u32..(1u32 << m) {
            if mask.count_ones() as usize != r {
                continue;
            }
            for (i, f) in flags.iter_mut().enumerate() {
                *f = mask & (1 << i) != 0;
            }
            let q = RankedQuery { relevant_flags: &flags, relevant_total: r, candidates: m };
            if let Some(s) = score_query(&q, k) {
                acc.add(&s);
            }
        }
        let mut out = acc.finish();
        out.queries = 1;
        out
    }

    #[test]
    fn expectations_match_exhaustive_enumeration() {
        for m in 1..=12 {
            for r in 1..=m {
                for k in [1, 2, 3, 5, 12, 15] {
                    let exact = enumerate_exact(r, m, k);
                    let formula = random_expectation([(r, m)], k);
                    assert_metrics_close(&formula, &exact, 1e-12);
                }
            }
        }
    }

    #[test]
    fn expectations_match_monte_carlo() {
        const TRIALS: usize = 20_000;
        let mut rng = crate::prng::SplitMix64(0x5EED_0F57_2A7A);
        for (r, m, k) in [(3, 10, 5), (1, 40, 10), (7, 7, 3), (4, 15, 25), (10, 200, 10), (25, 60, 10)] {
            let mut perm: Vec<usize> = (0..m).collect();
            let mut flags = vec![false; m];
            // Per metric: sum and sum of squares.
            let mut sum = [0.0f64; 5];
            let mut sq = [0.0f64; 5];
            for _ in 0..TRIALS {
                for i in (1..m).rev() {
                    let j = rng.below(i + 1);
                    perm.swap(i, j);
                }
                for (f, &p) in flags.iter_mut().zip(&perm) {
                    *f = p < r; // items 0..r are the relevant ones
                }
                let s = one(&flags, r, m, k);
                let v = [s.precision_at_k, s.map_at_k, s.ndcg_at_k, s.mrr, s.hit_rate_at_k];
                for i in 0..5 {
                    sum[i] += v[i];
                    sq[i] += v[i] * v[i];
                }
            }
            let e = random_expectation([(r, m)], k);
            let want = [e.precision_at_k, e.map_at_k, e.ndcg_at_k, e.mrr, e.hit_rate_at_k];
            let n = TRIALS as f64;
            for i in 0..5 {
                let mean = sum[i] / n;
                let var = (sq[i] / n - mean * mean).max(0.0);
                let se = (var / n).sqrt();
                let tol = (3.0 * se).max(1e-9);
                assert!(close(mean, want[i], tol), "metric {i} (r={r}, m={m}, k={k}): simulated {mean} ± {se}, exact {}", want[i]);
            }
        }
    }

    #[test]
    fn expectation_is_stable_for_large_pools() {
        // Large M must not overflow or produce NaN.
        let e = random_expectation([(3, 1_000_000), (500, 1_000_000), (1, 2)], 10);
        for x in [e.precision_at_k, e.map_at_k, e.ndcg_at_k, e.mrr, e.hit_rate_at_k] {
            assert!(x.is_finite() && (0.0..=1.0).contains(&x), "{e:?}");
        }
        // Single relevant item among M: E[MRR] = H_M / M.
        let m = 1000;
        let h: f64 = (1..=m).map(|i| 1.0 / i as f64).sum();
        let e = random_expectation([(1, m)], 10);
        assert!(close(e.mrr, h / m as f64, 1e-12));
        assert!(close(e.hit_rate_at_k, 10.0 / m as f64, 1e-12));
    }

    fn labels(xs: &[Option<&str>]) -> Vec<Option<String>> {
        xs.iter().map(|x| x.map(str::to_string)).collect()
    }

    #[test]
    fn evaluate_rankings_basic() {
        // Tracks 0,1,2 by "A"; 3,4 by "B"; 5 unlabeled; 6 has an empty label.
        let labels = labels(&[Some("A"), Some("A"), Some("A"), Some("B"), Some("B"), None, Some("")]);
        let rankings = vec![
            vec![0, 3, 1, 5, 2, 4, 6], // q0: includes itself; A at ranks 2 and 4
            vec![1, 0, 2, 3, 4, 5, 6], // q1: perfect
            vec![3, 4, 5, 6, 0, 1],    // q2: itself missing from the list; A at ranks 5, 6
            vec![4, 0, 1, 2, 5, 6],    // q3: B at rank 1
            vec![0, 1, 2, 3, 5, 6],    // q4: B at rank 4
            vec![0, 1, 2, 3, 4, 6],    // q5: unlabeled, skipped
            vec![0, 1, 2, 3, 4, 5],    // q6: empty label, skipped
        ];
        let Evaluation { metrics: got, random: rnd, .. } = evaluate_rankings(&rankings, &labels, 2, &|_, _| false);
        let flags: [&[bool]; 5] = [
            &[false, true, false, true, false, false],
            &[true, true, false, false, false, false],
            &[false, false, false, false, true, true],
            &[true, false, false, false, false, false],
            &[false, false, false, true, false, false],
        ];
        let rs = [2, 2, 2, 1, 1];
        let want = evaluate(flags.iter().zip(rs).map(|(f, r)| RankedQuery { relevant_flags: f, relevant_total: r, candidates: 6 }), 2);
        assert_metrics_close(&got, &want, EPS);
        assert_eq!(got.queries, 5);
        let want_rnd = random_expectation(rs.iter().map(|&r| (r, 6)), 2);
        assert_metrics_close(&rnd, &want_rnd, EPS);
        // Spot-check: MRR = (1/2 + 1 + 1/5 + 1 + 1/4) / 5.
        assert!(close(got.mrr, (0.5 + 1.0 + 0.2 + 1.0 + 0.25) / 5.0, EPS));
    }

    #[test]
    fn evaluate_rankings_exclusion() {
        // Composer "A" wrote work W1 (tracks 0,1) and W2 (track 2); composer "B" track 3.
        let labels = labels(&[Some("A"), Some("A"), Some("A"), Some("B")]);
        let work = [1, 1, 2, 3];
        let exclude = |q: usize, c: usize| work[q] == work[c];
        let rankings = vec![
            vec![1, 3, 2], // q0: 1 is same work -> removed; ranking becomes [3, 2]
            vec![0, 2, 3], // q1: 0 removed -> [2, 3]
            vec![3, 0, 1], // q2: nothing removed -> [3, 0, 1]
            vec![0, 1, 2], // q3: "B" has no other track -> skipped
        ];
        let Evaluation { metrics: got, random: rnd, .. } = evaluate_rankings(&rankings, &labels, 1, &exclude);
        // q0: M=2, R=1, flags [F, T]; q1: M=2, R=1, [T, F]; q2: M=3, R=2, [F, T, T].
        assert_eq!(got.queries, 3);
        assert!(close(got.precision_at_k, 1.0 / 3.0, EPS));
        assert!(close(got.hit_rate_at_k, 1.0 / 3.0, EPS));
        assert!(close(got.mrr, (0.5 + 1.0 + 0.5) / 3.0, EPS));
        let want_rnd = random_expectation([(1, 2), (1, 2), (2, 3)], 1);
        assert_metrics_close(&rnd, &want_rnd, EPS);
        assert!(close(rnd.precision_at_k, (0.5 + 0.5 + 2.0 / 3.0) / 3.0, EPS));

        // Excluding every relevant candidate skips the query entirely.
        let Evaluation { metrics: got, random: rnd, .. } = evaluate_rankings(&rankings, &labels, 1, &|q, c| labels[q] == labels[c]);
        assert_eq!(got.queries, 0);
        assert_eq!(rnd.queries, 0);
    }

    #[test]
    fn evaluate_rankings_tolerates_odd_input() {
        let labels = labels(&[Some("A"), Some("A"), Some("B")]);
        // Duplicates, out-of-range indices, a truncated ranking, and more
        // rankings than labels.
        let rankings = vec![vec![2, 2, 99, 1], vec![2], vec![0, 1], vec![0, 1, 2]];
        let Evaluation { metrics: got, random: rnd, .. } = evaluate_rankings(&rankings, &labels, 5, &|_, _| false);
        // q0: [F, T] with M=2, R=1 -> P@2 = 1/2, RR 1/2.
        // q1: truncated [F], M=2, R=1 -> P@2 = 0, RR 0 (truncated convention).
        assert_eq!(got.queries, 2);
        assert!(close(got.precision_at_k, 0.25, EPS));
        assert!(close(got.mrr, 0.25, EPS));
        assert_eq!(rnd.queries, 2);
        assert!(close(rnd.precision_at_k, 0.5, EPS));
        assert!(close(rnd.mrr, 0.75, EPS));
    }

    #[test]
    fn evaluating_halves_splits_the_whole() {
        let labels = labels(&[Some("A"), Some("A"), Some("B"), Some("B"), Some("A"), None]);
        let rankings: Vec<Vec<usize>> = (0..6).map(|q| (0..6).rev().filter(|&c| c != q).collect()).collect();
        let whole = evaluate_rankings(&rankings, &labels, 2, &|_, _| false).metrics;
        let half = |odd: bool| evaluate_rankings_where(&rankings, &labels, 2, &|_, _| false, &|q| (q % 2 == 1) == odd).metrics;
        let (even, odd) = (half(false), half(true));
        // Only queries with a label count; the unlabeled track stays a candidate.
        assert_eq!((even.queries, odd.queries, whole.queries), (3, 2, 5));
        let pooled = (even.precision_at_k * 3.0 + odd.precision_at_k * 2.0) / 5.0;
        assert!(close(pooled, whole.precision_at_k, EPS), "{even:?} {odd:?} {whole:?}");
        assert!(evaluate_rankings_where(&rankings, &labels, 2, &|_, _| false, &|_| false).metrics.queries == 0);
    }

    #[test]
    fn hubness_counts_how_often_each_track_is_suggested() {
        // Track 0 is in everybody's top 1; tracks 2 and 3 in nobody's.
        let rankings = vec![vec![0, 1, 2, 3], vec![0, 2, 3], vec![0, 1, 3], vec![0, 1, 2]];
        let h = hubness(&rankings, 1);
        // N₁ = [3, 1, 0, 0]: q0 skips itself and takes 1.
        assert_eq!((h.k, h.largest_hub), (1, 3));
        assert!(close(h.never_suggested_share, 0.5, EPS));
        let (mean, n) = (1.0, [3.0f64, 1.0, 0.0, 0.0]);
        let m2 = n.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 4.0;
        let m3 = n.iter().map(|x| (x - mean).powi(3)).sum::<f64>() / 4.0;
        assert!(close(h.skewness, m3 / m2.powf(1.5), 1e-12));
        assert!(h.skewness > 0.0, "one hub: a long right tail");
        // Each track suggested equally (a cycle): no skew, nobody left out.
        let cycle: Vec<Vec<usize>> = (0..5).map(|q| vec![(q + 1) % 5, (q + 2) % 5]).collect();
        let flat = hubness(&cycle, 2);
        assert_eq!((flat.skewness, flat.never_suggested_share, flat.largest_hub), (0.0, 0.0, 2));
        // Repeats and out-of-range entries do not count twice.
        assert_eq!(hubness(&[vec![1, 1, 9], vec![0]], 2).largest_hub, 1);
    }

    #[test]
    fn metrics_round_trip_through_json_under_their_printed_names() {
        // Values exact in binary and in short decimals, so the text round trip is exact.
        let metrics =
            RetrievalMetrics { precision_at_k: 0.625, map_at_k: 0.5, ndcg_at_k: 0.75, mrr: 0.875, hit_rate_at_k: 1.0, queries: 12 };
        let text = serde_json::to_string(&metrics).unwrap();
        // `strata eval --json` prints these names; scripts read them.
        let printed: serde_json::Value = serde_json::from_str(&text).unwrap();
        let names = serde_json::json!({"precision_at_k": 0.625, "map_at_k": 0.5, "ndcg_at_k": 0.75, "mrr": 0.875, "hit_rate_at_k": 1.0, "queries": 12});
        assert_eq!(printed, names);
        assert_eq!(serde_json::from_str::<RetrievalMetrics>(&text).unwrap(), metrics);
        let evaluation = Evaluation { metrics, random: RetrievalMetrics::default(), precision_interval: (0.25, 0.75) };
        let printed = serde_json::to_value(evaluation).unwrap();
        assert_eq!(printed["metrics"], names);
        assert_eq!(printed["random"]["queries"], 0);
        assert_eq!(printed["precision_interval"], serde_json::json!([0.25, 0.75]));
    }

    #[test]
    fn precision_interval_brackets_the_mean_and_narrows_with_more_queries() {
        let interval = |values: &[f64]| {
            let mut acc = Accumulator::default();
            for &p in values {
                acc.add(&RetrievalMetrics { precision_at_k: p, ..Default::default() });
            }
            (acc.finish().precision_at_k, acc.precision_interval())
        };
        // Every query alike: nothing to resample.
        assert_eq!(interval(&[0.5; 32]), (0.5, (0.5, 0.5)));
        let few: Vec<f64> = (0..20).map(|i| (i % 5) as f64 / 4.0).collect();
        let many: Vec<f64> = (0..2000).map(|i| (i % 5) as f64 / 4.0).collect();
        let ((mean_few, (lo_few, hi_few)), (mean_many, (lo_many, hi_many))) = (interval(&few), interval(&many));
        assert!(lo_few < mean_few && mean_few < hi_few, "{lo_few} {mean_few} {hi_few}");
        assert!(lo_many < mean_many && mean_many < hi_many);
        // The standard error of the mean of these values is 0.354/√n: ±1.96 of it, within 20 %.
        for (n, lo, hi) in [(20.0, lo_few, hi_few), (2000.0, lo_many, hi_many)] {
            let expected = 2.0 * 1.96 * 0.353_553 / f64::sqrt(n);
            assert!(((hi - lo) / expected - 1.0).abs() < 0.2, "n {n}: width {} vs {expected}", hi - lo);
        }
        // The fixed seed gives these bounds (from an independent Python SplitMix64 of the same resampling).
        assert_eq!((lo_few, hi_few), (0.3375, 0.65));
        assert_eq!(interval(&[]).1, (0.0, 0.0));
    }
}
