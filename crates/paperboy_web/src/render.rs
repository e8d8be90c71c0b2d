//! Page layout and the pieces pages share: a paper in a list, text with math and highlights, the
//! signed-in reader's buttons and the subscribe box. What a page needs to know about its reader
//! comes in its [`Head`]; nothing here reads the request.

use maud::{DOCTYPE, Markup, PreEscaped, html};
use paperboy_app::Account;
use paperboy_domain::{ArxivId, Paper};

use crate::math::{self, Segment};

/// The person signed in, for the pages of a request.
#[derive(Clone)]
pub struct Viewer {
    /// Their account.
    pub account: Account,
    /// The session cookie's value.
    pub session: String,
    /// The anti-forgery token for their forms.
    pub form_token: String,
}

/// The part of the site a page belongs to: marked in the navigation (`aria-current`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// The home page.
    Home,
    /// The search page: it has the query box of its own, so the header has none.
    Search,
    /// Announcement days.
    Daily,
    /// Trending papers.
    Trending,
    /// The reader's library.
    Library,
    /// The reader's account and digest.
    Account,
    /// Signing in.
    SignIn,
    /// The subscribe form (shown again after a mistake): the footer does not repeat it.
    Subscribe,
}

/// What goes in a page's `<head>`, and what the layout around the page needs to know.
#[derive(Default)]
pub struct Head {
    /// The page title (plain text; escaped).
    pub title: String,
    /// A one-line description for search engines and link previews.
    pub description: Option<String>,
    /// The page's canonical URL, for Open Graph.
    pub url: Option<String>,
    /// Feeds of this page: `(title, Atom URL)`.
    pub feeds: Vec<(String, String)>,
    /// The search box's current text.
    pub query: String,
    /// Who is reading, if signed in.
    pub viewer: Option<Viewer>,
    /// Where the page belongs in the navigation.
    pub section: Option<Section>,
    /// The skip link's words and target id (default: "Skip to content", `main`).
    pub skip_to: Option<(&'static str, &'static str)>,
    /// More `<meta name content>` pairs (a paper's Highwire Press `citation_*` tags).
    pub meta: Vec<(&'static str, String)>,
}

/// The page around `body`.
pub fn layout(head: &Head, body: Markup) -> Markup {
    let title = if head.title.is_empty() { "paperboy".to_owned() } else { format!("{} · paperboy", head.title) };
    let viewer = &head.viewer;
    let (skip_text, skip_target) = head.skip_to.unwrap_or(("Skip to content", "main"));
    let current = |section: Section| (head.section == Some(section)).then_some("page");
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (title) }
                @if let Some(description) = &head.description {
                    meta name="description" content=(description);
                    meta property="og:description" content=(description);
                }
                meta property="og:title" content=(head.title);
                meta property="og:type" content="website";
                meta property="og:site_name" content="paperboy";
                @if let Some(url) = &head.url { meta property="og:url" content=(url); link rel="canonical" href=(url); }
                @for (name, content) in &head.meta { meta name=(name) content=(content); }
                @for (feed_title, href) in &head.feeds {
                    link rel="alternate" type="application/atom+xml" title=(feed_title) href=(href);
                }
                link rel="icon" href="/favicon.svg" type="image/svg+xml";
                // Before the stylesheet and without `defer`: a saved dark theme applies before
                // the first paint.
                script src="/static/theme.js" {}
                link rel="stylesheet" href="/static/style.css";
                script src="/static/app.js" defer {}
            }
            body {
                a.skip href={ "#" (skip_target) } { (skip_text) }
                header.site {
                    a.brand href="/" aria-current=[current(Section::Home)] { "paperboy" }
                    @if head.section != Some(Section::Search) {
                        form.search action="/search" method="get" role="search" {
                            input type="search" name="q" value=(head.query) placeholder="Search papers by words or meaning"
                                aria-label="Search papers" maxlength="1000" autocomplete="off";
                        }
                    }
                    nav.site aria-label="Site" {
                        a href="/daily" aria-current=[current(Section::Daily)] { "Daily" }
                        a href="/trending" aria-current=[current(Section::Trending)] { "Trending" }
                        a href="/search" aria-current=[current(Section::Search)] { "Search" }
                        @match viewer {
                            Some(_) => {
                                a href="/library" aria-current=[current(Section::Library)] { "Library" }
                                a href="/preferences" aria-current=[current(Section::Account)] { "Account" }
                            }
                            None => { a href="/signin" aria-current=[current(Section::SignIn)] { "Sign in" } }
                        }
                        // Shown by app.js, which sets aria-pressed: without script it would do nothing.
                        button.theme type="button" hidden aria-label="Dark theme" title="Dark theme" { "◐" }
                    }
                }
                main id="main" tabindex="-1" { (body) }
                footer.site {
                    @if !matches!(head.section, Some(Section::Home | Section::Subscribe)) { (subscribe_box(viewer.as_ref())) }
                    "paperboy · arXiv metadata is CC0 · "
                    a href="/api/v1/openapi.json" { "API" }
                    span.keys { " · keys: / search, j k move, o open" }
                    " "
                    button.shortcuts type="button" hidden title="Turn the single-key shortcuts on or off" { "Keyboard shortcuts" }
                }
            }
        }
    }
}

/// What a subscriber receives, in a sentence (the home page's banner and the subscribe pages).
pub const SUBSCRIBE_PROMISE: &str = "One e-mail after each arXiv announcement (five evenings a week): \
     the day's 5 trending papers, and new papers in the categories, authors and searches you follow. \
     Confirm once; every e-mail has a one-click unsubscribe.";

/// The home page's banner: what the service is for, and the box to get it.
pub fn subscribe_banner(viewer: Option<&Viewer>) -> Markup {
    html! {
        section.promise aria-labelledby="promise-title" {
            h1 id="promise-title" { "Get trending papers in your email inbox once a day" }
            p { (SUBSCRIBE_PROMISE) }
            (subscribe_box(viewer))
        }
    }
}

/// The subscribe box (or, signed in, links to the account).
pub fn subscribe_box(viewer: Option<&Viewer>) -> Markup {
    subscribe_form(viewer, "", None)
}

/// The subscribe form with what was typed and, after a mistake, the error beside the field.
pub fn subscribe_form(viewer: Option<&Viewer>, typed: &str, error: Option<&str>) -> Markup {
    html! {
        @match viewer {
            Some(_) => {
                p.subscribe { "Your digest: " a href="/preferences" { "preferences" } " · " a href="/library" { "library" } }
            }
            None => {
                form.subscribe method="post" action="/subscribe" {
                    label for="subscribe-email" { "Your e-mail address" }
                    input id="subscribe-email" type="email" name="email" required placeholder="you@example.org" autocomplete="email" maxlength="320"
                        value=(typed) aria-invalid=[error.map(|_| "true")] aria-describedby=[error.map(|_| "subscribe-error")];
                    " " button.primary type="submit" { "Subscribe" }
                    @if let Some(error) = error { span.field-error id="subscribe-error" { (error) } }
                }
            }
        }
    }
}

/// Links to a list's export in every citation format: `base` ends in `?` or `&`.
pub fn export_links(base: &str, label: &str) -> Markup {
    use paperboy_app::cite::Format;
    html! {
        p.export {
            (label) ": "
            @for (i, (format, name)) in [(Format::Bibtex, "BibTeX"), (Format::Ris, "RIS"), (Format::CslJson, "CSL-JSON")].into_iter().enumerate() {
                @if i > 0 { " · " }
                a href={ (base) "format=" (format.as_str()) } download { (name) }
            }
        }
    }
}

/// A citation export as a file download named `stem.bib` (`.ris`, `.json`).
pub fn citation_file(
    format: paperboy_app::cite::Format,
    stem: &str,
    text: String,
    cache: &'static str,
) -> axum::response::Response {
    use axum::{http::header, response::IntoResponse};
    let disposition = format!("attachment; filename=\"{stem}.{}\"", format.extension());
    (
        [
            (header::CONTENT_TYPE, format.media_type().to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, cache.to_owned()),
        ],
        text,
    )
        .into_response()
}

/// Save / upvote buttons for a paper, for a signed-in viewer.
pub fn paper_actions(viewer: &Viewer, paper: ArxivId, saved: bool, upvoted: bool) -> Markup {
    html! {
        span.actions {
            form.inline method="post" action=(if saved { "/library/remove" } else { "/library/save" }) {
                input type="hidden" name="csrf" value=(viewer.form_token);
                input type="hidden" name="paper" value=(paper);
                button type="submit" title=(if saved { "Remove from your library" } else { "Save to your library" }) {
                    @if saved { "★ Saved" } @else { "☆ Save" }
                }
            }
            form.inline method="post" action=(if upvoted { "/upvote/remove" } else { "/upvote" }) {
                input type="hidden" name="csrf" value=(viewer.form_token);
                input type="hidden" name="paper" value=(paper);
                button type="submit" aria-pressed=(upvoted) title=(if upvoted { "Take your upvote back" } else { "Upvote" }) {
                    @if upvoted { "▲ Upvoted" } @else { "△ Upvote" }
                }
            }
        }
    }
}

/// "Not interested" and "More like this" for a paper, or what was said of it and how to take it
/// back, for a signed-in viewer.
pub fn steering_actions(viewer: &Viewer, paper: ArxivId, said: Option<paperboy_app::FeedbackKind>) -> Markup {
    use paperboy_app::FeedbackKind;
    html! {
        div.actions.steering {
            @match said {
                Some(kind) => {
                    span.said { @match kind { FeedbackKind::NotInterested => "You are not interested in this paper: it stays out of your digests.", FeedbackKind::MoreLikeThis => "More like this: it seeds your recommendations (with “Papers like the ones in my library” on)." } }
                    form.inline method="post" action="/feedback/remove" {
                        input type="hidden" name="csrf" value=(viewer.form_token);
                        input type="hidden" name="paper" value=(paper);
                        button type="submit" { "Undo" }
                    }
                }
                None => {
                    form.inline method="post" action="/more-like-this" {
                        input type="hidden" name="csrf" value=(viewer.form_token);
                        input type="hidden" name="paper" value=(paper);
                        button type="submit" title="Recommend papers like this one, without saving it" { "More like this" }
                    }
                    form.inline method="post" action="/not-interested" {
                        input type="hidden" name="csrf" value=(viewer.form_token);
                        input type="hidden" name="paper" value=(paper);
                        button type="submit" title="Keep it out of your digests and show fewer like it" { "Not interested" }
                    }
                }
            }
        }
    }
}

/// Text that may hold TeX math, with the words `marks` says highlighted.
pub fn rich_text(text: &str, marks: &dyn Fn(&str) -> Vec<std::ops::Range<usize>>) -> Markup {
    let mut out = String::with_capacity(text.len() + 64);
    for segment in math::render(text) {
        match segment {
            Segment::Math(mathml) => out.push_str(&mathml),
            Segment::Text(text) => {
                let mut at = 0;
                for range in marks(&text) {
                    if range.start < at || range.end > text.len() {
                        continue;
                    }
                    out.push_str(&escape(&text[at..range.start]));
                    out.push_str("<mark>");
                    out.push_str(&escape(&text[range.clone()]));
                    out.push_str("</mark>");
                    at = range.end;
                }
                out.push_str(&escape(&text[at..]));
            }
        }
    }
    PreEscaped(out)
}

/// No highlights.
pub fn no_marks(_: &str) -> Vec<std::ops::Range<usize>> {
    Vec::new()
}

/// HTML-escapes text for element content and attribute values.
pub fn escape(text: &str) -> String {
    paperboy_domain::text::escape_html(text)
}

/// The path of a paper's page.
pub fn paper_path(paper: &Paper) -> String {
    format!("/papers/{}", paper.id)
}

/// Author names as links to author searches.
pub fn authors(names: &[String], limit: usize) -> Markup {
    html! {
        @for (i, name) in names.iter().take(limit).enumerate() {
            @if i > 0 { ", " }
            a.author href=(author_search(name)) { (name) }
        }
        @if names.len() > limit { " et al. (" (names.len()) ")" }
    }
}

/// `/search?q=au:"Name"&sort=date`: that author's papers, newest first.
pub fn author_search(name: &str) -> String {
    format!("/search?q={}&sort=date", url_encode(&format!("au:\"{}\"", name.replace('"', ""))))
}

/// Percent-encodes a query-string value.
pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(byte as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// The heading level of papers in a list: under the page's `h1` (`H2`) or under a section's `h2`
/// (`H3`), so that no level is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Right under the page's title.
    H2,
    /// Under a section's heading.
    H3,
}

/// A paper in a list: title, authors, categories, date, the start of its abstract.
pub fn paper_item(
    paper: &Paper,
    level: Level,
    marks: &dyn Fn(&str) -> Vec<std::ops::Range<usize>>,
    extra: Markup,
) -> Markup {
    paper_item_with(paper, level, marks, extra, html! {})
}

/// [`paper_item`] with `footer` (flow content: a search result's "why") after the abstract.
pub fn paper_item_with(
    paper: &Paper,
    level: Level,
    marks: &dyn Fn(&str) -> Vec<std::ops::Range<usize>>,
    extra: Markup,
    footer: Markup,
) -> Markup {
    let title = html! { a href=(paper_path(paper)) { (rich_text(&paper.title, marks)) } };
    html! {
        article.paper {
            @match level {
                Level::H2 => h2.title { (title) },
                Level::H3 => h3.title { (title) },
            }
            p.meta {
                span.id { (paper.id) }
                " · " (authors(&paper.authors, 4))
                " · " time datetime=(paper.date()) { (paper.date()) }
                @for category in paper.categories.iter().take(3) {
                    " " a.category href={ "/categories/" (category) } title=(category.name()) { (category) }
                }
                (extra)
            }
            p.abstract { (rich_text(&snippet(&paper.abstract_text, 320), marks)) }
            (footer)
        }
    }
}

/// The first `max` characters of `text`, cut at a word and never inside math.
pub fn snippet(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max).collect();
    if let Some(space) = cut.rfind(' ') {
        cut.truncate(space);
    }
    // An odd number of `$` would open math that never closes: cut before it.
    if cut.matches('$').count() % 2 == 1
        && let Some(dollar) = cut.rfind('$')
    {
        cut.truncate(dollar);
    }
    format!("{}…", cut.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_is_escaped() {
        let marks = |_: &str| Vec::new();
        let html = rich_text("<script>alert(1)</script><img src=x onerror=alert(2)>", &marks).into_string();
        assert!(!html.contains("<script") && !html.contains("<img"), "{html}");
        assert_eq!(escape("\"'&"), "&quot;&#39;&amp;");
    }

    #[test]
    fn highlights_wrap_the_marked_words() {
        let marks = |text: &str| text.find("policy").map(|i| std::iter::once(i..i + 6).collect()).unwrap_or_default();
        assert_eq!(rich_text("diffusion policy <b>", &marks).into_string(), "diffusion <mark>policy</mark> &lt;b&gt;");
    }

    #[test]
    fn snippets_cut_at_words_and_outside_math() {
        assert_eq!(snippet("short", 10), "short");
        assert_eq!(snippet("one two three four", 9), "one two…");
        assert_eq!(snippet("a $x^2 + y$ b", 6), "a…");
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(url_encode("au:\"A B\"&x=1"), "au%3A%22A+B%22%26x%3D1");
    }
}
