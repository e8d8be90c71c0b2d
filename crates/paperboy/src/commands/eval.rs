//! `paperboy eval beir`

use std::process::ExitCode;

use anyhow::Context as _;
use paperboy_app::eval::{Fusion, Ranking};
use paperboy_app::{SearchMode, eval::BeirOptions};

use super::Context;
use crate::{
    cli::{BeirArgs, EvalCommand, EvalModeArg, FusionArg},
    output,
    progress::CliProgress,
};

pub fn run(context: &Context, command: EvalCommand) -> anyhow::Result<ExitCode> {
    let EvalCommand::Beir(args) = command;
    beir(context, args)
}

fn beir(context: &Context, args: BeirArgs) -> anyhow::Result<ExitCode> {
    let name = args.dir.file_name().map_or_else(|| "dataset".into(), |n| n.to_string_lossy().into_owned());
    let scratch = context.config.data_dir.join("scratch").join(format!("beir-{name}"));
    let mut ranking = Ranking::default();
    if let Some(boost) = args.title_boost {
        anyhow::ensure!(boost.is_finite() && boost >= 0.0, "--title-boost must be a non-negative number");
        ranking.title_boost = boost;
    }
    for (flag, given, weight) in [
        ("--pair-boost", args.pair_boost, &mut ranking.pair_boost),
        ("--triple-boost", args.triple_boost, &mut ranking.triple_boost),
    ] {
        if let Some(given) = given {
            anyhow::ensure!(given.is_finite() && given >= 0.0, "{flag} must be a non-negative number");
            *weight = given;
        }
    }
    if let Some(slop) = args.phrase_slop {
        anyhow::ensure!(slop <= 20, "--phrase-slop must be at most 20");
        ranking.phrase_slop = slop;
    }
    let fusion = match args.fusion {
        FusionArg::Rrf => Fusion::Rrf { k: 60.0 },
        FusionArg::Convex => {
            let Fusion::Convex { mut short_weight, mut long_weight, mut short_words, mut meaning_floor } =
                Fusion::default()
            else {
                unreachable!("the default fusion is convex")
            };
            if let Some(weight) = args.keyword_weight {
                anyhow::ensure!((0.0..=1.0).contains(&weight), "--keyword-weight must be between 0 and 1");
                // One weight for every query length: what tuning on a split needs.
                (short_weight, long_weight, short_words) = (weight, weight, 0);
            }
            if let Some(floor) = args.meaning_floor {
                anyhow::ensure!((0.0..=1.0).contains(&floor), "--meaning-floor must be between 0 and 1");
                meaning_floor = floor;
            }
            Fusion::Convex { short_weight, long_weight, short_words, meaning_floor }
        }
    };
    let options = BeirOptions {
        split: args.split.clone(),
        ranking,
        mode: match args.mode {
            EvalModeArg::Keyword => SearchMode::Keyword,
            EvalModeArg::Semantic => SearchMode::Semantic,
            EvalModeArg::Hybrid => SearchMode::Hybrid,
        },
        fusion,
        model: context.config.model.clone(),
        depth: usize::from(args.depth),
    };
    let run = paperboy_app::eval::beir(&args.dir, &scratch, &options, &CliProgress::new())
        .with_context(|| format!("evaluating on {}", args.dir.display()))?;
    if let Some(path) = &args.write_run {
        std::fs::write(path, run.trec_run("paperboy")).with_context(|| format!("writing {}", path.display()))?;
    }
    if args.json {
        output::print_json(&run)?;
    } else {
        let mode = match (&run.model, run.mode) {
            (Some(model), mode) => format!("{mode:?} search with {model}").to_lowercase(),
            (None, _) => "keyword search".into(),
        };
        println!(
            "{} ({} split, {} queries, {} documents), {mode}",
            run.dataset, run.split, run.report.queries, run.documents
        );
        println!("  nDCG@10     {:.4}", run.report.ndcg_at_10);
        println!("  Recall@100  {:.4}", run.report.recall_at_100);
        println!("  indexing {:.2} s, median query {:.2} ms", run.index_seconds, run.query_ms_median);
    }
    Ok(ExitCode::SUCCESS)
}
