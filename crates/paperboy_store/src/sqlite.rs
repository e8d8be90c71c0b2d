//! The embedded backend: one SQLite file in WAL mode. One writer connection behind a mutex, a small
//! pool of read-only connections, so readers never wait for an ingest.

use std::{
    path::{Path, PathBuf},
    sync::Mutex,
};

use chrono::{DateTime, NaiveDate, Utc};
use paperboy_domain::{ArxivId, Category, Paper, Signals, Version};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, Transaction, params};

use crate::{
    BatchOutcome, CheckpointUpdate, Error, PaperSource, PaperStore, Result, StoreStats, StoredPaper, UpsertOutcome,
    WriteBatch,
};

/// Schema migrations, applied in order; `PRAGMA user_version` records how many have run.
/// Never edit a released migration: append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: papers, signals, checkpoints.
    r#"
    CREATE TABLE papers (
        id            TEXT PRIMARY KEY,
        seq           INTEGER NOT NULL,
        source        TEXT NOT NULL CHECK (source IN ('arxiv', 'secondary')),
        version       INTEGER,
        versions      TEXT NOT NULL,          -- JSON: [{"number","submitted","size"}]
        title         TEXT NOT NULL,
        abstract      TEXT NOT NULL,
        authors       TEXT NOT NULL,          -- JSON array of names
        categories    TEXT NOT NULL,          -- space-separated, primary first
        submitted     TEXT,                   -- RFC 3339
        updated       TEXT,
        announced     TEXT,                   -- YYYY-MM-DD
        comments      TEXT,
        journal_ref   TEXT,
        doi           TEXT,
        license       TEXT,
        content_hash  INTEGER NOT NULL,
        first_stored  TEXT NOT NULL,
        last_changed  TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE UNIQUE INDEX papers_seq ON papers (seq);
    CREATE INDEX papers_announced ON papers (announced);

    CREATE TABLE signals (
        paper_id      TEXT NOT NULL,
        source        TEXT NOT NULL,
        upvotes       INTEGER NOT NULL,
        comments      INTEGER NOT NULL,
        github_repo   TEXT,
        github_stars  INTEGER,
        featured_on   TEXT,
        observed_at   TEXT NOT NULL,
        PRIMARY KEY (paper_id, source)
    ) WITHOUT ROWID;

    CREATE TABLE checkpoints (
        key           TEXT PRIMARY KEY,
        value         TEXT NOT NULL,
        updated_at    TEXT NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 2: accounts, sessions, libraries, upvotes, the outbox.
    r#"
    -- AUTOINCREMENT: an id is never reused, so a link signed for a deleted account stays dead.
    CREATE TABLE accounts (
        id             INTEGER PRIMARY KEY AUTOINCREMENT,
        email          TEXT NOT NULL UNIQUE,
        status         TEXT NOT NULL CHECK (status IN ('pending', 'active', 'unsubscribed')),
        preferences    TEXT NOT NULL,          -- JSON
        created_at     TEXT NOT NULL,
        confirmed_at   TEXT,
        last_digest_on TEXT,
        suppressed_at  TEXT,
        hard_failures  INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE auth_tokens (
        hash       BLOB PRIMARY KEY,
        account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        purpose    TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        used_at    TEXT
    ) WITHOUT ROWID;
    CREATE TABLE sessions (
        hash       BLOB PRIMARY KEY,
        account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE library (
        account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        paper_id   TEXT NOT NULL,
        tags       TEXT NOT NULL,              -- JSON array
        saved_at   TEXT NOT NULL,
        PRIMARY KEY (account_id, paper_id)
    ) WITHOUT ROWID;
    CREATE TABLE upvotes (
        account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        paper_id   TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (account_id, paper_id)
    ) WITHOUT ROWID;
    CREATE INDEX upvotes_paper ON upvotes (paper_id);
    CREATE TABLE outbox (
        id              INTEGER PRIMARY KEY,
        account_id      INTEGER REFERENCES accounts (id) ON DELETE CASCADE,
        kind            TEXT NOT NULL,
        dedupe_key      TEXT NOT NULL UNIQUE,
        message_id      TEXT NOT NULL,
        recipient       TEXT NOT NULL,
        payload         TEXT NOT NULL,
        state           TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'sent', 'failed')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        claimed_at      TEXT,
        last_error      TEXT,
        created_at      TEXT NOT NULL,
        sent_at         TEXT
    );
    CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
    CREATE INDEX outbox_account ON outbox (account_id);
    CREATE TABLE sent_papers (
        account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        paper_id   TEXT NOT NULL,
        outbox_id  INTEGER NOT NULL,
        PRIMARY KEY (account_id, paper_id)
    ) WITHOUT ROWID;
    CREATE INDEX sent_papers_paper ON sent_papers (paper_id);
    CREATE TABLE rate_limits (
        key          TEXT PRIMARY KEY,
        window_start TEXT NOT NULL,
        count        INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;
    -- Per-account linear models on paper embeddings (library vs. random papers), kept until the
    -- library changes.
    CREATE TABLE library_models (
        account_id   INTEGER PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
        model        TEXT NOT NULL,
        library_hash INTEGER NOT NULL,
        weights      BLOB NOT NULL             -- little-endian f32, the bias last
    );
    -- Embeddings of saved searches, computed when a search is saved, read when digests are built.
    CREATE TABLE query_vectors (
        model     TEXT NOT NULL,
        text_hash INTEGER NOT NULL,
        vector    BLOB NOT NULL,               -- little-endian f32
        PRIMARY KEY (model, text_hash)
    ) WITHOUT ROWID;
    "#,
    // 3: finding delivered messages old enough to forget without reading the whole outbox.
    r#"
    CREATE INDEX outbox_created ON outbox (created_at);
    "#,
    // 4: why an address is suppressed (the mail server's reply), for operators and for the person.
    r#"
    ALTER TABLE accounts ADD COLUMN suppressed_reason TEXT;
    "#,
];

const READ_POOL_SIZE: usize = 8;

/// The SQLite store.
pub struct SqliteStore {
    path: PathBuf,
    pub(crate) writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|source| Error::Io { path: parent.display().to_string(), source })?;
        }
        let not_a_database =
            |err: rusqlite::Error| Error::NotADatabase { path: path.display().to_string(), detail: err.to_string() };
        let mut writer = Connection::open(path).map_err(not_a_database)?;
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = NORMAL;
                 PRAGMA busy_timeout = 10000;
                 PRAGMA cache_size = -65536;
                 PRAGMA temp_store = MEMORY;
                 PRAGMA foreign_keys = ON;",
            )
            .map_err(not_a_database)?;
        migrate(&mut writer).map_err(|err| match err {
            Error::Database(err) => not_a_database(err),
            other => other,
        })?;
        Ok(SqliteStore { path: path.to_owned(), writer: Mutex::new(writer), readers: Mutex::new(Vec::new()) })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let pooled = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let connection = match pooled {
            Some(connection) => connection,
            None => {
                let connection = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
                )?;
                connection.execute_batch(
                    "PRAGMA busy_timeout = 10000; PRAGMA cache_size = -16384; PRAGMA foreign_keys = ON;",
                )?;
                connection
            }
        };
        let result = f(&connection);
        let mut pool = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < READ_POOL_SIZE {
            pool.push(connection);
        }
        result
    }
}

fn migrate(connection: &mut Connection) -> Result<()> {
    let version: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let supported = MIGRATIONS.len() as i64;
    if version > supported {
        return Err(Error::SchemaTooNew { found: version, supported });
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = connection.transaction()?;
        tx.execute_batch(migration)?;
        tx.pragma_update(None, "user_version", (index + 1) as i64)?;
        tx.commit()?;
        tracing::info!(version = index + 1, "applied database migration");
    }
    Ok(())
}

impl PaperStore for SqliteStore {
    fn apply(&self, batch: WriteBatch) -> Result<BatchOutcome> {
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let tx = writer.transaction()?;
        let now = Utc::now().to_rfc3339();
        let mut next_seq: i64 = tx.query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM papers", [], |row| row.get(0))?;
        let mut outcome = BatchOutcome::default();
        for paper in batch.papers {
            let (upserted, stored) = upsert_paper(&tx, paper, batch.paper_source, &mut next_seq, &now)?;
            outcome.papers.push(upserted);
            outcome.changed.extend(stored.map(|stored| (upserted, stored)));
        }
        for signals in &batch.signals {
            outcome.signals.push(upsert_signals(&tx, signals)?);
        }
        match batch.checkpoint {
            Some(CheckpointUpdate::Set { key, value }) => {
                tx.prepare_cached(
                    "INSERT INTO checkpoints (key, value, updated_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                )?
                .execute(params![key, value, now])?;
            }
            Some(CheckpointUpdate::Clear { key }) => {
                tx.execute("DELETE FROM checkpoints WHERE key = ?1", [key])?;
            }
            None => {}
        }
        tx.commit()?;
        Ok(outcome)
    }

    fn paper(&self, id: ArxivId) -> Result<Option<StoredPaper>> {
        self.with_reader(|connection| {
            let mut statement =
                connection.prepare_cached(&format!("SELECT {PAPER_COLUMNS} FROM papers WHERE id = ?1"))?;
            let row = statement.query_row([id.base().to_string()], read_row).optional()?;
            row.map(decode_paper).transpose()
        })
    }

    fn papers(&self, ids: &[ArxivId]) -> Result<Vec<StoredPaper>> {
        self.with_reader(|connection| {
            let mut statement =
                connection.prepare_cached(&format!("SELECT {PAPER_COLUMNS} FROM papers WHERE id = ?1"))?;
            let mut papers = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(row) = statement.query_row([id.base().to_string()], read_row).optional()? {
                    papers.push(decode_paper(row)?);
                }
            }
            Ok(papers)
        })
    }

    fn changed_since(&self, after: i64, limit: usize) -> Result<Vec<StoredPaper>> {
        self.with_reader(|connection| {
            let mut statement = connection
                .prepare_cached(&format!("SELECT {PAPER_COLUMNS} FROM papers WHERE seq > ?1 ORDER BY seq LIMIT ?2"))?;
            let rows = statement.query_map(params![after, limit as i64], read_row)?;
            rows.map(|row| decode_paper(row?)).collect()
        })
    }

    fn max_seq(&self) -> Result<i64> {
        self.with_reader(|connection| {
            Ok(connection.query_row("SELECT COALESCE(MAX(seq), 0) FROM papers", [], |row| row.get(0))?)
        })
    }

    fn count_papers(&self) -> Result<u64> {
        self.with_reader(|connection| {
            Ok(connection.query_row("SELECT COUNT(*) FROM papers", [], |row| row.get::<_, i64>(0))? as u64)
        })
    }

    fn signals(&self, ids: &[ArxivId]) -> Result<Vec<Signals>> {
        self.with_reader(|connection| {
            let mut statement = connection
                .prepare_cached(&format!("SELECT {SIGNAL_COLUMNS} FROM signals WHERE paper_id = ?1 ORDER BY source"))?;
            let mut out = Vec::new();
            for id in ids {
                for row in statement.query_map([id.base().to_string()], read_signals_row)? {
                    out.push(decode_signals(row?)?);
                }
            }
            Ok(out)
        })
    }

    fn checkpoint(&self, key: &str) -> Result<Option<String>> {
        self.with_reader(|connection| {
            Ok(connection
                .query_row("SELECT value FROM checkpoints WHERE key = ?1", [key], |row| row.get(0))
                .optional()?)
        })
    }

    fn papers_announced_on(&self, day: NaiveDate) -> Result<Vec<StoredPaper>> {
        self.with_reader(|connection| {
            let mut statement =
                connection.prepare_cached(&format!("SELECT {PAPER_COLUMNS} FROM papers WHERE announced = ?1"))?;
            let rows = statement.query_map([day.to_string()], read_row)?;
            let mut papers = rows.map(|row| decode_paper(row?)).collect::<Result<Vec<_>>>()?;
            papers.sort_by_key(|p| p.paper.id);
            Ok(papers)
        })
    }

    fn announcement_days_around(&self, day: NaiveDate) -> Result<(Option<NaiveDate>, Option<NaiveDate>)> {
        self.with_reader(|connection| {
            let previous: Option<String> = connection.query_row(
                "SELECT MAX(announced) FROM papers WHERE announced < ?1",
                [day.to_string()],
                |row| row.get(0),
            )?;
            let next: Option<String> = connection.query_row(
                "SELECT MIN(announced) FROM papers WHERE announced > ?1",
                [day.to_string()],
                |row| row.get(0),
            )?;
            Ok((previous.as_deref().map(parse_day).transpose()?, next.as_deref().map(parse_day).transpose()?))
        })
    }

    fn signals_between(&self, from: NaiveDate, until: NaiveDate) -> Result<Vec<Signals>> {
        self.with_reader(|connection| {
            let mut statement = connection.prepare_cached(&format!(
                "SELECT {SIGNAL_COLUMNS} FROM signals
                 WHERE COALESCE(featured_on, substr(observed_at, 1, 10)) BETWEEN ?1 AND ?2"
            ))?;
            let rows = statement.query_map([from.to_string(), until.to_string()], read_signals_row)?;
            rows.map(|row| decode_signals(row?)).collect()
        })
    }

    fn last_announced(&self) -> Result<Option<NaiveDate>> {
        self.with_reader(|connection| {
            let day: Option<String> =
                connection.query_row("SELECT MAX(announced) FROM papers", [], |row| row.get(0))?;
            day.as_deref().map(parse_day).transpose()
        })
    }

    fn latest_day(&self) -> Result<Option<NaiveDate>> {
        self.with_reader(|connection| {
            let day: Option<String> = connection.query_row(
                "SELECT MAX(day) FROM (SELECT MAX(announced) AS day FROM papers UNION ALL SELECT MAX(featured_on) FROM signals)",
                [],
                |row| row.get(0),
            )?;
            day.as_deref().map(parse_day).transpose()
        })
    }

    fn stats(&self) -> Result<StoreStats> {
        let bytes_on_disk = ["", "-wal", "-shm"]
            .iter()
            .filter_map(|suffix| std::fs::metadata(format!("{}{suffix}", self.path.display())).ok())
            .map(|m| m.len())
            .sum();
        self.with_reader(|connection| {
            let count =
                |sql: &str| -> Result<u64> { Ok(connection.query_row(sql, [], |row| row.get::<_, i64>(0))? as u64) };
            let (first_announced, last_announced): (Option<String>, Option<String>) =
                connection.query_row("SELECT MIN(announced), MAX(announced) FROM papers", [], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })?;
            Ok(StoreStats {
                papers: count("SELECT COUNT(*) FROM papers")?,
                secondary_papers: count("SELECT COUNT(*) FROM papers WHERE source = 'secondary'")?,
                papers_with_signals: count("SELECT COUNT(DISTINCT paper_id) FROM signals")?,
                signal_records: count("SELECT COUNT(*) FROM signals")?,
                first_announced: first_announced.as_deref().map(parse_day).transpose()?,
                last_announced: last_announced.as_deref().map(parse_day).transpose()?,
                max_seq: count("SELECT COALESCE(MAX(seq), 0) FROM papers")? as i64,
                unfinished_harvests: count("SELECT COUNT(*) FROM checkpoints")?,
                bytes_on_disk,
            })
        })
    }
}

const PAPER_COLUMNS: &str = "id, seq, source, version, versions, title, abstract, authors, categories, submitted, \
     updated, announced, comments, journal_ref, doi, license, first_stored, last_changed";

/// A row's raw columns, decoded outside rusqlite's closure so errors keep their meaning.
struct RawPaper {
    id: String,
    seq: i64,
    source: String,
    version: Option<i64>,
    versions: String,
    title: String,
    abstract_text: String,
    authors: String,
    categories: String,
    submitted: Option<String>,
    updated: Option<String>,
    announced: Option<String>,
    comments: Option<String>,
    journal_ref: Option<String>,
    doi: Option<String>,
    license: Option<String>,
    first_stored: String,
    last_changed: String,
}

fn read_row(row: &Row<'_>) -> rusqlite::Result<RawPaper> {
    Ok(RawPaper {
        id: row.get(0)?,
        seq: row.get(1)?,
        source: row.get(2)?,
        version: row.get(3)?,
        versions: row.get(4)?,
        title: row.get(5)?,
        abstract_text: row.get(6)?,
        authors: row.get(7)?,
        categories: row.get(8)?,
        submitted: row.get(9)?,
        updated: row.get(10)?,
        announced: row.get(11)?,
        comments: row.get(12)?,
        journal_ref: row.get(13)?,
        doi: row.get(14)?,
        license: row.get(15)?,
        first_stored: row.get(16)?,
        last_changed: row.get(17)?,
    })
}

fn decode_paper(raw: RawPaper) -> Result<StoredPaper> {
    let corrupt = |what: &str, detail: String| Error::Corrupt(format!("paper {}: {what}: {detail}", raw.id));
    let id = parse_id(&raw.id)?;
    let versions: Vec<Version> = serde_json::from_str(&raw.versions).map_err(|e| corrupt("versions", e.to_string()))?;
    let authors: Vec<String> = serde_json::from_str(&raw.authors).map_err(|e| corrupt("authors", e.to_string()))?;
    let categories = raw
        .categories
        .split_whitespace()
        .map(|c| Category::parse(c).map_err(|e| corrupt("categories", e.to_string())))
        .collect::<Result<Vec<_>>>()?;
    let paper = Paper {
        id,
        version: raw.version.map(|v| v as u16),
        versions,
        title: raw.title,
        abstract_text: raw.abstract_text,
        authors,
        categories,
        submitted: raw.submitted.as_deref().map(parse_time).transpose()?,
        updated: raw.updated.as_deref().map(parse_time).transpose()?,
        announced: raw.announced.as_deref().map(parse_day).transpose()?,
        comments: raw.comments,
        journal_ref: raw.journal_ref,
        doi: raw.doi,
        license: raw.license,
    };
    Ok(StoredPaper {
        paper,
        seq: raw.seq,
        source: if raw.source == "secondary" { PaperSource::Secondary } else { PaperSource::Arxiv },
        first_stored: parse_time(&raw.first_stored)?,
        last_changed: parse_time(&raw.last_changed)?,
    })
}

pub(crate) fn parse_id(text: &str) -> Result<ArxivId> {
    ArxivId::parse(text).map_err(|e| Error::Corrupt(e.to_string()))
}

pub(crate) fn parse_time(text: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| Error::Corrupt(format!("timestamp {text:?}: {e}")))
}

pub(crate) fn parse_day(text: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|e| Error::Corrupt(format!("date {text:?}: {e}")))
}

fn content_hash(paper: &Paper) -> i64 {
    let bytes = serde_json::to_vec(paper).expect("a paper always serialises");
    xxhash_rust::xxh3::xxh3_64(&bytes) as i64
}

fn upsert_paper(
    tx: &Transaction<'_>,
    incoming: Paper,
    source: PaperSource,
    next_seq: &mut i64,
    now: &str,
) -> Result<(UpsertOutcome, Option<StoredPaper>)> {
    let id = incoming.id.to_string();
    let existing = tx
        .prepare_cached(&format!("SELECT {PAPER_COLUMNS} FROM papers WHERE id = ?1"))?
        .query_row([&id], read_row)
        .optional()?;
    let now_time = parse_time(now)?;
    let Some(existing) = existing else {
        insert_paper(tx, &incoming, source, *next_seq, now, now)?;
        let stored =
            StoredPaper { paper: incoming, seq: *next_seq, source, first_stored: now_time, last_changed: now_time };
        *next_seq += 1;
        return Ok((UpsertOutcome::New, Some(stored)));
    };
    let stored = decode_paper(existing)?;
    let merged = match (source, stored.source) {
        // A secondary source never overwrites arXiv's record.
        (PaperSource::Secondary, PaperSource::Arxiv) => return Ok((UpsertOutcome::Unchanged, None)),
        _ => merge(incoming, &stored.paper),
    };
    let merged_source = if source == PaperSource::Arxiv { PaperSource::Arxiv } else { stored.source };
    if content_hash(&merged) == content_hash(&stored.paper) && merged_source == stored.source {
        return Ok((UpsertOutcome::Unchanged, None));
    }
    let first_stored = stored.first_stored.to_rfc3339();
    tx.prepare_cached("DELETE FROM papers WHERE id = ?1")?.execute([&id])?;
    insert_paper(tx, &merged, merged_source, *next_seq, &first_stored, now)?;
    let stored = StoredPaper {
        paper: merged,
        seq: *next_seq,
        source: merged_source,
        first_stored: stored.first_stored,
        last_changed: now_time,
    };
    *next_seq += 1;
    Ok((UpsertOutcome::Updated, Some(stored)))
}

/// Newest version wins; an older record only adds the versions it knows.
fn merge(incoming: Paper, stored: &Paper) -> Paper {
    let incoming_is_older = matches!((incoming.version, stored.version), (Some(new), Some(old)) if new < old);
    if incoming_is_older {
        let mut merged = stored.clone();
        merged.merge_older(&incoming);
        merged
    } else {
        let mut merged = incoming;
        merged.merge_older(stored);
        merged
    }
}

fn insert_paper(
    tx: &Transaction<'_>,
    paper: &Paper,
    source: PaperSource,
    seq: i64,
    first_stored: &str,
    now: &str,
) -> Result<()> {
    let categories = paper.categories.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(" ");
    tx.prepare_cached(
        "INSERT INTO papers (id, seq, source, version, versions, title, abstract, authors, categories, submitted,
             updated, announced, comments, journal_ref, doi, license, content_hash, first_stored, last_changed)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
    )?
    .execute(params![
        paper.id.to_string(),
        seq,
        match source {
            PaperSource::Arxiv => "arxiv",
            PaperSource::Secondary => "secondary",
        },
        paper.version.map(i64::from),
        serde_json::to_string(&paper.versions).expect("versions serialise"),
        paper.title,
        paper.abstract_text,
        serde_json::to_string(&paper.authors).expect("authors serialise"),
        categories,
        paper.submitted.map(|d| d.to_rfc3339()),
        paper.updated.map(|d| d.to_rfc3339()),
        paper.announced.map(|d| d.to_string()),
        paper.comments,
        paper.journal_ref,
        paper.doi,
        paper.license,
        content_hash(paper),
        first_stored,
        now,
    ])?;
    Ok(())
}

const SIGNAL_COLUMNS: &str = "paper_id, source, upvotes, comments, github_repo, github_stars, featured_on, observed_at";

struct RawSignals {
    paper_id: String,
    source: String,
    upvotes: i64,
    comments: i64,
    github_repo: Option<String>,
    github_stars: Option<i64>,
    featured_on: Option<String>,
    observed_at: String,
}

fn read_signals_row(row: &Row<'_>) -> rusqlite::Result<RawSignals> {
    Ok(RawSignals {
        paper_id: row.get(0)?,
        source: row.get(1)?,
        upvotes: row.get(2)?,
        comments: row.get(3)?,
        github_repo: row.get(4)?,
        github_stars: row.get(5)?,
        featured_on: row.get(6)?,
        observed_at: row.get(7)?,
    })
}

fn decode_signals(raw: RawSignals) -> Result<Signals> {
    let count = |n: i64| n.clamp(0, u32::MAX as i64) as u32;
    Ok(Signals {
        id: parse_id(&raw.paper_id)?,
        source: raw.source,
        upvotes: count(raw.upvotes),
        comments: count(raw.comments),
        github_repo: raw.github_repo,
        github_stars: raw.github_stars.map(count),
        featured_on: raw.featured_on.as_deref().map(parse_day).transpose()?,
        observed_at: parse_time(&raw.observed_at)?,
    })
}

fn upsert_signals(tx: &Transaction<'_>, signals: &Signals) -> Result<UpsertOutcome> {
    let id = signals.id.base().to_string();
    let existing = tx
        .prepare_cached(&format!("SELECT {SIGNAL_COLUMNS} FROM signals WHERE paper_id = ?1 AND source = ?2"))?
        .query_row(params![id, signals.source], read_signals_row)
        .optional()?
        .map(decode_signals)
        .transpose()?;
    let mut merged = signals.clone();
    let outcome = match &existing {
        None => UpsertOutcome::New,
        Some(stored) => {
            // The earliest day it was featured stays; the newest observation of the counts wins.
            merged.featured_on = match (merged.featured_on, stored.featured_on) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if stored.observed_at > merged.observed_at {
                merged.upvotes = stored.upvotes;
                merged.comments = stored.comments;
                merged.github_repo.clone_from(&stored.github_repo);
                merged.github_stars = stored.github_stars;
                merged.observed_at = stored.observed_at;
            } else {
                merged.github_repo = merged.github_repo.or_else(|| stored.github_repo.clone());
                merged.github_stars = merged.github_stars.or(stored.github_stars);
            }
            if merged == *stored {
                return Ok(UpsertOutcome::Unchanged);
            }
            UpsertOutcome::Updated
        }
    };
    tx.prepare_cached(
        "INSERT INTO signals (paper_id, source, upvotes, comments, github_repo, github_stars, featured_on, observed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (paper_id, source) DO UPDATE SET upvotes = excluded.upvotes, comments = excluded.comments,
             github_repo = excluded.github_repo, github_stars = excluded.github_stars,
             featured_on = excluded.featured_on, observed_at = excluded.observed_at",
    )?
    .execute(params![
        id,
        merged.source,
        merged.upvotes,
        merged.comments,
        merged.github_repo,
        merged.github_stars,
        merged.featured_on.map(|d| d.to_string()),
        merged.observed_at.to_rfc3339(),
    ])?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use paperboy_domain::Category;

    use super::*;

    fn paper(id: &str, title: &str) -> Paper {
        let mut paper = Paper::new(ArxivId::parse(id).unwrap(), title);
        paper.abstract_text = format!("Abstract of {title}.");
        paper.authors = vec!["Ada Lovelace".into()];
        paper.categories = vec![Category::parse("cs.CL").unwrap()];
        paper.normalize().unwrap()
    }

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("paperboy.sqlite3")).unwrap();
        (dir, store)
    }

    #[test]
    fn papers_round_trip_through_the_store() {
        let (_dir, store) = store();
        let mut original = paper("2401.00001v2", "A title");
        original.versions = vec![
            Version {
                number: 1,
                submitted: Some(Utc.with_ymd_and_hms(2024, 1, 1, 10, 0, 0).unwrap()),
                size: Some("1kb".into()),
            },
            Version { number: 2, submitted: None, size: None },
        ];
        original.announced = NaiveDate::from_ymd_opt(2024, 1, 3);
        original.doi = Some("10.1/x".into());
        let original = original.normalize().unwrap();
        let outcome = store.apply(WriteBatch::papers(vec![original.clone()])).unwrap();
        assert_eq!(outcome.papers, [UpsertOutcome::New]);
        let stored = store.paper(ArxivId::parse("2401.00001v9").unwrap()).unwrap().unwrap();
        assert_eq!(stored.paper, original);
        assert_eq!(stored.seq, 1);
        assert_eq!(outcome.changed, [(UpsertOutcome::New, stored)], "the batch reports the paper as stored");
    }

    #[test]
    fn ingesting_the_same_papers_twice_changes_nothing() {
        let (_dir, store) = store();
        let batch = vec![paper("2401.00001", "One"), paper("2401.00002", "Two")];
        store.apply(WriteBatch::papers(batch.clone())).unwrap();
        let seq = store.max_seq().unwrap();
        let outcome = store.apply(WriteBatch::papers(batch)).unwrap();
        assert_eq!(outcome.papers, [UpsertOutcome::Unchanged, UpsertOutcome::Unchanged]);
        assert_eq!(store.max_seq().unwrap(), seq, "an unchanged paper keeps its sequence number");
    }

    #[test]
    fn newer_versions_replace_and_older_ones_only_add_their_dates() {
        let (_dir, store) = store();
        let mut v2 = paper("2401.00001v2", "Title v2");
        v2.versions = vec![Version {
            number: 2,
            submitted: Some(Utc.with_ymd_and_hms(2024, 2, 1, 0, 0, 0).unwrap()),
            size: None,
        }];
        store.apply(WriteBatch::papers(vec![v2.normalize().unwrap()])).unwrap();

        let mut v1 = paper("2401.00001v1", "Title v1");
        v1.versions = vec![Version {
            number: 1,
            submitted: Some(Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()),
            size: None,
        }];
        let outcome = store.apply(WriteBatch::papers(vec![v1.normalize().unwrap()])).unwrap();
        assert_eq!(outcome.papers, [UpsertOutcome::Updated]);
        let stored = store.paper(ArxivId::parse("2401.00001").unwrap()).unwrap().unwrap().paper;
        assert_eq!(stored.title, "Title v2", "the newest version's metadata is kept");
        assert_eq!(stored.versions.iter().map(|v| v.number).collect::<Vec<_>>(), [1, 2], "every version is recorded");
        assert_eq!(stored.version, Some(2));

        let v3 = paper("2401.00001v3", "Title v3");
        store.apply(WriteBatch::papers(vec![v3])).unwrap();
        let stored = store.paper(ArxivId::parse("2401.00001").unwrap()).unwrap().unwrap();
        assert_eq!(stored.paper.title, "Title v3");
        assert_eq!(stored.paper.versions.len(), 2, "v3 carried no dates but v1 and v2 are still recorded");
        assert_eq!(stored.seq, 3, "each change takes a new sequence number");
    }

    #[test]
    fn secondary_sources_never_overwrite_arxiv() {
        let (_dir, store) = store();
        store.apply(WriteBatch::papers(vec![paper("2401.00001", "arXiv title")])).unwrap();
        let mut hf = paper("2401.00001", "HF title");
        hf.categories.clear();
        let batch = WriteBatch {
            papers: vec![hf.clone(), paper("2401.00002", "Only on HF")],
            paper_source: PaperSource::Secondary,
            signals: vec![],
            checkpoint: None,
        };
        let outcome = store.apply(batch).unwrap();
        assert_eq!(outcome.papers, [UpsertOutcome::Unchanged, UpsertOutcome::New]);
        assert_eq!(store.paper(hf.id).unwrap().unwrap().paper.title, "arXiv title");
        // ... and arXiv's record replaces a secondary one.
        let outcome = store.apply(WriteBatch::papers(vec![paper("2401.00002", "Real title")])).unwrap();
        assert_eq!(outcome.papers, [UpsertOutcome::Updated]);
        let stored = store.paper(ArxivId::parse("2401.00002").unwrap()).unwrap().unwrap();
        assert_eq!((stored.paper.title.as_str(), stored.source), ("Real title", PaperSource::Arxiv));
    }

    #[test]
    fn signals_keep_the_newest_observation() {
        let (_dir, store) = store();
        let id = ArxivId::parse("2401.00001").unwrap();
        let signals = |upvotes, day| Signals {
            id,
            source: "huggingface".into(),
            upvotes,
            comments: 1,
            github_repo: None,
            github_stars: None,
            featured_on: NaiveDate::from_ymd_opt(2024, 1, day),
            observed_at: Utc.with_ymd_and_hms(2024, 1, day, 12, 0, 0).unwrap(),
        };
        let batch = |s: Signals| WriteBatch {
            papers: vec![],
            paper_source: PaperSource::Arxiv,
            signals: vec![s],
            checkpoint: None,
        };
        assert_eq!(store.apply(batch(signals(10, 5))).unwrap().signals, [UpsertOutcome::New]);
        assert_eq!(store.apply(batch(signals(10, 5))).unwrap().signals, [UpsertOutcome::Unchanged]);
        assert_eq!(
            store.apply(batch(signals(3, 2))).unwrap().signals,
            [UpsertOutcome::Updated],
            "an older listing day is recorded"
        );
        let stored = &store.signals(&[id]).unwrap()[0];
        assert_eq!(stored.upvotes, 10, "older counts do not replace newer ones");
        assert_eq!(stored.featured_on, NaiveDate::from_ymd_opt(2024, 1, 2));
    }

    #[test]
    fn daily_listings_and_their_neighbours() {
        let (_dir, store) = store();
        let day = |d| NaiveDate::from_ymd_opt(2024, 1, d);
        let papers = [("2401.00003", 3), ("2401.00001", 3), ("2401.00002", 5), ("2401.00004", 9)]
            .iter()
            .map(|(id, d)| {
                let mut p = paper(id, "t");
                p.announced = day(*d);
                p
            })
            .collect();
        store.apply(WriteBatch::papers(papers)).unwrap();
        let ids: Vec<String> =
            store.papers_announced_on(day(3).unwrap()).unwrap().iter().map(|p| p.paper.id.to_string()).collect();
        assert_eq!(ids, ["2401.00001", "2401.00003"]);
        assert_eq!(store.announcement_days_around(day(5).unwrap()).unwrap(), (day(3), day(9)));
        assert_eq!(store.announcement_days_around(day(4).unwrap()).unwrap(), (day(3), day(5)));
        assert_eq!(store.latest_day().unwrap(), day(9));
    }

    #[test]
    fn a_failed_batch_stores_nothing() {
        let (_dir, store) = store();
        store.apply(WriteBatch::papers(vec![paper("2401.00001", "Kept")])).unwrap();
        // Make the second insert fail inside the transaction with a trigger.
        store.writer.lock().unwrap().execute_batch(
            "CREATE TRIGGER boom BEFORE INSERT ON papers WHEN NEW.id = '2401.00003' BEGIN SELECT RAISE(ABORT, 'boom'); END;",
        ).unwrap();
        let batch = WriteBatch {
            papers: vec![paper("2401.00002", "Two"), paper("2401.00003", "Three")],
            paper_source: PaperSource::Arxiv,
            signals: vec![],
            checkpoint: Some(CheckpointUpdate::Set { key: "h".into(), value: "v".into() }),
        };
        assert!(store.apply(batch).is_err());
        assert_eq!(store.count_papers().unwrap(), 1);
        assert_eq!(store.checkpoint("h").unwrap(), None);
    }

    #[test]
    fn checkpoints_commit_with_their_batch() {
        let (_dir, store) = store();
        let set = WriteBatch {
            checkpoint: Some(CheckpointUpdate::Set { key: "oai".into(), value: "token|3".into() }),
            ..WriteBatch::papers(vec![paper("2401.00001", "One")])
        };
        store.apply(set).unwrap();
        assert_eq!(store.checkpoint("oai").unwrap().as_deref(), Some("token|3"));
        store
            .apply(WriteBatch {
                checkpoint: Some(CheckpointUpdate::Clear { key: "oai".into() }),
                ..WriteBatch::papers(vec![])
            })
            .unwrap();
        assert_eq!(store.checkpoint("oai").unwrap(), None);
    }

    #[test]
    fn changed_since_walks_the_sequence() {
        let (_dir, store) = store();
        store.apply(WriteBatch::papers((1..=5).map(|i| paper(&format!("2401.{i:05}"), "t")).collect())).unwrap();
        let after_two: Vec<String> =
            store.changed_since(2, 10).unwrap().iter().map(|p| p.paper.id.to_string()).collect();
        assert_eq!(after_two, ["2401.00003", "2401.00004", "2401.00005"]);
        assert_eq!(store.changed_since(0, 2).unwrap().len(), 2);
    }

    #[test]
    fn a_file_that_is_not_a_database_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("paperboy.sqlite3");
        std::fs::write(&path, "this is not sqlite, just some text that happens to be long enough to matter").unwrap();
        let err = SqliteStore::open(&path).err().unwrap();
        assert!(err.to_string().contains("is not a paperboy database"), "{err}");
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("paperboy.sqlite3");
        drop(SqliteStore::open(&path).unwrap());
        Connection::open(&path).unwrap().pragma_update(None, "user_version", 99).unwrap();
        let err = SqliteStore::open(&path).err().unwrap();
        assert!(matches!(err, Error::SchemaTooNew { found: 99, .. }), "{err}");
    }
}
