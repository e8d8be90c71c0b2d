//! paperboy's use cases over the store and the indexes: ingest, search, show, stats, reindex,
//! evaluation, accounts, digests and their delivery. The CLI and the web app call these; neither talks to the store or the indexes
//! directly.
//!
//! A [`Library`] is one data directory — the full-text index and the vectors, derived — over one
//! store, the source of truth: the embedded SQLite file in the data directory, or a PostgreSQL
//! database several nodes share. The indexes record the highest store sequence numbers they hold;
//! opening a library catches them up, and [`Library::follow`] does so again while it runs, so a
//! process killed between a store commit and an index commit loses nothing, and a node sees what
//! the others stored.

pub mod accounts;
pub mod api_tokens;
mod batch;
pub mod browse;
pub mod cite;
pub mod delivery;
pub mod digest;
pub mod eval;
pub mod feed;
pub mod ingest;
pub mod metrics;
pub mod models;
pub mod outbox;
mod progress;
pub mod saved;
pub mod schedule;
pub mod search;
pub mod semantic;
pub mod signing;

use std::{
    path::{Path, PathBuf},
    sync::Mutex,
};

use paperboy_domain::{ArxivId, Paper};
use paperboy_search::{FullTextIndex, FullTextWriter, Fusion, IndexDoc, Ranking};
use paperboy_store::Store;
use serde::Serialize;

pub use paperboy_search::TermScore;
pub use paperboy_store::redact_url as redact_database_url;
/// The store's records the CLI and the web app show (they reach the store only through here).
pub use paperboy_store::{
    Account, AccountStatus, ApiToken, FeedbackKind, MessageState, Pruned, SavedPaper, StoreStats, StoredPaper,
    TokenPurpose, TokenScope,
};
pub use progress::{NoProgress, Progress};
pub use search::{Explanation, Order, PaperDetails, SearchHit, SearchMode, SearchPage, SearchParams};
pub use semantic::{EmbedSummary, ModelChoice};

/// Heap for the index writer during ingest and rebuilds (split among its threads).
const INDEX_HEAP_BYTES: usize = 256 * 1024 * 1024;
/// Papers read from the store per step while the index catches up.
const CATCH_UP_BATCH: usize = 5_000;

/// Failures of the use cases: the user's mistakes (each with its own variant, so the web app can
/// give it its own code and status), what is unavailable for now, and the system's failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The query cannot be parsed.
    #[error("{0}")]
    Query(#[from] paperboy_domain::QueryError),
    /// The query has no word the index searches (only stop words like "the of").
    #[error("the query has no searchable words (only very common ones)")]
    NoSearchableWords,
    /// Not an e-mail address paperboy accepts.
    #[error("{0}")]
    Email(paperboy_domain::EmailError),
    /// Preferences that cannot be saved (the message says which part).
    #[error("{0}")]
    Preferences(paperboy_domain::PreferencesError),
    /// Tags that cannot be saved.
    #[error("{0}")]
    Tags(String),
    /// An API token cannot be made (the message says why).
    #[error("{0}")]
    ApiToken(String),
    /// The address has an account already.
    #[error("{email} is already a subscriber (account {account})")]
    AlreadySubscribed {
        /// The address.
        email: String,
        /// Its account.
        account: paperboy_domain::AccountId,
    },
    /// No such paper.
    #[error("no paper {0}")]
    PaperNotFound(ArxivId),
    /// The paper has no vector yet, so nothing is similar to it.
    #[error("{0} has no vector yet; run `paperboy embed`")]
    NoVector(ArxivId),
    /// No such account.
    #[error("no subscriber {0}")]
    AccountNotFound(String),
    /// The store holds no announcement yet.
    #[error("no announcements are stored yet")]
    NoAnnouncements,
    /// Too many requests of a kind (sign-in mails for an address); the message says when to retry.
    #[error("{0}")]
    RateLimited(String),
    /// Mail cannot be sent to this address: its mail server refused it for good (a bounce).
    #[error("{0}")]
    Undeliverable(String),
    /// A file the user named cannot be used (what is wrong with it is said).
    #[error("{path}: {detail}")]
    BadFile {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// Semantic search was asked for but is not available (the reason says why and what to do).
    #[error("{0}")]
    SemanticUnavailable(String),
    /// Another process is sending the outbox.
    #[error("another paperboy process is sending the outbox; try again when it is done")]
    SenderBusy,
    /// The mail server refused us or stayed unreachable; the queue is kept.
    #[error("{0}")]
    MailServer(String),
    /// A setting is wrong (the message names it).
    #[error("{0}")]
    Config(String),
    /// The signing key cannot be read or written (the message says what to do).
    #[error("{0}")]
    SigningKey(String),
    /// A file or folder of the data directory cannot be used.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Stored data paperboy wrote cannot be read back (damage, or a bug).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A failure inside paperboy (a worker stopped).
    #[error("internal error: {0}")]
    Internal(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] paperboy_store::Error),
    /// The index failed.
    #[error(transparent)]
    Search(paperboy_search::Error),
    /// A source failed as a whole.
    #[error(transparent)]
    Source(#[from] paperboy_arxiv::Error),
    /// Embedding failed.
    #[error(transparent)]
    Embed(#[from] paperboy_embed::Error),
}

impl From<paperboy_search::Error> for Error {
    fn from(err: paperboy_search::Error) -> Error {
        match err {
            paperboy_search::Error::NoSearchableWords => Error::NoSearchableWords,
            other => Error::Search(other),
        }
    }
}

impl Error {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Error {
        Error::Io { path: path.to_owned(), source }
    }
}

/// The use cases' result.
pub type Result<T> = std::result::Result<T, Error>;

/// One data directory: store and index.
pub struct Library {
    data_dir: PathBuf,
    store: std::sync::Arc<dyn Store>,
    index: FullTextIndex,
    /// The model and vectors, or why semantic search is off.
    semantic: std::result::Result<semantic::Semantic, String>,
    fusion: Fusion,
    /// Similar papers already computed, for the vectors as they were then.
    similar_cache: Mutex<search::SimilarCache>,
    /// Serialises writers within this process (tantivy allows one writer per index).
    write_lock: Mutex<()>,
    /// The key that signs links in mails, read from its file on first use.
    signing_key: signing::SigningKey,
    /// The store's counts for `/metrics`, read at most once per [`metrics::GAUGE_TTL`].
    gauges: metrics::GaugeCache,
    /// This process, as the holder of leases in a shared store (`host:pid:random`).
    node: String,
}

/// Counts for `paperboy stats`.
#[derive(Debug, Clone, Serialize)]
pub struct LibraryStats {
    /// The data directory.
    pub data_dir: PathBuf,
    /// Papers in the store.
    pub papers: u64,
    /// Documents in the full-text index.
    pub indexed_papers: u64,
    /// The store's highest sequence number the index holds.
    pub indexed_seq: i64,
    /// The embedding model in use, if semantic search is on.
    pub model: Option<String>,
    /// Why semantic search is off, if it is.
    pub semantic_notice: Option<String>,
    /// Papers with a vector.
    pub vectors: u64,
    /// The store's counts.
    pub store: StoreStats,
}

impl Library {
    /// Opens the data directory (creating it), brings the index up to date with the store and
    /// rebuilds it if it was made by another version or belongs to another store.
    pub fn open(data_dir: &Path, progress: &dyn Progress) -> Result<Library> {
        Library::open_with(data_dir, None, progress)
    }

    /// Opens the data directory with semantic search by `model` when it is installed (keyword search
    /// otherwise, with the reason in [`Library::semantic_status`]).
    pub fn open_with(data_dir: &Path, model: Option<&ModelChoice>, progress: &dyn Progress) -> Result<Library> {
        Library::open_on(data_dir, None, model, progress)
    }

    /// Opens the data directory over the store `database_url` names (`postgres://…`), or over the
    /// embedded SQLite store in the data directory when it is `None`.
    pub fn open_on(
        data_dir: &Path,
        database_url: Option<&str>,
        model: Option<&ModelChoice>,
        progress: &dyn Progress,
    ) -> Result<Library> {
        std::fs::create_dir_all(data_dir).map_err(|e| Error::io(data_dir, e))?;
        let store = paperboy_store::open(database_url, &data_dir.join("paperboy.sqlite3"))?;
        Library::with_store(data_dir, store, model, progress)
    }

    /// Opens the data directory's indexes over `store`.
    pub fn with_store(
        data_dir: &Path,
        store: std::sync::Arc<dyn Store>,
        model: Option<&ModelChoice>,
        progress: &dyn Progress,
    ) -> Result<Library> {
        std::fs::create_dir_all(data_dir).map_err(|e| Error::io(data_dir, e))?;
        let index_dir = data_dir.join("index");
        let index = match FullTextIndex::open(&index_dir, Ranking::default()) {
            Ok(index) => index,
            Err(paperboy_search::Error::NeedsRebuild(reason)) => {
                tracing::warn!(%reason, "rebuilding the search index");
                std::fs::remove_dir_all(&index_dir).map_err(|e| Error::io(&index_dir, e))?;
                FullTextIndex::open(&index_dir, Ranking::default())?
            }
            Err(other) => return Err(other.into()),
        };
        let semantic = semantic::open(data_dir, store.as_ref(), model, progress);
        if let Err(reason) = &semantic
            && model.is_some()
        {
            tracing::warn!(%reason, "semantic search unavailable");
        }
        let library = Library {
            data_dir: data_dir.to_owned(),
            store,
            index,
            semantic,
            fusion: Fusion::default(),
            similar_cache: Mutex::new(search::SimilarCache::default()),
            write_lock: Mutex::new(()),
            signing_key: Default::default(),
            gauges: Default::default(),
            node: node_name(),
        };
        if library.index.indexed_seq()? > library.store.max_seq()? {
            // The index is ahead of the store: the store was replaced. Start the index over.
            library.reindex_full_text(progress)?;
        } else {
            library.catch_up(progress)?;
        }
        // The vectors are read and caught up when first needed (`Library::vectors`).
        Ok(library)
    }

    /// Takes in what other processes stored since the last call: new and changed papers into the
    /// full-text index, new embeddings into the vectors. A node calls it every moment (`serve`
    /// does); returns how many papers and vectors came in.
    pub fn follow(&self) -> Result<(u64, u64)> {
        let papers = self.catch_up(&NoProgress)?;
        let vectors = match self.vectors() {
            Ok(_) => self.sync_vectors(&NoProgress)?,
            Err(Error::SemanticUnavailable(_)) => 0,
            Err(other) => return Err(other),
        };
        Ok((papers, vectors))
    }

    /// Which store this is, for people (never with a password).
    pub fn store_description(&self) -> String {
        self.store.describe()
    }

    /// Copies this library's store into the empty database `url` names and checks the copy (see
    /// `paperboy_store::copy`). Returns what each table moved.
    pub fn copy_store_to(&self, url: &str, progress: &dyn Progress) -> Result<Vec<paperboy_store::copy::TableCopy>> {
        let target = paperboy_store::open(Some(url), Path::new("unused"))?;
        let mut current = String::new();
        let mut shown = 0u64;
        let report = paperboy_store::copy::copy(self.store.as_ref(), target.as_ref(), &mut |table, rows| {
            if table != current {
                if !current.is_empty() {
                    progress.finish(&format!("copied {current}"));
                }
                progress.start(&format!("copying {table}"), None, "rows");
                current = table.to_owned();
                shown = 0;
            }
            progress.advance(rows - shown);
            shown = rows;
        })?;
        progress.finish(&format!("copied {current}; checked"));
        Ok(report)
    }

    /// Whether processes on other machines share this library's store.
    pub fn store_is_shared(&self) -> bool {
        self.store.shared()
    }

    /// This process as the holder of a lease.
    pub(crate) fn node(&self) -> &str {
        &self.node
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Keeps the signing key in `path` instead of the data directory's `signing.key` (several
    /// nodes sharing one store share one key file's content). Takes effect before the key's first
    /// use.
    pub fn use_signing_key_file(&mut self, path: PathBuf) {
        self.signing_key = signing::SigningKey::at(path);
    }

    /// The store.
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// The full-text index.
    pub fn index(&self) -> &FullTextIndex {
        &self.index
    }

    /// Indexes every paper changed since the index's last commit. Returns how many.
    pub fn catch_up(&self, progress: &dyn Progress) -> Result<u64> {
        let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let from = self.index.indexed_seq()?;
        let to = self.store.max_seq()?;
        if from >= to {
            return Ok(0);
        }
        progress.start("indexing", Some((to - from) as u64), "papers");
        let mut writer = self.index.writer(INDEX_HEAP_BYTES)?;
        let (n, last) = self.index_changes(&mut writer, from, progress, false)?;
        writer.commit(last.max(to))?;
        writer.finish()?;
        self.index.reload()?;
        progress.finish(&format!("indexed {n} papers"));
        Ok(n)
    }

    /// Rebuilds the full-text index from the store, and the vectors from the embeddings stored (no
    /// paper is embedded again).
    pub fn reindex(&self, progress: &dyn Progress) -> Result<u64> {
        let n = self.reindex_full_text(progress)?;
        if self.semantic.is_ok() {
            self.rebuild_vectors(progress)?;
        }
        Ok(n)
    }

    fn reindex_full_text(&self, progress: &dyn Progress) -> Result<u64> {
        let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let to = self.store.max_seq()?;
        progress.start("reindexing", Some(self.store.count_papers()?), "papers");
        let mut writer = self.index.writer(INDEX_HEAP_BYTES)?;
        writer.delete_all()?;
        let (n, _) = self.index_changes(&mut writer, 0, progress, true)?;
        writer.commit(to)?;
        writer.finish()?;
        self.index.reload()?;
        progress.finish(&format!("reindexed {n} papers"));
        Ok(n)
    }

    /// Indexes every change after `after`; returns how many and the last sequence number indexed.
    pub(crate) fn index_changes(
        &self,
        writer: &mut FullTextWriter,
        mut after: i64,
        progress: &dyn Progress,
        fresh: bool,
    ) -> Result<(u64, i64)> {
        let mut n = 0;
        loop {
            let batch = self.store.changed_since(after, CATCH_UP_BATCH)?;
            let Some(last) = batch.last() else { break };
            after = last.seq;
            for stored in &batch {
                index_paper(writer, &stored.paper, !fresh)?;
            }
            n += batch.len() as u64;
            progress.advance(batch.len() as u64);
        }
        Ok((n, after))
    }

    /// Counts.
    pub fn stats(&self) -> Result<LibraryStats> {
        let store = self.store.stats()?;
        Ok(LibraryStats {
            data_dir: self.data_dir.clone(),
            papers: store.papers,
            indexed_papers: self.index.num_docs(),
            indexed_seq: self.index.indexed_seq()?,
            model: self.semantic.as_ref().ok().map(|s| s.embedder.name().to_owned()),
            semantic_notice: self.semantic.as_ref().err().cloned(),
            // The store's count: the vectors themselves are not read for it.
            vectors: match &self.semantic {
                Ok(semantic) => self.store.count_embeddings(semantic.embedder.name())?,
                Err(_) => 0,
            },
            store,
        })
    }

    pub(crate) fn write_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.write_lock.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// This process's name among the nodes of a cluster: host, process id and a random part (so a
/// restarted process with a reused id is another holder).
fn node_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_default();
    let random = signing::random_secret().map(|s| s.expose()[..6].to_owned()).unwrap_or_default();
    format!("{}:{}:{random}", if host.is_empty() { "localhost" } else { &host }, std::process::id())
}

/// Adds (or, with `replace`, replaces) one paper in the full-text index.
pub(crate) fn index_paper(writer: &mut FullTextWriter, paper: &Paper, replace: bool) -> Result<()> {
    let key = paper.id.to_string();
    let mut categories: Vec<&'static str> = Vec::with_capacity(paper.categories.len() * 2);
    for category in &paper.categories {
        categories.push(category.as_str());
        if !categories.contains(&category.archive()) {
            categories.push(category.archive());
        }
        if let Some(successor) = category.subsumed_by() {
            categories.push(successor.as_str());
        }
    }
    let doc = IndexDoc {
        key: &key,
        title: &paper.title,
        body: &paper.abstract_text,
        authors: &paper.authors,
        categories,
        day: Some(paper.date()),
        tie_break: paper.id.ordinal(),
    };
    if replace {
        writer.upsert(&doc)?
    } else {
        writer.add(&doc)?
    }
    Ok(())
}
