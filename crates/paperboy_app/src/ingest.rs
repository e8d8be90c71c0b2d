//! Ingest: records from a source go to the store in batches (each one transaction), and every new
//! or changed paper goes to the full-text index. Bad records are counted and reported with their
//! position; the rest of the batch goes on.

/// The sources' settings, for the CLI (which reaches the sources only through here).
pub use paperboy_arxiv::{
    Politeness,
    api::{ApiQuery, DEFAULT_ENDPOINT as API_ENDPOINT},
    oai::{DEFAULT_ENDPOINT as OAI_ENDPOINT, HarvestRequest, MetadataFormat},
};
use std::{
    path::{Path, PathBuf},
    sync::mpsc,
    thread,
    time::{Instant, SystemTime},
};

use chrono::{DateTime, NaiveDate, Utc};
use paperboy_arxiv::{Error as SourceError, RecordError, api::ApiClient, hf, jsonl::JsonlReader, oai::Harvester};
use paperboy_domain::Paper;
use paperboy_search::FullTextWriter;
use paperboy_store::{CheckpointUpdate, PaperSource, UpsertOutcome, WriteBatch};
use serde::{Deserialize, Serialize};

use crate::{Error, INDEX_HEAP_BYTES, Library, NoProgress, Progress, Result, index_paper};

/// Papers per store transaction.
const BATCH_SIZE: usize = 2_000;
/// Index commits during long ingests, so a crash re-indexes at most this many papers.
const COMMIT_EVERY: u64 = 200_000;
/// How many skipped records are listed by position (all are counted).
const MAX_LISTED_SKIPS: usize = 100;

/// What an ingest did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestSummary {
    /// The source, e.g. `jsonl` or `oai`.
    pub source: String,
    /// Records read, good and bad.
    pub read: u64,
    /// Papers stored for the first time.
    pub new: u64,
    /// Papers whose stored metadata changed.
    pub updated: u64,
    /// Papers already stored as they are.
    pub unchanged: u64,
    /// Records skipped.
    pub skipped: u64,
    /// The first skipped records, with position and reason.
    pub skipped_records: Vec<RecordError>,
    /// Signal records stored for the first time.
    pub signals_new: u64,
    /// Signal records changed.
    pub signals_updated: u64,
    /// Signal records already stored as they are.
    pub signals_unchanged: u64,
    /// Records the repository reports deleted (OAI-PMH).
    pub deleted: u64,
    /// Pages fetched (OAI-PMH, the API).
    pub pages: u64,
    /// Files that could not be read at all, or stopped early.
    pub failed_files: Vec<String>,
    /// Set when a harvest resumed from a checkpoint.
    pub resumed: Option<String>,
    /// Wall-clock seconds.
    pub elapsed_s: f64,
}

impl IngestSummary {
    fn new(source: &str) -> IngestSummary {
        IngestSummary { source: source.to_owned(), ..IngestSummary::default() }
    }

    /// Records read per second.
    pub fn records_per_second(&self) -> f64 {
        if self.elapsed_s > 0.0 { self.read as f64 / self.elapsed_s } else { 0.0 }
    }

    fn skip(&mut self, error: RecordError) {
        self.skipped += 1;
        if self.skipped_records.len() < MAX_LISTED_SKIPS {
            self.skipped_records.push(error);
        }
    }
}

/// A source failed part-way; what was stored before stays stored.
#[derive(Debug, thiserror::Error)]
#[error("{cause}")]
pub struct Interrupted {
    /// What was done before the failure.
    pub summary: Box<IngestSummary>,
    /// The failure.
    pub cause: Box<Error>,
}

/// Where every source's records end up: store, then index.
struct Sink<'a> {
    library: &'a Library,
    writer: FullTextWriter,
    summary: IngestSummary,
    indexed_since_commit: u64,
    max_seq: i64,
    started: Instant,
}

impl<'a> Sink<'a> {
    fn new(library: &'a Library, source: &str) -> Result<Sink<'a>> {
        let writer = library.index.writer(INDEX_HEAP_BYTES)?;
        let max_seq = library.index.indexed_seq()?;
        Ok(Sink {
            library,
            writer,
            summary: IngestSummary::new(source),
            indexed_since_commit: 0,
            max_seq,
            started: Instant::now(),
        })
    }

    fn write(&mut self, batch: WriteBatch) -> Result<()> {
        let outcome = self.library.store.apply(batch)?;
        crate::metrics::papers_ingested(
            outcome.papers.iter().filter(|u| !matches!(u, UpsertOutcome::Unchanged)).count() as u64,
        );
        for upserted in &outcome.papers {
            match upserted {
                UpsertOutcome::New => self.summary.new += 1,
                UpsertOutcome::Updated => self.summary.updated += 1,
                UpsertOutcome::Unchanged => self.summary.unchanged += 1,
            }
        }
        for upserted in &outcome.signals {
            match upserted {
                UpsertOutcome::New => self.summary.signals_new += 1,
                UpsertOutcome::Updated => self.summary.signals_updated += 1,
                UpsertOutcome::Unchanged => self.summary.signals_unchanged += 1,
            }
        }
        let first = outcome.changed.iter().map(|(_, stored)| stored.seq).min();
        if first.is_some_and(|first| first > self.max_seq + 1) {
            // Another process wrote between this index's last change and this batch (a node, a
            // CLI job): index everything from there, this batch included, so nothing is skipped
            // when the index records this batch's sequence number.
            let (_, last) = self.library.index_changes(&mut self.writer, self.max_seq, &NoProgress, false)?;
            self.max_seq = self.max_seq.max(last);
        } else {
            for (upserted, stored) in &outcome.changed {
                // A paper new to the store cannot be in the index (it is derived from the store).
                index_paper(&mut self.writer, &stored.paper, *upserted == UpsertOutcome::Updated)?;
                self.max_seq = self.max_seq.max(stored.seq);
            }
        }
        self.indexed_since_commit += outcome.changed.len() as u64;
        if self.indexed_since_commit >= COMMIT_EVERY {
            self.writer.commit(self.max_seq)?;
            self.indexed_since_commit = 0;
        }
        Ok(())
    }

    fn papers(&mut self, records: Vec<std::result::Result<Paper, RecordError>>) -> Result<()> {
        let mut papers = Vec::with_capacity(records.len());
        for record in records {
            self.summary.read += 1;
            match record {
                Ok(paper) => papers.push(paper),
                Err(error) => self.summary.skip(error),
            }
        }
        if !papers.is_empty() {
            self.write(WriteBatch::papers(papers))?;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<IngestSummary> {
        self.writer.commit(self.max_seq)?;
        self.writer.finish()?;
        self.library.index.reload()?;
        self.summary.elapsed_s = self.started.elapsed().as_secs_f64();
        Ok(self.summary)
    }
}

/// Runs `body` against a sink, commits the index whatever happens, and reports a failure together
/// with what was done before it.
fn with_sink(
    library: &Library,
    source: &str,
    body: impl FnOnce(&mut Sink<'_>) -> Result<()>,
) -> std::result::Result<IngestSummary, Interrupted> {
    let _guard = library.write_lock();
    let mut sink = match Sink::new(library, source) {
        Ok(sink) => sink,
        Err(cause) => {
            return Err(Interrupted { summary: Box::new(IngestSummary::new(source)), cause: Box::new(cause) });
        }
    };
    let outcome = body(&mut sink);
    let summary = sink.finish();
    match (outcome, summary) {
        (Ok(()), Ok(summary)) => Ok(summary),
        (Err(cause), Ok(summary)) => Err(Interrupted { summary: Box::new(summary), cause: Box::new(cause) }),
        (_, Err(cause)) => Err(Interrupted { summary: Box::new(IngestSummary::new(source)), cause: Box::new(cause) }),
    }
}

enum Chunk {
    Records(Vec<std::result::Result<Paper, RecordError>>, u64),
    FileFailed(String),
}

/// Ingests JSON Lines files (plain or gzip; Kaggle snapshot or daily-listing format). Parsing runs
/// on its own thread while the store and the index take the previous batch.
pub fn ingest_jsonl(
    library: &Library,
    files: &[PathBuf],
    progress: &dyn Progress,
) -> std::result::Result<IngestSummary, Interrupted> {
    let total_bytes: u64 = files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum();
    progress.start("ingesting", Some(total_bytes), "bytes");
    let result = with_sink(library, "jsonl", |sink| {
        let (sender, receiver) = mpsc::sync_channel::<Chunk>(4);
        let files = files.to_vec();
        let parser = thread::spawn(move || parse_files(&files, &sender));
        for chunk in receiver {
            match chunk {
                Chunk::Records(records, bytes_done) => {
                    sink.papers(records)?;
                    progress.set_position(bytes_done);
                }
                Chunk::FileFailed(message) => {
                    progress.note(&message);
                    sink.summary.failed_files.push(message);
                }
            }
        }
        parser.join().map_err(|_| Error::Internal("the parser thread panicked".into()))?;
        Ok(())
    });
    finish_progress(progress, &result);
    result
}

fn parse_files(files: &[PathBuf], sender: &mpsc::SyncSender<Chunk>) {
    let mut bytes_before = 0;
    for path in files {
        let reader = match JsonlReader::open(path) {
            Ok(reader) => reader,
            Err(err) => {
                if sender.send(Chunk::FileFailed(err.to_string())).is_err() {
                    return;
                }
                continue;
            }
        };
        let mut reader = reader;
        let mut records = Vec::with_capacity(BATCH_SIZE);
        let mut stopped = None;
        while let Some(record) = reader.next() {
            if let Err(error) = &record
                && error.fatal
            {
                stopped = Some(error.to_string());
            }
            records.push(record);
            if records.len() == BATCH_SIZE {
                let batch = std::mem::replace(&mut records, Vec::with_capacity(BATCH_SIZE));
                if sender.send(Chunk::Records(batch, bytes_before + reader.bytes_read())).is_err() {
                    return;
                }
            }
        }
        bytes_before += reader.bytes_read();
        if !records.is_empty() && sender.send(Chunk::Records(records, bytes_before)).is_err() {
            return;
        }
        if let Some(message) = stopped
            && sender.send(Chunk::FileFailed(message)).is_err()
        {
            return;
        }
    }
}

fn finish_progress(progress: &dyn Progress, result: &std::result::Result<IngestSummary, Interrupted>) {
    match result {
        Ok(summary) => progress.finish(&format!("{} records in {:.1} s", summary.read, summary.elapsed_s)),
        Err(interrupted) => progress.finish(&format!("stopped: {}", interrupted.cause)),
    }
}

/// Where a harvest resumes: stored with each page, in the same transaction.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct HarvestState {
    token: Option<String>,
    pages_done: u32,
    max_datestamp: Option<NaiveDate>,
}

fn checkpoint_key(request: &HarvestRequest) -> String {
    format!(
        "oai {} {} set={} from={} until={}",
        request.endpoint,
        request.format.prefix(),
        request.set.as_deref().unwrap_or("-"),
        request.from,
        request.until.map_or_else(|| "-".to_owned(), |d| d.to_string())
    )
}

/// Options of an OAI-PMH harvest.
#[derive(Debug, Clone)]
pub struct OaiOptions {
    /// What to harvest.
    pub request: HarvestRequest,
    /// How politely.
    pub politeness: Politeness,
    /// Stop after this many pages (the checkpoint stays, so the next run resumes).
    pub max_pages: Option<u32>,
}

/// Harvests OAI-PMH `ListRecords` page by page. Each page is stored together with the resumption
/// token for the next one, so a harvest killed at any moment resumes where it stopped. An expired
/// token on resume restarts from the newest datestamp already stored.
pub fn ingest_oai(
    library: &Library,
    options: &OaiOptions,
    progress: &dyn Progress,
) -> std::result::Result<IngestSummary, Interrupted> {
    let key = checkpoint_key(&options.request);
    let result = with_sink(library, "oai", |sink| {
        let harvester = Harvester::new(options.politeness)?;
        let mut request = options.request.clone();
        let mut state = match library.store.checkpoint(&key)? {
            Some(json) => {
                let state: HarvestState = serde_json::from_str(&json)
                    .map_err(|e| Error::Corrupt(format!("unreadable harvest checkpoint: {e}")))?;
                let note = format!("resuming the harvest after page {}", state.pages_done);
                progress.note(&note);
                sink.summary.resumed = Some(note);
                state
            }
            None => HarvestState { token: None, pages_done: 0, max_datestamp: None },
        };
        let mut fresh_token = false;
        progress.start("harvesting", None, "records");
        let mut pages_this_run = 0;
        loop {
            if options.max_pages.is_some_and(|max| pages_this_run >= max) {
                progress.note("stopping at --max-pages; run the command again to continue");
                return Ok(());
            }
            let page = match harvester.fetch_page(&request, state.token.as_deref(), state.pages_done + 1) {
                Ok(page) => page,
                Err(SourceError::Oai { code, .. })
                    if code == "badResumptionToken" && state.token.is_some() && !fresh_token =>
                {
                    // The stored token expired while we were away: start again from the newest
                    // datestamp stored. Records seen twice are unchanged, so nothing is duplicated.
                    let from = state.max_datestamp.unwrap_or(request.from).max(request.from);
                    progress.note(&format!("the resumption token expired; restarting the harvest from {from}"));
                    request.from = from;
                    state.token = None;
                    continue;
                }
                Err(err) => return Err(err.into()),
            };
            fresh_token = true;
            pages_this_run += 1;
            sink.summary.pages += 1;
            sink.summary.deleted += page.deleted.len() as u64;
            let n = page.records.len() as u64;
            state.pages_done += 1;
            state.token = page.resumption_token.clone();
            state.max_datestamp = state.max_datestamp.max(page.max_datestamp);
            let checkpoint = match &state.token {
                Some(_) => CheckpointUpdate::Set {
                    key: key.clone(),
                    value: serde_json::to_string(&state).expect("state serialises"),
                },
                None => CheckpointUpdate::Clear { key: key.clone() },
            };
            let mut papers = Vec::with_capacity(page.records.len());
            for record in page.records {
                sink.summary.read += 1;
                match record {
                    Ok(paper) => papers.push(paper),
                    Err(error) => sink.summary.skip(error),
                }
            }
            sink.write(WriteBatch { checkpoint: Some(checkpoint), ..WriteBatch::papers(papers) })?;
            progress.advance(n);
            if state.token.is_none() {
                return Ok(());
            }
        }
    });
    finish_progress(progress, &result);
    result
}

/// Looks papers up in the arXiv API, by id or by query.
pub fn ingest_arxiv_api(
    library: &Library,
    endpoint: &str,
    query: &ApiQuery,
    politeness: Politeness,
    progress: &dyn Progress,
) -> std::result::Result<IngestSummary, Interrupted> {
    let total = match query {
        ApiQuery::Ids(ids) => ids.len() as u64,
        ApiQuery::Search { max_results, .. } => *max_results as u64,
    };
    progress.start("fetching", Some(total), "papers");
    let result = with_sink(library, "arxiv-api", |sink| {
        let client = ApiClient::new(endpoint, politeness, 100)?;
        let mut failure = None;
        client
            .fetch(query, |feed| {
                sink.summary.pages += 1;
                let n = feed.entries.len() as u64;
                if let Err(err) = sink.papers(feed.entries) {
                    failure = Some(err);
                    return Err(SourceError::Malformed("stopped".into()));
                }
                progress.advance(n);
                Ok(())
            })
            // A store failure inside the callback is the real cause, not the "stopped" it returned.
            .map_err(|err| failure.take().unwrap_or_else(|| err.into()))
    });
    finish_progress(progress, &result);
    result
}

/// Ingests Hugging Face daily papers files: signals for every paper, and the paper's metadata for
/// papers arXiv has not given us yet.
pub fn ingest_hf_daily(
    library: &Library,
    files: &[PathBuf],
    progress: &dyn Progress,
) -> std::result::Result<IngestSummary, Interrupted> {
    progress.start("ingesting", Some(files.len() as u64), "files");
    let result = with_sink(library, "hf-daily", |sink| {
        for path in files {
            let observed_at = file_time(path);
            let records = match hf::read_file(path, observed_at) {
                Ok(records) => records,
                Err(err) => {
                    progress.note(&err.to_string());
                    sink.summary.failed_files.push(err.to_string());
                    continue;
                }
            };
            for chunk in records.chunks(BATCH_SIZE) {
                let mut papers = Vec::new();
                let mut signals = Vec::new();
                for record in chunk {
                    sink.summary.read += 1;
                    match record {
                        Ok(record) => {
                            signals.push(record.signals.clone());
                            papers.extend(record.paper.clone());
                        }
                        Err(error) => sink.summary.skip(error.clone()),
                    }
                }
                sink.write(WriteBatch { papers, paper_source: PaperSource::Secondary, signals, checkpoint: None })?;
            }
            progress.advance(1);
        }
        Ok(())
    });
    finish_progress(progress, &result);
    result
}

/// When a file was last written: the observation time of counts in files that do not carry one,
/// stable across re-ingests of the same file.
fn file_time(path: &Path) -> DateTime<Utc> {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map(DateTime::<Utc>::from)
        .unwrap_or_else(|_| DateTime::<Utc>::from(SystemTime::UNIX_EPOCH))
}
