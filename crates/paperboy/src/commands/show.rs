//! `paperboy show`

use std::process::ExitCode;

use anyhow::Context as _;
use paperboy_domain::ArxivId;

use super::{Context, open_library};
use crate::{
    cli::{ShowArgs, SimilarArgs},
    output,
};

pub fn run(context: &Context, args: ShowArgs) -> anyhow::Result<ExitCode> {
    let id = ArxivId::parse_lenient(&args.id).with_context(|| format!("{:?}", args.id.trim()))?;
    let library = open_library(context)?;
    match library.show(id)? {
        Some(details) if args.json.json => output::print_json(&details)?,
        Some(details) => print!("{}", output::paper_details(&details)),
        None => anyhow::bail!("no paper {} in {}", args.id.trim(), context.config.data_dir.display()),
    }
    Ok(ExitCode::SUCCESS)
}

/// `paperboy similar`
pub fn similar(context: &Context, args: SimilarArgs) -> anyhow::Result<ExitCode> {
    let id = ArxivId::parse_lenient(&args.id).with_context(|| format!("{:?}", args.id.trim()))?;
    let library = open_library(context)?;
    let hits = library.similar(id, args.limit)?;
    if args.json.json {
        output::print_json(&hits)?;
    } else {
        print!("{}", output::similar(&args.id, &hits));
    }
    Ok(ExitCode::SUCCESS)
}
