//! paperboy's vocabulary: the types every other crate speaks — arXiv ids, categories, papers,
//! community signals, search queries and subscribers. Parsing here validates ("parse, don't validate"): a value
//! that exists is valid. No IO, no async.

mod arxiv_id;
pub mod category;
mod paper;
pub mod query;
mod subscriber;
pub mod text;

pub use arxiv_id::{ArxivId, ArxivIdError};
pub use category::{Category, UnknownCategory};
pub use paper::{Paper, PaperError, Signals, Version, limits};
pub use query::{QueryError, SearchQuery};
pub use subscriber::{
    AccountId, Cadence, EmailAddress, EmailError, MAX_FOLLOWS, Preferences, PreferencesError, author_key,
    author_matches,
};
