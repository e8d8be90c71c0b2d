//! `paperboy trending` and `paperboy daily`

use std::process::ExitCode;

use paperboy_domain::query::CategoryFilter;

use super::{Context, open_library};
use crate::{
    cli::{DailyArgs, TrendingArgs},
    output,
};

pub fn trending(context: &Context, args: TrendingArgs) -> anyhow::Result<ExitCode> {
    let page = open_library(context)?.trending(args.date, args.limit, 0)?;
    if args.json.json {
        output::print_json(&page)?;
        return Ok(ExitCode::SUCCESS);
    }
    match page.as_of {
        None => println!("nothing is trending: no upvotes or stars are stored (ingest hf-daily files)"),
        Some(day) => println!("trending as of {day} ({} papers with upvotes or stars in 30 days)", page.total),
    }
    for (i, entry) in page.papers.iter().enumerate() {
        let stars = entry.github_stars.map(|s| format!(", {s} stars")).unwrap_or_default();
        println!("{:>3}. {}  {}", i + 1, entry.paper.id, entry.paper.title);
        println!("     {} upvotes{stars} · featured {} · score {:.4}", entry.upvotes, entry.day, entry.score);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn daily(context: &Context, args: DailyArgs) -> anyhow::Result<ExitCode> {
    let category = args.category.as_deref().map(CategoryFilter::parse).transpose()?;
    let daily = open_library(context)?.daily(args.date, category)?;
    if args.json.json {
        output::print_json(&daily)?;
        return Ok(ExitCode::SUCCESS);
    }
    let around = |day: Option<chrono::NaiveDate>| day.map_or_else(|| "-".to_owned(), |d| d.to_string());
    println!(
        "{} papers announced {} (previous {}, next {})",
        daily.total,
        daily.date,
        around(daily.previous),
        around(daily.next)
    );
    for group in &daily.groups {
        let name = group.category.map_or_else(|| "no category".to_owned(), |c| format!("{c} {}", c.name()));
        println!("\n{name} ({})", group.papers.len());
        for paper in &group.papers {
            println!("  {}  {}", paper.id, paper.title);
        }
    }
    Ok(ExitCode::SUCCESS)
}
