//! `paperboy demo`: the README's first command. Ingests the sample corpus shipped in the repository
//! into a demo data directory and shows what search does.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::{Context, bail};
use paperboy_app::{SearchParams, ingest};

use super::open_library;
use crate::{cli::DemoArgs, output, progress::CliProgress};

pub fn run(data_dir: Option<&Path>, args: DemoArgs) -> anyhow::Result<ExitCode> {
    let sample = match args.sample {
        Some(dir) => dir,
        None => find_sample()
            .context("cannot find the sample corpus; pass --sample DIR (the repository's data/sample/arxiv-cs)")?,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&sample)
        .with_context(|| format!("reading {}", sample.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.to_string_lossy().ends_with(".jsonl.gz") || path.to_string_lossy().ends_with(".jsonl"))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("{} holds no .jsonl or .jsonl.gz files", sample.display());
    }
    let data_dir = data_dir.map_or_else(|| PathBuf::from(".paperboy/demo"), Path::to_owned);
    println!("paperboy demo: {} days of real arXiv listings from {}", files.len(), sample.display());
    println!("data directory: {}", data_dir.display());
    let library = open_library(&data_dir)?;
    let summary =
        ingest::ingest_jsonl(&library, &files, &CliProgress::new()).map_err(|e| anyhow::anyhow!("{}", e.cause))?;
    print!("{}", output::ingest_summary(&summary));
    for query in ["diffusion policy", "\"speculative decoding\"", "ti:segmentation cat:cs.CV -medical"] {
        let page = library.search(&SearchParams { query: query.into(), limit: 3, ..SearchParams::default() })?;
        println!();
        print!("{}", output::search_page(query, &page, 0));
    }
    let data_flag = format!("--data-dir {}", data_dir.display());
    println!();
    println!("Search it yourself:");
    println!("  cargo run --release -- {data_flag} search 'your words here'");
    println!("  cargo run --release -- {data_flag} search --help");
    println!("  cargo run --release -- {data_flag} show 2606.14725");
    Ok(ExitCode::SUCCESS)
}

/// `data/sample/arxiv-cs` under the current directory or the repository this binary was built from.
fn find_sample() -> Option<PathBuf> {
    let candidates = [
        PathBuf::from("data/sample/arxiv-cs"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/sample/arxiv-cs"),
    ];
    candidates.into_iter().find(|p| p.is_dir())
}
