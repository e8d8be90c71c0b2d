//! paperboy's web app: server-rendered pages, the JSON API under `/api/v1/` (with its OpenAPI
//! document), and Atom / RSS feeds. The only crate that knows HTTP; every request is answered by
//! `paperboy_app`'s use cases, run on the blocking pool (SQLite, tantivy and the encoder are
//! synchronous).
//!
//! Untrusted text (titles, abstracts, authors) is escaped wherever it is written: `maud` escapes
//! every interpolation, math goes through [`math`]'s allow-listed MathML, feeds through
//! [`feeds::xml_escape`]. No page has inline script; the Content-Security-Policy forbids it.

// The OpenAPI document is one `json!` literal, deeper than the default macro recursion limit.
#![recursion_limit = "512"]

mod account;
mod api;
mod cache;
mod client;
mod error;
mod feeds;
pub mod math;
pub mod mcp;
mod me;
mod openapi;
mod pages;
mod params;
mod render;
mod server;

use std::{sync::Arc, time::Instant};

use axum::{
    Router,
    body::Body,
    extract::Request,
    extract::{DefaultBodyLimit, State},
    http::{HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post, put},
};
use paperboy_app::Library;
use tower_http::compression::{
    CompressionLayer,
    predicate::{DefaultPredicate, Predicate as _},
};

pub use client::TrustedProxies;
pub use error::{ApiError, PageError};
pub use openapi::spec as openapi_spec;
pub use server::{HEADER_READ_TIMEOUT, serve};

/// Settings of the web app.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// The public URL the site is reached at (links in feeds, Open Graph tags, e-mails), without a
    /// trailing slash.
    pub base_url: String,
    /// The site's name.
    pub site_name: String,
    /// Requests doing library work (search, store) at once; the rest wait in arrival order.
    pub workers: usize,
    /// Searches by meaning at once, apart from `workers`: they spend part of their time parked
    /// while a shared vector scan runs, and the more of them wait, the more one scan serves.
    pub semantic_workers: usize,
    /// Proxies whose `X-Forwarded-For` names the client (none by default: the socket's peer is).
    pub trusted_proxies: TrustedProxies,
    /// Whether `/metrics` is served by the site (off when the operator serves it on an address of
    /// its own).
    pub serve_metrics: bool,
}

impl WebConfig {
    /// Whether the site is served over TLS (its public URL is `https://`).
    pub fn is_https(&self) -> bool {
        self.base_url.starts_with("https://")
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            base_url: "http://127.0.0.1:8080".into(),
            site_name: "paperboy".into(),
            // Four per core: a request's work is mostly CPU, with short waits on the store.
            workers: 4 * cores(),
            semantic_workers: 8 * cores(),
            trusted_proxies: TrustedProxies::default(),
            serve_metrics: true,
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The library.
    pub library: Arc<Library>,
    /// Settings.
    pub config: Arc<WebConfig>,
    /// Answers for anonymous readers, reused for a few seconds.
    pub cache: Arc<cache::PageCache>,
    /// Library work running at once ([`WebConfig::workers`]), so that under load requests queue in
    /// arrival order instead of time-slicing each other, which stretches every request's latency.
    workers: Arc<tokio::sync::Semaphore>,
    /// Searches by meaning running at once ([`WebConfig::semantic_workers`]).
    semantic_workers: Arc<tokio::sync::Semaphore>,
    /// Health checks and metrics scrapes at once: they skip the queue of library work, so a flood
    /// of them must not become a flood of blocking tasks.
    operator_workers: Arc<tokio::sync::Semaphore>,
}

/// Health checks and scrapes running at once at most; more wait.
const OPERATOR_WORKERS: usize = 2;

impl AppState {
    /// The state of a site serving `library`.
    pub fn new(library: Arc<Library>, config: WebConfig) -> AppState {
        let workers = Arc::new(tokio::sync::Semaphore::new(config.workers.max(1)));
        let semantic_workers = Arc::new(tokio::sync::Semaphore::new(config.semantic_workers.max(1)));
        let cache = Arc::new(cache::PageCache::default());
        let operator_workers = Arc::new(tokio::sync::Semaphore::new(OPERATOR_WORKERS));
        AppState { library, config: Arc::new(config), cache, workers, semantic_workers, operator_workers }
    }

    /// Runs library work on the blocking pool.
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Library) -> T + Send + 'static,
    ) -> Result<T, tokio::task::JoinError> {
        self.run_on(&self.workers, work).await
    }

    /// Runs a search on the blocking pool, counted against the workers its mode needs.
    pub(crate) async fn searching<T: Send + 'static>(
        &self,
        params: &paperboy_app::SearchParams,
        work: impl FnOnce(&Library) -> T + Send + 'static,
    ) -> Result<T, tokio::task::JoinError> {
        match self.library.searches_by_meaning(params) {
            true => self.run_on(&self.semantic_workers, work).await,
            false => self.run_on(&self.workers, work).await,
        }
    }

    async fn run_on<T: Send + 'static>(
        &self,
        workers: &Arc<tokio::sync::Semaphore>,
        work: impl FnOnce(&Library) -> T + Send + 'static,
    ) -> Result<T, tokio::task::JoinError> {
        let library = self.library.clone();
        // The semaphores are never closed, so acquiring only waits. The permit goes with the work:
        // a client that disconnects drops this future, not the work already running.
        let permit = workers.clone().acquire_owned().await.expect("the worker semaphores are never closed");
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work(&library)
        })
        .await
    }

    /// Runs library work on the blocking pool without waiting behind searches: for the operator's
    /// health and metrics endpoints, which must answer even when searches queue. They have a small
    /// pool of their own.
    async fn unqueued<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Library) -> T + Send + 'static,
    ) -> Result<T, tokio::task::JoinError> {
        self.run_on(&self.operator_workers, work).await
    }
}

/// The largest form accepted, in bytes.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// The longest request target accepted (path and query), in bytes.
pub(crate) const MAX_URI_BYTES: usize = 4096;

/// The longest a request may take, its body included, before it is answered 503.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Decodes a query string as every page, the API and the feeds do (axum's `Query` into the
/// parameters as text, then each parameter parsed); `Err` is the message a person would see. For
/// the fuzz target `params` (`paperboy_fuzz`): outside input never gets further than this without a
/// clear refusal.
#[doc(hidden)]
pub fn decode_query_string(query: &str) -> Result<(), String> {
    let Ok(uri) = axum::http::Uri::builder().path_and_query(format!("/search?{query}")).build() else {
        // The HTTP layer refuses such a request line before any handler sees it.
        return Ok(());
    };
    let axum::extract::Query(raw) =
        axum::extract::Query::<params::RawParams>::try_from_uri(&uri).map_err(|e| e.body_text())?;
    params::search(&raw, params::PAGE_SIZE).map_err(|e| e.to_string())?;
    params::search(&raw, params::MAX_PER_PAGE).map_err(|e| e.to_string())?;
    params::page(&raw).map_err(|e| e.to_string())?;
    params::category(&raw.category).map_err(|e| e.to_string())?;
    params::citation_format(&raw.format).map_err(|e| e.to_string())?;
    params::date("date", &raw.date).map_err(|e| e.to_string())?;
    Ok(())
}

/// Every route.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(pages::home))
        .route("/search", get(pages::search))
        .route("/search/export", get(pages::search_export))
        .route("/papers/{*id}", get(pages::paper))
        .route("/daily", get(pages::daily_latest))
        .route("/daily/{date}", get(pages::daily))
        .route("/trending", get(pages::trending))
        .route("/categories/{category}", get(pages::category))
        .route("/feeds/daily.atom", get(feeds::daily_atom))
        .route("/feeds/daily.rss", get(feeds::daily_rss))
        .route("/feeds/trending.atom", get(feeds::trending_atom))
        .route("/feeds/trending.rss", get(feeds::trending_rss))
        .route("/feeds/search.atom", get(feeds::search_atom))
        .route("/feeds/search.rss", get(feeds::search_rss))
        .route("/feeds/categories/{file}", get(feeds::category))
        .route("/feeds/digest/{file}", get(feeds::digest))
        .route("/api/v1/search", get(api::search))
        .route("/api/v1/papers/{*id}", get(api::paper))
        .route("/api/v1/daily", get(api::daily_latest))
        .route("/api/v1/daily/{date}", get(api::daily))
        .route("/api/v1/trending", get(api::trending))
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/api/v1/me", get(me::me))
        .route("/api/v1/me/library", get(me::library))
        .route("/api/v1/me/library/{*id}", put(me::save).delete(me::unsave))
        .route("/api/v1/me/upvotes", get(me::upvotes))
        .route("/api/v1/me/upvotes/{*id}", put(me::upvote).delete(me::remove_upvote))
        .route(
            "/api/v1/me/searches",
            get(me::searches).put(me::replace_searches).post(me::add_search).delete(me::remove_search),
        )
        .route("/api/v1/me/follows", get(me::follows).put(me::replace_follows))
        .nest_service(
            "/mcp",
            tower::ServiceBuilder::new()
                .layer(middleware::from_fn_with_state(state.clone(), mcp::refuse_dead_tokens))
                .service(mcp::http_service(state.clone())),
        )
        .route("/api/{*rest}", get(api::not_found))
        .route("/static/style.css", get(|| asset("text/css; charset=utf-8", include_str!("assets/style.css"))))
        .route("/static/app.js", get(|| asset("text/javascript; charset=utf-8", include_str!("assets/app.js"))))
        .route("/static/theme.js", get(|| asset("text/javascript; charset=utf-8", include_str!("assets/theme.js"))))
        .route("/favicon.svg", get(|| asset("image/svg+xml", include_str!("assets/favicon.svg"))))
        .route("/favicon.ico", get(|| asset("image/svg+xml", include_str!("assets/favicon.svg"))))
        .route("/subscribe", post(account::subscribe))
        .route("/confirm", get(account::confirm_page).post(account::confirm))
        .route("/signin", get(account::sign_in_form).post(account::sign_in))
        .route("/signin/verify", get(account::verify_page).post(account::verify))
        .route("/signout", post(account::sign_out))
        .route("/manage", get(account::manage_page).post(account::manage))
        .route("/preferences", get(account::preferences_page).post(account::save_preferences))
        .route("/preferences/resubscribe", post(account::resubscribe))
        .route("/preferences/feed", post(account::make_feed))
        .route("/preferences/feed/revoke", post(account::revoke_feed))
        .route("/preferences/tokens", post(account::make_token))
        .route("/preferences/tokens/revoke", post(account::revoke_token))
        .route("/unsubscribe", get(account::unsubscribe_page).post(account::unsubscribe))
        .route("/library", get(account::library_page))
        .route("/library/export", get(account::export_library))
        .route("/library/save", post(account::save))
        .route("/library/remove", post(account::remove))
        .route("/upvote", post(account::upvote))
        .route("/upvote/remove", post(account::remove_upvote))
        .route("/not-interested", get(account::not_interested_page).post(account::not_interested))
        .route("/more-like-this", post(account::more_like_this))
        .route("/feedback/remove", post(account::remove_feedback))
        .route("/account/export", get(account::export))
        .route("/account/delete", post(account::delete))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(pages::not_found)
        .layer(middleware::from_fn_with_state(state.clone(), micro_cache))
        .layer(middleware::from_fn_with_state(state.clone(), account::session_layer))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        // Outermost: answers go out compressed when the client takes gzip or Brotli (Brotli at
        // level 4, tower-http's default for on-the-fly compression); the page cache hands over
        // its pages already compressed. Images and bodies under 32 bytes are left alone, and so
        // are `private` answers: a signed-in reader's pages, whose anti-forgery token beside
        // text from the URL would otherwise leak through the compressed size (BREACH).
        .layer(CompressionLayer::new().compress_when(DefaultPredicate::new().and(not_private)))
        .with_state(state)
}

/// `/metrics` and `/healthz` alone, for an address of the operator's (`serve --metrics-addr`).
pub fn operator_router(state: AppState) -> Router {
    let state = AppState { config: Arc::new(WebConfig { serve_metrics: true, ..(*state.config).clone() }), ..state };
    Router::new().route("/metrics", get(metrics)).route("/healthz", get(healthz)).with_state(state)
}

async fn micro_cache(State(state): State<AppState>, request: Request, next: Next) -> Response {
    state.cache.serve(request, next).await
}

/// 200 when the store answers, 503 otherwise (for load balancers and uptime checks).
async fn healthz(State(state): State<AppState>) -> Response {
    match state.unqueued(|library| library.health()).await {
        Ok(Ok(())) => ([(header::CACHE_CONTROL, "no-store")], "ok\n").into_response(),
        Ok(Err(err)) => {
            tracing::error!(error = %err, "health check failed");
            (StatusCode::SERVICE_UNAVAILABLE, [(header::CACHE_CONTROL, "no-store")], "unavailable\n").into_response()
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable\n").into_response(),
    }
}

/// Prometheus metrics (text format 0.0.4); not found when they are served on an address of their
/// own.
async fn metrics(State(state): State<AppState>) -> Response {
    if !state.config.serve_metrics {
        return pages::not_found().await.into_response();
    }
    match state.unqueued(|library| library.metrics_text()).await {
        Ok(Ok(text)) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8"), (header::CACHE_CONTROL, "no-store")],
            text,
        )
            .into_response(),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "metrics unavailable\n").into_response(),
    }
}

/// Whether a response may be compressed: not when it is a `private` page (see [`router`]); a
/// private feed reflects nothing from the request and is compressed.
fn not_private(
    _: StatusCode,
    _: axum::http::Version,
    headers: &axum::http::HeaderMap,
    _: &axum::http::Extensions,
) -> bool {
    let text = |name| headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok()).unwrap_or("");
    !(text(header::CACHE_CONTROL).contains("private") && text(header::CONTENT_TYPE).starts_with("text/html"))
}

async fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=86400")], body).into_response()
}

/// Security headers on every response (HSTS too on a site served over TLS), oversized request
/// targets refused, requests over [`REQUEST_TIMEOUT`] answered 503, panics turned into 500s that
/// say nothing internal, and one log line per request.
async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    // What the log may say of the path (a private feed's secret is not).
    let logged = loggable(&path).into_owned();
    let is_api = path.starts_with("/api/") || path == "/mcp" || path.starts_with("/mcp/");
    let uri_len = request.uri().path_and_query().map_or(0, |p| p.as_str().len());
    let failure = |failure: error::Failure| {
        if is_api { ApiError(failure).into_response() } else { PageError(failure).into_response() }
    };
    let mut response = if uri_len > MAX_URI_BYTES {
        failure(error::Failure::UriTooLong(uri_len))
    } else {
        // A panic in a handler is a bug: answer 500 and keep serving.
        let handler = tokio::spawn(next.run(request));
        let abort = handler.abort_handle();
        match tokio::time::timeout(REQUEST_TIMEOUT, handler).await {
            Ok(Ok(response)) => response,
            Ok(Err(err)) => {
                tracing::error!(path = %logged, error = %err, "a request handler panicked");
                failure(error::Failure::Crashed)
            }
            Err(_) => {
                abort.abort();
                tracing::warn!(path = %logged, "a request took too long");
                failure(error::Failure::Timeout)
            }
        }
    };
    // axum's own answers to a method a route does not take and to a body over the limit are
    // plain text or empty; an API client is promised `{"code", "message"}`.
    let json =
        response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_api && !json {
        let replaced = match response.status() {
            StatusCode::METHOD_NOT_ALLOWED => Some(error::Failure::MethodNotAllowed),
            StatusCode::PAYLOAD_TOO_LARGE => Some(error::Failure::BodyTooLarge),
            _ => None,
        };
        if let Some(replaced) = replaced {
            let allow = response.headers().get(header::ALLOW).cloned();
            response = failure(replaced);
            if let Some(allow) = allow {
                response.headers_mut().insert(header::ALLOW, allow);
            }
        }
    }
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
             form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // A page that asks for less (a private feed: none) keeps its own.
    headers.entry(header::REFERRER_POLICY).or_insert(HeaderValue::from_static("strict-origin-when-cross-origin"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if state.config.is_https() {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    }
    tracing::info!(%method, path = %logged, status = response.status().as_u16(), ms = started.elapsed().as_secs_f64() * 1e3, "request");
    response
}

/// A path as the request log may show it: a private feed's secret is replaced by `***`.
fn loggable(path: &str) -> std::borrow::Cow<'_, str> {
    match path.strip_prefix("/feeds/digest/") {
        Some(file) => {
            let extension = file.rsplit_once('.').map_or("", |(_, e)| e);
            format!("/feeds/digest/***.{extension}").into()
        }
        None => path.into(),
    }
}

/// A response that is never cached (errors).
pub(crate) fn no_store(mut response: Response<Body>) -> Response<Body> {
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Caching for pages and API answers: a minute, since new papers arrive daily.
pub(crate) const CACHE_SHORT: (header::HeaderName, &str) = (header::CACHE_CONTROL, "public, max-age=60");

#[cfg(test)]
mod tests {
    #[test]
    fn a_private_feed_secret_never_reaches_the_log() {
        assert_eq!(super::loggable("/feeds/digest/s3cr3tV4lue.atom"), "/feeds/digest/***.atom");
        assert_eq!(super::loggable("/feeds/digest/s3cr3t"), "/feeds/digest/***.");
        assert_eq!(super::loggable("/papers/2401.01234"), "/papers/2401.01234");
    }
}
