//! Personal API tokens: a person makes one on the preferences page for a script, a reference
//! manager or an AI assistant, and sends it as `Authorization: Bearer <token>`. A token reads the
//! account's library, upvotes, saved searches and follows, and with the `write` scope changes them.
//!
//! A token is `pbt_<id>_<secret>`: the id names it (in the list of tokens, and in a leak report)
//! without giving it away; the prefix lets secret scanners recognise one. It is shown once, when
//! made; the store keeps its SHA-256. Revoking it, or deleting the account, ends it at once.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use paperboy_domain::{AccountId, text};
use paperboy_store::{ApiToken, TokenScope};

use crate::{
    Account, Error, Library, Result,
    signing::{Secret, random_bytes, random_secret, token_hash},
};

/// What every token starts with.
pub const TOKEN_PREFIX: &str = "pbt_";
/// Tokens one account may hold at once.
pub const MAX_TOKENS: usize = 20;
/// The longest name a token may have, in characters.
pub const MAX_NAME: usize = 80;

/// A token just made: what it is, and its text, which is shown this once.
#[derive(Debug)]
pub struct NewApiToken {
    /// The token as listed.
    pub token: ApiToken,
    /// What to send as `Authorization: Bearer …`.
    pub secret: Secret,
}

/// Whether text has the shape of a token at all (a made-up one costs no lookup).
fn looks_like_a_token(text: &str) -> bool {
    let Some(rest) = text.strip_prefix(TOKEN_PREFIX) else { return false };
    rest.len() == 16 + 1 + 43 && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Library {
    /// Makes a token for the account. The name says what it is for (at most [`MAX_NAME`]
    /// characters, on one line); an account holds at most [`MAX_TOKENS`].
    pub fn create_api_token(
        &self,
        account: AccountId,
        name: &str,
        scope: TokenScope,
        now: DateTime<Utc>,
    ) -> Result<NewApiToken> {
        let name = text::collapse_whitespace(name);
        if name.is_empty() {
            return Err(Error::ApiToken("give the token a name that says what it is for".into()));
        }
        if name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
            return Err(Error::ApiToken(format!("a token's name is one line of at most {MAX_NAME} characters")));
        }
        if self.store.api_tokens(account)?.len() >= MAX_TOKENS {
            return Err(Error::ApiToken(format!(
                "an account holds at most {MAX_TOKENS} tokens; revoke one you no longer use"
            )));
        }
        let id: String = random_bytes()?[..8].iter().map(|b| format!("{b:02x}")).collect();
        let secret = Secret(format!("{TOKEN_PREFIX}{id}_{}", random_secret()?.expose()));
        let created_at = now.duration_trunc(TimeDelta::seconds(1)).unwrap_or(now);
        let token = ApiToken { id, account, name, scope, created_at, last_used_at: None };
        self.store.insert_api_token(&token, &token_hash(secret.expose()))?;
        tracing::info!(%account, token = %token.id, scope = scope.as_str(), "API token made");
        Ok(NewApiToken { token, secret })
    }

    /// The account's tokens, newest first (never their secrets).
    pub fn api_tokens(&self, account: AccountId) -> Result<Vec<ApiToken>> {
        Ok(self.store.api_tokens(account)?)
    }

    /// Revokes one of the account's tokens: it gets 401 from now on. False when the account has
    /// no such token.
    pub fn revoke_api_token(&self, account: AccountId, id: &str) -> Result<bool> {
        let revoked = self.store.delete_api_token(account, id)?;
        if revoked {
            tracing::info!(%account, token = %id, "API token revoked");
        }
        Ok(revoked)
    }

    /// The account and token a bearer token stands for, if it is live; records its use.
    pub fn api_token_account(&self, text: &str, now: DateTime<Utc>) -> Result<Option<(Account, ApiToken)>> {
        if !looks_like_a_token(text) {
            return Ok(None);
        }
        let Some(token) = self.store.api_token_by_hash(&token_hash(text))? else { return Ok(None) };
        let Some(account) = self.store.account(token.account)? else { return Ok(None) };
        // Recording the use is bookkeeping: a busy store must not fail the request it serves.
        if let Err(err) = self.store.touch_api_token(&token.id, now) {
            tracing::warn!(token = %token.id, error = %err, "could not record an API token's use");
        }
        Ok(Some((account, token)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tokens_shape_is_checked_before_any_lookup() {
        let good = format!("{TOKEN_PREFIX}0123456789abcdef_{}", "a".repeat(43));
        assert!(looks_like_a_token(&good));
        for bad in [
            String::new(),
            "pbt_".into(),
            good.replace(TOKEN_PREFIX, "pbx_"),
            format!("{good}a"),
            good.replace('a', "/"),
            good[..good.len() - 1].to_owned(),
        ] {
            assert!(!looks_like_a_token(&bad), "{bad:?}");
        }
    }
}
