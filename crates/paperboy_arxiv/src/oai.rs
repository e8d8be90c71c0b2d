//! arXiv's OAI-PMH interface (<https://info.arxiv.org/help/oa/index.html>): reading `ListRecords` /
//! `GetRecord` responses in the `arXiv` and `arXivRaw` metadata formats, and harvesting page by page
//! with resumption tokens, at most one request per interval, obeying `503 Retry-After`.

use std::{str::FromStr, time::Duration};

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use paperboy_domain::{ArxivId, Category, Paper, Version, text};

use crate::{
    Error, RecordError,
    http::{HttpClient, Politeness},
    xml::{self, Element},
};

/// arXiv's OAI-PMH base URL.
pub const DEFAULT_ENDPOINT: &str = "https://oaipmh.arxiv.org/oai";

/// The metadata formats paperboy reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MetadataFormat {
    /// `arXiv`: the newest version's metadata, with first and last submission dates.
    #[default]
    Arxiv,
    /// `arXivRaw`: as submitted, with every version and its date.
    ArxivRaw,
}

impl MetadataFormat {
    /// The `metadataPrefix` parameter.
    pub fn prefix(self) -> &'static str {
        match self {
            MetadataFormat::Arxiv => "arXiv",
            MetadataFormat::ArxivRaw => "arXivRaw",
        }
    }
}

impl FromStr for MetadataFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "arXiv" | "arxiv" => Ok(MetadataFormat::Arxiv),
            "arXivRaw" | "arxivraw" | "arxiv-raw" => Ok(MetadataFormat::ArxivRaw),
            other => Err(format!("unknown metadata format {other:?} (use arXiv or arXivRaw)")),
        }
    }
}

/// What to harvest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HarvestRequest {
    /// The base URL of the OAI-PMH endpoint.
    pub endpoint: String,
    /// Records changed on or after this day.
    pub from: NaiveDate,
    /// Records changed on or before this day.
    pub until: Option<NaiveDate>,
    /// An OAI set, e.g. `cs` or `physics:hep-th`.
    pub set: Option<String>,
    /// The metadata format.
    pub format: MetadataFormat,
}

/// One page of a `ListRecords` (or a `GetRecord`) response.
#[derive(Debug)]
pub struct Page {
    /// Each record, parsed or with the reason it could not be.
    pub records: Vec<Result<Paper, RecordError>>,
    /// Records the repository reports deleted.
    pub deleted: Vec<String>,
    /// The token for the next page; `None` on the last page.
    pub resumption_token: Option<String>,
    /// The size of the whole list, when the repository says.
    pub complete_list_size: Option<u64>,
    /// The position of this page's first record in the whole list, when the repository says.
    pub cursor: Option<u64>,
    /// The newest datestamp among this page's records: where a restarted harvest can pick up.
    pub max_datestamp: Option<NaiveDate>,
}

/// Parses one OAI-PMH response body. OAI-PMH errors become [`Error::Oai`], except `noRecordsMatch`,
/// which is an empty page.
pub fn parse_response(body: &[u8], page_label: &str) -> Result<Page, Error> {
    let root = xml::parse(&xml::decode(body)?)?;
    if root.name != "OAI-PMH" {
        return Err(Error::Malformed(format!("expected an OAI-PMH response, got <{}>", root.name)));
    }
    let mut page = Page {
        records: Vec::new(),
        deleted: Vec::new(),
        resumption_token: None,
        complete_list_size: None,
        cursor: None,
        max_datestamp: None,
    };
    if let Some(error) = root.child("error") {
        let code = error.attribute("code").unwrap_or("unknown").to_owned();
        if code == "noRecordsMatch" {
            return Ok(page);
        }
        return Err(Error::Oai { code, message: text::collapse_whitespace(&error.text()) });
    }
    let list = root
        .child("ListRecords")
        .or_else(|| root.child("GetRecord"))
        .ok_or_else(|| Error::Malformed("the response has neither ListRecords nor GetRecord".into()))?;
    for (index, record) in list.children_named("record").enumerate() {
        let position = format!("{page_label}, record {}", index + 1);
        let Some(header) = record.child("header") else {
            page.records.push(Err(RecordError::new(position, "the record has no header")));
            continue;
        };
        let identifier = header.child_text("identifier").unwrap_or_default();
        let datestamp =
            header.child_text("datestamp").and_then(|d| NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").ok());
        if let Some(stamp) = datestamp {
            page.max_datestamp = page.max_datestamp.max(Some(stamp));
        }
        if header.attribute("status") == Some("deleted") {
            page.deleted.push(identifier.trim().to_owned());
            continue;
        }
        let position = format!("{position} ({})", identifier.trim());
        let parsed = record
            .child("metadata")
            .and_then(|m| m.elements().next())
            .ok_or_else(|| "the record has no metadata".to_owned())
            .and_then(|metadata| match metadata.name.as_str() {
                "arXiv" => paper_from_arxiv(metadata),
                "arXivRaw" => paper_from_arxiv_raw(metadata),
                other => Err(format!("unsupported metadata format <{other}>")),
            });
        let parsed = parsed.map(|mut paper| {
            if let Some(stamp) = datestamp {
                paper.announced = paper.announced.or_else(|| announcement_day(&paper, stamp));
            }
            paper
        });
        page.records.push(parsed.map_err(|reason| RecordError::new(position, reason)));
    }
    if let Some(token) = list.child("resumptionToken") {
        let value = token.text().trim().to_owned();
        page.resumption_token = (!value.is_empty()).then_some(value);
        page.complete_list_size = token.attribute("completeListSize").and_then(|v| v.parse().ok());
        page.cursor = token.attribute("cursor").and_then(|v| v.parse().ok());
    }
    Ok(page)
}

/// OAI-PMH does not say when a paper was announced. A record's datestamp is when arXiv last
/// changed it, which for a new paper (one version, submitted at most a week before) is the day it
/// was announced: arXiv publishes new records with the announcement. Replacements and older
/// papers get no announcement day from a harvest.
fn announcement_day(paper: &Paper, datestamp: NaiveDate) -> Option<NaiveDate> {
    let first_version_only = match paper.versions.len() {
        0 => paper.updated.is_none() || paper.updated == paper.submitted,
        n => n == 1,
    };
    let submitted = paper.versions.first().and_then(|v| v.submitted).or(paper.submitted)?.date_naive();
    let lag = (datestamp - submitted).num_days();
    (first_version_only && (0..=7).contains(&lag)).then_some(datestamp)
}

fn paper_from_arxiv(metadata: &Element) -> Result<Paper, String> {
    let mut paper = common_fields(metadata)?;
    paper.authors = metadata
        .child("authors")
        .map(|authors| {
            authors
                .children_named("author")
                .map(|author| {
                    let part =
                        |name| author.child_text(name).map(|t| text::collapse_whitespace(&t)).unwrap_or_default();
                    let name = [part("forenames"), part("keyname"), part("suffix")]
                        .into_iter()
                        .filter(|p| !p.is_empty())
                        .collect::<Vec<_>>()
                        .join(" ");
                    text::decode_tex_accents(&name)
                })
                .collect()
        })
        .unwrap_or_default();
    let created = optional_date(metadata, "created")?;
    let updated = optional_date(metadata, "updated")?;
    // This format gives the first and the newest submission dates but not the version numbers.
    paper.submitted = created;
    paper.updated = updated.or(created);
    paper.normalize().map_err(|e| e.to_string())
}

fn paper_from_arxiv_raw(metadata: &Element) -> Result<Paper, String> {
    let mut paper = common_fields(metadata)?;
    paper.authors = split_author_list(&metadata.child_text("authors").unwrap_or_default());
    for version in metadata.children_named("version") {
        let label = version.attribute("version").unwrap_or_default();
        let number: u16 = label
            .strip_prefix('v')
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("invalid version label {label:?}"))?;
        let submitted = match version.child_text("date") {
            Some(date) => Some(parse_rfc2822(&date)?),
            None => None,
        };
        let size = version.child_text("size").map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        paper.versions.push(Version { number, submitted, size });
    }
    paper.normalize().map_err(|e| e.to_string())
}

/// The fields both formats write the same way.
fn common_fields(metadata: &Element) -> Result<Paper, String> {
    let id_text = metadata.child_text("id").ok_or("the record has no <id>")?;
    let id = ArxivId::parse(id_text.trim()).map_err(|e| e.to_string())?;
    let title = metadata.child_text("title").ok_or("the record has no <title>")?;
    let mut paper = Paper::new(id, title);
    paper.abstract_text = metadata.child_text("abstract").unwrap_or_default();
    paper.categories = parse_categories(&metadata.child_text("categories").unwrap_or_default())?;
    paper.comments = metadata.child_text("comments");
    paper.journal_ref = metadata.child_text("journal-ref");
    paper.doi = metadata.child_text("doi");
    paper.license = metadata.child_text("license");
    Ok(paper)
}

/// Parses a space-separated category list. Tokens outside the taxonomy (ACM and MSC classes that
/// some sources mix in) are dropped; a list with no known category at all is an error.
pub(crate) fn parse_categories(list: &str) -> Result<Vec<Category>, String> {
    parse_category_tokens(list.split_whitespace())
}

pub(crate) fn parse_category_tokens<'a>(tokens: impl Iterator<Item = &'a str>) -> Result<Vec<Category>, String> {
    let mut categories = Vec::new();
    let mut unknown = Vec::new();
    for token in tokens {
        match Category::parse(token) {
            Ok(category) => categories.push(category),
            Err(_) => unknown.push(token.to_owned()),
        }
    }
    if categories.is_empty() {
        return Err(if unknown.is_empty() {
            "the record has no categories".to_owned()
        } else {
            format!("no known arXiv category among {unknown:?}")
        });
    }
    Ok(categories)
}

/// Splits arXiv's author string (`"A. One, B. Two and C. Three"`) into names, decoding TeX accents.
pub(crate) fn split_author_list(list: &str) -> Vec<String> {
    let list = text::collapse_whitespace(list);
    let mut names = Vec::new();
    for part in list.split(',') {
        for name in part.split(" and ") {
            let name = name.trim();
            // Affiliations in parentheses stay with the name they follow; empty parts go.
            if !name.is_empty() {
                names.push(text::decode_tex_accents(name));
            }
        }
    }
    names
}

fn optional_date(metadata: &Element, name: &str) -> Result<Option<DateTime<Utc>>, String> {
    match metadata.child_text(name) {
        None => Ok(None),
        Some(text) => NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
            .map(|d| Some(d.and_time(NaiveTime::MIN).and_utc()))
            .map_err(|_| format!("invalid <{name}> date {:?}", text.trim())),
    }
}

pub(crate) fn parse_rfc2822(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc2822(text.trim())
        .map(|d| d.with_timezone(&Utc))
        .map_err(|_| format!("invalid date {:?}", text.trim()))
}

/// A harvest in progress: where to resume after a crash. Persisted by the caller after each page
/// is stored, so a killed harvest repeats at most one page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The token for the next page.
    pub resumption_token: Option<String>,
    /// The newest datestamp stored so far: a restart point when the token has expired.
    pub max_datestamp: Option<NaiveDate>,
}

/// Harvests `ListRecords` page by page.
pub struct Harvester {
    http: HttpClient,
}

impl Harvester {
    /// A harvester that waits `politeness.min_interval` between requests (3 s for arXiv).
    pub fn new(politeness: Politeness) -> Result<Harvester, Error> {
        Ok(Harvester { http: HttpClient::new(politeness)? })
    }

    /// Fetches one page: the first of `request` when `resumption_token` is `None`, else the page the
    /// token names.
    pub fn fetch_page(
        &self,
        request: &HarvestRequest,
        resumption_token: Option<&str>,
        page_number: u32,
    ) -> Result<Page, Error> {
        let mut params: Vec<(&str, String)> = vec![("verb", "ListRecords".into())];
        match resumption_token {
            Some(token) => params.push(("resumptionToken", token.to_owned())),
            None => {
                params.push(("metadataPrefix", request.format.prefix().into()));
                params.push(("from", request.from.to_string()));
                if let Some(until) = request.until {
                    params.push(("until", until.to_string()));
                }
                if let Some(set) = &request.set {
                    params.push(("set", set.clone()));
                }
            }
        }
        let label = format!("page {page_number}");
        match self.http.get(&request.endpoint, &params) {
            Ok(body) => parse_response(&body, &label),
            // OAI-PMH servers may send their error document with a 4xx status.
            Err(Error::Status { status, body, url }) => match parse_response(body.as_bytes(), &label) {
                Err(oai_error @ Error::Oai { .. }) => Err(oai_error),
                _ => Err(Error::Status { status, body, url }),
            },
            Err(err) => Err(err),
        }
    }

    /// How long the harvester waits between requests.
    pub fn min_interval(&self) -> Duration {
        self.http.politeness().min_interval
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;

    fn fixture(path: &str) -> Vec<u8> {
        std::fs::read(format!("{}/tests/data/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    fn summary(paper: &Paper) -> String {
        format!(
            "{} v{:?} {:?} | {} | {} | {} | sub {:?} upd {:?} | doi {:?} | jref {:?} | lic {:?}",
            paper.id,
            paper.version,
            paper.title,
            paper.authors.join("; "),
            paper.categories.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(" "),
            &paper.abstract_text.chars().take(40).collect::<String>(),
            paper.submitted.map(|d| d.date_naive().to_string()),
            paper.updated.map(|d| d.date_naive().to_string()),
            paper.doi,
            paper.journal_ref,
            paper.license,
        )
    }

    #[test]
    fn list_records_in_arxiv_format() {
        let page = parse_response(&fixture("oai-hepcrawl/arxiv-physics-hep-th.xml"), "page 1").unwrap();
        let papers: Vec<String> = page.records.iter().map(|r| summary(r.as_ref().unwrap())).collect();
        expect![[r#"
            1412.8323 vNone "Toolbox for reconstructing quantum theory from rules on information acquisition" | Philipp A Hoehn | quant-ph gr-qc hep-th math-ph physics.hist-ph | We develop an operational approach for r | sub Some("2014-12-29") upd Some("2017-12-13") | doi None | jref None | lic Some("http://creativecommons.org/licenses/by/4.0/")
            1507.07790 vNone "Relativistic quantum dynamics of vector bosons in an Aharonov-Bohm potential" | Luis B. Castro; Edilberto O. Silva | hep-th math-ph quant-ph | The Aharonov-Bohm (AB) problem for vecto | sub Some("2015-07-28") upd Some("2016-03-04") | doi Some("10.1088/1751-8121/aa9c53") | jref Some("J. Phys. A: Math. Theor. 51 (2018) 035201") | lic Some("http://arxiv.org/licenses/nonexclusive-distrib/1.0/")
            1607.01710 vNone "Refinements of the Weyl pure geometrical thick branes from information-entropic measure" | R. A. C. Correa; D. M. Dantas; P. H. R. S. Moraes; A. de Souza Dutra; C. A. S. Almeida | hep-th | This letter aims to analyse the so-calle | sub Some("2016-07-06") upd Some("2016-10-13") | doi Some("10.1002/andp.201700188") | jref None | lic Some("http://arxiv.org/licenses/nonexclusive-distrib/1.0/")"#]]
        .assert_eq(&papers.join("\n"));
        assert_eq!(page.resumption_token, None);
        assert_eq!(page.max_datestamp, NaiveDate::from_ymd_opt(2017, 12, 14));
    }

    #[test]
    fn get_record_with_raw_formatting() {
        let page =
            parse_response(&fixture("oai-inspire-next/integration_workflows__oai_arxiv_record_to_accept.xml"), "p")
                .unwrap();
        let paper = page.records[0].as_ref().unwrap();
        assert_eq!(paper.id.to_string(), "1511.01097");
        assert!(!paper.title.contains('\n'));
    }

    #[test]
    fn every_recorded_get_record_parses() {
        let mut n = 0;
        for dir in ["oai-hepcrawl", "oai-inspire-next"] {
            for entry in std::fs::read_dir(format!("{}/tests/data/{dir}", env!("CARGO_MANIFEST_DIR"))).unwrap() {
                let path = entry.unwrap().path();
                match parse_response(&std::fs::read(&path).unwrap(), "p") {
                    Ok(page) => {
                        for record in &page.records {
                            assert!(record.is_ok(), "{}: {record:?}", path.display());
                            n += 1;
                        }
                    }
                    Err(Error::Oai { code, .. }) => {
                        assert_eq!(code, "idDoesNotExist", "{}", path.display())
                    }
                    Err(err) => panic!("{}: {err}", path.display()),
                }
            }
        }
        assert!(n >= 25, "{n}");
    }

    #[test]
    fn oai_errors_are_reported_with_code_and_message() {
        let err = parse_response(&fixture("oai-inspire-next/integration_arxiv__is-malformed.xml"), "p").unwrap_err();
        expect!["the OAI-PMH server answered idDoesNotExist: Malformed identifier `oai:arXiv.org:is-malformed'"]
            .assert_eq(&err.to_string());
        let no_match = br#"<?xml version="1.0"?><OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><error code="noRecordsMatch">none</error></OAI-PMH>"#;
        assert!(parse_response(no_match, "p").unwrap().records.is_empty());
        let bad_token = br#"<OAI-PMH><error code="badResumptionToken">expired</error></OAI-PMH>"#;
        assert!(matches!(parse_response(bad_token, "p"), Err(Error::Oai { code, .. }) if code == "badResumptionToken"));
    }

    #[test]
    fn bad_records_are_reported_and_the_rest_kept() {
        let body = r#"<OAI-PMH><ListRecords>
            <record><header><identifier>oai:arXiv.org:2401.00001</identifier><datestamp>2024-01-02</datestamp></header>
              <metadata><arXiv><id>2401.00001</id><title>Good</title><categories>cs.CL</categories></arXiv></metadata></record>
            <record><header><identifier>oai:arXiv.org:bad</identifier></header>
              <metadata><arXiv><id>not-an-id</id><title>Bad id</title><categories>cs.CL</categories></arXiv></metadata></record>
            <record><header><identifier>oai:arXiv.org:2401.00003</identifier></header>
              <metadata><arXiv><id>2401.00003</id><categories>cs.CL</categories></arXiv></metadata></record>
            <record><header><identifier>oai:arXiv.org:2401.00004</identifier></header>
              <metadata><arXiv><id>2401.00004</id><title>No category</title><categories>I.2.7</categories></arXiv></metadata></record>
            <record><header status="deleted"><identifier>oai:arXiv.org:2401.00005</identifier></header></record>
            <resumptionToken cursor="0" completeListSize="9">123|4</resumptionToken>
        </ListRecords></OAI-PMH>"#;
        let page = parse_response(body.as_bytes(), "page 2").unwrap();
        let lines: Vec<String> = page
            .records
            .iter()
            .map(|r| match r {
                Ok(p) => format!("ok {}", p.id),
                Err(e) => e.to_string(),
            })
            .collect();
        expect![[r#"
            ok 2401.00001
            page 2, record 2 (oai:arXiv.org:bad): invalid arXiv id "not-an-id": expected YYMM.NNNNN or archive/YYMMNNN
            page 2, record 3 (oai:arXiv.org:2401.00003): the record has no <title>
            page 2, record 4 (oai:arXiv.org:2401.00004): no known arXiv category among ["I.2.7"]"#]]
        .assert_eq(&lines.join("\n"));
        assert_eq!(page.deleted, ["oai:arXiv.org:2401.00005"]);
        assert_eq!(page.resumption_token.as_deref(), Some("123|4"));
        assert_eq!(page.complete_list_size, Some(9));
    }

    #[test]
    fn arxiv_raw_records_keep_every_version() {
        let page = parse_response(&fixture("oai-constructed/arxivraw-0704.0001.xml"), "p").unwrap();
        let paper = page.records[0].as_ref().unwrap();
        assert_eq!(paper.version, Some(2));
        assert_eq!(paper.versions.len(), 2);
        assert_eq!(paper.versions[0].size.as_deref(), Some("424kb"));
        assert_eq!(paper.authors[0], "C. Balázs");
        assert_eq!(paper.submitted.unwrap().to_rfc3339(), "2007-04-02T19:18:42+00:00");
    }

    #[test]
    fn new_papers_are_announced_on_their_datestamp_and_replacements_are_not() {
        let record = |id: &str, stamp: &str, created: &str, updated: &str| {
            format!(
                r#"<record><header><identifier>oai:arXiv.org:{id}</identifier><datestamp>{stamp}</datestamp></header>
                <metadata><arXiv><id>{id}</id><created>{created}</created>{updated}<title>T</title><categories>cs.CL</categories></arXiv></metadata></record>"#
            )
        };
        let body = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><OAI-PMH><ListRecords>{}{}{}</ListRecords></OAI-PMH>"#,
            record("2606.00001", "2026-06-16", "2026-06-12", ""),
            record("2606.00002", "2026-06-16", "2026-06-01", "<updated>2026-06-15</updated>"),
            record("2605.00003", "2026-06-16", "2026-05-02", ""),
        );
        let page = parse_response(body.as_bytes(), "page 1").unwrap();
        let announced: Vec<Option<String>> =
            page.records.iter().map(|r| r.as_ref().unwrap().announced.map(|d| d.to_string())).collect();
        assert_eq!(announced, [Some("2026-06-16".to_owned()), None, None], "new, replaced, old");
    }

    #[test]
    fn wrong_encoding_is_a_clear_error() {
        let err =
            parse_response(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><OAI-PMH>\xff</OAI-PMH>", "p").unwrap_err();
        assert!(err.to_string().contains("not valid UTF-8"), "{err}");
        let err = parse_response(b"<html><body>Service unavailable</body></html>", "p").unwrap_err();
        assert!(err.to_string().contains("expected an OAI-PMH response"), "{err}");
    }
}
