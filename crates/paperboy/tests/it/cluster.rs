//! Several `paperboy serve` nodes on one PostgreSQL, as an operator runs them behind a load
//! balancer: what one node (or a CLI job on a third machine) writes, every node serves; a session
//! made on one node is good on the other; a mail is sent once although every node runs a sender.

use std::{
    collections::HashMap,
    path::Path,
    process::{Child, Stdio},
    time::{Duration, Instant},
};

use mail_parser::MessageParser;
use paperboy_arxiv::replay::{self, ReplayServer};
use paperboy_testing::ScratchDatabase;

use super::{
    delivery::{queued_digests_on, received, status_on},
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

/// A sender on the node `data`, sending until the outbox is empty.
fn sender(data: &Path, sink: &str, env: &[(&str, &str)]) -> Child {
    paperboy(data)
        .envs(env.iter().copied())
        .args(["digest", "send"])
        .env("PAPERBOY_SMTP__URL", sink)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Two nodes send one outbox at once while either is killed with SIGKILL at random moments and
/// restarted: everyone gets their digest, a re-send keeps its Message-ID, and there are no more
/// duplicates than kills (one worker each: at most the message in flight).
#[test]
fn two_senders_on_one_postgres_deliver_everyone_once_through_kills() {
    let Some(database) = ScratchDatabase::create("two_senders_on_one_postgres_deliver_everyone_once_through_kills")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let Some(sink) = start_sink(&dir.path().join("mail"), &[]) else { return };
    let key = dir.path().join("signing.key").display().to_string();
    // A killed node's claims come back after this lease (seconds), for a test that does not wait long.
    let env = [
        ("PAPERBOY_DATABASE_URL", database.url.as_str()),
        ("PAPERBOY_SIGNING_KEY_FILE", key.as_str()),
        ("PAPERBOY_MAIL__CLAIM_LEASE", "2"),
        ("PAPERBOY_MAIL__PATIENCE", "1"),
    ];
    let n: usize = std::env::var("PAPERBOY_CRASH_TEST_DIGESTS").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let emails: Vec<String> = (0..n).map(|i| format!("reader{i:05}@example.org")).collect();
    let nodes = [dir.path().join("a"), dir.path().join("b")];
    queued_digests_on(&nodes[0], &emails, &env);

    let mut running: Vec<Child> = nodes.iter().map(|node| sender(node, &sink.url(), &env)).collect();
    let (mut rng, mut killed) = (0x9e37_79b9_7f4a_7c15u64, 0);
    for _ in 0..10 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let target = sink.count() + 1 + (rng % (n as u64 / 12)) as usize;
        let deadline = Instant::now() + Duration::from_secs(120);
        while sink.count() < target && Instant::now() < deadline {
            if running.iter_mut().all(|child| child.try_wait().unwrap().is_some()) {
                break; // the outbox is empty (or waits for a lease)
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let victim = (rng >> 32) as usize % 2;
        if running[victim].try_wait().unwrap().is_none() {
            running[victim].kill().unwrap(); // SIGKILL
            killed += 1;
        }
        running[victim].wait().unwrap();
        running[victim] = sender(&nodes[victim], &sink.url(), &env);
    }
    for child in &mut running {
        child.wait().unwrap();
    }
    assert!(killed >= 5, "the senders finished before most kills ({killed}); the test proves little");
    // What a killed sender had claimed comes back once its lease runs out; a last run sends it.
    std::thread::sleep(Duration::from_millis(2500));
    let output =
        paperboy(&nodes[1]).envs(env).args(["digest", "send"]).env("PAPERBOY_SMTP__URL", sink.url()).output().unwrap();
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
    let status = status_on(&nodes[0], &env);
    assert_eq!(
        (status["sent"].as_u64(), status["queued"].as_u64(), status["sending"].as_u64()),
        (Some(n as u64), Some(0), Some(0)),
        "{status}"
    );
    let duplicates = received.len() - n;
    eprintln!("{n} digests from two nodes, {killed} kills, {duplicates} duplicates");
    assert!(duplicates <= killed, "{duplicates} duplicates after {killed} kills");
}

/// Both nodes run the daily job on the same schedule: it harvests, builds and sends once.
#[test]
fn the_daily_job_runs_once_when_every_node_is_scheduled() {
    let Some(database) = ScratchDatabase::create("the_daily_job_runs_once_when_every_node_is_scheduled") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let Some(sink) = start_sink(&dir.path().join("mail"), &[]) else { return };
    let arxiv = ReplayServer::start(replay::oai_repository(replay::oai_pages()));
    let key = dir.path().join("signing.key").display().to_string();
    let endpoint = format!("{}/oai", arxiv.url());
    let env = [
        ("PAPERBOY_DATABASE_URL", database.url.as_str()),
        ("PAPERBOY_SIGNING_KEY_FILE", key.as_str()),
        ("PAPERBOY_OAI_ENDPOINT", endpoint.as_str()),
        ("PAPERBOY_REQUEST_INTERVAL", "0.05"),
    ];
    let output = paperboy(&dir.path().join("a"))
        .envs(env)
        .args(["subscriber", "add", "early@example.org", "--confirmed", "--send-empty", "--trending", "3"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let slot = (chrono::Utc::now() - chrono::Duration::minutes(1)).format("%H:%M").to_string();
    let args = [
        "--schedule",
        "--schedule-at",
        &slot,
        "--schedule-zone",
        "UTC",
        "--schedule-days",
        "mon,tue,wed,thu,fri,sat,sun",
    ];
    let _a = serve_with(&dir.path().join("a"), &sink.url(), &args, &env);
    let _b = serve_with(&dir.path().join("b"), &sink.url(), &args, &env);
    sink.wait_for(1, Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(4));
    let harvests = arxiv.requests().iter().filter(|r| !r.query.iter().any(|(k, _)| k == "resumptionToken")).count();
    assert_eq!(harvests, 1, "one harvest in the cluster");
    assert_eq!(sink.count(), 1, "one digest in the cluster");
    let stats: serde_json::Value = serde_json::from_slice(
        &paperboy(&dir.path().join("c")).envs(env).args(["stats", "--json"]).output().unwrap().stdout,
    )
    .unwrap();
    assert_eq!(stats["papers"], 9, "the job harvested the new papers");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// HAProxy in front of `servers`, on `port`: health checks every 100 ms, a request whose
/// connection fails is sent to the other node.
struct Balancer(Child);

impl Balancer {
    fn start(dir: &Path, port: u16, servers: &[u16]) -> Option<Balancer> {
        let found = std::process::Command::new("haproxy").arg("-v").output().is_ok_and(|o| o.status.success());
        if !found {
            paperboy_testing::missing("the load-balancer test", "HAProxy (apt install haproxy; .ci/run installs it)");
            return None;
        }
        let backends: String = servers
            .iter()
            .enumerate()
            .map(|(i, port)| format!("    server node{i} 127.0.0.1:{port} check inter 100ms fall 1 rise 2\n"))
            .collect();
        let config = format!(
            "defaults\n    mode http\n    timeout connect 1s\n    timeout client 30s\n    timeout server 30s\n    \
             retries 3\n    option redispatch 1\n    retry-on conn-failure empty-response response-timeout\n\
             frontend web\n    bind 127.0.0.1:{port}\n    default_backend nodes\n\
             backend nodes\n    balance roundrobin\n    option httpchk GET /healthz\n{backends}"
        );
        let path = dir.join("haproxy.cfg");
        std::fs::write(&path, config).unwrap();
        let child = std::process::Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "HAProxy did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Balancer(child))
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A request that reports a broken connection as `None` instead of panicking.
fn try_http(method: &str, url: &str, cookie: Option<&str>, form: Option<&str>) -> Option<super::mail::Reply> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| http(method, url, cookie, form, form.is_some()))).ok()
}

/// Signs `email` (a confirmed subscriber) in through `base`: the session cookie and a form token.
fn sign_in(base: &str, sink: &super::mail::Sink, email: &str) -> (String, String) {
    let before = sink.count();
    let reply = http("POST", &format!("{base}/signin"), None, Some(&form(&[("email", email)])), true);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let raw = sink.wait_for(before + 1, Duration::from_secs(30));
    let text = MessageParser::default().parse(&raw).unwrap().body_text(0).unwrap().into_owned();
    let token = link(&text, "/signin/verify?token=").split("token=").nth(1).unwrap().to_owned();
    let reply = http("POST", &format!("{base}/signin/verify"), None, Some(&form(&[("token", &token)])), true);
    assert_eq!(reply.status, 303, "{}", reply.body);
    let cookie = session_cookie(&reply);
    let page = http("GET", &format!("{base}/preferences"), Some(&cookie), None, false);
    (cookie, csrf(&page.body))
}

/// Two nodes behind HAProxy under readers and writers; one node is killed with SIGKILL and
/// restarted mid-run. Readers see no failure; writers lose at most the requests in flight on
/// the killed node, and every upvote that was answered is in the store.
#[test]
fn two_nodes_behind_a_load_balancer_survive_a_killed_node() {
    let Some(database) = ScratchDatabase::create("two_nodes_behind_a_load_balancer_survive_a_killed_node") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let Some(sink) = start_sink(&dir.path().join("mail"), &[]) else { return };
    let (front, ports) = (free_port(), [free_port(), free_port()]);
    let key = dir.path().join("signing.key").display().to_string();
    let base_url = format!("http://127.0.0.1:{front}");
    let env = [
        ("PAPERBOY_DATABASE_URL", database.url.as_str()),
        ("PAPERBOY_SIGNING_KEY_FILE", key.as_str()),
        ("PAPERBOY_WEB__BASE_URL", base_url.as_str()),
    ];
    ingest(&dir.path().join("node0"), &env, "2026-06-16");
    let writers = 3;
    for i in 0..writers {
        let output = paperboy(&dir.path().join("node0"))
            .envs(env)
            .args(["subscriber", "add", &format!("writer{i}@example.org"), "--confirmed"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
    }
    let node = |i: usize| {
        let addr = format!("127.0.0.1:{}", ports[i]);
        serve_with(&dir.path().join(format!("node{i}")), &sink.url(), &["--addr", &addr], &env)
    };
    let mut nodes = [Some(node(0)), Some(node(1))];
    let Some(_balancer) = Balancer::start(dir.path(), front, &ports) else { return };
    std::thread::sleep(Duration::from_millis(500)); // both nodes pass their first checks
    let sessions: Vec<(String, String)> =
        (0..writers).map(|i| sign_in(&base_url, &sink, &format!("writer{i}@example.org"))).collect();
    let papers: Vec<String> = {
        use std::io::BufRead as _;
        let file = std::fs::File::open(sample("2026-06-16")).unwrap();
        std::io::BufReader::new(flate2::read::GzDecoder::new(file))
            .lines()
            .map(|line| {
                serde_json::from_str::<serde_json::Value>(&line.unwrap()).unwrap()["id"].as_str().unwrap().to_owned()
            })
            .collect()
    };
    assert!(papers.len() > 300, "{} papers", papers.len());

    let stop = std::sync::atomic::AtomicBool::new(false);
    let (reads, writes) = std::thread::scope(|scope| {
        let readers: Vec<_> = (0..2)
            .map(|r| {
                let (stop, base_url) = (&stop, &base_url);
                scope.spawn(move || {
                    let targets = [
                        "/search?q=model+switching",
                        "/api/v1/search?q=segmentation",
                        "/papers/2606.14716",
                        "/daily/2026-06-16",
                        "/trending",
                    ];
                    let (mut ok, mut failed) = (0, Vec::new());
                    let mut i = r;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let target = targets[i % targets.len()];
                        i += 1;
                        match try_http("GET", &format!("{base_url}{target}"), None, None) {
                            Some(reply) if reply.status == 200 => ok += 1,
                            other => failed.push(format!("{target}: {:?}", other.map(|r| r.status))),
                        }
                    }
                    (ok, failed)
                })
            })
            .collect();
        let writers: Vec<_> = sessions
            .iter()
            .enumerate()
            .map(|(w, (cookie, token))| {
                let (stop, base_url, papers) = (&stop, &base_url, &papers);
                scope.spawn(move || {
                    let (mut answered, mut failed) = (Vec::new(), 0);
                    for paper in papers.iter().skip(w).step_by(writers) {
                        if stop.load(std::sync::atomic::Ordering::Relaxed) {
                            break;
                        }
                        let body = form(&[("csrf", token), ("paper", paper)]);
                        match try_http("POST", &format!("{base_url}/upvote"), Some(cookie), Some(&body)) {
                            Some(reply) if reply.status == 303 => answered.push((paper.clone(), Instant::now())),
                            _ => failed += 1,
                        }
                        // Paced, so that the writes span the kill and the restart.
                        std::thread::sleep(Duration::from_millis(25));
                    }
                    (answered, failed)
                })
            })
            .collect();
        std::thread::sleep(Duration::from_secs(2));
        let killed_at = Instant::now();
        drop(nodes[0].take()); // SIGKILL
        std::thread::sleep(Duration::from_secs(2));
        nodes[0] = Some(node(0));
        let restarted_at = Instant::now();
        std::thread::sleep(Duration::from_secs(2));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let reads: Vec<_> = readers.into_iter().map(|r| r.join().unwrap()).collect();
        let writes: Vec<_> = writers.into_iter().map(|w| w.join().unwrap()).collect();
        let during = |from: Instant, to: Instant| {
            writes.iter().flat_map(|(answered, _)| answered).filter(|(_, at)| *at > from && *at < to).count()
        };
        assert!(during(killed_at, restarted_at) > 10, "writes went on while one node was down");
        assert!(during(restarted_at, Instant::now()) > 10, "and after it came back");
        (reads, writes)
    });
    let read_ok: usize = reads.iter().map(|(ok, _)| ok).sum();
    let read_failed: Vec<&String> = reads.iter().flat_map(|(_, failed)| failed).collect();
    let write_failed: usize = writes.iter().map(|(_, failed)| failed).sum();
    let answered: usize = writes.iter().map(|(answered, _)| answered.len()).sum();
    eprintln!("{read_ok} reads ok, {} failed; {answered} upvotes answered, {write_failed} failed", read_failed.len());
    assert!(read_ok > 100 && answered > 50, "the load was too light to prove anything");
    // In flight on the killed node at most: one request per client thread.
    assert!(
        read_failed.len() + write_failed <= 2 + writers,
        "reads failed: {read_failed:?}; writes failed: {write_failed}"
    );
    // Nothing answered is lost: each writer's upvotes are all in the store.
    for ((answered, _), (cookie, _)) in writes.iter().zip(&sessions) {
        let export = http("GET", &format!("{base_url}/account/export"), Some(cookie), None, false);
        let export: serde_json::Value = serde_json::from_str(&export.body).unwrap();
        let stored: std::collections::HashSet<&str> =
            export["upvotes"].as_array().unwrap().iter().map(|u| u[0].as_str().unwrap()).collect();
        let lost: Vec<&String> = answered.iter().map(|(p, _)| p).filter(|p| !stored.contains(p.as_str())).collect();
        assert!(lost.is_empty(), "answered upvotes missing from the store: {lost:?}");
    }
}
