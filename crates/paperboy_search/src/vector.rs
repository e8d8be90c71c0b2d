//! The vector index: one L2-normalised embedding per document, on disk as an append-only file of
//! half-precision rows. Up to [`EXACT_SEARCH_LIMIT`] documents, memory holds every vector as `f32`
//! and as an 8-bit code: a search scans the codes (a quarter of the bytes, integer arithmetic) and
//! rescores the best few times `k` exactly. Past it, an inverted-file index of 8-bit codes (IVF-SQ8,
//! rescored exactly from disk) answers instead.
//!
//! On disk, in the index's folder:
//! - `rows.bin`: fixed-size records `[key length: u8][key: 47 bytes][text hash: u64 LE][vector: f16 × d]`;
//!   a document re-embedded later gets a new record, and the newest record of a key wins;
//! - `meta.json`: model, dimension, how many records are committed, and the store sequence number the
//!   vectors are up to date with. It is replaced atomically after the records it counts are synced,
//!   so records past the count (a crash mid-append) are ignored and overwritten.

use std::{
    collections::HashMap,
    fs::{File, OpenOptions},
    io::{BufReader, BufWriter, Read, Write},
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{
    Error, Result,
    sq8::{Quantizer, QueryCode},
};

const KEY_BYTES: usize = 47;
/// A filter on documents by key.
type KeepKey<'a> = dyn Fn(&str) -> bool + Sync + 'a;
/// A filter on documents by slot.
type KeepSlot<'a> = dyn Fn(usize) -> bool + Sync + 'a;
const FORMAT: u32 = 1;
/// Above this many documents, searches go through the IVF index instead of scanning everything.
pub const EXACT_SEARCH_LIMIT: usize = 200_000;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Meta {
    format: u32,
    model: String,
    dimension: usize,
    records: u64,
    seq: i64,
}

/// A document's vector with its key, as stored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Neighbor<'a> {
    /// The document's key.
    pub key: &'a str,
    /// Cosine similarity to the query.
    pub score: f32,
}

/// The vectors of one model for one corpus.
pub struct VectorIndex {
    dir: PathBuf,
    meta: Meta,
    /// Live documents: key -> slot in `keys` / `vectors`.
    slots: HashMap<String, usize>,
    keys: Vec<String>,
    text_hashes: Vec<u64>,
    /// Record number in `rows.bin` of each slot (for exact rescoring from disk).
    records: Vec<u64>,
    /// `slots.len() × dimension`, row-major; only kept when the index is small enough to scan.
    vectors: Vec<f32>,
    /// The 8-bit codes of `vectors`, in the same order, and their ranges (empty and `None` when
    /// `vectors` is).
    codes: Vec<u8>,
    quantizer: Option<Quantizer>,
    ivf: Option<Ivf>,
    superseded: u64,
    /// Above this many documents, the IVF index answers searches.
    exact_limit: usize,
    /// `rows.bin`, opened once for rescoring reads (reset when the rows are cleared).
    rows: std::sync::OnceLock<File>,
}

impl VectorIndex {
    /// Opens the vectors in `dir` for `model`, or creates an empty index. Vectors of another model or
    /// dimension are an [`Error::NeedsRebuild`]: they cannot be mixed with the model's.
    pub fn open(dir: &Path, model: &str, dimension: usize) -> Result<VectorIndex> {
        VectorIndex::open_with_limit(dir, model, dimension, EXACT_SEARCH_LIMIT)
    }

    /// [`VectorIndex::open`] with another exact-search limit (tests and benchmarks).
    pub fn open_with_limit(dir: &Path, model: &str, dimension: usize, exact_limit: usize) -> Result<VectorIndex> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.display().to_string(), source })?;
        let meta_path = dir.join("meta.json");
        let meta = match std::fs::read_to_string(&meta_path) {
            Ok(text) => {
                let meta: Meta = serde_json::from_str(&text)
                    .map_err(|e| Error::Index(format!("{} is unreadable: {e}", meta_path.display())))?;
                if meta.format != FORMAT || meta.model != model || meta.dimension != dimension {
                    return Err(Error::NeedsRebuild(format!(
                        "the vectors in {} are {}-dimensional vectors of {}; the configured model {model} makes {dimension}",
                        dir.display(),
                        meta.dimension,
                        meta.model
                    )));
                }
                meta
            }
            Err(_) => Meta { format: FORMAT, model: model.to_owned(), dimension, records: 0, seq: 0 },
        };
        let mut index = VectorIndex {
            dir: dir.to_owned(),
            meta,
            slots: HashMap::new(),
            keys: Vec::new(),
            text_hashes: Vec::new(),
            records: Vec::new(),
            vectors: Vec::new(),
            codes: Vec::new(),
            quantizer: None,
            ivf: None,
            superseded: 0,
            exact_limit,
            rows: std::sync::OnceLock::new(),
        };
        index.load()?;
        Ok(index)
    }

    fn record_size(&self) -> usize {
        1 + KEY_BYTES + 8 + 2 * self.meta.dimension
    }

    fn load(&mut self) -> Result<()> {
        let path = self.dir.join("rows.bin");
        let Ok(file) = File::open(&path) else { return Ok(()) };
        let size = self.record_size();
        let expected = self.meta.records * size as u64;
        let actual = file.metadata().map_err(|source| Error::Io { path: path.display().to_string(), source })?.len();
        if actual < expected {
            return Err(Error::Index(format!("{} is shorter than its meta.json says (truncated?)", path.display())));
        }
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut record = vec![0u8; size];
        let mut vector = vec![0f32; self.meta.dimension];
        let keep_vectors = self.meta.records as usize <= self.exact_limit;
        for record_number in 0..self.meta.records {
            reader.read_exact(&mut record).map_err(|source| Error::Io { path: path.display().to_string(), source })?;
            let (key, hash) = decode_header(&record)?;
            decode_vector(&record[1 + KEY_BYTES + 8..], &mut vector);
            self.put(key, hash, record_number, keep_vectors.then_some(&vector));
        }
        if self.slots.len() > self.exact_limit && !self.load_ivf().unwrap_or(false) {
            self.build_ivf()?;
        }
        if self.slots.len() > self.exact_limit {
            self.vectors = Vec::new();
        } else if self.vectors.len() != self.keys.len() * self.meta.dimension {
            // More records than the limit (re-embedded documents leave superseded ones) but few
            // enough live documents to scan: read the live ones back.
            let mut vectors = Vec::with_capacity(self.keys.len() * self.meta.dimension);
            for slot in 0..self.keys.len() {
                vectors.extend(self.read_vector(self.records[slot])?);
            }
            self.vectors = vectors;
        }
        self.rebuild_codes();
        Ok(())
    }

    /// Recomputes the code ranges from every in-memory vector and re-encodes them all (a few tens of
    /// milliseconds at 100k vectors).
    fn rebuild_codes(&mut self) {
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
    fn update_codes(&mut self, touched: &[usize]) {
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

    /// Records `key` at `slot` (a new slot, or replacing the key's old one).
    fn put(&mut self, key: String, hash: u64, record: u64, vector: Option<&[f32]>) {
        let d = self.meta.dimension;
        match self.slots.get(&key) {
            Some(&slot) => {
                self.superseded += 1;
                self.text_hashes[slot] = hash;
                self.records[slot] = record;
                if let Some(vector) = vector
                    && self.vectors.len() >= (slot + 1) * d
                {
                    self.vectors[slot * d..(slot + 1) * d].copy_from_slice(vector);
                }
            }
            None => {
                self.slots.insert(key.clone(), self.keys.len());
                self.keys.push(key);
                self.text_hashes.push(hash);
                self.records.push(record);
                if let Some(vector) = vector {
                    self.vectors.extend_from_slice(vector);
                }
            }
        }
    }

    /// The model the vectors were made with.
    pub fn model(&self) -> &str {
        &self.meta.model
    }

    /// The vectors' width.
    pub fn dimension(&self) -> usize {
        self.meta.dimension
    }

    /// Documents with a vector.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no document has a vector.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The store sequence number the vectors are up to date with.
    pub fn seq(&self) -> i64 {
        self.meta.seq
    }

    /// The hash of the text a document's vector was made from, if it has one.
    pub fn text_hash(&self, key: &str) -> Option<u64> {
        self.slots.get(key).map(|&slot| self.text_hashes[slot])
    }

    /// Up to `n` stored vectors picked at random (the same ones for the same `seed` and contents):
    /// negatives for per-reader models.
    pub fn sample(&self, n: usize, seed: u64) -> Result<Vec<(String, Vec<f32>)>> {
        let mut state = seed | 1;
        let mut picked = std::collections::HashSet::new();
        let mut out = Vec::with_capacity(n.min(self.keys.len()));
        let mut tries = 0;
        while out.len() < n.min(self.keys.len()) && tries < n * 10 {
            tries += 1;
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let slot = (state % self.keys.len() as u64) as usize;
            if picked.insert(slot)
                && let Some(vector) = self.vector(&self.keys[slot])?
            {
                out.push((self.keys[slot].clone(), vector));
            }
        }
        Ok(out)
    }

    /// A document's vector.
    pub fn vector(&self, key: &str) -> Result<Option<Vec<f32>>> {
        let Some(&slot) = self.slots.get(key) else { return Ok(None) };
        let d = self.meta.dimension;
        if self.vectors.len() >= (slot + 1) * d {
            return Ok(Some(self.vectors[slot * d..(slot + 1) * d].to_vec()));
        }
        self.read_vector(self.records[slot]).map(Some)
    }

    fn read_vector(&self, record: u64) -> Result<Vec<f32>> {
        let path = self.dir.join("rows.bin");
        let file = match self.rows.get() {
            Some(file) => file,
            None => {
                let file =
                    File::open(&path).map_err(|source| Error::Io { path: path.display().to_string(), source })?;
                self.rows.get_or_init(|| file)
            }
        };
        let size = self.record_size();
        let mut bytes = vec![0u8; 2 * self.meta.dimension];
        file.read_exact_at(&mut bytes, record * size as u64 + (1 + KEY_BYTES + 8) as u64)
            .map_err(|source| Error::Io { path: path.display().to_string(), source })?;
        let mut vector = vec![0f32; self.meta.dimension];
        decode_vector(&bytes, &mut vector);
        Ok(vector)
    }

    /// Adds or replaces vectors, durably, and records that the vectors are now up to date with the
    /// store up to `seq`. Each vector must be `dimension` wide and finite.
    pub fn append(&mut self, entries: &[(&str, u64, &[f32])], seq: i64) -> Result<()> {
        let d = self.meta.dimension;
        let path = self.dir.join("rows.bin");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| Error::Io { path: path.display().to_string(), source })?;
        // Drop records a crash left past the committed count.
        let committed = self.meta.records * self.record_size() as u64;
        file.set_len(committed).map_err(|source| Error::Io { path: path.display().to_string(), source })?;
        let mut writer = BufWriter::with_capacity(1 << 20, &file);
        use std::io::Seek;
        writer
            .seek(std::io::SeekFrom::Start(committed))
            .map_err(|source| Error::Io { path: path.display().to_string(), source })?;
        let mut record = vec![0u8; self.record_size()];
        for (key, hash, vector) in entries {
            if vector.len() != d || vector.iter().any(|v| !v.is_finite()) {
                return Err(Error::Input(format!("the vector of {key} is not {d} finite numbers")));
            }
            encode_record(&mut record, key, *hash, vector)?;
            writer.write_all(&record).map_err(|source| Error::Io { path: path.display().to_string(), source })?;
        }
        writer.flush().map_err(|source| Error::Io { path: path.display().to_string(), source })?;
        drop(writer);
        file.sync_data().map_err(|source| Error::Io { path: path.display().to_string(), source })?;
        let first_record = self.meta.records;
        let keep_vectors = !self.vectors.is_empty() || self.keys.is_empty() || self.ivf.is_none();
        let mut touched = Vec::with_capacity(entries.len());
        for (offset, (key, hash, vector)) in entries.iter().enumerate() {
            self.put((*key).to_owned(), *hash, first_record + offset as u64, keep_vectors.then_some(*vector));
            let slot = self.slots[*key];
            touched.push(slot);
            if let Some(ivf) = &mut self.ivf {
                ivf.assign(slot, vector);
            }
        }
        if keep_vectors {
            self.update_codes(&touched);
        }
        self.meta.records += entries.len() as u64;
        self.meta.seq = self.meta.seq.max(seq);
        self.write_meta()?;
        if self.ivf.is_none() && self.slots.len() > self.exact_limit {
            self.build_ivf()?;
        }
        Ok(())
    }

    /// Records that the vectors are up to date with the store up to `seq` (nothing needed embedding).
    pub fn mark_seq(&mut self, seq: i64) -> Result<()> {
        if seq > self.meta.seq {
            self.meta.seq = seq;
            self.write_meta()?;
        }
        Ok(())
    }

    fn write_meta(&self) -> Result<()> {
        let path = self.dir.join("meta.json");
        let temporary = self.dir.join("meta.json.tmp");
        let text = serde_json::to_string_pretty(&self.meta).expect("meta serialises");
        std::fs::write(&temporary, text)
            .map_err(|source| Error::Io { path: temporary.display().to_string(), source })?;
        File::open(&temporary)
            .and_then(|f| f.sync_all())
            .map_err(|source| Error::Io { path: temporary.display().to_string(), source })?;
        std::fs::rename(&temporary, &path).map_err(|source| Error::Io { path: path.display().to_string(), source })
    }

    /// Deletes every vector (a rebuild), keeping the model and dimension.
    pub fn clear(&mut self) -> Result<()> {
        let _ = std::fs::remove_file(self.dir.join("rows.bin"));
        self.rows = std::sync::OnceLock::new();
        self.meta.records = 0;
        self.meta.seq = 0;
        self.slots.clear();
        self.keys.clear();
        self.text_hashes.clear();
        self.records.clear();
        self.vectors.clear();
        self.codes.clear();
        self.quantizer = None;
        self.ivf = None;
        self.superseded = 0;
        self.write_meta()
    }

    /// The `k` documents most similar to `query` (a unit vector), best first.
    pub fn nearest(&self, query: &[f32], k: usize) -> Result<Vec<Neighbor<'_>>> {
        self.find(query, k, None)
    }

    /// The `k` documents most similar to `query` (a unit vector) that `keep` accepts, best first.
    pub fn search(&self, query: &[f32], k: usize, keep: &(dyn Fn(&str) -> bool + Sync)) -> Result<Vec<Neighbor<'_>>> {
        self.find(query, k, Some(keep))
    }

    fn check_dimension(&self, query: &[f32]) -> Result<()> {
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
                rescored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
                rescored.truncate(k);
                rescored
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
                if estimated.len() > *candidates {
                    estimated.select_nth_unstable_by(*candidates - 1, best_first);
                    estimated.truncate(*candidates);
                }
                let mut rescored: Vec<(f32, usize)> = vectorized(|| {
                    estimated
                        .iter()
                        .map(|&(_, slot)| (dot(query, &self.vectors[slot * d..(slot + 1) * d]), slot))
                        .collect()
                });
                if rescored.len() > *k {
                    rescored.select_nth_unstable_by(*k - 1, best_first);
                    rescored.truncate(*k);
                }
                rescored.sort_unstable_by(best_first);
                rescored
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
        let mut all: Vec<(f32, usize)> = partial.into_iter().flatten().collect();
        all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        all.truncate(k);
        all
    }

    /// Builds the inverted-file index over every vector (done automatically past
    /// [`EXACT_SEARCH_LIMIT`] documents).
    pub fn build_ivf(&mut self) -> Result<()> {
        let d = self.meta.dimension;
        let n = self.keys.len();
        let params = IvfParams::for_size(n);
        let stride = (n / params.training_sample.max(1)).max(1);
        let in_memory = self.vectors.len() == n * d;
        // Train on a sample, then stream every vector through: memory stays at the codes plus one
        // chunk, whatever the corpus size.
        let mut sample = Vec::with_capacity(n.div_ceil(stride) * d);
        for slot in (0..n).step_by(stride) {
            match in_memory {
                true => sample.extend_from_slice(&self.vectors[slot * d..(slot + 1) * d]),
                false => sample.extend(self.read_vector(self.records[slot])?),
            }
        }
        let mut ivf = Ivf::train(&sample, d, params);
        drop(sample);
        let chunk = 16_384;
        for first in (0..n).step_by(chunk) {
            let last = (first + chunk).min(n);
            if in_memory {
                ivf.add(first, &self.vectors[first * d..last * d]);
            } else {
                let mut vectors = Vec::with_capacity((last - first) * d);
                for slot in first..last {
                    vectors.extend(self.read_vector(self.records[slot])?);
                }
                ivf.add(first, &vectors);
            }
        }
        self.ivf = Some(ivf);
        // Past the exact-search size, the f32 copy is dropped: the 8-bit codes and the disk suffice.
        if n > self.exact_limit {
            self.vectors = Vec::new();
            self.rebuild_codes();
        }
        self.save_ivf()
    }

    /// Writes the IVF index beside the vectors (`ivf.bin`), so opening a large index does not
    /// retrain it. The file records how many vector records it covers; records appended later are
    /// assigned on open.
    pub fn save_ivf(&self) -> Result<()> {
        let Some(ivf) = &self.ivf else { return Ok(()) };
        let path = self.dir.join("ivf.bin");
        let temporary = self.dir.join("ivf.bin.tmp");
        let io = |source| Error::Io { path: path.display().to_string(), source };
        let mut out = BufWriter::with_capacity(1 << 20, File::create(&temporary).map_err(io)?);
        let header = serde_json::json!({
            "format": FORMAT, "records": self.meta.records, "slots": ivf.len(), "dimension": ivf.dimension,
            "lists": ivf.lists.len(), "probes": ivf.params.probes,
        });
        let mut write = |bytes: &[u8]| out.write_all(bytes).map_err(io);
        write(format!("{header}\n").as_bytes())?;
        for values in [&ivf.centroids, &ivf.quantizer.min, &ivf.quantizer.step] {
            for value in values.iter() {
                write(&value.to_le_bytes())?;
            }
        }
        for list in &ivf.lists {
            write(&(list.len() as u32).to_le_bytes())?;
            for slot in list {
                write(&slot.to_le_bytes())?;
            }
        }
        write(&ivf.codes)?;
        out.flush().map_err(io)?;
        drop(out);
        File::open(&temporary).and_then(|f| f.sync_all()).map_err(io)?;
        std::fs::rename(&temporary, &path).map_err(io)
    }

    /// Reads `ivf.bin` if it matches these vectors (same slots up to the records it covers).
    fn load_ivf(&mut self) -> Result<bool> {
        let path = self.dir.join("ivf.bin");
        let Ok(file) = File::open(&path) else { return Ok(false) };
        let corrupt = |what: &str| Error::Index(format!("{} is corrupt ({what}); it will be rebuilt", path.display()));
        let mut input = BufReader::with_capacity(1 << 20, file);
        let mut header = Vec::new();
        std::io::BufRead::read_until(&mut input, b'\n', &mut header).map_err(|_| corrupt("header"))?;
        let header: serde_json::Value = serde_json::from_slice(&header).map_err(|_| corrupt("header"))?;
        let number = |key: &str| header[key].as_u64().map(|v| v as usize).ok_or_else(|| corrupt(key));
        let (records, slots, dimension, lists, probes) =
            (number("records")?, number("slots")?, number("dimension")?, number("lists")?, number("probes")?);
        // Only usable when every slot it holds still points at the record it was built from.
        if dimension != self.meta.dimension
            || records as u64 > self.meta.records
            || slots > self.keys.len()
            || self.records[..slots].iter().any(|&r| r >= records as u64)
        {
            return Ok(false);
        }
        let mut read_f32s = |count: usize| -> Result<Vec<f32>> {
            let mut bytes = vec![0u8; count * 4];
            input.read_exact(&mut bytes).map_err(|_| corrupt("truncated"))?;
            Ok(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
        };
        let centroids = read_f32s(lists * dimension)?;
        let min = read_f32s(dimension)?;
        let step = read_f32s(dimension)?;
        let mut list_slots = Vec::with_capacity(lists);
        for _ in 0..lists {
            let mut len = [0u8; 4];
            input.read_exact(&mut len).map_err(|_| corrupt("truncated"))?;
            let mut bytes = vec![0u8; u32::from_le_bytes(len) as usize * 4];
            input.read_exact(&mut bytes).map_err(|_| corrupt("truncated"))?;
            list_slots.push(
                bytes.chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect::<Vec<u32>>(),
            );
        }
        let mut codes = vec![0u8; slots * dimension];
        input.read_exact(&mut codes).map_err(|_| corrupt("truncated"))?;
        let params = IvfParams { lists, probes, iterations: 0, training_sample: 0 };
        let quantizer = Quantizer { min, step };
        let mut ivf = Ivf { dimension, params, centroids, lists: list_slots, codes, quantizer };
        // Slots added since the file was written.
        let n = self.keys.len();
        for first in (slots..n).step_by(16_384) {
            let last = (first + 16_384).min(n);
            let mut vectors = Vec::with_capacity((last - first) * dimension);
            for slot in first..last {
                vectors.extend(self.read_vector(self.records[slot])?);
            }
            ivf.add(first, &vectors);
        }
        self.ivf = Some(ivf);
        Ok(true)
    }

    /// Memory held by the index, in bytes (vectors, codes, keys), for reports.
    pub fn memory_bytes(&self) -> usize {
        self.vectors.len() * 4
            + self.codes.len()
            + self.ivf.as_ref().map_or(0, Ivf::memory_bytes)
            + self.keys.iter().map(|k| k.len() + 24).sum::<usize>()
            + self.slots.len() * 48
    }
}

/// Runs `f` compiled for the widest vector instructions available (chosen at run time).
#[inline(always)]
fn vectorized<T>(f: impl FnOnce() -> T) -> T {
    pulp::Arch::new().dispatch(f)
}

/// The dot product (cosine similarity of unit vectors). Eight partial sums let it vectorise.
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut sums = [0f32; 16];
    let chunks = a.len() / 16 * 16;
    for (x, y) in a[..chunks].chunks_exact(16).zip(b[..chunks].chunks_exact(16)) {
        for lane in 0..16 {
            sums[lane] += x[lane] * y[lane];
        }
    }
    let mut total: f32 = sums.iter().sum();
    for (x, y) in a[chunks..].iter().zip(&b[chunks..]) {
        total += x * y;
    }
    total
}

/// The best `k` scores seen, with their slots. Scores above the running threshold are appended;
/// when the buffer reaches `2k` it is cut back to the best `k` (linear time) and the threshold rises
/// to the worst score kept, so most scores cost one comparison and none a heap operation.
struct TopK {
    k: usize,
    items: Vec<(f32, usize)>,
    threshold: f32,
}

/// Best first: higher score, then lower slot.
fn best_first(a: &(f32, usize), b: &(f32, usize)) -> std::cmp::Ordering {
    b.0.total_cmp(&a.0).then(a.1.cmp(&b.1))
}

impl TopK {
    fn new(k: usize) -> TopK {
        TopK { k, items: Vec::with_capacity(2 * k), threshold: f32::NEG_INFINITY }
    }

    #[inline(always)]
    fn would_take(&self, score: f32) -> bool {
        score > self.threshold
    }

    fn push(&mut self, score: f32, slot: usize) {
        if self.k == 0 {
            return;
        }
        self.items.push((score, slot));
        if self.items.len() >= 2 * self.k {
            self.items.select_nth_unstable_by(self.k - 1, best_first);
            self.items.truncate(self.k);
            self.threshold = self.items[self.k - 1].0;
        }
    }

    fn into_sorted(mut self) -> Vec<(f32, usize)> {
        self.items.sort_unstable_by(best_first);
        self.items.truncate(self.k);
        self.items
    }
}

fn encode_record(record: &mut [u8], key: &str, hash: u64, vector: &[f32]) -> Result<()> {
    if key.is_empty() || key.len() > KEY_BYTES {
        return Err(Error::Input(format!("the key {key:?} is empty or longer than {KEY_BYTES} bytes")));
    }
    record.fill(0);
    record[0] = key.len() as u8;
    record[1..1 + key.len()].copy_from_slice(key.as_bytes());
    record[1 + KEY_BYTES..1 + KEY_BYTES + 8].copy_from_slice(&hash.to_le_bytes());
    for (value, bytes) in vector.iter().zip(record[1 + KEY_BYTES + 8..].chunks_exact_mut(2)) {
        bytes.copy_from_slice(&f32_to_f16(*value).to_le_bytes());
    }
    Ok(())
}

fn decode_header(record: &[u8]) -> Result<(String, u64)> {
    let len = record[0] as usize;
    if len == 0 || len > KEY_BYTES {
        return Err(Error::Index("a vector record is corrupt (bad key length)".into()));
    }
    let key = std::str::from_utf8(&record[1..1 + len])
        .map_err(|_| Error::Index("a vector record is corrupt (key)".into()))?;
    let hash = u64::from_le_bytes(record[1 + KEY_BYTES..1 + KEY_BYTES + 8].try_into().expect("8 bytes"));
    Ok((key.to_owned(), hash))
}

fn decode_vector(bytes: &[u8], out: &mut [f32]) {
    for (value, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        *value = f16_to_f32(u16::from_le_bytes([pair[0], pair[1]]));
    }
}

/// IEEE half precision, round to nearest even. Embedding components of unit vectors lie in
/// [-1, 1], where half precision keeps about 3 decimal digits.
pub fn f32_to_f16(value: f32) -> u16 {
    let bits = value.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exponent = ((bits >> 23) & 0xff) as i32;
    let mantissa = bits & 0x7f_ffff;
    if exponent == 0xff {
        return sign | 0x7c00 | if mantissa != 0 { 0x200 } else { 0 };
    }
    let exponent = exponent - 127 + 15;
    if exponent >= 0x1f {
        return sign | 0x7c00;
    }
    if exponent <= 0 {
        if exponent < -10 {
            return sign;
        }
        let mantissa = mantissa | 0x80_0000;
        let shift = (14 - exponent) as u32;
        let half = mantissa >> shift;
        let rest = mantissa & ((1 << shift) - 1);
        let halfway = 1 << (shift - 1);
        let rounded = if rest > halfway || (rest == halfway && half & 1 == 1) { half + 1 } else { half };
        return sign | rounded as u16;
    }
    let half = ((exponent as u32) << 10) | (mantissa >> 13);
    let rest = mantissa & 0x1fff;
    let rounded = if rest > 0x1000 || (rest == 0x1000 && half & 1 == 1) { half + 1 } else { half };
    sign | rounded as u16
}

/// IEEE half precision to single.
pub fn f16_to_f32(bits: u16) -> f32 {
    let sign = ((bits >> 15) as u32) << 31;
    let exponent = ((bits >> 10) & 0x1f) as u32;
    let mantissa = (bits & 0x3ff) as u32;
    let value = match exponent {
        0 if mantissa == 0 => sign,
        0 => {
            let shift = mantissa.leading_zeros() - 21;
            sign | ((127 - 15 - shift + 1) << 23) | ((mantissa << (shift + 13)) & 0x7f_ffff)
        }
        0x1f => sign | 0x7f80_0000 | (mantissa << 13),
        _ => sign | ((exponent + 127 - 15) << 23) | (mantissa << 13),
    };
    f32::from_bits(value)
}

/// How the inverted file is shaped.
#[derive(Debug, Clone, Copy)]
pub struct IvfParams {
    /// Clusters.
    pub lists: usize,
    /// Clusters searched per query.
    pub probes: usize,
    /// k-means iterations.
    pub iterations: usize,
    /// Vectors k-means trains on.
    pub training_sample: usize,
}

impl IvfParams {
    /// About 2·√n lists (2,048 at a million), searching 1 in 128 of them (at least 8): at a
    /// million real-clustered vectors that kept recall@10 at 1.0 with p99 under 10 ms on two
    /// cores, where 1 in 32 took 15 ms (docs/BENCHMARKS.md).
    pub fn for_size(n: usize) -> IvfParams {
        let lists = ((2.0 * (n as f64).sqrt()) as usize).clamp(16, 8192).next_power_of_two();
        IvfParams { lists, probes: (lists / 128).max(8), iterations: 12, training_sample: (lists * 64).min(n) }
    }
}

/// An inverted file of 8-bit codes: vectors grouped by nearest centroid; each component stored as
/// `round((v - min) / step)` with one `min`/`step` per dimension.
pub struct Ivf {
    dimension: usize,
    params: IvfParams,
    centroids: Vec<f32>,
    /// Per list: the slots in it.
    lists: Vec<Vec<u32>>,
    /// Per slot: its code (`dimension` bytes), in slot order.
    codes: Vec<u8>,
    quantizer: Quantizer,
}

impl Ivf {
    /// Trains centroids and the code ranges on a sample, then assigns every vector (all in memory;
    /// [`VectorIndex::build_ivf`] streams large corpora through [`Ivf::train`] and [`Ivf::add`]).
    pub fn build(vectors: &[f32], dimension: usize, params: IvfParams) -> Ivf {
        let n = vectors.len() / dimension;
        let stride = (n / params.training_sample.max(1)).max(1);
        let sample: Vec<f32> = vectors.chunks_exact(dimension).step_by(stride).flatten().copied().collect();
        let mut ivf = Ivf::train(&sample, dimension, params);
        ivf.add(0, vectors);
        ivf
    }

    /// k-means centroids and per-dimension code ranges from `sample` (row-major vectors); no vector
    /// is in the index yet.
    pub fn train(sample: &[f32], dimension: usize, params: IvfParams) -> Ivf {
        let quantizer = Quantizer::fit(sample, dimension, 0.0);
        let sample: Vec<&[f32]> = sample.chunks_exact(dimension).collect();
        let lists = params.lists.min(sample.len().max(1));
        let mut centroids: Vec<f32> =
            sample.iter().step_by((sample.len() / lists).max(1)).take(lists).flat_map(|v| v.iter().copied()).collect();
        let lists = centroids.len() / dimension;
        for _ in 0..params.iterations {
            let assignment: Vec<usize> = sample.par_iter().map(|v| nearest(&centroids, dimension, v)).collect();
            let mut sums = vec![0f32; lists * dimension];
            let mut counts = vec![0usize; lists];
            for (v, &list) in sample.iter().zip(&assignment) {
                counts[list] += 1;
                for (s, x) in sums[list * dimension..(list + 1) * dimension].iter_mut().zip(v.iter()) {
                    *s += x;
                }
            }
            for list in 0..lists {
                if counts[list] == 0 {
                    continue;
                }
                let centroid = &mut centroids[list * dimension..(list + 1) * dimension];
                for (c, s) in centroid.iter_mut().zip(&sums[list * dimension..(list + 1) * dimension]) {
                    *c = s / counts[list] as f32;
                }
            }
        }
        Ivf {
            dimension,
            params: IvfParams { lists, probes: params.probes.min(lists), ..params },
            centroids,
            lists: vec![Vec::new(); lists],
            codes: Vec::new(),
            quantizer,
        }
    }

    /// Adds consecutive slots `first_slot ..` for `vectors` (row-major); slots must be added in
    /// order.
    pub fn add(&mut self, first_slot: usize, vectors: &[f32]) {
        let d = self.dimension;
        assert_eq!(self.codes.len(), first_slot * d, "slots are added in order");
        let assignment: Vec<usize> = vectors.par_chunks_exact(d).map(|v| nearest(&self.centroids, d, v)).collect();
        self.codes.reserve(vectors.len());
        for (offset, (v, list)) in vectors.chunks_exact(d).zip(assignment).enumerate() {
            self.lists[list].push((first_slot + offset) as u32);
            self.quantizer.encode_into(v, &mut self.codes);
        }
    }

    /// Slots indexed.
    pub fn len(&self) -> usize {
        self.codes.len() / self.dimension
    }

    /// Whether no slot is indexed.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// Adds (or re-adds) a slot after the index was built.
    fn assign(&mut self, slot: usize, vector: &[f32]) {
        let mut code = Vec::with_capacity(self.dimension);
        self.quantizer.encode_into(vector, &mut code);
        let d = self.dimension;
        if slot * d < self.codes.len() {
            self.codes[slot * d..(slot + 1) * d].copy_from_slice(&code);
            for list in &mut self.lists {
                list.retain(|&s| s as usize != slot);
            }
        } else {
            self.codes.extend_from_slice(&code);
        }
        let list = nearest(&self.centroids, d, vector);
        self.lists[list].push(slot as u32);
    }

    /// The `k` best slots by approximate score among the `probes` nearest lists.
    fn search(&self, query: &[f32], k: usize, keep: Option<&KeepSlot<'_>>) -> Vec<usize> {
        let d = self.dimension;
        let mut lists: Vec<(f32, usize)> =
            self.centroids.chunks_exact(d).enumerate().map(|(list, c)| (dot(query, c), list)).collect();
        lists.sort_by(|a, b| b.0.total_cmp(&a.0));
        lists.truncate(self.params.probes);
        let prepared = self.quantizer.query(query);
        let partial: Vec<Vec<(f32, usize)>> = lists
            .par_iter()
            .map(|&(_, list)| {
                let mut heap = TopK::new(k);
                vectorized(|| {
                    for &slot in &self.lists[list] {
                        let slot = slot as usize;
                        let score = prepared.dot(&self.codes[slot * d..(slot + 1) * d]) as f32;
                        if heap.would_take(score) && keep.is_none_or(|keep| keep(slot)) {
                            heap.push(score, slot);
                        }
                    }
                });
                heap.into_sorted()
            })
            .collect();
        let mut all: Vec<(f32, usize)> = partial.into_iter().flatten().collect();
        all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        all.truncate(k);
        all.into_iter().map(|(_, slot)| slot).collect()
    }

    fn memory_bytes(&self) -> usize {
        self.codes.len() + self.centroids.len() * 4 + self.lists.iter().map(|l| l.len() * 4 + 24).sum::<usize>()
    }

    /// Clusters.
    pub fn lists(&self) -> usize {
        self.lists.len()
    }

    /// Searches more or fewer lists per query (recall against speed).
    pub fn set_probes(&mut self, probes: usize) {
        self.params.probes = probes.clamp(1, self.lists.len());
    }
}

impl VectorIndex {
    /// The IVF index, once built (for benchmarks tuning `probes`).
    pub fn ivf_mut(&mut self) -> Option<&mut Ivf> {
        self.ivf.as_mut()
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

fn nearest(centroids: &[f32], dimension: usize, vector: &[f32]) -> usize {
    vectorized(|| {
        let mut best = (f32::NEG_INFINITY, 0);
        for (list, centroid) in centroids.chunks_exact(dimension).enumerate() {
            let score = dot(vector, centroid);
            if score > best.0 {
                best = (score, list);
            }
        }
        best.1
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A random unit vector, the same for the same seed.
    pub(crate) fn unit(seed: u64, d: usize) -> Vec<f32> {
        let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut v: Vec<f32> = (0..d)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state % 2000) as f32 / 1000.0 - 1.0
            })
            .collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= norm);
        v
    }

    #[test]
    fn half_precision_round_trips_closely() {
        for value in [0.0f32, 1.0, -1.0, 0.123_456, -0.000_123, 65504.0, 1e-7] {
            let back = f16_to_f32(f32_to_f16(value));
            assert!((back - value).abs() <= value.abs() * 1e-3 + 1e-7, "{value} -> {back}");
        }
    }

    #[test]
    fn vectors_persist_and_the_newest_record_wins() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (unit(1, 8), unit(2, 8), unit(3, 8));
        {
            let mut index = VectorIndex::open(dir.path(), "m", 8).unwrap();
            index.append(&[("x", 1, &a), ("y", 2, &b)], 5).unwrap();
            index.append(&[("x", 3, &c)], 7).unwrap();
        }
        let index = VectorIndex::open(dir.path(), "m", 8).unwrap();
        assert_eq!((index.len(), index.seq()), (2, 7));
        assert_eq!(index.text_hash("x"), Some(3));
        let hits = index.search(&c, 1, &|_| true).unwrap();
        assert_eq!(hits[0].key, "x");
        assert!(hits[0].score > 0.999);
    }

    #[test]
    fn a_torn_append_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut index = VectorIndex::open(dir.path(), "m", 8).unwrap();
            index.append(&[("x", 1, &unit(1, 8))], 1).unwrap();
        }
        // A crash after writing half a record, before meta.json was replaced.
        let mut file = OpenOptions::new().append(true).open(dir.path().join("rows.bin")).unwrap();
        file.write_all(&[9u8; 20]).unwrap();
        let mut index = VectorIndex::open(dir.path(), "m", 8).unwrap();
        assert_eq!(index.len(), 1);
        index.append(&[("y", 1, &unit(2, 8))], 2).unwrap();
        let index = VectorIndex::open(dir.path(), "m", 8).unwrap();
        assert_eq!(index.len(), 2);
    }

    #[test]
    fn another_model_or_dimension_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        VectorIndex::open(dir.path(), "m", 8).unwrap().append(&[("x", 1, &unit(1, 8))], 1).unwrap();
        assert!(matches!(VectorIndex::open(dir.path(), "m", 16), Err(Error::NeedsRebuild(_))));
        assert!(matches!(VectorIndex::open(dir.path(), "other", 8), Err(Error::NeedsRebuild(_))));
        let mut index = VectorIndex::open(dir.path(), "m", 8).unwrap();
        assert!(index.append(&[("y", 1, &unit(2, 16))], 2).is_err());
        assert!(index.append(&[("z", 1, &[f32::NAN; 8])], 2).is_err());
    }

    #[test]
    fn exact_search_ranks_by_cosine_and_filters() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = VectorIndex::open(dir.path(), "m", 32).unwrap();
        let vectors: Vec<Vec<f32>> = (0..500).map(|i| unit(i, 32)).collect();
        let keys: Vec<String> = (0..500).map(|i| format!("k{i}")).collect();
        let entries: Vec<(&str, u64, &[f32])> =
            keys.iter().zip(&vectors).map(|(k, v)| (k.as_str(), 0, v.as_slice())).collect();
        index.append(&entries, 1).unwrap();
        let hits = index.search(&vectors[42], 3, &|_| true).unwrap();
        assert_eq!(hits[0].key, "k42");
        let hits = index.search(&vectors[42], 3, &|key| key != "k42").unwrap();
        assert!(hits.iter().all(|h| h.key != "k42"));
        assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
    }

    #[test]
    fn the_quantised_scan_finds_what_the_exact_scan_finds() {
        let dir = tempfile::tempdir().unwrap();
        let d = 64;
        let mut index = VectorIndex::open(dir.path(), "m", d).unwrap();
        // Clustered, like real embeddings: near-ties inside clusters are what quantisation blurs.
        let vectors: Vec<Vec<f32>> = (0..3000)
            .map(|i| {
                let centre = unit(i % 30 + 1, d);
                let noise = unit(i + 1000, d);
                let v: Vec<f32> = centre.iter().zip(&noise).map(|(c, n)| c + 0.3 * n).collect();
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                v.iter().map(|x| x / norm).collect()
            })
            .collect();
        let keys: Vec<String> = (0..3000).map(|i| format!("k{i}")).collect();
        let entries: Vec<(&str, u64, &[f32])> =
            keys.iter().zip(&vectors).map(|(k, v)| (k.as_str(), 0, v.as_slice())).collect();
        index.append(&entries[..2000], 1).unwrap();
        // Later vectors are encoded with the ranges fitted on the first ones (or refit them).
        index.append(&entries[2000..], 2).unwrap();
        assert_eq!(index.codes.len(), 3000 * d);
        let queries: Vec<Vec<f32>> = (0..50).map(|i| unit(i + 5000, d)).collect();
        let (mut found, mut wanted) = (0, 0);
        for query in &queries {
            let exact: Vec<&str> = index.exact_search(query, 20).iter().map(|n| n.key).collect();
            let scanned = index.nearest(query, 20).unwrap();
            assert!(scanned.windows(2).all(|w| w[0].score >= w[1].score));
            found += scanned.iter().filter(|n| exact.contains(&n.key)).count();
            wanted += exact.len();
        }
        assert!(found as f64 >= 0.99 * wanted as f64, "recall {found}/{wanted}");
        // A batch answers each query as it would be answered alone.
        let batch: Vec<(&[f32], usize)> = queries.iter().take(5).map(|q| (q.as_slice(), 7)).collect();
        let together = index.nearest_many(&batch).unwrap();
        for ((query, k), answer) in batch.iter().zip(&together) {
            assert_eq!(answer, &index.nearest(query, *k).unwrap());
        }
    }

    #[test]
    fn an_index_with_more_records_than_the_limit_but_few_live_documents_still_scans() {
        let dir = tempfile::tempdir().unwrap();
        let d = 16;
        let keys: Vec<String> = (0..60).map(|i| format!("k{i}")).collect();
        {
            let mut index = VectorIndex::open_with_limit(dir.path(), "m", d, 100).unwrap();
            // Every document embedded twice: 120 records, 60 documents.
            for round in 0..2u64 {
                let vectors: Vec<Vec<f32>> = (0..60).map(|i| unit(i * 2 + round + 1, d)).collect();
                let entries: Vec<(&str, u64, &[f32])> =
                    keys.iter().zip(&vectors).map(|(k, v)| (k.as_str(), round, v.as_slice())).collect();
                index.append(&entries, round as i64 + 1).unwrap();
            }
        }
        let index = VectorIndex::open_with_limit(dir.path(), "m", d, 100).unwrap();
        assert_eq!(index.len(), 60);
        let newest = unit(7 * 2 + 2, d);
        let hits = index.nearest(&newest, 3).unwrap();
        assert_eq!(hits[0].key, "k7", "the newest vector of k7 is found");
        assert!((hits[0].score - 1.0).abs() < 1e-2);
    }

    #[test]
    fn a_large_index_searches_through_a_persisted_ivf() {
        let dir = tempfile::tempdir().unwrap();
        let d = 32;
        let keys: Vec<String> = (0..3000).map(|i| format!("k{i}")).collect();
        let vectors: Vec<Vec<f32>> = (0..3000).map(|i| unit(i, d)).collect();
        let entries: Vec<(&str, u64, &[f32])> =
            keys.iter().zip(&vectors).map(|(k, v)| (k.as_str(), 0, v.as_slice())).collect();
        {
            let mut index = VectorIndex::open_with_limit(dir.path(), "m", d, 1000).unwrap();
            index.append(&entries[..2000], 1).unwrap();
            assert!(index.ivf.is_some(), "built past the limit");
            assert!(dir.path().join("ivf.bin").is_file());
            // Appended after the IVF was saved: assigned on open.
            index.append(&entries[2000..], 2).unwrap();
        }
        let index = VectorIndex::open_with_limit(dir.path(), "m", d, 1000).unwrap();
        assert_eq!(index.ivf.as_ref().unwrap().len(), 3000);
        assert!(index.vectors.is_empty(), "the f32 copy is dropped past the limit");
        let hits = index.search(&vectors[2500], 1, &|_| true).unwrap();
        assert_eq!(hits[0].key, "k2500");
        assert!(hits[0].score > 0.999, "rescored exactly from disk");
    }

    #[test]
    fn ivf_recall_is_high_on_clustered_data() {
        let d = 32;
        // 40 clusters of 200 noisy points.
        let centres: Vec<Vec<f32>> = (0..40).map(|i| unit(1000 + i, d)).collect();
        let mut vectors = Vec::new();
        for i in 0..8000u64 {
            let noise = unit(i, d);
            let mut v: Vec<f32> = centres[(i % 40) as usize].iter().zip(&noise).map(|(c, n)| c + 0.3 * n).collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter_mut().for_each(|x| *x /= norm);
            vectors.extend(v);
        }
        let ivf = Ivf::build(&vectors, d, IvfParams { lists: 64, probes: 8, iterations: 10, training_sample: 4000 });
        let mut found = 0;
        for q in 0..50 {
            let query = &vectors[q * 37 * d..(q * 37 + 1) * d];
            let mut exact: Vec<(f32, usize)> =
                vectors.chunks_exact(d).enumerate().map(|(s, v)| (dot(query, v), s)).collect();
            exact.sort_by(|a, b| b.0.total_cmp(&a.0));
            let approx = ivf.search(query, 50, None);
            found += exact[..10].iter().filter(|(_, s)| approx.contains(s)).count();
        }
        assert!(found as f64 / 500.0 >= 0.9, "recall {}", found as f64 / 500.0);
    }
}
