//! `strata probe`, `strata eval` and `strata map`: what the layers say, how well rankings retrieve, the library as a picture.

use super::*;
use crate::analysis::descriptors::Descriptor;
use crate::insight::aspects::resolve_aspects;
use crate::insight::best_mix;
use crate::insight::eval::{Evaluation, evaluate_rankings};
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

pub(super) fn eval_command(
    data_dir: &DataDir,
    label: &str,
    labels_csv: Option<&Path>,
    args: &QueryArgs,
    best_mix: bool,
    json: bool,
) -> anyhow::Result<i32> {
    // Evaluation ranks every track for every query: heads would only add work.
    let mut prepared = prepare_search(data_dir, args, Pruning::Never)?;
    let snapshot = prepared.engine.snapshot().clone();
    let labels = label_source::track_labels(&snapshot.tracks, label, labels_csv)?;
    if labels.iter().all(Option::is_none) {
        anyhow::bail!("no track has a '{label}' label");
    }
    let exclusion = prepared.exclusion;
    let rank_all = |engine: &mut SearchEngine, facets: &[Facet], weights: &[f32]| -> Vec<Vec<usize>> {
        (0..snapshot.len())
            .map(|q| {
                let scores = engine.query(q, facets);
                scores.rank(weights, snapshot.len(), &|_| false).iter().map(|r| r.track).collect()
            })
            .collect()
    };
    // With a labels file that has a `work` column, "same work" means that ground truth.
    let csv_works = match labels_csv {
        Some(csv) if exclusion.same_work => label_source::track_labels(&snapshot.tracks, "work", Some(csv)).ok(),
        _ => None,
    };
    let exclude = |q: usize, c: usize| match &csv_works {
        Some(works) => {
            (works[q].is_some() && works[q] == works[c]) || is_excluded(&snapshot.tracks, q, c, Exclusion { same_work: false, ..exclusion })
        }
        None => is_excluded(&snapshot.tracks, q, c, exclusion),
    };
    let mut rows = Vec::new();
    for (layer, name) in snapshot.layer_names().into_iter().enumerate() {
        let facet = [Facet { name: name.clone(), layer }];
        let rankings = rank_all(&mut prepared.engine, &facet, &[1.0]);
        rows.push((name, evaluate_rankings(&rankings, &labels, args.k, &exclude)));
    }
    let mix_name = prepared.facets.iter().zip(&prepared.weights).map(|(f, w)| format!("{}={w}", f.name)).collect::<Vec<_>>().join(",");
    let rankings = rank_all(&mut prepared.engine, &prepared.facets.clone(), &prepared.weights.clone());
    rows.push((format!("mix[{mix_name}]"), evaluate_rankings(&rankings, &labels, args.k, &exclude)));
    let mut mix_note = None;
    if best_mix {
        let resolved = resolve_aspects(&library_probe::probe_or_compute(data_dir, &snapshot));
        let candidates = best_mix::mix_candidates(&resolved);
        if candidates.is_empty() {
            mix_note = Some("--best-mix: no aspect has probe evidence on this library yet (too few analysed tracks).".to_string());
        } else {
            let rank = |facets: &[Facet]| rank_all(&mut prepared.engine, facets, &vec![1.0; facets.len()]);
            rows.extend(best_mix::best_mix_rows(&candidates, rank, &labels, args.k, &exclude, &snapshot.layer_names()));
            mix_note = Some(format!(
                "{} mixes tried: every set of the layers the aspects use, weight 1 each. \"held out\" ranks the queries of each random\n\
                 half by the mix chosen within the other half (no pair it scores was used to choose); \"in-sample\" chooses and scores\n\
                 on the same labels.",
                candidates.len()
            ));
        }
    }
    if json {
        let items: Vec<_> = rows
            .iter()
            .map(|(n, e)| serde_json::json!({"name": n, "metrics": e.metrics, "random": e.random, "precision_at_k_ci95": e.precision_interval}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"label": label, "k": args.k, "centered": args.center, "rows": items}))?
        );
        return Ok(0);
    }
    let k = args.k;
    println!("Retrieval by '{label}' (k = {k}, {} tracks, centring {})", snapshot.len(), if args.center { "on" } else { "off" });
    // As wide as the longest name (an aspect mix lists its weights), so the columns line up.
    let width = rows.iter().map(|(name, _)| name.chars().count()).max().unwrap_or(0).max(26);
    println!(
        "{:<width$} {:>7} {:>14} {:>7} {:>7} {:>7} {:>7}",
        "ranking",
        format!("P@{k}"),
        "95 % interval",
        format!("mAP@{k}"),
        format!("nDCG@{k}"),
        "MRR",
        format!("Hit@{k}")
    );
    for (name, Evaluation { metrics: m, precision_interval: (lo, hi), .. }) in &rows {
        let interval = format!("[{lo:.3}, {hi:.3}]");
        println!(
            "{:<width$} {:>7.3} {:>14} {:>7.3} {:>7.3} {:>7.3} {:>7.3}",
            name, m.precision_at_k, interval, m.map_at_k, m.ndcg_at_k, m.mrr, m.hit_rate_at_k
        );
    }
    if let Some((_, Evaluation { random: r, .. })) = rows.first() {
        println!(
            "{:<width$} {:>7.3} {:>14} {:>7.3} {:>7.3} {:>7.3} {:>7.3}",
            "random (exact expectation)", r.precision_at_k, "", r.map_at_k, r.ndcg_at_k, r.mrr, r.hit_rate_at_k
        );
    }
    println!(
        "({} queries; the interval resamples them: rankings whose intervals overlap a lot may not differ)",
        rows.first().map_or(0, |(_, e)| e.metrics.queries)
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
    let features = map::source_features(&snapshot, &source);
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
