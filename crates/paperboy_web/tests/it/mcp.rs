//! The MCP server over streamable HTTP (`/mcp`), driven by the reference Python client (PyPI
//! `mcp`) as an assistant would: the public tools without a token, the library with one, and
//! refusals an assistant can read.

use chrono::Utc;
use paperboy_app::TokenScope;
use paperboy_domain::{EmailAddress, Preferences};
use serde_json::{Value, json};

/// Runs `calls` through the Python client against `url` (with a bearer `token`): the tools it
/// listed and each call's result.
fn drive(python: &str, url: &str, token: Option<&str>, calls: Value) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mcp_client.py");
    let mut command = std::process::Command::new(python);
    command.args([script, "http", url]).args(token);
    run(command, calls)
}

/// Runs the driver `command` with `calls` on its standard input; its JSON answer.
pub(crate) fn run(mut command: std::process::Command, calls: Value) -> Value {
    let mut child = command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starting the MCP client");
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), calls.to_string().as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "the MCP client failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assistant_searches_and_keeps_a_library_over_http() {
    let test = "an_assistant_searches_and_keeps_a_library_over_http";
    let Some(python) = paperboy_testing::python_with(test, "mcp", "mcp") else { return };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let site = format!("http://{}", listener.local_addr().unwrap());
    let (_dir, state) = super::site(&site);
    let router = paperboy_web::router(state.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let email = EmailAddress::parse("reader@example.org").unwrap();
    let account = state.library.add_subscriber(&email, true, Preferences::default(), Utc::now()).unwrap();
    let writer = state.library.create_api_token(account.id, "assistant", TokenScope::Write, Utc::now()).unwrap();
    let reader = state.library.create_api_token(account.id, "read only", TokenScope::Read, Utc::now()).unwrap();
    let url = format!("{site}/mcp");

    // Without a token: every public tool, listed with a schema; the library refuses.
    let python = python.as_str();
    let answer = drive(
        python,
        &url,
        None,
        json!([
            {"tool": "search", "args": {"query": "ti:diffusion", "per_page": 3}},
            {"tool": "paper", "args": {"id": "2606.14725"}},
            {"tool": "daily", "args": {"date": "2026-06-16", "category": "cs.CV", "per_page": 2}},
            {"tool": "trending", "args": {"per_page": 2}},
            {"tool": "search", "args": {"query": "ti:"}},
            {"tool": "paper", "args": {"id": "2101.00001"}},
            {"tool": "library_list"}
        ]),
    );
    let mut names: Vec<&str> =
        answer["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["daily", "library_list", "library_remove", "library_save", "paper", "search", "similar", "trending"]
    );
    let search_tool = answer["tools"].as_array().unwrap().iter().find(|t| t["name"] == "search").unwrap();
    assert_eq!(search_tool["inputSchema"]["required"], json!(["query"]), "{search_tool}");
    let results = answer["results"].as_array().unwrap();
    let ok = |i: usize| {
        assert_eq!(results[i]["isError"], false, "call {i}: {}", results[i]["text"]);
        assert_eq!(
            serde_json::from_str::<Value>(results[i]["text"].as_str().unwrap()).unwrap(),
            results[i]["structuredContent"]
        );
        &results[i]["structuredContent"]
    };
    // The API's answers, field for field.
    let search = ok(0);
    assert!(search["total"].as_u64().unwrap() > 0 && search["results"].as_array().unwrap().len() <= 3, "{search}");
    let first_title = search["results"][0]["title"].as_str().unwrap().to_ascii_lowercase();
    assert!(first_title.contains("diffusion"), "ti: is a filter: {first_title}");
    assert_eq!(ok(1)["id"], "2606.14725");
    assert!(ok(1)["bibtex"].as_str().unwrap().starts_with("@misc{"));
    assert!(ok(2)["results"].as_array().unwrap().iter().all(|p| p["categories"].to_string().contains("cs.CV")));
    assert!(ok(3)["results"].is_array());
    let refused = |i: usize, code: &str| {
        assert_eq!(results[i]["isError"], true, "call {i}");
        assert_eq!(results[i]["structuredContent"]["code"], code, "call {i}: {}", results[i]["text"]);
    };
    refused(4, "invalid_query");
    refused(5, "paper_not_found");
    refused(6, "unauthorized");

    // With a read-write token: save, list, remove. A read token lists but cannot save.
    let calls = json!([
        {"tool": "library_save", "args": {"id": "2606.14725v1", "tags": ["to-read"]}},
        {"tool": "library_list"},
        {"tool": "library_save", "args": {"id": "2101.00001"}},
    ]);
    let results = drive(python, &url, Some(writer.secret.expose()), calls)["results"].clone();
    assert_eq!(results[0]["structuredContent"]["tags"], json!(["to-read"]), "{}", results[0]["text"]);
    assert_eq!(results[1]["structuredContent"]["total"], 1);
    assert_eq!(results[1]["structuredContent"]["results"][0]["id"], "2606.14725");
    assert_eq!(
        (results[2]["isError"].clone(), results[2]["structuredContent"]["code"].clone()),
        (json!(true), json!("paper_not_found"))
    );
    let calls = json!([
        {"tool": "library_list"},
        {"tool": "library_remove", "args": {"id": "2606.14725"}},
    ]);
    let results = drive(python, &url, Some(reader.secret.expose()), calls)["results"].clone();
    assert_eq!(results[0]["structuredContent"]["total"], 1);
    assert_eq!(results[1]["structuredContent"]["code"], "insufficient_scope");
    assert_eq!(state.library.library_entries(account.id).unwrap().len(), 1, "a read token changed nothing");
    let results = drive(
        python,
        &url,
        Some(writer.secret.expose()),
        json!([{"tool": "library_remove", "args": {"id": "2606.14725"}}]),
    )["results"]
        .clone();
    assert_eq!(results[0]["structuredContent"]["changed"], true);

    // Revoked: refused at once, with HTTP 401 as on the JSON API, so a client knows to ask for a
    // new token.
    assert!(state.library.revoke_api_token(account.id, &writer.token.id).unwrap());
    for token in [writer.secret.expose().to_owned(), format!("pbt_0123456789abcdef_{}", "x".repeat(43))] {
        let request = axum::http::Request::post("/mcp")
            .header("host", "127.0.0.1")
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(axum::body::Body::from(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#))
            .unwrap();
        let response = tower::ServiceExt::oneshot(paperboy_web::router(state.clone()), request).await.unwrap();
        assert_eq!(response.status(), 401);
        assert!(response.headers()["www-authenticate"].to_str().unwrap().contains("invalid_token"));
    }
}

/// `/mcp` answers this site's host and loopback only (a page on another host that points its own
/// name at this server, DNS rebinding, is refused), and refuses pages of other origins.
#[tokio::test]
async fn mcp_refuses_other_hosts_and_other_sites_pages() {
    use axum::{body::Body, http::Request};
    use tower::ServiceExt;
    let (_dir, state) = super::site("https://papers.example.org");
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}});
    let send = |host: &str, origin: Option<&str>| {
        let mut request = Request::post("/mcp")
            .header("host", host)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        let request = request.body(Body::from(initialize.to_string())).unwrap();
        paperboy_web::router(state.clone()).oneshot(request)
    };
    assert_eq!(send("papers.example.org", None).await.unwrap().status(), 200);
    assert_eq!(send("127.0.0.1:8080", None).await.unwrap().status(), 200);
    assert_eq!(send("papers.example.org", Some("https://papers.example.org")).await.unwrap().status(), 200);
    for (host, origin) in [("evil.example", None), ("papers.example.org", Some("https://evil.example"))] {
        let status = send(host, origin).await.unwrap().status();
        assert!(status.is_client_error(), "{host} {origin:?}: {status}");
    }
}
