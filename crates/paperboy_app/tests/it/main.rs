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

fn id(text: &str) -> ArxivId {
    ArxivId::parse_lenient(text).unwrap()
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
    let details = library.show(id("0704.0001")).unwrap().unwrap();
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
    let details = library.show(id("2506.08007")).unwrap().unwrap();
    assert_eq!(details.signals[0].upvotes, 97);
    assert!(details.stored.paper.categories.is_empty());
    assert_eq!(search_ids(&library, "reinforcement pre-training")[0], "2506.08007");

    let arxiv = dir.path().join("arxiv.jsonl");
    std::fs::write(&arxiv, r#"{"id": "2506.08007", "title": "Reinforcement Pre-Training", "abstract": "In this work, we introduce RPT.", "authors": ["Qingxiu Dong"], "categories": ["cs.CL"], "announced": "2025-06-10"}"#).unwrap();
    let summary = ingest::ingest_jsonl(&library, &[arxiv], &NoProgress).unwrap();
    assert_eq!(summary.updated, 1);
    let details = library.show(id("2506.08007")).unwrap().unwrap();
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
    for query in ["ti:", "((((", &"x".repeat(20_000), "the of", "AND", "cat:nope", "(+)-"] {
        let err =
            library.search(&SearchParams { query: query.into(), limit: 10, ..SearchParams::default() }).unwrap_err();
        assert!(
            matches!(err, paperboy_app::Error::Query(_) | paperboy_app::Error::NoSearchableWords),
            "{query}: {err}"
        );
    }
}

// Search by meaning. These need all-MiniLM-L6-v2 installed (`scripts/test` installs it and sets
// PAPERBOY_TEST_MODEL_DIR); without it they fail in CI and are recorded as skipped elsewhere.

fn model_choice() -> Option<paperboy_app::ModelChoice> {
    let dir = PathBuf::from(std::env::var_os("PAPERBOY_TEST_MODEL_DIR")?);
    Some(paperboy_app::ModelChoice::new("all-MiniLM-L6-v2", dir.parent()?))
}

macro_rules! require_model {
    () => {
        match model_choice() {
            Some(choice) => choice,
            None => {
                paperboy_testing::missing(
                    module_path!(),
                    "all-MiniLM-L6-v2 (set PAPERBOY_TEST_MODEL_DIR; scripts/test installs it)",
                );
                return;
            }
        }
    };
}

/// A library of sample days with their vectors: the ones shipped with the sample (made by the same
/// model; `exported_vectors_import_into_another_library` and the embedding test check that path).
fn semantic_library(dir: &Path, days: &[&str]) -> Library {
    let choice = require_model_or_panic();
    let library = Library::open_with(dir, Some(&choice), &NoProgress).unwrap();
    let files: Vec<PathBuf> = days.iter().map(|d| sample(d)).collect();
    ingest::ingest_jsonl(&library, &files, &NoProgress).unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/sample/vectors-all-MiniLM-L6-v2.bin");
    library.import_vectors(&shipped, &NoProgress).unwrap();
    assert_eq!(library.embed_missing(&NoProgress).unwrap().embedded, 0, "the shipped vectors cover the sample");
    library
}

fn require_model_or_panic() -> paperboy_app::ModelChoice {
    model_choice().expect("checked by require_model!")
}

fn search_mode(library: &Library, query: &str, mode: paperboy_app::SearchMode, limit: usize) -> Vec<String> {
    let page = library.search(&SearchParams { query: query.into(), limit, mode, ..SearchParams::default() }).unwrap();
    page.hits.iter().map(|h| h.paper.id.to_string()).collect()
}

#[test]
fn papers_are_embedded_once_and_again_only_when_their_text_changes() {
    require_model!();
    let dir = tempfile::tempdir().unwrap();
    let library = Library::open_with(dir.path(), Some(&require_model_or_panic()), &NoProgress).unwrap();
    ingest::ingest_jsonl(&library, &[sample("2026-06-16")], &NoProgress).unwrap();
    let first = library.embed_missing(&NoProgress).unwrap();
    assert_eq!((first.embedded, library.stats().unwrap().vectors), (554, 554));
    // The same vectors as the ones shipped with the sample (made with this model, batch by batch).
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/sample/vectors-all-MiniLM-L6-v2.bin");
    let reimported =
        Library::open_with(&dir.path().join("other"), Some(&require_model_or_panic()), &NoProgress).unwrap();
    ingest::ingest_jsonl(&reimported, &[sample("2026-06-16")], &NoProgress).unwrap();
    assert_eq!(reimported.import_vectors(&shipped, &NoProgress).unwrap(), 554);
    assert_eq!(
        reimported.similar(id("2606.14725"), 5).unwrap()[0].paper.id,
        library.similar(id("2606.14725"), 5).unwrap()[0].paper.id
    );
    let again = library.embed_missing(&NoProgress).unwrap();
    assert_eq!(again.embedded, 0, "nothing new, nothing embedded");

    let changed = dir.path().join("changed.jsonl");
    std::fs::write(&changed, r#"{"id": "2606.14725", "title": "Interpolation between Convolution and Attention via K-Nearest Neighbors", "abstract": "A rewritten abstract about kernels.", "authors": ["A. Author"], "categories": ["cs.CV"], "announced": "2026-06-16"}"#).unwrap();
    ingest::ingest_jsonl(&library, &[changed], &NoProgress).unwrap();
    let summary = library.embed_missing(&NoProgress).unwrap();
    assert_eq!((summary.embedded, library.stats().unwrap().vectors), (1, 554));
}

#[test]
fn hybrid_finds_by_meaning_what_words_miss() {
    require_model!();
    let dir = tempfile::tempdir().unwrap();
    let library = semantic_library(dir.path(), &["2026-06-15", "2026-06-16"]);
    let keyword = search_mode(&library, "degeneration", paperboy_app::SearchMode::Keyword, 10);
    let hybrid = search_mode(&library, "degeneration", paperboy_app::SearchMode::Hybrid, 10);
    let details = |text: &str| library.show(id(text)).unwrap().unwrap().stored.paper;
    let without_the_word: Vec<&String> = hybrid
        .iter()
        .filter(|id| {
            let paper = details(id);
            !format!("{} {}", paper.title, paper.abstract_text).to_lowercase().contains("degenera")
        })
        .collect();
    assert!(!without_the_word.is_empty(), "meaning adds papers that never say the word: {hybrid:?}");
    assert!(keyword.iter().all(|id| {
        let paper = details(id);
        format!("{} {}", paper.title, paper.abstract_text).to_lowercase().contains("degenera")
    }));
    // Everything keyword search found first is still near the top.
    assert!(hybrid[..5].contains(&keyword[0]));
}

/// The product's promise (README, first paragraph), on real papers (`tests/data/degeneration.jsonl`)
/// among two sample days: `degeneration` finds the papers about performance degeneration and about
/// text degeneration in its first ten, each with both its scores, ahead of papers found by meaning
/// alone. (The papers that only say their performance "degrades" are in the fixture too; the model
/// ranks them 69th to 362nd of 737 by meaning, so no fusion brings them to the first page:
/// docs/BENCHMARKS.md.)
#[test]
fn the_degeneration_promise() {
    require_model!();
    let dir = tempfile::tempdir().unwrap();
    let library = semantic_library(dir.path(), &["2026-06-15", "2026-06-16"]);
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/degeneration.jsonl");
    ingest::ingest_jsonl(&library, &[fixture], &NoProgress).unwrap();
    assert_eq!(library.embed_missing(&NoProgress).unwrap().embedded, 8);
    let page = library
        .search(&SearchParams {
            query: "degeneration".into(),
            limit: 10,
            mode: paperboy_app::SearchMode::Hybrid,
            ..SearchParams::default()
        })
        .unwrap();
    assert_eq!(page.mode, "hybrid");
    let found: Vec<String> = page.hits.iter().map(|h| h.paper.id.to_string()).collect();
    let performance = ["2504.11749", "2505.12716"];
    let text = ["2505.16881", "2509.02170", "2604.14314"];
    for id in performance.iter().chain(&text) {
        let rank = found.iter().position(|f| f == id).unwrap_or_else(|| panic!("{id} not in the first ten: {found:?}"));
        let hit = &page.hits[rank];
        assert!(hit.keyword_score.is_some() && hit.semantic_score.is_some(), "{id}: both sides score it");
        let first_by_meaning_alone = page.hits.iter().position(|h| h.keyword_score.is_none());
        assert!(first_by_meaning_alone.is_none_or(|alone| rank < alone), "{id} at {rank}: {found:?}");
    }
}

#[test]
fn hybrid_keeps_what_keywords_do_well_for_short_phrases() {
    require_model!();
    let dir = tempfile::tempdir().unwrap();
    let library = semantic_library(dir.path(), &["2026-06-11", "2026-06-12", "2026-06-15", "2026-06-16"]);
    for phrase in ["speculative decoding", "kv cache compression", "vision language action"] {
        let keyword = search_mode(&library, phrase, paperboy_app::SearchMode::Keyword, 30);
        let hybrid = search_mode(&library, phrase, paperboy_app::SearchMode::Hybrid, 30);
        let kept = keyword.iter().filter(|id| hybrid.contains(id)).count();
        eprintln!("{phrase:?}: hybrid top 30 keeps {kept} of BM25's top {}", keyword.len());
        assert!(kept * 10 >= keyword.len() * 8, "{phrase:?}: only {kept} of {} kept", keyword.len());
    }
}

/// An author link opens `au:"Name"`: in every mode, only that author's papers (the meaning side
/// once added a hundred papers by others); a required field holds in hybrid mode too.
#[test]
fn field_only_queries_are_filters_in_every_mode() {
    require_model!();
    let dir = tempfile::tempdir().unwrap();
    let library = semantic_library(dir.path(), &["2026-06-11", "2026-06-12", "2026-06-15", "2026-06-16"]);
    let by_author = |query: &str, mode: paperboy_app::SearchMode| {
        let page =
            library.search(&SearchParams { query: query.into(), limit: 50, mode, ..SearchParams::default() }).unwrap();
        for hit in &page.hits {
            assert!(hit.paper.authors.iter().any(|a| a == "Minh-Triet Tran"), "{query:?} {mode:?}: {}", hit.paper.id);
        }
        page
    };
    for mode in paperboy_app::SearchMode::ALL {
        let page = by_author("au:\"Minh-Triet Tran\"", mode);
        assert_eq!((page.hits.len(), page.total, page.mode), (5, 5, "keyword"), "{mode:?}");
        let notice = page.notice.unwrap_or_default();
        let asked_for_meaning = matches!(mode, paperboy_app::SearchMode::Semantic | paperboy_app::SearchMode::Hybrid);
        assert_eq!(notice.contains("matched by its words"), asked_for_meaning, "{mode:?}: {notice:?}");
    }
    let page = by_author("+au:\"Minh-Triet Tran\" segmentation", paperboy_app::SearchMode::Hybrid);
    assert_eq!(page.mode, "hybrid", "words beside the field: meaning ranks them");
    assert!(!page.hits.is_empty());
    // What the author link asks for: newest first.
    let newest = library
        .search(&SearchParams {
            query: "au:\"Minh-Triet Tran\"".into(),
            limit: 10,
            order: paperboy_app::Order::Date,
            ..SearchParams::default()
        })
        .unwrap();
    let days: Vec<_> = newest.hits.iter().map(|h| h.paper.announced).collect();
    assert!(days.windows(2).all(|w| w[0] >= w[1]), "{days:?}");
}

/// `explain`: in hybrid mode each result's fused score is its two normalised scores weighted as
/// the explanation says; by words alone the weight is all the words'; unasked, nothing is added.
#[test]
fn every_rank_is_explained() {
    require_model!();
    let dir = tempfile::tempdir().unwrap();
    let library = semantic_library(dir.path(), &["2026-06-16"]);
    let search = |mode, explain| {
        library
            .search(&SearchParams {
                query: "diffusion inversion".into(),
                limit: 20,
                mode,
                explain,
                ..SearchParams::default()
            })
            .unwrap()
    };
    let page = search(paperboy_app::SearchMode::Hybrid, true);
    assert_eq!(page.mode, "hybrid");
    for hit in page.hits.iter().filter(|h| !h.pinned) {
        let why = hit.explanation.as_ref().unwrap();
        let (kw, sw) = (why.keyword_weight.unwrap(), why.semantic_weight.unwrap());
        let fused = kw * why.keyword_normalised.unwrap_or(0.0) + sw * why.semantic_normalised.unwrap_or(0.0);
        assert!((fused - hit.score).abs() < 1e-4, "{}: {why:?} vs {}", hit.paper.id, hit.score);
        assert_eq!(why.terms.is_empty(), hit.keyword_score.is_none(), "{}: {why:?}", hit.paper.id);
        assert!(hit.why().iter().any(|(label, _)| *label == "fused"), "{:?}", hit.why());
    }
    let page = search(paperboy_app::SearchMode::Keyword, true);
    let why = page.hits[0].explanation.as_ref().unwrap();
    assert_eq!((why.keyword_weight, why.semantic_weight), (Some(1.0), None));
    assert!(search(paperboy_app::SearchMode::Hybrid, false).hits.iter().all(|h| h.explanation.is_none()));
    // Newest first: the words decide what matches, and the explanation says so rather than sum
    // scores the order never used.
    let newest = library
        .search(&SearchParams {
            query: "diffusion inversion".into(),
            order: paperboy_app::Order::Date,
            explain: true,
            ..SearchParams::default()
        })
        .unwrap();
    let why = newest.hits[0].why();
    assert!(why.iter().any(|(label, line)| *label == "order" && line.starts_with("newest first")), "{why:?}");
    assert!(why.iter().all(|(_, line)| !line.contains(" = ")), "{why:?}");
    // A paper pinned by its title is explained as pinned, not as a fused score of nothing.
    let title = newest.hits[0].paper.title.clone();
    let pinned = library
        .search(&SearchParams {
            query: title,
            mode: paperboy_app::SearchMode::Hybrid,
            explain: true,
            ..SearchParams::default()
        })
        .unwrap();
    let why = pinned.hits[0].why();
    assert!(pinned.hits[0].pinned && why.iter().all(|(label, _)| *label != "fused"), "{why:?}");
    assert_eq!(why[0].0, "pinned");
}

#[test]
fn similar_papers_come_from_stored_vectors() {
    require_model!();
    let dir = tempfile::tempdir().unwrap();
    let library = semantic_library(dir.path(), &["2026-06-16"]);
    let similar = library.similar(id("arXiv:2606.14725v1"), 5).unwrap();
    assert_eq!(similar.len(), 5);
    assert!(similar.iter().all(|h| h.paper.id.to_string() != "2606.14725"));
    assert!(similar.windows(2).all(|w| w[0].score >= w[1].score));
    assert!(matches!(library.similar(id("2101.00001"), 5), Err(paperboy_app::Error::PaperNotFound(_))));
}

#[test]
fn without_a_model_search_falls_back_to_keywords_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let models = tempfile::tempdir().unwrap();
    let choice = paperboy_app::ModelChoice::new("all-MiniLM-L6-v2", models.path());
    let library = Library::open_with(dir.path(), Some(&choice), &NoProgress).unwrap();
    ingest::ingest_jsonl(&library, &[sample("2026-06-16")], &NoProgress).unwrap();
    let page =
        library.search(&SearchParams { query: "diffusion".into(), limit: 5, ..SearchParams::default() }).unwrap();
    assert_eq!(page.mode, "keyword");
    assert!(page.notice.as_deref().unwrap().contains("paperboy model install"), "{:?}", page.notice);
    assert_eq!(page.hits.len(), 5);
    assert!(matches!(library.similar(id("2606.14725"), 3), Err(paperboy_app::Error::SemanticUnavailable(_))));
}

#[test]
fn the_model_is_read_when_something_first_embeds_not_when_the_library_opens() {
    let real = require_model!();
    // The installed model with weights that cannot load: opening must not notice.
    let models = tempfile::tempdir().unwrap();
    let copy = models.path().join(&real.name);
    std::fs::create_dir_all(&copy).unwrap();
    for entry in walk(&real.models_dir.join(&real.name)) {
        let to = copy.join(entry.strip_prefix(real.models_dir.join(&real.name)).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&entry, &to).unwrap();
    }
    std::fs::write(copy.join("model.safetensors"), b"not weights").unwrap();
    let choice = paperboy_app::ModelChoice::new(&real.name, models.path());

    let dir = tempfile::tempdir().unwrap();
    let library = Library::open_with(dir.path(), Some(&choice), &NoProgress).unwrap();
    assert_eq!(library.semantic_status(), Ok(real.name.as_str()), "opening read the weights");
    ingest::ingest_jsonl(&library, &[sample("2026-06-16")], &NoProgress).unwrap();
    assert_eq!(library.stats().unwrap().papers, 554);
    assert_eq!(library.semantic_status(), Ok(real.name.as_str()), "ingest without embedding read the weights");

    // The first search by meaning tries the model, and falls back to words with the reason.
    let page =
        library.search(&SearchParams { query: "diffusion".into(), limit: 5, ..SearchParams::default() }).unwrap();
    assert_eq!(page.mode, "keyword");
    assert!(page.notice.as_deref().unwrap_or_default().contains("cannot be loaded"), "{:?}", page.notice);
    assert_eq!(page.hits.len(), 5);
    assert!(library.semantic_status().unwrap_err().contains("cannot be loaded"));
    assert!(matches!(library.embed_missing(&NoProgress), Err(paperboy_app::Error::SemanticUnavailable(_))));
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() { files.extend(walk(&path)) } else { files.push(path) }
    }
    files
}

#[test]
fn vectors_of_another_dimension_turn_semantic_search_off_not_keyword_search() {
    let choice = require_model!();
    let dir = tempfile::tempdir().unwrap();
    let vectors = dir.path().join("vectors/all-MiniLM-L6-v2");
    std::fs::create_dir_all(&vectors).unwrap();
    std::fs::write(
        vectors.join("meta.json"),
        r#"{"format": 1, "model": "all-MiniLM-L6-v2", "dimension": 768, "records": 0, "seq": 0}"#,
    )
    .unwrap();
    let library = Library::open_with(dir.path(), Some(&choice), &NoProgress).unwrap();
    let reason = library.semantic_status().unwrap_err();
    assert!(reason.contains("768"), "{reason}");
    ingest::ingest_jsonl(&library, &[sample("2026-06-16")], &NoProgress).unwrap();
    assert_eq!(search_ids(&library, "diffusion").len(), 10);
}

#[test]
fn vectors_of_a_replaced_store_start_over_before_new_embeddings_can_pass_them() {
    require_model!();
    let dir = tempfile::tempdir().unwrap();
    drop(semantic_library(dir.path(), &["2026-06-16"]));
    // The operator replaced the store; the new one gets more embeddings than the old vectors
    // counted before anything has read those vectors.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.path().join(format!("paperboy.sqlite3{suffix}")));
    }
    let choice = require_model_or_panic();
    let library = Library::open_with(dir.path(), Some(&choice), &NoProgress).unwrap();
    let days: Vec<PathBuf> =
        ["2026-06-10", "2026-06-11", "2026-06-12", "2026-06-15"].iter().map(|d| sample(d)).collect();
    ingest::ingest_jsonl(&library, &days, &NoProgress).unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/sample/vectors-all-MiniLM-L6-v2.bin");
    assert!(library.import_vectors(&shipped, &NoProgress).unwrap() > 554);
    // A paper of the old store only has no vector left; one of the new store has its own.
    assert!(matches!(library.similar(id("2606.14725"), 3), Err(paperboy_app::Error::PaperNotFound(_))));
    assert_eq!(library.similar(id("2008.03186"), 3).unwrap().len(), 3);
}

#[test]
fn exported_vectors_import_into_another_library() {
    require_model!();
    let dir = tempfile::tempdir().unwrap();
    let library = semantic_library(&dir.path().join("a"), &["2026-06-16"]);
    let file = dir.path().join("vectors.bin");
    assert_eq!(library.export_vectors(&file).unwrap(), 554);

    let choice = require_model_or_panic();
    let other = Library::open_with(&dir.path().join("b"), Some(&choice), &NoProgress).unwrap();
    ingest::ingest_jsonl(&other, &[sample("2026-06-16")], &NoProgress).unwrap();
    assert_eq!(other.import_vectors(&file, &NoProgress).unwrap(), 554);
    assert_eq!(other.embed_missing(&NoProgress).unwrap().embedded, 0, "imported vectors are current");
    assert_eq!(
        other.similar(id("2606.14725"), 3).unwrap()[0].paper.id,
        library.similar(id("2606.14725"), 3).unwrap()[0].paper.id
    );
    std::fs::write(dir.path().join("junk.bin"), b"{\"format\": \"other\"}\n").unwrap();
    assert!(other.import_vectors(&dir.path().join("junk.bin"), &NoProgress).is_err());

    // A file cut short in its last vector imports nothing, not the vectors before the cut.
    let bytes = std::fs::read(&file).unwrap();
    let cut = dir.path().join("cut.bin");
    std::fs::write(&cut, &bytes[..bytes.len() - 100]).unwrap();
    let third = Library::open_with(&dir.path().join("c"), Some(&choice), &NoProgress).unwrap();
    ingest::ingest_jsonl(&third, &[sample("2026-06-16")], &NoProgress).unwrap();
    let err = third.import_vectors(&cut, &NoProgress).unwrap_err().to_string();
    assert!(err.contains("truncated"), "{err}");
    assert_eq!(third.stats().unwrap().vectors, 0);
}

mod accounts;
mod digest;
