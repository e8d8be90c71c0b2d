//! Writers for a parsed span: MathML markup and a plain-text approximation.
//!
//! Safety by construction: tag names and attribute names/values are `&'static str` from this crate, and every
//! text node goes through [`escape_into`].

use super::escape_into;
use super::parse::Node;

const THIN_SPACE: &[(&str, &str)] = &[("width", "0.1667em")];
const STRETCHY: &[(&str, &str)] = &[("stretchy", "true")];
const NOT_STRETCHY: &[(&str, &str)] = &[("stretchy", "false")];

/// A complete `<math>` element.
pub fn mathml(nodes: &[Node], display: bool) -> String {
    let mut out = String::from("<math xmlns=\"http://www.w3.org/1998/Math/MathML\"");
    if display {
        out.push_str(" display=\"block\"");
    }
    out.push('>');
    children(&mut out, nodes);
    out.push_str("</math>");
    out
}

fn open(out: &mut String, tag: &'static str, attrs: &[(&'static str, &'static str)]) {
    out.push('<');
    out.push_str(tag);
    for (name, value) in attrs {
        out.push(' ');
        out.push_str(name);
        out.push_str("=\"");
        out.push_str(value);
        out.push('"');
    }
    out.push('>');
}

fn close(out: &mut String, tag: &'static str) {
    out.push_str("</");
    out.push_str(tag);
    out.push('>');
}

fn leaf(out: &mut String, tag: &'static str, attrs: &[(&'static str, &'static str)], text: &str) {
    open(out, tag, attrs);
    escape_into(out, text);
    close(out, tag);
}

/// Writes a row's children; a function name gets U+2061 FUNCTION APPLICATION and, unless an opening
/// delimiter follows, TeX's thin space.
fn children(out: &mut String, nodes: &[Node]) {
    let nodes: Vec<&Node> = nodes.iter().filter(|n| !matches!(n, Node::Gap)).collect();
    for (i, node) in nodes.iter().enumerate() {
        element(out, node);
        if is_function(node)
            && let Some(next) = nodes.get(i + 1)
        {
            leaf(out, "mo", &[], "\u{2061}");
            if !starts_with_open(next) {
                leaf(out, "mspace", THIN_SPACE, "");
            }
        }
    }
}

fn is_function(node: &Node) -> bool {
    match node {
        Node::Function(..) => true,
        Node::Scripts { base, .. } => matches!(**base, Node::Function(..)),
        _ => false,
    }
}

fn starts_with_open(node: &Node) -> bool {
    match node {
        Node::Op(s, _) => s.starts_with(['(', '[', '{', '|', '‖', '⟨']),
        Node::Row(nodes) => nodes.first().is_some_and(starts_with_open),
        _ => false,
    }
}

fn element(out: &mut String, node: &Node) {
    match node {
        Node::Ident(s, v) => leaf(out, "mi", v.attrs(), s),
        Node::Number(s, v) => leaf(out, "mn", v.attrs(), s),
        Node::Op(s, attrs) => {
            let s = match s.as_str() {
                "-" => "−",
                "*" => "∗",
                s => s,
            };
            leaf(out, "mo", attrs, s);
        }
        Node::LargeOp(s, _) => leaf(out, "mo", &[], s),
        Node::Function(s, _) if s.chars().count() == 1 => leaf(out, "mi", &[("mathvariant", "normal")], s),
        Node::Function(s, _) => leaf(out, "mi", &[], s),
        Node::Text(s, v) => leaf(out, "mtext", v.attrs(), &edge_spaces_to_nbsp(s)),
        Node::Space(width) => leaf(out, "mspace", &[("width", width)], ""),
        Node::Gap => {}
        Node::Row(nodes) if nodes.iter().filter(|n| !matches!(n, Node::Gap)).count() == 1 => children(out, nodes),
        Node::Row(nodes) => {
            open(out, "mrow", &[]);
            children(out, nodes);
            close(out, "mrow");
        }
        Node::Scripts { base, sub, sup, limits } => {
            let tag = match (sub.is_some(), sup.is_some(), limits) {
                (true, false, false) => "msub",
                (false, true, false) => "msup",
                (true, true, false) => "msubsup",
                (true, false, true) => "munder",
                (false, true, true) => "mover",
                (true, true, true) => "munderover",
                (false, false, _) => return element(out, base),
            };
            open(out, tag, &[]);
            element(out, base);
            for script in [sub, sup].into_iter().flatten() {
                element(out, script);
            }
            close(out, tag);
        }
        Node::Frac(num, den, attrs) => {
            open(out, "mfrac", attrs);
            element(out, num);
            element(out, den);
            close(out, "mfrac");
        }
        Node::Sqrt(base, None) => {
            open(out, "msqrt", &[]);
            element(out, base);
            close(out, "msqrt");
        }
        Node::Sqrt(base, Some(index)) => {
            open(out, "mroot", &[]);
            element(out, base);
            element(out, index);
            close(out, "mroot");
        }
        Node::Accent { base, mark, stretchy, under, .. } => {
            let (tag, attrs) =
                if *under { ("munder", [("accentunder", "true")]) } else { ("mover", [("accent", "true")]) };
            open(out, tag, &attrs);
            element(out, base);
            leaf(out, "mo", if *stretchy { STRETCHY } else { NOT_STRETCHY }, mark);
            close(out, tag);
        }
    }
}

/// MathML trims spaces at the edges of token elements; `\text{ if }` keeps them as no-break spaces.
fn edge_spaces_to_nbsp(s: &str) -> String {
    let core = s.trim_matches(' ');
    let lead = s.len() - s.trim_start_matches(' ').len();
    let trail = if core.is_empty() { 0 } else { s.len() - s.trim_end_matches(' ').len() };
    format!("{}{core}{}", "\u{a0}".repeat(lead), "\u{a0}".repeat(trail))
}

/// The plain-text approximation of a parsed span.
pub fn plain(nodes: &[Node]) -> String {
    let mut writer = Plain::default();
    writer.nodes(nodes);
    writer.out
}

fn plain_of(node: &Node) -> String {
    plain(std::slice::from_ref(node))
}

/// Whether `s` can follow `^`, `_` or `/` without parentheses: one character or "word" (`⊤`, `-3`, `ij`, `√T`).
fn is_simple(s: &str) -> bool {
    let body = s.strip_prefix(['-', '+', '−']).unwrap_or(s);
    let mut chars = body.chars();
    chars.next().is_some() && (chars.next().is_none() || body.chars().all(|c| c.is_alphanumeric() || ".√".contains(c)))
}

#[derive(Default)]
struct Plain {
    out: String,
    /// Source whitespace or a math space is pending.
    space: bool,
    /// A function name was just written: separate it from a following letter or digit.
    word: bool,
}

impl Plain {
    fn push(&mut self, s: &str) {
        let Some(first) = s.chars().next() else { return };
        let after_open = self.out.chars().next_back().is_none_or(|c| matches!(c, '(' | '[' | '{' | ' ' | '\u{a0}'));
        let before_close = matches!(first, ')' | ']' | '}' | ',' | ';' | ':' | '.' | '!');
        if !after_open && ((self.space && !before_close) || (self.word && first.is_alphanumeric())) {
            self.out.push(' ');
        }
        self.space = false;
        self.word = false;
        self.out.push_str(s);
    }

    fn nodes(&mut self, nodes: &[Node]) {
        for node in nodes {
            self.node(node);
        }
    }

    fn node(&mut self, node: &Node) {
        match node {
            Node::Ident(s, _) | Node::Number(s, _) | Node::Op(s, _) | Node::Text(s, _) => self.push(s),
            Node::LargeOp(s, _) => self.push(s),
            Node::Function(name, _) => {
                self.word = self.out.chars().next_back().is_some_and(char::is_alphanumeric);
                self.push(name);
                self.word = true;
            }
            Node::Gap | Node::Space(_) => self.space = true,
            Node::Row(nodes) => self.nodes(nodes),
            Node::Scripts { base, sub, sup, .. } => {
                self.node(base);
                if let Some(sub) = sub {
                    self.script('_', sub);
                }
                if let Some(sup) = sup {
                    self.script('^', sup);
                }
            }
            Node::Frac(num, den, attrs) => {
                self.operand(num);
                self.push(if attrs.is_empty() { "/" } else { " choose " });
                self.operand(den);
            }
            Node::Sqrt(base, None) => {
                self.push("√");
                self.operand(base);
            }
            Node::Sqrt(base, Some(index)) => {
                self.operand(base);
                self.push(&format!("^(1/{})", plain_of(index)));
            }
            Node::Accent { base, combining, .. } => {
                let s = plain_of(base);
                let single = s.chars().count() == 1;
                self.push(&if single { format!("{s}{combining}") } else { s });
            }
        }
    }

    /// A fraction part or root: parenthesised unless simple.
    fn operand(&mut self, node: &Node) {
        let s = plain_of(node);
        self.push(&if is_simple(&s) { s } else { format!("({s})") });
    }

    /// `x^2`, `x_i`, `10^-3`, `x^(n+1)`; primes are written as is (`f′`).
    fn script(&mut self, mark: char, node: &Node) {
        let s = plain_of(node);
        if s.is_empty() {
            return;
        }
        self.space = false;
        self.word = false;
        if !s.chars().all(|c| matches!(c, '′' | '″' | '‴' | '⁗')) {
            self.out.push(mark);
        }
        if is_simple(&s) || s.starts_with(['′', '″', '‴', '⁗']) {
            self.out.push_str(&s);
        } else {
            self.out.push_str(&format!("({s})"));
        }
    }
}
