//! Search by meaning: the embedding model, the embeddings in the store and the vectors of one data
//! directory that follow them. Embedding costs real CPU, so it happens once: a paper is embedded
//! when its title and abstract are new or changed, the embedding is stored (half precision), and
//! every node's vector index takes it in from the store by the embeddings' own sequence numbers —
//! `reindex` rebuilds the vectors from the store without embedding anything again. With a shared
//! store one process of the cluster embeds at a time (a lease).

use std::{
    collections::HashMap,
    io::{BufReader, BufWriter, Read, Write},
    path::{Path, PathBuf},
    sync::{Mutex, OnceLock, RwLock},
    time::Instant,
};

use chrono::Utc;
use paperboy_domain::ArxivId;
use paperboy_embed::{Embedder, document_text, provision};
use paperboy_search::{
    VectorIndex,
    vector::{decode_f16, encode_f16},
};
use paperboy_store::{Store, StoredEmbedding};
use serde::Serialize;

use crate::{Error, Library, Progress, Result};

/// Papers embedded per batch; each batch is stored with the paper sequence number it reaches.
const EMBED_BATCH: usize = 256;
/// Embeddings read from the store per step while the vectors catch up.
const FOLLOW_BATCH: usize = 5_000;
/// How long a process embeds for a cluster before another may take over; renewed every batch.
const EMBED_LEASE: chrono::Duration = chrono::Duration::minutes(5);

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

/// The model, read from disk when something first embeds: a command that only reads the store
/// and the indexes (`digest status`, a page, `similar`) never pays for loading the weights.
pub(crate) struct LazyEmbedder {
    name: String,
    dir: PathBuf,
    precision: paperboy_embed::Precision,
    /// From the model's `config.json`, so the vectors open without the weights.
    dimension: usize,
    loaded: OnceLock<std::result::Result<Embedder, String>>,
}

impl LazyEmbedder {
    /// The model's name (recorded with every vector).
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The embedding width.
    pub(crate) fn dimension(&self) -> usize {
        self.dimension
    }

    /// The loaded model, loading it on the first call (concurrent callers wait for that one load);
    /// a model that cannot be loaded makes semantic search unavailable, with the reason.
    pub(crate) fn get(&self) -> Result<&Embedder> {
        self.loaded
            .get_or_init(|| {
                let started = Instant::now();
                let loaded = Embedder::load_with(&self.name, &self.dir, self.precision)
                    .map_err(|e| format!("the embedding model {} cannot be loaded ({e}); keyword search only", self.name));
                match &loaded {
                    Ok(_) => tracing::debug!(model = %self.name, seconds = started.elapsed().as_secs_f64(), "loaded the model"),
                    Err(reason) => tracing::warn!(%reason, "semantic search unavailable"),
                }
                loaded
            })
            .as_ref()
            .map_err(|reason| Error::SemanticUnavailable(reason.clone()))
    }

    /// Why the model could not be loaded, once a load was tried and failed.
    fn failure(&self) -> Option<&str> {
        self.loaded.get().and_then(|loaded| loaded.as_ref().err()).map(String::as_str)
    }
}

/// The model and the vectors, when semantic search is available. Both are read from disk when
/// first needed: at 3 million papers the vectors are gigabytes that a command such as `digest
/// status` has no use for.
pub(crate) struct Semantic {
    pub(crate) embedder: LazyEmbedder,
    vectors_dir: PathBuf,
    /// The vectors, or why they cannot be opened; see [`Library::vectors`].
    vectors: OnceLock<std::result::Result<RwLock<VectorIndex>, String>>,
    /// Whether the vectors have caught up with the store since they were opened (held while they
    /// do, so that the first users wait for one catch-up).
    caught_up: Mutex<bool>,
    /// Searches of concurrent requests, scanned together.
    pub(crate) batcher: crate::batch::ScanBatcher,
    /// Held while embedding: the cluster's lease names this process, so two embeddings in it (the
    /// server's background one and the daily job's) must not overlap.
    embedding: Mutex<()>,
    /// Held from reading the vectors' sequence number to appending what came after it, so that
    /// two catch-ups cannot append the same paper's embeddings out of order.
    syncing: Mutex<()>,
}

/// Loads the model and opens its vectors, or says in one line why semantic search is off. Vectors
/// an older paperboy kept only in the data directory move into the store first.
pub(crate) fn open(
    data_dir: &Path,
    store: &dyn Store,
    choice: Option<&ModelChoice>,
    progress: &dyn Progress,
) -> std::result::Result<Semantic, String> {
    let Some(choice) = choice else { return Err("semantic search is off (no model configured)".into()) };
    let Some(dir) = provision::installed_dir(&choice.models_dir, &choice.name) else {
        return Err(format!(
            "the embedding model {} is not installed, so this is keyword search only; run `paperboy model install {}`",
            choice.name, choice.name
        ));
    };
    let dimension = paperboy_embed::ModelConfig::read(&dir)
        .map_err(|e| format!("the embedding model {} cannot be loaded ({e}); keyword search only", choice.name))?
        .hidden_size;
    let embedder = LazyEmbedder {
        name: choice.name.clone(),
        dir,
        precision: choice.precision,
        dimension,
        loaded: OnceLock::new(),
    };
    let vectors_dir = vectors_dir(data_dir, &choice.name);
    move_legacy_vectors(&vectors_dir, store, &choice.name, dimension, progress).map_err(|e| {
        format!("the vectors in {} cannot be moved into the store ({e}); keyword search only", vectors_dir.display())
    })?;
    VectorIndex::check(&vectors_dir, &choice.name, dimension).map_err(|e| format!("{e}; keyword search only"))?;
    // Vectors ahead of the store's embeddings belong to a store that was replaced: they start over
    // now, before anything (an ingest's embedding, an import) can write past their number and hide it.
    let vectors_seq = VectorIndex::stored_seq(&vectors_dir)
        .map_err(|e| format!("the vectors in {} cannot be read ({e}); keyword search only", vectors_dir.display()))?;
    let store_seq = store
        .max_embedding_seq(&choice.name)
        .map_err(|e| format!("the store's embeddings cannot be read ({e}); keyword search only"))?;
    if vectors_seq > store_seq {
        tracing::warn!(model = %choice.name, "the vectors are ahead of the store's embeddings (a replaced store): rebuilding them");
        std::fs::remove_dir_all(&vectors_dir).map_err(|e| {
            format!("the vectors in {} cannot be removed ({e}); keyword search only", vectors_dir.display())
        })?;
    }
    Ok(Semantic {
        embedder,
        vectors_dir,
        vectors: OnceLock::new(),
        caught_up: Mutex::new(false),
        batcher: Default::default(),
        embedding: Mutex::new(()),
        syncing: Mutex::new(()),
    })
}

impl Semantic {
    /// The vectors, opened (read from disk) on the first call; not caught up with the store.
    fn index(&self) -> Result<&RwLock<VectorIndex>> {
        self.vectors
            .get_or_init(|| {
                let started = Instant::now();
                let opened = VectorIndex::open(&self.vectors_dir, self.embedder.name(), self.embedder.dimension())
                    .map(RwLock::new)
                    .map_err(|e| format!("{e}; keyword search only"));
                match &opened {
                    Ok(_) => tracing::debug!(seconds = started.elapsed().as_secs_f64(), "opened the vectors"),
                    Err(reason) => tracing::warn!(%reason, "semantic search unavailable"),
                }
                opened
            })
            .as_ref()
            .map_err(|reason| Error::SemanticUnavailable(reason.clone()))
    }
}

/// Vectors of the first file format lived only in the data directory: their embeddings go into
/// the store (unless it has some already), then the folder is rebuilt from the store.
fn move_legacy_vectors(
    dir: &Path,
    store: &dyn Store,
    model: &str,
    dimension: usize,
    progress: &dyn Progress,
) -> Result<()> {
    if VectorIndex::format_of(dir) != Some(paperboy_search::vector::LEGACY_FORMAT) {
        return Ok(());
    }
    let legacy = VectorIndex::open_legacy(dir, model, dimension)?;
    if store.count_embeddings(model)? == 0 {
        progress.start("moving vectors into the store", Some(legacy.len() as u64), "vectors");
        let keys: Vec<(String, u64)> = legacy.entries().map(|(key, hash)| (key.to_owned(), hash)).collect();
        for chunk in keys.chunks(1000) {
            let mut embeddings = Vec::with_capacity(chunk.len());
            for (key, hash) in chunk {
                let (Ok(paper), Some(vector)) = (ArxivId::parse(key), legacy.vector(key)?) else { continue };
                embeddings.push(StoredEmbedding {
                    paper,
                    text_hash: *hash as i64,
                    vector: encode_f16(&vector),
                    seq: 0,
                });
            }
            store.put_embeddings(model, &embeddings, 0)?;
            progress.advance(chunk.len() as u64);
        }
        // The papers it had embedded are embedded: their hashes are in the store now.
        store.put_embeddings(model, &[], legacy.seq())?;
        progress.finish("moved vectors into the store");
    }
    drop(legacy);
    std::fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    tracing::info!(model, "moved the vectors of an older version into the store");
    Ok(())
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
    /// What else happened (another node of the cluster was embedding).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Papers embedded per second.
    pub papers_per_second: f64,
}

impl Library {
    /// Whether semantic search is available; if not, why.
    pub fn semantic_status(&self) -> std::result::Result<&str, &str> {
        match &self.semantic {
            Ok(semantic) => {
                let vectors_failed = semantic.vectors.get().and_then(|opened| opened.as_ref().err());
                match semantic.embedder.failure().or(vectors_failed.map(String::as_str)) {
                    None => Ok(semantic.embedder.name()),
                    Some(reason) => Err(reason),
                }
            }
            Err(reason) => Err(reason.as_str()),
        }
    }

    /// Loads the embedding model now rather than at the first search by meaning (a server does,
    /// so that its first visitor does not wait for it). Without semantic search, does nothing.
    pub fn load_model(&self) -> Result<()> {
        match &self.semantic {
            Ok(semantic) => semantic.embedder.get().map(|_| ()),
            Err(_) => Ok(()),
        }
    }

    /// The semantic side with its model loaded (loading it now if need be), or why not.
    /// The vectors are opened and caught up too: a search by meaning needs both, and one that
    /// cannot have them is answered by words, with the reason.
    pub(crate) fn semantic_with_model(&self) -> std::result::Result<&Semantic, String> {
        let semantic = self.semantic.as_ref().map_err(Clone::clone)?;
        let reason = |err: Error| match err {
            Error::SemanticUnavailable(reason) => reason,
            other => format!("the vectors cannot be read ({other}); keyword search only"),
        };
        semantic.embedder.get().map_err(reason)?;
        self.vectors().map_err(reason)?;
        Ok(semantic)
    }

    pub(crate) fn semantic(&self) -> Result<&Semantic> {
        self.semantic.as_ref().map_err(|reason| Error::SemanticUnavailable(reason.clone()))
    }

    /// The vectors, read from disk and caught up with the store the first time something needs
    /// them (a search by meaning, similar papers, a digest, the server's follow).
    pub(crate) fn vectors(&self) -> Result<(&Semantic, &RwLock<VectorIndex>)> {
        self.vectors_with(&crate::NoProgress).map(|(semantic, vectors, _)| (semantic, vectors))
    }

    /// [`Library::vectors`], and how many vectors their first catch-up took in (0 after it).
    fn vectors_with(&self, progress: &dyn Progress) -> Result<(&Semantic, &RwLock<VectorIndex>, u64)> {
        let semantic = self.semantic()?;
        let vectors = semantic.index()?;
        let mut caught_up = semantic.caught_up.lock().unwrap_or_else(|p| p.into_inner());
        let mut taken_in = 0;
        if !*caught_up {
            taken_in = self.catch_up_vectors(progress)?;
            *caught_up = true;
        }
        Ok((semantic, vectors, taken_in))
    }

    /// Embeds every stored paper whose embedding is missing or stale, in batches that are each
    /// durable (stored with the paper sequence number they reach): an interrupted run resumes
    /// where it stopped. The vectors then take the new embeddings in. With a shared store, one
    /// process of the cluster embeds at a time; the others find the work done or being done.
    pub fn embed_missing(&self, progress: &dyn Progress) -> Result<EmbedSummary> {
        self.embed(progress, false)
    }

    /// Embeds every paper again (a changed model file, say) and rebuilds the vectors.
    pub fn reembed(&self, progress: &dyn Progress) -> Result<EmbedSummary> {
        self.embed(progress, true)
    }

    fn embed(&self, progress: &dyn Progress, again: bool) -> Result<EmbedSummary> {
        let semantic = self.semantic()?;
        let model = semantic.embedder.name();
        let started = Instant::now();
        let mut summary = EmbedSummary { model: model.to_owned(), ..EmbedSummary::default() };
        let lease = format!("embed:{model}");
        let embedding = semantic.embedding.lock().unwrap_or_else(|p| p.into_inner());
        if !self.hold_lease(&lease, EMBED_LEASE)? {
            summary.note = Some("another node of the cluster is embedding; its embeddings arrive here".into());
        } else {
            let embedded = self.embed_papers(semantic, progress, again, &lease, &mut summary);
            self.release_lease(&lease);
            embedded?;
        }
        drop(embedding);
        let (_, vectors, caught_up) = self.vectors_with(progress)?;
        let vectors_in = caught_up + self.sync_vectors(progress)?;
        {
            let vectors = vectors.read().unwrap_or_else(|p| p.into_inner());
            if vectors_in > 0 {
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

    /// The embedding loop: papers changed since the model's progress (or all, `again`), compared
    /// with the stored embeddings' text hashes; what is new or changed is embedded and stored.
    fn embed_papers(
        &self,
        semantic: &Semantic,
        progress: &dyn Progress,
        again: bool,
        lease: &str,
        summary: &mut EmbedSummary,
    ) -> Result<()> {
        let model = semantic.embedder.name();
        let from = if again { 0 } else { self.store.embedded_up_to(model)? };
        if self.store.max_seq()? > from {
            progress.start("embedding", Some(self.count_changed_since(from)?), "papers");
        }
        let mut after = from;
        loop {
            let batch = self.store.changed_since(after, EMBED_BATCH)?;
            let Some(last) = batch.last() else { break };
            after = last.seq;
            let ids: Vec<ArxivId> = batch.iter().map(|stored| stored.paper.id).collect();
            let stored: HashMap<ArxivId, i64> =
                if again { HashMap::new() } else { self.store.embedding_hashes(model, &ids)?.into_iter().collect() };
            let mut todo: Vec<(ArxivId, u64, String)> = Vec::new();
            for paper in &batch {
                let text = document_text(&paper.paper.title, &paper.paper.abstract_text);
                let hash = text_hash(&text);
                match stored.get(&paper.paper.id.base()) {
                    Some(&known) if known == hash as i64 => summary.unchanged += 1,
                    _ => todo.push((paper.paper.id.base(), hash, text)),
                }
            }
            let texts: Vec<&str> = todo.iter().map(|(_, _, text)| text.as_str()).collect();
            let vectors =
                if texts.is_empty() { Vec::new() } else { semantic.embedder.get()?.embed_documents(&texts)? };
            let embeddings: Vec<StoredEmbedding> = todo
                .iter()
                .zip(&vectors)
                .map(|((paper, hash, _), vector)| StoredEmbedding {
                    paper: *paper,
                    text_hash: *hash as i64,
                    vector: encode_f16(vector),
                    seq: 0,
                })
                .collect();
            self.store.put_embeddings(model, &embeddings, after)?;
            summary.embedded += embeddings.len() as u64;
            progress.advance(batch.len() as u64);
            if !self.hold_lease(lease, EMBED_LEASE)? {
                summary.note = Some("another node took over the embedding".into());
                break;
            }
        }
        progress.finish("embedded");
        Ok(())
    }

    /// Takes the embeddings stored since the vectors' last sequence number into the vectors.
    /// Returns how many came in.
    pub(crate) fn sync_vectors(&self, progress: &dyn Progress) -> Result<u64> {
        let semantic = self.semantic()?;
        let model = semantic.embedder.name();
        let dimension = semantic.embedder.dimension();
        let mut n = 0u64;
        let mut started = false;
        let _syncing = semantic.syncing.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let after = semantic.index()?.read().unwrap_or_else(|p| p.into_inner()).seq();
            let batch = self.store.embeddings_since(model, after, FOLLOW_BATCH)?;
            let Some(last) = batch.last() else { break };
            if !started && batch.len() == FOLLOW_BATCH {
                let total = self.store.max_embedding_seq(model)? - after;
                progress.start("loading vectors", Some(total.max(0) as u64), "vectors");
                started = true;
            }
            let last_seq = last.seq;
            let decoded: Vec<(String, u64, Vec<f32>)> = batch
                .iter()
                .map(|e| {
                    let vector = decode_f16(&e.vector);
                    if vector.len() != dimension {
                        return Err(Error::Corrupt(format!(
                            "the stored embedding of {} has {} dimensions, the model {dimension}",
                            e.paper,
                            vector.len()
                        )));
                    }
                    Ok((e.paper.to_string(), e.text_hash as u64, vector))
                })
                .collect::<Result<_>>()?;
            let entries: Vec<(&str, u64, &[f32])> =
                decoded.iter().map(|(key, hash, vector)| (key.as_str(), *hash, vector.as_slice())).collect();
            semantic.index()?.write().unwrap_or_else(|p| p.into_inner()).append(&entries, last_seq)?;
            n += entries.len() as u64;
            progress.advance(entries.len() as u64);
        }
        if started {
            progress.finish("vectors loaded");
        }
        Ok(n)
    }

    /// When the vectors are first opened: they follow the store, and start over when they are ahead of it (the store
    /// was replaced).
    fn catch_up_vectors(&self, progress: &dyn Progress) -> Result<u64> {
        let semantic = self.semantic()?;
        let model = semantic.embedder.name();
        let ahead =
            semantic.index()?.read().unwrap_or_else(|p| p.into_inner()).seq() > self.store.max_embedding_seq(model)?;
        if ahead {
            tracing::warn!(
                model,
                "the vectors are ahead of the store's embeddings (a replaced store): rebuilding them"
            );
            return self.rebuild_vectors(progress);
        }
        self.sync_vectors(progress)
    }

    /// Rebuilds the vectors from the embeddings in the store (nothing is embedded).
    pub fn rebuild_vectors(&self, progress: &dyn Progress) -> Result<u64> {
        let semantic = self.semantic()?;
        {
            let _syncing = semantic.syncing.lock().unwrap_or_else(|p| p.into_inner());
            semantic.index()?.write().unwrap_or_else(|p| p.into_inner()).clear()?;
        }
        self.sync_vectors(progress)
    }

    fn count_changed_since(&self, seq: i64) -> Result<u64> {
        // The store counts all papers; papers past the watermark are at most that many.
        Ok(self.store.count_papers()?.min((self.store.max_seq()? - seq).max(0) as u64))
    }

    /// Takes (or renews) a lease for what one process of a cluster does at a time; always true
    /// for a store no other machine shares.
    pub(crate) fn hold_lease(&self, name: &str, length: chrono::Duration) -> Result<bool> {
        if !self.store.shared() {
            return Ok(true);
        }
        let now = Utc::now();
        Ok(self.store.try_lease(name, self.node(), now + length, now)?)
    }

    /// Gives a lease up (a failure to is logged: the lease runs out anyway).
    pub(crate) fn release_lease(&self, name: &str) {
        if self.store.shared()
            && let Err(err) = self.store.release_lease(name, self.node())
        {
            tracing::warn!(lease = name, error = %err, "cannot give the lease up; it runs out by itself");
        }
    }

    /// Writes every stored embedding of the model with its paper id and text hash to `path` (a
    /// portable file that [`Library::import_vectors`] reads).
    pub fn export_vectors(&self, path: &Path) -> Result<u64> {
        let semantic = self.semantic()?;
        let (model, dimension) = (semantic.embedder.name(), semantic.embedder.dimension());
        let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
        let mut out = BufWriter::new(file);
        // Half precision: the vectors are stored so anyway, and the file is half the size.
        let header = serde_json::json!({"format": "paperboy-vectors", "version": 1, "dtype": "f16", "model": model, "dimension": dimension});
        let write =
            |out: &mut BufWriter<std::fs::File>, bytes: &[u8]| out.write_all(bytes).map_err(|e| Error::io(path, e));
        write(&mut out, format!("{header}\n").as_bytes())?;
        let mut n = 0;
        let mut cursor = 0;
        loop {
            let batch = self.store.embeddings_since(model, cursor, FOLLOW_BATCH)?;
            let Some(last) = batch.last() else { break };
            cursor = last.seq;
            for embedding in &batch {
                let key = embedding.paper.to_string();
                write(&mut out, &[key.len() as u8])?;
                write(&mut out, key.as_bytes())?;
                write(&mut out, &(embedding.text_hash as u64).to_le_bytes())?;
                write(&mut out, &embedding.vector)?;
                n += 1;
            }
        }
        out.flush().map_err(|e| Error::io(path, e))?;
        Ok(n)
    }

    /// Reads vectors exported by [`Library::export_vectors`] (for the same model), keeping those
    /// whose paper is stored with the very text they were made from. Returns how many were kept.
    /// The file is read twice, in bounded memory at any size: first through, so that a truncated
    /// or damaged file imports nothing, then in chunks of [`IMPORT_CHUNK`] into the store.
    pub fn import_vectors(&self, path: &Path, progress: &dyn Progress) -> Result<u64> {
        let semantic = self.semantic()?;
        let records = {
            let mut file = VectorsFile::open(path, semantic)?;
            let mut records = 0u64;
            while file.next()?.is_some() {
                records += 1;
            }
            records
        };
        progress.start("importing vectors", Some(records), "vectors");
        let mut file = VectorsFile::open(path, semantic)?;
        let mut kept = 0u64;
        loop {
            let mut chunk: HashMap<ArxivId, (u64, Vec<u8>)> = HashMap::with_capacity(IMPORT_CHUNK);
            let mut read = 0u64;
            while chunk.len() < IMPORT_CHUNK {
                let Some((key, hash, vector)) = file.next()? else { break };
                read += 1;
                // A key that is no arXiv id names no stored paper: skipped, as an unknown id is.
                if let Ok(id) = ArxivId::parse(&key) {
                    chunk.insert(id, (hash, vector));
                }
            }
            if read == 0 {
                break;
            }
            let ids: Vec<ArxivId> = chunk.keys().copied().collect();
            let mut embeddings = Vec::with_capacity(ids.len());
            for ids in ids.chunks(1000) {
                for stored in self.store.papers(ids)? {
                    let hash = text_hash(&document_text(&stored.paper.title, &stored.paper.abstract_text));
                    if let Some((their_hash, vector)) = chunk.remove(&stored.paper.id)
                        && their_hash == hash
                    {
                        embeddings.push(StoredEmbedding {
                            paper: stored.paper.id,
                            text_hash: hash as i64,
                            vector,
                            seq: 0,
                        });
                    }
                }
            }
            for embeddings in embeddings.chunks(1000) {
                self.store.put_embeddings(semantic.embedder.name(), embeddings, 0)?;
            }
            kept += embeddings.len() as u64;
            progress.advance(read);
        }
        progress.finish(&format!("imported {kept} of {records} vectors"));
        self.sync_vectors(progress)?;
        Ok(kept)
    }
}

/// Vectors read from a file per step of [`Library::import_vectors`].
const IMPORT_CHUNK: usize = 20_000;

/// A vectors file being read: `paperboy-vectors` header line, then per vector the key's length
/// (one byte), the key, the text hash (u64, little-endian) and the vector (f16, little-endian).
struct VectorsFile<'a> {
    path: &'a Path,
    input: BufReader<std::fs::File>,
    dimension: usize,
}

impl<'a> VectorsFile<'a> {
    /// Opens the file and checks its header against the library's model.
    fn open(path: &'a Path, semantic: &Semantic) -> Result<VectorsFile<'a>> {
        let bad = |detail: &str| VectorsFile::bad(path, detail);
        let file =
            std::fs::File::open(path).map_err(|e| Error::BadFile { path: path.to_owned(), detail: e.to_string() })?;
        let mut input = BufReader::with_capacity(1 << 20, file);
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
        Ok(VectorsFile { path, input, dimension })
    }

    fn bad(path: &Path, detail: &str) -> Error {
        Error::BadFile { path: path.to_owned(), detail: format!("not a paperboy vectors file: {detail}") }
    }

    /// The next vector (key, text hash, the vector's f16 bytes as stored), or `None` at the end.
    fn next(&mut self) -> Result<Option<(String, u64, Vec<u8>)>> {
        let mut len = [0u8];
        match self.input.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(Error::BadFile { path: self.path.to_owned(), detail: e.to_string() }),
        }
        let mut key = vec![0u8; len[0] as usize];
        let mut hash = [0u8; 8];
        let mut vector = vec![0u8; self.dimension * 2];
        self.input
            .read_exact(&mut key)
            .and_then(|_| self.input.read_exact(&mut hash))
            .and_then(|_| self.input.read_exact(&mut vector))
            .map_err(|_| VectorsFile::bad(self.path, "truncated"))?;
        let key = String::from_utf8(key).map_err(|_| VectorsFile::bad(self.path, "a key is not UTF-8"))?;
        Ok(Some((key, u64::from_le_bytes(hash), vector)))
    }
}
