//! Search latency by mode on an ingested and embedded data directory, queries' embeddings
//! included: what `paperboy search` and the web app do per request. One JSON line per mode.
//!
//! `PAPERBOY_MODEL_DIR=... cargo bench -p paperboy_app --bench hybrid_search -- DATA_DIR QUERIES_FILE`

use std::{path::PathBuf, time::Instant};

use paperboy_app::{Library, ModelChoice, NoProgress, SearchMode, SearchParams};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let [data, queries] = args.as_slice() else {
        eprintln!("usage: hybrid_search DATA_DIR QUERIES_FILE");
        std::process::exit(2);
    };
    let library = Library::open_with(
        &PathBuf::from(data),
        Some(&ModelChoice::new(paperboy_app::models::DEFAULT_MODEL, &models_dir())),
        &NoProgress,
    )
    .unwrap();
    if let Err(reason) = library.semantic_status() {
        panic!("{reason}");
    }
    let stats = library.stats().unwrap();
    let queries: Vec<String> =
        std::fs::read_to_string(queries).unwrap().lines().map(str::to_owned).filter(|q| !q.trim().is_empty()).collect();
    for mode in [SearchMode::Keyword, SearchMode::Semantic, SearchMode::Hybrid] {
        let search = |query: &str| {
            library.search(&SearchParams { query: query.to_owned(), limit: 10, mode, ..SearchParams::default() })
        };
        for query in queries.iter().take(100) {
            let _ = search(query);
        }
        let mut latencies = Vec::with_capacity(queries.len());
        let mut errors = 0;
        for query in &queries {
            let started = Instant::now();
            if search(query).is_err() {
                errors += 1;
            }
            latencies.push(started.elapsed().as_secs_f64() * 1e3);
        }
        latencies.sort_by(f64::total_cmp);
        let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
        println!(
            "{}",
            serde_json::json!({
                "engine": "paperboy", "mode": mode, "papers": stats.papers, "vectors": stats.vectors,
                "queries": queries.len(), "errors": errors,
                "median_ms": pct(0.5), "p90_ms": pct(0.9), "p99_ms": pct(0.99), "max_ms": pct(1.0),
            })
        );
    }
}

/// Where the benchmark's model is installed: `PAPERBOY_MODEL_DIR`.
fn models_dir() -> PathBuf {
    std::env::var_os("PAPERBOY_MODEL_DIR").map(PathBuf::from).expect("set PAPERBOY_MODEL_DIR to the models folder")
}
