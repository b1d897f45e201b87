//! `strata probe`, `strata eval` and `strata map`: what the layers say, how well rankings retrieve, the library as a picture.

use super::*;
use crate::analysis::descriptors::Descriptor;
use crate::insight::aspects::resolve_aspects;
use crate::insight::best_mix;
use crate::insight::eval::{Evaluation, evaluate_rankings, hubness};
use crate::insight::held_out::Split;
use crate::insight::label_source;
use crate::insight::library_probe;
use crate::insight::probe::ProbeOptions;
use crate::map;
use crate::search::layer_index::Pruning;
use crate::search::{Exclusion, Facet, SearchEngine, is_excluded};
use crate::storage::data_dir::DataDir;
use std::path::Path;

pub(super) fn probe_command(data_dir: &DataDir, model_name: &str, folds: usize, json: bool) -> anyhow::Result<i32> {
    let snapshot = load_snapshot(data_dir, model_name)?;
    let options = ProbeOptions { folds: folds.max(2), ..ProbeOptions::default() };
    let table = match library_probe::load_probe(data_dir, &snapshot, options.folds) {
        Some(table) => table,
        None => {
            let bar = indicatif::ProgressBar::new(snapshot.layer_names().len() as u64);
            if json {
                bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
            }
            let table = library_probe::run_probe(&snapshot, &options, &mut |done, _| bar.set_position(done as u64));
            bar.finish_and_clear();
            library_probe::save_probe(data_dir, &snapshot, &table)?;
            table
        }
    };
    let resolved = resolve_aspects(&table);
    if json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({"model": model_name, "probe": table, "aspects": resolved}))?);
        return Ok(0);
    }
    println!(
        "Probe R² ({}-fold CV Ridge, {} tracks, model {model_name}); * marks the best layer per descriptor",
        table.folds, table.tracks
    );
    print!("{:<14}", "layer");
    for target in &table.targets {
        print!(" {:>9}", short_descriptor(target));
    }
    println!();
    for (l, layer) in table.layers.iter().enumerate() {
        print!("{layer:<14}");
        for t in 0..table.targets.len() {
            let value = table.cell(l, t);
            let best = table.best_layer(t).is_some_and(|(b, _)| b == l);
            let text = if value.is_finite() { format!("{value:.3}") } else { "n/a".into() };
            print!(" {:>8}{}", text, if best { "*" } else { " " });
        }
        println!();
    }
    println!("\nAspects → layers:");
    for aspect in &resolved {
        println!("  {:<12} {:<14} R² {:.3}", aspect.name, aspect.layer_name, aspect.r2);
    }
    Ok(0)
}

/// The descriptor's short label from its table; a key Strata does not know, cut to the column.
pub(super) fn short_descriptor(key: &str) -> String {
    Descriptor::from_key(key).map_or_else(|| key.chars().take(9).collect(), |d| d.short_label().to_string())
}

/// What `strata eval` compares and how, beyond the label and the ranking options.
pub(super) struct EvalScope<'a> {
    /// Only tracks sharing the query's value of this label are candidates.
    pub(super) within: Option<&'a str>,
    /// With `best_mix`, also leave each collection (this label up to its first '/') out.
    pub(super) collection: Option<&'a str>,
    /// Report the best mix and the best layer, chosen held out.
    pub(super) best_mix: bool,
}

/// Folds by work for `--best-mix`: whole works dealt into this many folds.
const WORK_FOLDS: usize = 5;

/// The most tracks (or works) `strata eval` ranks. It keeps a full ranking
/// of every item for every query (8·n² bytes: 3.2 GB at 20,000) and ranks
/// n² pairs per layer, so a 300,000-track archive would need 720 GB; the
/// kernel killed it. It is meant for labelled libraries.
pub(super) const EVAL_MAX_ITEMS: usize = 20_000;

/// Refuses, with what it would cost and what to do instead, an evaluation
/// over more than [`EVAL_MAX_ITEMS`] `items` ("tracks" or "works").
pub(super) fn check_eval_size(count: usize, items: &str) -> anyhow::Result<()> {
    if count > EVAL_MAX_ITEMS {
        let gigabytes = 8.0 * (count as f64).powi(2) / 1e9;
        anyhow::bail!(
            "eval ranks all {count} {items} for every query and keeps those rankings: about {gigabytes:.0} GB of memory. \
             It evaluates labelled libraries of up to {EVAL_MAX_ITEMS} {items}: index a labelled part of the collection into its \
             own data folder (`strata --data-dir DIR index FOLDER`) and evaluate that"
        );
    }
    Ok(())
}

pub(super) fn eval_command(
    data_dir: &DataDir,
    label: &str,
    labels_csv: Option<&Path>,
    args: &QueryArgs,
    scope: &EvalScope<'_>,
    json: bool,
) -> anyhow::Result<i32> {
    // Evaluation ranks every track for every query: heads would only add work.
    let mut prepared = prepare_search(data_dir, args, Pruning::Never)?;
    let snapshot = prepared.engine.snapshot().clone();
    check_eval_size(snapshot.len(), "tracks")?;
    let labels = label_source::track_labels(&snapshot.tracks, label, labels_csv)?;
    if labels.iter().all(Option::is_none) {
        anyhow::bail!("no track has a '{label}' label");
    }
    let within = scope.within.map(|within| label_source::track_labels(&snapshot.tracks, within, labels_csv)).transpose()?;
    let exclusion = prepared.exclusion;
    let rank_all = |engine: &mut SearchEngine, facets: &[Facet], weights: &[f32]| -> Vec<Vec<usize>> {
        (0..snapshot.len())
            .map(|q| {
                let scores = engine.query(q, facets);
                scores.rank(weights, snapshot.len(), &|_| false).iter().map(|r| r.track).collect()
            })
            .collect()
    };
    // The works: from a labels file with a `work` column (ground truth), else the tags.
    let works = labels_csv
        .and_then(|csv| label_source::track_labels(&snapshot.tracks, "work", Some(csv)).ok())
        .unwrap_or_else(|| snapshot.tracks.iter().map(|t| crate::search::work_label(t).map(str::to_string)).collect());
    let csv_works = labels_csv.is_some() && works.iter().any(Option::is_some);
    let exclude = |q: usize, c: usize| {
        let outside = within.as_ref().is_some_and(|w| w[q].is_none() || w[q] != w[c]);
        let excluded = if exclusion.same_work && csv_works {
            (works[q].is_some() && works[q] == works[c]) || is_excluded(&snapshot, q, c, Exclusion { same_work: false, ..exclusion })
        } else {
            is_excluded(&snapshot, q, c, exclusion)
        };
        outside || excluded
    };
    let k = args.k;
    let mut rows = Vec::new();
    for (layer, name) in snapshot.layer_names().into_iter().enumerate() {
        let facet = [Facet { name: name.clone(), layer }];
        let rankings = rank_all(&mut prepared.engine, &facet, &[1.0]);
        rows.push((name, evaluate_rankings(&rankings, &labels, k, &exclude), hubness(&rankings, k)));
    }
    let mix_name = prepared.facets.iter().zip(&prepared.weights).map(|(f, w)| format!("{}={w}", f.name)).collect::<Vec<_>>().join(",");
    let rankings = rank_all(&mut prepared.engine, &prepared.facets.clone(), &prepared.weights.clone());
    rows.push((format!("mix[{mix_name}]"), evaluate_rankings(&rankings, &labels, k, &exclude), hubness(&rankings, k)));
    let (mut mix_note, mut chosen): (Option<String>, std::collections::HashMap<String, Vec<String>>) = (None, Default::default());
    if scope.best_mix {
        let resolved = resolve_aspects(&library_probe::probe_or_compute(data_dir, &snapshot));
        let candidates = best_mix::mix_candidates(&resolved);
        let mut splits = vec![Split::by_group(&format!("by work ({WORK_FOLDS} folds)"), &works, WORK_FOLDS, best_mix::MIX_SPLIT_SEED)];
        if let Some(column) = scope.collection {
            let collections = label_source::track_labels(&snapshot.tracks, column, labels_csv)?
                .into_iter()
                .map(|value| value.map(|v| v.split('/').next().unwrap_or_default().to_string()))
                .collect::<Vec<_>>();
            splits.push(Split::one_per_group("one collection out", &collections));
        }
        let layer_names = snapshot.layer_names();
        let single_layers: Vec<Vec<Facet>> =
            layer_names.iter().enumerate().map(|(layer, name)| vec![Facet { name: name.clone(), layer }]).collect();
        let mut rank = |facets: &[Facet]| rank_all(&mut prepared.engine, facets, &vec![1.0; facets.len()]);
        let mut mix_rows = best_mix::best_mix_rows("best layer", &single_layers, &mut rank, &labels, k, &exclude, &layer_names, &splits);
        let mut note = if candidates.is_empty() {
            "--best-mix: no aspect has probe evidence on this library yet (too few analysed tracks), so no mix was tried.".to_string()
        } else {
            mix_rows.extend(best_mix::best_mix_rows("best mix", &candidates, &mut rank, &labels, k, &exclude, &layer_names, &splits));
            format!(
                "{} mixes tried: every set of the layers the aspects use, weight 1 each. \"held out\" ranks the queries of each fold\n\
                 by the layer or mix chosen (best P@{k}) on the queries and candidates of the other folds: whole works per fold, or one\n\
                 collection per fold; \"in-sample\" chooses and scores on the same labels.",
                candidates.len()
            )
        };
        for row in &mix_rows {
            note.push_str(&format!("\n  {} chose {}", row.name, row.chosen.join(" | ")));
        }
        mix_note = Some(note);
        chosen = mix_rows.iter().map(|row| (row.name.clone(), row.chosen.clone())).collect();
        rows.extend(mix_rows.into_iter().map(|row| (row.name, row.evaluation, row.hubness)));
    }
    if json {
        let items: Vec<_> = rows
            .iter()
            .map(|(n, e, h)| {
                serde_json::json!({"name": n, "metrics": e.metrics, "random": e.random, "precision_at_k_ci95": e.precision_interval,
                    "hubness": h, "chosen": chosen.get(n)})
            })
            .collect();
        let report = serde_json::json!({"label": label, "k": k, "centered": args.center, "normalization": args.normalization(),
            "within": scope.within, "rows": items});
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(0);
    }
    let within_note = scope.within.map_or_else(String::new, |w| format!(", candidates within the query's '{w}'"));
    println!("Retrieval by '{label}' (k = {k}, {} tracks, layers normalised: {:?}{within_note})", snapshot.len(), args.normalization());
    // As wide as the longest name (an aspect mix lists its weights), so the columns line up.
    let width = rows.iter().map(|(name, _, _)| name.chars().count()).max().unwrap_or(0).max(26);
    println!(
        "{:<width$} {:>7} {:>14} {:>7} {:>7} {:>7} {:>7} {:>8} {:>6} {:>4}",
        "ranking",
        format!("P@{k}"),
        "95 % interval",
        format!("mAP@{k}"),
        format!("nDCG@{k}"),
        "MRR",
        format!("Hit@{k}"),
        format!("N{k} skew"),
        "never",
        "hub"
    );
    for (name, Evaluation { metrics: m, precision_interval: (lo, hi), .. }, h) in &rows {
        let interval = format!("[{lo:.3}, {hi:.3}]");
        println!(
            "{:<width$} {:>7.3} {:>14} {:>7.3} {:>7.3} {:>7.3} {:>7.3} {:>8.2} {:>6.3} {:>4}",
            name,
            m.precision_at_k,
            interval,
            m.map_at_k,
            m.ndcg_at_k,
            m.mrr,
            m.hit_rate_at_k,
            h.skewness,
            h.never_suggested_share,
            h.largest_hub
        );
    }
    if let Some((_, Evaluation { random: r, .. }, _)) = rows.first() {
        println!(
            "{:<width$} {:>7.3} {:>14} {:>7.3} {:>7.3} {:>7.3} {:>7.3}",
            "random (exact expectation)", r.precision_at_k, "", r.map_at_k, r.ndcg_at_k, r.mrr, r.hit_rate_at_k
        );
    }
    println!(
        "({} queries; the interval resamples them: rankings whose intervals overlap a lot may not differ)\n\
         Hubness, over every track's {k} nearest (no labels, no exclusion): N{k} skew is the skewness of how often each track is\n\
         suggested, never the share of tracks in nobody's top {k}, hub the most lists one track is in.",
        rows.first().map_or(0, |(_, e, _)| e.metrics.queries)
    );
    if let Some(note) = mix_note {
        println!("{note}");
    }
    Ok(0)
}

pub(super) fn map_command(data_dir: &DataDir, out: &Path, method: map::Method, args: &QueryArgs) -> anyhow::Result<i32> {
    let prepared = prepare_search(data_dir, args, Pruning::Never)?;
    let snapshot = prepared.engine.snapshot().clone();
    let parts: Vec<(usize, f32)> = prepared.facets.iter().map(|f| f.layer).zip(prepared.weights.iter().copied()).collect();
    let source = match parts.as_slice() {
        [(layer, _)] => map::MapSource::Layer(*layer),
        _ => map::MapSource::Mix(parts),
    };
    let features = map::SourceFeatures::new(&snapshot, &source);
    let started = std::time::Instant::now();
    let points = map::project(&features, method, 42, &mut |_, _| {}, &|| false)?.points;
    let preserved = map::neighbourhood_preservation(&features, &points, 10.min(snapshot.len().saturating_sub(1)));
    eprintln!(
        "{} tracks projected with {method:?} in {:.2} s; {:.1} % of each track's 10 nearest neighbours stay among its 10 nearest on the map",
        snapshot.len(),
        started.elapsed().as_secs_f64(),
        preserved * 100.0
    );
    let is_png = out.extension().is_some_and(|e| e.eq_ignore_ascii_case("png"));
    if is_png {
        let labels: Vec<String> =
            snapshot.tracks.iter().map(|t| t.tags.composer.clone().unwrap_or_else(|| "(no composer)".into())).collect();
        let names: Vec<String> = prepared.facets.iter().map(|f| format!("{}@{}", f.name, snapshot.layer_names()[f.layer])).collect();
        let title = format!("{} · {method:?} · {}", snapshot.model.manifest.display_name, names.join(" + "));
        crate::map::render::render_png(&points, &labels, &title, out)?;
    } else {
        let mut writer = csv::Writer::from_path(out)?;
        writer.write_record(["path", "x", "y", "composer", "album"])?;
        for (track, point) in snapshot.tracks.iter().zip(&points) {
            writer.write_record([
                track.path.display().to_string(),
                point[0].to_string(),
                point[1].to_string(),
                track.tags.composer.clone().unwrap_or_default(),
                track.tags.album.clone().unwrap_or_default(),
            ])?;
        }
        writer.flush()?;
    }
    Ok(0)
}
