//! paperboy's source of truth: papers (newest version, all versions recorded), community signals,
//! harvest checkpoints, and everything about accounts — libraries, upvotes, the outbox, settings
//! and caches. Every derived index (full text, vectors) is rebuilt from here.
//!
//! The rest of paperboy sees the store through its traits, one per concern ([`PaperStore`],
//! [`AccountStore`], [`LibraryStore`], [`OutboxStore`], [`SettingsStore`]), together [`Store`].
//! The embedded backend is SQLite on disk in WAL mode ([`SqliteStore`]).
//!
//! Writes are units of work ([`WriteBatch`]): papers, signals and a checkpoint commit together or not
//! at all, so a harvest killed at any moment resumes from a checkpoint that matches what is stored.
//! Every insert or change of a paper takes the next value of a store-wide sequence number; derived
//! indexes remember the highest sequence number they hold and catch up from it.

mod accounts;
mod library;
mod outbox;
mod papers;
mod settings;
mod sqlite;

pub use accounts::{Account, AccountStatus, AccountStore, Pruned, TokenPurpose};
pub use library::{LibraryStore, SavedPaper};
pub use outbox::{Delivery, MessageState, NewMessage, OutboxMessage, OutboxStore};
pub use papers::{
    BatchOutcome, CheckpointUpdate, PaperSource, PaperStore, StoreStats, StoredPaper, UpsertOutcome, WriteBatch,
};
pub use settings::SettingsStore;
pub use sqlite::SqliteStore;

/// The store's traits, for `use paperboy_store::prelude::*` where a [`Store`]'s methods are called.
pub mod prelude {
    pub use crate::{AccountStore, LibraryStore, OutboxStore, PaperStore, SettingsStore, Store};
}

/// Everything paperboy needs of a store.
pub trait Store: PaperStore + AccountStore + LibraryStore + OutboxStore + SettingsStore {
    /// Which backend this is, for people (`SQLite /path/paperboy.sqlite3`).
    fn describe(&self) -> String;
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
