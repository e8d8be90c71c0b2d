//! The account pages against an attacker, in-process: links that sign in only by a button, a
//! session cookie bound to the host, rate limits keyed by the real client, a page cache that
//! cannot be grown or bypassed, and sign-in answers that do not tell known addresses apart.

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    body::Body,
    extract::ConnectInfo,
    http::{Request, StatusCode, header},
};
use chrono::Utc;
use http_body_util::BodyExt;
use paperboy_app::{Library, NoProgress, ingest, signing::LinkPurpose};
use paperboy_domain::Preferences;
use paperboy_web::{AppState, TrustedProxies, WebConfig};
use tower::ServiceExt;

const SITE: &str = "https://papers.example.org";

/// A site of its own (accounts change state), over one sample day.
fn site(config: WebConfig) -> (tempfile::TempDir, AppState) {
    let dir = tempfile::tempdir().unwrap();
    let library = Library::open(dir.path(), &NoProgress).unwrap();
    ingest::ingest_jsonl(&library, &[super::sample("arxiv-cs/2026-06-16.jsonl.gz")], &NoProgress).unwrap();
    let state = AppState::new(Arc::new(library), WebConfig { base_url: SITE.into(), ..config });
    (dir, state)
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

async fn send(state: &AppState, request: Request<Body>) -> Answer {
    let response = paperboy_web::router(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    Answer { status, headers, body }
}

fn post(uri: &str, form: &str, peer: &str, forwarded: Option<&str>) -> Request<Body> {
    let mut request = Request::post(uri)
        .header(header::ORIGIN, SITE)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(forwarded) = forwarded {
        request = request.header("x-forwarded-for", forwarded);
    }
    let mut request = request.body(Body::from(form.to_owned())).unwrap();
    request.extensions_mut().insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
    request
}

fn get_with_cookie(uri: &str, cookie: Option<&str>) -> Request<Body> {
    let mut request = Request::get(uri);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    request.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn a_manage_link_opens_a_page_and_only_its_button_signs_in() {
    let (_dir, state) = site(WebConfig::default());
    let email = paperboy_domain::EmailAddress::parse("reader@example.org").unwrap();
    let account = state.library.add_subscriber(&email, true, Preferences::default(), Utc::now()).unwrap();
    let token = state.library.signed_link(&account, LinkPurpose::Manage, Utc::now()).unwrap();
    let link = format!("/manage?token={token}");
    for _ in 0..2 {
        // A link scanner, an archive, a forwarded digest: opening the link signs nobody in.
        let page = send(&state, get_with_cookie(&link, None)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.headers.get(header::SET_COOKIE).is_none(), "no session from a GET");
        assert!(page.body.contains("action=\"/manage\"") && page.body.contains("Open my preferences"));
    }
    let signed_in = send(&state, post("/manage", &format!("token={token}"), "198.51.100.1:5000", None)).await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER, "{}", signed_in.body);
    let cookie = signed_in.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap().to_owned();
    // Served over TLS: a host-only, Secure cookie.
    assert!(cookie.starts_with("__Host-pb_session=") && cookie.contains("Secure") && cookie.contains("Path=/"));
    assert!(!cookie.contains("Domain"), "{cookie}");
    let session = cookie.split(';').next().unwrap().to_owned();
    let preferences = send(&state, get_with_cookie("/preferences", Some(&session))).await;
    assert_eq!(preferences.status, StatusCode::OK);
    // A signed-in page holds an anti-forgery token: it is never compressed (BREACH), while the
    // same page for nobody in particular is.
    for uri in ["/preferences", "/search?q=diffusion"] {
        let mut request = get_with_cookie(uri, Some(&session));
        request.headers_mut().insert(header::ACCEPT_ENCODING, "gzip, br".parse().unwrap());
        let answer = send(&state, request).await;
        assert_eq!(answer.status, StatusCode::OK, "{uri}");
        assert!(answer.body.contains("name=\"csrf\""), "{uri} has a form token");
        assert!(answer.headers.get(header::CONTENT_ENCODING).is_none(), "{uri}: compressed for a signed-in reader");
    }
    // The cookie by its plain-HTTP name is not a session here.
    let plain = session.replacen("__Host-pb_session", "pb_session", 1);
    assert_eq!(send(&state, get_with_cookie("/preferences", Some(&plain))).await.status, StatusCode::SEE_OTHER);
    // Another site cannot post the button for a visitor (login CSRF).
    let mut forged = post("/manage", &format!("token={token}"), "198.51.100.1:5000", None);
    forged.headers_mut().insert(header::ORIGIN, "https://evil.example".parse().unwrap());
    assert_eq!(send(&state, forged).await.status, StatusCode::FORBIDDEN);
    let dead = send(&state, get_with_cookie("/manage?token=AAAA", None)).await;
    assert_eq!(dead.status, StatusCode::GONE);
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_trusted_proxies_and_only_its_right_end() {
    let limit = paperboy_app::accounts::REQUESTS_PER_CLIENT_PER_HOUR as usize;
    // No proxy configured: the header is ignored, however it varies; the peer is the client.
    let (_dir, state) = site(WebConfig::default());
    for i in 0..=limit {
        let form = format!("email=direct{i}%40example.org");
        let answer = send(&state, post("/subscribe", &form, "127.0.0.1:4000", Some(&format!("203.0.113.{i}")))).await;
        let expected = if i < limit { StatusCode::OK } else { StatusCode::TOO_MANY_REQUESTS };
        assert_eq!(answer.status, expected, "request {i}");
    }
    // Behind our proxy on loopback: each real client has its own limit, whatever it forges on
    // the left of the header.
    let trusted = TrustedProxies::parse("127.0.0.1").unwrap();
    let (_dir, state) = site(WebConfig { trusted_proxies: trusted, ..WebConfig::default() });
    for i in 0..=limit {
        let form = format!("email=proxied{i}%40example.org");
        let header = format!("10.{i}.0.1, 198.51.100.77");
        let answer = send(&state, post("/subscribe", &form, "[::ffff:127.0.0.1]:4000", Some(&header))).await;
        let expected = if i < limit { StatusCode::OK } else { StatusCode::TOO_MANY_REQUESTS };
        assert_eq!(answer.status, expected, "request {i}: one client forging the left part");
    }
    let other =
        send(&state, post("/subscribe", "email=other%40example.org", "127.0.0.1:4000", Some("198.51.100.78"))).await;
    assert_eq!(other.status, StatusCode::OK, "another client behind the proxy is not limited");
}

#[tokio::test]
async fn the_page_cache_is_not_grown_by_junk_parameters_nor_bypassed_by_a_made_up_cookie() {
    let (_dir, state) = site(WebConfig::default());
    for i in 0..50 {
        let answer = send(&state, get_with_cookie(&format!("/daily/2026-06-16?junk={i}"), None)).await;
        assert_eq!(answer.status, StatusCode::OK);
    }
    assert_eq!(state.cache.size().0, 1, "one entry for one page");
    let first = send(&state, get_with_cookie("/papers/2606.14725", Some("__Host-pb_session=made-up"))).await;
    assert_eq!(first.status, StatusCode::OK);
    let (entries, _) = state.cache.size();
    assert_eq!(entries, 2, "a cookie that is no session is an anonymous reader, and cached like one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_answers_do_not_wait_for_the_mail_nor_tell_known_addresses_apart() {
    let (_dir, state) = site(WebConfig::default());
    let queued = |state: &AppState| -> u64 { state.library.outbox_status().unwrap().iter().map(|(_, n)| n).sum() };
    let mut peer = 0usize;
    let mut ask = |address: &str| {
        let state = state.clone();
        let form = format!("email={}", address.replace('@', "%40"));
        peer += 1;
        let peer = format!("198.51.{}.{}:4000", peer / 250, peer % 250);
        async move {
            let started = Instant::now();
            let answer = send(&state, post("/signin", &form, &peer, None)).await;
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
            (answer.body, started.elapsed())
        }
    };
    let (unknown, _) = ask("nobody@example.org").await;
    // Whether the answer waited for the mail shows in the outbox the moment it arrives. The
    // mail is queued 50 ms after the answer: an answer slower than half of that (a loaded
    // machine) proves nothing either way, so another address is tried.
    let mut proved = false;
    for i in 0..20 {
        let address = format!("known{i}@example.org");
        let email = paperboy_domain::EmailAddress::parse(&address).unwrap();
        state.library.add_subscriber(&email, true, Preferences::default(), Utc::now()).unwrap();
        let before = queued(&state);
        let (known, elapsed) = ask(&address).await;
        let at_answer = queued(&state);
        assert_eq!(known, unknown, "the answer to a known address is the answer to an unknown one");
        let deadline = Instant::now() + Duration::from_secs(10);
        while queued(&state) == before {
            assert!(Instant::now() < deadline, "the sign-in mail to {address} was never queued");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if elapsed < Duration::from_millis(25) {
            assert_eq!(at_answer, before, "the answer waited for the mail to be queued ({elapsed:?})");
            proved = true;
            break;
        }
    }
    assert!(proved, "no answer came back within 25 ms in 20 tries");
}

#[tokio::test]
async fn a_refused_address_shows_the_form_again_with_what_was_typed_and_why() {
    let (_dir, state) = site(WebConfig::default());
    for (uri, field) in [("/subscribe", "subscribe"), ("/signin", "signin")] {
        for typed in ["a%40b", "not+an+address", "%3Cscript%3E%40x.org"] {
            let answer = send(&state, post(uri, &format!("email={typed}"), "198.51.100.9:4000", None)).await;
            assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{uri} {typed}");
            let input = &answer.body[answer.body.find(&format!("id=\"{field}-email\"")).unwrap()..];
            let input = &input[..input.find('>').unwrap()];
            assert!(input.contains("aria-invalid=\"true\""), "{uri}: {input}");
            assert!(input.contains(&format!("aria-describedby=\"{field}-error\"")), "{uri}: {input}");
            assert!(answer.body.contains(&format!("id=\"{field}-error\"")), "{uri}: the reason beside the field");
            assert!(!answer.body.contains("<script>"), "{uri}: what was typed is escaped");
            assert_eq!(answer.body.matches(&format!("id=\"{field}-email\"")).count(), 1, "{uri}: one such field");
        }
        let kept = send(&state, post(uri, "email=a%40b", "198.51.100.9:4000", None)).await;
        assert!(kept.body.contains("value=\"a@b\""), "{uri}: what was typed stays");
    }
}

#[tokio::test]
async fn the_library_exports_for_a_reference_manager_with_its_tags() {
    let (_dir, state) = site(WebConfig::default());
    let email = paperboy_domain::EmailAddress::parse("reader@example.org").unwrap();
    let account = state.library.add_subscriber(&email, true, Preferences::default(), Utc::now()).unwrap();
    for (id, tags) in [("2606.14725", vec!["to read".to_owned()]), ("2606.14716", vec![])] {
        let paper = paperboy_domain::ArxivId::parse(id).unwrap();
        state.library.save_paper(account.id, paper, &tags, Utc::now()).unwrap();
    }
    let token = state.library.signed_link(&account, LinkPurpose::Manage, Utc::now()).unwrap();
    let signed_in = send(&state, post("/manage", &format!("token={token}"), "198.51.100.1:5000", None)).await;
    let cookie = signed_in.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap().to_owned();
    let session = cookie.split(';').next().unwrap().to_owned();
    let page = send(&state, get_with_cookie("/library", Some(&session))).await;
    assert!(page.body.contains("href=\"/library/export?format=ris\""), "export links on the library page");
    let bibtex = send(&state, get_with_cookie("/library/export?format=bibtex", Some(&session))).await;
    assert_eq!(bibtex.status, StatusCode::OK);
    assert!(bibtex.headers[header::CONTENT_DISPOSITION].to_str().unwrap().contains("paperboy-library.bib"));
    assert!(bibtex.headers[header::CACHE_CONTROL].to_str().unwrap().contains("no-store"));
    assert_eq!(bibtex.body.matches("@misc{").count(), 2, "{}", bibtex.body);
    assert!(bibtex.body.contains("keywords      = {to read},"), "tags as keywords");
    let ris = send(&state, get_with_cookie("/library/export?format=ris", Some(&session))).await;
    assert_eq!(ris.body.matches("TY  - UNPB").count(), 2);
    assert!(ris.body.contains("KW  - to read\r\n"));
    // Nobody else's library: signed out, the export sends to the sign-in page.
    let anonymous = send(&state, get_with_cookie("/library/export?format=ris", None)).await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
    let bad = send(&state, get_with_cookie("/library/export?format=docx", Some(&session))).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

/// A load balancer resends a request whose node died before answering (HAProxy's `retry-on
/// empty-response`), and people double-click: an upvote sent twice stays an upvote.
#[tokio::test]
async fn an_upvote_sent_twice_stays_an_upvote() {
    let (_dir, state) = site(WebConfig::default());
    let email = paperboy_domain::EmailAddress::parse("reader@example.org").unwrap();
    let account = state.library.add_subscriber(&email, true, Preferences::default(), Utc::now()).unwrap();
    let token = state.library.signed_link(&account, LinkPurpose::Manage, Utc::now()).unwrap();
    let signed_in = send(&state, post("/manage", &format!("token={token}"), "198.51.100.1:5000", None)).await;
    let cookie = signed_in.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap().to_owned();
    let session = cookie.split(';').next().unwrap().to_owned();
    let page = send(&state, get_with_cookie("/papers/2606.14725", Some(&session))).await.body;
    let at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    let csrf = page[at..at + page[at..].find('"').unwrap()].to_owned();
    assert!(page.contains("action=\"/upvote\""), "an upvote button");
    let act = |uri: &str| {
        let mut request = post(uri, &format!("csrf={csrf}&paper=2606.14725"), "198.51.100.1:5000", None);
        request.headers_mut().insert(header::COOKIE, session.parse().unwrap());
        request
    };
    let paper = paperboy_domain::ArxivId::parse("2606.14725").unwrap();
    let upvoted = || state.library.marks_of(account.id, &[paper]).unwrap().1 == vec![paper];
    for _ in 0..2 {
        assert_eq!(send(&state, act("/upvote")).await.status, StatusCode::SEE_OTHER);
        assert!(upvoted(), "upvoted, and still upvoted after the same request again");
    }
    let page = send(&state, get_with_cookie("/papers/2606.14725", Some(&session))).await.body;
    assert!(page.contains("action=\"/upvote/remove\"") && page.contains("▲ Upvoted"), "the button takes it back");
    for _ in 0..2 {
        assert_eq!(send(&state, act("/upvote/remove")).await.status, StatusCode::SEE_OTHER);
        assert!(!upvoted(), "taken back, and still taken back");
    }
}

#[tokio::test]
async fn a_private_feed_holds_the_digest_with_reasons_and_dies_when_revoked() {
    let test = "a_private_feed_holds_the_digest_with_reasons_and_dies_when_revoked";
    let Some(python) = paperboy_testing::python_with(test, "feedparser", "feedparser") else { return };
    let (_dir, state) = site(WebConfig { base_url: SITE.into(), ..WebConfig::default() });
    let email = paperboy_domain::EmailAddress::parse("reader@example.org").unwrap();
    let preferences = Preferences {
        categories: vec![paperboy_domain::Category::parse("cs.CV").unwrap()],
        cadence: paperboy_domain::Cadence::Paused,
        ..Preferences::default()
    };
    let account = state.library.add_subscriber(&email, true, preferences, Utc::now()).unwrap();
    let token = state.library.signed_link(&account, LinkPurpose::Manage, Utc::now()).unwrap();
    let signed_in = send(&state, post("/manage", &format!("token={token}"), "198.51.100.1:5000", None)).await;
    let cookie = signed_in.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap().to_owned();
    let session = cookie.split(';').next().unwrap().to_owned();
    let form_token = {
        let page = send(&state, get_with_cookie("/preferences", Some(&session))).await.body;
        assert!(page.contains("Make my private feed"), "no feed yet");
        let at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
        page[at..at + page[at..].find('"').unwrap()].to_owned()
    };
    let make = |csrf: &str| {
        let mut request = post("/preferences/feed", &format!("csrf={csrf}"), "198.51.100.1:5000", None);
        request.headers_mut().insert(header::COOKIE, session.parse().unwrap());
        request
    };
    // The form's token is checked, not only where the form came from.
    assert_eq!(send(&state, make("not-the-token")).await.status, StatusCode::FORBIDDEN);
    assert!(!state.library.has_digest_feed(account.id).unwrap(), "a stale form makes no feed");
    let shown = send(&state, make(&form_token)).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    let url = shown.body.split("id=\"feed-atom\" type=\"text\" readonly value=\"").nth(1).unwrap();
    let url = url[..url.find('"').unwrap()].to_owned();
    let path = url.strip_prefix(SITE).unwrap().to_owned();
    assert!(path.starts_with("/feeds/digest/") && path.ends_with(".atom"), "{path}");
    let secret = path.trim_start_matches("/feeds/digest/").trim_end_matches(".atom").to_owned();
    // Shown once: the preferences page does not show it again.
    let page = send(&state, get_with_cookie("/preferences", Some(&session))).await.body;
    assert!(!page.contains(&secret) && page.contains("Make a new feed address"));

    // A feed reader, without the session: the digest, each entry with why it is there (a paused
    // digest pauses mail, not the feed).
    let feed = send(&state, get_with_cookie(&path, None)).await;
    assert_eq!(feed.status, StatusCode::OK);
    assert!(feed.headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("application/atom+xml"));
    assert!(feed.headers[header::CACHE_CONTROL].to_str().unwrap().starts_with("private"));
    let script = "import sys, json, feedparser
d = feedparser.parse(sys.stdin.read())
print(json.dumps({'bozo': d.bozo, 'title': d.feed.get('title'), 'entries': [{'title': e.title, 'link': e.link, 'summary': e.summary} for e in d.entries]}))";
    let parse = |body: &str| -> serde_json::Value {
        let mut child = std::process::Command::new(&python)
            .args(["-c", script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), body.as_bytes()).unwrap();
        serde_json::from_slice(&child.wait_with_output().unwrap().stdout).unwrap()
    };
    assert_eq!(feed.headers[header::REFERRER_POLICY], "no-referrer");
    let parsed = parse(&feed.body);
    assert_eq!(parsed["bozo"], false, "a well-formed feed");
    // Reading the feed queues no mail and changes no digest.
    assert!(state.library.outbox_status().unwrap().iter().all(|(_, n)| *n == 0), "nothing queued");
    let after = state.library.subscriber(&paperboy_app::accounts::Subscriber::parse("reader@example.org").unwrap());
    assert_eq!(after.unwrap().unwrap().last_digest_on, None);
    // Compressed for a reader that takes it (it reflects nothing from the request).
    let mut gzipped = get_with_cookie(&path, None);
    gzipped.headers_mut().insert(header::ACCEPT_ENCODING, "gzip".parse().unwrap());
    let response = paperboy_web::router(state.clone()).oneshot(gzipped).await.unwrap();
    assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
    let entries = parsed["entries"].as_array().unwrap();
    assert!(!entries.is_empty(), "{}", feed.body);
    for entry in entries {
        assert!(entry["summary"].as_str().unwrap().starts_with("Why: in cs.CV, which you follow"), "{entry}");
        assert!(entry["link"].as_str().unwrap().starts_with(&format!("{SITE}/papers/")));
    }
    let rss = send(&state, get_with_cookie(&path.replace(".atom", ".rss"), None)).await;
    assert_eq!(parse(&rss.body)["entries"].as_array().unwrap().len(), entries.len(), "RSS holds the same");

    // A new address kills the old one at once; turning the feed off kills the new one.
    let again = send(&state, make(&form_token)).await.body;
    let newer = again.split("id=\"feed-atom\" type=\"text\" readonly value=\"").nth(1).unwrap();
    let newer = newer[..newer.find('"').unwrap()].strip_prefix(SITE).unwrap().to_owned();
    assert_ne!(newer, path);
    assert_eq!(send(&state, get_with_cookie(&path, None)).await.status, StatusCode::NOT_FOUND, "the old address");
    assert_eq!(send(&state, get_with_cookie(&newer, None)).await.status, StatusCode::OK);
    let mut revoke = post("/preferences/feed/revoke", &format!("csrf={form_token}"), "198.51.100.1:5000", None);
    revoke.headers_mut().insert(header::COOKIE, session.parse().unwrap());
    assert_eq!(send(&state, revoke).await.status, StatusCode::SEE_OTHER);
    assert_eq!(send(&state, get_with_cookie(&newer, None)).await.status, StatusCode::NOT_FOUND, "revoked");
    // Another site cannot make one for the reader (its form has no token).
    let mut forged = make("forged");
    forged.headers_mut().insert(header::ORIGIN, "https://evil.example".parse().unwrap());
    assert_eq!(send(&state, forged).await.status, StatusCode::FORBIDDEN);
    assert_eq!(send(&state, get_with_cookie("/feeds/digest/AAAA.atom", None)).await.status, StatusCode::NOT_FOUND);
}

/// A request to the personal API with a bearer token (and, for a body, JSON).
fn api(method: &str, uri: &str, token: Option<&str>, body: Option<&str>) -> Request<Body> {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    if body.is_some() {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    request.body(Body::from(body.unwrap_or("").to_owned())).unwrap()
}

/// Signs `email` in through a manage link: the session cookie and the form token of its pages.
async fn signed_in(state: &AppState, email: &str, preferences: Preferences) -> (String, String) {
    let email = paperboy_domain::EmailAddress::parse(email).unwrap();
    let account = state.library.add_subscriber(&email, true, preferences, Utc::now()).unwrap();
    let token = state.library.signed_link(&account, LinkPurpose::Manage, Utc::now()).unwrap();
    let answer = send(state, post("/manage", &format!("token={token}"), "198.51.100.1:5000", None)).await;
    let cookie = answer.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap();
    let session = cookie.split(';').next().unwrap().to_owned();
    let page = send(state, get_with_cookie("/preferences", Some(&session))).await.body;
    let at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    let form_token = page[at..at + page[at..].find('"').unwrap()].to_owned();
    (session, form_token)
}

fn signed_in_post(uri: &str, form: &str, session: &str) -> Request<Body> {
    let mut request = post(uri, form, "198.51.100.1:5000", None);
    request.headers_mut().insert(header::COOKIE, session.parse().unwrap());
    request
}

#[tokio::test]
async fn api_tokens_made_on_the_preferences_page_manage_the_library_and_die_when_revoked() {
    let (_dir, state) = site(WebConfig::default());
    let spec = paperboy_web::openapi_spec(SITE);
    let (session, csrf) = signed_in(&state, "reader@example.org", Preferences::default()).await;
    let make = |name: &str, scope: &str| {
        signed_in_post("/preferences/tokens", &format!("csrf={csrf}&name={name}&scope={scope}"), &session)
    };
    let shown = |answer: &Answer| {
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        let at = answer.body.find("id=\"api-token\" type=\"text\" readonly value=\"").unwrap() + 43;
        answer.body[at..at + answer.body[at..].find('"').unwrap()].to_owned()
    };
    let writer = shown(&send(&state, make("sync+script", "write")).await);
    let reader = shown(&send(&state, make("assistant", "read")).await);
    assert!(writer.starts_with("pbt_") && writer != reader, "{writer}");
    // Listed by name and id, never shown again.
    let page = send(&state, get_with_cookie("/preferences", Some(&session))).await.body;
    assert!(page.contains("sync script") && page.contains("assistant"), "both listed");
    assert!(!page.contains(&writer) && !page.contains(&reader), "a secret is shown once");
    // A name is needed; a scope must be one of the two.
    assert_eq!(send(&state, make("", "read")).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(send(&state, make("x", "admin")).await.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Each answer is checked against the OpenAPI document.
    let call = |method: &'static str, uri: String, token: Option<String>, body: Option<&'static str>| {
        let state = state.clone();
        let spec = spec.clone();
        async move {
            let answer = send(&state, api(method, &uri, token.as_deref(), body)).await;
            let path = uri.split('?').next().unwrap();
            let documented = ["/api/v1/me/library/", "/api/v1/me/upvotes/"]
                .iter()
                .find(|p| path.starts_with(**p))
                .map_or(path.to_owned(), |p| format!("{p}{{id}}"));
            let operation = &spec["paths"][&documented][method.to_ascii_lowercase()];
            assert!(operation["security"].is_array(), "{method} {documented} is documented as needing a token");
            let schema = &operation["responses"][answer.status.as_str()]["content"]["application/json"]["schema"];
            assert!(!schema.is_null(), "{method} {documented} documents no {}", answer.status);
            let json: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
            crate::validate(&spec, schema, &json, "$").unwrap_or_else(|e| panic!("{method} {uri}: {e}"));
            (answer, json)
        }
    };
    let w = || Some(writer.clone());
    let r = || Some(reader.clone());

    let (me, json) = call("GET", "/api/v1/me".into(), w(), None).await;
    assert_eq!((json["email"].as_str(), json["token"]["scope"].as_str()), (Some("reader@example.org"), Some("write")));
    assert_eq!(me.headers[header::CACHE_CONTROL], "private, no-store");
    assert_eq!(me.headers[header::VARY], "Authorization");

    // No token, a made-up one, a session cookie alone: 401, saying how to authenticate.
    let (none, json) = call("GET", "/api/v1/me/library".into(), None, None).await;
    assert_eq!((none.status, json["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")));
    assert_eq!(none.headers[header::WWW_AUTHENTICATE], "Bearer realm=\"paperboy\"");
    let made_up = format!("pbt_0123456789abcdef_{}", "x".repeat(43));
    let (bad, _) = call("GET", "/api/v1/me/library".into(), Some(made_up), None).await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert!(bad.headers[header::WWW_AUTHENTICATE].to_str().unwrap().contains("invalid_token"));
    let by_cookie = send(&state, get_with_cookie("/api/v1/me/library", Some(&session))).await;
    assert_eq!(by_cookie.status, StatusCode::UNAUTHORIZED, "the session cookie is no authority here");

    // The library: save with tags, list, remove.
    let daily: serde_json::Value =
        serde_json::from_str(&send(&state, get_with_cookie("/api/v1/daily?per_page=2", None)).await.body).unwrap();
    let paper = daily["results"][0]["id"].as_str().unwrap().to_owned();
    let title = daily["results"][0]["title"].as_str().unwrap().to_owned();
    let library_uri = format!("/api/v1/me/library/{paper}");
    let (saved, json) =
        call("PUT", library_uri.clone(), w(), Some(r#"{"tags": ["to-read", "to-read", "reading group"]}"#)).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert_eq!(json["tags"], serde_json::json!(["to-read", "reading group"]));
    let (_, json) = call("GET", "/api/v1/me/library".into(), r(), None).await;
    assert_eq!(
        (json["total"].as_u64(), json["results"][0]["paper"]["title"].as_str()),
        (Some(1), Some(title.as_str()))
    );
    // A read token reads and changes nothing.
    let (refused, json) = call("DELETE", library_uri.clone(), r(), None).await;
    assert_eq!((refused.status, json["code"].as_str()), (StatusCode::FORBIDDEN, Some("insufficient_scope")));
    assert!(refused.headers[header::WWW_AUTHENTICATE].to_str().unwrap().contains("insufficient_scope"));
    // Every change, with a read token: 403 before the body is even read.
    for (method, uri, body) in [
        ("PUT", library_uri.clone(), Some(r#"{"tags": []}"#)),
        ("PUT", format!("/api/v1/me/upvotes/{paper}"), None),
        ("DELETE", format!("/api/v1/me/upvotes/{paper}"), None),
        ("PUT", "/api/v1/me/searches".to_owned(), Some("not even JSON")),
        ("POST", "/api/v1/me/searches".to_owned(), Some(r#"{"query": "x"}"#)),
        ("DELETE", "/api/v1/me/searches?query=x".to_owned(), None),
        ("PUT", "/api/v1/me/follows".to_owned(), Some(r#"{"categories": ["nonsense"], "authors": []}"#)),
    ] {
        let (refused, json) = call(method, uri.clone(), r(), body).await;
        assert_eq!(
            (refused.status, json["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("insufficient_scope")),
            "{method} {uri}"
        );
    }
    let (missing, json) = call("DELETE", "/api/v1/me/searches".into(), w(), None).await;
    assert_eq!((missing.status, json["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_query")));
    // A form another site posts with the reader's cookie carries no authority here.
    let mut forged = Request::post("/api/v1/me/searches")
        .header(header::ORIGIN, "https://evil.example")
        .header(header::COOKIE, session.as_str())
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from(r#"{"query": "planted"}"#))
        .unwrap();
    forged.extensions_mut().insert(ConnectInfo("198.51.100.1:5000".parse::<SocketAddr>().unwrap()));
    assert_eq!(send(&state, forged).await.status, StatusCode::UNAUTHORIZED);
    let (bad_body, json) = call("PUT", library_uri.clone(), w(), Some(r#"{"tags": "not a list"}"#)).await;
    assert_eq!((bad_body.status, json["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_body")));
    let (unknown, _) = call("PUT", "/api/v1/me/library/2101.00001".into(), w(), None).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let (bad_id, _) = call("PUT", "/api/v1/me/library/not-an-id".into(), w(), None).await;
    assert_eq!(bad_id.status, StatusCode::NOT_FOUND);
    let (_, json) = call("DELETE", library_uri.clone(), w(), None).await;
    assert_eq!(json["changed"], true);
    let (_, json) = call("DELETE", library_uri, w(), None).await;
    assert_eq!(json["changed"], false, "removing twice changes nothing");

    // Upvotes: once per account; they count where the page counts them.
    let upvote_uri = format!("/api/v1/me/upvotes/{paper}");
    assert_eq!(call("PUT", upvote_uri.clone(), w(), None).await.1["changed"], true);
    assert_eq!(call("PUT", upvote_uri.clone(), w(), None).await.1["changed"], false);
    let (_, json) = call("GET", "/api/v1/me/upvotes".into(), r(), None).await;
    assert_eq!(json["results"][0]["id"], paper.as_str());
    assert_eq!(call("DELETE", upvote_uri, w(), None).await.1["changed"], true);

    // Saved searches and follows, validated as on the preferences page.
    let (_, json) = call("POST", "/api/v1/me/searches".into(), w(), Some(r#"{"query": "diffusion   models"}"#)).await;
    assert_eq!(json["searches"], serde_json::json!(["diffusion models"]));
    let (refused, json) = call("POST", "/api/v1/me/searches".into(), w(), Some(r#"{"query": "ti:"}"#)).await;
    assert_eq!(
        (refused.status, json["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_preferences"))
    );
    let (_, json) = call("PUT", "/api/v1/me/searches".into(), w(), Some(r#"{"searches": ["a b", "c"]}"#)).await;
    assert_eq!(json["searches"], serde_json::json!(["a b", "c"]));
    let (_, json) = call("DELETE", "/api/v1/me/searches?query=a%20b".into(), w(), None).await;
    assert_eq!(json["searches"], serde_json::json!(["c"]));
    let (refused, _) =
        call("PUT", "/api/v1/me/follows".into(), w(), Some(r#"{"categories": ["cs.CV", "nonsense"], "authors": []}"#))
            .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, json) = call(
        "PUT",
        "/api/v1/me/follows".into(),
        w(),
        Some(r#"{"categories": ["cs.CV", "cs.CV"], "authors": [" Ada  Lovelace "]}"#),
    )
    .await;
    assert_eq!(json, serde_json::json!({"categories": ["cs.CV"], "authors": ["Ada Lovelace"]}));
    let (_, json) = call("GET", "/api/v1/me/follows".into(), r(), None).await;
    assert_eq!(json["authors"], serde_json::json!(["Ada Lovelace"]));
    let page = send(&state, get_with_cookie("/preferences", Some(&session))).await.body;
    assert!(page.contains("Ada Lovelace"), "the preferences page shows what the API saved");
    // A script sends no Origin; a page elsewhere cannot add the header, so no check is needed.
    let mut from_elsewhere = api("POST", "/api/v1/me/searches", Some(&writer), Some(r#"{"query": "robots"}"#));
    from_elsewhere.headers_mut().insert(header::ORIGIN, "https://evil.example".parse().unwrap());
    assert_eq!(send(&state, from_elsewhere).await.status, StatusCode::OK);

    // Revoked on the preferences page: 401 at once; the other token keeps working.
    let me = state.library.api_token_account(&writer, Utc::now()).unwrap().unwrap();
    let revoke = signed_in_post("/preferences/tokens/revoke", &format!("csrf={csrf}&id={}", me.1.id), &session);
    assert_eq!(send(&state, revoke).await.status, StatusCode::SEE_OTHER);
    assert_eq!(call("GET", "/api/v1/me".into(), w(), None).await.0.status, StatusCode::UNAUTHORIZED);
    assert_eq!(call("GET", "/api/v1/me".into(), r(), None).await.0.status, StatusCode::OK);
}

#[tokio::test]
async fn a_reader_steers_recommendations_from_a_paper_page_and_undoes_it_in_preferences() {
    let (_dir, state) = site(WebConfig::default());
    let (session, csrf) = signed_in(&state, "reader@example.org", Preferences::default()).await;
    let daily: serde_json::Value =
        serde_json::from_str(&send(&state, get_with_cookie("/api/v1/daily?per_page=1", None)).await.body).unwrap();
    let paper = daily["results"][0]["id"].as_str().unwrap().to_owned();
    let page = |session: &str| {
        let state = state.clone();
        let (uri, session) = (format!("/papers/{paper}"), session.to_owned());
        async move { send(&state, get_with_cookie(&uri, Some(&session))).await.body }
    };
    let before = page(&session).await;
    assert!(before.contains("action=\"/more-like-this\"") && before.contains("action=\"/not-interested\""));

    let form = format!("csrf={csrf}&paper={paper}");
    assert_eq!(
        send(&state, signed_in_post("/more-like-this", "csrf=forged&paper=x", &session)).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(send(&state, signed_in_post("/more-like-this", &form, &session)).await.status, StatusCode::SEE_OTHER);
    let after = page(&session).await;
    assert!(
        after.contains("More like this: it seeds your recommendations")
            && after.contains("action=\"/feedback/remove\"")
    );
    let preferences = send(&state, get_with_cookie("/preferences", Some(&session))).await.body;
    assert!(preferences.contains("More like this: "), "listed in the preferences");

    // Not interested replaces it; undo from the preferences takes it back.
    assert_eq!(send(&state, signed_in_post("/not-interested", &form, &session)).await.status, StatusCode::SEE_OTHER);
    let preferences = send(&state, get_with_cookie("/preferences", Some(&session))).await.body;
    assert!(
        preferences.contains("Not interested: ") && !preferences.contains("More like this: <"),
        "one word per paper"
    );
    assert!(page(&session).await.contains("You are not interested in this paper"));
    assert_eq!(send(&state, signed_in_post("/feedback/remove", &form, &session)).await.status, StatusCode::SEE_OTHER);
    let preferences = send(&state, get_with_cookie("/preferences", Some(&session))).await.body;
    assert!(!preferences.contains("Not interested: "), "undone");
    assert!(page(&session).await.contains("action=\"/more-like-this\""));
    // Signed out, the paper page offers none of it.
    assert!(!send(&state, get_with_cookie(&format!("/papers/{paper}"), None)).await.body.contains("/more-like-this"));
}

#[tokio::test]
async fn the_personal_api_answers_a_wrong_method_and_a_huge_body_in_json() {
    let (_dir, state) = site(WebConfig::default());
    let answer = send(&state, api("PATCH", "/api/v1/me/library", None, None)).await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    let json: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(json["code"], "method_not_allowed");
    assert!(answer.headers[header::ALLOW].to_str().unwrap().contains("GET"), "{:?}", answer.headers);
    let email = paperboy_domain::EmailAddress::parse("reader@example.org").unwrap();
    let account = state.library.add_subscriber(&email, true, Preferences::default(), Utc::now()).unwrap();
    let token = state.library.create_api_token(account.id, "x", paperboy_app::TokenScope::Write, Utc::now()).unwrap();
    let huge = format!(r#"{{"searches": ["{}"]}}"#, "x".repeat(3 * 1024 * 1024));
    let mut request = Request::put("/api/v1/me/searches")
        .header(header::AUTHORIZATION, format!("Bearer {}", token.secret.expose()))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(huge))
        .unwrap();
    request.extensions_mut().insert(ConnectInfo("198.51.100.1:5000".parse::<SocketAddr>().unwrap()));
    let answer = send(&state, request).await;
    let json: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!((answer.status, json["code"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("body_too_large")));
    let who = paperboy_app::accounts::Subscriber::Id(account.id);
    assert!(state.library.subscriber(&who).unwrap().unwrap().preferences.searches.is_empty(), "nothing saved");
}
