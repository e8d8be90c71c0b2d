//! The JSON API under `/api/v1/`. Its shapes are described by `openapi.rs`; a test checks every
//! endpoint's answers against that document.

use axum::{
    Json,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use chrono::NaiveDate;
use paperboy_app::browse::Trending;
use paperboy_domain::{Paper, Signals, query::CategoryFilter};
use serde::Serialize;

use crate::{
    ApiError, AppState, CACHE_SHORT,
    pages::{self, MAX_PAGE, Params},
};

/// Results per page unless `per_page` says otherwise.
const DEFAULT_PER_PAGE: usize = 20;
/// The most results per page.
const MAX_PER_PAGE: usize = 100;

/// A paper in a list.
#[derive(Serialize)]
pub(crate) struct PaperSummary {
    id: String,
    version: Option<u16>,
    title: String,
    authors: Vec<String>,
    categories: Vec<String>,
    #[serde(rename = "abstract")]
    abstract_text: String,
    announced: Option<NaiveDate>,
    submitted: Option<String>,
    url: String,
    pdf_url: String,
}

impl PaperSummary {
    pub(crate) fn new(paper: &Paper, base_url: &str) -> PaperSummary {
        PaperSummary {
            id: paper.id.to_string(),
            version: paper.version,
            title: paper.title.clone(),
            authors: paper.authors.clone(),
            categories: paper.categories.iter().map(|c| c.to_string()).collect(),
            abstract_text: paper.abstract_text.clone(),
            announced: paper.announced,
            submitted: paper.submitted.map(|d| d.to_rfc3339()),
            url: format!("{base_url}/papers/{}", paper.id),
            pdf_url: format!("https://arxiv.org/pdf/{}", paper.versioned_id()),
        }
    }
}

#[derive(Serialize)]
struct SearchResult {
    #[serde(flatten)]
    paper: PaperSummary,
    score: f32,
    keyword_score: Option<f32>,
    semantic_score: Option<f32>,
    pinned: bool,
}

#[derive(Serialize)]
struct SearchResponse {
    query: String,
    mode: &'static str,
    notice: Option<String>,
    total: u64,
    page: usize,
    per_page: usize,
    results: Vec<SearchResult>,
}

fn per_page(params: &Params) -> Result<usize, ApiError> {
    match params.get("per_page") {
        None => Ok(DEFAULT_PER_PAGE),
        Some(text) => match text.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_PER_PAGE).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(
                "invalid_parameter",
                format!("per_page must be a number from 1 to {MAX_PER_PAGE}"),
            )),
        },
    }
}

fn page(params: &Params) -> Result<usize, ApiError> {
    match params.get("page").map(|p| p.trim().parse::<usize>()) {
        None => Ok(1),
        Some(Ok(n)) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(_) => {
            Err(ApiError::bad_request("invalid_parameter", format!("page must be a number from 1 to {MAX_PAGE}")))
        }
    }
}

pub async fn search(State(state): State<AppState>, Query(params): Query<Params>) -> Result<Response, ApiError> {
    let per_page = per_page(&params)?;
    let parsed = pages::parse_search(&params, per_page).map_err(|m| ApiError::bad_request("invalid_parameter", m))?;
    if parsed.params.query.is_empty() {
        return Err(ApiError::bad_request("invalid_query", "q is required"));
    }
    let page = parsed.page;
    let trending_sort = parsed.trending_sort;
    let search = parsed.params.clone();
    let mut results = state
        .searching(&parsed.params, move |library| -> Result<_, paperboy_app::Error> {
            let mut results = library.search(&search)?;
            if trending_sort {
                let scores = library.trending_scores(results.hits.iter().map(|h| h.paper.id))?;
                let score = |id| scores.get(&id).copied().unwrap_or(0.0);
                results.hits.sort_by(|a, b| score(b.paper.id).total_cmp(&score(a.paper.id)));
                results.hits = results.hits.into_iter().skip((page - 1) * per_page).take(per_page).collect();
            }
            Ok(results)
        })
        .await??;
    let base = &state.config.base_url;
    let response = SearchResponse {
        query: parsed.params.query,
        mode: results.mode,
        notice: results.notice.take(),
        total: results.total,
        page,
        per_page,
        results: results
            .hits
            .iter()
            .map(|hit| SearchResult {
                paper: PaperSummary::new(&hit.paper, base),
                score: hit.score,
                keyword_score: hit.keyword_score,
                semantic_score: hit.semantic_score,
                pinned: hit.pinned,
            })
            .collect(),
    };
    Ok(([CACHE_SHORT], Json(response)).into_response())
}

#[derive(Serialize)]
struct PaperResponse {
    #[serde(flatten)]
    paper: PaperSummary,
    versions: Vec<VersionOut>,
    updated: Option<String>,
    comments: Option<String>,
    journal_ref: Option<String>,
    doi: Option<String>,
    license: Option<String>,
    signals: Vec<SignalsOut>,
    bibtex: String,
}

#[derive(Serialize)]
struct VersionOut {
    version: u16,
    submitted: Option<String>,
    size: Option<String>,
}

#[derive(Serialize)]
struct SignalsOut {
    source: String,
    upvotes: u32,
    comments: u32,
    github_repo: Option<String>,
    github_stars: Option<u32>,
    featured_on: Option<NaiveDate>,
    observed_at: String,
}

impl From<&Signals> for SignalsOut {
    fn from(s: &Signals) -> Self {
        SignalsOut {
            source: s.source.clone(),
            upvotes: s.upvotes,
            comments: s.comments,
            github_repo: s.github_repo.clone(),
            github_stars: s.github_stars,
            featured_on: s.featured_on,
            observed_at: s.observed_at.to_rfc3339(),
        }
    }
}

#[derive(Serialize)]
struct SimilarResponse {
    id: String,
    results: Vec<SimilarResult>,
}

#[derive(Serialize)]
struct SimilarResult {
    #[serde(flatten)]
    paper: PaperSummary,
    similarity: f32,
}

/// `/api/v1/papers/{id}` and `/api/v1/papers/{id}/similar` (ids may hold a slash: `hep-th/9901001`).
pub async fn paper(
    State(state): State<AppState>,
    Path(rest): Path<String>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    let base = state.config.base_url.clone();
    if let Some(id) = rest.strip_suffix("/similar") {
        let limit = match params.get("limit").map(|l| l.trim().parse::<usize>()) {
            None => 10,
            Some(Ok(n)) if (1..=50).contains(&n) => n,
            Some(_) => return Err(ApiError::bad_request("invalid_parameter", "limit must be a number from 1 to 50")),
        };
        let id = id.to_owned();
        let lookup = id.clone();
        let hits = state.blocking(move |library| library.similar(&lookup, limit)).await?.map_err(not_found_as_paper)?;
        let results = hits
            .iter()
            .map(|h| SimilarResult { paper: PaperSummary::new(&h.paper, &base), similarity: h.score })
            .collect();
        return Ok(([CACHE_SHORT], Json(SimilarResponse { id, results })).into_response());
    }
    let lookup = rest.clone();
    let details = state.blocking(move |library| library.show(&lookup)).await?.map_err(not_found_as_paper)?;
    let Some(details) = details else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "paper_not_found", format!("no paper {}", rest.trim())));
    };
    let paper = &details.stored.paper;
    let response = PaperResponse {
        paper: PaperSummary::new(paper, &base),
        versions: paper
            .versions
            .iter()
            .map(|v| VersionOut {
                version: v.number,
                submitted: v.submitted.map(|d| d.to_rfc3339()),
                size: v.size.clone(),
            })
            .collect(),
        updated: paper.updated.map(|d| d.to_rfc3339()),
        comments: paper.comments.clone(),
        journal_ref: paper.journal_ref.clone(),
        doi: paper.doi.clone(),
        license: paper.license.clone(),
        signals: details.signals.iter().map(SignalsOut::from).collect(),
        bibtex: pages::bibtex(paper),
    };
    Ok(([CACHE_SHORT], Json(response)).into_response())
}

/// An id that does not parse is a paper that does not exist.
fn not_found_as_paper(err: paperboy_app::Error) -> ApiError {
    match err {
        paperboy_app::Error::Invalid(message) | paperboy_app::Error::NotFound(message) => {
            ApiError::new(StatusCode::NOT_FOUND, "paper_not_found", message)
        }
        other => other.into(),
    }
}

#[derive(Serialize)]
struct DailyResponse {
    date: NaiveDate,
    previous: Option<NaiveDate>,
    next: Option<NaiveDate>,
    total: usize,
    page: usize,
    per_page: usize,
    results: Vec<PaperSummary>,
}

pub async fn daily_latest(state: State<AppState>, params: Query<Params>) -> Result<Response, ApiError> {
    daily_for(state, None, params).await
}

pub async fn daily(
    state: State<AppState>,
    Path(date): Path<String>,
    params: Query<Params>,
) -> Result<Response, ApiError> {
    let date = NaiveDate::parse_from_str(&date, "%Y-%m-%d")
        .map_err(|_| ApiError::bad_request("invalid_parameter", format!("{date:?} is not a date like 2026-06-16")))?;
    daily_for(state, Some(date), params).await
}

async fn daily_for(
    State(state): State<AppState>,
    date: Option<NaiveDate>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    let (page, per_page) = (page(&params)?, per_page(&params)?);
    let category = match params.get("category").map(|c| c.trim()).filter(|c| !c.is_empty()) {
        Some(text) => {
            Some(CategoryFilter::parse(text).map_err(|e| ApiError::bad_request("invalid_parameter", e.to_string()))?)
        }
        None => None,
    };
    let daily = state.blocking(move |library| library.daily(date, category)).await??;
    let base = &state.config.base_url;
    let results = daily
        .groups
        .iter()
        .flat_map(|g| g.papers.iter())
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|p| PaperSummary::new(p, base))
        .collect();
    let response = DailyResponse {
        date: daily.date,
        previous: daily.previous,
        next: daily.next,
        total: daily.total,
        page,
        per_page,
        results,
    };
    Ok(([CACHE_SHORT], Json(response)).into_response())
}

#[derive(Serialize)]
struct TrendingResponse {
    as_of: Option<NaiveDate>,
    total: usize,
    page: usize,
    per_page: usize,
    results: Vec<TrendingResult>,
}

#[derive(Serialize)]
struct TrendingResult {
    #[serde(flatten)]
    paper: PaperSummary,
    trending_score: f64,
    upvotes: u32,
    github_repo: Option<String>,
    github_stars: Option<u32>,
    featured_on: NaiveDate,
}

impl TrendingResult {
    fn new(entry: &Trending, base: &str) -> TrendingResult {
        TrendingResult {
            paper: PaperSummary::new(&entry.paper, base),
            trending_score: entry.score,
            upvotes: entry.upvotes,
            github_repo: entry.github_repo.clone(),
            github_stars: entry.github_stars,
            featured_on: entry.day,
        }
    }
}

pub async fn trending(State(state): State<AppState>, Query(params): Query<Params>) -> Result<Response, ApiError> {
    let (page, per_page) = (page(&params)?, per_page(&params)?);
    let as_of = match params.get("date").map(|d| d.trim()).filter(|d| !d.is_empty()) {
        Some(text) => Some(NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
            ApiError::bad_request("invalid_parameter", format!("date must be like 2026-06-16, not {text:?}"))
        })?),
        None => None,
    };
    let trending = state.blocking(move |library| library.trending(as_of, per_page, (page - 1) * per_page)).await??;
    let base = &state.config.base_url;
    let response = TrendingResponse {
        as_of: trending.as_of,
        total: trending.total,
        page,
        per_page,
        results: trending.papers.iter().map(|e| TrendingResult::new(e, base)).collect(),
    };
    Ok(([CACHE_SHORT], Json(response)).into_response())
}

pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such API endpoint; see /api/v1/openapi.json")
}
