//! The real binary, run as a user or a script runs it: exit codes, messages, JSON, and a harvest
//! killed with SIGKILL and restarted.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    thread,
    time::{Duration, Instant},
};

use paperboy_arxiv::replay::{self, ReplayServer};

/// The binary with keyword search only (the semantic test below turns the model on).
fn paperboy(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_paperboy"));
    command
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("PAPERBOY_DATA_DIR")
        .env("PAPERBOY_MODEL", "none")
        .env("PAPERBOY_LOG", "warn")
        .stdin(Stdio::null());
    command
}

fn run(data_dir: &Path, args: &[&str]) -> Output {
    paperboy(data_dir).args(args).output().expect("running paperboy")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn sample(day: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../../data/sample/arxiv-cs/{day}.jsonl.gz"))
        .display()
        .to_string()
}

fn ingested() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let output = run(&data, &["ingest", "jsonl", &sample("2026-06-16")]);
    assert!(output.status.success(), "{}", stderr(&output));
    (dir, data)
}

#[test]
fn ingest_prints_a_summary_and_json_for_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(dir.path(), &["ingest", "jsonl", &sample("2026-06-16")]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("new 554 · updated 0 · unchanged 0 · skipped 0"), "{}", stdout(&output));
    let output = run(dir.path(), &["ingest", "jsonl", "--json", &sample("2026-06-16")]);
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["unchanged"], 554);
    assert_eq!(summary["new"], 0);
}

#[test]
fn search_show_and_stats_work_for_people_and_scripts() {
    let (_dir, data) = ingested();
    let output = run(&data, &["search", "diffusion", "inversion"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("Timestep Rescheduling in Diffusion Inversion"), "{}", stdout(&output));
    // Why each result ranks there: its words' parts, and what they added standing together.
    let output = run(&data, &["search", "--mode", "keyword", "--explain", "--limit", "3", "diffusion", "inversion"]);
    let text = stdout(&output);
    assert!(output.status.success(), "{}", stderr(&output));
    // Each word is a part of the sum ("BM25 inversion 6.12 + diffusion 2.31 + words together …").
    let is_a_part = |word: &str| text.contains(&format!("BM25 {word} ")) || text.contains(&format!(" + {word} "));
    assert!(text.contains("words:   BM25 ") && is_a_part("diffusion") && is_a_part("inversion"), "{text}");
    assert!(text.contains(" + words together "), "{text}");

    let output =
        run(&data, &["search", "--json", "--limit", "3", "--category", "cs.CV", "--sort", "date", "segmentation"]);
    let page: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(page["hits"].as_array().unwrap().len(), 3);
    assert!(page["hits"][0]["paper"]["categories"].as_array().unwrap().iter().any(|c| c == "cs.CV"));

    let output = run(&data, &["show", "--json", "arXiv:2606.14725"]);
    let paper: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(paper["id"], "2606.14725");
    assert_eq!(paper["announced"], "2026-06-16");
    let output = run(&data, &["show", "2606.14725"]);
    assert!(stdout(&output).contains("https://arxiv.org/pdf/2606.14725"), "{}", stdout(&output));

    let output = run(&data, &["stats", "--json"]);
    let stats: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(stats["papers"], 554);
    assert_eq!(stats["indexed_papers"], 554);
}

#[test]
fn bad_input_gets_a_clear_message_and_a_failing_exit_code() {
    let (_dir, data) = ingested();
    let long_query = "x".repeat(20_000);
    for (args, message) in [
        (vec!["search", "ti:"], "`ti:` needs a word"),
        (vec!["search", "(((("], "never closed"),
        (vec!["search", long_query.as_str()], "too long"),
        (vec!["search", "the"], "no searchable words"),
        (vec!["search", "--category", "cs.XX", "x"], "unknown arXiv category"),
        (vec!["search", "--since", "2026-06-10", "--until", "2026-06-01", "x"], "before --since"),
        (vec!["show", "not-an-id"], "invalid arXiv id"),
        (vec!["show", "2101.00001"], "no paper 2101.00001"),
        (vec!["ingest", "jsonl", "/nonexistent/file.jsonl"], "cannot read /nonexistent/file.jsonl"),
        (vec!["ingest", "arxiv-api", "--id", "abc"], "invalid arXiv id"),
        (vec!["ingest", "oai", "--from", "2024-01-02", "--until", "2024-01-01"], "before --from"),
        (vec!["ingest", "oai", "--from", "2024-01-01", "--request-interval", "0.5"], "at least 3 seconds"),
    ] {
        let output = run(&data, &args);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {}", stderr(&output));
        assert!(stderr(&output).contains(message), "{args:?}: {}", stderr(&output));
        assert!(!stderr(&output).contains("panicked"), "{args:?}: {}", stderr(&output));
    }
    // A pasted sentence whose brackets and quotes do not parse is searched by its words.
    for pasted in [
        "A high microerythrocyte count protects against severe anemia in homozygous alpha (+)- thalassemia trait subjects.",
        "\"unclosed quote about diffusion",
    ] {
        let output = run(&data, &["search", "--mode", "keyword", pasted]);
        assert!(output.status.success(), "{pasted}: {}", stderr(&output));
    }
    // Usage errors are clap's: exit code 2.
    let output = run(&data, &["ingest", "oai", "--from", "2026-13-01"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--from"), "{}", stderr(&output));
    // Nothing stored was lost along the way.
    let stats: serde_json::Value = serde_json::from_slice(&run(&data, &["stats", "--json"]).stdout).unwrap();
    assert_eq!(stats["papers"], 554);
}

#[test]
fn help_explains_the_query_syntax() {
    let output = run(Path::new("/tmp"), &["search", "--help"]);
    assert!(stdout(&output).contains("cat:cs.CL"), "{}", stdout(&output));
    let output = run(Path::new("/tmp"), &["--help"]);
    for command in ["ingest", "search", "show", "similar", "embed", "model", "stats", "reindex", "eval", "demo"] {
        assert!(stdout(&output).contains(command), "{command}");
    }
}

#[test]
fn a_harvest_killed_mid_run_resumes_and_stores_everything_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = ReplayServer::start(replay::oai_repository(replay::oai_pages()));
    let endpoint = format!("{}/oai", server.url());
    let args = ["ingest", "oai", "--from", "2017-12-01", "--endpoint", &endpoint, "--request-interval", "1"];
    let mut child = paperboy(dir.path()).args(args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    // Once page 2 is asked for, page 1 is stored; kill while page 2 is in flight or being stored.
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.requests().len() < 2 {
        assert!(Instant::now() < deadline, "the harvest never asked for page 2");
        thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let killed_after = server.requests().len();

    let output = run(dir.path(), &args);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("resuming the harvest after page"), "{}", stdout(&output));
    let stats: serde_json::Value = serde_json::from_slice(&run(dir.path(), &["stats", "--json"]).stdout).unwrap();
    assert_eq!(stats["papers"], 9);
    assert_eq!(stats["indexed_papers"], 9);
    assert_eq!(stats["store"]["unfinished_harvests"], 0);
    let first_page_requests = server.requests().iter().filter(|r| r.param("resumptionToken").is_none()).count();
    assert_eq!(first_page_requests, 1, "page 1 was not fetched again");
    assert!(server.requests().len() <= killed_after + 2, "at most the page in flight was fetched twice");
}

#[test]
fn eval_beir_reports_ndcg_and_recall() {
    let dir = tempfile::tempdir().unwrap();
    let beir = dir.path().join("tiny");
    std::fs::create_dir_all(beir.join("qrels")).unwrap();
    std::fs::write(
        beir.join("corpus.jsonl"),
        [
            r#"{"_id": "d1", "title": "Aspirin and heart attacks", "text": "Aspirin lowers the risk of myocardial infarction."}"#,
            r#"{"_id": "d2", "title": "Coffee", "text": "Coffee consumption and sleep quality."}"#,
            r#"{"_id": "d3", "title": "Statins", "text": "Statins lower cholesterol and cardiovascular risk."}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    std::fs::write(
        beir.join("queries.jsonl"),
        [
            r#"{"_id": "q1", "text": "aspirin reduces myocardial infarction"}"#,
            r#"{"_id": "q2", "text": "coffee harms sleep"}"#,
            r#"{"_id": "q3", "text": "unjudged"}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    std::fs::write(beir.join("qrels/test.tsv"), "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n").unwrap();
    let output = run(&dir.path().join("data"), &["eval", "beir", "--json", beir.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["queries"], 2);
    assert_eq!(report["ndcg_at_10"], 1.0);
    assert_eq!(report["per_query"].as_array().unwrap().len(), 2);
    assert!(dir.path().join("data/scratch/beir-tiny").is_dir(), "the scratch index lives under the data dir");
}

/// The installed all-MiniLM-L6-v2's models folder (`scripts/test` installs it).
fn models_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("PAPERBOY_TEST_MODEL_DIR")?);
    dir.parent().map(Path::to_owned)
}

#[test]
fn search_by_meaning_end_to_end() {
    let Some(models) = models_dir() else {
        paperboy_testing::missing(
            "search_by_meaning_end_to_end",
            "all-MiniLM-L6-v2 (set PAPERBOY_TEST_MODEL_DIR; scripts/test installs it)",
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let with_model = |args: &[&str]| {
        paperboy(dir.path())
            .env("PAPERBOY_MODEL", "all-MiniLM-L6-v2")
            .env("PAPERBOY_MODEL_DIR", &models)
            .args(args)
            .output()
            .unwrap()
    };
    let output = with_model(&["ingest", "jsonl", "--no-embed", &sample("2026-06-16")]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = run(dir.path(), &["search", "--mode", "hybrid", "diffusion"]);
    assert!(
        stderr(&output).contains("semantic search is off"),
        "stderr: {} stdout: {}",
        stderr(&output),
        stdout(&output)
    );

    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/sample/vectors-all-MiniLM-L6-v2.bin");
    let output = with_model(&["embed", "--json", "--import", shipped.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["vectors"], 554);

    let output = with_model(&["search", "--json", "--limit", "5", "degeneration"]);
    let page: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(page["mode"], "hybrid");
    assert_eq!(page["hits"].as_array().unwrap().len(), 5);
    let output = with_model(&["similar", "--json", "--limit", "3", "2606.14725"]);
    let similar: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(similar.as_array().unwrap().len(), 3);
    let output = with_model(&["stats", "--json"]);
    let stats: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!((stats["vectors"].clone(), stats["model"].clone()), (554.into(), "all-MiniLM-L6-v2".into()));
    let output = with_model(&["model", "list", "--json"]);
    assert!(String::from_utf8_lossy(&output.stdout).contains("all-MiniLM-L6-v2"));
}
mod cluster;
mod delivery;
mod hardening;
mod mail;

#[test]
fn a_subscribers_library_exports_for_reference_managers() {
    let (_dir, data) = ingested();
    let output = run(&data, &["subscriber", "add", "reader@example.org", "--confirmed"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let library = paperboy_app::Library::open(&data, &paperboy_app::NoProgress).unwrap();
    let account =
        library.subscriber(&paperboy_app::accounts::Subscriber::parse("reader@example.org").unwrap()).unwrap().unwrap();
    let paper = paperboy_domain::ArxivId::parse("2606.14725").unwrap();
    library.save_paper(account.id, paper, &["survey".to_owned()], chrono::Utc::now()).unwrap();
    drop(library);
    let output = run(&data, &["library", "export", "reader@example.org", "--format", "csl-json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let items: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(items[0]["id"], "arXiv:2606.14725");
    assert!(items[0]["keyword"].as_str().unwrap().ends_with("survey"), "{items}");
    let file = data.join("library.bib");
    let output = run(&data, &["library", "export", "reader@example.org", "--output", file.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(std::fs::read_to_string(&file).unwrap().starts_with("@misc{"), "BibTeX by default");
    let output = run(&data, &["library", "export", "nobody@example.org"]);
    assert!(
        !output.status.success() && stderr(&output).contains("no subscriber nobody@example.org"),
        "{}",
        stderr(&output)
    );
    let output = run(&data, &["library", "export", "reader@example.org", "--format", "docx"]);
    assert!(!output.status.success() && stderr(&output).contains("bibtex"), "{}", stderr(&output));
}

/// `paperboy mcp` as an assistant starts it: a subprocess spoken to over stdin and stdout by the
/// reference Python client (PyPI `mcp`). Standard output carries only the protocol (the client
/// would fail on anything else); the library tools act for the subscriber named with `--as`.
#[test]
fn mcp_over_stdio_serves_the_tools_and_the_named_subscribers_library() {
    let test = "mcp_over_stdio_serves_the_tools_and_the_named_subscribers_library";
    let Some(python) = paperboy_testing::python_with(test, "mcp", "mcp") else { return };
    let (_dir, data) = ingested();
    let added = run(&data, &["subscriber", "add", "reader@example.org", "--confirmed"]);
    assert!(added.status.success(), "{}", stderr(&added));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../paperboy_web/tests/mcp_client.py");
    let drive = |args: &[&str], calls: serde_json::Value| -> serde_json::Value {
        let mut child = Command::new(&python)
            .args([script, "stdio", env!("CARGO_BIN_EXE_paperboy"), "--data-dir"])
            .arg(&data)
            .args(args)
            .env_remove("PAPERBOY_DATA_DIR")
            .env("PAPERBOY_MODEL", "none")
            .env("PAPERBOY_LOG", "info")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), calls.to_string().as_bytes()).unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "the MCP client failed: {}", stderr(&output));
        serde_json::from_slice(&output.stdout).unwrap()
    };
    let calls = serde_json::json!([
        {"tool": "search", "args": {"query": "diffusion", "per_page": 2, "mode": "keyword"}},
        {"tool": "library_save", "args": {"id": "2606.14725", "tags": ["mcp"]}},
        {"tool": "library_list"},
        {"tool": "search", "args": {"query": "diffusion", "mode": "semantic"}},
    ]);
    let answer = drive(&["mcp", "--as", "reader@example.org"], calls);
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results[0]["structuredContent"]["mode"], "keyword");
    assert_eq!(results[0]["structuredContent"]["results"].as_array().unwrap().len(), 2);
    assert_eq!(results[1]["structuredContent"]["tags"], serde_json::json!(["mcp"]), "{}", results[1]["text"]);
    assert_eq!(results[2]["structuredContent"]["results"][0]["id"], "2606.14725");
    // Without a model, a search by meaning falls back to words and says why.
    assert_eq!(results[3]["structuredContent"]["mode"], "keyword");
    assert!(results[3]["structuredContent"]["notice"].as_str().unwrap().contains("semantic search is off"));
    // What was saved is in the store, as the command line sees it.
    let export = run(&data, &["library", "export", "reader@example.org", "--format", "ris"]);
    assert!(stdout(&export).contains("2606.14725"), "{}", stdout(&export));

    // Without --as the library tools say who to name; an unknown subscriber is refused at start.
    let answer = drive(&["mcp"], serde_json::json!([{"tool": "library_list"}]));
    assert_eq!(answer["results"][0]["structuredContent"]["code"], "account_not_found");
    let unknown = run(&data, &["mcp", "--as", "nobody@example.org"]);
    assert!(!unknown.status.success() && stderr(&unknown).contains("no subscriber"), "{}", stderr(&unknown));
}
