//! Accounts and digests end to end: the real binary serving the site, a real SMTP server on
//! loopback (aiosmtpd, `tests/support/smtp_sink.py`), real HTTP requests, every message parsed with
//! a MIME parser. Subscribe, confirm (the link shows a button; the click confirms), preferences,
//! library, digest with reasons, one-click unsubscribe, export, delete, and the bad input.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use mail_parser::MessageParser;

use super::{paperboy, sample, stderr, stdout};

/// The SMTP server, killed when dropped.
pub(crate) struct Sink {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the SMTP tests can run here: they need Python with aiosmtpd (`.ci/run` installs it;
/// in CI a missing one fails the test, elsewhere the skip is recorded).
fn python() -> Option<String> {
    let python = std::env::var("PAPERBOY_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok =
        Command::new(&python).args(["-c", "import aiosmtpd"]).stderr(Stdio::null()).status().is_ok_and(|s| s.success());
    if !ok {
        paperboy_testing::missing("the SMTP tests", "Python with aiosmtpd (pip install aiosmtpd; .ci/run installs it)");
        return None;
    }
    Some(python)
}

pub(crate) fn start_sink(dir: &Path, faults: &[&str]) -> Option<Sink> {
    let python = python()?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/support/smtp_sink.py");
    let mut child = Command::new(python)
        .arg(script)
        .arg("--dir")
        .arg(dir)
        .args(faults)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting the SMTP server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let port = line.trim().strip_prefix("listening on ").expect("the SMTP server says its port").parse().unwrap();
    Some(Sink { child, port, dir: dir.to_owned() })
}

impl Sink {
    pub(crate) fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The messages received so far, oldest first.
    pub(crate) fn messages(&self) -> Vec<(Vec<u8>, serde_json::Value)> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| {
                (
                    std::fs::read(p).unwrap(),
                    serde_json::from_slice(&std::fs::read(p.with_extension("json")).unwrap()).unwrap(),
                )
            })
            .collect()
    }

    /// How many messages arrived so far.
    pub(crate) fn count(&self) -> usize {
        std::fs::read_dir(&self.dir)
            .map(|entries| {
                entries.filter(|e| e.as_ref().is_ok_and(|e| e.path().extension().is_some_and(|x| x == "eml"))).count()
            })
            .unwrap_or(0)
    }

    /// Waits for the `n`th message (1-based).
    pub(crate) fn wait_for(&self, n: usize, within: Duration) -> Vec<u8> {
        let deadline = Instant::now() + within;
        loop {
            let messages = self.messages();
            if messages.len() >= n {
                return messages[n - 1].0.clone();
            }
            assert!(
                Instant::now() < deadline,
                "message {n} did not arrive within {within:?} ({} arrived)",
                messages.len()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// `paperboy serve`, killed when dropped.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(data: &Path, smtp: &str) -> Server {
    serve_with(data, smtp, &[], &[])
}

pub(crate) fn serve_with(data: &Path, smtp: &str, args: &[&str], env: &[(&str, &str)]) -> Server {
    serve_logging_to(data, smtp, args, env, Stdio::inherit())
}

/// `paperboy serve` with its log (standard error) going to `log`.
pub(crate) fn serve_logging_to(data: &Path, smtp: &str, args: &[&str], env: &[(&str, &str)], log: Stdio) -> Server {
    let mut command = paperboy(data);
    for (k, v) in env {
        command.env(k, v);
    }
    command.arg("serve");
    if !args.contains(&"--addr") {
        command.args(["--addr", "127.0.0.1:0"]);
    }
    let mut child = command
        .args(args)
        .env("PAPERBOY_SMTP__URL", smtp)
        .env_remove("PAPERBOY_BASE_URL")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut base = None;
    for _ in 0..10 {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if let Some(rest) = line.split(" at ").nth(1) {
            base = Some(rest.split_whitespace().next().unwrap().trim_end_matches('/').to_owned());
            break;
        }
    }
    std::thread::spawn(move || for _ in reader.lines() {});
    Server { child, base: base.expect("serve prints its URL") }
}

/// An HTTP/1.1 response.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A request over a fresh connection. `origin`: send an `Origin` header (as browsers do on form posts).
pub(crate) fn http(method: &str, url: &str, cookie: Option<&str>, form: Option<&str>, origin: bool) -> Reply {
    let rest = url.strip_prefix("http://").unwrap();
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let mut stream = TcpStream::connect(authority).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n");
    if let Some(cookie) = cookie {
        request.push_str(&format!("Cookie: {cookie}\r\n"));
    }
    if origin {
        request.push_str(&format!("Origin: http://{authority}\r\n"));
    }
    let body = form.unwrap_or("");
    if form.is_some() {
        request.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines.next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    let headers =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned())).collect();
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(body) } else { body.to_owned() };
    Reply { status, headers, body }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub(crate) fn form(fields: &[(&str, &str)]) -> String {
    fields.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect::<Vec<_>>().join("&")
}

/// The first link in a text that starts with `prefix`.
pub(crate) fn link(text: &str, prefix: &str) -> String {
    let start = text.find(prefix).unwrap_or_else(|| panic!("no link {prefix} in {text}"));
    text[start..].split(|c: char| c.is_whitespace() || c == '>' || c == '"').next().unwrap().to_owned()
}

pub(crate) fn session_cookie(reply: &Reply) -> String {
    reply.header("set-cookie").expect("a session cookie").split(';').next().unwrap().to_owned()
}

pub(crate) fn csrf(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a form token");
    html[at + 19..].split('"').next().unwrap().to_owned()
}

#[test]
fn subscribe_confirm_digest_unsubscribe_export_delete() {
    let dir = tempfile::tempdir().unwrap();
    let Some(sink) = start_sink(&dir.path().join("mail"), &[]) else { return };
    let data = dir.path().join("data");
    for day in ["2026-06-15", "2026-06-16"] {
        let output = paperboy(&data).args(["ingest", "jsonl", &sample(day)]).output().unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
    }
    let server = serve(&data, &sink.url());
    let base = &server.base;

    // The subscribe box: same answer for any valid address; bad ones get a reason.
    let reply = http("POST", &format!("{base}/subscribe"), None, Some(&form(&[("email", "reader@example.org")])), true);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body.contains("Check your inbox"));
    let health = http("GET", &format!("{base}/healthz"), None, None, false);
    assert_eq!((health.status, health.body.trim()), (200, "ok"));
    for (bad, reason) in [
        ("a@b", "at least one dot"),
        ("reader@example.org\r\nBcc: victim@example.org", "line breaks"),
        (&format!("{}@example.org", "x".repeat(300)), "1 to 64"),
    ] {
        let reply = http("POST", &format!("{base}/subscribe"), None, Some(&form(&[("email", bad)])), true);
        assert_eq!(reply.status, 400, "{bad:?}");
        assert!(reply.body.contains(reason), "{bad:?}: {}", reply.body);
    }
    let reply =
        http("POST", &format!("{base}/subscribe"), None, Some(&form(&[("email", "reader@example.org")])), false);
    assert_eq!(reply.status, 403, "a form post from another site (no Origin) is refused");

    // The confirmation mail: both parts, the link opens a page with a button, the button confirms.
    let raw = sink.wait_for(1, Duration::from_secs(30));
    let message = MessageParser::default().parse(&raw).unwrap();
    assert_eq!(message.subject(), Some("Confirm your paperboy subscription"));
    assert!(message.body_html(0).is_some());
    let confirm = link(&message.body_text(0).unwrap(), &format!("{base}/confirm?token="));
    for _ in 0..2 {
        let page = http("GET", &confirm, None, None, false);
        assert_eq!(page.status, 200, "opening the link (as a scanner would) confirms nothing");
        assert!(page.body.contains("Confirm"));
    }
    let token = confirm.split("token=").nth(1).unwrap();
    let reply = http("POST", &format!("{base}/confirm"), None, Some(&form(&[("token", token)])), true);
    assert_eq!(reply.status, 303, "{}", reply.body);
    assert_eq!(reply.header("location"), Some("/preferences?welcome=1"));
    let set_cookie = reply.header("set-cookie").unwrap().to_owned();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"), "{set_cookie}");
    let cookie = session_cookie(&reply);
    let replay = http("POST", &format!("{base}/confirm"), None, Some(&form(&[("token", token)])), true);
    assert_eq!(replay.status, 410, "a confirmation link works once");
    let forged =
        http("GET", &format!("{base}/confirm?token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), None, None, false);
    assert_eq!(forged.status, 410);

    // Preferences: a search that does not parse is refused with a reason; good ones are kept.
    let page = http("GET", &format!("{base}/preferences"), Some(&cookie), None, false);
    assert_eq!(page.status, 200);
    assert_eq!(page.header("cache-control"), Some("private, no-store"));
    let token = csrf(&page.body);
    let bad = http(
        "POST",
        &format!("{base}/preferences"),
        Some(&cookie),
        Some(&form(&[("csrf", &token), ("searches", "ti:"), ("cadence", "daily")])),
        true,
    );
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("does not work"), "{}", bad.body);
    let forged = http(
        "POST",
        &format!("{base}/preferences"),
        Some(&cookie),
        Some(&form(&[("csrf", "nope"), ("searches", "x")])),
        true,
    );
    assert_eq!(forged.status, 403, "a form without the session's token is refused");
    let saved = http(
        "POST",
        &format!("{base}/preferences"),
        Some(&cookie),
        Some(&form(&[
            ("csrf", &token),
            ("cadence", "daily"),
            ("searches", "diffusion inversion\n\"speculative decoding\""),
            ("categories", "cs.RO"),
            ("authors", ""),
            ("trending", "0"),
            ("max_papers", "20"),
        ])),
        true,
    );
    assert_eq!(saved.status, 303, "{}", saved.body);

    // Library and upvotes from the paper page.
    let paper = http("GET", &format!("{base}/papers/2606.14725"), Some(&cookie), None, false);
    assert!(paper.body.contains("☆ Save") && paper.body.contains("△ Upvote"));
    let save = http(
        "POST",
        &format!("{base}/library/save"),
        Some(&cookie),
        Some(&form(&[("csrf", &token), ("paper", "2606.14725")])),
        true,
    );
    assert_eq!(save.status, 303);
    let up = http(
        "POST",
        &format!("{base}/upvote"),
        Some(&cookie),
        Some(&form(&[("csrf", &token), ("paper", "2606.14725")])),
        true,
    );
    assert_eq!(up.status, 303);
    let paper = http("GET", &format!("{base}/papers/2606.14725"), Some(&cookie), None, false);
    assert!(paper.body.contains("★ Saved") && paper.body.contains("▲ Upvoted"), "{}", paper.body);
    let library = http("GET", &format!("{base}/library"), Some(&cookie), None, false);
    assert!(library.body.contains("2606.14725"));

    // A digest for 2026-06-15, sent over SMTP: headers, both parts, reasons.
    let output = paperboy(&data)
        .args(["digest", "run", "--date", "2026-06-15"])
        .env("PAPERBOY_SMTP__URL", sink.url())
        .env("PAPERBOY_BASE_URL", base)
        .env("PAPERBOY_MAIL__UNSUBSCRIBE_MAILTO", "unsubscribe@papers.example.org")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("1 digests queued"), "{}", stdout(&output));
    let raw = sink.wait_for(2, Duration::from_secs(30));
    let digest = MessageParser::default().parse(&raw).unwrap();
    let subject = digest.subject().unwrap().to_owned();
    assert!(subject.contains("2026-06-15") && subject.contains("new paper"), "{subject}");
    let header = |name: &str| digest.header_raw(name).map(|v| v.trim().to_owned()).unwrap_or_default();
    assert!(
        header("List-Unsubscribe").contains(&format!("<{base}/unsubscribe?token=")),
        "{}",
        header("List-Unsubscribe")
    );
    assert!(header("List-Unsubscribe").contains("<mailto:unsubscribe@papers.example.org"));
    assert_eq!(header("List-Unsubscribe-Post"), "List-Unsubscribe=One-Click");
    assert!(header("List-Id").contains("paperboy"));
    assert!(digest.message_id().is_some() && digest.date().is_some());
    let text = digest.body_text(0).unwrap().into_owned();
    let html = digest.body_html(0).unwrap().into_owned();
    assert!(text.contains("in cs.RO, which you follow"), "{text}");
    assert!(html.contains("which you follow") && !html.contains("<script"));

    // "Not interested" beside each paper: a signed link to a page whose button does it (opening
    // the link changes nothing), then the paper is listed, with its undo, in the preferences.
    let not_interested = link(&text, &format!("{base}/not-interested?paper="));
    let paper = not_interested.split("paper=").nth(1).unwrap().split('&').next().unwrap().to_owned();
    assert!(html.contains(&not_interested.replace('&', "&amp;")), "the HTML part has the same link");
    let page = http("GET", &not_interested, None, None, false);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("action=\"/not-interested\"") && page.body.contains("Not interested"));
    let prefs = http("GET", &format!("{base}/preferences"), Some(&cookie), None, false);
    assert!(!prefs.body.contains("Not interested: "), "opening the link changed nothing");
    let link_token = not_interested.split("token=").nth(1).unwrap().to_owned();
    let other = if paper == "2606.14725" { "2606.14726" } else { "2606.14725" };
    let forged = http(
        "POST",
        &format!("{base}/not-interested"),
        None,
        Some(&form(&[("paper", other), ("token", &link_token)])),
        true,
    );
    assert_eq!(forged.status, 410, "a token works for its own paper only");
    let done = http(
        "POST",
        &format!("{base}/not-interested"),
        None,
        Some(&form(&[("paper", &paper), ("token", &link_token)])),
        true,
    );
    assert_eq!(done.status, 200, "{}", done.body);
    let prefs = http("GET", &format!("{base}/preferences"), Some(&cookie), None, false);
    assert!(prefs.body.contains("Not interested: "), "{}", prefs.body);

    // One-click unsubscribe: a POST as a mail provider sends it (no Origin, no cookie).
    let unsubscribe = link(&header("List-Unsubscribe"), &format!("{base}/unsubscribe?token="));
    let reply = http("POST", &unsubscribe, None, Some("List-Unsubscribe=One-Click"), false);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body.contains("You are unsubscribed"));
    let forged =
        http("POST", &format!("{base}/unsubscribe?token=AAAA"), None, Some("List-Unsubscribe=One-Click"), false);
    assert_eq!(forged.status, 410);
    let output = paperboy(&data)
        .args(["digest", "run", "--date", "2026-06-16"])
        .env("PAPERBOY_SMTP__URL", sink.url())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("0 due"), "the next digest skips the address: {}", stdout(&output));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(sink.messages().len(), 2);

    // The operator's view: Prometheus metrics (this server sent the confirmation mail).
    let metrics = http("GET", &format!("{base}/metrics"), None, None, false);
    assert_eq!(metrics.status, 200);
    assert!(metrics.header("content-type").is_some_and(|t| t.starts_with("text/plain; version=0.0.4")));
    for line in [
        "paperboy_messages_total{outcome=\"sent\"} ",
        "paperboy_outbox_messages{state=\"sent\"} 2",
        "paperboy_smtp_send_seconds_count ",
        "paperboy_papers ",
    ] {
        assert!(metrics.body.contains(line), "{line} missing from:\n{}", metrics.body);
    }
    assert!(!metrics.body.contains("reader@example.org"));

    // Sign-in asks get the same answer for unknown addresses, and send nothing.
    let reply = http("POST", &format!("{base}/signin"), None, Some(&form(&[("email", "nobody@example.org")])), true);
    assert_eq!(reply.status, 200);
    assert!(reply.body.contains("Check your inbox"));

    // Export, then delete: everything goes.
    let export = http("GET", &format!("{base}/account/export"), Some(&cookie), None, false);
    assert_eq!(export.status, 200);
    let exported: serde_json::Value = serde_json::from_str(&export.body).unwrap();
    assert_eq!(exported["account"]["email"], "reader@example.org");
    assert_eq!(exported["library"][0]["paper_id"], "2606.14725");
    assert_eq!(exported["upvotes"][0][0], "2606.14725");
    assert_eq!(exported["feedback"][0]["kind"], "not_interested", "{exported}");
    let delete = http(
        "POST",
        &format!("{base}/account/delete"),
        Some(&cookie),
        Some(&form(&[("csrf", &token), ("confirm", "delete")])),
        true,
    );
    assert_eq!(delete.status, 200, "{}", delete.body);
    let output = paperboy(&data).args(["subscriber", "show", "reader@example.org"]).output().unwrap();
    assert!(!output.status.success() && stderr(&output).contains("no subscriber"));
    let gone = http("GET", &format!("{base}/preferences"), Some(&cookie), None, false);
    assert_eq!(gone.status, 303, "the session died with the account");

    // Rate limits: a fourth mail for one address within the hour is refused.
    for i in 0..4 {
        let reply =
            http("POST", &format!("{base}/subscribe"), None, Some(&form(&[("email", "often@example.org")])), true);
        assert_eq!(reply.status, if i < 3 { 200 } else { 429 }, "request {i}");
    }
}

#[test]
fn operators_add_list_show_and_remove_subscribers() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let output = paperboy(&data).args(["ingest", "jsonl", &sample("2026-06-16")]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let output = paperboy(&data)
        .args([
            "subscriber",
            "add",
            "ops@example.org",
            "--confirmed",
            "--search",
            "diffusion inversion",
            "--category",
            "cs.CV",
            "--author",
            "Geoffrey Hinton",
            "--trending",
            "0",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let output = paperboy(&data).args(["subscriber", "add", "ops@example.org"]).output().unwrap();
    assert!(!output.status.success() && stderr(&output).contains("already a subscriber"));
    for (args, reason) in [
        (vec!["subscriber", "add", "a@b"], "at least one dot"),
        (vec!["subscriber", "add", "x@example.org", "--search", "ti:"], "does not work"),
        (vec!["subscriber", "add", "x@example.org", "--category", "cs.XX"], "cs.XX"),
    ] {
        let output = paperboy(&data).args(&args).output().unwrap();
        assert!(!output.status.success(), "{args:?}");
        assert!(stderr(&output).contains(reason), "{args:?}: {}", stderr(&output));
    }
    let output = paperboy(&data).args(["subscriber", "list", "--json"]).output().unwrap();
    let list: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["status"], "active");

    // A dry run shows what the digest holds and why, and changes nothing.
    let output =
        paperboy(&data).args(["digest", "build", "--date", "2026-06-16", "--dry-run", "--json"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["due"], 1);
    let items = report["digests"][0]["digest"]["items"].as_array().unwrap();
    assert!(!items.is_empty());
    let reasons: Vec<String> =
        items.iter().flat_map(|i| i["reasons"].as_array().unwrap().iter().map(|r| r.to_string())).collect();
    assert!(reasons.iter().any(|r| r.contains("\"kind\":\"search\"") && r.contains("diffusion")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("\"kind\":\"category\"")));
    // Nothing queued: a real build still finds the subscriber due.
    let output = paperboy(&data).args(["digest", "build", "--date", "2026-06-16"]).output().unwrap();
    assert!(stdout(&output).contains("1 digests queued"), "{}", stdout(&output));
    let output = paperboy(&data).args(["digest", "build", "--date", "2026-06-16"]).output().unwrap();
    assert!(stdout(&output).contains("0 due"), "built once per day: {}", stdout(&output));

    let output = paperboy(&data).args(["subscriber", "remove", "ops@example.org"]).output().unwrap();
    assert!(output.status.success());
    let output = paperboy(&data).args(["subscriber", "list", "--json"]).output().unwrap();
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap().as_array().unwrap().len(), 0);
}
