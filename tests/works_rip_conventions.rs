//! Work inference on titles shaped like other labels' and rippers' conventions
//! (Naxos, DG/Archiv, Harmonia Mundi, iTunes/Gracenote, CDDB), not the
//! development library's one title generator: each album is written in code
//! with the work every track belongs to, and the inference is scored by
//! pairwise precision, recall and F1 of "same work" (as `strata works --score`
//! scores a labels CSV), plus the recordings of one work on one album.
#![allow(clippy::unwrap_used, reason = "tests fail by panicking, helpers included")]

use strata::storage::catalog::{Track, TrackTags};
use strata::works::{Works, pairwise_scores};

/// One album as a rip tags it: album, album artist, and per track (composer, title, expected work label).
struct Album {
    album: &'static str,
    artist: &'static str,
    tracks: Vec<(&'static str, &'static str, &'static str)>,
}

/// An album of one composer: every track `(title, expected work)`.
fn by(album: &'static str, composer: &'static str, tracks: &[(&'static str, &'static str)]) -> Album {
    Album { album, artist: composer, tracks: tracks.iter().map(|&(title, work)| (composer, title, work)).collect() }
}

/// The fixture: albums in the shapes real rips have, with the works a collector would name.
fn albums() -> Vec<Album> {
    vec![
        // Naxos: work, colon, roman movement number.
        by(
            "Beethoven: Symphonies Nos. 5 and 6",
            "Ludwig van Beethoven",
            &[
                ("Symphony No. 5 in C minor, Op. 67: I. Allegro con brio", "beethoven 5"),
                ("Symphony No. 5 in C minor, Op. 67: II. Andante con moto", "beethoven 5"),
                ("Symphony No. 5 in C minor, Op. 67: III. Allegro", "beethoven 5"),
                ("Symphony No. 5 in C minor, Op. 67: IV. Allegro", "beethoven 5"),
                ("Symphony No. 6 in F major, Op. 68 \"Pastoral\": I. Erwachen heiterer Empfindungen", "beethoven 6"),
                ("Symphony No. 6 in F major, Op. 68 \"Pastoral\": II. Szene am Bach", "beethoven 6"),
                ("Symphony No. 6 in F major, Op. 68 \"Pastoral\": III. Lustiges Zusammensein der Landleute", "beethoven 6"),
            ],
        ),
        // DG/Archiv: work, hyphen, arabic number, tempo in brackets.
        by(
            "Brandenburg Concertos 3-5",
            "Johann Sebastian Bach",
            &[
                ("Brandenburg Concerto No. 3 in G major, BWV 1048 - 1. (Allegro)", "bwv 1048"),
                ("Brandenburg Concerto No. 3 in G major, BWV 1048 - 2. Adagio", "bwv 1048"),
                ("Brandenburg Concerto No. 3 in G major, BWV 1048 - 3. Allegro", "bwv 1048"),
                ("Brandenburg Concerto No. 4 in G major, BWV 1049 - 1. Allegro", "bwv 1049"),
                ("Brandenburg Concerto No. 4 in G major, BWV 1049 - 2. Andante", "bwv 1049"),
                ("Brandenburg Concerto No. 4 in G major, BWV 1049 - 3. Presto", "bwv 1049"),
                ("Brandenburg Concerto No. 5 in D major, BWV 1050 - 1. Allegro", "bwv 1050"),
                ("Brandenburg Concerto No. 5 in D major, BWV 1050 - 2. Affettuoso", "bwv 1050"),
            ],
        ),
        // German title, colon, variation names without numbers.
        by(
            "Goldberg-Variationen",
            "Johann Sebastian Bach",
            &[
                ("Goldberg-Variationen, BWV 988: Aria", "bwv 988"),
                ("Goldberg-Variationen, BWV 988: Variatio 1 a 1 Clav.", "bwv 988"),
                ("Goldberg-Variationen, BWV 988: Variatio 2 a 1 Clav.", "bwv 988"),
                ("Goldberg-Variationen, BWV 988: Variatio 3 Canone all'Unisono", "bwv 988"),
                ("Goldberg-Variationen, BWV 988: Aria da capo", "bwv 988"),
            ],
        ),
        // Deutsch numbers without a dot, nicknames in single quotes, hyphen and roman numbers.
        by(
            "String Quartets 'Death and the Maiden' & 'Rosamunde'",
            "Franz Schubert",
            &[
                ("String Quartet in D minor, D 810 'Death and the Maiden' - I. Allegro", "d 810"),
                ("String Quartet in D minor, D 810 'Death and the Maiden' - II. Andante con moto", "d 810"),
                ("String Quartet in D minor, D 810 'Death and the Maiden' - III. Scherzo. Allegro molto", "d 810"),
                ("String Quartet in D minor, D 810 'Death and the Maiden' - IV. Presto", "d 810"),
                ("String Quartet in A minor, D 804 'Rosamunde' - I. Allegro ma non troppo", "d 804"),
                ("String Quartet in A minor, D 804 'Rosamunde' - II. Andante", "d 804"),
            ],
        ),
        // A mass by sections, then a motet on its own.
        by(
            "Missa Papae Marcelli",
            "Giovanni Pierluigi da Palestrina",
            &[
                ("Missa Papae Marcelli: Kyrie", "papae marcelli"),
                ("Missa Papae Marcelli: Gloria", "papae marcelli"),
                ("Missa Papae Marcelli: Credo", "papae marcelli"),
                ("Missa Papae Marcelli: Sanctus & Benedictus", "papae marcelli"),
                ("Missa Papae Marcelli: Agnus Dei", "papae marcelli"),
                ("Tu es Petrus", "tu es petrus"),
            ],
        ),
        // A set's title first, then the piece with its number and nickname, then the movement.
        by(
            "Haydn: String Quartets Op. 76 Nos. 2-3",
            "Joseph Haydn",
            &[
                ("6 Quartets, Op. 76: No. 2 in D minor 'Fifths' - I. Allegro", "op 76/2"),
                ("6 Quartets, Op. 76: No. 2 in D minor 'Fifths' - II. Andante o più tosto allegretto", "op 76/2"),
                ("6 Quartets, Op. 76: No. 2 in D minor 'Fifths' - III. Menuetto. Allegro ma non troppo", "op 76/2"),
                ("6 Quartets, Op. 76: No. 2 in D minor 'Fifths' - IV. Finale. Vivace assai", "op 76/2"),
                ("6 Quartets, Op. 76: No. 3 in C major 'Emperor' - I. Allegro", "op 76/3"),
                ("6 Quartets, Op. 76: No. 3 in C major 'Emperor' - II. Poco adagio; cantabile", "op 76/3"),
            ],
        ),
        // An opera by acts and numbers, Köchel without a space.
        by(
            "Le nozze di Figaro (Highlights)",
            "Wolfgang Amadeus Mozart",
            &[
                ("Le nozze di Figaro, K.492 / Act 1: \"Cinque... dieci...\"", "figaro"),
                ("Le nozze di Figaro, K.492 / Act 1: \"Se a caso madama\"", "figaro"),
                ("Le nozze di Figaro, K.492 / Act 1: \"Non più andrai\"", "figaro"),
                ("Le nozze di Figaro, K.492 / Act 2: \"Porgi, amor\"", "figaro"),
                ("Le nozze di Figaro, K.492 / Act 2: \"Voi che sapete\"", "figaro"),
            ],
        ),
        // iTunes/Gracenote: the album names the work, the tracks only the movements.
        by(
            "Symphonie fantastique, Op. 14",
            "Hector Berlioz",
            &[
                ("Rêveries - Passions", "fantastique"),
                ("Un bal", "fantastique"),
                ("Scène aux champs", "fantastique"),
                ("Marche au supplice", "fantastique"),
                ("Songe d'une nuit du sabbat", "fantastique"),
            ],
        ),
        by(
            "Winterreise, D. 911",
            "Franz Schubert",
            &[
                ("Gute Nacht", "winterreise"),
                ("Die Wetterfahne", "winterreise"),
                ("Gefrorne Tränen", "winterreise"),
                ("Erstarrung", "winterreise"),
                ("Der Lindenbaum", "winterreise"),
            ],
        ),
        // A collection of songs: each its own work.
        by(
            "Lieder",
            "Franz Schubert",
            &[
                ("Erlkönig, D. 328", "erlkonig"),
                ("Gretchen am Spinnrade, D. 118", "gretchen"),
                ("Die Forelle, D. 550", "forelle"),
                ("An die Musik, D. 547", "an die musik"),
            ],
        ),
        // En dash and arabic numbers.
        by(
            "Piano Concerto No. 2 / Rhapsody on a Theme of Paganini",
            "Sergei Rachmaninoff",
            &[
                ("Piano Concerto No. 2 in C minor, Op. 18 – 1. Moderato", "rach 2"),
                ("Piano Concerto No. 2 in C minor, Op. 18 – 2. Adagio sostenuto", "rach 2"),
                ("Piano Concerto No. 2 in C minor, Op. 18 – 3. Allegro scherzando", "rach 2"),
                ("Rhapsody on a Theme of Paganini, Op. 43", "paganini"),
            ],
        ),
        // Harmonia Mundi: the composer's name before the work.
        by(
            "Magnificat · Cantata BWV 10",
            "Johann Sebastian Bach",
            &[
                ("Bach: Magnificat in D major, BWV 243: I. Magnificat", "bwv 243"),
                ("Bach: Magnificat in D major, BWV 243: II. Et exsultavit", "bwv 243"),
                ("Bach: Magnificat in D major, BWV 243: III. Quia respexit", "bwv 243"),
                ("Bach: Meine Seel erhebt den Herren, BWV 10: I. Chorus", "bwv 10"),
                ("Bach: Meine Seel erhebt den Herren, BWV 10: II. Aria", "bwv 10"),
            ],
        ),
        // Vivaldi's seasons: RV numbers with nicknames in double quotes.
        by(
            "The Four Seasons",
            "Antonio Vivaldi",
            &[
                ("Violin Concerto in E major, RV 269 \"La primavera\": I. Allegro", "rv 269"),
                ("Violin Concerto in E major, RV 269 \"La primavera\": II. Largo", "rv 269"),
                ("Violin Concerto in E major, RV 269 \"La primavera\": III. Allegro", "rv 269"),
                ("Violin Concerto in G minor, RV 315 \"L'estate\": I. Allegro non molto", "rv 315"),
                ("Violin Concerto in G minor, RV 315 \"L'estate\": II. Adagio", "rv 315"),
                ("Violin Concerto in G minor, RV 315 \"L'estate\": III. Presto", "rv 315"),
            ],
        ),
        // Nocturnes of one opus: one piece a work.
        by(
            "Nocturnes",
            "Frédéric Chopin",
            &[
                ("Nocturne in B-flat minor, Op. 9 No. 1", "op 9/1"),
                ("Nocturne in E-flat major, Op. 9 No. 2", "op 9/2"),
                ("Nocturne in B major, Op. 9 No. 3", "op 9/3"),
                ("Nocturne in F minor, Op. 55 No. 1", "op 55/1"),
            ],
        ),
        // A compilation: composers mixed, a work's movements together, excerpts alone.
        Album {
            album: "Classical Essentials",
            artist: "Various Artists",
            tracks: vec![
                ("Wolfgang Amadeus Mozart", "Eine kleine Nachtmusik, K. 525: I. Allegro", "k 525"),
                ("Wolfgang Amadeus Mozart", "Eine kleine Nachtmusik, K. 525: II. Romanze. Andante", "k 525"),
                ("Ludwig van Beethoven", "Für Elise, WoO 59", "fur elise"),
                ("Johann Pachelbel", "Canon and Gigue in D major: I. Canon", "pachelbel"),
                ("Edvard Grieg", "Peer Gynt Suite No. 1, Op. 46: Morning Mood", "peer gynt"),
                ("Edvard Grieg", "Peer Gynt Suite No. 1, Op. 46: In the Hall of the Mountain King", "peer gynt"),
                ("Erik Satie", "Gymnopédie No. 1", "gymnopedie 1"),
                ("Claude Debussy", "Suite bergamasque, L. 75: III. Clair de lune", "bergamasque"),
            ],
        },
        // CDDB style: no separator at all, the number and the movement in one run of text.
        by(
            "Piano Sonatas",
            "Ludwig van Beethoven",
            &[
                ("Piano Sonata No. 14 in C-sharp minor, Op. 27 No. 2 \"Moonlight\" I Adagio sostenuto", "op 27/2"),
                ("Piano Sonata No. 14 in C-sharp minor, Op. 27 No. 2 \"Moonlight\" II Allegretto", "op 27/2"),
                ("Piano Sonata No. 14 in C-sharp minor, Op. 27 No. 2 \"Moonlight\" III Presto agitato", "op 27/2"),
                ("Piano Sonata No. 8 in C minor, Op. 13 \"Pathétique\" I Grave - Allegro di molto e con brio", "op 13"),
                ("Piano Sonata No. 8 in C minor, Op. 13 \"Pathétique\" II Adagio cantabile", "op 13"),
            ],
        ),
    ]
}

/// Tracks as a rip tags them (title, album, album artist, composer, track number) and their expected work labels.
fn tracks_and_labels(albums: &[Album]) -> (Vec<Track>, Vec<Option<String>>) {
    let (mut tracks, mut labels) = (Vec::new(), Vec::new());
    for album in albums {
        for (n, &(composer, title, work)) in album.tracks.iter().enumerate() {
            tracks.push(Track {
                id: tracks.len() as i64,
                path: format!("/music/{}/{}/{:02}.flac", album.artist, album.album, n + 1).into(),
                tags: TrackTags {
                    title: Some(title.to_string()),
                    album: Some(album.album.to_string()),
                    album_artist: Some(album.artist.to_string()),
                    composer: Some(composer.to_string()),
                    track_no: Some(u32::try_from(n + 1).unwrap()),
                    ..TrackTags::default()
                },
                duration_s: None,
                descriptors: None,
            });
            labels.push(Some(work.to_string()));
        }
    }
    (tracks, labels)
}

#[test]
fn titles_in_other_rip_conventions_find_their_works() {
    let albums = albums();
    let (tracks, labels) = tracks_and_labels(&albums);
    let works = Works::infer(&tracks, &[]);
    // Every disagreement, album by album, so a failure says which convention broke.
    let mut wrong = Vec::new();
    for a in 0..tracks.len() {
        for b in a + 1..tracks.len() {
            let expected = labels[a] == labels[b];
            let inferred = works.work_of(a).work_key == works.work_of(b).work_key;
            if expected != inferred {
                let title = |t: usize| format!("{:?} ({})", tracks[t].tags.title.as_deref().unwrap(), works.work_of(t).title);
                wrong.push(format!("{} {} / {}", if expected { "split:" } else { "joined:" }, title(a), title(b)));
            }
        }
    }
    let scores = pairwise_scores(&works, &labels);
    println!(
        "pairwise precision {:.3}, recall {:.3}, F1 {:.3} over {} tracks",
        scores.precision, scores.recall, scores.f1, scores.labelled_tracks
    );
    assert!(wrong.is_empty(), "F1 {:.3}; {} pairs wrong:\n{}", scores.f1, wrong.len(), wrong.join("\n"));
    assert_eq!(scores.f1, 1.0);
}

#[test]
fn two_recordings_of_one_work_on_one_album_are_two_works_with_one_key() {
    let movements = ["I. Prélude", "II. Allemande", "III. Courante", "IV. Sarabande"];
    let titles: Vec<&'static str> = movements
        .iter()
        .chain(&movements)
        .map(|m| &*Box::leak(format!("Cello Suite No. 1 in G major, BWV 1007: {m}").into_boxed_str()))
        .collect();
    let album =
        by("Cello Suite No. 1: two recordings", "Johann Sebastian Bach", &titles.iter().map(|&t| (t, "bwv 1007")).collect::<Vec<_>>());
    let (tracks, _) = tracks_and_labels(&[album]);
    let works = Works::infer(&tracks, &[]);
    let recordings: Vec<&Vec<usize>> = works.works.iter().map(|w| &w.tracks).collect();
    assert_eq!(recordings, [&vec![0, 1, 2, 3], &vec![4, 5, 6, 7]], "each recording's movements once, in order");
    assert_eq!(works.works[0].work_key, works.works[1].work_key, "one work, two recordings");
    assert_ne!(works.works[0].id, works.works[1].id);
    assert_eq!(works.movement_of_track, [1, 2, 3, 4, 1, 2, 3, 4].map(Some));
}
