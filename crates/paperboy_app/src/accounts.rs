//! Accounts: passwordless sign-in by e-mailed link, double opt-in subscriptions, sessions,
//! preferences, the library and upvotes, "export my data" and "delete my account".
//!
//! Secrets. Every token is 32 random bytes from the operating system, sent base64url in a link or a
//! cookie; the store keeps only its SHA-256, so a copy of the database signs nobody in. Sign-in and
//! confirmation tokens work once and expire; sessions expire. Links in digests that must work
//! without signing in (unsubscribe, manage preferences) are signed instead: HMAC-SHA256 over the
//! account id, the purpose, the day of issue and a hash of the address. A forged or altered link
//! fails; a link for a deleted account fails (ids are never reused, and the address must match).
//!
//! The signing key lives outside the store — a file in the data directory readable by its owner
//! only (`signing.key`, mode 0600), or a file the operator names — so a leaked copy or backup of the
//! database can neither forge links nor derive the sign-in tokens of queued mail (the outbox keeps a
//! nonce; the token is the key's HMAC of it). A key that changes (rotated, or replaced by hand) ends
//! every session, and the links in mail already sent stop working; opening the library says so.
//!
//! No enumeration: asking to subscribe or to sign in gets the same answer whether or not the
//! address has an account, and the same time (the sign-in mail is queued after the answer); only
//! the mailbox's owner learns more. The one exception is an address whose mail bounced: the person
//! asking is told that no mail can be sent there, rather than waiting for a mail that never comes.
//!
//! Rate limits: per address, 3 mails in 20 minutes — shorter than a sign-in link's 30 minutes, so
//! someone flooding an address can never lock its owner out: whenever the owner is refused, a link
//! sent in the last 20 minutes is in their inbox and still works. Per client (an IPv4 address or an
//! IPv6 /64), 20 requests an hour. Keys fold the address's case.

use std::sync::OnceLock;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use paperboy_domain::{ArxivId, EmailAddress, Preferences};
use paperboy_store::{Account, AccountStatus, AccountStore, NewMessage, PaperStore, SavedPaper, TokenPurpose};
use ring::{
    digest, hmac,
    rand::{SecureRandom, SystemRandom},
};
use serde::{Deserialize, Serialize};

use crate::{Error, Library, Result};

/// How long a sign-in link works.
pub const SIGN_IN_MINUTES: i64 = 30;
/// How long a confirmation link works.
pub const CONFIRM_HOURS: i64 = 48;
/// How long a session lasts.
pub const SESSION_DAYS: i64 = 30;
/// How long a "manage preferences" link from a digest works.
pub const MANAGE_LINK_DAYS: i64 = 60;
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

/// Where the signing key was kept before it moved out of the store (read once, to move it).
const LEGACY_SIGNING_KEY_SETTING: &str = "signing_key";
/// A fingerprint of the signing key in use, to notice when the key changes.
const SIGNING_KEY_FINGERPRINT_SETTING: &str = "signing_key.fingerprint";
/// The signing key's file in the data directory, unless the operator names another.
pub const SIGNING_KEY_FILE: &str = "signing.key";

/// A secret as handed to a person (in a link or a cookie). `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The text to put in the link or the cookie.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A new session: the cookie's value and when it ends.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The account signed in.
    pub account_id: i64,
    /// The cookie's value.
    pub token: Secret,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
}

/// What a signed link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    /// Unsubscribes (works for as long as the account exists).
    Unsubscribe,
    /// Opens the preferences page (works for [`MANAGE_LINK_DAYS`]).
    Manage,
}

impl LinkPurpose {
    fn code(self) -> u8 {
        match self {
            LinkPurpose::Unsubscribe => 1,
            LinkPurpose::Manage => 2,
        }
    }
}

/// The message an outbox entry renders to (its payload).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MailPayload {
    /// A digest.
    Digest(crate::digest::DigestPayload),
    /// "Confirm your subscription", with the confirmation link.
    Confirm(LinkSecret),
    /// "Your sign-in link".
    SignIn(LinkSecret),
}

/// How a queued mail carries its single-use link: a nonce whose HMAC under the signing key is the
/// token, so the store never holds a usable token. (Mail queued by older versions carries the
/// token itself.) Dropped from the store once the message is sent or has failed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LinkSecret {
    /// The nonce the token derives from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The token itself (mail queued before nonces).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
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
}

/// One message in an export.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedMessage {
    /// `digest`, `confirm`, `sign_in`.
    pub kind: String,
    /// Where it stands.
    pub state: paperboy_store::MessageState,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// When it was accepted by the mail server.
    pub sent_at: Option<DateTime<Utc>>,
    /// The papers of a digest.
    pub papers: Vec<String>,
}

/// A saved paper with its metadata, for the library page.
#[derive(Debug, Clone, Serialize)]
pub struct LibraryEntry {
    /// The saved paper.
    pub saved: SavedPaper,
    /// Its metadata (absent if the store lost the paper).
    pub paper: Option<paperboy_domain::Paper>,
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, bytes).as_ref().to_vec()
}

/// The store's form of a token: the SHA-256 of the text.
fn token_hash(token: &str) -> Vec<u8> {
    sha256(token.as_bytes())
}

fn random_secret() -> Result<Secret> {
    Ok(Secret(URL_SAFE_NO_PAD.encode(random_bytes()?)))
}

/// A key for rate limits that does not keep the address or the IP in the store.
fn limit_key(kind: &str, value: &str) -> String {
    let hash = sha256(value.as_bytes());
    format!("{kind}:{}", URL_SAFE_NO_PAD.encode(&hash[..12]))
}

/// The network a client counts as for rate limits: its IPv4 address (an IPv4-mapped IPv6 address
/// is the IPv4 address it maps), or the /64 of its IPv6 address, since one IPv6 host commonly
/// holds a whole /64 and could rotate through it.
pub fn client_network(client: std::net::IpAddr) -> String {
    match client.to_canonical() {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// Whether two secrets are equal, in time that does not depend on where they differ.
pub fn secrets_equal(a: &str, b: &str) -> bool {
    // Comparing digests keeps the time independent of the inputs' lengths too.
    let (a, b) = (sha256(a.as_bytes()), sha256(b.as_bytes()));
    a.iter().zip(&b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Reads the signing key file, or makes it (mode 0600) holding `fresh`; a key written by another
/// process at the same moment wins, and is read back.
fn read_or_create_key_file(path: &std::path::Path, fresh: &[u8]) -> Result<Vec<u8>> {
    let unreadable =
        |e: std::io::Error| Error::Unavailable(format!("cannot read the signing key {}: {e}", path.display()));
    match std::fs::read_to_string(path) {
        Ok(text) => return decode_key(path, &text),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(unreadable(e)),
        Err(_) => {}
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(unreadable)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            use std::io::Write as _;
            file.write_all(format!("{}\n", URL_SAFE_NO_PAD.encode(fresh)).as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| Error::Unavailable(format!("cannot write the signing key {}: {e}", path.display())))?;
            Ok(fresh.to_vec())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            decode_key(path, &std::fs::read_to_string(path).map_err(unreadable)?)
        }
        Err(e) => Err(Error::Unavailable(format!("cannot create the signing key {}: {e}", path.display()))),
    }
}

fn decode_key(path: &std::path::Path, text: &str) -> Result<Vec<u8>> {
    let bytes = URL_SAFE_NO_PAD
        .decode(text.trim().as_bytes())
        .map_err(|_| Error::Invalid(format!("the signing key {} is not base64url text", path.display())))?;
    if bytes.len() < 32 {
        return Err(Error::Invalid(format!(
            "the signing key {} is too short ({} bytes; at least 32)",
            path.display(),
            bytes.len()
        )));
    }
    #[cfg(unix)]
    if let Ok(metadata) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt as _;
        if metadata.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "the signing key is readable by other users; chmod 600 it");
        }
    }
    Ok(bytes)
}

/// Writes a new random signing key to `path` (mode 0600, replacing the old one atomically).
pub fn write_new_signing_key(path: &std::path::Path) -> Result<()> {
    let fresh = random_bytes()?;
    let tmp = path.with_extension("key.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let failed =
        |e: std::io::Error| Error::Unavailable(format!("cannot write the signing key {}: {e}", path.display()));
    let mut file = options.open(&tmp).map_err(failed)?;
    use std::io::Write as _;
    file.write_all(format!("{}\n", URL_SAFE_NO_PAD.encode(fresh)).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(failed)?;
    std::fs::rename(&tmp, path).map_err(failed)?;
    Ok(())
}

fn random_bytes() -> Result<[u8; 32]> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::Unavailable("the system random generator failed".into()))?;
    Ok(bytes)
}

/// What opening the signing key found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyChange {
    /// The key is the one in use before.
    Same,
    /// The first key (a new data directory, or one whose key moved out of the store).
    First,
    /// A different key than before: sessions were ended, links in sent mail no longer work.
    Replaced {
        /// Sessions ended.
        sessions_ended: u64,
    },
}

fn days_since_epoch(now: DateTime<Utc>) -> u32 {
    (now.date_naive() - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days().clamp(0, u32::MAX as i64) as u32
}

impl Library {
    fn accounts(&self) -> &dyn AccountStore {
        &self.store
    }

    /// The signing key, read (or made) on first use; see [`Library::open_signing_key`].
    fn signing_key(&self) -> Result<&hmac::Key> {
        if let Some(key) = self.signing_key.get() {
            return Ok(key);
        }
        self.open_signing_key()?;
        Ok(self.signing_key.get().expect("opened just now"))
    }

    /// Where the signing key is kept.
    pub fn signing_key_path(&self) -> std::path::PathBuf {
        self.signing_key_file.clone().unwrap_or_else(|| self.data_dir.join(SIGNING_KEY_FILE))
    }

    /// Reads the signing key file (making it on first use, from the key older versions kept in the
    /// store if there is one, which is then erased from the store) and compares it with the key in
    /// use before: a different key ends every session, since their forms' tokens and the links in
    /// mail already sent were signed with the old one.
    pub fn open_signing_key(&self) -> Result<KeyChange> {
        let path = self.signing_key_path();
        let store = self.accounts();
        let legacy = store.setting(LEGACY_SIGNING_KEY_SETTING)?;
        let fresh = match legacy.as_deref().map(|text| URL_SAFE_NO_PAD.decode(text.as_bytes())) {
            Some(Ok(bytes)) if bytes.len() >= 32 => bytes,
            _ => random_bytes()?.to_vec(),
        };
        let bytes = read_or_create_key_file(&path, &fresh)?;
        if legacy.is_some() {
            store.delete_setting(LEGACY_SIGNING_KEY_SETTING)?;
            tracing::info!(path = %path.display(), "moved the signing key out of the store");
        }
        let fingerprint = URL_SAFE_NO_PAD.encode(&sha256(&[b"fingerprint:".as_slice(), &bytes].concat())[..12]);
        let change = match store.setting(SIGNING_KEY_FINGERPRINT_SETTING)? {
            Some(known) if known == fingerprint => KeyChange::Same,
            None => KeyChange::First,
            Some(_) => {
                let sessions_ended = store.end_all_sessions()?;
                tracing::warn!(
                    sessions_ended,
                    "the signing key changed: every session ended, and unsubscribe and preference links in mail already sent no longer work"
                );
                KeyChange::Replaced { sessions_ended }
            }
        };
        if change != KeyChange::Same {
            store.put_setting(SIGNING_KEY_FINGERPRINT_SETTING, &fingerprint)?;
        }
        let _ = self.signing_key.set(hmac::Key::new(hmac::HMAC_SHA256, &bytes));
        Ok(change)
    }

    /// Replaces the signing key with a new random one and ends every session: links in mail
    /// already sent (unsubscribe, preferences) and sign-in links not yet used stop working.
    pub fn rotate_signing_key(&mut self) -> Result<KeyChange> {
        write_new_signing_key(&self.signing_key_path())?;
        self.signing_key = SigningKey::default();
        self.open_signing_key()
    }

    /// The token a queued mail's link carries.
    pub(crate) fn link_token(&self, secret: &LinkSecret) -> Result<Option<String>> {
        match (&secret.nonce, &secret.token) {
            (Some(nonce), _) => {
                let tag = hmac::sign(self.signing_key()?, format!("mail-link:{nonce}").as_bytes());
                Ok(Some(URL_SAFE_NO_PAD.encode(tag.as_ref())))
            }
            (None, token) => Ok(token.clone()),
        }
    }

    /// The checks every request for mail passes before anything is queued: the rate limits (for
    /// the client's network and for the address, its case folded), and that mail to the address
    /// has not bounced.
    pub fn admit_mail_request(&self, email: &EmailAddress, client: std::net::IpAddr, now: DateTime<Utc>) -> Result<()> {
        let store = self.accounts();
        if !store.rate_limit(&limit_key("client", &client_network(client)), REQUESTS_PER_CLIENT_PER_HOUR, 3600, now)? {
            return Err(Error::RateLimited("too many requests from your network; try again in an hour".into()));
        }
        let folded = email.as_str().to_lowercase();
        if !store.rate_limit(&limit_key("address", &folded), MAILS_PER_ADDRESS, ADDRESS_WINDOW_MINUTES * 60, now)? {
            return Err(Error::RateLimited(format!(
                "we sent several links to this address in the last {ADDRESS_WINDOW_MINUTES} minutes; the newest one still works, \
                 so look in your inbox (and the spam folder) — or ask again in {ADDRESS_WINDOW_MINUTES} minutes"
            )));
        }
        if let Some(account) = store.account_by_email(email)?
            && let Some(at) = account.suppressed_at
        {
            return Err(Error::Undeliverable(format!(
                "We cannot send mail to {email}: its mail server refused our mail for good on {} ({}). If the address \
                 works again, ask the site's operator to lift the block.",
                at.format("%Y-%m-%d"),
                account.suppressed_reason.as_deref().unwrap_or("no reason given")
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
        self.accounts().insert_token(&token_hash(&token), account.id, kind, now + lifetime, now)?;
        let kind = match kind {
            TokenPurpose::Confirm => "confirm",
            TokenPurpose::SignIn => "sign_in",
        };
        let key_hash = URL_SAFE_NO_PAD.encode(&token_hash(&nonce)[..12]);
        let message = NewMessage {
            account_id: account.id,
            kind: kind.to_owned(),
            dedupe_key: format!("{kind}:{}:{key_hash}", account.id),
            message_id: format!("<{kind}.{key_hash}@{host}>"),
            recipient: account.email.clone(),
            payload: serde_json::to_string(&payload).expect("payloads serialise"),
            papers: Vec::new(),
        };
        self.accounts().enqueue(&[message], None, now)?;
        Ok(())
    }

    /// The subscribe box: mails a confirmation link (or, to an address already subscribed, a
    /// sign-in link). The caller answers "check your inbox" either way. `client` is the
    /// requester's IP address (for rate limits); `host` names the site in the `Message-ID`.
    pub fn subscribe(
        &self,
        email: &EmailAddress,
        client: std::net::IpAddr,
        host: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.admit_mail_request(email, client, now)?;
        let (account, created) = self.accounts().account_for_email(email, now)?;
        if created {
            tracing::info!(account = account.id, "subscription requested for a new address");
        }
        if account.status == AccountStatus::Active {
            return self.enqueue_token_mail(&account, TokenPurpose::SignIn, host, now);
        }
        self.enqueue_token_mail(&account, TokenPurpose::Confirm, host, now)
    }

    /// "E-mail me a sign-in link": [`Library::admit_mail_request`], then
    /// [`Library::mail_sign_in_link`].
    pub fn request_sign_in(
        &self,
        email: &EmailAddress,
        client: std::net::IpAddr,
        host: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.admit_mail_request(email, client, now)?;
        self.mail_sign_in_link(email, host, now)
    }

    /// Queues a sign-in link to the address if it has an account, and nothing otherwise. The web
    /// app runs this after answering, so that the answer takes as long either way.
    pub fn mail_sign_in_link(&self, email: &EmailAddress, host: &str, now: DateTime<Utc>) -> Result<()> {
        let Some(account) = self.accounts().account_by_email(email)? else { return Ok(()) };
        self.enqueue_token_mail(&account, TokenPurpose::SignIn, host, now)
    }

    /// Whether a confirmation or sign-in link still works (for the page with the button; opening
    /// the link uses nothing, so link scanners confirm nothing).
    pub fn token_works(&self, token: &str, purpose: TokenPurpose, now: DateTime<Utc>) -> Result<bool> {
        if token.len() > 100 {
            return Ok(false);
        }
        Ok(self.accounts().token_is_valid(&token_hash(token), purpose, now)?)
    }

    /// The Confirm button: activates the subscription and signs in. `None` when the link is
    /// expired, used or forged.
    pub fn confirm_subscription(&self, token: &str, now: DateTime<Utc>) -> Result<Option<NewSession>> {
        if token.len() > 100 {
            return Ok(None);
        }
        let Some(account_id) = self.accounts().use_token(&token_hash(token), TokenPurpose::Confirm, now)? else {
            return Ok(None);
        };
        self.accounts().set_status(account_id, AccountStatus::Active, now)?;
        tracing::info!(account = account_id, "subscription confirmed");
        self.start_session(account_id, now).map(Some)
    }

    /// The Sign in button. `None` when the link is expired, used or forged.
    pub fn complete_sign_in(&self, token: &str, now: DateTime<Utc>) -> Result<Option<NewSession>> {
        if token.len() > 100 {
            return Ok(None);
        }
        let Some(account_id) = self.accounts().use_token(&token_hash(token), TokenPurpose::SignIn, now)? else {
            return Ok(None);
        };
        self.start_session(account_id, now).map(Some)
    }

    fn start_session(&self, account_id: i64, now: DateTime<Utc>) -> Result<NewSession> {
        let token = random_secret()?;
        let expires_at = now + Duration::days(SESSION_DAYS);
        self.accounts().create_session(&token_hash(token.expose()), account_id, expires_at, now)?;
        Ok(NewSession { account_id, token, expires_at })
    }

    /// The account of a session cookie, if the session is live.
    pub fn session_account(&self, token: &str, now: DateTime<Utc>) -> Result<Option<Account>> {
        if token.is_empty() || token.len() > 100 {
            return Ok(None);
        }
        match self.accounts().session(&token_hash(token), now)? {
            Some(id) => Ok(self.accounts().account(id)?),
            None => Ok(None),
        }
    }

    /// Ends a session.
    pub fn sign_out(&self, token: &str) -> Result<()> {
        Ok(self.accounts().delete_session(&token_hash(token))?)
    }

    /// The anti-forgery token for forms of a session: derived from the session, so it needs no
    /// storage and dies with the session.
    pub fn form_token(&self, session_token: &str) -> Result<String> {
        let mut input = b"form:".to_vec();
        input.extend(token_hash(session_token));
        Ok(URL_SAFE_NO_PAD.encode(hmac::sign(self.signing_key()?, &input).as_ref()))
    }

    /// Whether a form's anti-forgery token belongs to the session (constant time).
    pub fn form_token_ok(&self, session_token: &str, form_token: &str) -> Result<bool> {
        let Ok(tag) = URL_SAFE_NO_PAD.decode(form_token.as_bytes()) else { return Ok(false) };
        let mut input = b"form:".to_vec();
        input.extend(token_hash(session_token));
        Ok(hmac::verify(self.signing_key()?, &input, &tag).is_ok())
    }

    /// A signed link token for an account.
    pub fn signed_link(&self, account: &Account, purpose: LinkPurpose, now: DateTime<Utc>) -> Result<String> {
        let mut payload = Vec::with_capacity(21 + 32);
        payload.extend(account.id.to_be_bytes());
        payload.push(purpose.code());
        payload.extend(days_since_epoch(now).to_be_bytes());
        payload.extend(&sha256(account.email.as_str().as_bytes())[..8]);
        let tag = hmac::sign(self.signing_key()?, &payload);
        payload.extend(tag.as_ref());
        Ok(URL_SAFE_NO_PAD.encode(payload))
    }

    /// The account a signed link is for, if the signature holds, the purpose matches, it has not
    /// expired and the account (with the same address) still exists.
    pub fn verify_link(&self, token: &str, purpose: LinkPurpose, now: DateTime<Utc>) -> Result<Option<Account>> {
        if token.len() > 200 {
            return Ok(None);
        }
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(token.as_bytes()) else { return Ok(None) };
        if bytes.len() != 21 + 32 {
            return Ok(None);
        }
        let (payload, tag) = bytes.split_at(21);
        if hmac::verify(self.signing_key()?, payload, tag).is_err() || payload[8] != purpose.code() {
            return Ok(None);
        }
        let id = i64::from_be_bytes(payload[0..8].try_into().expect("8 bytes"));
        let issued = u32::from_be_bytes(payload[9..13].try_into().expect("4 bytes"));
        if purpose == LinkPurpose::Manage && days_since_epoch(now).saturating_sub(issued) as i64 > MANAGE_LINK_DAYS {
            return Ok(None);
        }
        let Some(account) = self.accounts().account(id)? else { return Ok(None) };
        if sha256(account.email.as_str().as_bytes())[..8] != payload[13..21] {
            return Ok(None);
        }
        Ok(Some(account))
    }

    /// Unsubscribes the account of a signed link (one click; works again harmlessly). `None` when
    /// the link is not valid.
    pub fn unsubscribe(&self, token: &str, now: DateTime<Utc>) -> Result<Option<Account>> {
        let Some(account) = self.verify_link(token, LinkPurpose::Unsubscribe, now)? else { return Ok(None) };
        if account.status != AccountStatus::Unsubscribed {
            self.accounts().set_status(account.id, AccountStatus::Unsubscribed, now)?;
            tracing::info!(account = account.id, "unsubscribed");
        }
        Ok(self.accounts().account(account.id)?)
    }

    /// Resubscribes a signed-in account that unsubscribed (it confirmed its address before).
    pub fn resubscribe(&self, account_id: i64, now: DateTime<Utc>) -> Result<()> {
        Ok(self.accounts().set_status(account_id, AccountStatus::Active, now)?)
    }

    /// Opens a session from a digest's "manage preferences" link (its page's button: opening the
    /// link itself signs nobody in).
    pub fn manage_session(&self, token: &str, now: DateTime<Utc>) -> Result<Option<NewSession>> {
        let Some(account) = self.verify_link(token, LinkPurpose::Manage, now)? else { return Ok(None) };
        self.start_session(account.id, now).map(Some)
    }

    /// Validates and stores preferences, embedding new saved searches so that digests need no
    /// model call for them.
    pub fn update_preferences(&self, account_id: i64, preferences: Preferences) -> Result<Preferences> {
        let preferences = preferences.validate().map_err(|e| Error::Invalid(e.to_string()))?;
        self.ensure_query_vectors(&preferences.searches)?;
        self.accounts().set_preferences(account_id, &preferences)?;
        Ok(preferences)
    }

    /// Embeds saved searches that have no stored vector yet (nothing when semantic search is off;
    /// digests then match those searches by words only).
    pub(crate) fn ensure_query_vectors(&self, searches: &[String]) -> Result<usize> {
        let Ok(semantic) = self.semantic() else { return Ok(0) };
        let model = semantic.embedder.name();
        let hashes: Vec<i64> = searches.iter().map(|s| query_hash(s)).collect();
        let have: std::collections::HashSet<i64> =
            self.accounts().query_vectors(model, &hashes)?.into_iter().map(|(h, _)| h).collect();
        let missing: Vec<&String> =
            searches.iter().filter(|s| !have.contains(&query_hash(s)) && !query_text(s).is_empty()).collect();
        if missing.is_empty() {
            return Ok(0);
        }
        let mut stored = Vec::with_capacity(missing.len());
        for chunk in missing.chunks(256) {
            let texts: Vec<String> = chunk.iter().map(|s| query_text(s)).collect();
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let vectors = semantic.embedder.embed_queries(&refs)?;
            stored.extend(chunk.iter().map(|s| query_hash(s)).zip(vectors));
        }
        self.accounts().put_query_vectors(model, &stored)?;
        Ok(stored.len())
    }

    /// Saves a paper (or changes its tags) in an account's library.
    pub fn save_paper(&self, account_id: i64, id_text: &str, tags: &[String], now: DateTime<Utc>) -> Result<ArxivId> {
        let id = self.known_paper(id_text)?;
        let mut clean: Vec<String> = Vec::new();
        for tag in tags.iter().flat_map(|t| t.split(',')) {
            let tag = paperboy_domain::text::collapse_whitespace(tag);
            if tag.chars().count() > 40 {
                return Err(Error::Invalid("a tag is at most 40 characters".into()));
            }
            if !tag.is_empty() && !clean.contains(&tag) {
                clean.push(tag);
            }
        }
        if clean.len() > 20 {
            return Err(Error::Invalid("at most 20 tags per paper".into()));
        }
        self.accounts().save_paper(account_id, id, &clean, now)?;
        Ok(id)
    }

    /// Removes a paper from an account's library.
    pub fn unsave_paper(&self, account_id: i64, id_text: &str) -> Result<bool> {
        let id = ArxivId::parse_lenient(id_text).map_err(|e| Error::Invalid(e.to_string()))?.base();
        Ok(self.accounts().unsave_paper(account_id, id)?)
    }

    /// Upvotes a paper (once per account) or takes the upvote back; returns whether it is upvoted now.
    pub fn toggle_upvote(&self, account_id: i64, id_text: &str, now: DateTime<Utc>) -> Result<bool> {
        let id = self.known_paper(id_text)?;
        if self.accounts().upvote(account_id, id, now)? {
            return Ok(true);
        }
        self.accounts().remove_upvote(account_id, id, now)?;
        Ok(false)
    }

    /// Which of these papers the account saved and which it upvoted.
    pub fn marks_of(&self, account_id: i64, papers: &[ArxivId]) -> Result<(Vec<ArxivId>, Vec<ArxivId>)> {
        let saved: std::collections::HashSet<ArxivId> =
            self.accounts().library(account_id)?.into_iter().map(|s| s.paper_id).collect();
        let saved = papers.iter().copied().filter(|p| saved.contains(p)).collect();
        Ok((saved, self.accounts().upvoted(account_id, papers)?))
    }

    /// An account's library with the papers' metadata, newest first.
    pub fn library_entries(&self, account_id: i64) -> Result<Vec<LibraryEntry>> {
        let saved = self.accounts().library(account_id)?;
        let ids: Vec<ArxivId> = saved.iter().map(|s| s.paper_id).collect();
        let mut papers: std::collections::HashMap<ArxivId, paperboy_domain::Paper> =
            self.store.papers(&ids)?.into_iter().map(|s| (s.paper.id, s.paper)).collect();
        Ok(saved.into_iter().map(|saved| LibraryEntry { paper: papers.remove(&saved.paper_id), saved }).collect())
    }

    fn known_paper(&self, id_text: &str) -> Result<ArxivId> {
        let id = ArxivId::parse_lenient(id_text).map_err(|e| Error::Invalid(e.to_string()))?.base();
        if self.store.paper(id)?.is_none() {
            return Err(Error::NotFound(format!("no paper {id}")));
        }
        Ok(id)
    }

    /// Everything kept about an account.
    pub fn export_account(&self, account_id: i64, now: DateTime<Utc>) -> Result<AccountExport> {
        let account = self.accounts().account(account_id)?.ok_or_else(|| Error::NotFound("no such account".into()))?;
        let messages = self
            .accounts()
            .messages_of(account_id, 10_000)?
            .into_iter()
            .map(|m| {
                let papers = match serde_json::from_str::<MailPayload>(&m.payload) {
                    Ok(MailPayload::Digest(digest)) => {
                        digest.items.iter().chain(&digest.trending).map(|e| e.paper.clone()).collect()
                    }
                    _ => Vec::new(),
                };
                ExportedMessage { kind: m.kind, state: m.state, created_at: m.created_at, sent_at: m.sent_at, papers }
            })
            .collect();
        Ok(AccountExport {
            exported_at: now,
            library: self.accounts().library(account_id)?,
            upvotes: self.accounts().upvotes_of(account_id)?,
            messages,
            account,
        })
    }

    /// Deletes an account and everything about it: address, preferences, library, upvotes (the
    /// papers' counts drop), sessions, tokens, messages and what was sent.
    pub fn delete_account(&self, account_id: i64) -> Result<bool> {
        let deleted = self.accounts().delete_account(account_id)?;
        if deleted {
            tracing::info!(account = account_id, "account deleted");
        }
        Ok(deleted)
    }

    /// An operator adds a subscriber (`paperboy subscriber add`): confirmed ones get digests at
    /// once, others are mailed nothing until they confirm through the site. Fails if the address
    /// has an account.
    pub fn add_subscriber(
        &self,
        email: &str,
        confirmed: bool,
        preferences: Preferences,
        now: DateTime<Utc>,
    ) -> Result<Account> {
        let email = EmailAddress::parse(email).map_err(|e| Error::Invalid(e.to_string()))?;
        let preferences = preferences.validate().map_err(|e| Error::Invalid(e.to_string()))?;
        let (account, created) = self.accounts().account_for_email(&email, now)?;
        if !created {
            return Err(Error::Invalid(format!("{email} is already a subscriber (account {})", account.id)));
        }
        self.ensure_query_vectors(&preferences.searches)?;
        self.accounts().set_preferences(account.id, &preferences)?;
        if confirmed {
            self.accounts().set_status(account.id, AccountStatus::Active, now)?;
        }
        self.accounts().account(account.id)?.ok_or_else(|| Error::NotFound("the account vanished".into()))
    }

    /// Adds many subscribers at once (benchmarks, imports): addresses with accounts are skipped.
    pub fn import_subscribers(
        &self,
        subscribers: &[(EmailAddress, bool, Preferences)],
        now: DateTime<Utc>,
    ) -> Result<usize> {
        let subscribers: Vec<(EmailAddress, bool, Preferences)> = subscribers
            .iter()
            .map(|(email, confirmed, preferences)| {
                let preferences =
                    preferences.clone().validate().map_err(|e| Error::Invalid(format!("{email}: {e}")))?;
                Ok((email.clone(), *confirmed, preferences))
            })
            .collect::<Result<_>>()?;
        let mut searches: Vec<String> = subscribers.iter().flat_map(|(_, _, p)| p.searches.iter().cloned()).collect();
        searches.sort();
        searches.dedup();
        self.ensure_query_vectors(&searches)?;
        let rows: Vec<(EmailAddress, AccountStatus, Preferences)> = subscribers
            .iter()
            .map(|(email, confirmed, preferences)| {
                let status = if *confirmed { AccountStatus::Active } else { AccountStatus::Pending };
                (email.clone(), status, preferences.clone())
            })
            .collect();
        Ok(self.accounts().import_accounts(&rows, now)?)
    }

    /// Subscribers by id, after `after_id`.
    pub fn subscribers(&self, after_id: i64, limit: usize) -> Result<Vec<Account>> {
        Ok(self.accounts().accounts(after_id, limit)?)
    }

    /// A subscriber by address or account number.
    pub fn subscriber(&self, who: &str) -> Result<Option<Account>> {
        if let Ok(id) = who.parse::<i64>() {
            return Ok(self.accounts().account(id)?);
        }
        let email = EmailAddress::parse(who).map_err(|e| Error::Invalid(e.to_string()))?;
        Ok(self.accounts().account_by_email(&email)?)
    }

    /// Counts of accounts by status.
    pub fn subscriber_counts(&self) -> Result<Vec<(AccountStatus, u64)>> {
        Ok(self.accounts().count_accounts()?)
    }

    /// How many addresses are suppressed.
    pub fn suppressed_count(&self) -> Result<u64> {
        Ok(self.accounts().count_suppressed()?)
    }

    /// Suppressed subscribers (their mail bounced), by id, after `after_id`.
    pub fn suppressed_subscribers(&self, after_id: i64, limit: usize) -> Result<Vec<Account>> {
        Ok(self.accounts().suppressed_accounts(after_id, limit)?)
    }

    /// Lifts the suppression of an address (an operator who knows it works again). Returns whether
    /// it was suppressed.
    pub fn unsuppress(&self, account_id: i64) -> Result<bool> {
        let lifted = self.accounts().unsuppress(account_id)?;
        if lifted {
            tracing::info!(account = account_id, "suppression lifted");
        }
        Ok(lifted)
    }

    /// Forgets accounts that never confirmed (after [`UNCONFIRMED_DAYS`]) and hold nothing, rate
    /// limit counters whose window is over, and expired tokens and sessions.
    pub fn prune_stale(&self, now: DateTime<Utc>) -> Result<paperboy_store::Pruned> {
        let pruned =
            self.accounts().prune_stale(now - Duration::days(UNCONFIRMED_DAYS), now - Duration::hours(1), now)?;
        tracing::info!(
            unconfirmed_accounts = pruned.unconfirmed_accounts,
            rate_limits = pruned.rate_limits,
            expired_secrets = pruned.expired_secrets,
            "pruned stale rows"
        );
        Ok(pruned)
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

/// The signing key cell a [`Library`] holds.
pub(crate) type SigningKey = OnceLock<hmac::Key>;
