//! The HTML pages.

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use maud::{Markup, html};
use paperboy_app::{Order, PaperDetails, SearchHit, SearchParams, browse::Trending};
use paperboy_domain::{ArxivId, query::CategoryFilter};

use crate::{
    AppState, CACHE_SHORT, PageError,
    account::MaybeViewer,
    error::Failure,
    math,
    params::{self, MAX_PAGE, PAGE_SIZE, ParamError, RawParams},
    render::{self, Head, Level, Section, Viewer, no_marks, paper_item, rich_text},
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
    let signed_in = viewer.is_some();
    let head = Head {
        title: "Today's papers".into(),
        description: Some("New and trending research papers from arXiv, searchable by words and by meaning.".into()),
        url: Some(format!("{base}/")),
        feeds: vec![
            ("Daily papers".into(), "/feeds/daily.atom".into()),
            ("Trending papers".into(), "/feeds/trending.atom".into()),
        ],
        viewer,
        section: Some(Section::Home),
        ..Head::default()
    };
    let body = html! {
        // What the service is for comes first: the banner's heading is the page's.
        @if signed_in { h1.visually-hidden { "Today's papers" } } @else { (render::subscribe_banner(None)) }
        div.columns {
            section.daily aria-labelledby="daily-title" {
                @match &daily {
                    Some(daily) => {
                        h2 id="daily-title" { "Announced " time datetime=(daily.date) { (daily.date) } }
                        p.sub { (thousands(daily.total)) " papers · " a href={ "/daily/" (daily.date) } { "by category" } " · " a href="/feeds/daily.atom" { "Atom feed" } }
                        @for paper in daily.groups.iter().flat_map(|g| g.papers.iter()).take(30) {
                            (paper_item(paper, Level::H3, &no_marks, html! {}))
                        }
                        p { a href={ "/daily/" (daily.date) } { "All " (thousands(daily.total)) " papers of " (daily.date) " →" } }
                    }
                    None => {
                        h2 id="daily-title" { "No papers yet" }
                        p { "Ingest some: " code { "paperboy ingest jsonl FILE" } " or " code { "paperboy ingest oai --from DATE" } "." }
                    }
                }
            }
            aside.trending aria-labelledby="trending-title" {
                h2 id="trending-title" { a href="/trending" { "Trending" } }
                (trending_list(&trending.papers, 0))
                @if trending.papers.is_empty() { p.sub { "Nothing has upvotes or stars yet." } }
            }
        }
    };
    Ok(([CACHE_SHORT], render::layout(&head, body)).into_response())
}

/// `1234567` as `1,234,567`.
pub(crate) fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn trending_list(entries: &[Trending], offset: usize) -> Markup {
    html! {
        ol.trending start=(offset + 1) {
            @for entry in entries {
                li {
                    a href=(render::paper_path(&entry.paper)) { (rich_text(&entry.paper.title, &no_marks)) }
                    span.meta {
                        span aria-hidden="true" { "▲ " } (entry.upvotes) @if entry.upvotes == 1 { " upvote" } @else { " upvotes" }
                        @if let Some(stars) = entry.github_stars {
                            " · " span aria-hidden="true" { "★ " } (stars) @if stars == 1 { " star" } @else { " stars" } " on GitHub"
                        }
                        " · " time datetime=(entry.day) { (entry.day) }
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
    let query = raw.q.as_deref().map(str::trim).unwrap_or_default().to_owned();
    let head = |title: String| Head {
        title,
        feeds: if query.is_empty() {
            Vec::new()
        } else {
            vec![(format!("Papers matching {query}"), format!("/feeds/search.atom?q={}", render::url_encode(&query)))]
        },
        query: query.clone(),
        viewer: viewer.clone(),
        section: Some(Section::Search),
        skip_to: (!query.is_empty()).then_some(("Skip to results", "results")),
        ..Head::default()
    };
    // A bad filter re-shows the form as it was typed, with the error beside its field.
    let refused = |error: &FieldError| {
        let body = html! {
            h1 { "Search" }
            (search_form(&raw, Some(error)))
            (syntax_help(false))
        };
        let head = Head { skip_to: None, ..head("Search".into()) };
        crate::no_store((StatusCode::BAD_REQUEST, render::layout(&head, body)).into_response())
    };
    let parsed = match params::search(&raw, PAGE_SIZE) {
        Ok(parsed) => parsed,
        Err(err) => return Ok(refused(&FieldError::from(&err))),
    };
    if query.is_empty() {
        let body = html! {
            h1 { "Search" }
            (search_form(&raw, None))
            (syntax_help(true))
        };
        return Ok(([CACHE_SHORT], render::layout(&head("Search".into()), body)).into_response());
    }
    // Each result says why it ranks where it does (a closed "why" under it).
    let search_params = SearchParams { explain: true, ..parsed.params.clone() };
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
            return Ok(refused(&FieldError { field: "q", message: err.to_string() }));
        }
        Err(err) => return Err(err.into()),
    };
    let pages = last_page(results.total as usize);
    if parsed.page > pages {
        let message = format!("page {} is past the last page of this search ({pages})", parsed.page);
        return Ok(refused(&FieldError { field: "page", message }));
    }
    let marks = |text: &str| state.library.highlight_with(&stems, text);
    let body = html! {
        h1.visually-hidden { "Search results for " (query) }
        (search_form(&raw, None))
        (result_summary(&parsed.params.query, &results, parsed.page))
        @if let Some(notice) = &results.notice { p.notice { (notice) } }
        div id="results" tabindex="-1" {
            @if results.hits.is_empty() {
                p { "No papers match. Try fewer words, or drop the filters." }
                (syntax_help(true))
            }
            @for hit in &results.hits {
                (render::paper_item_with(&hit.paper, Level::H2, &marks, html! {
                    @if hit.pinned { " · " span.pinned { "exact match" } }
                    @if let (Some(viewer), Some((saved, upvoted))) = (&viewer, &saved_marks) {
                        " " (render::paper_actions(viewer, hit.paper.id, saved.contains(&hit.paper.id), upvoted.contains(&hit.paper.id)))
                    }
                }, why(hit)))
            }
        }
        (pager(&raw, parsed.page, pages))
        @if !results.hits.is_empty() {
            (render::export_links(&format!("/search/export?{}&page={}&", search_query(&raw).join("&"), parsed.page), "Export this page of results"))
        }
    };
    Ok(([CACHE_SHORT], render::layout(&head(format!("{query} — search")), body)).into_response())
}

/// `GET /search/export?…&format=bibtex|ris|csl-json`: the results of that search page as a file
/// for a reference manager.
pub async fn search_export(State(state): State<AppState>, Query(raw): Query<RawParams>) -> Result<Response, PageError> {
    let format = params::citation_format(&raw.format)?;
    let parsed = params::search(&raw, PAGE_SIZE)?;
    if parsed.params.query.is_empty() {
        return Err(PageError(Failure::Param(ParamError::QueryRequired)));
    }
    let search = parsed.params.clone();
    let results = state.searching(&parsed.params, move |library| library.search(&search)).await??;
    let cited: Vec<paperboy_app::cite::Cited<'_>> =
        results.hits.iter().map(|hit| paperboy_app::cite::Cited { paper: &hit.paper, tags: &[] }).collect();
    let text = paperboy_app::cite::export(&cited, format);
    Ok(render::citation_file(format, "paperboy-search", text, CACHE_SHORT.1))
}

/// A result's explanation, closed until opened: its words' BM25 parts, its similarity, the fusion.
fn why(hit: &SearchHit) -> Markup {
    let lines = hit.why();
    html! {
        @if !lines.is_empty() {
            details.why {
                summary { "Why this rank" }
                dl {
                    @for (label, line) in &lines { dt { (label) } dd { (line) } }
                }
            }
        }
    }
}

/// A search parameter that is wrong, for the form: which field and why.
struct FieldError {
    /// The parameter's name (`q`, `category`, `since`, `until`, `sort`, `mode`, `page`).
    field: &'static str,
    /// What is wrong, for the reader.
    message: String,
}

impl From<&ParamError> for FieldError {
    fn from(err: &ParamError) -> FieldError {
        FieldError { field: err.parameter(), message: err.to_string() }
    }
}

/// The pages a search has (at least 1, at most [`MAX_PAGE`]).
fn last_page(total: usize) -> usize {
    total.div_ceil(PAGE_SIZE).clamp(1, MAX_PAGE)
}

fn result_summary(query: &str, results: &paperboy_app::SearchPage, page: usize) -> Markup {
    let total = results.total as usize;
    let shown = MAX_PAGE * PAGE_SIZE;
    html! {
        p.sub {
            (thousands(total)) @if total == 1 { " result" } @else { " results" }
            @if total > shown { " (the first " (thousands(shown)) " are shown)" }
            " · page " (page) " of " (last_page(total))
            " · " span.mode title="how results are ranked" { (results.mode) }
            " · " (format!("{:.0}", results.took_ms)) " ms"
            " · " a href={ "/feeds/search.atom?q=" (render::url_encode(query)) } { "Atom feed of this search" }
        }
    }
}

/// The query string of the search `raw` is, for links (pager, exports), without `page`.
fn search_query(raw: &RawParams) -> Vec<String> {
    let pairs = [
        ("q", &raw.q),
        ("category", &raw.category),
        ("since", &raw.since),
        ("until", &raw.until),
        ("sort", &raw.sort),
        ("mode", &raw.mode),
    ];
    pairs
        .iter()
        .filter_map(|(k, v)| v.as_deref().filter(|v| !v.is_empty()).map(|v| format!("{k}={}", render::url_encode(v))))
        .collect()
}

/// The search form, as the reader typed it: one query box, then the filters (folded on a phone
/// unless one is set or wrong). `error` marks its field `aria-invalid` and says why beside it.
fn search_form(raw: &RawParams, error: Option<&FieldError>) -> Markup {
    let text = |value: &Option<String>| value.as_deref().unwrap_or_default().to_owned();
    let invalid = |field: &str| error.filter(|e| e.field == field).map(|_| "true");
    let described = |field: &str| error.filter(|e| e.field == field).map(|_| format!("{field}-error"));
    let note = |field: &str| {
        html! {
            @if let Some(error) = error.filter(|e| e.field == field) {
                span.field-error id={ (field) "-error" } { (error.message) }
            }
        }
    };
    let sort = raw.sort.as_deref().and_then(Order::parse).unwrap_or(Order::Relevance);
    let mode = raw.mode.as_deref().map(str::trim).unwrap_or_default();
    let auto = mode.is_empty() || mode.eq_ignore_ascii_case("auto");
    let set = |value: &Option<String>| value.as_deref().is_some_and(|v| !v.trim().is_empty());
    let filtered = set(&raw.category)
        || set(&raw.since)
        || set(&raw.until)
        || sort != Order::Relevance
        || !auto
        || error.is_some();
    html! {
        @if let Some(error) = error { p.error role="alert" { "That search cannot be run: " (error.message) "." } }
        form.filters action="/search" method="get" role="search" aria-label="Search papers" {
            div.query {
                input type="search" name="q" id="q" value=(text(&raw.q)) aria-label="Search papers by words or meaning"
                    placeholder="Search papers by words or meaning" maxlength="1000" autocomplete="off"
                    aria-invalid=[invalid("q")] aria-describedby=[described("q")];
                button.primary type="submit" { "Search" }
            }
            (note("q"))
            details open data-fold[!filtered] {
                summary { "Filters" }
                div.fields {
                    label { "Category "
                        input type="text" name="category" value=(text(&raw.category)) placeholder="cs.CL" size="8"
                            aria-invalid=[invalid("category")] aria-describedby=[described("category")];
                    }
                    (note("category"))
                    label { "Since "
                        input type="date" name="since" value=(text(&raw.since))
                            aria-invalid=[invalid("since")] aria-describedby=[described("since")];
                    }
                    (note("since"))
                    label { "Until "
                        input type="date" name="until" value=(text(&raw.until))
                            aria-invalid=[invalid("until")] aria-describedby=[described("until")];
                    }
                    (note("until"))
                    label { "Sort "
                        select name="sort" aria-invalid=[invalid("sort")] aria-describedby=[described("sort")] {
                            @for option in Order::ALL {
                                option value=(option.as_str()) selected[sort == option] { (option.as_str()) }
                            }
                        }
                    }
                    (note("sort"))
                    label { "Ranking "
                        select name="mode" aria-invalid=[invalid("mode")] aria-describedby=[described("mode")] {
                            @for (value, label) in [("", "auto"), ("keyword", "words"), ("semantic", "meaning"), ("hybrid", "words and meaning")] {
                                option value=(value) selected[if value.is_empty() { auto } else { mode.eq_ignore_ascii_case(value) }] { (label) }
                            }
                        }
                    }
                    (note("mode"))
                }
            }
            (note("page"))
        }
    }
}

fn syntax_help(open: bool) -> Markup {
    html! {
        details.syntax open[open] {
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

fn pager(raw: &RawParams, page: usize, last: usize) -> Markup {
    let link = |page: usize| {
        let mut query = search_query(raw);
        query.push(format!("page={page}"));
        format!("/search?{}", query.join("&"))
    };
    html! {
        nav.pager aria-label="Pages of results" {
            @if page > 1 { a rel="prev" href=(link(page - 1)) { "← Previous" } }
            span aria-current="page" { "page " (page) " of " (last) }
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
                Some(account) => {
                    let (saved, upvoted) = library.marks_of(account, &[details.stored.paper.id])?;
                    Some((saved, upvoted, library.feedback_on(account, details.stored.paper.id)?))
                }
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
        meta: citation_meta(paper),
        ..Head::default()
    };
    let actions = match (&viewer, &marks) {
        (Some(viewer), Some((saved, upvoted, said))) => {
            Some(Actions { viewer, saved: !saved.is_empty(), upvoted: !upvoted.is_empty(), said: *said })
        }
        _ => None,
    };
    let body = paper_body(&details, actions, similar.as_deref());
    Ok(([CACHE_SHORT], render::layout(&head, body)).into_response())
}

/// The Highwire Press tags that reference managers' browser connectors (Zotero, Mendeley,
/// Paperpile) and Google Scholar read, as arXiv's own abstract pages carry them.
fn citation_meta(paper: &paperboy_domain::Paper) -> Vec<(&'static str, String)> {
    let mut meta = vec![("citation_title", math::to_plain(&paper.title))];
    meta.extend(paper.authors.iter().map(|author| ("citation_author", author.clone())));
    let first = paper.submitted.map_or_else(|| paper.date(), |d| d.date_naive());
    meta.push(("citation_date", first.format("%Y/%m/%d").to_string()));
    if let Some(updated) = paper.updated.map(|d| d.date_naive()).filter(|d| *d != first) {
        meta.push(("citation_online_date", updated.format("%Y/%m/%d").to_string()));
    }
    meta.push(("citation_arxiv_id", paper.id.to_string()));
    meta.push(("citation_pdf_url", format!("https://arxiv.org/pdf/{}", paper.versioned_id())));
    meta.push(("citation_abstract_html_url", format!("https://arxiv.org/abs/{}", paper.id)));
    meta.push(("citation_abstract", math::to_plain(&paper.abstract_text)));
    if let Some(doi) = &paper.doi {
        meta.push(("citation_doi", doi.clone()));
    }
    meta.push(("citation_publisher", "arXiv".into()));
    meta
}

/// What a signed-in reader did with a paper.
struct Actions<'a> {
    viewer: &'a Viewer,
    saved: bool,
    upvoted: bool,
    /// What they said of it for their recommendations.
    said: Option<paperboy_app::FeedbackKind>,
}

/// The paper page's content. `actions`: the signed-in reader and what they did with the paper.
fn paper_body(details: &PaperDetails, actions: Option<Actions<'_>>, similar: Option<&[SearchHit]>) -> Markup {
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
                Some(actions) => {
                    p { (render::paper_actions(actions.viewer, paper.id, actions.saved, actions.upvoted)) }
                    (render::steering_actions(actions.viewer, paper.id, actions.said))
                }
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
                button.copy type="button" data-copy="bibtex" hidden { "Copy BibTeX" }
            }
            @if let Some(similar) = similar {
                section.similar {
                    h2 { "Similar papers" }
                    @for hit in similar { (paper_item(&hit.paper, Level::H3, &no_marks, html! {})) }
                }
            }
        }
    }
}

/// `GET /daily`: the newest announcement day.
pub async fn daily_latest(
    State(state): State<AppState>,
    MaybeViewer(viewer): MaybeViewer,
    Query(raw): Query<RawParams>,
) -> Result<Response, PageError> {
    render_daily(state, viewer, None, params::category(&raw.category)?).await
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

/// Papers shown per category on a whole day's page; the rest are a link away. A day of arXiv CS
/// is over a thousand papers: all of them on one page is half a megabyte of HTML and thousands of
/// tab stops.
const DAILY_FOLD: usize = 5;

async fn render_daily(
    state: AppState,
    viewer: Option<Viewer>,
    date: Option<chrono::NaiveDate>,
    category: Option<CategoryFilter>,
) -> Result<Response, PageError> {
    let daily = state.blocking(move |library| library.daily(date, category)).await??;
    let day_path = |day: chrono::NaiveDate| match category {
        Some(filter) => format!("/daily/{day}?category={filter}"),
        None => format!("/daily/{day}"),
    };
    // One category's day is shown whole; the whole day, or an archive's, is folded by category.
    let fold = !matches!(category, Some(CategoryFilter::Category(_)));
    let of = category.map(|filter| format!(" in {filter}")).unwrap_or_default();
    let head = Head {
        title: format!("Papers announced {}{of}", daily.date),
        description: Some(format!("{} papers arXiv announced on {}{of}", daily.total, daily.date)),
        url: Some(format!("{}{}", state.config.base_url, day_path(daily.date))),
        feeds: vec![("Daily papers".into(), "/feeds/daily.atom".into())],
        viewer,
        section: Some(Section::Daily),
        ..Head::default()
    };
    let body = html! {
        nav.days aria-label="Announcement days" {
            @if let Some(previous) = daily.previous { a rel="prev" href=(day_path(previous)) { "← " (previous) } }
            h1 { (thousands(daily.total)) " papers announced " (daily.date) (of) }
            @if let Some(next) = daily.next { a rel="next" href=(day_path(next)) { (next) " →" } }
        }
        @if category.is_some() { p.sub { a href={ "/daily/" (daily.date) } { "Every category of " (daily.date) } } }
        @if daily.total == 0 { p { "arXiv announced nothing paperboy has on this day." } }
        @if daily.groups.len() > 1 {
            nav.toc aria-label="Categories of the day" {
                @for group in &daily.groups {
                    @if let Some(category) = group.category {
                        a href={ "#" (category) } { (category) " (" (group.papers.len()) ")" } " "
                    }
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
                @let shown = if fold && group.category.is_some() && group.papers.len() > DAILY_FOLD + 2 { DAILY_FOLD } else { group.papers.len() };
                @for paper in &group.papers[..shown] { (paper_item(paper, Level::H3, &no_marks, html! {})) }
                @if let (Some(category), true) = (group.category, shown < group.papers.len()) {
                    @let with_cross_lists = daily.groups.iter().flat_map(|g| &g.papers).filter(|p| p.categories.contains(&category)).count();
                    p.more {
                        a href={ "/daily/" (daily.date) "?category=" (category) } {
                            "All " (with_cross_lists) " papers in " (category) " on " (daily.date) ", with cross-lists →"
                        }
                    }
                }
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
        section: Some(Section::Trending),
        ..Head::default()
    };
    let body = html! {
        h1 { "Trending" @if let Some(day) = trending.as_of { " " span.sub { "as of " (day) } } }
        p.sub { "Upvotes and code stars, decayed with age: score = (upvotes + 3·log₂(1 + stars)) / (hours + 2)^1.5, over 30 days." }
        (trending_list(&trending.papers, (page - 1) * PAGE_SIZE))
        @if trending.papers.is_empty() { p { "Nothing has upvotes or stars yet." } }
        nav.pager aria-label="Pages of trending papers" {
            @if page > 1 { a rel="prev" href={ "/trending?page=" (page - 1) } { "← Previous" } }
            @if page * PAGE_SIZE < trending.total { a rel="next" href={ "/trending?page=" (page + 1) } { "Next →" } }
        }
    };
    Ok(([CACHE_SHORT], render::layout(&head, body)).into_response())
}

/// `GET /categories/{category}`: in any letter case (`cs.cl` redirects to `cs.CL`).
pub async fn category(
    State(state): State<AppState>,
    MaybeViewer(viewer): MaybeViewer,
    Path(category): Path<String>,
    Query(raw): Query<RawParams>,
) -> Result<Response, PageError> {
    let filter = CategoryFilter::parse(&category).map_err(|_| PageError(Failure::NotFound))?;
    let page = params::page(&raw)?;
    if filter.as_str() != category {
        let query = if page > 1 { format!("?page={page}") } else { String::new() };
        return Ok(Redirect::permanent(&format!("/categories/{filter}{query}")).into_response());
    }
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
        p.sub { (thousands(total as usize)) " papers · " a href={ "/feeds/categories/" (filter) ".atom" } { "Atom feed" } " · " a href={ "/search?q=cat:" (filter) } { "search in it" } }
        @for paper in &papers { (paper_item(paper, Level::H2, &no_marks, html! {})) }
        nav.pager aria-label="Pages of this category" {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_have_thousands_separators() {
        for (n, shown) in [(0, "0"), (999, "999"), (1000, "1,000"), (2108, "2,108"), (1234567, "1,234,567")] {
            assert_eq!(thousands(n), shown);
        }
    }
}
