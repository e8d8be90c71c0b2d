//! Hybrid ranking: one list from a keyword (BM25) list and a semantic (cosine) list.
//!
//! The default is score-aware: each list's scores are min-max normalised over its candidates and
//! combined as `w · keyword + (1 − w) · semantic`, a document missing from a list counting 0 there.
//! The keyword weight `w` depends on the query's length: short queries (a technical phrase, a
//! single word) are what BM25 matches exactly and what sentence embeddings represent worst, so
//! they lean on the keywords; long queries (a claim, a sentence) lean on meaning. Reciprocal rank
//! fusion is available for comparison.

use serde::{Deserialize, Serialize};

/// How to fuse.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "method")]
pub enum Fusion {
    /// Min-max normalised scores, combined with a keyword weight that depends on query length.
    Convex {
        /// Keyword weight for queries of at most `short_words` words.
        short_weight: f32,
        /// Keyword weight for longer queries.
        long_weight: f32,
        /// The longest query (in words) that counts as short.
        short_words: usize,
    },
    /// Reciprocal rank fusion: `Σ 1 / (k + rank)`.
    Rrf {
        /// The rank offset, classically 60.
        k: f32,
    },
}

impl Default for Fusion {
    /// Weights tuned on SciFact's train queries (long queries) and on the phrase and single-word
    /// cases of the sample corpus (docs/BENCHMARKS.md).
    fn default() -> Self {
        Fusion::Convex { short_weight: 0.8, long_weight: 0.6, short_words: 3 }
    }
}

/// Where a fused result came from: what the explanation of a result shows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Fused {
    /// The fused score.
    pub score: f32,
    /// Its BM25 score, if the keyword list had it.
    pub keyword: Option<f32>,
    /// Its cosine similarity, if the semantic list had it.
    pub semantic: Option<f32>,
    /// Its BM25 score min-max normalised over the keyword candidates (convex fusion).
    pub keyword_normalised: Option<f32>,
    /// Its similarity min-max normalised over the semantic candidates (convex fusion).
    pub semantic_normalised: Option<f32>,
}

impl Fused {
    /// Nothing from either list yet.
    pub const EMPTY: Fused =
        Fused { score: 0.0, keyword: None, semantic: None, keyword_normalised: None, semantic_normalised: None };
}

impl Fusion {
    /// The keyword weight used for a query of `words` words (convex fusion).
    pub fn keyword_weight(&self, words: usize) -> Option<f32> {
        match *self {
            Fusion::Convex { short_weight, long_weight, short_words } => {
                Some(if words <= short_words { short_weight } else { long_weight })
            }
            Fusion::Rrf { .. } => None,
        }
    }

    /// Fuses two ranked lists (best first) of `(key, score)`; the result is best first, ties
    /// broken by key for determinism.
    pub fn fuse(
        &self,
        keyword: &[(String, f32)],
        semantic: &[(String, f32)],
        query_words: usize,
    ) -> Vec<(String, Fused)> {
        let mut fused: std::collections::HashMap<&str, Fused> = std::collections::HashMap::new();
        match *self {
            Fusion::Convex { .. } => {
                let weight = self.keyword_weight(query_words).expect("convex");
                for (list, list_weight, is_keyword) in [(keyword, weight, true), (semantic, 1.0 - weight, false)] {
                    let (lo, hi) = list
                        .iter()
                        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), (_, s)| (lo.min(*s), hi.max(*s)));
                    for (key, score) in list {
                        // A list whose scores are all equal says nothing about order: it counts fully.
                        let normalised = if hi > lo { (score - lo) / (hi - lo) } else { 1.0 };
                        let entry = fused.entry(key).or_insert(Fused::EMPTY);
                        entry.score += list_weight * normalised;
                        if is_keyword {
                            (entry.keyword, entry.keyword_normalised) = (Some(*score), Some(normalised));
                        } else {
                            (entry.semantic, entry.semantic_normalised) = (Some(*score), Some(normalised));
                        }
                    }
                }
            }
            Fusion::Rrf { k } => {
                for (list, is_keyword) in [(keyword, true), (semantic, false)] {
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
        let fusion = Fusion::Convex { short_weight: 0.8, long_weight: 0.2, short_words: 3 };
        let short: Vec<String> = fusion.fuse(&keyword, &semantic, 2).into_iter().map(|(k, _)| k).collect();
        let long: Vec<String> = fusion.fuse(&keyword, &semantic, 12).into_iter().map(|(k, _)| k).collect();
        assert_eq!(short[0], "a", "short queries follow the keywords");
        assert_eq!(long[0], "c", "long queries follow the meaning");
    }

    #[test]
    fn fused_results_say_where_they_came_from() {
        let fused = Fusion::default().fuse(&list(&[("a", 3.0)]), &list(&[("a", 0.7), ("b", 0.6)]), 5);
        let a = fused.iter().find(|(k, _)| k == "a").unwrap().1;
        assert_eq!((a.keyword, a.semantic), (Some(3.0), Some(0.7)));
        let b = fused.iter().find(|(k, _)| k == "b").unwrap().1;
        assert_eq!(b.keyword, None);
    }

    #[test]
    fn rrf_rewards_agreement() {
        let fused = Fusion::Rrf { k: 60.0 }.fuse(&list(&[("a", 1.0), ("b", 0.5)]), &list(&[("b", 0.9), ("c", 0.8)]), 4);
        assert_eq!(fused[0].0, "b");
    }

    #[test]
    fn words_are_counted_without_punctuation() {
        assert_eq!(count_words("  diffusion   policy - "), 2);
        assert_eq!(count_words("\"speculative decoding\""), 2);
    }
}
