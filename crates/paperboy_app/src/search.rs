//! Search: by words (BM25 over the full-text index), by meaning (the query's embedding against
//! the stored vectors; scans of concurrent searches are shared) or both fused, in relevance, date
//! or trending order; similar papers by stored vectors (no model call); highlighting.

use std::time::Instant;

use chrono::NaiveDate;
use paperboy_domain::{ArxivId, Paper, SearchQuery, Signals, query::CategoryFilter};
use paperboy_search::{Filters, SearchRequest, Sort, TermScore, hybrid};
use paperboy_store::StoredPaper;
use serde::Serialize;

use crate::{Error, Library, Result, metrics};

/// Neighbours by paper, valid while the vectors do not change: a paper page is read far more often
/// than papers are embedded, and each lookup is a scan of every vector.
#[derive(Default)]
pub(crate) struct SimilarCache {
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

/// The order of results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// Best match first (words and meaning).
    #[default]
    Relevance,
    /// Newest first; every plain word must match.
    Date,
    /// The best [`TRENDING_POOL`] matches, most trending first.
    Trending,
}

impl Order {
    /// Every order.
    pub const ALL: [Order; 3] = [Order::Relevance, Order::Date, Order::Trending];

    /// Its name in URLs and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Order::Relevance => "relevance",
            Order::Date => "date",
            Order::Trending => "trending",
        }
    }

    /// The order a name stands for.
    pub fn parse(name: &str) -> Option<Order> {
        Order::ALL.into_iter().find(|o| o.as_str() == name)
    }
}

impl SearchMode {
    /// Every mode.
    pub const ALL: [SearchMode; 4] = [SearchMode::Auto, SearchMode::Keyword, SearchMode::Semantic, SearchMode::Hybrid];

    /// Its name in URLs and output.
    pub fn as_str(self) -> &'static str {
        match self {
            SearchMode::Auto => "auto",
            SearchMode::Keyword => "keyword",
            SearchMode::Semantic => "semantic",
            SearchMode::Hybrid => "hybrid",
        }
    }

    /// The mode a name stands for.
    pub fn parse(name: &str) -> Option<SearchMode> {
        SearchMode::ALL.into_iter().find(|m| m.as_str() == name)
    }
}

/// Trending order ranks this many of the best matches.
pub const TRENDING_POOL: usize = 200;

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
    pub order: Order,
    /// Results per page.
    pub limit: usize,
    /// Results skipped.
    pub offset: usize,
    /// How to rank.
    pub mode: SearchMode,
    /// Whether each result says why it ranks where it does ([`SearchHit::explanation`]).
    pub explain: bool,
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
    /// Its cosine similarity to the query (semantic and hybrid modes; in hybrid, papers found by
    /// words have theirs too).
    pub semantic_score: Option<f32>,
    /// Pinned first because the query is its id or exact title.
    pub pinned: bool,
    /// Why it ranks where it does, when the search asked ([`SearchParams::explain`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<Explanation>,
}

/// Why a result ranks where it does: the parts of its score. The fused score is
/// `keyword_weight × keyword_normalised + semantic_weight × semantic_normalised`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Explanation {
    /// What the results are ordered by: in date and trending order, the scores below decide what
    /// matches (and, for trending, which matches are the pool), not the order.
    pub order: Order,
    /// Each query word or phrase the paper matched, with its part of the BM25 score (title and
    /// author weights included), largest first.
    pub terms: Vec<TermScore>,
    /// What the query's words standing together added to the BM25 score.
    pub proximity: f32,
    /// The BM25 score divided by the best keyword candidate's (hybrid mode).
    pub keyword_normalised: Option<f32>,
    /// The similarity divided by the best candidate's (hybrid mode).
    pub semantic_normalised: Option<f32>,
    /// The words' weight in the ranking score (1 by words alone, none with rank fusion).
    pub keyword_weight: Option<f32>,
    /// The meaning's weight in the ranking score.
    pub semantic_weight: Option<f32>,
}

impl SearchHit {
    /// Its explanation as labelled lines for people (the CLI's `--explain`, the search page's
    /// "why"): the words' parts, the similarity, how they were fused. Empty when not explained.
    pub fn why(&self) -> Vec<(&'static str, String)> {
        let Some(explanation) = &self.explanation else { return Vec::new() };
        let mut lines = Vec::new();
        if self.pinned {
            lines.push(("pinned", "first, because the query is its id or its exact title".to_owned()));
        }
        match explanation.order {
            Order::Relevance => {}
            Order::Date => {
                let matched: Vec<&str> = explanation.terms.iter().map(|t| t.term.as_str()).collect();
                if !matched.is_empty() {
                    lines.push(("words", format!("matched {}", matched.join(", "))));
                }
                lines.push(("order", "newest first: the words decide what matches, not the order".to_owned()));
                return lines;
            }
            Order::Trending => lines.push((
                "order",
                format!("most trending first, of the best {TRENDING_POOL} matches by the scores below"),
            )),
        }
        if let Some(keyword) = self.keyword_score {
            let mut parts: Vec<String> =
                explanation.terms.iter().map(|t| format!("{} {:.2}", t.term, t.score)).collect();
            if explanation.proximity > 0.0 {
                parts.push(format!("words together {:.2}", explanation.proximity));
            }
            let parts = if parts.is_empty() { String::new() } else { format!("{} = ", parts.join(" + ")) };
            lines.push(("words", format!("BM25 {parts}{keyword:.2}")));
        }
        if let Some(semantic) = self.semantic_score {
            lines.push(("meaning", format!("similarity {semantic:.3}")));
        }
        let (kn, sn) = (explanation.keyword_normalised.unwrap_or(0.0), explanation.semantic_normalised.unwrap_or(0.0));
        match (explanation.keyword_weight, explanation.semantic_weight) {
            (Some(kw), Some(sw)) if !self.pinned => lines.push((
                "fused",
                format!("{kw:.2} × {kn:.2} (words) + {sw:.2} × {sn:.2} (meaning) = {:.3}", self.score),
            )),
            (None, None) if !self.pinned => lines.push(("fused", format!("reciprocal rank fusion {:.4}", self.score))),
            _ => {}
        }
        lines
    }
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

/// A result before its paper is read from the store.
struct Ranked {
    key: String,
    score: f32,
    keyword: Option<f32>,
    semantic: Option<f32>,
    /// The keyword and semantic scores normalised for fusion.
    normalised: (Option<f32>, Option<f32>),
    pinned: bool,
}

impl Library {
    /// The mode a search runs in, and why it is not the one asked for (semantic search off).
    fn mode_for(&self, params: &SearchParams) -> (SearchMode, Option<String>) {
        // Newest first is an order by date, not by relevance: words decide what matches.
        if params.order == Order::Date || params.mode == SearchMode::Keyword {
            return (SearchMode::Keyword, None);
        }
        // The first search by meaning loads the model; one that cannot be loaded leaves words.
        match (params.mode, self.semantic_with_model()) {
            (SearchMode::Auto, Ok(_)) => (SearchMode::Hybrid, None),
            (_, Err(reason)) => (SearchMode::Keyword, Some(reason)),
            (mode, Ok(_)) => (mode, None),
        }
    }

    /// Whether a search embeds its query and scans the vectors (it then waits, part of the time,
    /// for a scan shared with other requests). Cheap and loads nothing: the web app asks it on an
    /// async thread, to pick the search's pool, before the model or the vectors may be read.
    pub fn searches_by_meaning(&self, params: &SearchParams) -> bool {
        params.order != Order::Date
            && params.mode != SearchMode::Keyword
            && self.semantic_status().is_ok()
            && SearchQuery::parse(&params.query)
                .is_ok_and(|query| query.has_positive_text() && !query.is_fielded_only())
    }

    /// Runs a search: by words, by meaning or both, then (in trending order) the best
    /// [`TRENDING_POOL`] matches re-ranked by trend; the page asked for, read from the store.
    pub fn search(&self, params: &SearchParams) -> Result<SearchPage> {
        let started = Instant::now();
        let query = SearchQuery::parse(&params.query)?;
        let (mode, mut mode_notice) = self.mode_for(params);
        // `au:"Name"`, `ti:word` alone are filters: every result must satisfy them, which papers
        // found by meaning need not. Words alone decide.
        let mode = if matches!(mode, SearchMode::Semantic | SearchMode::Hybrid) && query.is_fielded_only() {
            if params.mode != SearchMode::Auto {
                mode_notice = Some("a query of only ti:, au: or abs: terms is matched by its words".into());
            }
            SearchMode::Keyword
        } else {
            mode
        };
        let notice = match (query.relaxed_notice(), mode_notice) {
            (Some(relaxed), Some(mode)) => Some(format!("{relaxed}; {mode}")),
            (relaxed, mode) => relaxed.or(mode),
        };
        metrics::search(mode);
        // Semantic search needs words to embed; a query of only filters is a keyword listing.
        let mode = if mode != SearchMode::Keyword && !query.has_positive_text() { SearchMode::Keyword } else { mode };
        let (limit, offset) = (params.limit.clamp(1, 1_000), params.offset.min(10_000));
        let (window_limit, window_offset) = match params.order {
            Order::Trending => (TRENDING_POOL, 0),
            _ => (limit, offset),
        };
        let (ranked, total) = match mode {
            SearchMode::Keyword | SearchMode::Auto => self.by_words(&query, params, window_limit, window_offset)?,
            SearchMode::Semantic | SearchMode::Hybrid => {
                self.by_meaning(&query, params, mode, window_limit, window_offset)?
            }
        };
        let mut hits = self.hydrate(ranked)?;
        if params.order == Order::Trending {
            let scores = self.trending_scores(hits.iter().map(|h| h.paper.id))?;
            let score = |id| scores.get(&id).copied().unwrap_or(0.0);
            hits.sort_by(|a, b| score(b.paper.id).total_cmp(&score(a.paper.id)));
            hits = hits.into_iter().skip(offset).take(limit).collect();
        }
        if params.explain {
            self.explain(&query, mode, params.order, &mut hits)?;
        } else {
            hits.iter_mut().for_each(|hit| hit.explanation = None);
        }
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

    /// The full-text request of a search.
    fn keyword_request<'a>(
        query: &'a SearchQuery,
        params: &'a SearchParams,
        limit: usize,
        offset: usize,
    ) -> SearchRequest<'a> {
        SearchRequest {
            query,
            raw: &params.query,
            filters: Filters { categories: params.categories.clone(), since: params.since, until: params.until },
            sort: if params.order == Order::Date { Sort::Date } else { Sort::Relevance },
            limit,
            offset,
            count_total: true,
        }
    }

    /// A page of results by words (BM25), with the number of matches.
    fn by_words(
        &self,
        query: &SearchQuery,
        params: &SearchParams,
        limit: usize,
        offset: usize,
    ) -> Result<(Vec<Ranked>, u64)> {
        let results = self.index.search(&Self::keyword_request(query, params, limit, offset))?;
        let ranked = results
            .hits
            .into_iter()
            .map(|h| Ranked {
                key: h.key,
                score: h.score,
                keyword: (!h.pinned).then_some(h.score),
                semantic: None,
                normalised: (None, None),
                pinned: h.pinned,
            })
            .collect();
        Ok((ranked, results.total.unwrap_or(0)))
    }

    /// A page of results by meaning (or fused with the words': hybrid), papers pinned by id or
    /// title first. Papers found by meaning still obey the query's hard constraints.
    fn by_meaning(
        &self,
        query: &SearchQuery,
        params: &SearchParams,
        mode: SearchMode,
        limit: usize,
        offset: usize,
    ) -> Result<(Vec<Ranked>, u64)> {
        let semantic = self.semantic()?;
        let wanted = (offset + limit).max(FUSION_CANDIDATES);
        let keyword = self.index.search(&Self::keyword_request(query, params, wanted, 0))?;
        let text = meaning_text(query);
        let vector = semantic.embedder.get()?.embed_query(&text)?;
        let filters = Filters { categories: params.categories.clone(), since: params.since, until: params.until };
        let constraint = self.index.constraints(query, &filters);
        // Over-fetch so that candidates failing the query's constraints can be dropped.
        let fetch = if constraint.is_some() { wanted * 4 } else { wanted };
        let (_, vectors) = self.vectors()?;
        let mut semantic_list = semantic.batcher.nearest(vectors, vector.clone(), fetch)?;
        if let Some(constraint) = &constraint {
            let keys: Vec<&str> = semantic_list.iter().map(|(k, _)| k.as_str()).collect();
            let allowed = self.index.keys_matching(&keys, constraint.as_ref())?;
            semantic_list.retain(|(k, _)| allowed.contains(k));
        }
        semantic_list.truncate(wanted);
        let pinned: Vec<&str> = keyword.hits.iter().filter(|h| h.pinned).map(|h| h.key.as_str()).collect();
        // A pinned paper leads whatever its scores; it must not set the meaning side's best either.
        semantic_list.retain(|(k, _)| !pinned.contains(&k.as_str()));
        let keyword_list: Vec<(String, f32)> =
            keyword.hits.iter().filter(|h| !h.pinned).map(|h| (h.key.clone(), h.score)).collect();
        let fused: Vec<(String, hybrid::Fused)> = if mode == SearchMode::Semantic {
            semantic_list
                .iter()
                .map(|(k, s)| (k.clone(), hybrid::Fused { score: *s, semantic: Some(*s), ..hybrid::Fused::EMPTY }))
                .collect()
        } else {
            let lacking = hybrid::Sides::lacking_similarity(&keyword_list, &semantic_list);
            let similarities = vectors.read().unwrap_or_else(|p| p.into_inner()).similarities(&vector, lacking)?;
            let sides = hybrid::Sides { keyword: &keyword_list, semantic: &semantic_list, similarities: &similarities };
            self.fusion.fuse(sides, hybrid::count_words(&text))
        };
        let mut ranked: Vec<Ranked> = pinned
            .iter()
            .map(|key| Ranked {
                key: (*key).to_owned(),
                score: 0.0,
                keyword: None,
                semantic: None,
                normalised: (None, None),
                pinned: true,
            })
            .collect();
        ranked.extend(fused.into_iter().filter(|(k, _)| !pinned.contains(&k.as_str())).map(|(key, f)| Ranked {
            key,
            score: f.score,
            keyword: f.keyword,
            semantic: f.semantic,
            normalised: (f.keyword_normalised, f.semantic_normalised),
            pinned: false,
        }));
        let total = (ranked.len() as u64).max(keyword.total.unwrap_or(0));
        Ok((ranked.into_iter().skip(offset).take(limit).collect(), total))
    }

    /// Fills in each hit's [`Explanation`]: its words' parts (scored again, each on its own) and
    /// each side's weight in `mode`.
    fn explain(&self, query: &SearchQuery, mode: SearchMode, order: Order, hits: &mut [SearchHit]) -> Result<()> {
        let keys: Vec<String> = hits.iter().map(|h| h.paper.id.to_string()).collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let mut words = if query.has_positive_text() { self.index.explain(query, &keys)? } else { Default::default() };
        let (keyword_weight, semantic_weight) = match mode {
            SearchMode::Keyword | SearchMode::Auto => (Some(1.0), None),
            SearchMode::Semantic => (None, Some(1.0)),
            SearchMode::Hybrid => {
                let weight = self.fusion.keyword_weight(hybrid::count_words(&meaning_text(query)));
                (weight, weight.map(|w| 1.0 - w))
            }
        };
        for hit in hits {
            // Words that matched but did not count (a paper found by meaning alone) explain nothing.
            let explained = match hit.keyword_score {
                Some(_) => words.remove(&hit.paper.id.to_string()).unwrap_or_default(),
                None => Default::default(),
            };
            let explanation = hit.explanation.get_or_insert_with(Explanation::default);
            explanation.order = order;
            explanation.terms = explained.terms;
            explanation.proximity = explained.proximity;
            explanation.keyword_weight = keyword_weight;
            explanation.semantic_weight = semantic_weight;
        }
        Ok(())
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
                    // Filled in by `explain`, which needs these first.
                    explanation: (r.normalised != (None, None)).then(|| Explanation {
                        keyword_normalised: r.normalised.0,
                        semantic_normalised: r.normalised.1,
                        ..Explanation::default()
                    }),
                }),
                None => tracing::warn!(key = %r.key, "an index holds a paper the store lacks"),
            }
        }
        Ok(hits)
    }

    /// The papers nearest to `id`'s stored vector (no model call).
    pub fn similar(&self, id: ArxivId, limit: usize) -> Result<Vec<SearchHit>> {
        let id = id.base();
        let (_, vectors) = self.vectors()?;
        let key = id.to_string();
        let limit = limit.clamp(1, 100);
        let vectors = vectors.read().unwrap_or_else(|p| p.into_inner());
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
                        return Err(Error::PaperNotFound(id));
                    }
                    return Err(Error::NoVector(id));
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
            .map(|(key, score)| Ranked {
                key,
                score,
                keyword: None,
                semantic: Some(score),
                normalised: (None, None),
                pinned: false,
            })
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

    /// One paper (any version in `id` is ignored).
    pub fn show(&self, id: ArxivId) -> Result<Option<PaperDetails>> {
        let Some(stored) = self.store.paper(id)? else { return Ok(None) };
        let signals = self.store.signals(&[id])?;
        Ok(Some(PaperDetails { stored, signals }))
    }
}

/// What a search by meaning embeds, and what fusion counts the words of: the query's words and
/// phrases, without operators, fields or exclusions.
fn meaning_text(query: &SearchQuery) -> String {
    query.positive_terms().iter().map(|(_, t)| *t).collect::<Vec<_>>().join(" ")
}
