//! `paperboy ingest ...`

use std::{process::ExitCode, time::Duration};

use anyhow::{Context as _, bail};
use paperboy_app::ingest::{self, IngestSummary, Interrupted, OaiOptions};
use paperboy_app::ingest::{ApiQuery, HarvestRequest, Politeness};
use paperboy_domain::ArxivId;

use super::{Context, open_library};
use crate::{cli::IngestCommand, output, progress::CliProgress};

pub fn run(context: &Context, command: IngestCommand) -> anyhow::Result<ExitCode> {
    let library = open_library(context)?;
    let progress = CliProgress::new();
    let (result, json, no_embed) = match command {
        IngestCommand::Jsonl { files, embed, json } => {
            (ingest::ingest_jsonl(&library, &files, &progress), json.json, embed.no_embed)
        }
        IngestCommand::HfDaily { files, embed, json } => {
            (ingest::ingest_hf_daily(&library, &files, &progress), json.json, embed.no_embed)
        }
        IngestCommand::Oai(args) => {
            if let Some(until) = args.until
                && until < args.from
            {
                bail!("--until {until} is before --from {}", args.from);
            }
            let endpoint = context.config.oai_endpoint.clone();
            let options = OaiOptions {
                request: HarvestRequest {
                    endpoint: endpoint.clone(),
                    from: args.from,
                    until: args.until,
                    set: args.set,
                    format: args.format,
                },
                politeness: politeness(context.config.request_interval, &endpoint)?,
                max_pages: args.max_pages,
            };
            (ingest::ingest_oai(&library, &options, &progress), args.json.json, args.embed.no_embed)
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
            let endpoint = &context.config.api_endpoint;
            let politeness = politeness(context.config.request_interval, endpoint)?;
            (
                ingest::ingest_arxiv_api(&library, endpoint, &query, politeness, &progress),
                args.json.json,
                args.embed.no_embed,
            )
        }
    };
    // Stored papers are embedded before the command returns, unless asked not to; a failure there
    // leaves the papers stored and keyword-searchable. The model is tried first, so that one that
    // cannot load is reported as the reason nothing was embedded (the status says so after).
    let to_embed = !no_embed && matches!(&result, Ok(summary) if summary.new + summary.updated > 0);
    if to_embed {
        let _ = library.load_model();
    }
    let embedded = match library.semantic_status() {
        Ok(_) if to_embed => Some(library.embed_missing(&progress)),
        _ => None,
    };
    report(result, embedded, library.semantic_status().err().filter(|_| !no_embed), json)
}

fn report(
    result: Result<IngestSummary, Interrupted>,
    embedded: Option<Result<paperboy_app::EmbedSummary, paperboy_app::Error>>,
    semantic_off: Option<&str>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let (summary, mut failure) = match result {
        Ok(summary) => (summary, None),
        Err(Interrupted { summary, cause }) => (*summary, Some(cause)),
    };
    let embedded = match embedded {
        Some(Ok(embedded)) => Some(embedded),
        Some(Err(err)) => {
            failure = Some(Box::new(err));
            None
        }
        None => None,
    };
    if json {
        let mut value = serde_json::to_value(&summary)?;
        if let Some(embedded) = &embedded {
            value["embedded"] = serde_json::to_value(embedded)?;
        }
        if let Some(cause) = &failure {
            value["error"] = serde_json::Value::String(cause.to_string());
        }
        output::print_json(&value)?;
    } else {
        print!("{}", output::ingest_summary(&summary));
        if let Some(embedded) = &embedded {
            println!("{}", output::embed_summary(embedded));
        } else if let Some(reason) = semantic_off {
            println!("not embedded: {reason}");
        }
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

/// The pace of requests to `endpoint`: `interval` seconds apart, never less than 3 for arxiv.org.
pub fn politeness(interval: f64, endpoint: &str) -> anyhow::Result<Politeness> {
    let host = endpoint.split("://").nth(1).unwrap_or(endpoint).split(['/', ':']).next().unwrap_or("");
    if interval < 3.0 && (host == "arxiv.org" || host.ends_with(".arxiv.org")) {
        bail!("arXiv asks for at least 3 seconds between requests (--request-interval {interval})");
    }
    Ok(Politeness { min_interval: Duration::from_secs_f64(interval), ..Politeness::ARXIV })
}

/// The daily job's pace: like [`politeness`], but an interval under arXiv's 3 seconds is raised to
/// 3 for arxiv.org rather than refused (the server must not stop over it).
pub fn harvest_politeness(interval: f64, endpoint: &str) -> Politeness {
    let arxiv = endpoint.split("://").nth(1).unwrap_or(endpoint).split(['/', ':']).next().unwrap_or("");
    let interval = if arxiv == "arxiv.org" || arxiv.ends_with(".arxiv.org") { interval.max(3.0) } else { interval };
    Politeness { min_interval: Duration::from_secs_f64(interval), ..Politeness::ARXIV }
}
