//! The store's behaviour, one suite for every backend: each test below runs against a fresh
//! embedded SQLite store and a fresh PostgreSQL database (so the backends cannot drift apart).
//! PostgreSQL comes from `PAPERBOY_TEST_DATABASE_URL` (a server where the user may create
//! databases; `scripts/test` starts one); without it the PostgreSQL half fails in CI and is
//! reported as skipped elsewhere.

mod accounts;
mod cluster;
mod papers;

use paperboy_store::{PostgresStore, SqliteStore, Store, prelude::*};
use paperboy_testing::ScratchDatabase;

/// A fresh SQLite store in a temporary folder.
fn sqlite() -> (tempfile::TempDir, Box<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("paperboy.sqlite3")).unwrap();
    (dir, Box::new(store))
}

/// A fresh PostgreSQL store, or `None` without a server.
fn postgres(test: &str) -> Option<(ScratchDatabase, Box<dyn Store>)> {
    let database = ScratchDatabase::create(test)?;
    let store = PostgresStore::open(&database.url).unwrap();
    Some((database, Box::new(store)))
}

/// Runs each named test (a `fn(&dyn Store)` in its module) on every backend.
macro_rules! on_every_backend {
    ($($module:ident :: $name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    let (_dir, store) = super::sqlite();
                    super::$module::$name(store.as_ref());
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    let (_database, store) =
                        paperboy_testing::or_skip!(super::postgres(concat!("postgres::", stringify!($name))));
                    super::$module::$name(store.as_ref());
                }
            )*
        }
    };
}

on_every_backend! {
    papers::papers_round_trip_through_the_store,
    papers::ingesting_the_same_papers_twice_changes_nothing,
    papers::newer_versions_replace_and_older_ones_only_add_their_dates,
    papers::secondary_sources_never_overwrite_arxiv,
    papers::signals_keep_the_newest_observation,
    papers::daily_listings_and_their_neighbours,
    papers::checkpoints_commit_with_their_batch,
    papers::changed_since_walks_the_sequence,
    accounts::an_address_gets_one_account,
    accounts::tokens_work_once_and_expire,
    accounts::api_tokens_are_found_by_hash_listed_newest_first_and_revoked,
    accounts::feedback_is_one_word_per_paper_and_can_be_taken_back,
    accounts::deleting_an_account_removes_everything_about_it,
    accounts::the_outbox_enqueues_once_per_key_and_tracks_delivery,
    accounts::failures_that_are_not_the_addresss_fault_do_not_count_against_it,
    accounts::stale_rows_are_pruned_and_accounts_holding_something_are_kept,
    accounts::old_deliveries_are_forgotten_and_queued_mail_is_kept,
    accounts::messages_left_sending_by_a_dead_sender_go_back_to_the_queue,
    accounts::rate_limits_count_within_a_window,
    cluster::concurrent_writers_never_hide_a_change_from_a_follower,
    cluster::two_senders_never_claim_the_same_message,
    cluster::a_dead_senders_claims_return_when_its_lease_runs_out,
    cluster::a_lease_has_one_holder_until_it_runs_out,
    cluster::rate_limits_hold_across_concurrent_callers,
    cluster::upvotes_at_once_all_count,
    cluster::embeddings_are_followed_by_their_own_sequence,
    cluster::a_copy_holds_everything_and_says_so,
}

#[test]
fn an_embedded_store_moves_to_postgres() {
    let (_database, target) = paperboy_testing::or_skip!(postgres("an_embedded_store_moves_to_postgres"));
    let (_dir, source) = sqlite();
    cluster::fill(source.as_ref());
    cluster::check_copy(source.as_ref(), target.as_ref());
}

#[test]
fn postgres_refuses_a_newer_schema_and_bad_urls_clearly() {
    let Some(database) = ScratchDatabase::create("postgres_refuses_a_newer_schema_and_bad_urls_clearly") else {
        return;
    };
    drop(PostgresStore::open(&database.url).unwrap());
    let mut client = ::postgres::Client::connect(&database.url, ::postgres::NoTls).unwrap();
    client.batch_execute("UPDATE schema_version SET version = 99").unwrap();
    let err = PostgresStore::open(&database.url).err().unwrap();
    assert!(matches!(err, paperboy_store::Error::SchemaTooNew { found: 99, .. }), "{err}");

    // A wrong password is a refusal that does not show the password.
    let (scheme_user, rest) = database.url.split_once('@').unwrap();
    let user = scheme_user.split(':').take(2).collect::<Vec<_>>().join(":");
    let wrong = format!("{user}:hunter2-wrong@{rest}");
    let err = PostgresStore::open(&wrong).err().expect(
        "the test server took a wrong password: it must check passwords over TCP (scripts/scratch-postgres does)",
    );
    assert!(matches!(err, paperboy_store::Error::Refused(_)), "{err}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
    // Nothing listens on port 1: unavailable, with the URL (and no password) in the message.
    let err = PostgresStore::open("postgres://paperboy:secret@127.0.0.1:1/paperboy").err().unwrap();
    assert!(matches!(err, paperboy_store::Error::Unavailable(_)), "{err}");
    assert!(err.to_string().contains("127.0.0.1:1") && !err.to_string().contains("secret"), "{err}");
    let err = paperboy_store::open(Some("mysql://x@y/z"), std::path::Path::new("unused")).err().unwrap();
    assert!(err.to_string().contains("not a PostgreSQL URL"), "{err}");
}

#[test]
fn two_nodes_starting_at_once_migrate_once() {
    let Some(database) = ScratchDatabase::create("two_nodes_starting_at_once_migrate_once") else { return };
    let start = std::sync::Barrier::new(4);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            let (start, url) = (&start, &database.url);
            scope.spawn(move || {
                start.wait();
                PostgresStore::open(url).unwrap();
            });
        }
    });
    let store = PostgresStore::open(&database.url).unwrap();
    assert_eq!(store.max_seq().unwrap(), 0);
}
