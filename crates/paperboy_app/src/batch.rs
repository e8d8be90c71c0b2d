//! Vector searches of concurrent requests, run together.
//!
//! Scanning the in-memory codes of every paper is bound by memory traffic, not arithmetic; a batch
//! of queries reads the codes once ([`VectorIndex::nearest_many`]). There is no batching thread
//! and no waiting for a batch to fill: a request that finds no scan running becomes the leader,
//! scans for every request queued so far (its own included) and hands out the results; requests
//! arriving meanwhile queue for the next scan, whose leader is one of them. Alone, a request scans
//! at once, as before.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Condvar, Mutex, RwLock},
};

use paperboy_search::VectorIndex;

use crate::{Error, Result};

/// The most queries one scan serves (their candidate lists stay small next to the codes).
const MAX_BATCH: usize = 16;

/// What a search gets back: keys and cosine similarities, best first.
pub(crate) type Neighbors = Vec<(String, f32)>;

/// See the module documentation.
#[derive(Default)]
pub(crate) struct ScanBatcher {
    state: Mutex<State>,
    finished: Condvar,
}

#[derive(Default)]
struct State {
    next_ticket: u64,
    queued: VecDeque<(u64, Vec<f32>, usize)>,
    results: HashMap<u64, std::result::Result<Neighbors, String>>,
    scanning: bool,
}

impl ScanBatcher {
    /// The `k` nearest documents of `query` in `vectors`, scanned together with whatever other
    /// requests are waiting.
    pub(crate) fn nearest(&self, vectors: &RwLock<VectorIndex>, query: Vec<f32>, k: usize) -> Result<Neighbors> {
        {
            // Through the IVF index, searches share nothing: each runs on its own, at once.
            let index = vectors.read().unwrap_or_else(|p| p.into_inner());
            if !index.scans_in_memory() {
                let found = index.nearest(&query, k)?;
                return Ok(found.into_iter().map(|n| (n.key.to_owned(), n.score)).collect());
            }
        }
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.queued.push_back((ticket, query, k));
        loop {
            if let Some(result) = state.results.remove(&ticket) {
                // A failed scan is the index's failure (a 500 and a log line), not the request's.
                return result.map_err(|message| Error::Search(paperboy_search::Error::Index(message)));
            }
            if state.scanning {
                state = self.finished.wait(state).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            state.scanning = true;
            let take = state.queued.len().min(MAX_BATCH);
            let batch: Vec<(u64, Vec<f32>, usize)> = state.queued.drain(..take).collect();
            drop(state);
            // A panic must not leave the others waiting for a scan that never ends.
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| scan(vectors, &batch)));
            state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            state.scanning = false;
            let results = outcome.unwrap_or_else(|_| vec![Err("the vector search failed".to_owned()); batch.len()]);
            for ((ticket, _, _), result) in batch.iter().zip(results) {
                state.results.insert(*ticket, result);
            }
            self.finished.notify_all();
        }
    }
}

fn scan(
    vectors: &RwLock<VectorIndex>,
    batch: &[(u64, Vec<f32>, usize)],
) -> Vec<std::result::Result<Neighbors, String>> {
    let vectors = vectors.read().unwrap_or_else(|p| p.into_inner());
    let queries: Vec<(&[f32], usize)> = batch.iter().map(|(_, query, k)| (query.as_slice(), *k)).collect();
    match vectors.nearest_many(&queries) {
        Ok(lists) => {
            lists.into_iter().map(|list| Ok(list.into_iter().map(|n| (n.key.to_owned(), n.score)).collect())).collect()
        }
        Err(e) => vec![Err(e.to_string()); batch.len()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use paperboy_search::vector::unit_vector as unit;

    #[test]
    fn concurrent_requests_get_their_own_answers() {
        let dir = tempfile::tempdir().unwrap();
        let d = 32;
        let mut index = VectorIndex::open(dir.path(), "test", d).unwrap();
        let keys: Vec<String> = (0..500).map(|i| format!("doc{i}")).collect();
        let vectors: Vec<Vec<f32>> = (0..500).map(|i| unit(2 * i + 1, d)).collect();
        let entries: Vec<(&str, u64, &[f32])> =
            keys.iter().zip(&vectors).map(|(k, v)| (k.as_str(), 0, v.as_slice())).collect();
        index.append(&entries, 1).unwrap();
        let index = RwLock::new(index);
        let batcher = ScanBatcher::default();
        std::thread::scope(|scope| {
            for worker in 0..8u64 {
                let (batcher, index, vectors) = (&batcher, &index, &vectors);
                scope.spawn(move || {
                    for round in 0..25u64 {
                        let which = ((worker * 25 + round) * 7 % 500) as usize;
                        let k = 1 + (round as usize % 10);
                        let found = batcher.nearest(index, vectors[which].clone(), k).unwrap();
                        let alone: Vec<(String, f32)> = index
                            .read()
                            .unwrap()
                            .nearest(&vectors[which], k)
                            .unwrap()
                            .into_iter()
                            .map(|n| (n.key.to_owned(), n.score))
                            .collect();
                        assert_eq!(found, alone);
                        assert_eq!(found[0].0, format!("doc{which}"));
                    }
                });
            }
        });
        assert!(batcher.state.lock().unwrap().results.is_empty(), "every answer was collected");
    }
}
