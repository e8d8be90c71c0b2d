//! `paperboy library export`: a subscriber's library for a reference manager.

use std::{io::Write as _, process::ExitCode};

use anyhow::Context as _;
use paperboy_app::cite::Format;

use super::{Context, open_library, subscriber::find};
use crate::cli::{CitationFormatArg, LibraryCommand};

pub fn run(context: &Context, command: LibraryCommand) -> anyhow::Result<ExitCode> {
    let LibraryCommand::Export(args) = command;
    let library = open_library(context)?;
    let account = find(&library, &args.who)?;
    let format = match args.format {
        CitationFormatArg::Bibtex => Format::Bibtex,
        CitationFormatArg::Ris => Format::Ris,
        CitationFormatArg::CslJson => Format::CslJson,
    };
    let text = library.export_library(account.id, format)?;
    match &args.output {
        Some(path) => {
            std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("wrote the library of {} to {} ({})", account.email.as_str(), path.display(), format.as_str());
        }
        None => std::io::stdout().lock().write_all(text.as_bytes()).context("writing to standard output")?,
    }
    Ok(ExitCode::SUCCESS)
}
