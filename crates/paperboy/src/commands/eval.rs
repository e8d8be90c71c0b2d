//! `paperboy eval beir`

use std::{path::Path, process::ExitCode};

use anyhow::Context;
use paperboy_search::Ranking;

use crate::{
    cli::{BeirArgs, EvalCommand},
    output,
    progress::CliProgress,
};

pub fn run(data_dir: &Path, command: EvalCommand) -> anyhow::Result<ExitCode> {
    let EvalCommand::Beir(args) = command;
    beir(data_dir, args)
}

fn beir(data_dir: &Path, args: BeirArgs) -> anyhow::Result<ExitCode> {
    let name = args.dir.file_name().map_or_else(|| "dataset".into(), |n| n.to_string_lossy().into_owned());
    let scratch = data_dir.join("scratch").join(format!("beir-{name}"));
    let mut ranking = Ranking::default();
    if let Some(boost) = args.title_boost {
        anyhow::ensure!(boost.is_finite() && boost >= 0.0, "--title-boost must be a non-negative number");
        ranking.title_boost = boost;
    }
    let run = paperboy_app::eval::beir(&args.dir, &args.split, &scratch, ranking, &CliProgress::new())
        .with_context(|| format!("evaluating on {}", args.dir.display()))?;
    if args.json {
        output::print_json(&run)?;
    } else {
        println!(
            "{} ({} split, {} queries, {} documents), {} search",
            run.dataset, run.split, run.report.queries, run.documents, run.mode
        );
        println!("  nDCG@10     {:.4}", run.report.ndcg_at_10);
        println!("  Recall@100  {:.4}", run.report.recall_at_100);
        println!("  indexing {:.2} s, median query {:.2} ms", run.index_seconds, run.query_ms_median);
    }
    Ok(ExitCode::SUCCESS)
}
