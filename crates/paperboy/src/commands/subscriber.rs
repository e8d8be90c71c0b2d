//! `paperboy subscriber add|list|show|remove|import|unsuppress|suppressed`: the operator's view of accounts.

use std::process::ExitCode;

use anyhow::{Context as _, bail};
use chrono::Utc;
use paperboy_domain::{Cadence, Category, Preferences};

use super::{Context, open_library};
use crate::{
    cli::{CadenceArg, SubscriberAddArgs, SubscriberCommand},
    output::{print_json, thousands},
};

pub fn run(context: &Context, command: SubscriberCommand) -> anyhow::Result<ExitCode> {
    let library = open_library(context)?;
    match command {
        SubscriberCommand::Add(args) => add(&library, args),
        SubscriberCommand::List(args) => {
            let accounts = library.subscribers(args.after, args.limit.clamp(1, 100_000))?;
            if args.json.json {
                print_json(&accounts)?;
            } else {
                let counts = library.subscriber_counts()?;
                let summary: Vec<String> =
                    counts.iter().map(|(status, n)| format!("{n} {}", status_name(*status))).collect();
                println!("{}", if summary.is_empty() { "no subscribers".to_owned() } else { summary.join(" · ") });
                for account in &accounts {
                    let p = &account.preferences;
                    println!(
                        "{:>7}  {:<40}  {:<12}  {:<7}  {} searches · {} categories · {} authors",
                        account.id,
                        account.email.as_str(),
                        status_name(account.status),
                        cadence_name(p.cadence),
                        p.searches.len(),
                        p.categories.len(),
                        p.authors.len()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        SubscriberCommand::Show { who, json } => {
            let Some(account) = library.subscriber(&who)? else { bail!("no subscriber {who}") };
            let export = library.export_account(account.id, Utc::now())?;
            if json.json {
                print_json(&export)?;
            } else {
                let p = &account.preferences;
                println!("{}  (account {}, {})", account.email.as_str(), account.id, status_name(account.status));
                println!(
                    "  created {}  confirmed {}",
                    account.created_at.format("%Y-%m-%d %H:%M"),
                    account.confirmed_at.map_or("no".into(), |d| d.format("%Y-%m-%d %H:%M").to_string())
                );
                println!(
                    "  cadence {} · trending {} · at most {} papers · library {} · empty digests {}",
                    cadence_name(p.cadence),
                    p.trending,
                    p.max_papers,
                    if p.library { "on" } else { "off" },
                    if p.send_empty { "on" } else { "off" }
                );
                println!("  last digest {}", account.last_digest_on.map_or("never".into(), |d| d.to_string()));
                if let Some(at) = account.suppressed_at {
                    println!(
                        "  SUPPRESSED since {} ({}); `paperboy subscriber unsuppress {}` lifts it",
                        at.format("%Y-%m-%d %H:%M"),
                        account.suppressed_reason.as_deref().unwrap_or("no reason recorded"),
                        account.id
                    );
                } else if account.hard_failures > 0 {
                    println!("  {} bounces so far (not suppressed)", account.hard_failures);
                }
                for search in &p.searches {
                    println!("  search    {search}");
                }
                for category in &p.categories {
                    println!("  category  {category}");
                }
                for author in &p.authors {
                    println!("  author    {author}");
                }
                println!(
                    "  library {} papers · upvotes {} · messages {}",
                    export.library.len(),
                    export.upvotes.len(),
                    export.messages.len()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        SubscriberCommand::Import { file, json } => {
            #[derive(serde::Deserialize)]
            struct Line {
                email: String,
                #[serde(default)]
                confirmed: bool,
                #[serde(flatten)]
                preferences: Preferences,
            }
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let mut subscribers = Vec::new();
            for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
                let line: Line =
                    serde_json::from_str(line).with_context(|| format!("{} line {}", file.display(), n + 1))?;
                let email = paperboy_domain::EmailAddress::parse(&line.email)
                    .with_context(|| format!("{} line {}: {:?}", file.display(), n + 1, line.email))?;
                subscribers.push((email, line.confirmed, line.preferences));
            }
            let imported = library.import_subscribers(&subscribers, Utc::now())?;
            if json.json {
                print_json(&serde_json::json!({"read": subscribers.len(), "imported": imported}))?;
            } else {
                println!(
                    "imported {} subscribers ({} lines; known addresses skipped)",
                    thousands(imported as u64),
                    thousands(subscribers.len() as u64)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        SubscriberCommand::Remove { who } => {
            let Some(account) = library.subscriber(&who)? else { bail!("no subscriber {who}") };
            library.delete_account(account.id)?;
            println!("removed {} (account {}) and everything about it", account.email.as_str(), account.id);
            Ok(ExitCode::SUCCESS)
        }
        SubscriberCommand::Unsuppress { who } => {
            let Some(account) = library.subscriber(&who)? else { bail!("no subscriber {who}") };
            if library.unsuppress(account.id)? {
                println!("{} (account {}) gets mail again", account.email.as_str(), account.id);
            } else {
                println!("{} (account {}) was not suppressed", account.email.as_str(), account.id);
            }
            Ok(ExitCode::SUCCESS)
        }
        SubscriberCommand::Suppressed(json) => suppressed(&library, json.json),
    }
}

/// `paperboy subscriber suppressed`: every suppressed address, with why.
fn suppressed(library: &paperboy_app::Library, json: bool) -> anyhow::Result<ExitCode> {
    let mut accounts = Vec::new();
    let mut after = 0;
    loop {
        let page = library.suppressed_subscribers(after, 1_000)?;
        let Some(last) = page.last() else { break };
        after = last.id;
        accounts.extend(page);
    }
    if json {
        print_json(&accounts)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} suppressed addresses", thousands(accounts.len() as u64));
    for account in &accounts {
        println!(
            "{:>7}  {:<40}  since {}  {}",
            account.id,
            account.email.as_str(),
            account.suppressed_at.map_or(String::new(), |at| at.format("%Y-%m-%d").to_string()),
            account.suppressed_reason.as_deref().unwrap_or("")
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn add(library: &paperboy_app::Library, args: SubscriberAddArgs) -> anyhow::Result<ExitCode> {
    let mut categories = Vec::new();
    for text in &args.categories {
        categories.push(Category::parse(text).with_context(|| format!("--category {text}"))?);
    }
    let preferences = Preferences {
        cadence: match args.cadence {
            CadenceArg::Daily => Cadence::Daily,
            CadenceArg::Weekly => Cadence::Weekly,
            CadenceArg::Paused => Cadence::Paused,
        },
        trending: args.trending,
        searches: args.searches,
        categories,
        authors: args.authors,
        library: !args.no_library,
        max_papers: args.max_papers,
        send_empty: args.send_empty,
    };
    let account = library.add_subscriber(&args.email, args.confirmed, preferences, Utc::now())?;
    if args.json.json {
        print_json(&account)?;
    } else {
        println!(
            "added {} (account {}, {})",
            account.email.as_str(),
            account.id,
            if args.confirmed {
                "confirmed: digests start with the next build"
            } else {
                "pending: gets nothing until the address is confirmed"
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn status_name(status: paperboy_store::AccountStatus) -> &'static str {
    match status {
        paperboy_store::AccountStatus::Pending => "pending",
        paperboy_store::AccountStatus::Active => "active",
        paperboy_store::AccountStatus::Unsubscribed => "unsubscribed",
    }
}

fn cadence_name(cadence: Cadence) -> &'static str {
    match cadence {
        Cadence::Daily => "daily",
        Cadence::Weekly => "weekly",
        Cadence::Paused => "paused",
    }
}
