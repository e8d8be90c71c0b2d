//! The JSON API under `/api/v1/`. Its shapes are described by `openapi.rs`; a test checks every
//! endpoint's answers against that document.

use axum::{
    Json,
    extract::{Path, Query, State},
    response::{IntoResponse, Response},
};
use chrono::NaiveDate;
use paperboy_app::browse::Trending;
use paperboy_domain::{ArxivId, Paper, Signals};
use serde::Serialize;

use crate::{
    ApiError, AppState, CACHE_SHORT,
    error::Failure,
    params::{self, MAX_PER_PAGE, PAGE_SIZE, ParamError, RawParams},
};

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
    #[serde(skip_serializing_if = "Option::is_none")]
    explanation: Option<paperboy_app::Explanation>,
}

#[derive(Serialize)]
pub(crate) struct SearchResponse {
    query: String,
    mode: &'static str,
    notice: Option<String>,
    total: u64,
    page: usize,
    per_page: usize,
    results: Vec<SearchResult>,
}

fn per_page(raw: &RawParams) -> Result<usize, ParamError> {
    params::number("per_page", &raw.per_page, PAGE_SIZE, 1, MAX_PER_PAGE)
}

/// `GET /api/v1/search`.
pub async fn search(State(state): State<AppState>, Query(raw): Query<RawParams>) -> Result<Response, ApiError> {
    Ok(([CACHE_SHORT], Json(search_answer(&state, &raw).await?)).into_response())
}

/// What a search answers (the API's and the MCP server's `search`).
pub(crate) async fn search_answer(state: &AppState, raw: &RawParams) -> Result<SearchResponse, ApiError> {
    let per_page = per_page(raw)?;
    let parsed = params::search(raw, per_page)?;
    if parsed.params.query.is_empty() {
        return Err(ParamError::QueryRequired.into());
    }
    let page = parsed.page;
    let search = parsed.params.clone();
    let mut results = state.searching(&parsed.params, move |library| library.search(&search)).await??;
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
                explanation: hit.explanation.clone(),
            })
            .collect(),
    };
    Ok(response)
}

#[derive(Serialize)]
pub(crate) struct PaperResponse {
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
pub(crate) struct SimilarResponse {
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
    Query(raw): Query<RawParams>,
) -> Result<Response, ApiError> {
    if let Some(id_text) = rest.strip_suffix("/similar") {
        return Ok(([CACHE_SHORT], Json(similar_answer(&state, id_text, &raw).await?)).into_response());
    }
    Ok(([CACHE_SHORT], Json(paper_answer(&state, &rest).await?)).into_response())
}

fn parse_id(text: &str) -> Result<ArxivId, ApiError> {
    ArxivId::parse_lenient(text).map_err(|_| ApiError(Failure::PaperId(text.to_owned())))
}

/// The papers most similar to one (`limit` of them, 10 unless said).
pub(crate) async fn similar_answer(
    state: &AppState,
    id_text: &str,
    raw: &RawParams,
) -> Result<SimilarResponse, ApiError> {
    let limit = params::number("limit", &raw.limit, 10, 1, 50)?;
    let id = parse_id(id_text)?;
    let hits = state.blocking(move |library| library.similar(id, limit)).await??;
    let base = &state.config.base_url;
    let results =
        hits.iter().map(|h| SimilarResult { paper: PaperSummary::new(&h.paper, base), similarity: h.score }).collect();
    Ok(SimilarResponse { id: id_text.to_owned(), results })
}

/// One paper, with its versions, signals and BibTeX.
pub(crate) async fn paper_answer(state: &AppState, id_text: &str) -> Result<PaperResponse, ApiError> {
    let base = state.config.base_url.clone();
    let id = parse_id(id_text)?;
    let details = state.blocking(move |library| library.show(id)).await??;
    let Some(details) = details else { return Err(paperboy_app::Error::PaperNotFound(id).into()) };
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
        bibtex: paperboy_app::cite::bibtex(paper),
    };
    Ok(response)
}

#[derive(Serialize)]
pub(crate) struct DailyResponse {
    date: NaiveDate,
    previous: Option<NaiveDate>,
    next: Option<NaiveDate>,
    total: usize,
    page: usize,
    per_page: usize,
    results: Vec<PaperSummary>,
}

/// `GET /api/v1/daily`.
pub async fn daily_latest(state: State<AppState>, raw: Query<RawParams>) -> Result<Response, ApiError> {
    daily_for(state, None, raw).await
}

/// `GET /api/v1/daily/{date}`.
pub async fn daily(
    state: State<AppState>,
    Path(date): Path<String>,
    raw: Query<RawParams>,
) -> Result<Response, ApiError> {
    let date = params::date("date", &Some(date))?;
    daily_for(state, date, raw).await
}

async fn daily_for(
    State(state): State<AppState>,
    date: Option<NaiveDate>,
    Query(raw): Query<RawParams>,
) -> Result<Response, ApiError> {
    Ok(([CACHE_SHORT], Json(daily_answer(&state, date, &raw).await?)).into_response())
}

/// One announcement day's papers (the latest when `date` is `None`).
pub(crate) async fn daily_answer(
    state: &AppState,
    date: Option<NaiveDate>,
    raw: &RawParams,
) -> Result<DailyResponse, ApiError> {
    let (page, per_page) = (params::page(raw)?, per_page(raw)?);
    let category = params::category(&raw.category)?;
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
    Ok(response)
}

#[derive(Serialize)]
pub(crate) struct TrendingResponse {
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

/// `GET /api/v1/trending`.
pub async fn trending(State(state): State<AppState>, Query(raw): Query<RawParams>) -> Result<Response, ApiError> {
    Ok(([CACHE_SHORT], Json(trending_answer(&state, &raw).await?)).into_response())
}

/// Trending papers as of a day (today unless said).
pub(crate) async fn trending_answer(state: &AppState, raw: &RawParams) -> Result<TrendingResponse, ApiError> {
    let (page, per_page) = (params::page(raw)?, per_page(raw)?);
    let as_of = params::date("date", &raw.date)?;
    let trending = state.blocking(move |library| library.trending(as_of, per_page, (page - 1) * per_page)).await??;
    let base = &state.config.base_url;
    let response = TrendingResponse {
        as_of: trending.as_of,
        total: trending.total,
        page,
        per_page,
        results: trending.papers.iter().map(|e| TrendingResult::new(e, base)).collect(),
    };
    Ok(response)
}

/// Any other path under `/api/`.
pub async fn not_found() -> ApiError {
    ApiError(Failure::NotFound)
}
