//! The tags of a synthetic archive: composers, works, recordings (albums) and
//! tracks drawn from the distributions of a collector's shelves.
//!
//! Composers' popularity falls as a power law (a few names fill most discs),
//! so do their works' (the famous pieces are recorded again and again, which
//! gives many versions of one work); movement durations are log-normal around
//! a median that depends on the form, so a few tracks are very long. One
//! album in seven is not classical (songs by bands, no work). Everything is
//! drawn from one seed, so a plan repeats exactly.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::prng::SplitMix64;
use crate::storage::catalog::TrackTags;

/// One planned track: its tags, duration, file path (relative to the
/// archive's root) and the groups its vectors are clustered by.
#[derive(Debug, Clone)]
pub struct PlannedTrack {
    /// Relative path, `Artist/Album (year)/disc-track Title.flac`.
    pub relative_path: PathBuf,
    /// Tags as a tagger would have written them.
    pub tags: TrackTags,
    /// Duration (s).
    pub duration_s: f64,
    /// Composer (or band) index: the coarsest cluster.
    pub composer: usize,
    /// Work index (unique over the archive; songs are their own work).
    pub work: usize,
    /// Album (recording) index.
    pub album: usize,
}

/// Musical forms: the name, how movements are called, and a movement's median duration (s).
struct Form {
    name: &'static str,
    plural: &'static str,
    numbered: bool,
    movements: &'static [&'static str],
    median_s: f64,
    ensemble: Ensemble,
}

/// Who plays a form.
#[derive(Clone, Copy, PartialEq)]
enum Ensemble {
    Quartet,
    Orchestra,
    Soloist(&'static str),
    Concerto(&'static str),
    Voice,
    Choir,
}

const SONATA: &[&str] = &["Allegro", "Adagio", "Rondo. Allegro"];
const FOUR: &[&str] = &["Allegro con spirito", "Poco adagio", "Menuetto. Allegretto", "Finale. Presto"];
const CONCERTO: &[&str] = &["Allegro moderato", "Andante", "Allegro vivace"];
const SINGLE: &[&str] = &[];

const FORMS: &[Form] = &[
    Form {
        name: "String Quartet",
        plural: "String Quartets",
        numbered: true,
        movements: FOUR,
        median_s: 390.0,
        ensemble: Ensemble::Quartet,
    },
    Form { name: "Symphony", plural: "Symphonies", numbered: true, movements: FOUR, median_s: 560.0, ensemble: Ensemble::Orchestra },
    Form {
        name: "Piano Sonata",
        plural: "Piano Sonatas",
        numbered: true,
        movements: SONATA,
        median_s: 420.0,
        ensemble: Ensemble::Soloist("piano"),
    },
    Form {
        name: "Violin Sonata",
        plural: "Violin Sonatas",
        numbered: true,
        movements: SONATA,
        median_s: 380.0,
        ensemble: Ensemble::Soloist("violin"),
    },
    Form {
        name: "Piano Concerto",
        plural: "Piano Concertos",
        numbered: true,
        movements: CONCERTO,
        median_s: 620.0,
        ensemble: Ensemble::Concerto("piano"),
    },
    Form {
        name: "Violin Concerto",
        plural: "Violin Concertos",
        numbered: true,
        movements: CONCERTO,
        median_s: 600.0,
        ensemble: Ensemble::Concerto("violin"),
    },
    Form {
        name: "Cello Suite",
        plural: "Cello Suites",
        numbered: true,
        movements: &["Prélude", "Allemande", "Courante", "Sarabande", "Menuet", "Gigue"],
        median_s: 200.0,
        ensemble: Ensemble::Soloist("cello"),
    },
    Form {
        name: "Nocturne",
        plural: "Nocturnes",
        numbered: false,
        movements: SINGLE,
        median_s: 290.0,
        ensemble: Ensemble::Soloist("piano"),
    },
    Form { name: "Prelude", plural: "Preludes", numbered: false, movements: SINGLE, median_s: 120.0, ensemble: Ensemble::Soloist("piano") },
    Form { name: "Étude", plural: "Études", numbered: false, movements: SINGLE, median_s: 150.0, ensemble: Ensemble::Soloist("piano") },
    Form { name: "Lied", plural: "Lieder", numbered: false, movements: SINGLE, median_s: 170.0, ensemble: Ensemble::Voice },
    Form {
        name: "Mass",
        plural: "Masses",
        numbered: true,
        movements: &["Kyrie", "Gloria", "Credo", "Sanctus", "Benedictus", "Agnus Dei"],
        median_s: 330.0,
        ensemble: Ensemble::Choir,
    },
    Form { name: "Overture", plural: "Overtures", numbered: false, movements: SINGLE, median_s: 480.0, ensemble: Ensemble::Orchestra },
];

/// The best-known composers first (with their catalogue's prefix); the long tail is generated.
const COMPOSERS: &[(&str, &str)] = &[
    ("Johann Sebastian Bach", "BWV"),
    ("Wolfgang Amadeus Mozart", "K."),
    ("Ludwig van Beethoven", "Op."),
    ("Franz Schubert", "D."),
    ("Joseph Haydn", "Hob."),
    ("Johannes Brahms", "Op."),
    ("Frédéric Chopin", "Op."),
    ("Pyotr Ilyich Tchaikovsky", "Op."),
    ("Antonín Dvořák", "Op."),
    ("Robert Schumann", "Op."),
    ("Felix Mendelssohn", "Op."),
    ("Antonio Vivaldi", "RV"),
    ("George Frideric Handel", "HWV"),
    ("Gustav Mahler", "No."),
    ("Claude Debussy", "L."),
    ("Maurice Ravel", "M."),
    ("Sergei Rachmaninoff", "Op."),
    ("Dmitri Shostakovich", "Op."),
    ("Anton Bruckner", "WAB"),
    ("Jean Sibelius", "Op."),
    ("Franz Liszt", "S."),
    ("Camille Saint-Saëns", "Op."),
    ("Leoš Janáček", "JW"),
    ("Béla Bartók", "Sz."),
    ("Edward Elgar", "Op."),
    ("Sergei Prokofiev", "Op."),
    ("Gabriel Fauré", "Op."),
    ("Richard Strauss", "Op."),
    ("Georg Philipp Telemann", "TWV"),
    ("Domenico Scarlatti", "K."),
];

const FIRST_NAMES: &[&str] = &[
    "Anna", "Carl", "Clara", "Emil", "Fanny", "Gustav", "Hans", "Ida", "Johann", "Karl", "Louise", "Marie", "Nikolai", "Otto", "Pauline",
    "Sofia", "Tomás", "Viktor", "Wilhelm", "Zdeněk", "Amy", "Lili", "Ethel", "Ralph", "Arvo", "Kaija", "Toru", "Heitor", "Alberto",
    "Grażyna",
];
const SURNAME_SYLLABLES: &[&str] =
    &["ber", "mann", "holt", "ski", "ova", "lin", "dorf", "sen", "ari", "vich", "etti", "ard", "ström", "ez", "ac", "ner", "rin", "tal"];
const KEYS: &[&str] = &[
    "C",
    "C minor",
    "D",
    "D minor",
    "E-flat",
    "E minor",
    "E",
    "F",
    "F minor",
    "F-sharp minor",
    "G",
    "G minor",
    "A",
    "A minor",
    "B-flat",
    "B minor",
];
const ROMAN: &[&str] = &["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII"];
const ENSEMBLE_WORDS: &[&str] =
    &["Emerson", "Alban", "Hagen", "Borodin", "Takács", "Jerusalem", "Belcea", "Pavel", "Danish", "Quatuor Ébène"];
const CITIES: &[&str] = &["Berlin", "Vienna", "London", "Boston", "Leipzig", "Prague", "Amsterdam", "Chicago", "Oslo", "Tokyo", "Budapest"];
const SONG_WORDS: &[&str] = &[
    "Night", "River", "Glass", "Summer", "Electric", "Blue", "Heart", "Road", "Silver", "Ghost", "Fire", "Ocean", "City", "Paper",
    "Golden", "Wild", "Rain", "Echo", "Velvet", "Stone",
];
const SONG_GENRES: &[&str] = &["Rock", "Jazz", "Pop", "Electronic", "Folk"];

/// Draws from `1/rank^exponent` weights over `n` ranks.
struct PowerLaw {
    cumulative: Vec<f64>,
}

impl PowerLaw {
    fn new(n: usize, exponent: f64) -> Self {
        let mut total = 0.0;
        let cumulative = (1..=n.max(1))
            .map(|rank| {
                total += (rank as f64).powf(-exponent);
                total
            })
            .collect();
        Self { cumulative }
    }

    fn draw(&self, rng: &mut SplitMix64) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(1.0);
        let target = unit(rng) * total;
        self.cumulative.partition_point(|&c| c <= target).min(self.cumulative.len() - 1)
    }
}

/// Uniform in [0, 1).
pub(super) fn unit(rng: &mut SplitMix64) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// A standard normal draw (Box–Muller).
pub(super) fn normal(rng: &mut SplitMix64) -> f64 {
    let u = unit(rng).max(f64::MIN_POSITIVE);
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * unit(rng)).cos()
}

fn pick<'a>(rng: &mut SplitMix64, items: &[&'a str]) -> &'a str {
    items[rng.below(items.len())]
}

/// A log-normal duration around `median_s`, heavy-tailed, within 15 s .. 90 min.
fn duration_s(rng: &mut SplitMix64, median_s: f64, sigma: f64) -> f64 {
    (median_s * (sigma * normal(rng)).exp()).clamp(15.0, 5400.0).round()
}

/// A composer's name and catalogue prefix: a real one for the first ranks, a generated one after.
fn composer_name(index: usize, seed: u64) -> (String, &'static str) {
    if let Some(&(name, prefix)) = COMPOSERS.get(index) {
        return (name.to_string(), prefix);
    }
    let mut rng = SplitMix64(seed ^ (index as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
    let first = pick(&mut rng, FIRST_NAMES);
    let syllables = 2 + rng.below(2);
    let mut surname: String = (0..syllables).map(|_| pick(&mut rng, SURNAME_SYLLABLES)).collect();
    if let Some(initial) = surname.get(..1).map(str::to_uppercase) {
        surname.replace_range(..1, &initial);
    }
    (format!("{first} {surname}"), if rng.below(3) == 0 { "No." } else { "Op." })
}

fn surname(name: &str) -> &str {
    name.rsplit(' ').next().unwrap_or(name)
}

/// A work: its title, form and movements.
struct Work {
    id: usize,
    title: String,
    form: &'static Form,
}

/// Plans the tags of `tracks` tracks from `seed`.
pub fn plan(tracks: usize, seed: u64) -> Vec<PlannedTrack> {
    let mut rng = SplitMix64(seed);
    let composers = (tracks / 100).clamp(8, 4000);
    let composer_law = PowerLaw::new(composers, 1.0);
    // Famous works are recorded again and again; the tail once.
    let work_law = PowerLaw::new(400, 1.2);
    let mut works: HashMap<(usize, usize), Work> = HashMap::new();
    let mut planned = Vec::with_capacity(tracks);
    let mut album = 0;
    while planned.len() < tracks {
        let year = 1955 + rng.below(70);
        if rng.below(7) == 0 {
            plan_song_album(&mut rng, album, composers, year, tracks, &mut planned);
        } else {
            let composer = composer_law.draw(&mut rng);
            let (name, prefix) = composer_name(composer, seed);
            let work_count = 1 + rng.below(3);
            let album_works: Vec<usize> = (0..work_count).map(|_| work_law.draw(&mut rng)).collect();
            let next_id = works.len();
            let first = works.entry((composer, album_works[0])).or_insert_with(|| make_work(next_id, &name, prefix, album_works[0], seed));
            let form = first.form;
            let (artist, conductor, ensemble, performers) = performers_for(&mut rng, form.ensemble);
            let album_title = if work_count == 1 {
                format!("{}: {}", surname(&name), first.title)
            } else {
                format!("{}: {} — {}", surname(&name), form.plural, artist)
            };
            let (mut disc, mut track_no, mut disc_s) = (1u32, 0u32, 0.0);
            for work_no in album_works {
                let next_id = works.len();
                let work = works.entry((composer, work_no)).or_insert_with(|| make_work(next_id, &name, prefix, work_no, seed));
                let movements: Vec<Option<&str>> =
                    if work.form.movements.is_empty() { vec![None] } else { work.form.movements.iter().copied().map(Some).collect() };
                for (m, movement) in movements.iter().enumerate() {
                    if planned.len() >= tracks {
                        break;
                    }
                    let duration = duration_s(&mut rng, work.form.median_s, 0.55);
                    // A CD holds about 80 minutes.
                    if disc_s + duration > 4800.0 && track_no > 0 {
                        (disc, track_no, disc_s) = (disc + 1, 0, 0.0);
                    }
                    track_no += 1;
                    disc_s += duration;
                    let movement_name = movement.map(|m_name| format!("{}. {m_name}", ROMAN[m % ROMAN.len()]));
                    let title = match &movement_name {
                        Some(movement_name) => format!("{}: {movement_name}", work.title),
                        None => work.title.clone(),
                    };
                    let tags = TrackTags {
                        title: Some(title.clone()),
                        artist: Some(artist.clone()),
                        album: Some(album_title.clone()),
                        album_artist: Some(name.clone()),
                        composer: Some(name.clone()),
                        work: Some(work.title.clone()),
                        movement: movement_name,
                        disc: Some(disc),
                        track_no: Some(track_no),
                        genre: Some("Classical".into()),
                        date: Some(year.to_string()),
                        movement_number: movement.map(|_| m as u32 + 1),
                        movement_total: movement.map(|_| movements.len() as u32),
                        conductor: conductor.clone(),
                        ensemble: ensemble.clone(),
                        performers: performers.clone(),
                        ..TrackTags::default()
                    };
                    let relative_path = track_path(&name, &album_title, year, disc, track_no, &title);
                    planned.push(PlannedTrack { relative_path, tags, duration_s: duration, composer, work: work.id, album });
                }
            }
        }
        album += 1;
    }
    make_paths_unique(&mut planned);
    planned
}

/// Two recordings can share artist, title and year; the later file names say which album they are from.
fn make_paths_unique(planned: &mut [PlannedTrack]) {
    let mut seen = std::collections::HashSet::new();
    for track in planned.iter_mut() {
        if !seen.insert(track.relative_path.clone()) {
            let stem = track.relative_path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            track.relative_path.set_file_name(format!("{stem} [album {}].flac", track.album));
            seen.insert(track.relative_path.clone());
        }
    }
}

/// An album of songs by a band: no composer tag, no work (each song is its own).
fn plan_song_album(rng: &mut SplitMix64, album: usize, composers: usize, year: usize, tracks: usize, planned: &mut Vec<PlannedTrack>) {
    let band_index = rng.below(composers.max(2) / 2 + 1);
    let mut band_rng = SplitMix64(0xB00B ^ band_index as u64);
    let band = format!("The {} {}s", pick(&mut band_rng, SONG_WORDS), pick(&mut band_rng, SONG_WORDS));
    let genre = pick(&mut band_rng, SONG_GENRES);
    let album_title = format!("{} {}", pick(rng, SONG_WORDS), pick(rng, SONG_WORDS));
    let songs = 8 + rng.below(7);
    for track_no in 1..=songs as u32 {
        if planned.len() >= tracks {
            return;
        }
        let title = format!("{} {}", pick(rng, SONG_WORDS), pick(rng, SONG_WORDS));
        let tags = TrackTags {
            title: Some(title.clone()),
            artist: Some(band.clone()),
            album: Some(album_title.clone()),
            album_artist: Some(band.clone()),
            disc: Some(1),
            track_no: Some(track_no),
            genre: Some(genre.into()),
            date: Some(year.to_string()),
            ..TrackTags::default()
        };
        let relative_path = track_path(&band, &album_title, year, 1, track_no, &title);
        // Bands cluster after the composers; each song is a work of its own.
        let work = usize::MAX / 2 + planned.len();
        planned.push(PlannedTrack {
            relative_path,
            tags,
            duration_s: duration_s(rng, 225.0, 0.35),
            composer: composers + band_index,
            work,
            album,
        });
    }
}

fn make_work(id: usize, composer: &str, prefix: &str, work_no: usize, seed: u64) -> Work {
    let mut rng = SplitMix64(seed ^ 0x574F_524B ^ (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ hash_str(composer));
    let form = &FORMS[rng.below(FORMS.len())];
    let key = pick(&mut rng, KEYS);
    let opus = 1 + work_no * 3 + rng.below(3);
    let catalogue = if rng.below(3) == 0 { format!("{prefix} {opus} No. {}", 1 + rng.below(6)) } else { format!("{prefix} {opus}") };
    let title = if form.numbered {
        format!("{} No. {} in {key}, {catalogue}", form.name, 1 + work_no % 30)
    } else {
        format!("{} in {key}, {catalogue}", form.name)
    };
    Work { id, title, form }
}

/// A stable 64-bit hash of a name (FNV-1a).
pub(super) fn hash_str(text: &str) -> u64 {
    text.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3))
}

/// Who plays: (artist tag, conductor, ensemble, performers).
fn performers_for(rng: &mut SplitMix64, ensemble: Ensemble) -> (String, Option<String>, Option<String>, Vec<String>) {
    let person = |rng: &mut SplitMix64| format!("{} {}", pick(rng, FIRST_NAMES), surname(&composer_name(100 + rng.below(5000), 7).0));
    let orchestra = |rng: &mut SplitMix64| {
        format!("{} {}", pick(rng, CITIES), ["Philharmonic", "Symphony Orchestra", "Chamber Orchestra"][rng.below(3)])
    };
    match ensemble {
        Ensemble::Quartet => {
            let quartet = format!("{} Quartet", pick(rng, ENSEMBLE_WORDS));
            (quartet.clone(), None, Some(quartet), Vec::new())
        }
        Ensemble::Orchestra | Ensemble::Choir => {
            let (band, conductor) = (orchestra(rng), person(rng));
            (format!("{band}, {conductor}"), Some(conductor), Some(band), Vec::new())
        }
        Ensemble::Soloist(instrument) => {
            let soloist = person(rng);
            (soloist.clone(), None, None, vec![format!("{soloist} ({instrument})")])
        }
        Ensemble::Concerto(instrument) => {
            let (soloist, band, conductor) = (person(rng), orchestra(rng), person(rng));
            (format!("{soloist}, {band}, {conductor}"), Some(conductor), Some(band), vec![format!("{soloist} ({instrument})")])
        }
        Ensemble::Voice => {
            let (singer, pianist) = (person(rng), person(rng));
            (format!("{singer}, {pianist}"), None, None, vec![format!("{singer} (voice)"), format!("{pianist} (piano)")])
        }
    }
}

/// `Artist/Album (year)/d-nn Title.flac`, with path separators taken out of names.
fn track_path(artist: &str, album: &str, year: usize, disc: u32, track_no: u32, title: &str) -> PathBuf {
    let clean = |s: &str| -> String {
        let cleaned: String = s.chars().map(|c| if matches!(c, '/' | '\\' | ':' | '\0') { '-' } else { c }).collect();
        // File names stay under common limits (255 bytes).
        cleaned.chars().take(120).collect()
    };
    PathBuf::from(clean(artist)).join(format!("{} ({year})", clean(album))).join(format!("{disc}-{track_no:02} {}.flac", clean(title)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_repeat_and_look_like_a_collection() {
        let tracks = plan(3000, 5);
        assert_eq!(tracks.len(), 3000);
        let again = plan(3000, 5);
        assert!(tracks.iter().zip(&again).all(|(a, b)| a.relative_path == b.relative_path && a.tags == b.tags));
        let paths: std::collections::HashSet<&PathBuf> = tracks.iter().map(|t| &t.relative_path).collect();
        assert_eq!(paths.len(), tracks.len(), "every track has its own file");
        // The most recorded work has several versions (albums).
        let mut albums_per_work: HashMap<usize, std::collections::HashSet<usize>> = HashMap::new();
        for t in tracks.iter().filter(|t| t.tags.work.is_some()) {
            albums_per_work.entry(t.work).or_default().insert(t.album);
        }
        assert!(albums_per_work.values().map(|a| a.len()).max().unwrap_or(0) >= 3);
        // Heavy-tailed durations: the longest is many times the median.
        let mut durations: Vec<f64> = tracks.iter().map(|t| t.duration_s).collect();
        durations.sort_by(f64::total_cmp);
        assert!(durations[durations.len() - 1] > 4.0 * durations[durations.len() / 2]);
        let movement = tracks.iter().find(|t| t.tags.movement.is_some()).and_then(|t| t.tags.title.clone()).unwrap_or_default();
        assert!(movement.contains(": I. ") || movement.contains(": II. "), "{movement}");
    }
}
