//! The personal part of the JSON API, under `/api/v1/me/`: a person's library, upvotes, saved
//! searches and follows, for scripts and tools. Every request carries a personal API token as
//! `Authorization: Bearer <token>` (made on the preferences page); a `read` token may read, a
//! `write` token may also change. Cookies do not count here, so no other site can make a
//! signed-in browser change anything (the API sends no CORS headers: a page elsewhere cannot add
//! the header). Answers are private and never cached.

use axum::{
    Json,
    body::Bytes,
    extract::{FromRequestParts, Path, Query, State},
    http::{HeaderValue, header, request::Parts},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use paperboy_app::{Account, ApiToken, TokenScope};
use paperboy_domain::{AccountId, ArxivId, Category, Preferences};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::{ApiError, AppState, api::PaperSummary, error::Failure};

/// The account and token of a request, from its `Authorization: Bearer` header.
#[derive(Clone)]
pub struct Bearer {
    /// Whose token it is.
    pub account: Account,
    /// The token.
    pub token: ApiToken,
}

impl Bearer {
    /// The live token a request carries: `None` without one, [`Failure::Unauthorized`] for one
    /// that is revoked or made up. The personal API and `/mcp` both look tokens up here.
    pub(crate) async fn of(state: &AppState, parts: &Parts) -> Result<Option<Bearer>, Failure> {
        let Some(token) = bearer_token(parts).map(str::to_owned) else { return Ok(None) };
        let found = state.blocking(move |library| library.api_token_account(&token, Utc::now())).await??;
        match found {
            Some((account, token)) => Ok(Some(Bearer { account, token })),
            None => Err(Failure::Unauthorized { presented: true }),
        }
    }

    /// Refuses a change asked for with a read-only token.
    fn may_write(&self) -> Result<(), ApiError> {
        match self.token.scope {
            TokenScope::Write => Ok(()),
            TokenScope::Read => Err(ApiError(Failure::ReadOnlyToken)),
        }
    }
}

/// The token in an `Authorization` header: `Bearer <token>` (the scheme in any case, RFC 7235).
fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl FromRequestParts<AppState> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Bearer::of(state, parts).await?.ok_or(ApiError(Failure::Unauthorized { presented: false }))
    }
}

/// A private answer: for this token's holder only, never stored by a cache.
fn private(value: impl Serialize) -> Response {
    let mut response = Json(value).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    headers.insert(header::VARY, HeaderValue::from_static("Authorization"));
    response
}

/// A JSON request body; what is wrong with one is a 400 that says so.
fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| ApiError(Failure::Body(e.to_string())))
}

fn paper_id(text: &str) -> Result<ArxivId, ApiError> {
    ArxivId::parse_lenient(text).map_err(|_| ApiError(Failure::PaperId(text.to_owned())))
}

#[derive(Serialize)]
struct TokenOut<'a> {
    id: &'a str,
    name: &'a str,
    scope: TokenScope,
    created_at: DateTime<Utc>,
}

#[derive(Serialize)]
struct MeResponse<'a> {
    email: &'a str,
    status: paperboy_app::AccountStatus,
    token: TokenOut<'a>,
}

/// `GET /api/v1/me`: whose token this is and what it may do.
pub async fn me(bearer: Bearer) -> Response {
    let Bearer { account, token } = &bearer;
    private(MeResponse {
        email: account.email.as_str(),
        status: account.status,
        token: TokenOut { id: &token.id, name: &token.name, scope: token.scope, created_at: token.created_at },
    })
}

#[derive(Serialize)]
pub(crate) struct LibraryItem {
    pub(crate) id: String,
    tags: Vec<String>,
    saved_at: DateTime<Utc>,
    /// The paper's metadata (null when the store no longer has the paper).
    paper: Option<PaperSummary>,
}

#[derive(Serialize)]
pub(crate) struct LibraryResponse {
    total: usize,
    results: Vec<LibraryItem>,
}

/// An account's library as the API shows it (the MCP server's too).
pub(crate) async fn library_items(state: &AppState, account: AccountId) -> Result<LibraryResponse, ApiError> {
    let entries = state.blocking(move |library| library.library_entries(account)).await??;
    let base = &state.config.base_url;
    let results = entries
        .into_iter()
        .map(|entry| LibraryItem {
            id: entry.saved.paper_id.to_string(),
            tags: entry.saved.tags,
            saved_at: entry.saved.saved_at,
            paper: entry.paper.as_ref().map(|p| PaperSummary::new(p, base)),
        })
        .collect::<Vec<_>>();
    Ok(LibraryResponse { total: results.len(), results })
}

/// `GET /api/v1/me/library`: the saved papers, newest first.
pub async fn library(State(state): State<AppState>, bearer: Bearer) -> Result<Response, ApiError> {
    Ok(private(library_items(&state, bearer.account.id).await?))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SaveBody {
    #[serde(default)]
    tags: Vec<String>,
}

/// `PUT /api/v1/me/library/{id}`: saves a paper (body, optional: `{"tags": [...]}`, which
/// replace its tags); answers the saved entry.
pub async fn save(
    State(state): State<AppState>,
    bearer: Bearer,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    bearer.may_write()?;
    let SaveBody { tags } = if bytes.iter().all(u8::is_ascii_whitespace) { SaveBody::default() } else { body(&bytes)? };
    Ok(private(save_answer(&state, bearer.account.id, &id, tags).await?))
}

/// Saves a paper with these tags; answers the saved entry (the MCP server's `library_save` too).
pub(crate) async fn save_answer(
    state: &AppState,
    account: AccountId,
    id: &str,
    tags: Vec<String>,
) -> Result<Option<LibraryItem>, ApiError> {
    let id = paper_id(id)?.base();
    state.blocking(move |library| library.save_paper(account, id, &tags, Utc::now())).await??;
    Ok(library_items(state, account).await?.results.into_iter().find(|item| item.id == id.to_string()))
}

/// Removes a paper from the library (the MCP server's `library_remove` too).
pub(crate) async fn unsave_answer(state: &AppState, account: AccountId, id: &str) -> Result<Changed, ApiError> {
    let id = paper_id(id)?.base();
    let changed = state.blocking(move |library| library.unsave_paper(account, id)).await??;
    Ok(Changed { id: id.to_string(), changed })
}

#[derive(Serialize)]
pub(crate) struct Changed {
    id: String,
    changed: bool,
}

/// `DELETE /api/v1/me/library/{id}`: removes a paper from the library (`changed`: whether it
/// was there).
pub async fn unsave(
    State(state): State<AppState>,
    bearer: Bearer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    bearer.may_write()?;
    Ok(private(unsave_answer(&state, bearer.account.id, &id).await?))
}

#[derive(Serialize)]
struct Upvote {
    id: String,
    upvoted_at: DateTime<Utc>,
}

#[derive(Serialize)]
struct UpvotesResponse {
    total: usize,
    results: Vec<Upvote>,
}

/// `GET /api/v1/me/upvotes`: the upvoted papers, newest first.
pub async fn upvotes(State(state): State<AppState>, bearer: Bearer) -> Result<Response, ApiError> {
    let account = bearer.account.id;
    let upvotes = state.blocking(move |library| library.upvotes_of(account)).await??;
    let results: Vec<Upvote> =
        upvotes.into_iter().map(|(id, upvoted_at)| Upvote { id: id.to_string(), upvoted_at }).collect();
    Ok(private(UpvotesResponse { total: results.len(), results }))
}

async fn set_upvote(state: AppState, bearer: Bearer, id: &str, upvoted: bool) -> Result<Response, ApiError> {
    bearer.may_write()?;
    let id = paper_id(id)?.base();
    let account = bearer.account.id;
    let changed = state.blocking(move |library| library.set_upvote(account, id, upvoted, Utc::now())).await??;
    Ok(private(Changed { id: id.to_string(), changed }))
}

/// `PUT /api/v1/me/upvotes/{id}`: upvotes a paper, once (`changed`: whether it is new).
pub async fn upvote(
    State(state): State<AppState>,
    bearer: Bearer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    set_upvote(state, bearer, &id, true).await
}

/// `DELETE /api/v1/me/upvotes/{id}`: takes an upvote back.
pub async fn remove_upvote(
    State(state): State<AppState>,
    bearer: Bearer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    set_upvote(state, bearer, &id, false).await
}

/// Changes the account's preferences with `change` and saves them (validated as on the
/// preferences page: a saved search that does not parse is refused, duplicates go).
async fn change_preferences(
    state: &AppState,
    bearer: &Bearer,
    change: impl FnOnce(&mut Preferences) + Send + 'static,
) -> Result<Preferences, ApiError> {
    bearer.may_write()?;
    let account = bearer.account.id;
    // Changed from what is stored now, not from what was read with the token, so a save on the
    // preferences page meanwhile is not lost.
    Ok(state
        .blocking(move |library| -> Result<Preferences, paperboy_app::Error> {
            let mut preferences = library
                .subscriber(&paperboy_app::accounts::Subscriber::Id(account))?
                .ok_or_else(|| paperboy_app::Error::AccountNotFound(account.to_string()))?
                .preferences;
            change(&mut preferences);
            library.update_preferences(account, preferences)
        })
        .await??)
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Searches {
    searches: Vec<String>,
}

/// `GET /api/v1/me/searches`: the saved searches digests run.
pub async fn searches(bearer: Bearer) -> Response {
    private(Searches { searches: bearer.account.preferences.searches })
}

/// `PUT /api/v1/me/searches`: replaces the saved searches (`{"searches": [...]}`).
pub async fn replace_searches(
    State(state): State<AppState>,
    bearer: Bearer,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    bearer.may_write()?;
    let Searches { searches } = body(&bytes)?;
    let saved = change_preferences(&state, &bearer, move |p| p.searches = searches).await?;
    Ok(private(Searches { searches: saved.searches }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OneSearch {
    query: String,
}

/// `POST /api/v1/me/searches`: adds one saved search (`{"query": "..."}`); one already saved
/// is not added twice.
pub async fn add_search(State(state): State<AppState>, bearer: Bearer, bytes: Bytes) -> Result<Response, ApiError> {
    bearer.may_write()?;
    let OneSearch { query } = body(&bytes)?;
    let saved = change_preferences(&state, &bearer, move |p| p.searches.push(query)).await?;
    Ok(private(Searches { searches: saved.searches }))
}

#[derive(Deserialize)]
pub struct SearchToRemove {
    #[serde(default)]
    query: String,
}

/// `DELETE /api/v1/me/searches?query=...`: removes one saved search (as saved, spaces
/// collapsed).
pub async fn remove_search(
    State(state): State<AppState>,
    bearer: Bearer,
    Query(SearchToRemove { query }): Query<SearchToRemove>,
) -> Result<Response, ApiError> {
    bearer.may_write()?;
    let query = paperboy_domain::text::collapse_whitespace(&query);
    if query.is_empty() {
        return Err(ApiError(Failure::Param(crate::params::ParamError::QueryRequired)));
    }
    let saved = change_preferences(&state, &bearer, move |p| p.searches.retain(|s| *s != query)).await?;
    Ok(private(Searches { searches: saved.searches }))
}

#[derive(Serialize)]
struct Follows {
    categories: Vec<String>,
    authors: Vec<String>,
}

impl Follows {
    fn of(preferences: &Preferences) -> Follows {
        Follows {
            categories: preferences.categories.iter().map(|c| c.to_string()).collect(),
            authors: preferences.authors.clone(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FollowsBody {
    categories: Vec<String>,
    authors: Vec<String>,
}

/// `GET /api/v1/me/follows`: the followed categories and authors.
pub async fn follows(bearer: Bearer) -> Response {
    private(Follows::of(&bearer.account.preferences))
}

/// `PUT /api/v1/me/follows`: replaces the followed categories and authors.
pub async fn replace_follows(
    State(state): State<AppState>,
    bearer: Bearer,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    bearer.may_write()?;
    let FollowsBody { categories, authors } = body(&bytes)?;
    let mut parsed = Vec::with_capacity(categories.len());
    for text in &categories {
        let category = Category::parse(text.trim()).map_err(|e| {
            ApiError(Failure::App(paperboy_app::Error::Preferences(paperboy_domain::PreferencesError(e.to_string()))))
        })?;
        if !parsed.contains(&category) {
            parsed.push(category);
        }
    }
    let saved = change_preferences(&state, &bearer, move |p| {
        p.categories = parsed;
        p.authors = authors;
    })
    .await?;
    Ok(private(Follows::of(&saved)))
}
