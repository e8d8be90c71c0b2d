//! Accounts against an attacker: rate limits that cannot be dodged or turned against the owner,
//! a signing key that a copy of the database does not give away, and mail that is not silently
//! dropped for an address that bounced.

use std::{collections::HashMap, net::IpAddr, path::Path};

use chrono::{DateTime, Duration, Utc};
use paperboy_app::{
    Error, Library, NoProgress,
    accounts::{ADDRESS_WINDOW_MINUTES, MAILS_PER_ADDRESS, REQUESTS_PER_CLIENT_PER_HOUR},
    delivery::MailSettings,
    signing::{KeyChange, LinkPurpose},
};
use paperboy_domain::{EmailAddress, Preferences};
use paperboy_store::{Delivery, SqliteStore, TokenPurpose, prelude::*};

const HOST: &str = "papers.example.org";

fn open(dir: &Path) -> Library {
    Library::open(dir, &NoProgress).unwrap()
}

fn store(dir: &Path) -> SqliteStore {
    SqliteStore::open(&dir.join("paperboy.sqlite3")).unwrap()
}

fn email(text: &str) -> EmailAddress {
    EmailAddress::parse(text).unwrap()
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn limited(result: paperboy_app::Result<()>) -> bool {
    matches!(result, Err(Error::RateLimited(_)))
}

/// The link tokens of the mails queued for an account (rendered as the sender would).
fn queued_tokens(
    library: &Library,
    dir: &Path,
    account_id: paperboy_domain::AccountId,
    now: DateTime<Utc>,
) -> Vec<String> {
    let settings = MailSettings::new(&format!("https://{HOST}"), None, None).unwrap();
    store(dir)
        .messages_of(account_id, 100)
        .unwrap()
        .iter()
        .filter_map(|message| {
            let mail = library.render_message(message, &settings, &mut HashMap::new(), now).unwrap().ok()?;
            let raw = mail.formatted();
            let parsed = mail_parser::MessageParser::default().parse(&raw)?;
            let text = parsed.body_text(0)?.into_owned();
            let at = text.find("token=")?;
            Some(
                text[at + 6..].split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_')).next()?.to_owned(),
            )
        })
        .collect()
}

/// Subscribes `address` (from a documentation address) and returns its account.
fn subscribed(library: &Library, address: &EmailAddress, now: DateTime<Utc>) -> paperboy_app::Account {
    library.subscribe(address, ip("198.51.100.1"), HOST, now).unwrap();
    library.subscriber(&paperboy_app::accounts::Subscriber::Email(address.clone())).unwrap().unwrap()
}

#[test]
fn rate_limits_fold_the_address_case_and_count_an_ipv6_64_as_one_client() {
    let dir = tempfile::tempdir().unwrap();
    let library = open(dir.path());
    let now = Utc::now();
    // One address, however its case is written: a victim's address cannot be flooded by varying it.
    for (i, text) in ["Victim@example.org", "victim@example.org", "VICTIM@example.org"].iter().enumerate() {
        assert!(library.subscribe(&email(text), ip(&format!("198.51.100.{i}")), HOST, now).is_ok(), "{text}");
    }
    assert!(limited(library.subscribe(&email("vIcTiM@example.org"), ip("198.51.100.9"), HOST, now)));

    // One IPv6 host holds a whole /64: rotating through it is one client.
    for i in 0..REQUESTS_PER_CLIENT_PER_HOUR {
        let client = ip(&format!("2001:db8:1:2::{:x}", i + 1));
        assert!(library.subscribe(&email(&format!("v6-{i}@example.org")), client, HOST, now).is_ok(), "{i}");
    }
    assert!(limited(library.subscribe(&email("v6-x@example.org"), ip("2001:db8:1:2:ffff::1"), HOST, now)));
    assert!(library.subscribe(&email("v6-y@example.org"), ip("2001:db8:1:3::1"), HOST, now).is_ok(), "another /64");

    // An IPv4-mapped IPv6 address is the IPv4 client it maps.
    for i in 0..REQUESTS_PER_CLIENT_PER_HOUR {
        let client = if i % 2 == 0 { ip("203.0.113.5") } else { ip("::ffff:203.0.113.5") };
        assert!(library.subscribe(&email(&format!("v4-{i}@example.org")), client, HOST, now).is_ok(), "{i}");
    }
    assert!(limited(library.subscribe(&email("v4-x@example.org"), ip("::ffff:203.0.113.5"), HOST, now)));
}

#[test]
fn a_flood_of_sign_in_requests_never_locks_the_owner_out() {
    let dir = tempfile::tempdir().unwrap();
    let library = open(dir.path());
    let start = Utc::now();
    let owner = email("owner@example.org");
    let account = library.add_subscriber(&owner, true, Preferences::default(), start).unwrap();
    // An attacker asks for a sign-in link for the owner's address every minute, from a new address
    // each time; the owner tries each minute too. Whenever the owner is refused, a link sent to
    // their inbox in the last minutes must still work.
    let mut refused = 0;
    for minute in 0..90 {
        let now = start + Duration::minutes(minute);
        let attacker = ip(&format!("192.0.2.{}", minute % 250));
        let _ = library.request_sign_in(&owner, attacker, HOST, now);
        let mine = ip(&format!("198.51.100.{}", minute % 250));
        if limited(library.request_sign_in(&owner, mine, HOST, now)) {
            refused += 1;
            let live = queued_tokens(&library, dir.path(), account.id, now)
                .iter()
                .any(|token| library.token_works(token, TokenPurpose::SignIn, now).unwrap());
            assert!(live, "minute {minute}: refused, and no link in the inbox still works");
        }
    }
    assert!(refused > 0, "the flood reached the limit ({MAILS_PER_ADDRESS} per {ADDRESS_WINDOW_MINUTES} minutes)");
}

#[test]
fn an_address_that_bounced_is_told_that_no_mail_can_be_sent() {
    let dir = tempfile::tempdir().unwrap();
    let library = open(dir.path());
    let now = Utc::now();
    let address = email("gone@example.org");
    let account = library.add_subscriber(&address, true, Preferences::default(), now).unwrap();
    // A digest to it bounced: 550 5.1.1.
    let store = store(dir.path());
    store
        .enqueue(
            &[paperboy_store::NewMessage {
                account_id: account.id,
                kind: "digest".into(),
                dedupe_key: "digest:x".into(),
                message_id: "<x@example.org>".into(),
                recipient: address.clone(),
                payload: "{}".into(),
                papers: vec![],
            }],
            None,
            now,
        )
        .unwrap();
    let claimed = store.claim_due(1, now, now - Duration::hours(1)).unwrap();
    let bounce = Delivery::Failed { error: "550 5.1.1 no such user".into(), suppress_after: Some(1) };
    store.record_delivery(claimed[0].claim(), &bounce, now).unwrap();

    for asked in [
        library.request_sign_in(&address, ip("198.51.100.1"), HOST, now),
        library.subscribe(&address, ip("198.51.100.2"), HOST, now),
    ] {
        match asked {
            // The person is told that no mail can go there; the server's reply is for the operator.
            Err(Error::Undeliverable(message)) => {
                assert!(message.contains("cannot send mail") && !message.contains("5.1.1"), "{message}")
            }
            other => panic!("a sign-in link for a bounced address is not silently dropped: {other:?}"),
        }
    }
    assert!(library.unsuppress(account.id).unwrap());
    assert!(library.request_sign_in(&address, ip("198.51.100.3"), HOST, now).is_ok());
}

#[test]
fn a_copy_of_the_database_neither_forges_links_nor_holds_a_usable_token() {
    let dir = tempfile::tempdir().unwrap();
    let library = open(dir.path());
    let now = Utc::now();
    let address = email("reader@example.org");
    let account = subscribed(&library, &address, now);
    let link = library.signed_link(&account, LinkPurpose::Unsubscribe, now).unwrap();

    // The key is a file of its own, readable by its owner only, and nowhere in the store.
    let key_file = dir.path().join("signing.key");
    assert!(key_file.is_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let database = std::fs::read(dir.path().join("paperboy.sqlite3")).unwrap();
    let wal = std::fs::read(dir.path().join("paperboy.sqlite3-wal")).unwrap_or_default();
    let key_text = std::fs::read_to_string(&key_file).unwrap();
    for bytes in [&database, &wal] {
        assert!(!contains(bytes, key_text.trim().as_bytes()), "the key is not in the store");
    }
    // The queued confirmation mail holds a nonce, not the token its link carries.
    let tokens = queued_tokens(&library, dir.path(), account.id, now);
    assert_eq!(tokens.len(), 1);
    assert!(library.token_works(&tokens[0], TokenPurpose::Confirm, now).unwrap());
    let payloads: Vec<String> =
        store(dir.path()).messages_of(account.id, 10).unwrap().into_iter().map(|m| m.payload).collect();
    assert!(payloads[0].contains("nonce") && !payloads[0].contains(&tokens[0]), "{payloads:?}");
    drop(library);

    // A copy of the database elsewhere, without the key file: the link does not verify there.
    let copy = tempfile::tempdir().unwrap();
    std::fs::copy(dir.path().join("paperboy.sqlite3"), copy.path().join("paperboy.sqlite3")).unwrap();
    if !wal.is_empty() {
        std::fs::write(copy.path().join("paperboy.sqlite3-wal"), &wal).unwrap();
    }
    // The copy knows a key was in use: it refuses to work without it rather than make a new one.
    let stolen = open(copy.path());
    let verified = stolen.verify_link(&link, LinkPurpose::Unsubscribe, now);
    assert!(matches!(verified, Err(paperboy_app::Error::SigningKey(_))), "{verified:?}");
    // Even given a key of its own, it cannot forge the link or derive the queued mail's token.
    stolen.rotate_signing_key().unwrap();
    assert!(stolen.verify_link(&link, LinkPurpose::Unsubscribe, now).unwrap().is_none());
    assert!(queued_tokens(&stolen, copy.path(), account.id, now).iter().all(|t| *t != tokens[0]));
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

#[test]
fn a_key_kept_in_the_store_by_an_older_version_moves_out_and_its_links_still_work() {
    let dir = tempfile::tempdir().unwrap();
    let legacy = "c2lnbmluZy1rZXktb2YtYW4tb2xkZXItcGFwZXJib3ktMDEyMzQ1Njc4OQ";
    store(dir.path()).put_setting("signing_key", legacy).unwrap();
    let library = open(dir.path());
    assert_eq!(library.open_signing_key().unwrap(), KeyChange::Same, "the same key, in a file now");
    assert_eq!(std::fs::read_to_string(dir.path().join("signing.key")).unwrap().trim(), legacy);
    assert_eq!(store(dir.path()).setting("signing_key").unwrap(), None, "erased from the store");
}

#[test]
fn rotating_the_key_ends_sessions_and_links_in_sent_mail() {
    let dir = tempfile::tempdir().unwrap();
    let library = open(dir.path());
    let now = Utc::now();
    let address = email("reader@example.org");
    let account = subscribed(&library, &address, now);
    let token = queued_tokens(&library, dir.path(), account.id, now).pop().unwrap();
    let session = library.confirm_subscription(&token, now).unwrap().expect("the link confirms");
    assert!(library.session_account(session.token.expose(), now).unwrap().is_some());
    let link = library.signed_link(&account, LinkPurpose::Unsubscribe, now).unwrap();
    let form = library.form_token(session.token.expose()).unwrap();

    let change = library.rotate_signing_key().unwrap();
    assert_eq!(change, KeyChange::Replaced { sessions_ended: 1 });
    assert!(library.session_account(session.token.expose(), now).unwrap().is_none(), "the session ended");
    assert!(library.verify_link(&link, LinkPurpose::Unsubscribe, now).unwrap().is_none(), "old links died");
    assert!(!library.form_token_ok(session.token.expose(), &form).unwrap());
    // A key replaced by hand is noticed when the library next opens.
    drop(library);
    paperboy_app::signing::write_new_signing_key(&dir.path().join("signing.key")).unwrap();
    assert!(matches!(open(dir.path()).open_signing_key().unwrap(), KeyChange::Replaced { .. }));
}
