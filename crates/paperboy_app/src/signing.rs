//! Secrets and signatures. Every token is 32 random bytes from the operating system, sent
//! base64url in a link or a cookie; the store keeps only its SHA-256, so a copy of the database
//! signs nobody in. Links in digests that must work without signing in (unsubscribe, manage
//! preferences) are signed instead: HMAC-SHA256 over the account id, the purpose, the day of issue
//! and a hash of the address. A forged or altered link fails; a link for a deleted account fails
//! (ids are never reused, and the address must match).
//!
//! The signing key lives outside the store — a file in the data directory readable by its owner
//! only (`signing.key`, mode 0600), or a file the operator names — so a leaked copy or backup of the
//! database can neither forge links nor derive the sign-in tokens of queued mail (the outbox keeps a
//! nonce; the token is the key's HMAC of it). The store keeps the key's fingerprint: a key that
//! changes (rotated, or replaced by hand) ends every session, and the links in mail already sent
//! stop working; a key file that goes missing is an error, not a silent new key. A running server
//! notices a rotated key within [`KEY_RECHECK`].

use std::{
    path::{Path, PathBuf},
    sync::RwLock,
    time::{Duration as StdDuration, Instant, SystemTime},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, NaiveDate, Utc};
use paperboy_domain::{AccountId, ArxivId};
use paperboy_store::Account;
use ring::{
    digest, hmac,
    rand::{SecureRandom, SystemRandom},
};

use crate::{Error, Library, Result, outbox::LinkSecret};

/// The signing key's file in the data directory, unless the operator names another.
pub const SIGNING_KEY_FILE: &str = "signing.key";
/// How long a "manage preferences" link from a digest works.
pub const MANAGE_LINK_DAYS: i64 = 60;
/// How often a process looks whether the key file changed (another process rotated it).
pub const KEY_RECHECK: StdDuration = StdDuration::from_secs(2);

/// Where the signing key was kept before it moved out of the store (read once, to move it).
const LEGACY_SIGNING_KEY_SETTING: &str = "signing_key";
/// A fingerprint of the signing key in use, to notice when the key changes.
const SIGNING_KEY_FINGERPRINT_SETTING: &str = "signing_key.fingerprint";

/// A secret as handed to a person (in a link or a cookie). `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub(crate) String);

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

/// What a signed link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    /// Unsubscribes (works for as long as the account exists).
    Unsubscribe,
    /// Opens the preferences page (works for [`MANAGE_LINK_DAYS`]).
    Manage,
    /// Opens the "not interested" page of one paper (works for as long as the account exists;
    /// signed together with the paper's id, see [`Library::signed_paper_link`]).
    NotInterested,
}

impl LinkPurpose {
    fn code(self) -> u8 {
        match self {
            LinkPurpose::Unsubscribe => 1,
            LinkPurpose::Manage => 2,
            LinkPurpose::NotInterested => 3,
        }
    }
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

/// The key as read, and the file's state then.
struct LoadedKey {
    key: hmac::Key,
    file: Option<(SystemTime, u64)>,
    checked: Instant,
}

/// The signing key of a [`Library`]: where it is kept, and the key once read.
#[derive(Default)]
pub(crate) struct SigningKey {
    path: Option<PathBuf>,
    loaded: RwLock<Option<LoadedKey>>,
}

pub(crate) fn sha256(bytes: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, bytes).as_ref().to_vec()
}

/// The store's form of a token: the SHA-256 of the text.
pub(crate) fn token_hash(token: &str) -> Vec<u8> {
    sha256(token.as_bytes())
}

pub(crate) fn random_bytes() -> Result<[u8; 32]> {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).map_err(|_| Error::Internal("the system random generator failed".into()))?;
    Ok(bytes)
}

pub(crate) fn random_secret() -> Result<Secret> {
    Ok(Secret(URL_SAFE_NO_PAD.encode(random_bytes()?)))
}

/// Whether two secrets are equal, in time that does not depend on where they differ.
pub fn secrets_equal(a: &str, b: &str) -> bool {
    // Comparing digests keeps the time independent of the inputs' lengths too.
    let (a, b) = (sha256(a.as_bytes()), sha256(b.as_bytes()));
    a.iter().zip(&b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn days_since_epoch(now: DateTime<Utc>) -> u32 {
    (now.date_naive() - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days().clamp(0, u32::MAX as i64) as u32
}

fn key_error(path: &Path, what: &str, err: impl std::fmt::Display) -> Error {
    Error::SigningKey(format!("{what} {}: {err}", path.display()))
}

fn file_state(path: &Path) -> Option<(SystemTime, u64)> {
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.modified().ok()?, metadata.len()))
}

/// Writes `key` to `path` atomically: a complete file (mode 0600) appears under the name, or
/// nothing does. `replace`: over an existing key; otherwise a key written by another process at the
/// same moment wins, and `false` is returned.
fn write_key_file(path: &Path, key: &[u8], replace: bool) -> Result<bool> {
    use std::io::Write as _;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| key_error(parent, "cannot create", e))?;
    }
    let tmp =
        path.with_extension(format!("tmp-{}-{}", std::process::id(), URL_SAFE_NO_PAD.encode(&random_bytes()?[..6])));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options
        .open(&tmp)
        .and_then(|mut file| {
            file.write_all(format!("{}\n", URL_SAFE_NO_PAD.encode(key)).as_bytes()).and(file.sync_all())
        })
        .map_err(|e| key_error(path, "cannot write the signing key", e));
    let placed = written.and_then(|()| match replace {
        true => {
            std::fs::rename(&tmp, path).map(|()| true).map_err(|e| key_error(path, "cannot write the signing key", e))
        }
        // A hard link fails when the name exists: no process ever sees a half-written key.
        false => match std::fs::hard_link(&tmp, path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(key_error(path, "cannot create the signing key", e)),
        },
    });
    let _ = std::fs::remove_file(&tmp);
    placed
}

fn read_key_file(path: &Path) -> Result<Option<Vec<u8>>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(key_error(path, "cannot read the signing key", e)),
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(text.trim().as_bytes())
        .map_err(|_| Error::SigningKey(format!("the signing key {} is not base64url text", path.display())))?;
    if bytes.len() < 32 {
        return Err(Error::SigningKey(format!(
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
    Ok(Some(bytes))
}

/// Writes a new random signing key to `path` (mode 0600, replacing the old one atomically).
pub fn write_new_signing_key(path: &Path) -> Result<()> {
    write_key_file(path, &random_bytes()?, true).map(|_| ())
}

impl SigningKey {
    pub(crate) fn at(path: PathBuf) -> SigningKey {
        SigningKey { path: Some(path), loaded: RwLock::new(None) }
    }
}

impl Library {
    /// Where the signing key is kept.
    pub fn signing_key_path(&self) -> PathBuf {
        self.signing_key.path.clone().unwrap_or_else(|| self.data_dir().join(SIGNING_KEY_FILE))
    }

    /// The signing key: read on first use, and again when its file changes.
    fn signing_key(&self) -> Result<hmac::Key> {
        {
            let loaded = self.signing_key.loaded.read().unwrap_or_else(|p| p.into_inner());
            if let Some(loaded) = loaded.as_ref()
                && loaded.checked.elapsed() < KEY_RECHECK
            {
                return Ok(loaded.key.clone());
            }
        }
        let current = file_state(&self.signing_key_path());
        let unchanged = {
            let mut loaded = self.signing_key.loaded.write().unwrap_or_else(|p| p.into_inner());
            match loaded.as_mut() {
                Some(loaded) if loaded.file == current => {
                    loaded.checked = Instant::now();
                    Some(loaded.key.clone())
                }
                _ => None,
            }
        };
        match unchanged {
            Some(key) => Ok(key),
            None => {
                self.open_signing_key()?;
                let loaded = self.signing_key.loaded.read().unwrap_or_else(|p| p.into_inner());
                Ok(loaded.as_ref().expect("opened just now").key.clone())
            }
        }
    }

    /// Reads the signing key file and compares it with the key in use before (its fingerprint is in
    /// the store): a different key ends every session, since their forms' tokens and the links in
    /// mail already sent were signed with the old one. The first time, the file is made — from the
    /// key older versions kept in the store if there is one (then erased from the store), else a
    /// new random key. A store that was used with a key whose file is now missing is an error.
    ///
    /// With a shared store the key must be the one the other nodes use: a different key is an
    /// error (copy the key file from a node), not the end of every session — unless this process
    /// is the one replacing it ([`Library::rotate_signing_key`]).
    pub fn open_signing_key(&self) -> Result<KeyChange> {
        self.load_signing_key(false)
    }

    fn load_signing_key(&self, replacing: bool) -> Result<KeyChange> {
        let path = self.signing_key_path();
        let store = &self.store;
        let legacy = store.setting(LEGACY_SIGNING_KEY_SETTING)?;
        let known = store.setting(SIGNING_KEY_FINGERPRINT_SETTING)?;
        let bytes = match read_key_file(&path)? {
            Some(bytes) => bytes,
            None if known.is_some() && legacy.is_none() => {
                return Err(Error::SigningKey(format!(
                    "the signing key {} is missing, but this store was used with a key: restore the file (or point \
                     PAPERBOY_SIGNING_KEY_FILE at it); `paperboy signing-key rotate` makes a new key and ends every session",
                    path.display()
                )));
            }
            None => {
                let fresh = match legacy.as_deref().map(|text| URL_SAFE_NO_PAD.decode(text.as_bytes())) {
                    Some(Ok(bytes)) if bytes.len() >= 32 => bytes,
                    _ => random_bytes()?.to_vec(),
                };
                write_key_file(&path, &fresh, false)?;
                // Another process may have written it at the same moment: the file is the key.
                read_key_file(&path)?.ok_or_else(|| Error::SigningKey(format!("{} vanished", path.display())))?
            }
        };
        let fingerprint =
            |key: &[u8]| URL_SAFE_NO_PAD.encode(&sha256(&[b"fingerprint:".as_slice(), key].concat())[..12]);
        let in_use = fingerprint(&bytes);
        // The key links were signed with so far: the fingerprint's, or the one an older version
        // kept in the store.
        let before = known.or_else(|| {
            legacy.as_deref().and_then(|text| URL_SAFE_NO_PAD.decode(text.as_bytes()).ok()).map(|key| fingerprint(&key))
        });
        let change = match before {
            Some(before) if before == in_use => KeyChange::Same,
            None => KeyChange::First,
            Some(_) if store.shared() && !replacing => {
                return Err(Error::SigningKey(format!(
                    "the signing key {} is not the one the other nodes of this cluster use: copy the key file \
                     from a running node (or point PAPERBOY_SIGNING_KEY_FILE at the shared one); \
                     `paperboy signing-key rotate` replaces the cluster's key and ends every session",
                    path.display()
                )));
            }
            Some(_) => {
                let sessions_ended = store.end_all_sessions()?;
                tracing::warn!(
                    sessions_ended,
                    "the signing key changed: every session ended, and unsubscribe and preference links in mail already sent no longer work"
                );
                KeyChange::Replaced { sessions_ended }
            }
        };
        if store.setting(SIGNING_KEY_FINGERPRINT_SETTING)?.as_deref() != Some(in_use.as_str()) {
            store.put_setting(SIGNING_KEY_FINGERPRINT_SETTING, &in_use)?;
        }
        if legacy.is_some() {
            store.delete_setting(LEGACY_SIGNING_KEY_SETTING)?;
            tracing::info!(path = %path.display(), "moved the signing key out of the store");
        }
        let loaded = LoadedKey {
            key: hmac::Key::new(hmac::HMAC_SHA256, &bytes),
            file: file_state(&path),
            checked: Instant::now(),
        };
        *self.signing_key.loaded.write().unwrap_or_else(|p| p.into_inner()) = Some(loaded);
        Ok(change)
    }

    /// Replaces the signing key with a new random one and ends every session: links in mail
    /// already sent (unsubscribe, preferences) and sign-in links not yet used stop working. Other
    /// processes (a running server) take the new key within [`KEY_RECHECK`].
    pub fn rotate_signing_key(&self) -> Result<KeyChange> {
        write_new_signing_key(&self.signing_key_path())?;
        self.load_signing_key(true)
    }

    /// The token a queued mail's link carries.
    pub(crate) fn link_token(&self, secret: &LinkSecret) -> Result<Option<String>> {
        match (&secret.nonce, &secret.token) {
            (Some(nonce), _) => {
                let tag = hmac::sign(&self.signing_key()?, format!("mail-link:{nonce}").as_bytes());
                Ok(Some(URL_SAFE_NO_PAD.encode(tag.as_ref())))
            }
            (None, token) => Ok(token.clone()),
        }
    }

    /// The anti-forgery token for forms of a session: derived from the session, so it needs no
    /// storage and dies with the session.
    pub fn form_token(&self, session_token: &str) -> Result<String> {
        let mut input = b"form:".to_vec();
        input.extend(token_hash(session_token));
        Ok(URL_SAFE_NO_PAD.encode(hmac::sign(&self.signing_key()?, &input).as_ref()))
    }

    /// Whether a form's anti-forgery token belongs to the session (constant time).
    pub fn form_token_ok(&self, session_token: &str, form_token: &str) -> Result<bool> {
        let Ok(tag) = URL_SAFE_NO_PAD.decode(form_token.as_bytes()) else { return Ok(false) };
        let mut input = b"form:".to_vec();
        input.extend(token_hash(session_token));
        Ok(hmac::verify(&self.signing_key()?, &input, &tag).is_ok())
    }

    /// A signed link token for an account.
    pub fn signed_link(&self, account: &Account, purpose: LinkPurpose, now: DateTime<Utc>) -> Result<String> {
        self.sign_link(account, purpose, b"", now)
    }

    /// A signed "not interested" link token for an account and one paper: the paper's id (which
    /// travels beside the token, in the URL) is signed with it, so the token works for that paper
    /// only.
    pub fn signed_paper_link(&self, account: &Account, paper: ArxivId, now: DateTime<Utc>) -> Result<String> {
        self.sign_link(account, LinkPurpose::NotInterested, paper.base().to_string().as_bytes(), now)
    }

    /// The account a "not interested" link for `paper` is for, if it holds (see
    /// [`Library::verify_link`]).
    pub fn verify_paper_link(&self, token: &str, paper: ArxivId, now: DateTime<Utc>) -> Result<Option<Account>> {
        self.verify_signed(token, LinkPurpose::NotInterested, paper.base().to_string().as_bytes(), now)
    }

    /// The token: the account, the purpose, the day, a fingerprint of the address, then the HMAC
    /// of those and of `signed_with` (which is not in the token).
    fn sign_link(
        &self,
        account: &Account,
        purpose: LinkPurpose,
        signed_with: &[u8],
        now: DateTime<Utc>,
    ) -> Result<String> {
        let mut payload = Vec::with_capacity(21 + 32);
        payload.extend(account.id.0.to_be_bytes());
        payload.push(purpose.code());
        payload.extend(days_since_epoch(now).to_be_bytes());
        payload.extend(&sha256(account.email.as_str().as_bytes())[..8]);
        let mut signed = payload.clone();
        signed.extend(signed_with);
        let tag = hmac::sign(&self.signing_key()?, &signed);
        payload.extend(tag.as_ref());
        Ok(URL_SAFE_NO_PAD.encode(payload))
    }

    /// The account a signed link is for, if the signature holds, the purpose matches, it has not
    /// expired and the account (with the same address) still exists.
    pub fn verify_link(&self, token: &str, purpose: LinkPurpose, now: DateTime<Utc>) -> Result<Option<Account>> {
        self.verify_signed(token, purpose, b"", now)
    }

    fn verify_signed(
        &self,
        token: &str,
        purpose: LinkPurpose,
        signed_with: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Option<Account>> {
        if token.len() > 200 {
            return Ok(None);
        }
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(token.as_bytes()) else { return Ok(None) };
        if bytes.len() != 21 + 32 {
            return Ok(None);
        }
        let (payload, tag) = bytes.split_at(21);
        let mut signed = payload.to_vec();
        signed.extend(signed_with);
        if hmac::verify(&self.signing_key()?, &signed, tag).is_err() || payload[8] != purpose.code() {
            return Ok(None);
        }
        let id = AccountId(i64::from_be_bytes(payload[0..8].try_into().expect("8 bytes")));
        let issued = u32::from_be_bytes(payload[9..13].try_into().expect("4 bytes"));
        if purpose == LinkPurpose::Manage && days_since_epoch(now).saturating_sub(issued) as i64 > MANAGE_LINK_DAYS {
            return Ok(None);
        }
        let Some(account) = self.store.account(id)? else { return Ok(None) };
        if sha256(account.email.as_str().as_bytes())[..8] != payload[13..21] {
            return Ok(None);
        }
        Ok(Some(account))
    }
}
