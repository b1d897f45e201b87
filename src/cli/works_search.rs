//! `--unit work` for `strata similar`, `neighbours` and `eval`: whole works
//! ranked against whole works ([`crate::works::similarity`]).

use super::search::{PreparedSearch, facet_breakdown, prepare_search};
use super::*;
use crate::insight::eval::Evaluation;
use crate::insight::label_source;
use crate::search::layer_index::Pruning;
use crate::search::{Exclusion, is_excluded};
use crate::works::similarity::{WorkCombination, WorkSearch, work_labels};
use crate::works::{Work, pairwise_scores};
use clap::ValueEnum;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

/// Builds the layer indexes of the query's facets before the query, so that
/// `-v` can tell the query's time from the loading's; returns when it began.
pub(super) fn prepare_layers(prepared: &mut PreparedSearch) -> Instant {
    let started = Instant::now();
    for facet in &prepared.facets {
        prepared.engine.layer(facet.layer);
    }
    log::debug!("layer indexes of {} facets built in {:.0} ms", prepared.facets.len(), started.elapsed().as_secs_f64() * 1e3);
    Instant::now()
}

/// A work's tracks, paths exactly as indexed, in movement order.
fn track_paths(snapshot: &LibrarySnapshot, work: &Work) -> Vec<String> {
    work.tracks.iter().filter_map(|&t| snapshot.tracks.get(t)).map(|t| t.path.display().to_string()).collect()
}

/// The query options' album rule between two works, applied to their first movements.
fn excluded_works(snapshot: &LibrarySnapshot, exclusion: Exclusion) -> impl Fn(usize, usize) -> bool + '_ {
    let album_only = Exclusion { same_album: exclusion.same_album, same_work: false };
    move |query: usize, candidate: usize| {
        let first = |w: usize| snapshot.works.works.get(w).and_then(|work| work.tracks.first().copied());
        match (first(query), first(candidate)) {
            (Some(q), Some(c)) => is_excluded(snapshot, q, c, album_only),
            _ => false,
        }
    }
}

pub(super) fn similar_works(data_dir: &DataDir, track: &str, args: &QueryArgs, json: bool) -> anyhow::Result<i32> {
    let mut prepared = prepare_search(data_dir, args, Pruning::Never)?;
    let snapshot = prepared.engine.snapshot().clone();
    let query = snapshot.find(track).ok_or_else(|| anyhow::anyhow!("'{track}' is not an indexed track (give its path or catalog id)"))?;
    let works = &snapshot.works;
    let query_work = works
        .work_of_track
        .get(query)
        .copied()
        .ok_or_else(|| anyhow::anyhow!("'{track}' belongs to no work (the works are out of date)"))?;
    let excluded = excluded_works(&snapshot, prepared.exclusion);
    let mut search = WorkSearch::from_works(works);
    let started = prepare_layers(&mut prepared);
    let (facets, weights) = (&prepared.facets, &prepared.weights);
    let results = search.rank(&mut prepared.engine, query_work, facets, weights, args.combination, args.k, &|c| excluded(query_work, c));
    log::debug!("work query ranked in {:.1} ms", started.elapsed().as_secs_f64() * 1e3);
    let work = &works.works[query_work];
    if json {
        let items: Vec<_> = results
            .iter()
            .map(|r| {
                let found = &works.works[r.work];
                let breakdown = facet_breakdown(facets, &r.facet_scores);
                serde_json::json!({"work": found.id, "title": found.title, "composer": found.composer,
                    "tracks": track_paths(&snapshot, found), "score": r.score, "facets": breakdown})
            })
            .collect();
        let combination = args.combination.to_possible_value().map(|v| v.get_name().to_string());
        let report = serde_json::json!({"work": work.id, "title": work.title, "composer": work.composer,
            "tracks": track_paths(&snapshot, work), "combination": combination, "results": items});
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(0);
    }
    println!("Works like {} — {} ({} movements)", work.title, work.composer.as_deref().unwrap_or("?"), work.tracks.len());
    for (rank, r) in results.iter().enumerate() {
        let found = &works.works[r.work];
        let breakdown: Vec<String> = facets.iter().zip(&r.facet_scores).map(|(f, s)| format!("{}={s:.2}", f.name)).collect();
        println!(
            "{:>3}. {:.3}  {} — {} ({} movements)  [{}]",
            rank + 1,
            r.score,
            found.title,
            found.composer.as_deref().unwrap_or("?"),
            found.tracks.len(),
            breakdown.join(" ")
        );
    }
    Ok(0)
}

pub(super) fn neighbours_works(data_dir: &DataDir, args: &QueryArgs) -> anyhow::Result<i32> {
    let mut prepared = prepare_search(data_dir, args, Pruning::Never)?;
    let snapshot = prepared.engine.snapshot().clone();
    let works = &snapshot.works;
    let excluded = excluded_works(&snapshot, prepared.exclusion);
    let mut search = WorkSearch::from_works(works);
    let queries: Vec<usize> = (0..works.works.len()).collect();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let started = prepare_layers(&mut prepared);
    let (facets, weights) = (&prepared.facets, &prepared.weights);
    // A slice of queries at a time, so lines stream out and memory stays bounded.
    for slice in queries.chunks(256) {
        let ranked = search.rank_many(&mut prepared.engine, slice, facets, weights, args.combination, args.k, &excluded);
        for (&query, results) in slice.iter().zip(ranked) {
            let work = &works.works[query];
            let results: Vec<_> = results
                .iter()
                .map(|r| serde_json::json!({"work": works.works[r.work].id, "tracks": track_paths(&snapshot, &works.works[r.work])}))
                .collect();
            let line =
                serde_json::json!({"work": work.id, "title": work.title, "tracks": track_paths(&snapshot, work), "results": results});
            writeln!(out, "{line}")?;
        }
    }
    out.flush()?;
    log::debug!("{} works ranked in {:.1} s", queries.len(), started.elapsed().as_secs_f64());
    Ok(0)
}

pub(super) fn eval_works(data_dir: &DataDir, label: &str, labels_csv: Option<&Path>, args: &QueryArgs, json: bool) -> anyhow::Result<i32> {
    let mut prepared = prepare_search(data_dir, args, Pruning::Never)?;
    let snapshot = prepared.engine.snapshot().clone();
    let track_labels = label_source::track_labels(&snapshot.tracks, label, labels_csv)?;
    let labels = work_labels(&snapshot.works, &track_labels);
    if labels.iter().all(Option::is_none) {
        anyhow::bail!("no work has a '{label}' label");
    }
    let mut search = WorkSearch::from_works(&snapshot.works);
    super::insight::check_eval_size(search.len(), "works")?;
    let (facets, weights) = (&prepared.facets, &prepared.weights);
    let rows: Vec<(String, Evaluation)> = WorkCombination::value_variants()
        .iter()
        .map(|&combination| {
            let name = combination.to_possible_value().map_or_else(String::new, |v| v.get_name().to_string());
            (name, search.evaluate(&mut prepared.engine, facets, weights, combination, &labels, args.k))
        })
        .collect();
    // The inference's own score, when the labels say which work each track is.
    let inference = labels_csv
        .and_then(|csv| label_source::track_labels(&snapshot.tracks, "work", Some(csv)).ok())
        .filter(|work_labels| work_labels.iter().any(Option::is_some))
        .map(|work_labels| pairwise_scores(&snapshot.works, &work_labels));
    let k = args.k;
    if json {
        let items: Vec<_> = rows
            .iter()
            .map(|(n, e)| serde_json::json!({"name": n, "metrics": e.metrics, "random": e.random, "precision_at_k_ci95": e.precision_interval}))
            .collect();
        let report = serde_json::json!({"label": label, "k": k, "unit": "work", "works": search.len(), "centered": args.center, "rows": items,
            "work_inference": inference});
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(0);
    }
    println!(
        "Work retrieval by '{label}' (k = {k}, {} works of {} tracks; a work's label is most of its movements')",
        search.len(),
        snapshot.len()
    );
    println!(
        "{:<26} {:>7} {:>14} {:>7} {:>7} {:>7}",
        "combination",
        format!("P@{k}"),
        "95 % interval",
        format!("mAP@{k}"),
        format!("nDCG@{k}"),
        "MRR"
    );
    for (name, Evaluation { metrics: m, precision_interval: (lo, hi), .. }) in &rows {
        let interval = format!("[{lo:.3}, {hi:.3}]");
        println!("{name:<26} {:>7.3} {interval:>14} {:>7.3} {:>7.3} {:>7.3}", m.precision_at_k, m.map_at_k, m.ndcg_at_k, m.mrr);
    }
    if let Some((_, Evaluation { random: r, .. })) = rows.first() {
        println!(
            "{:<26} {:>7.3} {:>14} {:>7.3} {:>7.3} {:>7.3}",
            "random (exact expectation)", r.precision_at_k, "", r.map_at_k, r.ndcg_at_k, r.mrr
        );
    }
    println!(
        "({} queries: works with a label that another work shares; the query's own work is never a candidate)",
        rows.first().map_or(0, |(_, e)| e.metrics.queries)
    );
    if let Some(scores) = inference {
        println!("\nWork inference against the labels' work column (pairwise \"same work\"):\n{}", super::works::describe_scores(&scores));
    }
    Ok(0)
}
