//! The two stores side by side in one run: ingest throughput into the embedded SQLite store and
//! into PostgreSQL (each with the node's own full-text index), a second ingest of the same files
//! (which must change nothing), and keyword-search latency on each (the index is local; the
//! papers of each page are read from the store), interleaved so the machine's load weighs alike.
//!
//! `PAPERBOY_TEST_DATABASE_URL=postgres://… cargo bench -p paperboy_app --bench backends -- CORPUS_DIR QUERIES_FILE [ROUNDS]`
//! (a server where the user may create databases; `scripts/bench-cluster` starts one). Prints one
//! JSON line.

use std::{path::PathBuf, time::Instant};

use paperboy_app::{Library, NoProgress, SearchParams, ingest};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let (corpus, queries, rounds) = match args.as_slice() {
        [corpus, queries] => (corpus, queries, 3),
        [corpus, queries, rounds] => (corpus, queries, rounds.parse().expect("ROUNDS is a number")),
        _ => {
            eprintln!("usage: backends CORPUS_DIR QUERIES_FILE [ROUNDS]");
            std::process::exit(2);
        }
    };
    if std::env::var_os("PAPERBOY_TEST_DATABASE_URL").is_none() {
        eprintln!("backends: set PAPERBOY_TEST_DATABASE_URL to a PostgreSQL server (scripts/bench-cluster starts one)");
        std::process::exit(2);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".jsonl"))
        .collect();
    files.sort();
    let queries: Vec<String> =
        std::fs::read_to_string(queries).unwrap().lines().map(str::to_owned).filter(|q| !q.trim().is_empty()).collect();

    let mut ingest_rates = [Vec::new(), Vec::new()];
    let mut reingest_changes = [0u64, 0u64];
    let mut libraries = Vec::new();
    let mut keep = Vec::new();
    for round in 0..rounds {
        // Alternate which backend goes first, so neither always meets a warm page cache.
        let order: [usize; 2] = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for backend in order {
            let dir = tempfile::tempdir().unwrap();
            let database = match backend {
                0 => None,
                _ => Some(paperboy_testing::ScratchDatabase::create("backends").expect("a PostgreSQL server")),
            };
            let library =
                Library::open_on(dir.path(), database.as_ref().map(|d| d.url.as_str()), None, &NoProgress).unwrap();
            let summary = ingest::ingest_jsonl(&library, &files, &NoProgress).unwrap();
            assert_eq!(summary.skipped, 0);
            ingest_rates[backend].push(summary.new as f64 / summary.elapsed_s);
            let again = ingest::ingest_jsonl(&library, &files, &NoProgress).unwrap();
            reingest_changes[backend] += again.new + again.updated;
            if round + 1 == rounds {
                libraries.push((backend, library));
                keep.push((dir, database));
            }
        }
    }
    libraries.sort_by_key(|(backend, _)| *backend);
    let papers = libraries[0].1.stats().unwrap().papers;
    assert_eq!(papers, libraries[1].1.stats().unwrap().papers, "both stores hold every paper");

    let search = |library: &Library, query: &str| {
        library.search(&SearchParams { query: query.to_owned(), limit: 10, ..SearchParams::default() })
    };
    for (_, library) in &libraries {
        for query in queries.iter().take(200) {
            let _ = search(library, query);
        }
    }
    let mut latencies = [Vec::new(), Vec::new()];
    for query in &queries {
        for (backend, library) in &libraries {
            let started = Instant::now();
            let _ = search(library, query);
            latencies[*backend].push(started.elapsed().as_secs_f64() * 1e3);
        }
    }
    let median = |values: &mut Vec<f64>| percentile(values, 0.5);
    let [sqlite_rate, postgres_rate] = ingest_rates.each_mut().map(median);
    let [sqlite_search, postgres_search] = latencies.each_mut().map(median);
    let [sqlite_p99, postgres_p99] = latencies.each_mut().map(|v| percentile(v, 0.99));
    println!(
        "{}",
        serde_json::json!({
            "papers": papers,
            "rounds": rounds,
            "queries": queries.len(),
            "ingest_papers_per_s": {"sqlite": sqlite_rate, "postgres": postgres_rate, "ratio": postgres_rate / sqlite_rate},
            "ingest_runs": {"sqlite": ingest_rates[0], "postgres": ingest_rates[1]},
            "reingest_changes": {"sqlite": reingest_changes[0], "postgres": reingest_changes[1]},
            "search_median_ms": {"sqlite": sqlite_search, "postgres": postgres_search, "ratio": postgres_search / sqlite_search},
            "search_p99_ms": {"sqlite": sqlite_p99, "postgres": postgres_p99},
        })
    );
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    values[((values.len() - 1) as f64 * p).round() as usize]
}
