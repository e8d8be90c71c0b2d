//! Papers, their versions, community signals and harvest checkpoints: what the source of truth
//! holds about the literature, and the sequence numbers derived indexes follow.

use chrono::{DateTime, NaiveDate, Utc};
use paperboy_domain::{ArxivId, Paper, Signals};
use serde::Serialize;

use crate::{Error, Result};

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

/// What storing an incoming record must do, given what is stored: the rules every backend shares.
#[derive(Debug)]
pub(crate) enum Upsert {
    /// Not stored before: insert it.
    Insert(Paper, PaperSource),
    /// Stored, and the merge changed it: replace it (keeping when it was first stored).
    Replace(Paper, PaperSource),
    /// Nothing to write.
    Unchanged,
}

/// Newest version wins; an older record only adds the versions it knows; a secondary source never
/// overwrites arXiv's record; a record whose merge changes nothing is [`Upsert::Unchanged`].
pub(crate) fn plan_upsert(incoming: Paper, source: PaperSource, stored: Option<&StoredPaper>) -> Upsert {
    let Some(stored) = stored else { return Upsert::Insert(incoming, source) };
    if (source, stored.source) == (PaperSource::Secondary, PaperSource::Arxiv) {
        return Upsert::Unchanged;
    }
    let incoming_is_older = matches!((incoming.version, stored.paper.version), (Some(new), Some(old)) if new < old);
    let merged = if incoming_is_older {
        let mut merged = stored.paper.clone();
        merged.merge_older(&incoming);
        merged
    } else {
        let mut merged = incoming;
        merged.merge_older(&stored.paper);
        merged
    };
    let merged_source = if source == PaperSource::Arxiv { PaperSource::Arxiv } else { stored.source };
    if content_hash(&merged) == content_hash(&stored.paper) && merged_source == stored.source {
        return Upsert::Unchanged;
    }
    Upsert::Replace(merged, merged_source)
}

/// A hash of everything stored about a paper, to tell a changed record from a repeated one.
pub(crate) fn content_hash(paper: &Paper) -> i64 {
    let bytes = serde_json::to_vec(paper).expect("a paper always serialises");
    xxhash_rust::xxh3::xxh3_64(&bytes) as i64
}

/// The signals to store for an incoming record, given the stored one; `None` when nothing changes.
/// The earliest day a paper was featured stays; the newest observation of the counts wins.
pub(crate) fn merge_signals(incoming: &Signals, stored: Option<&Signals>) -> Option<(Signals, UpsertOutcome)> {
    let Some(stored) = stored else { return Some((incoming.clone(), UpsertOutcome::New)) };
    let mut merged = incoming.clone();
    merged.featured_on = match (merged.featured_on, stored.featured_on) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    if stored.observed_at > merged.observed_at {
        merged.upvotes = stored.upvotes;
        merged.comments = stored.comments;
        merged.github_repo.clone_from(&stored.github_repo);
        merged.github_stars = stored.github_stars;
        merged.observed_at = stored.observed_at;
    } else {
        merged.github_repo = merged.github_repo.or_else(|| stored.github_repo.clone());
        merged.github_stars = merged.github_stars.or(stored.github_stars);
    }
    (merged != *stored).then_some((merged, UpsertOutcome::Updated))
}

impl PaperSource {
    /// The stored name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            PaperSource::Arxiv => "arxiv",
            PaperSource::Secondary => "secondary",
        }
    }

    pub(crate) fn from_stored(text: &str) -> Result<PaperSource> {
        match text {
            "arxiv" => Ok(PaperSource::Arxiv),
            "secondary" => Ok(PaperSource::Secondary),
            other => Err(Error::Corrupt(format!("unknown paper source {other:?}"))),
        }
    }
}

/// A paper row's columns once read, whatever the backend: decoded into a [`StoredPaper`] by one
/// function, so that both backends read papers the same way.
pub(crate) struct PaperRow {
    pub(crate) id: String,
    pub(crate) seq: i64,
    pub(crate) source: String,
    pub(crate) version: Option<i64>,
    /// JSON: `[{"number","submitted","size"}]`.
    pub(crate) versions: String,
    pub(crate) title: String,
    pub(crate) abstract_text: String,
    /// JSON: an array of names.
    pub(crate) authors: String,
    /// Space-separated, primary first.
    pub(crate) categories: String,
    pub(crate) submitted: Option<DateTime<Utc>>,
    pub(crate) updated: Option<DateTime<Utc>>,
    pub(crate) announced: Option<NaiveDate>,
    pub(crate) comments: Option<String>,
    pub(crate) journal_ref: Option<String>,
    pub(crate) doi: Option<String>,
    pub(crate) license: Option<String>,
    pub(crate) first_stored: DateTime<Utc>,
    pub(crate) last_changed: DateTime<Utc>,
}

impl PaperRow {
    pub(crate) fn decode(self) -> Result<StoredPaper> {
        let corrupt = |what: &str, detail: String| Error::Corrupt(format!("paper {}: {what}: {detail}", self.id));
        let id = ArxivId::parse(&self.id).map_err(|e| Error::Corrupt(e.to_string()))?;
        let versions: Vec<paperboy_domain::Version> =
            serde_json::from_str(&self.versions).map_err(|e| corrupt("versions", e.to_string()))?;
        let authors: Vec<String> =
            serde_json::from_str(&self.authors).map_err(|e| corrupt("authors", e.to_string()))?;
        let categories = self
            .categories
            .split_whitespace()
            .map(|c| paperboy_domain::Category::parse(c).map_err(|e| corrupt("categories", e.to_string())))
            .collect::<Result<Vec<_>>>()?;
        let version =
            self.version.map(|v| u16::try_from(v).map_err(|_| corrupt("version", v.to_string()))).transpose()?;
        let paper = Paper {
            id,
            version,
            versions,
            title: self.title,
            abstract_text: self.abstract_text,
            authors,
            categories,
            submitted: self.submitted,
            updated: self.updated,
            announced: self.announced,
            comments: self.comments,
            journal_ref: self.journal_ref,
            doi: self.doi,
            license: self.license,
        };
        Ok(StoredPaper {
            paper,
            seq: self.seq,
            source: PaperSource::from_stored(&self.source)?,
            first_stored: self.first_stored,
            last_changed: self.last_changed,
        })
    }
}

/// A paper's columns as written, whatever the backend.
pub(crate) struct PaperColumns {
    pub(crate) id: String,
    pub(crate) source: &'static str,
    pub(crate) versions: String,
    pub(crate) authors: String,
    pub(crate) categories: String,
    pub(crate) content_hash: i64,
}

impl PaperColumns {
    pub(crate) fn of(paper: &Paper, source: PaperSource) -> PaperColumns {
        PaperColumns {
            id: paper.id.to_string(),
            source: source.as_str(),
            versions: serde_json::to_string(&paper.versions).expect("versions serialise"),
            authors: serde_json::to_string(&paper.authors).expect("authors serialise"),
            categories: paper.categories.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(" "),
            content_hash: content_hash(paper),
        }
    }
}
