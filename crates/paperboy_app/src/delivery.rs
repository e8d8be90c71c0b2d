//! Sending the outbox: each queued message is rendered (papers read from the store, links signed)
//! and handed to the SMTP server; the store records whether it was accepted, will be retried or
//! failed for good. Rendering happens at send time so that the outbox stays small (a digest is a
//! list of ids and reasons) and links are fresh.

use std::{collections::HashMap, sync::Arc};

use chrono::{DateTime, Duration, Utc};
use paperboy_domain::{ArxivId, Paper};
use paperboy_mail::{DigestItem, DigestView, MailContext, SendError, SmtpMailer};
use paperboy_store::{AccountStatus, AccountStore, Delivery, OutboxMessage, PaperStore};
use serde::Serialize;

use crate::{
    Error, Library, Result,
    accounts::{LinkPurpose, MailPayload, SIGN_IN_MINUTES, SUPPRESS_AFTER_FAILURES},
    digest::DigestEntry,
};

/// Attempts after which a message that keeps failing temporarily is given up.
pub const MAX_ATTEMPTS: u32 = 8;
/// Messages claimed per round.
const CLAIM_BATCH: usize = 200;
/// Messages in flight at once.
const CONCURRENCY: usize = 8;

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
        let from = from_text
            .parse()
            .map_err(|e| Error::Invalid(format!("the sender address {from_text:?} is not valid: {e}")))?;
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
    /// Seconds in all.
    pub seconds: f64,
    /// Messages per second.
    pub per_second: f64,
}

/// The wait before attempt `attempts + 1`: 1, 2, 4 … minutes, at most six hours, with ±20 %
/// jitter so that a crowd of retries does not arrive at once.
pub fn backoff(attempts: u32, jitter_seed: u64) -> Duration {
    let base = 60.0 * 2f64.powi(attempts.saturating_sub(1).min(9) as i32);
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
        let store: &dyn AccountStore = &self.store;
        let Some(account) = message.account_id.map(|id| store.account(id)).transpose()?.flatten() else {
            return Ok(Err("the account no longer exists".into()));
        };
        if account.suppressed_at.is_some() {
            return Ok(Err("mail to this address failed permanently before".into()));
        }
        let payload: MailPayload = serde_json::from_str(&message.payload)
            .map_err(|e| Error::Invalid(format!("outbox message {} cannot be read: {e}", message.id)))?;
        let context = &settings.context;
        let base = &context.base_url;
        let built = match payload {
            MailPayload::Confirm { token } => paperboy_mail::confirm_message(
                context,
                &account.email,
                &message.message_id,
                &format!("{base}/confirm?token={token}"),
            ),
            MailPayload::SignIn { token } => paperboy_mail::sign_in_message(
                context,
                &account.email,
                &message.message_id,
                &format!("{base}/signin/verify?token={token}"),
                SIGN_IN_MINUTES,
            ),
            MailPayload::Digest(digest) => {
                if account.status != AccountStatus::Active {
                    return Ok(Err("the subscriber unsubscribed after the digest was queued".into()));
                }
                let wanted: Vec<ArxivId> = digest
                    .items
                    .iter()
                    .chain(&digest.trending)
                    .filter_map(|e| ArxivId::parse(&e.paper).ok())
                    .filter(|id| !papers.contains_key(id))
                    .collect();
                if !wanted.is_empty() {
                    if papers.len() > 20_000 {
                        papers.clear();
                    }
                    papers.extend(self.store.papers(&wanted)?.into_iter().map(|s| (s.paper.id, s.paper)));
                }
                let item = |entry: &DigestEntry| -> Option<DigestItem> {
                    let paper = papers.get(&ArxivId::parse(&entry.paper).ok()?)?;
                    Some(digest_item(paper, entry, base))
                };
                let unsubscribe = self.signed_link(&account, LinkPurpose::Unsubscribe, now)?;
                let manage = self.signed_link(&account, LinkPurpose::Manage, now)?;
                let view = DigestView {
                    date: digest.date,
                    cadence: match digest.cadence {
                        paperboy_domain::Cadence::Weekly => "weekly".into(),
                        _ => "daily".into(),
                    },
                    items: digest.items.iter().filter_map(item).collect(),
                    trending: digest.trending.iter().filter_map(item).collect(),
                    preferences_url: format!("{base}/manage?token={manage}"),
                    unsubscribe_url: format!("{base}/unsubscribe?token={unsubscribe}"),
                    unsubscribe_mailto: settings
                        .unsubscribe_mailto
                        .as_ref()
                        .map(|address| format!("mailto:{address}?subject=unsubscribe%20{unsubscribe}")),
                };
                paperboy_mail::digest_message(context, &account.email, &message.message_id, &view)
            }
        };
        built.map(Ok).map_err(|e| Error::Invalid(e.to_string()))
    }
}

fn digest_item(paper: &Paper, entry: &DigestEntry, base: &str) -> DigestItem {
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

/// Sends what is due in the outbox until nothing is left, `limit` messages at most.
pub async fn send_outbox(
    library: Arc<Library>,
    mailer: SmtpMailer,
    settings: MailSettings,
    limit: Option<u64>,
) -> Result<SendReport> {
    let started = std::time::Instant::now();
    let mut report = SendReport::default();
    let mut papers: HashMap<ArxivId, Paper> = HashMap::new();
    loop {
        let remaining = limit
            .map_or(u64::MAX, |l| l.saturating_sub(report.sent + report.retrying + report.failed + report.cancelled));
        if remaining == 0 {
            break;
        }
        let take = CLAIM_BATCH.min(remaining as usize);
        let lib = library.clone();
        let settings_now = settings.clone();
        let (claimed, rendered, papers_back) = tokio::task::spawn_blocking(move || -> Result<_> {
            let now = Utc::now();
            let store: &dyn AccountStore = &lib.store;
            let claimed = store.claim_due(take, now)?;
            let mut rendered = Vec::with_capacity(claimed.len());
            for message in &claimed {
                rendered.push(lib.render_message(message, &settings_now, &mut papers, now));
            }
            Ok((claimed, rendered, papers))
        })
        .await
        .map_err(|e| Error::Unavailable(format!("the sender stopped: {e}")))??;
        papers = papers_back;
        if claimed.is_empty() {
            break;
        }
        let semaphore = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
        let mut tasks = tokio::task::JoinSet::new();
        let mut outcomes: Vec<(i64, Delivery)> = Vec::new();
        for (message, rendered) in claimed.iter().zip(rendered) {
            let id = message.id;
            match rendered {
                Err(err) => {
                    // A message that cannot be rendered is a bug or damage: give it up, keep going.
                    tracing::error!(message = id, error = %err, "cannot render a queued message");
                    outcomes.push((id, Delivery::Failed { error: err.to_string(), suppress_after: u32::MAX }));
                }
                Ok(Err(reason)) => outcomes.push((id, Delivery::Cancelled { reason })),
                Ok(Ok(mail)) => {
                    let mailer = mailer.clone();
                    let permit = semaphore.clone().acquire_owned().await.expect("the semaphore is never closed");
                    let attempts = message.attempts;
                    tasks.spawn(async move {
                        let outcome = mailer.send(mail).await;
                        drop(permit);
                        (id, attempts, outcome)
                    });
                }
            }
        }
        while let Some(joined) = tasks.join_next().await {
            let (id, attempts, outcome) = joined.map_err(|e| Error::Unavailable(format!("a send task failed: {e}")))?;
            let delivery = match outcome {
                Ok(()) => Delivery::Sent,
                Err(SendError::Permanent(error)) => Delivery::Failed { error, suppress_after: SUPPRESS_AFTER_FAILURES },
                Err(SendError::Transient(error)) if attempts >= MAX_ATTEMPTS => Delivery::Failed {
                    error: format!("gave up after {attempts} attempts: {error}"),
                    suppress_after: u32::MAX,
                },
                Err(SendError::Transient(error)) => {
                    Delivery::Retry { error, at: Utc::now() + backoff(attempts, id as u64) }
                }
            };
            outcomes.push((id, delivery));
        }
        for (_, delivery) in &outcomes {
            match delivery {
                Delivery::Sent => report.sent += 1,
                Delivery::Retry { .. } => report.retrying += 1,
                Delivery::Failed { .. } => report.failed += 1,
                Delivery::Cancelled { .. } => report.cancelled += 1,
            }
        }
        let lib = library.clone();
        tokio::task::spawn_blocking(move || -> Result<()> {
            let store: &dyn AccountStore = &lib.store;
            let now = Utc::now();
            for (id, delivery) in &outcomes {
                store.record_delivery(*id, delivery, now)?;
            }
            Ok(())
        })
        .await
        .map_err(|e| Error::Unavailable(format!("the sender stopped: {e}")))??;
        // Everything retrying waits for later rounds; stop when a round sent nothing new.
        if claimed.len() < take {
            break;
        }
    }
    report.seconds = started.elapsed().as_secs_f64();
    report.per_second = if report.seconds > 0.0 { report.sent as f64 / report.seconds } else { 0.0 };
    Ok(report)
}
