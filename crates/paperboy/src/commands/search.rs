//! `paperboy search`

use std::process::ExitCode;

use paperboy_app::{Order, SearchMode, SearchParams};
use paperboy_domain::query::CategoryFilter;

use super::{Context, open_library};
use crate::{
    cli::{ModeArg, SearchArgs, SortArg},
    output,
};

pub fn run(context: &Context, args: SearchArgs) -> anyhow::Result<ExitCode> {
    let query = args.query.join(" ");
    let categories = args.categories.iter().map(|c| CategoryFilter::parse(c)).collect::<Result<Vec<_>, _>>()?;
    if let (Some(since), Some(until)) = (args.since, args.until)
        && until < since
    {
        anyhow::bail!("--until {until} is before --since {since}");
    }
    let limit = args.limit.clamp(1, 1_000);
    let offset = (args.page.max(1) - 1) * limit;
    let library = open_library(context)?;
    let params = SearchParams {
        query: query.clone(),
        categories,
        since: args.since,
        until: args.until,
        order: match args.sort {
            SortArg::Relevance => Order::Relevance,
            SortArg::Date => Order::Date,
            SortArg::Trending => Order::Trending,
        },
        limit,
        offset,
        mode: match args.mode {
            ModeArg::Auto => SearchMode::Auto,
            ModeArg::Keyword => SearchMode::Keyword,
            ModeArg::Semantic => SearchMode::Semantic,
            ModeArg::Hybrid => SearchMode::Hybrid,
        },
        explain: args.explain,
    };
    let page = library.search(&params)?;
    if args.json.json {
        output::print_json(&page)?;
    } else {
        if let Some(notice) = &page.notice {
            eprintln!("note: {notice}");
        }
        print!("{}", output::search_page(&query, &page, offset));
    }
    Ok(ExitCode::SUCCESS)
}
