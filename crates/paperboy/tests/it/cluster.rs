//! Several `paperboy serve` nodes on one PostgreSQL, as an operator runs them behind a load
//! balancer: what one node (or a CLI job on a third machine) writes, every node serves; a session
//! made on one node is good on the other; a mail is sent once although every node runs a sender.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use mail_parser::MessageParser;
use paperboy_testing::ScratchDatabase;

use super::{
    mail::{Server, csrf, form, http, link, serve_with, session_cookie, start_sink},
    paperboy, sample, stderr,
};

/// Polls `check` until it holds, for at most `within`.
fn eventually(within: Duration, what: &str, mut check: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < within, "{what} did not happen within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    started.elapsed()
}

fn found(server: &Server, query: &str, id: &str) -> bool {
    let reply = http("GET", &format!("{}/api/v1/search?q={query}", server.base), None, None, false);
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body.contains(&format!("\"{id}\""))
}

fn ingest(data: &Path, env: &[(&str, &str)], day: &str) {
    let output = paperboy(data).envs(env.iter().copied()).args(["ingest", "jsonl", &sample(day)]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn two_nodes_on_one_postgres_serve_one_site() {
    let Some(database) = ScratchDatabase::create("two_nodes_on_one_postgres_serve_one_site") else { return };
    let dir = tempfile::tempdir().unwrap();
    let Some(sink) = start_sink(&dir.path().join("mail"), &[]) else { return };
    let key = dir.path().join("signing.key").display().to_string();
    let env = [("PAPERBOY_DATABASE_URL", database.url.as_str()), ("PAPERBOY_SIGNING_KEY_FILE", key.as_str())];

    // Node A's data directory gets the first day; B starts empty and builds its index from the store.
    ingest(&dir.path().join("a"), &env, "2026-06-15");
    let a = serve_with(&dir.path().join("a"), &sink.url(), &[], &env);
    let b = serve_with(&dir.path().join("b"), &sink.url(), &[], &env);
    for node in [&a, &b] {
        assert!(found(node, "ti:%22integrated+numerical+model%22", "2008.03186"), "{} serves the first day", node.base);
    }

    // A job on a third machine ingests the next day; both nodes serve it within seconds.
    ingest(&dir.path().join("job"), &env, "2026-06-16");
    for node in [&a, &b] {
        let lag = eventually(Duration::from_secs(20), "following the store", || {
            found(node, "ti:%22Resource-Adaptive%22+ti:switching", "2606.14716")
        });
        eprintln!("{} searched the new day after {lag:?}", node.base);
    }

    // Subscribe on A, confirm on B: one mail although both nodes send, and B's session works on A.
    let reply =
        http("POST", &format!("{}/subscribe", a.base), None, Some(&form(&[("email", "reader@example.org")])), true);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let raw = sink.wait_for(1, Duration::from_secs(30));
    let message = MessageParser::default().parse(&raw).unwrap();
    let text = message.body_text(0).unwrap().into_owned();
    let confirm = link(&text, "/confirm?token=");
    let token = confirm.split("token=").nth(1).expect("a confirmation token").to_owned();
    let reply = http("POST", &format!("{}/confirm", b.base), None, Some(&form(&[("token", &token)])), true);
    assert_eq!(reply.status, 303, "a token made on A works on B: {}", reply.body);
    let cookie = session_cookie(&reply);
    let page = http("GET", &format!("{}/preferences", a.base), Some(&cookie), None, false);
    assert_eq!(page.status, 200, "a session made on B is good on A");
    let saved = http(
        "POST",
        &format!("{}/preferences", a.base),
        Some(&cookie),
        Some(&form(&[("csrf", &csrf(&page.body)), ("searches", "model switching"), ("cadence", "daily")])),
        true,
    );
    assert!(saved.status == 303 || saved.status == 200, "{}: {}", saved.status, saved.body);
    let page = http("GET", &format!("{}/preferences", b.base), Some(&cookie), None, false);
    assert!(page.body.contains("model switching"), "what A saved, B shows");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(sink.messages().len(), 1, "the confirmation went out once from two senders");
}

#[test]
fn an_embedded_library_moves_to_postgres_and_is_served_from_there() {
    let Some(database) = ScratchDatabase::create("an_embedded_library_moves_to_postgres_and_is_served_from_there")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let embedded = dir.path().join("embedded");
    ingest(&embedded, &[], "2026-06-16");
    let output = paperboy(&embedded).args(["store", "copy", "--to", &database.url, "--json"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let papers = report["tables"].as_array().unwrap().iter().find(|t| t["table"] == "papers").expect("papers copied");
    assert!(papers["rows"].as_u64().unwrap() > 400, "{report}");

    // A node with an empty data directory on the copy finds what the embedded store held.
    let node = dir.path().join("node");
    let output = paperboy(&node)
        .env("PAPERBOY_DATABASE_URL", &database.url)
        .args(["search", "--json", "ti:\"Resource-Adaptive\" ti:switching"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("2606.14716"));

    // A second copy into the same database refuses to mix stores, and says why.
    let output = paperboy(&embedded).args(["store", "copy", "--to", &database.url]).output().unwrap();
    assert!(!output.status.success());
    assert!(stderr(&output).contains("copy into an empty database"), "{}", stderr(&output));
    // A server that is not there is a clear error without the password.
    let output = paperboy(&node)
        .env("PAPERBOY_DATABASE_URL", "postgres://paperboy:hunter2@127.0.0.1:1/paperboy")
        .args(["stats"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(stderr(&output).contains("127.0.0.1:1") && !stderr(&output).contains("hunter2"), "{}", stderr(&output));
}
