//! Sending the outbox: each queued message is rendered (papers read from the store, links signed)
//! and handed to the SMTP server; the store records whether it was accepted, will be retried or
//! failed for good. Rendering happens at send time so that the outbox stays small (a digest is a
//! list of ids and reasons) and links are fresh.

/// The SMTP client, for the CLI (which reaches `paperboy_mail` only through here).
pub use paperboy_mail::{SmtpMailer, SmtpSettings, redact_url};
use std::{collections::HashMap, sync::Arc};

use chrono::{DateTime, Duration, Utc};
use paperboy_domain::{ArxivId, Paper};
use paperboy_mail::{DigestItem, DigestView, MailContext, SendError};
use paperboy_store::{AccountStatus, Delivery, OutboxMessage};
use serde::Serialize;

use crate::{
    Error, Library, Result,
    accounts::SIGN_IN_MINUTES,
    outbox::{DigestEntry, MailPayload},
    signing::LinkPurpose,
};

/// Attempts after which a message that keeps failing temporarily is given up.
pub const MAX_ATTEMPTS: u32 = 8;
/// Bounces after which an address whose mailbox is gone (no such user, no such domain) gets no
/// more mail.
pub const SUPPRESS_AFTER_HARD_BOUNCES: u32 = 1;
/// Bounces after which an address whose mailbox may recover (full, over quota) gets no more mail.
pub const SUPPRESS_AFTER_SOFT_BOUNCES: u32 = 3;
/// Messages refused for their content in a row after which a run stops: a relay refusing every
/// message is refusing us (a policy, a reputation), and the rest should wait for the operator.
pub const MAX_REJECTIONS_IN_A_ROW: u32 = 3;
/// Messages claimed per round.
const CLAIM_BATCH: usize = 200;
/// Messages in flight at once, by default: one, so that a crash re-sends at most one message
/// (518 messages/s to a local relay, docs/BENCHMARKS.md). More workers help with a distant server;
/// each adds at most one possible duplicate per crash.
pub const DEFAULT_WORKERS: usize = 1;

/// What the mail says about the site and who sends.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// Sender, site URL and host.
    pub context: MailContext,
    /// An address that unsubscribes whoever writes to it (`List-Unsubscribe: <mailto:…>`).
    pub unsubscribe_mailto: Option<String>,
}

impl MailSettings {
    /// Settings for a site at `base_url`, sending from `from` (default `paperboy <paperboy@HOST>`).
    pub fn new(base_url: &str, from: Option<&str>, unsubscribe_mailto: Option<&str>) -> Result<MailSettings> {
        let base_url = base_url.trim_end_matches('/').to_owned();
        let host = host_of(&base_url);
        let from_text =
            from.map(str::to_owned).unwrap_or_else(|| format!("paperboy <paperboy@{}>", mail_domain(&host)));
        let from = from_text.parse().map_err(|e| {
            Error::Config(format!("PAPERBOY_MAIL__FROM: the sender address {from_text:?} is not valid: {e}"))
        })?;
        Ok(MailSettings {
            context: MailContext { from, base_url, host },
            unsubscribe_mailto: unsubscribe_mailto.map(str::to_owned),
        })
    }
}

/// The host of a URL (`https://papers.example.org:8443/x` -> `papers.example.org`).
pub fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or(rest);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host.starts_with('[') {
        host.split(']').next().map_or(host, |h| &h[1..])
    } else {
        host.split(':').next().unwrap_or(host)
    };
    if host.is_empty() { "localhost".to_owned() } else { host.to_ascii_lowercase() }
}

/// A domain usable in a default sender address (`127.0.0.1` -> `localhost.localdomain`).
fn mail_domain(host: &str) -> String {
    if host.contains('.') && !host.chars().all(|c| c.is_ascii_digit() || c == '.') {
        host.to_owned()
    } else {
        "localhost.localdomain".to_owned()
    }
}

/// What a sending run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SendReport {
    /// Accepted by the server.
    pub sent: u64,
    /// Failed for now; queued again for later.
    pub retrying: u64,
    /// Failed for good (5xx, or too many attempts).
    pub failed: u64,
    /// Not sent because the account unsubscribed or was suppressed after queueing.
    pub cancelled: u64,
    /// Not attempted because the server was unreachable; still queued.
    pub deferred: u64,
    /// Messages a stopped sender had left in flight, put back in the queue at the start.
    pub requeued: u64,
    /// Seconds in all.
    pub seconds: f64,
    /// Messages per second.
    pub per_second: f64,
}

/// The wait before attempt `attempts + 1`: `base` (a minute by default), then 2, 4 … times it, at
/// most six hours, with ±20 % jitter so that a crowd of retries does not arrive at once.
pub fn backoff(attempts: u32, jitter_seed: u64, base: std::time::Duration) -> Duration {
    let base = base.as_secs_f64() * 2f64.powi(attempts.saturating_sub(1).min(9) as i32);
    let jitter = 0.8 + 0.4 * ((jitter_seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) as f64 / (1u64 << 53) as f64);
    Duration::milliseconds(((base * jitter).min(6.0 * 3600.0) * 1000.0) as i64)
}

impl Library {
    /// Renders an outbox message. `Ok(None)`: it should not be sent (the account unsubscribed,
    /// was suppressed or deleted); the reason comes with it.
    pub fn render_message(
        &self,
        message: &OutboxMessage,
        settings: &MailSettings,
        papers: &mut HashMap<ArxivId, Paper>,
        now: DateTime<Utc>,
    ) -> Result<std::result::Result<paperboy_mail::Message, String>> {
        let store = &self.store;
        let Some(account) = message.account_id.map(|id| store.account(id)).transpose()?.flatten() else {
            return Ok(Err("the account no longer exists".into()));
        };
        if account.suppressed_at.is_some() {
            return Ok(Err("mail to this address bounced before (it is suppressed)".into()));
        }
        let payload: MailPayload = serde_json::from_str(&message.payload)
            .map_err(|e| Error::Corrupt(format!("outbox message {} cannot be read: {e}", message.id)))?;
        let context = &settings.context;
        let base = &context.base_url;
        let token = |secret| -> Result<String> {
            self.link_token(secret)?
                .ok_or_else(|| Error::Corrupt(format!("outbox message {} has no link to send", message.id)))
        };
        let built = match &payload {
            MailPayload::Confirm(secret) => paperboy_mail::confirm_message(
                context,
                &account.email,
                &message.message_id,
                &format!("{base}/confirm?token={}", token(secret)?),
            ),
            MailPayload::SignIn(secret) => paperboy_mail::sign_in_message(
                context,
                &account.email,
                &message.message_id,
                &format!("{base}/signin/verify?token={}", token(secret)?),
                SIGN_IN_MINUTES,
            ),
            MailPayload::Digest(digest) => {
                if account.status != AccountStatus::Active {
                    return Ok(Err("the subscriber unsubscribed after the digest was queued".into()));
                }
                let view = self.digest_view(&account, digest, settings, papers, now)?;
                paperboy_mail::digest_message(context, &account.email, &message.message_id, &view)
            }
        };
        built.map(Ok).map_err(|e| Error::Corrupt(format!("outbox message {} cannot be rendered: {e}", message.id)))
    }
}

impl Library {
    /// What a digest shows: its papers read from the store (through `papers`, a cache shared by a
    /// run's messages), its reasons in words, fresh signed links.
    fn digest_view(
        &self,
        account: &paperboy_store::Account,
        digest: &crate::outbox::DigestPayload,
        settings: &MailSettings,
        papers: &mut HashMap<ArxivId, Paper>,
        now: DateTime<Utc>,
    ) -> Result<DigestView> {
        let base = &settings.context.base_url;
        let wanted: Vec<ArxivId> = digest.papers().filter(|id| !papers.contains_key(id)).collect();
        if !wanted.is_empty() {
            if papers.len() > 20_000 {
                papers.clear();
            }
            papers.extend(self.store.papers(&wanted)?.into_iter().map(|s| (s.paper.id, s.paper)));
        }
        let item = |entry: &DigestEntry| -> Option<Result<DigestItem>> {
            let paper = papers.get(&entry.paper)?;
            Some(self.signed_paper_link(account, paper.id, now).map(|token| {
                let not_interested = format!("{base}/not-interested?paper={}&token={token}", paper.id);
                digest_item(paper, entry, base, not_interested)
            }))
        };
        let unsubscribe = self.signed_link(account, LinkPurpose::Unsubscribe, now)?;
        let manage = self.signed_link(account, LinkPurpose::Manage, now)?;
        Ok(DigestView {
            date: digest.date,
            cadence: match digest.cadence {
                paperboy_domain::Cadence::Weekly => "weekly".into(),
                _ => "daily".into(),
            },
            items: digest.items.iter().filter_map(item).collect::<Result<_>>()?,
            trending: digest.trending.iter().filter_map(item).collect::<Result<_>>()?,
            preferences_url: format!("{base}/manage?token={manage}"),
            unsubscribe_url: format!("{base}/unsubscribe?token={unsubscribe}"),
            unsubscribe_mailto: settings
                .unsubscribe_mailto
                .as_ref()
                .map(|address| format!("mailto:{address}?subject=unsubscribe%20{unsubscribe}")),
        })
    }
}

fn digest_item(paper: &Paper, entry: &DigestEntry, base: &str, not_interested_url: String) -> DigestItem {
    let authors = match paper.authors.len() {
        0 => String::new(),
        1..=3 => paper.authors.join(", "),
        n => format!("{}, {} et al. ({n} authors)", paper.authors[0], paper.authors[1]),
    };
    DigestItem {
        id: paper.id.to_string(),
        title: paperboy_domain::text::decode_tex_accents(&paper.title),
        authors: paperboy_domain::text::decode_tex_accents(&authors),
        url: format!("{base}/papers/{}", paper.id),
        snippet: snippet(&paper.abstract_text, 280),
        reasons: entry.reasons.iter().map(|r| r.describe()).collect(),
        not_interested_url,
    }
}

/// The start of a text, cut at a word boundary, with an ellipsis when cut.
fn snippet(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max_chars).collect();
    let cut = cut.rsplit_once(' ').map_or(cut.as_str(), |(head, _)| head);
    format!("{}…", cut.trim_end_matches([',', ';', ':', '.']))
}

/// How to send.
#[derive(Debug, Clone)]
pub struct SendOptions {
    /// Send at most this many messages (attempts, whatever their outcome).
    pub limit: Option<u64>,
    /// Messages in flight at once (each on a pooled connection).
    pub workers: usize,
    /// Messages per second at most, over all workers (`None`: as fast as the server takes them).
    pub rate: Option<f64>,
    /// How long to keep waiting for an unreachable mail server before giving up this run (the
    /// messages stay queued).
    pub patience: std::time::Duration,
    /// The first retry's delay after a temporary failure (doubling after each).
    pub retry_base: std::time::Duration,
    /// How long a claimed message is this sender's: past it, a sender on another node takes it
    /// (this one died). Only a shared store uses it; the embedded one has one sender at a time.
    pub claim_lease: std::time::Duration,
}

impl Default for SendOptions {
    fn default() -> Self {
        SendOptions {
            limit: None,
            workers: DEFAULT_WORKERS,
            rate: None,
            patience: std::time::Duration::from_secs(600),
            retry_base: std::time::Duration::from_secs(60),
            claim_lease: DEFAULT_CLAIM_LEASE,
        }
    }
}

/// How long a sender on a shared store owns what it claimed.
pub const DEFAULT_CLAIM_LEASE: std::time::Duration = std::time::Duration::from_secs(300);

/// The lock that makes one sender at a time on an embedded store: the process holding it owns
/// every message in state `sending`, so at start it can put back what a killed sender left there.
/// Senders on a shared store need no lock: they claim with a lease instead.
pub struct SenderLock {
    _file: std::fs::File,
}

impl Library {
    /// Takes the sender lock (`DIR/outbox.lock`), or says that another process holds it.
    pub fn sender_lock(&self) -> Result<SenderLock> {
        let path = self.data_dir().join("outbox.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => Ok(SenderLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::SenderBusy),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::io(&path, e)),
        }
    }

    /// Message counts by state, every state listed.
    pub fn outbox_status(&self) -> Result<Vec<(paperboy_store::MessageState, u64)>> {
        use paperboy_store::MessageState::*;
        let counts = self.store.outbox_counts()?;
        Ok([Queued, Sending, Sent, Failed]
            .into_iter()
            .map(|state| (state, counts.iter().filter(|(s, _)| *s == state).map(|(_, n)| n).sum()))
            .collect())
    }
}

/// Paces sends to a global rate: each send takes the next free slot.
struct Pace {
    interval: Option<std::time::Duration>,
    next: tokio::sync::Mutex<tokio::time::Instant>,
}

impl Pace {
    fn new(rate: Option<f64>) -> Pace {
        let interval = rate.filter(|r| *r > 0.0).map(|r| std::time::Duration::from_secs_f64(1.0 / r));
        Pace { interval, next: tokio::sync::Mutex::new(tokio::time::Instant::now()) }
    }

    async fn wait(&self) {
        let Some(interval) = self.interval else { return };
        let at = {
            let mut next = self.next.lock().await;
            let at = (*next).max(tokio::time::Instant::now());
            *next = at + interval;
            at
        };
        tokio::time::sleep_until(at).await;
    }
}

/// Counts shared by the workers.
#[derive(Default)]
struct Tally {
    sent: std::sync::atomic::AtomicU64,
    retrying: std::sync::atomic::AtomicU64,
    failed: std::sync::atomic::AtomicU64,
    cancelled: std::sync::atomic::AtomicU64,
    deferred: std::sync::atomic::AtomicU64,
}

impl Tally {
    fn count(&self, delivery: &Delivery) {
        use std::sync::atomic::Ordering::Relaxed;
        match delivery {
            Delivery::Sent => self.sent.fetch_add(1, Relaxed),
            Delivery::Retry { .. } => self.retrying.fetch_add(1, Relaxed),
            Delivery::Failed { .. } => self.failed.fetch_add(1, Relaxed),
            Delivery::Cancelled { .. } => self.cancelled.fetch_add(1, Relaxed),
            Delivery::Deferred { .. } => self.deferred.fetch_add(1, Relaxed),
        };
    }
}

/// What the workers and the producer of one sending run share.
struct Run {
    library: Arc<Library>,
    mailer: SmtpMailer,
    pace: Pace,
    tally: Tally,
    options: SendOptions,
    /// Why the run stopped early (the server refused us, stayed unreachable, refused content
    /// after content), once it has.
    stopped: std::sync::Mutex<Option<String>>,
    /// Messages refused for their content in a row.
    rejections_in_a_row: std::sync::atomic::AtomicU32,
}

impl Run {
    /// How many messages to claim at once. On a shared store what this node claims is no other's
    /// until its lease runs out, so it claims only what its workers will send soon: a few per
    /// worker, and no more than a minute's worth at the paced rate.
    fn claim_size(&self) -> usize {
        if !self.library.store.shared() {
            return CLAIM_BATCH;
        }
        let per_workers = self.options.workers.max(1) * 4;
        let per_minute = self.options.rate.map_or(usize::MAX, |rate| (rate * 60.0).ceil().max(1.0) as usize);
        per_workers.min(per_minute).clamp(1, CLAIM_BATCH)
    }

    /// How long a claim on a shared store lasts before another node may take the message: the
    /// configured lease, but never less than twice the time this run may wait for an unreachable
    /// server with a message in hand (claims are not renewed).
    fn claim_lease(&self) -> Duration {
        let lease = self.options.claim_lease.max(self.options.patience * 2);
        Duration::from_std(lease).unwrap_or(Duration::minutes(15))
    }

    fn stopped(&self) -> bool {
        self.stopped.lock().unwrap_or_else(|p| p.into_inner()).is_some()
    }

    fn stop(&self, reason: String) {
        self.stopped.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(reason);
    }

    /// Records how a message's attempt ended, on the blocking pool.
    async fn record(&self, claim: paperboy_store::Claim, delivery: Delivery) -> Result<()> {
        self.tally.count(&delivery);
        crate::metrics::delivery(&delivery);
        let library = self.library.clone();
        let recorded = tokio::task::spawn_blocking(move || library.store.record_delivery(claim, &delivery, Utc::now()))
            .await
            .map_err(|e| Error::Internal(format!("the sender stopped: {e}")))??;
        if !recorded {
            // Held longer than its claim lease: another node has claimed it since, and records it.
            tracing::warn!(
                message = claim.id,
                "a message's claim lapsed before its attempt ended; another sender has it"
            );
        }
        Ok(())
    }

    /// Sends one message: waits its turn at the global rate, and waits (1, 2, 4 … 30 s) for an
    /// unreachable server up to the run's patience. Stops the run when the server refuses us, or
    /// refuses [`MAX_REJECTIONS_IN_A_ROW`] messages in a row for their content.
    async fn deliver(&self, message: &OutboxMessage, mail: &paperboy_mail::Message) -> Delivery {
        let mut pause = std::time::Duration::from_secs(1);
        let waiting_since = std::time::Instant::now();
        loop {
            self.pace.wait().await;
            let sent_at = std::time::Instant::now();
            let outcome = self.mailer.send(mail.clone()).await;
            crate::metrics::smtp_latency(sent_at.elapsed().as_secs_f64());
            // Refused (our credentials, TLS settings, sender): the run stops at once; the message,
            // and every other, stays queued for when the configuration is fixed.
            if let Err(SendError::Refused(error) | SendError::RefusedRecipient(error)) = &outcome {
                self.stop(format!("{error}; check PAPERBOY_SMTP__URL and PAPERBOY_MAIL__FROM"));
            }
            if let Err(SendError::Refused(error)) = &outcome {
                return Delivery::Deferred { error: error.clone(), at: Utc::now() };
            }
            match &outcome {
                Err(SendError::Rejected(error)) => {
                    let in_a_row = self.rejections_in_a_row.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    if in_a_row >= MAX_REJECTIONS_IN_A_ROW {
                        self.stop(format!(
                            "the mail server refused {in_a_row} messages in a row for their content (the last: {error}); check the relay's policy"
                        ));
                    }
                }
                Ok(()) => self.rejections_in_a_row.store(0, std::sync::atomic::Ordering::SeqCst),
                Err(_) => {}
            }
            match judge(outcome, message.attempts, message.id, self.options.retry_base) {
                Delivery::Deferred { error, at } => {
                    if waiting_since.elapsed() >= self.options.patience {
                        self.stop(format!(
                            "the mail server stayed unreachable for {} s ({error})",
                            self.options.patience.as_secs()
                        ));
                        return Delivery::Deferred { error, at };
                    }
                    tracing::warn!(error = %error, retry_in_s = pause.as_secs(), "the mail server is unreachable; waiting");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(std::time::Duration::from_secs(30));
                }
                delivery => return delivery,
            }
        }
    }

    /// A worker: takes rendered messages from the producer and sends them one at a time, each
    /// outcome recorded before the next message starts.
    async fn work(
        self: Arc<Run>,
        inbox: Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<(OutboxMessage, paperboy_mail::Message)>>>,
    ) -> Result<()> {
        loop {
            let next = inbox.lock().await.recv().await;
            let Some((message, mail)) = next else { return Ok(()) };
            let delivery = if self.stopped() {
                let error = "not attempted: the run stopped (the mail server was unreachable or refused us)";
                Delivery::Deferred { error: error.into(), at: Utc::now() }
            } else {
                self.deliver(&message, &mail).await
            };
            self.record(message.claim(), delivery).await?;
        }
    }

    /// The producer: claims due messages in batches, renders them and hands them to the workers;
    /// a message that should not go (unsubscribed, suppressed) is cancelled, one that cannot be
    /// rendered fails (a bug or damage) and the run goes on.
    async fn produce(
        &self,
        settings: &MailSettings,
        queue: tokio::sync::mpsc::Sender<(OutboxMessage, paperboy_mail::Message)>,
    ) -> Result<()> {
        let mut papers: HashMap<ArxivId, Paper> = HashMap::new();
        let mut handed = 0u64;
        while !self.stopped() {
            let remaining = self.options.limit.map_or(u64::MAX, |l| l.saturating_sub(handed));
            if remaining == 0 {
                break;
            }
            let take = self.claim_size().min(remaining as usize);
            let (library, settings_now) = (self.library.clone(), settings.clone());
            let lease = self.claim_lease();
            let (rendered, papers_back) = tokio::task::spawn_blocking(move || -> Result<_> {
                let now = Utc::now();
                // The embedded store has one sender (the outbox lock), which requeued what a dead
                // one left at its start: nothing it claims is anyone else's to take.
                let reclaim_before = match library.store.shared() {
                    true => now - lease,
                    false => DateTime::<Utc>::MIN_UTC,
                };
                let claimed = library.store.claim_due(take, now, reclaim_before)?;
                let rendered: Vec<_> = claimed
                    .into_iter()
                    .map(|message| {
                        let mail = library.render_message(&message, &settings_now, &mut papers, now);
                        (message, mail)
                    })
                    .collect();
                Ok((rendered, papers))
            })
            .await
            .map_err(|e| Error::Internal(format!("the sender stopped: {e}")))??;
            papers = papers_back;
            let claimed_now = rendered.len();
            for (message, rendered) in rendered {
                handed += 1;
                let delivery = match rendered {
                    Ok(Ok(mail)) => {
                        if queue.send((message, mail)).await.is_err() {
                            return Ok(()); // the workers stopped; their error is reported
                        }
                        continue;
                    }
                    Err(err) => {
                        tracing::error!(message = message.id, error = %err, "cannot render a queued message");
                        Delivery::Failed { error: err.to_string(), suppress_after: None }
                    }
                    Ok(Err(reason)) => Delivery::Cancelled { reason },
                };
                self.record(message.claim(), delivery).await?;
            }
            if claimed_now < take {
                break;
            }
        }
        Ok(())
    }

    fn report(&self, started: std::time::Instant, requeued: usize) -> SendReport {
        use std::sync::atomic::Ordering::Relaxed;
        let seconds = started.elapsed().as_secs_f64();
        let sent = self.tally.sent.load(Relaxed);
        SendReport {
            sent,
            retrying: self.tally.retrying.load(Relaxed),
            failed: self.tally.failed.load(Relaxed),
            cancelled: self.tally.cancelled.load(Relaxed),
            deferred: self.tally.deferred.load(Relaxed),
            requeued: requeued as u64,
            seconds,
            per_second: if seconds > 0.0 { sent as f64 / seconds } else { 0.0 },
        }
    }
}

/// The outcome of one attempt. Only a bounce (the recipient's mailbox refused) counts against the
/// address; the server refusing us never reaches here (the run stops first).
fn judge(outcome: std::result::Result<(), SendError>, attempts: u32, id: i64, base: std::time::Duration) -> Delivery {
    match outcome {
        Ok(()) => Delivery::Sent,
        Err(SendError::Bounced { reply, hard }) => Delivery::Failed {
            error: reply,
            suppress_after: Some(if hard { SUPPRESS_AFTER_HARD_BOUNCES } else { SUPPRESS_AFTER_SOFT_BOUNCES }),
        },
        Err(SendError::Rejected(error)) => Delivery::Failed { error, suppress_after: None },
        Err(SendError::Transient(error)) if attempts >= MAX_ATTEMPTS => {
            Delivery::Failed { error: format!("gave up after {attempts} attempts: {error}"), suppress_after: None }
        }
        Err(SendError::Transient(error)) => {
            Delivery::Retry { error, at: Utc::now() + backoff(attempts, id as u64, base) }
        }
        // Refused for this recipient: the run stops (see `Run::deliver`), and the message waits its
        // turn like a temporary failure, so that it is given up after its attempts rather than
        // stopping every run from the head of the queue.
        Err(SendError::RefusedRecipient(error)) if attempts >= MAX_ATTEMPTS => {
            Delivery::Failed { error: format!("gave up after {attempts} attempts: {error}"), suppress_after: None }
        }
        Err(SendError::RefusedRecipient(error)) => {
            Delivery::Retry { error, at: Utc::now() + backoff(attempts, id as u64, base) }
        }
        Err(SendError::Unavailable(error) | SendError::Refused(error)) => Delivery::Deferred { error, at: Utc::now() },
    }
}

/// Sends what is due in the outbox until nothing is left (or `limit`), with `workers` messages in
/// flight over pooled connections, at most `rate` per second. Each outcome is recorded the moment
/// the server answers, so a crash re-sends at most the messages in flight. Messages a killed
/// sender left `sending` go back to the queue first (the sender lock says they are orphans). An
/// unreachable server makes the workers wait and retry (1, 2, 4 … 30 s) for up to `patience`,
/// after which the run ends with an error and every message stays queued. A server that refuses
/// us (credentials, TLS settings, our sender, relaying) ends the run at once the same way, and so
/// do [`MAX_REJECTIONS_IN_A_ROW`] messages refused for their content: no address pays for our
/// configuration.
pub async fn send_outbox(
    library: Arc<Library>,
    mailer: SmtpMailer,
    settings: MailSettings,
    options: SendOptions,
) -> Result<SendReport> {
    let started = std::time::Instant::now();
    // On a shared store other nodes send too: messages left `sending` may be theirs, and come back
    // by their lease. On the embedded store this process is the only sender.
    let _lock = if library.store.shared() { None } else { Some(library.sender_lock()?) };
    let requeued = if library.store.shared() {
        0
    } else {
        let library = library.clone();
        tokio::task::spawn_blocking(move || library.store.requeue_sending(Utc::now() + Duration::seconds(1)))
            .await
            .map_err(|e| Error::Internal(format!("the sender stopped: {e}")))??
    };
    if requeued > 0 {
        tracing::warn!(messages = requeued, "put back messages a stopped sender left in flight");
    }
    let workers = options.workers.max(1);
    let run = Arc::new(Run {
        library,
        mailer,
        pace: Pace::new(options.rate),
        tally: Tally::default(),
        options,
        stopped: std::sync::Mutex::new(None),
        rejections_in_a_row: std::sync::atomic::AtomicU32::new(0),
    });
    let (queue, inbox) = tokio::sync::mpsc::channel::<(OutboxMessage, paperboy_mail::Message)>(workers * 2);
    let inbox = Arc::new(tokio::sync::Mutex::new(inbox));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers {
        tasks.spawn(run.clone().work(inbox.clone()));
    }
    let mut failure = run.produce(&settings, queue).await.err();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(err)) => failure = failure.or(Some(err)),
            Err(err) => failure = failure.or(Some(Error::Internal(format!("a send task failed: {err}")))),
        }
    }
    if let Some(err) = failure {
        return Err(err);
    }
    let report = run.report(started, requeued);
    if let Some(reason) = run.stopped.lock().unwrap_or_else(|p| p.into_inner()).take() {
        return Err(Error::MailServer(format!("{reason}; {} sent, the rest stays queued", report.sent)));
    }
    Ok(report)
}
