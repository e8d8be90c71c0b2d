//! Accounts, their single-use tokens and their sessions: who subscribed, how they sign in, and
//! which addresses mail may no longer go to.

use chrono::{DateTime, NaiveDate, Utc};
use paperboy_domain::{AccountId, EmailAddress, Preferences};
use serde::Serialize;

use crate::{Error, Result};

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
    /// Every status.
    pub const ALL: [AccountStatus; 3] = [AccountStatus::Pending, AccountStatus::Active, AccountStatus::Unsubscribed];

    /// Its name in the store and in output: `pending`, `active`, `unsubscribed`.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Pending => "pending",
            AccountStatus::Active => "active",
            AccountStatus::Unsubscribed => "unsubscribed",
        }
    }

    /// The status a stored name stands for; an unknown name is damage, not a default.
    pub(crate) fn from_stored(text: &str) -> Result<AccountStatus> {
        AccountStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| Error::Corrupt(format!("unknown account status {text:?}")))
    }
}

/// One account.
#[derive(Debug, Clone, Serialize)]
pub struct Account {
    /// Its number.
    pub id: AccountId,
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
    /// operator lifts it (`paperboy subscriber unsuppress`).
    pub suppressed_at: Option<DateTime<Utc>>,
    /// The mail server's reply that suppressed it.
    pub suppressed_reason: Option<String>,
    /// Bounces in a row (a message accepted since resets it).
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
    /// Its name in the store and in message kinds: `confirm`, `sign_in`.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::Confirm => "confirm",
            TokenPurpose::SignIn => "sign_in",
        }
    }
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

/// Accounts, tokens and sessions.
pub trait AccountStore: Send + Sync {
    /// The account with this address, created (pending, default preferences) if there is none.
    /// Returns whether it was created.
    fn account_for_email(&self, email: &EmailAddress, now: DateTime<Utc>) -> Result<(Account, bool)>;
    /// One account.
    fn account(&self, id: AccountId) -> Result<Option<Account>>;
    /// The account with this address.
    fn account_by_email(&self, email: &EmailAddress) -> Result<Option<Account>>;
    /// Every account, by id, after `after`, at most `limit`.
    fn accounts(&self, after: AccountId, limit: usize) -> Result<Vec<Account>>;
    /// Accounts that are active and not suppressed (digest recipients), by id.
    fn active_accounts(&self, after: AccountId, limit: usize) -> Result<Vec<Account>>;
    /// Creates accounts in bulk (an operator's import): an address that has an account already is
    /// skipped. Returns how many were created.
    fn import_accounts(
        &self,
        accounts: &[(EmailAddress, AccountStatus, Preferences)],
        now: DateTime<Utc>,
    ) -> Result<usize>;
    /// Replaces an account's preferences.
    fn set_preferences(&self, id: AccountId, preferences: &Preferences) -> Result<()>;
    /// Moves an account to `status` (confirming it, and lifting any suppression, when `Active`).
    fn set_status(&self, id: AccountId, status: AccountStatus, now: DateTime<Utc>) -> Result<()>;
    /// Deletes an account and everything about it (library, upvotes, sessions, tokens, queued mail).
    fn delete_account(&self, id: AccountId) -> Result<bool>;
    /// Counts accounts by status.
    fn count_accounts(&self) -> Result<Vec<(AccountStatus, u64)>>;
    /// How many accounts are suppressed.
    fn count_suppressed(&self) -> Result<u64>;
    /// Suppressed accounts (mail to them bounced), by id, after `after`, at most `limit`.
    fn suppressed_accounts(&self, after: AccountId, limit: usize) -> Result<Vec<Account>>;
    /// Lifts an account's suppression and forgets its bounces. Returns whether there was either.
    fn unsuppress(&self, id: AccountId) -> Result<bool>;
    /// Forgets what has no use any more: accounts created before `unconfirmed_before` that never
    /// confirmed and hold nothing (no library, no upvotes, no suppression, which must stay so that
    /// the address is not mailed again), rate-limit counters whose window
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
        account: AccountId,
        purpose: TokenPurpose,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// Uses a token: the account it belongs to, if it exists, is for `purpose`, has not expired and
    /// was not used before. A token works once.
    fn use_token(&self, hash: &[u8], purpose: TokenPurpose, now: DateTime<Utc>) -> Result<Option<AccountId>>;
    /// Whether a token would work, without using it (for the page with the button).
    fn token_is_valid(&self, hash: &[u8], purpose: TokenPurpose, now: DateTime<Utc>) -> Result<bool>;

    /// Starts a session.
    fn create_session(
        &self,
        hash: &[u8],
        account: AccountId,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// The account of a live session.
    fn session(&self, hash: &[u8], now: DateTime<Utc>) -> Result<Option<AccountId>>;
    /// Ends a session.
    fn delete_session(&self, hash: &[u8]) -> Result<()>;
    /// Ends every session (the signing key changed). Returns how many.
    fn end_all_sessions(&self) -> Result<u64>;
}
