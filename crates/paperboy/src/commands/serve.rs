//! `paperboy serve`: the web app and the JSON API, with new papers embedded in the background.

use std::{process::ExitCode, sync::Arc, time::Duration};

use anyhow::Context as _;
use chrono::{Duration as Days, Utc};
use paperboy_app::{
    Library, NoProgress,
    delivery::{SendOptions, redact_url, send_outbox},
    digest::BuildOptions,
    ingest::{self, HarvestRequest, MetadataFormat, OaiOptions, Politeness},
    schedule::{Schedule, SlotClaim},
    signing::KeyChange,
};
use paperboy_web::{AppState, WebConfig};
use tracing::Instrument as _;

use super::{Context, open_library};
use crate::config::Config;

/// How often the server takes in what other processes stored.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(500);
/// How often the server looks for papers without a vector.
const EMBED_INTERVAL: Duration = Duration::from_secs(60);
/// How often the server sends what the outbox holds (sign-in links should not wait).
const OUTBOX_INTERVAL: Duration = Duration::from_secs(5);
/// Messages sent per round at most.
const OUTBOX_ROUND: u64 = 2_000;
/// How long a stopping server waits for background work on blocking threads (embedding a
/// backlog can take hours). Each step of that work is durable, so what is cut off is redone, as
/// after a kill: a batch of embeddings, a message in flight (re-sent with its `Message-ID`).
const BACKGROUND_GRACE: Duration = Duration::from_secs(10);

pub fn run(context: &Context) -> anyhow::Result<ExitCode> {
    let library = Arc::new(open_library(context)?);
    serve(library, &context.config)?;
    Ok(ExitCode::SUCCESS)
}

/// Serves `library` until Ctrl-C or SIGTERM: the web app, the embedding of new papers, the outbox
/// sender (with SMTP configured), the daily job (with the schedule on), `/metrics` on an address of
/// its own (if configured).
pub fn serve(library: Arc<Library>, config: &Config) -> anyhow::Result<()> {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    let served = runtime.block_on(async move {
        let addr = &config.web.addr;
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("listening on {addr}"))?;
        let base_url = match &config.web.base_url {
            Some(url) => url.clone(),
            None => format!("http://{}", listener.local_addr()?),
        };
        if let KeyChange::Replaced { sessions_ended } = library.open_signing_key()? {
            println!(
                "signing key: {} is not the key used before, so {sessions_ended} sessions ended and links in mail \
                 already sent no longer work",
                library.signing_key_path().display()
            );
        }
        let stats = library.stats()?;
        // The model loads here rather than at the first search by meaning, so that no visitor
        // waits for it; one that cannot be loaded leaves keyword search, with the reason below.
        // The vectors load in the background, with the first follow of the store (at 3 million
        // papers they take seconds; keyword search and the pages are served meanwhile, except
        // the similar papers of a paper page, which wait for them).
        let _ = library.load_model();
        match library.semantic_status() {
            Ok(model) => {
                println!(
                    "search: hybrid, words and meaning ({model}; {} of {} papers embedded)",
                    stats.vectors, stats.papers
                );
                tokio::spawn(embed_new_papers(library.clone()));
            }
            Err(reason) => println!("search: keyword only — {reason}"),
        }
        println!("store: {}", library.store_description());
        tokio::spawn(follow_store(library.clone()));
        println!("paperboy is serving {} papers at {base_url}/  (Ctrl-C stops it)", stats.papers);
        start_sender(&library, config, &base_url)?;
        if config.schedule.enabled {
            start_daily_job(&library, config, &base_url)?;
        }
        let state = AppState::new(library, web_config(config, base_url));
        if let Some(metrics_addr) = &config.web.metrics_addr {
            let listener = tokio::net::TcpListener::bind(metrics_addr)
                .await
                .with_context(|| format!("listening on {metrics_addr} for /metrics"))?;
            println!("metrics: /metrics and /healthz at http://{}/", listener.local_addr()?);
            let operator = paperboy_web::operator_router(state.clone());
            tokio::spawn(async move {
                if let Err(err) = paperboy_web::serve(listener, operator, std::future::pending()).await {
                    tracing::error!(error = %err, "serving /metrics failed");
                }
            });
        }
        paperboy_web::serve(listener, paperboy_web::router(state), shutdown()).await.context("serving")?;
        println!("stopped");
        anyhow::Ok(())
    });
    // Dropping the runtime would wait for every blocking task to end by itself.
    runtime.shutdown_timeout(BACKGROUND_GRACE);
    served
}

/// The web app's settings from the configuration.
fn web_config(config: &Config, base_url: String) -> WebConfig {
    let mut web = WebConfig {
        base_url,
        trusted_proxies: config.web.trusted_proxies.clone(),
        serve_metrics: config.web.metrics_addr.is_none(),
        ..WebConfig::default()
    };
    if let Some(workers) = config.web.workers {
        web.workers = workers;
    }
    if let Some(workers) = config.web.semantic_workers {
        web.semantic_workers = workers;
    }
    web
}

/// Takes in what other processes stored (another node's ingest, a `paperboy ingest` beside the
/// server) every [`FOLLOW_INTERVAL`]. A store that is away is retried; the failure is logged once
/// a minute, not every round.
async fn follow_store(library: Arc<Library>) {
    let mut tick = tokio::time::interval(FOLLOW_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_logged: Option<std::time::Instant> = None;
    loop {
        tick.tick().await;
        let library = library.clone();
        match tokio::task::spawn_blocking(move || library.follow()).await {
            Ok(Ok((papers, vectors))) => {
                if papers + vectors > 0 {
                    tracing::debug!(papers, vectors, "took in changes from the store");
                }
                if last_logged.take().is_some() {
                    tracing::info!("following the store again");
                }
            }
            Ok(Err(err)) => {
                if last_logged.is_none_or(|at| at.elapsed() > Duration::from_secs(60)) {
                    tracing::warn!(error = %err, "cannot follow the store; retrying");
                    last_logged = Some(std::time::Instant::now());
                }
            }
            Err(err) => tracing::error!(error = %err, "following the store stopped"),
        }
    }
}

/// Embeds papers without a vector every [`EMBED_INTERVAL`].
async fn embed_new_papers(library: Arc<Library>) {
    let mut tick = tokio::time::interval(EMBED_INTERVAL);
    loop {
        tick.tick().await;
        let library = library.clone();
        match tokio::task::spawn_blocking(move || library.embed_missing(&NoProgress)).await {
            Ok(Ok(summary)) if summary.embedded > 0 => {
                tracing::info!(embedded = summary.embedded, "embedded new papers in the background")
            }
            Ok(Ok(_)) => {}
            Ok(Err(err)) => tracing::error!(error = %err, "background embedding failed"),
            Err(err) => tracing::error!(error = %err, "background embedding panicked"),
        }
    }
}

/// Sends the outbox every [`OUTBOX_INTERVAL`] when a mail server is configured (sign-in links
/// should not wait); otherwise says that mail waits.
fn start_sender(library: &Arc<Library>, config: &Config, base_url: &str) -> anyhow::Result<()> {
    let Some(mailer) = super::digest::smtp_mailer(config, config.mail.workers)? else {
        println!(
            "mail: smtp.url (PAPERBOY_SMTP__URL) is not set, so sign-in and confirmation mails wait in the outbox"
        );
        return Ok(());
    };
    let settings = super::digest::mail_settings(config, Some(base_url))?;
    println!("mail: sending the outbox over {}", redact_url(config.mail.smtp_url.as_deref().unwrap_or_default()));
    let sender = library.clone();
    // A server does not wait long for an unreachable mail server: the next round comes soon.
    let options = SendOptions {
        patience: config.mail.patience.min(Duration::from_secs(60)),
        ..super::digest::send_options(config, Some(OUTBOX_ROUND))
    };
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(OUTBOX_INTERVAL);
        loop {
            tick.tick().await;
            match send_outbox(sender.clone(), mailer.clone(), settings.clone(), options.clone()).await {
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
    Ok(())
}

/// Runs the daily job on its schedule.
fn start_daily_job(library: &Arc<Library>, config: &Config, base_url: &str) -> anyhow::Result<()> {
    let s = &config.schedule;
    let schedule = Schedule::parse(&s.at, &s.zone, &s.days).map_err(anyhow::Error::msg).context("the schedule")?;
    let job = DailyJob {
        library: library.clone(),
        schedule,
        sets: s.sets.clone(),
        endpoint: config.oai_endpoint.clone(),
        politeness: super::ingest::harvest_politeness(config.request_interval, &config.oai_endpoint),
        weekly_on: config.weekly_on,
        host: paperboy_app::delivery::host_of(base_url),
    };
    println!(
        "schedule: harvest, build and send daily at {} {} on {}; next at {} UTC",
        s.at,
        s.zone,
        s.days,
        job.schedule.next_slot(Utc::now()).format("%Y-%m-%d %H:%M")
    );
    tokio::spawn(job.run());
    Ok(())
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

/// The daily job: harvest, embed, build; the outbox sender then sends.
struct DailyJob {
    library: Arc<Library>,
    schedule: Schedule,
    sets: Vec<String>,
    endpoint: String,
    politeness: Politeness,
    weekly_on: chrono::Weekday,
    /// The site's host, for the digests' Message-IDs.
    host: String,
}

impl DailyJob {
    async fn run(self) {
        loop {
            let (library, schedule) = (self.library.clone(), self.schedule.clone());
            let claim = tokio::task::spawn_blocking(move || library.claim_slot(&schedule, Utc::now())).await;
            let wait = match claim {
                Ok(Ok(SlotClaim::Run(slot))) => {
                    self.run_slot(slot).await;
                    None
                }
                Ok(Ok(SlotClaim::Nothing)) => None,
                // Another node runs it; if that node dies, its lease runs out and this one takes over.
                Ok(Ok(SlotClaim::Elsewhere)) => Some(Duration::from_secs(60)),
                Ok(Err(err)) => {
                    tracing::error!(error = %err, "cannot read the schedule's state");
                    Some(Duration::from_secs(60))
                }
                Err(err) => {
                    tracing::error!(error = %err, "the schedule check stopped");
                    Some(Duration::from_secs(60))
                }
            };
            let next = self.schedule.next_slot(Utc::now());
            let until_next = (next - Utc::now()).to_std().unwrap_or(Duration::from_secs(1));
            tokio::time::sleep(wait.unwrap_or(until_next).min(until_next).min(Duration::from_secs(3600))).await;
        }
    }

    /// Runs the job for `slot`, renewing this node's claim every minute, then records the slot.
    async fn run_slot(&self, slot: chrono::DateTime<Utc>) {
        let span = tracing::info_span!("daily_job", slot = %slot.format("%Y-%m-%dT%H:%MZ"));
        let library = self.library.clone();
        // Renews the job's lease while it runs; ends when another node has taken it over.
        let lost = async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            tick.tick().await;
            loop {
                tick.tick().await;
                let library = library.clone();
                match tokio::task::spawn_blocking(move || library.keep_slot()).await {
                    Ok(Ok(true)) => {}
                    Ok(Ok(false)) => return,
                    Ok(Err(err)) => tracing::warn!(error = %err, "cannot renew the daily job's lease"),
                    Err(_) => {}
                }
            }
        };
        tokio::select! {
            () = self.once().instrument(span) => {}
            () = lost => {
                // The step under way finishes (each is safe to repeat); no later step starts here.
                tracing::warn!("another node took the daily job over; this node leaves it");
                return;
            }
        }
        let library = self.library.clone();
        match tokio::task::spawn_blocking(move || library.finish_slot(slot)).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::error!(error = %err, "cannot record the daily job's run"),
            Err(err) => tracing::error!(error = %err, "recording the daily job's run stopped"),
        }
    }

    async fn once(&self) {
        // Harvest from the day before the newest day stored (or three days back).
        let library = self.library.clone();
        let (sets, endpoint, politeness) = (self.sets.clone(), self.endpoint.clone(), self.politeness);
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
                    politeness,
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
        let (host, weekly_on) = (self.host.clone(), self.weekly_on);
        let span = tracing::Span::current();
        let built = tokio::task::spawn_blocking(move || -> anyhow::Result<u64> {
            let _in_job = span.enter();
            let Some(date) = library.latest_day()? else { return Ok(0) };
            let options =
                BuildOptions { date, weekly_on, host, dry_run: false, only: None, details: false, now: Utc::now() };
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
