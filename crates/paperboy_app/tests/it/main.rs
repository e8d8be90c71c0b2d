//! The use cases end to end on disk: real sample files, recorded arXiv responses over loopback.

use std::{
    path::{Path, PathBuf},
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use chrono::NaiveDate;
use paperboy_app::{
    Library, NoProgress, SearchParams,
    ingest::{self, OaiOptions},
};
use paperboy_arxiv::{
    Politeness,
    api::ApiQuery,
    oai::{HarvestRequest, MetadataFormat},
    replay::{self, ReplayServer, Response},
};
use paperboy_domain::ArxivId;
use paperboy_store::WriteBatch;

const FAST: Politeness = Politeness {
    min_interval: Duration::from_millis(20),
    max_retries: 3,
    max_retry_after: Duration::from_secs(5),
    timeout: Duration::from_secs(10),
};

fn sample(day: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../data/sample/arxiv-cs/{day}.jsonl.gz"))
}

fn open(dir: &Path) -> Library {
    Library::open(dir, &NoProgress).unwrap()
}

fn search_ids(library: &Library, query: &str) -> Vec<String> {
    let page = library.search(&SearchParams { query: query.into(), limit: 10, ..SearchParams::default() }).unwrap();
    page.hits.iter().map(|h| h.paper.id.to_string()).collect()
}

#[test]
fn ingesting_the_same_files_twice_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let library = open(dir.path());
    let files = [sample("2026-06-15"), sample("2026-06-16")];
    let first = ingest::ingest_jsonl(&library, &files, &NoProgress).unwrap();
    assert_eq!((first.read, first.new, first.skipped), (first.new, first.read, 0));
    let stats = library.stats().unwrap();
    assert_eq!(stats.papers, first.new);
    assert_eq!(stats.indexed_papers, first.new);

    let second = ingest::ingest_jsonl(&library, &files, &NoProgress).unwrap();
    assert_eq!((second.new, second.updated, second.unchanged), (0, 0, first.new));
    assert_eq!(library.stats().unwrap().store.max_seq, stats.store.max_seq);
    assert_eq!(library.index().num_docs(), first.new);
    assert_eq!(search_ids(&library, "arXiv:2606.14725v1")[0], "2606.14725", "an exact id comes first");
}

#[test]
fn the_index_catches_up_with_papers_stored_before_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    {
        let library = open(dir.path());
        ingest::ingest_jsonl(&library, &[sample("2026-06-15")], &NoProgress).unwrap();
        // A process killed after the store commit and before the index commit leaves this.
        let papers: Vec<_> =
            paperboy_arxiv::jsonl::JsonlReader::open(&sample("2026-06-16")).unwrap().map(Result::unwrap).collect();
        library.store().apply(WriteBatch::papers(papers)).unwrap();
        assert!(search_ids(&library, "RAMS resource-adaptive model switching").iter().all(|id| id != "2606.14716"));
    }
    let library = open(dir.path());
    let stats = library.stats().unwrap();
    assert_eq!(stats.indexed_papers, stats.papers, "reopening indexes what the store holds");
    assert_eq!(search_ids(&library, "RAMS resource-adaptive model switching")[0], "2606.14716");
}

#[test]
fn an_index_ahead_of_its_store_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    {
        let library = open(dir.path());
        ingest::ingest_jsonl(&library, &[sample("2026-06-16")], &NoProgress).unwrap();
    }
    // The operator replaced the store with an older, smaller one.
    std::fs::remove_file(dir.path().join("paperboy.sqlite3")).unwrap();
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.path().join(format!("paperboy.sqlite3{suffix}")));
    }
    let library = open(dir.path());
    assert_eq!(library.index().num_docs(), 0);
    assert!(search_ids(&library, "diffusion").is_empty());
}

#[test]
fn bad_files_are_reported_and_the_rest_is_ingested() {
    let dir = tempfile::tempdir().unwrap();
    let library = open(dir.path());
    ingest::ingest_jsonl(&library, &[sample("2026-06-16")], &NoProgress).unwrap();
    let before = library.stats().unwrap().papers;

    let broken = dir.path().join("broken.jsonl");
    std::fs::write(&broken, "{\"id\": \"2401.00001\", \"title\": \"Fine\", \"categories\": [\"cs.CL\"]}\n{not json\n")
        .unwrap();
    let bytes = std::fs::read(sample("2026-06-15")).unwrap();
    let truncated = dir.path().join("truncated.jsonl.gz");
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    let missing = dir.path().join("missing.jsonl");

    let summary = ingest::ingest_jsonl(&library, &[broken, truncated, missing], &NoProgress).unwrap();
    assert_eq!(summary.failed_files.len(), 2, "{:?}", summary.failed_files);
    assert!(summary.failed_files[0].contains("truncated"), "{:?}", summary.failed_files);
    assert!(summary.failed_files[1].contains("missing.jsonl"), "{:?}", summary.failed_files);
    assert!(summary.skipped >= 1);
    assert!(summary.new > 1, "the readable part of the truncated file is stored");
    assert_eq!(library.stats().unwrap().papers, before + summary.new, "nothing stored before is lost");
}

#[test]
fn kaggle_snapshot_records_keep_their_versions() {
    let dir = tempfile::tempdir().unwrap();
    let library = open(dir.path());
    let kaggle = replay::fixture_dir().join("kaggle-sample.jsonl");
    let summary = ingest::ingest_jsonl(&library, &[kaggle], &NoProgress).unwrap();
    assert_eq!(summary.new, 200);
    let details = library.show("0704.0001").unwrap().unwrap();
    assert_eq!(details.stored.paper.versions.len(), 2);
    assert_eq!(details.stored.paper.authors[0], "C. Balázs");
    assert_eq!(search_ids(&library, "au:balazs")[0], "0704.0001", "accents fold in author search");
}

fn harvest(server: &ReplayServer, max_pages: Option<u32>) -> OaiOptions {
    OaiOptions {
        request: HarvestRequest {
            endpoint: format!("{}/oai", server.url()),
            from: NaiveDate::from_ymd_opt(2017, 12, 1).unwrap(),
            until: None,
            set: None,
            format: MetadataFormat::Arxiv,
        },
        politeness: FAST,
        max_pages,
    }
}

#[test]
fn an_oai_harvest_stores_every_page_and_forgets_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let library = open(dir.path());
    let server = ReplayServer::start(replay::oai_repository(replay::oai_pages()));
    let summary = ingest::ingest_oai(&library, &harvest(&server, None), &NoProgress).unwrap();
    assert_eq!((summary.pages, summary.new, summary.skipped), (3, 9, 0));
    assert_eq!(library.stats().unwrap().store.unfinished_harvests, 0);
    assert_eq!(search_ids(&library, "silicon photomultipliers")[0], "1706.05371");
}

#[test]
fn an_interrupted_oai_harvest_resumes_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let server = ReplayServer::start(replay::oai_repository(replay::oai_pages()));
    {
        let library = open(dir.path());
        let first = ingest::ingest_oai(&library, &harvest(&server, Some(1)), &NoProgress).unwrap();
        assert_eq!((first.pages, first.new), (1, 3));
        assert_eq!(library.stats().unwrap().store.unfinished_harvests, 1);
    }
    let library = open(dir.path());
    let second = ingest::ingest_oai(&library, &harvest(&server, None), &NoProgress).unwrap();
    assert!(second.resumed.is_some());
    assert_eq!((second.pages, second.new), (2, 6));
    let requests = server.requests();
    assert_eq!(requests.len(), 3, "no page is fetched twice");
    assert_eq!(requests[1].param("resumptionToken"), Some("3132962|3"));
    assert_eq!(library.stats().unwrap().papers, 9);
}

#[test]
fn an_expired_token_on_resume_restarts_from_the_newest_datestamp() {
    let dir = tempfile::tempdir().unwrap();
    let pages = replay::oai_pages();
    let expired = AtomicUsize::new(0);
    let repository = replay::oai_repository(pages);
    let server = ReplayServer::start(move |request| {
        // The first resume finds its token expired; everything else behaves.
        if request.param("resumptionToken").is_some() && expired.fetch_add(1, Ordering::SeqCst) == 1 {
            return Response::ok(replay::oai_error("badResumptionToken", "expired"));
        }
        repository(request)
    });
    {
        let library = open(dir.path());
        ingest::ingest_oai(&library, &harvest(&server, Some(2)), &NoProgress).unwrap();
    }
    let library = open(dir.path());
    let summary = ingest::ingest_oai(&library, &harvest(&server, None), &NoProgress).unwrap();
    let requests = server.requests();
    let restart = &requests[3];
    assert_eq!(restart.param("resumptionToken"), None);
    assert_eq!(restart.param("from"), Some("2017-12-14"), "restarted from the newest datestamp stored");
    assert_eq!(summary.new + summary.unchanged, 9, "re-read records are unchanged, the rest new");
    assert_eq!(library.stats().unwrap().papers, 9);
}

#[test]
fn an_oai_error_mid_harvest_keeps_the_pages_stored_and_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let library = open(dir.path());
    let pages = replay::oai_pages();
    let server = ReplayServer::start(move |request| match request.param("resumptionToken") {
        None => Response::ok(pages[0].clone()),
        Some(_) => Response::status(500, "Internal Server Error"),
    });
    let err = ingest::ingest_oai(&library, &harvest(&server, None), &NoProgress).unwrap_err();
    assert!(err.cause.to_string().contains("HTTP 500"), "{}", err.cause);
    assert_eq!(err.summary.new, 3);
    assert_eq!(library.stats().unwrap().store.unfinished_harvests, 1);
    assert_eq!(library.index().num_docs(), 3, "what was stored is also indexed");
}

#[test]
fn hugging_face_signals_attach_and_arxiv_metadata_takes_over() {
    let dir = tempfile::tempdir().unwrap();
    let library = open(dir.path());
    let file = replay::fixture_dir().join("hf-raw/2025-06-10.json.gz");
    let summary = ingest::ingest_hf_daily(&library, std::slice::from_ref(&file), &NoProgress).unwrap();
    assert_eq!((summary.signals_new, summary.new), (28, 28));
    let again = ingest::ingest_hf_daily(&library, &[file], &NoProgress).unwrap();
    assert_eq!((again.signals_unchanged, again.unchanged), (28, 28), "re-ingesting is a no-op");
    let details = library.show("2506.08007").unwrap().unwrap();
    assert_eq!(details.signals[0].upvotes, 97);
    assert!(details.stored.paper.categories.is_empty());
    assert_eq!(search_ids(&library, "reinforcement pre-training")[0], "2506.08007");

    let arxiv = dir.path().join("arxiv.jsonl");
    std::fs::write(&arxiv, r#"{"id": "2506.08007", "title": "Reinforcement Pre-Training", "abstract": "In this work, we introduce RPT.", "authors": ["Qingxiu Dong"], "categories": ["cs.CL"], "announced": "2025-06-10"}"#).unwrap();
    let summary = ingest::ingest_jsonl(&library, &[arxiv], &NoProgress).unwrap();
    assert_eq!(summary.updated, 1);
    let details = library.show("2506.08007").unwrap().unwrap();
    assert_eq!(details.stored.paper.categories[0].as_str(), "cs.CL");
    assert_eq!(details.signals[0].upvotes, 97, "signals stay attached");
    assert_eq!(
        search_ids(&library, "reinforcement pre-training cat:cs.CL")[0],
        "2506.08007",
        "the index has the new categories"
    );
}

#[test]
fn the_arxiv_api_looks_papers_up_by_id() {
    let dir = tempfile::tempdir().unwrap();
    let library = open(dir.path());
    let body = {
        let path = replay::fixture_dir().join("api-2026/id_1605.08386_s0_m100_199195aa31ad.json");
        let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        json["body"].as_str().unwrap().chars().map(|c| c as u32 as u8).collect::<Vec<u8>>()
    };
    let server = ReplayServer::start(move |_| Response::ok(body.clone()));
    let query = ApiQuery::Ids(vec![ArxivId::parse("1605.08386").unwrap()]);
    let summary =
        ingest::ingest_arxiv_api(&library, &format!("{}/api/query", server.url()), &query, FAST, &NoProgress).unwrap();
    assert_eq!(summary.new, 1);
    assert_eq!(search_ids(&library, "heat-bath random walks markov bases")[0], "1605.08386");
}

#[test]
fn malformed_queries_are_user_errors_and_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let library = open(dir.path());
    ingest::ingest_jsonl(&library, &[sample("2026-06-16")], &NoProgress).unwrap();
    for query in ["ti:", "\"unclosed", "((((", &"x".repeat(20_000), "the of", "AND", "cat:nope"] {
        let err =
            library.search(&SearchParams { query: query.into(), limit: 10, ..SearchParams::default() }).unwrap_err();
        assert!(
            matches!(
                err,
                paperboy_app::Error::Query(_) | paperboy_app::Error::Search(paperboy_search::Error::NoSearchableWords)
            ),
            "{query}: {err}"
        );
    }
}
