//! Hybrid ranking: one list from a keyword (BM25) list and a semantic (cosine) list.
//!
//! The default is score-aware: each side's scores are divided by its best candidate's and combined
//! as `w · keyword + (1 − w) · semantic`. Every candidate has its true similarity (the caller
//! computes it for papers found by words but not among the nearest); one missing from the keyword
//! list counts 0 there. The keyword weight `w` depends on the query's length: short queries (a
//! technical phrase, a single word) are what BM25 matches exactly and what sentence embeddings
//! represent worst, so they lean on the keywords; long queries (a claim, a sentence) weigh both
//! alike. A paper found by meaning alone enters only at a similarity of at least [`MEANING_FLOOR`]
//! times the query's best. Reciprocal rank fusion is available for comparison. Every setting was tuned
//! on SciFact's train queries (docs/BENCHMARKS.md, "Fusion").

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

/// A paper that the query's words did not find enters a hybrid list only at a similarity of at
/// least this fraction of the query's best. Relative, because similarities shift with a query's
/// length (a claim's best is about 0.7, a single word's 0.2). On SciFact train it drops 70% of
/// those papers, nearly all unrelated, while nDCG@10 stays and Recall@100 moves by 0.0002
/// (docs/BENCHMARKS.md).
pub const MEANING_FLOOR: f32 = 0.70;

/// How to fuse.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "method")]
pub enum Fusion {
    /// Scores divided by each side's best, combined with a keyword weight that depends on query
    /// length.
    Convex {
        /// Keyword weight for queries of at most `short_words` words.
        short_weight: f32,
        /// Keyword weight for longer queries.
        long_weight: f32,
        /// The longest query (in words) that counts as short.
        short_words: usize,
        /// The least similarity of a paper found by meaning alone, as a fraction of the best
        /// ([`MEANING_FLOOR`]).
        meaning_floor: f32,
    },
    /// Reciprocal rank fusion: `Σ 1 / (k + rank)` over the two lists as they are.
    Rrf {
        /// The rank offset, classically 60.
        k: f32,
    },
}

impl Default for Fusion {
    /// Tuned on SciFact's train queries (long queries) and on the phrase and single-word cases of
    /// the sample corpus (docs/BENCHMARKS.md).
    fn default() -> Self {
        Fusion::Convex { short_weight: 0.8, long_weight: 0.5, short_words: 3, meaning_floor: MEANING_FLOOR }
    }
}

/// Where a fused result came from: what the explanation of a result shows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Fused {
    /// The fused score.
    pub score: f32,
    /// Its BM25 score, if the keyword list had it.
    pub keyword: Option<f32>,
    /// Its cosine similarity to the query, if it has a vector.
    pub semantic: Option<f32>,
    /// Its BM25 score divided by the best keyword candidate's (convex fusion).
    pub keyword_normalised: Option<f32>,
    /// Its similarity divided by the best candidate's (convex fusion).
    pub semantic_normalised: Option<f32>,
}

impl Fused {
    /// Nothing from either list yet.
    pub const EMPTY: Fused =
        Fused { score: 0.0, keyword: None, semantic: None, keyword_normalised: None, semantic_normalised: None };
}

/// What a hybrid search fuses.
#[derive(Debug, Clone, Copy)]
pub struct Sides<'a> {
    /// The best matches by words, best first: `(key, BM25)`.
    pub keyword: &'a [(String, f32)],
    /// The nearest by meaning, best first: `(key, similarity)`.
    pub semantic: &'a [(String, f32)],
    /// The similarity of keyword candidates that `semantic` lacks ([`Sides::lacking_similarity`]).
    pub similarities: &'a [(&'a str, f32)],
}

impl<'a> Sides<'a> {
    /// The keyword candidates whose similarity convex fusion needs and `semantic` does not hold.
    pub fn lacking_similarity(keyword: &'a [(String, f32)], semantic: &[(String, f32)]) -> Vec<&'a str> {
        let nearest: HashSet<&str> = semantic.iter().map(|(k, _)| k.as_str()).collect();
        keyword.iter().map(|(k, _)| k.as_str()).filter(|k| !nearest.contains(k)).collect()
    }
}

impl Fusion {
    /// The keyword weight used for a query of `words` words (convex fusion).
    pub fn keyword_weight(&self, words: usize) -> Option<f32> {
        match *self {
            Fusion::Convex { short_weight, long_weight, short_words, .. } => {
                Some(if words <= short_words { short_weight } else { long_weight })
            }
            Fusion::Rrf { .. } => None,
        }
    }

    /// Fuses the two sides into one list, best first, ties broken by key for determinism.
    pub fn fuse(&self, sides: Sides<'_>, query_words: usize) -> Vec<(String, Fused)> {
        let mut fused: HashMap<&str, Fused> = HashMap::new();
        match *self {
            Fusion::Convex { meaning_floor, .. } => {
                let weight = self.keyword_weight(query_words).expect("convex");
                let best = |scores: &mut dyn Iterator<Item = f32>| {
                    let best = scores.fold(0f32, f32::max);
                    if best > 0.0 { best } else { 1.0 }
                };
                let keyword_best = best(&mut sides.keyword.iter().map(|(_, s)| *s));
                for (key, score) in sides.keyword {
                    let normalised = (score / keyword_best).max(0.0);
                    let entry = fused.entry(key).or_insert(Fused::EMPTY);
                    entry.score += weight * normalised;
                    (entry.keyword, entry.keyword_normalised) = (Some(*score), Some(normalised));
                }
                let similarities =
                    sides.semantic.iter().map(|(k, s)| (k.as_str(), *s)).chain(sides.similarities.iter().copied());
                let semantic_best = best(&mut similarities.clone().map(|(_, s)| s));
                for (key, similarity) in similarities {
                    let entry = match fused.get_mut(key) {
                        Some(entry) => entry,
                        // Found by meaning alone: only when it is close enough.
                        None if similarity >= meaning_floor * semantic_best => fused.entry(key).or_insert(Fused::EMPTY),
                        None => continue,
                    };
                    if entry.semantic.is_some() {
                        continue;
                    }
                    let normalised = (similarity / semantic_best).max(0.0);
                    entry.score += (1.0 - weight) * normalised;
                    (entry.semantic, entry.semantic_normalised) = (Some(similarity), Some(normalised));
                }
            }
            Fusion::Rrf { k } => {
                for (list, is_keyword) in [(sides.keyword, true), (sides.semantic, false)] {
                    for (rank, (key, score)) in list.iter().enumerate() {
                        let entry = fused.entry(key).or_insert(Fused::EMPTY);
                        entry.score += 1.0 / (k + rank as f32 + 1.0);
                        if is_keyword { entry.keyword = Some(*score) } else { entry.semantic = Some(*score) }
                    }
                }
            }
        }
        let mut out: Vec<(String, Fused)> = fused.into_iter().map(|(k, f)| (k.to_owned(), f)).collect();
        out.sort_by(|a, b| b.1.score.total_cmp(&a.1.score).then_with(|| a.0.cmp(&b.0)));
        out
    }
}

/// How many words a query has, for [`Fusion::keyword_weight`].
pub fn count_words(query: &str) -> usize {
    query.split_whitespace().filter(|w| w.chars().any(char::is_alphanumeric)).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[(&str, f32)]) -> Vec<(String, f32)> {
        items.iter().map(|(k, s)| (k.to_string(), *s)).collect()
    }

    #[test]
    fn convex_fusion_weighs_by_query_length() {
        let keyword = list(&[("a", 10.0), ("b", 5.0), ("c", 0.0)]);
        let semantic = list(&[("c", 0.9), ("b", 0.5), ("d", 0.1)]);
        let fusion = Fusion::Convex { short_weight: 0.8, long_weight: 0.2, short_words: 3, meaning_floor: 0.0 };
        let sides = Sides { keyword: &keyword, semantic: &semantic, similarities: &[] };
        let short: Vec<String> = fusion.fuse(sides, 2).into_iter().map(|(k, _)| k).collect();
        let long: Vec<String> = fusion.fuse(sides, 12).into_iter().map(|(k, _)| k).collect();
        assert_eq!(short[0], "a", "short queries follow the keywords");
        assert_eq!(long[0], "c", "long queries follow the meaning");
    }

    #[test]
    fn fused_results_say_where_they_came_from() {
        let (keyword, semantic) = (list(&[("a", 3.0), ("c", 1.5)]), list(&[("a", 0.7), ("b", 0.6)]));
        assert_eq!(Sides::lacking_similarity(&keyword, &semantic), ["c"]);
        let sides = Sides { keyword: &keyword, semantic: &semantic, similarities: &[("c", 0.35)] };
        let fused = Fusion::default().fuse(sides, 5);
        let get = |key: &str| fused.iter().find(|(k, _)| k == key).unwrap().1;
        assert_eq!((get("a").keyword, get("a").semantic), (Some(3.0), Some(0.7)));
        assert_eq!((get("b").keyword, get("b").semantic), (None, Some(0.6)));
        // A paper found by words has its true similarity, however low, and each side is divided
        // by its best: c = 0.5 × 1.5 / 3 + 0.5 × 0.35 / 0.7.
        assert_eq!((get("c").keyword_normalised, get("c").semantic_normalised), (Some(0.5), Some(0.5)));
        assert!((get("c").score - 0.5).abs() < 1e-6);
    }

    #[test]
    fn papers_found_by_meaning_alone_need_the_floor() {
        let keyword = list(&[("words", 2.0)]);
        let semantic = list(&[("close", 0.62), ("words", 0.5), ("far", 0.43)]);
        let sides = Sides { keyword: &keyword, semantic: &semantic, similarities: &[] };
        let keys: Vec<String> = Fusion::default().fuse(sides, 2).into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["words", "close"], "below {MEANING_FLOOR} × the best, meaning alone adds nothing");
        let low = list(&[("words", 0.1)]);
        let sides = Sides { keyword: &keyword, semantic: &low, similarities: &[] };
        assert_eq!(Fusion::default().fuse(sides, 2).len(), 1, "the words' papers stay whatever their similarity");
    }

    #[test]
    fn rrf_rewards_agreement() {
        let (keyword, semantic) = (list(&[("a", 1.0), ("b", 0.5)]), list(&[("b", 0.9), ("c", 0.8)]));
        let fused =
            Fusion::Rrf { k: 60.0 }.fuse(Sides { keyword: &keyword, semantic: &semantic, similarities: &[] }, 4);
        assert_eq!(fused[0].0, "b");
    }

    #[test]
    fn words_are_counted_without_punctuation() {
        assert_eq!(count_words("  diffusion   policy - "), 2);
        assert_eq!(count_words("\"speculative decoding\""), 2);
    }
}
