//! paperboy's vocabulary: the types every other crate speaks — arXiv ids, categories, papers,
//! community signals and search queries. Parsing here validates ("parse, don't validate"): a value
//! that exists is valid. No IO, no async.

mod arxiv_id;
pub mod category;
mod paper;
pub mod query;
pub mod text;

pub use arxiv_id::{ArxivId, ArxivIdError};
pub use category::{Category, UnknownCategory};
pub use paper::{Paper, PaperError, Signals, Version, limits};
pub use query::{QueryError, SearchQuery};
