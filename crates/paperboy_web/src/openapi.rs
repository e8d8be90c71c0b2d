//! The OpenAPI 3.0 description of `/api/v1/`. Written by hand beside the handlers; the tests fetch
//! every endpoint and validate its answers against these schemas, so the two cannot drift apart,
//! and a third-party validator (openapi-spec-validator) checks the document itself.

use axum::{
    Json,
    extract::State,
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use crate::AppState;

pub async fn document(State(state): State<AppState>) -> Response {
    ([(axum::http::header::CACHE_CONTROL, "public, max-age=3600")], Json(spec(&state.config.base_url))).into_response()
}

fn nullable(schema: Value) -> Value {
    let mut schema = schema;
    schema["nullable"] = json!(true);
    schema
}

/// The error codes with their statuses and meanings, as Markdown for the `code` property.
fn codes_description() -> String {
    let mut text = String::from("stable, machine-readable:\n");
    for (code, status, meaning) in crate::error::CODES {
        text.push_str(&format!("- `{code}` ({status}): {meaning}\n"));
    }
    text
}

/// The document: the public endpoints, then the personal ones.
pub fn spec(base_url: &str) -> Value {
    let mut spec = public(base_url);
    let personal = personal();
    for (path, item) in personal["paths"].as_object().expect("paths").clone() {
        spec["paths"][path] = item;
    }
    for (name, schema) in personal["schemas"].as_object().expect("schemas").clone() {
        spec["components"]["schemas"][name] = schema;
    }
    spec["components"]["securitySchemes"] = json!({"token": {
        "type": "http",
        "scheme": "bearer",
        "description": "a personal API token (`pbt_…`), made on the preferences page; a read token may only read"
    }});
    spec
}

/// The personal endpoints under `/api/v1/me` (see `me.rs`): each needs a token; changes need a
/// read-write one.
fn personal() -> Value {
    let string = json!({"type": "string"});
    let date_time = json!({"type": "string", "format": "date-time"});
    let error = json!({"description": "an error, with a stable code and a message for people", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    let ok = |schema: &str| json!({"description": "OK", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
    let operation = |summary: &str, id: &str, schema: &str, codes: &[&str], body: Option<&str>, parameters: Value| {
        let mut responses = serde_json::Map::new();
        responses.insert("200".into(), ok(schema));
        for code in codes {
            responses.insert((*code).into(), error.clone());
        }
        let mut operation = json!({
            "summary": summary,
            "operationId": id,
            "security": [{"token": []}],
            "parameters": parameters,
            "responses": responses
        });
        if let Some(body) = body {
            operation["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{body}")}}}});
        }
        operation
    };
    let read = ["401", "500"];
    let write = ["400", "401", "403", "422", "500"];
    let paper_write = ["400", "401", "403", "404", "500"];
    let id = json!([{"name": "id", "in": "path", "required": true, "description": "an arXiv id, with or without version", "schema": string.clone()}]);
    let mut save = operation(
        "Save a paper to the library, or replace its tags",
        "saveToLibrary",
        "LibraryItem",
        &paper_write,
        None,
        id.clone(),
    );
    save["requestBody"] = json!({"required": false, "description": "optional: the paper's tags", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Tags"}}}});
    json!({
        "paths": {
            "/api/v1/me": {"get": operation("Whose token this is, and what it may do", "me", "Me", &read, None, json!([]))},
            "/api/v1/me/library": {"get": operation("The saved papers, newest first", "library", "LibraryResponse", &read, None, json!([]))},
            "/api/v1/me/library/{id}": {
                "put": save,
                "delete": operation("Remove a paper from the library", "removeFromLibrary", "Changed", &paper_write, None, id.clone())
            },
            "/api/v1/me/upvotes": {"get": operation("The upvoted papers, newest first", "upvotes", "UpvotesResponse", &read, None, json!([]))},
            "/api/v1/me/upvotes/{id}": {
                "put": operation("Upvote a paper (once)", "upvote", "Changed", &paper_write, None, id.clone()),
                "delete": operation("Take an upvote back", "removeUpvote", "Changed", &paper_write, None, id)
            },
            "/api/v1/me/searches": {
                "get": operation("The saved searches digests run", "searches", "Searches", &read, None, json!([])),
                "put": operation("Replace the saved searches", "replaceSearches", "Searches", &write, Some("Searches"), json!([])),
                "post": operation("Add a saved search", "addSearch", "Searches", &write, Some("NewSearch"), json!([])),
                "delete": operation("Remove a saved search", "removeSearch", "Searches", &write, None, json!([
                    {"name": "query", "in": "query", "required": true, "description": "the saved search, as listed", "schema": string.clone()}
                ]))
            },
            "/api/v1/me/follows": {
                "get": operation("The followed categories and authors", "follows", "Follows", &read, None, json!([])),
                "put": operation("Replace the followed categories and authors", "replaceFollows", "Follows", &write, Some("Follows"), json!([]))
            }
        },
        "schemas": {
            "Me": {"type": "object", "required": ["email", "status", "token"], "additionalProperties": false, "properties": {
                "email": string.clone(),
                "status": {"type": "string", "enum": ["pending", "active", "unsubscribed"]},
                "token": {"type": "object", "required": ["id", "name", "scope", "created_at"], "additionalProperties": false, "properties": {
                    "id": string.clone(),
                    "name": string.clone(),
                    "scope": {"type": "string", "enum": ["read", "write"]},
                    "created_at": date_time.clone()
                }}
            }},
            "Tags": {"type": "object", "additionalProperties": false, "properties": {
                "tags": {"type": "array", "items": string.clone(), "description": "at most 20, each at most 40 characters"}
            }},
            "LibraryItem": {"type": "object", "required": ["id", "tags", "saved_at", "paper"], "additionalProperties": false, "properties": {
                "id": string.clone(),
                "tags": {"type": "array", "items": string.clone()},
                "saved_at": date_time.clone(),
                "paper": {"allOf": [{"$ref": "#/components/schemas/PaperSummary"}], "nullable": true, "description": "null when the paper is no longer stored"}
            }},
            "LibraryResponse": {"type": "object", "required": ["total", "results"], "additionalProperties": false, "properties": {
                "total": {"type": "integer", "minimum": 0},
                "results": {"type": "array", "items": {"$ref": "#/components/schemas/LibraryItem"}}
            }},
            "Changed": {"type": "object", "required": ["id", "changed"], "additionalProperties": false, "properties": {
                "id": string.clone(),
                "changed": {"type": "boolean", "description": "whether anything changed (false: it was so already)"}
            }},
            "UpvotesResponse": {"type": "object", "required": ["total", "results"], "additionalProperties": false, "properties": {
                "total": {"type": "integer", "minimum": 0},
                "results": {"type": "array", "items": {"type": "object", "required": ["id", "upvoted_at"], "additionalProperties": false, "properties": {
                    "id": string.clone(),
                    "upvoted_at": date_time
                }}}
            }},
            "Searches": {"type": "object", "required": ["searches"], "additionalProperties": false, "properties": {
                "searches": {"type": "array", "items": string.clone(), "description": "in the search syntax; at most 50"}
            }},
            "NewSearch": {"type": "object", "required": ["query"], "additionalProperties": false, "properties": {
                "query": {"type": "string", "description": "in the search syntax"}
            }},
            "Follows": {"type": "object", "required": ["categories", "authors"], "additionalProperties": false, "properties": {
                "categories": {"type": "array", "items": string.clone(), "description": "arXiv categories or archives (cs.CL, math)"},
                "authors": {"type": "array", "items": string}
            }}
        }
    })
}

/// The public endpoints. One literal, long because the API is: split into fragments it would
/// read worse.
fn public(base_url: &str) -> Value {
    let string = json!({"type": "string"});
    let date = json!({"type": "string", "format": "date"});
    let date_time = json!({"type": "string", "format": "date-time"});
    let error_responses = |codes: &[&str]| -> Value {
        let mut responses = serde_json::Map::new();
        for code in codes {
            responses.insert(
                (*code).to_owned(),
                json!({"description": "an error, with a stable code and a message for people", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}),
            );
        }
        Value::Object(responses)
    };
    let ok = |schema: &str| json!({"description": "OK", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
    let with_errors = |ok: Value, codes: &[&str]| {
        let mut responses = error_responses(codes);
        responses["200"] = ok;
        responses
    };
    let query_param = |name: &str, description: &str, schema: Value, required: bool| json!({"name": name, "in": "query", "required": required, "description": description, "schema": schema});
    let page =
        query_param("page", "page number, from 1", json!({"type": "integer", "minimum": 1, "maximum": 50}), false);
    let per_page =
        query_param("per_page", "results per page", json!({"type": "integer", "minimum": 1, "maximum": 100}), false);
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "paperboy API",
            "version": "1",
            "description": "Search arXiv papers by words and meaning, read papers, similar papers, daily announcements and trending papers; with a personal API token (Authorization: Bearer), manage your library, upvotes, saved searches and follows under /api/v1/me. Errors are {\"code\", \"message\"} with the matching HTTP status."
        },
        "servers": [{"url": base_url}],
        "paths": {
            "/api/v1/search": {"get": {
                "summary": "Search papers",
                "operationId": "search",
                "parameters": [
                    query_param("q", "the query: words, \"phrases\", -exclusions, ti: au: abs: cat: prefixes, AND/OR", json!({"type": "string", "minLength": 1, "maxLength": 1000}), true),
                    query_param("category", "only this category or archive (cs.CL, cs)", string.clone(), false),
                    query_param("since", "announced on or after", date.clone(), false),
                    query_param("until", "announced on or before", date.clone(), false),
                    query_param("sort", "result order", json!({"type": "string", "enum": ["relevance", "date", "trending"]}), false),
                    query_param("mode", "ranking", json!({"type": "string", "enum": ["auto", "keyword", "semantic", "hybrid"]}), false),
                    query_param("explain", "whether each result says why it ranks where it does (its `explanation`)", json!({"type": "string", "enum": ["true", "false"]}), false),
                    page.clone(), per_page.clone()
                ],
                "responses": with_errors(ok("SearchResponse"), &["400", "414", "500"])
            }},
            "/api/v1/papers/{id}": {"get": {
                "summary": "One paper",
                "operationId": "paper",
                "parameters": [{"name": "id", "in": "path", "required": true, "description": "an arXiv id, with or without version", "schema": string.clone()}],
                "responses": with_errors(ok("Paper"), &["404", "500"])
            }},
            "/api/v1/papers/{id}/similar": {"get": {
                "summary": "Papers similar to one paper (nearest stored embeddings)",
                "operationId": "similar",
                "parameters": [
                    {"name": "id", "in": "path", "required": true, "description": "an arXiv id", "schema": string.clone()},
                    query_param("limit", "how many papers", json!({"type": "integer", "minimum": 1, "maximum": 50}), false)
                ],
                "responses": with_errors(ok("SimilarResponse"), &["400", "404", "500", "503"])
            }},
            "/api/v1/daily": {"get": {
                "summary": "The latest announcement day's papers",
                "operationId": "dailyLatest",
                "parameters": [query_param("category", "only this category or archive", string.clone(), false), page.clone(), per_page.clone()],
                "responses": with_errors(ok("DailyResponse"), &["400", "404", "500"])
            }},
            "/api/v1/daily/{date}": {"get": {
                "summary": "One announcement day's papers",
                "operationId": "daily",
                "parameters": [
                    {"name": "date", "in": "path", "required": true, "description": "the day, YYYY-MM-DD", "schema": date.clone()},
                    query_param("category", "only this category or archive", string.clone(), false), page.clone(), per_page.clone()
                ],
                "responses": with_errors(ok("DailyResponse"), &["400", "404", "500"])
            }},
            "/api/v1/trending": {"get": {
                "summary": "Trending papers: upvotes and code stars decayed with age",
                "operationId": "trending",
                "parameters": [query_param("date", "rank as of this day", date.clone(), false), page, per_page],
                "responses": with_errors(ok("TrendingResponse"), &["400", "500"])
            }}
        },
        "components": {"schemas": {
            "Error": {"type": "object", "required": ["code", "message"], "additionalProperties": false, "properties": {
                "code": {"type": "string", "description": codes_description(), "enum": crate::error::CODES.iter().map(|(code, _, _)| *code).collect::<Vec<_>>()},
                "message": {"type": "string", "description": "for people"}
            }},
            "PaperSummary": {"type": "object", "required": ["id", "version", "title", "authors", "categories", "abstract", "announced", "submitted", "url", "pdf_url"], "properties": {
                "id": string.clone(),
                "version": nullable(json!({"type": "integer", "minimum": 1})),
                "title": string.clone(),
                "authors": {"type": "array", "items": string.clone()},
                "categories": {"type": "array", "items": string.clone(), "description": "the primary category first"},
                "abstract": string.clone(),
                "announced": nullable(date.clone()),
                "submitted": nullable(date_time.clone()),
                "url": {"type": "string", "description": "the paper's page here"},
                "pdf_url": string.clone()
            }},
            "SearchResult": {"allOf": [{"$ref": "#/components/schemas/PaperSummary"}, {"type": "object", "required": ["score", "keyword_score", "semantic_score", "pinned"], "properties": {
                "score": {"type": "number"},
                "keyword_score": nullable(json!({"type": "number"})),
                "semantic_score": nullable(json!({"type": "number"})),
                "pinned": {"type": "boolean", "description": "listed first because the query is its id or exact title"},
                "explanation": {"$ref": "#/components/schemas/Explanation"}
            }}]},
            "Explanation": {"type": "object", "description": "why a result ranks where it does (explain=true): score = keyword_weight × keyword_normalised + semantic_weight × semantic_normalised in hybrid mode, the BM25 score by words alone, the similarity by meaning alone", "required": ["order", "terms", "proximity", "keyword_normalised", "semantic_normalised", "keyword_weight", "semantic_weight"], "additionalProperties": false, "properties": {
                "order": {"type": "string", "enum": ["relevance", "date", "trending"], "description": "what the results are ordered by; in date and trending order the scores decide what matches, not the order"},
                "terms": {"type": "array", "description": "each query word or phrase the paper matched, with its part of the BM25 score, largest first", "items": {"type": "object", "required": ["term", "score"], "additionalProperties": false, "properties": {
                    "term": string.clone(),
                    "score": {"type": "number"}
                }}},
                "proximity": {"type": "number", "description": "what the query's words standing together added to the BM25 score"},
                "keyword_normalised": nullable(json!({"type": "number", "description": "the BM25 score divided by the best keyword candidate's"})),
                "semantic_normalised": nullable(json!({"type": "number", "description": "the similarity divided by the best candidate's"})),
                "keyword_weight": nullable(json!({"type": "number", "description": "the words' weight in the score"})),
                "semantic_weight": nullable(json!({"type": "number", "description": "the meaning's weight in the score"}))
            }},
            "SearchResponse": {"type": "object", "required": ["query", "mode", "notice", "total", "page", "per_page", "results"], "additionalProperties": false, "properties": {
                "query": string.clone(),
                "mode": {"type": "string", "enum": ["keyword", "semantic", "hybrid"]},
                "notice": nullable(string.clone()),
                "total": {"type": "integer", "minimum": 0},
                "page": {"type": "integer", "minimum": 1},
                "per_page": {"type": "integer", "minimum": 1},
                "results": {"type": "array", "items": {"$ref": "#/components/schemas/SearchResult"}}
            }},
            "Version": {"type": "object", "required": ["version", "submitted", "size"], "additionalProperties": false, "properties": {
                "version": {"type": "integer", "minimum": 1},
                "submitted": nullable(date_time.clone()),
                "size": nullable(string.clone())
            }},
            "Signals": {"type": "object", "required": ["source", "upvotes", "comments", "github_repo", "github_stars", "featured_on", "observed_at"], "additionalProperties": false, "properties": {
                "source": string.clone(),
                "upvotes": {"type": "integer", "minimum": 0},
                "comments": {"type": "integer", "minimum": 0},
                "github_repo": nullable(string.clone()),
                "github_stars": nullable(json!({"type": "integer", "minimum": 0})),
                "featured_on": nullable(date.clone()),
                "observed_at": date_time.clone()
            }},
            "Paper": {"allOf": [{"$ref": "#/components/schemas/PaperSummary"}, {"type": "object", "required": ["versions", "updated", "comments", "journal_ref", "doi", "license", "signals", "bibtex"], "properties": {
                "versions": {"type": "array", "items": {"$ref": "#/components/schemas/Version"}},
                "updated": nullable(date_time.clone()),
                "comments": nullable(string.clone()),
                "journal_ref": nullable(string.clone()),
                "doi": nullable(string.clone()),
                "license": nullable(string.clone()),
                "signals": {"type": "array", "items": {"$ref": "#/components/schemas/Signals"}},
                "bibtex": string.clone()
            }}]},
            "SimilarResponse": {"type": "object", "required": ["id", "results"], "additionalProperties": false, "properties": {
                "id": string.clone(),
                "results": {"type": "array", "items": {"allOf": [{"$ref": "#/components/schemas/PaperSummary"}, {"type": "object", "required": ["similarity"], "properties": {"similarity": {"type": "number"}}}]}}
            }},
            "DailyResponse": {"type": "object", "required": ["date", "previous", "next", "total", "page", "per_page", "results"], "additionalProperties": false, "properties": {
                "date": date.clone(),
                "previous": nullable(date.clone()),
                "next": nullable(date.clone()),
                "total": {"type": "integer", "minimum": 0},
                "page": {"type": "integer", "minimum": 1},
                "per_page": {"type": "integer", "minimum": 1},
                "results": {"type": "array", "items": {"$ref": "#/components/schemas/PaperSummary"}}
            }},
            "TrendingResponse": {"type": "object", "required": ["as_of", "total", "page", "per_page", "results"], "additionalProperties": false, "properties": {
                "as_of": nullable(date.clone()),
                "total": {"type": "integer", "minimum": 0},
                "page": {"type": "integer", "minimum": 1},
                "per_page": {"type": "integer", "minimum": 1},
                "results": {"type": "array", "items": {"allOf": [{"$ref": "#/components/schemas/PaperSummary"}, {"type": "object", "required": ["trending_score", "upvotes", "github_repo", "github_stars", "featured_on"], "properties": {
                    "trending_score": {"type": "number"},
                    "upvotes": {"type": "integer", "minimum": 0},
                    "github_repo": nullable(string.clone()),
                    "github_stars": nullable(json!({"type": "integer", "minimum": 0})),
                    "featured_on": date.clone()
                }}]}}
            }}
        }}
    })
}
