//! Searching the vectors held in memory: a scan of their 8-bit codes rescored exactly (one pass for
//! a batch of queries), or an exact scan; and keeping the codes up to date.

use rayon::prelude::*;

use super::{
    KeepKey, KeepSlot, Neighbor, VectorIndex,
    score::{TopK, best, dot, keep_best, vectorized},
};
use crate::{
    Error, Result,
    sq8::{Quantizer, QueryCode},
};

impl VectorIndex {
    /// Recomputes the code ranges from every in-memory vector and re-encodes them all (a few tens of
    /// milliseconds at 100k vectors).
    pub(super) fn rebuild_codes(&mut self) {
        let d = self.meta.dimension;
        if self.vectors.is_empty() {
            self.codes = Vec::new();
            self.quantizer = None;
            return;
        }
        // A little headroom, so that most vectors added later fit the ranges without a rebuild.
        let quantizer = Quantizer::fit(&self.vectors, d, 0.02);
        let parts: Vec<Vec<u8>> = self.vectors.par_chunks(d * 4096).map(|chunk| quantizer.encode_all(chunk)).collect();
        self.codes = parts.concat();
        self.quantizer = Some(quantizer);
    }

    /// Brings the codes up to date after `touched` slots got new vectors (new slots in order, or
    /// replaced ones); a vector outside the ranges re-fits them.
    pub(super) fn update_codes(&mut self, touched: &[usize]) {
        let d = self.meta.dimension;
        let Some(quantizer) = &self.quantizer else { return self.rebuild_codes() };
        if self.vectors.is_empty() {
            return self.rebuild_codes();
        }
        let vector = |slot: usize| &self.vectors[slot * d..(slot + 1) * d];
        if touched.iter().any(|&slot| !quantizer.covers(vector(slot))) {
            return self.rebuild_codes();
        }
        let mut code = Vec::with_capacity(d);
        let mut in_order = true;
        for &slot in touched {
            code.clear();
            quantizer.encode_into(vector(slot), &mut code);
            match (slot * d).cmp(&self.codes.len()) {
                std::cmp::Ordering::Less => self.codes[slot * d..(slot + 1) * d].copy_from_slice(&code),
                std::cmp::Ordering::Equal => self.codes.extend_from_slice(&code),
                // New slots arrive in order; anything else would leave a gap.
                std::cmp::Ordering::Greater => {
                    in_order = false;
                    break;
                }
            }
        }
        if !in_order {
            self.rebuild_codes();
        }
    }

    /// The `k` documents most similar to `query` (a unit vector), best first.
    pub fn nearest(&self, query: &[f32], k: usize) -> Result<Vec<Neighbor<'_>>> {
        self.find(query, k, None)
    }

    /// The `k` documents most similar to `query` (a unit vector) that `keep` accepts, best first.
    pub fn search(&self, query: &[f32], k: usize, keep: &(dyn Fn(&str) -> bool + Sync)) -> Result<Vec<Neighbor<'_>>> {
        self.find(query, k, Some(keep))
    }

    pub(super) fn check_dimension(&self, query: &[f32]) -> Result<()> {
        match query.len() == self.meta.dimension {
            true => Ok(()),
            false => Err(Error::Input(format!(
                "the query vector has {} dimensions, the index {}",
                query.len(),
                self.meta.dimension
            ))),
        }
    }

    fn find(&self, query: &[f32], k: usize, keep: Option<&KeepKey<'_>>) -> Result<Vec<Neighbor<'_>>> {
        self.check_dimension(query)?;
        if k == 0 || self.keys.is_empty() {
            return Ok(Vec::new());
        }
        let best: Vec<(f32, usize)> = match &self.ivf {
            Some(ivf) if self.vectors.is_empty() || self.keys.len() > self.exact_limit => {
                let keep_slot = keep.map(|keep| move |slot: usize| keep(&self.keys[slot]));
                let candidates = ivf.search(query, k * 10, keep_slot.as_ref().map(|f| f as &KeepSlot<'_>));
                // Rescore the candidates exactly, from memory or from disk.
                let mut rescored = Vec::with_capacity(candidates.len());
                for slot in candidates {
                    let vector = match self.vectors.get(slot * self.meta.dimension..(slot + 1) * self.meta.dimension) {
                        Some(vector) => vector.to_vec(),
                        None => self.read_vector(self.records[slot])?,
                    };
                    rescored.push((dot(query, &vector), slot));
                }
                best(rescored, k)
            }
            _ if self.codes.len() == self.vectors.len() && self.quantizer.is_some() => self.scan(query, k, keep),
            _ => self.exact(query, k, keep),
        };
        Ok(best.into_iter().map(|(score, slot)| Neighbor { key: &self.keys[slot], score }).collect())
    }

    /// Scans every code, then rescores the best `2k` (at least 40) with the exact vectors: the same
    /// top `k` as [`VectorIndex::exact`] but for rare near-ties (tests measure it), at a quarter of
    /// the memory traffic.
    fn scan(&self, query: &[f32], k: usize, keep: Option<&KeepKey<'_>>) -> Vec<(f32, usize)> {
        self.scan_many(&[(query, k)], keep).pop().expect("one query in, one list out")
    }

    /// [`VectorIndex::scan`] for several queries in one pass over the codes: each block of codes is
    /// read from memory once and scored against every query while it is in the L1 cache, so a
    /// batch costs little more memory traffic than one query.
    fn scan_many(&self, queries: &[(&[f32], usize)], keep: Option<&KeepKey<'_>>) -> Vec<Vec<(f32, usize)>> {
        let d = self.meta.dimension;
        let quantizer = self.quantizer.as_ref().expect("codes are fitted");
        let prepared: Vec<(QueryCode, usize)> =
            queries.iter().map(|(query, k)| (quantizer.query(query), rescored_candidates(*k))).collect();
        let chunk = 8192;
        let keep_slot = keep.map(|keep| move |slot: usize| keep(&self.keys[slot]));
        let keep_slot = keep_slot.as_ref().map(|f| f as &KeepSlot<'_>);
        let partial: Vec<Vec<Vec<(f32, usize)>>> = self
            .codes
            .par_chunks(d * chunk)
            .enumerate()
            .map(|(chunk_index, codes)| scan_codes(&prepared, codes, d, chunk_index * chunk, keep_slot))
            .collect();
        let mut lists: Vec<Vec<(f32, usize)>> = vec![Vec::new(); queries.len()];
        for per_chunk in partial {
            for (list, found) in lists.iter_mut().zip(per_chunk) {
                list.extend(found);
            }
        }
        queries
            .iter()
            .zip(&prepared)
            .zip(lists)
            .map(|(((query, k), (_, candidates)), mut estimated)| {
                keep_best(&mut estimated, *candidates);
                let rescored: Vec<(f32, usize)> = vectorized(|| {
                    estimated
                        .iter()
                        .map(|&(_, slot)| (dot(query, &self.vectors[slot * d..(slot + 1) * d]), slot))
                        .collect()
                });
                best(rescored, *k)
            })
            .collect()
    }

    /// Whether searches scan the in-memory codes (so that a batch of queries shares one pass), rather
    /// than going through the IVF index.
    pub fn scans_in_memory(&self) -> bool {
        let scannable = self.ivf.is_none() || (!self.vectors.is_empty() && self.keys.len() <= self.exact_limit);
        scannable && self.quantizer.is_some() && self.codes.len() == self.vectors.len() && !self.keys.is_empty()
    }

    /// The `k` nearest documents of each query (its own `k`), best first: with the in-memory codes,
    /// one pass over them for the whole batch; otherwise one search per query.
    pub fn nearest_many(&self, queries: &[(&[f32], usize)]) -> Result<Vec<Vec<Neighbor<'_>>>> {
        if !self.scans_in_memory() {
            return queries.iter().map(|(query, k)| self.nearest(query, *k)).collect();
        }
        for (query, _) in queries {
            self.check_dimension(query)?;
        }
        let scans: Vec<(&[f32], usize)> = queries.iter().map(|(query, k)| (*query, (*k).max(1))).collect();
        Ok(self
            .scan_many(&scans, None)
            .into_iter()
            .zip(queries)
            .map(|(best, (_, k))| {
                best.into_iter().take(*k).map(|(score, slot)| Neighbor { key: &self.keys[slot], score }).collect()
            })
            .collect())
    }

    /// Scores every vector exactly (the reference the quantised scan is measured against).
    pub fn exact_search(&self, query: &[f32], k: usize) -> Vec<Neighbor<'_>> {
        self.exact(query, k, None).into_iter().map(|(score, slot)| Neighbor { key: &self.keys[slot], score }).collect()
    }

    /// Scans every vector.
    fn exact(&self, query: &[f32], k: usize, keep: Option<&KeepKey<'_>>) -> Vec<(f32, usize)> {
        let d = self.meta.dimension;
        let chunk = 4096;
        let partial: Vec<Vec<(f32, usize)>> = self
            .vectors
            .par_chunks(d * chunk)
            .enumerate()
            .map(|(chunk_index, vectors)| {
                let mut heap = TopK::new(k);
                vectorized(|| {
                    for (i, vector) in vectors.chunks_exact(d).enumerate() {
                        let slot = chunk_index * chunk + i;
                        let score = dot(query, vector);
                        if heap.would_take(score) && keep.is_none_or(|keep| keep(&self.keys[slot])) {
                            heap.push(score, slot);
                        }
                    }
                });
                heap.into_sorted()
            })
            .collect();
        best(partial.into_iter().flatten().collect(), k)
    }
}

/// How many of the best estimates a scan rescores exactly for `k` results: twice as many (at least
/// 40) kept recall@100 at 1.0 against exact search over 1,000 real queries on the 72k-paper corpus (see
/// docs/BENCHMARKS.md), and each rescored vector is a cache miss.
fn rescored_candidates(k: usize) -> usize {
    (2 * k).max(40)
}

/// For each prepared query, its best candidates (unordered; the `usize` beside the query says how
/// many) among consecutive codes (slots `first_slot ..`) that `keep` accepts, by estimated score.
fn scan_codes(
    queries: &[(QueryCode, usize)],
    codes: &[u8],
    dimension: usize,
    first_slot: usize,
    keep: Option<&KeepSlot<'_>>,
) -> Vec<Vec<(f32, usize)>> {
    let mut tops: Vec<TopK> = queries.iter().map(|(_, k)| TopK::new(*k)).collect();
    let mut orders = Vec::with_capacity(SCAN_BLOCK);
    for (block_index, block) in codes.chunks(dimension * SCAN_BLOCK).enumerate() {
        let first = first_slot + block_index * SCAN_BLOCK;
        for ((query, _), top) in queries.iter().zip(&mut tops) {
            // Ordered by the integer estimate: exact enough to pick candidates for rescoring.
            orders.clear();
            query.orders(block, dimension, &mut orders);
            for (i, &score) in orders.iter().enumerate() {
                if top.would_take(score) && keep.is_none_or(|keep| keep(first + i)) {
                    top.push(score, first + i);
                }
            }
        }
    }
    tops.into_iter().map(|top| top.items).collect()
}

/// Codes scored against every query of a batch while they are in the L1 cache (24 KiB at 384
/// dimensions).
const SCAN_BLOCK: usize = 64;
