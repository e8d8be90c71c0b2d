//! The arXiv API (<https://info.arxiv.org/help/api/user-manual.html>): Atom feeds for look-ups by id
//! and for queries, read page by page.

use chrono::{DateTime, Utc};
use paperboy_domain::{ArxivId, Paper, Version, text};

use crate::{
    Error, RecordError,
    http::{HttpClient, Politeness},
    oai,
    xml::{self, Element},
};

/// The arXiv API's query URL.
pub const DEFAULT_ENDPOINT: &str = "https://export.arxiv.org/api/query";

/// The most results the API returns per request.
pub const MAX_PAGE_SIZE: usize = 2000;

/// One page of API results.
#[derive(Debug)]
pub struct Feed {
    /// Each entry, parsed or with the reason it could not be.
    pub entries: Vec<Result<Paper, RecordError>>,
    /// How many results the whole query has.
    pub total_results: Option<u64>,
    /// The position of this page's first entry.
    pub start_index: Option<u64>,
}

/// Parses one Atom response. An API error entry (HTTP 400 for a malformed id) becomes
/// [`Error::Api`].
pub fn parse_feed(body: &[u8], page_label: &str) -> Result<Feed, Error> {
    let root = xml::parse(&xml::decode(body)?)?;
    if root.name != "feed" {
        return Err(Error::Malformed(format!("expected an Atom feed, got <{}>", root.name)));
    }
    let number = |name: &str| root.child_text(name).and_then(|t| t.trim().parse::<u64>().ok());
    let mut feed =
        Feed { entries: Vec::new(), total_results: number("totalResults"), start_index: number("startIndex") };
    for (index, entry) in root.children_named("entry").enumerate() {
        let id_url = entry.child_text("id").unwrap_or_default();
        if id_url.contains("/api/errors") {
            let message = entry.child_text("summary").map(|s| text::collapse_whitespace(&s)).unwrap_or_default();
            return Err(Error::Api(message));
        }
        let position = format!("{page_label}, entry {} ({})", index + 1, id_url.trim());
        feed.entries.push(paper_from_entry(entry).map_err(|reason| RecordError::new(position, reason)));
    }
    Ok(feed)
}

fn paper_from_entry(entry: &Element) -> Result<Paper, String> {
    let id_url = entry.child_text("id").ok_or("the entry has no <id>")?;
    let id = ArxivId::parse_lenient(&id_url).map_err(|e| e.to_string())?;
    let title = entry.child_text("title").ok_or("the entry has no <title>")?;
    let mut paper = Paper::new(id, title);
    paper.abstract_text = entry.child_text("summary").unwrap_or_default();
    paper.authors = entry
        .children_named("author")
        .filter_map(|author| author.child_text("name"))
        .map(|name| text::decode_tex_accents(&name))
        .collect();
    // The primary category first, then the rest in feed order; ACM/MSC classes are dropped.
    let primary = entry.child("primary_category").and_then(|c| c.attribute("term"));
    let terms: Vec<&str> =
        primary.into_iter().chain(entry.children_named("category").filter_map(|c| c.attribute("term"))).collect();
    paper.categories = oai::parse_category_tokens(terms.into_iter())?;
    paper.comments = entry.child_text("comment");
    paper.journal_ref = entry.child_text("journal_ref");
    paper.doi = entry.child_text("doi");
    let published = timestamp(entry, "published")?;
    let updated = timestamp(entry, "updated")?;
    paper.submitted = published;
    paper.updated = updated.or(published);
    if let Some(version) = id.version() {
        // The entry is that version; its date is `updated` (for v1, `published`).
        let submitted = if version == 1 { published } else { updated };
        paper.versions.push(Version { number: version, submitted, size: None });
        if version > 1 && published.is_some() {
            paper.versions.push(Version { number: 1, submitted: published, size: None });
        }
    }
    paper.normalize().map_err(|e| e.to_string())
}

fn timestamp(entry: &Element, name: &str) -> Result<Option<DateTime<Utc>>, String> {
    entry
        .child_text(name)
        .map(|t| {
            DateTime::parse_from_rfc3339(t.trim())
                .map(|d| d.with_timezone(&Utc))
                .map_err(|_| format!("invalid <{name}> timestamp {:?}", t.trim()))
        })
        .transpose()
}

/// What to ask the API for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiQuery {
    /// Look up these papers (with or without versions).
    Ids(Vec<ArxivId>),
    /// An arXiv search query (`ti:transformer AND cat:cs.CL`), up to `max_results` results.
    Search {
        /// The query, in the API's syntax.
        query: String,
        /// The most results to fetch.
        max_results: usize,
    },
}

/// A client for the arXiv API.
pub struct ApiClient {
    http: HttpClient,
    endpoint: String,
    page_size: usize,
}

impl ApiClient {
    /// A client for `endpoint`, waiting `politeness.min_interval` between requests (3 s for arXiv).
    pub fn new(endpoint: &str, politeness: Politeness, page_size: usize) -> Result<ApiClient, Error> {
        Ok(ApiClient {
            http: HttpClient::new(politeness)?,
            endpoint: endpoint.to_owned(),
            page_size: page_size.clamp(1, MAX_PAGE_SIZE),
        })
    }

    /// Runs the query page by page, handing each page to `on_page` as it arrives. Stops at the end
    /// of the results, at `max_results`, or at an empty page.
    pub fn fetch(&self, query: &ApiQuery, mut on_page: impl FnMut(Feed) -> Result<(), Error>) -> Result<(), Error> {
        match query {
            ApiQuery::Ids(ids) => {
                for (chunk_index, chunk) in ids.chunks(self.page_size).enumerate() {
                    let id_list = chunk.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
                    let params = vec![
                        ("id_list", id_list),
                        ("start", "0".to_owned()),
                        ("max_results", self.page_size.to_string()),
                    ];
                    let body = self.get(&params)?;
                    on_page(parse_feed(&body, &format!("page {}", chunk_index + 1))?)?;
                }
                Ok(())
            }
            ApiQuery::Search { query, max_results } => {
                let mut start = 0usize;
                let mut page_number = 1;
                while start < *max_results {
                    let page_size = self.page_size.min(max_results - start);
                    let params = vec![
                        ("search_query", query.clone()),
                        ("start", start.to_string()),
                        ("max_results", page_size.to_string()),
                    ];
                    let body = self.get(&params)?;
                    let feed = parse_feed(&body, &format!("page {page_number}"))?;
                    let n_entries = feed.entries.len();
                    let total = feed.total_results;
                    on_page(feed)?;
                    start += n_entries;
                    page_number += 1;
                    if n_entries == 0 || total.is_some_and(|total| start as u64 >= total) {
                        break;
                    }
                }
                Ok(())
            }
        }
    }
}

impl ApiClient {
    /// A request; a 4xx response carrying an Atom error entry becomes [`Error::Api`].
    fn get(&self, params: &[(&str, String)]) -> Result<Vec<u8>, Error> {
        match self.http.get(&self.endpoint, params) {
            Err(Error::Status { status, body, url }) => match parse_feed(body.as_bytes(), "error") {
                Err(api_error @ Error::Api(_)) => Err(api_error),
                _ => Err(Error::Status { status, body, url }),
            },
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The recorded responses are JSON: `{"url", "status_code", "body"}`, the body stored as
    /// latin-1 text of UTF-8 bytes.
    pub(crate) fn recorded_body(name: &str) -> (u16, Vec<u8>) {
        let path = format!("{}/tests/data/api-2026/{name}", env!("CARGO_MANIFEST_DIR"));
        let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let body = json["body"].as_str().unwrap().chars().map(|c| c as u32 as u8).collect();
        (json["status_code"].as_u64().unwrap() as u16, body)
    }

    #[test]
    fn id_lookup_of_a_versioned_id() {
        let (_, body) = recorded_body("id_2104.12255v1_s0_m100_6ae69987ffe1.json");
        let feed = parse_feed(&body, "p").unwrap();
        let paper = feed.entries[0].as_ref().unwrap();
        assert_eq!(paper.id.to_string(), "2104.12255");
        assert_eq!(paper.version, Some(1));
        assert_eq!(paper.title, "0");
        assert_eq!(paper.categories[0].as_str(), "cs.CR");
        assert_eq!(feed.total_results, Some(1));
    }

    #[test]
    fn old_style_ids_and_paged_search_results_parse() {
        for name in ["id_astro-ph_0601001_s0_m100_3150dca9dc76.json", "id_quant-ph_0201082v1_s0_m100_86989fe779ef.json"]
        {
            let (_, body) = recorded_body(name);
            let feed = parse_feed(&body, "p").unwrap();
            assert!(feed.entries[0].as_ref().unwrap().id.is_old_style(), "{name}");
        }
        let (_, body) = recorded_body("q_testing_s0_m100_cfe7536492ca.json");
        let feed = parse_feed(&body, "p").unwrap();
        assert_eq!(feed.entries.len(), 100);
        assert!(feed.entries.iter().all(Result::is_ok));
        assert_eq!(feed.total_results, Some(214881));
    }

    #[test]
    fn raw_2016_responses_parse() {
        for entry in std::fs::read_dir(format!("{}/tests/data/api-2016", env!("CARGO_MANIFEST_DIR"))).unwrap() {
            let path = entry.unwrap().path();
            let feed = parse_feed(&std::fs::read(&path).unwrap(), "p").unwrap();
            assert!(!feed.entries.is_empty(), "{}", path.display());
            assert!(feed.entries.iter().all(Result::is_ok), "{}", path.display());
        }
    }

    #[test]
    fn empty_results_and_api_errors() {
        let (_, body) = recorded_body("id_0000.0000_s0_m100_8b51d9633a68.json");
        assert!(parse_feed(&body, "p").unwrap().entries.is_empty());
        let (status, body) = recorded_body("id_abc_s0_m100_b79c8dcf6bc3.json");
        assert_eq!(status, 400);
        let err = parse_feed(&body, "p").unwrap_err();
        assert_eq!(err.to_string(), "the arXiv API answered: incorrect id format for abc");
    }
}
