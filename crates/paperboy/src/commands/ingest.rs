//! `paperboy ingest ...`

use std::{path::Path, process::ExitCode, time::Duration};

use anyhow::{Context, bail};
use paperboy_app::ingest::{self, IngestSummary, Interrupted, OaiOptions};
use paperboy_arxiv::{Politeness, api::ApiQuery, oai::HarvestRequest};
use paperboy_domain::ArxivId;

use super::open_library;
use crate::{
    cli::{IngestCommand, PolitenessArgs},
    output,
    progress::CliProgress,
};

pub fn run(data_dir: &Path, command: IngestCommand) -> anyhow::Result<ExitCode> {
    let library = open_library(data_dir)?;
    let progress = CliProgress::new();
    let (result, json) = match command {
        IngestCommand::Jsonl { files, json } => (ingest::ingest_jsonl(&library, &files, &progress), json.json),
        IngestCommand::HfDaily { files, json } => (ingest::ingest_hf_daily(&library, &files, &progress), json.json),
        IngestCommand::Oai(args) => {
            if let Some(until) = args.until
                && until < args.from
            {
                bail!("--until {until} is before --from {}", args.from);
            }
            let options = OaiOptions {
                request: HarvestRequest {
                    endpoint: args.endpoint.clone(),
                    from: args.from,
                    until: args.until,
                    set: args.set,
                    format: args.format,
                },
                politeness: politeness(&args.politeness, &args.endpoint)?,
                max_pages: args.max_pages,
            };
            (ingest::ingest_oai(&library, &options, &progress), args.json.json)
        }
        IngestCommand::ArxivApi(args) => {
            let query = if args.selection.ids.is_empty() {
                let query = args.selection.query.clone().context("give --id or --query")?;
                if query.trim().is_empty() {
                    bail!("the --query is empty");
                }
                ApiQuery::Search { query, max_results: args.max_results.clamp(1, 30_000) }
            } else {
                let ids = args
                    .selection
                    .ids
                    .iter()
                    .flat_map(|text| text.split(','))
                    .map(ArxivId::parse_lenient)
                    .collect::<Result<Vec<_>, _>>()?;
                ApiQuery::Ids(ids)
            };
            let politeness = politeness(&args.politeness, &args.endpoint)?;
            (ingest::ingest_arxiv_api(&library, &args.endpoint, &query, politeness, &progress), args.json.json)
        }
    };
    report(result, json)
}

fn report(result: Result<IngestSummary, Interrupted>, json: bool) -> anyhow::Result<ExitCode> {
    let (summary, failure) = match result {
        Ok(summary) => (summary, None),
        Err(Interrupted { summary, cause }) => (*summary, Some(cause)),
    };
    if json {
        let mut value = serde_json::to_value(&summary)?;
        if let Some(cause) = &failure {
            value["error"] = serde_json::Value::String(cause.to_string());
        }
        output::print_json(&value)?;
    } else {
        print!("{}", output::ingest_summary(&summary));
    }
    if let Some(cause) = failure {
        let stored = summary.new + summary.updated;
        eprintln!("error: {cause}");
        if stored > 0 || summary.pages > 0 {
            eprintln!("note: what was read before the error is stored; run the same command again to go on");
        }
        return Ok(ExitCode::FAILURE);
    }
    // A file that could not be read fails the command, after the others were ingested.
    Ok(if summary.failed_files.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn politeness(args: &PolitenessArgs, endpoint: &str) -> anyhow::Result<Politeness> {
    let interval = args.request_interval;
    if !interval.is_finite() || !(0.0..=3600.0).contains(&interval) {
        bail!("--request-interval must be between 0 and 3600 seconds");
    }
    let host = endpoint.split("://").nth(1).unwrap_or(endpoint).split(['/', ':']).next().unwrap_or("");
    if interval < 3.0 && (host == "arxiv.org" || host.ends_with(".arxiv.org")) {
        bail!("arXiv asks for at least 3 seconds between requests (--request-interval {interval})");
    }
    Ok(Politeness { min_interval: Duration::from_secs_f64(interval), ..Politeness::ARXIV })
}
