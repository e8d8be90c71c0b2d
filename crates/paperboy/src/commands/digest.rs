//! `paperboy digest build|send|run`.

use std::{process::ExitCode, sync::Arc};

use anyhow::{Context as _, bail};
use chrono::Utc;
use paperboy_app::delivery::{SmtpMailer, SmtpSettings};
use paperboy_app::{
    Library,
    delivery::{MailSettings, SendOptions, SendReport},
    digest::{BuildOptions, BuildReport},
};

use super::{Context, open_library};
use crate::{
    cli::{DigestBuildArgs, DigestCommand},
    config::Config,
    output::{print_json, thousands},
    progress::CliProgress,
};

/// The site's public URL when none is configured.
const DEFAULT_BASE_URL: &str = "http://127.0.0.1:8080";

/// What the mail says about the site and who sends: the base URL (`base_url`, else the configured
/// one), the sender, the unsubscribe address.
pub fn mail_settings(config: &Config, base_url: Option<&str>) -> anyhow::Result<MailSettings> {
    let base_url = base_url.or(config.web.base_url.as_deref()).unwrap_or(DEFAULT_BASE_URL);
    Ok(MailSettings::new(base_url, config.mail.from.as_deref(), config.mail.unsubscribe_mailto.as_deref())?)
}

/// The SMTP client of `smtp.url`, or `None` when it is not set.
pub fn smtp_mailer(config: &Config, connections: usize) -> anyhow::Result<Option<SmtpMailer>> {
    let Some(url) = &config.mail.smtp_url else { return Ok(None) };
    let extra_roots_pem = match &config.mail.ca_file {
        Some(path) => Some(std::fs::read(path).with_context(|| format!("reading smtp.ca_file ({})", path.display()))?),
        None => None,
    };
    let settings = SmtpSettings {
        url: url.clone(),
        pool_size: connections.clamp(1, 256) as u32,
        timeout: config.mail.smtp_timeout,
        extra_roots_pem,
    };
    Ok(Some(SmtpMailer::new(&settings).map_err(anyhow::Error::msg)?))
}

/// How `digest send` and `serve` send: workers, rate, retries, patience.
pub fn send_options(config: &Config, limit: Option<u64>) -> SendOptions {
    SendOptions {
        limit,
        workers: config.mail.workers,
        rate: config.mail.rate,
        retry_base: config.mail.retry_base,
        patience: config.mail.patience,
        claim_lease: config.mail.claim_lease,
    }
}

pub fn run(context: &Context, command: DigestCommand) -> anyhow::Result<ExitCode> {
    let library = Arc::new(open_library(context)?);
    let config = &context.config;
    match command {
        DigestCommand::Build(args) => {
            build(&library, config, &args)?;
        }
        DigestCommand::Send(args) => {
            send(library, config, args.limit, args.json)?;
        }
        DigestCommand::Run(args) => {
            let report = build(&library, config, &args)?;
            if !args.dry_run && report.queued > 0 {
                send(library, config, None, args.json)?;
            }
        }
        DigestCommand::Status { json } => status(&library, json.json)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn build(library: &Library, config: &Config, args: &DigestBuildArgs) -> anyhow::Result<BuildReport> {
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
    let settings = mail_settings(config, None)?;
    let options = BuildOptions {
        date,
        weekly_on: config.weekly_on,
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

fn send(library: Arc<Library>, config: &Config, limit: Option<u64>, json: bool) -> anyhow::Result<SendReport> {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    // The SMTP connection pool starts its own background task, so it is made inside the runtime.
    let _entered = runtime.enter();
    let Some(mailer) = smtp_mailer(config, config.mail.workers)? else {
        bail!("smtp.url (PAPERBOY_SMTP__URL) is not set (e.g. smtp://127.0.0.1:2525)")
    };
    let settings = mail_settings(config, None)?;
    let options = send_options(config, limit);
    let report = runtime.block_on(paperboy_app::delivery::send_outbox(library, mailer, settings, options))?;
    if json {
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
