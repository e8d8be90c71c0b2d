//! Atom and RSS 2.0 feeds: the latest announcement day, trending, a category's newest papers, and
//! any search (newest first: a saved search as a feed).

use axum::{
    extract::{Path, Query, State},
    http::header,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, NaiveTime, Utc};
use paperboy_app::{Order, SearchParams, browse::Trending};
use paperboy_domain::{Paper, query::CategoryFilter};

use crate::{
    ApiError, AppState,
    error::Failure,
    math,
    params::{self, ParamError, RawParams},
};

/// Entries per feed.
const FEED_SIZE: usize = 50;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Atom,
    Rss,
}

struct Feed {
    title: String,
    /// The feed's own path (`/feeds/daily.atom`).
    path: String,
    /// The page the feed mirrors (`/daily`).
    page: String,
    entries: Vec<Entry>,
}

struct Entry {
    paper: Paper,
    /// A line before the abstract (trending: the upvotes).
    note: Option<String>,
}

pub async fn daily_atom(state: State<AppState>) -> Result<Response, ApiError> {
    daily(state, Format::Atom).await
}

pub async fn daily_rss(state: State<AppState>) -> Result<Response, ApiError> {
    daily(state, Format::Rss).await
}

async fn daily(State(state): State<AppState>, format: Format) -> Result<Response, ApiError> {
    let daily = state.blocking(|library| library.daily(None, None)).await?;
    let (title, entries) = match daily {
        Ok(daily) => (
            format!("Papers announced {}", daily.date),
            daily.groups.into_iter().flat_map(|g| g.papers).map(|paper| Entry { paper, note: None }).collect(),
        ),
        Err(paperboy_app::Error::NoAnnouncements) => ("Papers announced today".to_owned(), Vec::new()),
        Err(err) => return Err(err.into()),
    };
    Ok(respond(&state, format, Feed { title, path: path("daily", format), page: "/daily".into(), entries }))
}

pub async fn trending_atom(state: State<AppState>) -> Result<Response, ApiError> {
    trending(state, Format::Atom).await
}

pub async fn trending_rss(state: State<AppState>) -> Result<Response, ApiError> {
    trending(state, Format::Rss).await
}

async fn trending(State(state): State<AppState>, format: Format) -> Result<Response, ApiError> {
    let page = state.blocking(|library| library.trending(None, FEED_SIZE, 0)).await??;
    let note = |t: &Trending| {
        let stars = t.github_stars.map(|s| format!(", {s} GitHub stars")).unwrap_or_default();
        format!("{} upvotes{stars}, featured {}", t.upvotes, t.day)
    };
    let entries = page.papers.iter().map(|t| Entry { note: Some(note(t)), paper: t.paper.clone() }).collect();
    Ok(respond(
        &state,
        format,
        Feed { title: "Trending papers".into(), path: path("trending", format), page: "/trending".into(), entries },
    ))
}

/// `/feeds/categories/cs.CL.atom` or `.rss`.
pub async fn category(State(state): State<AppState>, Path(file): Path<String>) -> Result<Response, ApiError> {
    let (name, format) = if let Some(name) = file.strip_suffix(".atom") {
        (name, Format::Atom)
    } else if let Some(name) = file.strip_suffix(".rss") {
        (name, Format::Rss)
    } else {
        return Err(ApiError(Failure::NotFound));
    };
    let filter = CategoryFilter::parse(name).map_err(|_| ApiError(Failure::NotFound))?;
    let (papers, _) = state.blocking(move |library| library.category(filter, FEED_SIZE, 0)).await??;
    let title = match filter {
        CategoryFilter::Category(c) => format!("New papers in {c} ({})", c.name()),
        CategoryFilter::Archive(a) => format!("New papers in {a}"),
    };
    let entries = papers.into_iter().map(|paper| Entry { paper, note: None }).collect();
    Ok(respond(
        &state,
        format,
        Feed { title, path: format!("/feeds/categories/{file}"), page: format!("/categories/{filter}"), entries },
    ))
}

pub async fn search_atom(state: State<AppState>, params: Query<RawParams>) -> Result<Response, ApiError> {
    search(state, params, Format::Atom).await
}

pub async fn search_rss(state: State<AppState>, params: Query<RawParams>) -> Result<Response, ApiError> {
    search(state, params, Format::Rss).await
}

async fn search(
    State(state): State<AppState>,
    Query(raw): Query<RawParams>,
    format: Format,
) -> Result<Response, ApiError> {
    let parsed = params::search(&raw, FEED_SIZE)?;
    if parsed.params.query.is_empty() {
        return Err(ParamError::QueryRequired.into());
    }
    // A feed of a search is a feed of new papers matching it: newest first.
    let search = SearchParams { order: Order::Date, limit: FEED_SIZE, offset: 0, ..parsed.params.clone() };
    let page = state.blocking(move |library| library.search(&search)).await??;
    let query = parsed.params.query;
    let encoded = crate::render::url_encode(&query);
    let entries = page.hits.into_iter().map(|hit| Entry { paper: hit.paper, note: None }).collect();
    let extension = if format == Format::Atom { "atom" } else { "rss" };
    Ok(respond(
        &state,
        format,
        Feed {
            title: format!("Papers matching “{query}”"),
            path: format!("/feeds/search.{extension}?q={encoded}"),
            page: format!("/search?q={encoded}&sort=date"),
            entries,
        },
    ))
}

/// `/feeds/digest/{secret}.atom` or `.rss`: a subscriber's private feed, what their digest would
/// hold, each entry with its reasons. An unknown or revoked secret is a 404 like any other path;
/// the secret is never logged (the request log redacts it).
pub async fn digest(State(state): State<AppState>, Path(file): Path<String>) -> Result<Response, ApiError> {
    let (secret, format) = if let Some(secret) = file.strip_suffix(".atom") {
        (secret.to_owned(), Format::Atom)
    } else if let Some(secret) = file.strip_suffix(".rss") {
        (secret.to_owned(), Format::Rss)
    } else {
        return Err(ApiError(Failure::NotFound));
    };
    let extension = if format == Format::Atom { "atom" } else { "rss" };
    let path = format!("/feeds/digest/{secret}.{extension}");
    let feed = state
        .blocking(move |library| -> Result<_, paperboy_app::Error> {
            let Some(account) = library.digest_feed_account(&secret)? else { return Ok(None) };
            Ok(Some(library.digest_feed(&account, Utc::now())?))
        })
        .await??;
    // A live secret before anything is announced is an empty feed, not a 404 (readers drop
    // feeds that keep answering 404).
    let Some(feed) = feed else { return Err(ApiError(Failure::NotFound)) };
    let (title, entries) = match &feed {
        Some(feed) => {
            let digest = &feed.digest;
            let entries = digest
                .items
                .iter()
                .chain(&digest.trending)
                .filter_map(|entry| {
                    let paper = feed.paper(entry.paper)?.clone();
                    let why: Vec<String> = entry.reasons.iter().map(|r| r.describe()).collect();
                    Some(Entry { paper, note: Some(format!("Why: {}", why.join("; "))) })
                })
                .collect();
            (format!("Your paperboy digest, {} to {}", digest.since, digest.date), entries)
        }
        None => ("Your paperboy digest".to_owned(), Vec::new()),
    };
    let mut response = respond(&state, format, Feed { title, path, page: "/preferences".into(), entries });
    // The URL is the secret: no shared cache may keep the answer, and no page may link it on.
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, header::HeaderValue::from_static("private, max-age=300"));
    headers.insert(header::REFERRER_POLICY, header::HeaderValue::from_static("no-referrer"));
    headers.insert("x-robots-tag", header::HeaderValue::from_static("noindex"));
    Ok(response)
}

fn path(name: &str, format: Format) -> String {
    format!("/feeds/{name}.{}", if format == Format::Atom { "atom" } else { "rss" })
}

fn respond(state: &AppState, format: Format, feed: Feed) -> Response {
    let base = &state.config.base_url;
    let (content_type, body) = match format {
        Format::Atom => ("application/atom+xml; charset=utf-8", atom(base, &feed)),
        Format::Rss => ("application/rss+xml; charset=utf-8", rss(base, &feed)),
    };
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=300")], body).into_response()
}

/// When a paper appeared, for `<updated>` and `<pubDate>`: its announcement day, else its
/// submission.
fn timestamp(paper: &Paper) -> DateTime<Utc> {
    paper
        .announced
        .map(|d| d.and_time(NaiveTime::MIN).and_utc())
        .or(paper.submitted)
        .unwrap_or_else(|| paper.date().and_time(NaiveTime::MIN).and_utc())
}

fn atom(base: &str, feed: &Feed) -> String {
    let updated = feed.entries.iter().map(|e| timestamp(&e.paper)).max().unwrap_or_else(Utc::now);
    let mut out = String::with_capacity(4096 + feed.entries.len() * 2048);
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n");
    out.push_str(&format!("  <title>{}</title>\n", xml_escape(&feed.title)));
    out.push_str(&format!("  <id>{}</id>\n", xml_escape(&format!("{base}{}", feed.path))));
    out.push_str(&format!(
        "  <link rel=\"self\" type=\"application/atom+xml\" href=\"{}\"/>\n",
        xml_escape(&format!("{base}{}", feed.path))
    ));
    out.push_str(&format!(
        "  <link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>\n",
        xml_escape(&format!("{base}{}", feed.page))
    ));
    out.push_str(&format!("  <updated>{}</updated>\n  <generator>paperboy</generator>\n", updated.to_rfc3339()));
    for entry in &feed.entries {
        let paper = &entry.paper;
        let url = format!("{base}/papers/{}", paper.id);
        out.push_str("  <entry>\n");
        out.push_str(&format!("    <title type=\"text\">{}</title>\n", xml_escape(&math::to_plain(&paper.title))));
        out.push_str(&format!("    <id>{}</id>\n", xml_escape(&url)));
        out.push_str(&format!("    <link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>\n", xml_escape(&url)));
        out.push_str(&format!(
            "    <link rel=\"related\" type=\"text/html\" href=\"https://arxiv.org/abs/{}\"/>\n",
            xml_escape(&paper.id.to_string())
        ));
        out.push_str(&format!("    <updated>{}</updated>\n", timestamp(paper).to_rfc3339()));
        if let Some(submitted) = paper.submitted {
            out.push_str(&format!("    <published>{}</published>\n", submitted.to_rfc3339()));
        }
        for author in &paper.authors {
            out.push_str(&format!("    <author><name>{}</name></author>\n", xml_escape(author)));
        }
        for category in &paper.categories {
            out.push_str(&format!(
                "    <category term=\"{}\" label=\"{}\"/>\n",
                xml_escape(category.as_str()),
                xml_escape(category.name())
            ));
        }
        let summary = match &entry.note {
            Some(note) => format!("{note}. {}", math::to_plain(&paper.abstract_text)),
            None => math::to_plain(&paper.abstract_text),
        };
        out.push_str(&format!("    <summary type=\"text\">{}</summary>\n", xml_escape(&summary)));
        out.push_str("  </entry>\n");
    }
    out.push_str("</feed>\n");
    out
}

fn rss(base: &str, feed: &Feed) -> String {
    let mut out = String::with_capacity(4096 + feed.entries.len() * 2048);
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<rss version=\"2.0\" xmlns:atom=\"http://www.w3.org/2005/Atom\">\n<channel>\n");
    out.push_str(&format!("  <title>{}</title>\n", xml_escape(&feed.title)));
    out.push_str(&format!("  <link>{}</link>\n", xml_escape(&format!("{base}{}", feed.page))));
    out.push_str(&format!(
        "  <atom:link rel=\"self\" type=\"application/rss+xml\" href=\"{}\"/>\n",
        xml_escape(&format!("{base}{}", feed.path))
    ));
    out.push_str(&format!("  <description>{}</description>\n", xml_escape(&feed.title)));
    for entry in &feed.entries {
        let paper = &entry.paper;
        let url = format!("{base}/papers/{}", paper.id);
        out.push_str("  <item>\n");
        out.push_str(&format!("    <title>{}</title>\n", xml_escape(&math::to_plain(&paper.title))));
        out.push_str(&format!("    <link>{}</link>\n", xml_escape(&url)));
        out.push_str(&format!("    <guid isPermaLink=\"true\">{}</guid>\n", xml_escape(&url)));
        out.push_str(&format!("    <pubDate>{}</pubDate>\n", timestamp(paper).to_rfc2822()));
        for category in &paper.categories {
            out.push_str(&format!("    <category>{}</category>\n", xml_escape(category.as_str())));
        }
        let summary = match &entry.note {
            Some(note) => format!("{note}. {}", math::to_plain(&paper.abstract_text)),
            None => math::to_plain(&paper.abstract_text),
        };
        out.push_str(&format!("    <description>{}</description>\n", xml_escape(&summary)));
        out.push_str("  </item>\n");
    }
    out.push_str("</channel>\n</rss>\n");
    out
}

/// Escapes text for XML content and attributes, dropping characters XML 1.0 forbids.
pub fn xml_escape(text: &str) -> String {
    let allowed =
        |c: &char| matches!(c, '\t' | '\n' | '\r') || (*c as u32 >= 0x20 && !matches!(c, '\u{FFFE}' | '\u{FFFF}'));
    paperboy_domain::text::escape_html(&text.chars().filter(allowed).collect::<String>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escaping_removes_what_breaks_feeds() {
        assert_eq!(xml_escape("a<b>&\"'\u{1}c"), "a&lt;b&gt;&amp;&quot;&#39;c");
    }
}
