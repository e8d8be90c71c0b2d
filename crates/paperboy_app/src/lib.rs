//! paperboy's use cases over the store and the indexes: ingest, search, show, stats, reindex and
//! evaluation. The CLI and the web app call these; neither talks to the store or the indexes
//! directly.
//!
//! A [`Library`] is one data directory: the SQLite store (the source of truth) and the full-text
//! index derived from it. The index records the highest store sequence number it holds; opening a
//! library catches the index up, so a process killed between a store commit and an index commit
//! loses nothing.

pub mod eval;
pub mod ingest;
mod progress;

use std::{
    path::{Path, PathBuf},
    sync::Mutex,
    time::Instant,
};

use chrono::NaiveDate;
use paperboy_domain::{ArxivId, Paper, SearchQuery, Signals, query::CategoryFilter};
use paperboy_search::{Filters, FullTextIndex, FullTextWriter, IndexDoc, Ranking, SearchRequest, Sort};
use paperboy_store::{PaperStore, SqliteStore, StoreStats, StoredPaper};
use serde::Serialize;

pub use progress::{NoProgress, Progress};

/// Heap for the index writer during ingest and rebuilds (split among its threads).
const INDEX_HEAP_BYTES: usize = 256 * 1024 * 1024;
/// Papers read from the store per step while the index catches up.
const CATCH_UP_BATCH: usize = 5_000;

/// Failures of the use cases, with the user's mistakes apart from the system's.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The query cannot be parsed.
    #[error("{0}")]
    Query(#[from] paperboy_domain::QueryError),
    /// Bad input from the user (an id, a date, a file).
    #[error("{0}")]
    Invalid(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] paperboy_store::Error),
    /// The index failed (or the query has no searchable words).
    #[error(transparent)]
    Search(#[from] paperboy_search::Error),
    /// A source failed as a whole.
    #[error(transparent)]
    Source(#[from] paperboy_arxiv::Error),
}

/// The use cases' result.
pub type Result<T> = std::result::Result<T, Error>;

/// One data directory: store and index.
pub struct Library {
    data_dir: PathBuf,
    store: SqliteStore,
    index: FullTextIndex,
    /// Serialises writers within this process (tantivy allows one writer per index).
    write_lock: Mutex<()>,
}

/// A search as the user asked for it.
#[derive(Debug, Clone, Default)]
pub struct SearchParams {
    /// The query text.
    pub query: String,
    /// Any of these categories.
    pub categories: Vec<CategoryFilter>,
    /// Announced on or after.
    pub since: Option<NaiveDate>,
    /// Announced on or before.
    pub until: Option<NaiveDate>,
    /// Order.
    pub sort: Sort,
    /// Results per page.
    pub limit: usize,
    /// Results skipped.
    pub offset: usize,
}

/// One search result.
#[derive(Debug, Clone, Serialize)]
pub struct SearchHit {
    /// The paper.
    pub paper: Paper,
    /// BM25 score (0 in date order or when pinned).
    pub score: f32,
    /// Pinned first because the query is its id or exact title.
    pub pinned: bool,
}

/// A page of results.
#[derive(Debug, Clone, Serialize)]
pub struct SearchPage {
    /// The results.
    pub hits: Vec<SearchHit>,
    /// Every match.
    pub total: u64,
    /// The search mode used (`keyword` until semantic search lands).
    pub mode: &'static str,
    /// How long the search took, in milliseconds.
    pub took_ms: f64,
}

/// A paper with what is known about it.
#[derive(Debug, Clone, Serialize)]
pub struct PaperDetails {
    /// The stored paper.
    #[serde(flatten)]
    pub stored: StoredPaper,
    /// Its community signals.
    pub signals: Vec<Signals>,
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
    /// The store's counts.
    pub store: StoreStats,
}

impl Library {
    /// Opens the data directory (creating it), brings the index up to date with the store and
    /// rebuilds it if it was made by another version or belongs to another store.
    pub fn open(data_dir: &Path, progress: &dyn Progress) -> Result<Library> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| Error::Invalid(format!("cannot create the data directory {}: {e}", data_dir.display())))?;
        let store = SqliteStore::open(&data_dir.join("paperboy.sqlite3"))?;
        let index_dir = data_dir.join("index");
        let index = match FullTextIndex::open(&index_dir, Ranking::default()) {
            Ok(index) => index,
            Err(paperboy_search::Error::NeedsRebuild(reason)) => {
                tracing::warn!(%reason, "rebuilding the search index");
                std::fs::remove_dir_all(&index_dir)
                    .map_err(|e| Error::Invalid(format!("cannot remove the old index {}: {e}", index_dir.display())))?;
                FullTextIndex::open(&index_dir, Ranking::default())?
            }
            Err(other) => return Err(other.into()),
        };
        let library = Library { data_dir: data_dir.to_owned(), store, index, write_lock: Mutex::new(()) };
        if library.index.indexed_seq()? > library.store.max_seq()? {
            // The index is ahead of the store: the store was replaced. Start the index over.
            library.reindex(progress)?;
        } else {
            library.catch_up(progress)?;
        }
        Ok(library)
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The store.
    pub fn store(&self) -> &dyn PaperStore {
        &self.store
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
        let n = self.index_changes(&mut writer, from, progress, false)?;
        writer.commit(to)?;
        writer.finish()?;
        self.index.reload()?;
        progress.finish(&format!("indexed {n} papers"));
        Ok(n)
    }

    /// Rebuilds the full-text index from the store.
    pub fn reindex(&self, progress: &dyn Progress) -> Result<u64> {
        let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let to = self.store.max_seq()?;
        progress.start("reindexing", Some(self.store.count_papers()?), "papers");
        let mut writer = self.index.writer(INDEX_HEAP_BYTES)?;
        writer.delete_all()?;
        let n = self.index_changes(&mut writer, 0, progress, true)?;
        writer.commit(to)?;
        writer.finish()?;
        self.index.reload()?;
        progress.finish(&format!("reindexed {n} papers"));
        Ok(n)
    }

    fn index_changes(
        &self,
        writer: &mut FullTextWriter,
        mut after: i64,
        progress: &dyn Progress,
        fresh: bool,
    ) -> Result<u64> {
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
        Ok(n)
    }

    /// Runs a search.
    pub fn search(&self, params: &SearchParams) -> Result<SearchPage> {
        let started = Instant::now();
        let query = SearchQuery::parse(&params.query)?;
        let request = SearchRequest {
            query: &query,
            raw: &params.query,
            filters: Filters { categories: params.categories.clone(), since: params.since, until: params.until },
            sort: params.sort,
            limit: params.limit.clamp(1, 1_000),
            offset: params.offset.min(10_000),
            count_total: true,
        };
        let results = self.index.search(&request)?;
        let ids: Vec<ArxivId> = results.hits.iter().filter_map(|hit| ArxivId::parse(&hit.key).ok()).collect();
        let mut stored = self.store.papers(&ids)?.into_iter();
        let mut hits = Vec::with_capacity(ids.len());
        // `papers` keeps the order asked for and skips ids the store lacks.
        let mut next = stored.next();
        for hit in &results.hits {
            match &next {
                Some(paper) if paper.paper.id.to_string() == hit.key => {
                    let paper = next.take().expect("matched").paper;
                    hits.push(SearchHit { paper, score: hit.score, pinned: hit.pinned });
                    next = stored.next();
                }
                _ => tracing::warn!(key = %hit.key, "the index holds a paper the store lacks"),
            }
        }
        Ok(SearchPage {
            hits,
            total: results.total.unwrap_or(0),
            mode: "keyword",
            took_ms: started.elapsed().as_secs_f64() * 1e3,
        })
    }

    /// One paper, looked up by id (with or without version, `arXiv:` prefix or URL).
    pub fn show(&self, id_text: &str) -> Result<Option<PaperDetails>> {
        let id = ArxivId::parse_lenient(id_text).map_err(|e| Error::Invalid(e.to_string()))?;
        let Some(stored) = self.store.paper(id)? else { return Ok(None) };
        let signals = self.store.signals(&[id])?;
        Ok(Some(PaperDetails { stored, signals }))
    }

    /// Counts.
    pub fn stats(&self) -> Result<LibraryStats> {
        let store = self.store.stats()?;
        Ok(LibraryStats {
            data_dir: self.data_dir.clone(),
            papers: store.papers,
            indexed_papers: self.index.num_docs(),
            indexed_seq: self.index.indexed_seq()?,
            store,
        })
    }

    pub(crate) fn write_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.write_lock.lock().unwrap_or_else(|p| p.into_inner())
    }
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
