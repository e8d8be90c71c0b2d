//! The server and the operator's commands against misbehaving clients and mistakes: a client that
//! trickles its request, metrics kept off the public address, the signing key rotated.

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::{Duration, Instant},
};

use super::{
    mail::{http, serve_logging_to, serve_with},
    paperboy, stderr, stdout,
};

#[test]
fn sigterm_stops_a_server_that_is_embedding_a_backlog() {
    let Some(models) = super::models_dir() else {
        paperboy_testing::missing(
            "sigterm_stops_a_server_that_is_embedding_a_backlog",
            "all-MiniLM-L6-v2 (set PAPERBOY_TEST_MODEL_DIR; scripts/test installs it)",
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // 554 papers without vectors: the server starts embedding them at once, in the background.
    let output = paperboy(&data).args(["ingest", "jsonl", &super::sample("2026-06-16")]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let models = models.to_string_lossy().into_owned();
    let env = [("PAPERBOY_MODEL", "all-MiniLM-L6-v2"), ("PAPERBOY_MODEL_DIR", models.as_str())];
    let mut server = serve_with(&data, "smtp://127.0.0.1:9", &[], &env);
    std::thread::sleep(Duration::from_secs(3));
    let sent = std::process::Command::new("kill").args(["-TERM", &server.child.id().to_string()]).status().unwrap();
    assert!(sent.success());
    let stopping = Instant::now();
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(stopping.elapsed() < Duration::from_secs(40), "still running 40 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status}");
}

#[test]
fn a_client_that_trickles_its_headers_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = serve_with(&data, "smtp://127.0.0.1:9", &[], &[]);
    let authority = server.base.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&authority).unwrap();
    stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let started = Instant::now();
    // A slowloris: one more header line a second, never the end of the headers.
    let closed = loop {
        if started.elapsed() > Duration::from_secs(30) {
            break false;
        }
        let mut buffer = [0u8; 512];
        match stream.read(&mut buffer) {
            Ok(0) => break true,
            Ok(_) => {} // a 408, say; the close follows
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => break true,
        }
        if stream.write_all(b"X-Trickle: 1\r\n").is_err() {
            break true;
        }
        std::thread::sleep(Duration::from_millis(800));
    };
    let elapsed = started.elapsed();
    assert!(closed, "the connection was still open after {elapsed:?}");
    assert!(elapsed >= Duration::from_secs(8) && elapsed < Duration::from_secs(16), "closed after {elapsed:?}");
    // Everyone else is still served.
    let reply = http("GET", &format!("{}/healthz", server.base), None, None, false);
    assert_eq!(reply.status, 200);
}

#[test]
fn metrics_can_live_on_an_address_of_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let metrics_addr = format!("127.0.0.1:{port}");
    let server = serve_with(&data, "smtp://127.0.0.1:9", &["--metrics-addr", &metrics_addr], &[]);
    let public = http("GET", &format!("{}/metrics", server.base), None, None, false);
    assert_eq!(public.status, 404, "not on the public address");
    let deadline = Instant::now() + Duration::from_secs(10);
    let private = loop {
        if let Ok(stream) = TcpStream::connect(&metrics_addr) {
            drop(stream);
            break http("GET", &format!("http://{metrics_addr}/metrics"), None, None, false);
        }
        assert!(Instant::now() < deadline, "the metrics address never listened");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(private.status, 200);
    assert!(private.body.contains("paperboy_papers "), "{}", private.body);
    assert!(private.body.contains("paperboy_suppressed_accounts 0"), "{}", private.body);
}

#[test]
fn rotating_the_signing_key_says_what_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let output = paperboy(&data).args(["signing-key", "path"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), data.join("signing.key").display().to_string());
    let output = paperboy(&data).args(["signing-key", "rotate"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("no longer work"), "{}", stdout(&output));
    let first = std::fs::read_to_string(data.join("signing.key")).unwrap();
    let output = paperboy(&data).args(["signing-key", "rotate", "--json"]).output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["sessions_ended"], 0, "{report}");
    assert_ne!(std::fs::read_to_string(data.join("signing.key")).unwrap(), first, "a new key");
    // A key file the operator names (several nodes share one) is used instead.
    let shared = dir.path().join("shared.key");
    let output =
        paperboy(&data).env("PAPERBOY_SIGNING_KEY_FILE", &shared).args(["signing-key", "rotate"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(shared.is_file());
}

/// API tokens and private feed addresses are secrets: the server's log, at its most talkative,
/// names the requests that carry them but never the secrets (the feed's path is masked; the token
/// travels in a header, which is not logged).
#[test]
fn secrets_never_reach_the_log() {
    let (_dir, data) = super::ingested();
    let (token, feed) = {
        let library = paperboy_app::Library::open(&data, &paperboy_app::NoProgress).unwrap();
        let email = paperboy_domain::EmailAddress::parse("reader@example.org").unwrap();
        let preferences = paperboy_domain::Preferences::default();
        let account = library.add_subscriber(&email, true, preferences, chrono::Utc::now()).unwrap();
        let token = library.create_api_token(account.id, "script", paperboy_app::TokenScope::Write, chrono::Utc::now());
        let feed = library.create_digest_feed(account.id).unwrap();
        (token.unwrap().secret.expose().to_owned(), feed.expose().to_owned())
    };
    let log_dir = tempfile::tempdir().unwrap();
    let log_path = log_dir.path().join("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let env = [("PAPERBOY_LOG", "trace")];
    let server = serve_logging_to(&data, "smtp://127.0.0.1:9", &[], &env, log.into());
    let base = &server.base;
    let bearer = |path: &str| {
        let authority = base.strip_prefix("http://").unwrap();
        let mut stream = TcpStream::connect(authority).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        reply
    };
    assert!(bearer("/api/v1/me").starts_with("HTTP/1.1 200"), "the token works");
    assert!(bearer("/api/v1/me/library").starts_with("HTTP/1.1 200"));
    assert_eq!(http("GET", &format!("{base}/feeds/digest/{feed}.atom"), None, None, false).status, 200);
    assert_eq!(http("GET", &format!("{base}/feeds/digest/{feed}x.atom"), None, None, false).status, 404);
    drop(server);
    let logged = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        logged.contains("/api/v1/me/library") && logged.contains("/feeds/digest/***.atom"),
        "the log names the requests:\n{logged}"
    );
    // The secret is what follows `pbt_` and the 16-character id (it may hold `_` itself).
    let secret_part = &token["pbt_".len() + 17..];
    assert_eq!(secret_part.len(), 43, "{token}");
    assert!(!logged.contains(secret_part), "the API token is in the log");
    assert!(!logged.contains(&feed), "the feed secret is in the log");
}
