//! Papers, signals and checkpoints, on every backend.

use chrono::{NaiveDate, TimeZone, Utc};
use paperboy_domain::{ArxivId, Category, Paper, Signals, Version};
use paperboy_store::{CheckpointUpdate, PaperSource, Store, UpsertOutcome, WriteBatch};

pub(crate) fn paper(id: &str, title: &str) -> Paper {
    let mut paper = Paper::new(ArxivId::parse(id).unwrap(), title);
    paper.abstract_text = format!("Abstract of {title}.");
    paper.authors = vec!["Ada Lovelace".into()];
    paper.categories = vec![Category::parse("cs.CL").unwrap()];
    paper.normalize().unwrap()
}

pub(crate) fn papers_round_trip_through_the_store(store: &dyn Store) {
    let mut original = paper("2401.00001v2", "A title");
    original.versions = vec![
        Version {
            number: 1,
            submitted: Some(Utc.with_ymd_and_hms(2024, 1, 1, 10, 0, 0).unwrap()),
            size: Some("1kb".into()),
        },
        Version { number: 2, submitted: None, size: None },
    ];
    original.announced = NaiveDate::from_ymd_opt(2024, 1, 3);
    original.doi = Some("10.1/x".into());
    let original = original.normalize().unwrap();
    let outcome = store.apply(WriteBatch::papers(vec![original.clone()])).unwrap();
    assert_eq!(outcome.papers, [UpsertOutcome::New]);
    let stored = store.paper(ArxivId::parse("2401.00001v9").unwrap()).unwrap().unwrap();
    assert_eq!(stored.paper, original);
    assert_eq!(stored.seq, 1);
    assert_eq!(outcome.changed, [(UpsertOutcome::New, stored)], "the batch reports the paper as stored");
}

pub(crate) fn ingesting_the_same_papers_twice_changes_nothing(store: &dyn Store) {
    let batch = vec![paper("2401.00001", "One"), paper("2401.00002", "Two")];
    store.apply(WriteBatch::papers(batch.clone())).unwrap();
    let seq = store.max_seq().unwrap();
    let outcome = store.apply(WriteBatch::papers(batch)).unwrap();
    assert_eq!(outcome.papers, [UpsertOutcome::Unchanged, UpsertOutcome::Unchanged]);
    assert_eq!(store.max_seq().unwrap(), seq, "an unchanged paper keeps its sequence number");
}

pub(crate) fn newer_versions_replace_and_older_ones_only_add_their_dates(store: &dyn Store) {
    let mut v2 = paper("2401.00001v2", "Title v2");
    v2.versions =
        vec![Version { number: 2, submitted: Some(Utc.with_ymd_and_hms(2024, 2, 1, 0, 0, 0).unwrap()), size: None }];
    store.apply(WriteBatch::papers(vec![v2.normalize().unwrap()])).unwrap();

    let mut v1 = paper("2401.00001v1", "Title v1");
    v1.versions =
        vec![Version { number: 1, submitted: Some(Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()), size: None }];
    let outcome = store.apply(WriteBatch::papers(vec![v1.normalize().unwrap()])).unwrap();
    assert_eq!(outcome.papers, [UpsertOutcome::Updated]);
    let stored = store.paper(ArxivId::parse("2401.00001").unwrap()).unwrap().unwrap().paper;
    assert_eq!(stored.title, "Title v2", "the newest version's metadata is kept");
    assert_eq!(stored.versions.iter().map(|v| v.number).collect::<Vec<_>>(), [1, 2], "every version is recorded");
    assert_eq!(stored.version, Some(2));

    let v3 = paper("2401.00001v3", "Title v3");
    store.apply(WriteBatch::papers(vec![v3])).unwrap();
    let stored = store.paper(ArxivId::parse("2401.00001").unwrap()).unwrap().unwrap();
    assert_eq!(stored.paper.title, "Title v3");
    assert_eq!(stored.paper.versions.len(), 2, "v3 carried no dates but v1 and v2 are still recorded");
    assert_eq!(stored.seq, 3, "each change takes a new sequence number");
}

pub(crate) fn secondary_sources_never_overwrite_arxiv(store: &dyn Store) {
    store.apply(WriteBatch::papers(vec![paper("2401.00001", "arXiv title")])).unwrap();
    let mut hf = paper("2401.00001", "HF title");
    hf.categories.clear();
    let batch = WriteBatch {
        papers: vec![hf.clone(), paper("2401.00002", "Only on HF")],
        paper_source: PaperSource::Secondary,
        signals: vec![],
        checkpoint: None,
    };
    let outcome = store.apply(batch).unwrap();
    assert_eq!(outcome.papers, [UpsertOutcome::Unchanged, UpsertOutcome::New]);
    assert_eq!(store.paper(hf.id).unwrap().unwrap().paper.title, "arXiv title");
    // ... and arXiv's record replaces a secondary one.
    let outcome = store.apply(WriteBatch::papers(vec![paper("2401.00002", "Real title")])).unwrap();
    assert_eq!(outcome.papers, [UpsertOutcome::Updated]);
    let stored = store.paper(ArxivId::parse("2401.00002").unwrap()).unwrap().unwrap();
    assert_eq!((stored.paper.title.as_str(), stored.source), ("Real title", PaperSource::Arxiv));
}

pub(crate) fn signals_keep_the_newest_observation(store: &dyn Store) {
    let id = ArxivId::parse("2401.00001").unwrap();
    let signals = |upvotes, day| Signals {
        id,
        source: "huggingface".into(),
        upvotes,
        comments: 1,
        github_repo: None,
        github_stars: None,
        featured_on: NaiveDate::from_ymd_opt(2024, 1, day),
        observed_at: Utc.with_ymd_and_hms(2024, 1, day, 12, 0, 0).unwrap(),
    };
    let batch = |s: Signals| WriteBatch {
        papers: vec![],
        paper_source: PaperSource::Arxiv,
        signals: vec![s],
        checkpoint: None,
    };
    assert_eq!(store.apply(batch(signals(10, 5))).unwrap().signals, [UpsertOutcome::New]);
    assert_eq!(store.apply(batch(signals(10, 5))).unwrap().signals, [UpsertOutcome::Unchanged]);
    assert_eq!(
        store.apply(batch(signals(3, 2))).unwrap().signals,
        [UpsertOutcome::Updated],
        "an older listing day is recorded"
    );
    let stored = &store.signals(&[id]).unwrap()[0];
    assert_eq!(stored.upvotes, 10, "older counts do not replace newer ones");
    assert_eq!(stored.featured_on, NaiveDate::from_ymd_opt(2024, 1, 2));
}

pub(crate) fn daily_listings_and_their_neighbours(store: &dyn Store) {
    let day = |d| NaiveDate::from_ymd_opt(2024, 1, d);
    let papers = [("2401.00003", 3), ("2401.00001", 3), ("2401.00002", 5), ("2401.00004", 9)]
        .iter()
        .map(|(id, d)| {
            let mut p = paper(id, "t");
            p.announced = day(*d);
            p
        })
        .collect();
    store.apply(WriteBatch::papers(papers)).unwrap();
    let ids: Vec<String> =
        store.papers_announced_on(day(3).unwrap()).unwrap().iter().map(|p| p.paper.id.to_string()).collect();
    assert_eq!(ids, ["2401.00001", "2401.00003"]);
    assert_eq!(store.announcement_days_around(day(5).unwrap()).unwrap(), (day(3), day(9)));
    assert_eq!(store.announcement_days_around(day(4).unwrap()).unwrap(), (day(3), day(5)));
    assert_eq!(store.latest_day().unwrap(), day(9));
}

pub(crate) fn checkpoints_commit_with_their_batch(store: &dyn Store) {
    let set = WriteBatch {
        checkpoint: Some(CheckpointUpdate::Set { key: "oai".into(), value: "token|3".into() }),
        ..WriteBatch::papers(vec![paper("2401.00001", "One")])
    };
    store.apply(set).unwrap();
    assert_eq!(store.checkpoint("oai").unwrap().as_deref(), Some("token|3"));
    store
        .apply(WriteBatch {
            checkpoint: Some(CheckpointUpdate::Clear { key: "oai".into() }),
            ..WriteBatch::papers(vec![])
        })
        .unwrap();
    assert_eq!(store.checkpoint("oai").unwrap(), None);
}

pub(crate) fn changed_since_walks_the_sequence(store: &dyn Store) {
    store.apply(WriteBatch::papers((1..=5).map(|i| paper(&format!("2401.{i:05}"), "t")).collect())).unwrap();
    let after_two: Vec<String> = store.changed_since(2, 10).unwrap().iter().map(|p| p.paper.id.to_string()).collect();
    assert_eq!(after_two, ["2401.00003", "2401.00004", "2401.00005"]);
    assert_eq!(store.changed_since(0, 2).unwrap().len(), 2);
}
