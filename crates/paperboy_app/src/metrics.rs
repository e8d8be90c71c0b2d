//! Process-wide counters for Prometheus (`GET /metrics`): papers ingested, searches, digests built,
//! messages by outcome and SMTP latency. Counters live in atomics (no registry, no locks); gauges
//! (papers, subscribers, the outbox by state) are counted in the store at most once per
//! [`GAUGE_TTL`], by one scrape at a time (others wait for it and share its counts), so scraping
//! often or from many clients costs the store nothing more.

use std::{
    fmt::Write as _,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
    time::{Duration, Instant},
};

use paperboy_store::Delivery;

use crate::{Library, Result, SearchMode};

static PAPERS_INGESTED: AtomicU64 = AtomicU64::new(0);
static SEARCHES: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
static DIGESTS_BUILT: AtomicU64 = AtomicU64::new(0);
static DIGEST_RUNS: AtomicU64 = AtomicU64::new(0);
static MESSAGES: [AtomicU64; 5] =
    [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
const OUTCOMES: [&str; 5] = ["sent", "retry", "failed", "cancelled", "deferred"];

/// SMTP send latency histogram: upper bounds in seconds.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];
static LATENCY_BUCKETS: [AtomicU64; 10] = [const { AtomicU64::new(0) }; 10];
static LATENCY_COUNT: AtomicU64 = AtomicU64::new(0);
/// Sum of latencies in microseconds.
static LATENCY_SUM_US: AtomicU64 = AtomicU64::new(0);

pub(crate) fn papers_ingested(n: u64) {
    PAPERS_INGESTED.fetch_add(n, Relaxed);
}

pub(crate) fn search(mode: SearchMode) {
    let slot = match mode {
        SearchMode::Keyword => 0,
        SearchMode::Semantic => 1,
        _ => 2,
    };
    SEARCHES[slot].fetch_add(1, Relaxed);
}

pub(crate) fn digests_built(queued: u64) {
    DIGEST_RUNS.fetch_add(1, Relaxed);
    DIGESTS_BUILT.fetch_add(queued, Relaxed);
}

pub(crate) fn delivery(delivery: &Delivery) {
    let slot = match delivery {
        Delivery::Sent => 0,
        Delivery::Retry { .. } => 1,
        Delivery::Failed { .. } => 2,
        Delivery::Cancelled { .. } => 3,
        Delivery::Deferred { .. } => 4,
    };
    MESSAGES[slot].fetch_add(1, Relaxed);
}

pub(crate) fn smtp_latency(seconds: f64) {
    for (bound, bucket) in BUCKETS.iter().zip(&LATENCY_BUCKETS) {
        if seconds <= *bound {
            bucket.fetch_add(1, Relaxed);
        }
    }
    LATENCY_COUNT.fetch_add(1, Relaxed);
    LATENCY_SUM_US.fetch_add((seconds * 1e6) as u64, Relaxed);
}

/// How long counts read from the store are reused.
pub const GAUGE_TTL: Duration = Duration::from_secs(15);

/// The store's counts as the last scrape read them.
#[derive(Default)]
pub(crate) struct GaugeCache(Mutex<Option<(Instant, Gauges)>>);

#[derive(Clone)]
struct Gauges {
    papers: u64,
    outbox: Vec<(String, f64)>,
    accounts: Vec<(String, f64)>,
    suppressed: u64,
}

impl Library {
    fn gauges(&self) -> Result<Gauges> {
        let mut cached = self.gauges.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, gauges)) = cached.as_ref()
            && at.elapsed() < GAUGE_TTL
        {
            return Ok(gauges.clone());
        }
        let gauges = Gauges {
            papers: self.store.count_papers()?,
            outbox: self
                .outbox_status()?
                .into_iter()
                .map(|(state, n)| (format!("{{state=\"{}\"}}", label(&state)), n as f64))
                .collect(),
            accounts: self
                .subscriber_counts()?
                .into_iter()
                .map(|(status, n)| (format!("{{status=\"{}\"}}", label(&status)), n as f64))
                .collect(),
            suppressed: self.suppressed_count()?,
        };
        *cached = Some((Instant::now(), gauges.clone()));
        Ok(gauges)
    }

    /// The metrics in Prometheus' text format (version 0.0.4).
    pub fn metrics_text(&self) -> Result<String> {
        let gauges = self.gauges()?;
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(String, f64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        metric("paperboy_papers", "gauge", "Papers in the store.", &[(String::new(), gauges.papers as f64)]);
        metric(
            "paperboy_papers_ingested_total",
            "counter",
            "Papers stored new or changed by this process.",
            &[(String::new(), PAPERS_INGESTED.load(Relaxed) as f64)],
        );
        let searches: Vec<(String, f64)> = ["keyword", "semantic", "hybrid"]
            .iter()
            .zip(&SEARCHES)
            .map(|(mode, n)| (format!("{{mode=\"{mode}\"}}"), n.load(Relaxed) as f64))
            .collect();
        metric("paperboy_searches_total", "counter", "Searches run, by mode asked for.", &searches);
        metric(
            "paperboy_digest_builds_total",
            "counter",
            "Digest builds run by this process.",
            &[(String::new(), DIGEST_RUNS.load(Relaxed) as f64)],
        );
        metric(
            "paperboy_digests_built_total",
            "counter",
            "Digests queued by this process.",
            &[(String::new(), DIGESTS_BUILT.load(Relaxed) as f64)],
        );
        let messages: Vec<(String, f64)> = OUTCOMES
            .iter()
            .zip(&MESSAGES)
            .map(|(outcome, n)| (format!("{{outcome=\"{outcome}\"}}"), n.load(Relaxed) as f64))
            .collect();
        metric("paperboy_messages_total", "counter", "Outbox messages handled by this process, by outcome.", &messages);
        metric("paperboy_outbox_messages", "gauge", "Outbox messages by state.", &gauges.outbox);
        metric("paperboy_accounts", "gauge", "Accounts by status.", &gauges.accounts);
        metric(
            "paperboy_suppressed_accounts",
            "gauge",
            "Accounts whose mail bounced, so nothing more is sent to them.",
            &[(String::new(), gauges.suppressed as f64)],
        );
        let _ = writeln!(
            out,
            "# HELP paperboy_smtp_send_seconds Time for the SMTP server to accept (or refuse) a message.\n# TYPE paperboy_smtp_send_seconds histogram"
        );
        for (bound, bucket) in BUCKETS.iter().zip(&LATENCY_BUCKETS) {
            let _ = writeln!(out, "paperboy_smtp_send_seconds_bucket{{le=\"{bound}\"}} {}", bucket.load(Relaxed));
        }
        let count = LATENCY_COUNT.load(Relaxed);
        let _ = writeln!(out, "paperboy_smtp_send_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "paperboy_smtp_send_seconds_sum {}", LATENCY_SUM_US.load(Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "paperboy_smtp_send_seconds_count {count}");
        Ok(out)
    }

    /// Whether the store answers (for `/healthz`).
    pub fn health(&self) -> Result<()> {
        self.store.max_seq()?;
        Ok(())
    }
}

/// A unit enum's serde name (`MessageState::Queued` -> `queued`).
fn label(value: &impl serde::Serialize) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}
