//! Query-string parameters, parsed once for the pages, the API and the feeds: everything arrives
//! as text so that a bad value gets a message naming the parameter, not a generic rejection.

use chrono::NaiveDate;
use paperboy_app::{Order, SearchMode, SearchParams};
use paperboy_domain::query::{CategoryFilter, MAX_QUERY_CHARS};
use serde::Deserialize;

/// Results per page of the pages.
pub const PAGE_SIZE: usize = 20;
/// The deepest page served.
pub const MAX_PAGE: usize = 50;
/// The most results per page of the API.
pub const MAX_PER_PAGE: usize = 100;

/// Every query parameter a page, the API or a feed reads (the page cache keys by these only).
pub const NAMES: &[&str] =
    &["category", "date", "explain", "format", "limit", "mode", "page", "per_page", "q", "since", "sort", "until"];

/// The query string as it arrives.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RawParams {
    /// The query.
    pub q: Option<String>,
    /// A category or archive.
    pub category: Option<String>,
    /// Announced on or after.
    pub since: Option<String>,
    /// Announced on or before.
    pub until: Option<String>,
    /// `relevance`, `date`, `trending`.
    pub sort: Option<String>,
    /// `auto`, `keyword`, `semantic`, `hybrid`.
    pub mode: Option<String>,
    /// From 1.
    pub page: Option<String>,
    /// Results per page (API).
    pub per_page: Option<String>,
    /// How many (similar papers).
    pub limit: Option<String>,
    /// A day (trending as of).
    pub date: Option<String>,
    /// A citation format (exports).
    pub format: Option<String>,
    /// `true` or `false`: whether each search result says why it ranks where it does (API).
    pub explain: Option<String>,
}

/// What is wrong with a parameter, for the person who sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    /// Not a date.
    #[error("{name} must be a date like 2026-06-16, not {value:?}")]
    Date {
        /// The parameter.
        name: &'static str,
        /// What came.
        value: String,
    },
    /// `until` before `since`.
    #[error("until is before since")]
    UntilBeforeSince,
    /// Not a number in range.
    #[error("{name} must be a number from {min} to {max}")]
    Number {
        /// The parameter.
        name: &'static str,
        /// The smallest allowed.
        min: usize,
        /// The largest allowed.
        max: usize,
    },
    /// Not a known category.
    #[error("{0}")]
    Category(String),
    /// Not one of the values the parameter takes.
    #[error("{name} must be {allowed}, not {value:?}")]
    Choice {
        /// The parameter.
        name: &'static str,
        /// The values it takes.
        allowed: &'static str,
        /// What came.
        value: String,
    },
    /// The query is over the limit.
    #[error("the query is too long (at most {MAX_QUERY_CHARS} characters)")]
    QueryTooLong,
    /// The query is missing where it is required.
    #[error("q is required")]
    QueryRequired,
}

impl ParamError {
    /// The parameter that is wrong (a form shows the error beside its field).
    pub fn parameter(&self) -> &'static str {
        match self {
            ParamError::Date { name, .. } | ParamError::Number { name, .. } | ParamError::Choice { name, .. } => name,
            ParamError::UntilBeforeSince => "until",
            ParamError::Category(_) => "category",
            ParamError::QueryTooLong | ParamError::QueryRequired => "q",
        }
    }
}

/// A citation format (`bibtex`, `ris`, `csl-json`), BibTeX when not given.
pub fn citation_format(value: &Option<String>) -> Result<paperboy_app::cite::Format, ParamError> {
    match given(value) {
        None => Ok(paperboy_app::cite::Format::Bibtex),
        Some(text) => paperboy_app::cite::Format::parse(text).ok_or_else(|| ParamError::Choice {
            name: "format",
            allowed: "bibtex, ris or csl-json",
            value: text.to_owned(),
        }),
    }
}

/// A parameter's text, trimmed, if it is there and not empty.
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// A day, if given.
pub fn date(name: &'static str, value: &Option<String>) -> Result<Option<NaiveDate>, ParamError> {
    given(value)
        .map(|v| NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| ParamError::Date { name, value: v.to_owned() }))
        .transpose()
}

/// A number from `min` to `max`, `default` when not given.
pub fn number(
    name: &'static str,
    value: &Option<String>,
    default: usize,
    min: usize,
    max: usize,
) -> Result<usize, ParamError> {
    match given(value) {
        None => Ok(default),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(ParamError::Number { name, min, max }),
        },
    }
}

/// The page number, 1 to [`MAX_PAGE`].
pub fn page(raw: &RawParams) -> Result<usize, ParamError> {
    number("page", &raw.page, 1, 1, MAX_PAGE)
}

/// A category or archive, if given.
pub fn category(value: &Option<String>) -> Result<Option<CategoryFilter>, ParamError> {
    given(value).map(|text| CategoryFilter::parse(text).map_err(|e| ParamError::Category(e.to_string()))).transpose()
}

/// A search from the query string, `per_page` results a page.
#[derive(Debug, Clone)]
pub struct ParsedSearch {
    /// The search.
    pub params: SearchParams,
    /// The page, from 1.
    pub page: usize,
}

/// Parses a search's parameters (the query may be empty: the search page shows its form).
pub fn search(raw: &RawParams, per_page: usize) -> Result<ParsedSearch, ParamError> {
    let query = given(&raw.q).unwrap_or("").to_owned();
    if query.chars().count() > MAX_QUERY_CHARS {
        return Err(ParamError::QueryTooLong);
    }
    let (since, until) = (date("since", &raw.since)?, date("until", &raw.until)?);
    if let (Some(since), Some(until)) = (since, until)
        && until < since
    {
        return Err(ParamError::UntilBeforeSince);
    }
    let order = match given(&raw.sort) {
        None => Order::Relevance,
        Some(text) => Order::parse(text).ok_or_else(|| ParamError::Choice {
            name: "sort",
            allowed: "relevance, date or trending",
            value: text.to_owned(),
        })?,
    };
    let mode = match given(&raw.mode) {
        None => SearchMode::Auto,
        Some(text) => SearchMode::parse(text).ok_or_else(|| ParamError::Choice {
            name: "mode",
            allowed: "auto, keyword, semantic or hybrid",
            value: text.to_owned(),
        })?,
    };
    let explain = match given(&raw.explain) {
        None | Some("false") => false,
        Some("true") => true,
        Some(text) => {
            return Err(ParamError::Choice { name: "explain", allowed: "true or false", value: text.to_owned() });
        }
    };
    let page = page(raw)?;
    Ok(ParsedSearch {
        params: SearchParams {
            query,
            categories: category(&raw.category)?.into_iter().collect(),
            since,
            until,
            order,
            limit: per_page,
            offset: (page - 1) * per_page,
            mode,
            explain,
        },
        page,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> RawParams {
        let query: String = pairs.iter().map(|(k, v)| format!("{k}={v}&")).collect();
        serde_urlencoded_like(&query)
    }

    fn serde_urlencoded_like(query: &str) -> RawParams {
        let value: serde_json::Map<String, serde_json::Value> = form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), serde_json::Value::String(v.into_owned())))
            .collect();
        serde_json::from_value(serde_json::Value::Object(value)).unwrap()
    }

    #[test]
    fn bad_values_name_their_parameter() {
        for (pairs, message) in [
            (vec![("since", "yesterday")], "since must be a date"),
            (vec![("since", "2026-06-10"), ("until", "2026-06-01")], "until is before since"),
            (vec![("sort", "random")], "sort must be relevance, date or trending"),
            (vec![("mode", "psychic")], "mode must be auto"),
            (vec![("page", "0")], "page must be a number from 1 to 50"),
            (vec![("category", "cs.XX")], "unknown arXiv category"),
            (vec![("explain", "yes")], "explain must be true or false"),
        ] {
            let err = search(&raw(&pairs), PAGE_SIZE).unwrap_err().to_string();
            assert!(err.contains(message), "{pairs:?}: {err}");
        }
        let parsed = search(&raw(&[("q", "x"), ("page", "3"), ("sort", "date")]), PAGE_SIZE).unwrap();
        assert_eq!((parsed.page, parsed.params.offset, parsed.params.order), (3, 40, Order::Date));
    }
}
