//! One module per subcommand.

pub mod demo;
pub mod eval;
pub mod ingest;
pub mod search;
pub mod show;
pub mod stats;

use std::path::Path;

use anyhow::Context;
use paperboy_app::Library;

use crate::progress::CliProgress;

/// Opens the library in `data_dir`, catching the index up with a progress bar if needed.
pub fn open_library(data_dir: &Path) -> anyhow::Result<Library> {
    Library::open(data_dir, &CliProgress::new())
        .with_context(|| format!("opening the data directory {}", data_dir.display()))
}
