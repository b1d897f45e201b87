//! `strata path` and `strata order`: sequences through the library ([`crate::journey`]).

use super::search::prepare_search;
use super::works_search::prepare_layers;
use super::*;
use crate::journey::order::{descriptors_for, order_along};
use crate::journey::path::{step_similarities, track_path, work_path};
use crate::search::layer_index::Pruning;

/// The snapshot index of `track` (a path as indexed, or a catalog id).
fn find_track(snapshot: &LibrarySnapshot, track: &str) -> anyhow::Result<usize> {
    snapshot.find(track).ok_or_else(|| anyhow::anyhow!("'{track}' is not an indexed track (give its path or catalog id)"))
}

pub(super) fn path_command(data_dir: &DataDir, from: &str, to: &str, steps: usize, args: &QueryArgs, json: bool) -> anyhow::Result<i32> {
    let mut prepared = prepare_search(data_dir, args, Pruning::Never)?;
    let snapshot = prepared.engine.snapshot().clone();
    let (from, to) = (find_track(&snapshot, from)?, find_track(&snapshot, to)?);
    let started = prepare_layers(&mut prepared);
    let (facets, weights) = (&prepared.facets, &prepared.weights);
    let path = match args.unit {
        Unit::Track => track_path(&mut prepared.engine, facets, weights, from, to, steps),
        Unit::Work => work_path(&mut prepared.engine, &snapshot.works, facets, weights, from, to, steps),
    };
    log::debug!("path found in {:.1} ms", started.elapsed().as_secs_f64() * 1e3);
    let steps_similarity = step_similarities(&mut prepared.engine, facets, weights, &path);
    let paths: Vec<String> = path.iter().map(|&t| snapshot.tracks[t].path.display().to_string()).collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({"path": paths, "step_similarities": steps_similarity}))?);
        return Ok(0);
    }
    for (i, &t) in path.iter().enumerate() {
        let track = &snapshot.tracks[t];
        let step = if i == 0 { String::from("     ") } else { format!("{:.3}", steps_similarity[i - 1]) };
        println!("{step}  {} — {}", track.display_title(), track.tags.composer.as_deref().unwrap_or("?"));
    }
    let mean = steps_similarity.iter().sum::<f32>() / steps_similarity.len().max(1) as f32;
    let weakest = steps_similarity.iter().copied().fold(f32::INFINITY, f32::min);
    println!("(each line's number: its similarity to the line before; mean {mean:.3}, weakest {weakest:.3})");
    Ok(0)
}

pub(super) fn order_command(
    data_dir: &DataDir,
    by: &str,
    descending: bool,
    tracks: &[String],
    model: &str,
    json: bool,
) -> anyhow::Result<i32> {
    let descriptors = descriptors_for(by).ok_or_else(|| {
        let aspects: Vec<&str> = crate::insight::aspects::ASPECTS.iter().map(|a| a.name).collect();
        anyhow::anyhow!("no aspect or descriptor '{by}' (aspects: {}; or a descriptor key)", aspects.join(", "))
    })?;
    let snapshot = load_snapshot(data_dir, model)?;
    let selection: Vec<usize> = tracks.iter().map(|t| find_track(&snapshot, t)).collect::<anyhow::Result<_>>()?;
    let order = order_along(&snapshot.tracks, &selection, &descriptors, descending);
    let paths: Vec<String> = order.iter().map(|&t| snapshot.tracks[t].path.display().to_string()).collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({"order": paths}))?);
    } else {
        for path in paths {
            println!("{path}");
        }
    }
    Ok(0)
}
