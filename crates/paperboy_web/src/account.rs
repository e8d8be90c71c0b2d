//! Accounts on the web: the subscribe box, confirmation and sign-in pages (a button each, so that
//! mail scanners that open links confirm nothing), sessions, preferences, the library, upvotes,
//! unsubscribing (RFC 8058 one-click included), "export my data" and "delete my account".
//!
//! Forgery protection: every POST must come from this site (its `Origin`, or failing that its
//! `Referer`), except the one-click unsubscribe, which mail providers send and whose signed token
//! is its authority; forms of a signed-in person also carry a token derived from their session.
//! The session cookie is `HttpOnly`, `SameSite=Lax`; a site served over TLS names it
//! `__Host-pb_session` (so it is `Secure`, for this host only, for every path) and sends HSTS.
//! Forms arrive as typed structs; an id or address in one is parsed here, once.

use axum::{
    Form,
    extract::{FromRequestParts, Query, Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};
use chrono::Utc;
use maud::{Markup, html};
use paperboy_app::{
    AccountStatus, ApiToken, Error, FeedbackKind, TokenPurpose, TokenScope, accounts::NewSession, saved::FeedbackEntry,
    signing::LinkPurpose,
};
use paperboy_domain::{AccountId, ArxivId, Cadence, Category, EmailAddress, Preferences};
use serde::Deserialize;

use crate::{
    AppState, PageError,
    client::Client,
    error::{Failure, classify},
    render::{self, Head, Section, Viewer},
};

/// The session cookie's name on a site served over plain HTTP.
pub const SESSION_COOKIE: &str = "pb_session";
/// The session cookie's name on a site served over TLS: browsers take a `__Host-` cookie only when
/// it is `Secure`, has no `Domain` and is for `/`, so no other host or path can plant one.
pub const SECURE_SESSION_COOKIE: &str = "__Host-pb_session";

/// How long after answering a sign-in request its mail is queued.
const SIGN_IN_QUEUE_DELAY: std::time::Duration = std::time::Duration::from_millis(50);

/// The session cookie's name for this site.
pub fn session_cookie_name(state: &AppState) -> &'static str {
    if state.config.is_https() { SECURE_SESSION_COOKIE } else { SESSION_COOKIE }
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Whether a cookie's value could be a session token at all (43 characters of base64url): a
/// made-up one costs no lookup.
fn looks_like_a_session(token: &str) -> bool {
    token.len() == 43 && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Looks up the session of each request; pages of signed-in people are private, every page varies
/// by cookie. Refuses cross-site form posts.
pub async fn session_layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    // The API and MCP are exempt: they take only bearer tokens, never the session cookie, so a
    // form posted from another site carries no authority there.
    let path = request.uri().path();
    if request.method() == Method::POST
        && path != "/unsubscribe"
        && !path.starts_with("/api/")
        && path != "/mcp"
        && !path.starts_with("/mcp/")
        && !same_origin(&state, request.headers())
    {
        return PageError(Failure::CrossSite).into_response();
    }
    let token = cookie(request.headers(), session_cookie_name(&state)).filter(|t| looks_like_a_session(t));
    let viewer = match token.map(str::to_owned) {
        Some(token) => state
            .blocking(move |library| -> Result<Option<Viewer>, Error> {
                let Some(account) = library.session_account(&token, Utc::now())? else { return Ok(None) };
                let form_token = library.form_token(&token)?;
                Ok(Some(Viewer { account, session: token, form_token }))
            })
            .await
            .ok()
            .and_then(|r| r.ok())
            .flatten(),
        None => None,
    };
    let signed_in = viewer.is_some();
    let is_page = !request.uri().path().starts_with("/api/") && !request.uri().path().starts_with("/static/");
    let mut request = request;
    request.extensions_mut().insert(viewer);
    let mut response = next.run(request).await;
    if is_page {
        let headers = response.headers_mut();
        headers.append(header::VARY, HeaderValue::from_static("Cookie"));
        if signed_in {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
        }
    }
    response
}

/// Whether a request comes from this site's pages: its `Origin` (or `Referer`) names the host the
/// request was sent to, or the configured public URL's.
fn same_origin(state: &AppState, headers: &HeaderMap) -> bool {
    let source = headers.get(header::ORIGIN).or_else(|| headers.get(header::REFERER)).and_then(|v| v.to_str().ok());
    let Some(source) = source else { return false };
    let source_host = authority(source);
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    !source_host.is_empty()
        && (source_host.eq_ignore_ascii_case(host)
            || source_host.eq_ignore_ascii_case(authority(&state.config.base_url)))
}

/// `https://host:port/path` -> `host:port`.
fn authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split(['/', '?', '#']).next().unwrap_or("")
}

/// The viewer of a request, from the session layer.
pub struct MaybeViewer(pub Option<Viewer>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeViewer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(MaybeViewer(parts.extensions.get::<Option<Viewer>>().cloned().flatten()))
    }
}

fn session_cookie(state: &AppState, session: &NewSession) -> HeaderValue {
    let secure = if state.config.is_https() { "; Secure" } else { "" };
    let max_age = (session.expires_at - Utc::now()).num_seconds().max(0);
    HeaderValue::from_str(&format!(
        "{}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
        session_cookie_name(state),
        session.token.expose()
    ))
    .expect("tokens are base64url")
}

fn clear_cookie(state: &AppState) -> HeaderValue {
    let secure = if state.config.is_https() { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}",
        session_cookie_name(state)
    ))
    .expect("a valid cookie")
}

fn signed_in_redirect(state: &AppState, session: &NewSession, to: &str) -> Response {
    let mut response = Redirect::to(to).into_response();
    response.headers_mut().insert(header::SET_COOKIE, session_cookie(state, session));
    response
}

fn page(status: StatusCode, title: &str, viewer: Option<&Viewer>, body: Markup) -> Response {
    page_in(None, status, title, viewer, body)
}

/// A page of the account's part of the site, marked so in the navigation.
fn page_in(
    section: Option<Section>,
    status: StatusCode,
    title: &str,
    viewer: Option<&Viewer>,
    body: Markup,
) -> Response {
    let head = Head { title: title.into(), viewer: viewer.cloned(), section, ..Head::default() };
    let mut response = (status, render::layout(&head, body)).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn message_page(status: StatusCode, title: &str, lines: &[&str]) -> Response {
    page(status, title, None, html! { section.account { h1 { (title) } @for line in lines { p { (line) } } } })
}

fn check_inbox() -> Response {
    message_page(
        StatusCode::OK,
        "Check your inbox",
        &[
            "If that address can receive mail from us, a message with a link is on its way. It works for a limited time, once.",
            "Nothing arrived? Look in the spam folder, or ask again in a few minutes.",
        ],
    )
}

/// A user's mistake as a page with the form's context (its status and words from the error
/// table); anything else is an error page.
fn user_error(err: Error) -> Result<Response, PageError> {
    let failure = Failure::App(err);
    let (status, code) = classify(&failure);
    if !status.is_client_error() {
        return Err(PageError(failure));
    }
    let Failure::App(err) = failure else { unreachable!("made above") };
    let title = match code {
        "rate_limited" => "Slow down",
        "undeliverable_address" => "We cannot mail this address",
        _ => "That did not work",
    };
    let mut response = message_page(status, title, &[&err.to_string()]);
    if code == "rate_limited" {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1200"));
    }
    Ok(response)
}

fn host(state: &AppState) -> String {
    paperboy_app::delivery::host_of(&state.config.base_url)
}

/// The subscribe and sign-in forms.
#[derive(Deserialize)]
pub struct EmailForm {
    #[serde(default)]
    email: String,
}

/// A form carrying a single-use token (confirm, sign in, manage).
#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    token: String,
}

/// A signed-in form with nothing but its anti-forgery token.
#[derive(Deserialize)]
pub struct SignedInForm {
    #[serde(default)]
    csrf: String,
}

/// Save, remove, upvote.
#[derive(Deserialize)]
pub struct PaperForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    paper: String,
    #[serde(default)]
    tags: String,
}

/// Delete my account.
#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    confirm: String,
}

/// The preferences form.
#[derive(Deserialize)]
pub struct PreferencesForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    cadence: String,
    #[serde(default)]
    trending: String,
    #[serde(default)]
    searches: String,
    #[serde(default)]
    categories: String,
    #[serde(default)]
    authors: String,
    #[serde(default)]
    library: String,
    #[serde(default)]
    max_papers: String,
    #[serde(default)]
    send_empty: String,
}

/// `?token=`.
#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

/// `?welcome=1`, `?saved=1`, `?feed_off=1`.
#[derive(Deserialize)]
pub struct NoticeQuery {
    welcome: Option<String>,
    saved: Option<String>,
    feed_off: Option<String>,
    token_revoked: Option<String>,
}

/// The account's secrets the preferences page lists: the private feed and the API tokens.
struct Keys {
    has_feed: bool,
    tokens: Vec<ApiToken>,
    feedback: Vec<FeedbackEntry>,
}

impl Keys {
    async fn of(state: &AppState, account: AccountId) -> Result<Keys, PageError> {
        let (has_feed, tokens, feedback) = state
            .blocking(move |library| -> Result<_, Error> {
                Ok((
                    library.has_digest_feed(account)?,
                    library.api_tokens(account)?,
                    library.feedback_entries(account)?,
                ))
            })
            .await??;
        Ok(Keys { has_feed, tokens, feedback })
    }
}

/// The address typed into a form, or the form again (`refused`) with what is wrong beside the
/// field.
fn email_field(form: &EmailForm, refused: fn(&str, &str) -> Response) -> Result<EmailAddress, Box<Response>> {
    EmailAddress::parse(&form.email).map_err(|e| Box::new(refused(form.email.trim(), &e.to_string())))
}

/// The subscribe form again, with the address as typed and why it was refused (400).
fn subscribe_refused(typed: &str, message: &str) -> Response {
    page_in(
        Some(Section::Subscribe),
        StatusCode::BAD_REQUEST,
        "Subscribe",
        None,
        html! {
            section.account {
                h1 { "Subscribe" }
                p { (render::SUBSCRIBE_PROMISE) }
                (render::subscribe_form(None, typed, Some(message)))
            }
        },
    )
}

/// The sign-in form again, with the address as typed and why it was refused (400).
fn sign_in_refused(typed: &str, message: &str) -> Response {
    page_in(Some(Section::SignIn), StatusCode::BAD_REQUEST, "Sign in", None, sign_in_body(typed, Some(message)))
}

fn sign_in_body(typed: &str, error: Option<&str>) -> Markup {
    html! {
        section.account {
            h1 { "Sign in" }
            p { "No password: we e-mail you a link that signs you in." }
            form method="post" action="/signin" {
                label for="signin-email" { "E-mail address " }
                input id="signin-email" type="email" name="email" required autocomplete="email" maxlength="320" value=(typed)
                    aria-invalid=[error.map(|_| "true")] aria-describedby=[error.map(|_| "signin-error")];
                " " button.primary type="submit" { "E-mail me a link" }
                @if let Some(error) = error { span.field-error id="signin-error" { (error) } }
            }
            p.sub { "Not subscribed yet? The subscribe box is at the foot of this page." }
        }
    }
}

/// `POST /subscribe`.
pub async fn subscribe(
    State(state): State<AppState>,
    Client(client): Client,
    Form(form): Form<EmailForm>,
) -> Result<Response, PageError> {
    let email = match email_field(&form, subscribe_refused) {
        Ok(email) => email,
        Err(page) => return Ok(*page),
    };
    let host = host(&state);
    match state.blocking(move |library| library.subscribe(&email, client, &host, Utc::now())).await? {
        Ok(()) => Ok(check_inbox()),
        Err(err) => user_error(err),
    }
}

/// `GET /signin`.
pub async fn sign_in_form(MaybeViewer(viewer): MaybeViewer) -> Response {
    if viewer.is_some() {
        return Redirect::to("/preferences").into_response();
    }
    page_in(Some(Section::SignIn), StatusCode::OK, "Sign in", None, sign_in_body("", None))
}

/// `POST /signin`. The answer does not wait for the mail to be queued, so that it takes as long
/// for an address without an account (nothing to queue) as for one with.
pub async fn sign_in(
    State(state): State<AppState>,
    Client(client): Client,
    Form(form): Form<EmailForm>,
) -> Result<Response, PageError> {
    let email = match email_field(&form, sign_in_refused) {
        Ok(email) => email,
        Err(page) => return Ok(*page),
    };
    let checked = email.clone();
    if let Err(err) = state.blocking(move |library| library.admit_mail_request(&checked, client, Utc::now())).await? {
        return user_error(err);
    }
    let (background, host) = (state.clone(), host(&state));
    tokio::spawn(async move {
        // After the answer has left: the work must not even share the CPU with it.
        tokio::time::sleep(SIGN_IN_QUEUE_DELAY).await;
        let queued = background.blocking(move |library| library.mail_sign_in_link(&email, &host, Utc::now())).await;
        if let Ok(Err(err)) = queued {
            tracing::error!(error = %err, "cannot queue a sign-in link");
        }
    });
    Ok(check_inbox())
}

/// The page of a link that has expired or was used.
fn dead_link() -> Response {
    gone("It has expired or was used already. Ask for a new one: subscribe again, or sign in.")
}

fn gone(why: &str) -> Response {
    message_page(StatusCode::GONE, "This link no longer works", &[why])
}

/// `GET /confirm?token=`: a page with a Confirm button (opening the link changes nothing).
pub async fn confirm_page(
    State(state): State<AppState>,
    Query(query): Query<TokenQuery>,
) -> Result<Response, PageError> {
    button_page(state, query.token.trim().to_owned(), TokenPurpose::Confirm).await
}

/// `GET /signin/verify?token=`: a page with a Sign in button.
pub async fn verify_page(
    State(state): State<AppState>,
    Query(query): Query<TokenQuery>,
) -> Result<Response, PageError> {
    button_page(state, query.token.trim().to_owned(), TokenPurpose::SignIn).await
}

async fn button_page(state: AppState, token: String, purpose: TokenPurpose) -> Result<Response, PageError> {
    let check = token.clone();
    if !state.blocking(move |library| library.token_works(&check, purpose, Utc::now())).await?? {
        return Ok(dead_link());
    }
    let (title, action, label, text) = match purpose {
        TokenPurpose::Confirm => (
            "Confirm your subscription",
            "/confirm",
            "Confirm",
            "Press Confirm to start getting paperboy digests at this address.",
        ),
        TokenPurpose::SignIn => ("Sign in", "/signin/verify", "Sign in", "Press Sign in to continue."),
    };
    Ok(page(
        StatusCode::OK,
        title,
        None,
        html! {
            section.account {
                h1 { (title) }
                p { (text) }
                form method="post" action=(action) {
                    input type="hidden" name="token" value=(token);
                    button.primary type="submit" { (label) }
                }
            }
        },
    ))
}

/// `POST /confirm`: activates the subscription, signs in, opens the preferences.
pub async fn confirm(State(state): State<AppState>, Form(form): Form<TokenForm>) -> Result<Response, PageError> {
    let token = form.token.trim().to_owned();
    match state.blocking(move |library| library.confirm_subscription(&token, Utc::now())).await?? {
        Some(session) => Ok(signed_in_redirect(&state, &session, "/preferences?welcome=1")),
        None => Ok(dead_link()),
    }
}

/// `POST /signin/verify`.
pub async fn verify(State(state): State<AppState>, Form(form): Form<TokenForm>) -> Result<Response, PageError> {
    let token = form.token.trim().to_owned();
    match state.blocking(move |library| library.complete_sign_in(&token, Utc::now())).await?? {
        Some(session) => Ok(signed_in_redirect(&state, &session, "/preferences")),
        None => Ok(dead_link()),
    }
}

/// The page of a digest's preferences link past its 60 days.
fn dead_manage_link() -> Response {
    gone("Links in digests open your preferences for 60 days. Sign in to change them.")
}

/// `GET /manage?token=`: a digest's "change what you get" link opens a page with a button; only
/// the button signs in. A forwarded digest, a mail archive or a link scanner that opens the link
/// gets no session, and another site cannot sign a visitor into someone else's account with it.
pub async fn manage_page(
    State(state): State<AppState>,
    Query(query): Query<TokenQuery>,
) -> Result<Response, PageError> {
    let token = query.token.trim().to_owned();
    let check = token.clone();
    let account = state.blocking(move |library| library.verify_link(&check, LinkPurpose::Manage, Utc::now())).await??;
    let Some(account) = account else { return Ok(dead_manage_link()) };
    Ok(page(
        StatusCode::OK,
        "Your preferences",
        None,
        html! {
            section.account {
                h1 { "Your preferences" }
                p { "Change what " (account.email.redacted()) " gets: press the button to sign in and open the preferences." }
                form method="post" action="/manage" {
                    input type="hidden" name="token" value=(token);
                    button.primary type="submit" { "Open my preferences" }
                }
            }
        },
    ))
}

/// `POST /manage`: the button of [`manage_page`] signs in and opens the preferences.
pub async fn manage(State(state): State<AppState>, Form(form): Form<TokenForm>) -> Result<Response, PageError> {
    let token = form.token.trim().to_owned();
    match state.blocking(move |library| library.manage_session(&token, Utc::now())).await?? {
        Some(session) => Ok(signed_in_redirect(&state, &session, "/preferences")),
        None => Ok(dead_manage_link()),
    }
}

/// Why a signed-in form was refused.
enum Denied {
    /// Nobody is signed in.
    SignIn,
    /// The form's anti-forgery token is not the session's.
    Stale,
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        match self {
            Denied::SignIn => Redirect::to("/signin").into_response(),
            Denied::Stale => message_page(
                StatusCode::FORBIDDEN,
                "Please try again",
                &["This form is stale (it belongs to another session). Reload the page and send it again."],
            ),
        }
    }
}

/// Checks a signed-in form: the viewer and the anti-forgery token (compared in constant time).
fn require(viewer: Option<Viewer>, csrf: &str) -> Result<Viewer, Denied> {
    let Some(viewer) = viewer else { return Err(Denied::SignIn) };
    if !paperboy_app::signing::secrets_equal(csrf.trim(), &viewer.form_token) {
        return Err(Denied::Stale);
    }
    Ok(viewer)
}

/// `POST /signout`.
pub async fn sign_out(
    State(state): State<AppState>,
    MaybeViewer(viewer): MaybeViewer,
    Form(form): Form<SignedInForm>,
) -> Result<Response, PageError> {
    let viewer = match require(viewer, &form.csrf) {
        Ok(v) => v,
        Err(denied) => return Ok(denied.into_response()),
    };
    state.blocking(move |library| library.sign_out(&viewer.session)).await??;
    let mut response = Redirect::to("/").into_response();
    response.headers_mut().insert(header::SET_COOKIE, clear_cookie(&state));
    Ok(response)
}

/// `GET /preferences`.
pub async fn preferences_page(
    State(state): State<AppState>,
    MaybeViewer(viewer): MaybeViewer,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    let Some(viewer) = viewer else { return Ok(Redirect::to("/signin").into_response()) };
    let id = viewer.account.id;
    let keys = Keys::of(&state, id).await?;
    let notice = if query.welcome.is_some() {
        Some("You are subscribed. Tell paperboy what to look for.")
    } else if query.saved.is_some() {
        Some("Saved.")
    } else if query.feed_off.is_some() {
        Some("Your private feed is off: its address no longer works.")
    } else if query.token_revoked.is_some() {
        Some("The token is revoked: it no longer works.")
    } else {
        None
    };
    let prefs = viewer.account.preferences.clone();
    Ok(page_in(
        Some(Section::Account),
        StatusCode::OK,
        "Preferences",
        Some(&viewer),
        preferences_body(&viewer, &prefs, notice, None, &keys),
    ))
}

fn lines(values: &[String]) -> String {
    values.join("\n")
}

fn preferences_body(
    viewer: &Viewer,
    prefs: &Preferences,
    notice: Option<&str>,
    error: Option<&str>,
    keys: &Keys,
) -> Markup {
    let has_feed = keys.has_feed;
    let account = &viewer.account;
    let categories: Vec<String> = prefs.categories.iter().map(|c| c.to_string()).collect();
    html! {
        section.account.preferences {
            h1 { "Your digest" }
            @if let Some(notice) = notice { p.notice role="status" { (notice) } }
            @if let Some(error) = error { p.error role="alert" { (error) } }
            p.sub {
                "Signed in as " strong { (account.email.as_str()) } ". "
                @match account.status {
                    AccountStatus::Active => { "Digests go to this address." }
                    AccountStatus::Pending => { "This address is not confirmed yet: confirm it from the e-mail we sent, or subscribe again." }
                    AccountStatus::Unsubscribed => { "You unsubscribed: no digests are sent." }
                }
            }
            @if account.status == AccountStatus::Unsubscribed {
                form method="post" action="/preferences/resubscribe" {
                    input type="hidden" name="csrf" value=(viewer.form_token);
                    button type="submit" { "Subscribe again" }
                }
            }
            form.preferences method="post" action="/preferences" {
                input type="hidden" name="csrf" value=(viewer.form_token);
                fieldset {
                    legend { "How often" }
                    @for (value, label) in [("daily", "Daily, after each arXiv announcement"), ("weekly", "Weekly, on Fridays"), ("paused", "Paused")] {
                        label.choice {
                            input type="radio" name="cadence" value=(value) checked[prefs.cadence.as_str() == value];
                            " " (label)
                        }
                    }
                }
                label { "Saved searches, one per line (the search syntax works: " code { "ti:transformer -survey" } ")"
                    textarea name="searches" rows="5" maxlength="20000" { (lines(&prefs.searches)) } }
                label { "Categories you follow, separated by spaces or commas (cs.CL cs.LG)"
                    input type="text" name="categories" value=(categories.join(" ")) maxlength="2000"; }
                label { "Authors you follow, one per line"
                    textarea name="authors" rows="3" maxlength="10000" { (lines(&prefs.authors)) } }
                label.choice { input type="checkbox" name="library" value="on" checked[prefs.library]; " Papers like the ones in my " a href="/library" { "library" } }
                label { "Trending papers in each digest (0 for none) "
                    input type="number" name="trending" min="0" max="50" value=(prefs.trending); }
                label { "At most this many papers per digest "
                    input type="number" name="max_papers" min="1" max="200" value=(prefs.max_papers); }
                label.choice { input type="checkbox" name="send_empty" value="on" checked[prefs.send_empty]; " Mail me even when nothing matched" }
                button.primary type="submit" { "Save" }
            }
            h2 id="steering" { "Steering your recommendations" }
            @if keys.feedback.is_empty() {
                p.sub { "On a paper's page (or from a digest), “Not interested” keeps a paper out of your digests and shows you fewer like it; “More like this” makes it a seed of your recommendations without saving it. They are listed here." }
            } @else {
                ul.steering {
                    @for entry in &keys.feedback {
                        li {
                            @match entry.feedback.kind {
                                FeedbackKind::NotInterested => { span.kind { "Not interested: " } }
                                FeedbackKind::MoreLikeThis => { span.kind { "More like this: " } }
                            }
                            @match &entry.paper {
                                Some(paper) => { a href=(render::paper_path(paper)) { (crate::math::to_plain(&paper.title)) } }
                                None => { (entry.feedback.paper_id) }
                            }
                            " "
                            form.inline method="post" action="/feedback/remove" {
                                input type="hidden" name="csrf" value=(viewer.form_token);
                                input type="hidden" name="paper" value=(entry.feedback.paper_id);
                                button type="submit" aria-label={ "Undo for " (entry.feedback.paper_id) } { "Undo" }
                            }
                        }
                    }
                }
            }
            h2 { "Your digest as a feed" }
            p {
                "A private Atom and RSS address with what your digest would hold — the last "
                (paperboy_app::feed::FEED_DAYS) " days' papers for your searches, follows and library, each with why — for a feed reader instead of mail. "
                "Its address is a secret, like a calendar's: it is shown once, when it is made."
            }
            @if has_feed {
                p { "You have a private feed. A new address turns the old one off." }
            }
            form.inline method="post" action="/preferences/feed" {
                input type="hidden" name="csrf" value=(viewer.form_token);
                button type="submit" { @if has_feed { "Make a new feed address" } @else { "Make my private feed" } }
            }
            @if has_feed {
                " "
                form.inline method="post" action="/preferences/feed/revoke" {
                    input type="hidden" name="csrf" value=(viewer.form_token);
                    button.danger type="submit" { "Turn the feed off" }
                }
            }
            h2 id="tokens" { "API tokens" }
            p {
                "A personal token lets a script, a reference manager or an AI assistant use "
                a href="/api/v1/openapi.json" { "the API" } " as you: "
                code { "Authorization: Bearer <token>" } ". A read token reads your library, upvotes, saved searches and follows; "
                "a read-write token may also change them. A token is shown once, when it is made."
            }
            @if !keys.tokens.is_empty() {
                table.tokens {
                    caption.visually-hidden { "Your API tokens" }
                    thead { tr { th scope="col" { "Name" } th scope="col" { "May" } th scope="col" { "Made" } th scope="col" { "Last used" } th scope="col" { span.visually-hidden { "Revoke" } } } }
                    tbody {
                        @for token in &keys.tokens {
                            tr {
                                td { (token.name) " " code.token-id { (paperboy_app::api_tokens::TOKEN_PREFIX) (token.id) "_…" } }
                                td { @match token.scope { TokenScope::Read => "read", TokenScope::Write => "read and write" } }
                                td { time datetime=(token.created_at.to_rfc3339()) { (token.created_at.format("%Y-%m-%d")) } }
                                td { @match token.last_used_at { Some(at) => time datetime=(at.to_rfc3339()) { (at.format("%Y-%m-%d %H:%M UTC")) }, None => "never" } }
                                td {
                                    form.inline method="post" action="/preferences/tokens/revoke" {
                                        input type="hidden" name="csrf" value=(viewer.form_token);
                                        input type="hidden" name="id" value=(token.id);
                                        button.danger type="submit" aria-label={ "Revoke " (token.name) } { "Revoke" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if keys.tokens.len() < paperboy_app::api_tokens::MAX_TOKENS {
                form.token method="post" action="/preferences/tokens" {
                    input type="hidden" name="csrf" value=(viewer.form_token);
                    label { "What it is for "
                        input type="text" name="name" required maxlength=(paperboy_app::api_tokens::MAX_NAME) placeholder="Zotero sync script"; }
                    fieldset {
                        legend { "It may" }
                        label.choice { input type="radio" name="scope" value="read" checked; " read" }
                        label.choice { input type="radio" name="scope" value="write"; " read and change" }
                    }
                    button type="submit" { "Make a token" }
                }
            }
            h2 { "Your data" }
            p { a href="/account/export" download="paperboy-account.json" { "Export my data (JSON)" } }
            form method="post" action="/account/delete" {
                input type="hidden" name="csrf" value=(viewer.form_token);
                label.choice { input type="checkbox" name="confirm" value="delete" required; " Delete my account: my address, preferences, library, upvotes and history" }
                " " button.danger type="submit" { "Delete my account" }
            }
            form method="post" action="/signout" {
                input type="hidden" name="csrf" value=(viewer.form_token);
                button type="submit" { "Sign out" }
            }
        }
    }
}

/// Reads the preferences form; the message says what is wrong.
fn parse_preferences(form: &PreferencesForm) -> Result<Preferences, String> {
    let cadence = match form.cadence.trim() {
        "" => Cadence::Daily,
        text => Cadence::parse(text).ok_or_else(|| format!("unknown cadence {text:?}"))?,
    };
    let number = |name: &str, text: &str, default: u32| -> Result<u32, String> {
        match text.trim() {
            "" => Ok(default),
            text => text.parse().map_err(|_| format!("{name} must be a whole number, not {text:?}")),
        }
    };
    let mut categories = Vec::new();
    for text in form.categories.split([' ', ',', '\n', '\t']).filter(|t| !t.trim().is_empty()) {
        let category = Category::parse(text.trim()).map_err(|e| e.to_string())?;
        if !categories.contains(&category) {
            categories.push(category);
        }
    }
    Ok(Preferences {
        cadence,
        trending: number("trending", &form.trending, 5)?,
        searches: form.searches.lines().map(str::to_owned).collect(),
        categories,
        authors: form.authors.lines().map(str::to_owned).collect(),
        library: form.library.trim() == "on",
        max_papers: number("max_papers", &form.max_papers, 30)?,
        send_empty: form.send_empty.trim() == "on",
    })
}

/// `POST /preferences`.
pub async fn save_preferences(
    State(state): State<AppState>,
    MaybeViewer(viewer): MaybeViewer,
    Form(form): Form<PreferencesForm>,
) -> Result<Response, PageError> {
    let viewer = match require(viewer, &form.csrf) {
        Ok(v) => v,
        Err(denied) => return Ok(denied.into_response()),
    };
    let id = viewer.account.id;
    let keys = Keys::of(&state, id).await?;
    let invalid = |viewer: &Viewer, shown: &Preferences, message: &str| {
        page_in(
            Some(Section::Account),
            StatusCode::UNPROCESSABLE_ENTITY,
            "Preferences",
            Some(viewer),
            preferences_body(viewer, shown, None, Some(message), &keys),
        )
    };
    let wanted = match parse_preferences(&form) {
        Ok(prefs) => prefs,
        Err(message) => return Ok(invalid(&viewer, &viewer.account.preferences, &message)),
    };
    let account_id = viewer.account.id;
    let attempt = wanted.clone();
    match state.blocking(move |library| library.update_preferences(account_id, attempt)).await? {
        Ok(_) => Ok(Redirect::to("/preferences?saved=1").into_response()),
        Err(Error::Preferences(message)) => Ok(invalid(&viewer, &wanted, &message.to_string())),
        Err(err) => Err(err.into()),
    }
}

/// `POST /preferences/feed`: makes the private feed (a new address revokes the old) and shows
/// its address, once.
pub async fn make_feed(
    State(state): State<AppState>,
    MaybeViewer(viewer): MaybeViewer,
    Form(form): Form<SignedInForm>,
) -> Result<Response, PageError> {
    let viewer = match require(viewer, &form.csrf) {
        Ok(v) => v,
        Err(denied) => return Ok(denied.into_response()),
    };
    let id = viewer.account.id;
    let secret = state.blocking(move |library| library.create_digest_feed(id)).await??;
    let base = &state.config.base_url;
    let atom = format!("{base}/feeds/digest/{}.atom", secret.expose());
    let rss = format!("{base}/feeds/digest/{}.rss", secret.expose());
    let body = html! {
        section.account {
            h1 { "Your private feed" }
            p { "Add this address to your feed reader. It is shown only now: paperboy keeps only a fingerprint of it." }
            p { label for="feed-atom" { "Atom" } }
            p { input id="feed-atom" type="text" readonly value=(atom) size="60"; }
            p { label for="feed-rss" { "RSS" } }
            p { input id="feed-rss" type="text" readonly value=(rss) size="60"; }
            p { "Anyone with the address can read your digest. If it leaks, make a new one or turn the feed off in your " a href="/preferences" { "preferences" } "." }
        }
    };
    let mut response = page_in(Some(Section::Account), StatusCode::OK, "Your private feed", Some(&viewer), body);
    response.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    Ok(response)
}

/// `POST /preferences/tokens`: the form.
#[derive(Deserialize)]
pub struct ApiTokenForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    scope: String,
}

/// `POST /preferences/tokens`: makes an API token and shows it, once.
pub async fn make_token(
    State(state): State<AppState>,
    MaybeViewer(viewer): MaybeViewer,
    Form(form): Form<ApiTokenForm>,
) -> Result<Response, PageError> {
    let viewer = match require(viewer, &form.csrf) {
        Ok(v) => v,
        Err(denied) => return Ok(denied.into_response()),
    };
    let id = viewer.account.id;
    let Some(scope) = TokenScope::parse(form.scope.trim()) else {
        return Err(Error::ApiToken(format!("a token may \"read\" or \"write\", not {:?}", form.scope.trim())).into());
    };
    let name = form.name;
    let made = match state.blocking(move |library| library.create_api_token(id, &name, scope, Utc::now())).await? {
        Ok(made) => made,
        Err(Error::ApiToken(message)) => {
            let keys = Keys::of(&state, id).await?;
            let prefs = viewer.account.preferences.clone();
            return Ok(page_in(
                Some(Section::Account),
                StatusCode::UNPROCESSABLE_ENTITY,
                "Preferences",
                Some(&viewer),
                preferences_body(&viewer, &prefs, None, Some(&message), &keys),
            ));
        }
        Err(err) => return Err(err.into()),
    };
    let body = html! {
        section.account {
            h1 { "Your new API token" }
            p { "Copy it now: it is shown only this once, and paperboy keeps only a fingerprint of it." }
            p { label for="api-token" { (made.token.name) " (" (match scope { TokenScope::Read => "read", TokenScope::Write => "read and write" }) ")" } }
            p { input id="api-token" type="text" readonly value=(made.secret.expose()) size="70"; }
            p { "Send it as " code { "Authorization: Bearer <token>" } ", for example:" }
            pre { code { "curl -H 'Authorization: Bearer " (made.secret.expose()) "' " (state.config.base_url) "/api/v1/me/library" } }
            p { "Anyone with the token can act as you within its scope. If it leaks, revoke it in your " a href="/preferences#tokens" { "preferences" } "." }
        }
    };
    let mut response = page_in(Some(Section::Account), StatusCode::OK, "Your new API token", Some(&viewer), body);
    response.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    Ok(response)
}

/// `POST /preferences/tokens/revoke`: the form.
#[derive(Deserialize)]
pub struct RevokeTokenForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    id: String,
}

/// `POST /preferences/tokens/revoke`: the token gets 401 from now on.
pub async fn revoke_token(
    State(state): State<AppState>,
    MaybeViewer(viewer): MaybeViewer,
    Form(form): Form<RevokeTokenForm>,
) -> Result<Response, PageError> {
    let viewer = match require(viewer, &form.csrf) {
        Ok(v) => v,
        Err(denied) => return Ok(denied.into_response()),
    };
    let id = viewer.account.id;
    let token = form.id;
    match state.blocking(move |library| library.revoke_api_token(id, &token)).await?? {
        true => Ok(Redirect::to("/preferences?token_revoked=1#tokens").into_response()),
        // Revoked already (a second click), or never this account's.
        false => Ok(Redirect::to("/preferences#tokens").into_response()),
    }
}

/// `POST /preferences/feed/revoke`: the private feed's address stops working at once.
pub async fn revoke_feed(
    State(state): State<AppState>,
    MaybeViewer(viewer): MaybeViewer,
    Form(form): Form<SignedInForm>,
) -> Result<Response, PageError> {
    let viewer = match require(viewer, &form.csrf) {
        Ok(v) => v,
        Err(denied) => return Ok(denied.into_response()),
    };
    let id = viewer.account.id;
    state.blocking(move |library| library.revoke_digest_feed(id)).await??;
    Ok(Redirect::to("/preferences?feed_off=1").into_response())
}

/// `POST /preferences/resubscribe`.
pub async fn resubscribe(
    State(state): State<AppState>,
    MaybeViewer(viewer): MaybeViewer,
    Form(form): Form<SignedInForm>,
) -> Result<Response, PageError> {
    let viewer = match require(viewer, &form.csrf) {
        Ok(v) => v,
        Err(denied) => return Ok(denied.into_response()),
    };
    let id = viewer.account.id;
    state.blocking(move |library| library.resubscribe(id, Utc::now())).await??;
    Ok(Redirect::to("/preferences?saved=1").into_response())
}

/// `GET /unsubscribe?token=`: a page with the button (and what it does).
pub async fn unsubscribe_page(
    State(state): State<AppState>,
    Query(query): Query<TokenQuery>,
) -> Result<Response, PageError> {
    let token = query.token.trim().to_owned();
    let check = token.clone();
    let account =
        state.blocking(move |library| library.verify_link(&check, LinkPurpose::Unsubscribe, Utc::now())).await??;
    let Some(account) = account else { return Ok(dead_link()) };
    let action = format!("/unsubscribe?token={}", render::url_encode(&token));
    Ok(page(
        StatusCode::OK,
        "Unsubscribe",
        None,
        html! {
            section.account {
                h1 { "Unsubscribe" }
                @if account.status == AccountStatus::Unsubscribed {
                    p { "You are unsubscribed: no more digests go to " (account.email.redacted()) "." }
                } @else {
                    p { "Stop all digests to " (account.email.redacted()) "?" }
                    form method="post" action=(action) {
                        button.primary type="submit" { "Unsubscribe" }
                    }
                }
            }
        },
    ))
}

/// `POST /unsubscribe?token=`: one click, from the page or from a mail provider (RFC 8058); the
/// signed token is the authority, so no origin or session is needed.
pub async fn unsubscribe(
    State(state): State<AppState>,
    Query(query): Query<TokenQuery>,
) -> Result<Response, PageError> {
    let token = query.token.trim().to_owned();
    match state.blocking(move |library| library.unsubscribe(&token, Utc::now())).await?? {
        Some(account) => Ok(message_page(
            StatusCode::OK,
            "You are unsubscribed",
            &[&format!(
                "No more digests go to {}. Changed your mind? Sign in and subscribe again from your preferences.",
                account.email.redacted()
            )],
        )),
        None => Ok(dead_link()),
    }
}

/// `GET /not-interested?paper=&token=`: from a digest, the page with the button (a link scanner
/// that opens the link changes nothing).
#[derive(Deserialize)]
pub struct PaperTokenQuery {
    #[serde(default)]
    paper: String,
    #[serde(default)]
    token: String,
}

pub async fn not_interested_page(
    State(state): State<AppState>,
    Query(query): Query<PaperTokenQuery>,
) -> Result<Response, PageError> {
    let Ok(paper) = ArxivId::parse_lenient(query.paper.trim()) else { return Ok(dead_link()) };
    let token = query.token.trim().to_owned();
    let check = token.clone();
    let found = state
        .blocking(move |library| -> Result<_, Error> {
            let Some(account) = library.verify_paper_link(&check, paper, Utc::now())? else { return Ok(None) };
            Ok(library.show(paper)?.map(|details| (account, details.stored.paper)))
        })
        .await??;
    let Some((account, stored)) = found else { return Ok(dead_link()) };
    Ok(page(
        StatusCode::OK,
        "Not interested",
        None,
        html! {
            section.account {
                h1 { "Not interested" }
                p { "Never show " strong { (crate::math::to_plain(&stored.title)) } " again in the digests of " (account.email.redacted()) ", and show fewer papers like it?" }
                form method="post" action="/not-interested" {
                    input type="hidden" name="paper" value=(stored.id);
                    input type="hidden" name="token" value=(token);
                    button.primary type="submit" { "Not interested" }
                }
                p.sub { "You can take it back in your " a href="/preferences#steering" { "preferences" } "." }
            }
        },
    ))
}

/// `POST /not-interested`: the form.
#[derive(Deserialize)]
pub struct NotInterestedForm {
    #[serde(default)]
    paper: String,
    /// A digest's signed link token (then no session is needed).
    #[serde(default)]
    token: String,
    #[serde(default)]
    csrf: String,
}

/// `POST /not-interested` (`paper`, and `token` from a digest's page or `csrf` from a signed-in
/// page): the paper never comes back in the person's digests, and their library model learns it.
pub async fn not_interested(
    State(state): State<AppState>,
    MaybeViewer(viewer): MaybeViewer,
    headers: HeaderMap,
    Form(form): Form<NotInterestedForm>,
) -> Result<Response, PageError> {
    if form.token.trim().is_empty() {
        let form = PaperForm { csrf: form.csrf, paper: form.paper, tags: String::new() };
        return paper_action(state, viewer, headers, form, |library, account, paper, _| {
            library.set_feedback(account, paper, FeedbackKind::NotInterested, Utc::now())
        })
        .await;
    }
    let Ok(paper) = ArxivId::parse_lenient(form.paper.trim()) else { return Ok(dead_link()) };
    let token = form.token.trim().to_owned();
    let done = state
        .blocking(move |library| -> Result<_, Error> {
            let Some(account) = library.verify_paper_link(&token, paper, Utc::now())? else { return Ok(None) };
            library.set_feedback(account.id, paper, FeedbackKind::NotInterested, Utc::now())?;
            Ok(Some(account))
        })
        .await?;
    match done {
        Ok(Some(_)) => Ok(message_page(
            StatusCode::OK,
            "Not interested",
            &[
                "Done: it will not come back in your digests, and your recommendations learn from it. You can take it back in your preferences.",
            ],
        )),
        Ok(None) => Ok(dead_link()),
        Err(err) => user_error(err),
    }
}

/// `POST /more-like-this` (`paper`): the paper seeds the person's recommendations, as a paper
/// of their library does, without being saved.
pub async fn more_like_this(
    State(state): State<AppState>,
    MaybeViewer(viewer): MaybeViewer,
    headers: HeaderMap,
    Form(form): Form<PaperForm>,
) -> Result<Response, PageError> {
    paper_action(state, viewer, headers, form, |library, account, paper, _| {
        library.set_feedback(account, paper, FeedbackKind::MoreLikeThis, Utc::now())
    })
    .await
}

/// `POST /feedback/remove` (`paper`): takes back "not interested" or "more like this".
pub async fn remove_feedback(
    State(state): State<AppState>,
    MaybeViewer(viewer): MaybeViewer,
    headers: HeaderMap,
    Form(form): Form<PaperForm>,
) -> Result<Response, PageError> {
    paper_action(state, viewer, headers, form, |library, account, paper, _| {
        library.remove_feedback(account, paper).map(|_| ())
    })
    .await
}

/// `GET /library`.
pub async fn library_page(
    State(state): State<AppState>,
    MaybeViewer(viewer): MaybeViewer,
) -> Result<Response, PageError> {
    let Some(viewer) = viewer else { return Ok(Redirect::to("/signin").into_response()) };
    let id = viewer.account.id;
    let entries = state.blocking(move |library| library.library_entries(id)).await??;
    let body = html! {
        section.account.library {
            h1 { "Your library" }
            p.sub { (entries.len()) " saved papers. Digests bring papers like these when “Papers like the ones in my library” is on in your " a href="/preferences" { "preferences" } "." }
            @if !entries.is_empty() { (render::export_links("/library/export?", "Export the library")) }
            @for entry in &entries {
                @if let Some(paper) = &entry.paper {
                    (render::paper_item(paper, render::Level::H2, &render::no_marks, html! {
                        @if !entry.saved.tags.is_empty() { " · " span.tags { (entry.saved.tags.join(", ")) } }
                        " " (render::paper_actions(&viewer, paper.id, true, false))
                    }))
                }
            }
        }
    };
    Ok(page_in(Some(Section::Library), StatusCode::OK, "Library", Some(&viewer), body))
}

/// Back to the page the form was on (same site only), else the paper.
fn back(headers: &HeaderMap, paper: ArxivId) -> Response {
    let referer = headers.get(header::REFERER).and_then(|v| v.to_str().ok()).unwrap_or("");
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !host.is_empty() && authority(referer).eq_ignore_ascii_case(host) {
        let rest = referer.split_once("://").map_or(referer, |(_, r)| r);
        return Redirect::to(rest.find('/').map_or("/", |i| &rest[i..])).into_response();
    }
    Redirect::to(&format!("/papers/{paper}")).into_response()
}

/// A signed-in action on one paper (save, remove, upvote), then back where the form was.
async fn paper_action(
    state: AppState,
    viewer: Option<Viewer>,
    headers: HeaderMap,
    form: PaperForm,
    action: fn(&paperboy_app::Library, paperboy_domain::AccountId, ArxivId, &str) -> Result<(), Error>,
) -> Result<Response, PageError> {
    let viewer = match require(viewer, &form.csrf) {
        Ok(v) => v,
        Err(denied) => return Ok(denied.into_response()),
    };
    let paper = match ArxivId::parse_lenient(&form.paper) {
        Ok(id) => id.base(),
        Err(err) => return Ok(message_page(StatusCode::BAD_REQUEST, "That did not work", &[&err.to_string()])),
    };
    let id = viewer.account.id;
    let tags = form.tags;
    match state.blocking(move |library| action(library, id, paper, &tags)).await? {
        Ok(()) => Ok(back(&headers, paper)),
        Err(err) => user_error(err),
    }
}

/// `POST /library/save` (`paper`, optional `tags`).
pub async fn save(
    State(state): State<AppState>,
    MaybeViewer(viewer): MaybeViewer,
    headers: HeaderMap,
    Form(form): Form<PaperForm>,
) -> Result<Response, PageError> {
    paper_action(state, viewer, headers, form, |library, account, paper, tags| {
        library.save_paper(account, paper, &[tags.to_owned()], Utc::now())
    })
    .await
}

/// `POST /library/remove` (`paper`).
pub async fn remove(
    State(state): State<AppState>,
    MaybeViewer(viewer): MaybeViewer,
    headers: HeaderMap,
    Form(form): Form<PaperForm>,
) -> Result<Response, PageError> {
    paper_action(state, viewer, headers, form, |library, account, paper, _| {
        library.unsave_paper(account, paper).map(|_| ())
    })
    .await
}

/// `POST /upvote` (`paper`): upvotes. Idempotent, like every paper action: a resent request
/// (a double click, or a load balancer retrying a request whose node died before answering)
/// leaves the upvote in place instead of taking it back.
pub async fn upvote(
    State(state): State<AppState>,
    MaybeViewer(viewer): MaybeViewer,
    headers: HeaderMap,
    Form(form): Form<PaperForm>,
) -> Result<Response, PageError> {
    paper_action(state, viewer, headers, form, |library, account, paper, _| {
        library.set_upvote(account, paper, true, Utc::now()).map(|_| ())
    })
    .await
}

/// `POST /upvote/remove` (`paper`): takes an upvote back.
pub async fn remove_upvote(
    State(state): State<AppState>,
    MaybeViewer(viewer): MaybeViewer,
    headers: HeaderMap,
    Form(form): Form<PaperForm>,
) -> Result<Response, PageError> {
    paper_action(state, viewer, headers, form, |library, account, paper, _| {
        library.set_upvote(account, paper, false, Utc::now()).map(|_| ())
    })
    .await
}

/// `GET /library/export?format=bibtex|ris|csl-json`: the library as a file for a reference manager.
pub async fn export_library(
    State(state): State<AppState>,
    MaybeViewer(viewer): MaybeViewer,
    Query(query): Query<FormatQuery>,
) -> Result<Response, PageError> {
    let Some(viewer) = viewer else { return Ok(Redirect::to("/signin").into_response()) };
    let format = crate::params::citation_format(&query.format)?;
    let id = viewer.account.id;
    let text = state.blocking(move |library| library.export_library(id, format)).await??;
    Ok(render::citation_file(format, "paperboy-library", text, "private, no-store"))
}

/// `?format=`.
#[derive(Deserialize)]
pub struct FormatQuery {
    format: Option<String>,
}

/// `GET /account/export`: everything paperboy keeps about the account, as JSON.
pub async fn export(State(state): State<AppState>, MaybeViewer(viewer): MaybeViewer) -> Result<Response, PageError> {
    let Some(viewer) = viewer else { return Ok(Redirect::to("/signin").into_response()) };
    let id = viewer.account.id;
    let export = state.blocking(move |library| library.export_account(id, Utc::now())).await??;
    let body = serde_json::to_string_pretty(&export).map_err(|_| PageError(Failure::Crashed))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"paperboy-account.json\""),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response())
}

/// `POST /account/delete` (`confirm=delete`).
pub async fn delete(
    State(state): State<AppState>,
    MaybeViewer(viewer): MaybeViewer,
    Form(form): Form<DeleteForm>,
) -> Result<Response, PageError> {
    let viewer = match require(viewer, &form.csrf) {
        Ok(v) => v,
        Err(denied) => return Ok(denied.into_response()),
    };
    if form.confirm.trim() != "delete" {
        return Ok(message_page(
            StatusCode::BAD_REQUEST,
            "Not deleted",
            &["Tick the box to confirm that the account should be deleted."],
        ));
    }
    let id = viewer.account.id;
    state.blocking(move |library| library.delete_account(id)).await??;
    let mut response = message_page(
        StatusCode::OK,
        "Your account is deleted",
        &["Your address, preferences, library, upvotes and the record of what we sent you are gone."],
    );
    response.headers_mut().insert(header::SET_COOKIE, clear_cookie(&state));
    Ok(response)
}
