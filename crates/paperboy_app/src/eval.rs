//! `paperboy eval beir`: indexes a BEIR-layout corpus in a scratch index under the data directory,
//! with the same analysis and ranking as paper search, and measures nDCG@10 and Recall@100.

use std::{collections::HashMap, path::Path, time::Instant};

use paperboy_search::{
    FullTextIndex, IndexDoc, Ranking,
    eval::{self, EvalReport},
};
use serde::Serialize;

use crate::{Error, Progress, Result};

/// What an evaluation measured.
#[derive(Debug, Clone, Serialize)]
pub struct BeirRun {
    /// The dataset folder.
    pub dataset: String,
    /// The qrels split.
    pub split: String,
    /// The retrieval mode.
    pub mode: &'static str,
    /// Documents indexed.
    pub documents: usize,
    /// The measures.
    #[serde(flatten)]
    pub report: EvalReport,
    /// Seconds to build the scratch index.
    pub index_seconds: f64,
    /// Median query latency, milliseconds.
    pub query_ms_median: f64,
}

/// Evaluates keyword search on a BEIR dataset. The scratch index lives in `scratch_dir` and is
/// rebuilt each run.
pub fn beir(
    dataset_dir: &Path,
    split: &str,
    scratch_dir: &Path,
    ranking: Ranking,
    progress: &dyn Progress,
) -> Result<BeirRun> {
    let dataset = eval::load_beir(dataset_dir, split)?;
    if dataset.queries.is_empty() {
        return Err(Error::Invalid(format!("{}: no query of the {split} split has judgments", dataset_dir.display())));
    }
    if scratch_dir.exists() {
        std::fs::remove_dir_all(scratch_dir)
            .map_err(|e| Error::Invalid(format!("cannot clear {}: {e}", scratch_dir.display())))?;
    }
    let started = Instant::now();
    progress.start("indexing", Some(dataset.corpus.len() as u64), "documents");
    let index = FullTextIndex::open(scratch_dir, ranking)?;
    let mut writer = index.writer(256 * 1024 * 1024)?;
    for doc in &dataset.corpus {
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
    let index_seconds = started.elapsed().as_secs_f64();

    progress.start("searching", Some(dataset.queries.len() as u64), "queries");
    let mut run: HashMap<String, Vec<(String, f32)>> = HashMap::new();
    let mut latencies = Vec::with_capacity(dataset.queries.len());
    for (query_id, text) in &dataset.queries {
        let started = Instant::now();
        let hits = index.search_plain(text, 100)?;
        latencies.push(started.elapsed().as_secs_f64() * 1e3);
        run.insert(query_id.clone(), hits.into_iter().map(|h| (h.key, h.score)).collect());
        progress.advance(1);
    }
    progress.finish("searched");
    latencies.sort_by(f64::total_cmp);
    Ok(BeirRun {
        dataset: dataset_dir.display().to_string(),
        split: split.to_owned(),
        mode: "keyword",
        documents: dataset.corpus.len(),
        report: eval::evaluate(&run, &dataset.qrels),
        index_seconds,
        query_ms_median: latencies[latencies.len() / 2],
    })
}
