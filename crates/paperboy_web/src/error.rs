//! Errors as clients see them: JSON `{"code", "message"}` for the API, an HTML page for people.
//! [`classify`] is the one table from every failure to its HTTP status and stable code; [`CODES`]
//! lists the codes (the OpenAPI document publishes it). 5xx bodies say nothing internal (the
//! detail is logged).

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use maud::html;
use serde::Serialize;

use crate::{params::ParamError, render};

/// Every error code, its status and what it means.
pub const CODES: &[(&str, u16, &str)] = &[
    ("invalid_query", 400, "the query cannot be run (the message says why)"),
    ("invalid_parameter", 400, "a parameter has a bad value (the message names it)"),
    ("invalid_email", 400, "not an e-mail address"),
    ("invalid_tags", 400, "tags that cannot be saved"),
    ("invalid_body", 400, "the request body is not the JSON the endpoint takes (the message says why)"),
    ("unauthorized", 401, "the endpoint needs a personal API token (Authorization: Bearer), and none valid was sent"),
    ("insufficient_scope", 403, "the API token may only read"),
    ("bad_file", 400, "a file that cannot be used"),
    ("cross_site_form", 403, "a form sent from another site"),
    ("paper_not_found", 404, "no such paper"),
    ("no_vector", 404, "the paper has no vector yet"),
    ("account_not_found", 404, "no such account"),
    ("no_announcements", 404, "nothing announced is stored yet"),
    ("not_found", 404, "no such page or endpoint"),
    ("method_not_allowed", 405, "the endpoint does not take this method (the Allow header lists those it takes)"),
    ("already_subscribed", 409, "the address has an account"),
    ("body_too_large", 413, "the request body is too large"),
    ("uri_too_long", 414, "the request URL is too long"),
    ("invalid_preferences", 422, "preferences that cannot be saved"),
    ("api_token_not_made", 422, "an API token cannot be made (the message says why)"),
    ("undeliverable_address", 422, "mail to the address bounced, so none is sent"),
    ("rate_limited", 429, "too many requests; the message says when to retry"),
    ("internal_error", 500, "something failed on our side; it has been logged"),
    ("semantic_search_unavailable", 503, "search by meaning is off; the message says why"),
    ("mail_unavailable", 503, "the mail server refused us or is unreachable"),
    ("sender_busy", 503, "another process is sending the outbox"),
    ("timeout", 503, "the request took too long"),
];

/// Everything a request can fail with.
#[derive(Debug)]
pub enum Failure {
    /// A use case failed.
    App(paperboy_app::Error),
    /// A parameter is bad.
    Param(ParamError),
    /// A paper id in a path that does not parse: a paper that does not exist.
    PaperId(String),
    /// No page or endpoint here.
    NotFound,
    /// A form sent from another site.
    CrossSite,
    /// No valid API token: none was sent (`presented` false), or the one sent is unknown or revoked.
    Unauthorized {
        /// Whether the request carried a bearer token at all.
        presented: bool,
    },
    /// A change asked for with a read-only API token.
    ReadOnlyToken,
    /// A request body that is not what the endpoint takes.
    Body(String),
    /// The request target is too long.
    UriTooLong(usize),
    /// The endpoint does not take the request's method.
    MethodNotAllowed,
    /// The request body is over the limit.
    BodyTooLarge,
    /// The request took too long.
    Timeout,
    /// A blocking task failed (a panic).
    Crashed,
}

impl From<paperboy_app::Error> for Failure {
    fn from(err: paperboy_app::Error) -> Failure {
        Failure::App(err)
    }
}

impl From<ParamError> for Failure {
    fn from(err: ParamError) -> Failure {
        Failure::Param(err)
    }
}

impl From<tokio::task::JoinError> for Failure {
    fn from(err: tokio::task::JoinError) -> Failure {
        tracing::error!(error = %err, "a blocking task failed");
        Failure::Crashed
    }
}

/// The one table: every failure's status and code.
pub fn classify(failure: &Failure) -> (StatusCode, &'static str) {
    use paperboy_app::Error as E;
    let code = match failure {
        Failure::App(E::Query(_) | E::NoSearchableWords) => "invalid_query",
        Failure::App(E::Email(_)) => "invalid_email",
        Failure::App(E::Preferences(_)) => "invalid_preferences",
        Failure::App(E::Tags(_)) => "invalid_tags",
        Failure::App(E::ApiToken(_)) => "api_token_not_made",
        Failure::App(E::AlreadySubscribed { .. }) => "already_subscribed",
        Failure::App(E::PaperNotFound(_)) | Failure::PaperId(_) => "paper_not_found",
        Failure::App(E::NoVector(_)) => "no_vector",
        Failure::App(E::AccountNotFound(_)) => "account_not_found",
        Failure::App(E::NoAnnouncements) => "no_announcements",
        Failure::App(E::RateLimited(_)) => "rate_limited",
        Failure::App(E::Undeliverable(_)) => "undeliverable_address",
        Failure::App(E::BadFile { .. }) => "bad_file",
        Failure::App(E::SemanticUnavailable(_)) => "semantic_search_unavailable",
        Failure::App(E::SenderBusy) => "sender_busy",
        Failure::App(E::MailServer(_)) => "mail_unavailable",
        Failure::App(
            E::Config(_)
            | E::SigningKey(_)
            | E::Io { .. }
            | E::Corrupt(_)
            | E::Internal(_)
            | E::Store(_)
            | E::Search(_)
            | E::Source(_)
            | E::Embed(_),
        )
        | Failure::Crashed => "internal_error",
        Failure::Param(ParamError::QueryTooLong | ParamError::QueryRequired) => "invalid_query",
        Failure::Param(_) => "invalid_parameter",
        Failure::NotFound => "not_found",
        Failure::CrossSite => "cross_site_form",
        Failure::Unauthorized { .. } => "unauthorized",
        Failure::ReadOnlyToken => "insufficient_scope",
        Failure::Body(_) => "invalid_body",
        Failure::UriTooLong(_) => "uri_too_long",
        Failure::MethodNotAllowed => "method_not_allowed",
        Failure::BodyTooLarge => "body_too_large",
        Failure::Timeout => "timeout",
    };
    let status = CODES.iter().find(|(c, _, _)| *c == code).map_or(500, |(_, status, _)| *status);
    (StatusCode::from_u16(status).expect("the table's statuses are valid"), code)
}

/// What the client is told: the failure's own message, except for a 500 (logged here instead).
pub(crate) fn message(failure: &Failure, status: StatusCode) -> String {
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        if let Failure::App(err) = failure {
            tracing::error!(error = %err, "request failed");
        }
        return "something went wrong on our side; it has been logged".into();
    }
    match failure {
        Failure::App(err) => err.to_string(),
        Failure::Param(err) => err.to_string(),
        Failure::PaperId(id) => format!("paperboy has no paper {}", id.trim()),
        Failure::NotFound => "there is nothing here".into(),
        Failure::CrossSite => {
            "this form was sent from another site, so it was refused; reload the page and try again".into()
        }
        Failure::Unauthorized { presented: false } => {
            "this endpoint needs a personal API token: send `Authorization: Bearer <token>` (make one on your preferences page)".into()
        }
        Failure::Unauthorized { presented: true } => "this API token is not valid: it was revoked, or never existed".into(),
        Failure::ReadOnlyToken => "this API token may only read; make one with the write scope to change things".into(),
        Failure::Body(detail) => format!("the request body is not valid: {detail}"),
        Failure::MethodNotAllowed => "this endpoint does not take this method; the Allow header lists those it takes".into(),
        Failure::BodyTooLarge => "the request body is too large".into(),
        Failure::UriTooLong(len) => {
            format!("the request URL is too long ({len} bytes; at most {} bytes)", crate::MAX_URI_BYTES)
        }
        Failure::Timeout => "the request took too long; try again".into(),
        Failure::Crashed => "something went wrong on our side; it has been logged".into(),
    }
}

/// An API error: JSON with the code and a message.
#[derive(Debug)]
pub struct ApiError(pub Failure);

impl<E: Into<Failure>> From<E> for ApiError {
    fn from(err: E) -> ApiError {
        ApiError(err.into())
    }
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = classify(&self.0);
        let message = message(&self.0, status);
        let mut response = crate::no_store((status, Json(Body { code, message: &message })).into_response());
        // RFC 6750: say which scheme the endpoint takes, and why a token was refused.
        let challenge = match &self.0 {
            Failure::Unauthorized { presented: false } => Some(r#"Bearer realm="paperboy""#),
            Failure::Unauthorized { presented: true } => Some(r#"Bearer realm="paperboy", error="invalid_token""#),
            Failure::ReadOnlyToken => Some(r#"Bearer realm="paperboy", error="insufficient_scope", scope="write""#),
            _ => None,
        };
        if let Some(challenge) = challenge {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        response
    }
}

/// An error page for people.
#[derive(Debug)]
pub struct PageError(pub Failure);

impl<E: Into<Failure>> From<E> for PageError {
    fn from(err: E) -> PageError {
        PageError(err.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, _) = classify(&self.0);
        let message = message(&self.0, status);
        let title = match status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => "That did not work",
            s if s.is_server_error() => "Server error",
            _ => "Error",
        };
        let page = render::layout(
            &render::Head { title: title.into(), ..render::Head::default() },
            html! {
                section.error {
                    h1 { (title) }
                    p { (message) }
                    p { a href="/" { "Back to today's papers" } " · " a href="/search" { "Search" } }
                }
            },
        );
        crate::no_store((status, page).into_response())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_in_the_table_once() {
        let mut codes: Vec<&str> = CODES.iter().map(|(c, _, _)| *c).collect();
        codes.sort_unstable();
        let n = codes.len();
        codes.dedup();
        assert_eq!(codes.len(), n, "a code is listed twice");
        for failure in [
            Failure::NotFound,
            Failure::CrossSite,
            Failure::Unauthorized { presented: true },
            Failure::ReadOnlyToken,
            Failure::Body("x".into()),
            Failure::App(paperboy_app::Error::ApiToken("x".into())),
            Failure::Timeout,
            Failure::Crashed,
            Failure::UriTooLong(9000),
            Failure::MethodNotAllowed,
            Failure::BodyTooLarge,
            Failure::PaperId("x".into()),
            Failure::Param(ParamError::QueryRequired),
            Failure::App(paperboy_app::Error::NoSearchableWords),
            Failure::App(paperboy_app::Error::SemanticUnavailable("off".into())),
            Failure::App(paperboy_app::Error::Internal("x".into())),
        ] {
            let (status, code) = classify(&failure);
            assert!(CODES.iter().any(|(c, s, _)| *c == code && *s == status.as_u16()), "{failure:?}");
        }
    }
}
