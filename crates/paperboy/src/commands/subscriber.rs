//! `paperboy subscriber add|list|show|remove|import|unsuppress|suppressed`: the operator's view of accounts.

use std::process::ExitCode;

use anyhow::Context as _;
use chrono::Utc;
use paperboy_app::{Account, Library, accounts::Subscriber};
use paperboy_domain::{AccountId, Cadence, Category, EmailAddress, Preferences};

use super::{Context, open_library};
use crate::{
    cli::{CadenceArg, SubscriberAddArgs, SubscriberCommand},
    output::{print_json, thousands},
};

pub fn run(context: &Context, command: SubscriberCommand) -> anyhow::Result<ExitCode> {
    let library = open_library(context)?;
    match command {
        SubscriberCommand::Add(args) => add(&library, args)?,
        SubscriberCommand::List(args) => list(&library, args.after, args.limit, args.json.json)?,
        SubscriberCommand::Show { who, json } => show(&library, &find(&library, &who)?, json.json)?,
        SubscriberCommand::Import { file, json } => import(&library, &file, json.json)?,
        SubscriberCommand::Remove { who } => {
            let account = find(&library, &who)?;
            library.delete_account(account.id)?;
            println!("removed {} (account {}) and everything about it", account.email.as_str(), account.id);
        }
        SubscriberCommand::Unsuppress { who } => {
            let account = find(&library, &who)?;
            let verb = if library.unsuppress(account.id)? { "gets mail again" } else { "was not suppressed" };
            println!("{} (account {}) {verb}", account.email.as_str(), account.id);
        }
        SubscriberCommand::Suppressed(json) => suppressed(&library, json.json)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The subscriber an operator names (an address or an account number), or an error saying there
/// is none.
pub(crate) fn find(library: &Library, who: &str) -> anyhow::Result<Account> {
    let subscriber = Subscriber::parse(who)?;
    library.subscriber(&subscriber)?.with_context(|| format!("no subscriber {who}"))
}

/// `paperboy subscriber list`.
fn list(library: &Library, after: i64, limit: usize, json: bool) -> anyhow::Result<()> {
    let accounts = library.subscribers(AccountId(after), limit.clamp(1, 100_000))?;
    if json {
        return print_json(&accounts);
    }
    let counts = library.subscriber_counts()?;
    let summary: Vec<String> = counts.iter().map(|(status, n)| format!("{n} {}", status.as_str())).collect();
    println!("{}", if summary.is_empty() { "no subscribers".to_owned() } else { summary.join(" · ") });
    for account in &accounts {
        let p = &account.preferences;
        println!(
            "{:>7}  {:<40}  {:<12}  {:<7}  {} searches · {} categories · {} authors",
            account.id,
            account.email.as_str(),
            account.status.as_str(),
            p.cadence.as_str(),
            p.searches.len(),
            p.categories.len(),
            p.authors.len()
        );
    }
    Ok(())
}

/// `paperboy subscriber show`: the account, its preferences and what is kept about it.
fn show(library: &Library, account: &Account, json: bool) -> anyhow::Result<()> {
    let export = library.export_account(account.id, Utc::now())?;
    if json {
        return print_json(&export);
    }
    let p = &account.preferences;
    println!("{}  (account {}, {})", account.email.as_str(), account.id, account.status.as_str());
    println!(
        "  created {}  confirmed {}",
        account.created_at.format("%Y-%m-%d %H:%M"),
        account.confirmed_at.map_or("no".into(), |d| d.format("%Y-%m-%d %H:%M").to_string())
    );
    println!(
        "  cadence {} · trending {} · at most {} papers · library {} · empty digests {}",
        p.cadence.as_str(),
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
        println!("  {} bounces in a row (not suppressed)", account.hard_failures);
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
    Ok(())
}

/// `paperboy subscriber import FILE`: every line is checked before anything is imported.
fn import(library: &Library, file: &std::path::Path, json: bool) -> anyhow::Result<()> {
    #[derive(serde::Deserialize)]
    struct Line {
        email: String,
        #[serde(default)]
        confirmed: bool,
        #[serde(flatten)]
        preferences: Preferences,
    }
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let mut subscribers = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let line: Line = serde_json::from_str(line).with_context(|| format!("{} line {}", file.display(), n + 1))?;
        let email = EmailAddress::parse(&line.email)
            .with_context(|| format!("{} line {}: {:?}", file.display(), n + 1, line.email))?;
        subscribers.push((email, line.confirmed, line.preferences));
    }
    let imported = library.import_subscribers(&subscribers, Utc::now())?;
    if json {
        return print_json(&serde_json::json!({"read": subscribers.len(), "imported": imported}));
    }
    println!(
        "imported {} subscribers ({} lines; known addresses skipped)",
        thousands(imported as u64),
        thousands(subscribers.len() as u64)
    );
    Ok(())
}

/// `paperboy subscriber suppressed`: every suppressed address, with why.
fn suppressed(library: &Library, json: bool) -> anyhow::Result<()> {
    let mut accounts = Vec::new();
    let mut after = AccountId(0);
    loop {
        let page = library.suppressed_subscribers(after, 1_000)?;
        let Some(last) = page.last() else { break };
        after = last.id;
        accounts.extend(page);
    }
    if json {
        return print_json(&accounts);
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
    Ok(())
}

fn add(library: &Library, args: SubscriberAddArgs) -> anyhow::Result<()> {
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
    let email = EmailAddress::parse(&args.email)?;
    let account = library.add_subscriber(&email, args.confirmed, preferences, Utc::now())?;
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
    Ok(())
}
