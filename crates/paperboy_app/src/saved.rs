//! What readers keep: each account's library of saved papers (with tags), its upvotes, and what
//! it said of papers for its recommendations. Local upvotes count in trending like Hugging Face's.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use paperboy_domain::{AccountId, ArxivId, Paper};
use paperboy_store::{FeedbackKind, PaperFeedback, SavedPaper};
use serde::Serialize;

use crate::{Error, Library, Result};

/// The longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 40;
/// The most tags on one saved paper.
pub const MAX_TAGS: usize = 20;

/// A saved paper with its metadata, for the library page.
#[derive(Debug, Clone, Serialize)]
pub struct LibraryEntry {
    /// The saved paper.
    pub saved: SavedPaper,
    /// Its metadata (absent if the store lost the paper).
    pub paper: Option<Paper>,
}

/// A paper the account steered its recommendations with, with its metadata.
#[derive(Debug, Clone, Serialize)]
pub struct FeedbackEntry {
    /// What it said.
    pub feedback: PaperFeedback,
    /// The paper's metadata (absent if the store lost the paper).
    pub paper: Option<Paper>,
}

/// Tags as typed (comma-separated, repeated): trimmed, deduplicated, within the limits.
pub fn clean_tags(tags: &[String]) -> Result<Vec<String>> {
    let mut clean: Vec<String> = Vec::new();
    for tag in tags.iter().flat_map(|t| t.split(',')) {
        let tag = paperboy_domain::text::collapse_whitespace(tag);
        if tag.chars().count() > MAX_TAG_CHARS {
            return Err(Error::Tags(format!("a tag is at most {MAX_TAG_CHARS} characters")));
        }
        if !tag.is_empty() && !clean.contains(&tag) {
            clean.push(tag);
        }
    }
    if clean.len() > MAX_TAGS {
        return Err(Error::Tags(format!("at most {MAX_TAGS} tags per paper")));
    }
    Ok(clean)
}

impl Library {
    /// Saves a paper (or changes its tags) in an account's library.
    pub fn save_paper(&self, account: AccountId, paper: ArxivId, tags: &[String], now: DateTime<Utc>) -> Result<()> {
        let paper = self.known_paper(paper)?;
        self.store.save_paper(account, paper, &clean_tags(tags)?, now)?;
        Ok(())
    }

    /// Removes a paper from an account's library. Returns whether it was there.
    pub fn unsave_paper(&self, account: AccountId, paper: ArxivId) -> Result<bool> {
        Ok(self.store.unsave_paper(account, paper.base())?)
    }

    /// Upvotes a paper (once per account) or takes the upvote back; returns whether anything
    /// changed. Setting a state, not flipping it, keeps a retried request (a double click, a
    /// load balancer resending a request whose answer was lost) from undoing itself.
    pub fn set_upvote(&self, account: AccountId, paper: ArxivId, upvoted: bool, now: DateTime<Utc>) -> Result<bool> {
        let paper = self.known_paper(paper)?;
        Ok(if upvoted {
            self.store.upvote(account, paper, now)?
        } else {
            self.store.remove_upvote(account, paper, now)?
        })
    }

    /// Every paper the account upvoted, with when, newest first.
    pub fn upvotes_of(&self, account: AccountId) -> Result<Vec<(ArxivId, DateTime<Utc>)>> {
        Ok(self.store.upvotes_of(account)?)
    }

    /// Says what the account thinks of a paper for its recommendations: not interested (the
    /// paper never comes back in its digests or private feed, and its library model learns it as
    /// a negative) or more like this (a seed of the library model, without saving the paper).
    /// Replaces what it said of the paper before.
    pub fn set_feedback(
        &self,
        account: AccountId,
        paper: ArxivId,
        kind: FeedbackKind,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let paper = self.known_paper(paper)?;
        self.store.set_feedback(account, paper, kind, now)?;
        Ok(())
    }

    /// Takes back what the account said of a paper. Returns whether it had said anything.
    pub fn remove_feedback(&self, account: AccountId, paper: ArxivId) -> Result<bool> {
        Ok(self.store.remove_feedback(account, paper.base())?)
    }

    /// What the account said of papers, newest first, with the papers' metadata.
    pub fn feedback_entries(&self, account: AccountId) -> Result<Vec<FeedbackEntry>> {
        let said = self.store.feedback(account)?;
        let ids: Vec<ArxivId> = said.iter().map(|f| f.paper_id).collect();
        let mut papers: HashMap<ArxivId, Paper> =
            self.store.papers(&ids)?.into_iter().map(|s| (s.paper.id, s.paper)).collect();
        Ok(said
            .into_iter()
            .map(|feedback| FeedbackEntry { paper: papers.remove(&feedback.paper_id), feedback })
            .collect())
    }

    /// What the account said of one paper, if anything.
    pub fn feedback_on(&self, account: AccountId, paper: ArxivId) -> Result<Option<FeedbackKind>> {
        let paper = paper.base();
        Ok(self.store.feedback(account)?.into_iter().find(|f| f.paper_id == paper).map(|f| f.kind))
    }

    /// Which of these papers the account saved and which it upvoted.
    pub fn marks_of(&self, account: AccountId, papers: &[ArxivId]) -> Result<(Vec<ArxivId>, Vec<ArxivId>)> {
        let saved: HashSet<ArxivId> = self.store.library(account)?.into_iter().map(|s| s.paper_id).collect();
        let saved = papers.iter().copied().filter(|p| saved.contains(p)).collect();
        Ok((saved, self.store.upvoted(account, papers)?))
    }

    /// An account's library with the papers' metadata, newest first.
    pub fn library_entries(&self, account: AccountId) -> Result<Vec<LibraryEntry>> {
        let saved = self.store.library(account)?;
        let ids: Vec<ArxivId> = saved.iter().map(|s| s.paper_id).collect();
        let mut papers: HashMap<ArxivId, Paper> =
            self.store.papers(&ids)?.into_iter().map(|s| (s.paper.id, s.paper)).collect();
        Ok(saved.into_iter().map(|saved| LibraryEntry { paper: papers.remove(&saved.paper_id), saved }).collect())
    }

    /// The account's library as citations in `format` (BibTeX, RIS, CSL-JSON), newest saved
    /// first, each paper's tags as its keywords.
    pub fn export_library(&self, account: AccountId, format: crate::cite::Format) -> Result<String> {
        let entries = self.library_entries(account)?;
        let cited: Vec<crate::cite::Cited<'_>> = entries
            .iter()
            .filter_map(|entry| entry.paper.as_ref().map(|paper| crate::cite::Cited { paper, tags: &entry.saved.tags }))
            .collect();
        Ok(crate::cite::export(&cited, format))
    }

    /// The paper's id without version, if the store has it.
    fn known_paper(&self, paper: ArxivId) -> Result<ArxivId> {
        let paper = paper.base();
        if self.store.paper(paper)?.is_none() {
            return Err(Error::PaperNotFound(paper));
        }
        Ok(paper)
    }
}
