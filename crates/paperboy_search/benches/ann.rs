//! The vector index at a million documents: build time, recall@10 against exact search, latency and
//! memory. One JSON line per setting.
//!
//! `cargo bench -p paperboy_search --bench ann -- VECTORS_FILE N WORK_DIR`
//!
//! VECTORS_FILE is a `paperboy embed --export` file of real paper vectors (all-MiniLM-L6-v2 over the
//! arXiv corpus). The million vectors are the real ones, each repeated with Gaussian noise
//! (σ = 0.025 per dimension, then re-normalised: cosine ≈ 0.9 to its source), so the corpus keeps the
//! real vectors' clusters. Queries are 1,000 other noisy copies (σ = 0.02); ground truth for 200 of
//! them is an exact scan of all N vectors.

use std::{
    io::{BufRead, BufReader, Read},
    path::{Path, PathBuf},
    time::Instant,
};

use paperboy_search::{VectorIndex, vector::dot};
use rayon::prelude::*;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let [vectors_file, n, work] = args.as_slice() else {
        eprintln!("usage: ann VECTORS_FILE N WORK_DIR");
        std::process::exit(2);
    };
    let n: usize = n.parse().expect("N");
    let work = PathBuf::from(work);
    let (real, d) = read_export(Path::new(vectors_file));
    eprintln!("{} real {d}-dimensional vectors; building {n}", real.len() / d);

    let index_dir = work.join("ann-index");
    let _ = std::fs::remove_dir_all(&index_dir);
    let mut rng = Rng(0x5eed);
    let started = Instant::now();
    {
        let mut index = VectorIndex::open(&index_dir, "bench", d).unwrap();
        let keys: Vec<String> = (0..50_000).map(|i| format!("doc{i}")).collect();
        for first in (0..n).step_by(50_000) {
            let count = (n - first).min(50_000);
            let vectors: Vec<Vec<f32>> = (0..count).map(|i| noisy(&real, d, first + i, 0.025, &mut rng)).collect();
            let keys: Vec<String> = (0..count).map(|i| format!("doc{}", first + i)).collect();
            let entries: Vec<(&str, u64, &[f32])> =
                keys.iter().zip(&vectors).map(|(k, v)| (k.as_str(), 0, v.as_slice())).collect();
            index.append(&entries, first as i64).unwrap();
        }
        drop(keys);
        let built = Instant::now();
        index.build_ivf().unwrap();
        eprintln!(
            "write {:.1} s, final IVF build {:.1} s",
            built.duration_since(started).as_secs_f64(),
            built.elapsed().as_secs_f64()
        );
    }
    let write_and_build_s = started.elapsed().as_secs_f64();

    // Queries: noisy copies of real vectors, far apart in the corpus order.
    let queries: Vec<Vec<f32>> =
        (0..1000).map(|i| noisy(&real, d, i * 7919 + 13, 0.02, &mut Rng(i as u64 + 1))).collect();
    let truth = exact_top10(&index_dir, d, &queries[..200]);

    let rss_before = rss_mib();
    let opened = Instant::now();
    let mut index = VectorIndex::open(&index_dir, "bench", d).unwrap();
    let open_s = opened.elapsed().as_secs_f64();
    let rss_index = rss_mib() - rss_before;
    let lists = index.ivf_mut().map(|ivf| ivf.lists()).unwrap_or(0);
    for probes in [lists / 256, lists / 128, lists / 64, lists / 32] {
        index.ivf_mut().unwrap().set_probes(probes.max(1));
        for query in &queries[..50] {
            index.search(query, 10, &|_| true).unwrap();
        }
        let mut latencies = Vec::new();
        let mut found = 0;
        for (i, query) in queries.iter().enumerate() {
            let started = Instant::now();
            let hits = index.search(query, 10, &|_| true).unwrap();
            latencies.push(started.elapsed().as_secs_f64() * 1e3);
            if i < truth.len() {
                found += hits.iter().filter(|h| truth[i].contains(&h.key.to_owned())).count();
            }
        }
        latencies.sort_by(f64::total_cmp);
        let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
        println!(
            "{}",
            serde_json::json!({
                "documents": n, "dimension": d, "lists": lists, "probes": probes.max(1),
                "recall_at_10": found as f64 / (truth.len() * 10) as f64,
                "median_ms": pct(0.5), "p99_ms": pct(0.99),
                "index_memory_mib": index.memory_bytes() as f64 / 1048576.0,
                "rss_after_open_mib": rss_index, "peak_rss_mib": peak_rss_mib(),
                "write_and_build_s": write_and_build_s, "open_s": open_s,
                "cores": rayon::current_num_threads(),
            })
        );
    }
}

/// Exact top-10 keys for each query, scanning the index's records on disk in chunks.
fn exact_top10(index_dir: &Path, d: usize, queries: &[Vec<f32>]) -> Vec<Vec<String>> {
    let record = 1 + 47 + 8 + 2 * d;
    let mut file = BufReader::with_capacity(1 << 22, std::fs::File::open(index_dir.join("rows.bin")).unwrap());
    let mut best: Vec<Vec<(f32, String)>> = vec![Vec::new(); queries.len()];
    let mut chunk = vec![0u8; record * 20_000];
    loop {
        let mut filled = 0;
        while filled < chunk.len() {
            match file.read(&mut chunk[filled..]).unwrap() {
                0 => break,
                n => filled += n,
            }
        }
        if filled == 0 {
            break;
        }
        let rows: Vec<(String, Vec<f32>)> = chunk[..filled]
            .chunks_exact(record)
            .map(|r| {
                let key = String::from_utf8(r[1..1 + r[0] as usize].to_vec()).unwrap();
                let v = paperboy_search::vector::decode_f16(&r[56..]);
                (key, v)
            })
            .collect();
        best.par_iter_mut().zip(queries).for_each(|(best, query)| {
            for (key, v) in &rows {
                let score = dot(query, v);
                if best.len() < 10 || score > best[9].0 {
                    best.push((score, key.clone()));
                    best.sort_by(|a, b| b.0.total_cmp(&a.0));
                    best.truncate(10);
                }
            }
        });
    }
    best.into_iter().map(|b| b.into_iter().map(|(_, k)| k).collect()).collect()
}

fn read_export(path: &Path) -> (Vec<f32>, usize) {
    let mut input = BufReader::new(std::fs::File::open(path).unwrap());
    let mut header = Vec::new();
    input.read_until(b'\n', &mut header).unwrap();
    let header: serde_json::Value = serde_json::from_slice(&header).unwrap();
    let d = header["dimension"].as_u64().unwrap() as usize;
    let mut vectors = Vec::new();
    loop {
        let mut len = [0u8];
        if input.read_exact(&mut len).is_err() {
            break;
        }
        let mut skip = vec![0u8; len[0] as usize + 8];
        input.read_exact(&mut skip).unwrap();
        let mut bytes = vec![0u8; 2 * d];
        input.read_exact(&mut bytes).unwrap();
        vectors.extend(paperboy_search::vector::decode_f16(&bytes));
    }
    (vectors, d)
}

fn noisy(real: &[f32], d: usize, i: usize, sigma: f32, rng: &mut Rng) -> Vec<f32> {
    let n = real.len() / d;
    let base = &real[(i % n) * d..(i % n + 1) * d];
    let mut v: Vec<f32> = base.iter().map(|x| x + sigma * rng.gaussian()).collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 + 0.5) / (1u64 << 24) as f32
    }

    /// Box–Muller.
    fn gaussian(&mut self) -> f32 {
        let (u, v) = (self.next(), self.next());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f32::consts::PI * v).cos()
    }
}

fn status_field(name: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn rss_mib() -> f64 {
    status_field("VmRSS:")
}

fn peak_rss_mib() -> f64 {
    status_field("VmHWM:")
}
