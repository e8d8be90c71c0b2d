//! Errors as clients see them: JSON `{"code", "message"}` for the API, an HTML page for people.
//! One table maps paperboy's errors to HTTP statuses; 5xx bodies say nothing internal (the detail
//! is logged).

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use maud::html;
use serde::Serialize;

use crate::render;

/// An API error.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    /// An error with its status, stable code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into() }
    }

    /// A 400 with a reason.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// A 500 that says nothing internal.
    pub fn internal() -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "something went wrong on our side; it has been logged",
        )
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        crate::no_store((self.status, Json(Body { code: self.code, message: &self.message })).into_response())
    }
}

impl From<paperboy_app::Error> for ApiError {
    fn from(err: paperboy_app::Error) -> Self {
        let (status, code) = classify(&err);
        // A 503 (semantic search off) explains itself; only a 500 hides what went wrong.
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %err, "request failed");
            return ApiError::internal();
        }
        ApiError::new(status, code, err.to_string())
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(err: tokio::task::JoinError) -> Self {
        tracing::error!(error = %err, "a blocking task failed");
        ApiError::internal()
    }
}

/// The one table from paperboy's errors to HTTP.
fn classify(err: &paperboy_app::Error) -> (StatusCode, &'static str) {
    use paperboy_app::Error;
    match err {
        Error::Query(_) => (StatusCode::BAD_REQUEST, "invalid_query"),
        Error::Search(paperboy_search::Error::NoSearchableWords) => (StatusCode::BAD_REQUEST, "invalid_query"),
        Error::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid_parameter"),
        Error::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
        Error::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        Error::Undeliverable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "undeliverable_address"),
        Error::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "semantic_search_unavailable"),
        Error::Store(_) | Error::Search(_) | Error::Source(_) | Error::Embed(_) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "internal_error")
        }
    }
}

/// An error page.
#[derive(Debug)]
pub struct PageError {
    status: StatusCode,
    message: String,
}

impl PageError {
    /// An error page with a status and a message for people.
    pub fn new(status: StatusCode, message: impl Into<String>) -> PageError {
        PageError { status, message: message.into() }
    }

    /// A 404.
    pub fn not_found(message: impl Into<String>) -> PageError {
        PageError::new(StatusCode::NOT_FOUND, message)
    }

    /// A 500 that says nothing internal.
    pub fn internal() -> PageError {
        PageError::new(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong on our side. It has been logged.")
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let title = match self.status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::BAD_REQUEST => "That did not work",
            s if s.is_server_error() => "Server error",
            _ => "Error",
        };
        let page = render::layout(
            &render::Head { title: title.into(), ..render::Head::default() },
            html! {
                section.error {
                    h1 { (title) }
                    p { (self.message) }
                    p { a href="/" { "Back to today's papers" } " · " a href="/search" { "Search" } }
                }
            },
        );
        crate::no_store((self.status, page).into_response())
    }
}

impl From<paperboy_app::Error> for PageError {
    fn from(err: paperboy_app::Error) -> Self {
        let (status, _) = classify(&err);
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %err, "page failed");
            return PageError::internal();
        }
        PageError::new(status, err.to_string())
    }
}

impl From<tokio::task::JoinError> for PageError {
    fn from(err: tokio::task::JoinError) -> Self {
        tracing::error!(error = %err, "a blocking task failed");
        PageError::internal()
    }
}
