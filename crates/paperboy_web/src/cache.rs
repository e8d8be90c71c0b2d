//! A micro-cache for what anonymous readers see: pages and API answers that are the same for
//! everyone (the home page, papers, days, trending, categories, feeds) are kept for a few seconds.
//! A popular paper page then costs one render per ten seconds, not one per request. Searches are
//! not cached (each query is its own answer), nor is anything for a signed-in reader, nor any
//! response that sets a cookie or is not a 200.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use axum::{
    body::{Body, Bytes},
    extract::Request,
    http::{HeaderMap, Method, StatusCode, header},
    middleware::Next,
    response::Response,
};

use crate::account::SESSION_COOKIE;

/// How long an answer is reused.
pub const TTL: Duration = Duration::from_secs(10);
/// Answers kept at most (about 40 KB each: a few hundred MB at worst).
const CAPACITY: usize = 10_000;
/// Larger bodies are not kept.
const MAX_BODY: usize = 512 * 1024;

struct Entry {
    at: Instant,
    headers: HeaderMap,
    body: Bytes,
}

/// The cached answers by request target.
#[derive(Default)]
pub struct PageCache {
    entries: Mutex<HashMap<String, Entry>>,
}

fn cacheable(path: &str) -> bool {
    path == "/"
        || path == "/trending"
        || path == "/daily"
        || ["/papers/", "/daily/", "/categories/", "/feeds/daily", "/feeds/trending", "/feeds/categories/"]
            .iter()
            .any(|prefix| path.starts_with(prefix))
        || ["/api/v1/papers/", "/api/v1/daily", "/api/v1/trending"].iter().any(|prefix| path.starts_with(prefix))
}

fn signed_in(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(';').any(|c| c.trim().strip_prefix(SESSION_COOKIE).is_some_and(|rest| rest.starts_with('='))))
}

impl PageCache {
    /// Answers from the cache, or runs the request and keeps what it answered.
    pub async fn serve(&self, request: Request, next: Next) -> Response {
        if request.method() != Method::GET || !cacheable(request.uri().path()) || signed_in(request.headers()) {
            return next.run(request).await;
        }
        let key = request.uri().to_string();
        if let Some(entry) = self.entries.lock().unwrap_or_else(|p| p.into_inner()).get(&key)
            && entry.at.elapsed() < TTL
        {
            let mut response = Response::new(Body::from(entry.body.clone()));
            *response.headers_mut() = entry.headers.clone();
            return response;
        }
        let response = next.run(request).await;
        if response.status() != StatusCode::OK || response.headers().contains_key(header::SET_COOKIE) {
            return response;
        }
        let (parts, body) = response.into_parts();
        // Our handlers render whole bodies in memory, so collecting one costs nothing new.
        let bytes = match axum::body::to_bytes(body, usize::MAX).await {
            Ok(bytes) => bytes,
            Err(err) => {
                tracing::error!(error = %err, "a response body failed");
                return Response::builder()
                    .status(StatusCode::INTERNAL_SERVER_ERROR)
                    .body(Body::from("internal error"))
                    .expect("a valid response");
            }
        };
        if bytes.len() > MAX_BODY {
            return Response::from_parts(parts, Body::from(bytes));
        }
        {
            let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            if entries.len() >= CAPACITY {
                entries.retain(|_, e| e.at.elapsed() < TTL);
                if entries.len() >= CAPACITY {
                    entries.clear();
                }
            }
            entries.insert(key, Entry { at: Instant::now(), headers: parts.headers.clone(), body: bytes.clone() });
        }
        Response::from_parts(parts, Body::from(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_pages_that_are_the_same_for_everyone_are_cached() {
        for path in [
            "/",
            "/papers/2401.01234",
            "/daily/2026-06-16",
            "/trending",
            "/api/v1/papers/2401.01234",
            "/feeds/daily.atom",
        ] {
            assert!(cacheable(path), "{path}");
        }
        for path in [
            "/search",
            "/api/v1/search",
            "/preferences",
            "/library",
            "/metrics",
            "/healthz",
            "/feeds/search.atom",
            "/unsubscribe",
        ] {
            assert!(!cacheable(path), "{path}");
        }
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, format!("theme=dark; {SESSION_COOKIE}=abc").parse().unwrap());
        assert!(signed_in(&headers));
        headers.insert(header::COOKIE, "theme=dark".parse().unwrap());
        assert!(!signed_in(&headers));
    }
}
