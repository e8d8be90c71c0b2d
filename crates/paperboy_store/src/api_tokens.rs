//! Personal API tokens: an account's long-lived credentials for scripts and tools
//! (`Authorization: Bearer …`). The store keeps each token's SHA-256, never the token.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use paperboy_domain::AccountId;
use serde::Serialize;

use crate::{Error, Result};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenScope {
    /// Read the account's library, upvotes, saved searches and follows.
    Read,
    /// Read them and change them.
    Write,
}

impl TokenScope {
    /// Every scope.
    pub const ALL: [TokenScope; 2] = [TokenScope::Read, TokenScope::Write];

    /// Its name in the store and in output: `read`, `write`.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Read => "read",
            TokenScope::Write => "write",
        }
    }

    /// The scope a name stands for.
    pub fn parse(text: &str) -> Option<TokenScope> {
        TokenScope::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The scope a stored name stands for; an unknown name is damage, not a default.
    pub(crate) fn from_stored(text: &str) -> Result<TokenScope> {
        TokenScope::parse(text).ok_or_else(|| Error::Corrupt(format!("unknown API token scope {text:?}")))
    }
}

/// One personal API token, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiToken {
    /// Its public id (part of the token, so a leaked token can be named without being repeated).
    pub id: String,
    /// Whose it is.
    pub account: AccountId,
    /// What its owner called it.
    pub name: String,
    /// What it may do.
    pub scope: TokenScope,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it was last used (to the minute).
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Personal API tokens.
pub trait ApiTokenStore: Send + Sync {
    /// Stores a new token with the hash of its secret.
    fn insert_api_token(&self, token: &ApiToken, hash: &[u8]) -> Result<()>;
    /// An account's tokens, newest first.
    fn api_tokens(&self, account: AccountId) -> Result<Vec<ApiToken>>;
    /// The token whose secret has this hash.
    fn api_token_by_hash(&self, hash: &[u8]) -> Result<Option<ApiToken>>;
    /// Records a use of the token at `now`, at most once a minute (each use of the API would
    /// otherwise be a write).
    fn touch_api_token(&self, id: &str, now: DateTime<Utc>) -> Result<()>;
    /// Deletes one of an account's tokens: it stops working at once. False when the account has
    /// no token with this id.
    fn delete_api_token(&self, account: AccountId, id: &str) -> Result<bool>;
}

/// `now` to the minute: a token's use is recorded once a minute at most.
pub(crate) fn to_the_minute(now: DateTime<Utc>) -> DateTime<Utc> {
    now.duration_trunc(TimeDelta::minutes(1)).unwrap_or(now)
}
