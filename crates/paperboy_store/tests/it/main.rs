//! The store's behaviour, one suite for every backend: each test below runs against a fresh
//! embedded SQLite store (so the backends cannot drift apart).

mod accounts;
mod papers;

use paperboy_store::{SqliteStore, Store};

/// A fresh SQLite store in a temporary folder.
fn sqlite() -> (tempfile::TempDir, Box<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("paperboy.sqlite3")).unwrap();
    (dir, Box::new(store))
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
    accounts::deleting_an_account_removes_everything_about_it,
    accounts::the_outbox_enqueues_once_per_key_and_tracks_delivery,
    accounts::failures_that_are_not_the_addresss_fault_do_not_count_against_it,
    accounts::stale_rows_are_pruned_and_accounts_holding_something_are_kept,
    accounts::old_deliveries_are_forgotten_and_queued_mail_is_kept,
    accounts::messages_left_sending_by_a_dead_sender_go_back_to_the_queue,
    accounts::rate_limits_count_within_a_window,
}
