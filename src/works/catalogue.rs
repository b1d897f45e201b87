//! Catalogue numbers (BWV, K., Op. …): finding them in titles and writing them one way.
//!
//! However a number is spelled (`op18 no1`, `Op.18, Nr.1`, `opus 18 no. 1`,
//! `KV 458`, `bwv153`), [`Catalogue::normalised`] writes it one way (`Op. 18
//! No. 1`, `K. 458`, `BWV 153`). A catalogue's *identity* is its system, its
//! number and, where the system numbers the pieces of a set (Op., Wq., D.), the
//! piece: `Op. 18 No. 1` ≠ `Op. 18 No. 2`. Where the system numbers movements
//! after a dot or slash (`BWV 153.1`, `BWV 153/1`, `HWV 56/3`), that suffix is the
//! movement and the number belongs to `BWV 153`. Köchel's second number
//! (`K. 331/300i`) is dropped.
//!
//! Recognised: BWV, BuxWV, SWV, TWV, HWV, RV, K./KV, D., Hob., Op./opus, WoO,
//! Wq., H., S., LW. The single-letter systems (D., H., S.) must be written in
//! capitals and are not read after "in" (`in D 2` is a key).

/// A catalogue number found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalogue {
    /// The system, as written in normal form (`BWV`, `Op.`, `Hob.`).
    pub system: &'static str,
    /// The number (`153`, `18`, `XVI:52`, `A179`).
    pub number: String,
    /// The piece within a numbered set (`1` of `Op. 18 No. 1`), part of the identity.
    pub piece: Option<String>,
    /// A movement suffix (`1` of `BWV 153.1`), not part of the identity.
    pub movement: Option<u32>,
    /// Byte range of the whole match in the text it was found in.
    pub span: std::ops::Range<usize>,
}

impl Catalogue {
    /// The identity in normal form: `BWV 153`, `Op. 18 No. 1`, `Hob. XVI:52`.
    pub fn normalised(&self) -> String {
        match &self.piece {
            Some(piece) if self.system == "Op." => format!("Op. {} No. {piece}", self.number),
            Some(piece) => format!("{} {}/{piece}", self.system, self.number),
            None => format!("{} {}", self.system, self.number),
        }
    }

    /// The set this piece belongs to (`Op. 18` for `Op. 18 No. 1`), or the identity when it has no piece.
    pub fn set(&self) -> String {
        format!("{} {}", self.system, self.number)
    }
}

/// How a system writes what follows its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Suffix {
    /// `.1` or `/1` is a movement (BWV 153.1).
    Movement,
    /// `No. 1` or `/1` names a piece of a set (Op. 18 No. 1).
    Piece,
    /// `/…` is a second catalogue's number, dropped (K. 331/300i).
    Alternative,
}

/// How a system's number is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NumberForm {
    /// Digits with an optional letter: `153`, `1006a`.
    Digits,
    /// Digits, optionally `:` and a group (`TWV 51:D7`).
    DigitsGroup,
    /// A roman group, `:` or `/`, digits (`Hob. XVI:52`).
    RomanGroup,
    /// An optional letter then digits (`LW A179`).
    LetterDigits,
}

struct System {
    name: &'static str,
    /// Lower-case spellings, longest first where one begins another.
    spellings: &'static [&'static str],
    /// Only in capitals, and not after "in" (a key).
    capital_letter: bool,
    form: NumberForm,
    suffix: Suffix,
}

const SYSTEMS: &[System] = &[
    System { name: "BuxWV", spellings: &["buxwv"], capital_letter: false, form: NumberForm::Digits, suffix: Suffix::Movement },
    System { name: "BWV", spellings: &["bwv"], capital_letter: false, form: NumberForm::Digits, suffix: Suffix::Movement },
    System { name: "SWV", spellings: &["swv"], capital_letter: false, form: NumberForm::Digits, suffix: Suffix::Movement },
    System { name: "TWV", spellings: &["twv"], capital_letter: false, form: NumberForm::DigitsGroup, suffix: Suffix::Movement },
    System { name: "HWV", spellings: &["hwv"], capital_letter: false, form: NumberForm::Digits, suffix: Suffix::Movement },
    System { name: "RV", spellings: &["rv"], capital_letter: false, form: NumberForm::Digits, suffix: Suffix::Movement },
    System { name: "WoO", spellings: &["woo"], capital_letter: false, form: NumberForm::Digits, suffix: Suffix::Piece },
    System { name: "Op.", spellings: &["opus", "op"], capital_letter: false, form: NumberForm::Digits, suffix: Suffix::Piece },
    System { name: "K.", spellings: &["kv", "k"], capital_letter: false, form: NumberForm::Digits, suffix: Suffix::Alternative },
    System { name: "Hob.", spellings: &["hob"], capital_letter: false, form: NumberForm::RomanGroup, suffix: Suffix::Movement },
    System { name: "Wq.", spellings: &["wq"], capital_letter: false, form: NumberForm::Digits, suffix: Suffix::Piece },
    System { name: "LW", spellings: &["lw"], capital_letter: false, form: NumberForm::LetterDigits, suffix: Suffix::Movement },
    System { name: "D.", spellings: &["d"], capital_letter: true, form: NumberForm::Digits, suffix: Suffix::Piece },
    System { name: "H.", spellings: &["h"], capital_letter: true, form: NumberForm::Digits, suffix: Suffix::Movement },
    System { name: "S.", spellings: &["s"], capital_letter: true, form: NumberForm::Digits, suffix: Suffix::Movement },
];

/// Every catalogue number in `text`, in order.
pub fn find_all(text: &str) -> Vec<Catalogue> {
    scan(text, false)
}

/// The first catalogue number in `text`.
pub fn find(text: &str) -> Option<Catalogue> {
    find_all(text).into_iter().next()
}

/// `text` with every catalogue number written in normal form and runs of
/// spaces made one, for matching what a user types against titles: `op 18 1`
/// → `Op. 18 No. 1`, `bwv153` → `BWV 153`, `K 458` → `K. 458`. In a query a bare
/// number after an opus number is its piece (`op 18 1`), which titles never
/// rely on. Comparing catalogues is best done with [`matches`].
pub fn normalise_query(text: &str) -> String {
    let mut out = String::new();
    let mut at = 0;
    for found in scan(text, true) {
        out.push_str(&text[at..found.span.start]);
        out.push_str(&found.normalised());
        at = found.span.end;
    }
    out.push_str(&text[at..]);
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether every catalogue number in `query` is one of `text`'s, or the set one of them belongs to
/// (`Op. 18` matches `Op. 18 No. 1`; `BWV 153` matches `BWV 153.5`). False when the query has none.
pub fn matches(query: &str, text: &str) -> bool {
    let wanted = scan(query, true);
    let present = find_all(text);
    !wanted.is_empty()
        && wanted
            .iter()
            .all(|w| present.iter().any(|p| p.normalised() == w.normalised() || (w.piece.is_none() && p.set() == w.normalised())))
}

/// Finds catalogue numbers; `query` allows `op 18 1` for `Op. 18 No. 1`.
fn scan(text: &str, query: bool) -> Vec<Catalogue> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut start = 0;
    while start < bytes.len() {
        let at_word_start = start == 0 || !is_word_byte(bytes[start - 1]);
        if at_word_start
            && bytes[start].is_ascii_alphabetic()
            && let Some(catalogue) = SYSTEMS.iter().find_map(|system| read_system(text, start, system, query))
        {
            start = catalogue.span.end;
            found.push(catalogue);
            continue;
        }
        start += 1;
    }
    found
}

/// Letters, digits and any byte of a non-ASCII character (so `Kühn` is one word).
fn is_word_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte >= 0x80
}

/// Reads `system` at `start` (a word start), with its number and suffix.
fn read_system(text: &str, start: usize, system: &System, query: bool) -> Option<Catalogue> {
    let bytes = text.as_bytes();
    let spelling = system
        .spellings
        .iter()
        .find(|s| bytes.len() >= start + s.len() && bytes[start..start + s.len()].eq_ignore_ascii_case(s.as_bytes()))?;
    if system.capital_letter && (!bytes[start].is_ascii_uppercase() || after_in(text, start)) {
        return None;
    }
    let mut at = start + spelling.len();
    // The spelling must end its word: "Kyrie" is not K., "Hobart" not Hob.
    if bytes.get(at).is_some_and(|&b| b.is_ascii_alphabetic()) {
        return None;
    }
    if bytes.get(at) == Some(&b'.') {
        at += 1;
    }
    at = skip_spaces(bytes, at);
    let (number, after_number) = read_number(bytes, at, system.form)?;
    let mut catalogue = Catalogue { system: system.name, number, piece: None, movement: None, span: start..after_number };
    read_suffix(bytes, &mut catalogue, system.suffix, query);
    Some(catalogue)
}

/// Whether the word before `start` is "in" (so a capital letter there is a key: "in D 2").
fn after_in(text: &str, start: usize) -> bool {
    text[..start].trim_end().rsplit(|c: char| !c.is_alphanumeric()).next().is_some_and(|w| w.eq_ignore_ascii_case("in"))
}

fn skip_spaces(bytes: &[u8], mut at: usize) -> usize {
    while bytes.get(at) == Some(&b' ') {
        at += 1;
    }
    at
}

fn digits_end(bytes: &[u8], mut at: usize) -> usize {
    while bytes.get(at).is_some_and(u8::is_ascii_digit) {
        at += 1;
    }
    at
}

/// Digits with at most one trailing lower-case letter (`1006a`); `None` unless followed by a word end.
fn read_digits(bytes: &[u8], at: usize) -> Option<usize> {
    let mut end = digits_end(bytes, at);
    if end == at {
        return None;
    }
    if bytes.get(end).is_some_and(u8::is_ascii_lowercase) && !bytes.get(end + 1).is_some_and(|&b| is_word_byte(b)) {
        end += 1;
    }
    (!bytes.get(end).is_some_and(|&b| is_word_byte(b))).then_some(end)
}

fn text_of(bytes: &[u8], range: std::ops::Range<usize>) -> String {
    String::from_utf8_lossy(&bytes[range]).into_owned()
}

fn read_number(bytes: &[u8], at: usize, form: NumberForm) -> Option<(String, usize)> {
    match form {
        NumberForm::Digits => read_digits(bytes, at).map(|end| (text_of(bytes, at..end), end)),
        NumberForm::DigitsGroup => {
            let end = digits_end(bytes, at);
            if end == at {
                return None;
            }
            if bytes.get(end) == Some(&b':') {
                let mut group_end = end + 1;
                while bytes.get(group_end).is_some_and(u8::is_ascii_alphanumeric) {
                    group_end += 1;
                }
                if group_end > end + 1 {
                    return Some((text_of(bytes, at..group_end), group_end));
                }
            }
            read_digits(bytes, at).map(|end| (text_of(bytes, at..end), end))
        }
        NumberForm::RomanGroup => {
            let mut end = at;
            while bytes.get(end).is_some_and(|b| b"IVXLivxl".contains(b)) {
                end += 1;
            }
            let group = text_of(bytes, at..end).to_ascii_uppercase();
            if group.is_empty() || !matches!(bytes.get(end), Some(b':' | b'/' | b'.')) {
                return None;
            }
            let number_start = skip_spaces(bytes, end + 1);
            let number_end = read_digits(bytes, number_start)?;
            Some((format!("{group}:{}", text_of(bytes, number_start..number_end)), number_end))
        }
        NumberForm::LetterDigits => {
            let letter = usize::from(bytes.get(at).is_some_and(u8::is_ascii_alphabetic));
            let end = read_digits(bytes, at + letter)?;
            Some((text_of(bytes, at..end).to_ascii_uppercase(), end))
        }
    }
}

/// Reads what follows the number: a movement (`.1`, `/1`), a piece (`No. 1`, `/1`) or a second number (`/300i`).
fn read_suffix(bytes: &[u8], catalogue: &mut Catalogue, suffix: Suffix, query: bool) {
    let at = catalogue.span.end;
    let attached = matches!(bytes.get(at), Some(b'/') | Some(b'.') if bytes.get(at + 1).is_some_and(u8::is_ascii_alphanumeric));
    match suffix {
        Suffix::Movement if attached => {
            if let Some(end) = read_digits(bytes, at + 1) {
                catalogue.movement = text_of(bytes, at + 1..end).parse().ok();
                catalogue.span.end = end;
            }
        }
        Suffix::Alternative if attached && bytes[at] == b'/' => {
            let mut end = at + 1;
            while bytes.get(end).is_some_and(u8::is_ascii_alphanumeric) {
                end += 1;
            }
            catalogue.span.end = end;
        }
        Suffix::Piece if attached && bytes[at] == b'/' => {
            if let Some(end) = read_digits(bytes, at + 1) {
                catalogue.piece = Some(text_of(bytes, at + 1..end));
                catalogue.span.end = end;
            }
        }
        Suffix::Piece => {
            if let Some((piece, end)) = read_piece(bytes, at, query) {
                catalogue.piece = Some(piece);
                catalogue.span.end = end;
            }
        }
        _ => {}
    }
}

/// `No. 1`, `, Nr.1`, `no1`, `Nº 1`, `n. 1`, `#1` after a set's number (in a query also a bare ` 1`).
fn read_piece(bytes: &[u8], at: usize, query: bool) -> Option<(String, usize)> {
    let mut at = at;
    if bytes.get(at) == Some(&b',') {
        at += 1;
    }
    let word_start = skip_spaces(bytes, at);
    if word_start == at && bytes.get(at) != Some(&b'#') && !query {
        return None;
    }
    let rest = &bytes[word_start..];
    const MARKERS: &[&[u8]] = &[b"no", b"nr", "nº".as_bytes(), "n°".as_bytes(), b"n", b"#"];
    let marker = MARKERS.iter().find(|m| rest.len() >= m.len() && rest[..m.len()].eq_ignore_ascii_case(m));
    let number_start = match marker {
        Some(marker) => {
            let mut after = word_start + marker.len();
            if bytes.get(after) == Some(&b'.') {
                after += 1;
            }
            skip_spaces(bytes, after)
        }
        None if query => word_start,
        None => return None,
    };
    let end = read_digits(bytes, number_start)?;
    Some((text_of(bytes, number_start..end), end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normal(text: &str) -> Option<String> {
        find(text).map(|c| c.normalised())
    }

    #[test]
    fn spellings_of_one_opus_number_are_one() {
        for text in ["op18 no1", "Op.18, Nr.1", "opus 18 no. 1", "Op. 18 No. 1", "String Quartet Op. 18/1", "op. 18 nº 1", "Op 18 #1"] {
            assert_eq!(normal(text).as_deref(), Some("Op. 18 No. 1"), "{text}");
        }
        assert_ne!(normal("Op. 18 No. 1"), normal("Op. 18 No. 2"));
        assert_eq!(normal("Symphony No. 5 in C minor, Op. 67: I. Allegro").as_deref(), Some("Op. 67"));
    }

    #[test]
    fn movement_suffixes_belong_to_the_work() {
        for text in ["BWV 153.1", "BWV 153/1", "bwv153", "Cantata BWV 153 - 1. Chorus", "(BWV 153.9)"] {
            assert_eq!(normal(text).as_deref(), Some("BWV 153"), "{text}");
        }
        assert_eq!(find("BWV 153.9").and_then(|c| c.movement), Some(9));
        assert_eq!(normal("Partita, BWV 1006a").as_deref(), Some("BWV 1006a"));
    }

    #[test]
    fn every_system_is_read() {
        let cases = [
            ("KV 458", "K. 458"),
            ("K. 331/300i", "K. 331"),
            ("K458", "K. 458"),
            ("Winterreise, D. 911: Gute Nacht", "D. 911"),
            ("Impromptu D 899/3", "D. 899/3"),
            ("Sonata Hob.XVI:52", "Hob. XVI:52"),
            ("Quartet Hob. III:75", "Hob. III:75"),
            ("Messiah, HWV 56", "HWV 56"),
            ("Concerto RV 269", "RV 269"),
            ("Sonata Wq. 55/4", "Wq. 55/4"),
            ("Sonata H. 186", "H. 186"),
            ("Sonata in B minor, S. 178", "S. 178"),
            ("Études LW A179", "LW A179"),
            ("Membra Jesu nostri, BuxWV 75", "BuxWV 75"),
            ("Musikalische Exequien, SWV 279", "SWV 279"),
            ("Concerto TWV 51:D7", "TWV 51:D7"),
            ("Variations WoO 80", "WoO 80"),
        ];
        for (text, expected) in cases {
            assert_eq!(normal(text).as_deref(), Some(expected), "{text}");
        }
    }

    #[test]
    fn words_and_keys_are_not_catalogue_numbers() {
        for text in ["Kyrie", "Symphony in D 2", "Deo gratias", "S. Maria", "Opening 2", "Hobart 3", "No. 5", "Dorinda, ah, dirò"] {
            assert_eq!(normal(text), None, "{text}");
        }
    }

    #[test]
    fn queries_match_titles_however_spelled() {
        assert_eq!(normalise_query("op 18 1"), "Op. 18 No. 1");
        assert_eq!(normalise_query("bwv153"), "BWV 153");
        assert_eq!(normalise_query("quartet  K 458"), "quartet K. 458");
        assert!(matches("op 18 1", "String Quartet No. 1 in F major, Op.18, Nr.1 - 2. Adagio"));
        assert!(!matches("op 18 1", "String Quartet Op. 18 No. 10"));
        assert!(matches("Op. 18", "String Quartet Op. 18 No. 10"));
        assert!(matches("bwv153", "Schau, lieber Gott (BWV 153.1)"));
        assert!(!matches("K 458", "Quartet K. 45"));
        assert!(!matches("quartet", "Quartet K. 458"));
    }
}
