//! The router in-process (`router(state).oneshot(request)`) over a library of one real sample day,
//! the sample's Hugging Face fixture and one hostile paper.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, OnceLock},
};

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use http_body_util::BodyExt;
use paperboy_app::{Library, NoProgress, ingest};
use paperboy_web::{AppState, WebConfig};
use serde_json::Value;
use tower::ServiceExt;

mod accounts;
mod browser;
mod exports;
mod mcp;
mod structure;

const HOSTILE_ID: &str = "2606.99999";

fn sample(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/sample").join(path)
}

/// The model, when installed (`scripts/test` installs it): then similar papers and hybrid search
/// are on.
fn model_choice() -> Option<paperboy_app::ModelChoice> {
    let dir = PathBuf::from(std::env::var_os("PAPERBOY_TEST_MODEL_DIR")?);
    Some(paperboy_app::ModelChoice::new("all-MiniLM-L6-v2", dir.parent()?))
}

fn state() -> AppState {
    static STATE: OnceLock<(tempfile::TempDir, AppState)> = OnceLock::new();
    STATE.get_or_init(|| site("https://papers.example.org")).1.clone()
}

/// A library of the sample day, its Hugging Face upvotes and one hostile paper, served as
/// `base_url`.
fn site(base_url: &str) -> (tempfile::TempDir, AppState) {
    let dir = tempfile::tempdir().unwrap();
    let library = Library::open_with(dir.path(), model_choice().as_ref(), &NoProgress).unwrap();
    ingest::ingest_jsonl(&library, &[sample("arxiv-cs/2026-06-16.jsonl.gz")], &NoProgress).unwrap();
    ingest::ingest_hf_daily(&library, &[sample("hf-daily/2026-06-10_2026-06-16.jsonl.gz")], &NoProgress).unwrap();
    let hostile = dir.path().join("hostile.jsonl");
    let record = serde_json::json!({
        "id": HOSTILE_ID,
        "title": "<script>alert(1)</script> Hostile $\\href{javascript:alert(3)}{x}$ title \\{}, eprint = {666}, note = {\\}",
        "abstract": "An abstract with <img src=x onerror=alert(2)> and </textarea><b>bold</b> and javascript:alert(4) and $x^2$, as in~\\cite{smith2020,doe21}.",
        "authors": ["Mallory \"><script>alert(5)</script>"],
        "categories": ["cs.CR"],
        "announced": "2026-06-16"
    });
    std::fs::write(&hostile, record.to_string()).unwrap();
    ingest::ingest_jsonl(&library, &[hostile], &NoProgress).unwrap();
    if library.semantic_status().is_ok() {
        library.import_vectors(&sample("vectors-all-MiniLM-L6-v2.bin"), &paperboy_app::NoProgress).unwrap();
        library.embed_missing(&NoProgress).unwrap();
    }
    let state = AppState::new(Arc::new(library), WebConfig { base_url: base_url.into(), ..WebConfig::default() });
    (dir, state)
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

async fn get(uri: &str) -> Answer {
    let response = paperboy_web::router(state()).oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    Answer { status, headers, body }
}

/// No markup from paper text survives as markup: every tag in the output is one paperboy writes,
/// with no event-handler attributes and no `javascript:` links. (Escaped text such as
/// `&lt;img onerror=...&gt;` is fine: it is text.)
#[track_caller]
fn assert_inert(html: &str) {
    let bytes = html.as_bytes();
    let mut i = 0;
    while let Some(offset) = html[i..].find('<') {
        i += offset + 1;
        if html[i..].starts_with('/') || html[i..].starts_with('!') {
            continue;
        }
        let name_end = html[i..].find(|c: char| !c.is_ascii_alphanumeric()).map_or(html.len(), |n| i + n);
        let name = html[i..name_end].to_lowercase();
        assert!(
            !["img", "iframe", "object", "embed", "textarea", "b", "svg"].contains(&name.as_str()),
            "a <{name}> tag from paper text"
        );
        // Attributes: name, then optionally = and a quoted or bare value, up to `>`.
        let mut j = name_end;
        let mut attributes = Vec::new();
        while j < bytes.len() && bytes[j] != b'>' {
            if bytes[j].is_ascii_whitespace() || bytes[j] == b'/' {
                j += 1;
                continue;
            }
            let start = j;
            while j < bytes.len() && !bytes[j].is_ascii_whitespace() && !matches!(bytes[j], b'=' | b'>') {
                j += 1;
            }
            let attribute = html[start..j].to_lowercase();
            let mut value = String::new();
            if j < bytes.len() && bytes[j] == b'=' {
                j += 1;
                let quote = bytes[j];
                if quote == b'"' || quote == b'\'' {
                    let close = html[j + 1..].find(quote as char).map_or(html.len(), |n| j + 1 + n);
                    value = html[j + 1..close].to_lowercase();
                    j = close + 1;
                } else {
                    let close =
                        html[j..].find(|c: char| c.is_ascii_whitespace() || c == '>').map_or(html.len(), |n| j + n);
                    value = html[j..close].to_lowercase();
                    j = close;
                }
            }
            assert!(!attribute.starts_with("on"), "an event handler on <{name}>: {attribute}");
            if matches!(attribute.as_str(), "href" | "src" | "action" | "formaction") {
                assert!(!value.trim_start().starts_with("javascript:"), "a javascript: URL on <{name}>");
            }
            attributes.push((attribute, value));
        }
        if name == "script" {
            assert!(
                attributes.iter().any(|(a, v)| a == "src" && (v == "/static/app.js" || v == "/static/theme.js")),
                "an inline or foreign script"
            );
        }
        i = j;
    }
}

#[tokio::test]
async fn the_home_page_shows_the_day_and_trending() {
    let answer = get("/").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        answer.body.contains("Announced <time datetime=\"2026-06-16\">")
            && answer.body.contains("Get trending papers in your email inbox once a day"),
        "{}",
        &answer.body[..2000.min(answer.body.len())]
    );
    assert!(answer.body.contains("Trending"));
    assert!(answer.body.contains("rel=\"alternate\" type=\"application/atom+xml\""));
    assert!(answer.body.len() < 100_000, "the home page is {} bytes", answer.body.len());
    assert_inert(&answer.body);
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    for uri in ["/", "/search?q=diffusion", "/api/v1/trending", "/feeds/daily.atom", "/nope", "/static/style.css"] {
        let answer = get(uri).await;
        let csp = answer.headers.get(header::CONTENT_SECURITY_POLICY).unwrap().to_str().unwrap();
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{uri}: {csp}");
        assert_eq!(answer.headers.get(header::X_CONTENT_TYPE_OPTIONS).unwrap(), "nosniff", "{uri}");
        assert!(answer.headers.contains_key(header::REFERRER_POLICY), "{uri}");
        // This site is served over TLS: browsers must keep to it.
        assert_eq!(answer.headers.get(header::STRICT_TRANSPORT_SECURITY).unwrap(), "max-age=31536000", "{uri}");
    }
}

#[tokio::test]
async fn pages_have_no_inline_script() {
    for uri in ["/", "/search?q=diffusion", "/papers/2606.14725", "/daily/2026-06-16", "/trending", "/categories/cs.CV"]
    {
        let answer = get(uri).await;
        assert_eq!(answer.status, StatusCode::OK, "{uri}");
        for (i, _) in answer.body.match_indices("<script") {
            let tag = &answer.body[i..answer.body[i..].find('>').map_or(answer.body.len(), |end| i + end)];
            assert!(
                tag.contains("src=\"/static/app.js\"") || tag.contains("src=\"/static/theme.js\""),
                "{uri}: inline script {tag}"
            );
        }
        assert!(!answer.body.contains(" onclick=") && !answer.body.contains(" style=\""), "{uri}");
    }
}

#[tokio::test]
async fn search_highlights_matches_and_round_trips_filters() {
    let answer = get("/search?q=diffusion&category=cs.CV&since=2026-06-01&sort=date").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.body.contains("<mark>"), "matched words are highlighted");
    assert!(answer.body.contains("value=\"cs.CV\""));
    assert!(answer.body.contains("value=\"2026-06-01\""));
    assert!(answer.body.contains("<option value=\"date\" selected>"));
    assert!(answer.body.contains("/feeds/search.atom?q=diffusion"), "the search has a feed");
    // Each result says why it ranks there, closed until opened.
    let answer = get("/search?q=diffusion+inversion&mode=keyword").await;
    assert!(answer.body.contains("<details class=\"why\"><summary>Why this rank</summary>"), "{}", answer.body);
    assert!(answer.body.contains("<dt>words</dt><dd>BM25 "), "{}", answer.body);
    assert!(answer.body.contains("words together "), "{}", answer.body);
}

#[tokio::test]
async fn malformed_searches_explain_themselves() {
    for (uri, message) in [
        ("/search?q=ti%3A", "needs a word"),
        ("/search?q=((((", "never closed"),
        ("/search?q=x&since=yesterday", "since must be a date"),
        ("/search?q=x&sort=random", "sort must be"),
        ("/search?q=x&page=0", "page must be"),
        ("/search?q=x&category=cs.XX", "unknown arXiv category"),
    ] {
        let answer = get(uri).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{uri}");
        assert!(answer.body.contains(message), "{uri}: {}", answer.body);
    }
    let long = format!("/search?q={}", "x".repeat(3000));
    let answer = get(&long).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.body.contains("too long"));
    let huge = format!("/search?q={}", "x".repeat(20_000));
    assert_eq!(get(&huge).await.status, StatusCode::URI_TOO_LONG);
    // Syntax that does not parse, with words: the words are searched, and the page says so.
    let answer = get("/search?q=%22unclosed+diffusion").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.body.contains("never closed"), "{}", answer.body);
}

#[tokio::test]
async fn a_paper_page_has_everything_a_reader_needs() {
    let answer = get("/papers/2606.14725").await;
    assert_eq!(answer.status, StatusCode::OK);
    for needle in [
        "Interpolation between Convolution",
        "https://arxiv.org/pdf/2606.14725",
        "@misc{",
        "archivePrefix = {arXiv}",
        "/search?q=au%3A%22",
        "/categories/cs.CV",
        "og:title",
    ] {
        assert!(answer.body.contains(needle), "missing {needle}");
    }
    if model_choice().is_some() {
        assert!(answer.body.contains("Similar papers"));
    }
    assert_eq!(get("/papers/arXiv:2606.14725v1").await.status, StatusCode::OK, "lenient ids work");
}

#[tokio::test]
async fn math_renders_as_mathml_and_hostile_text_stays_text() {
    let page = get(&format!("/papers/{HOSTILE_ID}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("<math"), "TeX became MathML");
    assert!(page.body.contains("&lt;script&gt;"), "markup is shown as text");
    assert_inert(&page.body);
    for uri in [
        "/search?q=hostile",
        "/daily/2026-06-16",
        "/categories/cs.CR",
        "/feeds/daily.atom",
        "/feeds/daily.rss",
        "/feeds/search.atom?q=hostile",
    ] {
        let answer = get(uri).await;
        assert_eq!(answer.status, StatusCode::OK, "{uri}");
        assert!(answer.body.contains("Hostile"), "{uri} lists the hostile paper");
        assert_inert(&answer.body);
    }
    let api = get(&format!("/api/v1/papers/{HOSTILE_ID}")).await.json();
    assert!(api["title"].as_str().unwrap().starts_with("<script>"), "the API returns the text as it is, as JSON");
}

#[tokio::test]
async fn unknown_things_are_404s_in_the_right_format() {
    let page = get("/papers/2101.00001").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.headers.get(header::CONTENT_TYPE).unwrap().to_str().unwrap().starts_with("text/html"));
    assert_eq!(get("/papers/not-an-id").await.status, StatusCode::NOT_FOUND);
    assert_eq!(get("/no/such/page").await.status, StatusCode::NOT_FOUND);
    let api = get("/api/v1/papers/2101.00001").await;
    assert_eq!(api.status, StatusCode::NOT_FOUND);
    assert_eq!(api.json()["code"], "paper_not_found");
    assert_eq!(get("/api/v1/nope").await.json()["code"], "not_found");
    assert_eq!(get("/categories/cs.XX").await.status, StatusCode::NOT_FOUND);
    assert_eq!(get("/daily/2026-13-45").await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn api_errors_are_json_with_a_code_and_a_message() {
    for (uri, status, code) in [
        ("/api/v1/search", StatusCode::BAD_REQUEST, "invalid_query"),
        ("/api/v1/search?q=ti%3A", StatusCode::BAD_REQUEST, "invalid_query"),
        ("/api/v1/search?q=x&per_page=1000", StatusCode::BAD_REQUEST, "invalid_parameter"),
        ("/api/v1/search?q=x&mode=magic", StatusCode::BAD_REQUEST, "invalid_parameter"),
        ("/api/v1/daily/June", StatusCode::BAD_REQUEST, "invalid_parameter"),
        ("/api/v1/trending?date=soon", StatusCode::BAD_REQUEST, "invalid_parameter"),
        ("/api/v1/papers/2606.14725/similar?limit=0", StatusCode::BAD_REQUEST, "invalid_parameter"),
    ] {
        let answer = get(uri).await;
        assert_eq!(answer.status, status, "{uri}: {}", answer.body);
        let json = answer.json();
        assert_eq!(json["code"], code, "{uri}");
        assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()), "{uri}");
        assert_eq!(json.as_object().unwrap().len(), 2, "{uri}: exactly code and message");
    }
}

#[tokio::test]
async fn feeds_are_well_formed_and_discoverable() {
    for uri in [
        "/feeds/daily.atom",
        "/feeds/trending.atom",
        "/feeds/categories/cs.CV.atom",
        "/feeds/search.atom?q=diffusion",
        "/feeds/daily.rss",
        "/feeds/categories/cs.rss",
    ] {
        let answer = get(uri).await;
        assert_eq!(answer.status, StatusCode::OK, "{uri}");
        let mut reader = quick_xml::Reader::from_str(&answer.body);
        let mut entries = 0;
        loop {
            match reader.read_event() {
                Ok(quick_xml::events::Event::Start(e)) if matches!(e.local_name().as_ref(), "entry" | "item") => {
                    entries += 1
                }
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(_) => {}
                Err(err) => panic!("{uri} is not well-formed XML: {err}"),
            }
        }
        assert!(entries > 0, "{uri} has entries");
        assert!(answer.body.contains("https://papers.example.org/papers/"), "{uri} links to the public URL");
    }
    assert_eq!(get("/feeds/categories/cs.XX.atom").await.status, StatusCode::NOT_FOUND);
    assert_eq!(get("/feeds/search.atom").await.status, StatusCode::BAD_REQUEST);
    for (page, feed) in [
        ("/", "/feeds/daily.atom"),
        ("/trending", "/feeds/trending.atom"),
        ("/categories/cs.CV", "/feeds/categories/cs.CV.atom"),
        ("/search?q=robot", "/feeds/search.atom?q=robot"),
    ] {
        let body = get(page).await.body;
        assert!(
            body.contains("rel=\"alternate\" type=\"application/atom+xml\"") && body.contains(feed),
            "{page} links {feed}"
        );
    }
}

/// Checks `value` against an OpenAPI 3.0 schema (the subset the document uses).
fn validate(spec: &Value, schema: &Value, value: &Value, path: &str) -> Result<(), String> {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.trim_start_matches("#/components/schemas/");
        return validate(spec, &spec["components"]["schemas"][name], value, path);
    }
    if value.is_null() {
        return if schema["nullable"] == true {
            Ok(())
        } else {
            Err(format!("{path}: null where {schema} is expected"))
        };
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        return all.iter().try_for_each(|s| validate(spec, s, value, path));
    }
    if let Some(kind) = schema.get("type").and_then(Value::as_str) {
        let ok = match kind {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            _ => false,
        };
        if !ok {
            return Err(format!("{path}: expected {kind}, got {value}"));
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        return Err(format!("{path}: {value} is not one of {options:?}"));
    }
    if let Some(minimum) = schema.get("minimum").and_then(Value::as_f64)
        && value.as_f64().is_some_and(|v| v < minimum)
    {
        return Err(format!("{path}: {value} < {minimum}"));
    }
    if schema.get("format").and_then(Value::as_str) == Some("date")
        && chrono::NaiveDate::parse_from_str(value.as_str().unwrap_or(""), "%Y-%m-%d").is_err()
    {
        return Err(format!("{path}: {value} is not a date"));
    }
    if schema.get("format").and_then(Value::as_str) == Some("date-time")
        && chrono::DateTime::parse_from_rfc3339(value.as_str().unwrap_or("")).is_err()
    {
        return Err(format!("{path}: {value} is not a date-time"));
    }
    if let Some(object) = value.as_object() {
        for required in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
            if !object.contains_key(required.as_str().unwrap()) {
                return Err(format!("{path}: missing {required}"));
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        for (key, item) in object {
            match properties.and_then(|p| p.get(key)) {
                Some(property) => validate(spec, property, item, &format!("{path}.{key}"))?,
                None if schema["additionalProperties"] == false => {
                    return Err(format!("{path}: unexpected property {key}"));
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, item) in array.iter().enumerate() {
            validate(spec, items, item, &format!("{path}[{i}]"))?;
        }
    }
    Ok(())
}

#[tokio::test]
async fn the_api_answers_as_its_openapi_document_says() {
    let spec = get("/api/v1/openapi.json").await.json();
    assert_eq!(spec["openapi"], "3.0.3");
    let hostile = format!("/api/v1/papers/{HOSTILE_ID}");
    let mut cases = vec![
        ("/api/v1/search", "/api/v1/search?q=diffusion&per_page=5", 200),
        ("/api/v1/search", "/api/v1/search?q=diffusion&sort=trending", 200),
        ("/api/v1/search", "/api/v1/search?q=2606.14725", 200),
        ("/api/v1/search", "/api/v1/search?q=ti%3A", 400),
        ("/api/v1/search", "/api/v1/search?q=diffusion+inversion&explain=true", 200),
        ("/api/v1/search", "/api/v1/search?q=diffusion&explain=maybe", 400),
        ("/api/v1/papers/{id}", "/api/v1/papers/2606.14725", 200),
        ("/api/v1/papers/{id}", &hostile, 200),
        ("/api/v1/papers/{id}", "/api/v1/papers/2101.00001", 404),
        ("/api/v1/daily", "/api/v1/daily?per_page=3", 200),
        ("/api/v1/daily/{date}", "/api/v1/daily/2026-06-16?category=cs&page=2", 200),
        ("/api/v1/daily/{date}", "/api/v1/daily/x", 400),
        ("/api/v1/trending", "/api/v1/trending", 200),
        ("/api/v1/trending", "/api/v1/trending?date=2026-06-12&per_page=2", 200),
    ];
    if model_choice().is_some() {
        cases.push(("/api/v1/papers/{id}/similar", "/api/v1/papers/2606.14725/similar?limit=3", 200));
    } else {
        cases.push(("/api/v1/papers/{id}/similar", "/api/v1/papers/2606.14725/similar", 503));
    }
    for (path, uri, status) in cases {
        let answer = get(uri).await;
        assert_eq!(answer.status.as_u16(), status, "{uri}: {}", answer.body);
        let responses = &spec["paths"][path]["get"]["responses"][status.to_string()];
        let schema = &responses["content"]["application/json"]["schema"];
        assert!(!schema.is_null(), "{path} documents no {status}");
        validate(&spec, schema, &answer.json(), "$").unwrap_or_else(|e| panic!("{uri}: {e}"));
    }
}

/// The document passes a third party's validator of OpenAPI 3.0 (openapi-spec-validator, from
/// PyPI), which checks what our own schema walk above does not: references resolve, operation ids
/// are unique, path parameters are declared, security schemes exist.
#[tokio::test]
async fn the_openapi_document_passes_a_third_party_validator() {
    let test = "the_openapi_document_passes_a_third_party_validator";
    let Some(python) = paperboy_testing::python_with(test, "openapi_spec_validator", "openapi-spec-validator") else {
        return;
    };
    let document = get("/api/v1/openapi.json").await.body;
    // The validator must also refuse a broken copy (a path parameter never declared), or its
    // passing would prove nothing.
    let script = "import sys, json, copy
from openapi_spec_validator import validate
spec = json.load(sys.stdin)
validate(spec)
broken = copy.deepcopy(spec)
broken['paths']['/api/v1/papers/{id}']['get']['parameters'] = []
try:
    validate(broken)
    sys.exit('the validator took a broken document')
except Exception:
    pass
print(len(spec['paths']))";
    let mut child = std::process::Command::new(&python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), document.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "the validator refused the document: {}", String::from_utf8_lossy(&output.stderr));
    let paths: usize = String::from_utf8_lossy(&output.stdout).trim().parse().unwrap();
    assert!(paths >= 13, "the validator saw {paths} paths");
}

#[tokio::test]
async fn trending_ranks_what_has_upvotes() {
    let json = get("/api/v1/trending?per_page=5").await.json();
    let results = json["results"].as_array().unwrap();
    assert!(!results.is_empty());
    let scores: Vec<f64> = results.iter().map(|r| r["trending_score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    assert_eq!(json["as_of"], "2026-06-16");
}

#[test]
#[should_panic(expected = "a <img> tag")]
fn the_markup_checker_catches_injected_tags() {
    assert_inert("<p class=\"ok\">fine</p><img src=x onerror=alert(1)>");
}

#[test]
#[should_panic(expected = "an event handler")]
fn the_markup_checker_catches_event_handlers() {
    assert_inert("<a href=\"/x\" onmouseover=\"alert(1)\">x</a>");
}
