//! Renders the TeX math in arXiv titles and abstracts as MathML Core, for server-side HTML.
//!
//! ```
//! let html = paperboy_web::math::to_html("Sorting in $O(n \\log n)$ <b>time</b>");
//! assert!(html.starts_with("Sorting in <math xmlns=\"http://www.w3.org/1998/Math/MathML\"><mi>O</mi>"));
//! assert!(html.ends_with("</math> &lt;b&gt;time&lt;/b&gt;"));
//! assert_eq!(paperboy_web::math::to_plain("$\\alpha$-divergence in $\\mathbb{R}^d$"), "α-divergence in ℝ^d");
//! ```
//!
//! # Finding math
//! Delimiters are `$...$` (inline), `$$...$$` and `\[...\]` (display) and `\(...\)` (inline). A backslash
//! escapes the next character, so `\$` is a literal dollar and never opens or closes math. A span is math when
//! its closing delimiter exists, its body is not empty or only whitespace, and it does not contain a blank
//! line. Otherwise the opening delimiter is literal text and the search goes on after it (for a lone `$$`,
//! after both dollars). Text is kept verbatim, so an escaped `\$` outside math stays `\$` in every output.
//!
//! Prices: an inline `$...$` body that (after leading whitespace) starts with an ASCII digit is text, not
//! math, when it also ends with whitespace or its closing `$` is directly followed by an ASCII digit. So
//! `costs $5 and $10` and `$5-$10` stay text, while `$10^{-3}$`, `$2$-approximation` and `$5 \times 5$` are
//! math. Spaces just inside the dollars are otherwise allowed (`$ x $`), as in TeX.
//!
//! # Output and safety
//! Only the MathML Core elements `math mi mn mo mtext mrow msub msup msubsup mfrac msqrt mroot mover munder
//! munderover mspace` are written. Tag names, attribute names and attribute values are `&'static str`
//! constants of this crate (never input), and every text node is escaped with [`escape_html`]. `\href{url}{x}`
//! renders only `x`; `\url{u}` renders `u` as text.
//!
//! Fonts (`\mathbf`, `\mathbb`, `\mathcal`, ...) set `mathvariant` *and* map ASCII letters and digits into the
//! Unicode math alphabets (`\mathbb{R}` is `<mi mathvariant="double-struck">ℝ</mi>`), because Chromium's
//! MathML Core only honours `mathvariant="normal"`.
//!
//! Math that does not parse (unbalanced braces, `\begin{...}`, double superscripts), has a body longer than
//! 2,000 characters, or nests deeper than 32 levels is returned as text: its source, delimiters
//! included. Unknown commands render as `<mtext>\name</mtext>`.
//!
//! # Plain text
//! [`to_plain`] writes symbols as Unicode, keeps the source's spacing, and writes scripts as `x^2`, `x_i`,
//! `10^-3` (ASCII `^`/`_`, no Unicode superscripts); scripts that are not a single word get parentheses:
//! `e^(-x^2)`, `∑_(i=1)^n`. Fractions are `a/b` or `(a+b)/2`, roots `√x` and `x^(1/3)`, accents on one
//! character use combining marks (`ŷ`).

mod commands;
mod emit;
mod parse;
mod symbols;
#[cfg(test)]
mod tests;

use std::ops::Range;

/// Longest math body rendered, in characters; longer spans stay source text.
const MAX_MATH_LEN: usize = 2000;

/// One piece of rendered text: either plain text or a MathML element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Raw source text, NOT escaped: the caller escapes it (and may highlight words in it).
    Text(String),
    /// A complete, safe `<math ...>...</math>` element.
    Math(String),
}

/// Splits `text` into text and math segments and renders each math span to MathML.
///
/// Never panics, never fails: math that cannot be rendered is returned as a [`Segment::Text`] with its
/// original source (delimiters included). Adjacent text is merged into one segment.
/// TeX text commands outside math (`\cite{…}`, `\emph{…}`) are shown as what they mean
/// ([`commands::text_commands`]); math that cannot be rendered keeps its source as written.
pub fn render(text: &str) -> Vec<Segment> {
    fn push(out: &mut Vec<Segment>, piece: &str) {
        if piece.is_empty() {
            return;
        }
        match out.last_mut() {
            Some(Segment::Text(previous)) => previous.push_str(piece),
            _ => out.push(Segment::Text(piece.to_owned())),
        }
    }
    let mut out = Vec::new();
    let mut pos = 0;
    for span in find_math(text) {
        push(&mut out, &commands::text_commands(&text[pos..span.outer.start]));
        match parse_span(text, &span) {
            Some(nodes) => out.push(Segment::Math(emit::mathml(&nodes, span.display))),
            None => push(&mut out, &text[span.outer.clone()]),
        }
        pos = span.outer.end;
    }
    push(&mut out, &commands::text_commands(&text[pos..]));
    out
}

/// The whole text as HTML: text escaped with [`escape_html`], math as MathML.
pub fn to_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for segment in render(text) {
        match segment {
            Segment::Text(t) => escape_into(&mut out, &t),
            Segment::Math(m) => out.push_str(&m),
        }
    }
    out
}

/// Escapes `& < > " '` for HTML text and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, text);
    out
}

/// The text with math replaced by a readable plain-text approximation (`$\alpha$` -> `α`, `$x^2$` -> `x^2`),
/// for `<title>`, feeds, Open Graph tags and e-mail subjects. Not escaped.
pub fn to_plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    for span in find_math(text) {
        out.push_str(&commands::text_commands(&text[pos..span.outer.start]));
        match parse_span(text, &span) {
            Some(nodes) => out.push_str(&emit::plain(&nodes)),
            None => out.push_str(&text[span.outer.clone()]),
        }
        pos = span.outer.end;
    }
    out.push_str(&commands::text_commands(&text[pos..]));
    out
}

pub(crate) fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// [`render`] without the text-command rewrite, with the byte range of `text` each segment came
/// from (delimiters included for math): the tests check that the spans cover the input.
#[cfg(test)]
pub(crate) fn render_spans(text: &str) -> Vec<(Segment, Range<usize>)> {
    let mut out = Vec::new();
    let mut pos = 0;
    for span in find_math(text) {
        push_text(&mut out, text, pos..span.outer.start);
        match parse_span(text, &span) {
            Some(nodes) => out.push((Segment::Math(emit::mathml(&nodes, span.display)), span.outer.clone())),
            None => push_text(&mut out, text, span.outer.clone()),
        }
        pos = span.outer.end;
    }
    push_text(&mut out, text, pos..text.len());
    out
}

#[cfg(test)]
fn push_text(out: &mut Vec<(Segment, Range<usize>)>, text: &str, range: Range<usize>) {
    if range.is_empty() {
        return;
    }
    if let Some((Segment::Text(previous), previous_range)) = out.last_mut() {
        previous.push_str(&text[range.clone()]);
        previous_range.end = range.end;
    } else {
        out.push((Segment::Text(text[range.clone()].to_string()), range));
    }
}

fn parse_span(text: &str, span: &Span) -> Option<Vec<parse::Node>> {
    let body = &text[span.body.clone()];
    if body.len() > MAX_MATH_LEN && body.chars().count() > MAX_MATH_LEN {
        return None;
    }
    parse::parse(body, span.display).ok()
}

/// A math span: `outer` includes the delimiters, `body` does not.
struct Span {
    outer: Range<usize>,
    body: Range<usize>,
    display: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Opener {
    Dollar,
    DoubleDollar,
    Paren,
    Bracket,
}

/// Positions of every unescaped delimiter, from one left-to-right scan in which a backslash escapes the next
/// character. Closers are found by binary search, so splitting stays O(n log n) on hostile input.
#[derive(Default)]
struct Delimiters {
    openers: Vec<(usize, Opener)>,
    dollars: Vec<usize>,
    double_dollars: Vec<usize>,
    paren_ends: Vec<usize>,
    bracket_ends: Vec<usize>,
    blank_lines: Vec<usize>,
}

impl Delimiters {
    fn scan(b: &[u8]) -> Self {
        let mut d = Delimiters::default();
        let mut i = 0;
        while i < b.len() {
            match (b[i], b.get(i + 1)) {
                (b'\\', next) => {
                    match next {
                        Some(b'(') => d.openers.push((i, Opener::Paren)),
                        Some(b'[') => d.openers.push((i, Opener::Bracket)),
                        Some(b')') => d.paren_ends.push(i),
                        Some(b']') => d.bracket_ends.push(i),
                        _ => {}
                    }
                    i += 1; // and skip the escaped byte below (UTF-8 continuation bytes are never delimiters)
                }
                (b'$', next) => {
                    d.dollars.push(i);
                    if next == Some(&b'$') {
                        d.double_dollars.push(i);
                        d.openers.push((i, Opener::DoubleDollar));
                    } else {
                        d.openers.push((i, Opener::Dollar));
                    }
                }
                (b'\n', _) => {
                    let rest = &b[i + 1..];
                    let blanks = rest.iter().take_while(|c| matches!(c, b' ' | b'\t' | b'\r')).count();
                    if rest.get(blanks) == Some(&b'\n') {
                        d.blank_lines.push(i);
                    }
                }
                _ => {}
            }
            i += 1;
        }
        d
    }

    /// The math span opened at `at`, if it is one.
    fn span_at(&self, text: &str, at: usize, opener: Opener) -> Option<Span> {
        let (len, ends, display) = match opener {
            Opener::Dollar => (1, &self.dollars, false),
            Opener::DoubleDollar => (2, &self.double_dollars, true),
            Opener::Paren => (2, &self.paren_ends, false),
            Opener::Bracket => (2, &self.bracket_ends, true),
        };
        let start = at + len;
        let end = first_from(ends, start)?;
        if first_from(&self.blank_lines, at).is_some_and(|blank| blank < end) {
            return None;
        }
        let body = &text[start..end];
        if body.trim().is_empty() {
            return None;
        }
        if opener == Opener::Dollar && looks_like_prices(body, text[end + 1..].chars().next()) {
            return None;
        }
        Some(Span { outer: at..end + len, body: start..end, display })
    }
}

/// The first position in sorted `positions` at or after `from`.
fn first_from(positions: &[usize], from: usize) -> Option<usize> {
    positions.get(positions.partition_point(|&p| p < from)).copied()
}

/// `costs $5 and $10`, `$5-$10`: see the crate docs.
fn looks_like_prices(body: &str, after_close: Option<char>) -> bool {
    body.trim_start().starts_with(|c: char| c.is_ascii_digit())
        && (body.ends_with(char::is_whitespace) || after_close.is_some_and(|c| c.is_ascii_digit()))
}

/// All math spans of `text`, in order and non-overlapping.
fn find_math(text: &str) -> Vec<Span> {
    let delimiters = Delimiters::scan(text.as_bytes());
    let mut spans = Vec::new();
    let mut pos = 0;
    for &(at, opener) in &delimiters.openers {
        if at < pos {
            continue;
        }
        match delimiters.span_at(text, at, opener) {
            Some(span) => {
                pos = span.outer.end;
                spans.push(span);
            }
            None if opener == Opener::DoubleDollar => pos = at + 2,
            None => {}
        }
    }
    spans
}
