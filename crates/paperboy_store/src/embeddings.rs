//! Paper embeddings: the vectors a model made of each paper's title and abstract. They cost real
//! CPU, so they are data like any other: computed once (per cluster, with a shared store), stored,
//! and read back by every node's vector index, which follows them by their own sequence numbers
//! as the full-text index follows the papers'.

use paperboy_domain::ArxivId;

use crate::Result;

/// One paper's embedding by one model.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEmbedding {
    /// The paper.
    pub paper: ArxivId,
    /// The hash of the text it was made from (title and abstract), to tell when it is stale.
    pub text_hash: i64,
    /// The vector as the caller encoded it (paperboy stores half-precision floats, little-endian).
    pub vector: Vec<u8>,
    /// The sequence number of its last change (0 for embeddings not stored yet).
    pub seq: i64,
}

/// What paperboy needs of a store about embeddings.
pub trait EmbeddingStore: Send + Sync {
    /// Stores (or replaces) embeddings of `model`, each taking the next embedding sequence
    /// number, and records in the same transaction that the papers are embedded up to paper
    /// sequence number `papers_seq`. Returns the highest embedding sequence number.
    fn put_embeddings(&self, model: &str, embeddings: &[StoredEmbedding], papers_seq: i64) -> Result<i64>;

    /// Embeddings of `model` changed after embedding sequence number `after`, in order, at most
    /// `limit`.
    fn embeddings_since(&self, model: &str, after: i64, limit: usize) -> Result<Vec<StoredEmbedding>>;

    /// The text hashes of the stored embeddings of these papers (papers without one are left out).
    fn embedding_hashes(&self, model: &str, papers: &[ArxivId]) -> Result<Vec<(ArxivId, i64)>>;

    /// The paper sequence number up to which papers are embedded by `model` (0: none).
    fn embedded_up_to(&self, model: &str) -> Result<i64>;

    /// The highest embedding sequence number of `model` (0: none).
    fn max_embedding_seq(&self, model: &str) -> Result<i64>;

    /// How many papers have an embedding of `model`.
    fn count_embeddings(&self, model: &str) -> Result<u64>;
}
