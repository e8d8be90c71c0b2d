//! Retrieval evaluation the standard way: BEIR-layout corpora (`corpus.jsonl`, `queries.jsonl`,
//! `qrels/<split>.tsv`) and the measures as `trec_eval` / `pytrec_eval` compute them — ties in
//! score broken by document id, descending; nDCG with the judged relevance as gain and a
//! `log2(rank + 1)` discount; queries without any relevant document are left out.

use std::{
    collections::{BTreeMap, HashMap},
    fs::File,
    io::{BufRead, BufReader},
    path::Path,
};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One corpus document.
#[derive(Debug, Clone, Deserialize)]
pub struct BeirDoc {
    /// Its id.
    #[serde(rename = "_id")]
    pub id: String,
    /// Its title (may be empty).
    #[serde(default)]
    pub title: String,
    /// Its text.
    #[serde(default)]
    pub text: String,
}

#[derive(Deserialize)]
struct BeirQuery {
    #[serde(rename = "_id")]
    id: String,
    text: String,
}

/// A BEIR dataset: the corpus, the queries that have judgments in the split, and the judgments.
#[derive(Debug, Clone)]
pub struct BeirDataset {
    /// Every document.
    pub corpus: Vec<BeirDoc>,
    /// `(query id, text)` for the queries judged in the split, in file order.
    pub queries: Vec<(String, String)>,
    /// Judgments: query id -> document id -> relevance.
    pub qrels: Qrels,
}

/// Relevance judgments: query id -> document id -> relevance.
pub type Qrels = HashMap<String, HashMap<String, i32>>;

/// Loads `dir/corpus.jsonl`, `dir/queries.jsonl` and `dir/qrels/<split>.tsv`.
pub fn load_beir(dir: &Path, split: &str) -> Result<BeirDataset> {
    let corpus: Vec<BeirDoc> = read_jsonl(&dir.join("corpus.jsonl"))?;
    let all_queries: Vec<BeirQuery> = read_jsonl(&dir.join("queries.jsonl"))?;
    let qrels = read_qrels(&dir.join("qrels").join(format!("{split}.tsv")))?;
    let queries = all_queries.into_iter().filter(|q| qrels.contains_key(&q.id)).map(|q| (q.id, q.text)).collect();
    Ok(BeirDataset { corpus, queries, qrels })
}

fn open(path: &Path) -> Result<BufReader<File>> {
    File::open(path).map(BufReader::new).map_err(|source| Error::Io { path: path.display().to_string(), source })
}

fn read_jsonl<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>> {
    let mut out = Vec::new();
    for (index, line) in open(path)?.lines().enumerate() {
        let line = line.map_err(|source| Error::Io { path: path.display().to_string(), source })?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(
            serde_json::from_str(&line).map_err(|e| Error::Input(format!("{}:{}: {e}", path.display(), index + 1)))?,
        );
    }
    Ok(out)
}

/// Reads a qrels TSV (`query-id  corpus-id  score`, with or without the header line).
pub fn read_qrels(path: &Path) -> Result<Qrels> {
    let mut qrels: Qrels = HashMap::new();
    for (index, line) in open(path)?.lines().enumerate() {
        let line = line.map_err(|source| Error::Io { path: path.display().to_string(), source })?;
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.len() < 3 || (index == 0 && fields[2].trim() == "score") {
            continue;
        }
        let relevance: i32 = fields[2].trim().parse().map_err(|_| {
            Error::Input(format!("{}:{}: the score {:?} is not an integer", path.display(), index + 1, fields[2]))
        })?;
        qrels.entry(fields[0].trim().to_owned()).or_default().insert(fields[1].trim().to_owned(), relevance);
    }
    Ok(qrels)
}

/// One query's measures.
#[derive(Debug, Clone, Serialize)]
pub struct QueryScores {
    /// The query id.
    pub query_id: String,
    /// nDCG@10.
    pub ndcg_at_10: f64,
    /// Recall@100.
    pub recall_at_100: f64,
}

/// Mean measures over the judged queries.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    /// Queries evaluated (those with at least one relevant document).
    pub queries: usize,
    /// Mean nDCG@10.
    pub ndcg_at_10: f64,
    /// Mean Recall@100.
    pub recall_at_100: f64,
    /// Per query, sorted by query id.
    pub per_query: Vec<QueryScores>,
}

/// Evaluates a run: query id -> retrieved `(document id, score)` (any order; a query that is
/// missing retrieved nothing).
pub fn evaluate(run: &HashMap<String, Vec<(String, f32)>>, qrels: &Qrels) -> EvalReport {
    let mut per_query = Vec::new();
    let sorted_qrels: BTreeMap<&String, &HashMap<String, i32>> = qrels.iter().collect();
    for (query_id, judged) in sorted_qrels {
        if !judged.values().any(|&r| r > 0) {
            continue;
        }
        let mut ranked: Vec<(String, f32)> = run.get(query_id).cloned().unwrap_or_default();
        rank_like_trec_eval(&mut ranked);
        per_query.push(QueryScores {
            query_id: query_id.clone(),
            ndcg_at_10: ndcg_at(&ranked, judged, 10),
            recall_at_100: recall_at(&ranked, judged, 100),
        });
    }
    let n = per_query.len().max(1) as f64;
    EvalReport {
        queries: per_query.len(),
        ndcg_at_10: per_query.iter().map(|q| q.ndcg_at_10).sum::<f64>() / n,
        recall_at_100: per_query.iter().map(|q| q.recall_at_100).sum::<f64>() / n,
        per_query,
    }
}

/// Orders by score, descending, ties by document id, descending, as `trec_eval` does.
pub fn rank_like_trec_eval(ranked: &mut [(String, f32)]) {
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
}

/// nDCG at `k` of an already ranked list.
pub fn ndcg_at(ranked: &[(String, f32)], judged: &HashMap<String, i32>, k: usize) -> f64 {
    let dcg: f64 = ranked
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, (doc, _))| {
            let gain = judged.get(doc).copied().unwrap_or(0).max(0) as f64;
            gain / ((i + 2) as f64).log2()
        })
        .sum();
    let mut ideal: Vec<i32> = judged.values().copied().filter(|&r| r > 0).collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let idcg: f64 = ideal.iter().take(k).enumerate().map(|(i, &r)| r as f64 / ((i + 2) as f64).log2()).sum();
    if idcg == 0.0 { 0.0 } else { dcg / idcg }
}

/// Recall at `k` of an already ranked list.
pub fn recall_at(ranked: &[(String, f32)], judged: &HashMap<String, i32>, k: usize) -> f64 {
    let relevant = judged.values().filter(|&&r| r > 0).count();
    if relevant == 0 {
        return 0.0;
    }
    let found = ranked.iter().take(k).filter(|(doc, _)| judged.get(doc).is_some_and(|&r| r > 0)).count();
    found as f64 / relevant as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judged(pairs: &[(&str, i32)]) -> HashMap<String, i32> {
        pairs.iter().map(|(d, r)| (d.to_string(), *r)).collect()
    }

    fn ranked(docs: &[&str]) -> Vec<(String, f32)> {
        docs.iter().enumerate().map(|(i, d)| (d.to_string(), 10.0 - i as f32)).collect()
    }

    #[test]
    fn ndcg_matches_hand_computed_values() {
        // One relevant document at rank 3: 1/log2(4) / 1 = 0.5.
        assert!((ndcg_at(&ranked(&["a", "b", "c"]), &judged(&[("c", 1)]), 10) - 0.5).abs() < 1e-12);
        // Perfect ranking.
        assert!((ndcg_at(&ranked(&["a", "b"]), &judged(&[("a", 1), ("b", 1)]), 10) - 1.0).abs() < 1e-12);
        // Graded: gains 2 and 1, retrieved in the wrong order.
        let value = ndcg_at(&ranked(&["b", "a"]), &judged(&[("a", 2), ("b", 1)]), 10);
        let expected = (1.0 + 2.0 / 3f64.log2()) / (2.0 + 1.0 / 3f64.log2());
        assert!((value - expected).abs() < 1e-12);
        // Relevant document beyond the cut-off.
        assert_eq!(ndcg_at(&ranked(&["a", "b"]), &judged(&[("b", 1)]), 1), 0.0);
    }

    #[test]
    fn ties_break_by_document_id_descending() {
        let mut run = vec![("a".to_string(), 1.0), ("c".to_string(), 1.0), ("b".to_string(), 2.0)];
        rank_like_trec_eval(&mut run);
        let order: Vec<&str> = run.iter().map(|(d, _)| d.as_str()).collect();
        assert_eq!(order, ["b", "c", "a"]);
    }

    #[test]
    fn recall_counts_relevant_documents_in_the_cut_off() {
        assert_eq!(recall_at(&ranked(&["a", "b", "c"]), &judged(&[("a", 1), ("z", 1)]), 100), 0.5);
        assert_eq!(recall_at(&ranked(&["a"]), &judged(&[("a", 0)]), 100), 0.0);
    }

    #[test]
    fn evaluate_averages_over_judged_queries_and_counts_empty_runs_as_zero() {
        let mut qrels = Qrels::new();
        qrels.insert("q1".into(), judged(&[("a", 1)]));
        qrels.insert("q2".into(), judged(&[("b", 1)]));
        qrels.insert("q3".into(), judged(&[("c", 0)]));
        let mut run = HashMap::new();
        run.insert("q1".to_string(), ranked(&["a"]));
        let report = evaluate(&run, &qrels);
        assert_eq!(report.queries, 2);
        assert!((report.ndcg_at_10 - 0.5).abs() < 1e-12);
    }
}
