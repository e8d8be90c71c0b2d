//! The in-memory vector scan (8-bit codes, the best 2k rescored exactly) against an exact f32 scan,
//! on real query embeddings: recall of the top 10 and top 100, time per query, and time per query
//! when queries are scanned in batches (as concurrent web requests are). One JSON line per setting.
//!
//! `PAPERBOY_MODEL_DIR=... cargo bench -p paperboy_app --bench vector_scan -- DATA_DIR QUERIES_FILE`
//!
//! DATA_DIR holds an embedded corpus (as for `hybrid_search`); QUERIES_FILE has one query per line.

use std::{path::PathBuf, time::Instant};

use paperboy_app::ModelChoice;
use paperboy_embed::Embedder;
use paperboy_search::VectorIndex;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let [data, queries] = args.as_slice() else {
        eprintln!("usage: vector_scan DATA_DIR QUERIES_FILE");
        std::process::exit(2);
    };
    let choice = ModelChoice::new(paperboy_app::models::DEFAULT_MODEL, &models_dir());
    let model_dir = paperboy_embed::provision::installed_dir(&choice.models_dir, &choice.name)
        .unwrap_or_else(|| panic!("{} is not installed in {}", choice.name, choice.models_dir.display()));
    let embedder = Embedder::load(&choice.name, &model_dir).unwrap();
    let vectors_dir = PathBuf::from(data).join("vectors").join(&choice.name);
    let index = VectorIndex::open(&vectors_dir, &choice.name, embedder.dimension()).unwrap();
    let texts: Vec<String> =
        std::fs::read_to_string(queries).unwrap().lines().map(str::to_owned).filter(|q| !q.trim().is_empty()).collect();
    let texts = &texts[..texts.len().min(1000)];
    let queries: Vec<Vec<f32>> = texts.iter().map(|q| embedder.embed_query(q).unwrap()).collect();

    for k in [10, 100] {
        let mut found = 0;
        for query in &queries {
            let exact: Vec<&str> = index.exact_search(query, k).iter().map(|n| n.key).collect();
            found += index.nearest(query, k).unwrap().iter().filter(|n| exact.contains(&n.key)).count();
        }
        let recall = found as f64 / (k * queries.len()) as f64;
        println!(
            "{}",
            serde_json::json!({ "vectors": index.len(), "queries": queries.len(), "k": k, "recall": recall })
        );
    }
    let time_per_query = |run: &dyn Fn()| {
        let mut runs: Vec<f64> = (0..3)
            .map(|_| {
                let started = Instant::now();
                run();
                started.elapsed().as_secs_f64() * 1e3 / queries.len() as f64
            })
            .collect();
        runs.sort_by(f64::total_cmp);
        runs[1]
    };
    let exact_ms = time_per_query(&|| {
        for query in &queries {
            std::hint::black_box(index.exact_search(query, 100));
        }
    });
    println!("{}", serde_json::json!({ "scan": "exact f32", "k": 100, "ms_per_query": exact_ms }));
    for batch in [1, 4, 16] {
        let ms = time_per_query(&|| {
            for group in queries.chunks(batch) {
                let group: Vec<(&[f32], usize)> = group.iter().map(|q| (q.as_slice(), 100)).collect();
                std::hint::black_box(index.nearest_many(&group).unwrap());
            }
        });
        println!(
            "{}",
            serde_json::json!({ "scan": "8-bit codes + rescoring", "batch": batch, "k": 100, "ms_per_query": ms,
                                "vs_exact": exact_ms / ms })
        );
    }
}

/// Where the benchmark's model is installed: `PAPERBOY_MODEL_DIR`.
fn models_dir() -> PathBuf {
    std::env::var_os("PAPERBOY_MODEL_DIR").map(PathBuf::from).expect("set PAPERBOY_MODEL_DIR to the models folder")
}
