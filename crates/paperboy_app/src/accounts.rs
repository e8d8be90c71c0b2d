//! Accounts: double opt-in subscriptions, passwordless sign-in by e-mailed link, sessions,
//! preferences, "export my data" and "delete my account", and the operator's view of
//! subscribers. Secrets and signatures are [`crate::signing`]'s.
//!
//! No enumeration: asking to subscribe or to sign in gets the same answer whether or not the
//! address has an account; a sign-in answer also takes as long (the web app queues the mail after
//! answering); only the mailbox's owner learns more. The one exception is an address whose mail
//! bounced: the person asking is told that no mail can go there (not why: the mail server's reply
//! is for the operator), rather than waiting for a mail that never comes.
//!
//! Rate limits: per address, 3 mails in 20 minutes — shorter than a sign-in link's 30 minutes, so
//! someone flooding an address can never lock its owner out: whenever the owner is refused, a link
//! sent in the last 20 minutes is in their inbox and still works. Per client (an IPv4 address or an
//! IPv6 /64), 20 requests an hour. Keys fold the address's case and keep neither address nor IP in
//! the store (a hash).

use std::net::IpAddr;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use paperboy_domain::{AccountId, ArxivId, EmailAddress, Preferences};
use paperboy_store::{Account, AccountStatus, MessageState, NewMessage, Pruned, SavedPaper, TokenPurpose};
use serde::Serialize;

use crate::{
    Error, Library, Result,
    outbox::{LinkSecret, MailPayload},
    signing::{LinkPurpose, Secret, random_secret, sha256, token_hash},
};

/// How long a sign-in link works.
pub const SIGN_IN_MINUTES: i64 = 30;
/// How long a confirmation link works.
pub const CONFIRM_HOURS: i64 = 48;
/// How long a session lasts.
pub const SESSION_DAYS: i64 = 30;
/// Mails asked for per address (subscribe and sign-in together) per [`ADDRESS_WINDOW_MINUTES`].
pub const MAILS_PER_ADDRESS: u32 = 3;
/// The window of the per-address limit. Shorter than [`SIGN_IN_MINUTES`], so that whenever the
/// limit refuses a request, the last link sent still works.
pub const ADDRESS_WINDOW_MINUTES: i64 = 20;
/// Mail-sending requests per client (an IPv4 address, an IPv6 /64) per hour.
pub const REQUESTS_PER_CLIENT_PER_HOUR: u32 = 20;
/// Accounts that never confirmed and hold nothing are forgotten after this many days.
pub const UNCONFIRMED_DAYS: i64 = 30;

const _: () = assert!(ADDRESS_WINDOW_MINUTES < SIGN_IN_MINUTES, "a refused owner must hold a live link");

/// A new session: the cookie's value and when it ends.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The account signed in.
    pub account_id: AccountId,
    /// The cookie's value.
    pub token: Secret,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
}

/// Everything paperboy keeps about an account, for "export my data".
#[derive(Debug, Clone, Serialize)]
pub struct AccountExport {
    /// When the export was made.
    pub exported_at: DateTime<Utc>,
    /// The account.
    pub account: Account,
    /// Saved papers.
    pub library: Vec<SavedPaper>,
    /// Upvoted papers and when.
    pub upvotes: Vec<(ArxivId, DateTime<Utc>)>,
    /// Messages sent or queued (their kind, state and dates; digests with their papers).
    pub messages: Vec<ExportedMessage>,
    /// Personal API tokens (names, scopes, dates; never their secrets, which are not kept).
    pub api_tokens: Vec<paperboy_store::ApiToken>,
    /// Papers it said it is not interested in, or wants more like.
    pub feedback: Vec<paperboy_store::PaperFeedback>,
}

/// One message in an export.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedMessage {
    /// `digest`, `confirm`, `sign_in`.
    pub kind: String,
    /// Where it stands.
    pub state: MessageState,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// When it was accepted by the mail server.
    pub sent_at: Option<DateTime<Utc>>,
    /// The papers of a digest.
    pub papers: Vec<ArxivId>,
}

/// An operator's name for a subscriber: an address or an account number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscriber {
    /// By account number.
    Id(AccountId),
    /// By address.
    Email(EmailAddress),
}

impl Subscriber {
    /// `42` or `ada@example.org`.
    pub fn parse(text: &str) -> Result<Subscriber> {
        match text.trim().parse::<AccountId>() {
            Ok(id) => Ok(Subscriber::Id(id)),
            Err(_) => Ok(Subscriber::Email(EmailAddress::parse(text).map_err(Error::Email)?)),
        }
    }
}

/// A key for rate limits that does not keep the address or the IP in the store.
fn limit_key(kind: &str, value: &str) -> String {
    let hash = sha256(value.as_bytes());
    format!("{kind}:{}", URL_SAFE_NO_PAD.encode(&hash[..12]))
}

/// The network a client counts as for rate limits: its IPv4 address (an IPv4-mapped IPv6 address
/// is the IPv4 address it maps), or the /64 of its IPv6 address, since one IPv6 host commonly
/// holds a whole /64 and could rotate through it.
pub fn client_network(client: IpAddr) -> String {
    match client.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

impl Library {
    /// The checks every request for mail passes before anything is queued: the rate limits (for
    /// the client's network and for the address, its case folded), and that mail to the address
    /// has not bounced.
    pub fn admit_mail_request(&self, email: &EmailAddress, client: IpAddr, now: DateTime<Utc>) -> Result<()> {
        let store = &self.store;
        if !store.rate_limit(&limit_key("client", &client_network(client)), REQUESTS_PER_CLIENT_PER_HOUR, 3600, now)? {
            return Err(Error::RateLimited("too many requests from your network; try again in an hour".into()));
        }
        let folded = email.as_str().to_lowercase();
        if !store.rate_limit(&limit_key("address", &folded), MAILS_PER_ADDRESS, ADDRESS_WINDOW_MINUTES * 60, now)? {
            return Err(Error::RateLimited(format!(
                "we sent several links to this address in the last {ADDRESS_WINDOW_MINUTES} minutes; the newest one \
                 still works, so look in your inbox (and the spam folder) — or ask again in {ADDRESS_WINDOW_MINUTES} minutes"
            )));
        }
        if let Some(account) = store.account_by_email(email)?
            && let Some(at) = account.suppressed_at
        {
            return Err(Error::Undeliverable(format!(
                "We cannot send mail to {email}: its mail server refused our mail for good on {}. If the address works \
                 again, ask the site's operator to lift the block.",
                at.format("%Y-%m-%d")
            )));
        }
        Ok(())
    }

    fn enqueue_token_mail(&self, account: &Account, kind: TokenPurpose, host: &str, now: DateTime<Utc>) -> Result<()> {
        let nonce = random_secret()?.0;
        let secret = LinkSecret { nonce: Some(nonce.clone()), token: None };
        let token = self.link_token(&secret)?.expect("a nonce derives a token");
        let (lifetime, payload) = match kind {
            TokenPurpose::Confirm => (Duration::hours(CONFIRM_HOURS), MailPayload::Confirm(secret)),
            TokenPurpose::SignIn => (Duration::minutes(SIGN_IN_MINUTES), MailPayload::SignIn(secret)),
        };
        self.store.insert_token(&token_hash(&token), account.id, kind, now + lifetime, now)?;
        let kind = kind.as_str();
        let key_hash = URL_SAFE_NO_PAD.encode(&token_hash(&nonce)[..12]);
        let message = NewMessage {
            account_id: account.id,
            kind: kind.to_owned(),
            dedupe_key: format!("{kind}:{}:{key_hash}", account.id),
            message_id: format!("<{kind}.{key_hash}@{host}>"),
            recipient: account.email.clone(),
            payload: payload.to_json(),
            papers: Vec::new(),
        };
        self.store.enqueue(&[message], None, now)?;
        Ok(())
    }

    /// The subscribe box: mails a confirmation link (or, to an address already subscribed, a
    /// sign-in link). The caller answers "check your inbox" either way. `client` is the
    /// requester's IP address (for rate limits); `host` names the site in the `Message-ID`.
    pub fn subscribe(&self, email: &EmailAddress, client: IpAddr, host: &str, now: DateTime<Utc>) -> Result<()> {
        self.admit_mail_request(email, client, now)?;
        let (account, created) = self.store.account_for_email(email, now)?;
        if created {
            tracing::info!(account = %account.id, "subscription requested for a new address");
        }
        let kind = if account.status == AccountStatus::Active { TokenPurpose::SignIn } else { TokenPurpose::Confirm };
        self.enqueue_token_mail(&account, kind, host, now)
    }

    /// "E-mail me a sign-in link": [`Library::admit_mail_request`], then
    /// [`Library::mail_sign_in_link`].
    pub fn request_sign_in(&self, email: &EmailAddress, client: IpAddr, host: &str, now: DateTime<Utc>) -> Result<()> {
        self.admit_mail_request(email, client, now)?;
        self.mail_sign_in_link(email, host, now)
    }

    /// Queues a sign-in link to the address if it has an account, and nothing otherwise. The web
    /// app runs this after answering, so that the answer takes as long either way.
    pub fn mail_sign_in_link(&self, email: &EmailAddress, host: &str, now: DateTime<Utc>) -> Result<()> {
        let Some(account) = self.store.account_by_email(email)? else { return Ok(()) };
        self.enqueue_token_mail(&account, TokenPurpose::SignIn, host, now)
    }

    /// Whether a confirmation or sign-in link still works (for the page with the button; opening
    /// the link uses nothing, so link scanners confirm nothing).
    pub fn token_works(&self, token: &str, purpose: TokenPurpose, now: DateTime<Utc>) -> Result<bool> {
        if token.len() > 100 {
            return Ok(false);
        }
        Ok(self.store.token_is_valid(&token_hash(token), purpose, now)?)
    }

    /// The Confirm button: activates the subscription and signs in. `None` when the link is
    /// expired, used or forged.
    pub fn confirm_subscription(&self, token: &str, now: DateTime<Utc>) -> Result<Option<NewSession>> {
        if token.len() > 100 {
            return Ok(None);
        }
        let Some(account) = self.store.use_token(&token_hash(token), TokenPurpose::Confirm, now)? else {
            return Ok(None);
        };
        self.store.set_status(account, AccountStatus::Active, now)?;
        tracing::info!(account = %account, "subscription confirmed");
        self.start_session(account, now).map(Some)
    }

    /// The Sign in button. `None` when the link is expired, used or forged.
    pub fn complete_sign_in(&self, token: &str, now: DateTime<Utc>) -> Result<Option<NewSession>> {
        if token.len() > 100 {
            return Ok(None);
        }
        let Some(account) = self.store.use_token(&token_hash(token), TokenPurpose::SignIn, now)? else {
            return Ok(None);
        };
        self.start_session(account, now).map(Some)
    }

    fn start_session(&self, account_id: AccountId, now: DateTime<Utc>) -> Result<NewSession> {
        let token = random_secret()?;
        let expires_at = now + Duration::days(SESSION_DAYS);
        self.store.create_session(&token_hash(token.expose()), account_id, expires_at, now)?;
        Ok(NewSession { account_id, token, expires_at })
    }

    /// The account of a session cookie, if the session is live.
    pub fn session_account(&self, token: &str, now: DateTime<Utc>) -> Result<Option<Account>> {
        if token.is_empty() || token.len() > 100 {
            return Ok(None);
        }
        match self.store.session(&token_hash(token), now)? {
            Some(id) => Ok(self.store.account(id)?),
            None => Ok(None),
        }
    }

    /// Ends a session.
    pub fn sign_out(&self, token: &str) -> Result<()> {
        Ok(self.store.delete_session(&token_hash(token))?)
    }

    /// Unsubscribes the account of a signed link (one click; works again harmlessly). `None` when
    /// the link is not valid.
    pub fn unsubscribe(&self, token: &str, now: DateTime<Utc>) -> Result<Option<Account>> {
        let Some(account) = self.verify_link(token, LinkPurpose::Unsubscribe, now)? else { return Ok(None) };
        if account.status != AccountStatus::Unsubscribed {
            self.store.set_status(account.id, AccountStatus::Unsubscribed, now)?;
            tracing::info!(account = %account.id, "unsubscribed");
        }
        Ok(self.store.account(account.id)?)
    }

    /// Resubscribes a signed-in account that unsubscribed (it confirmed its address before).
    pub fn resubscribe(&self, account: AccountId, now: DateTime<Utc>) -> Result<()> {
        Ok(self.store.set_status(account, AccountStatus::Active, now)?)
    }

    /// Opens a session from a digest's "manage preferences" link (its page's button: opening the
    /// link itself signs nobody in).
    pub fn manage_session(&self, token: &str, now: DateTime<Utc>) -> Result<Option<NewSession>> {
        let Some(account) = self.verify_link(token, LinkPurpose::Manage, now)? else { return Ok(None) };
        self.start_session(account.id, now).map(Some)
    }

    /// Validates and stores preferences, embedding new saved searches so that digests need no
    /// model call for them.
    pub fn update_preferences(&self, account: AccountId, preferences: Preferences) -> Result<Preferences> {
        let preferences = preferences.validate().map_err(Error::Preferences)?;
        self.ensure_query_vectors(&preferences.searches)?;
        self.store.set_preferences(account, &preferences)?;
        Ok(preferences)
    }

    /// Everything kept about an account.
    pub fn export_account(&self, account_id: AccountId, now: DateTime<Utc>) -> Result<AccountExport> {
        let account = self.store.account(account_id)?.ok_or(Error::AccountNotFound(account_id.to_string()))?;
        let messages = self
            .store
            .messages_of(account_id, 10_000)?
            .into_iter()
            .map(|m| {
                let papers = match serde_json::from_str::<MailPayload>(&m.payload) {
                    Ok(MailPayload::Digest(digest)) => digest.papers().collect(),
                    _ => Vec::new(),
                };
                ExportedMessage { kind: m.kind, state: m.state, created_at: m.created_at, sent_at: m.sent_at, papers }
            })
            .collect();
        Ok(AccountExport {
            exported_at: now,
            library: self.store.library(account_id)?,
            upvotes: self.store.upvotes_of(account_id)?,
            messages,
            api_tokens: self.store.api_tokens(account_id)?,
            feedback: self.store.feedback(account_id)?,
            account,
        })
    }

    /// Deletes an account and everything about it: address, preferences, library, upvotes (the
    /// papers' counts drop), sessions, sign-in and API tokens, messages and what was sent.
    pub fn delete_account(&self, account: AccountId) -> Result<bool> {
        self.revoke_digest_feed(account)?;
        let deleted = self.store.delete_account(account)?;
        if deleted {
            tracing::info!(account = %account, "account deleted");
        }
        Ok(deleted)
    }

    /// An operator adds a subscriber (`paperboy subscriber add`): confirmed ones get digests at
    /// once, others are mailed nothing until they confirm through the site. Fails if the address
    /// has an account.
    pub fn add_subscriber(
        &self,
        email: &EmailAddress,
        confirmed: bool,
        preferences: Preferences,
        now: DateTime<Utc>,
    ) -> Result<Account> {
        let preferences = preferences.validate().map_err(Error::Preferences)?;
        let (account, created) = self.store.account_for_email(email, now)?;
        if !created {
            return Err(Error::AlreadySubscribed { email: email.to_string(), account: account.id });
        }
        self.ensure_query_vectors(&preferences.searches)?;
        self.store.set_preferences(account.id, &preferences)?;
        if confirmed {
            self.store.set_status(account.id, AccountStatus::Active, now)?;
        }
        self.store.account(account.id)?.ok_or(Error::AccountNotFound(account.id.to_string()))
    }

    /// Adds many subscribers at once (benchmarks, imports): addresses with accounts are skipped.
    pub fn import_subscribers(
        &self,
        subscribers: &[(EmailAddress, bool, Preferences)],
        now: DateTime<Utc>,
    ) -> Result<usize> {
        let mut rows: Vec<(EmailAddress, AccountStatus, Preferences)> = Vec::with_capacity(subscribers.len());
        for (email, confirmed, preferences) in subscribers {
            let preferences = preferences.clone().validate().map_err(|e| {
                Error::Preferences(paperboy_domain::PreferencesError(format!("{}: {e}", email.redacted())))
            })?;
            let status = if *confirmed { AccountStatus::Active } else { AccountStatus::Pending };
            rows.push((email.clone(), status, preferences));
        }
        let mut searches: Vec<String> = rows.iter().flat_map(|(_, _, p)| p.searches.iter().cloned()).collect();
        searches.sort();
        searches.dedup();
        self.ensure_query_vectors(&searches)?;
        Ok(self.store.import_accounts(&rows, now)?)
    }

    /// Subscribers by id, after `after`.
    pub fn subscribers(&self, after: AccountId, limit: usize) -> Result<Vec<Account>> {
        Ok(self.store.accounts(after, limit)?)
    }

    /// A subscriber by address or account number.
    pub fn subscriber(&self, who: &Subscriber) -> Result<Option<Account>> {
        Ok(match who {
            Subscriber::Id(id) => self.store.account(*id)?,
            Subscriber::Email(email) => self.store.account_by_email(email)?,
        })
    }

    /// Counts of accounts by status.
    pub fn subscriber_counts(&self) -> Result<Vec<(AccountStatus, u64)>> {
        Ok(self.store.count_accounts()?)
    }

    /// How many addresses are suppressed.
    pub fn suppressed_count(&self) -> Result<u64> {
        Ok(self.store.count_suppressed()?)
    }

    /// Suppressed subscribers (their mail bounced), by id, after `after`.
    pub fn suppressed_subscribers(&self, after: AccountId, limit: usize) -> Result<Vec<Account>> {
        Ok(self.store.suppressed_accounts(after, limit)?)
    }

    /// Lifts the suppression of an address (an operator who knows it works again) and forgets its
    /// bounces. Returns whether there was anything to lift.
    pub fn unsuppress(&self, account: AccountId) -> Result<bool> {
        let lifted = self.store.unsuppress(account)?;
        if lifted {
            tracing::info!(account = %account, "suppression lifted");
        }
        Ok(lifted)
    }

    /// Forgets accounts that never confirmed (after [`UNCONFIRMED_DAYS`]) and hold nothing, rate
    /// limit counters whose window is over, and expired tokens and sessions.
    pub fn prune_stale(&self, now: DateTime<Utc>) -> Result<Pruned> {
        let pruned = self.store.prune_stale(now - Duration::days(UNCONFIRMED_DAYS), now - Duration::hours(1), now)?;
        tracing::info!(
            unconfirmed_accounts = pruned.unconfirmed_accounts,
            rate_limits = pruned.rate_limits,
            expired_secrets = pruned.expired_secrets,
            "pruned stale rows"
        );
        Ok(pruned)
    }

    /// Embeds saved searches that have no stored vector yet (nothing when semantic search is off;
    /// digests then match those searches by words only).
    pub(crate) fn ensure_query_vectors(&self, searches: &[String]) -> Result<usize> {
        let Ok(semantic) = self.semantic() else { return Ok(0) };
        let model = semantic.embedder.name();
        let hashes: Vec<i64> = searches.iter().map(|s| query_hash(s)).collect();
        let have: std::collections::HashSet<i64> =
            self.store.query_vectors(model, &hashes)?.into_iter().map(|(h, _)| h).collect();
        let missing: Vec<&String> =
            searches.iter().filter(|s| !have.contains(&query_hash(s)) && !query_text(s).is_empty()).collect();
        if missing.is_empty() {
            return Ok(0);
        }
        // A model that cannot be loaded is as no model: these searches match by words.
        let Ok(embedder) = semantic.embedder.get() else { return Ok(0) };
        let mut stored = Vec::with_capacity(missing.len());
        for chunk in missing.chunks(256) {
            let texts: Vec<String> = chunk.iter().map(|s| query_text(s)).collect();
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let vectors = embedder.embed_queries(&refs)?;
            stored.extend(chunk.iter().map(|s| query_hash(s)).zip(vectors));
        }
        self.store.put_query_vectors(model, &stored)?;
        Ok(stored.len())
    }
}

/// The text a saved search is embedded from: the words it looks for in titles and abstracts, without
/// field prefixes and operators. Empty for searches of authors or categories only, which match by
/// words alone.
pub(crate) fn query_text(search: &str) -> String {
    use paperboy_domain::query::Field;
    match paperboy_domain::SearchQuery::parse(search) {
        Ok(query) => query
            .positive_terms()
            .iter()
            .filter(|(field, _)| *field != Field::Authors)
            .map(|(_, t)| *t)
            .collect::<Vec<_>>()
            .join(" "),
        Err(_) => String::new(),
    }
}

/// The key a saved search's vector is stored under.
pub(crate) fn query_hash(search: &str) -> i64 {
    xxhash_rust::xxh3::xxh3_64(search.as_bytes()) as i64
}
