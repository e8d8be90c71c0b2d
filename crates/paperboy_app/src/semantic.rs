//! Search by meaning: the embedding model and the vectors of one data directory, embedding what the
//! store holds that the vectors lack, and importing / exporting vectors (the demo ships the sample
//! corpus's).

use std::{
    collections::HashMap,
    io::{BufReader, BufWriter, Read, Write},
    path::{Path, PathBuf},
    sync::RwLock,
    time::Instant,
};

use paperboy_embed::{Embedder, document_text, provision};
use paperboy_search::{
    VectorIndex,
    vector::{decode_f16, encode_f16},
};
use serde::Serialize;

use crate::{Error, Library, Progress, Result};

/// Papers embedded per batch; each batch is committed with the sequence number it reaches.
const EMBED_BATCH: usize = 256;

/// Which embedding model a library uses.
#[derive(Debug, Clone)]
pub struct ModelChoice {
    /// The model's name (`all-MiniLM-L6-v2`).
    pub name: String,
    /// Where models are installed.
    pub models_dir: PathBuf,
    /// The arithmetic of its dense layers.
    pub precision: paperboy_embed::Precision,
}

impl ModelChoice {
    /// A model installed under `models_dir`, its precision chosen for this CPU.
    pub fn new(name: &str, models_dir: &Path) -> ModelChoice {
        ModelChoice { name: name.to_owned(), models_dir: models_dir.to_owned(), precision: Default::default() }
    }
}

/// The model and the vectors, when semantic search is available.
pub(crate) struct Semantic {
    pub(crate) embedder: Embedder,
    pub(crate) vectors: RwLock<VectorIndex>,
    /// Searches of concurrent requests, scanned together.
    pub(crate) batcher: crate::batch::ScanBatcher,
}

/// Loads the model and opens its vectors, or says in one line why semantic search is off.
pub(crate) fn open(data_dir: &Path, choice: Option<&ModelChoice>) -> std::result::Result<Semantic, String> {
    let Some(choice) = choice else { return Err("semantic search is off (no model configured)".into()) };
    let Some(dir) = provision::installed_dir(&choice.models_dir, &choice.name) else {
        return Err(format!(
            "the embedding model {} is not installed, so this is keyword search only; run `paperboy model install {}`",
            choice.name, choice.name
        ));
    };
    let embedder = Embedder::load_with(&choice.name, &dir, choice.precision)
        .map_err(|e| format!("the embedding model {} cannot be loaded ({e}); keyword search only", choice.name))?;
    let vectors = VectorIndex::open(&vectors_dir(data_dir, &choice.name), &choice.name, embedder.dimension())
        .map_err(|e| format!("{e}; keyword search only"))?;
    Ok(Semantic { embedder, vectors: RwLock::new(vectors), batcher: Default::default() })
}

/// Where a model's vectors of a data directory live.
pub fn vectors_dir(data_dir: &Path, model: &str) -> PathBuf {
    data_dir.join("vectors").join(model)
}

/// The hash of the text a paper is embedded from: a vector is redone only when it changes.
pub(crate) fn text_hash(text: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(text.as_bytes())
}

/// What `embed` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EmbedSummary {
    /// The model.
    pub model: String,
    /// Papers embedded now.
    pub embedded: u64,
    /// Papers whose text had not changed since their vector was made.
    pub unchanged: u64,
    /// Papers with a vector, in all.
    pub vectors: u64,
    /// Seconds spent.
    pub elapsed_s: f64,
    /// Papers embedded per second.
    pub papers_per_second: f64,
}

impl Library {
    /// Whether semantic search is available; if not, why.
    pub fn semantic_status(&self) -> std::result::Result<&str, &str> {
        match &self.semantic {
            Ok(semantic) => Ok(semantic.embedder.name()),
            Err(reason) => Err(reason.as_str()),
        }
    }

    pub(crate) fn semantic(&self) -> Result<&Semantic> {
        self.semantic.as_ref().map_err(|reason| Error::SemanticUnavailable(reason.clone()))
    }

    /// Embeds every stored paper whose vector is missing or stale, in batches that are each durable:
    /// an interrupted run resumes where it stopped.
    pub fn embed_missing(&self, progress: &dyn Progress) -> Result<EmbedSummary> {
        let semantic = self.semantic()?;
        let started = Instant::now();
        let mut summary = EmbedSummary { model: semantic.embedder.name().to_owned(), ..EmbedSummary::default() };
        let from = semantic.vectors.read().unwrap_or_else(|p| p.into_inner()).seq();
        let to = self.store.max_seq()?;
        if to > from {
            progress.start("embedding", Some(self.count_changed_since(from)?), "papers");
        }
        let mut after = from;
        loop {
            let batch = self.store.changed_since(after, EMBED_BATCH)?;
            let Some(last) = batch.last() else { break };
            after = last.seq;
            let mut todo: Vec<(String, u64, String)> = Vec::new();
            {
                let vectors = semantic.vectors.read().unwrap_or_else(|p| p.into_inner());
                for stored in &batch {
                    let text = document_text(&stored.paper.title, &stored.paper.abstract_text);
                    let hash = text_hash(&text);
                    let key = stored.paper.id.to_string();
                    if vectors.text_hash(&key) == Some(hash) {
                        summary.unchanged += 1;
                    } else {
                        todo.push((key, hash, text));
                    }
                }
            }
            let texts: Vec<&str> = todo.iter().map(|(_, _, text)| text.as_str()).collect();
            let embedded = if texts.is_empty() { Vec::new() } else { semantic.embedder.embed_documents(&texts)? };
            let entries: Vec<(&str, u64, &[f32])> = todo
                .iter()
                .zip(&embedded)
                .map(|((key, hash, _), vector)| (key.as_str(), *hash, vector.as_slice()))
                .collect();
            {
                let mut vectors = semantic.vectors.write().unwrap_or_else(|p| p.into_inner());
                if entries.is_empty() {
                    vectors.mark_seq(after)?;
                } else {
                    vectors.append(&entries, after)?;
                }
            }
            summary.embedded += entries.len() as u64;
            progress.advance(batch.len() as u64);
        }
        progress.finish("embedded");
        {
            let vectors = semantic.vectors.read().unwrap_or_else(|p| p.into_inner());
            if summary.embedded > 0 {
                // Large corpora: keep the IVF index on disk current, so the next open loads it.
                vectors.save_ivf()?;
            }
            summary.vectors = vectors.len() as u64;
        }
        summary.elapsed_s = started.elapsed().as_secs_f64();
        summary.papers_per_second =
            if summary.elapsed_s > 0.0 { summary.embedded as f64 / summary.elapsed_s } else { 0.0 };
        Ok(summary)
    }

    fn count_changed_since(&self, seq: i64) -> Result<u64> {
        // The store counts all papers; papers past the watermark are at most that many.
        Ok(self.store.count_papers()?.min((self.store.max_seq()? - seq).max(0) as u64))
    }

    /// Rebuilds the vectors from scratch.
    pub fn reembed(&self, progress: &dyn Progress) -> Result<EmbedSummary> {
        self.semantic()?.vectors.write().unwrap_or_else(|p| p.into_inner()).clear()?;
        self.embed_missing(progress)
    }

    /// Writes every vector with its paper id and text hash to `path` (a portable file that
    /// [`Library::import_vectors`] reads).
    pub fn export_vectors(&self, path: &Path) -> Result<u64> {
        let semantic = self.semantic()?;
        let vectors = semantic.vectors.read().unwrap_or_else(|p| p.into_inner());
        let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
        let mut out = BufWriter::new(file);
        // Half precision: the vectors are stored so anyway, and the file is half the size.
        let header = serde_json::json!({"format": "paperboy-vectors", "version": 1, "dtype": "f16", "model": vectors.model(), "dimension": vectors.dimension()});
        let write =
            |out: &mut BufWriter<std::fs::File>, bytes: &[u8]| out.write_all(bytes).map_err(|e| Error::io(path, e));
        write(&mut out, format!("{header}\n").as_bytes())?;
        let mut n = 0;
        let mut cursor = 0;
        loop {
            let batch = self.store.changed_since(cursor, 5_000)?;
            let Some(last) = batch.last() else { break };
            cursor = last.seq;
            for stored in &batch {
                let key = stored.paper.id.to_string();
                let (Some(hash), Some(vector)) = (vectors.text_hash(&key), vectors.vector(&key)?) else { continue };
                write(&mut out, &[key.len() as u8])?;
                write(&mut out, key.as_bytes())?;
                write(&mut out, &hash.to_le_bytes())?;
                write(&mut out, &encode_f16(&vector))?;
                n += 1;
            }
        }
        out.flush().map_err(|e| Error::io(path, e))?;
        Ok(n)
    }

    /// Reads vectors exported by [`Library::export_vectors`] (for the same model), keeping those
    /// whose paper is stored with the very text they were made from. Returns how many were kept.
    pub fn import_vectors(&self, path: &Path) -> Result<u64> {
        let semantic = self.semantic()?;
        let bad = |detail: &str| Error::BadFile {
            path: path.to_owned(),
            detail: format!("not a paperboy vectors file: {detail}"),
        };
        let file =
            std::fs::File::open(path).map_err(|e| Error::BadFile { path: path.to_owned(), detail: e.to_string() })?;
        let mut input = BufReader::new(file);
        let mut header = Vec::new();
        loop {
            let mut byte = [0u8];
            input.read_exact(&mut byte).map_err(|_| bad("no header"))?;
            if byte[0] == b'\n' {
                break;
            }
            header.push(byte[0]);
            if header.len() > 4096 {
                return Err(bad("header too long"));
            }
        }
        let header: serde_json::Value = serde_json::from_slice(&header).map_err(|_| bad("unreadable header"))?;
        let dimension = header["dimension"].as_u64().ok_or_else(|| bad("no dimension"))? as usize;
        if header["format"] != "paperboy-vectors" || header["dtype"] != "f16" {
            return Err(bad("unknown format"));
        }
        let model = header["model"].as_str().unwrap_or_default();
        if model != semantic.embedder.name() || dimension != semantic.embedder.dimension() {
            return Err(Error::BadFile {
                path: path.to_owned(),
                detail: format!(
                    "it holds {dimension}-dimensional vectors of {model}; this library uses {}",
                    semantic.embedder.name()
                ),
            });
        }
        let mut entries: HashMap<String, (u64, Vec<f32>)> = HashMap::new();
        loop {
            let mut len = [0u8];
            match input.read_exact(&mut len) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(Error::BadFile { path: path.to_owned(), detail: e.to_string() }),
            }
            let mut key = vec![0u8; len[0] as usize];
            let mut hash = [0u8; 8];
            let mut vector = vec![0u8; dimension * 2];
            input
                .read_exact(&mut key)
                .and_then(|_| input.read_exact(&mut hash))
                .and_then(|_| input.read_exact(&mut vector))
                .map_err(|_| bad("truncated"))?;
            let key = String::from_utf8(key).map_err(|_| bad("a key is not UTF-8"))?;
            entries.insert(key, (u64::from_le_bytes(hash), decode_f16(&vector)));
        }
        let ids: Vec<paperboy_domain::ArxivId> =
            entries.keys().filter_map(|k| paperboy_domain::ArxivId::parse(k).ok()).collect();
        let mut kept: Vec<(String, u64, Vec<f32>)> = Vec::new();
        for chunk in ids.chunks(1000) {
            for stored in self.store.papers(chunk)? {
                let key = stored.paper.id.to_string();
                let hash = text_hash(&document_text(&stored.paper.title, &stored.paper.abstract_text));
                if let Some((their_hash, vector)) = entries.remove(&key)
                    && their_hash == hash
                {
                    kept.push((key, hash, vector));
                }
            }
        }
        let mut vectors = semantic.vectors.write().unwrap_or_else(|p| p.into_inner());
        let entries: Vec<(&str, u64, &[f32])> = kept.iter().map(|(k, h, v)| (k.as_str(), *h, v.as_slice())).collect();
        let seq = vectors.seq();
        vectors.append(&entries, seq)?;
        Ok(kept.len() as u64)
    }
}
