//! The messages paperboy sends.

use std::fmt::Write as _;

use chrono::NaiveDate;
use lettre::{
    Message,
    message::{
        Mailbox, MultiPart, SinglePart,
        header::{Header, HeaderName, HeaderValue},
    },
};
use paperboy_domain::EmailAddress;

use crate::BuildError;

/// Who sends and what every message links to.
#[derive(Debug, Clone)]
pub struct MailContext {
    /// `From`, e.g. `paperboy <digest@papers.example.org>`.
    pub from: Mailbox,
    /// The site's public URL, without a trailing slash.
    pub base_url: String,
    /// The host used in `Message-ID`s and `List-Id`.
    pub host: String,
}

/// One paper in a digest, ready to show.
#[derive(Debug, Clone)]
pub struct DigestItem {
    /// Its arXiv id.
    pub id: String,
    /// Its title as plain text (math already made readable).
    pub title: String,
    /// Its authors, shortened.
    pub authors: String,
    /// Its page on this site.
    pub url: String,
    /// The start of its abstract, plain text.
    pub snippet: String,
    /// Why it is in the digest, one line each.
    pub reasons: Vec<String>,
    /// Where to say "not interested" in it (a signed link to a page with a button).
    pub not_interested_url: String,
}

/// A digest, ready to show.
#[derive(Debug, Clone)]
pub struct DigestView {
    /// The day (or the week's last day) it covers.
    pub date: NaiveDate,
    /// `daily` or `weekly`.
    pub cadence: String,
    /// Papers picked for the subscriber.
    pub items: Vec<DigestItem>,
    /// The trending section.
    pub trending: Vec<DigestItem>,
    /// Where to change preferences (a signed link).
    pub preferences_url: String,
    /// Where to unsubscribe (a signed link that works with one click).
    pub unsubscribe_url: String,
    /// `mailto:` unsubscribe address, if one is configured.
    pub unsubscribe_mailto: Option<String>,
}

macro_rules! raw_header {
    ($name:ident, $header:literal) => {
        #[derive(Debug, Clone)]
        struct $name(String);

        impl Header for $name {
            fn name() -> HeaderName {
                HeaderName::new_from_ascii_str($header)
            }

            fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
                Ok($name(s.to_owned()))
            }

            fn display(&self) -> HeaderValue {
                HeaderValue::new(Self::name(), self.0.clone())
            }
        }
    };
}

raw_header!(ListUnsubscribe, "List-Unsubscribe");
raw_header!(ListUnsubscribePost, "List-Unsubscribe-Post");
raw_header!(ListId, "List-Id");
raw_header!(AutoSubmitted, "Auto-Submitted");

fn mailbox(to: &EmailAddress) -> Result<Mailbox, BuildError> {
    to.as_str().parse::<Mailbox>().map_err(|e| BuildError(format!("the address is refused: {e}")))
}

/// No line breaks or control characters in a header value (they would start a new header).
fn header_safe(value: &str) -> Result<String, BuildError> {
    if value.chars().any(|c| c.is_control()) {
        return Err(BuildError("a header value holds a control character".into()));
    }
    Ok(value.to_owned())
}

/// The daily or weekly digest: subject with the date and the count, `List-Unsubscribe` (https and
/// mailto) with RFC 8058 one-click, `List-Id`, a stable `Message-ID`, `Date`.
pub fn digest_message(
    context: &MailContext,
    to: &EmailAddress,
    message_id: &str,
    view: &DigestView,
) -> Result<Message, BuildError> {
    let n = view.items.len();
    let subject = match (view.cadence.as_str(), n) {
        (_, 0) if view.trending.is_empty() => format!("No new papers matched · {}", view.date),
        (_, 0) => format!("Trending papers · {}", view.date),
        ("weekly", _) => {
            format!("{n} new paper{} this week for you · week to {}", if n == 1 { "" } else { "s" }, view.date)
        }
        _ => format!("{n} new paper{} for you · {}", if n == 1 { "" } else { "s" }, view.date),
    };
    let mut unsubscribe = format!("<{}>", header_safe(&view.unsubscribe_url)?);
    if let Some(mailto) = &view.unsubscribe_mailto {
        unsubscribe.push_str(&format!(", <{}>", header_safe(mailto)?));
    }
    envelope(context, to, subject, message_id)?
        .header(ListUnsubscribe(unsubscribe))
        .header(ListUnsubscribePost("List-Unsubscribe=One-Click".into()))
        .header(ListId(format!("paperboy digest <digest.{}>", context.host)))
        .header(AutoSubmitted("auto-generated".into()))
        .multipart(
            MultiPart::alternative()
                .singlepart(SinglePart::plain(digest_text(context, view)))
                .singlepart(SinglePart::html(digest_html(context, view))),
        )
        .map_err(|e| BuildError(e.to_string()))
}

fn digest_text(context: &MailContext, view: &DigestView) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "paperboy · {} · {}", view.cadence, view.date);
    let _ = writeln!(out);
    if view.items.is_empty() {
        let _ = writeln!(out, "Nothing new matched your searches, categories, authors or library.");
    }
    for (i, item) in view.items.iter().enumerate() {
        write_item_text(&mut out, i + 1, item);
    }
    if !view.trending.is_empty() {
        let _ = writeln!(out, "TRENDING");
        let _ = writeln!(out);
        for (i, item) in view.trending.iter().enumerate() {
            write_item_text(&mut out, i + 1, item);
        }
    }
    let _ = writeln!(out, "--");
    let _ = writeln!(out, "Change what you get: {}", view.preferences_url);
    let _ = writeln!(out, "Unsubscribe: {}", view.unsubscribe_url);
    let _ = writeln!(out, "{}", context.base_url);
    out
}

fn write_item_text(out: &mut String, number: usize, item: &DigestItem) {
    let _ = writeln!(out, "{number}. {}", item.title);
    let _ = writeln!(out, "   {}", item.authors);
    for reason in &item.reasons {
        let _ = writeln!(out, "   * {reason}");
    }
    let _ = writeln!(out, "   {}", item.url);
    if !item.snippet.is_empty() {
        let _ = writeln!(out, "   {}", item.snippet);
    }
    let _ = writeln!(out, "   Not interested: {}", item.not_interested_url);
    let _ = writeln!(out);
}

/// Escapes text for HTML.
pub(crate) fn escape(text: &str) -> String {
    paperboy_domain::text::escape_html(text)
}

const BODY: &str = "margin:0;padding:0;background:#f6f6f4;";
const WRAP: &str = "max-width:640px;margin:0 auto;padding:16px;font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;font-size:16px;line-height:1.5;color:#1d1d1f;background:#ffffff;";
const ITEM: &str = "padding:12px 0;border-bottom:1px solid #e3e3e0;";
const TITLE: &str = "font-size:17px;font-weight:600;color:#1f4e79;text-decoration:none;";
const META: &str = "font-size:13px;color:#5f6368;margin:2px 0;";
const REASON: &str = "font-size:13px;color:#1f4e79;margin:2px 0;";
const FOOT: &str = "font-size:12px;color:#5f6368;padding-top:16px;";

fn digest_html(context: &MailContext, view: &DigestView) -> String {
    let mut out = String::with_capacity(8192);
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>paperboy {date}</title></head><body style=\"{BODY}\"><div style=\"{WRAP}\"><p style=\"{META}\">paperboy · {cadence} · {date}</p>",
        date = view.date,
        cadence = escape(&view.cadence)
    );
    if view.items.is_empty() {
        let _ = write!(out, "<p>Nothing new matched your searches, categories, authors or library.</p>");
    } else {
        let _ = write!(out, "<h1 style=\"font-size:20px;margin:8px 0;\">New for you</h1>");
    }
    for item in &view.items {
        write_item_html(&mut out, item);
    }
    if !view.trending.is_empty() {
        let _ = write!(out, "<h2 style=\"font-size:18px;margin:20px 0 4px;\">Trending</h2>");
        for item in &view.trending {
            write_item_html(&mut out, item);
        }
    }
    let _ = write!(
        out,
        "<p style=\"{FOOT}\"><a href=\"{prefs}\" style=\"color:#1f4e79;\">Change what you get</a> · <a href=\"{unsub}\" style=\"color:#1f4e79;\">Unsubscribe</a> · <a href=\"{site}\" style=\"color:#1f4e79;\">paperboy</a></p></div></body></html>",
        prefs = escape(&view.preferences_url),
        unsub = escape(&view.unsubscribe_url),
        site = escape(&context.base_url),
    );
    out
}

fn write_item_html(out: &mut String, item: &DigestItem) {
    let _ = write!(
        out,
        "<div style=\"{ITEM}\"><a href=\"{}\" style=\"{TITLE}\">{}</a>",
        escape(&item.url),
        escape(&item.title)
    );
    let _ = write!(out, "<p style=\"{META}\">{} · {}</p>", escape(&item.id), escape(&item.authors));
    for reason in &item.reasons {
        let _ = write!(out, "<p style=\"{REASON}\">▸ {}</p>", escape(reason));
    }
    if !item.snippet.is_empty() {
        let _ = write!(out, "<p style=\"margin:4px 0;font-size:14px;\">{}</p>", escape(&item.snippet));
    }
    let _ = write!(
        out,
        "<p style=\"{META}\"><a href=\"{}\" style=\"color:#5f6368;\">Not interested</a></p></div>",
        escape(&item.not_interested_url)
    );
}

/// The headers every message has: From, To, Subject, a stable Message-ID, Date.
fn envelope(
    context: &MailContext,
    to: &EmailAddress,
    subject: impl Into<String>,
    message_id: &str,
) -> Result<lettre::message::MessageBuilder, BuildError> {
    Ok(Message::builder()
        .from(context.from.clone())
        .to(mailbox(to)?)
        .subject(subject)
        .message_id(Some(message_id.to_owned()))
        .date_now())
}

fn simple_message(
    context: &MailContext,
    to: &EmailAddress,
    message_id: &str,
    subject: &str,
    lines: &[&str],
    link: (&str, &str),
) -> Result<Message, BuildError> {
    let (label, url) = link;
    let mut text = String::new();
    for line in lines {
        let _ = writeln!(text, "{line}");
    }
    let _ = writeln!(text);
    let _ = writeln!(text, "{label}: {url}");
    let _ = writeln!(text);
    let _ = writeln!(text, "If you did not ask for this, ignore this message: nothing happens without the click.");
    let mut html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"></head><body style=\"{BODY}\"><div style=\"{WRAP}\">"
    );
    for line in lines {
        let _ = write!(html, "<p>{}</p>", escape(line));
    }
    let _ = write!(
        html,
        "<p><a href=\"{}\" style=\"display:inline-block;padding:10px 16px;background:#1f4e79;color:#ffffff;border-radius:6px;text-decoration:none;\">{}</a></p><p style=\"{FOOT}\">If you did not ask for this, ignore this message: nothing happens without the click.</p></div></body></html>",
        escape(url),
        escape(label)
    );
    envelope(context, to, subject, message_id)?
        .header(AutoSubmitted("auto-generated".into()))
        .multipart(MultiPart::alternative().singlepart(SinglePart::plain(text)).singlepart(SinglePart::html(html)))
        .map_err(|e| BuildError(e.to_string()))
}

/// "Confirm your subscription": the link opens a page with a button (link scanners do not confirm).
pub fn confirm_message(
    context: &MailContext,
    to: &EmailAddress,
    message_id: &str,
    confirm_url: &str,
) -> Result<Message, BuildError> {
    simple_message(
        context,
        to,
        message_id,
        "Confirm your paperboy subscription",
        &[
            "Someone, probably you, asked to get new research papers from paperboy at this address.",
            "Open the link and press Confirm to start getting digests:",
        ],
        ("Confirm subscription", confirm_url),
    )
}

/// "Your sign-in link": single use, expires.
pub fn sign_in_message(
    context: &MailContext,
    to: &EmailAddress,
    message_id: &str,
    sign_in_url: &str,
    minutes: i64,
) -> Result<Message, BuildError> {
    let expiry = format!("The link works once, for the next {minutes} minutes.");
    simple_message(
        context,
        to,
        message_id,
        "Your paperboy sign-in link",
        &["Open the link and press Sign in.", &expiry],
        ("Sign in", sign_in_url),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> MailContext {
        MailContext {
            from: "paperboy <digest@papers.example.org>".parse().unwrap(),
            base_url: "https://papers.example.org".into(),
            host: "papers.example.org".into(),
        }
    }

    fn item(title: &str) -> DigestItem {
        DigestItem {
            id: "2401.00001".into(),
            title: title.into(),
            authors: "A. Author".into(),
            url: "https://papers.example.org/papers/2401.00001".into(),
            snippet: "An abstract.".into(),
            reasons: vec!["matches your search 'diffusion policy': diffusion, policy".into()],
            not_interested_url: "https://papers.example.org/not-interested?paper=2401.00001&token=abc".into(),
        }
    }

    fn view() -> DigestView {
        DigestView {
            date: NaiveDate::from_ymd_opt(2026, 6, 16).unwrap(),
            cadence: "daily".into(),
            items: vec![item("<script>alert(1)</script> Diffusion"), item("Second")],
            trending: vec![item("Trending one")],
            preferences_url: "https://papers.example.org/manage?token=abc".into(),
            unsubscribe_url: "https://papers.example.org/unsubscribe?token=xyz".into(),
            unsubscribe_mailto: Some("mailto:unsubscribe@papers.example.org?subject=unsubscribe%20xyz".into()),
        }
    }

    #[test]
    fn a_digest_is_multipart_with_list_headers() {
        let to = EmailAddress::parse("reader@example.org").unwrap();
        let message = digest_message(&context(), &to, "<digest-1-2026-06-16@papers.example.org>", &view()).unwrap();
        let raw = message.formatted();
        let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
        assert_eq!(parsed.subject(), Some("2 new papers for you · 2026-06-16"));
        assert_eq!(parsed.message_id(), Some("digest-1-2026-06-16@papers.example.org"));
        let header = |name: &str| parsed.header_raw(name).map(|v| v.trim().to_owned());
        assert_eq!(header("List-Unsubscribe-Post").as_deref(), Some("List-Unsubscribe=One-Click"));
        assert!(header("List-Unsubscribe").unwrap().contains("<https://papers.example.org/unsubscribe?token=xyz>"));
        assert!(header("List-Unsubscribe").unwrap().contains("<mailto:"));
        assert!(header("List-Id").unwrap().contains("digest.papers.example.org"));
        assert!(parsed.date().is_some());
        let text = parsed.body_text(0).unwrap();
        let html = parsed.body_html(0).unwrap();
        assert!(text.contains("matches your search 'diffusion policy'"));
        assert!(html.contains("&lt;script&gt;") && !html.contains("<script>"), "titles are escaped in HTML");
        assert!(!html.contains("<img") && !html.contains("http://"), "no remote images");
    }

    #[test]
    fn header_injection_is_refused() {
        let to = EmailAddress::parse("reader@example.org").unwrap();
        let mut bad = view();
        bad.unsubscribe_url = "https://x/\r\nBcc: victim@example.org".into();
        assert!(digest_message(&context(), &to, "<m@x>", &bad).is_err());
    }

    #[test]
    fn confirmation_and_sign_in_messages_carry_their_link() {
        let to = EmailAddress::parse("reader@example.org").unwrap();
        let raw = confirm_message(&context(), &to, "<c@x>", "https://papers.example.org/confirm?token=t")
            .unwrap()
            .formatted();
        let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
        assert!(parsed.body_text(0).unwrap().contains("https://papers.example.org/confirm?token=t"));
        let raw = sign_in_message(&context(), &to, "<s@x>", "https://papers.example.org/signin/verify?token=t", 30)
            .unwrap()
            .formatted();
        let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
        assert!(parsed.body_html(0).unwrap().contains("30 minutes"));
    }
}
