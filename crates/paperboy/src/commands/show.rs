//! `paperboy show`

use std::{path::Path, process::ExitCode};

use super::open_library;
use crate::{cli::ShowArgs, output};

pub fn run(data_dir: &Path, args: ShowArgs) -> anyhow::Result<ExitCode> {
    let library = open_library(data_dir)?;
    match library.show(&args.id)? {
        Some(details) if args.json.json => output::print_json(&details)?,
        Some(details) => print!("{}", output::paper_details(&details)),
        None => anyhow::bail!("no paper {} in {}", args.id.trim(), data_dir.display()),
    }
    Ok(ExitCode::SUCCESS)
}
