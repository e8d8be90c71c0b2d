//! `paperboy serve`: the web app and the JSON API, with new papers embedded in the background.

use std::{process::ExitCode, sync::Arc, time::Duration};

use anyhow::Context as _;
use chrono::{Duration as Days, Utc};
use paperboy_app::{
    Library, NoProgress,
    delivery::{SendOptions, send_outbox},
    digest::BuildOptions,
    ingest::{self, OaiOptions},
    schedule::Schedule,
};
use paperboy_arxiv::{
    Politeness,
    oai::{HarvestRequest, MetadataFormat},
};
use paperboy_web::{AppState, WebConfig};
use tracing::Instrument as _;

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
        if let paperboy_app::signing::KeyChange::Replaced { sessions_ended } = library.open_signing_key()? {
            println!(
                "signing key: {} is not the key used before, so {sessions_ended} sessions ended and links in mail \
                 already sent no longer work",
                library.signing_key_path().display()
            );
        }
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
        let mail = match super::digest::smtp_mailer(send_options().workers)? {
            Some(mailer) => {
                let settings = super::digest::mail_settings(Some(&base_url))?;
                println!(
                    "mail: sending the outbox over {}",
                    paperboy_mail::redact_url(&std::env::var("PAPERBOY_SMTP__URL").unwrap_or_default())
                );
                Some((mailer, settings))
            }
            None => {
                println!("mail: PAPERBOY_SMTP__URL is not set, so sign-in and confirmation mails wait in the outbox");
                None
            }
        };
        if let Some((mailer, settings)) = mail {
            let sender = library.clone();
            let options = send_options();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(OUTBOX_INTERVAL);
                loop {
                    tick.tick().await;
                    let round = SendOptions { limit: Some(OUTBOX_ROUND), ..options.clone() };
                    match send_outbox(sender.clone(), mailer.clone(), settings.clone(), round).await {
                        Ok(report) if report.sent + report.failed + report.retrying + report.deferred > 0 => {
                            tracing::info!(
                                sent = report.sent,
                                retrying = report.retrying,
                                failed = report.failed,
                                deferred = report.deferred,
                                "outbox sent"
                            )
                        }
                        Ok(_) => {}
                        Err(err) => tracing::warn!(error = %err, "sending the outbox stopped; the rest stays queued"),
                    }
                }
            });
        }
        if args.schedule {
            let schedule = Schedule::parse(&args.schedule_at, &args.schedule_zone, &args.schedule_days)
                .map_err(anyhow::Error::msg)
                .context("--schedule")?;
            let job = DailyJob {
                library: library.clone(),
                schedule,
                sets: args.harvest_sets.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect(),
                endpoint: args.oai_endpoint.clone(),
                host: paperboy_app::delivery::host_of(&base_url),
            };
            println!(
                "schedule: harvest, build and send daily at {} {} on {}; next at {} UTC",
                args.schedule_at,
                args.schedule_zone,
                args.schedule_days,
                job.schedule.next_slot(Utc::now()).format("%Y-%m-%d %H:%M")
            );
            tokio::spawn(job.run());
        }
        let trusted_proxies = paperboy_web::TrustedProxies::parse(&args.trusted_proxies)
            .map_err(anyhow::Error::msg)
            .context("PAPERBOY_WEB__TRUSTED_PROXIES")?;
        let mut config =
            WebConfig { base_url, trusted_proxies, serve_metrics: args.metrics_addr.is_none(), ..WebConfig::default() };
        if let Some(workers) = args.web_workers {
            config.workers = workers.clamp(1, 1024);
        }
        if let Some(workers) = args.semantic_workers {
            config.semantic_workers = workers.clamp(1, 1024);
        }
        let state = AppState::new(library, config);
        if let Some(metrics_addr) = &args.metrics_addr {
            let metrics_listener = tokio::net::TcpListener::bind(metrics_addr)
                .await
                .with_context(|| format!("listening on {metrics_addr} for /metrics"))?;
            println!("metrics: /metrics and /healthz at http://{}/", metrics_listener.local_addr()?);
            let operator = paperboy_web::operator_router(state.clone());
            tokio::spawn(async move {
                if let Err(err) = paperboy_web::serve(metrics_listener, operator, std::future::pending()).await {
                    tracing::error!(error = %err, "serving /metrics failed");
                }
            });
        }
        paperboy_web::serve(listener, paperboy_web::router(state), shutdown()).await.context("serving")?;
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

/// Sending settings from the environment (PAPERBOY_MAIL__WORKERS, PAPERBOY_MAIL__RATE).
fn send_options() -> SendOptions {
    let workers = std::env::var("PAPERBOY_MAIL__WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(paperboy_app::delivery::DEFAULT_WORKERS);
    let rate = std::env::var("PAPERBOY_MAIL__RATE").ok().and_then(|v| v.parse::<f64>().ok()).filter(|r| *r > 0.0);
    SendOptions {
        workers: workers.clamp(1, 256),
        rate,
        patience: Duration::from_secs(60),
        retry_base: super::digest::retry_base(),
        ..SendOptions::default()
    }
}

/// The daily job: harvest, embed, build; the outbox sender then sends.
struct DailyJob {
    library: Arc<Library>,
    schedule: Schedule,
    sets: Vec<String>,
    endpoint: String,
    /// The site's host, for the digests' Message-IDs.
    host: String,
}

impl DailyJob {
    async fn run(self) {
        loop {
            match self.library.pending_slot(&self.schedule, Utc::now()) {
                Ok(Some(slot)) => {
                    let span = tracing::info_span!("daily_job", slot = %slot.format("%Y-%m-%dT%H:%MZ"));
                    self.once().instrument(span).await;
                    if let Err(err) = self.library.mark_slot_done(slot) {
                        tracing::error!(error = %err, "cannot record the daily job's run");
                    }
                }
                Ok(None) => {}
                Err(err) => tracing::error!(error = %err, "cannot read the schedule's state"),
            }
            let next = self.schedule.next_slot(Utc::now());
            let wait = (next - Utc::now()).to_std().unwrap_or(Duration::from_secs(1));
            tokio::time::sleep(wait.min(Duration::from_secs(3600))).await;
        }
    }

    async fn once(&self) {
        // Harvest from the day before the newest day stored (or three days back).
        let library = self.library.clone();
        let (sets, endpoint) = (self.sets.clone(), self.endpoint.clone());
        let span = tracing::Span::current();
        let harvested = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let _in_job = span.enter();
            let from =
                library.latest_day()?.map_or_else(|| Utc::now().date_naive() - Days::days(3), |d| d - Days::days(1));
            for set in sets {
                let options = OaiOptions {
                    request: HarvestRequest {
                        endpoint: endpoint.clone(),
                        from,
                        until: None,
                        set: Some(set.clone()),
                        format: MetadataFormat::Arxiv,
                    },
                    politeness: harvest_politeness(&endpoint),
                    max_pages: None,
                };
                let summary =
                    ingest::ingest_oai(&library, &options, &NoProgress).map_err(|e| anyhow::anyhow!("{e}"))?;
                tracing::info!(set, from = %from, new = summary.new, updated = summary.updated, "harvested");
            }
            let embedded = library.embed_missing(&NoProgress);
            if let Ok(summary) = embedded {
                tracing::info!(embedded = summary.embedded, "embedded new papers");
            }
            Ok(())
        })
        .await;
        match harvested {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::error!(error = %err, "the harvest failed; building digests from what is stored"),
            Err(err) => tracing::error!(error = %err, "the harvest stopped"),
        }
        let library = self.library.clone();
        let host = self.host.clone();
        let span = tracing::Span::current();
        let built = tokio::task::spawn_blocking(move || -> anyhow::Result<u64> {
            let _in_job = span.enter();
            let Some(date) = library.latest_day()? else { return Ok(0) };
            let options = BuildOptions {
                date,
                weekly_on: super::digest::weekly_on()?,
                host,
                dry_run: false,
                only: None,
                details: false,
                now: Utc::now(),
            };
            Ok(library.build_digests(&options, &NoProgress)?.queued)
        })
        .await;
        match built {
            Ok(Ok(queued)) => tracing::info!(queued, "digests built"),
            Ok(Err(err)) => tracing::error!(error = %err, "building the digests failed"),
            Err(err) => tracing::error!(error = %err, "building the digests stopped"),
        }
        // The outbox sender (every few seconds, when SMTP is set) delivers what was queued.
    }
}

/// The daily job's pace for the OAI-PMH endpoint: PAPERBOY_REQUEST_INTERVAL seconds between
/// requests (3 by default, and never less for arxiv.org, as arXiv asks).
fn harvest_politeness(endpoint: &str) -> Politeness {
    let mut interval = super::digest::env_number("PAPERBOY_REQUEST_INTERVAL").unwrap_or(3.0).min(3600.0);
    let host = endpoint.split("://").nth(1).unwrap_or(endpoint).split(['/', ':']).next().unwrap_or("");
    if host == "arxiv.org" || host.ends_with(".arxiv.org") {
        interval = interval.max(3.0);
    }
    Politeness { min_interval: Duration::from_secs_f64(interval), ..Politeness::ARXIV }
}
