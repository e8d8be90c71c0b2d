//! `paperboy digest build|send|run`.

use std::{process::ExitCode, sync::Arc, time::Duration};

use anyhow::{Context as _, bail};
use chrono::Utc;
use paperboy_app::{
    Library,
    delivery::{MailSettings, SendOptions, SendReport},
    digest::{BuildOptions, BuildReport},
};
use paperboy_mail::{SmtpMailer, SmtpSettings};

use super::{Context, open_library};
use crate::{
    cli::{DigestBuildArgs, DigestCommand, DigestSendArgs},
    output::{print_json, thousands},
    progress::CliProgress,
};

/// The site's public URL when none is configured.
const DEFAULT_BASE_URL: &str = "http://127.0.0.1:8080";

/// Mail settings from the environment: PAPERBOY_BASE_URL, PAPERBOY_MAIL__FROM,
/// PAPERBOY_MAIL__UNSUBSCRIBE_MAILTO.
pub fn mail_settings(base_url: Option<&str>) -> anyhow::Result<MailSettings> {
    let env_base = std::env::var("PAPERBOY_BASE_URL").ok().filter(|v| !v.trim().is_empty());
    let base_url = base_url.map(str::to_owned).or(env_base).unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
    let from = std::env::var("PAPERBOY_MAIL__FROM").ok().filter(|v| !v.trim().is_empty());
    let mailto = std::env::var("PAPERBOY_MAIL__UNSUBSCRIBE_MAILTO").ok().filter(|v| !v.trim().is_empty());
    Ok(MailSettings::new(&base_url, from.as_deref(), mailto.as_deref())?)
}

/// The SMTP client for PAPERBOY_SMTP__URL, or `None` when it is not set.
pub fn smtp_mailer(connections: usize) -> anyhow::Result<Option<SmtpMailer>> {
    let Some(url) = std::env::var("PAPERBOY_SMTP__URL").ok().filter(|v| !v.trim().is_empty()) else { return Ok(None) };
    let timeout = env_number("PAPERBOY_SMTP__TIMEOUT").unwrap_or(30.0).clamp(0.1, 600.0);
    let pool_size = connections.clamp(1, 256) as u32;
    let extra_roots_pem =
        match std::env::var_os("PAPERBOY_SMTP__CA_FILE").filter(|v| !v.is_empty()) {
            Some(path) => Some(std::fs::read(&path).with_context(|| {
                format!("reading PAPERBOY_SMTP__CA_FILE ({})", std::path::Path::new(&path).display())
            })?),
            None => None,
        };
    let settings = SmtpSettings { url, pool_size, timeout: Duration::from_secs_f64(timeout), extra_roots_pem };
    Ok(Some(SmtpMailer::new(&settings).map_err(anyhow::Error::msg)?))
}

pub fn run(context: &Context, command: DigestCommand) -> anyhow::Result<ExitCode> {
    let library = Arc::new(open_library(context)?);
    match command {
        DigestCommand::Build(args) => {
            build(&library, &args)?;
        }
        DigestCommand::Send(args) => {
            send(library, &args)?;
        }
        DigestCommand::Run(args) => {
            let report = build(&library, &args)?;
            if !args.dry_run && report.queued > 0 {
                let workers = std::env::var("PAPERBOY_MAIL__WORKERS")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(paperboy_app::delivery::DEFAULT_WORKERS);
                let rate = std::env::var("PAPERBOY_MAIL__RATE").ok().and_then(|v| v.parse().ok()).unwrap_or(0.0);
                send(library, &DigestSendArgs { limit: None, workers, rate, json: args.json })?;
            }
        }
        DigestCommand::Status { json } => status(&library, json.json)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn build(library: &Library, args: &DigestBuildArgs) -> anyhow::Result<BuildReport> {
    let date = match args.date {
        Some(date) => date,
        None => library.latest_day()?.context("the store has no announced papers; ingest some or pass --date")?,
    };
    let only = match &args.subscriber {
        Some(who) => match library.subscriber(&paperboy_app::accounts::Subscriber::parse(who)?)? {
            Some(account) => Some(account.id),
            None => bail!("no subscriber {who}"),
        },
        None => None,
    };
    let settings = mail_settings(None)?;
    let options = BuildOptions {
        date,
        weekly_on: weekly_on()?,
        host: settings.context.host.clone(),
        dry_run: args.dry_run,
        only,
        details: args.json || args.dry_run,
        now: Utc::now(),
    };
    let report = library.build_digests(&options, &CliProgress::new())?;
    if args.json {
        print_json(&report)?;
        return Ok(report);
    }
    println!(
        "{date}: {} papers announced · {} active subscribers · {} due",
        thousands(report.announced as u64),
        thousands(report.subscribers),
        thousands(report.due)
    );
    println!(
        "  {} {} · {} with nothing to send · {} queued before · {} papers in all",
        thousands(report.queued),
        if args.dry_run { "digests would be queued (dry run)" } else { "digests queued" },
        thousands(report.empty),
        thousands(report.already_queued),
        thousands(report.entries)
    );
    println!(
        "  {} distinct saved searches over {} new papers · {:.2} s (load {:.2}, searches {:.2}, subscribers {:.2}, outbox {:.2})",
        thousands(report.searches as u64),
        thousands(report.papers as u64),
        report.seconds,
        report.phases.load_s,
        report.phases.searches_s,
        report.phases.subscribers_s,
        report.phases.queue_s
    );
    if report.pruned_messages > 0 {
        println!(
            "  forgot {} messages sent over {} days ago ({} records of sent papers)",
            thousands(report.pruned_messages),
            paperboy_app::digest::DELIVERED_RETENTION_DAYS,
            thousands(report.pruned_paper_records)
        );
    }
    for planned in report.digests.iter().take(20) {
        println!(
            "\n{} — {} papers, {} trending",
            planned.recipient,
            planned.digest.items.len(),
            planned.digest.trending.len()
        );
        for entry in planned.digest.items.iter().take(10) {
            println!(
                "  {}  {}",
                entry.paper,
                entry.reasons.iter().map(|r| r.describe()).collect::<Vec<_>>().join("; ")
            );
        }
    }
    Ok(report)
}

fn send(library: Arc<Library>, args: &DigestSendArgs) -> anyhow::Result<SendReport> {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    // The SMTP connection pool starts its own background task, so it is made inside the runtime.
    let _entered = runtime.enter();
    let Some(mailer) = smtp_mailer(args.workers)? else {
        bail!("PAPERBOY_SMTP__URL is not set (e.g. smtp://127.0.0.1:2525)")
    };
    let settings = mail_settings(None)?;
    if !args.rate.is_finite() || args.rate < 0.0 {
        bail!("--rate must be 0 (no limit) or a positive number of messages per second");
    }
    let options = SendOptions {
        limit: args.limit,
        workers: args.workers.clamp(1, 256),
        rate: (args.rate > 0.0).then_some(args.rate),
        retry_base: retry_base(),
        patience: Duration::from_secs_f64(env_number("PAPERBOY_MAIL__PATIENCE").unwrap_or(600.0).clamp(0.0, 86_400.0)),
    };
    let report = runtime.block_on(paperboy_app::delivery::send_outbox(library, mailer, settings, options))?;
    if args.json {
        print_json(&report)?;
    } else {
        if report.requeued > 0 {
            println!("put back {} messages a stopped sender had left in flight", thousands(report.requeued));
        }
        println!(
            "sent {} · retrying later {} · failed {} · not sent (unsubscribed) {} · {:.1} s ({:.0} messages/s)",
            thousands(report.sent),
            thousands(report.retrying),
            thousands(report.failed),
            thousands(report.cancelled),
            report.seconds,
            report.per_second
        );
    }
    Ok(report)
}

fn status(library: &Library, json: bool) -> anyhow::Result<()> {
    let counts = library.outbox_status()?;
    let suppressed = library.suppressed_count()?;
    if json {
        let mut map: serde_json::Map<String, serde_json::Value> = counts
            .iter()
            .map(|(state, n)| (serde_json::to_value(state).unwrap().as_str().unwrap_or("").to_owned(), (*n).into()))
            .collect();
        map.insert("suppressed_addresses".into(), suppressed.into());
        return print_json(&map);
    }
    println!("outbox:");
    for (state, n) in counts {
        let name = serde_json::to_value(state)?.as_str().unwrap_or("").to_owned();
        println!("  {name:<8} {:>10}", thousands(n));
    }
    println!(
        "suppressed addresses (their mail bounced): {}{}",
        thousands(suppressed),
        if suppressed > 0 { " — `paperboy subscriber suppressed` lists them" } else { "" }
    );
    Ok(())
}

/// A number from the environment, if set and valid.
pub fn env_number(name: &str) -> Option<f64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse::<f64>().ok()).filter(|v| v.is_finite() && *v >= 0.0)
}

/// The first retry's delay (PAPERBOY_MAIL__RETRY_BASE seconds; a minute by default).
pub fn retry_base() -> Duration {
    Duration::from_secs_f64(env_number("PAPERBOY_MAIL__RETRY_BASE").unwrap_or(60.0).clamp(0.1, 86_400.0))
}

/// The weekday weekly digests are built on (PAPERBOY_DIGEST__WEEKLY_ON; Friday by default).
pub fn weekly_on() -> anyhow::Result<chrono::Weekday> {
    match std::env::var("PAPERBOY_DIGEST__WEEKLY_ON").ok().filter(|v| !v.trim().is_empty()) {
        Some(text) => text
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("PAPERBOY_DIGEST__WEEKLY_ON={text:?} is not a weekday (mon, tue, …)")),
        None => Ok(paperboy_app::digest::WEEKLY_ON),
    }
}
