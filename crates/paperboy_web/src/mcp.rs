//! The MCP server, for AI assistants: the same search, papers, similar papers, days and trending
//! as the JSON API, as tools (on the official SDK, `rmcp`), and with a personal API token the
//! person's library. Two transports, one set of tools: `paperboy mcp` over stdio on a local data
//! directory, and `/mcp` on `serve` over streamable HTTP.
//!
//! Every answer is the JSON API's answer for the same question (the tools call the same
//! functions), as structured content and as text; a mistake (a query that does not parse, an
//! unknown paper) is a tool error with the API's `{"code", "message"}`, so the assistant can read
//! it and try again. Over HTTP the server is stateless (each request stands alone), so any node of
//! a cluster answers, and the personal tools take the token from the request's `Authorization:
//! Bearer` header; over stdio they act for the account the operator named (`--as`).

use axum::http::request::Parts;
use paperboy_app::{Account, TokenScope};
use rmcp::{
    ErrorData, ServerHandler, ServiceExt,
    handler::server::{router::tool::ToolRouter, wrapper::Parameters},
    model::{CallToolResult, Implementation, ServerCapabilities, ServerConfig},
    schemars::{self, JsonSchema},
    service::{RequestContext, RoleServer},
    tool, tool_handler, tool_router,
    transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    },
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{
    ApiError, AppState, api,
    error::{Failure, classify},
    me::Bearer,
    params::RawParams,
};

/// Whom the personal tools act for.
#[derive(Clone)]
pub enum Identity {
    /// The holder of the bearer token each HTTP request carries (none: the personal tools refuse).
    Bearer,
    /// A local account, named by the operator who runs `paperboy mcp` on the data directory
    /// (none: the personal tools refuse).
    Local(Option<Account>),
}

/// The MCP server of one library.
#[derive(Clone)]
pub struct McpServer {
    state: AppState,
    identity: Identity,
    tool_router: ToolRouter<McpServer>,
}

const INSTRUCTIONS: &str = "paperboy searches arXiv papers by words and by meaning. `search` takes the whole query \
syntax: words, \"exact phrases\", -exclusions, ti: au: abs: cat: prefixes, AND/OR; `mode` picks keyword, semantic or \
hybrid ranking (auto: hybrid where the model is loaded). `paper` gives one paper's metadata and BibTeX, `similar` the \
papers nearest to it by meaning, `daily` an announcement day's papers, `trending` what readers upvote now. With a \
personal API token (Authorization: Bearer), `library_list`, `library_save` and `library_remove` read and change the \
person's library.";

/// `search`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SearchArgs {
    /// The query: words, "exact phrases", -exclusions, ti: au: abs: cat: prefixes, AND/OR.
    pub query: String,
    /// keyword, semantic, hybrid, or auto (the default: hybrid where search by meaning is on).
    pub mode: Option<String>,
    /// Only papers in this category or archive (cs.CL, cs).
    pub category: Option<String>,
    /// Only papers announced on or after this day (YYYY-MM-DD).
    pub since: Option<String>,
    /// Only papers announced on or before this day (YYYY-MM-DD).
    pub until: Option<String>,
    /// relevance (the default), date or trending.
    pub sort: Option<String>,
    /// The page, from 1.
    pub page: Option<u32>,
    /// Results per page (1 to 100, 20 unless said).
    pub per_page: Option<u32>,
    /// Whether each result says why it ranks where it does.
    pub explain: Option<bool>,
}

/// An arXiv id.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct PaperArgs {
    /// An arXiv id, with or without version (2401.01234, hep-th/9901001v2).
    pub id: String,
}

/// `similar`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SimilarArgs {
    /// An arXiv id.
    pub id: String,
    /// How many papers (1 to 50, 10 unless said).
    pub limit: Option<u32>,
}

/// `daily`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct DailyArgs {
    /// The announcement day (YYYY-MM-DD); the latest unless said.
    pub date: Option<String>,
    /// Only papers in this category or archive.
    pub category: Option<String>,
    /// The page, from 1.
    pub page: Option<u32>,
    /// Papers per page (1 to 100, 20 unless said).
    pub per_page: Option<u32>,
}

/// `trending`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct TrendingArgs {
    /// Rank as of this day (YYYY-MM-DD); today unless said.
    pub date: Option<String>,
    /// The page, from 1.
    pub page: Option<u32>,
    /// Papers per page (1 to 100, 20 unless said).
    pub per_page: Option<u32>,
}

/// `library_save`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SaveArgs {
    /// An arXiv id.
    pub id: String,
    /// Tags for the paper (they replace any it had).
    #[serde(default)]
    pub tags: Vec<String>,
}

/// An answer, or the failure as the API states it (a tool error the assistant reads).
fn answer<T: Serialize>(result: Result<T, ApiError>) -> Result<CallToolResult, ErrorData> {
    match result {
        Ok(value) => Ok(CallToolResult::structured(serde_json::to_value(value).expect("answers serialise"))),
        Err(ApiError(failure)) => Ok(refusal(&failure)),
    }
}

fn refusal(failure: &Failure) -> CallToolResult {
    let (status, code) = classify(failure);
    let message = crate::error::message(failure, status);
    CallToolResult::structured_error(json!({"code": code, "message": message}))
}

fn text(value: Option<u32>) -> Option<String> {
    value.map(|v| v.to_string())
}

#[tool_router]
impl McpServer {
    /// A server whose personal tools act for `identity`.
    pub fn new(state: AppState, identity: Identity) -> McpServer {
        McpServer { state, identity, tool_router: McpServer::tool_router() }
    }

    /// The account the personal tools act for, if it may do what is asked (`write`: change).
    async fn caller(&self, context: &RequestContext<RoleServer>, write: bool) -> Result<Account, Failure> {
        let (account, scope) = match &self.identity {
            Identity::Local(Some(account)) => (account.clone(), TokenScope::Write),
            Identity::Local(None) => {
                return Err(Failure::App(paperboy_app::Error::AccountNotFound(
                    "(none named: start `paperboy mcp --as ADDRESS` for the library tools)".into(),
                )));
            }
            // Looked up once, by `refuse_dead_tokens` in front of `/mcp`, which refused a dead
            // token and left the live one's holder in the request.
            Identity::Bearer => {
                let bearer = context.extensions.get::<Parts>().and_then(|parts| parts.extensions.get::<Bearer>());
                let Some(bearer) = bearer else { return Err(Failure::Unauthorized { presented: false }) };
                (bearer.account.clone(), bearer.token.scope)
            }
        };
        if write && scope != TokenScope::Write {
            return Err(Failure::ReadOnlyToken);
        }
        Ok(account)
    }

    #[tool(
        description = "Search arXiv papers by words and meaning. Query syntax: words, \"exact phrases\", -exclusions, ti: au: abs: cat: prefixes, AND/OR.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn search(&self, Parameters(args): Parameters<SearchArgs>) -> Result<CallToolResult, ErrorData> {
        let raw = RawParams {
            q: Some(args.query),
            mode: args.mode,
            category: args.category,
            since: args.since,
            until: args.until,
            sort: args.sort,
            page: text(args.page),
            per_page: text(args.per_page),
            explain: args.explain.map(|e| e.to_string()),
            ..RawParams::default()
        };
        answer(api::search_answer(&self.state, &raw).await)
    }

    #[tool(
        description = "One paper: title, authors, abstract, categories, versions, links, community signals and its BibTeX.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn paper(&self, Parameters(args): Parameters<PaperArgs>) -> Result<CallToolResult, ErrorData> {
        answer(api::paper_answer(&self.state, &args.id).await)
    }

    #[tool(
        description = "The papers most similar to one paper by meaning (nearest stored embeddings).",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn similar(&self, Parameters(args): Parameters<SimilarArgs>) -> Result<CallToolResult, ErrorData> {
        let raw = RawParams { limit: text(args.limit), ..RawParams::default() };
        answer(api::similar_answer(&self.state, &args.id, &raw).await)
    }

    #[tool(
        description = "The papers arXiv announced on a day (the latest day unless a date is given), optionally in one category.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn daily(&self, Parameters(args): Parameters<DailyArgs>) -> Result<CallToolResult, ErrorData> {
        let date = match crate::params::date("date", &args.date) {
            Ok(date) => date,
            Err(err) => return Ok(refusal(&Failure::Param(err))),
        };
        let raw = RawParams {
            category: args.category,
            page: text(args.page),
            per_page: text(args.per_page),
            ..RawParams::default()
        };
        answer(api::daily_answer(&self.state, date, &raw).await)
    }

    #[tool(
        description = "Trending papers: upvotes and code stars, decayed with age.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn trending(&self, Parameters(args): Parameters<TrendingArgs>) -> Result<CallToolResult, ErrorData> {
        let raw =
            RawParams { date: args.date, page: text(args.page), per_page: text(args.per_page), ..RawParams::default() };
        answer(api::trending_answer(&self.state, &raw).await)
    }

    #[tool(
        description = "The papers in your library, newest first, with their tags (needs a personal API token).",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn library_list(&self, context: RequestContext<RoleServer>) -> Result<CallToolResult, ErrorData> {
        let account = match self.caller(&context, false).await {
            Ok(account) => account,
            Err(failure) => return Ok(refusal(&failure)),
        };
        answer(crate::me::library_items(&self.state, account.id).await)
    }

    #[tool(
        description = "Save a paper to your library, with tags (needs a read-write personal API token).",
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn library_save(
        &self,
        Parameters(args): Parameters<SaveArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let account = match self.caller(&context, true).await {
            Ok(account) => account,
            Err(failure) => return Ok(refusal(&failure)),
        };
        answer(crate::me::save_answer(&self.state, account.id, &args.id, args.tags).await)
    }

    #[tool(
        description = "Remove a paper from your library (needs a read-write personal API token).",
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn library_remove(
        &self,
        Parameters(args): Parameters<PaperArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let account = match self.caller(&context, true).await {
            Ok(account) => account,
            Err(failure) => return Ok(refusal(&failure)),
        };
        answer(crate::me::unsave_answer(&self.state, account.id, &args.id).await)
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("paperboy", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }
}

/// In front of `/mcp`: a request that carries a bearer token that is not live (revoked, made up)
/// gets HTTP 401 with `WWW-Authenticate`, as on `/api/v1/me`, so that a client knows to ask for a
/// new one; a live token's holder goes on in the request, for the library tools; a request without
/// a token goes on as it is (the public tools need none; the library tools then answer
/// `unauthorized`).
pub async fn refuse_dead_tokens(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let (mut parts, body) = request.into_parts();
    match Bearer::of(&state, &parts).await {
        Ok(Some(bearer)) => {
            parts.extensions.insert(bearer);
        }
        Ok(None) => {}
        Err(failure) => return axum::response::IntoResponse::into_response(ApiError(failure)),
    }
    next.run(axum::extract::Request::from_parts(parts, body)).await
}

/// `/mcp` on `serve`: streamable HTTP, stateless (any node of a cluster answers any request),
/// plain JSON answers. Hosts other than this site's and loopback are refused (DNS rebinding), as
/// are browser pages of other origins.
pub fn http_service(state: AppState) -> StreamableHttpService<McpServer, LocalSessionManager> {
    let base = state.config.base_url.clone();
    let authority = base.split_once("://").map_or(base.as_str(), |(_, rest)| rest).split('/').next().unwrap_or("");
    let host = authority.rsplit_once(':').filter(|(_, port)| port.parse::<u16>().is_ok()).map_or(authority, |(h, _)| h);
    let mut hosts = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
    if !host.is_empty() && !hosts.iter().any(|h| h == host) {
        hosts.push(host.to_owned());
    }
    let origin = base.trim_end_matches('/').to_owned();
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_allowed_hosts(hosts)
        .with_allowed_origins([origin])
        .with_max_request_body_bytes(MAX_REQUEST_BYTES);
    StreamableHttpService::new(move || Ok(McpServer::new(state.clone(), Identity::Bearer)), Default::default(), config)
}

/// The largest MCP request taken over HTTP (a tool call is a few hundred bytes).
const MAX_REQUEST_BYTES: usize = 256 * 1024;

/// Serves MCP over stdin and stdout until the client closes them (`paperboy mcp`); the personal
/// tools act for `account`.
pub async fn serve_stdio(state: AppState, account: Option<Account>) -> std::io::Result<()> {
    let server = McpServer::new(state, Identity::Local(account));
    let running = server.serve(rmcp::transport::stdio()).await.map_err(std::io::Error::other)?;
    running.waiting().await.map_err(std::io::Error::other)?;
    Ok(())
}
