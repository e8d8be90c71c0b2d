//! The durable outbox: one row per message, its state (queued → sending → sent | failed), its
//! attempts, and which papers a digest sent to whom (`sent_papers`, written in the same
//! transaction as the message, so that no paper is sent twice).

use chrono::{DateTime, NaiveDate, Utc};
use paperboy_domain::{AccountId, ArxivId, EmailAddress};
use serde::Serialize;

use crate::{Error, Result};

/// Where an outgoing message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum MessageState {
    /// Waiting to be sent (again, after `next_attempt_at`).
    Queued,
    /// Claimed by a sender.
    Sending,
    /// Accepted by the SMTP server.
    Sent,
    /// Given up on.
    Failed,
}

impl MessageState {
    /// Every state.
    pub const ALL: [MessageState; 4] =
        [MessageState::Queued, MessageState::Sending, MessageState::Sent, MessageState::Failed];

    /// Its name in the store and in output: `queued`, `sending`, `sent`, `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageState::Queued => "queued",
            MessageState::Sending => "sending",
            MessageState::Sent => "sent",
            MessageState::Failed => "failed",
        }
    }

    /// The state a stored name stands for; an unknown name is damage, not a default.
    pub(crate) fn from_stored(text: &str) -> Result<MessageState> {
        MessageState::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| Error::Corrupt(format!("unknown message state {text:?}")))
    }
}

/// A message to enqueue.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// Its account.
    pub account_id: AccountId,
    /// `digest`, `confirm`, `sign_in`.
    pub kind: String,
    /// At most one message per key ever: `digest:{account}:{period}`. Enqueuing a key twice does
    /// nothing the second time.
    pub dedupe_key: String,
    /// The `Message-ID`, stable for the key.
    pub message_id: String,
    /// The address it goes to.
    pub recipient: EmailAddress,
    /// What to render (JSON, opaque to the store).
    pub payload: String,
    /// Papers it sends, recorded so that no paper is sent twice to the account.
    pub papers: Vec<ArxivId>,
}

/// A message in the outbox.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxMessage {
    /// Its number.
    pub id: i64,
    /// Its account.
    pub account_id: Option<AccountId>,
    /// `digest`, `confirm`, `sign_in`.
    pub kind: String,
    /// See [`NewMessage::dedupe_key`].
    pub dedupe_key: String,
    /// The `Message-ID`.
    pub message_id: String,
    /// The recipient.
    pub recipient: String,
    /// What to render.
    pub payload: String,
    /// Where it stands.
    pub state: MessageState,
    /// Send attempts so far.
    pub attempts: u32,
    /// Not before this time.
    pub next_attempt_at: DateTime<Utc>,
    /// The last failure.
    pub last_error: Option<String>,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// When it was accepted.
    pub sent_at: Option<DateTime<Utc>>,
}

/// One claim of a message: its id and the attempt the claim made (each claim counts one, so a
/// claim taken again after its lease ran out is another).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    /// The message.
    pub id: i64,
    /// The attempt this claim is.
    pub attempt: u32,
}

impl OutboxMessage {
    /// This claim of the message (as [`OutboxStore::claim_due`] returned it).
    pub fn claim(&self) -> Claim {
        Claim { id: self.id, attempt: self.attempts }
    }
}

/// How a send attempt ended.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// Accepted.
    Sent,
    /// A temporary failure: retry at this time.
    Retry {
        /// Why.
        error: String,
        /// When to try again.
        at: DateTime<Utc>,
    },
    /// Not attempted after all (the mail server could not be reached): queued again for `at`,
    /// and the attempt does not count.
    Deferred {
        /// Why.
        error: String,
        /// When to try again.
        at: DateTime<Utc>,
    },
    /// Not sent, and not the address's fault (the account unsubscribed or was suppressed after the
    /// message was queued).
    Cancelled {
        /// Why.
        reason: String,
    },
    /// A permanent failure: give up on the message.
    Failed {
        /// Why.
        error: String,
        /// Whether it counts against the address (a bounce): `Some(n)` suppresses the address once
        /// it has bounced `n` times; `None` for failures that say nothing about the address (the
        /// content was refused, retries ran out, the message could not be rendered).
        suppress_after: Option<u32>,
    },
}

/// The outbox.
pub trait OutboxStore: Send + Sync {
    /// Records that these accounts' digests for `day` were decided (nothing to send): the next
    /// digest starts after it.
    fn set_last_digest(&self, ids: &[AccountId], day: NaiveDate) -> Result<()>;
    /// Which of `papers` each account was already sent: `(account, paper)` pairs.
    fn sent_papers(&self, papers: &[ArxivId]) -> Result<Vec<(AccountId, ArxivId)>>;
    /// Enqueues messages atomically, recording the papers they send and, for digests, the period
    /// on the account. A message whose key is already queued is skipped. Returns how many were new.
    fn enqueue(&self, messages: &[NewMessage], period: Option<NaiveDate>, now: DateTime<Utc>) -> Result<usize>;
    /// Claims up to `limit` messages due at `now` for sending (state `sending`, claimed at `now`),
    /// and messages a sender claimed before `reclaim_before` and never recorded (its lease ran out:
    /// it died). Senders on several machines may claim at once; no message is claimed twice while
    /// its lease runs.
    fn claim_due(&self, limit: usize, now: DateTime<Utc>, reclaim_before: DateTime<Utc>) -> Result<Vec<OutboxMessage>>;
    /// Records how an attempt ended, if `claim` still holds the message: false (and nothing
    /// changed) when its lease ran out and another sender claimed it since, or it is no longer
    /// being sent.
    fn record_delivery(&self, claim: Claim, delivery: &Delivery, now: DateTime<Utc>) -> Result<bool>;
    /// Puts messages left `sending` by a sender that died back in the queue. Returns how many.
    fn requeue_sending(&self, claimed_before: DateTime<Utc>) -> Result<usize>;
    /// Forgets messages that were sent or failed and were queued before `created_before`, with
    /// the record of the papers they sent. Queued messages stay, however old. Returns how many
    /// messages and paper records went.
    fn prune_delivered(&self, created_before: DateTime<Utc>) -> Result<(u64, u64)>;
    /// Message counts by state.
    fn outbox_counts(&self) -> Result<Vec<(MessageState, u64)>>;
    /// Messages of an account (newest first), for export.
    fn messages_of(&self, account: AccountId, limit: usize) -> Result<Vec<OutboxMessage>>;
    /// One message.
    fn message(&self, id: i64) -> Result<Option<OutboxMessage>>;
}
