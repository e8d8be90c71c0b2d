//! Small state of the whole installation: settings, rate-limit counters, and caches of work that
//! costs model or CPU time (saved searches' query vectors, per-account library models).

use chrono::{DateTime, Utc};
use paperboy_domain::AccountId;

use crate::Result;

/// Settings, rate limits and caches.
pub trait SettingsStore: Send + Sync {
    /// Counts a hit against `key`; false when `max` hits already happened in the window that
    /// started at most `window_seconds` ago.
    fn rate_limit(&self, key: &str, max: u32, window_seconds: i64, now: DateTime<Utc>) -> Result<bool>;
    /// Takes or renews the lease `name` for `holder` until `until`: true when `holder` now holds
    /// it (it was free, ran out before `now`, or was `holder`'s already). What one lease guards runs
    /// in one process of a cluster at a time.
    fn try_lease(&self, name: &str, holder: &str, until: DateTime<Utc>, now: DateTime<Utc>) -> Result<bool>;
    /// Gives the lease `name` up, if `holder` holds it.
    fn release_lease(&self, name: &str, holder: &str) -> Result<()>;
    /// A setting.
    fn setting(&self, key: &str) -> Result<Option<String>>;
    /// Stores a setting, replacing any value.
    fn put_setting(&self, key: &str, value: &str) -> Result<()>;
    /// Removes a setting.
    fn delete_setting(&self, key: &str) -> Result<()>;

    /// Stored embeddings of saved searches (by the hash of their text) for `model`.
    fn query_vectors(&self, model: &str, hashes: &[i64]) -> Result<Vec<(i64, Vec<f32>)>>;
    /// Stores embeddings of saved searches.
    fn put_query_vectors(&self, model: &str, vectors: &[(i64, Vec<f32>)]) -> Result<()>;

    /// An account's cached library model for `model`, if it was trained on the library whose hash
    /// is `library_hash`.
    fn library_model(&self, account: AccountId, model: &str, library_hash: i64) -> Result<Option<Vec<f32>>>;
    /// Caches an account's library model.
    fn put_library_model(&self, account: AccountId, model: &str, library_hash: i64, weights: &[f32]) -> Result<()>;
}
