//! Digests over real sample days with their real vectors: the reasons, never a paper twice, empty
//! days, weekly windows and the library model.

use std::collections::HashSet;

use chrono::{Duration, NaiveDate, Utc};
use paperboy_app::{
    Library, NoProgress, SearchMode, SearchParams,
    digest::{BuildOptions, BuildReport, PlannedDigest, Reason},
    ingest,
};
use paperboy_domain::{AccountId, ArxivId, Cadence, Category, Preferences};

use super::{model_choice, sample, semantic_library};

fn day(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn build(library: &Library, date: &str) -> BuildReport {
    build_at(library, date, Utc::now())
}

fn build_at(library: &Library, date: &str, now: chrono::DateTime<Utc>) -> BuildReport {
    let options = BuildOptions {
        date: day(date),
        weekly_on: paperboy_app::digest::WEEKLY_ON,
        host: "papers.example.org".into(),
        dry_run: false,
        only: None,
        details: true,
        now,
    };
    library.build_digests(&options, &NoProgress).unwrap()
}

fn subscriber(library: &Library, email: &str, preferences: Preferences) -> AccountId {
    let email = paperboy_domain::EmailAddress::parse(email).unwrap();
    library.add_subscriber(&email, true, preferences.validate().unwrap(), Utc::now()).unwrap().id
}

fn papers_of(digest: &PlannedDigest) -> HashSet<String> {
    digest.digest.papers().map(|id| id.to_string()).collect()
}

fn nothing() -> Preferences {
    Preferences { trending: 0, library: false, ..Preferences::default() }
}

/// The ids of the `limit` papers of `date` nearest to `topic` by meaning.
fn nearest_of_day(library: &Library, topic: &str, date: &str, limit: usize) -> Vec<String> {
    let params = SearchParams {
        query: topic.into(),
        since: Some(day(date)),
        until: Some(day(date)),
        limit,
        mode: SearchMode::Semantic,
        ..SearchParams::default()
    };
    library.search(&params).unwrap().hits.iter().map(|h| h.paper.id.to_string()).collect()
}

#[test]
fn digests_explain_every_paper_and_never_send_one_twice() {
    require_model!();
    let dir = tempfile::tempdir().unwrap();
    let library = semantic_library(dir.path(), &["2026-06-15", "2026-06-16"]);
    let hf = sample("2026-06-16").parent().unwrap().join("../hf-daily/2026-06-10_2026-06-16.jsonl.gz");
    let summary = ingest::ingest_hf_daily(&library, &[hf], &NoProgress).unwrap();
    assert!(summary.read > 0 && summary.failed_files.is_empty());
    let preferences = Preferences {
        searches: vec!["anomaly detection".into(), "robots learning to grasp objects".into()],
        categories: vec![Category::parse("cs.GT").unwrap()],
        authors: vec!["Mingi Kang".into()],
        trending: 5,
        library: false,
        ..Preferences::default()
    };
    subscriber(&library, "reader@example.org", preferences);

    let first = build(&library, "2026-06-15");
    assert_eq!((first.due, first.queued), (1, 1));
    let sent_first = papers_of(&first.digests[0]);
    assert_eq!(first.digests[0].digest.trending.len(), 5);

    let second = build(&library, "2026-06-16");
    assert_eq!((second.due, second.queued), (1, 1));
    let digest = &second.digests[0].digest;
    let reasons: Vec<(String, &Reason)> =
        digest.items.iter().flat_map(|e| e.reasons.iter().map(move |r| (e.paper.to_string(), r))).collect();
    assert!(
        reasons.iter().any(|(p, r)| *p == "2606.14725" && matches!(r, Reason::Author { name } if name == "Mingi Kang"))
    );
    assert!(reasons.iter().any(|(_, r)| matches!(r, Reason::Category { category } if category == "cs.GT")));
    assert!(
        reasons.iter().any(|(_, r)| matches!(r, Reason::Search { query, terms, .. }
            if query == "anomaly detection" && terms.iter().any(|t| t == "anomaly"))),
        "a search matched by its words names them: {reasons:?}"
    );
    assert!(
        reasons.iter().any(|(_, r)| matches!(r, Reason::Search { query, terms, similarity: Some(s) }
            if query.starts_with("robots") && terms.is_empty() && *s >= 0.45)),
        "a search matched by meaning alone says how close: {reasons:?}"
    );
    for entry in digest.items.iter().chain(&digest.trending) {
        assert!(!entry.reasons.is_empty(), "{} has no reason", entry.paper);
        assert!(!entry.reasons[0].describe().is_empty());
    }
    let scores: Vec<f32> = digest.items.iter().map(|e| e.score).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "ranked: {scores:?}");
    assert!(digest.trending.iter().all(|e| matches!(e.reasons[0], Reason::Trending { .. })));

    // Trending on the 16th still ranks papers the first digest sent; none of them comes again.
    let trending_now: HashSet<String> = library
        .trending(Some(day("2026-06-16")), 10, 0)
        .unwrap()
        .papers
        .iter()
        .map(|t| t.paper.id.to_string())
        .collect();
    assert!(trending_now.iter().any(|p| sent_first.contains(p)), "the test needs an overlap to mean anything");
    let repeated: Vec<String> = papers_of(&second.digests[0]).intersection(&sent_first).cloned().collect();
    assert!(repeated.is_empty(), "sent twice: {repeated:?}");

    // Built once per day, even when asked again.
    let again = build(&library, "2026-06-16");
    assert_eq!((again.due, again.queued), (0, 0));
}

#[test]
fn an_empty_day_sends_nothing_unless_asked() {
    require_model!();
    let dir = tempfile::tempdir().unwrap();
    let library = semantic_library(dir.path(), &["2026-06-15", "2026-06-16"]);
    let quiet = Preferences { authors: vec!["Nobody Atall".into()], ..nothing() };
    subscriber(&library, "quiet@example.org", quiet.clone());
    let always = subscriber(&library, "always@example.org", Preferences { send_empty: true, ..quiet });

    let report = build(&library, "2026-06-16");
    assert_eq!((report.due, report.queued, report.empty), (2, 1, 1));
    assert_eq!(report.digests.len(), 1);
    assert_eq!(report.digests[0].account_id, always);
    assert!(report.digests[0].digest.items.is_empty());
    let again = build(&library, "2026-06-16");
    assert_eq!(again.due, 0, "an empty day counts as done: the next digest does not reach back to it");
    // A day without announcements (a Saturday) is no digest day.
    assert_eq!(build(&library, "2026-06-20").due, 0);
}

#[test]
fn weekly_digests_come_on_fridays_and_cover_the_week() {
    require_model!();
    let dir = tempfile::tempdir().unwrap();
    let days = ["2026-06-08", "2026-06-09", "2026-06-10", "2026-06-11", "2026-06-12"];
    let library = semantic_library(dir.path(), &days);
    let preferences = Preferences {
        cadence: Cadence::Weekly,
        categories: vec![Category::parse("cs.GT").unwrap()],
        max_papers: 200,
        ..nothing()
    };
    subscriber(&library, "weekly@example.org", preferences);
    subscriber(&library, "paused@example.org", Preferences { cadence: Cadence::Paused, ..nothing() });

    assert_eq!(build(&library, "2026-06-11").due, 0, "Thursday is no weekly digest day");
    let report = build(&library, "2026-06-12");
    assert_eq!((report.due, report.queued), (1, 1));
    let digest = &report.digests[0].digest;
    assert_eq!(digest.since, day("2026-06-06"));
    let announced: HashSet<NaiveDate> =
        digest.items.iter().map(|e| library.show(e.paper).unwrap().unwrap().stored.paper.announced.unwrap()).collect();
    assert!(announced.contains(&day("2026-06-08")) && announced.contains(&day("2026-06-12")), "{announced:?}");
    assert_eq!(build(&library, "2026-06-12").due, 0);
}

#[test]
fn papers_like_the_library_are_recommended() {
    require_model!();
    let dir = tempfile::tempdir().unwrap();
    let library = semantic_library(dir.path(), &["2026-06-15", "2026-06-16"]);
    let topic = "evaluating large language models as judges";
    let saved = nearest_of_day(&library, topic, "2026-06-15", 5);
    assert_eq!(saved.len(), 5);
    let reader = subscriber(&library, "reader@example.org", Preferences { library: true, ..nothing() });
    subscriber(&library, "nolibrary@example.org", Preferences { library: false, ..nothing() });
    for id in &saved {
        library.save_paper(reader, ArxivId::parse(id).unwrap(), &[], Utc::now()).unwrap();
    }

    let report = build(&library, "2026-06-16");
    assert_eq!(
        (report.due, report.queued, report.empty),
        (2, 1, 1),
        "without a library or follows there is nothing to send"
    );
    let digest = &report.digests[0].digest;
    assert!(!digest.items.is_empty());
    for entry in &digest.items {
        let Reason::Library { like, score, .. } = &entry.reasons[0] else { panic!("{:?}", entry.reasons) };
        assert!(saved.contains(like), "{like} is not in the library");
        assert!(*score > 0.5, "{score}");
    }
    // The best recommendation is on the library's topic: among the day's nearest papers to it.
    let on_topic = nearest_of_day(&library, topic, "2026-06-16", 50);
    assert!(on_topic.contains(&digest.items[0].paper.to_string()), "{} is off topic", digest.items[0].paper);
}

#[test]
fn more_like_this_seeds_the_library_model_and_not_interested_papers_never_come_back() {
    require_model!();
    use paperboy_app::FeedbackKind;
    let dir = tempfile::tempdir().unwrap();
    let library = semantic_library(dir.path(), &["2026-06-15", "2026-06-16"]);
    let hf = sample("2026-06-16").parent().unwrap().join("../hf-daily/2026-06-10_2026-06-16.jsonl.gz");
    ingest::ingest_hf_daily(&library, &[hf], &NoProgress).unwrap();
    let topic = "evaluating large language models as judges";
    let seeds = nearest_of_day(&library, topic, "2026-06-15", 3);
    let wants = Preferences { library: true, trending: 5, ..nothing() };
    let (a, b) = (subscriber(&library, "a@example.org", wants.clone()), subscriber(&library, "b@example.org", wants));
    for account in [a, b] {
        for id in &seeds {
            library.set_feedback(account, ArxivId::parse(id).unwrap(), FeedbackKind::MoreLikeThis, Utc::now()).unwrap();
        }
    }
    assert!(library.library_entries(a).unwrap().is_empty(), "a seed is not saved");
    // What a's digest would hold: b says it is not interested in the first paper and in the first
    // trending one.
    let options = BuildOptions {
        date: day("2026-06-16"),
        weekly_on: paperboy_app::digest::WEEKLY_ON,
        host: "papers.example.org".into(),
        dry_run: true,
        only: Some(a),
        details: true,
        now: Utc::now(),
    };
    let preview = library.build_digests(&options, &NoProgress).unwrap();
    let first = preview.digests[0].digest.items.first().expect("the seeds bring papers").paper;
    let trending = preview.digests[0].digest.trending.first().expect("a trending section").paper;
    library.set_feedback(b, first, FeedbackKind::NotInterested, Utc::now()).unwrap();
    library.set_feedback(b, trending, FeedbackKind::NotInterested, Utc::now()).unwrap();
    // b also follows the paper's category, so the follow alone would bring it: only the
    // "not interested" filter can keep it out (not merely the model's new negative).
    let category = library.show(first).unwrap().unwrap().stored.paper.categories[0];
    let follows = Preferences { library: true, trending: 5, categories: vec![category], ..nothing() };
    library.update_preferences(b, follows).unwrap();

    let report = build(&library, "2026-06-16");
    let digest_of = |account: AccountId| &report.digests.iter().find(|d| d.account_id == account).unwrap().digest;
    for entry in &digest_of(a).items {
        let Reason::Library { like, seed, .. } = &entry.reasons[0] else { panic!("{:?}", entry.reasons) };
        assert!(seeds.contains(like) && *seed, "{like} is not a seed");
        assert!(
            entry.reasons[0].describe().contains("which you asked for more like"),
            "{}",
            entry.reasons[0].describe()
        );
    }
    let of_a: HashSet<ArxivId> = digest_of(a).papers().collect();
    let of_b: HashSet<ArxivId> = digest_of(b).papers().collect();
    assert!(of_a.contains(&first) && of_a.contains(&trending));
    assert!(!of_b.contains(&first) && !of_b.contains(&trending), "not interested: never in b's digest");
    assert!(!digest_of(b).items.is_empty(), "b still gets the rest");

    // The private feed holds what the digest would: not the paper either, until it is taken back.
    let account_b = library.subscribers(AccountId(0), 10).unwrap().into_iter().find(|s| s.id == b).unwrap();
    let feed = library.digest_feed(&account_b, Utc::now()).unwrap().unwrap();
    assert!(!feed.digest.papers().any(|p| p == first || p == trending), "the feed keeps it out too");
    assert!(library.remove_feedback(b, first).unwrap());
    let feed = library.digest_feed(&account_b, Utc::now()).unwrap().unwrap();
    assert!(feed.digest.papers().any(|p| p == first), "undone, it is recommended again");
}

#[test]
fn deliveries_older_than_the_retention_are_forgotten_at_the_next_build() {
    require_model!();
    use paperboy_store::{Delivery, SqliteStore, prelude::*};
    let dir = tempfile::tempdir().unwrap();
    let library = semantic_library(dir.path(), &["2026-06-15", "2026-06-16"]);
    let preferences = Preferences {
        searches: vec!["anomaly detection".into()],
        categories: vec![Category::parse("cs.GT").unwrap()],
        ..nothing()
    };
    subscriber(&library, "reader@example.org", preferences);
    let long_ago = Utc::now() - chrono::Duration::days(paperboy_app::digest::DELIVERED_RETENTION_DAYS + 30);
    let first = build_at(&library, "2026-06-15", long_ago);
    assert_eq!((first.queued, first.pruned_messages), (1, 0));
    let sent = papers_of(&first.digests[0]).len() as u64;

    // The digest goes out (the sender's part, done here on the store directly).
    let store = SqliteStore::open(&dir.path().join("paperboy.sqlite3")).unwrap();
    for message in store.claim_due(10, Utc::now(), Utc::now() - Duration::hours(1)).unwrap() {
        store.record_delivery(message.claim(), &Delivery::Sent, Utc::now()).unwrap();
    }
    let second = build(&library, "2026-06-16");
    assert_eq!((second.pruned_messages, second.pruned_paper_records), (1, sent));
    assert_eq!(second.queued, 1, "the new day's digest is built as usual");
}

#[test]
fn a_digest_trends_only_papers_of_the_retention_window() {
    require_model!();
    let dir = tempfile::tempdir().unwrap();
    let library = semantic_library(dir.path(), &["2026-06-15"]);
    // 2026-09-01: one new paper is announced, and Hugging Face features it and, much more, a paper
    // announced in June.
    let listing = dir.path().join("2026-09-01.jsonl");
    let fresh = serde_json::json!({
        "id": "2609.00001", "title": "Graph learning for fresh announcements", "abstract": "A new method.",
        "authors": ["Ada Example"], "categories": ["cs.LG"], "announced": "2026-09-01", "first_seen": "2026-09-01",
        "comment": null,
    });
    std::fs::write(&listing, format!("{fresh}\n")).unwrap();
    ingest::ingest_jsonl(&library, &[listing], &NoProgress).unwrap();
    let old = "2008.03186"; // announced 2026-06-15 in the sample
    let featured = |id: &str, title: &str, published: &str, upvotes: u32| {
        serde_json::json!({
            "id": id, "title": title, "abstract": "Featured.", "authors": ["Someone"], "published": published,
            "hf_date": "2026-09-01", "upvotes": upvotes, "num_comments": 0,
            "upvotes_observed_by": "2026-09-01T12:00:00Z", "github_repo": null, "github_stars": null,
        })
    };
    let hf = dir.path().join("hf.jsonl");
    let records = [
        featured(old, "An old paper", "2020-08-07T00:00:00.000Z", 500),
        featured("2609.00001", "Graph learning for fresh announcements", "2026-08-31T00:00:00.000Z", 100),
    ];
    std::fs::write(&hf, records.iter().map(|r| format!("{r}\n")).collect::<String>()).unwrap();
    let summary = ingest::ingest_hf_daily(&library, &[hf], &NoProgress).unwrap();
    assert!(summary.failed_files.is_empty());
    let ranked: Vec<String> = library
        .trending(Some(day("2026-09-01")), 10, 0)
        .unwrap()
        .papers
        .iter()
        .map(|t| t.paper.id.to_string())
        .collect();
    assert!(ranked.contains(&old.to_owned()), "the site's trending list ranks it: {ranked:?}");

    subscriber(&library, "reader@example.org", Preferences { trending: 5, ..nothing() });
    let report = build(&library, "2026-09-01");
    assert_eq!(report.queued, 1);
    let sent = papers_of(&report.digests[0]);
    assert!(sent.contains("2609.00001"), "{sent:?}");
    assert!(!sent.contains(old), "a paper announced over 60 days before stays out of digests: {sent:?}");
}
