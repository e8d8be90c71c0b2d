//! One module per subcommand.

pub mod browse;
pub mod demo;
pub mod digest;
pub mod embed;
pub mod eval;
pub mod ingest;
pub mod model;
pub mod search;
pub mod serve;
pub mod show;
pub mod signing_key;
pub mod stats;
pub mod subscriber;

use std::path::PathBuf;

use anyhow::Context as _;
use paperboy_app::{Library, ModelChoice};

use crate::progress::CliProgress;

/// What every command needs from the command line and the environment.
#[derive(Clone)]
pub struct Context {
    /// The data directory.
    pub data_dir: PathBuf,
    /// The embedding model, unless turned off.
    pub model: Option<ModelChoice>,
    /// Where models are installed.
    pub models_dir: PathBuf,
    /// The signing key's file (`PAPERBOY_SIGNING_KEY_FILE`), when not the data directory's.
    pub signing_key_file: Option<PathBuf>,
}

/// Opens the library, catching the index up with a progress bar if needed.
pub fn open_library(context: &Context) -> anyhow::Result<Library> {
    let mut library = Library::open_with(&context.data_dir, context.model.as_ref(), &CliProgress::new())
        .with_context(|| format!("opening the data directory {}", context.data_dir.display()))?;
    if let Some(path) = &context.signing_key_file {
        library.use_signing_key_file(path.clone());
    }
    Ok(library)
}
