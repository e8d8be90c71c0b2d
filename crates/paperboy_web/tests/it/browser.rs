//! The pages in a real browser: headless Chromium driven over WebDriver (chromedriver). A reader
//! searches, opens a paper, sees math laid out as math; axe-core (WCAG 2.1 AA and best practice)
//! audits every page type in the light and the dark theme; the keyboard is driven as a reader
//! drives it (`/`, `j`, `k`, `o`, Tab, Enter, the off switch); a 390×844 phone sees the first
//! search result and the subscribe box without scrolling. Screenshots go to
//! `target/browser-screenshots/` for review.
//!
//! Runs when `PAPERBOY_BROWSER_TESTS=1` (scripts/test sets it when chromedriver is installed; CI
//! installs Debian's chromium and chromium-driver) with axe-core from npm (`PAPERBOY_AXE_JS`, the
//! path of `axe.min.js`; scripts/test installs it under `target/`).

use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use chrono::Utc;
use fantoccini::{Client, ClientBuilder, Locator, wd::WebDriverCompatibleCommand};
use paperboy_app::signing::LinkPurpose;
use paperboy_domain::Preferences;
use serde_json::{Value, json};

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

/// The site on a loopback port and a browser session on it.
struct Browser {
    client: Client,
    /// `http://127.0.0.1:PORT`.
    site: String,
    state: paperboy_web::AppState,
    _driver: Driver,
    _profile: tempfile::TempDir,
    _library: tempfile::TempDir,
}

impl Browser {
    /// A fresh site and browser with a window of `width`×`height`, or `None` (a recorded skip; a
    /// failure in CI) without Chromium.
    async fn start(test: &str, width: u32, height: u32) -> Option<Browser> {
        if std::env::var_os("PAPERBOY_BROWSER_TESTS").is_none() {
            paperboy_testing::missing(
                test,
                "headless Chromium (apt install chromium chromium-driver; scripts/test then sets PAPERBOY_BROWSER_TESTS=1)",
            );
            return None;
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let site = format!("http://{}", listener.local_addr().unwrap());
        let (library, state) = super::site(&site);
        let router = paperboy_web::router(state.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

        let port = free_port();
        let driver = Driver(
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
                         "--hide-scrollbars", format!("--window-size={width},{height}"),
                         format!("--user-data-dir={}", profile.path().display())]
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
                Err(_) if started.elapsed() < Duration::from_secs(20) => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(err) => panic!("no WebDriver session: {err}"),
            }
        };
        // `--window-size` is the window, not the page: grow the window by what its frame takes,
        // so that the viewport is the size asked.
        let inner: Value = client.execute("return [window.innerWidth, window.innerHeight];", vec![]).await.unwrap();
        let (w, h) = (inner[0].as_u64().unwrap() as u32, inner[1].as_u64().unwrap() as u32);
        if (w, h) != (width, height) {
            client.set_window_size(2 * width - w.min(width), 2 * height - h.min(height)).await.unwrap();
        }
        Some(Browser { client, site, state, _driver: driver, _profile: profile, _library: library })
    }

    /// Checks that the pages logged no errors, then ends the browser session (the driver stops
    /// when the value drops).
    async fn finish(self) {
        let errors = self.console_errors().await;
        assert!(errors.is_empty(), "console errors: {errors:#?}");
        self.client.close().await.unwrap();
    }

    async fn open(&self, path: &str) {
        self.client.goto(&format!("{}{path}", self.site)).await.unwrap();
    }

    async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    /// Presses `key` on whatever has the focus, as a reader would.
    async fn press(&self, key: &str) {
        self.client.active_element().await.unwrap().send_keys(key).await.unwrap();
    }

    async fn screenshot(&self, name: &str) {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/browser-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    async fn console_errors(&self) -> Vec<String> {
        let log = self.client.issue_cmd(BrowserLog).await.unwrap_or(Value::Null);
        log.as_array()
            .into_iter()
            .flatten()
            .filter(|entry| entry["level"] == "SEVERE" || entry["level"] == "WARNING")
            .map(|entry| entry["message"].as_str().unwrap_or_default().to_owned())
            // The browser asks for a favicon and more on its own; only the page's own problems
            // count, and the 400 of a refused search and the 404 of /nope are those pages' point.
            .filter(|message| {
                !message.contains("favicon") && !message.contains("status of 400") && !message.contains("/nope -")
            })
            .collect()
    }

    /// Signs the browser in as a new subscriber with a paper in their library.
    async fn sign_in(&self, address: &str) {
        let library = &self.state.library;
        let email = paperboy_domain::EmailAddress::parse(address).unwrap();
        let account = library.add_subscriber(&email, true, Preferences::default(), Utc::now()).unwrap();
        let link = library.signed_link(&account, LinkPurpose::Manage, Utc::now()).unwrap();
        let paper = paperboy_domain::ArxivId::parse("2606.14725").unwrap();
        library.save_paper(account.id, paper, &["reading".to_owned()], Utc::now()).unwrap();
        // A seed and a token, so that the preferences page lists them and the paper page shows
        // its undo.
        library.set_feedback(account.id, paper, paperboy_app::FeedbackKind::MoreLikeThis, Utc::now()).unwrap();
        library.create_api_token(account.id, "Zotero sync", paperboy_app::TokenScope::Read, Utc::now()).unwrap();
        // As from a digest: the link's page, then its button.
        self.open(&format!("/manage?token={link}")).await;
        self.client.find(Locator::Css("form[action='/manage'] button")).await.unwrap().click().await.unwrap();
        self.client.wait().for_element(Locator::Css("form.preferences")).await.unwrap();
    }
}

#[tokio::test]
async fn a_reader_searches_opens_a_paper_and_sees_math() {
    let browser =
        paperboy_testing::or_skip!(Browser::start("a_reader_searches_opens_a_paper_and_sees_math", 1280, 900).await);
    let client = &browser.client;

    // The home page: fast, light, titled, with its feeds.
    browser.open("/").await;
    assert!(client.title().await.unwrap().contains("paperboy"));
    // The paint entry can land a moment after the load event.
    let mut paint = Value::Null;
    for _ in 0..30 {
        paint = browser
            .js("const p = performance.getEntriesByName('first-contentful-paint')[0]; return p ? p.startTime : null;")
            .await;
        if !paint.is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let bytes = browser
        .js("const n = performance.getEntriesByType('navigation')[0]; \
             return performance.getEntriesByType('resource').reduce((s, r) => s + (r.transferSize || r.encodedBodySize || 0), n.transferSize || n.encodedBodySize || 0);")
        .await;
    eprintln!("home page: first contentful paint {paint} ms, {bytes} bytes transferred");
    assert!(paint.as_f64().is_some_and(|ms| ms < 1000.0), "first contentful paint {paint} ms");
    assert!(bytes.as_f64().is_some_and(|b| b <= 100_000.0), "{bytes} bytes");
    browser.screenshot("home").await;

    // Search from the box, with the keyboard shortcut.
    browser.press("/").await;
    assert_eq!(browser.js("return document.activeElement.name;").await, "q", "`/` focuses the search box");
    browser.press("diffusion\n").await;
    client.wait().for_element(Locator::Css("article.paper mark")).await.unwrap();
    assert!(client.current_url().await.unwrap().as_str().contains("/search?q=diffusion"));
    let feed = client.find(Locator::Css("link[rel=alternate][type='application/atom+xml']")).await.unwrap();
    assert!(feed.attr("href").await.unwrap().unwrap().contains("/feeds/search.atom?q=diffusion"));
    browser.screenshot("search").await;

    // Open the first result with the keyboard.
    browser.press("j").await;
    browser.press("o").await;
    client.wait().for_element(Locator::Css("article.paper-page")).await.unwrap();
    assert!(client.current_url().await.unwrap().path().starts_with("/papers/"));

    // A paper with math: laid out as MathML, not shown as TeX source.
    browser.open(&format!("/papers/{}", super::HOSTILE_ID)).await;
    let math = browser
        .js("const m = document.querySelector('article.paper-page math'); return m ? m.getBoundingClientRect().width : 0;")
        .await;
    assert!(math.as_f64().unwrap_or(0.0) > 0.0, "the formula takes up space as MathML");
    let text = browser.js("return document.querySelector('article.paper-page h1').textContent;").await;
    assert!(text.as_str().unwrap().contains("<script>alert(1)</script>"), "hostile markup is shown as text: {text}");
    assert_eq!(browser.js("return typeof window.__paperboy_pwned;").await, "undefined");
    assert!(client.find(Locator::Css("link[rel=alternate][type='application/atom+xml']")).await.is_ok());
    browser.screenshot("paper-with-math").await;

    browser.open("/papers/2606.14725").await;
    browser.screenshot("paper").await;
    browser.open("/daily/2026-06-16").await;
    browser.screenshot("daily").await;

    browser.finish().await;
}

/// axe-core's source, or `None` (a recorded skip; a failure in CI).
fn axe_source(test: &str) -> Option<String> {
    let path = paperboy_testing::env_or_skip(test, "PAPERBOY_AXE_JS", "axe-core from npm (axe.min.js)")?;
    Some(std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading axe-core at {path}: {e}")))
}

/// The serious and critical violations axe-core finds on the open page.
async fn audit(browser: &Browser, axe: &str) -> Vec<String> {
    // WebDriver's script runs in the page, not as a <script> element: the site's strict CSP does
    // not apply to it.
    browser.client.execute(&format!("{axe}\n;return typeof axe;"), vec![]).await.unwrap();
    let found = browser
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { resultTypes: ['violations'] })
               .then(r => done(r.violations
                 .filter(v => v.impact === 'serious' || v.impact === 'critical')
                 .map(v => v.impact + ' ' + v.id + ': ' + v.nodes.length + ' nodes, e.g. ' +
                      v.nodes.slice(0, 2).map(n => n.target.join(' ') + ' (' + n.failureSummary.replace(/\\s+/g, ' ') + ')').join('; '))))
               .catch(e => done(['axe failed: ' + e]));",
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(found).unwrap()
}

#[tokio::test]
async fn every_page_type_passes_axe_in_the_light_and_the_dark_theme() {
    let test = "every_page_type_passes_axe_in_the_light_and_the_dark_theme";
    let axe = paperboy_testing::or_skip!(axe_source(test));
    let browser = paperboy_testing::or_skip!(Browser::start(test, 1280, 900).await);
    let anonymous = [
        "/".to_owned(),
        "/search".to_owned(),
        "/search?q=diffusion".to_owned(),
        "/search?q=diffusion&category=cs.XX&since=2026-06-10&until=2026-06-01".to_owned(),
        "/search?q=zzzzqqqqxxxx".to_owned(),
        "/papers/2606.14725".to_owned(),
        format!("/papers/{}", super::HOSTILE_ID),
        "/daily/2026-06-16".to_owned(),
        "/daily/2026-06-16?category=cs.CV".to_owned(),
        "/trending".to_owned(),
        "/categories/cs.CV".to_owned(),
        "/signin".to_owned(),
        "/nope".to_owned(),
    ];
    let signed_in = ["/", "/search?q=diffusion", "/papers/2606.14725", "/preferences", "/library"];
    let mut violations = Vec::new();
    for (who, pages) in [("anonymous", anonymous.to_vec()), ("signed in", signed_in.map(str::to_owned).to_vec())] {
        if who == "signed in" {
            browser.sign_in("reader@example.org").await;
        }
        for theme in ["light", "dark"] {
            browser.open("/signin").await;
            browser.js(&format!("localStorage.setItem('paperboy-theme', '{theme}');")).await;
            for page in &pages {
                browser.open(page).await;
                let scheme = browser.js("return getComputedStyle(document.documentElement).colorScheme;").await;
                assert_eq!(scheme, theme, "{page}: the theme sets color-scheme");
                let pressed =
                    browser.js("return document.querySelector('button.theme').getAttribute('aria-pressed');").await;
                assert_eq!(
                    pressed,
                    if theme == "dark" { "true" } else { "false" },
                    "{page}: the toggle says its state"
                );
                for found in audit(&browser, &axe).await {
                    violations.push(format!("{who} {theme} {page}: {found}"));
                }
            }
        }
    }
    assert!(violations.is_empty(), "axe-core found:\n{}", violations.join("\n"));
    // The audit can fail: a field without a label is caught.
    browser.open("/signin").await;
    browser.js("const i = document.createElement('input'); i.type = 'text'; document.querySelector('main').appendChild(i);").await;
    let planted = audit(&browser, &axe).await;
    assert!(planted.iter().any(|v| v.contains("label")), "axe catches a field without a label: {planted:?}");
    browser.finish().await;
}

#[tokio::test]
async fn the_keyboard_moves_focus_and_never_takes_a_key_from_a_control() {
    let test = "the_keyboard_moves_focus_and_never_takes_a_key_from_a_control";
    let browser = paperboy_testing::or_skip!(Browser::start(test, 1280, 900).await);
    let client = &browser.client;
    let focused_title = "const a = document.activeElement; const item = a.closest('article.paper, ol.trending > li'); \
                         const all = [...document.querySelectorAll('article.paper, ol.trending > li')]; \
                         return item ? [all.indexOf(item), a.tagName, item.getAttribute('aria-current')] : [-1, a.tagName, null];";
    browser.open("/search?q=diffusion").await;

    // `/` focuses the one query box; Escape leaves it; keys typed in it are text.
    browser.press("/").await;
    assert_eq!(browser.js("return document.activeElement.id;").await, "q");
    browser.press("\u{E00C}").await;
    assert_eq!(browser.js("return document.activeElement.tagName;").await, "BODY");

    // j and k move the focus itself to a result's title link, marked aria-current.
    browser.press("j").await;
    assert_eq!(browser.js(focused_title).await, json!([0, "A", "true"]));
    browser.press("j").await;
    browser.press("j").await;
    assert_eq!(browser.js(focused_title).await, json!([2, "A", "true"]));
    browser.press("k").await;
    assert_eq!(browser.js(focused_title).await, json!([1, "A", "true"]));
    let current = browser.js("return document.querySelectorAll('[aria-current=\"true\"]').length;").await;
    assert_eq!(current, 1, "one current result");
    // Tab goes on from the result, not from the top of the page.
    browser.press("\u{E004}").await;
    assert_eq!(browser.js(focused_title).await[0], 1, "Tab stays in the second result");
    // A key on a focused control is the control's: Enter on the theme button switches the
    // theme and opens no paper; j on it moves nothing.
    browser.js("document.querySelector('button.theme').focus();").await;
    let url = client.current_url().await.unwrap();
    browser.press("\u{E007}").await;
    browser.press("j").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(client.current_url().await.unwrap(), url, "Enter on a button opens no paper");
    assert_eq!(browser.js("return document.activeElement.className;").await, "theme", "j on a button moves nothing");
    assert_eq!(browser.js("return document.documentElement.getAttribute('data-theme');").await, "dark");
    browser.press("\u{E007}").await;
    // Typing j in the query box types it.
    // (Escape also emptied the search box, as browsers do.)
    browser
        .js("const q = document.getElementById('q'); q.value = 'diffusion'; q.focus(); q.setSelectionRange(9, 9);")
        .await;
    browser.press(" j").await;
    assert_eq!(browser.js("return document.getElementById('q').value;").await, "diffusion j");
    browser.js("document.getElementById('q').value = 'diffusion'; document.activeElement.blur();").await;
    // Enter on the focused result opens it; so does o.
    browser.press("j").await;
    let first = browser.js("return document.activeElement.getAttribute('href');").await;
    browser.press("\u{E007}").await;
    client.wait().for_element(Locator::Css("article.paper-page")).await.unwrap();
    assert_eq!(client.current_url().await.unwrap().path(), first.as_str().unwrap());
    client.back().await.unwrap();
    client.wait().for_element(Locator::Css("article.paper")).await.unwrap();
    browser.js("document.activeElement.blur();").await;
    browser.press("j").await;
    browser.press("o").await;
    client.wait().for_element(Locator::Css("article.paper-page")).await.unwrap();

    // After a click in the page (on an abstract: not a control), the shortcuts still work.
    client.back().await.unwrap();
    client.wait().for_element(Locator::Css("article.paper")).await.unwrap();
    client.find(Locator::Css("article.paper p.abstract")).await.unwrap().click().await.unwrap();
    browser.press("j").await;
    assert_eq!(browser.js(focused_title).await[1], "A", "j after a click moves the focus to a result");

    // On /trending too.
    browser.open("/trending").await;
    browser.press("j").await;
    assert_eq!(browser.js(focused_title).await, json!([0, "A", "true"]));

    // The off switch: no shortcut takes a key until it is on again, on every page.
    browser.js("document.querySelector('button.shortcuts').click(); document.activeElement.blur();").await;
    assert_eq!(
        browser.js("return document.querySelector('button.shortcuts').getAttribute('aria-pressed');").await,
        "false"
    );
    browser.open("/search?q=diffusion").await;
    browser.press("j").await;
    browser.press("/").await;
    assert_eq!(browser.js("return document.activeElement.tagName;").await, "BODY", "shortcuts off");
    browser.js("document.querySelector('button.shortcuts').click(); document.activeElement.blur();").await;
    browser.press("j").await;
    assert_eq!(browser.js(focused_title).await, json!([0, "A", "true"]), "shortcuts on again");
    browser.finish().await;
}

#[tokio::test]
async fn on_a_phone_the_first_result_and_the_subscribe_box_need_no_scrolling() {
    let test = "on_a_phone_the_first_result_and_the_subscribe_box_need_no_scrolling";
    let browser = paperboy_testing::or_skip!(Browser::start(test, 390, 844).await);
    let viewport = browser.js("return [window.innerWidth, window.innerHeight];").await;
    assert_eq!(viewport, json!([390, 844]), "a phone's viewport");
    browser.open("/").await;
    let bottom =
        browser.js("return document.querySelector('form.subscribe button').getBoundingClientRect().bottom;").await;
    assert!(bottom.as_f64().unwrap() <= 844.0, "the subscribe button ends at y = {bottom} of 844");
    assert_eq!(browser.js("return getComputedStyle(document.querySelector('.keys')).display;").await, "none");
    browser.screenshot("phone-home").await;
    browser.open("/search?q=diffusion+model").await;
    let title =
        browser.js("return document.querySelector('article.paper .title').getBoundingClientRect().bottom;").await;
    assert!(title.as_f64().unwrap() <= 844.0, "the first result's title ends at y = {title} of 844");
    let folded = browser.js("return document.querySelector('form.filters details').open;").await;
    assert_eq!(folded, false, "filters fold on a phone");
    let one_line = browser
        .js("const q = document.getElementById('q').getBoundingClientRect(); \
             const b = document.querySelector('form.filters button').getBoundingClientRect(); return Math.abs(q.top - b.top) < 8;")
        .await;
    assert_eq!(one_line, true, "the Search button stands beside the box");
    browser.screenshot("phone-search").await;
    // A filter that is set stays in sight.
    browser.open("/search?q=diffusion&category=cs.CV").await;
    assert_eq!(browser.js("return document.querySelector('form.filters details').open;").await, true);
    browser.finish().await;
}

/// The buttons a reader steers with, clicked: undo a seed and say "not interested" on a paper
/// page, then make an API token on the preferences page and see it once.
#[tokio::test]
async fn a_reader_clicks_the_steering_buttons_and_makes_a_token() {
    let browser = paperboy_testing::or_skip!(
        Browser::start("a_reader_clicks_the_steering_buttons_and_makes_a_token", 1280, 900).await
    );
    let client = &browser.client;
    browser.sign_in("reader@example.org").await;
    let click = |css: &'static str| async move {
        client.find(Locator::Css(css)).await.unwrap().click().await.unwrap();
    };
    // The paper is a seed (sign_in made it one): its undo, then "not interested".
    browser.open("/papers/2606.14725").await;
    click("div.steering form[action='/feedback/remove'] button").await;
    client.wait().for_element(Locator::Css("div.steering form[action='/not-interested'] button")).await.unwrap();
    click("div.steering form[action='/not-interested'] button").await;
    client.wait().for_element(Locator::Css("div.steering span.said")).await.unwrap();
    let said = client.find(Locator::Css("div.steering span.said")).await.unwrap().text().await.unwrap();
    assert!(said.contains("not interested"), "{said}");
    assert_eq!(client.current_url().await.unwrap().path(), "/papers/2606.14725", "back on the page");

    browser.open("/preferences").await;
    let steering = client.find(Locator::Css("ul.steering")).await.unwrap().text().await.unwrap();
    assert!(steering.contains("Not interested:"), "{steering}");
    client
        .find(Locator::Css("form.token input[name=name]"))
        .await
        .unwrap()
        .send_keys("Zotero on my laptop")
        .await
        .unwrap();
    click("form.token input[value=write]").await;
    click("form.token button[type=submit]").await;
    client.wait().for_element(Locator::Css("input#api-token")).await.unwrap();
    let token = client.find(Locator::Css("input#api-token")).await.unwrap().prop("value").await.unwrap().unwrap();
    assert!(token.starts_with("pbt_"), "{token}");
    browser.open("/preferences").await;
    let listed = client.find(Locator::Css("table.tokens")).await.unwrap().text().await.unwrap();
    assert!(
        listed.contains("Zotero on my laptop") && listed.contains("read and write") && !listed.contains(&token),
        "{listed}"
    );
    browser.finish().await;
}
