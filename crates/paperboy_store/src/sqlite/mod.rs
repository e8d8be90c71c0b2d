//! The embedded backend: one SQLite file in WAL mode. One writer connection behind a mutex, a small
//! pool of read-only connections, so readers never wait for an ingest.

mod accounts;
mod api_tokens;
mod copy;
mod embeddings;
mod library;
mod outbox;
mod papers;
mod settings;

use std::{
    path::{Path, PathBuf},
    sync::Mutex,
};

use chrono::{DateTime, NaiveDate, Utc};
use paperboy_domain::ArxivId;
use rusqlite::{Connection, OpenFlags};

use crate::{Error, Result, Store};

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
    // 5: paper embeddings (computed once, followed by the vector index through their own sequence
    // numbers, unique across models), how far each model has embedded the papers, and leases.
    r#"
    CREATE TABLE embeddings (
        model     TEXT NOT NULL,
        paper_id  TEXT NOT NULL,
        text_hash INTEGER NOT NULL,
        vector    BLOB NOT NULL,               -- half-precision floats, little-endian
        seq       INTEGER NOT NULL,
        UNIQUE (model, paper_id)
    );
    CREATE UNIQUE INDEX embeddings_seq ON embeddings (seq);
    CREATE INDEX embeddings_model_seq ON embeddings (model, seq);
    CREATE TABLE embedding_progress (
        model     TEXT PRIMARY KEY,
        paper_seq INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE leases (
        name       TEXT PRIMARY KEY,
        holder     TEXT NOT NULL,
        expires_at TEXT NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 6: counting the papers known only from Hugging Face without reading every paper (at 3
    // million papers, `stats` read the whole table, 13 GB, for that one number).
    r#"
    CREATE INDEX papers_secondary ON papers (source) WHERE source = 'secondary';
    "#,
    // 7: personal API tokens (only the SHA-256 of each secret is kept).
    r#"
    CREATE TABLE api_tokens (
        id           TEXT PRIMARY KEY,
        account_id   INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        hash         BLOB NOT NULL UNIQUE,
        name         TEXT NOT NULL,
        scope        TEXT NOT NULL CHECK (scope IN ('read', 'write')),
        created_at   TEXT NOT NULL,
        last_used_at TEXT
    ) WITHOUT ROWID;
    CREATE INDEX api_tokens_account ON api_tokens (account_id);
    "#,
    // 8: how each account steered its recommendations ("not interested", "more like this").
    r#"
    CREATE TABLE paper_feedback (
        account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        paper_id   TEXT NOT NULL,
        kind       TEXT NOT NULL CHECK (kind IN ('not_interested', 'more_like_this')),
        created_at TEXT NOT NULL,
        PRIMARY KEY (account_id, paper_id)
    ) WITHOUT ROWID;
    CREATE INDEX paper_feedback_paper ON paper_feedback (paper_id);
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
            Error::Database(err) => Error::NotADatabase { path: path.display().to_string(), detail: err.to_string() },
            other => other,
        })?;
        Ok(SqliteStore { path: path.to_owned(), writer: Mutex::new(writer), readers: Mutex::new(Vec::new()) })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in one write transaction (one writer at a time).
    pub(crate) fn write<T>(&self, f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let tx = writer.transaction()?;
        let value = f(&tx)?;
        tx.commit()?;
        Ok(value)
    }

    /// Runs `f` on a pooled read-only connection (readers never wait for the writer).
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

impl Store for SqliteStore {
    fn describe(&self) -> String {
        format!("SQLite {}", self.path.display())
    }

    fn shared(&self) -> bool {
        false
    }
}

impl From<rusqlite::Error> for Error {
    fn from(err: rusqlite::Error) -> Error {
        Error::backend(err)
    }
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
