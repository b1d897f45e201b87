//! Fixtures generated in code for the integration tests: WAV writing,
//! synthetic music-like signals, and ffmpeg encodes to the other formats.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, reason = "tests fail by panicking, helpers included")]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Writes interleaved f32 samples as a 16-bit PCM WAV.
pub fn write_wav(path: &Path, interleaved: &[f32], channels: u16, rate: u32) {
    let data_len = (interleaved.len() * 2) as u32;
    let mut bytes = Vec::with_capacity(44 + data_len as usize);
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&(36 + data_len).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&channels.to_le_bytes());
    bytes.extend_from_slice(&rate.to_le_bytes());
    bytes.extend_from_slice(&(rate * u32::from(channels) * 2).to_le_bytes());
    bytes.extend_from_slice(&(channels * 2).to_le_bytes());
    bytes.extend_from_slice(&16u16.to_le_bytes());
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&data_len.to_le_bytes());
    for &s in interleaved {
        bytes.extend_from_slice(&((s.clamp(-1.0, 1.0) * 32767.0).round() as i16).to_le_bytes());
    }
    std::fs::write(path, bytes).expect("write wav");
}

/// A tone with a few harmonics and an envelope: something a tagger hears as music.
pub fn tone(freq: f32, rate: u32, seconds: f32) -> Vec<f32> {
    let n = (rate as f32 * seconds) as usize;
    (0..n)
        .map(|i| {
            let t = i as f32 / rate as f32;
            let envelope = 0.6 + 0.4 * (2.0 * std::f32::consts::PI * 0.5 * t).sin();
            let mut v = 0.0;
            for h in 1..=4 {
                v += (2.0 * std::f32::consts::PI * freq * h as f32 * t).sin() / h as f32;
            }
            0.3 * envelope * v
        })
        .collect()
}

/// Duplicates a mono signal to stereo, with the right channel at half level.
pub fn stereo(mono: &[f32]) -> Vec<f32> {
    mono.iter().flat_map(|&s| [s, 0.5 * s]).collect()
}

/// Encodes `src` to `dst` with ffmpeg (installed by `make test`'s set-up).
pub fn ffmpeg(src: &Path, dst: &Path, codec_args: &[&str]) -> PathBuf {
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(src)
        .args(codec_args)
        .arg(dst)
        .status()
        .expect("ffmpeg is needed for these tests: run `make test`, which installs it");
    assert!(status.success(), "ffmpeg failed to write {}", dst.display());
    dst.to_path_buf()
}

/// Estimates the dominant frequency by counting upward zero crossings.
pub fn zero_crossing_frequency(samples: &[f32], rate: u32) -> f32 {
    let crossings = samples.windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count();
    crossings as f32 * rate as f32 / samples.len() as f32
}

/// The strata binary built for these tests.
pub fn strata_bin() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_strata"));
    command.env("RUST_LOG", "warn");
    command
}

/// A small library: tones and rhythms of different character, in WAV and FLAC,
/// plus the kinds of broken files real libraries contain.
pub fn make_library(root: &Path, tracks: usize) -> PathBuf {
    let music = root.join("music");
    std::fs::create_dir_all(music.join("Album A")).unwrap();
    std::fs::create_dir_all(music.join("Album B")).unwrap();
    std::fs::create_dir_all(music.join("_broken")).unwrap();
    for i in 0..tracks {
        let album = if i % 2 == 0 { "Album A" } else { "Album B" };
        let rate = 22_050;
        let mut signal = tone(110.0 * (1.0 + i as f32 * 0.37), rate, 9.0);
        // Every other track gets a pulse: a rhythm for the probe to find.
        if i % 2 == 1 {
            let period = rate as usize * 60 / (80 + 10 * i);
            for (n, s) in signal.iter_mut().enumerate() {
                if n % period < 400 {
                    *s += 0.4 * (1.0 - (n % period) as f32 / 400.0) * ((n as f32 * 0.9).sin());
                }
            }
        }
        let wav = music.join(album).join(format!("{i:02} Track.wav"));
        write_wav(&wav, &signal, 1, rate);
        if i % 3 == 0 {
            ffmpeg(&wav, &wav.with_extension("flac"), &["-c:a", "flac"]);
            std::fs::remove_file(&wav).unwrap();
        }
    }
    std::fs::write(music.join("_broken/empty.mp3"), b"").unwrap();
    std::fs::write(music.join("_broken/text.ogg"), "just words\n".repeat(100)).unwrap();
    write_wav(&music.join("_broken/short.wav"), &tone(440.0, 16_000, 0.05), 1, 16_000);
    std::fs::write(music.join(".hidden.flac"), b"never read").unwrap();
    music
}

/// Writes a model folder (manifest plus an empty model file, enough for
/// discovery) whose layers have the given dimensions.
pub fn write_synthetic_model(models_dir: &Path, model: &str, dims: &[usize]) {
    let dir = models_dir.join(model);
    std::fs::create_dir_all(&dir).expect("model folder");
    let mut text = format!(
        "name = \"{model}\"\ndisplay_name = \"{model}\"\nlicense = \"none\"\nsample_rate_hz = 16000\ninput_name = \"waveform\"\nwindow_s = 3.0\nhop_s = 3.0\n"
    );
    for (i, d) in dims.iter().enumerate() {
        text.push_str(&format!("[[layers]]\nname = \"layer_{i}\"\noutput = \"o\"\ndim = {d}\npool = \"none\"\n"));
    }
    std::fs::write(dir.join("manifest.toml"), text).expect("manifest");
    std::fs::write(dir.join("model.onnx"), b"").expect("model placeholder file for discovery");
}

/// Fills a data folder with `tracks` committed tracks of `model` whose
/// vectors come from `vector(track, layer, dim)`, through the real store
/// writer and catalog; one window per track (a copy of the model's last
/// layer). `layer_dims` are the model's layers; the tonal layer after them
/// (layer `layer_dims.len()`) comes from `vector` too.
pub fn write_synthetic_store(
    root: &Path,
    model: &str,
    layer_dims: &[usize],
    tracks: usize,
    vector: impl FnMut(usize, usize, usize) -> Vec<f32>,
) -> strata::storage::store::StoreLayout {
    write_tagged_synthetic_store(root, model, layer_dims, tracks, vector, |_| Default::default())
}

/// [`write_synthetic_store`] with each track's tags from `tags(track)`.
pub fn write_tagged_synthetic_store(
    root: &Path,
    model: &str,
    layer_dims: &[usize],
    tracks: usize,
    mut vector: impl FnMut(usize, usize, usize) -> Vec<f32>,
    mut tags: impl FnMut(usize) -> strata::storage::catalog::TrackTags,
) -> strata::storage::store::StoreLayout {
    use strata::storage::catalog::{Catalog, FileStamp};
    use strata::storage::store::{StoreLayout, StoreWriter};
    let all_dims: Vec<usize> = layer_dims.iter().copied().chain([strata::analysis::tonal::DIM]).collect();
    let layout = StoreLayout {
        dir: strata::storage::data_dir::DataDir::at(root).model_store_dir(model),
        layer_dims: all_dims,
        model_layers: layer_dims.len(),
        passage_layer: layer_dims.len() - 1,
    };
    let mut writer = StoreWriter::open(&layout, 0, 0).expect("store");
    let mut catalog = Catalog::open(&strata::storage::data_dir::DataDir::at(root).catalog_path()).expect("catalog");
    let batch = catalog.batch().expect("batch");
    for t in 0..tracks {
        let layers: Vec<Vec<f32>> = layout.layer_dims.iter().enumerate().map(|(l, &d)| vector(t, l, d)).collect();
        let window = layers[layout.passage_layer].clone();
        let path = PathBuf::from(format!("/music/{t:06}.flac"));
        let owner = strata::storage::store::owner_key(&strata::storage::catalog::path_bytes(&path));
        let rows = writer.append(owner, &layers, &[&window]).expect("append");
        let stamp = FileStamp { size: 1, mtime_ns: 1 };
        let id = batch.upsert_track(&path, stamp, &tags(t), Some(300.0), None).expect("track");
        batch.record_done(id, model, 1, "spread-8x6", stamp, &rows, &[0.0]).expect("analysis");
    }
    batch.commit().expect("commit");
    writer.sync().expect("sync");
    layout
}

/// Re-encodes every WAV and FLAC of `music` (outside `_broken/`) as FLAC
/// tagged like a ripped CD: album = its folder, composer by album, title from
/// the file name.
pub fn tag_library(music: &Path) {
    for album in std::fs::read_dir(music).unwrap().flatten().map(|e| e.path()).filter(|p| p.is_dir()) {
        let album_name = album.file_name().unwrap().to_string_lossy().into_owned();
        if album_name.starts_with('_') {
            continue;
        }
        let composer = format!("Composer of {album_name}");
        for file in std::fs::read_dir(&album).unwrap().flatten().map(|e| e.path()) {
            let title = file.file_stem().unwrap().to_string_lossy().into_owned();
            let tagged = album.join(format!("{title}.tagged.flac"));
            let metadata = [format!("album={album_name}"), format!("composer={composer}"), format!("title={title}")];
            let mut args: Vec<&str> = vec!["-c:a", "flac"];
            for m in &metadata {
                args.extend(["-metadata", m]);
            }
            ffmpeg(&file, &tagged, &args);
            std::fs::remove_file(&file).unwrap();
            std::fs::rename(&tagged, album.join(format!("{title}.flac"))).unwrap();
        }
    }
}

/// Library-like synthetic embeddings for search tests and benchmarks.
///
/// Tracks come in albums of 12 and albums in composers of 16. A track's
/// vector on each layer is a shared offset (so centring matters) plus
/// composer, album and track parts (variance shares 0.3, 0.3 and 0.4).
/// Their variance along direction `i` falls as `i^-decay`, the power law of
/// learned embeddings' spectra (MusicNN's per-window vectors on the
/// development library fit `decay` ≈ 2.1); `decay` 0 spreads it evenly.
/// Two Householder reflections per layer turn those directions off the
/// coordinate axes. Values are hashed from (seed, part, group, layer, i),
/// so any track is generated alone and in any order.
pub struct LibraryLikeEmbeddings {
    seed: u64,
    decay: f32,
    /// Per (layer, dimension): the scale of each direction and the two reflection vectors.
    shapes: std::collections::HashMap<(usize, usize), LayerShape>,
}

/// One layer's direction scales and reflection vectors.
type LayerShape = (Vec<f32>, [Vec<f32>; 2]);

impl LibraryLikeEmbeddings {
    /// Embeddings with spectral decay `decay`, repeatable for `seed`.
    pub fn new(seed: u64, decay: f32) -> Self {
        Self { seed, decay, shapes: Default::default() }
    }

    fn uniform(&self, part: u64, group: u64, layer: usize, i: usize) -> f32 {
        let key = self.seed
            ^ part.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ group.wrapping_mul(0xD1B5_4A32_D192_ED03)
            ^ ((layer as u64) << 48)
            ^ (i as u64).wrapping_mul(0xA24B_AED4_963E_E407);
        strata::prng::SplitMix64(key).symmetric_unit() * 3f32.sqrt()
    }

    /// Track `track`'s vector on `layer` (of `dim` dimensions).
    pub fn vector(&mut self, track: usize, layer: usize, dim: usize) -> Vec<f32> {
        let (album, composer) = ((track / 12) as u64, (track / (12 * 16)) as u64);
        if !self.shapes.contains_key(&(layer, dim)) {
            let scales: Vec<f32> = (1..=dim).map(|i| (i as f32).powf(-self.decay / 2.0)).collect();
            let reflection = |r: u64| {
                let v: Vec<f32> = (0..dim).map(|i| self.uniform(10 + r, 0, layer, i)).collect();
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                v.into_iter().map(|x| x / norm).collect::<Vec<f32>>()
            };
            let shape = (scales, [reflection(0), reflection(1)]);
            self.shapes.insert((layer, dim), shape);
        }
        let (scales, reflections) = &self.shapes[&(layer, dim)];
        let mut v: Vec<f32> = (0..dim)
            .map(|i| {
                let parts = 0.3f32.sqrt() * self.uniform(1, composer, layer, i)
                    + 0.3f32.sqrt() * self.uniform(2, album, layer, i)
                    + 0.4f32.sqrt() * self.uniform(3, track as u64, layer, i);
                scales[i] * parts
            })
            .collect();
        for r in reflections {
            let along = 2.0 * v.iter().zip(r).map(|(a, b)| a * b).sum::<f32>();
            v.iter_mut().zip(r).for_each(|(a, b)| *a -= along * b);
        }
        for (i, x) in v.iter_mut().enumerate() {
            *x += 0.5 * self.uniform(0, 0, layer, i);
        }
        v
    }
}

/// Every indexed track's vectors on every layer of the default model, by path, from a fresh snapshot.
pub fn vectors_by_path(data: &Path) -> Vec<(PathBuf, Vec<Vec<f32>>)> {
    let snapshot = strata::storage::snapshot::LibrarySnapshot::load(&strata::storage::data_dir::DataDir::at(data), "musicnn").unwrap();
    let mut rows: Vec<(PathBuf, Vec<Vec<f32>>)> = (0..snapshot.len())
        .map(|t| {
            let layers = (0..snapshot.layer_names().len()).map(|l| snapshot.layer_matrix(l).row(t).to_vec()).collect();
            (snapshot.tracks[t].path.clone(), layers)
        })
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows
}

/// Every file below `dir`, at any depth.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() { out.extend(walk(&path)) } else { out.push(path) }
    }
    out
}

/// The layers of [`write_works_library`]'s model `synthetic` (the tonal layer follows them).
pub const WORKS_LIBRARY_DIMS: [usize; 2] = [24, 16];

/// One work of [`write_works_library`]: its composer, album and tracks (store rows) in movement order.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticWork {
    pub composer: usize,
    pub album: usize,
    pub tracks: Vec<usize>,
}

/// A small classical library in a synthetic store (model `synthetic`): 3
/// composers with 4 works each, of 2 to 4 movements, two works per album,
/// tagged with WORK, COMPOSER, ALBUM and track numbers. A track's vector on
/// every layer is the composer's direction, plus its work's at 0.6, plus
/// its own at 0.4, plus an offset all share, so composer and work can be
/// heard in every layer.
pub fn write_works_library(root: &Path) -> Vec<SyntheticWork> {
    let mut works = Vec::new();
    let mut next_track = 0;
    for w in 0..12 {
        let movements = 2 + w % 3;
        works.push(SyntheticWork { composer: w / 4, album: w / 2, tracks: (next_track..next_track + movements).collect() });
        next_track += movements;
    }
    let of_track = |t: usize| works.iter().enumerate().find(|(_, w)| w.tracks.contains(&t)).map(|(i, w)| (i, w.clone())).unwrap();
    let direction = |part: u64, which: usize, layer: usize, dim: usize| -> Vec<f32> {
        let mut rng = strata::prng::SplitMix64(part * 1_000_003 + which as u64 * 7919 + layer as u64 * 104_729);
        let v: Vec<f32> = (0..dim).map(|_| rng.symmetric_unit()).collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / norm).collect()
    };
    write_synthetic_model(&root.join("models"), "synthetic", &WORKS_LIBRARY_DIMS);
    let vector = |t: usize, layer: usize, dim: usize| {
        let (w, work) = of_track(t);
        let (composer, own, track) = (direction(1, work.composer, layer, dim), direction(2, w, layer, dim), direction(3, t, layer, dim));
        (0..dim).map(|i| 2.0 + composer[i] + 0.6 * own[i] + 0.4 * track[i]).collect()
    };
    let tags = |t: usize| {
        let (w, work) = of_track(t);
        let movement = work.tracks.iter().position(|&x| x == t).unwrap() + 1;
        strata::storage::catalog::TrackTags {
            title: Some(format!("Work {w}: movement {movement}")),
            work: Some(format!("Work {w}")),
            composer: Some(format!("Composer {}", work.composer)),
            album: Some(format!("Album {}", work.album)),
            track_no: Some(u32::try_from(t - works[2 * work.album].tracks[0] + 1).unwrap()),
            ..Default::default()
        }
    };
    write_tagged_synthetic_store(root, "synthetic", &WORKS_LIBRARY_DIMS, next_track, vector, tags);
    works
}

/// The closed-form input of tests/fixtures/mert-tiny/reference.json (raw;
/// sessions normalise it), in f64 as its precision note asks.
pub fn mert_reference_input() -> Vec<f32> {
    (0..24_000)
        .map(|n| {
            let t = n as f64 / 24_000.0;
            (0.5 * (std::f64::consts::TAU * 440.0 * t).sin() + 0.25 * (std::f64::consts::TAU * 660.0 * t).sin()) as f32
        })
        .collect()
}

/// Cosine of a model's f32 output with a stored f64 reference.
pub fn cosine_with_reference(a: &[f32], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * y).sum();
    let norm_a = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let norm_b = b.iter().map(|y| y * y).sum::<f64>().sqrt();
    dot / (norm_a * norm_b)
}

/// Steps a window until `done` holds (failing, after five minutes, with
/// "timed out waiting for `what`"), then two frames more, so that what its
/// last answer changed is laid out.
pub fn step_until<S>(harness: &mut egui_kittest::Harness<'_, S>, what: &str, done: impl Fn(&S) -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    while !done(harness.state()) {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        harness.step();
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    harness.run_steps(2);
}

/// Sample rate of [`Piece`]'s renderings.
pub const PIECE_RATE: u32 = 22_050;

/// A piece for the other-recordings tests: a sequence of chords (MIDI notes) with durations in beats.
pub struct Piece {
    chords: Vec<[u8; 3]>,
    beats: Vec<f32>,
}

impl Piece {
    /// A pseudo-random chord progression in a major key from `seed`.
    pub fn new(seed: u64, chords: usize) -> Self {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n) as u8
        };
        let scale = [0u8, 2, 4, 5, 7, 9, 11];
        let chords: Vec<[u8; 3]> = (0..chords)
            .map(|_| {
                let root = next(7) as usize;
                let note = |step: usize| 60 + scale[(root + step) % 7] + if root + step >= 7 { 12 } else { 0 };
                [note(0) - 12, note(2), note(4)]
            })
            .collect();
        let beats = (0..chords.len()).map(|_| [1.0, 1.0, 2.0, 0.5][next(4) as usize]).collect();
        Piece { chords, beats }
    }

    /// Renders the piece at `seconds_per_beat`, `transpose` semitones up, after
    /// `lead_in_s` of silence, with `brightness` shaping the harmonics; returns
    /// the samples and each chord's onset time.
    pub fn render(&self, seconds_per_beat: f32, transpose: i32, lead_in_s: f32, brightness: f32) -> (Vec<f32>, Vec<f64>) {
        let mut samples = vec![0.0f32; (lead_in_s * PIECE_RATE as f32) as usize];
        let mut onsets = Vec::new();
        for (chord, &beats) in self.chords.iter().zip(&self.beats) {
            onsets.push(samples.len() as f64 / f64::from(PIECE_RATE));
            let n = (beats * seconds_per_beat * PIECE_RATE as f32) as usize;
            for i in 0..n {
                let t = i as f32 / PIECE_RATE as f32;
                let envelope = (t / 0.01).min(1.0) * (-2.0 * t).exp();
                let mut v = 0.0;
                for &note in chord {
                    let hz = 440.0 * 2f32.powf((f32::from(note) + transpose as f32 - 69.0) / 12.0);
                    for h in 1..=4 {
                        v += (2.0 * std::f32::consts::PI * hz * h as f32 * t).sin() * brightness.powi(h - 1);
                    }
                }
                samples.push(0.08 * envelope * v);
            }
        }
        samples.extend(std::iter::repeat_n(0.0, PIECE_RATE as usize));
        (samples, onsets)
    }
}

/// Writes a rendering as WAV, or (`mp3`) encoded to MP3 at 128 kbit/s.
pub fn write_version(dir: &Path, name: &str, samples: &[f32], mp3: bool) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let wav = dir.join(format!("{name}.wav"));
    write_wav(&wav, samples, 1, PIECE_RATE);
    if !mp3 {
        return wav;
    }
    let encoded = ffmpeg(&wav, &wav.with_extension("mp3"), &["-c:a", "libmp3lame", "-b:a", "128k"]);
    std::fs::remove_file(&wav).unwrap();
    encoded
}

/// Writes a small library of other recordings under `music`: two pieces in
/// two recordings each (the second slower, two semitones lower, after a 3 s
/// lead-in, as MP3, in another ensemble's folder), and one piece alone.
/// Returns the pairs (first recording, second) and the piece alone.
pub fn write_versions_library(music: &Path) -> (Vec<(PathBuf, PathBuf)>, PathBuf) {
    let mut pairs = Vec::new();
    for (seed, piece) in [(11u64, "first"), (12, "second")] {
        let notes = Piece::new(seed, 48);
        let (a, _) = notes.render(0.45, 0, 0.0, 0.5);
        let (b, _) = notes.render(0.55, -2, 3.0, 0.2);
        let a = write_version(&music.join("Ensemble One"), &format!("{piece} one"), &a, false);
        let b = write_version(&music.join("Ensemble Two"), &format!("{piece} two"), &b, true);
        pairs.push((a, b));
    }
    let (alone, _) = Piece::new(13, 48).render(0.5, 0, 0.0, 0.4);
    (pairs, write_version(&music.join("Ensemble One"), "alone", &alone, false))
}
