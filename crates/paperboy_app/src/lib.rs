//! paperboy's use cases over the store and the indexes: ingest, search, show, stats, reindex,
//! evaluation, accounts, digests and their delivery. The CLI and the web app call these; neither talks to the store or the indexes
//! directly.
//!
//! A [`Library`] is one data directory: the SQLite store (the source of truth) and the full-text
//! index derived from it. The index records the highest store sequence number it holds; opening a
//! library catches the index up, so a process killed between a store commit and an index commit
//! loses nothing.

pub mod accounts;
mod batch;
pub mod browse;
pub mod delivery;
pub mod digest;
pub mod eval;
pub mod ingest;
pub mod metrics;
mod progress;
pub mod schedule;
pub mod semantic;

use std::{
    path::{Path, PathBuf},
    sync::Mutex,
    time::Instant,
};

use chrono::NaiveDate;
use paperboy_domain::{ArxivId, Paper, SearchQuery, Signals, query::CategoryFilter};
use paperboy_search::{Filters, FullTextIndex, FullTextWriter, Fusion, IndexDoc, Ranking, SearchRequest, Sort, hybrid};
use paperboy_store::{PaperStore, SqliteStore, StoreStats, StoredPaper};
use serde::Serialize;

pub use progress::{NoProgress, Progress};
pub use semantic::{EmbedSummary, ModelChoice};

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
    /// Embedding failed.
    #[error(transparent)]
    Embed(#[from] paperboy_embed::Error),
    /// Semantic search was asked for but is not available (the reason says why and what to do).
    #[error("{0}")]
    Unavailable(String),
    /// Something asked for does not exist (a paper, a vector).
    #[error("{0}")]
    NotFound(String),
    /// Too many requests of a kind (sign-in mails for an address); the message says when to retry.
    #[error("{0}")]
    RateLimited(String),
    /// Mail cannot be sent to this address: its mail server refused it for good (a bounce).
    #[error("{0}")]
    Undeliverable(String),
}

/// The use cases' result.
pub type Result<T> = std::result::Result<T, Error>;

/// One data directory: store and index.
pub struct Library {
    data_dir: PathBuf,
    store: SqliteStore,
    index: FullTextIndex,
    /// The model and vectors, or why semantic search is off.
    semantic: std::result::Result<semantic::Semantic, String>,
    fusion: Fusion,
    /// Similar papers already computed, for the vectors as they were then.
    similar_cache: Mutex<SimilarCache>,
    /// Serialises writers within this process (tantivy allows one writer per index).
    write_lock: Mutex<()>,
    /// The key that signs links in mails, read from its file on first use.
    signing_key: accounts::SigningKey,
    /// The signing key's file, when not the data directory's `signing.key`.
    signing_key_file: Option<PathBuf>,
    /// The store's counts for `/metrics`, read at most once per [`metrics::GAUGE_TTL`].
    gauges: metrics::GaugeCache,
}

/// Neighbours by paper, valid while the vectors do not change: a paper page is read far more often
/// than papers are embedded, and each lookup is a scan of every vector.
#[derive(Default)]
struct SimilarCache {
    /// The vectors' (count, sequence number) when the entries were computed.
    generation: (usize, i64),
    entries: std::collections::HashMap<String, Vec<(String, f32)>>,
}

/// Neighbours computed (and cached) per paper; larger requests are computed each time.
const SIMILAR_CACHED: usize = 50;
/// Papers whose neighbours are cached at most.
const SIMILAR_CACHE_PAPERS: usize = 50_000;

/// How a search ranks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchMode {
    /// Hybrid when a model is installed, else keyword.
    #[default]
    Auto,
    /// Words only (BM25).
    Keyword,
    /// Meaning only (nearest embeddings).
    Semantic,
    /// Words and meaning fused.
    Hybrid,
}

/// Candidates taken from each list before fusing.
const FUSION_CANDIDATES: usize = 100;

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
    /// How to rank.
    pub mode: SearchMode,
}

/// One search result.
#[derive(Debug, Clone, Serialize)]
pub struct SearchHit {
    /// The paper.
    pub paper: Paper,
    /// The ranking score (BM25, cosine or fused; 0 in date order or when pinned).
    pub score: f32,
    /// Its BM25 score, when its words matched.
    pub keyword_score: Option<f32>,
    /// Its cosine similarity to the query, when found by meaning.
    pub semantic_score: Option<f32>,
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
    /// The search mode used: `keyword`, `semantic` or `hybrid`.
    pub mode: &'static str,
    /// Why the mode differs from the one asked for (no model installed), in one line.
    pub notice: Option<String>,
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
        let semantic = semantic::open(data_dir, model);
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
            similar_cache: Mutex::new(SimilarCache::default()),
            write_lock: Mutex::new(()),
            signing_key: Default::default(),
            signing_key_file: None,
            gauges: Default::default(),
        };
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

    /// Keeps the signing key in `path` instead of the data directory's `signing.key` (several
    /// nodes sharing one store share one key file's content). Takes effect before the key's first
    /// use.
    pub fn use_signing_key_file(&mut self, path: PathBuf) {
        self.signing_key_file = Some(path);
        self.signing_key = accounts::SigningKey::default();
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

    /// The mode a search runs in, and why it is not the one asked for (semantic search off).
    fn mode_for(&self, params: &SearchParams) -> (SearchMode, Option<String>) {
        match (params.mode, &self.semantic) {
            // Newest first is an order by date, not by relevance: words decide what matches.
            (_, _) if params.sort == Sort::Date => (SearchMode::Keyword, None),
            (SearchMode::Auto, Ok(_)) => (SearchMode::Hybrid, None),
            (SearchMode::Auto | SearchMode::Semantic | SearchMode::Hybrid, Err(reason)) => {
                (SearchMode::Keyword, Some(reason.clone()))
            }
            (mode, _) => (mode, None),
        }
    }

    /// Whether a search embeds its query and scans the vectors (it then waits, part of the time,
    /// for a scan shared with other requests).
    pub fn searches_by_meaning(&self, params: &SearchParams) -> bool {
        !matches!(self.mode_for(params).0, SearchMode::Keyword | SearchMode::Auto)
            && SearchQuery::parse(&params.query).is_ok_and(|query| query.has_positive_text())
    }

    /// Runs a search.
    pub fn search(&self, params: &SearchParams) -> Result<SearchPage> {
        let started = Instant::now();
        let query = SearchQuery::parse(&params.query)?;
        let filters = Filters { categories: params.categories.clone(), since: params.since, until: params.until };
        let limit = params.limit.clamp(1, 1_000);
        let offset = params.offset.min(10_000);
        let (mode, mode_notice) = self.mode_for(params);
        let notice = match (query.relaxed_notice(), mode_notice) {
            (Some(relaxed), Some(mode)) => Some(format!("{relaxed}; {mode}")),
            (relaxed, mode) => relaxed.or(mode),
        };
        metrics::search(mode);
        // Semantic search needs words to embed; a query of only filters is a keyword listing.
        let mode = if mode != SearchMode::Keyword && !query.has_positive_text() { SearchMode::Keyword } else { mode };
        let keyword_request = |limit: usize, offset: usize| SearchRequest {
            query: &query,
            raw: &params.query,
            filters: filters.clone(),
            sort: params.sort,
            limit,
            offset,
            count_total: true,
        };
        let (ranked, total): (Vec<Ranked>, u64) = match mode {
            SearchMode::Keyword | SearchMode::Auto => {
                let results = self.index.search(&keyword_request(limit, offset))?;
                let ranked = results
                    .hits
                    .into_iter()
                    .map(|h| Ranked {
                        key: h.key,
                        score: h.score,
                        keyword: (!h.pinned).then_some(h.score),
                        semantic: None,
                        pinned: h.pinned,
                    })
                    .collect();
                (ranked, results.total.unwrap_or(0))
            }
            SearchMode::Semantic | SearchMode::Hybrid => {
                let semantic = self.semantic()?;
                let wanted = (offset + limit).max(FUSION_CANDIDATES);
                let keyword = self.index.search(&keyword_request(wanted, 0))?;
                let text = query.positive_terms().iter().map(|(_, t)| *t).collect::<Vec<_>>().join(" ");
                let vector = semantic.embedder.embed_query(&text)?;
                let constraint = self.index.constraints(&query, &filters);
                // Over-fetch so that candidates failing the query's constraints can be dropped.
                let fetch = if constraint.is_some() { wanted * 4 } else { wanted };
                let mut semantic_list = semantic.batcher.nearest(&semantic.vectors, vector, fetch)?;
                if let Some(constraint) = &constraint {
                    let keys: Vec<&str> = semantic_list.iter().map(|(k, _)| k.as_str()).collect();
                    let allowed = self.index.keys_matching(&keys, constraint.as_ref())?;
                    semantic_list.retain(|(k, _)| allowed.contains(k));
                }
                semantic_list.truncate(wanted);
                let pinned: Vec<&str> = keyword.hits.iter().filter(|h| h.pinned).map(|h| h.key.as_str()).collect();
                let keyword_list: Vec<(String, f32)> =
                    keyword.hits.iter().filter(|h| !h.pinned).map(|h| (h.key.clone(), h.score)).collect();
                let fused: Vec<(String, hybrid::Fused)> = if mode == SearchMode::Semantic {
                    semantic_list
                        .iter()
                        .map(|(k, s)| (k.clone(), hybrid::Fused { score: *s, keyword: None, semantic: Some(*s) }))
                        .collect()
                } else {
                    self.fusion.fuse(&keyword_list, &semantic_list, hybrid::count_words(&text))
                };
                let mut ranked: Vec<Ranked> = pinned
                    .iter()
                    .map(|key| Ranked {
                        key: (*key).to_owned(),
                        score: 0.0,
                        keyword: None,
                        semantic: None,
                        pinned: true,
                    })
                    .collect();
                ranked.extend(fused.into_iter().filter(|(k, _)| !pinned.contains(&k.as_str())).map(|(key, f)| {
                    Ranked { key, score: f.score, keyword: f.keyword, semantic: f.semantic, pinned: false }
                }));
                let total = (ranked.len() as u64).max(keyword.total.unwrap_or(0));
                (ranked.into_iter().skip(offset).take(limit).collect(), total)
            }
        };
        let hits = self.hydrate(ranked)?;
        Ok(SearchPage {
            hits,
            total,
            mode: match mode {
                SearchMode::Keyword | SearchMode::Auto => "keyword",
                SearchMode::Semantic => "semantic",
                SearchMode::Hybrid => "hybrid",
            },
            notice,
            took_ms: started.elapsed().as_secs_f64() * 1e3,
        })
    }

    /// Papers from the store for ranked keys, in order; keys the store lacks are skipped.
    fn hydrate(&self, ranked: Vec<Ranked>) -> Result<Vec<SearchHit>> {
        let ids: Vec<ArxivId> = ranked.iter().filter_map(|r| ArxivId::parse(&r.key).ok()).collect();
        let mut papers: std::collections::HashMap<String, Paper> =
            self.store.papers(&ids)?.into_iter().map(|s| (s.paper.id.to_string(), s.paper)).collect();
        let mut hits = Vec::with_capacity(ranked.len());
        for r in ranked {
            match papers.remove(&r.key) {
                Some(paper) => hits.push(SearchHit {
                    paper,
                    score: r.score,
                    keyword_score: r.keyword,
                    semantic_score: r.semantic,
                    pinned: r.pinned,
                }),
                None => tracing::warn!(key = %r.key, "an index holds a paper the store lacks"),
            }
        }
        Ok(hits)
    }

    /// The papers nearest to `id_text`'s stored vector (no model call).
    pub fn similar(&self, id_text: &str, limit: usize) -> Result<Vec<SearchHit>> {
        let id = ArxivId::parse_lenient(id_text).map_err(|e| Error::Invalid(e.to_string()))?.base();
        let semantic = self.semantic()?;
        let key = id.to_string();
        let limit = limit.clamp(1, 100);
        let vectors = semantic.vectors.read().unwrap_or_else(|p| p.into_inner());
        let generation = (vectors.len(), vectors.seq());
        let cached = {
            let mut cache = self.similar_cache.lock().unwrap_or_else(|p| p.into_inner());
            if cache.generation != generation {
                *cache = SimilarCache { generation, entries: Default::default() };
            }
            cache.entries.get(&key).filter(|n| n.len() >= limit || limit <= SIMILAR_CACHED).cloned()
        };
        let neighbors = match cached {
            Some(neighbors) => neighbors,
            None => {
                let Some(vector) = vectors.vector(&key)? else {
                    if self.store.paper(id)?.is_none() {
                        return Err(Error::NotFound(format!("no paper {key}")));
                    }
                    return Err(Error::NotFound(format!("{key} has no vector yet; run `paperboy embed`")));
                };
                let wanted = limit.max(SIMILAR_CACHED);
                let found: Vec<(String, f32)> = vectors
                    .search(&vector, wanted, &|candidate| candidate != key)?
                    .into_iter()
                    .map(|n| (n.key.to_owned(), n.score))
                    .collect();
                let mut cache = self.similar_cache.lock().unwrap_or_else(|p| p.into_inner());
                if cache.generation == generation && cache.entries.len() < SIMILAR_CACHE_PAPERS {
                    cache.entries.insert(key.clone(), found.clone());
                }
                found
            }
        };
        drop(vectors);
        let ranked = neighbors
            .into_iter()
            .take(limit)
            .map(|(key, score)| Ranked { key, score, keyword: None, semantic: Some(score), pinned: false })
            .collect();
        self.hydrate(ranked)
    }

    /// What to mark in results for `query`: the analysed forms of its words and phrases (not the
    /// excluded ones). A query that does not parse highlights nothing.
    pub fn highlight_terms(&self, query: &str) -> std::collections::HashSet<String> {
        SearchQuery::parse(query)
            .map(|q| q.positive_terms().iter().flat_map(|(_, text)| self.index.analyze_text(text)).collect())
            .unwrap_or_default()
    }

    /// The byte ranges of `text` whose words are among `terms` (from [`Library::highlight_terms`]).
    pub fn highlight_with(&self, terms: &std::collections::HashSet<String>, text: &str) -> Vec<std::ops::Range<usize>> {
        if terms.is_empty() {
            return Vec::new();
        }
        self.index
            .token_spans(text)
            .into_iter()
            .filter(|(_, stem)| terms.contains(stem))
            .map(|(range, _)| range)
            .collect()
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
            model: self.semantic.as_ref().ok().map(|s| s.embedder.name().to_owned()),
            semantic_notice: self.semantic.as_ref().err().cloned(),
            vectors: self
                .semantic
                .as_ref()
                .map_or(0, |s| s.vectors.read().unwrap_or_else(|p| p.into_inner()).len() as u64),
            store,
        })
    }

    pub(crate) fn write_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.write_lock.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A result before its paper is read from the store.
struct Ranked {
    key: String,
    score: f32,
    keyword: Option<f32>,
    semantic: Option<f32>,
    pinned: bool,
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
