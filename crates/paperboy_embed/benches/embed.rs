//! Embedding throughput on real texts, one JSON line out.
//!
//! `cargo bench -p paperboy_embed --bench embed -- MODEL_DIR TEXTS_FILE` (one text per line).
//! `PAPERBOY_EMBED_PRECISION=f32` measures the f32 path. `scripts/bench-semantic` runs it beside
//! sentence-transformers on the same texts.

use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let [model_dir, texts_file] = args.as_slice() else {
        eprintln!("usage: embed MODEL_DIR TEXTS_FILE");
        std::process::exit(2);
    };
    let embedder = paperboy_embed::Embedder::load("all-MiniLM-L6-v2", std::path::Path::new(model_dir)).unwrap();
    let texts: Vec<String> = std::fs::read_to_string(texts_file).unwrap().lines().map(str::to_owned).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let tokens: usize = refs.iter().map(|t| embedder.count_tokens(t).unwrap()).sum();
    embedder.embed_documents(&refs[..16.min(refs.len())]).unwrap();
    let started = Instant::now();
    let vectors = embedder.embed_documents(&refs).unwrap();
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(vectors.len(), texts.len());
    println!(
        "{}",
        serde_json::json!({
            "engine": "paperboy",
            "precision": if paperboy_embed::bf16::supported() { "bf16" } else { "f32" },
            "texts": texts.len(),
            "mean_tokens": tokens as f64 / texts.len() as f64,
            "seconds": seconds,
            "docs_per_second": texts.len() as f64 / seconds,
            "threads": rayon::current_num_threads(),
        })
    );
}
