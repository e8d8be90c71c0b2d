//! Keyword search latency on a real corpus, in-process, over real queries (one per line in a file,
//! already reduced to plain words so every engine parses them the same way).
//!
//! `cargo bench -p paperboy_app --bench keyword_search -- CORPUS_DIR QUERIES_FILE DATA_DIR`
//! Ingests CORPUS_DIR into DATA_DIR unless it is already there, warms up, then runs every query
//! (top 10, with the total count and the papers read from the store, as `paperboy search` does).
//! Prints one JSON line.

use std::{path::PathBuf, time::Instant};

use paperboy_app::{Library, NoProgress, SearchParams, ingest};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let [corpus, queries, data] = args.as_slice() else {
        eprintln!("usage: keyword_search CORPUS_DIR QUERIES_FILE DATA_DIR");
        std::process::exit(2);
    };
    let library = Library::open(&PathBuf::from(data), &NoProgress).unwrap();
    if library.stats().unwrap().papers == 0 {
        let mut files: Vec<PathBuf> = std::fs::read_dir(corpus)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().contains(".jsonl"))
            .collect();
        files.sort();
        ingest::ingest_jsonl(&library, &files, &NoProgress).unwrap();
    }
    let queries: Vec<String> =
        std::fs::read_to_string(queries).unwrap().lines().map(str::to_owned).filter(|q| !q.trim().is_empty()).collect();
    let search =
        |query: &str| library.search(&SearchParams { query: query.to_owned(), limit: 10, ..SearchParams::default() });
    // The peer (benches/peers/sqlite_fts5.py) warms up the same way.
    for query in queries.iter().take(200.min(queries.len() / 4)) {
        let _ = search(query);
    }
    let mut latencies = Vec::with_capacity(queries.len());
    let mut errors = 0;
    let mut results = 0;
    for query in &queries {
        let started = Instant::now();
        match search(query) {
            Ok(page) => results += page.hits.len(),
            Err(_) => errors += 1,
        }
        latencies.push(started.elapsed().as_secs_f64() * 1e3);
    }
    latencies.sort_by(f64::total_cmp);
    let percentile = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
    println!(
        "{}",
        serde_json::json!({
            "engine": "paperboy",
            "papers": library.stats().unwrap().papers,
            "queries": queries.len(),
            "errors": errors,
            "mean_results": results as f64 / queries.len() as f64,
            "median_ms": percentile(0.5),
            "p90_ms": percentile(0.9),
            "p99_ms": percentile(0.99),
            "max_ms": percentile(1.0),
        })
    );
}
