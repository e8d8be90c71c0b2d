//! `paperboy serve`: the web app and the JSON API, with new papers embedded in the background.

use std::{process::ExitCode, sync::Arc, time::Duration};

use anyhow::Context as _;
use paperboy_app::{Library, NoProgress};
use paperboy_web::{AppState, WebConfig};

use super::{Context, open_library};
use crate::cli::ServeArgs;

/// How often the server looks for papers without a vector.
const EMBED_INTERVAL: Duration = Duration::from_secs(60);
/// How often the server sends what the outbox holds (sign-in links should not wait).
const OUTBOX_INTERVAL: Duration = Duration::from_secs(5);
/// Messages sent per round at most.
const OUTBOX_ROUND: u64 = 2_000;

pub fn run(context: &Context, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let library = Arc::new(open_library(context)?);
    serve(library, &args)?;
    Ok(ExitCode::SUCCESS)
}

/// Serves `library` until Ctrl-C or SIGTERM.
pub fn serve(library: Arc<Library>, args: &ServeArgs) -> anyhow::Result<()> {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    runtime.block_on(async move {
        let listener =
            tokio::net::TcpListener::bind(&args.addr).await.with_context(|| format!("listening on {}", args.addr))?;
        let address = listener.local_addr()?;
        let base_url =
            args.base_url.clone().unwrap_or_else(|| format!("http://{address}")).trim_end_matches('/').to_owned();
        let stats = library.stats()?;
        match library.semantic_status() {
            Ok(model) => {
                println!(
                    "search: hybrid, words and meaning ({model}; {} of {} papers embedded)",
                    stats.vectors, stats.papers
                )
            }
            Err(reason) => println!("search: keyword only — {reason}"),
        }
        println!("paperboy is serving {} papers at {base_url}/  (Ctrl-C stops it)", stats.papers);
        if library.semantic_status().is_ok() {
            let background = library.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(EMBED_INTERVAL);
                loop {
                    tick.tick().await;
                    let library = background.clone();
                    match tokio::task::spawn_blocking(move || library.embed_missing(&NoProgress)).await {
                        Ok(Ok(summary)) if summary.embedded > 0 => {
                            tracing::info!(embedded = summary.embedded, "embedded new papers in the background")
                        }
                        Ok(Ok(_)) => {}
                        Ok(Err(err)) => tracing::error!(error = %err, "background embedding failed"),
                        Err(err) => tracing::error!(error = %err, "background embedding panicked"),
                    }
                }
            });
        }
        match super::digest::smtp_mailer()? {
            Some(mailer) => {
                let settings = super::digest::mail_settings(Some(&base_url))?;
                let sender = library.clone();
                println!(
                    "mail: sending the outbox over {}",
                    paperboy_mail::redact_url(&std::env::var("PAPERBOY_SMTP__URL").unwrap_or_default())
                );
                tokio::spawn(async move {
                    let mut tick = tokio::time::interval(OUTBOX_INTERVAL);
                    loop {
                        tick.tick().await;
                        match paperboy_app::delivery::send_outbox(
                            sender.clone(),
                            mailer.clone(),
                            settings.clone(),
                            Some(OUTBOX_ROUND),
                        )
                        .await
                        {
                            Ok(report) if report.sent + report.failed + report.retrying > 0 => tracing::info!(
                                sent = report.sent,
                                retrying = report.retrying,
                                failed = report.failed,
                                "outbox sent"
                            ),
                            Ok(_) => {}
                            Err(err) => tracing::error!(error = %err, "sending the outbox failed"),
                        }
                    }
                });
            }
            None => {
                println!("mail: PAPERBOY_SMTP__URL is not set, so sign-in and confirmation mails wait in the outbox")
            }
        }
        let state = AppState { library, config: Arc::new(WebConfig { base_url, ..WebConfig::default() }) };
        axum::serve(
            listener,
            paperboy_web::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown())
        .await
        .context("serving")?;
        println!("stopped");
        anyhow::Ok(())
    })
}

async fn shutdown() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
}
