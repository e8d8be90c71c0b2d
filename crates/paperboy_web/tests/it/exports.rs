//! What reference managers read, checked by third-party parsers: the `citation_*` tags of a paper
//! page (Zotero's connector), and the BibTeX, RIS and CSL-JSON exports of a search, read back by
//! bibtexparser and rispy (PyPI) and by a JSON parser.

use std::{
    io::Write as _,
    process::{Command, Stdio},
};

use axum::http::{StatusCode, header};
use serde_json::Value;

use super::{HOSTILE_ID, get};

/// Python with bibtexparser (2.x) and rispy, or `None` (a recorded skip; a failure in CI).
fn python(test: &str) -> Option<String> {
    let python = std::env::var("PAPERBOY_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python)
        .args(["-c", "import bibtexparser, rispy; assert bibtexparser.__version__ >= '2'"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        paperboy_testing::missing(test, "Python with bibtexparser 2 and rispy (pip install bibtexparser rispy)");
        return None;
    }
    Some(python)
}

/// Runs `script` on `input` (its standard input) and parses what it prints as JSON.
fn parse_with(python: &str, script: &str, input: &str) -> Value {
    let mut child = Command::new(python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

const BIBTEX: &str = "import sys, json, bibtexparser
library = bibtexparser.parse_string(sys.stdin.read())
print(json.dumps({'failed': len(library.failed_blocks),
                  'entries': [{'key': e.key, 'type': e.entry_type, **{f.key: f.value for f in e.fields}} for e in library.entries]}))";

const RIS: &str = "import sys, json, rispy
print(json.dumps(rispy.loads(sys.stdin.read())))";

#[tokio::test]
async fn a_paper_page_carries_the_tags_reference_managers_read() {
    let page = get("/papers/2606.14725").await.body;
    for tag in
        ["citation_title", "citation_date", "citation_arxiv_id", "citation_pdf_url", "citation_abstract_html_url"]
    {
        assert_eq!(page.matches(&format!("<meta name=\"{tag}\"")).count(), 1, "{tag}");
    }
    assert!(page.contains("<meta name=\"citation_pdf_url\" content=\"https://arxiv.org/pdf/2606.14725"), "the PDF");
    let authors = page.split("<p class=\"authors\">").nth(1).unwrap();
    let authors = authors[..authors.find("</p>").unwrap()].matches("class=\"author\"").count();
    assert!(authors >= 1);
    assert_eq!(page.matches("<meta name=\"citation_author\"").count(), authors, "every author");
    assert!(page.contains("<meta name=\"citation_arxiv_id\" content=\"2606.14725\">"));
    // Hostile text is escaped in attributes too, and math is plain text there.
    let hostile = get(&format!("/papers/{HOSTILE_ID}")).await.body;
    let title = hostile.split("<meta name=\"citation_title\" content=\"").nth(1).unwrap();
    let title = &title[..title.find('"').unwrap()];
    assert!(title.contains("&lt;script&gt;") && !title.contains('<'), "{title}");
}

#[tokio::test]
async fn a_search_exports_as_bibtex_ris_and_csl_json_that_parsers_read() {
    let python = paperboy_testing::or_skip!(python("a_search_exports_as_bibtex_ris_and_csl_json_that_parsers_read"));
    let search = get("/search?q=diffusion&mode=keyword").await.body;
    assert!(search.contains("/search/export?q=diffusion&amp;mode=keyword&amp;page=1&amp;format=ris"), "export links");
    let shown = search.matches("<article class=\"paper\"").count();
    for uri in [
        "/search/export?q=diffusion&mode=keyword&format=bibtex",
        &format!("/search/export?q={HOSTILE_ID}+hostile&format=bibtex"),
    ] {
        let answer = get(uri).await;
        assert_eq!(answer.status, StatusCode::OK, "{uri}");
        assert!(answer.headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("application/x-bibtex"));
        assert!(answer.headers[header::CONTENT_DISPOSITION].to_str().unwrap().contains("paperboy-search.bib"));
        let parsed = parse_with(&python, BIBTEX, &answer.body);
        assert_eq!(parsed["failed"], 0, "{uri}: every block parses:\n{}", answer.body);
        let entries = parsed["entries"].as_array().unwrap();
        assert!(!entries.is_empty(), "{uri}");
        for entry in entries {
            assert_eq!(entry["type"], "misc");
            assert_eq!(entry["archivePrefix"], "arXiv");
            assert!(entry["eprint"].as_str().is_some_and(|e| !e.is_empty()) && entry["author"].is_string(), "{entry}");
        }
        if uri.contains("keyword") {
            assert_eq!(entries.len(), shown, "the page's results");
        } else {
            // The hostile title stays one field: its escaped braces open no other.
            let hostile = entries.iter().find(|e| e["eprint"] == HOSTILE_ID).expect("the hostile paper");
            assert!(hostile["title"].as_str().unwrap().contains("<script>alert(1)</script> Hostile"), "{hostile}");
            assert!(hostile.get("note").is_none(), "{hostile}");
        }
    }
    let answer = get("/search/export?q=diffusion&mode=keyword&format=ris").await;
    assert!(answer.headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("application/x-research-info-systems"));
    let records = parse_with(&python, RIS, &answer.body);
    let records = records.as_array().unwrap();
    assert_eq!(records.len(), shown);
    for record in records {
        assert_eq!(record["type_of_reference"], "UNPB");
        assert!(record["title"].is_string() && record["authors"].as_array().is_some_and(|a| !a.is_empty()), "{record}");
        assert!(record["urls"][0].as_str().unwrap().starts_with("https://arxiv.org/abs/"), "{record}");
    }
    let answer = get("/search/export?q=diffusion&mode=keyword&format=csl-json").await;
    let items: Value = serde_json::from_str(&answer.body).unwrap();
    let items = items.as_array().unwrap();
    assert_eq!(items.len(), shown);
    for item in items {
        assert_eq!(item["type"], "article");
        assert!(item["author"][0]["family"].is_string() || item["author"][0]["literal"].is_string(), "{item}");
        assert!(item["issued"]["date-parts"][0][0].as_i64().unwrap() >= 2007, "{item}");
    }
    // A bad format is a clear 400.
    let bad = get("/search/export?q=diffusion&format=docx").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("format must be bibtex, ris or csl-json"), "{}", bad.body);
    assert_eq!(get("/search/export?format=ris").await.status, StatusCode::BAD_REQUEST, "a query is needed");
}
