//! One module per subcommand.

pub mod browse;
pub mod config;
pub mod demo;
pub mod digest;
pub mod embed;
pub mod eval;
pub mod ingest;
pub mod library;
pub mod mcp;
pub mod model;
pub mod search;
pub mod serve;
pub mod show;
pub mod signing_key;
pub mod stats;
pub mod store;
pub mod subscriber;

use anyhow::Context as _;
use paperboy_app::Library;

use crate::{config::Config, progress::CliProgress};

/// What every command needs: the configuration, read and validated once at start.
#[derive(Clone)]
pub struct Context {
    /// The settings.
    pub config: std::sync::Arc<Config>,
}

/// Opens the library, catching the index up with a progress bar if needed.
pub fn open_library(context: &Context) -> anyhow::Result<Library> {
    let config = &context.config;
    let mut library =
        Library::open_on(&config.data_dir, config.database_url.as_deref(), config.model.as_ref(), &CliProgress::new())
            .with_context(|| match &config.database_url {
                Some(url) => format!(
                    "opening the data directory {} over the database {}",
                    config.data_dir.display(),
                    paperboy_app::redact_database_url(url)
                ),
                None => format!("opening the data directory {}", config.data_dir.display()),
            })?;
    if let Some(path) = &config.signing_key_file {
        library.use_signing_key_file(path.clone());
    }
    Ok(library)
}
