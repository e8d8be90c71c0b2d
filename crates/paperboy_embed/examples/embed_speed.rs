//! Quick throughput probe: `cargo run --release -p paperboy_embed --example embed_speed -- MODEL_DIR N`
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::Path::new(&args[1]);
    let n: usize = args.get(2).map_or(256, |v| v.parse().unwrap());
    let embedder = paperboy_embed::Embedder::load("all-MiniLM-L6-v2", dir).unwrap();
    let corpus = std::fs::read_to_string("/work/shared/data/scifact/corpus.jsonl").unwrap();
    let texts: Vec<String> = corpus
        .lines()
        .take(n)
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            paperboy_embed::document_text(v["title"].as_str().unwrap(), v["text"].as_str().unwrap())
        })
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let started = std::time::Instant::now();
    let vectors = embedder.embed_documents(&refs).unwrap();
    let secs = started.elapsed().as_secs_f64();
    if let Ok(path) = std::env::var("DUMP") {
        std::fs::write(path, serde_json::to_string(&vectors).unwrap()).unwrap();
    }
    println!(
        "{} docs in {:.2} s: {:.1} docs/s; first: {:?}",
        vectors.len(),
        secs,
        vectors.len() as f64 / secs,
        &vectors[0][..4]
    );
}
