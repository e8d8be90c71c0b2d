//! Accounts, libraries, the outbox and settings, on every backend.

use chrono::{DateTime, Duration, DurationRound, NaiveDate, TimeZone, Utc};
use paperboy_domain::{AccountId, ArxivId, EmailAddress};
use paperboy_store::{
    AccountStatus, ApiToken, Delivery, FeedbackKind, NewMessage, Pruned, Store, TokenPurpose, TokenScope,
};

fn email(text: &str) -> EmailAddress {
    EmailAddress::parse(text).unwrap()
}

/// A digest to `account` under `key`, listing `papers`.
fn digest(account: &paperboy_store::Account, key: &str, papers: &[&str]) -> NewMessage {
    NewMessage {
        account_id: account.id,
        kind: "digest".into(),
        dedupe_key: key.into(),
        message_id: format!("<{key}@x>"),
        recipient: account.email.clone(),
        payload: "{}".into(),
        papers: papers.iter().map(|p| ArxivId::parse(p).unwrap()).collect(),
    }
}

pub(crate) fn an_address_gets_one_account(store: &dyn Store) {
    let now = Utc::now();
    let (first, created) = store.account_for_email(&email("a@example.org"), now).unwrap();
    assert!(created);
    assert_eq!(first.status, AccountStatus::Pending);
    let (again, created) = store.account_for_email(&email("a@example.org"), now).unwrap();
    assert!(!created);
    assert_eq!(again.id, first.id);
}

pub(crate) fn tokens_work_once_and_expire(store: &dyn Store) {
    let now = Utc::now();
    let (account, _) = store.account_for_email(&email("a@example.org"), now).unwrap();
    store.insert_token(b"hash-1", account.id, TokenPurpose::Confirm, now + Duration::hours(1), now).unwrap();
    assert!(!store.token_is_valid(b"hash-1", TokenPurpose::SignIn, now).unwrap(), "purpose matters");
    assert!(store.token_is_valid(b"hash-1", TokenPurpose::Confirm, now).unwrap());
    assert_eq!(store.use_token(b"hash-1", TokenPurpose::Confirm, now).unwrap(), Some(account.id));
    assert_eq!(store.use_token(b"hash-1", TokenPurpose::Confirm, now).unwrap(), None, "a replayed token fails");
    store.insert_token(b"hash-2", account.id, TokenPurpose::SignIn, now + Duration::minutes(5), now).unwrap();
    assert_eq!(store.use_token(b"hash-2", TokenPurpose::SignIn, now + Duration::minutes(6)).unwrap(), None, "expired");
}

pub(crate) fn deleting_an_account_removes_everything_about_it(store: &dyn Store) {
    let now = Utc::now();
    let (account, _) = store.account_for_email(&email("a@example.org"), now).unwrap();
    let paper = ArxivId::parse("2401.00001").unwrap();
    store.save_paper(account.id, paper, &["to-read".into()], now).unwrap();
    assert!(store.upvote(account.id, paper, now).unwrap());
    assert!(!store.upvote(account.id, paper, now).unwrap(), "one upvote per account");
    assert_eq!(store.signals(&[paper]).unwrap()[0].upvotes, 1);
    store.create_session(b"s", account.id, now + Duration::days(1), now).unwrap();
    store.insert_api_token(&api_token("t1", account.id, TokenScope::Write, now), b"token-hash").unwrap();
    store.set_feedback(account.id, paper, FeedbackKind::NotInterested, now).unwrap();
    assert!(store.delete_account(account.id).unwrap());
    assert!(store.feedback_on(&[paper]).unwrap().is_empty(), "what it said of papers goes with it");
    assert_eq!(store.api_token_by_hash(b"token-hash").unwrap(), None, "its tokens die with it");
    assert!(store.account(account.id).unwrap().is_none());
    assert!(store.library(account.id).unwrap().is_empty());
    assert_eq!(store.session(b"s", now).unwrap(), None);
    assert!(store.signals(&[paper]).unwrap().is_empty(), "its upvote no longer counts");
}

pub(crate) fn the_outbox_enqueues_once_per_key_and_tracks_delivery(store: &dyn Store) {
    let now = Utc::now();
    let (account, _) = store.account_for_email(&email("a@example.org"), now).unwrap();
    let paper = ArxivId::parse("2401.00001").unwrap();
    let message = NewMessage {
        account_id: account.id,
        kind: "digest".into(),
        dedupe_key: format!("digest:{}:2024-01-02", account.id),
        message_id: "<m@x>".into(),
        recipient: account.email.clone(),
        payload: "{}".into(),
        papers: vec![paper],
    };
    let day = NaiveDate::from_ymd_opt(2024, 1, 2);
    assert_eq!(store.enqueue(std::slice::from_ref(&message), day, now).unwrap(), 1);
    assert_eq!(store.enqueue(&[message], day, now).unwrap(), 0, "the same period is not queued twice");
    assert_eq!(store.sent_papers(&[paper]).unwrap(), [(account.id, paper)]);
    assert_eq!(store.account(account.id).unwrap().unwrap().last_digest_on, day);

    let claimed = store.claim_due(10, now, now - Duration::hours(1)).unwrap();
    assert_eq!((claimed.len(), claimed[0].attempts), (1, 1));
    assert!(
        store.claim_due(10, now, now - Duration::hours(1)).unwrap().is_empty(),
        "a claimed message is not claimed twice"
    );
    store
        .record_delivery(
            claimed[0].claim(),
            &Delivery::Retry { error: "451".into(), at: now + Duration::seconds(30) },
            now,
        )
        .unwrap();
    assert!(store.claim_due(10, now, now - Duration::hours(1)).unwrap().is_empty(), "not before its retry time");
    let again =
        store.claim_due(10, now + Duration::seconds(31), now + Duration::seconds(31) - Duration::hours(1)).unwrap();
    assert_eq!(again[0].attempts, 2);
    store
        .record_delivery(
            again[0].claim(),
            &Delivery::Failed { error: "550 5.1.1 no such user".into(), suppress_after: Some(1) },
            now,
        )
        .unwrap();
    let account = store.account(account.id).unwrap().unwrap();
    assert!(account.suppressed_at.is_some(), "a bounce suppresses the address");
    assert_eq!(account.suppressed_reason.as_deref(), Some("550 5.1.1 no such user"), "and says why");
    assert!(store.active_accounts(AccountId(0), 10).unwrap().is_empty());
    assert_eq!(store.suppressed_accounts(AccountId(0), 10).unwrap().len(), 1);
    assert!(store.unsuppress(account.id).unwrap(), "an operator lifts it");
    let account = store.account(account.id).unwrap().unwrap();
    assert_eq!((account.suppressed_at, account.suppressed_reason, account.hard_failures), (None, None, 0));
    assert!(store.suppressed_accounts(AccountId(0), 10).unwrap().is_empty());
    assert!(!store.unsuppress(account.id).unwrap(), "nothing to lift twice");
}

pub(crate) fn failures_that_are_not_the_addresss_fault_do_not_count_against_it(store: &dyn Store) {
    let now = Utc::now();
    let (account, _) = store.account_for_email(&email("a@example.org"), now).unwrap();
    store.set_status(account.id, AccountStatus::Active, now).unwrap();
    for key in ["one", "two", "three"] {
        store.enqueue(&[digest(&account, key, &[])], None, now).unwrap();
    }
    let claimed = store.claim_due(10, now, now - Duration::hours(1)).unwrap();
    let content = Delivery::Failed { error: "554 spam".into(), suppress_after: None };
    store.record_delivery(claimed[0].claim(), &content, now).unwrap();
    let account_now = store.account(account.id).unwrap().unwrap();
    assert_eq!((account_now.suppressed_at, account_now.hard_failures), (None, 0));
    // A mailbox that is full twice is not gone; the third time it counts as gone.
    let full = Delivery::Failed { error: "552 5.2.2 mailbox full".into(), suppress_after: Some(3) };
    store.record_delivery(claimed[1].claim(), &full, now).unwrap();
    store.record_delivery(claimed[2].claim(), &full, now).unwrap();
    let account_now = store.account(account.id).unwrap().unwrap();
    assert_eq!((account_now.suppressed_at, account_now.hard_failures), (None, 2));
}

pub(crate) fn stale_rows_are_pruned_and_accounts_holding_something_are_kept(store: &dyn Store) {
    let long_ago = Utc::now() - Duration::days(40);
    let now = Utc::now();
    let (stale, _) = store.account_for_email(&email("stale@example.org"), long_ago).unwrap();
    let (saver, _) = store.account_for_email(&email("saver@example.org"), long_ago).unwrap();
    store.save_paper(saver.id, ArxivId::parse("2401.00001").unwrap(), &[], long_ago).unwrap();
    let (fresh, _) = store.account_for_email(&email("fresh@example.org"), now).unwrap();
    let (active, _) = store.account_for_email(&email("active@example.org"), long_ago).unwrap();
    store.set_status(active.id, AccountStatus::Active, long_ago).unwrap();
    assert!(store.rate_limit("old", 3, 60, long_ago).unwrap());
    assert!(store.rate_limit("new", 3, 60, now).unwrap());
    store.insert_token(b"t", fresh.id, TokenPurpose::SignIn, long_ago + Duration::minutes(30), long_ago).unwrap();
    let pruned = store.prune_stale(now - Duration::days(30), now - Duration::days(1), now).unwrap();
    assert_eq!(pruned, Pruned { unconfirmed_accounts: 1, rate_limits: 1, expired_secrets: 1 });
    assert!(store.account(stale.id).unwrap().is_none());
    for kept in [saver.id, fresh.id, active.id] {
        assert!(store.account(kept).unwrap().is_some(), "account {kept} is kept");
    }
    assert!(!store.rate_limit("new", 1, 60, now).unwrap(), "a live counter is kept");
}

pub(crate) fn old_deliveries_are_forgotten_and_queued_mail_is_kept(store: &dyn Store) {
    let long_ago = Utc::now() - Duration::days(90);
    let now = Utc::now();
    let (account, _) = store.account_for_email(&email("a@example.org"), long_ago).unwrap();
    let message = |key: &str, paper: &str| digest(&account, key, &[paper]);
    let old_sent = ArxivId::parse("2401.00001").unwrap();
    let old_queued = ArxivId::parse("2401.00002").unwrap();
    let recent = ArxivId::parse("2401.00003").unwrap();
    store.enqueue(&[message("old-sent", "2401.00001")], None, long_ago).unwrap();
    let claimed = store.claim_due(10, long_ago, long_ago - Duration::hours(1)).unwrap();
    store.record_delivery(claimed[0].claim(), &Delivery::Sent, long_ago).unwrap();
    store.enqueue(&[message("old-queued", "2401.00002")], None, long_ago).unwrap();
    store.enqueue(&[message("recent", "2401.00003")], None, now).unwrap();
    // The old queued message is being retried (queued again); the recent one went out.
    for m in store.claim_due(10, now, now - Duration::hours(1)).unwrap() {
        let delivery = match m.dedupe_key.as_str() {
            "old-queued" => Delivery::Retry { error: "451".into(), at: now + Duration::hours(1) },
            _ => Delivery::Sent,
        };
        store.record_delivery(m.claim(), &delivery, now).unwrap();
    }

    assert_eq!(store.prune_delivered(now - Duration::days(60)).unwrap(), (1, 1));
    let sent = store.sent_papers(&[old_sent, old_queued, recent]).unwrap();
    assert_eq!(sent, [(account.id, old_queued), (account.id, recent)]);
    assert_eq!(store.messages_of(account.id, 10).unwrap().len(), 2);
    assert_eq!(store.prune_delivered(now - Duration::days(60)).unwrap(), (0, 0), "nothing twice");
}

pub(crate) fn messages_left_sending_by_a_dead_sender_go_back_to_the_queue(store: &dyn Store) {
    let now = Utc::now();
    let (account, _) = store.account_for_email(&email("a@example.org"), now).unwrap();
    store.enqueue(&[digest(&account, "k", &[])], None, now).unwrap();
    assert_eq!(store.claim_due(1, now, now - Duration::hours(1)).unwrap().len(), 1);
    assert_eq!(store.requeue_sending(now + Duration::seconds(1)).unwrap(), 1);
    assert_eq!(store.claim_due(1, now, now - Duration::hours(1)).unwrap().len(), 1);
}

pub(crate) fn rate_limits_count_within_a_window(store: &dyn Store) {
    let now = Utc::now();
    for _ in 0..3 {
        assert!(store.rate_limit("k", 3, 60, now).unwrap());
    }
    assert!(!store.rate_limit("k", 3, 60, now + Duration::seconds(10)).unwrap());
    assert!(store.rate_limit("k", 3, 60, now + Duration::seconds(61)).unwrap(), "a new window");
}

fn api_token(id: &str, account: AccountId, scope: TokenScope, now: DateTime<Utc>) -> ApiToken {
    // Stored times are to the microsecond in PostgreSQL.
    let created_at = now.duration_trunc(Duration::seconds(1)).unwrap();
    ApiToken { id: id.into(), account, name: format!("script {id}"), scope, created_at, last_used_at: None }
}

pub(crate) fn api_tokens_are_found_by_hash_listed_newest_first_and_revoked(store: &dyn Store) {
    let now = Utc::now();
    let (a, _) = store.account_for_email(&email("a@example.org"), now).unwrap();
    let (b, _) = store.account_for_email(&email("b@example.org"), now).unwrap();
    let older = api_token("old", a.id, TokenScope::Read, now - Duration::hours(1));
    let newer = api_token("new", a.id, TokenScope::Write, now);
    store.insert_api_token(&older, b"hash-old").unwrap();
    store.insert_api_token(&newer, b"hash-new").unwrap();
    store.insert_api_token(&api_token("theirs", b.id, TokenScope::Read, now), b"hash-theirs").unwrap();
    assert!(
        store.insert_api_token(&api_token("again", a.id, TokenScope::Read, now), b"hash-old").is_err(),
        "hashes are unique"
    );

    assert_eq!(store.api_tokens(a.id).unwrap(), [newer.clone(), older.clone()]);
    assert_eq!(store.api_token_by_hash(b"hash-new").unwrap(), Some(newer.clone()));
    assert_eq!(store.api_token_by_hash(b"hash-unknown").unwrap(), None);

    // A use is recorded to the minute (a later use in the same minute keeps it; one in a later
    // minute moves it).
    let used = Utc.with_ymd_and_hms(2026, 12, 4, 10, 30, 15).unwrap();
    store.touch_api_token("new", used).unwrap();
    store.touch_api_token("new", used + Duration::seconds(30)).unwrap();
    let minute = Utc.with_ymd_and_hms(2026, 12, 4, 10, 30, 0).unwrap();
    assert_eq!(store.api_token_by_hash(b"hash-new").unwrap().unwrap().last_used_at, Some(minute));
    store.touch_api_token("new", used + Duration::minutes(2)).unwrap();
    assert_eq!(
        store.api_token_by_hash(b"hash-new").unwrap().unwrap().last_used_at,
        Some(minute + Duration::minutes(2))
    );

    // Only its owner revokes a token, and a revoked one is found no more.
    assert!(!store.delete_api_token(b.id, "new").unwrap(), "not theirs");
    assert!(store.delete_api_token(a.id, "new").unwrap());
    assert!(!store.delete_api_token(a.id, "new").unwrap(), "already gone");
    assert_eq!(store.api_token_by_hash(b"hash-new").unwrap(), None);
    assert_eq!(store.api_tokens(a.id).unwrap(), [older]);
}

pub(crate) fn feedback_is_one_word_per_paper_and_can_be_taken_back(store: &dyn Store) {
    let now = Utc::now().duration_trunc(Duration::seconds(1)).unwrap();
    let (a, _) = store.account_for_email(&email("a@example.org"), now).unwrap();
    let (b, _) = store.account_for_email(&email("b@example.org"), now).unwrap();
    let (one, two) = (ArxivId::parse("2401.00001").unwrap(), ArxivId::parse("hep-th/9901001").unwrap());
    store.set_feedback(a.id, one, FeedbackKind::NotInterested, now - Duration::hours(1)).unwrap();
    store.set_feedback(a.id, ArxivId::parse("hep-th/9901001v2").unwrap(), FeedbackKind::MoreLikeThis, now).unwrap();
    store.set_feedback(b.id, one, FeedbackKind::MoreLikeThis, now).unwrap();
    let kinds = |account| -> Vec<(ArxivId, FeedbackKind)> {
        store.feedback(account).unwrap().into_iter().map(|f| (f.paper_id, f.kind)).collect()
    };
    assert_eq!(
        kinds(a.id),
        [(two, FeedbackKind::MoreLikeThis), (one, FeedbackKind::NotInterested)],
        "newest first, versions folded"
    );
    assert_eq!(store.feedback(a.id).unwrap()[0].created_at, now);
    let mut on = store.feedback_on(&[one]).unwrap();
    on.sort_by_key(|(account, _, _)| *account);
    assert_eq!(on, [(a.id, one, FeedbackKind::NotInterested), (b.id, one, FeedbackKind::MoreLikeThis)]);
    // A second word on the same paper replaces the first; taking it back leaves nothing.
    store.set_feedback(a.id, one, FeedbackKind::MoreLikeThis, now).unwrap();
    assert_eq!(kinds(a.id).len(), 2);
    assert!(kinds(a.id).contains(&(one, FeedbackKind::MoreLikeThis)));
    assert!(store.remove_feedback(a.id, one).unwrap());
    assert!(!store.remove_feedback(a.id, one).unwrap());
    assert_eq!(kinds(a.id), [(two, FeedbackKind::MoreLikeThis)]);
    assert_eq!(kinds(b.id), [(one, FeedbackKind::MoreLikeThis)], "another account's word stands");
}
