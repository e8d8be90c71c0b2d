//! Progress reporting for long work, so the CLI can draw a bar and the server can log.

/// Receives progress of long work. Implementations must be cheap: `advance` is called per batch.
pub trait Progress: Sync {
    /// A new phase begins; `total` is in `unit`s when known.
    fn start(&self, label: &str, total: Option<u64>, unit: &str);
    /// `n` more units are done.
    fn advance(&self, n: u64);
    /// The absolute position (for byte-based progress).
    fn set_position(&self, position: u64);
    /// A note worth showing (a resumed harvest, a retry).
    fn note(&self, message: &str);
    /// The phase is over.
    fn finish(&self, message: &str);
}

/// Reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: &str, _: Option<u64>, _: &str) {}
    fn advance(&self, _: u64) {}
    fn set_position(&self, _: u64) {}
    fn note(&self, _: &str) {}
    fn finish(&self, _: &str) {}
}
