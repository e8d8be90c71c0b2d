//! The delivery engine against a real SMTP server on loopback: a sender killed with SIGKILL at
//! random moments skips nobody and re-sends at most one message per kill; 5xx, 4xx, stalls,
//! dropped connections and a server that is down each end the way they should.

use std::{
    collections::HashMap,
    path::Path,
    process::Stdio,
    time::{Duration, Instant},
};

use mail_parser::MessageParser;

use paperboy_arxiv::replay::{self, ReplayServer};

use super::{
    mail::{Sink, serve_with, start_sink},
    paperboy, sample, stderr, stdout,
};

/// A data directory with the sample day and `n` confirmed subscribers following cs.CV (so every
/// digest has papers), their digests for 2026-06-16 queued.
fn queued_digests(data: &Path, emails: &[String]) {
    queued_digests_on(data, emails, &[]);
}

/// [`queued_digests`] with more environment (another store).
pub(crate) fn queued_digests_on(data: &Path, emails: &[String], env: &[(&str, &str)]) {
    let paperboy = |data: &Path| {
        let mut command = paperboy(data);
        command.envs(env.iter().copied());
        command
    };
    let output = paperboy(data).args(["ingest", "jsonl", "--no-embed", &sample("2026-06-16")]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let file = data.parent().unwrap().join("subscribers.jsonl");
    let lines: Vec<String> = emails
        .iter()
        .map(|e| {
            serde_json::json!({"email": e, "confirmed": true, "categories": ["cs.CV"], "trending": 0, "max_papers": 10})
                .to_string()
        })
        .collect();
    std::fs::write(&file, lines.join("\n")).unwrap();
    let output = paperboy(data).args(["subscriber", "import", file.to_str().unwrap()]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let output = paperboy(data).args(["digest", "build", "--date", "2026-06-16", "--json"]).output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["queued"], emails.len(), "{report}");
}

fn status(data: &Path) -> serde_json::Value {
    status_on(data, &[])
}

pub(crate) fn status_on(data: &Path, env: &[(&str, &str)]) -> serde_json::Value {
    let output = paperboy(data).envs(env.iter().copied()).args(["digest", "status", "--json"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn send(data: &Path, sink: &str, env: &[(&str, &str)]) -> std::process::Output {
    let mut command = paperboy(data);
    command.args(["digest", "send"]).env("PAPERBOY_SMTP__URL", sink);
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

/// Recipient and Message-ID of every message the sink took.
pub(crate) fn received(sink: &Sink) -> Vec<(String, String)> {
    sink.messages()
        .iter()
        .map(|(raw, envelope)| {
            let message = MessageParser::default().parse(raw).unwrap();
            (envelope["rcpt_tos"][0].as_str().unwrap().to_owned(), message.message_id().unwrap().to_owned())
        })
        .collect()
}

/// Kills `paperboy digest send --workers W` with SIGKILL at 10 random moments while it delivers
/// `n` digests, then lets it finish; returns (kills, duplicates) after checking that everybody got
/// their digest, re-sends kept their Message-ID, and the outbox says all were sent.
fn kill_the_sender_while_it_delivers(workers: usize, seed: u64) -> (usize, usize) {
    let dir = tempfile::tempdir().unwrap();
    let Some(sink) = start_sink(&dir.path().join("mail"), &[]) else { return (0, 0) };
    let data = dir.path().join("data");
    let n: usize = std::env::var("PAPERBOY_CRASH_TEST_DIGESTS").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let kills = 10;
    let emails: Vec<String> = (0..n).map(|i| format!("reader{i:05}@example.org")).collect();
    queued_digests(&data, &emails);

    let mut rng = seed;
    let mut killed = 0;
    for _ in 0..kills {
        let mut child = paperboy(&data)
            .args(["digest", "send", "--workers", &workers.to_string()])
            .env("PAPERBOY_SMTP__URL", sink.url())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let target = sink.count() + 1 + (rng % (n / kills) as u64) as usize;
        let deadline = Instant::now() + Duration::from_secs(120);
        while sink.count() < target && Instant::now() < deadline {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            killed += 1;
        }
        child.wait().unwrap();
    }
    assert!(killed >= kills / 2, "the sender finished before most kills ({killed}); the test proves little");
    let output = send(&data, &sink.url(), &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    std::thread::sleep(Duration::from_millis(300));

    let received = received(&sink);
    let mut per_recipient: HashMap<&str, Vec<&str>> = HashMap::new();
    for (to, id) in &received {
        per_recipient.entry(to.as_str()).or_default().push(id.as_str());
    }
    let missing: Vec<&String> = emails.iter().filter(|e| !per_recipient.contains_key(e.as_str())).collect();
    assert!(missing.is_empty(), "never got their digest: {missing:?}");
    for ids in per_recipient.values() {
        assert!(ids.iter().all(|id| *id == ids[0]), "a re-sent digest keeps its Message-ID: {ids:?}");
    }
    let status = status(&data);
    assert_eq!(
        (status["sent"].as_u64(), status["queued"].as_u64(), status["sending"].as_u64()),
        (Some(n as u64), Some(0), Some(0))
    );
    let duplicates = received.len() - n;
    eprintln!("{n} digests, {workers} workers, {killed} kills, {duplicates} duplicates");
    (killed, duplicates)
}

#[test]
fn a_sender_killed_at_random_moments_skips_nobody_and_resends_at_most_one_per_kill() {
    let (kills, duplicates) = kill_the_sender_while_it_delivers(1, 0x2545_f491_4f6c_dd1d);
    assert!(duplicates <= kills, "{duplicates} duplicates after {kills} kills");
}

#[test]
fn with_parallel_workers_a_kill_resends_at_most_the_messages_in_flight() {
    let workers = 8;
    let (kills, duplicates) = kill_the_sender_while_it_delivers(workers, 0x9e37_79b9_7f4a_7c15);
    assert!(duplicates <= kills * workers, "{duplicates} duplicates after {kills} kills");
}

#[test]
fn a_hard_bounce_fails_and_suppresses_the_address_and_the_rest_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let Some(sink) = start_sink(&dir.path().join("mail"), &["--rcpt-fail", "550:bounce"]) else { return };
    let data = dir.path().join("data");
    queued_digests(&data, &["bounce@example.org".into(), "fine@example.org".into()]);
    let output = send(&data, &sink.url(), &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("sent 1") && stdout(&output).contains("failed 1"), "{}", stdout(&output));
    let output = paperboy(&data).args(["subscriber", "show", "bounce@example.org"]).output().unwrap();
    assert!(stdout(&output).contains("SUPPRESSED"), "{}", stdout(&output));
    assert_eq!(received(&sink).len(), 1);
}

#[test]
fn a_relay_refusing_us_stops_the_run_keeps_the_queue_and_suppresses_nobody() {
    for reply in ["530 5.7.0 Authentication required", "553 5.1.8 Sender address rejected: not owned by user"] {
        let dir = tempfile::tempdir().unwrap();
        let Some(sink) = start_sink(&dir.path().join("mail"), &["--mail-fail", reply]) else { return };
        let data = dir.path().join("data");
        queued_digests(&data, &["first@example.org".into(), "second@example.org".into()]);
        let output = send(&data, &sink.url(), &[]);
        assert!(!output.status.success(), "{reply}: {}", stdout(&output));
        assert!(stderr(&output).contains("refused us"), "{reply}: {}", stderr(&output));
        let status_now = status(&data);
        assert_eq!(
            (status_now["queued"].as_u64(), status_now["failed"].as_u64(), status_now["suppressed_addresses"].as_u64()),
            (Some(2), Some(0), Some(0)),
            "{reply}: {status_now}"
        );
        for who in ["first@example.org", "second@example.org"] {
            let output = paperboy(&data).args(["subscriber", "show", who]).output().unwrap();
            assert!(!stdout(&output).contains("SUPPRESSED"), "{reply}: {}", stdout(&output));
        }
        assert_eq!(sink.count(), 0);
    }
}

#[test]
fn a_relay_refusing_every_message_for_its_content_stops_after_a_few_and_counts_against_nobody() {
    let dir = tempfile::tempdir().unwrap();
    let Some(sink) = start_sink(&dir.path().join("mail"), &["--content-fail", "554 5.6.0 Content rejected"]) else {
        return;
    };
    let data = dir.path().join("data");
    let emails: Vec<String> = (0..6).map(|i| format!("reader{i}@example.org")).collect();
    queued_digests(&data, &emails);
    let output = send(&data, &sink.url(), &[]);
    assert!(!output.status.success(), "{}", stdout(&output));
    assert!(stderr(&output).contains("in a row for their content"), "{}", stderr(&output));
    let status_now = status(&data);
    assert_eq!(
        (status_now["failed"].as_u64(), status_now["queued"].as_u64(), status_now["suppressed_addresses"].as_u64()),
        (Some(3), Some(3), Some(0)),
        "{status_now}"
    );
}

#[test]
fn a_suppressed_address_is_listed_with_its_reason_and_an_operator_lifts_it() {
    let dir = tempfile::tempdir().unwrap();
    let Some(sink) = start_sink(&dir.path().join("mail"), &["--rcpt-fail", "550:bounce"]) else { return };
    let data = dir.path().join("data");
    queued_digests(&data, &["bounce@example.org".into()]);
    let output = send(&data, &sink.url(), &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = paperboy(&data).args(["subscriber", "suppressed", "--json"]).output().unwrap();
    let listed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(listed[0]["email"], "bounce@example.org", "{listed}");
    assert!(listed[0]["suppressed_reason"].as_str().unwrap().contains("5.1.1"), "{listed}");
    assert_eq!(status(&data)["suppressed_addresses"], 1);
    let output = paperboy(&data).args(["subscriber", "unsuppress", "bounce@example.org"]).output().unwrap();
    assert!(output.status.success() && stdout(&output).contains("gets mail again"), "{}", stdout(&output));
    let output = paperboy(&data).args(["subscriber", "show", "bounce@example.org"]).output().unwrap();
    assert!(!stdout(&output).contains("SUPPRESSED"), "{}", stdout(&output));
    assert_eq!(status(&data)["suppressed_addresses"], 0);
}

#[test]
fn a_password_is_not_sent_when_starttls_is_missing() {
    // A relay that takes AUTH over plain SMTP and does not offer STARTTLS: what a STARTTLS
    // stripper in between would show a client configured with tls=opportunistic.
    let dir = tempfile::tempdir().unwrap();
    let Some(sink) = start_sink(&dir.path().join("mail"), &["--auth", "relay-user:s3cret"]) else { return };
    let data = dir.path().join("data");
    queued_digests(&data, &["careful@example.org".into()]);
    let port = sink.url().rsplit(':').next().unwrap().to_owned();
    let url = format!("smtp://relay-user:s3cret@127.0.0.1:{port}?tls=opportunistic");
    let output = send(&data, &url, &[]);
    assert!(!output.status.success(), "{}", stdout(&output));
    assert!(stderr(&output).contains("not sent unencrypted"), "{}", stderr(&output));
    assert!(!stderr(&output).contains("s3cret"), "the password is never printed");
    assert_eq!((sink.count(), status(&data)["queued"].as_u64()), (0, Some(1)));
}

#[test]
fn temporary_failures_and_stalls_are_retried_with_backoff_until_sent() {
    let dir = tempfile::tempdir().unwrap();
    let Some(sink) = start_sink(&dir.path().join("mail"), &["--data-fail", "451:1", "--stall", "3:1"]) else { return };
    let data = dir.path().join("data");
    queued_digests(&data, &["patient@example.org".into()]);
    let env = [("PAPERBOY_MAIL__RETRY_BASE", "0.2"), ("PAPERBOY_SMTP__TIMEOUT", "1")];
    let mut runs = 0;
    while received(&sink).is_empty() {
        runs += 1;
        assert!(runs <= 20, "never delivered: {:?}", status(&data));
        let output = send(&data, &sink.url(), &env);
        assert!(output.status.success(), "{}", stderr(&output));
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(runs >= 3, "a 451 and a stall each cost a retry ({runs} runs)");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(received(&sink).len(), 1, "exactly one copy");
    assert_eq!(status(&data)["sent"], 1);
}

#[test]
fn dropped_connections_and_a_server_that_is_down_keep_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let Some(sink) = start_sink(&dir.path().join("mail"), &["--drop", "2"]) else { return };
    let data = dir.path().join("data");
    queued_digests(&data, &["steady@example.org".into(), "calm@example.org".into()]);

    // Nobody listens on this port: the run waits, gives up, and keeps every message queued.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let started = Instant::now();
    let output = send(&data, &format!("smtp://127.0.0.1:{closed}"), &[("PAPERBOY_MAIL__PATIENCE", "2")]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("unreachable"), "{}", stderr(&output));
    assert!(started.elapsed() >= Duration::from_secs(2));
    let status_now = status(&data);
    assert_eq!((status_now["queued"].as_u64(), status_now["failed"].as_u64()), (Some(2), Some(0)), "{status_now}");

    // Two dropped connections: the workers wait and retry within the run.
    let output = send(&data, &sink.url(), &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("sent 2"), "{}", stdout(&output));
    let mut recipients: Vec<String> = received(&sink).into_iter().map(|(to, _)| to).collect();
    recipients.sort();
    assert_eq!(recipients, ["calm@example.org", "steady@example.org"]);
}

#[test]
fn the_daily_job_harvests_builds_and_sends_and_catches_up_only_once() {
    let dir = tempfile::tempdir().unwrap();
    let Some(sink) = start_sink(&dir.path().join("mail"), &[]) else { return };
    let data = dir.path().join("data");
    let arxiv = ReplayServer::start(replay::oai_repository(replay::oai_pages()));
    let output = paperboy(&data)
        .args(["subscriber", "add", "early@example.org", "--confirmed", "--send-empty", "--trending", "3"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    // A schedule whose latest slot was a minute ago and never ran: the server was down then.
    let slot = (chrono::Utc::now() - chrono::Duration::minutes(1)).format("%H:%M").to_string();
    let endpoint = format!("{}/oai", arxiv.url());
    let args = [
        "--schedule",
        "--schedule-at",
        &slot,
        "--schedule-zone",
        "UTC",
        "--schedule-days",
        "mon,tue,wed,thu,fri,sat,sun",
    ];
    let env = [("PAPERBOY_OAI_ENDPOINT", endpoint.as_str()), ("PAPERBOY_REQUEST_INTERVAL", "0.05")];
    let server = serve_with(&data, &sink.url(), &args, &env);
    let raw = sink.wait_for(1, Duration::from_secs(60));
    let message = MessageParser::default().parse(&raw).unwrap();
    assert!(message.subject().unwrap().contains("papers"), "{:?}", message.subject());
    let stats: serde_json::Value =
        serde_json::from_slice(&paperboy(&data).args(["stats", "--json"]).output().unwrap().stdout).unwrap();
    assert_eq!(stats["papers"], 9, "the job harvested the new papers");
    let harvest_requests = arxiv.requests().len();
    drop(server);

    // Restarted within the same slot: nothing runs again.
    let server = serve_with(&data, &sink.url(), &args, &env);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(arxiv.requests().len(), harvest_requests, "no second harvest for the same slot");
    assert_eq!(sink.count(), 1, "no second digest");
    let metrics = super::mail::http("GET", &format!("{}/metrics", server.base), None, None, false);
    assert!(metrics.body.contains("paperboy_outbox_messages{state=\"sent\"} 1"), "{}", metrics.body);
}

/// A private certificate authority and a certificate it signed for 127.0.0.1, made by `openssl`
/// for this test: (the authority's certificate, the server's certificate, the server's key).
fn private_ca(dir: &Path) -> Option<(String, String, String)> {
    let path = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    std::fs::write(dir.join("leaf.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
        .unwrap();
    let steps: [Vec<String>; 3] = [
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=paperboy test CA", "-keyout"]
            .iter()
            .map(|s| s.to_string())
            .chain([path("ca.key"), "-out".into(), path("ca.pem")])
            .collect(),
        ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout"]
            .iter()
            .map(|s| s.to_string())
            .chain([path("key.pem"), "-out".into(), path("leaf.csr")])
            .collect(),
        ["x509", "-req", "-days", "2", "-CAcreateserial", "-in"]
            .iter()
            .map(|s| s.to_string())
            .chain([path("leaf.csr"), "-CA".into(), path("ca.pem"), "-CAkey".into(), path("ca.key")])
            .chain(["-extfile".into(), path("leaf.ext"), "-out".into(), path("cert.pem")])
            .collect(),
    ];
    for step in steps {
        let made = std::process::Command::new("openssl")
            .args(&step)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !made {
            paperboy_testing::missing("the TLS mail tests", &format!("openssl (openssl {} failed)", step.join(" ")));
            return None;
        }
    }
    Some((path("ca.pem"), path("cert.pem"), path("key.pem")))
}

#[test]
fn digests_go_out_over_starttls_and_implicit_tls_with_auth_to_a_relay_with_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let Some((ca_path, cert_path, key_path)) = private_ca(dir.path()) else { return };
    let (cert_path, key_path) = (cert_path.as_str(), key_path.as_str());
    let ca = [("PAPERBOY_SMTP__CA_FILE", ca_path.as_str()), ("PAPERBOY_MAIL__PATIENCE", "1")];
    // The password holds characters a URL must escape ('@' as %40) and one it must not decode ('+').
    let auth = "--auth=relay-user:s3cret+@pass";
    for (mode, url) in [
        ("starttls", "smtp://relay-user:s3cret+%40pass@127.0.0.1:{port}?tls=required"),
        ("implicit", "smtps://relay-user:s3cret+%40pass@127.0.0.1:{port}"),
    ] {
        let tls = ["--tls", mode, "--cert", cert_path, "--key", key_path, auth];
        let Some(sink) = start_sink(&dir.path().join(format!("mail-{mode}")), &tls) else { return };
        let url = url.replace("{port}", sink.url().rsplit(':').next().unwrap());
        let data = dir.path().join(format!("data-{mode}"));
        queued_digests(&data, &["private@example.org".into()]);

        // Without the private authority the certificate is not trusted: nothing is sent, nothing lost.
        let output = send(&data, &url, &[("PAPERBOY_MAIL__PATIENCE", "1")]);
        assert!(!output.status.success(), "{mode}: {}", stdout(&output));
        assert!(stderr(&output).to_lowercase().contains("certificate"), "{mode}: {}", stderr(&output));
        assert_eq!(sink.count(), 0);
        assert_eq!(status(&data)["queued"].as_u64(), Some(1), "{mode}");

        // A wrong password is refused for good: the run fails and the message stays queued.
        let output = send(&data, &url.replace("s3cret", "wrong"), &ca);
        assert!(!output.status.success(), "{mode}: {}", stdout(&output));
        assert!(stderr(&output).contains("refused"), "{mode}: {}", stderr(&output));
        assert_eq!((sink.count(), status(&data)["queued"].as_u64()), (0, Some(1)), "{mode}");

        // With the authority and the right password, the digest goes out encrypted.
        let output = send(&data, &url, &ca);
        assert!(output.status.success(), "{mode}: {}", stderr(&output));
        assert!(stdout(&output).contains("sent 1"), "{mode}: {}", stdout(&output));
        assert_eq!(received(&sink)[0].0, "private@example.org");
    }
}
