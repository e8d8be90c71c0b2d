//! `paperboy config`: the settings in effect and where each came from.

use std::process::ExitCode;

use super::Context;
use crate::{cli::JsonArg, output::print_json};

pub fn run(context: &Context, json: JsonArg) -> anyhow::Result<ExitCode> {
    let effective = context.config.effective();
    if json.json {
        print_json(&effective)?;
        return Ok(ExitCode::SUCCESS);
    }
    let width = effective.iter().map(|e| e.key.len()).max().unwrap_or(0);
    for setting in &effective {
        println!("{:<width$}  {}  ({})", setting.key, setting.value, setting.source);
    }
    Ok(ExitCode::SUCCESS)
}
