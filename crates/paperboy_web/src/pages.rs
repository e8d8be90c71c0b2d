//! The HTML pages.

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use maud::{Markup, html};
use paperboy_app::{Order, PaperDetails, SearchHit, browse::Trending};
use paperboy_domain::{ArxivId, query::CategoryFilter};

use crate::{
    AppState, CACHE_SHORT, PageError,
    account::MaybeViewer,
    error::Failure,
    math,
    params::{self, MAX_PAGE, PAGE_SIZE, ParsedSearch, RawParams},
    render::{self, Head, Viewer, no_marks, paper_item, rich_text},
};

pub async fn home(State(state): State<AppState>, MaybeViewer(viewer): MaybeViewer) -> Result<Response, PageError> {
    let (daily, trending) = state
        .blocking(|library| {
            let daily = library.daily(None, None).ok();
            let trending = library.trending(None, 10, 0);
            (daily, trending)
        })
        .await?;
    let trending = trending?;
    let base = &state.config.base_url;
    let head = Head {
        title: "Today's papers".into(),
        description: Some("New and trending research papers from arXiv, searchable by words and by meaning.".into()),
        url: Some(format!("{base}/")),
        feeds: vec![
            ("Daily papers".into(), "/feeds/daily.atom".into()),
            ("Trending papers".into(), "/feeds/trending.atom".into()),
        ],
        viewer,
        ..Head::default()
    };
    let body = html! {
        div.columns {
            section.daily {
                @match &daily {
                    Some(daily) => {
                        h1 { "Announced " time datetime=(daily.date) { (daily.date) } }
                        p.sub { (daily.total) " papers · " a href={ "/daily/" (daily.date) } { "by category" } " · " a href="/feeds/daily.atom" { "Atom feed" } }
                        @for paper in daily.groups.iter().flat_map(|g| g.papers.iter()).take(30) {
                            (paper_item(paper, &no_marks, html! {}))
                        }
                        p { a href={ "/daily/" (daily.date) } { "All " (daily.total) " papers of " (daily.date) " →" } }
                    }
                    None => {
                        h1 { "No papers yet" }
                        p { "Ingest some: " code { "paperboy ingest jsonl FILE" } " or " code { "paperboy ingest oai --from DATE" } "." }
                    }
                }
            }
            aside.trending {
                h2 { a href="/trending" { "Trending" } }
                (trending_list(&trending.papers, 0))
                @if trending.papers.is_empty() { p.sub { "Nothing has upvotes or stars yet." } }
            }
        }
    };
    Ok(([CACHE_SHORT], render::layout(&head, body)).into_response())
}

fn trending_list(entries: &[Trending], offset: usize) -> Markup {
    html! {
        ol.trending start=(offset + 1) {
            @for entry in entries {
                li {
                    a href=(render::paper_path(&entry.paper)) { (rich_text(&entry.paper.title, &no_marks)) }
                    span.meta {
                        " ▲ " (entry.upvotes)
                        @if let Some(stars) = entry.github_stars { " · ★ " (stars) }
                        " · " (entry.day)
                    }
                }
            }
        }
    }
}

pub async fn search(
    State(state): State<AppState>,
    MaybeViewer(viewer): MaybeViewer,
    Query(raw): Query<RawParams>,
) -> Result<Response, PageError> {
    let parsed = params::search(&raw, PAGE_SIZE)?;
    let query = parsed.params.query.clone();
    let head = |title: String| Head {
        title,
        feeds: if query.is_empty() {
            Vec::new()
        } else {
            vec![(format!("Papers matching {query}"), format!("/feeds/search.atom?q={}", render::url_encode(&query)))]
        },
        query: query.clone(),
        viewer: viewer.clone(),
        ..Head::default()
    };
    if query.is_empty() {
        let body = search_form(&parsed, None);
        return Ok(([CACHE_SHORT], render::layout(&head("Search".into()), body)).into_response());
    }
    let search_params = parsed.params.clone();
    let account = viewer.as_ref().map(|v| v.account.id);
    let result = state
        .searching(&parsed.params, move |library| -> Result<_, paperboy_app::Error> {
            let results = library.search(&search_params)?;
            let marks = match account {
                Some(account) => {
                    Some(library.marks_of(account, &results.hits.iter().map(|h| h.paper.id).collect::<Vec<_>>())?)
                }
                None => None,
            };
            Ok((results, library.highlight_terms(&search_params.query), marks))
        })
        .await?;
    let (results, stems, saved_marks) = match result {
        Ok(ok) => ok,
        Err(err @ (paperboy_app::Error::Query(_) | paperboy_app::Error::NoSearchableWords)) => {
            let body = html! {
                (search_form(&parsed, None))
                p.error { (err.to_string()) }
                p.sub { "Try plain words, a \"phrase\", or see the query syntax below." }
                (syntax_help())
            };
            let response = (StatusCode::BAD_REQUEST, render::layout(&head("Search".into()), body)).into_response();
            return Ok(crate::no_store(response));
        }
        Err(err) => return Err(err.into()),
    };
    let marks = |text: &str| state.library.highlight_with(&stems, text);
    let body = html! {
        (search_form(&parsed, Some(&results)))
        @if let Some(notice) = &results.notice { p.notice { (notice) } }
        @if results.hits.is_empty() {
            p { "No papers match. Try fewer words, or drop the filters." }
            (syntax_help())
        }
        @for hit in &results.hits {
            (paper_item(&hit.paper, &marks, html! {
                @if hit.pinned { " · " span.pinned { "exact match" } }
                @if let (Some(viewer), Some((saved, upvoted))) = (&viewer, &saved_marks) {
                    " " (render::paper_actions(viewer, hit.paper.id, saved.contains(&hit.paper.id), upvoted.contains(&hit.paper.id)))
                }
            }))
        }
        (pager(&raw, parsed.page, results.total as usize))
    };
    Ok(([CACHE_SHORT], render::layout(&head(format!("{query} — search")), body)).into_response())
}

fn search_form(parsed: &ParsedSearch, results: Option<&paperboy_app::SearchPage>) -> Markup {
    let p = &parsed.params;
    html! {
        form.filters action="/search" method="get" {
            input type="search" name="q" value=(p.query) aria-label="Query" maxlength="1000";
            label { "Category " input type="text" name="category" value=(parsed.category_text) placeholder="cs.CL" size="8"; }
            label { "Since " input type="date" name="since" value=(p.since.map(|d| d.to_string()).unwrap_or_default()); }
            label { "Until " input type="date" name="until" value=(p.until.map(|d| d.to_string()).unwrap_or_default()); }
            label { "Sort "
                select name="sort" {
                    @for option in Order::ALL {
                        option value=(option.as_str()) selected[p.order == option] { (option.as_str()) }
                    }
                }
            }
            button type="submit" { "Search" }
        }
        @if let Some(results) = results {
            p.sub {
                (results.total) " results · "
                span.mode title="how results are ranked" { (results.mode) }
                " · " (format!("{:.0}", results.took_ms)) " ms"
                " · " a href={ "/feeds/search.atom?q=" (render::url_encode(&p.query)) } { "Atom feed of this search" }
            }
        }
    }
}

fn syntax_help() -> Markup {
    html! {
        details.syntax {
            summary { "Query syntax" }
            ul {
                li { code { "diffusion policy" } " — words; by relevance, words and meaning" }
                li { code { "\"diffusion policy\"" } " — a phrase" }
                li { code { "transformer -survey" } " — exclude a word; " code { "+word" } " requires one" }
                li { code { "ti:word au:name abs:word" } " — title, authors, abstract" }
                li { code { "cat:cs.CL" } ", " code { "cat:cs" } " — a category or an archive" }
                li { code { "2401.01234" } " or an exact title — that paper first" }
            }
        }
    }
}

fn pager(raw: &RawParams, page: usize, total: usize) -> Markup {
    let last = total.div_ceil(PAGE_SIZE).clamp(1, MAX_PAGE);
    let link = |page: usize| {
        let pairs = [
            ("q", &raw.q),
            ("category", &raw.category),
            ("since", &raw.since),
            ("until", &raw.until),
            ("sort", &raw.sort),
            ("mode", &raw.mode),
        ];
        let mut query: Vec<String> = pairs
            .iter()
            .filter_map(|(k, v)| {
                v.as_deref().filter(|v| !v.is_empty()).map(|v| format!("{k}={}", render::url_encode(v)))
            })
            .collect();
        query.push(format!("page={page}"));
        format!("/search?{}", query.join("&"))
    };
    html! {
        nav.pager {
            @if page > 1 { a rel="prev" href=(link(page - 1)) { "← Previous" } }
            span { "page " (page) " of " (last) }
            @if page < last { a rel="next" href=(link(page + 1)) { "Next →" } }
        }
    }
}

/// `GET /papers/{id}`: the paper, its links, how to cite it, similar papers.
pub async fn paper(
    State(state): State<AppState>,
    MaybeViewer(viewer): MaybeViewer,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let paper_id = ArxivId::parse_lenient(&id).map_err(|_| PageError(Failure::PaperId(id.clone())))?;
    let account = viewer.as_ref().map(|v| v.account.id);
    let (details, similar, marks) = state
        .blocking(move |library| -> Result<_, paperboy_app::Error> {
            let Some(details) = library.show(paper_id)? else {
                return Err(paperboy_app::Error::PaperNotFound(paper_id));
            };
            let similar = library.similar(paper_id, 8).ok();
            let marks = match account {
                Some(account) => Some(library.marks_of(account, &[details.stored.paper.id])?),
                None => None,
            };
            Ok((details, similar, marks))
        })
        .await??;
    let paper = &details.stored.paper;
    let head = Head {
        title: math::to_plain(&paper.title),
        description: Some(render::snippet(&math::to_plain(&paper.abstract_text), 200)),
        url: Some(format!("{}/papers/{}", state.config.base_url, paper.id)),
        feeds: paper
            .primary_category()
            .map(|c| vec![(format!("New papers in {c}"), format!("/feeds/categories/{c}.atom"))])
            .unwrap_or_default(),
        viewer: viewer.clone(),
        ..Head::default()
    };
    let actions = match (&viewer, &marks) {
        (Some(viewer), Some((saved, upvoted))) => Some((viewer, !saved.is_empty(), !upvoted.is_empty())),
        _ => None,
    };
    let body = paper_body(&details, actions, similar.as_deref());
    Ok(([CACHE_SHORT], render::layout(&head, body)).into_response())
}

/// The paper page's content. `actions`: the signed-in reader, whether they saved it and upvoted it.
fn paper_body(details: &PaperDetails, actions: Option<(&Viewer, bool, bool)>, similar: Option<&[SearchHit]>) -> Markup {
    let paper = &details.stored.paper;
    let versioned = paper.versioned_id();
    let upvotes: u32 = details.signals.iter().map(|s| s.upvotes).sum();
    let repo = details.signals.iter().find_map(|s| s.github_repo.clone());
    let stars = details.signals.iter().filter_map(|s| s.github_stars).max();
    html! {
        article.paper-page {
            h1 { (rich_text(&paper.title, &no_marks)) }
            p.authors { (render::authors(&paper.authors, 50)) }
            p.meta {
                span.id { (versioned) }
                @for category in &paper.categories {
                    " " a.category href={ "/categories/" (category) } title=(category.name()) { (category) }
                }
                @if upvotes > 0 { " · " span.upvotes title="upvotes" { "▲ " (upvotes) } }
            }
            p.links {
                a href={ "https://arxiv.org/abs/" (versioned) } { "arXiv" }
                a href={ "https://arxiv.org/pdf/" (versioned) } { "PDF" }
                @if let Some(doi) = &paper.doi { a href={ "https://doi.org/" (doi) } { "DOI" } }
                @if let Some(repo) = &repo {
                    a href=(repo) rel="nofollow noopener" { "Code" @if let Some(stars) = stars { " ★ " (stars) } }
                }
            }
            @match actions {
                Some((viewer, saved, upvoted)) => { p { (render::paper_actions(viewer, paper.id, saved, upvoted)) } }
                None => { p.sub { a href="/signin" { "Sign in" } " to save this paper or upvote it." } }
            }
            section.abstract { h2 { "Abstract" } p { (rich_text(&paper.abstract_text, &no_marks)) } }
            dl.dates {
                @if let Some(day) = paper.announced { dt { "Announced" } dd { (day) } }
                @if let Some(submitted) = paper.submitted { dt { "Submitted" } dd { (submitted.format("%Y-%m-%d %H:%M UTC")) } }
                @for version in &paper.versions {
                    dt { "v" (version.number) }
                    dd {
                        @match version.submitted { Some(d) => (d.format("%Y-%m-%d")), None => "date unknown" }
                        @if let Some(size) = &version.size { " (" (size) ")" }
                    }
                }
                @if let Some(comments) = &paper.comments { dt { "Comments" } dd { (comments) } }
                @if let Some(journal) = &paper.journal_ref { dt { "Journal" } dd { (journal) } }
            }
            section.bibtex {
                h2 { "Cite" }
                pre id="bibtex" { (paperboy_app::cite::bibtex(paper)) }
                button.copy type="button" data-copy="bibtex" { "Copy BibTeX" }
            }
            @if let Some(similar) = similar {
                section.similar {
                    h2 { "Similar papers" }
                    @for hit in similar { (paper_item(&hit.paper, &no_marks, html! {})) }
                }
            }
        }
    }
}

/// `GET /daily`: the newest announcement day.
pub async fn daily_latest(
    State(state): State<AppState>,
    MaybeViewer(viewer): MaybeViewer,
) -> Result<Response, PageError> {
    render_daily(state, viewer, None, None).await
}

/// `GET /daily/{date}`.
pub async fn daily(
    State(state): State<AppState>,
    MaybeViewer(viewer): MaybeViewer,
    Path(date): Path<String>,
    Query(raw): Query<RawParams>,
) -> Result<Response, PageError> {
    let date = params::date("date", &Some(date))?;
    render_daily(state, viewer, date, params::category(&raw.category)?).await
}

async fn render_daily(
    state: AppState,
    viewer: Option<Viewer>,
    date: Option<chrono::NaiveDate>,
    category: Option<CategoryFilter>,
) -> Result<Response, PageError> {
    let daily = state.blocking(move |library| library.daily(date, category)).await??;
    let head = Head {
        title: format!("Papers announced {}", daily.date),
        description: Some(format!("{} papers arXiv announced on {}", daily.total, daily.date)),
        url: Some(format!("{}/daily/{}", state.config.base_url, daily.date)),
        feeds: vec![("Daily papers".into(), "/feeds/daily.atom".into())],
        viewer,
        ..Head::default()
    };
    let body = html! {
        nav.days {
            @if let Some(previous) = daily.previous { a rel="prev" href={ "/daily/" (previous) } { "← " (previous) } }
            h1 { (daily.total) " papers announced " (daily.date) }
            @if let Some(next) = daily.next { a rel="next" href={ "/daily/" (next) } { (next) " →" } }
        }
        @if daily.total == 0 { p { "arXiv announced nothing paperboy has on this day." } }
        nav.toc {
            @for group in &daily.groups {
                @if let Some(category) = group.category {
                    a href={ "#" (category) } { (category) " (" (group.papers.len()) ")" } " "
                }
            }
        }
        @for group in &daily.groups {
            section.group id=[group.category.map(|c| c.to_string())] {
                h2 {
                    @match group.category {
                        Some(category) => { a href={ "/categories/" (category) } { (category) } " " span.sub { (category.name()) } }
                        None => "Without a category",
                    }
                }
                @for paper in &group.papers { (paper_item(paper, &no_marks, html! {})) }
            }
        }
    };
    Ok(([CACHE_SHORT], render::layout(&head, body)).into_response())
}

/// `GET /trending`.
pub async fn trending(
    State(state): State<AppState>,
    MaybeViewer(viewer): MaybeViewer,
    Query(raw): Query<RawParams>,
) -> Result<Response, PageError> {
    let page = params::page(&raw)?;
    let trending = state.blocking(move |library| library.trending(None, PAGE_SIZE, (page - 1) * PAGE_SIZE)).await??;
    let head = Head {
        title: "Trending papers".into(),
        description: Some("Papers ranked by upvotes and code stars, decayed with age.".into()),
        url: Some(format!("{}/trending", state.config.base_url)),
        feeds: vec![("Trending papers".into(), "/feeds/trending.atom".into())],
        viewer,
        ..Head::default()
    };
    let body = html! {
        h1 { "Trending" @if let Some(day) = trending.as_of { " " span.sub { "as of " (day) } } }
        p.sub { "Upvotes and code stars, decayed with age: score = (upvotes + 3·log₂(1 + stars)) / (hours + 2)^1.5, over 30 days." }
        (trending_list(&trending.papers, (page - 1) * PAGE_SIZE))
        @if trending.papers.is_empty() { p { "Nothing has upvotes or stars yet." } }
        nav.pager {
            @if page > 1 { a rel="prev" href={ "/trending?page=" (page - 1) } { "← Previous" } }
            @if page * PAGE_SIZE < trending.total { a rel="next" href={ "/trending?page=" (page + 1) } { "Next →" } }
        }
    };
    Ok(([CACHE_SHORT], render::layout(&head, body)).into_response())
}

/// `GET /categories/{category}`.
pub async fn category(
    State(state): State<AppState>,
    MaybeViewer(viewer): MaybeViewer,
    Path(category): Path<String>,
    Query(raw): Query<RawParams>,
) -> Result<Response, PageError> {
    let filter = CategoryFilter::parse(&category).map_err(|_| PageError(Failure::NotFound))?;
    let page = params::page(&raw)?;
    let (papers, total) =
        state.blocking(move |library| library.category(filter, PAGE_SIZE, (page - 1) * PAGE_SIZE)).await??;
    let name = match filter {
        CategoryFilter::Category(c) => format!("{c} · {}", c.name()),
        CategoryFilter::Archive(a) => {
            paperboy_domain::category::archive(a).map_or(a.to_owned(), |info| format!("{a} · {}", info.name))
        }
    };
    let head = Head {
        title: name.clone(),
        description: Some(format!("The newest papers in {name}")),
        url: Some(format!("{}/categories/{filter}", state.config.base_url)),
        feeds: vec![(format!("New papers in {filter}"), format!("/feeds/categories/{filter}.atom"))],
        viewer,
        ..Head::default()
    };
    let body = html! {
        h1 { (name) }
        p.sub { (total) " papers · " a href={ "/feeds/categories/" (filter) ".atom" } { "Atom feed" } " · " a href={ "/search?q=cat:" (filter) } { "search in it" } }
        @for paper in &papers { (paper_item(paper, &no_marks, html! {})) }
        nav.pager {
            @if page > 1 { a rel="prev" href={ "/categories/" (filter) "?page=" (page - 1) } { "← Newer" } }
            @if page * PAGE_SIZE < total as usize && page < MAX_PAGE { a rel="next" href={ "/categories/" (filter) "?page=" (page + 1) } { "Older →" } }
        }
    };
    Ok(([CACHE_SHORT], render::layout(&head, body)).into_response())
}

/// Any other path.
pub async fn not_found() -> PageError {
    PageError(Failure::NotFound)
}
