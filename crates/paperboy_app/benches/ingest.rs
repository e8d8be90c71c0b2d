//! Ingest throughput: every JSON Lines file of a folder into a fresh store + index, in one process.
//!
//! `cargo bench -p paperboy_app --bench ingest -- [DIR]` (default: `../shared/data/arxiv-daily-cs/days`).
//! Prints one JSON line; `scripts/bench-foundation` runs it beside the SQLite FTS5 peer and writes the
//! table in docs/BENCHMARKS.md.

use std::path::PathBuf;

use paperboy_app::{Library, NoProgress, ingest};

fn main() {
    let dir = std::env::args().skip(1).find(|a| !a.starts_with('-')).map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/arxiv-daily-cs/days"))
    });
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".jsonl"))
        .collect();
    files.sort();
    let data = tempfile::tempdir().unwrap();
    let library = Library::open(data.path(), &NoProgress).unwrap();
    let summary = ingest::ingest_jsonl(&library, &files, &NoProgress).unwrap();
    assert_eq!(summary.skipped, 0, "{:?}", summary.skipped_records.first());
    let stats = library.stats().unwrap();
    assert_eq!(stats.indexed_papers, stats.papers);
    println!(
        "{}",
        serde_json::json!({
            "engine": "paperboy",
            "files": files.len(),
            "papers": summary.new,
            "seconds": summary.elapsed_s,
            "papers_per_second": summary.new as f64 / summary.elapsed_s,
            "peak_rss_mib": peak_rss_mib(),
            "cores": std::thread::available_parallelism().map_or(1, |n| n.get()),
        })
    );
}

/// The process's peak resident memory (Linux `VmHWM`).
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}
