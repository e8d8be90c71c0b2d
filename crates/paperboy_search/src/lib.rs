//! Search over papers: the full-text index ([`full_text`], tantivy BM25), the vector index
//! ([`vector`]: exact or IVF-SQ8 nearest neighbours of embeddings), their fusion ([`hybrid`]), and
//! retrieval evaluation ([`eval`]: BEIR corpora, nDCG@10 and Recall@100 as pytrec_eval computes them).
//!
//! Knows nothing of SQL, HTTP or models: it indexes documents and vectors by key and returns keys;
//! the caller embeds text and maps keys to papers.

pub mod analysis;
pub mod eval;
pub mod full_text;
pub mod hybrid;
mod sq8;
pub mod vector;

pub use full_text::{
    Filters, FullTextIndex, FullTextWriter, Hit, IndexDoc, Ranking, SearchRequest, SearchResults, Sort, TermScore,
    WordsExplanation,
};
pub use hybrid::Fusion;
pub use vector::VectorIndex;

/// Search errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The query has words, but none that can be searched (only stop words or symbols).
    #[error("the query has no searchable words (only very common words such as \"the\", or symbols)")]
    NoSearchableWords,
    /// The index was built by another version and must be rebuilt.
    #[error("the search index must be rebuilt: {0} (run `paperboy reindex`)")]
    NeedsRebuild(String),
    /// Another process holds the index's write lock.
    #[error("{0}")]
    Locked(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// An evaluation input is malformed.
    #[error("{0}")]
    Input(String),
    /// Any other index failure.
    #[error("search index error: {0}")]
    Index(String),
}

impl From<tantivy::TantivyError> for Error {
    fn from(err: tantivy::TantivyError) -> Self {
        Error::Index(err.to_string())
    }
}

/// Search results.
pub type Result<T> = std::result::Result<T, Error>;
