//! `paperboy demo`: the README's first command. Installs the embedding model if needed, ingests the
//! sample corpus shipped in the repository into a demo data directory with the vectors shipped
//! beside it, and shows what search does.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::{Context as _, bail};
use paperboy_app::models::{self, Source};
use paperboy_app::{Library, SearchParams, ingest};

use super::{Context, open_library};
use crate::{cli::DemoArgs, output, progress::CliProgress};

pub fn run(context: &Context, args: DemoArgs) -> anyhow::Result<ExitCode> {
    let sample = match args.sample {
        Some(dir) => dir,
        None => find_sample()
            .context("cannot find the sample corpus; pass --sample DIR (the repository's data/sample/arxiv-cs)")?,
    };
    let files = sample_files(&sample)?;
    let mut config = (*context.config).clone();
    if !config.data_dir_given {
        config.data_dir = PathBuf::from(".paperboy/demo");
    }
    let data_dir = config.data_dir.clone();
    let context = Context { config: std::sync::Arc::new(config) };
    println!("paperboy demo: {} days of real arXiv listings from {}", files.len(), sample.display());
    println!("data directory: {}", data_dir.display());
    install_model(&context);
    let library = open_library(&context)?;
    load_sample(&library, &sample, &files)?;
    show_searches(&library)?;
    let data_flag = format!("--data-dir {}", data_dir.display());
    println!();
    println!("From the command line:");
    println!("  cargo run --release -- {data_flag} search 'your words here'");
    println!("  cargo run --release -- {data_flag} similar 2606.14725");
    println!();
    if args.no_serve {
        println!("Serve it: cargo run --release -- {data_flag} serve");
        return Ok(ExitCode::SUCCESS);
    }
    super::serve::serve(std::sync::Arc::new(library), &context.config)?;
    Ok(ExitCode::SUCCESS)
}

/// The sample's daily listing files, in order.
fn sample_files(sample: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(sample)
        .with_context(|| format!("reading {}", sample.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.to_string_lossy().ends_with(".jsonl.gz") || path.to_string_lossy().ends_with(".jsonl"))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("{} holds no .jsonl or .jsonl.gz files", sample.display());
    }
    Ok(files)
}

/// Installs the configured model if it is missing; without it the demo is keyword search.
fn install_model(context: &Context) {
    let Some(model) = &context.config.model else { return };
    if models::installed_dir(&model.models_dir, &model.name).is_some() {
        return;
    }
    println!("installing the embedding model {} (once) ...", model.name);
    let from = Source::Auto { hub: context.config.hub.clone() };
    match models::install(&model.models_dir, &model.name, &from, &super::model::tools(&context.config)) {
        Ok(installed) => {
            for note in installed.notes {
                println!("note: {note}");
            }
        }
        Err(err) => println!("note: {err}; the demo goes on with keyword search"),
    }
}

/// Ingests the sample's listings and upvotes, imports the vectors shipped beside it and embeds the rest.
fn load_sample(library: &Library, sample: &Path, files: &[PathBuf]) -> anyhow::Result<()> {
    let progress = CliProgress::new();
    let summary = ingest::ingest_jsonl(library, files, &progress).map_err(|e| anyhow::anyhow!("{}", e.cause))?;
    print!("{}", output::ingest_summary(&summary));
    let hf_dir = sample.with_file_name("hf-daily");
    if let Ok(entries) = std::fs::read_dir(&hf_dir) {
        let mut hf_files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        hf_files.sort();
        let summary =
            ingest::ingest_hf_daily(library, &hf_files, &progress).map_err(|e| anyhow::anyhow!("{}", e.cause))?;
        println!("upvotes and code links for trending: {} records from {}", summary.read, hf_dir.display());
    }
    let _ = library.load_model();
    if let Ok(model) = library.semantic_status() {
        let shipped = sample.with_file_name(format!("vectors-{model}.bin"));
        if shipped.is_file() {
            let n = library.import_vectors(&shipped, &progress)?;
            println!("imported {} vectors shipped with the sample ({})", output::thousands(n), shipped.display());
        }
        println!("{}", output::embed_summary(&library.embed_missing(&progress)?));
    }
    Ok(())
}

/// A few searches that show what the query language does.
fn show_searches(library: &Library) -> anyhow::Result<()> {
    for query in [
        "degeneration",
        "diffusion policy for robot manipulation",
        "\"speculative decoding\"",
        "ti:segmentation cat:cs.CV -medical",
    ] {
        let page = library.search(&SearchParams { query: query.into(), limit: 3, ..SearchParams::default() })?;
        println!();
        if let Some(notice) = &page.notice {
            println!("note: {notice}");
        }
        print!("{}", output::search_page(query, &page, 0));
    }
    Ok(())
}

/// `data/sample/arxiv-cs` under the current directory or the repository this binary was built from.
fn find_sample() -> Option<PathBuf> {
    let candidates = [
        PathBuf::from("data/sample/arxiv-cs"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/sample/arxiv-cs"),
    ];
    candidates.into_iter().find(|p| p.is_dir())
}
