//! `paperboy stats` and `paperboy reindex`

use std::{path::Path, process::ExitCode, time::Instant};

use super::open_library;
use crate::{cli::JsonArg, output, progress::CliProgress};

pub fn run(data_dir: &Path, args: JsonArg) -> anyhow::Result<ExitCode> {
    let stats = open_library(data_dir)?.stats()?;
    if args.json {
        output::print_json(&stats)?;
        return Ok(ExitCode::SUCCESS);
    }
    let store = &stats.store;
    println!("data directory:      {}", stats.data_dir.display());
    println!("papers:              {}", output::thousands(stats.papers));
    println!("  indexed:           {}", output::thousands(stats.indexed_papers));
    println!("  only from HF:      {}", output::thousands(store.secondary_papers));
    println!("  with signals:      {}", output::thousands(store.papers_with_signals));
    if let (Some(first), Some(last)) = (store.first_announced, store.last_announced) {
        println!("announced:           {first} to {last}");
    }
    println!("unfinished harvests: {}", store.unfinished_harvests);
    println!("store size:          {:.1} MB", store.bytes_on_disk as f64 / 1e6);
    Ok(ExitCode::SUCCESS)
}

pub fn reindex(data_dir: &Path) -> anyhow::Result<ExitCode> {
    let library = open_library(data_dir)?;
    let started = Instant::now();
    let n = library.reindex(&CliProgress::new())?;
    println!("reindexed {} papers in {:.1} s", output::thousands(n), started.elapsed().as_secs_f64());
    Ok(ExitCode::SUCCESS)
}
