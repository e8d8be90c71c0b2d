//! `paperboy stats` and `paperboy reindex`

use std::{process::ExitCode, time::Instant};

use super::{Context, open_library};
use crate::{
    cli::{JsonArg, ReindexArgs},
    output,
    progress::CliProgress,
};

pub fn run(context: &Context, args: JsonArg) -> anyhow::Result<ExitCode> {
    let stats = open_library(context)?.stats()?;
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
    match (&stats.model, &stats.semantic_notice) {
        (Some(model), _) => println!("vectors:             {} ({model})", output::thousands(stats.vectors)),
        (None, Some(notice)) => println!("vectors:             none: {notice}"),
        (None, None) => {}
    }
    println!("unfinished harvests: {}", store.unfinished_harvests);
    println!("store size:          {:.1} MB", store.bytes_on_disk as f64 / 1e6);
    Ok(ExitCode::SUCCESS)
}

pub fn reindex(context: &Context, args: ReindexArgs) -> anyhow::Result<ExitCode> {
    let library = open_library(context)?;
    let started = Instant::now();
    let progress = CliProgress::new();
    let n = library.reindex(&progress)?;
    println!("reindexed {} papers in {:.1} s", output::thousands(n), started.elapsed().as_secs_f64());
    if !args.skip_vectors {
        // A model that cannot load is a reason the vectors are not rebuilt, not a failure.
        let _ = library.load_model();
        match library.semantic_status() {
            Ok(_) => println!("{}", output::embed_summary(&library.reembed(&progress)?)),
            Err(reason) => println!("vectors not rebuilt: {reason}"),
        }
    }
    Ok(ExitCode::SUCCESS)
}
