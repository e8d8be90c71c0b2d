//! A polite HTTP client for arXiv's services: one request per interval, `503 Retry-After` obeyed,
//! transient failures retried, bodies capped.

use std::{
    sync::Mutex,
    thread,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};

use crate::Error;

/// How politely to talk to a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Politeness {
    /// The least time between the starts of two requests (arXiv asks for 3 s).
    pub min_interval: Duration,
    /// How many times a `503`, a `429`, a timeout or a dropped connection is retried.
    pub max_retries: u32,
    /// The longest `Retry-After` wait accepted; a longer one fails the request.
    pub max_retry_after: Duration,
    /// The time allowed for one whole request.
    pub timeout: Duration,
}

impl Politeness {
    /// What arXiv asks of harvesters: one request every 3 seconds.
    pub const ARXIV: Politeness = Politeness {
        min_interval: Duration::from_secs(3),
        max_retries: 5,
        max_retry_after: Duration::from_secs(600),
        timeout: Duration::from_secs(120),
    };
}

impl Default for Politeness {
    fn default() -> Self {
        Politeness::ARXIV
    }
}

/// The largest response body read (arXiv's OAI pages are a few MB).
const MAX_BODY_BYTES: u64 = 64 * 1024 * 1024;

pub(crate) struct HttpClient {
    agent: ureq::Agent,
    politeness: Politeness,
    last_request: Mutex<Option<Instant>>,
}

impl HttpClient {
    pub(crate) fn new(politeness: Politeness) -> Result<HttpClient, Error> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(politeness.timeout))
            .http_status_as_error(false)
            .user_agent(concat!("paperboy/", env!("CARGO_PKG_VERSION"), " (self-hosted paper discovery)"))
            .build()
            .into();
        Ok(HttpClient { agent, politeness, last_request: Mutex::new(None) })
    }

    pub(crate) fn politeness(&self) -> Politeness {
        self.politeness
    }

    /// GETs `url` with the query parameters, waiting out the interval and retrying what is
    /// transient. Returns the body of a 2xx response.
    pub(crate) fn get(&self, url: &str, params: &[(&str, String)]) -> Result<Vec<u8>, Error> {
        let mut attempt = 0;
        loop {
            self.wait_turn();
            let request = self.agent.get(url).query_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
            let outcome = request.call();
            let retry_in = match outcome {
                Ok(mut response) => {
                    let status = response.status().as_u16();
                    if (200..300).contains(&status) {
                        return response.body_mut().with_config().limit(MAX_BODY_BYTES).read_to_vec().map_err(|err| {
                            Error::Http { url: url.to_owned(), detail: format!("reading the body: {err}") }
                        });
                    }
                    let retry_after =
                        response.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
                    let body = response.body_mut().with_config().limit(256 * 1024).read_to_string().unwrap_or_default();
                    match status {
                        503 | 429 | 502 | 504 => {
                            let wait = retry_after.unwrap_or(self.politeness.min_interval * 2u32.pow(attempt.min(6)));
                            if wait > self.politeness.max_retry_after {
                                return Err(Error::Http {
                                    url: url.to_owned(),
                                    detail: format!(
                                        "HTTP {status}, retry after {} s (longer than allowed)",
                                        wait.as_secs()
                                    ),
                                });
                            }
                            tracing::warn!(status, wait_s = wait.as_secs_f64(), "server asked to retry later");
                            Some((wait, format!("HTTP {status}")))
                        }
                        _ => {
                            return Err(Error::Status { url: url.to_owned(), status, body });
                        }
                    }
                }
                Err(err) => {
                    let transient = matches!(
                        err,
                        ureq::Error::Timeout(_)
                            | ureq::Error::Io(_)
                            | ureq::Error::ConnectionFailed
                            | ureq::Error::HostNotFound
                    );
                    if !transient {
                        return Err(Error::Http { url: url.to_owned(), detail: err.to_string() });
                    }
                    tracing::warn!(error = %err, "request failed; retrying");
                    Some((self.politeness.min_interval * 2u32.pow(attempt.min(6)), err.to_string()))
                }
            };
            let (wait, detail) = retry_in.expect("every other branch returned");
            attempt += 1;
            if attempt > self.politeness.max_retries {
                return Err(Error::Http {
                    url: url.to_owned(),
                    detail: format!("{detail}; gave up after {} retries", self.politeness.max_retries),
                });
            }
            thread::sleep(wait);
        }
    }

    /// Sleeps until `min_interval` has passed since the previous request started.
    fn wait_turn(&self) {
        let mut last = self.last_request.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(previous) = *last {
            let elapsed = previous.elapsed();
            if elapsed < self.politeness.min_interval {
                thread::sleep(self.politeness.min_interval - elapsed);
            }
        }
        *last = Some(Instant::now());
    }
}

/// `Retry-After` is either seconds or an HTTP date.
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = DateTime::parse_from_rfc2822(value).ok()?.with_timezone(&Utc);
    Some((when - Utc::now()).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(parse_retry_after("5"), Some(Duration::from_secs(5)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon"), None);
    }
}
