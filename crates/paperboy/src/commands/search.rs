//! `paperboy search`

use std::{path::Path, process::ExitCode};

use paperboy_app::SearchParams;
use paperboy_domain::query::CategoryFilter;
use paperboy_search::Sort;

use super::open_library;
use crate::{
    cli::{SearchArgs, SortArg},
    output,
};

pub fn run(data_dir: &Path, args: SearchArgs) -> anyhow::Result<ExitCode> {
    let query = args.query.join(" ");
    let categories = args.categories.iter().map(|c| CategoryFilter::parse(c)).collect::<Result<Vec<_>, _>>()?;
    if let (Some(since), Some(until)) = (args.since, args.until)
        && until < since
    {
        anyhow::bail!("--until {until} is before --since {since}");
    }
    let limit = args.limit.clamp(1, 1_000);
    let offset = (args.page.max(1) - 1) * limit;
    let library = open_library(data_dir)?;
    let params = SearchParams {
        query: query.clone(),
        categories,
        since: args.since,
        until: args.until,
        sort: match args.sort {
            SortArg::Relevance => Sort::Relevance,
            SortArg::Date => Sort::Date,
        },
        limit,
        offset,
    };
    let page = library.search(&params)?;
    if args.json.json {
        output::print_json(&page)?;
    } else {
        print!("{}", output::search_page(&query, &page, offset));
    }
    Ok(ExitCode::SUCCESS)
}
