//! What a reader with a screen reader, a keyboard, a phone or a slow link meets, checked in the
//! HTML itself: headings that never skip a level, labelled landmarks, the current page marked in
//! the navigation, forms that keep what was typed and say which field is wrong, responses
//! compressed, and a day's page small enough for a slow link. (The browser tests run axe-core and
//! the keyboard on the same pages.)

use std::io::Read;

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::{HOSTILE_ID, get, state};

/// Every page type, as a reader reaches it.
const PAGES: &[&str] = &[
    "/",
    "/search",
    "/search?q=diffusion",
    "/search?q=zzzzqqqq",
    "/papers/2606.14725",
    "/daily/2026-06-16",
    "/daily/2026-06-16?category=cs.CV",
    "/trending",
    "/categories/cs.CV",
    "/signin",
    "/nope",
];

/// The levels of the page's headings, in order.
fn headings(html: &str) -> Vec<u8> {
    html.match_indices("<h")
        .filter_map(|(i, _)| {
            let level = *html.as_bytes().get(i + 2)?;
            let after = *html.as_bytes().get(i + 3)?;
            ((b'1'..=b'6').contains(&level) && (after == b'>' || after == b' ')).then_some(level - b'0')
        })
        .collect()
}

#[tokio::test]
async fn every_page_has_one_h1_and_headings_that_never_skip_a_level() {
    for uri in PAGES {
        let page = get(uri).await;
        let levels = headings(&page.body);
        assert_eq!(levels.iter().filter(|&&l| l == 1).count(), 1, "{uri}: one h1 in {levels:?}");
        assert_eq!(levels.first(), Some(&1), "{uri}: the h1 comes first: {levels:?}");
        for pair in levels.windows(2) {
            assert!(pair[1] <= pair[0] + 1, "{uri}: h{} follows h{}: {levels:?}", pair[1], pair[0]);
        }
    }
    // The rule above can fail: a page that jumps from h1 to h3 is caught.
    assert_eq!(headings("<h1>a</h1><h3 class=x>b</h3><hr>"), vec![1, 3]);
}

#[tokio::test]
async fn landmarks_are_labelled_and_the_current_page_is_marked() {
    for uri in PAGES {
        let page = get(uri).await;
        for (i, _) in page.body.match_indices("<nav") {
            let tag = &page.body[i..i + page.body[i..].find('>').unwrap()];
            assert!(tag.contains("aria-label="), "{uri}: a nav without a label: {tag}");
        }
        let skip = page.body.split("<a class=\"skip\" href=\"#").nth(1).expect("a skip link");
        let target = &skip[..skip.find('"').unwrap()];
        assert!(page.body.contains(&format!(" id=\"{target}\"")), "{uri}: the skip link's target #{target}");
    }
    for (uri, current) in [
        ("/", "<a class=\"brand\" href=\"/\" aria-current=\"page\">"),
        ("/daily/2026-06-16", "<a href=\"/daily\" aria-current=\"page\">"),
        ("/trending", "<a href=\"/trending\" aria-current=\"page\">"),
        ("/search?q=diffusion", "<a href=\"/search\" aria-current=\"page\">"),
        ("/signin", "<a href=\"/signin\" aria-current=\"page\">"),
    ] {
        let page = get(uri).await;
        assert!(page.body.contains(current), "{uri}: {current}");
        assert_eq!(
            page.body.matches("aria-current=\"page\"").count(),
            1 + uri.starts_with("/search?") as usize,
            "{uri}"
        );
    }
    // The search page has one query box (its own form's), and skips to the results.
    let search = get("/search?q=diffusion").await;
    assert_eq!(search.body.matches("name=\"q\"").count(), 1, "one query box on /search");
    assert!(search.body.contains("href=\"#results\">Skip to results"));
    assert!(search.body.contains("id=\"results\""));
    assert_eq!(get("/papers/2606.14725").await.body.matches("name=\"q\"").count(), 1, "the header's box elsewhere");
}

#[tokio::test]
async fn the_home_page_says_what_a_subscriber_gets_before_anything_else() {
    let home = get("/").await.body;
    let banner = home.find("Get trending papers in your email inbox once a day").expect("the promise");
    let form = home.find("action=\"/subscribe\"").expect("the subscribe box");
    let first_paper = home.find("<article class=\"paper\"").expect("papers");
    assert!(banner < form && form < first_paper, "the promise and its box come before the papers");
    assert!(home.contains("five evenings a week"), "when mail arrives");
    assert_eq!(home.matches("action=\"/subscribe\"").count(), 1, "the footer does not repeat the box on the home page");
    // The trending numbers say what they count.
    let list = &home[home.find("<ol class=\"trending\"").expect("trending papers")..];
    let list = &list[..list.find("</ol>").unwrap()];
    assert!(list.contains("<li>") && list.contains(" upvote"), "upvotes named: {list}");
    let trending = get("/trending").await.body;
    assert!(trending.matches("<li>").count() > 1, "trending papers");
    for entry in trending.split("<li>").skip(1) {
        let entry = &entry[..entry.find("</li>").unwrap()];
        assert!(entry.contains(" upvote"), "each entry names its upvotes: {entry}");
    }
}

#[tokio::test]
async fn search_errors_keep_the_form_and_mark_the_wrong_field() {
    for (uri, field, message) in [
        ("/search?q=x&category=cs.XX", "category", "unknown arXiv category"),
        ("/search?q=x&since=2026-06-10&until=2026-06-01", "until", "until is before since"),
        ("/search?q=x&since=yesterday", "since", "since must be a date"),
        ("/search?q=x&sort=random", "sort", "sort must be"),
        ("/search?q=x&page=51", "page", "page must be a number from 1 to 50"),
        ("/search?q=x&mode=psychic", "mode", "mode must be"),
        ("/search?q=diffusion&page=40", "page", "past the last page"),
        ("/search?q=%28%28%28%28", "q", "never closed"),
    ] {
        let page = get(uri).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{uri}");
        assert!(page.body.contains("<form class=\"filters\""), "{uri}: the form is there");
        assert!(page.body.contains(message), "{uri}: {message}");
        assert!(page.body.contains(&format!("id=\"{field}-error\"")), "{uri}: the error beside {field}");
        if field != "page" {
            let at = page.body.find(&format!("name=\"{field}\"")).unwrap();
            let tag = &page.body[page.body[..at].rfind('<').unwrap()..at + page.body[at..].find('>').unwrap()];
            assert!(tag.contains("aria-invalid=\"true\""), "{uri}: {tag}");
            assert!(tag.contains(&format!("aria-describedby=\"{field}-error\"")), "{uri}: {tag}");
        }
    }
    // What was typed stays typed.
    let page = get("/search?q=diffusion&category=cs.XX&since=2026-06-01").await;
    assert!(page.body.contains("value=\"diffusion\"") && page.body.contains("value=\"cs.XX\""));
    assert!(page.body.contains("value=\"2026-06-01\""));
}

#[tokio::test]
async fn categories_are_read_in_any_letter_case_and_pages_are_counted_honestly() {
    let lower = get("/search?q=diffusion&category=cs.cv").await;
    assert_eq!(lower.status, StatusCode::OK, "cs.cv is cs.CV");
    let canonical = get("/search?q=diffusion&category=cs.CV").await;
    let count =
        |body: &str| body[body.find("<p class=\"sub\">").unwrap()..].split(" result").next().unwrap().to_owned();
    assert_eq!(count(&lower.body), count(&canonical.body));
    let redirect = get("/categories/cs.cv").await;
    assert_eq!(redirect.status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(redirect.headers[header::LOCATION], "/categories/cs.CV");
    assert_eq!(get("/daily/2026-06-16?category=CS.cv").await.status, StatusCode::OK);
    // The pager promises only pages that answer (by words, where the count is exact; a search by
    // meaning has no end, and its promised pages answer too).
    for (search, exact) in [("q=diffusion&mode=keyword", true), ("q=diffusion", false)] {
        let first = get(&format!("/search?{search}")).await.body;
        let of = first.split("page 1 of ").nth(1).unwrap();
        let last: usize = of[..of.find(|c: char| !c.is_ascii_digit()).unwrap()].parse().unwrap();
        assert_eq!(get(&format!("/search?{search}&page={last}")).await.status, StatusCode::OK, "{search}");
        if exact {
            assert!(last > 1, "{search}: more than one page");
            let past = get(&format!("/search?{search}&page={}", last + 1)).await;
            assert_eq!(past.status, StatusCode::BAD_REQUEST, "{search}");
        }
    }
}

#[tokio::test]
async fn tex_citations_in_abstracts_read_as_text() {
    let page = get(&format!("/papers/{HOSTILE_ID}")).await.body;
    assert!(page.contains("as in [smith2020, doe21]."), "\\cite became [keys]");
    assert!(!page.contains("\\cite"), "no TeX source");
}

/// The response to `uri` with `Accept-Encoding: accept`: its headers and raw body.
async fn fetch(uri: &str, accept: &str) -> (axum::http::HeaderMap, Vec<u8>) {
    let request = Request::get(uri).header(header::ACCEPT_ENCODING, accept).body(Body::empty()).unwrap();
    let response = paperboy_web::router(state()).oneshot(request).await.unwrap();
    let headers = response.headers().clone();
    (headers, response.into_body().collect().await.unwrap().to_bytes().to_vec())
}

#[tokio::test]
async fn every_text_response_is_compressed_for_a_client_that_takes_it() {
    for uri in [
        "/",
        "/daily/2026-06-16",
        "/search?q=diffusion",
        "/nope",
        "/static/style.css",
        "/static/app.js",
        "/api/v1/trending",
        "/api/v1/openapi.json",
        "/feeds/daily.atom",
        "/feeds/trending.rss",
    ] {
        let plain = get(uri).await.body;
        let (headers, gzipped) = fetch(uri, "gzip").await;
        assert_eq!(headers.get(header::CONTENT_ENCODING).map(|v| v.to_str().unwrap()), Some("gzip"), "{uri}");
        assert!(
            headers.get_all(header::VARY).iter().any(|v| v
                .to_str()
                .unwrap()
                .to_ascii_lowercase()
                .contains("accept-encoding")),
            "{uri}: Vary {headers:?}"
        );
        let mut unzipped = String::new();
        flate2::read::GzDecoder::new(&gzipped[..]).read_to_string(&mut unzipped).unwrap();
        // Timings in the page ("12 ms") may differ between the two requests; the rest may not.
        let strip = |s: &str| match (s.find("class=\"mode\""), s.find(" ms")) {
            (Some(mode), Some(ms)) if mode < ms => format!("{}{}", &s[..mode], &s[ms..]),
            _ => s.to_owned(),
        };
        assert_eq!(strip(&unzipped), strip(&plain), "{uri}: gzip round-trips");
        let (headers, brotli) = fetch(uri, "br;q=1.0, gzip;q=0.5").await;
        assert_eq!(headers.get(header::CONTENT_ENCODING).map(|v| v.to_str().unwrap()), Some("br"), "{uri}");
        assert!(brotli.len() < plain.len(), "{uri}: {} of {} bytes", brotli.len(), plain.len());
    }
    // A client that takes neither gets the plain answer.
    let (headers, body) = fetch("/", "identity").await;
    assert!(headers.get(header::CONTENT_ENCODING).is_none());
    assert!(String::from_utf8(body).unwrap().contains("<!DOCTYPE html>"));
}

#[tokio::test]
async fn a_whole_day_is_folded_by_category_and_small_on_the_wire() {
    let (_, wire) = fetch("/daily/2026-06-16", "gzip, deflate, br").await;
    let page = get("/daily/2026-06-16").await.body;
    let shown = page.matches("<article class=\"paper\"").count();
    assert!(page.contains("papers in cs.CV on 2026-06-16, with cross-lists →"), "folded groups link to the rest");
    // The link's count is what the linked page holds.
    let linked = page.split(" papers in cs.CV on 2026-06-16, with cross-lists").next().unwrap();
    let linked: usize = linked[linked.rfind("All ").unwrap() + 4..].parse().unwrap();
    assert!(shown < 554 / 2, "{shown} of the day's 554 papers on the page");
    assert!(wire.len() < 100_000, "{} bytes on the wire", wire.len());
    // One category's day is whole.
    let cv = get("/daily/2026-06-16?category=cs.CV").await.body;
    assert_eq!(cv.matches("<article class=\"paper\"").count(), linked, "the link said how many");
    let first_group = &cv[..cv.find("</section>").unwrap()];
    assert!(first_group.matches("<article class=\"paper\"").count() > 7, "cs.CV unfolded");
    assert!(!first_group.contains("with cross-lists →"));
}
