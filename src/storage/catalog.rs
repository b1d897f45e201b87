//! The catalog: what Strata knows about each file, in SQLite.
//!
//! Library roots, files (path, size, mtime), their tags, descriptors and the
//! analysis state per model (done with its store row, or failed with a
//! reason). The catalog points into the vector store but never holds vectors;
//! a row that points at vectors is committed only after they are durable
//! (see [`crate::storage::store`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use crate::analysis::descriptors::Descriptors;
use crate::storage::store::AppendedRows;
use crate::works::WorkEdit;

/// Bumped when the analysis pipeline (decoding, windowing, pooling, descriptors)
/// changes in a way that alters stored results; older analyses are redone.
/// Version 2 added the tonal layer.
pub const ANALYSIS_VERSION: u32 = 2;

/// Bumped when tag reading changes (version 1 read the classical tags:
/// work, movements, people); a track read by an older version has its tags
/// read again on the next index, without being analysed again.
pub const TAGS_VERSION: u32 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS roots (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS tracks (
    id INTEGER PRIMARY KEY,
    path_bytes BLOB NOT NULL UNIQUE,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    title TEXT, artist TEXT, album TEXT, album_artist TEXT, composer TEXT, work TEXT, movement TEXT,
    disc INTEGER, track_no INTEGER, genre TEXT, date TEXT,
    duration_s REAL,
    descriptors TEXT
    -- and the classical tag columns of ADDED_TAG_COLUMNS
);
CREATE TABLE IF NOT EXISTS analyses (
    track_id INTEGER NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
    model TEXT NOT NULL,
    model_version INTEGER NOT NULL,
    analysis_version INTEGER NOT NULL,
    sampling TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    error TEXT,
    store_row INTEGER,
    window_row INTEGER,
    window_count INTEGER,
    window_starts BLOB,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    PRIMARY KEY (track_id, model)
);
CREATE INDEX IF NOT EXISTS analyses_model_row ON analyses(model, store_row);
-- The user's corrections to inferred works (crate::works::edits): a row with
-- path_bytes moves that track into work_id; a row without renames work_id.
CREATE TABLE IF NOT EXISTS work_edits (
    id INTEGER PRIMARY KEY,
    work_id TEXT NOT NULL,
    path_bytes BLOB,
    title TEXT
);
";

/// Columns of `tracks` added after its first version (classical tags), with
/// their types: a new catalog gains them on creation, an older one in place
/// on opening (its rows kept, these columns empty until the indexer next
/// writes the row). Lists and maps are JSON text.
const ADDED_TAG_COLUMNS: &[(&str, &str)] = &[
    ("movement_number", "INTEGER"),
    ("movement_total", "INTEGER"),
    ("conductor", "TEXT"),
    ("performers", "TEXT"),
    ("arranger", "TEXT"),
    ("ensemble", "TEXT"),
    ("musicbrainz_work_id", "TEXT"),
    ("grouping", "TEXT"),
    ("subtitle", "TEXT"),
    ("disc_subtitle", "TEXT"),
    ("other", "TEXT"),
];

/// Tags read from a file (lofty). Empty fields are `None`; fields an older
/// catalog or JSON lacks read as empty (`serde(default)`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrackTags {
    /// Title.
    pub title: Option<String>,
    /// Performing artist.
    pub artist: Option<String>,
    /// Album.
    pub album: Option<String>,
    /// Album artist.
    pub album_artist: Option<String>,
    /// Composer.
    pub composer: Option<String>,
    /// Work (e.g. "String Quartet Op. 76 No. 3").
    pub work: Option<String>,
    /// Movement name.
    pub movement: Option<String>,
    /// Disc number.
    pub disc: Option<u32>,
    /// Track number.
    pub track_no: Option<u32>,
    /// Genre.
    pub genre: Option<String>,
    /// Date or year as written.
    pub date: Option<String>,
    /// Movement number within its work (`MOVEMENT`, `MVIN` "2/4", `mvi`).
    pub movement_number: Option<u32>,
    /// Number of movements in the work (`MOVEMENTTOTAL`, `MVIN` "2/4", `mvc`).
    pub movement_total: Option<u32>,
    /// Conductor.
    pub conductor: Option<String>,
    /// Performers, each "name (instrument)" as tagged, in tag order.
    pub performers: Vec<String>,
    /// Arranger.
    pub arranger: Option<String>,
    /// Ensemble or orchestra.
    pub ensemble: Option<String>,
    /// MusicBrainz work id.
    pub musicbrainz_work_id: Option<String>,
    /// Grouping (content group), when it is not the work.
    pub grouping: Option<String>,
    /// Subtitle.
    pub subtitle: Option<String>,
    /// Disc subtitle.
    pub disc_subtitle: Option<String>,
    /// Every other tag item read, keyed as the container names it (multiple values joined by "; ").
    pub other: BTreeMap<String, String>,
}

/// A file as the catalog knows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Track {
    /// Catalog id.
    pub id: i64,
    /// The path as indexed.
    pub path: PathBuf,
    /// Tags.
    pub tags: TrackTags,
    /// Duration in seconds, when known.
    pub duration_s: Option<f64>,
    /// Descriptors, when analysed.
    pub descriptors: Option<Descriptors>,
}

impl Track {
    /// Title, or the file name when untagged.
    pub fn display_title(&self) -> String {
        self.tags.title.clone().unwrap_or_else(|| self.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default())
    }
}

/// A file's identity on disk: when it changes the file is re-analysed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    /// Size in bytes.
    pub size: u64,
    /// Modification time, ns since the epoch.
    pub mtime_ns: i64,
}

/// What the catalog holds about one file for one model, for the indexer's decisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalysisState {
    /// Track id.
    pub track_id: i64,
    /// The stamp the analysis was made from.
    pub stamp: FileStamp,
    /// `true` when it failed.
    pub failed: bool,
    /// Whether it was made by the current model and analysis version and sampling.
    pub current: bool,
}

/// A successful analysis's pointers into the store.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAnalysis {
    /// Track id.
    pub track_id: i64,
    /// Row of the track in every per-layer file.
    pub store_row: u64,
    /// First row of its windows in the window file.
    pub window_row: u64,
    /// Start times (s) of its windows.
    pub window_starts_s: Vec<f32>,
    /// [`crate::storage::store::RowChecksum`] of its rows as written; `None` for rows
    /// an older Strata wrote, which cannot be verified.
    pub checksum: Option<u64>,
}

/// A file that could not be analysed, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    /// The path.
    pub path: PathBuf,
    /// The reason.
    pub reason: String,
}

/// The `tracks` columns [`track_from_row`] reads, first in a query (table alias `t`).
const TRACK_COLUMNS: &str = "t.id, t.path_bytes, t.title, t.artist, t.album, t.album_artist, t.composer, t.work, t.movement,
                    t.disc, t.track_no, t.genre, t.date, t.duration_s, t.descriptors,
                    t.movement_number, t.movement_total, t.conductor, t.performers, t.arranger, t.ensemble,
                    t.musicbrainz_work_id, t.grouping, t.subtitle, t.disc_subtitle, t.other";

/// A [`Track`] from a row that starts with [`TRACK_COLUMNS`].
fn track_from_row(r: &rusqlite::Row) -> rusqlite::Result<Track> {
    Ok(Track {
        id: r.get(0)?,
        path: path_from_bytes(&r.get::<_, Vec<u8>>(1)?),
        tags: TrackTags {
            title: r.get(2)?,
            artist: r.get(3)?,
            album: r.get(4)?,
            album_artist: r.get(5)?,
            composer: r.get(6)?,
            work: r.get(7)?,
            movement: r.get(8)?,
            disc: r.get(9)?,
            track_no: r.get(10)?,
            genre: r.get(11)?,
            date: r.get(12)?,
            movement_number: r.get(15)?,
            movement_total: r.get(16)?,
            conductor: r.get(17)?,
            performers: json_column(r, 18)?,
            arranger: r.get(19)?,
            ensemble: r.get(20)?,
            musicbrainz_work_id: r.get(21)?,
            grouping: r.get(22)?,
            subtitle: r.get(23)?,
            disc_subtitle: r.get(24)?,
            other: json_column(r, 25)?,
        },
        duration_s: r.get(13)?,
        descriptors: r.get::<_, Option<String>>(14)?.and_then(|json| serde_json::from_str(&json).ok()),
    })
}

/// A JSON list or map column; NULL (nothing tagged) or unreadable JSON reads as empty.
fn json_column<T: serde::de::DeserializeOwned + Default>(r: &rusqlite::Row, index: usize) -> rusqlite::Result<T> {
    Ok(r.get::<_, Option<String>>(index)?.and_then(|json| serde_json::from_str(&json).ok()).unwrap_or_default())
}

/// The SQLite catalog.
pub struct Catalog {
    connection: Connection,
}

/// Catalog errors are SQLite errors.
pub type CatalogResult<T> = Result<T, rusqlite::Error>;

/// The exact bytes of a path, the catalog's key for a file (file names need not be UTF-8).
#[cfg(unix)]
pub fn path_bytes(path: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes().to_vec()
}

/// The exact bytes of a path, the catalog's key for a file.
#[cfg(not(unix))]
pub fn path_bytes(path: &Path) -> Vec<u8> {
    path.to_string_lossy().as_bytes().to_vec()
}

/// The path whose exact bytes are `bytes` (the inverse of [`path_bytes`]).
#[cfg(unix)]
pub fn path_from_bytes(bytes: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
}

/// The path whose bytes are `bytes` (the inverse of [`path_bytes`]).
#[cfg(not(unix))]
pub fn path_from_bytes(bytes: &[u8]) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(bytes).into_owned())
}

/// Adds `column` to `table` in a catalog made before the column existed
/// (SQLite has no `ADD COLUMN IF NOT EXISTS`).
fn add_column_if_missing(connection: &Connection, table: &str, column: &str, declaration: &str) -> CatalogResult<()> {
    let mut statement = connection.prepare(&format!("SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?1"))?;
    if !statement.exists(params![column])? {
        match connection.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {declaration}")) {
            // Another connection (a reader opening a new catalog beside its first
            // writer) added it between the check and the ALTER: the column is there.
            Err(rusqlite::Error::SqliteFailure(_, Some(message))) if message.starts_with("duplicate column name") => {}
            other => other?,
        }
    }
    Ok(())
}

impl Catalog {
    /// Opens (creating if needed) the catalog file, in WAL mode.
    pub fn open(path: &Path) -> CatalogResult<Self> {
        let connection = Connection::open(path)?;
        connection.busy_timeout(std::time::Duration::from_secs(10))?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        connection.execute_batch(SCHEMA)?;
        add_column_if_missing(&connection, "analyses", "warnings", "TEXT")?;
        // The store's row checksum (u64 bits as i64); NULL for rows an older Strata wrote.
        add_column_if_missing(&connection, "analyses", "checksum", "INTEGER")?;
        for (column, declaration) in ADDED_TAG_COLUMNS {
            add_column_if_missing(&connection, "tracks", column, declaration)?;
        }
        // 0: tags read before TAGS_VERSION existed.
        add_column_if_missing(&connection, "tracks", "tags_version", "INTEGER NOT NULL DEFAULT 0")?;
        Ok(Self { connection })
    }

    /// Adds a library root (idempotent).
    pub fn add_root(&self, root: &Path) -> CatalogResult<()> {
        self.connection.execute("INSERT OR IGNORE INTO roots(path) VALUES (?1)", params![root.to_string_lossy()])?;
        Ok(())
    }

    /// The library roots.
    pub fn roots(&self) -> CatalogResult<Vec<PathBuf>> {
        let mut statement = self.connection.prepare("SELECT path FROM roots ORDER BY id")?;
        let rows = statement.query_map([], |r| r.get::<_, String>(0))?;
        rows.map(|r| r.map(PathBuf::from)).collect()
    }

    /// Analysis state of every catalogued file for `model`, keyed by path bytes.
    pub fn analysis_states(
        &self,
        model: &str,
        model_version: u32,
        sampling: &str,
    ) -> CatalogResult<std::collections::HashMap<Vec<u8>, AnalysisState>> {
        let mut statement = self.connection.prepare(
            "SELECT t.path_bytes, t.id, a.size, a.mtime_ns, a.status, a.model_version, a.analysis_version, a.sampling
             FROM analyses a JOIN tracks t ON t.id = a.track_id WHERE a.model = ?1",
        )?;
        let rows = statement.query_map(params![model], |r| {
            let failed = r.get::<_, String>(4)? == "failed";
            let current =
                r.get::<_, u32>(5)? == model_version && r.get::<_, u32>(6)? == ANALYSIS_VERSION && r.get::<_, String>(7)? == sampling;
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                AnalysisState {
                    track_id: r.get(1)?,
                    stamp: FileStamp { size: r.get::<_, i64>(2)? as u64, mtime_ns: r.get(3)? },
                    failed,
                    current,
                },
            ))
        })?;
        rows.collect()
    }

    /// The path bytes of tracks whose tags an older Strata read (see [`TAGS_VERSION`]).
    pub fn stale_tags(&self) -> CatalogResult<std::collections::HashSet<Vec<u8>>> {
        let mut statement = self.connection.prepare("SELECT path_bytes FROM tracks WHERE tags_version < ?1")?;
        let rows = statement.query_map(params![TAGS_VERSION], |r| r.get::<_, Vec<u8>>(0))?;
        rows.collect()
    }

    /// Every catalogued path, for noticing deleted files.
    pub fn track_paths(&self) -> CatalogResult<Vec<(i64, PathBuf)>> {
        let mut statement = self.connection.prepare("SELECT id, path_bytes FROM tracks ORDER BY id")?;
        let rows = statement.query_map([], |r| Ok((r.get::<_, i64>(0)?, path_from_bytes(&r.get::<_, Vec<u8>>(1)?))))?;
        rows.collect()
    }

    /// Removes tracks (and their analyses) from the catalog.
    pub fn remove_tracks(&mut self, ids: &[i64]) -> CatalogResult<()> {
        let tx = self.connection.transaction()?;
        for id in ids {
            tx.execute("DELETE FROM tracks WHERE id = ?1", params![id])?;
        }
        tx.commit()
    }

    /// Starts a batch of writes that commits atomically.
    pub fn batch(&mut self) -> CatalogResult<CatalogBatch<'_>> {
        Ok(CatalogBatch { tx: self.connection.transaction()? })
    }

    /// All tracks with a successful analysis for `model`, with their store pointers, by store row.
    pub fn analysed_tracks(&self, model: &str) -> CatalogResult<Vec<(Track, StoredAnalysis)>> {
        let mut statement = self.connection.prepare(&format!(
            "SELECT {TRACK_COLUMNS}, a.store_row, a.window_row, a.window_starts, a.checksum
             FROM analyses a JOIN tracks t ON t.id = a.track_id
             WHERE a.model = ?1 AND a.status = 'done' ORDER BY a.store_row"
        ))?;
        let rows = statement.query_map(params![model], |r| {
            let track = track_from_row(r)?;
            // By name: the track's columns come first and may grow.
            let starts: Vec<u8> = r.get::<_, Option<Vec<u8>>>("window_starts")?.unwrap_or_default();
            let analysis = StoredAnalysis {
                track_id: track.id,
                store_row: r.get::<_, i64>("store_row")? as u64,
                window_row: r.get::<_, i64>("window_row")? as u64,
                window_starts_s: starts.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
                checksum: r.get::<_, Option<i64>>("checksum")?.map(|c| c as u64),
            };
            Ok((track, analysis))
        })?;
        rows.collect()
    }

    /// Files that failed for `model`, with reasons.
    pub fn failures(&self, model: &str) -> CatalogResult<Vec<Failure>> {
        let mut statement = self.connection.prepare(
            "SELECT t.path_bytes, a.error FROM analyses a JOIN tracks t ON t.id = a.track_id
             WHERE a.model = ?1 AND a.status = 'failed' ORDER BY t.path",
        )?;
        let rows = statement.query_map(params![model], |r| {
            Ok(Failure { path: path_from_bytes(&r.get::<_, Vec<u8>>(0)?), reason: r.get::<_, Option<String>>(1)?.unwrap_or_default() })
        })?;
        rows.collect()
    }

    /// Files analysed for `model` with problems that did not stop them, one
    /// entry per file with its problems joined, by path.
    pub fn warnings(&self, model: &str) -> CatalogResult<Vec<Failure>> {
        let mut statement = self.connection.prepare(
            "SELECT t.path_bytes, a.warnings FROM analyses a JOIN tracks t ON t.id = a.track_id
             WHERE a.model = ?1 AND a.status = 'done' AND a.warnings IS NOT NULL ORDER BY t.path",
        )?;
        let rows = statement.query_map(params![model], |r| {
            let lines: Vec<String> = serde_json::from_str(&r.get::<_, String>(1)?).unwrap_or_default();
            Ok(Failure { path: path_from_bytes(&r.get::<_, Vec<u8>>(0)?), reason: lines.join("; ") })
        })?;
        rows.collect()
    }

    /// The highest committed store row and window row (+ count) for `model`,
    /// i.e. how many rows of each store file are referenced.
    pub fn committed_rows(&self, model: &str) -> CatalogResult<(u64, u64)> {
        self.connection.query_row(
            "SELECT COALESCE(MAX(store_row) + 1, 0), COALESCE(MAX(window_row + window_count), 0)
             FROM analyses WHERE model = ?1 AND status = 'done'",
            params![model],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
        )
    }

    /// The models with at least one analysis, by name.
    pub fn analysed_models(&self) -> CatalogResult<Vec<String>> {
        let mut statement = self.connection.prepare("SELECT DISTINCT model FROM analyses ORDER BY model")?;
        let rows = statement.query_map([], |r| r.get::<_, String>(0))?;
        rows.collect()
    }

    /// Model and analysis version of each successful analysis for `model`, by track id.
    pub fn analysis_versions(&self, model: &str) -> CatalogResult<std::collections::HashMap<i64, (u32, u32)>> {
        let mut statement = self
            .connection
            .prepare("SELECT track_id, model_version, analysis_version FROM analyses WHERE model = ?1 AND status = 'done'")?;
        let rows = statement.query_map(params![model], |r| Ok((r.get::<_, i64>(0)?, (r.get::<_, u32>(1)?, r.get::<_, u32>(2)?))))?;
        rows.collect()
    }

    /// What SQLite's `PRAGMA integrity_check` finds wrong with the catalog file (nothing when it is sound).
    pub fn integrity_problems(&self) -> CatalogResult<Vec<String>> {
        let mut statement = self.connection.prepare("PRAGMA integrity_check")?;
        let rows = statement.query_map([], |r| r.get::<_, String>(0))?;
        let lines: Vec<String> = rows.collect::<CatalogResult<_>>()?;
        Ok(lines.into_iter().filter(|line| line != "ok").collect())
    }

    /// Forgets `model`'s analyses of `track_ids` (their store rows become
    /// garbage), so the next `strata index` analyses those files again.
    /// Returns how many analyses were forgotten.
    pub fn requeue(&mut self, model: &str, track_ids: &[i64]) -> CatalogResult<usize> {
        let tx = self.connection.transaction()?;
        let mut forgotten = 0;
        for id in track_ids {
            forgotten += tx.execute("DELETE FROM analyses WHERE track_id = ?1 AND model = ?2", params![id, model])?;
        }
        tx.commit()?;
        Ok(forgotten)
    }
}

/// A batch of catalog writes; nothing is visible until [`CatalogBatch::commit`].
pub struct CatalogBatch<'c> {
    tx: rusqlite::Transaction<'c>,
}

impl CatalogBatch<'_> {
    /// Inserts or updates a file's row and returns its id.
    pub fn upsert_track(
        &self,
        path: &Path,
        stamp: FileStamp,
        tags: &TrackTags,
        duration_s: Option<f64>,
        descriptors: Option<&Descriptors>,
    ) -> CatalogResult<i64> {
        let descriptors_json = descriptors.and_then(|d| serde_json::to_string(d).ok());
        let performers_json = (!tags.performers.is_empty()).then(|| serde_json::to_string(&tags.performers).ok()).flatten();
        let other_json = (!tags.other.is_empty()).then(|| serde_json::to_string(&tags.other).ok()).flatten();
        self.tx.execute(
            "INSERT INTO tracks (path_bytes, path, size, mtime_ns, title, artist, album, album_artist, composer, work,
                                 movement, disc, track_no, genre, date, duration_s, descriptors,
                                 movement_number, movement_total, conductor, performers, arranger, ensemble,
                                 musicbrainz_work_id, grouping, subtitle, disc_subtitle, other, tags_version)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                     ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29)
             ON CONFLICT(path_bytes) DO UPDATE SET
                path = excluded.path, size = excluded.size, mtime_ns = excluded.mtime_ns, title = excluded.title,
                artist = excluded.artist, album = excluded.album, album_artist = excluded.album_artist,
                composer = excluded.composer, work = excluded.work, movement = excluded.movement, disc = excluded.disc,
                track_no = excluded.track_no, genre = excluded.genre, date = excluded.date,
                duration_s = COALESCE(excluded.duration_s, tracks.duration_s),
                descriptors = COALESCE(excluded.descriptors, tracks.descriptors),
                movement_number = excluded.movement_number, movement_total = excluded.movement_total,
                conductor = excluded.conductor, performers = excluded.performers, arranger = excluded.arranger,
                ensemble = excluded.ensemble, musicbrainz_work_id = excluded.musicbrainz_work_id,
                grouping = excluded.grouping, subtitle = excluded.subtitle, disc_subtitle = excluded.disc_subtitle,
                other = excluded.other, tags_version = excluded.tags_version",
            params![
                path_bytes(path),
                path.to_string_lossy(),
                stamp.size as i64,
                stamp.mtime_ns,
                tags.title,
                tags.artist,
                tags.album,
                tags.album_artist,
                tags.composer,
                tags.work,
                tags.movement,
                tags.disc,
                tags.track_no,
                tags.genre,
                tags.date,
                duration_s,
                descriptors_json,
                tags.movement_number,
                tags.movement_total,
                tags.conductor,
                performers_json,
                tags.arranger,
                tags.ensemble,
                tags.musicbrainz_work_id,
                tags.grouping,
                tags.subtitle,
                tags.disc_subtitle,
                other_json,
                TAGS_VERSION,
            ],
        )?;
        self.tx.query_row("SELECT id FROM tracks WHERE path_bytes = ?1", params![path_bytes(path)], |r| r.get(0))
    }

    /// Records a successful analysis pointing at durable store rows.
    #[allow(clippy::too_many_arguments)]
    pub fn record_done(
        &self,
        track_id: i64,
        model: &str,
        model_version: u32,
        sampling: &str,
        stamp: FileStamp,
        rows: &AppendedRows,
        window_starts_s: &[f32],
    ) -> CatalogResult<()> {
        let starts: Vec<u8> = window_starts_s.iter().flat_map(|s| s.to_le_bytes()).collect();
        self.tx.execute(
            "INSERT OR REPLACE INTO analyses (track_id, model, model_version, analysis_version, sampling, status, error,
                                              store_row, window_row, window_count, window_starts, size, mtime_ns, checksum)
             VALUES (?1, ?2, ?3, ?4, ?5, 'done', NULL, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                track_id,
                model,
                model_version,
                ANALYSIS_VERSION,
                sampling,
                rows.store_row as i64,
                rows.window_row as i64,
                window_starts_s.len() as i64,
                starts,
                stamp.size as i64,
                stamp.mtime_ns,
                rows.checksum as i64
            ],
        )?;
        Ok(())
    }

    /// Records the problems that did not stop an analysis (none clears them).
    pub fn record_warnings(&self, track_id: i64, model: &str, warnings: &[String]) -> CatalogResult<()> {
        let json = (!warnings.is_empty()).then(|| serde_json::to_string(warnings).unwrap_or_default());
        self.tx.execute("UPDATE analyses SET warnings = ?3 WHERE track_id = ?1 AND model = ?2", params![track_id, model, json])?;
        Ok(())
    }

    /// Records a failed analysis with its reason.
    pub fn record_failed(
        &self,
        track_id: i64,
        model: &str,
        model_version: u32,
        sampling: &str,
        stamp: FileStamp,
        reason: &str,
    ) -> CatalogResult<()> {
        self.tx.execute(
            "INSERT OR REPLACE INTO analyses (track_id, model, model_version, analysis_version, sampling, status, error,
                                              store_row, window_row, window_count, window_starts, size, mtime_ns)
             VALUES (?1, ?2, ?3, ?4, ?5, 'failed', ?6, NULL, NULL, NULL, NULL, ?7, ?8)",
            params![track_id, model, model_version, ANALYSIS_VERSION, sampling, reason, stamp.size as i64, stamp.mtime_ns],
        )?;
        Ok(())
    }

    /// Makes the batch visible, durably.
    pub fn commit(self) -> CatalogResult<()> {
        self.tx.commit()
    }
}

// Work corrections (crate::works::edits): kept apart from the tracks table so
// re-indexing, which rewrites tracks, never touches them.
impl Catalog {
    /// Every catalogued track, analysed or not, by path.
    pub fn tracks(&self) -> CatalogResult<Vec<Track>> {
        let mut statement = self.connection.prepare(&format!("SELECT {TRACK_COLUMNS} FROM tracks t ORDER BY t.path_bytes"))?;
        let rows = statement.query_map([], track_from_row)?;
        rows.collect()
    }

    /// The user's work corrections, in the order they were made.
    pub fn work_edits(&self) -> CatalogResult<Vec<WorkEdit>> {
        let mut statement = self.connection.prepare("SELECT work_id, path_bytes, title FROM work_edits ORDER BY id")?;
        let rows = statement.query_map([], |r| {
            let work_id: String = r.get(0)?;
            Ok(match r.get::<_, Option<Vec<u8>>>(1)? {
                Some(track_path) => WorkEdit::Assign { track_path, work_id },
                None => WorkEdit::Rename { work_id, title: r.get::<_, Option<String>>(2)?.unwrap_or_default() },
            })
        })?;
        rows.collect()
    }

    /// Records corrections in one transaction; a track's or a work's earlier edit of the same kind is replaced.
    pub fn add_work_edits(&mut self, edits: &[WorkEdit]) -> CatalogResult<()> {
        let tx = self.connection.transaction()?;
        for edit in edits {
            match edit {
                WorkEdit::Assign { track_path, work_id } => {
                    tx.execute("DELETE FROM work_edits WHERE path_bytes = ?1", params![track_path])?;
                    tx.execute("INSERT INTO work_edits (work_id, path_bytes) VALUES (?1, ?2)", params![work_id, track_path])?;
                }
                WorkEdit::Rename { work_id, title } => {
                    tx.execute("DELETE FROM work_edits WHERE work_id = ?1 AND path_bytes IS NULL", params![work_id])?;
                    tx.execute("INSERT INTO work_edits (work_id, title) VALUES (?1, ?2)", params![work_id, title])?;
                }
            }
        }
        tx.commit()
    }

    /// Forgets the corrections that name any of `work_ids` or move any of `track_paths`; returns how many.
    pub fn remove_work_edits(&mut self, work_ids: &[String], track_paths: &[Vec<u8>]) -> CatalogResult<usize> {
        let tx = self.connection.transaction()?;
        let mut removed = 0;
        for work_id in work_ids {
            removed += tx.execute("DELETE FROM work_edits WHERE work_id = ?1", params![work_id])?;
        }
        for track_path in track_paths {
            removed += tx.execute("DELETE FROM work_edits WHERE path_bytes = ?1", params![track_path])?;
        }
        tx.commit()?;
        Ok(removed)
    }
}
