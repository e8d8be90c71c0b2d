//! `paperboy store copy --to URL`: the embedded store into PostgreSQL, verified.

use std::process::ExitCode;

use super::{Context, open_library};
use crate::{cli::StoreCommand, output, output::print_json, progress::CliProgress};

pub fn run(context: &Context, command: StoreCommand) -> anyhow::Result<ExitCode> {
    let StoreCommand::Copy(args) = command;
    let library = open_library(context)?;
    let tables = library.copy_store_to(&args.to, &CliProgress::new())?;
    if args.json.json {
        print_json(&serde_json::json!({
            "from": library.store_description(),
            "to": paperboy_app::redact_database_url(&args.to),
            "tables": tables,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let width = tables.iter().map(|t| t.table.len()).max().unwrap_or(0);
    for table in &tables {
        println!("{:<width$}  {:>12} rows  checksum {}", table.table, output::thousands(table.rows), table.checksum);
    }
    println!(
        "copied {} into {} and checked every table (counts and checksums match)",
        library.store_description(),
        paperboy_app::redact_database_url(&args.to)
    );
    println!("next: set PAPERBOY_DATABASE_URL to that URL on every node (each keeps its own indexes)");
    Ok(ExitCode::SUCCESS)
}
