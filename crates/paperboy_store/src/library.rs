//! What each account saved and upvoted. Local upvotes are also a signal of the paper (source
//! `local`), which trending counts.

use chrono::{DateTime, Utc};
use paperboy_domain::{AccountId, ArxivId};
use serde::Serialize;

use crate::Result;

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
}
