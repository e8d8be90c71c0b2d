//! The inverted file for corpora past the exact-search size: vectors grouped by nearest k-means
//! centroid, stored as 8-bit codes; a search scores the codes of the lists nearest the query and
//! the caller rescores the best exactly. `ivf.bin` keeps it between runs.

use std::{
    fs::File,
    io::{BufReader, BufWriter, Read, Write},
};

use rayon::prelude::*;

use super::{
    KeepSlot, VectorIndex,
    file::FORMAT,
    score::{TopK, best, dot, vectorized},
};
use crate::{Error, Result, sq8::Quantizer};

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
    pub(super) fn assign(&mut self, slot: usize, vector: &[f32]) {
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
    pub(super) fn search(&self, query: &[f32], k: usize, keep: Option<&KeepSlot<'_>>) -> Vec<usize> {
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
        best(partial.into_iter().flatten().collect(), k).into_iter().map(|(_, slot)| slot).collect()
    }

    pub(super) fn memory_bytes(&self) -> usize {
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
    pub(super) fn load_ivf(&mut self) -> Result<bool> {
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
}

impl VectorIndex {
    /// The IVF index, once built (for benchmarks tuning `probes`).
    pub fn ivf_mut(&mut self) -> Option<&mut Ivf> {
        self.ivf.as_mut()
    }
}

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
