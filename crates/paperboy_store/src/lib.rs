//! paperboy's source of truth: papers (newest version, all versions recorded), community signals,
//! harvest checkpoints, and everything about accounts — libraries, upvotes, the outbox, settings
//! and caches. Every derived index (full text, vectors) is rebuilt from here.
//!
//! The rest of paperboy sees the store through its traits, one per concern ([`PaperStore`],
//! [`AccountStore`], [`ApiTokenStore`], [`LibraryStore`], [`OutboxStore`], [`SettingsStore`],
//! [`EmbeddingStore`]), together [`Store`].
//! The embedded backend is SQLite on disk in WAL mode ([`SqliteStore`]).
//!
//! Writes are units of work ([`WriteBatch`]): papers, signals and a checkpoint commit together or not
//! at all, so a harvest killed at any moment resumes from a checkpoint that matches what is stored.
//! Every insert or change of a paper takes the next value of a store-wide sequence number; derived
//! indexes remember the highest sequence number they hold and catch up from it.

mod accounts;
mod api_tokens;
pub mod copy;
mod embeddings;
mod library;
mod outbox;
mod papers;
mod postgres;
mod settings;
mod sqlite;

pub use accounts::{Account, AccountStatus, AccountStore, Pruned, TokenPurpose};
pub use api_tokens::{ApiToken, ApiTokenStore, TokenScope};
pub use copy::Portable;
pub use embeddings::{EmbeddingStore, StoredEmbedding};
pub use library::{FeedbackKind, LibraryStore, PaperFeedback, SavedPaper};
pub use outbox::{Claim, Delivery, MessageState, NewMessage, OutboxMessage, OutboxStore};
pub use papers::{
    BatchOutcome, CheckpointUpdate, PaperSource, PaperStore, StoreStats, StoredPaper, UpsertOutcome, WriteBatch,
};
pub use postgres::PostgresStore;
pub use settings::SettingsStore;
pub use sqlite::SqliteStore;

/// The store's traits, for `use paperboy_store::prelude::*` where a [`Store`]'s methods are called.
pub mod prelude {
    pub use crate::{
        AccountStore, ApiTokenStore, EmbeddingStore, LibraryStore, OutboxStore, PaperStore, Portable, SettingsStore,
        Store,
    };
}

/// Everything paperboy needs of a store.
pub trait Store:
    PaperStore + AccountStore + ApiTokenStore + LibraryStore + OutboxStore + SettingsStore + EmbeddingStore + Portable
{
    /// Which backend this is, for people (`SQLite /path/paperboy.sqlite3`, `PostgreSQL
    /// postgres://paperboy@db/paperboy`, never with a password).
    fn describe(&self) -> String;

    /// Whether processes on other machines may use this store at the same time (PostgreSQL): then
    /// what must happen once in a cluster is guarded by leases in the store, not by files.
    fn shared(&self) -> bool;
}

/// Opens the store a URL names: `postgres://` or `postgresql://` is PostgreSQL, anything else an
/// error; with no URL, the embedded SQLite store `sqlite_path`.
pub fn open(url: Option<&str>, sqlite_path: &std::path::Path) -> Result<std::sync::Arc<dyn Store>> {
    match url {
        None => Ok(std::sync::Arc::new(SqliteStore::open(sqlite_path)?)),
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Ok(std::sync::Arc::new(PostgresStore::open(url)?))
        }
        Some(url) => Err(Error::Config(format!(
            "the database URL {} is not a PostgreSQL URL (postgres://user@host/database); leave it unset for the \
             embedded store",
            redact_url(url)
        ))),
    }
}

/// A database URL with its password replaced by `***`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let (authority, path) = rest.split_once('/').map_or((rest, None), |(a, p)| (a, Some(p)));
    let authority = match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => format!("{user_info}@{host}"),
        },
        None => authority.to_owned(),
    };
    let mut out = format!("{scheme}://{authority}");
    if let Some(path) = path {
        // `?password=` in the query is a password too.
        let path = match path.split_once('?') {
            Some((db, query)) => {
                let query: Vec<String> = query
                    .split('&')
                    .map(|pair| match pair.split_once('=') {
                        Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                        _ => pair.to_owned(),
                    })
                    .collect();
                format!("{db}?{}", query.join("&"))
            }
            None => path.to_owned(),
        };
        out.push('/');
        out.push_str(&path);
    }
    out
}

/// The store's errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file exists but is not a paperboy database (or is damaged).
    #[error("{path} is not a paperboy database or is damaged: {detail}")]
    NotADatabase {
        /// The file.
        path: String,
        /// The backend's explanation.
        detail: String,
    },
    /// The database was written by a newer paperboy.
    #[error(
        "the database schema is version {found}, newer than this paperboy supports ({supported}); upgrade paperboy"
    )]
    SchemaTooNew {
        /// The database's schema version.
        found: i64,
        /// The newest this build knows.
        supported: i64,
    },
    /// A stored value does not decode.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The data directory cannot be created or read.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The database cannot be reached, or the connection broke: nothing of the transaction was
    /// kept, and trying again later may work.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// The database refused us for good: a wrong password, a missing database or role.
    #[error("the database refused the connection: {0}")]
    Refused(String),
    /// The store's configuration is wrong (the message names what).
    #[error("{0}")]
    Config(String),
    /// Another process changed what this one was changing; the transaction was rolled back.
    #[error("a concurrent change conflicted; try again: {0}")]
    Conflict(String),
    /// Any other failure of the database.
    #[error("database error: {0}")]
    Database(#[source] BackendError),
}

/// A failure inside the database backend. Its type is the backend's own and stays in this crate:
/// callers see its message and its chain of sources, never the backend.
#[derive(Debug)]
pub struct BackendError(Box<dyn std::error::Error + Send + Sync>);

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for BackendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl Error {
    pub(crate) fn backend(err: impl std::error::Error + Send + Sync + 'static) -> Error {
        Error::Database(BackendError(Box::new(err)))
    }
}

/// The store's result.
pub type Result<T> = std::result::Result<T, Error>;
