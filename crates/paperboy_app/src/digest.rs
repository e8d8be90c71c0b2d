//! Digests: for every subscriber due on a day, the papers announced since their last digest that
//! match what they follow — saved searches, categories, authors, papers like their library — each
//! with its reasons, then the trending section; never a paper already sent to them. Digests are
//! queued in the store's outbox, one per subscriber and period, and sent later.
//!
//! The work is arranged for many subscribers over few papers (a day brings 200–700; a service has
//! 10⁵–10⁶ subscribers): the new papers go in a small in-memory index once, each *distinct* saved
//! search runs once against it (by words, and by meaning against the papers' stored vectors with
//! the search's stored vector — no model call), and each subscriber is then a merge of precomputed
//! lists. See ARCHITECTURE.md for the scores.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use paperboy_domain::{AccountId, ArxivId, Cadence, Category, Paper, SearchQuery, author_key, author_matches};
use paperboy_search::{Filters, FullTextIndex, Ranking, SearchRequest, Sort};
use paperboy_store::{Account, FeedbackKind, NewMessage};
use rayon::prelude::*;
use serde::Serialize;

pub use crate::outbox::{DigestEntry, DigestPayload, Reason};
use crate::{Error, Library, Progress, Result, accounts::query_hash, outbox::MailPayload};

/// A saved search matches a paper by meaning when their cosine similarity is at least this
/// (all-MiniLM-L6-v2; docs/BENCHMARKS.md has the calibration on SciFact).
pub const SEMANTIC_MATCH: f32 = 0.45;
/// A library model recommends a paper when it scores above this share of random papers (held out
/// from training): an absolute probability means little for a library of five papers, a rank
/// among random papers means the same for any library.
pub const LIBRARY_PERCENTILE: f32 = 0.99;
/// Random papers a library model is trained against (and as many more it is calibrated on).
const LIBRARY_NEGATIVES: usize = 300;
/// Library papers a model is trained on at most (the newest).
const LIBRARY_POSITIVES: usize = 500;
/// The oldest announcements a digest reaches back to.
const MAX_WINDOW_DAYS: i64 = 7;
/// Weekly digests are built on this day by default, over the seven days up to it.
pub const WEEKLY_ON: Weekday = Weekday::Fri;

/// Sent and failed messages, and the record of which papers they sent, are kept this long. A paper
/// reaches a digest only from the window since the last digest (a week at most) or from trending,
/// and the trending section takes only papers announced (or, known only from Hugging Face,
/// submitted) within this many days of the digest (a paper featured months after its
/// announcement stays out). So a pruned record is of
/// a paper no digest can hold again, and "never a paper twice" holds; without pruning,
/// `sent_papers` would grow by ~30 rows per digest forever.
pub const DELIVERED_RETENTION_DAYS: i64 = 60;
/// Digests queued per store transaction.
const ENQUEUE_BATCH: usize = 1_000;
/// Subscribers built at once (memory holds one chunk's digests, and the next one's).
const BUILD_CHUNK: usize = 10_000;
/// Subscribers read from the store per step.
const ACCOUNT_BATCH: usize = 10_000;

/// One subscriber's digest in a build report.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedDigest {
    /// The account.
    pub account_id: AccountId,
    /// The address, redacted (`a***@example.org`).
    pub recipient: String,
    /// What it holds.
    pub digest: DigestPayload,
}

/// What to build.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The day (an arXiv announcement day for daily digests; `weekly_on` for weekly ones).
    pub date: NaiveDate,
    /// The weekday weekly digests are built on ([`WEEKLY_ON`] by default).
    pub weekly_on: Weekday,
    /// The host named in `Message-ID`s.
    pub host: String,
    /// Build and report, but queue nothing and change nothing.
    pub dry_run: bool,
    /// Only this account (when it is due).
    pub only: Option<AccountId>,
    /// Report every digest (not only counts).
    pub details: bool,
    /// The time of the build.
    pub now: DateTime<Utc>,
}

/// Seconds spent per phase.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Phases {
    /// Reading subscribers and the new papers, building the papers' index.
    pub load_s: f64,
    /// Running the distinct saved searches.
    pub searches_s: f64,
    /// Merging each subscriber's matches.
    pub subscribers_s: f64,
    /// Writing the outbox (on a second thread, overlapping the merging).
    pub queue_s: f64,
}

/// What `digest build` did.
#[derive(Debug, Clone, Serialize)]
pub struct BuildReport {
    /// The day.
    pub date: NaiveDate,
    /// Papers announced that day.
    pub announced: usize,
    /// Active subscribers looked at.
    pub subscribers: u64,
    /// Subscribers due a digest that day.
    pub due: u64,
    /// Digests queued (or, in a dry run, that would be).
    pub queued: u64,
    /// Due subscribers with nothing to send (and no wish for empty digests).
    pub empty: u64,
    /// Due subscribers whose digest for the period was queued before.
    pub already_queued: u64,
    /// New papers looked at (the union of every subscriber's window).
    pub papers: usize,
    /// Distinct saved searches run.
    pub searches: usize,
    /// Papers in all queued digests (trending included).
    pub entries: u64,
    /// Seconds in all.
    pub seconds: f64,
    /// Seconds per phase.
    pub phases: Phases,
    /// Every digest, with `details`.
    pub digests: Vec<PlannedDigest>,
    /// Messages older than [`DELIVERED_RETENTION_DAYS`] forgotten before the build (sent or
    /// failed), and their papers' records.
    pub pruned_messages: u64,
    /// See `pruned_messages`.
    pub pruned_paper_records: u64,
}

/// The new papers of one window, ready for matching.
struct Pool {
    since: NaiveDate,
    papers: Vec<Paper>,
    index: FullTextIndex,
    /// Unit vectors, `dimension` each; zeros for papers without one.
    vectors: Vec<f32>,
    has_vector: Vec<bool>,
    dimension: usize,
    /// Analysed words of each paper's title and abstract.
    words: Vec<HashSet<String>>,
    by_category: HashMap<Category, Vec<u32>>,
    /// Author surname -> (author key, paper, author position).
    by_surname: HashMap<String, Vec<(String, u32, u16)>>,
    /// Trending within the pool, 0..1.
    trend: Vec<f32>,
}

/// A distinct saved search run against a pool.
#[derive(Default)]
struct SearchMatches {
    /// (paper, strength, similarity, matched by words), by paper.
    hits: Vec<(u32, f32, Option<f32>, bool)>,
    /// The search's words, each with its analysed form.
    terms: Vec<(String, Vec<String>)>,
}

/// A library model: weights and bias over unit vectors, and the library's vectors for "similar to".
struct LibraryModel {
    /// The logistic model's weights, the bias, then the calibrated threshold (a probability).
    weights: Vec<f32>,
    library: Vec<(ArxivId, Vec<f32>)>,
    titles: HashMap<ArxivId, String>,
    /// The "more like this" seeds among `library` (not saved).
    seeds: HashSet<ArxivId>,
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut sums = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            sums[i] += x[i] * y[i];
        }
    }
    sums.iter().sum::<f32>() + tail
}

/// The day's window for an account: the first announcement day it covers, or `None` when it is
/// not due.
fn window(account: &Account, date: NaiveDate, announced: bool, weekly_on: Weekday) -> Option<NaiveDate> {
    let due = match account.preferences.cadence {
        Cadence::Paused => false,
        Cadence::Daily => announced,
        Cadence::Weekly => date.weekday() == weekly_on,
    };
    if !due || account.last_digest_on.is_some_and(|last| last >= date) {
        return None;
    }
    let earliest = date - Duration::days(MAX_WINDOW_DAYS - 1);
    Some(
        account
            .last_digest_on
            .map_or(if account.preferences.cadence == Cadence::Weekly { earliest } else { date }, |last| {
                (last + Duration::days(1)).max(earliest)
            }),
    )
}

impl BuildReport {
    /// A report of a build that has not built anything yet.
    fn start(date: NaiveDate, announced: usize, subscribers: u64, due: u64) -> BuildReport {
        BuildReport {
            date,
            announced,
            subscribers,
            due,
            queued: 0,
            empty: 0,
            already_queued: 0,
            papers: 0,
            searches: 0,
            entries: 0,
            seconds: 0.0,
            phases: Phases::default(),
            digests: Vec::new(),
            pruned_messages: 0,
            pruned_paper_records: 0,
        }
    }
}

/// The dedupe key of an account's digest for `date`: one per day, or per ISO week for weekly ones.
fn period_key(account: &Account, date: NaiveDate) -> String {
    match account.preferences.cadence {
        Cadence::Weekly => {
            let week = date.iso_week();
            format!("digest:{}:{}-W{:02}", account.id, week.year(), week.week())
        }
        _ => format!("digest:{}:{date}", account.id),
    }
}

/// What every digest of a build draws on, computed once: the windows' papers, the trending list,
/// what was sent to whom, each distinct saved search's matches, and the library models.
struct Prepared {
    pools: HashMap<NaiveDate, Pool>,
    trending: Vec<crate::browse::Trending>,
    sent: HashMap<AccountId, HashSet<ArxivId>>,
    /// The papers of the window or trending each account said it is not interested in.
    dismissed: HashMap<AccountId, HashSet<ArxivId>>,
    /// Each distinct saved search's position in `matches`' keys.
    search_index: HashMap<String, usize>,
    matches: HashMap<(NaiveDate, usize), SearchMatches>,
    models: HashMap<AccountId, LibraryModel>,
}

/// What one subscriber's digest draws on.
struct Inputs<'a> {
    pool: &'a Pool,
    matches: Vec<(&'a String, &'a SearchMatches)>,
    model: Option<&'a LibraryModel>,
    trending: &'a [crate::browse::Trending],
    sent: Option<&'a HashSet<ArxivId>>,
    dismissed: Option<&'a HashSet<ArxivId>>,
}

impl Library {
    /// Builds (and queues) the digests due on `options.date`: the due subscribers, what their
    /// digests draw on (once), then each digest — in chunks, each chunk's messages written to the
    /// outbox on a second thread while the next chunk is built, so memory stays bounded by a chunk
    /// and the writes overlap the merging.
    pub fn build_digests(&self, options: &BuildOptions, progress: &dyn Progress) -> Result<BuildReport> {
        let started = std::time::Instant::now();
        let announced = self.store.papers_announced_on(options.date)?.len();
        let (pruned_messages, pruned_paper_records) = match options.dry_run {
            true => (0, 0),
            false => {
                // The daily build is also when what has no use any more is forgotten.
                self.prune_stale(options.now)?;
                self.store.prune_delivered(options.now - chrono::Duration::days(DELIVERED_RETENTION_DAYS))?
            }
        };
        let (due, subscribers) = self.due_subscribers(options, announced > 0)?;
        let mut report = BuildReport {
            pruned_messages,
            pruned_paper_records,
            ..BuildReport::start(options.date, announced, subscribers, due.len() as u64)
        };
        if !due.is_empty() {
            let prepared = self.prepare(&due, options, &mut report, true)?;
            self.build_and_queue(&due, &prepared, options, progress, &mut report)?;
        }
        report.seconds = started.elapsed().as_secs_f64();
        if !options.dry_run {
            crate::metrics::digests_built(report.queued);
        }
        tracing::info!(date = %options.date, due = report.due, queued = report.queued, empty = report.empty, seconds = report.seconds, "digests built");
        Ok(report)
    }

    /// One account's digest for `options.date` over the window from `since`, built as a build
    /// builds it but queued nowhere, with papers mailed before kept in and never empty (the
    /// trending section at least): what the private feed shows. It writes only the caches a
    /// build writes too (a saved search's vector, the library model), keyed as the build keys
    /// them.
    pub(crate) fn preview_digest(
        &self,
        account: &Account,
        since: NaiveDate,
        options: &BuildOptions,
    ) -> Result<DigestPayload> {
        let mut account = account.clone();
        account.preferences.send_empty = true;
        let due = vec![(account.clone(), since)];
        let mut report = BuildReport::start(options.date, 0, 1, 1);
        let prepared = self.prepare(&due, options, &mut report, false)?;
        let planned = build_one(&account, since, options.date, &prepared.inputs(&account, since))
            .expect("a digest that may be empty is always built");
        Ok(planned.digest)
    }

    /// The active subscribers due a digest on the day, each with the first day their digest
    /// covers; and how many active subscribers there are.
    fn due_subscribers(&self, options: &BuildOptions, announced: bool) -> Result<(Vec<(Account, NaiveDate)>, u64)> {
        let mut due = Vec::new();
        let mut subscribers = 0u64;
        let mut after = AccountId(0);
        loop {
            let batch = self.store.active_accounts(after, ACCOUNT_BATCH)?;
            let Some(last) = batch.last() else { break };
            after = last.id;
            for account in batch {
                subscribers += 1;
                if options.only.is_some_and(|only| only != account.id) {
                    continue;
                }
                if let Some(since) = window(&account, options.date, announced, options.weekly_on) {
                    due.push((account, since));
                }
            }
        }
        Ok((due, subscribers))
    }

    /// What the digests draw on: each window's papers once, the trending list of the retention
    /// window, what was sent before, every distinct saved search run once per window, the library
    /// models.
    /// `with_sent`: whether to look up what was mailed before (a preview keeps those papers, and
    /// the lookup reads every subscriber's records of the window's papers).
    fn prepare(
        &self,
        due: &[(Account, NaiveDate)],
        options: &BuildOptions,
        report: &mut BuildReport,
        with_sent: bool,
    ) -> Result<Prepared> {
        let started = std::time::Instant::now();
        let mut windows: Vec<NaiveDate> = due.iter().map(|(_, since)| *since).collect();
        windows.sort();
        windows.dedup();
        let mut pools: HashMap<NaiveDate, Pool> = HashMap::new();
        let mut all_papers: HashSet<ArxivId> = HashSet::new();
        for since in windows {
            let pool = self.pool(since, options.date)?;
            all_papers.extend(pool.papers.iter().map(|p| p.id));
            pools.insert(since, pool);
        }
        report.papers = all_papers.len();
        let oldest = options.date - chrono::Duration::days(DELIVERED_RETENTION_DAYS);
        let trending: Vec<crate::browse::Trending> = self
            .trending(Some(options.date), 60, 0)?
            .papers
            .into_iter()
            // Papers known only from Hugging Face have no announcement day: their submission's.
            .filter(|t| {
                t.paper.announced.or(t.paper.submitted.map(|at| at.date_naive())).is_some_and(|day| day > oldest)
            })
            .collect();
        let mut sent: HashMap<AccountId, HashSet<ArxivId>> = HashMap::new();
        let lookup: Vec<ArxivId> = all_papers.iter().copied().chain(trending.iter().map(|t| t.paper.id)).collect();
        if with_sent {
            for (account, paper) in self.store.sent_papers(&lookup)? {
                sent.entry(account).or_default().insert(paper);
            }
        }
        // "Not interested" holds everywhere a digest reaches, previews and private feeds included:
        // a build reads what every subscriber said of the window's papers at once, a preview (one
        // subscriber) only what that subscriber said.
        let mut dismissed: HashMap<AccountId, HashSet<ArxivId>> = HashMap::new();
        if with_sent {
            for (account, paper, kind) in self.store.feedback_on(&lookup)? {
                if kind == FeedbackKind::NotInterested {
                    dismissed.entry(account).or_default().insert(paper);
                }
            }
        } else {
            for (account, _) in due {
                let said = self.store.feedback(account.id)?;
                let not = said.into_iter().filter(|f| f.kind == FeedbackKind::NotInterested).map(|f| f.paper_id);
                dismissed.insert(account.id, not.collect());
            }
        }
        report.phases.load_s = started.elapsed().as_secs_f64();

        let searches_started = std::time::Instant::now();
        let mut distinct: Vec<String> = due.iter().flat_map(|(a, _)| a.preferences.searches.iter().cloned()).collect();
        distinct.sort();
        distinct.dedup();
        report.searches = distinct.len();
        let matches = self.run_searches(due, &distinct, &pools)?;
        report.phases.searches_s = searches_started.elapsed().as_secs_f64();
        let search_index = distinct.into_iter().enumerate().map(|(i, s)| (s, i)).collect();
        let models = self.library_models(due)?;
        Ok(Prepared { pools, trending, sent, dismissed, search_index, matches, models })
    }

    /// Every distinct saved search, once per window it is due in: by words against the window's
    /// papers, and by meaning with its stored query vector (embedded now if it has none).
    fn run_searches(
        &self,
        due: &[(Account, NaiveDate)],
        distinct: &[String],
        pools: &HashMap<NaiveDate, Pool>,
    ) -> Result<HashMap<(NaiveDate, usize), SearchMatches>> {
        self.ensure_query_vectors(distinct)?;
        let query_vectors: HashMap<i64, Vec<f32>> = match self.semantic() {
            Ok(semantic) => {
                let hashes: Vec<i64> = distinct.iter().map(|s| query_hash(s)).collect();
                self.store.query_vectors(semantic.embedder.name(), &hashes)?.into_iter().collect()
            }
            Err(_) => HashMap::new(),
        };
        let mut matches = HashMap::new();
        for (since, pool) in pools {
            let wanted: HashSet<&String> =
                due.iter().filter(|(_, s)| s == since).flat_map(|(a, _)| a.preferences.searches.iter()).collect();
            let found: Vec<(usize, SearchMatches)> = distinct
                .par_iter()
                .enumerate()
                .filter(|(_, s)| wanted.contains(s))
                .map(|(i, search)| {
                    (i, pool.run_search(search, query_vectors.get(&query_hash(search)).map(Vec::as_slice)))
                })
                .collect();
            matches.extend(found.into_iter().map(|(i, m)| ((*since, i), m)));
        }
        Ok(matches)
    }

    /// Builds every due subscriber's digest from `prepared`, in chunks, and (unless a dry run)
    /// queues them, a second thread writing each chunk while the next is built.
    fn build_and_queue(
        &self,
        due: &[(Account, NaiveDate)],
        prepared: &Prepared,
        options: &BuildOptions,
        progress: &dyn Progress,
        report: &mut BuildReport,
    ) -> Result<()> {
        progress.start("building digests", Some(due.len() as u64), "subscribers");
        let by_id: HashMap<AccountId, &Account> = due.iter().map(|(a, _)| (a.id, a)).collect();
        let store = self.store.as_ref();
        let (date, now) = (options.date, options.now);
        let mut build_s = 0.0;
        let (sender, receiver) = std::sync::mpsc::sync_channel::<(Vec<NewMessage>, Vec<AccountId>)>(1);
        let written: Result<(u64, u64, f64)> = std::thread::scope(|scope| {
            let writer = scope.spawn(move || -> Result<(u64, u64, f64)> {
                let (mut queued, mut already, mut busy) = (0u64, 0u64, 0.0f64);
                for (messages, skipped) in receiver {
                    let started = std::time::Instant::now();
                    for batch in messages.chunks(ENQUEUE_BATCH) {
                        let new = store.enqueue(batch, Some(date), now)?;
                        queued += new as u64;
                        already += (batch.len() - new) as u64;
                    }
                    store.set_last_digest(&skipped, date)?;
                    busy += started.elapsed().as_secs_f64();
                }
                Ok((queued, already, busy))
            });
            for chunk in due.chunks(BUILD_CHUNK) {
                let started = std::time::Instant::now();
                let built: Vec<Option<PlannedDigest>> = chunk
                    .par_iter()
                    .map(|(account, since)| {
                        let digest = build_one(account, *since, options.date, &prepared.inputs(account, *since));
                        progress.advance(1);
                        digest
                    })
                    .collect();
                let mut skipped: Vec<AccountId> = Vec::new();
                let mut planned: Vec<PlannedDigest> = Vec::new();
                for ((account, _), digest) in chunk.iter().zip(built) {
                    match digest {
                        Some(digest) => planned.push(digest),
                        None => skipped.push(account.id),
                    }
                }
                report.empty += skipped.len() as u64;
                report.entries +=
                    planned.iter().map(|d| (d.digest.items.len() + d.digest.trending.len()) as u64).sum::<u64>();
                if options.dry_run {
                    report.queued += planned.len() as u64;
                    build_s += started.elapsed().as_secs_f64();
                } else {
                    let messages: Vec<NewMessage> =
                        planned.par_iter().map(|p| to_message(by_id[&p.account_id], p, options)).collect();
                    build_s += started.elapsed().as_secs_f64();
                    if sender.send((messages, skipped)).is_err() {
                        break; // the writer failed; its error is reported below
                    }
                }
                if options.details {
                    report.digests.extend(planned);
                }
            }
            drop(sender);
            writer.join().expect("the outbox writer does not panic")
        });
        progress.finish("digests built");
        let (queued, already_queued, queue_s) = written?;
        if !options.dry_run {
            report.queued = queued;
            report.already_queued = already_queued;
        }
        report.phases.subscribers_s = build_s;
        report.phases.queue_s = queue_s;
        Ok(())
    }

    /// The papers announced from `since` to `until`, indexed in memory with their vectors.
    fn pool(&self, since: NaiveDate, until: NaiveDate) -> Result<Pool> {
        let mut papers: Vec<Paper> = Vec::new();
        let mut day = since;
        while day <= until {
            papers.extend(self.store.papers_announced_on(day)?.into_iter().map(|s| s.paper));
            day += Duration::days(1);
        }
        papers.sort_by_key(|p| std::cmp::Reverse(p.id));
        let index = FullTextIndex::in_memory(Ranking::default())?;
        {
            let mut writer = index.writer_with_threads(32 * 1024 * 1024, 1)?;
            for paper in &papers {
                crate::index_paper(&mut writer, paper, false)?;
            }
            writer.commit(0)?;
        }
        index.reload()?;
        let opened = match self.vectors() {
            Ok(opened) => Some(opened),
            Err(Error::SemanticUnavailable(_)) => None,
            Err(other) => return Err(other),
        };
        let (dimension, mut vectors, mut has_vector) =
            (opened.map_or(0, |(s, _)| s.embedder.dimension()), Vec::new(), Vec::new());
        if let Some((_, stored)) = opened {
            let stored = stored.read().unwrap_or_else(|p| p.into_inner());
            vectors.reserve(papers.len() * dimension);
            for paper in &papers {
                match stored.vector(&paper.id.to_string())? {
                    Some(vector) => {
                        vectors.extend(vector);
                        has_vector.push(true);
                    }
                    None => {
                        vectors.extend(std::iter::repeat_n(0.0, dimension));
                        has_vector.push(false);
                    }
                }
            }
        }
        let words = papers
            .iter()
            .map(|p| index.analyze_text(&format!("{} {}", p.title, p.abstract_text)).into_iter().collect())
            .collect();
        let mut by_category: HashMap<Category, Vec<u32>> = HashMap::new();
        let mut by_surname: HashMap<String, Vec<(String, u32, u16)>> = HashMap::new();
        for (i, paper) in papers.iter().enumerate() {
            for category in &paper.categories {
                by_category.entry(*category).or_default().push(i as u32);
            }
            for (position, name) in paper.authors.iter().enumerate().take(u16::MAX as usize) {
                let key = author_key(name);
                if let Some(surname) = key.rsplit(' ').next().filter(|s| !s.is_empty()) {
                    by_surname.entry(surname.to_owned()).or_default().push((key.clone(), i as u32, position as u16));
                }
            }
        }
        let scores = self.trending_scores(papers.iter().map(|p| p.id))?;
        let top = scores.values().copied().fold(0.0f64, f64::max);
        let trend = papers
            .iter()
            .map(|p| if top > 0.0 { (scores.get(&p.id).copied().unwrap_or(0.0) / top) as f32 } else { 0.0 })
            .collect();
        Ok(Pool { since, papers, index, vectors, has_vector, dimension, words, by_category, by_surname, trend })
    }

    /// Library models of the due subscribers who want them, from the cache or trained now.
    fn library_models(&self, due: &[(Account, NaiveDate)]) -> Result<HashMap<AccountId, LibraryModel>> {
        let (semantic, stored_vectors) = match self.vectors() {
            Ok(opened) => opened,
            Err(Error::SemanticUnavailable(_)) => return Ok(HashMap::new()),
            Err(other) => return Err(other),
        };
        let store = self.store.as_ref();
        let model_name = semantic.embedder.name();
        let mut out = HashMap::new();
        let mut negatives: Option<Vec<Vec<f32>>> = None;
        for (account, _) in due.iter().filter(|(a, _)| a.preferences.library) {
            // The "more like this" seeds and the library are what the person wants, the papers
            // they are not interested in what they do not. Seeds come first (they are few, and
            // asked for now); a paper they are not interested in is no positive, saved or not.
            let feedback = store.feedback(account.id)?;
            let of_kind = |kind| feedback.iter().filter(move |f| f.kind == kind).map(|f| f.paper_id);
            let seeds: HashSet<ArxivId> = of_kind(FeedbackKind::MoreLikeThis).collect();
            let not_wanted: HashSet<ArxivId> = of_kind(FeedbackKind::NotInterested).collect();
            let mut wanted: Vec<ArxivId> = of_kind(FeedbackKind::MoreLikeThis).collect();
            for saved in store.library(account.id)? {
                if !seeds.contains(&saved.paper_id) && !not_wanted.contains(&saved.paper_id) {
                    wanted.push(saved.paper_id);
                }
            }
            if wanted.is_empty() {
                continue;
            }
            let vectors = stored_vectors.read().unwrap_or_else(|p| p.into_inner());
            let mut library: Vec<(ArxivId, Vec<f32>)> = Vec::new();
            for paper in wanted.iter().take(LIBRARY_POSITIVES) {
                if let Some(vector) = vectors.vector(&paper.to_string())? {
                    library.push((*paper, vector));
                }
            }
            if library.is_empty() {
                continue;
            }
            let mut dismissed: Vec<(ArxivId, Vec<f32>)> = Vec::new();
            for paper in of_kind(FeedbackKind::NotInterested).take(LIBRARY_POSITIVES) {
                if let Some(vector) = vectors.vector(&paper.to_string())? {
                    dismissed.push((paper, vector));
                }
            }
            let mut ids: Vec<String> = library.iter().map(|(id, _)| id.to_string()).collect();
            ids.sort();
            let mut not: Vec<String> = dismissed.iter().map(|(id, _)| id.to_string()).collect();
            not.sort();
            // Without feedback the key is what it was before feedback existed (no retraining).
            let key = if not.is_empty() { ids.join(",") } else { format!("{}|not:{}", ids.join(","), not.join(",")) };
            let library_hash = xxhash_rust::xxh3::xxh3_64(key.as_bytes()) as i64;
            let weights = match store.library_model(account.id, model_name, library_hash)? {
                Some(weights) if weights.len() == vectors.dimension() + 2 => weights,
                _ => {
                    let negatives = match &negatives {
                        Some(n) => n,
                        None => {
                            let mut sample: Vec<(String, Vec<f32>)> = vectors.sample(2 * LIBRARY_NEGATIVES, 0x5eed)?;
                            sample.sort_by(|a, b| a.0.cmp(&b.0));
                            negatives.insert(sample.into_iter().map(|(_, v)| v).collect())
                        }
                    };
                    let positives: Vec<&[f32]> = library.iter().map(|(_, v)| v.as_slice()).collect();
                    let (train, held_out): (Vec<&[f32]>, Vec<&[f32]>) = {
                        let all: Vec<&[f32]> = negatives.iter().map(Vec::as_slice).collect();
                        let (a, b) = all.split_at(all.len() / 2);
                        (a.to_vec(), b.to_vec())
                    };
                    let hard: Vec<&[f32]> = dismissed.iter().map(|(_, v)| v.as_slice()).collect();
                    let mut weights = train_logistic(&positives, &train, &hard);
                    weights.push(calibrate(&weights, &held_out, LIBRARY_PERCENTILE));
                    store.put_library_model(account.id, model_name, library_hash, &weights)?;
                    weights
                }
            };
            let titles = self.store.papers(&library.iter().map(|(id, _)| *id).collect::<Vec<_>>())?;
            let titles = titles.into_iter().map(|s| (s.paper.id, s.paper.title)).collect();
            out.insert(account.id, LibraryModel { weights, library, titles, seeds });
        }
        Ok(out)
    }
}

impl Pool {
    fn run_search(&self, search: &str, vector: Option<&[f32]>) -> SearchMatches {
        let mut out = SearchMatches::default();
        let Ok(query) = SearchQuery::parse(search) else { return out };
        out.terms = query
            .positive_terms()
            .iter()
            .map(|(_, text)| ((*text).to_owned(), self.index.analyze_text(text)))
            .filter(|(_, analysed)| !analysed.is_empty())
            .collect();
        let mut strength: HashMap<u32, (f32, Option<f32>, bool)> = HashMap::new();
        // By words: every plain word must be there (date order is conjunctive), plus the query's own
        // phrases, fields, exclusions and categories.
        let request = SearchRequest {
            query: &query,
            raw: search,
            filters: Filters::default(),
            sort: Sort::Date,
            limit: self.papers.len().max(1),
            offset: 0,
            count_total: false,
        };
        if let Ok(results) = self.index.search(&request) {
            for hit in results.hits {
                if let Some(i) = self.position(&hit.key) {
                    strength.insert(i, (2.0, None, true));
                }
            }
        }
        // By meaning: the search's stored vector against the papers', within what the query's
        // exclusions, fields and categories allow.
        if let Some(vector) = vector.filter(|v| v.len() == self.dimension) {
            let mut close: Vec<(u32, f32)> = Vec::new();
            for (i, paper_vector) in self.vectors.chunks_exact(self.dimension).enumerate() {
                if self.has_vector[i] {
                    let similarity = dot(vector, paper_vector);
                    if similarity >= SEMANTIC_MATCH {
                        close.push((i as u32, similarity));
                    }
                }
            }
            if let Some(constraint) = self.index.constraints(&query, &Filters::default()) {
                let keys: Vec<String> = close.iter().map(|(i, _)| self.papers[*i as usize].id.to_string()).collect();
                let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
                let allowed = self.index.keys_matching(&refs, constraint.as_ref()).unwrap_or_default();
                close.retain(|(i, _)| allowed.contains(&self.papers[*i as usize].id.to_string()));
            }
            for (i, similarity) in close {
                let entry = strength.entry(i).or_insert((1.0, None, false));
                entry.0 += similarity;
                entry.1 = Some(similarity);
            }
        }
        out.hits = strength.into_iter().map(|(i, (s, sim, words))| (i, s, sim, words)).collect();
        out.hits.sort_by_key(|h| h.0);
        out
    }

    fn position(&self, key: &str) -> Option<u32> {
        let id = ArxivId::parse(key).ok()?;
        // Papers are sorted newest (highest id) first.
        self.papers.binary_search_by(|p| id.cmp(&p.id)).ok().map(|i| i as u32)
    }

    /// The search's words that the paper has.
    fn matched_terms(&self, matches: &SearchMatches, paper: u32) -> Vec<String> {
        let words = &self.words[paper as usize];
        matches
            .terms
            .iter()
            .filter(|(_, analysed)| analysed.iter().all(|w| words.contains(w)))
            .map(|(text, _)| text.clone())
            .collect()
    }

    fn vector(&self, paper: u32) -> Option<&[f32]> {
        let i = paper as usize;
        self.has_vector
            .get(i)
            .copied()
            .unwrap_or(false)
            .then(|| &self.vectors[i * self.dimension..(i + 1) * self.dimension])
    }
}

impl Prepared {
    /// What the digest of `account`, whose window starts on `since`, draws on.
    fn inputs<'a>(&'a self, account: &'a Account, since: NaiveDate) -> Inputs<'a> {
        let matches = account
            .preferences
            .searches
            .iter()
            .filter_map(|search| {
                let i = self.search_index.get(search)?;
                Some((search, self.matches.get(&(since, *i))?))
            })
            .collect();
        Inputs {
            pool: &self.pools[&since],
            matches,
            model: self.models.get(&account.id),
            trending: &self.trending,
            sent: self.sent.get(&account.id),
            dismissed: self.dismissed.get(&account.id),
        }
    }
}

/// The outbox message of a planned digest: one per account and period (the dedupe key), with a
/// `Message-ID` derived from the key, and the papers it sends.
fn to_message(account: &Account, planned: &PlannedDigest, options: &BuildOptions) -> NewMessage {
    let key = period_key(account, options.date);
    NewMessage {
        account_id: account.id,
        kind: "digest".into(),
        message_id: format!("<{}@{}>", key.replace(':', "."), options.host),
        dedupe_key: key,
        recipient: account.email.clone(),
        payload: MailPayload::Digest(planned.digest.clone()).to_json(),
        papers: planned.digest.papers().collect(),
    }
}

/// How the window's papers score for one subscriber, and the evidence the reasons are made of.
#[derive(Default)]
struct Scores {
    /// Paper -> its best score.
    score: HashMap<u32, f32>,
    /// Paper -> the position of the followed author among its authors.
    by_author: HashMap<u32, u16>,
    /// Paper -> (the library model's probability, the nearest library paper).
    library: HashMap<u32, (f32, usize)>,
}

impl Scores {
    /// A paper takes its best score.
    fn bump(&mut self, paper: u32, value: f32) {
        let entry = self.score.entry(paper).or_insert(0.0);
        *entry = entry.max(value);
    }
}

/// One subscriber's digest: their papers of the window, scored and explained (never one sent
/// before, never one they are not interested in), then the trending section; `None` when there
/// is nothing and they want no empty digests.
fn build_one(account: &Account, since: NaiveDate, date: NaiveDate, inputs: &Inputs<'_>) -> Option<PlannedDigest> {
    let prefs = &account.preferences;
    let was_sent =
        |id: &ArxivId| inputs.sent.is_some_and(|s| s.contains(id)) || inputs.dismissed.is_some_and(|d| d.contains(id));
    let scores = score_papers(prefs, inputs);
    let mut ranked: Vec<(u32, f32)> = scores
        .score
        .iter()
        .map(|(p, s)| (*p, *s))
        .filter(|(paper, _)| !was_sent(&inputs.pool.papers[*paper as usize].id))
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.truncate(prefs.max_papers as usize);
    let items: Vec<DigestEntry> = ranked
        .into_iter()
        .map(|(paper, score)| DigestEntry {
            paper: inputs.pool.papers[paper as usize].id,
            score: round3(score),
            reasons: reasons(paper, prefs, inputs, &scores),
        })
        .collect();
    let in_items: HashSet<ArxivId> = items.iter().map(|e| e.paper).collect();
    let trending: Vec<DigestEntry> = inputs
        .trending
        .iter()
        .filter(|t| !was_sent(&t.paper.id) && !in_items.contains(&t.paper.id))
        .take(prefs.trending as usize)
        .map(|t| DigestEntry {
            paper: t.paper.id,
            score: round3(t.score as f32),
            reasons: vec![Reason::Trending { upvotes: t.upvotes, stars: t.github_stars }],
        })
        .collect();
    if items.is_empty() && trending.is_empty() && !prefs.send_empty {
        return None;
    }
    Some(PlannedDigest {
        account_id: account.id,
        recipient: account.email.redacted(),
        digest: DigestPayload { date, cadence: prefs.cadence, since: since.min(inputs.pool.since), items, trending },
    })
}

/// Scores the window's papers for one subscriber (see ARCHITECTURE.md for the weights): saved
/// searches, followed categories, followed authors, the library model.
fn score_papers(prefs: &paperboy_domain::Preferences, inputs: &Inputs<'_>) -> Scores {
    let pool = inputs.pool;
    let mut scores = Scores::default();
    for (_, matches) in &inputs.matches {
        for &(paper, strength, _, _) in &matches.hits {
            scores.bump(paper, strength);
        }
    }
    for category in &prefs.categories {
        for &paper in pool.by_category.get(category).map(Vec::as_slice).unwrap_or(&[]) {
            scores.bump(paper, 0.5 + 0.5 * pool.trend[paper as usize]);
        }
    }
    for key in prefs.authors.iter().map(|a| author_key(a)) {
        let Some(surname) = key.rsplit(' ').next() else { continue };
        for (author, paper, position) in pool.by_surname.get(surname).map(Vec::as_slice).unwrap_or(&[]) {
            if author_matches(&key, author) {
                scores.bump(*paper, 3.0);
                scores.by_author.entry(*paper).or_insert(*position);
            }
        }
    }
    let Some(model) = inputs.model else { return scores };
    let d = pool.dimension;
    for paper in 0..pool.papers.len() as u32 {
        let Some(vector) = pool.vector(paper) else { continue };
        let probability = sigmoid(dot(&model.weights[..d], vector) + model.weights[d]);
        if probability < model.weights[d + 1]
            || model.library.iter().any(|(id, _)| *id == pool.papers[paper as usize].id)
        {
            continue;
        }
        let (nearest, _) = model
            .library
            .iter()
            .enumerate()
            .map(|(i, (_, v))| (i, dot(v, vector)))
            .fold((0, f32::MIN), |best, (i, s)| if s > best.1 { (i, s) } else { best });
        scores.bump(paper, 1.0 + probability);
        scores.library.insert(paper, (probability, nearest));
    }
    scores
}

/// Why a paper is in the digest, strongest first: the followed author, the saved searches (with
/// the words it matched, or its similarity), the library paper it is like, the categories.
fn reasons(paper: u32, prefs: &paperboy_domain::Preferences, inputs: &Inputs<'_>, scores: &Scores) -> Vec<Reason> {
    let pool = inputs.pool;
    let p = &pool.papers[paper as usize];
    let mut reasons = Vec::new();
    if let Some(&position) = scores.by_author.get(&paper) {
        reasons.push(Reason::Author { name: p.authors[position as usize].clone() });
    }
    for (search, matches) in &inputs.matches {
        if let Ok(at) = matches.hits.binary_search_by_key(&paper, |h| h.0) {
            let (_, _, similarity, by_words) = matches.hits[at];
            let terms = if by_words { pool.matched_terms(matches, paper) } else { Vec::new() };
            reasons.push(Reason::Search { query: (*search).clone(), terms, similarity });
        }
    }
    if let (Some(&(probability, nearest)), Some(model)) = (scores.library.get(&paper), inputs.model) {
        let like = model.library[nearest].0;
        let title = model.titles.get(&like).cloned().unwrap_or_default();
        let seed = model.seeds.contains(&like);
        reasons.push(Reason::Library { like: like.to_string(), title, score: round3(probability), seed });
    }
    for category in prefs.categories.iter().filter(|c| p.categories.contains(c)) {
        reasons.push(Reason::Category { category: category.to_string() });
    }
    reasons
}

fn round3(value: f32) -> f32 {
    (value * 1000.0).round() / 1000.0
}

fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

/// The probability that `share` of `papers` (random, not trained on) score below.
fn calibrate(weights: &[f32], papers: &[&[f32]], share: f32) -> f32 {
    let d = weights.len() - 1;
    let mut scores: Vec<f32> = papers.iter().map(|v| sigmoid(dot(&weights[..d], v) + weights[d])).collect();
    if scores.is_empty() {
        return 0.5;
    }
    scores.sort_by(f32::total_cmp);
    let at = ((scores.len() as f32 * share).ceil() as usize).clamp(1, scores.len()) - 1;
    scores[at]
}

/// L2-regularised logistic regression, library papers (1) against random papers (0), the two
/// classes weighted to count equally, plus the papers the person said they are not interested in
/// (0), each weighing as much as one library paper; full-batch gradient descent. Returns the
/// weights, the bias last.
pub(crate) fn train_logistic(positives: &[&[f32]], negatives: &[&[f32]], dismissed: &[&[f32]]) -> Vec<f32> {
    let d = positives.first().or(negatives.first()).map_or(0, |v| v.len());
    let mut weights = vec![0.0f32; d + 1];
    let (wp, wn) = (0.5 / positives.len().max(1) as f32, 0.5 / negatives.len().max(1) as f32);
    const RATE: f32 = 4.0;
    const L2: f32 = 1e-3;
    let mut gradient = vec![0.0f32; d + 1];
    for _ in 0..200 {
        gradient.iter_mut().for_each(|g| *g = 0.0);
        for (vectors, label, weight) in [(positives, 1.0f32, wp), (negatives, 0.0, wn), (dismissed, 0.0, wp)] {
            for x in vectors.iter() {
                let error = (sigmoid(dot(&weights[..d], x) + weights[d]) - label) * weight;
                for (g, xi) in gradient[..d].iter_mut().zip(x.iter()) {
                    *g += error * xi;
                }
                gradient[d] += error;
            }
        }
        for (i, w) in weights.iter_mut().enumerate() {
            let decay = if i < d { L2 * *w } else { 0.0 };
            *w -= RATE * (gradient[i] + decay);
        }
    }
    weights
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: [f32; 3]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    fn refs(vs: &[Vec<f32>]) -> Vec<&[f32]> {
        vs.iter().map(Vec::as_slice).collect()
    }

    #[test]
    fn a_paper_the_person_is_not_interested_in_pulls_the_model_away_from_it() {
        // Wanted: around x. Random: spread. Dismissed: near x, a little towards z.
        let positives = [unit([1.0, 0.1, 0.2]), unit([1.0, -0.1, 0.2]), unit([1.0, 0.0, 0.3])];
        let random = [unit([0.0, 1.0, 0.0]), unit([0.0, -1.0, 0.1]), unit([-1.0, 0.0, 0.0]), unit([0.1, 0.2, -1.0])];
        let dismissed = [unit([0.9, 0.0, 0.6])];
        let score = |weights: &[f32], v: &[f32]| sigmoid(dot(&weights[..3], v) + weights[3]);
        let without = train_logistic(&refs(&positives), &refs(&random), &[]);
        let with = train_logistic(&refs(&positives), &refs(&random), &refs(&dismissed));
        let (before, after) = (score(&without, &dismissed[0]), score(&with, &dismissed[0]));
        assert!(after < before - 0.05, "the dismissed paper scores {before} without the feedback, {after} with it");
        // The papers wanted still score high.
        assert!(
            positives.iter().all(|p| score(&with, p) > 0.5),
            "{:?}",
            positives.iter().map(|p| score(&with, p)).collect::<Vec<_>>()
        );
    }
}
