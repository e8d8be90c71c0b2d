//! The pages in a real browser: headless Chromium driven over WebDriver (chromedriver). Searches,
//! opens a paper, checks that math is laid out as math, that the feed link is there, that the
//! console stays clean and that the home page is light and fast. Screenshots go to
//! `target/browser-screenshots/` for review.
//!
//! Runs when `PAPERBOY_BROWSER_TESTS=1` (scripts/test sets it when chromedriver is installed; CI
//! installs Debian's chromium and chromium-driver).

use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, Locator, wd::WebDriverCompatibleCommand};
use serde_json::{Value, json};

use super::state;

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// chromedriver's (non-W3C) browser log: console messages and page errors.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(&self, base_url: &url::Url, session_id: Option<&str>) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/se/log", session_id.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(json!({"type": "browser"}).to_string()))
    }
}

async fn screenshot(client: &Client, name: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/browser-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = client.screenshot().await.unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

async fn console_errors(client: &Client) -> Vec<String> {
    let log = client.issue_cmd(BrowserLog).await.unwrap_or(Value::Null);
    log.as_array()
        .into_iter()
        .flatten()
        .filter(|entry| entry["level"] == "SEVERE" || entry["level"] == "WARNING")
        .map(|entry| entry["message"].as_str().unwrap_or_default().to_owned())
        // The browser asks for a favicon and more on its own; only the page's own problems count.
        .filter(|message| !message.contains("favicon"))
        .collect()
}

#[tokio::test]
async fn a_reader_searches_opens_a_paper_and_sees_math() {
    if std::env::var_os("PAPERBOY_BROWSER_TESTS").is_none() {
        paperboy_testing::missing(
            "a_reader_searches_opens_a_paper_and_sees_math",
            "headless Chromium (apt install chromium chromium-driver; scripts/test then sets PAPERBOY_BROWSER_TESTS=1)",
        );
        return;
    }
    // The app on a loopback port.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let site = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, paperboy_web::router(state())).await.unwrap() });

    let port = free_port();
    let _driver = Driver(
        Command::new(std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into()))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver"),
    );
    let profile = tempfile::tempdir().unwrap();
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--window-size=1280,900", format!("--user-data-dir={}", profile.path().display())]
        }),
    );
    capabilities.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
    let started = Instant::now();
    let client = loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(capabilities.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => break client,
            Err(err) if started.elapsed() < Duration::from_secs(20) => {
                let _ = err;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(err) => panic!("no WebDriver session: {err}"),
        }
    };

    // The home page: fast, light, titled, with its feeds.
    client.goto(&format!("{site}/")).await.unwrap();
    assert!(client.title().await.unwrap().contains("paperboy"));
    // The paint entry can land a moment after the load event.
    let mut paint = Value::Null;
    for _ in 0..30 {
        paint = client
            .execute(
                "const p = performance.getEntriesByName('first-contentful-paint')[0]; return p ? p.startTime : null;",
                vec![],
            )
            .await
            .unwrap();
        if !paint.is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let bytes: Value = client
        .execute(
            "const n = performance.getEntriesByType('navigation')[0]; \
             return performance.getEntriesByType('resource').reduce((s, r) => s + (r.transferSize || r.encodedBodySize || 0), n.transferSize || n.encodedBodySize || 0);",
            vec![],
        )
        .await
        .unwrap();
    eprintln!("home page: first contentful paint {paint} ms, {bytes} bytes transferred");
    assert!(paint.as_f64().is_some_and(|ms| ms < 1000.0), "first contentful paint {paint} ms");
    assert!(bytes.as_f64().is_some_and(|b| b <= 100_000.0), "{bytes} bytes");
    screenshot(&client, "home").await;

    // Search from the box, with the keyboard shortcut.
    let body = client.find(Locator::Css("body")).await.unwrap();
    body.send_keys("/").await.unwrap();
    let active: Value = client.execute("return document.activeElement.name;", vec![]).await.unwrap();
    assert_eq!(active, "q", "`/` focuses the search box");
    let box_ = client.find(Locator::Css("form.search input[name=q]")).await.unwrap();
    box_.send_keys("diffusion\n").await.unwrap();
    client.wait().for_element(Locator::Css("article.paper mark")).await.unwrap();
    assert!(client.current_url().await.unwrap().as_str().contains("/search?q=diffusion"));
    let feed = client.find(Locator::Css("link[rel=alternate][type='application/atom+xml']")).await.unwrap();
    assert!(feed.attr("href").await.unwrap().unwrap().contains("/feeds/search.atom?q=diffusion"));
    screenshot(&client, "search").await;

    // Open the first result with the keyboard.
    let body = client.find(Locator::Css("body")).await.unwrap();
    body.send_keys("j").await.unwrap();
    body.send_keys("o").await.unwrap();
    client.wait().for_element(Locator::Css("article.paper-page")).await.unwrap();
    assert!(client.current_url().await.unwrap().path().starts_with("/papers/"));

    // A paper with math: laid out as MathML, not shown as TeX source.
    client.goto(&format!("{site}/papers/{}", super::HOSTILE_ID)).await.unwrap();
    let math: Value = client
        .execute("const m = document.querySelector('article.paper-page math'); return m ? m.getBoundingClientRect().width : 0;", vec![])
        .await
        .unwrap();
    assert!(math.as_f64().unwrap_or(0.0) > 0.0, "the formula takes up space as MathML");
    let text: Value =
        client.execute("return document.querySelector('article.paper-page h1').textContent;", vec![]).await.unwrap();
    assert!(text.as_str().unwrap().contains("<script>alert(1)</script>"), "hostile markup is shown as text: {text}");
    let alerts: Value = client.execute("return typeof window.__paperboy_pwned;", vec![]).await.unwrap();
    assert_eq!(alerts, "undefined");
    assert!(client.find(Locator::Css("link[rel=alternate][type='application/atom+xml']")).await.is_ok());
    screenshot(&client, "paper-with-math").await;

    client.goto(&format!("{site}/papers/2606.14725")).await.unwrap();
    screenshot(&client, "paper").await;
    client.goto(&format!("{site}/daily/2026-06-16")).await.unwrap();
    screenshot(&client, "daily").await;

    let errors = console_errors(&client).await;
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    client.close().await.unwrap();
}
