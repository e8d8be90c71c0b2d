//! Sources of arXiv metadata, each normalised into paperboy's [`Paper`](paperboy_domain::Paper):
//!
//! - [`jsonl`]: JSON Lines files, plain or gzip — the Kaggle snapshot and the daily-listing crawls;
//! - [`oai`]: arXiv's OAI-PMH interface, harvested politely with resumption tokens;
//! - [`api`]: the arXiv API's Atom feeds, by id or by query;
//! - [`hf`]: Hugging Face daily papers, for upvotes and code links.
//!
//! A record that fails to parse becomes a [`RecordError`] with its position and the reason; the rest
//! of the batch goes on. This crate knows nothing of storage or indexes.

pub mod api;
pub mod hf;
mod http;
pub mod jsonl;
pub mod oai;
#[cfg(any(test, feature = "replay"))]
pub mod replay;
mod xml;

use std::path::PathBuf;

pub use http::Politeness;

/// A failure that stops a whole source: the file cannot be read, the server cannot be reached, the
/// response is not what the protocol promises.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The server could not be reached or kept failing.
    #[error("request to {url} failed: {detail}")]
    Http {
        /// The URL requested.
        url: String,
        /// What went wrong.
        detail: String,
    },
    /// The server answered with an error status.
    #[error("{url} answered HTTP {status}{}", if body.is_empty() { String::new() } else { format!(": {}", snippet(body)) })]
    Status {
        /// The URL requested.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The start of the response body.
        body: String,
    },
    /// The response or file is not well-formed.
    #[error("{0}")]
    Malformed(String),
    /// An OAI-PMH error response (`badResumptionToken`, `badArgument`, ...).
    #[error("the OAI-PMH server answered {code}: {message}")]
    Oai {
        /// The OAI-PMH error code.
        code: String,
        /// The server's explanation.
        message: String,
    },
    /// An arXiv API error entry.
    #[error("the arXiv API answered: {0}")]
    Api(String),
}

fn snippet(body: &str) -> String {
    let text = paperboy_domain::text::collapse_whitespace(body);
    match text.char_indices().nth(200) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text,
    }
}

/// One record that could not be used, and where it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[error("{position}: {reason}")]
pub struct RecordError {
    /// Where: `file:line`, or `page 3, record 7 (oai:arXiv.org:...)`.
    pub position: String,
    /// Why it was skipped.
    pub reason: String,
    /// Whether reading stopped here (a truncated file): the records after it were not read.
    pub fatal: bool,
}

impl RecordError {
    /// A skipped record.
    pub fn new(position: impl Into<String>, reason: impl Into<String>) -> RecordError {
        RecordError { position: position.into(), reason: reason.into(), fatal: false }
    }
}
