//! `strata index` and `strata check`: building the library and verifying it.

use super::*;
use crate::indexer::{self, IndexEvent, IndexOptions};
use crate::storage::data_dir::DataDir;
use crate::storage::store_check;
use crate::storage::writer_lock::{LockWait, WriterLock};
use std::path::Path;

/// Examples listed per problem kind before "and N more".
pub(super) const CHECK_EXAMPLES: usize = 5;

pub(super) fn check(
    data_dir: &DataDir,
    repair: bool,
    requeue_unverified: bool,
    model_name: Option<&str>,
    json: bool,
) -> anyhow::Result<i32> {
    // Repair checks under the writer lock, so no indexer commits between the check and the re-queue.
    let lock = if repair {
        let mut on_wait = |pid: Option<u32>| {
            let holder = pid.map(|pid| format!(" (pid {pid})")).unwrap_or_default();
            eprintln!("another Strata{holder} is indexing this library; waiting for it to finish…");
        };
        Some(WriterLock::acquire(data_dir, LockWait::Wait, &mut on_wait)?)
    } else {
        None
    };
    let report = store_check::check_store(data_dir, model_name)?;
    let requeued = match &lock {
        Some(lock) => Some(store_check::requeue_damaged(data_dir, &report, requeue_unverified, lock)?),
        None => None,
    };
    drop(lock);
    // Re-queuing cures damaged rows; a damaged catalog file it cannot cure.
    let damaged_left = !report.catalog_problems.is_empty() || (requeued.is_none() && !report.is_clean());
    if json {
        let doc = serde_json::json!({"clean": report.is_clean(), "report": report, "requeued": requeued});
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(if damaged_left { 1 } else { 0 });
    }
    for model in &report.models {
        if let Some(reason) = &model.not_checked {
            println!("{}: not checked: {reason}", model.model);
            continue;
        }
        println!(
            "{}: {} tracks, {} verified, {} damaged, {} unverifiable.",
            model.model,
            model.tracks,
            model.verified,
            model.damaged.len(),
            model.unverified
        );
        for (&problem, &count) in &model.problem_counts {
            println!("  {count} × {} ({})", problem.name(), problem.describe());
            let examples: Vec<_> = model.damaged.iter().filter(|d| d.problems.contains(&problem)).collect();
            for damaged in examples.iter().take(CHECK_EXAMPLES) {
                println!("      {} (id {})", damaged.path.display(), damaged.track_id);
            }
            if examples.len() > CHECK_EXAMPLES {
                println!("      … and {} more", examples.len() - CHECK_EXAMPLES);
            }
        }
        if model.unverified > 0 {
            println!(
                "  {} tracks were written by an older Strata without row records and cannot be verified \
                 (`strata check --repair --requeue-unverified` has them re-analysed).",
                model.unverified
            );
        }
        if model.other_version > 0 {
            println!(
                "  {} tracks were analysed by another model or analysis version; the next `strata index` redoes them.",
                model.other_version
            );
        }
    }
    if report.catalog_problems.is_empty() {
        println!("catalog: SQLite integrity check ok.");
    } else {
        println!(
            "catalog: SQLite integrity check failed (re-queuing cannot fix this; restore catalog.sqlite from a backup or index again into an empty data folder):"
        );
        for line in report.catalog_problems.iter().take(CHECK_EXAMPLES * 2) {
            println!("  {line}");
        }
    }
    match requeued {
        Some(n) => println!("{n} tracks will be re-analysed by the next `strata index`."),
        None if report.damaged_tracks() > 0 => {
            println!("The store is damaged ({} tracks): run `strata check --repair`, then `strata index`.", report.damaged_tracks())
        }
        None => {}
    }
    Ok(if damaged_left { 1 } else { 0 })
}

pub(super) fn index(data_dir: &DataDir, options: IndexOptions, json: bool) -> anyhow::Result<i32> {
    let handle = indexer::start(data_dir.clone(), options)?;
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} tracks  {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    if json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut summary = None;
    for event in handle.events.iter() {
        match event {
            IndexEvent::Started { to_analyse, unchanged, removed } => {
                bar.set_length(to_analyse as u64);
                bar.println(format!("{to_analyse} to analyse, {unchanged} unchanged, {removed} removed"));
            }
            IndexEvent::Progress(p) => {
                bar.set_position(p.done as u64);
                let eta = p.eta_s().map_or_else(|| "?".into(), format_duration);
                bar.set_message(format!(
                    "{:.2} h audio  {:.0} audio-s/s  {:.2} tracks/s  ETA {eta}  {}",
                    p.audio_s / 3600.0,
                    p.audio_s_per_s(),
                    p.tracks_per_s(),
                    p.current.as_deref().and_then(Path::file_name).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
                ));
            }
            IndexEvent::TrackFailed(failure) => bar.println(format!("failed: {}: {}", failure.path.display(), failure.reason)),
            IndexEvent::Finished(s) => summary = Some(s),
            IndexEvent::Error(message) => {
                bar.finish_and_clear();
                anyhow::bail!(message);
            }
            IndexEvent::WaitingForWriter { pid } => {
                // On stderr even with --json: the run is not stuck, it waits its turn.
                let holder = pid.map(|pid| format!(" (pid {pid})")).unwrap_or_default();
                bar.suspend(|| eprintln!("another Strata{holder} is indexing this library; waiting…"));
            }
            IndexEvent::TrackDone { path, warnings } => {
                if !warnings.is_empty() {
                    bar.println(format!("warning: {}: {}", path.display(), warnings.join("; ")));
                }
            }
            IndexEvent::Committed => {}
        }
    }
    bar.finish_and_clear();
    let summary = summary.ok_or_else(|| anyhow::anyhow!("the indexer stopped without a summary"))?;
    if json {
        let listed = |entries: &[crate::storage::catalog::Failure]| -> Vec<serde_json::Value> {
            entries.iter().map(|f| serde_json::json!({"path": f.path.display().to_string(), "reason": f.reason})).collect()
        };
        println!(
            "{}",
            serde_json::json!({
                "indexed": summary.indexed, "unchanged": summary.unchanged, "removed": summary.removed,
                "failed": listed(&summary.failed), "audio_s": summary.audio_s, "elapsed_s": summary.elapsed_s,
                "skipped": listed(&summary.skipped), "unreadable_dirs": listed(&summary.unreadable_dirs),
                "warnings": listed(&summary.warnings), "found": summary.found, "not_analysed": summary.not_analysed,
            })
        );
    } else {
        println!(
            "Found {} files: {} indexed ({:.2} h of audio, {} with warnings), {} unchanged, {} failed, {} skipped{}; {} removed; {}.",
            summary.found,
            summary.indexed,
            summary.audio_s / 3600.0,
            summary.warnings.len(),
            summary.unchanged,
            summary.failed.len(),
            summary.skipped.len(),
            if summary.not_analysed > 0 { format!(", {} not analysed (cancelled)", summary.not_analysed) } else { String::new() },
            summary.removed,
            format_duration(summary.elapsed_s),
        );
        for failure in &summary.failed {
            println!("  failed: {}: {}", failure.path.display(), failure.reason);
        }
        for warning in &summary.warnings {
            println!("  warning: {}: {}", warning.path.display(), warning.reason);
        }
        for skipped in &summary.skipped {
            println!("  skipped: {}: {}", skipped.path.display(), skipped.reason);
        }
        for dir in &summary.unreadable_dirs {
            println!("  unreadable folder: {}: {}", dir.path.display(), dir.reason);
        }
    }
    Ok(0)
}
