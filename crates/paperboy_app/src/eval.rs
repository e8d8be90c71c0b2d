//! `paperboy eval beir`: indexes a BEIR-layout corpus in a scratch index under the data directory,
//! with the same analysis, ranking and fusion as paper search, and measures nDCG@10 and Recall@100
//! in keyword, semantic or hybrid mode.

/// The ranking settings an evaluation compares.
pub use paperboy_search::{Fusion, Ranking};
use std::{collections::HashMap, path::Path, time::Instant};

use paperboy_embed::{Embedder, document_text, provision};
use paperboy_search::{
    FullTextIndex, IndexDoc, VectorIndex,
    eval::{self, EvalReport},
    hybrid,
};
use serde::Serialize;

use crate::{Error, ModelChoice, Progress, Result, SearchMode, semantic::text_hash};

/// How to evaluate.
#[derive(Debug, Clone)]
pub struct BeirOptions {
    /// The qrels split (`test`, `train`, ...).
    pub split: String,
    /// Keyword ranking weights.
    pub ranking: Ranking,
    /// Keyword, semantic or hybrid.
    pub mode: SearchMode,
    /// How hybrid fuses.
    pub fusion: Fusion,
    /// The embedding model (semantic and hybrid modes).
    pub model: Option<ModelChoice>,
    /// How many results a keyword or semantic run ranks per query (at least 100, which the
    /// measures need; hybrid fuses each side's top 100, as paper search does).
    pub depth: usize,
}

/// What an evaluation measured.
#[derive(Debug, Clone, Serialize)]
pub struct BeirRun {
    /// The dataset folder.
    pub dataset: String,
    /// The qrels split.
    pub split: String,
    /// The retrieval mode.
    pub mode: SearchMode,
    /// The embedding model, in semantic and hybrid modes.
    pub model: Option<String>,
    /// The fusion, in hybrid mode.
    pub fusion: Option<Fusion>,
    /// Documents indexed.
    pub documents: usize,
    /// The measures.
    #[serde(flatten)]
    pub report: EvalReport,
    /// Seconds to build the scratch index (and embed the corpus, if it was not cached).
    pub index_seconds: f64,
    /// Median query latency (with the query's embedding), milliseconds.
    pub query_ms_median: f64,
    /// Each query's ranked results, best first (by query id).
    #[serde(skip)]
    pub rankings: HashMap<String, Vec<(String, f32)>>,
}

impl BeirRun {
    /// The rankings as a TREC run file: `query Q0 doc rank score tag`, queries in id order.
    pub fn trec_run(&self, tag: &str) -> String {
        let mut queries: Vec<&String> = self.rankings.keys().collect();
        queries.sort();
        let mut out = String::new();
        for query in queries {
            for (rank, (doc, score)) in self.rankings[query].iter().enumerate() {
                out.push_str(&format!("{query} Q0 {doc} {} {score} {tag}\n", rank + 1));
            }
        }
        out
    }
}

/// Evaluates search on a BEIR dataset. The keyword index in `scratch_dir` is rebuilt each run;
/// the corpus's vectors are kept there and reused while the texts are unchanged.
pub fn beir(dataset_dir: &Path, scratch_dir: &Path, options: &BeirOptions, progress: &dyn Progress) -> Result<BeirRun> {
    let dataset = eval::load_beir(dataset_dir, &options.split)?;
    if dataset.queries.is_empty() {
        return Err(Error::BadFile {
            path: dataset_dir.to_owned(),
            detail: format!("no query of the {} split has judgments", options.split),
        });
    }
    let started = Instant::now();
    let index = index_corpus(&dataset.corpus, &scratch_dir.join("keyword"), options.ranking, progress)?;
    let semantic = match options.mode {
        SearchMode::Keyword | SearchMode::Auto => None,
        SearchMode::Semantic | SearchMode::Hybrid => {
            Some(embedded_corpus(&dataset.corpus, scratch_dir, options, progress)?)
        }
    };
    let index_seconds = started.elapsed().as_secs_f64();
    let (run, mut latencies) = run_queries(&dataset.queries, &index, semantic.as_ref(), options, progress)?;
    latencies.sort_by(f64::total_cmp);
    Ok(BeirRun {
        dataset: dataset_dir.display().to_string(),
        split: options.split.clone(),
        mode: if semantic.is_some() { options.mode } else { SearchMode::Keyword },
        model: semantic.as_ref().map(|(e, _)| e.name().to_owned()),
        fusion: (options.mode == SearchMode::Hybrid).then_some(options.fusion),
        documents: dataset.corpus.len(),
        report: eval::evaluate(&run, &dataset.qrels),
        index_seconds,
        query_ms_median: latencies[latencies.len() / 2],
        rankings: run,
    })
}

/// A fresh keyword index of the corpus in `index_dir`.
fn index_corpus(
    corpus: &[eval::BeirDoc],
    index_dir: &Path,
    ranking: Ranking,
    progress: &dyn Progress,
) -> Result<FullTextIndex> {
    if index_dir.exists() {
        std::fs::remove_dir_all(index_dir).map_err(|e| Error::io(index_dir, e))?;
    }
    progress.start("indexing", Some(corpus.len() as u64), "documents");
    let index = FullTextIndex::open(index_dir, ranking)?;
    let mut writer = index.writer(256 * 1024 * 1024)?;
    for doc in corpus {
        writer.add(&IndexDoc {
            key: &doc.id,
            title: &doc.title,
            body: &doc.text,
            authors: &[],
            categories: Vec::new(),
            day: None,
            tie_break: 0,
        })?;
    }
    writer.commit(0)?;
    writer.finish()?;
    index.reload()?;
    progress.finish("indexed");
    Ok(index)
}

/// The options' model and the corpus's vectors (embedding the documents not cached yet).
fn embedded_corpus(
    corpus: &[eval::BeirDoc],
    scratch_dir: &Path,
    options: &BeirOptions,
    progress: &dyn Progress,
) -> Result<(Embedder, VectorIndex)> {
    let choice =
        options.model.as_ref().ok_or_else(|| Error::SemanticUnavailable("semantic evaluation needs a model".into()))?;
    let dir = provision::installed_dir(&choice.models_dir, &choice.name).ok_or_else(|| {
        Error::SemanticUnavailable(format!(
            "the model {} is not installed; run `paperboy model install {}`",
            choice.name, choice.name
        ))
    })?;
    let embedder = Embedder::load_with(&choice.name, &dir, choice.precision)?;
    let mut vectors =
        VectorIndex::open(&scratch_dir.join(format!("vectors-{}", choice.name)), &choice.name, embedder.dimension())?;
    embed_corpus(&embedder, &mut vectors, corpus, progress)?;
    Ok((embedder, vectors))
}

/// What hybrid takes from each side, as paper search does.
const FUSED_CANDIDATES: usize = 100;

/// Each query's top results (by the options' mode) and its latency in milliseconds.
type QueryRuns = (HashMap<String, Vec<(String, f32)>>, Vec<f64>);

fn run_queries(
    queries: &[(String, String)],
    index: &FullTextIndex,
    semantic: Option<&(Embedder, VectorIndex)>,
    options: &BeirOptions,
    progress: &dyn Progress,
) -> Result<QueryRuns> {
    progress.start("searching", Some(queries.len() as u64), "queries");
    let mut run: HashMap<String, Vec<(String, f32)>> = HashMap::new();
    let mut latencies = Vec::with_capacity(queries.len());
    for (query_id, text) in queries {
        let started = Instant::now();
        let depth = if options.mode == SearchMode::Hybrid { FUSED_CANDIDATES } else { options.depth.max(100) };
        let keyword = || -> Result<Vec<(String, f32)>> {
            Ok(index.search_plain(text, depth)?.into_iter().map(|h| (h.key, h.score)).collect())
        };
        let ranked: Vec<(String, f32)> = match semantic {
            Some((embedder, vectors)) => {
                let query = embedder.embed_query(text)?;
                let neighbors: Vec<(String, f32)> =
                    vectors.nearest(&query, depth)?.into_iter().map(|n| (n.key.to_owned(), n.score)).collect();
                if options.mode == SearchMode::Hybrid {
                    let keyword = keyword()?;
                    let similarities =
                        vectors.similarities(&query, hybrid::Sides::lacking_similarity(&keyword, &neighbors))?;
                    let sides = hybrid::Sides { keyword: &keyword, semantic: &neighbors, similarities: &similarities };
                    let fused = options.fusion.fuse(sides, hybrid::count_words(text));
                    fused.into_iter().take(FUSED_CANDIDATES).map(|(k, f)| (k, f.score)).collect()
                } else {
                    neighbors
                }
            }
            None => keyword()?,
        };
        latencies.push(started.elapsed().as_secs_f64() * 1e3);
        run.insert(query_id.clone(), ranked);
        progress.advance(1);
    }
    progress.finish("searched");
    Ok((run, latencies))
}

/// Embeds the corpus documents whose text has no vector yet (cached across runs).
fn embed_corpus(
    embedder: &Embedder,
    vectors: &mut VectorIndex,
    corpus: &[eval::BeirDoc],
    progress: &dyn Progress,
) -> Result<()> {
    let todo: Vec<(&str, u64, String)> = corpus
        .iter()
        .map(|doc| {
            let text = document_text(&doc.title, &doc.text);
            (doc.id.as_str(), text_hash(&text), text)
        })
        .filter(|(id, hash, _)| vectors.text_hash(id) != Some(*hash))
        .collect();
    if todo.is_empty() {
        return Ok(());
    }
    progress.start("embedding", Some(todo.len() as u64), "documents");
    for chunk in todo.chunks(256) {
        let texts: Vec<&str> = chunk.iter().map(|(_, _, t)| t.as_str()).collect();
        let embedded = embedder.embed_documents(&texts)?;
        let entries: Vec<(&str, u64, &[f32])> =
            chunk.iter().zip(&embedded).map(|((id, hash, _), v)| (*id, *hash, v.as_slice())).collect();
        vectors.append(&entries, 0)?;
        progress.advance(chunk.len() as u64);
    }
    progress.finish("embedded");
    Ok(())
}
