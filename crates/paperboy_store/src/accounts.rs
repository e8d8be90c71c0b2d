//! Accounts, subscriptions and mail: what the store keeps about people and the messages to them.

use chrono::{DateTime, NaiveDate, Utc};
use paperboy_domain::{ArxivId, EmailAddress, Preferences};
use serde::Serialize;

use crate::Result;

/// Where an account stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    /// Signed up, not confirmed: gets no digests.
    Pending,
    /// Confirmed: gets digests as its preferences say.
    Active,
    /// Unsubscribed: gets no digests (may still sign in and resubscribe).
    Unsubscribed,
}

impl AccountStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Pending => "pending",
            AccountStatus::Active => "active",
            AccountStatus::Unsubscribed => "unsubscribed",
        }
    }

    pub(crate) fn parse(text: &str) -> AccountStatus {
        match text {
            "active" => AccountStatus::Active,
            "unsubscribed" => AccountStatus::Unsubscribed,
            _ => AccountStatus::Pending,
        }
    }
}

/// One account.
#[derive(Debug, Clone, Serialize)]
pub struct Account {
    /// Its number.
    pub id: i64,
    /// Its address (personal data).
    pub email: EmailAddress,
    /// Where it stands.
    pub status: AccountStatus,
    /// What it wants in digests.
    pub preferences: Preferences,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When the address was confirmed.
    pub confirmed_at: Option<DateTime<Utc>>,
    /// The period of the last digest built for it (a day, or the Monday of a week).
    pub last_digest_on: Option<NaiveDate>,
    /// Set when its mailbox refused mail for good (a bounce): no more mail is sent until an
    /// operator lifts it (`paperboy subscriber unsuppress`) or the person confirms again.
    pub suppressed_at: Option<DateTime<Utc>>,
    /// The mail server's reply that suppressed it.
    pub suppressed_reason: Option<String>,
    /// Bounces so far.
    pub hard_failures: u32,
}

/// What a single-use token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    /// Confirms a subscription (double opt-in).
    Confirm,
    /// Signs in.
    SignIn,
}

impl TokenPurpose {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::Confirm => "confirm",
            TokenPurpose::SignIn => "sign_in",
        }
    }
}

/// A paper in an account's library.
#[derive(Debug, Clone, Serialize)]
pub struct SavedPaper {
    /// The paper.
    pub paper_id: ArxivId,
    /// The account's tags for it.
    pub tags: Vec<String>,
    /// When it was saved.
    pub saved_at: DateTime<Utc>,
}

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
    pub(crate) fn parse(text: &str) -> MessageState {
        match text {
            "sending" => MessageState::Sending,
            "sent" => MessageState::Sent,
            "failed" => MessageState::Failed,
            _ => MessageState::Queued,
        }
    }
}

/// A message to enqueue.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// Its account, if any.
    pub account_id: i64,
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
    pub account_id: Option<i64>,
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

/// What [`AccountStore::prune_stale`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Pruned {
    /// Accounts that never confirmed, have nothing saved and are older than the cut-off.
    pub unconfirmed_accounts: u64,
    /// Rate-limit counters whose window ended.
    pub rate_limits: u64,
    /// Expired sign-in and confirmation tokens, and expired sessions.
    pub expired_secrets: u64,
}

/// What paperboy needs of a store for accounts and mail.
pub trait AccountStore: Send + Sync {
    /// The account with this address, created (pending, default preferences) if there is none.
    /// Returns whether it was created.
    fn account_for_email(&self, email: &EmailAddress, now: DateTime<Utc>) -> Result<(Account, bool)>;
    /// One account.
    fn account(&self, id: i64) -> Result<Option<Account>>;
    /// The account with this address.
    fn account_by_email(&self, email: &EmailAddress) -> Result<Option<Account>>;
    /// Every account, by id, after `after_id`, at most `limit`.
    fn accounts(&self, after_id: i64, limit: usize) -> Result<Vec<Account>>;
    /// Accounts that are active and not suppressed (digest recipients), by id.
    fn active_accounts(&self, after_id: i64, limit: usize) -> Result<Vec<Account>>;
    /// Creates accounts in bulk (an operator's import): an address that has an account already is
    /// skipped. Returns how many were created.
    fn import_accounts(
        &self,
        accounts: &[(EmailAddress, AccountStatus, Preferences)],
        now: DateTime<Utc>,
    ) -> Result<usize>;
    /// Replaces an account's preferences.
    fn set_preferences(&self, id: i64, preferences: &Preferences) -> Result<()>;
    /// Moves an account to `status` (confirming it when `Active`).
    fn set_status(&self, id: i64, status: AccountStatus, now: DateTime<Utc>) -> Result<()>;
    /// Deletes an account and everything about it (library, upvotes, sessions, tokens, queued mail).
    fn delete_account(&self, id: i64) -> Result<bool>;
    /// Counts accounts by status.
    fn count_accounts(&self) -> Result<Vec<(AccountStatus, u64)>>;
    /// How many accounts are suppressed.
    fn count_suppressed(&self) -> Result<u64>;
    /// Suppressed accounts (mail to them bounced), by id, after `after_id`, at most `limit`.
    fn suppressed_accounts(&self, after_id: i64, limit: usize) -> Result<Vec<Account>>;
    /// Lifts an account's suppression (and forgets its bounces). Returns whether it was suppressed.
    fn unsuppress(&self, id: i64) -> Result<bool>;
    /// Forgets what has no use any more: accounts created before `unconfirmed_before` that never
    /// confirmed and hold nothing (no library, no upvotes), rate-limit counters whose window
    /// started before `limits_before`, and tokens and sessions expired at `now`.
    fn prune_stale(
        &self,
        unconfirmed_before: DateTime<Utc>,
        limits_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Pruned>;

    /// Stores a token's hash.
    fn insert_token(
        &self,
        hash: &[u8],
        account_id: i64,
        purpose: TokenPurpose,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// Uses a token: the account it belongs to, if it exists, is for `purpose`, has not expired and
    /// was not used before. A token works once.
    fn use_token(&self, hash: &[u8], purpose: TokenPurpose, now: DateTime<Utc>) -> Result<Option<i64>>;
    /// Whether a token would work, without using it (for the page with the button).
    fn token_is_valid(&self, hash: &[u8], purpose: TokenPurpose, now: DateTime<Utc>) -> Result<bool>;

    /// Starts a session.
    fn create_session(&self, hash: &[u8], account_id: i64, expires_at: DateTime<Utc>, now: DateTime<Utc>)
    -> Result<()>;
    /// The account of a live session.
    fn session(&self, hash: &[u8], now: DateTime<Utc>) -> Result<Option<i64>>;
    /// Ends a session.
    fn delete_session(&self, hash: &[u8]) -> Result<()>;
    /// Ends every session (the signing key changed). Returns how many.
    fn end_all_sessions(&self) -> Result<u64>;

    /// Saves (or re-tags) a paper in an account's library.
    fn save_paper(&self, account_id: i64, paper: ArxivId, tags: &[String], now: DateTime<Utc>) -> Result<()>;
    /// Removes a paper from an account's library.
    fn unsave_paper(&self, account_id: i64, paper: ArxivId) -> Result<bool>;
    /// An account's library, newest first.
    fn library(&self, account_id: i64) -> Result<Vec<SavedPaper>>;
    /// Upvotes a paper once per account; updates the paper's local upvote count. Returns whether
    /// the upvote is new.
    fn upvote(&self, account_id: i64, paper: ArxivId, now: DateTime<Utc>) -> Result<bool>;
    /// Takes an upvote back.
    fn remove_upvote(&self, account_id: i64, paper: ArxivId, now: DateTime<Utc>) -> Result<bool>;
    /// Every upvote of an account, newest first.
    fn upvotes_of(&self, account_id: i64) -> Result<Vec<(ArxivId, DateTime<Utc>)>>;
    /// Which of these papers the account upvoted.
    fn upvoted(&self, account_id: i64, papers: &[ArxivId]) -> Result<Vec<ArxivId>>;

    /// Counts a hit against `key`; false when `max` hits already happened in the window that
    /// started at most `window_seconds` ago.
    fn rate_limit(&self, key: &str, max: u32, window_seconds: i64, now: DateTime<Utc>) -> Result<bool>;
    /// A setting.
    fn setting(&self, key: &str) -> Result<Option<String>>;
    /// Stores a setting unless it exists; returns the stored value.
    fn setting_or_insert(&self, key: &str, value: &str) -> Result<String>;
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
    fn library_model(&self, account_id: i64, model: &str, library_hash: i64) -> Result<Option<Vec<f32>>>;
    /// Caches an account's library model.
    fn put_library_model(&self, account_id: i64, model: &str, library_hash: i64, weights: &[f32]) -> Result<()>;

    /// Records that these accounts' digests for `day` were decided (nothing to send): the next
    /// digest starts after it.
    fn set_last_digest(&self, ids: &[i64], day: NaiveDate) -> Result<()>;
    /// Which of `papers` each account was already sent: `(account, paper)` pairs.
    fn sent_papers(&self, papers: &[ArxivId]) -> Result<Vec<(i64, ArxivId)>>;
    /// Enqueues messages atomically, recording the papers they send and, for digests, the period
    /// on the account. A message whose key is already queued is skipped. Returns how many were new.
    fn enqueue(&self, messages: &[NewMessage], period: Option<NaiveDate>, now: DateTime<Utc>) -> Result<usize>;
    /// Claims up to `limit` messages due at `now` for sending (state `sending`).
    fn claim_due(&self, limit: usize, now: DateTime<Utc>) -> Result<Vec<OutboxMessage>>;
    /// Records how an attempt ended.
    fn record_delivery(&self, id: i64, delivery: &Delivery, now: DateTime<Utc>) -> Result<()>;
    /// Puts messages left `sending` by a sender that died back in the queue. Returns how many.
    fn requeue_sending(&self, claimed_before: DateTime<Utc>) -> Result<usize>;
    /// Forgets messages that were sent or failed and were queued before `created_before`, with
    /// the record of the papers they sent. Queued messages stay, however old. Returns how many
    /// messages and paper records went.
    fn prune_delivered(&self, created_before: DateTime<Utc>) -> Result<(u64, u64)>;
    /// Message counts by state.
    fn outbox_counts(&self) -> Result<Vec<(MessageState, u64)>>;
    /// Messages of an account (newest first), for export.
    fn messages_of(&self, account_id: i64, limit: usize) -> Result<Vec<OutboxMessage>>;
    /// One message.
    fn message(&self, id: i64) -> Result<Option<OutboxMessage>>;
}
