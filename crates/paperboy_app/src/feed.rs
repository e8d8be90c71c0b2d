//! A subscriber's digest as a private feed, for people who read feeds instead of mail: a secret
//! URL per account, like a calendar's, that holds what their digest would: the papers announced in
//! the last [`FEED_DAYS`] days that match their saved searches, follows and library, each with its
//! reasons, then the trending section.
//!
//! The secret is shown once, when it is made; the store keeps only its SHA-256 (in settings,
//! `digest-feed:<hash>` → the account, `digest-feed-of:<account>` → the hash). Making a new one or
//! revoking it kills the old URL at once. The two entries are written one after the other: every
//! state between them fails closed (a secret whose reverse entry disagrees is dead), and account
//! ids are never reused.

use chrono::{DateTime, Duration, Utc};
use paperboy_domain::{AccountId, ArxivId, Paper};

use crate::{
    Account, Library, Result,
    digest::BuildOptions,
    outbox::DigestPayload,
    signing::{Secret, random_secret, token_hash},
};

/// The days a feed covers, up to the newest announcement day (about five announcement days).
pub const FEED_DAYS: i64 = 7;
/// Fetches of one feed per hour at most (feed readers poll every 15 to 60 minutes); each builds a
/// digest.
pub const FEED_FETCHES_PER_HOUR: u32 = 30;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn by_hash(hash: &str) -> String {
    format!("digest-feed:{hash}")
}

fn of_account(account: AccountId) -> String {
    format!("digest-feed-of:{account}")
}

/// What a feed shows: the digest and its papers' metadata.
#[derive(Debug, Clone)]
pub struct DigestFeed {
    /// What the digest would hold.
    pub digest: DigestPayload,
    /// The papers it names (those the store still has).
    pub papers: Vec<Paper>,
}

impl DigestFeed {
    /// The stored paper of an entry.
    pub fn paper(&self, id: ArxivId) -> Option<&Paper> {
        self.papers.iter().find(|p| p.id == id)
    }
}

impl Library {
    /// Makes the account's private feed secret, replacing (and so revoking) any earlier one. The
    /// secret is returned once and never stored.
    pub fn create_digest_feed(&self, account: AccountId) -> Result<Secret> {
        self.revoke_digest_feed(account)?;
        let secret = random_secret()?;
        let hash = hex(&token_hash(secret.expose()));
        self.store.put_setting(&by_hash(&hash), &account.0.to_string())?;
        self.store.put_setting(&of_account(account), &hash)?;
        tracing::info!(%account, "private digest feed made");
        Ok(secret)
    }

    /// Revokes the account's private feed: its URL answers 404 from now on. False when it had none.
    pub fn revoke_digest_feed(&self, account: AccountId) -> Result<bool> {
        let Some(hash) = self.store.setting(&of_account(account))? else { return Ok(false) };
        self.store.delete_setting(&by_hash(&hash))?;
        self.store.delete_setting(&of_account(account))?;
        tracing::info!(%account, "private digest feed revoked");
        Ok(true)
    }

    /// Whether the account has a private feed.
    pub fn has_digest_feed(&self, account: AccountId) -> Result<bool> {
        Ok(self.store.setting(&of_account(account))?.is_some())
    }

    /// The account a feed secret belongs to, if it is live (and the account still exists).
    pub fn digest_feed_account(&self, secret: &str) -> Result<Option<Account>> {
        if secret.is_empty() || secret.len() > 100 {
            return Ok(None);
        }
        let hash = hex(&token_hash(secret));
        let Some(id) = self.store.setting(&by_hash(&hash))? else { return Ok(None) };
        let Ok(id) = id.parse::<i64>() else { return Ok(None) };
        let account = self.store.account(AccountId(id))?;
        // The reverse entry must agree: a secret replaced in a race is dead.
        match &account {
            Some(account) if self.store.setting(&of_account(account.id))?.as_deref() == Some(hash.as_str()) => {
                Ok(Some(account.clone()))
            }
            _ => Ok(None),
        }
    }

    /// What the account's feed holds now: its digest over the last [`FEED_DAYS`] days, whatever
    /// its cadence (a paused digest pauses mail, not the feed), papers mailed to it included.
    /// `None` before anything is announced. A fetch over [`FEED_FETCHES_PER_HOUR`] is refused
    /// ([`crate::Error::RateLimited`]): each one builds a digest.
    pub fn digest_feed(&self, account: &Account, now: DateTime<Utc>) -> Result<Option<DigestFeed>> {
        if !self.store.rate_limit(&format!("digest-feed-fetch:{}", account.id), FEED_FETCHES_PER_HOUR, 3600, now)? {
            return Err(crate::Error::RateLimited("this feed was fetched too often; try again within the hour".into()));
        }
        let Some(date) = self.store.last_announced()? else { return Ok(None) };
        let since = date - Duration::days(FEED_DAYS - 1);
        let options = BuildOptions {
            date,
            weekly_on: crate::digest::WEEKLY_ON,
            host: String::new(),
            dry_run: true,
            only: Some(account.id),
            details: true,
            now,
        };
        let digest = self.preview_digest(account, since, &options)?;
        let ids: Vec<ArxivId> = digest.papers().collect();
        let papers = self.store.papers(&ids)?.into_iter().map(|s| s.paper).collect();
        Ok(Some(DigestFeed { digest, papers }))
    }
}
