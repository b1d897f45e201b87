//! Reading a track title: where a work's name ends and a movement's begins, and movement numbers.

/// Separators between a work and its movement, spaced as rips write them.
const SEPARATORS: &[&str] = &[": ", " - ", " – ", " — ", " / ", " -- "];

/// Words that introduce a movement's number (`2. Satz`, `Satz 2`, `mvt. 2`, `No. 2`).
const MOVEMENT_WORDS: &[&str] = &["satz", "mvt", "mvmt", "movement", "mouvement", "movimento", "no", "nr", "nº", "n°", "part", "teil"];

/// Every way to split `title` at a separator, as (work, movement) pairs, leftmost split first.
pub(super) fn separator_splits(title: &str) -> Vec<(&str, &str)> {
    let mut splits: Vec<(usize, usize)> =
        SEPARATORS.iter().flat_map(|separator| title.match_indices(separator).map(move |(at, s)| (at, at + s.len()))).collect();
    splits.sort_unstable();
    splits
        .into_iter()
        .map(|(end, start)| (title[..end].trim(), title[start..].trim()))
        .filter(|(work, movement)| !work.is_empty() && !movement.is_empty())
        .collect()
}

/// The value of a roman numeral written in capitals (I to XL), else `None`.
pub(super) fn roman(word: &str) -> Option<u32> {
    if word.is_empty() || word.len() > 6 || !word.bytes().all(|b| b"IVX L".contains(&b) && b != b' ') {
        return None;
    }
    let value = |c: u8| match c {
        b'I' => 1,
        b'V' => 5,
        b'X' => 10,
        _ => 50,
    };
    let bytes = word.as_bytes();
    let total: i64 = (0..bytes.len())
        .map(|i| {
            let v = value(bytes[i]);
            if bytes.get(i + 1).is_some_and(|&next| value(next) > v) { -v } else { v }
        })
        .sum();
    // Only canonical spellings: "IIII" or "VX" are not numerals.
    let total = u32::try_from(total).ok().filter(|&t| (1..=40).contains(&t))?;
    (to_roman(total) == word).then_some(total)
}

fn to_roman(mut n: u32) -> String {
    let mut out = String::new();
    for (value, letters) in [(40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")] {
        while n >= value {
            out.push_str(letters);
            n -= value;
        }
    }
    out
}

/// The movement number a movement title starts with: `I. Allegro`, `IV`,
/// `2. Satz`, `3 Adagio`, `No. 4`, `Satz 2`, `mvt. 2`, `2nd movement`.
pub(super) fn leading_movement_number(text: &str) -> Option<u32> {
    let words: Vec<&str> = text.split_whitespace().take(3).collect();
    let first = words.first()?;
    let bare = first.trim_end_matches(['.', ':', ')', ',', '-']);
    if let Some(n) = roman(bare) {
        return Some(n);
    }
    if let Some(n) = small_number(bare) {
        return Some(n);
    }
    // "2nd movement", "1st mvt."
    if let Some(digits) = bare.strip_suffix("st").or(bare.strip_suffix("nd")).or(bare.strip_suffix("rd")).or(bare.strip_suffix("th"))
        && let Some(n) = small_number(digits)
        && words.get(1).is_some_and(|w| is_movement_word(w))
    {
        return Some(n);
    }
    // "Satz 2", "No. 2", "mvt. 2", "No.2"
    let lower = bare.to_lowercase();
    if let Some(word) = MOVEMENT_WORDS.iter().find(|w| lower.starts_with(*w)) {
        let attached = lower[word.len()..].trim_start_matches('.');
        let number = if attached.is_empty() { words.get(1).map(|w| w.trim_end_matches(['.', ':', ')', ','])) } else { Some(attached) };
        return number.and_then(|n| small_number(n).or_else(|| roman(n)));
    }
    None
}

fn is_movement_word(word: &str) -> bool {
    let lower = word.trim_end_matches(['.', ':', ',']).to_lowercase();
    MOVEMENT_WORDS.contains(&lower.as_str())
}

/// A number from 1 to 99 written in digits.
fn small_number(text: &str) -> Option<u32> {
    (!text.is_empty() && text.len() <= 2 && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
        .filter(|&n| n > 0)
}

/// `title` without a leading track number (`01 `, `1. `, `01 - `) equal to `track_no`,
/// and without a leading composer (`Beethoven: `, `J. S. Bach - `).
pub(super) fn clean_title<'a>(title: &'a str, track_no: Option<u32>, composer: Option<&str>) -> &'a str {
    let mut title = title.trim();
    if let Some(track_no) = track_no {
        let digits_end = title.find(|c: char| !c.is_ascii_digit()).unwrap_or(title.len());
        let rest = &title[digits_end..];
        if digits_end > 0
            && title[..digits_end].parse::<u32>().ok() == Some(track_no)
            && let Some(stripped) = rest.strip_prefix(['.', ' ', '-', '_'])
            && !stripped.trim().is_empty()
        {
            title = stripped.trim_start_matches(['.', ' ', '-', '_']);
        }
    }
    if let Some(composer) = composer {
        let surname = composer.split_whitespace().last().unwrap_or(composer);
        for (work, movement) in separator_splits(title) {
            let work_lower = work.to_lowercase();
            if work_lower == composer.to_lowercase()
                || work_lower == surname.to_lowercase()
                || work_lower.ends_with(&format!(" {}", surname.to_lowercase())) && work.split_whitespace().count() <= 4
            {
                return movement;
            }
        }
    }
    title
}

/// A key for comparing names: lower case, letters and digits only, words separated by one space.
pub(super) fn normalise(text: &str) -> String {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect::<Vec<_>>().join(" ")
}

/// Words that end a name without finishing it: "Piano Sonata No." continues with a number, "Prelude in" with a key.
const DANGLING_WORDS: &[&str] = &[
    "no", "nr", "nº", "n°", "op", "opus", "vol", "book", "libro", "buch", "livre", "part", "teil", "act", "akt", "in", "de", "of", "the",
    "and", "for", "für", "a", "for", "und", "et", "e", "et", "la", "le", "il", "der", "die", "das", "von", "del", "des", "du", "di",
];

/// The common beginning of two titles, in whole words, as written in `a`, when it
/// names a work: at least two words or twelve letters, not ending inside a
/// bracket or on a word that needs a continuation ("No.", "in"), and not followed
/// in either title by what tells works apart (a number after "No.", a key, a catalogue number).
pub(super) fn shared_prefix<'a>(a: &'a str, b: &str) -> Option<&'a str> {
    let words_a: Vec<(usize, &str)> = word_spans(a);
    let words_b: Vec<&str> = word_spans(b).into_iter().map(|(_, w)| w).collect();
    let mut common = 0;
    while common < words_a.len() && common < words_b.len() && normalise(words_a[common].1) == normalise(words_b[common]) {
        common += 1;
    }
    if common == words_a.len() || common == words_b.len() {
        // One title is the other's beginning: "Agnus Dei" and "Agnus Dei II" are not told apart by this rule.
        return None;
    }
    // Stop before an unclosed bracket: "Allor (version a)" shares "Allor".
    let mut end_words = common;
    let mut depth = 0i32;
    for (i, (_, word)) in words_a.iter().enumerate().take(common) {
        depth += word.matches(['(', '[']).count() as i32 - word.matches([')', ']']).count() as i32;
        if depth > 0 && word.contains(['(', '[']) && i < end_words {
            end_words = i;
            break;
        }
    }
    if end_words == 0 || DANGLING_WORDS.contains(&normalise(words_a[end_words - 1].1).as_str()) {
        return None;
    }
    let rest_a: Vec<&str> = words_a[common..].iter().map(|(_, w)| *w).collect();
    if tells_works_apart(&rest_a) || tells_works_apart(&words_b[common..]) {
        return None;
    }
    let (last_start, last_word) = words_a[end_words - 1];
    let prefix = a[..last_start + last_word.len()].trim_end_matches([',', ':', ';', '-', '–', '—', '/', ' ', '(']);
    let letters = prefix.chars().filter(|c| c.is_alphanumeric()).count();
    (end_words >= 2 && letters >= 8 || letters >= 12).then_some(prefix)
}

/// Whether the words that follow a shared beginning tell two works apart: a key
/// (`C major`, `F#`, `Es-dur`), a catalogue number, or a number that ends the
/// title or comes before a key ("Sonata 14 in C").
fn tells_works_apart(rest: &[&str]) -> bool {
    let Some(first) = rest.first() else { return false };
    let bare = first.trim_end_matches([',', '.', ':']);
    let key = bare.len() <= 2 && bare.starts_with(|c: char| ('A'..='H').contains(&c)) && bare.chars().skip(1).all(|c| c == '#' || c == 'b');
    let key_word = ["major", "minor", "dur", "moll", "sharp", "flat"].iter().any(|k| bare.to_lowercase().contains(k));
    let numbered_work = !bare.is_empty()
        && bare.bytes().all(|b| b.is_ascii_digit())
        && rest.get(1).is_none_or(|next| next.eq_ignore_ascii_case("in") || tells_works_apart(&rest[1..2]));
    key || key_word || numbered_work || super::catalogue::find(first).is_some()
}

/// Words of `text` split at white space, with their byte offsets.
fn word_spans(text: &str) -> Vec<(usize, &str)> {
    let mut spans = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                spans.push((s, &text[s..i]));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        spans.push((s, &text[s..]));
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_come_leftmost_first() {
        let splits = separator_splits("Cantata BWV 153 - 1. Chorus: Schau, lieber Gott");
        assert_eq!(splits[0], ("Cantata BWV 153", "1. Chorus: Schau, lieber Gott"));
        assert_eq!(splits[1], ("Cantata BWV 153 - 1. Chorus", "Schau, lieber Gott"));
        assert!(separator_splits("Sonata Hob.XVI:52").is_empty());
        assert_eq!(separator_splits("Work / Adagio"), vec![("Work", "Adagio")]);
    }

    #[test]
    fn roman_numerals_are_canonical_capitals() {
        assert_eq!(roman("IV"), Some(4));
        assert_eq!(roman("XIV"), Some(14));
        assert_eq!(roman("IIII"), None);
        assert_eq!(roman("iv"), None);
        assert_eq!(roman("LI"), None);
    }

    #[test]
    fn movement_numbers_are_read_in_their_usual_spellings() {
        for (text, n) in [
            ("I. Allegro con brio", 4 - 3),
            ("IV", 4),
            ("2. Satz", 2),
            ("Satz 2", 2),
            ("3 Adagio", 3),
            ("No. 4, Rast", 4),
            ("Nr.5", 5),
            ("mvt. 2", 2),
            ("2nd movement", 2),
            ("1. Chorus: Schau, lieber Gott", 1),
        ] {
            assert_eq!(leading_movement_number(text), Some(n), "{text}");
        }
        for text in ["Aria", "Variatio 1", "Kyrie", "1685 Overture", "Nocturne"] {
            assert_eq!(leading_movement_number(text), None, "{text}");
        }
    }

    #[test]
    fn track_numbers_and_composers_are_cleaned_off() {
        assert_eq!(clean_title("03 - Gloria", Some(3), None), "Gloria");
        assert_eq!(clean_title("3. Gloria", Some(3), None), "Gloria");
        assert_eq!(clean_title("2. Satz", Some(7), None), "2. Satz");
        assert_eq!(
            clean_title("Beethoven: Symphony No. 5: I. Allegro", Some(1), Some("Ludwig van Beethoven")),
            "Symphony No. 5: I. Allegro"
        );
        assert_eq!(clean_title("Missa Papae Marcelli: Kyrie", None, Some("Palestrina")), "Missa Papae Marcelli: Kyrie");
    }

    #[test]
    fn shared_prefixes_name_works_not_genres() {
        assert_eq!(shared_prefix("Allor che ignuda (version a)", "Allor che ignuda (version b)"), Some("Allor che ignuda"));
        assert_eq!(shared_prefix("Kinderszenen 1 Von fremden Ländern", "Kinderszenen 2 Kuriose Geschichte"), Some("Kinderszenen"));
        assert_eq!(shared_prefix("Piano Sonata No. 14", "Piano Sonata No. 15"), None);
        assert_eq!(shared_prefix("Piano Sonata 14 in C-sharp minor", "Piano Sonata 15 in D major"), None);
        assert_eq!(shared_prefix("Prelude in C major", "Prelude in D minor"), None);
        assert_eq!(shared_prefix("Sonata for Violin and Piano in A", "Sonata for Violin and Piano in D"), None);
        assert_eq!(shared_prefix("Ach Gott, vom Himmel sieh darein", "Ach Gott, wie manches Herzeleid"), None);
        assert_eq!(shared_prefix("Agnus Dei", "Agnus Dei II"), None);
        assert_eq!(shared_prefix("O Mirtillo", "O primavera"), None);
    }
}
