//! `strata similar` and `strata neighbours`: queries over the library.

use super::*;
use crate::insight::aspects::{ASPECTS, aspect_by_name, resolve_aspects};
use crate::insight::library_probe;
use crate::search::all_pairs::all_neighbours;
use crate::search::layer_index::Pruning;
use crate::search::{Exclusion, Facet, SearchEngine, best_passage};
use crate::storage::data_dir::DataDir;
use std::io::Write;
use std::sync::Arc;

/// A snapshot with its search engine and the facets and weights a query asked for.
pub(super) struct PreparedSearch {
    pub(super) engine: SearchEngine,
    pub(super) facets: Vec<Facet>,
    pub(super) weights: Vec<f32>,
    pub(super) exclusion: Exclusion,
}

/// Loads the snapshot and resolves the query options. `pruning`: search
/// heads pay for their fitting over many queries that each want a few results.
pub(super) fn prepare_search(data_dir: &DataDir, args: &QueryArgs, pruning: Pruning) -> anyhow::Result<PreparedSearch> {
    let snapshot = Arc::new(load_snapshot(data_dir, &args.model)?);
    if snapshot.is_empty() {
        anyhow::bail!("no tracks are indexed for model '{}'", args.model);
    }
    let manifest = &snapshot.model.manifest;
    let layer_names = snapshot.layer_names();
    let mut facets = Vec::new();
    let mut weights = Vec::new();
    for layer in &args.layers {
        let index = layer
            .parse::<usize>()
            .ok()
            .filter(|&i| i < layer_names.len())
            .or_else(|| snapshot.layer_index(layer))
            .ok_or_else(|| anyhow::anyhow!("no layer '{layer}' (layers: {})", layer_names.join(", ")))?;
        facets.push(Facet { name: layer_names[index].clone(), layer: index });
        weights.push(1.0);
    }
    if !args.aspects.is_empty() || args.layers.is_empty() {
        let resolved = resolve_aspects(&library_probe::probe_or_compute(data_dir, &snapshot));
        let requested: Vec<(String, f32)> = if args.aspects.is_empty() {
            resolved.iter().map(|a| (a.name.clone(), 1.0)).collect()
        } else {
            args.aspects.iter().map(|spec| parse_weight(spec)).collect::<anyhow::Result<_>>()?
        };
        for (name, weight) in requested {
            let Some(aspect) = resolved.iter().find(|a| a.name == name) else {
                if aspect_by_name(&name).is_none() {
                    let known: Vec<&str> = ASPECTS.iter().map(|a| a.name).collect();
                    anyhow::bail!("no aspect '{name}' (aspects: {})", known.join(", "));
                }
                anyhow::bail!("aspect '{name}' has no probe evidence on this library yet (too few analysed tracks)");
            };
            facets.push(Facet { name: aspect.name.clone(), layer: aspect.layer });
            weights.push(weight);
        }
    }
    if facets.is_empty() {
        // Too few tracks to probe: compare on the passage layer alone.
        let layer = manifest.passage_layer_index();
        facets.push(Facet { name: manifest.layers[layer].name.clone(), layer });
        weights.push(1.0);
    }
    let exclusion = Exclusion { same_album: args.exclude_album, same_work: args.exclude_work };
    Ok(PreparedSearch { engine: SearchEngine::with_pruning(snapshot, args.normalization(), pruning), facets, weights, exclusion })
}

pub(super) fn parse_weight(spec: &str) -> anyhow::Result<(String, f32)> {
    let (name, weight) = spec.split_once('=').unwrap_or((spec, "1"));
    let weight: f32 = weight.trim().parse().map_err(|_| anyhow::anyhow!("bad weight in '{spec}' (use NAME=0.5)"))?;
    if !weight.is_finite() || weight < 0.0 {
        anyhow::bail!("weights must be zero or positive: '{spec}'");
    }
    Ok((name.trim().to_lowercase(), weight))
}

/// A result's score per facet, by the facet's name, for JSON output.
pub(super) fn facet_breakdown(facets: &[Facet], scores: &[f32]) -> serde_json::Map<String, serde_json::Value> {
    facets.iter().zip(scores).map(|(f, s)| (f.name.clone(), serde_json::json!(s))).collect()
}

pub(super) fn similar(data_dir: &DataDir, track: &str, args: &QueryArgs, passages: bool, json: bool) -> anyhow::Result<i32> {
    let mut prepared = prepare_search(data_dir, args, Pruning::Never)?;
    let snapshot = prepared.engine.snapshot().clone();
    let query = snapshot.find(track).ok_or_else(|| anyhow::anyhow!("'{track}' is not an indexed track (give its path or catalog id)"))?;
    let scores = prepared.engine.query(query, &prepared.facets);
    let excluded = prepared.engine.exclusion_filter(query, prepared.exclusion);
    let results = scores.rank(&prepared.weights, args.k, &excluded);
    let query_track = &snapshot.tracks[query];
    if json {
        let items: Vec<_> = results
            .iter()
            .map(|r| {
                let t = &snapshot.tracks[r.track];
                let facets = facet_breakdown(&prepared.facets, &r.facet_scores);
                let mut item = serde_json::json!({"path": t.path.display().to_string(), "id": t.id, "title": t.display_title(),
                    "composer": t.tags.composer, "album": t.tags.album, "score": r.score, "facets": facets});
                if passages && let Some(p) = best_passage(&snapshot, query, r.track) {
                    item["passage"] = serde_json::json!(p);
                }
                item
            })
            .collect();
        let facets: Vec<_> = prepared
            .facets
            .iter()
            .zip(&prepared.weights)
            .map(|(f, w)| serde_json::json!({"name": f.name, "layer": snapshot.layer_names()[f.layer], "weight": w}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"query": query_track.path.display().to_string(), "facets": facets, "results": items})
            )?
        );
        return Ok(0);
    }
    println!("Similar to {} — {}", query_track.display_title(), query_track.tags.composer.as_deref().unwrap_or("?"));
    let facet_names: Vec<String> = prepared
        .facets
        .iter()
        .zip(&prepared.weights)
        .map(|(f, w)| format!("{}@{} ×{w}", f.name, snapshot.layer_names()[f.layer]))
        .collect();
    println!("compared on: {}", facet_names.join(", "));
    for (rank, r) in results.iter().enumerate() {
        let t = &snapshot.tracks[r.track];
        let breakdown: Vec<String> = prepared.facets.iter().zip(&r.facet_scores).map(|(f, s)| format!("{}={s:.2}", f.name)).collect();
        println!(
            "{:>3}. {:.3}  {} — {}  [{}]",
            rank + 1,
            r.score,
            t.display_title(),
            t.tags.composer.as_deref().unwrap_or("?"),
            breakdown.join(" ")
        );
        if passages && let Some(p) = best_passage(&snapshot, query, r.track) {
            println!("       passage: query {:.1} s ↔ result {:.1} s (cos {:.2})", p.query_start_s, p.result_start_s, p.similarity);
        }
    }
    Ok(0)
}

pub(super) fn neighbours(data_dir: &DataDir, args: &QueryArgs) -> anyhow::Result<i32> {
    // Blocked passes over the search heads, full rows only for the pairs whose bounds can reach a top k.
    let mut prepared = prepare_search(data_dir, args, Pruning::Auto)?;
    let snapshot = prepared.engine.snapshot().clone();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut write_line = |query: usize, neighbours: &[(usize, f32)]| -> std::io::Result<()> {
        let results: Vec<String> = neighbours.iter().map(|&(t, _)| snapshot.tracks[t].path.display().to_string()).collect();
        let line = serde_json::json!({"query": snapshot.tracks[query].path.display().to_string(), "results": results});
        writeln!(out, "{line}")
    };
    all_neighbours(
        &mut prepared.engine,
        &prepared.facets,
        &prepared.weights,
        args.k,
        prepared.exclusion,
        0..snapshot.len(),
        &mut write_line,
    )?;
    out.flush()?;
    Ok(0)
}
