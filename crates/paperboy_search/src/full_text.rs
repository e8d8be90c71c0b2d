//! The full-text index: tantivy BM25 over title (boosted), abstract and authors, English stemming,
//! with category and date filters. It stores only keys: text lives in the store.

use std::{
    ops::Bound,
    path::{Path, PathBuf},
};

use chrono::NaiveDate;
use paperboy_domain::{
    query::{CategoryFilter, Clause, Field as QueryField, Node, Occur as QueryOccur, SearchQuery},
    text,
};
use serde::{Deserialize, Serialize};
use tantivy::{
    DocAddress, Index, IndexReader, IndexWriter, Order, ReloadPolicy, Searcher, TantivyDocument, Term,
    collector::{Count, TopDocs},
    directory::MmapDirectory,
    query::{
        AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, EnableScoring, Occur, PhraseQuery, Query, RangeQuery,
        TermQuery, TermSetQuery, Weight,
    },
    schema::{FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value},
    tokenizer::{AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer},
};

use crate::{Error, Result, analysis::CachedStemmer};

/// Bumped whenever the schema or the analysis changes: an index built by another version must be
/// rebuilt (`paperboy reindex`).
pub const SCHEMA_VERSION: u32 = 1;

/// Lucene's English stop words (`EnglishAnalyzer.ENGLISH_STOP_WORDS_SET`), the set Anserini's BM25
/// baselines use.
const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no", "not", "of",
    "on", "or", "such", "that", "the", "their", "then", "there", "these", "they", "this", "to", "was", "will", "with",
];

const TEXT_ANALYZER: &str = "paperboy_en";
const NAME_ANALYZER: &str = "paperboy_name";

/// How scores are weighted. A document's score is the BM25 score of its title and abstract as one
/// text, plus `title_boost` times the BM25 score of its title alone, plus `authors_boost` times that
/// of its author names. For a query of at most [`PROXIMITY_MAX_WORDS`] plain words, the best
/// [`PROXIMITY_DEPTH`] documents then gain the proximity boost, like Solr edismax's `pf2` and
/// `pf3`: the BM25 score of each pair of adjacent query words found together (as a phrase, with at
/// most `phrase_slop` extra positions between them) times `pair_boost` shared among the query's
/// pairs, and likewise for triples with `triple_boost`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Ranking {
    /// Extra weight of a title match (on top of the title's part in the whole text).
    pub title_boost: f32,
    /// Weight of an author-name match.
    pub authors_boost: f32,
    /// Weight of adjacent query word pairs found together, shared among the query's pairs (0: no
    /// proximity boost).
    pub pair_boost: f32,
    /// Weight of adjacent query word triples found together, shared among its triples.
    pub triple_boost: f32,
    /// How many positions more than in the query may stand between the words of a pair or triple
    /// (in the query's order).
    pub phrase_slop: u32,
}

impl Default for Ranking {
    /// Tuned on SciFact's train queries (docs/BENCHMARKS.md): `title_boost` 0.25 of 0, 0.1, 0.2,
    /// 0.25, 0.3, 0.35, 0.5 and 1.0; pairs 0.3, triples 0.5 and slop 3 best of the 80 settings
    /// tried there (pairs 0–1.5, triples 0–0.75, slop 0–6).
    fn default() -> Self {
        Ranking { title_boost: 0.25, authors_boost: 1.0, pair_boost: 0.3, triple_boost: 0.5, phrase_slop: 3 }
    }
}

/// How many of a plain query's best BM25 matches are re-scored with the proximity boost, however
/// deep a page reaches (so that every page is a slice of one ranking).
pub const PROXIMITY_DEPTH: usize = 100;

/// The longest query (in analysed words) the proximity boost applies to. A sloppy phrase scorer
/// scans forward to its next match at every document it is asked about, which for a claim's dozen
/// common word pairs cost 2.6 times the whole search (docs/BENCHMARKS.md); on SciFact's long
/// claims the boost did not carry from train to test, and short phrases are what it is for.
pub const PROXIMITY_MAX_WORDS: usize = 5;

/// A document as the index sees it.
#[derive(Debug, Clone)]
pub struct IndexDoc<'a> {
    /// The document's key: an arXiv id for papers, a BEIR id for evaluation corpora.
    pub key: &'a str,
    /// The title.
    pub title: &'a str,
    /// The abstract or body.
    pub body: &'a str,
    /// Author names.
    pub authors: &'a [String],
    /// Category and archive terms (`cs.CL`, `cs`).
    pub categories: Vec<&'static str>,
    /// The day the document is filed under (announcement or submission).
    pub day: Option<NaiveDate>,
    /// Orders documents of the same day in "newest first" (for papers, [`ArxivId::ordinal`]).
    ///
    /// [`ArxivId::ordinal`]: paperboy_domain::ArxivId::ordinal
    pub tie_break: u32,
}

/// Filters applied on top of the query.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    /// Any of these categories or archives.
    pub categories: Vec<CategoryFilter>,
    /// On or after this day.
    pub since: Option<NaiveDate>,
    /// On or before this day.
    pub until: Option<NaiveDate>,
}

/// The result order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    /// Best BM25 match first; plain words are optional, more (and rarer) matches rank higher.
    #[default]
    Relevance,
    /// Newest first; every plain word must match.
    Date,
}

/// One search.
#[derive(Debug, Clone)]
pub struct SearchRequest<'a> {
    /// The parsed query.
    pub query: &'a SearchQuery,
    /// The text as typed, for exact id and exact title look-ups.
    pub raw: &'a str,
    /// Filters.
    pub filters: Filters,
    /// Order.
    pub sort: Sort,
    /// Results wanted.
    pub limit: usize,
    /// Results skipped (paging).
    pub offset: usize,
    /// Count every match (costs a pass over all matches).
    pub count_total: bool,
}

/// One result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    /// The document's key.
    pub key: String,
    /// BM25 score (0 for date order and pinned results).
    pub score: f32,
    /// Whether it is pinned first because the query is its id or its exact title.
    pub pinned: bool,
}

/// Why a document ranks where it does by its words: what [`FullTextIndex::explain`] tells.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WordsExplanation {
    /// Each query word or phrase the document matched with its part of the BM25 score (title and
    /// author weights included), largest first.
    pub terms: Vec<TermScore>,
    /// What the query's words standing together added (0 for a query with operators or fields).
    pub proximity: f32,
}

/// One query word or phrase and its part of a score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TermScore {
    /// As the query wrote it: `degeneration`, `ti:transformer`, `"weak supervision"`.
    pub term: String,
    /// Its part of the BM25 score.
    pub score: f32,
}

/// What a search found.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResults {
    /// The results, pinned first.
    pub hits: Vec<Hit>,
    /// How many documents match, when counted.
    pub total: Option<u64>,
}

#[derive(Clone, Copy)]
struct Fields {
    key: Field,
    /// Title and abstract as one text: the main BM25 field ("flat", as Anserini's best BEIR runs).
    text: Field,
    title: Field,
    body: Field,
    authors: Field,
    categories: Field,
    day: Field,
    recency: Field,
    title_key: Field,
}

/// The index on disk (or in memory, for tests and evaluation).
pub struct FullTextIndex {
    index: Index,
    reader: IndexReader,
    fields: Fields,
    ranking: Ranking,
    text_analyzer: TextAnalyzer,
    name_analyzer: TextAnalyzer,
    path: Option<PathBuf>,
}

#[derive(Serialize, Deserialize)]
struct CommitPayload {
    schema: u32,
    seq: i64,
}

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let text = |analyzer: &str, record: IndexRecordOption| {
        TextOptions::default()
            .set_indexing_options(TextFieldIndexing::default().set_tokenizer(analyzer).set_index_option(record))
    };
    let positions = IndexRecordOption::WithFreqsAndPositions;
    let fields = Fields {
        key: builder.add_text_field("key", STRING | STORED),
        // Title and abstract as one text: ranks words and phrases.
        text: builder.add_text_field("text", text(TEXT_ANALYZER, positions)),
        title: builder.add_text_field("title", text(TEXT_ANALYZER, positions)),
        // The abstract alone only answers "is the word there" for `abs:`; the text field scores.
        body: builder.add_text_field("body", text(TEXT_ANALYZER, IndexRecordOption::Basic)),
        authors: builder.add_text_field("authors", text(NAME_ANALYZER, positions)),
        categories: builder.add_text_field("categories", STRING),
        day: builder.add_i64_field("day", INDEXED | FAST),
        recency: builder.add_u64_field("recency", FAST),
        title_key: builder.add_u64_field("title_key", INDEXED),
    };
    (builder.build(), fields)
}

fn text_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(CachedStemmer::new(frostem::Algorithm::English, STOP_WORDS))
        .build()
}

fn name_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

fn day_number(day: NaiveDate) -> i64 {
    (day - NaiveDate::from_ymd_opt(1970, 1, 1).expect("the epoch")).num_days()
}

fn title_hash(title: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(text::title_key(title).as_bytes())
}

impl FullTextIndex {
    /// Opens the index in `dir`, creating it when the folder is empty. An index written with
    /// another schema is an [`Error::NeedsRebuild`].
    pub fn open(dir: &Path, ranking: Ranking) -> Result<FullTextIndex> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.display().to_string(), source })?;
        let (schema, fields) = schema();
        let directory = MmapDirectory::open(dir).map_err(|e| Error::Index(e.to_string()))?;
        let index = if Index::exists(&directory).map_err(|e| Error::Index(e.to_string()))? {
            let index = Index::open(directory)?;
            let payload = read_payload(&index)?;
            if index.schema() != schema || payload.as_ref().is_some_and(|p| p.schema != SCHEMA_VERSION) {
                return Err(Error::NeedsRebuild(format!("{} was built by another version of paperboy", dir.display())));
            }
            index
        } else {
            Index::create(directory, schema, Default::default())?
        };
        FullTextIndex::with_index(index, fields, ranking, Some(dir.to_owned()))
    }

    /// A throw-away index in memory.
    pub fn in_memory(ranking: Ranking) -> Result<FullTextIndex> {
        let (schema, fields) = schema();
        let index = Index::create_in_ram(schema);
        FullTextIndex::with_index(index, fields, ranking, None)
    }

    fn with_index(index: Index, fields: Fields, ranking: Ranking, path: Option<PathBuf>) -> Result<FullTextIndex> {
        index.tokenizers().register(TEXT_ANALYZER, text_analyzer());
        index.tokenizers().register(NAME_ANALYZER, name_analyzer());
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        Ok(FullTextIndex {
            index,
            reader,
            fields,
            ranking,
            text_analyzer: text_analyzer(),
            name_analyzer: name_analyzer(),
            path,
        })
    }

    /// Where the index lives, if on disk.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// A writer with one indexing thread per core (at most 4); `heap_bytes` is split among them.
    pub fn writer(&self, heap_bytes: usize) -> Result<FullTextWriter> {
        self.writer_with_threads(heap_bytes, std::thread::available_parallelism().map_or(1, |n| n.get()).min(4))
    }

    /// A writer with `threads` indexing threads (1 keeps document order deterministic, for tests).
    pub fn writer_with_threads(&self, heap_bytes: usize, threads: usize) -> Result<FullTextWriter> {
        let threads = threads.max(1);
        let heap = heap_bytes.max(threads * 20_000_000);
        let writer = self.index.writer_with_num_threads(threads, heap).map_err(|e| match e {
            tantivy::TantivyError::LockFailure(..) => {
                Error::Locked("another paperboy process is writing the index; wait for it to finish".into())
            }
            other => Error::from(other),
        })?;
        Ok(FullTextWriter { writer, fields: self.fields })
    }

    /// The highest store sequence number the index holds (0 when empty).
    pub fn indexed_seq(&self) -> Result<i64> {
        Ok(read_payload(&self.index)?.map_or(0, |p| p.seq))
    }

    /// Makes the latest commit visible to searches.
    pub fn reload(&self) -> Result<()> {
        Ok(self.reader.reload()?)
    }

    /// How many documents the index holds.
    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// The ranking parameters.
    pub fn ranking(&self) -> Ranking {
        self.ranking
    }

    /// Runs a search.
    pub fn search(&self, request: &SearchRequest<'_>) -> Result<SearchResults> {
        let searcher = self.reader.searcher();
        let mut pinned = Vec::new();
        if request.offset == 0 {
            pinned = self.pinned(&searcher, request.raw)?;
        }

        let conjunctive = request.sort == Sort::Date;
        let text_query = self.compile(request.query, conjunctive)?;
        let has_text = text_query.is_some();
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        match text_query {
            Some(query) => clauses.push((Occur::Must, query)),
            None => clauses.push((Occur::Must, Box::new(AllQuery))),
        }
        clauses.extend(self.filter_clauses(&request.filters));
        let query: Box<dyn Query> = if clauses.len() == 1 {
            clauses.pop().expect("one clause").1
        } else {
            Box::new(BooleanQuery::new(clauses))
        };

        let wanted = request.limit + pinned.len();
        let mut hits: Vec<Hit> = Vec::with_capacity(wanted);
        // Without words to rank by, newest first is the only meaningful order.
        let proximity = if request.sort == Sort::Relevance { self.proximity(request.query) } else { None };
        let mut total = if request.sort == Sort::Date || !has_text {
            let collector = TopDocs::with_limit(wanted.max(1))
                .and_offset(request.offset)
                .order_by_fast_field::<u64>("recency", Order::Desc);
            let (found, total) = collect(&searcher, &*query, collector, request.count_total)?;
            for (_, address) in found {
                hits.push(Hit { key: self.key(&searcher, address)?, score: 0.0, pinned: false });
            }
            total
        } else if let Some(proximity) = proximity {
            // However deep the page, the same best PROXIMITY_DEPTH are re-scored: one ranking.
            let depth = (request.offset + wanted).max(PROXIMITY_DEPTH);
            let collector = TopDocs::with_limit(depth).order_by_score();
            let (found, total) = collect(&searcher, &*query, collector, request.count_total)?;
            for (score, address) in
                rescore(&searcher, &*proximity, found)?.into_iter().skip(request.offset).take(wanted)
            {
                hits.push(Hit { key: self.key(&searcher, address)?, score, pinned: false });
            }
            total
        } else {
            let collector = TopDocs::with_limit(wanted.max(1)).and_offset(request.offset).order_by_score();
            let (found, total) = collect(&searcher, &*query, collector, request.count_total)?;
            for (score, address) in found {
                hits.push(Hit { key: self.key(&searcher, address)?, score, pinned: false });
            }
            total
        };
        // A pinned paper counts as a match even when its id's digits match no words.
        total = total.map(|t| t.max(pinned.len() as u64));
        hits.retain(|hit| !pinned.iter().any(|p: &Hit| p.key == hit.key));
        pinned.extend(hits);
        pinned.truncate(request.limit);
        Ok(SearchResults { hits: pinned, total })
    }

    /// The query's hard constraints — exclusions, required words, categories — and the filters, as
    /// one query; `None` when there are none. Documents found by meaning rather than by words must
    /// still satisfy these.
    pub fn constraints(&self, query: &SearchQuery, filters: &Filters) -> Option<Box<dyn Query>> {
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = self.filter_clauses(filters);
        for clause in &query.clauses {
            let node = match &clause.node {
                Node::Category(filter) => Some(self.category_query(filter)),
                _ if !matches!(clause.occur, QueryOccur::Must | QueryOccur::MustNot) => None,
                Node::Word { field, text } | Node::Phrase { field, text } => self.text_node(*field, text),
                Node::Group(inner) => self.compile_clauses(inner, false).or_else(|| self.compile_filters_only(inner)),
            };
            if let Some(node) = node {
                let occur = if clause.occur == QueryOccur::MustNot { Occur::MustNot } else { Occur::Must };
                clauses.push((occur, node));
            }
        }
        if clauses.is_empty() {
            return None;
        }
        clauses.insert(0, (Occur::Must, Box::new(AllQuery)));
        Some(Box::new(BooleanQuery::new(clauses)))
    }

    /// Which of `keys` satisfy `constraint`.
    pub fn keys_matching(&self, keys: &[&str], constraint: &dyn Query) -> Result<std::collections::HashSet<String>> {
        let searcher = self.reader.searcher();
        let terms = keys.iter().map(|k| Term::from_field_text(self.fields.key, k));
        let query = BooleanQuery::new(vec![
            (Occur::Must, Box::new(tantivy::query::TermSetQuery::new(terms)) as Box<dyn Query>),
            (Occur::Must, constraint.box_clone()),
        ]);
        let found = searcher.search(&query, &tantivy::collector::DocSetCollector)?;
        found.into_iter().map(|address| self.key(&searcher, address)).collect()
    }

    /// Why each of `keys` ranks where it does for `query`: each positive word and phrase scored
    /// on its own (as the query scores it), and the proximity boost. Keys not in the index are
    /// left out.
    pub fn explain(
        &self,
        query: &SearchQuery,
        keys: &[&str],
    ) -> Result<std::collections::HashMap<String, WordsExplanation>> {
        let searcher = self.reader.searcher();
        let scoring = EnableScoring::enabled_from_searcher(&searcher);
        let mut parts: Vec<(String, Box<dyn Weight>)> = Vec::new();
        for (field, text) in query.positive_terms() {
            if let Some(node) = self.text_node(field, text) {
                parts.push((term_label(field, text), node.weight(scoring)?));
            }
        }
        let proximity = self.proximity(query).map(|q| q.weight(scoring)).transpose()?;
        let wanted = TermSetQuery::new(keys.iter().map(|k| Term::from_field_text(self.fields.key, k)));
        let addresses: Vec<DocAddress> =
            searcher.search(&wanted, &tantivy::collector::DocSetCollector)?.into_iter().collect();
        let mut explained: Vec<WordsExplanation> = vec![WordsExplanation::default(); addresses.len()];
        for (term, weight) in &parts {
            for (why, score) in explained.iter_mut().zip(scores_under(&searcher, weight.as_ref(), &addresses)?) {
                if score > 0.0 {
                    why.terms.push(TermScore { term: term.clone(), score });
                }
            }
        }
        if let Some(weight) = &proximity {
            for (why, score) in explained.iter_mut().zip(scores_under(&searcher, weight.as_ref(), &addresses)?) {
                why.proximity = score;
            }
        }
        let mut by_key = std::collections::HashMap::with_capacity(addresses.len());
        for (address, mut why) in addresses.into_iter().zip(explained) {
            why.terms.sort_by(|a, b| b.score.total_cmp(&a.score));
            by_key.insert(self.key(&searcher, address)?, why);
        }
        Ok(by_key)
    }

    /// Runs a plain bag-of-words query (no query syntax): how evaluation queries are run.
    pub fn search_plain(&self, text: &str, limit: usize) -> Result<Vec<Hit>> {
        let searcher = self.reader.searcher();
        let Some(query) = self.bag_of_words(text) else { return Ok(Vec::new()) };
        let found = match self.proximity_of(text) {
            Some(proximity) => {
                let found =
                    searcher.search(&*query, &TopDocs::with_limit(limit.max(PROXIMITY_DEPTH)).order_by_score())?;
                let mut found = rescore(&searcher, &*proximity, found)?;
                found.truncate(limit.max(1));
                found
            }
            None => searcher.search(&*query, &TopDocs::with_limit(limit.max(1)).order_by_score())?,
        };
        found
            .into_iter()
            .map(|(score, address)| Ok(Hit { key: self.key(&searcher, address)?, score, pinned: false }))
            .collect()
    }

    fn key(&self, searcher: &Searcher, address: DocAddress) -> Result<String> {
        let doc: TantivyDocument = searcher.doc(address)?;
        doc.get_first(self.fields.key)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .ok_or_else(|| Error::Index("a document has no key".into()))
    }

    /// Documents whose id or exact title is the whole query.
    fn pinned(&self, searcher: &Searcher, raw: &str) -> Result<Vec<Hit>> {
        let raw = raw.trim();
        let mut pinned = Vec::new();
        let mut add = |query: &dyn Query, this: &FullTextIndex| -> Result<()> {
            for (_, address) in searcher.search(query, &TopDocs::with_limit(3).order_by_score())? {
                let key = this.key(searcher, address)?;
                if !pinned.iter().any(|p: &Hit| p.key == key) {
                    pinned.push(Hit { key, score: 0.0, pinned: true });
                }
            }
            Ok(())
        };
        if let Ok(id) = paperboy_domain::ArxivId::parse_lenient(raw) {
            let term = Term::from_field_text(self.fields.key, &id.base().to_string());
            add(&TermQuery::new(term, IndexRecordOption::Basic), self)?;
        }
        if !text::title_key(raw).is_empty() {
            let term = Term::from_field_u64(self.fields.title_key, title_hash(raw));
            add(&TermQuery::new(term, IndexRecordOption::Basic), self)?;
        }
        Ok(pinned)
    }

    fn filter_clauses(&self, filters: &Filters) -> Vec<(Occur, Box<dyn Query>)> {
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        if !filters.categories.is_empty() {
            let any_of: Vec<(Occur, Box<dyn Query>)> =
                filters.categories.iter().map(|filter| (Occur::Should, self.category_query(filter))).collect();
            clauses.push((Occur::Must, Box::new(ConstScoreQuery::new(Box::new(BooleanQuery::new(any_of)), 0.0))));
        }
        if filters.since.is_some() || filters.until.is_some() {
            let bound = |day: Option<NaiveDate>| match day {
                Some(day) => Bound::Included(Term::from_field_i64(self.fields.day, day_number(day))),
                None => Bound::Unbounded,
            };
            let range = RangeQuery::new(bound(filters.since), bound(filters.until));
            clauses.push((Occur::Must, Box::new(ConstScoreQuery::new(Box::new(range), 0.0))));
        }
        clauses
    }

    fn category_query(&self, filter: &CategoryFilter) -> Box<dyn Query> {
        let term = Term::from_field_text(self.fields.categories, filter.as_str());
        Box::new(ConstScoreQuery::new(Box::new(TermQuery::new(term, IndexRecordOption::Basic)), 0.0))
    }

    /// Translates a parsed query. `None` when it asks for no text (only categories or exclusions).
    /// A query whose words are all stop words or symbols is [`Error::NoSearchableWords`].
    fn compile(&self, query: &SearchQuery, conjunctive: bool) -> Result<Option<Box<dyn Query>>> {
        if !conjunctive && let Some(flat) = self.flat_bag_of_words(query) {
            return Ok(Some(flat));
        }
        let compiled = self.compile_clauses(&query.clauses, conjunctive);
        match compiled {
            Some(query) => Ok(Some(query)),
            None if query.has_positive_text() => Err(Error::NoSearchableWords),
            None => {
                // Only categories and exclusions: everything, filtered.
                let clauses = self.compile_filters_only(&query.clauses);
                Ok(clauses)
            }
        }
    }

    /// The common case — plain words, no operators — as one flat disjunction of term queries, which
    /// tantivy evaluates with block-max WAND.
    fn flat_bag_of_words(&self, query: &SearchQuery) -> Option<Box<dyn Query>> {
        let words = plain_words(query)?;
        // A word that analyses into several tokens ("GPT-4") is a phrase: not flat.
        if words.iter().any(|w| analyze(&self.text_analyzer, w).len() > 1) {
            return None;
        }
        self.bag_of_words(&words.join(" "))
    }

    /// Every token of `text` as an optional term in every text field, boosted by its repeat count
    /// and the field's weight.
    fn bag_of_words(&self, text: &str) -> Option<Box<dyn Query>> {
        // A word the text analyser drops (a stop word, a symbol) is dropped from every field, so
        // that "the" does not go looking for authors called The.
        let text: String = text
            .split_whitespace()
            .filter(|w| !analyze(&self.text_analyzer, w).is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (field, analyzer, boost) in [
            (self.fields.text, &self.text_analyzer, 1.0),
            (self.fields.title, &self.text_analyzer, self.ranking.title_boost),
            (self.fields.authors, &self.name_analyzer, self.ranking.authors_boost),
        ] {
            if boost == 0.0 {
                continue;
            }
            let mut counts: Vec<(String, usize)> = Vec::new();
            for (_, token) in analyze(analyzer, &text) {
                match counts.iter_mut().find(|(t, _)| *t == token) {
                    Some((_, n)) => *n += 1,
                    None => counts.push((token, 1)),
                }
            }
            for (token, count) in counts {
                let term = TermQuery::new(Term::from_field_text(field, &token), IndexRecordOption::WithFreqs);
                let weight = boost * count as f32;
                let query: Box<dyn Query> =
                    if weight == 1.0 { Box::new(term) } else { Box::new(BoostQuery::new(Box::new(term), weight)) };
                clauses.push((Occur::Should, query));
            }
        }
        (!clauses.is_empty()).then(|| Box::new(BooleanQuery::new(clauses)) as Box<dyn Query>)
    }

    /// The proximity boost of a query of plain words (no operators, fields or quotes): `None` for
    /// other queries, a single word, more than [`PROXIMITY_MAX_WORDS`], or when [`Ranking`] turns
    /// it off.
    fn proximity(&self, query: &SearchQuery) -> Option<Box<dyn Query>> {
        self.proximity_of(&plain_words(query)?.join(" "))
    }

    /// Each pair (and triple) of adjacent words of `text`, after analysis, as a sloppy phrase in
    /// the whole text, weighted as [`Ranking`] says; repeated ones count once.
    fn proximity_of(&self, text: &str) -> Option<Box<dyn Query>> {
        let Ranking { pair_boost, triple_boost, phrase_slop, .. } = self.ranking;
        let tokens = analyze(&self.text_analyzer, text);
        if tokens.len() > PROXIMITY_MAX_WORDS {
            return None;
        }
        let mut seen = std::collections::HashSet::new();
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (size, boost) in [(2, pair_boost), (3, triple_boost)] {
            if boost == 0.0 {
                continue;
            }
            let mut phrases: Vec<PhraseQuery> = Vec::new();
            for window in tokens.windows(size) {
                let words: Vec<&str> = window.iter().map(|(_, t)| t.as_str()).collect();
                if words.windows(2).any(|w| w[0] == w[1]) || !seen.insert(words) {
                    continue;
                }
                let first = window[0].0;
                let terms =
                    window.iter().map(|(pos, t)| (pos - first, Term::from_field_text(self.fields.text, t))).collect();
                phrases.push(PhraseQuery::new_with_offset_and_slop(terms, phrase_slop));
            }
            // The weight is shared: a two-word phrase gets all of it, each pair of a long claim a
            // small part, so that long queries are not ranked by their word pairs alone.
            let share = boost / phrases.len().max(1) as f32;
            for phrase in phrases {
                clauses.push((Occur::Should, Box::new(BoostQuery::new(Box::new(phrase), share))));
            }
        }
        (!clauses.is_empty()).then(|| Box::new(BooleanQuery::new(clauses)) as Box<dyn Query>)
    }

    fn compile_clauses(&self, clauses: &[Clause], conjunctive: bool) -> Option<Box<dyn Query>> {
        let mut text: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let mut filters: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let mut has_positive = false;
        for clause in clauses {
            let occur = match clause.occur {
                QueryOccur::Default if conjunctive => Occur::Must,
                QueryOccur::Default | QueryOccur::Should => Occur::Should,
                QueryOccur::Must => Occur::Must,
                QueryOccur::MustNot => Occur::MustNot,
            };
            match &clause.node {
                // `cat:` narrows, as on arXiv; it never just nudges the ranking.
                Node::Category(filter) => {
                    let occur = if occur == Occur::MustNot { Occur::MustNot } else { Occur::Must };
                    filters.push((occur, self.category_query(filter)));
                }
                node => {
                    let compiled = match node {
                        Node::Word { field, text } | Node::Phrase { field, text } => self.text_node(*field, text),
                        Node::Group(inner) => {
                            self.compile_clauses(inner, conjunctive).or_else(|| self.compile_filters_only(inner))
                        }
                        Node::Category(_) => unreachable!("handled above"),
                    };
                    if let Some(compiled) = compiled {
                        has_positive |= occur != Occur::MustNot;
                        text.push((occur, compiled));
                    }
                }
            }
        }
        if !has_positive {
            return None;
        }
        let text_query: Box<dyn Query> = Box::new(BooleanQuery::new(text));
        if filters.is_empty() {
            return Some(text_query);
        }
        // The text stays a group of its own, so its optional words still need one match.
        filters.insert(0, (Occur::Must, text_query));
        Some(Box::new(BooleanQuery::new(filters)))
    }

    /// Clauses that hold no text (categories, exclusions) over all documents.
    fn compile_filters_only(&self, clauses: &[Clause]) -> Option<Box<dyn Query>> {
        // Everything, scoring nothing: a filter-only group adds no points to what it lets through.
        let everything = ConstScoreQuery::new(Box::new(AllQuery), 0.0);
        let mut compiled: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, Box::new(everything))];
        for clause in clauses {
            let occur = if clause.occur == QueryOccur::MustNot { Occur::MustNot } else { Occur::Must };
            let node = match &clause.node {
                Node::Word { field, text } | Node::Phrase { field, text } => self.text_node(*field, text),
                Node::Category(filter) => Some(self.category_query(filter)),
                Node::Group(inner) => self.compile_clauses(inner, false).or_else(|| self.compile_filters_only(inner)),
            };
            if let Some(node) = node {
                compiled.push((occur, node));
            }
        }
        (compiled.len() > 1).then(|| Box::new(BooleanQuery::new(compiled)) as Box<dyn Query>)
    }

    /// A word or phrase in one field or in all of them (summed, title boosted, as [`Ranking`] says).
    fn text_node(&self, field: QueryField, text: &str) -> Option<Box<dyn Query>> {
        let tokens = analyze(&self.text_analyzer, text);
        if field != QueryField::Authors && tokens.is_empty() {
            return None;
        }
        let targets: Vec<(Field, &TextAnalyzer, f32)> = match field {
            QueryField::All => vec![
                (self.fields.text, &self.text_analyzer, 1.0),
                (self.fields.title, &self.text_analyzer, self.ranking.title_boost),
                (self.fields.authors, &self.name_analyzer, self.ranking.authors_boost),
            ],
            QueryField::Title => vec![(self.fields.title, &self.text_analyzer, 1.0)],
            QueryField::Authors => vec![(self.fields.authors, &self.name_analyzer, 1.0)],
            QueryField::Abstract => {
                // The abstract field only records which words each abstract has: it filters, and
                // the whole text (which holds the abstract) scores and checks word order.
                let mut clauses: Vec<(Occur, Box<dyn Query>)> =
                    vec![(Occur::Must, self.term_or_phrase(self.fields.text, &tokens))];
                for (_, token) in &tokens {
                    let term = TermQuery::new(Term::from_field_text(self.fields.body, token), IndexRecordOption::Basic);
                    clauses.push((Occur::Must, Box::new(ConstScoreQuery::new(Box::new(term), 0.0))));
                }
                return Some(Box::new(BooleanQuery::new(clauses)));
            }
        };
        let mut alternatives: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (field, analyzer, boost) in targets {
            if boost == 0.0 {
                continue;
            }
            let tokens = analyze(analyzer, text);
            if tokens.is_empty() {
                continue;
            }
            let query = self.term_or_phrase(field, &tokens);
            let query = if boost == 1.0 { query } else { Box::new(BoostQuery::new(query, boost)) };
            alternatives.push((Occur::Should, query));
        }
        match alternatives.len() {
            0 => None,
            1 => alternatives.pop().map(|(_, q)| q),
            _ => Some(Box::new(BooleanQuery::new(alternatives))),
        }
    }

    /// One token as a term query, several as a phrase (keeping the gaps stop words leave).
    fn term_or_phrase(&self, field: Field, tokens: &[(usize, String)]) -> Box<dyn Query> {
        if let [(_, token)] = tokens {
            return Box::new(TermQuery::new(Term::from_field_text(field, token), IndexRecordOption::WithFreqs));
        }
        let first = tokens[0].0;
        let terms = tokens.iter().map(|(pos, t)| (pos - first, Term::from_field_text(field, t))).collect();
        Box::new(PhraseQuery::new_with_offset(terms))
    }

    /// The analysed tokens of `text` as the title and abstract fields index them: for highlighting.
    pub fn analyze_text(&self, text: &str) -> Vec<String> {
        analyze(&self.text_analyzer, text).into_iter().map(|(_, t)| t).collect()
    }

    /// Each token of `text` with its byte range in `text`, analysed as the title and abstract
    /// fields index them: what highlighting marks.
    pub fn token_spans(&self, text: &str) -> Vec<(std::ops::Range<usize>, String)> {
        let mut analyzer = self.text_analyzer.clone();
        let mut stream = analyzer.token_stream(text);
        let mut spans = Vec::new();
        while let Some(token) = stream.next() {
            spans.push((token.offset_from..token.offset_to, token.text.clone()));
        }
        spans
    }
}

/// The words of a query of plain words only (no operators, fields, quotes or groups).
fn plain_words(query: &SearchQuery) -> Option<Vec<&str>> {
    query
        .clauses
        .iter()
        .map(|clause| match &clause.node {
            Node::Word { field: QueryField::All, text } if clause.occur == QueryOccur::Default => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// A query word or phrase as the query syntax writes it.
fn term_label(field: QueryField, text: &str) -> String {
    let prefix = match field {
        QueryField::All => "",
        QueryField::Title => "ti:",
        QueryField::Authors => "au:",
        QueryField::Abstract => "abs:",
    };
    if text.contains(char::is_whitespace) { format!("{prefix}\"{text}\"") } else { format!("{prefix}{text}") }
}

/// `found` (best first) with the first [`PROXIMITY_DEPTH`] documents' scores under `boost` added
/// and those re-sorted (ties keep their order); the rest follow as they were, still below them,
/// since a boost only adds. A fixed window: how deep a page reaches does not change the order.
fn rescore(
    searcher: &Searcher,
    boost: &dyn Query,
    mut found: Vec<(f32, DocAddress)>,
) -> Result<Vec<(f32, DocAddress)>> {
    let window = found.len().min(PROXIMITY_DEPTH);
    let weight = boost.weight(EnableScoring::enabled_from_searcher(searcher))?;
    let addresses: Vec<DocAddress> = found[..window].iter().map(|(_, address)| *address).collect();
    for (hit, extra) in found[..window].iter_mut().zip(scores_under(searcher, weight.as_ref(), &addresses)?) {
        hit.0 += extra;
    }
    found[..window].sort_by(|a, b| b.0.total_cmp(&a.0));
    Ok(found)
}

/// Each address's score under `weight` (0 where it does not match). The documents are visited in
/// index order, one scorer per segment seeking forward, so a phrase's postings are walked once.
fn scores_under(searcher: &Searcher, weight: &dyn Weight, addresses: &[DocAddress]) -> Result<Vec<f32>> {
    let mut order: Vec<usize> = (0..addresses.len()).collect();
    order.sort_by_key(|&i| addresses[i]);
    let mut scores = vec![0.0; addresses.len()];
    let mut scorer: Option<(u32, Box<dyn tantivy::query::Scorer>)> = None;
    for i in order {
        let DocAddress { segment_ord, doc_id } = addresses[i];
        let scorer = match &mut scorer {
            Some((segment, scorer)) if *segment == segment_ord => scorer,
            slot => &mut slot.insert((segment_ord, weight.scorer(searcher.segment_reader(segment_ord), 1.0)?)).1,
        };
        if scorer.doc() < doc_id {
            scorer.seek(doc_id);
        }
        if scorer.doc() == doc_id {
            scores[i] = scorer.score();
        }
    }
    Ok(scores)
}

fn analyze(analyzer: &TextAnalyzer, text: &str) -> Vec<(usize, String)> {
    let mut analyzer = analyzer.clone();
    let mut stream = analyzer.token_stream(text);
    let mut tokens = Vec::new();
    while let Some(token) = stream.next() {
        tokens.push((token.position, token.text.clone()));
    }
    tokens
}

fn read_payload(index: &Index) -> Result<Option<CommitPayload>> {
    let metas = index.load_metas()?;
    match metas.payload {
        None => Ok(None),
        Some(text) => {
            serde_json::from_str(&text).map(Some).map_err(|e| Error::Index(format!("unreadable commit payload: {e}")))
        }
    }
}

/// Adds, replaces and deletes documents; nothing is visible until [`FullTextWriter::commit`].
pub struct FullTextWriter {
    writer: IndexWriter,
    fields: Fields,
}

impl FullTextWriter {
    /// Adds a document, replacing any with the same key.
    pub fn upsert(&mut self, doc: &IndexDoc<'_>) -> Result<()> {
        self.delete(doc.key);
        self.add(doc)
    }

    /// Adds a document that is known not to be in the index yet (a fresh build).
    pub fn add(&mut self, doc: &IndexDoc<'_>) -> Result<()> {
        let mut document = TantivyDocument::default();
        document.add_text(self.fields.key, doc.key);
        document.add_text(self.fields.text, doc.title);
        document.add_text(self.fields.text, doc.body);
        document.add_text(self.fields.title, doc.title);
        document.add_text(self.fields.body, doc.body);
        for author in doc.authors {
            document.add_text(self.fields.authors, author);
        }
        for category in &doc.categories {
            document.add_text(self.fields.categories, category);
        }
        if let Some(day) = doc.day {
            document.add_i64(self.fields.day, day_number(day));
        }
        // Days since 1970 fit in 32 bits for another eleven million years.
        let day = doc.day.map_or(0, |d| day_number(d).max(0) as u64);
        document.add_u64(self.fields.recency, (day << 32) | u64::from(doc.tie_break));
        document.add_u64(self.fields.title_key, title_hash(doc.title));
        self.writer.add_document(document)?;
        Ok(())
    }

    /// Deletes the document with this key, if any.
    pub fn delete(&mut self, key: &str) {
        self.writer.delete_term(Term::from_field_text(self.fields.key, key));
    }

    /// Deletes every document (a rebuild).
    pub fn delete_all(&mut self) -> Result<()> {
        self.writer.delete_all_documents()?;
        Ok(())
    }

    /// Makes everything written so far durable and records that the index now holds the store up
    /// to sequence number `seq`.
    pub fn commit(&mut self, seq: i64) -> Result<()> {
        let mut prepared = self.writer.prepare_commit()?;
        prepared.set_payload(
            &serde_json::to_string(&CommitPayload { schema: SCHEMA_VERSION, seq }).expect("payload serialises"),
        );
        prepared.commit()?;
        Ok(())
    }

    /// Waits for background merges to finish (at the end of a bulk load).
    pub fn finish(self) -> Result<()> {
        self.writer.wait_merging_threads()?;
        Ok(())
    }
}

/// Runs `collector`, with the count of all matches when `count_total` (counting costs a pass over
/// every match).
fn collect<C: tantivy::collector::Collector>(
    searcher: &Searcher,
    query: &dyn Query,
    collector: C,
    count_total: bool,
) -> Result<(C::Fruit, Option<u64>)> {
    Ok(if count_total {
        let (found, count) = searcher.search(query, &(collector, Count))?;
        (found, Some(count as u64))
    } else {
        (searcher.search(query, &collector)?, None)
    })
}
