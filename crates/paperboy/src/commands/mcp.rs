//! `paperboy mcp`: the MCP server over stdin and stdout, for an AI assistant on this machine (the
//! assistant starts it as a subprocess). Standard output carries only the protocol; what the
//! command has to say goes to standard error.

use std::{process::ExitCode, sync::Arc};

use anyhow::Context as _;
use paperboy_web::{AppState, WebConfig};

use super::{Context, open_library, subscriber::find};
use crate::cli::McpArgs;

pub fn run(context: &Context, args: McpArgs) -> anyhow::Result<ExitCode> {
    let library = open_library(context)?;
    let account = args.account.as_deref().map(|who| find(&library, who)).transpose()?;
    let config = &context.config;
    let base_url = config.web.base_url.clone().unwrap_or_else(|| format!("http://{}", config.web.addr));
    let state = AppState::new(Arc::new(library), WebConfig { base_url, ..WebConfig::default() });
    match &account {
        Some(account) => {
            eprintln!("paperboy mcp: serving on stdio; the library tools act for {}", account.email.as_str())
        }
        None => eprintln!("paperboy mcp: serving on stdio (start it with --as ADDRESS for the library tools)"),
    }
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    runtime.block_on(paperboy_web::mcp::serve_stdio(state, account)).context("serving MCP on stdio")?;
    // A blocking task still running (a search the client stopped waiting for) is not waited for.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    Ok(ExitCode::SUCCESS)
}
