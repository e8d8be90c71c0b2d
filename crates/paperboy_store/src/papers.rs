//! Papers, their versions, community signals and harvest checkpoints: what the source of truth
//! holds about the literature, and the sequence numbers derived indexes follow.

use chrono::{DateTime, NaiveDate, Utc};
use paperboy_domain::{ArxivId, Paper, Signals};
use serde::Serialize;

use crate::Result;

/// Where a paper's metadata came from, which decides what may overwrite what.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PaperSource {
    /// arXiv itself (snapshots, listings, OAI-PMH, the API): the authority on metadata.
    Arxiv,
    /// A secondary source (Hugging Face): stored only until arXiv's record arrives, never over it.
    Secondary,
}

/// A paper as stored, with bookkeeping.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredPaper {
    /// The paper.
    #[serde(flatten)]
    pub paper: Paper,
    /// The sequence number of its last change.
    pub seq: i64,
    /// Where its metadata came from.
    pub source: PaperSource,
    /// When paperboy first stored it.
    pub first_stored: DateTime<Utc>,
    /// When its stored metadata last changed.
    pub last_changed: DateTime<Utc>,
}

/// What an upsert did to one paper or signal record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UpsertOutcome {
    /// It was not stored before.
    New,
    /// It was stored and its content changed.
    Updated,
    /// It was stored with the same content (or the record was older than what is stored).
    Unchanged,
}

/// A change to a harvest checkpoint, committed with the batch it describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointUpdate {
    /// Store `value` (opaque to the store) under `key`.
    Set {
        /// The harvest's key.
        key: String,
        /// Where to resume.
        value: String,
    },
    /// The harvest finished: forget its checkpoint.
    Clear {
        /// The harvest's key.
        key: String,
    },
}

/// One unit of work: everything in it is stored, or nothing is.
#[derive(Debug, Clone)]
pub struct WriteBatch {
    /// Papers to insert or update.
    pub papers: Vec<Paper>,
    /// Where those papers come from.
    pub paper_source: PaperSource,
    /// Signals to insert or update.
    pub signals: Vec<Signals>,
    /// A checkpoint to record with them.
    pub checkpoint: Option<CheckpointUpdate>,
}

impl WriteBatch {
    /// A batch of papers from arXiv.
    pub fn papers(papers: Vec<Paper>) -> WriteBatch {
        WriteBatch { papers, paper_source: PaperSource::Arxiv, signals: Vec::new(), checkpoint: None }
    }
}

/// What a [`WriteBatch`] did, item by item, in input order.
#[derive(Debug, Clone, Default)]
pub struct BatchOutcome {
    /// One outcome per paper.
    pub papers: Vec<UpsertOutcome>,
    /// The papers that are new or changed, as now stored (merged with what was there), in input
    /// order: what derived indexes must take in.
    pub changed: Vec<(UpsertOutcome, StoredPaper)>,
    /// One outcome per signal record.
    pub signals: Vec<UpsertOutcome>,
}

/// Counts for `paperboy stats`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StoreStats {
    /// Papers stored.
    pub papers: u64,
    /// Papers known only from a secondary source.
    pub secondary_papers: u64,
    /// Papers with at least one signal.
    pub papers_with_signals: u64,
    /// Signal records.
    pub signal_records: u64,
    /// The earliest announcement day stored.
    pub first_announced: Option<NaiveDate>,
    /// The latest announcement day stored.
    pub last_announced: Option<NaiveDate>,
    /// The highest sequence number.
    pub max_seq: i64,
    /// Harvests that have a checkpoint (unfinished).
    pub unfinished_harvests: u64,
    /// The database's size on disk, in bytes.
    pub bytes_on_disk: u64,
}

/// What paperboy needs of a store about papers. Implementations are safe to share between
/// threads; every method is one transaction.
pub trait PaperStore: Send + Sync {
    /// Applies a unit of work atomically.
    fn apply(&self, batch: WriteBatch) -> Result<BatchOutcome>;

    /// One paper by id (any version in `id` is ignored).
    fn paper(&self, id: ArxivId) -> Result<Option<StoredPaper>>;

    /// Several papers by id, in the order asked; unknown ids are left out.
    fn papers(&self, ids: &[ArxivId]) -> Result<Vec<StoredPaper>>;

    /// Papers changed after sequence number `after`, in sequence order, at most `limit`.
    fn changed_since(&self, after: i64, limit: usize) -> Result<Vec<StoredPaper>>;

    /// The highest sequence number (0 for an empty store).
    fn max_seq(&self) -> Result<i64>;

    /// How many papers are stored.
    fn count_papers(&self) -> Result<u64>;

    /// Every signal record of these papers.
    fn signals(&self, ids: &[ArxivId]) -> Result<Vec<Signals>>;

    /// A harvest's checkpoint.
    fn checkpoint(&self, key: &str) -> Result<Option<String>>;

    /// The papers arXiv announced on `day`, by id.
    fn papers_announced_on(&self, day: NaiveDate) -> Result<Vec<StoredPaper>>;

    /// The nearest announcement days before and after `day` that have papers.
    fn announcement_days_around(&self, day: NaiveDate) -> Result<(Option<NaiveDate>, Option<NaiveDate>)>;

    /// Every signal record of papers featured (or, without a featured day, observed) in
    /// `from ..= until`.
    fn signals_between(&self, from: NaiveDate, until: NaiveDate) -> Result<Vec<Signals>>;

    /// The latest day anything happened: the newest announcement or featured day.
    fn latest_day(&self) -> Result<Option<NaiveDate>>;
    /// The newest announcement day (an index lookup).
    fn last_announced(&self) -> Result<Option<NaiveDate>>;

    /// Counts for `paperboy stats`.
    fn stats(&self) -> Result<StoreStats>;
}
