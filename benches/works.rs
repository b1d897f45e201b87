//! Works and journeys at scale, each beside a track query measured in the same run.
//!
//! `cargo bench --profile dev --bench works [-- TRACKS]` (default 100,000):
//! a synthetic MusicNN-shaped store of library-like embeddings (tests/support's
//! `LibraryLikeEmbeddings`), tagged as albums of 12 tracks holding three
//! 4-movement works, queried in a 6-facet aspect mix:
//! - one work query (`similar --unit work`) per combination;
//! - `neighbours --all --unit work`: a slice of the works timed, the rest extrapolated;
//! - `path` by tracks and by works, and how smooth it is beside a random path.
#![allow(clippy::unwrap_used, reason = "tests fail by panicking, helpers included")]

use std::sync::Arc;
use std::time::Instant;

#[path = "../tests/support/mod.rs"]
mod support;

use strata::journey::path::{step_similarities, track_path, work_path};
use strata::prng::SplitMix64;
use strata::search::{Facet, SearchEngine};
use strata::storage::catalog::TrackTags;
use strata::storage::data_dir::DataDir;
use strata::storage::snapshot::LibrarySnapshot;
use strata::works::similarity::{WorkCombination, WorkSearch};

/// MusicNN's layer dimensions (the default model).
const MUSICNN_DIMS: [usize; 9] = [408, 153, 64, 64, 64, 753, 753, 200, 50];

fn tags(track: usize) -> TrackTags {
    let (album, work, movement) = (track / 12, track / 4, track % 4 + 1);
    TrackTags {
        title: Some(format!("Work {work}: {movement}")),
        work: Some(format!("Work {work}")),
        composer: Some(format!("Composer {}", track / 192)),
        album: Some(format!("Album {album}")),
        track_no: Some(u32::try_from(track % 12 + 1).unwrap()),
        ..Default::default()
    }
}

fn millis(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

/// Mean and worst of a list of timings.
fn summary(values: &[f64]) -> String {
    let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
    format!("{mean:7.1} ms (worst {:6.1})", values.iter().copied().fold(0.0, f64::max))
}

fn main() {
    let tracks: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(100_000);
    let tmp = tempfile::tempdir().unwrap();
    let built = Instant::now();
    support::write_synthetic_model(&tmp.path().join("models"), "musicnn-synthetic", &MUSICNN_DIMS);
    let mut embeddings = support::LibraryLikeEmbeddings::new(1, 2.0);
    support::write_tagged_synthetic_store(
        tmp.path(),
        "musicnn-synthetic",
        &MUSICNN_DIMS,
        tracks,
        |t, l, d| embeddings.vector(t, l, d),
        tags,
    );
    let loaded = Instant::now();
    let snapshot = Arc::new(LibrarySnapshot::load(&DataDir::at(tmp.path()), "musicnn-synthetic").unwrap());
    println!(
        "{tracks} tracks, MusicNN-shaped ({} values per track), written in {:.0} s, loaded with {} works inferred in {:.2} s",
        MUSICNN_DIMS.iter().sum::<usize>(),
        loaded.duration_since(built).as_secs_f64(),
        snapshot.works.works.len(),
        loaded.elapsed().as_secs_f64()
    );
    // Six facets on six layers, as the aspects resolve on MusicNN, weighted unevenly.
    let facets: Vec<Facet> = [0, 1, 5, 6, 7, 9].iter().map(|&layer| Facet { name: format!("layer{layer}"), layer }).collect();
    let weights = [1.0, 0.5, 1.0, 0.7, 0.3, 0.2];
    let mut engine = SearchEngine::new(snapshot.clone(), true);
    let prepared = Instant::now();
    for facet in &facets {
        engine.layer(facet.layer);
    }
    println!("layer indexes built once: {:.2} s", prepared.elapsed().as_secs_f64());
    let runs = 20;
    let mut rng = SplitMix64(7);
    let picks: Vec<usize> = (0..runs).map(|_| rng.below(tracks)).collect();

    let track_ms: Vec<f64> = picks
        .iter()
        .map(|&q| {
            let started = Instant::now();
            std::hint::black_box(engine.query(q, &facets).rank(&weights, 10, &|_| false));
            millis(started)
        })
        .collect();
    println!("reference: one track query (`similar`, top 10):        {}", summary(&track_ms));

    let mut search = WorkSearch::from_works(&snapshot.works);
    for combination in [WorkCombination::BestMatch, WorkCombination::Symmetric, WorkCombination::Weakest, WorkCombination::MeanVector] {
        let first = Instant::now();
        search.rank(&mut engine, 0, &facets, &weights, combination, 10, &|_| false);
        let first_ms = millis(first);
        let times: Vec<f64> = picks
            .iter()
            .map(|&t| {
                let started = Instant::now();
                std::hint::black_box(search.rank(
                    &mut engine,
                    snapshot.works.work_of_track[t],
                    &facets,
                    &weights,
                    combination,
                    10,
                    &|_| false,
                ));
                millis(started)
            })
            .collect();
        println!("one work query (`similar --unit work`), {combination:<12?} {} (first use {first_ms:.0} ms)", summary(&times));
    }

    let works = search.len();
    for (combination, slice) in [(WorkCombination::BestMatch, 256.min(works)), (WorkCombination::MeanVector, 1024.min(works))] {
        let queries: Vec<usize> = (0..slice).collect();
        let started = Instant::now();
        std::hint::black_box(search.rank_many(&mut engine, &queries, &facets, &weights, combination, 10, &|_, _| false));
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "`neighbours --all --unit work`, {combination:?}: {slice} of {works} works in {seconds:.2} s ({:.1} ms per work){}",
            1000.0 * seconds / slice as f64,
            if slice < works { format!(", all {works} ≈ {:.0} s", seconds * works as f64 / slice as f64) } else { String::new() }
        );
    }

    let (mut path_ms, mut work_path_ms) = (Vec::new(), Vec::new());
    let (mut smooth, mut random, mut weakest, mut random_weakest, mut direct) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for pair in picks.chunks(2) {
        let (a, b) = (pair[0], pair[1]);
        let started = Instant::now();
        let path = track_path(&mut engine, &facets, &weights, a, b, 8);
        path_ms.push(millis(started));
        let started = Instant::now();
        std::hint::black_box(work_path(&mut engine, &snapshot.works, &facets, &weights, a, b, 8));
        work_path_ms.push(millis(started));
        let steps = step_similarities(&mut engine, &facets, &weights, &path);
        let mut shuffled = vec![a];
        shuffled.extend((0..8).map(|_| rng.below(tracks)));
        shuffled.push(b);
        let random_steps = step_similarities(&mut engine, &facets, &weights, &shuffled);
        let mean = |v: &[f32]| f64::from(v.iter().sum::<f32>()) / v.len() as f64;
        let least = |v: &[f32]| f64::from(v.iter().copied().fold(f32::INFINITY, f32::min));
        smooth += mean(&steps);
        random += mean(&random_steps);
        weakest += least(&steps);
        random_weakest += least(&random_steps);
        direct += f64::from(step_similarities(&mut engine, &facets, &weights, &[a, b])[0]);
    }
    let pairs = path_ms.len() as f64;
    println!("`path A B --steps 8`:               {}", summary(&path_ms));
    println!("`path A B --steps 8 --unit work`:   {}", summary(&work_path_ms));
    println!(
        "step similarity (mean over {pairs} pairs): path mean {:.3}, weakest {:.3}; random path mean {:.3}, weakest {:.3}; A to B directly {:.3}",
        smooth / pairs,
        weakest / pairs,
        random / pairs,
        random_weakest / pairs,
        direct / pairs
    );
}
