//! `paperboy embed`

use std::process::ExitCode;

use super::{Context, open_library};
use crate::{cli::EmbedArgs, output, progress::CliProgress};

pub fn run(context: &Context, args: EmbedArgs) -> anyhow::Result<ExitCode> {
    let library = open_library(context)?;
    let _ = library.load_model();
    if let Err(reason) = library.semantic_status() {
        anyhow::bail!("{reason}");
    }
    if let Some(path) = &args.import {
        let n = library.import_vectors(path, &CliProgress::new())?;
        eprintln!("imported {} vectors from {}", output::thousands(n), path.display());
    }
    let summary = library.embed_missing(&CliProgress::new())?;
    if let Some(path) = &args.export {
        let n = library.export_vectors(path)?;
        eprintln!("exported {} vectors to {}", output::thousands(n), path.display());
    }
    if args.json.json {
        output::print_json(&summary)?;
    } else {
        println!("{}", output::embed_summary(&summary));
    }
    Ok(ExitCode::SUCCESS)
}
