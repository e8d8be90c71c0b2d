//! What each account saved and upvoted, and how it steered its recommendations ("not interested",
//! "more like this"). Local upvotes are also a signal of the paper (source `local`), which
//! trending counts.

use chrono::{DateTime, Utc};
use paperboy_domain::{AccountId, ArxivId};
use serde::Serialize;

use crate::{Error, Result};

/// How a person steered their recommendations about one paper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackKind {
    /// Never recommend it again, and recommend less like it.
    NotInterested,
    /// Recommend more like it (a seed of the library model, without saving it).
    MoreLikeThis,
}

impl FeedbackKind {
    /// Both kinds.
    pub const ALL: [FeedbackKind; 2] = [FeedbackKind::NotInterested, FeedbackKind::MoreLikeThis];

    /// Its name in the store and in forms: `not_interested`, `more_like_this`.
    pub fn as_str(self) -> &'static str {
        match self {
            FeedbackKind::NotInterested => "not_interested",
            FeedbackKind::MoreLikeThis => "more_like_this",
        }
    }

    /// The kind a name stands for.
    pub fn parse(text: &str) -> Option<FeedbackKind> {
        FeedbackKind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// The kind a stored name stands for; an unknown name is damage, not a default.
    pub(crate) fn from_stored(text: &str) -> Result<FeedbackKind> {
        FeedbackKind::parse(text).ok_or_else(|| Error::Corrupt(format!("unknown feedback kind {text:?}")))
    }
}

/// One paper a person steered their recommendations with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PaperFeedback {
    /// The paper.
    pub paper_id: ArxivId,
    /// What they said of it.
    pub kind: FeedbackKind,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A paper in an account's library.
#[derive(Debug, Clone, Serialize)]
pub struct SavedPaper {
    /// The paper.
    pub paper_id: ArxivId,
    /// The account's tags for it.
    pub tags: Vec<String>,
    /// When it was saved.
    pub saved_at: DateTime<Utc>,
}

/// Libraries and upvotes.
pub trait LibraryStore: Send + Sync {
    /// Saves (or re-tags) a paper in an account's library.
    fn save_paper(&self, account: AccountId, paper: ArxivId, tags: &[String], now: DateTime<Utc>) -> Result<()>;
    /// Removes a paper from an account's library.
    fn unsave_paper(&self, account: AccountId, paper: ArxivId) -> Result<bool>;
    /// An account's library, newest first.
    fn library(&self, account: AccountId) -> Result<Vec<SavedPaper>>;
    /// Upvotes a paper once per account; updates the paper's local upvote count. Returns whether
    /// the upvote is new.
    fn upvote(&self, account: AccountId, paper: ArxivId, now: DateTime<Utc>) -> Result<bool>;
    /// Takes an upvote back.
    fn remove_upvote(&self, account: AccountId, paper: ArxivId, now: DateTime<Utc>) -> Result<bool>;
    /// Every upvote of an account, newest first.
    fn upvotes_of(&self, account: AccountId) -> Result<Vec<(ArxivId, DateTime<Utc>)>>;
    /// Which of these papers the account upvoted.
    fn upvoted(&self, account: AccountId, papers: &[ArxivId]) -> Result<Vec<ArxivId>>;

    /// Records what an account says of a paper, replacing what it said before.
    fn set_feedback(&self, account: AccountId, paper: ArxivId, kind: FeedbackKind, now: DateTime<Utc>) -> Result<()>;
    /// Takes back what an account said of a paper. Returns whether it had said anything.
    fn remove_feedback(&self, account: AccountId, paper: ArxivId) -> Result<bool>;
    /// Everything an account said of papers, newest first.
    fn feedback(&self, account: AccountId) -> Result<Vec<PaperFeedback>>;
    /// What any account said of these papers (the digests of a window read it once).
    fn feedback_on(&self, papers: &[ArxivId]) -> Result<Vec<(AccountId, ArxivId, FeedbackKind)>>;
}
