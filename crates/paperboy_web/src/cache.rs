//! A micro-cache for what anonymous readers see: pages and API answers that are the same for
//! everyone (the home page, papers, days, trending, categories, feeds) are kept for a few seconds.
//! A popular paper page then costs one render per ten seconds, not one per request. Searches are
//! not cached (each query is its own answer), nor is anything for a signed-in reader (the session
//! layer, which runs first, says who is signed in: a made-up cookie is an anonymous reader), nor
//! any response that sets a cookie or is not a 200.
//!
//! Bounded against abuse: an entry is keyed by the path and only the query parameters some page
//! reads ([`PARAMETERS`]), so `?x=1`, `?x=2` … are one entry, and the entries' bodies together stay
//! under [`MAX_BYTES`] (the oldest go first).
//!
//! An entry also keeps its body compressed, once per encoding a client asked for (Brotli, gzip),
//! so that a cached page is not compressed again for every reader: compressing on the way out
//! costs more than answering from the cache (docs/BENCHMARKS.md, "Pages").

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

use crate::render::Viewer;

/// How long an answer is reused.
pub const TTL: Duration = Duration::from_secs(10);
/// The cached bodies' total size at most.
const MAX_BYTES: usize = 64 * 1024 * 1024;
/// Larger bodies are not kept.
const MAX_BODY: usize = 1024 * 1024;
/// Every query parameter a cacheable page or API answer reads (others change nothing in the answer,
/// so they are left out of the key): the fields of [`crate::params::RawParams`].
const PARAMETERS: &[&str] = crate::params::NAMES;

struct Entry {
    at: Instant,
    headers: HeaderMap,
    body: Bytes,
    /// The body compressed, per encoding asked for so far.
    compressed: Vec<(Encoding, Bytes)>,
}

impl Entry {
    fn size(&self, key: &str) -> usize {
        key.len() + self.body.len() + self.compressed.iter().map(|(_, b)| b.len()).sum::<usize>()
    }
}

/// A content coding the cache compresses to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Brotli,
    Gzip,
}

impl Encoding {
    fn name(self) -> &'static str {
        match self {
            Encoding::Brotli => "br",
            Encoding::Gzip => "gzip",
        }
    }

    /// What the client's `Accept-Encoding` takes: the coding with the higher `q` (1 when not
    /// given), Brotli on a tie; `q=0` (or a `q` that is not a number) refuses a coding.
    fn preferred(headers: &HeaderMap) -> Option<Encoding> {
        let (mut brotli, mut gzip) = (0.0f32, 0.0f32);
        for value in headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()) {
            for item in value.split(',') {
                let mut parts = item.split(';');
                let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
                let mut q = 1.0f32;
                for parameter in parts {
                    if let Some((key, value)) = parameter.split_once('=')
                        && key.trim().eq_ignore_ascii_case("q")
                    {
                        q = value.trim().parse::<f32>().ok().filter(|q| q.is_finite()).unwrap_or(0.0);
                    }
                }
                match name.as_str() {
                    "br" => brotli = brotli.max(q),
                    "gzip" | "x-gzip" => gzip = gzip.max(q),
                    _ => {}
                }
            }
        }
        match (brotli > 0.0, gzip > 0.0) {
            (true, true) if gzip > brotli => Some(Encoding::Gzip),
            (true, _) => Some(Encoding::Brotli),
            (false, true) => Some(Encoding::Gzip),
            (false, false) => None,
        }
    }

    /// `body` compressed: once per entry and encoding, so Brotli at a higher quality than
    /// on-the-fly compression uses (6, not 4; gzip at its usual 6).
    fn compress(self, body: &[u8]) -> Bytes {
        use std::io::Write as _;
        match self {
            Encoding::Brotli => {
                let params = brotli::enc::BrotliEncoderParams { quality: 6, lgwin: 22, ..Default::default() };
                let mut out = Vec::with_capacity(body.len() / 4);
                brotli::BrotliCompress(&mut &body[..], &mut out, &params).expect("compressing in memory");
                out.into()
            }
            Encoding::Gzip => {
                let mut encoder =
                    flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), flate2::Compression::new(6));
                encoder.write_all(body).expect("compressing in memory");
                encoder.finish().expect("compressing in memory").into()
            }
        }
    }
}

/// The cached answers by request target.
#[derive(Default)]
pub struct PageCache {
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    by_key: HashMap<String, Entry>,
    bytes: usize,
}

impl Entries {
    fn insert(&mut self, key: String, entry: Entry) {
        if let Some(old) = self.by_key.remove(&key) {
            self.bytes -= old.size(&key);
        }
        let size = entry.size(&key);
        if self.bytes + size > MAX_BYTES {
            self.by_key.retain(|_, e| e.at.elapsed() < TTL);
            self.recount();
        }
        if self.bytes + size > MAX_BYTES {
            // Still full of live entries: the older half goes.
            let mut ages: Vec<Instant> = self.by_key.values().map(|e| e.at).collect();
            ages.sort_unstable();
            if let Some(&cut) = ages.get(ages.len() / 2) {
                self.by_key.retain(|_, e| e.at > cut);
            }
            self.recount();
        }
        self.bytes += size;
        self.by_key.insert(key, entry);
    }

    fn recount(&mut self) {
        self.bytes = self.by_key.iter().map(|(k, e)| e.size(k)).sum();
    }

    /// Keeps `body` compressed with `encoding` in the entry made at `at`, if it is still there
    /// and there is room (else the copy is only served).
    fn add_compressed(&mut self, key: &str, at: Instant, encoding: Encoding, body: Bytes) {
        if self.bytes + body.len() > MAX_BYTES {
            return;
        }
        if let Some(entry) = self.by_key.get_mut(key)
            && entry.at == at
            && !entry.compressed.iter().any(|(e, _)| *e == encoding)
        {
            self.bytes += body.len();
            entry.compressed.push((encoding, body));
        }
    }
}

/// The cached answer, compressed when the client takes it (then `compressed` is what went out
/// and must be kept).
fn answer(headers: &HeaderMap, body: Bytes, compressed: Option<(Encoding, Bytes)>) -> Response {
    let mut headers = headers.clone();
    let body = match compressed {
        Some((encoding, compressed)) => {
            headers.insert(header::CONTENT_ENCODING, header::HeaderValue::from_static(encoding.name()));
            headers.remove(header::CONTENT_LENGTH);
            compressed
        }
        None => body,
    };
    headers.append(header::VARY, header::HeaderValue::from_static("accept-encoding"));
    let mut response = Response::new(Body::from(body));
    *response.headers_mut() = headers;
    response
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

/// The path and the parameters that matter, in a fixed order. Names and values are decoded as
/// the handlers decode them (`%64ate` is `date`), and the last of a repeated name wins, as in the
/// handlers' maps: two requests with one key get one answer.
fn cache_key(request: &Request) -> String {
    let mut key = request.uri().path().to_owned();
    let Some(query) = request.uri().query() else { return key };
    let pairs: std::collections::BTreeMap<String, String> = form_urlencoded::parse(query.as_bytes())
        .filter(|(name, _)| PARAMETERS.contains(&name.as_ref()))
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    for (i, (name, value)) in pairs.iter().enumerate() {
        key.push(if i == 0 { '?' } else { '&' });
        key.extend(form_urlencoded::byte_serialize(name.as_bytes()));
        key.push('=');
        key.extend(form_urlencoded::byte_serialize(value.as_bytes()));
    }
    key
}

impl PageCache {
    /// Answers from the cache, or runs the request and keeps what it answered.
    pub async fn serve(&self, request: Request, next: Next) -> Response {
        let signed_in = request.extensions().get::<Option<Viewer>>().is_some_and(Option::is_some);
        if request.method() != Method::GET || !cacheable(request.uri().path()) || signed_in {
            return next.run(request).await;
        }
        let key = cache_key(&request);
        let encoding = Encoding::preferred(request.headers());
        let hit = {
            let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            entries.by_key.get(&key).filter(|entry| entry.at.elapsed() < TTL).map(|entry| {
                let compressed =
                    encoding.and_then(|wanted| entry.compressed.iter().find(|(e, _)| *e == wanted).cloned());
                (entry.at, entry.headers.clone(), entry.body.clone(), compressed)
            })
        };
        if let Some((at, headers, body, compressed)) = hit {
            return match (encoding, compressed) {
                (Some(wanted), None) => {
                    let compressed = wanted.compress(&body);
                    self.entries.lock().unwrap_or_else(|p| p.into_inner()).add_compressed(
                        &key,
                        at,
                        wanted,
                        compressed.clone(),
                    );
                    answer(&headers, body, Some((wanted, compressed)))
                }
                (_, compressed) => answer(&headers, body, compressed),
            };
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
        let compressed = encoding.map(|wanted| (wanted, wanted.compress(&bytes)));
        let entry = Entry {
            at: Instant::now(),
            headers: parts.headers.clone(),
            body: bytes.clone(),
            compressed: compressed.iter().cloned().collect(),
        };
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).insert(key, entry);
        answer(&parts.headers, bytes, compressed)
    }

    /// Entries kept and their bodies' bytes (for tests and metrics).
    pub fn size(&self) -> (usize, usize) {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        (entries.by_key.len(), entries.bytes)
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
            "/feeds/digest/secret.atom",
            "/unsubscribe",
        ] {
            assert!(!cacheable(path), "{path}");
        }
    }

    #[test]
    fn parameters_no_page_reads_do_not_make_new_entries() {
        let key = |uri: &str| cache_key(&Request::builder().uri(uri).body(Body::empty()).unwrap());
        assert_eq!(key("/daily/2026-06-16?x=1"), "/daily/2026-06-16");
        assert_eq!(key("/daily/2026-06-16?x=2&page=2"), "/daily/2026-06-16?page=2");
        assert_eq!(key("/trending?date=2026-06-16&page=2&utm=1"), key("/trending?page=2&date=2026-06-16"));
        // Encoded names are the names the handler reads: never the key of another page.
        assert_eq!(key("/trending?%64ate=2020-01-01"), key("/trending?date=2020-01-01"));
        assert_ne!(key("/daily/2026-06-16?p%61ge=9"), key("/daily/2026-06-16"));
        assert_eq!(key("/daily?page=1&page=2"), key("/daily?page=2"), "the last one wins, as in the handler");
    }

    #[test]
    fn the_cache_stays_within_its_bytes() {
        let mut entries = Entries::default();
        let body = Bytes::from(vec![b'x'; 512 * 1024]);
        for i in 0..1_000 {
            let entry =
                Entry { at: Instant::now(), headers: HeaderMap::new(), body: body.clone(), compressed: Vec::new() };
            entries.insert(format!("/papers/{i}"), entry);
            assert!(entries.bytes <= MAX_BYTES, "{} bytes after {i} entries", entries.bytes);
        }
        // Compressed copies count too, and never push the total over.
        let keys: Vec<(String, Instant)> = entries.by_key.iter().map(|(k, e)| (k.clone(), e.at)).collect();
        for (key, at) in keys {
            entries.add_compressed(&key, at, Encoding::Gzip, body.slice(..256 * 1024));
            assert!(entries.bytes <= MAX_BYTES, "{} bytes with compressed copies", entries.bytes);
        }
        let kept = entries.bytes;
        entries.recount();
        assert_eq!(entries.bytes, kept, "the running count is the real one");
        assert!(entries.bytes <= MAX_BYTES && entries.by_key.len() > 10);
    }

    #[test]
    fn the_client_gets_the_coding_it_takes() {
        let headers = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT_ENCODING, value.parse().unwrap());
            headers
        };
        for (accept, wanted) in [
            ("gzip, deflate, br, zstd", Some(Encoding::Brotli)),
            ("gzip", Some(Encoding::Gzip)),
            ("br;q=0, gzip;q=0.5", Some(Encoding::Gzip)),
            ("br;Q=0, gzip", Some(Encoding::Gzip)),
            ("gzip;q=1, br;q=0.1", Some(Encoding::Gzip)),
            ("br;q=NaN", None),
            ("BR", Some(Encoding::Brotli)),
            ("identity", None),
            ("gzip;q=0", None),
            ("", None),
        ] {
            assert_eq!(Encoding::preferred(&headers(accept)), wanted, "{accept:?}");
        }
        assert_eq!(Encoding::preferred(&HeaderMap::new()), None);
        let body = "paperboy ".repeat(1000);
        let gzipped = Encoding::Gzip.compress(body.as_bytes());
        let mut unzipped = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gzipped[..]), &mut unzipped).unwrap();
        assert_eq!(unzipped, body);
        let brotli = Encoding::Brotli.compress(body.as_bytes());
        let mut unbrotli = Vec::new();
        brotli::BrotliDecompress(&mut &brotli[..], &mut unbrotli).unwrap();
        assert_eq!(unbrotli, body.as_bytes());
    }
}
