//! What several processes sharing one store rely on, on every backend: writers that never hide a
//! change from a follower, claims and leases with one holder, limits and counts that hold when
//! callers race, embeddings followed by their own sequence, and a copy that holds everything.

use std::{
    collections::HashSet,
    sync::{
        Barrier,
        atomic::{AtomicBool, Ordering},
    },
};

use chrono::{Duration, NaiveDate, Utc};
use paperboy_domain::{AccountId, ArxivId, EmailAddress, Preferences, Signals};
use paperboy_store::{
    CheckpointUpdate, Delivery, NewMessage, PaperSource, SqliteStore, Store, StoredEmbedding, TokenPurpose, WriteBatch,
    copy,
};

use super::papers::paper;

fn email(text: &str) -> EmailAddress {
    EmailAddress::parse(text).unwrap()
}

fn id(text: &str) -> ArxivId {
    ArxivId::parse(text).unwrap()
}

/// Four writers commit batches as fast as they can while a follower reads `changed_since` its
/// last sequence number: the follower must see every paper. (With numbers from a plain sequence,
/// a batch that takes its numbers first and commits last is skipped.)
pub(crate) fn concurrent_writers_never_hide_a_change_from_a_follower(store: &dyn Store) {
    const WRITERS: u32 = 4;
    const BATCHES: u32 = 40;
    const PER_BATCH: u32 = 5;
    let done = AtomicBool::new(false);
    let seen = std::thread::scope(|scope| {
        let follower = scope.spawn(|| {
            let mut seen = HashSet::new();
            let mut last = 0;
            loop {
                let finished = done.load(Ordering::SeqCst);
                let batch = store.changed_since(last, 1000).unwrap();
                for stored in &batch {
                    assert!(stored.seq > last, "in sequence order");
                    last = stored.seq;
                    seen.insert(stored.paper.id);
                }
                if finished && batch.is_empty() {
                    return seen;
                }
                if batch.is_empty() {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
        });
        let writers: Vec<_> = (0..WRITERS)
            .map(|writer| {
                scope.spawn(move || {
                    for batch in 0..BATCHES {
                        let papers = (0..PER_BATCH)
                            .map(|i| {
                                let n = 1 + writer * 10_000 + batch * PER_BATCH + i;
                                paper(&format!("2401.{n:05}"), &format!("Paper {n}"))
                            })
                            .collect();
                        store.apply(WriteBatch::papers(papers)).unwrap();
                    }
                })
            })
            .collect();
        // Set even when a writer panics, so that the follower stops and the panic is reported.
        let finish = Finish(&done);
        for writer in writers {
            writer.join().unwrap();
        }
        drop(finish);
        follower.join().unwrap()
    });
    assert_eq!(seen.len() as u32, WRITERS * BATCHES * PER_BATCH, "the follower saw every paper");
    assert_eq!(store.max_seq().unwrap(), (WRITERS * BATCHES * PER_BATCH) as i64);
}

/// Sets its flag when dropped, on success or while unwinding.
struct Finish<'a>(&'a AtomicBool);

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn digests(store: &dyn Store, n: usize) -> AccountId {
    let now = Utc::now();
    let (account, _) = store.account_for_email(&email("reader@example.org"), now).unwrap();
    let messages: Vec<NewMessage> = (0..n)
        .map(|i| NewMessage {
            account_id: account.id,
            kind: "digest".into(),
            dedupe_key: format!("digest:{i}"),
            message_id: format!("<{i}@x>"),
            recipient: account.email.clone(),
            payload: "{}".into(),
            papers: vec![],
        })
        .collect();
    assert_eq!(store.enqueue(&messages, None, now).unwrap(), n);
    account.id
}

/// Two senders claiming at the same moments take different messages, and between them all.
pub(crate) fn two_senders_never_claim_the_same_message(store: &dyn Store) {
    digests(store, 200);
    let now = Utc::now() + Duration::seconds(1);
    let start = Barrier::new(2);
    let claimed: Vec<Vec<i64>> = std::thread::scope(|scope| {
        let senders: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    start.wait();
                    let mut mine = Vec::new();
                    loop {
                        let batch = store.claim_due(7, now, now - Duration::minutes(5)).unwrap();
                        if batch.is_empty() {
                            return mine;
                        }
                        mine.extend(batch.iter().map(|m| m.id));
                    }
                })
            })
            .collect();
        senders.into_iter().map(|s| s.join().unwrap()).collect()
    });
    let all: Vec<i64> = claimed.iter().flatten().copied().collect();
    let distinct: HashSet<i64> = all.iter().copied().collect();
    assert_eq!((all.len(), distinct.len()), (200, 200), "every message claimed once");
}

/// A message a sender claimed and never recorded is claimed again once its lease has run out —
/// not before.
pub(crate) fn a_dead_senders_claims_return_when_its_lease_runs_out(store: &dyn Store) {
    digests(store, 1);
    let lease = Duration::minutes(5);
    let t0 = Utc::now() + Duration::seconds(1);
    let first = store.claim_due(10, t0, t0 - lease).unwrap();
    assert_eq!(first.len(), 1, "the first sender claims it, then stalls or dies");
    let t1 = t0 + Duration::minutes(1);
    assert!(store.claim_due(10, t1, t1 - lease).unwrap().is_empty(), "its lease still runs");
    let t2 = t0 + Duration::minutes(6);
    let again = store.claim_due(10, t2, t2 - lease).unwrap();
    assert_eq!((again.len(), again[0].attempts), (1, 2), "claimed again, as a second attempt");
    // The first sender, alive after all, reports late: its claim is gone, so nothing changes.
    let late = Delivery::Retry { error: "451 try later".into(), at: t2 };
    assert!(!store.record_delivery(first[0].claim(), &late, t2).unwrap(), "a lapsed claim records nothing");
    assert!(store.record_delivery(again[0].claim(), &Delivery::Sent, t2).unwrap());
    let failed = Delivery::Failed { error: "550 no such user".into(), suppress_after: Some(1) };
    assert!(!store.record_delivery(first[0].claim(), &failed, t2).unwrap(), "nor after it was sent");
    let account = store.account_for_email(&email("reader@example.org"), t2).unwrap().0;
    assert!(account.suppressed_at.is_none(), "a lapsed claim's bounce suppresses nobody");
    let t3 = t2 + Duration::hours(1);
    assert!(store.claim_due(10, t3, t3 - lease).unwrap().is_empty(), "a sent message stays sent");
}

pub(crate) fn a_lease_has_one_holder_until_it_runs_out(store: &dyn Store) {
    let now = Utc::now();
    let minute = Duration::minutes(1);
    assert!(store.try_lease("daily", "node-a", now + minute, now).unwrap());
    assert!(!store.try_lease("daily", "node-b", now + minute, now).unwrap(), "held by node-a");
    assert!(store.try_lease("daily", "node-a", now + minute * 2, now + minute / 2).unwrap(), "renewed");
    assert!(!store.try_lease("daily", "node-b", now + minute * 3, now + minute + minute / 2).unwrap());
    let later = now + minute * 2 + Duration::seconds(1);
    assert!(store.try_lease("daily", "node-b", later + minute, later).unwrap(), "ran out: node-b takes it");
    store.release_lease("daily", "node-a").unwrap();
    assert!(!store.try_lease("daily", "node-a", later + minute, later).unwrap(), "node-a cannot release node-b's");
    store.release_lease("daily", "node-b").unwrap();
    assert!(store.try_lease("daily", "node-a", later + minute, later).unwrap(), "released: free again");
    assert!(store.try_lease("other", "node-b", later + minute, later).unwrap(), "leases are by name");
}

pub(crate) fn rate_limits_hold_across_concurrent_callers(store: &dyn Store) {
    let now = Utc::now();
    let start = Barrier::new(8);
    let allowed: usize = std::thread::scope(|scope| {
        let callers: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    start.wait();
                    (0..10).filter(|_| store.rate_limit("address:x", 25, 3600, now).unwrap()).count()
                })
            })
            .collect();
        callers.into_iter().map(|c| c.join().unwrap()).sum()
    });
    assert_eq!(allowed, 25, "exactly the limit, however the calls interleave");
}

pub(crate) fn upvotes_at_once_all_count(store: &dyn Store) {
    let now = Utc::now();
    let paper_id = id("2401.00001");
    store.apply(WriteBatch::papers(vec![paper("2401.00001", "Popular")])).unwrap();
    let accounts: Vec<AccountId> =
        (0..8).map(|i| store.account_for_email(&email(&format!("r{i}@example.org")), now).unwrap().0.id).collect();
    let start = Barrier::new(accounts.len());
    std::thread::scope(|scope| {
        for account in &accounts {
            let start = &start;
            scope.spawn(move || {
                start.wait();
                assert!(store.upvote(*account, paper_id, now).unwrap());
            });
        }
    });
    let local: Vec<Signals> = store.signals(&[paper_id]).unwrap().into_iter().filter(|s| s.source == "local").collect();
    assert_eq!(local[0].upvotes, 8, "no upvote lost to a race");
}

fn embedding(paper: &str, text_hash: i64, byte: u8) -> StoredEmbedding {
    StoredEmbedding { paper: id(paper), text_hash, vector: vec![byte; 8], seq: 0 }
}

pub(crate) fn embeddings_are_followed_by_their_own_sequence(store: &dyn Store) {
    let first = [embedding("2401.00001", 1, 1), embedding("2401.00002", 2, 2), embedding("2401.00003", 3, 3)];
    let top = store.put_embeddings("m", &first, 10).unwrap();
    let all = store.embeddings_since("m", 0, 100).unwrap();
    assert_eq!(all.iter().map(|e| e.paper.to_string()).collect::<Vec<_>>(), ["2401.00001", "2401.00002", "2401.00003"]);
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!((top, all[2].vector.clone()), (all[2].seq, vec![3; 8]));
    // A re-embedded paper moves past the others: a follower at the old end sees only it.
    store.put_embeddings("m", &[embedding("2401.00001", 11, 9)], 12).unwrap();
    let newer = store.embeddings_since("m", top, 100).unwrap();
    assert_eq!((newer.len(), newer[0].text_hash, newer[0].vector.clone()), (1, 11, vec![9; 8]));
    // Progress never goes back, and each model is its own.
    store.put_embeddings("m", &[], 5).unwrap();
    assert_eq!(store.embedded_up_to("m").unwrap(), 12);
    store.put_embeddings("other", &[embedding("2401.00001", 7, 7)], 3).unwrap();
    assert_eq!((store.count_embeddings("m").unwrap(), store.count_embeddings("other").unwrap()), (3, 1));
    assert_eq!(store.embedded_up_to("other").unwrap(), 3);
    assert_eq!(store.embedded_up_to("unknown").unwrap(), 0);
    let hashes = store.embedding_hashes("m", &[id("2401.00003"), id("2401.00009"), id("2401.00001")]).unwrap();
    assert_eq!(hashes, [(id("2401.00003"), 3), (id("2401.00001"), 11)]);
    assert_eq!(store.max_embedding_seq("m").unwrap(), newer[0].seq);
}

/// A little of everything a store holds.
pub(crate) fn fill(store: &dyn Store) {
    let now = Utc::now();
    let mut first = paper("2401.00001", "One");
    first.announced = NaiveDate::from_ymd_opt(2024, 1, 3);
    store
        .apply(WriteBatch {
            // Old-style ids and mixed-case keys below sort differently bytewise and under a
            // natural-language collation (the test databases use ICU en-US): the copy's check
            // must not depend on the server's collation.
            papers: vec![
                first,
                paper("2401.00002", "Two"),
                paper("math/0101001", "Old"),
                paper("math-ph/0101001", "Older"),
            ],
            paper_source: PaperSource::Arxiv,
            signals: vec![Signals {
                id: id("2401.00001"),
                source: "huggingface".into(),
                upvotes: 12,
                comments: 1,
                github_repo: Some("https://github.com/x/y".into()),
                github_stars: Some(40),
                featured_on: NaiveDate::from_ymd_opt(2024, 1, 4),
                observed_at: now,
            }],
            checkpoint: Some(CheckpointUpdate::Set { key: "oai:cs".into(), value: "token".into() }),
        })
        .unwrap();
    let (account, _) = store.account_for_email(&email("reader@example.org"), now).unwrap();
    let preferences = Preferences { searches: vec!["diffusion".into()], ..Preferences::default() };
    store.set_preferences(account.id, &preferences).unwrap();
    let (gone, _) = store.account_for_email(&email("gone@example.org"), now).unwrap();
    store.delete_account(gone.id).unwrap();
    store.insert_token(b"token-hash", account.id, TokenPurpose::SignIn, now + Duration::minutes(30), now).unwrap();
    store.create_session(b"session-hash", account.id, now + Duration::days(30), now).unwrap();
    let token = paperboy_store::ApiToken {
        id: "tok1".into(),
        account: account.id,
        name: "my script".into(),
        scope: paperboy_store::TokenScope::Write,
        created_at: now,
        last_used_at: Some(now),
    };
    store.insert_api_token(&token, b"api-token-hash").unwrap();
    store.set_feedback(account.id, id("2401.00002"), paperboy_store::FeedbackKind::NotInterested, now).unwrap();
    store.save_paper(account.id, id("2401.00001"), &["to-read".into()], now).unwrap();
    store.upvote(account.id, id("2401.00002"), now).unwrap();
    let message = NewMessage {
        account_id: account.id,
        kind: "digest".into(),
        dedupe_key: "digest:1".into(),
        message_id: "<1@x>".into(),
        recipient: account.email.clone(),
        payload: r#"{"b": 1, "a": "x"}"#.into(),
        papers: vec![id("2401.00001")],
    };
    store.enqueue(&[message], NaiveDate::from_ymd_opt(2024, 1, 3), now).unwrap();
    assert!(store.rate_limit("address:reader@example.org", 3, 1200, now).unwrap());
    store.put_setting("scheduler.last_slot", "2024-01-03T01:30:00Z").unwrap();
    store.put_setting("Zeta", "upper case first bytewise").unwrap();
    store.put_setting("alpha", "lower case first in en-US").unwrap();
    assert!(store.rate_limit("address:Reader@example.org", 3, 1200, now).unwrap());
    store.put_library_model(account.id, "m", 42, &[0.5, -1.0]).unwrap();
    store.put_query_vectors("m", &[(7, vec![0.25, 0.75])]).unwrap();
    store.put_embeddings("m", &[embedding("2401.00001", 1, 1), embedding("2401.00002", 2, 2)], 2).unwrap();
}

/// `paperboy store copy`: everything arrives, the copy checks itself, and the target goes on from
/// where the source was (sequence numbers and ids never reused).
pub(crate) fn a_copy_holds_everything_and_says_so(store: &dyn Store) {
    fill(store);
    let dir = tempfile::tempdir().unwrap();
    let target = SqliteStore::open(&dir.path().join("copy.sqlite3")).unwrap();
    check_copy(store, &target);
}

/// Copies `source` (filled) into the empty `target` and checks the result.
pub(crate) fn check_copy(source: &dyn Store, target: &dyn Store) {
    let report = copy::copy(source, target, &mut |_, _| {}).unwrap();
    let rows = |table: &str| report.iter().find(|t| t.table == table).unwrap().rows;
    assert_eq!((rows("papers"), rows("accounts"), rows("embeddings"), rows("sent_papers")), (4, 1, 2, 1));
    for table in copy::TABLES {
        assert_eq!(copy::checksum(source, table).unwrap(), copy::checksum(target, table).unwrap(), "{}", table.name);
    }
    let account = target.account_by_email(&email("reader@example.org")).unwrap().unwrap();
    assert_eq!(account.preferences.searches, ["diffusion"]);
    assert_eq!(target.session(b"session-hash", Utc::now()).unwrap(), Some(account.id), "signed-in readers stay so");
    assert_eq!(
        target.api_token_by_hash(b"api-token-hash").unwrap().map(|t| (t.id, t.account)),
        Some(("tok1".to_owned(), account.id)),
        "API tokens keep working"
    );
    assert_eq!(
        target.paper(id("2401.00001")).unwrap().unwrap().paper,
        source.paper(id("2401.00001")).unwrap().unwrap().paper
    );
    assert_eq!(target.embeddings_since("m", 0, 10).unwrap(), source.embeddings_since("m", 0, 10).unwrap());
    // The target goes on past the source: no sequence number or id comes again.
    target.apply(WriteBatch::papers(vec![paper("2401.00003", "Three")])).unwrap();
    assert_eq!(target.max_seq().unwrap(), source.max_seq().unwrap() + 1);
    let (new, _) = target.account_for_email(&email("new@example.org"), Utc::now()).unwrap();
    let deleted = account.id.0 + 1;
    assert!(new.id.0 > deleted, "the deleted account's id {deleted} is not given out again");
    let message = NewMessage {
        account_id: new.id,
        kind: "digest".into(),
        dedupe_key: "digest:new".into(),
        message_id: "<new@x>".into(),
        recipient: new.email.clone(),
        payload: "{}".into(),
        papers: vec![],
    };
    target.enqueue(&[message], None, Utc::now()).unwrap();
    let later = Utc::now() + Duration::seconds(1);
    let ids: Vec<i64> = target.claim_due(10, later, later - Duration::hours(1)).unwrap().iter().map(|m| m.id).collect();
    assert!(ids.len() == 2 && ids[1] > ids[0], "a new message's id follows the copied one's: {ids:?}");
    let embedded = source.max_embedding_seq("m").unwrap();
    assert!(
        target.put_embeddings("m", &[embedding("2401.00003", 3, 3)], 3).unwrap() > embedded,
        "embedding numbers go on"
    );
    let err = copy::copy(source, target, &mut |_, _| {}).err().unwrap();
    assert!(err.to_string().contains("empty database"), "{err}");
}
