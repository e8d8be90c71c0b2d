//! The vector index: one L2-normalised embedding per document, on disk as an append-only file of
//! half-precision rows. Up to [`EXACT_SEARCH_LIMIT`] documents, memory holds every vector as `f32`
//! and as an 8-bit code: a search scans the codes (a quarter of the bytes, integer arithmetic) and
//! rescores the best few times `k` exactly. Past it, an inverted-file index of 8-bit codes (IVF-SQ8,
//! rescored exactly from disk) answers instead.
//!
//! On disk, in the index's folder:
//! - `rows.bin`: fixed-size records `[key length: u8][key: 47 bytes][text hash: u64 LE][vector: f16 × d]`;
//!   a document re-embedded later gets a new record, and the newest record of a key wins;
//! - `meta.json`: model, dimension, how many records are committed, and the embedding sequence
//!   number of the store the vectors are up to date with. It is replaced atomically after the records it counts are synced,
//!   so records past the count (a crash mid-append) are ignored and overwritten.

mod file;
mod ivf;
mod scan;
mod score;

use std::{
    collections::HashMap,
    fs::{File, OpenOptions},
    io::{BufReader, BufWriter, Read, Write},
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
};

pub use file::{decode_f16, encode_f16};
pub use ivf::{Ivf, IvfParams};
pub use score::dot;

/// The file format of vectors an older paperboy made in the data directory (their embeddings were
/// not stored): readable, to move them into the store.
pub const LEGACY_FORMAT: u32 = 1;

/// A pseudo-random unit vector, the same for the same seed (for tests and benchmarks).
pub fn unit_vector(seed: u64, dimension: usize) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut v: Vec<f32> = (0..dimension)
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

use crate::{Error, Result, sq8::Quantizer};
use file::Meta;

/// A filter on documents by key.
type KeepKey<'a> = dyn Fn(&str) -> bool + Sync + 'a;
/// A filter on documents by slot.
type KeepSlot<'a> = dyn Fn(usize) -> bool + Sync + 'a;
/// Above this many documents, searches go through the IVF index instead of scanning everything.
pub const EXACT_SEARCH_LIMIT: usize = 200_000;

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
        VectorIndex::open_format(dir, model, dimension, exact_limit, file::FORMAT)
    }

    /// The file format of the vectors in `dir`, if there are any.
    pub fn format_of(dir: &Path) -> Option<u32> {
        file::read_meta(dir).ok().flatten().map(|meta| meta.format)
    }

    /// Opens vectors of the [`LEGACY_FORMAT`] to read them out (their `seq` is a paper sequence
    /// number).
    pub fn open_legacy(dir: &Path, model: &str, dimension: usize) -> Result<VectorIndex> {
        VectorIndex::open_format(dir, model, dimension, usize::MAX, LEGACY_FORMAT)
    }

    /// Checks, without reading them, that the vectors in `dir` (if any) are of `model` and
    /// `dimension` in this version's format: [`Error::NeedsRebuild`] as [`VectorIndex::open`] if not.
    pub fn check(dir: &Path, model: &str, dimension: usize) -> Result<()> {
        match file::read_meta(dir)? {
            Some(meta) if meta.format != file::FORMAT || meta.model != model || meta.dimension != dimension => {
                Err(VectorIndex::mismatch(dir, &meta, model, dimension))
            }
            _ => Ok(()),
        }
    }

    /// The embedding sequence number the vectors in `dir` are up to date with (0 without any),
    /// read from `meta.json` alone.
    pub fn stored_seq(dir: &Path) -> Result<i64> {
        Ok(file::read_meta(dir)?.map_or(0, |meta| meta.seq))
    }

    fn mismatch(dir: &Path, meta: &Meta, model: &str, dimension: usize) -> Error {
        Error::NeedsRebuild(format!(
            "the vectors in {} are {}-dimensional vectors of {}; the configured model {model} makes {dimension}",
            dir.display(),
            meta.dimension,
            meta.model
        ))
    }

    fn open_format(dir: &Path, model: &str, dimension: usize, exact_limit: usize, format: u32) -> Result<VectorIndex> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.display().to_string(), source })?;
        let meta = match file::read_meta(dir)? {
            Some(meta) if meta.format != format || meta.model != model || meta.dimension != dimension => {
                return Err(VectorIndex::mismatch(dir, &meta, model, dimension));
            }
            Some(meta) => meta,
            None => Meta { format, model: model.to_owned(), dimension, records: 0, seq: 0 },
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

    fn load(&mut self) -> Result<()> {
        let path = self.dir.join("rows.bin");
        let Ok(file) = File::open(&path) else { return Ok(()) };
        let size = self.meta.record_size();
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
            let (key, hash) = file::decode_header(&record)?;
            file::decode_vector(&record[file::VECTOR_AT..], &mut vector);
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

    /// Every document with the hash of the text its vector was made from.
    pub fn entries(&self) -> impl Iterator<Item = (&str, u64)> {
        self.keys.iter().map(String::as_str).zip(self.text_hashes.iter().copied())
    }

    /// The hash of the text a document's vector was made from, if it has one.
    pub fn text_hash(&self, key: &str) -> Option<u64> {
        self.slots.get(key).map(|&slot| self.text_hashes[slot])
    }

    /// Up to `n` stored vectors picked at random: the documents whose keys hash lowest under
    /// `seed`, so the same `seed` over the same documents picks the same ones whatever order they
    /// were stored in (nodes that embedded in different orders train the same reader models).
    /// Negatives for per-reader models.
    pub fn sample(&self, n: usize, seed: u64) -> Result<Vec<(String, Vec<f32>)>> {
        let mut ranked: Vec<(u64, &String)> =
            self.slots.keys().map(|key| (xxhash_rust::xxh3::xxh3_64_with_seed(key.as_bytes(), seed), key)).collect();
        if ranked.len() > n {
            ranked.select_nth_unstable(n);
            ranked.truncate(n);
        }
        ranked.sort_unstable();
        let mut out = Vec::with_capacity(ranked.len());
        for (_, key) in ranked {
            if let Some(vector) = self.vector(key)? {
                out.push((key.clone(), vector));
            }
        }
        Ok(out)
    }

    /// The similarity of `query` to each of `keys` that has a vector (exact, as the nearest are
    /// rescored): what hybrid search needs for the papers found by words but not among the nearest.
    pub fn similarities<'k>(
        &self,
        query: &[f32],
        keys: impl IntoIterator<Item = &'k str>,
    ) -> Result<Vec<(&'k str, f32)>> {
        let mut out = Vec::new();
        for key in keys {
            if let Some(vector) = self.vector(key)? {
                out.push((key, dot(query, &vector)));
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
        let size = self.meta.record_size();
        let mut bytes = vec![0u8; 2 * self.meta.dimension];
        file.read_exact_at(&mut bytes, record * size as u64 + file::VECTOR_AT as u64)
            .map_err(|source| Error::Io { path: path.display().to_string(), source })?;
        let mut vector = vec![0f32; self.meta.dimension];
        file::decode_vector(&bytes, &mut vector);
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
        let committed = self.meta.records * self.meta.record_size() as u64;
        file.set_len(committed).map_err(|source| Error::Io { path: path.display().to_string(), source })?;
        let mut writer = BufWriter::with_capacity(1 << 20, &file);
        use std::io::Seek;
        writer
            .seek(std::io::SeekFrom::Start(committed))
            .map_err(|source| Error::Io { path: path.display().to_string(), source })?;
        let mut record = vec![0u8; self.meta.record_size()];
        for (key, hash, vector) in entries {
            if vector.len() != d || vector.iter().any(|v| !v.is_finite()) {
                return Err(Error::Input(format!("the vector of {key} is not {d} finite numbers")));
            }
            file::encode_record(&mut record, key, *hash, vector)?;
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
        file::write_meta(&self.dir, &self.meta)?;
        if self.ivf.is_none() && self.slots.len() > self.exact_limit {
            self.build_ivf()?;
        }
        Ok(())
    }

    /// Records that the vectors are up to date with the store up to `seq` (nothing needed embedding).
    pub fn mark_seq(&mut self, seq: i64) -> Result<()> {
        if seq > self.meta.seq {
            self.meta.seq = seq;
            file::write_meta(&self.dir, &self.meta)?;
        }
        Ok(())
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
        file::write_meta(&self.dir, &self.meta)
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) use super::unit_vector as unit;

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
    fn a_sample_depends_on_the_documents_not_on_their_order() {
        let keys: Vec<String> = (0..200).map(|i| format!("p{i}")).collect();
        let vectors: Vec<Vec<f32>> = (0..200).map(|i| unit(i, 8)).collect();
        let sample = |order: &mut dyn Iterator<Item = usize>| {
            let dir = tempfile::tempdir().unwrap();
            let mut index = VectorIndex::open(dir.path(), "m", 8).unwrap();
            let rows: Vec<(&str, u64, &[f32])> =
                order.map(|i| (keys[i].as_str(), i as u64, vectors[i].as_slice())).collect();
            index.append(&rows, 1).unwrap();
            index.sample(20, 7).unwrap().into_iter().map(|(key, _)| key).collect::<Vec<_>>()
        };
        let forwards = sample(&mut (0..200));
        assert_eq!(forwards.len(), 20);
        assert_eq!(forwards, sample(&mut (0..200).rev()), "the same documents stored in another order");
        let picked: std::collections::HashSet<_> = forwards.iter().collect();
        assert_eq!(picked.len(), 20, "no document twice");
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
