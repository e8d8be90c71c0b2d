//! TeX math parser: turns the body of one math span into a small tree of [`Node`]s.
//!
//! The parser is recursive descent; every recursion goes through [`Parser::nested`], which caps the depth at
//! [`MAX_DEPTH`], so hostile input cannot overflow the stack.

use super::symbols::{self, Attrs, Class, Variant};

/// Deepest group nesting accepted (`{`, arguments, `\left`); deeper input is rejected.
pub const MAX_DEPTH: usize = 32;

const NONE: Attrs = &[];
const NOT_STRETCHY: Attrs = &[("stretchy", "false")];
const STRETCHY: Attrs = &[("stretchy", "true")];
const OPEN_FENCE: Attrs = &[("fence", "true"), ("form", "prefix"), ("stretchy", "true")];
const CLOSE_FENCE: Attrs = &[("fence", "true"), ("form", "postfix"), ("stretchy", "true")];
const BINOM: Attrs = &[("linethickness", "0")];

/// The span is not valid (or not supported) TeX; the caller shows its source instead.
#[derive(Debug, PartialEq, Eq)]
pub struct ParseError;

type Result<T> = std::result::Result<T, ParseError>;

/// One node of parsed math. Strings are output text (escaped by the writer); attributes are `'static`.
#[derive(Debug)]
pub enum Node {
    /// `<mi>`: a letter or symbol, already mapped into its variant's Unicode alphabet.
    Ident(String, Variant),
    /// `<mn>`: digits with an optional decimal point.
    Number(String, Variant),
    /// `<mo>`: operator, relation, delimiter or punctuation.
    Op(String, Attrs),
    /// `<mo>` big operator (`∑`, `∫`); `true` when its limits go under/over in display style.
    LargeOp(&'static str, bool),
    /// Upright function name (`log`, `\operatorname{rank}`); `true` when it takes limits like `\lim`.
    Function(String, bool),
    /// `<mtext>`.
    Text(String, Variant),
    /// `<mrow>` (a group); a single child is written without the wrapper.
    Row(Vec<Node>),
    /// Sub/superscripts; `limits` puts them under/over (`munderover`) instead of at the side.
    Scripts { base: Box<Node>, sub: Option<Box<Node>>, sup: Option<Box<Node>>, limits: bool },
    /// `<mfrac>`, with `linethickness="0"` for `\binom`.
    Frac(Box<Node>, Box<Node>, Attrs),
    /// `<msqrt>`, or `<mroot>` with an index.
    Sqrt(Box<Node>, Option<Box<Node>>),
    /// `<mover accent>` / `<munder accentunder>`; `combining` is used by the plain-text writer.
    Accent { base: Box<Node>, mark: &'static str, stretchy: bool, under: bool, combining: char },
    /// `<mspace>` of a fixed width.
    Space(&'static str),
    /// Whitespace in the source: ignored by MathML, kept as a space in plain text.
    Gap,
}

/// What ends a row.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stop {
    End,
    Brace,
    Bracket,
    Right,
}

/// Parses the body of a math span (without its delimiters).
pub fn parse(src: &str, display: bool) -> Result<Vec<Node>> {
    Parser { src, pos: 0, depth: 0, display, variant: Variant::Default }.row(Stop::End)
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    depth: usize,
    display: bool,
    /// The font of the enclosing `\mathbf{...}`-like command.
    variant: Variant,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn eat(&mut self, c: char) -> bool {
        let found = self.peek() == Some(c);
        if found {
            self.pos += c.len_utf8();
        }
        found
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    /// Runs `f` one level deeper, failing beyond [`MAX_DEPTH`].
    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        if self.depth >= MAX_DEPTH {
            return Err(ParseError);
        }
        self.depth += 1;
        let result = f(self);
        self.depth -= 1;
        result
    }

    /// The name after a backslash: a run of ASCII letters, or one other character ("" at the end).
    fn command_name(&mut self) -> &'a str {
        let rest: &'a str = &self.src[self.pos..];
        let len = match rest.find(|c: char| !c.is_ascii_alphabetic()) {
            Some(0) => rest.chars().next().map_or(0, char::len_utf8),
            Some(n) => n,
            None => rest.len(),
        };
        self.pos += len;
        &rest[..len]
    }

    /// Whether the input continues with `\name` (and not a longer command).
    fn at_command(&self, name: &str) -> bool {
        let rest = self.src[self.pos..].strip_prefix('\\').and_then(|r| r.strip_prefix(name));
        rest.is_some_and(|r| !r.starts_with(|c: char| c.is_ascii_alphabetic()))
    }

    fn eat_command(&mut self, name: &str) -> bool {
        let found = self.at_command(name);
        if found {
            self.pos += name.len() + 1;
        }
        found
    }

    /// A sequence of atoms (with their scripts) up to `stop`. `Stop::Right` leaves `\right` unconsumed.
    fn row(&mut self, stop: Stop) -> Result<Vec<Node>> {
        let mut nodes = Vec::new();
        let mut gap = false;
        loop {
            let Some(c) = self.peek() else {
                return if stop == Stop::End { Ok(nodes) } else { Err(ParseError) };
            };
            match c {
                _ if c.is_whitespace() => {
                    self.bump();
                    gap = !nodes.is_empty();
                    continue;
                }
                '}' => {
                    self.bump();
                    return if stop == Stop::Brace { Ok(nodes) } else { Err(ParseError) };
                }
                ']' if stop == Stop::Bracket => {
                    self.bump();
                    return Ok(nodes);
                }
                '\\' if stop == Stop::Right && self.at_command("right") => return Ok(nodes),
                _ => {}
            }
            let Some(atom) = self.atom()? else { continue };
            if std::mem::take(&mut gap) {
                nodes.push(Node::Gap);
            }
            nodes.push(self.scripts(atom)?);
        }
    }

    /// One atom; `None` for commands that render nothing (`\displaystyle`). A script mark is left in place
    /// and gets an empty base.
    fn atom(&mut self) -> Result<Option<Node>> {
        let c = self.peek().ok_or(ParseError)?;
        if matches!(c, '^' | '_' | '\'') {
            return Ok(Some(Node::Row(Vec::new())));
        }
        self.bump();
        let v = self.variant;
        Ok(Some(match c {
            '{' => Node::Row(self.nested(|p| p.row(Stop::Brace))?),
            '\\' => return self.command(),
            '0'..='9' => self.number(),
            'a'..='z' | 'A'..='Z' => Node::Ident(v.map(c).to_string(), v),
            '~' => Node::Space("0.3333em"),
            '(' | ')' | '[' | ']' | '|' => Node::Op(c.to_string(), NOT_STRETCHY),
            '$' | '&' | '#' | '}' => return Err(ParseError),
            _ if c.is_control() => return Err(ParseError),
            _ if c.is_alphabetic() => Node::Ident(c.to_string(), v),
            _ if c.is_numeric() => Node::Number(c.to_string(), v),
            _ => Node::Op(c.to_string(), NONE),
        }))
    }

    /// Digits with at most one decimal point between digits; the first digit is already consumed.
    fn number(&mut self) -> Node {
        let start = self.pos - 1;
        let mut seen_dot = false;
        loop {
            match self.peek() {
                Some('0'..='9') => self.pos += 1,
                Some('.') if !seen_dot && self.src[self.pos + 1..].starts_with(|c: char| c.is_ascii_digit()) => {
                    seen_dot = true;
                    self.pos += 1;
                }
                _ => break,
            }
        }
        Node::Number(self.variant.apply(&self.src[start..self.pos]), self.variant)
    }

    /// A command or script argument: a `{group}`, a single digit, or one atom.
    fn arg(&mut self) -> Result<Node> {
        self.skip_ws();
        match self.peek() {
            Some('{') => {
                self.bump();
                Ok(Node::Row(self.nested(|p| p.row(Stop::Brace))?))
            }
            Some(c @ '0'..='9') => {
                self.bump();
                Ok(Node::Number(self.variant.map(c).to_string(), self.variant))
            }
            None | Some('}' | '^' | '_') => Err(ParseError),
            _ => self.nested(|p| p.atom())?.ok_or(ParseError),
        }
    }

    /// Attaches the `_`, `^` and `'` that follow `base` (and honours `\limits` / `\nolimits`).
    fn scripts(&mut self, base: Node) -> Result<Node> {
        let (mut sub, mut sup, mut primes) = (None, None, 0);
        let mut limits = self.display && matches!(base, Node::LargeOp(_, true) | Node::Function(_, true));
        loop {
            let before = self.pos;
            self.skip_ws();
            match self.peek() {
                Some('_') if sub.is_none() => {
                    self.bump();
                    sub = Some(self.arg()?);
                }
                Some('^') if sup.is_none() => {
                    self.bump();
                    sup = Some(self.arg()?);
                }
                Some('\'') if sup.is_none() => {
                    self.bump();
                    primes += 1;
                }
                Some('_' | '^') => return Err(ParseError), // double subscript or superscript
                _ if self.eat_command("limits") => limits = true,
                _ if self.eat_command("nolimits") => limits = false,
                _ => {
                    self.pos = before;
                    break;
                }
            }
        }
        if primes > 0 {
            let marks = ["′", "″", "‴", "⁗"].get(primes - 1).map_or_else(|| "′".repeat(primes), |m| m.to_string());
            let marks = Node::Op(marks, NONE);
            sup = Some(match sup {
                Some(sup) => Node::Row(vec![marks, sup]),
                None => marks,
            });
        }
        if sub.is_none() && sup.is_none() {
            return Ok(base);
        }
        Ok(Node::Scripts { base: Box::new(base), sub: sub.map(Box::new), sup: sup.map(Box::new), limits })
    }

    /// After a backslash.
    fn command(&mut self) -> Result<Option<Node>> {
        let name = self.command_name();
        if let Some(variant) = symbols::font(name) {
            let outer = std::mem::replace(&mut self.variant, variant);
            let arg = self.arg();
            self.variant = outer;
            return arg.map(Some);
        }
        if let Some(variant) = symbols::text_style(name) {
            return Ok(Some(Node::Text(variant.apply(&self.text_arg()?), variant)));
        }
        if let Some((mark, stretchy, under, combining)) = symbols::accent(name) {
            let base = Box::new(self.arg()?);
            return Ok(Some(Node::Accent { base, mark, stretchy, under, combining }));
        }
        Ok(Some(match name {
            "frac" | "dfrac" | "tfrac" | "cfrac" => {
                let num = self.arg()?;
                Node::Frac(Box::new(num), Box::new(self.arg()?), NONE)
            }
            "binom" | "dbinom" | "tbinom" => {
                let n = self.arg()?;
                let frac = Node::Frac(Box::new(n), Box::new(self.arg()?), BINOM);
                Node::Row(vec![Node::Op("(".into(), NONE), frac, Node::Op(")".into(), NONE)])
            }
            "sqrt" => {
                self.skip_ws();
                let index = if self.eat('[') { Some(Node::Row(self.nested(|p| p.row(Stop::Bracket))?)) } else { None };
                Node::Sqrt(Box::new(self.arg()?), index.map(Box::new))
            }
            "left" => self.fenced()?,
            "middle" => Node::Op(self.delimiter()?, STRETCHY),
            "big" | "Big" | "bigg" | "Bigg" | "bigl" | "Bigl" | "biggl" | "Biggl" | "bigr" | "Bigr" | "biggr"
            | "Biggr" | "bigm" | "Bigm" | "biggm" | "Biggm" => Node::Op(self.delimiter()?, NOT_STRETCHY),
            "operatorname" => {
                let limits = self.eat('*');
                Node::Function(self.text_arg()?.trim().to_string(), limits)
            }
            "href" => {
                self.text_arg()?; // the URL is dropped
                Node::Text(self.text_arg()?, Variant::Default)
            }
            "url" => Node::Text(self.text_arg()?, Variant::Default),
            "not" => match self.arg()? {
                Node::Op(op, _) => Node::Op(symbols::negate(&op), NONE),
                other => other,
            },
            "textcolor" => {
                self.text_arg()?;
                self.arg()?
            }
            "mathop" | "mathrel" | "mathbin" | "mathord" | "mathopen" | "mathclose" | "mathpunct" | "mathinner" => {
                self.arg()?
            }
            "color" => {
                self.text_arg()?;
                return Ok(None);
            }
            "displaystyle" | "textstyle" | "scriptstyle" | "scriptscriptstyle" | "limits" | "nolimits" | "nonumber"
            | "notag" | "!" | "negthinspace" | "\\" | "strut" | "mathstrut" => return Ok(None),
            "begin" | "end" | "right" => return Err(ParseError),
            _ => self.symbol(name),
        }))
    }

    /// Symbols, big operators, functions and spaces; unknown commands become `<mtext>\name</mtext>`.
    fn symbol(&self, name: &str) -> Node {
        if let Some(width) = symbols::space(name) {
            return Node::Space(width);
        }
        if let Some((op, limits)) = symbols::big_op(name) {
            return Node::LargeOp(op, limits);
        }
        if let Some((function, limits)) = symbols::function(name) {
            return Node::Function(function.to_string(), limits);
        }
        match symbols::symbol(name) {
            Some((s, Class::Ident)) => Node::Ident(s.to_string(), self.variant),
            Some((s, Class::Upright)) => Node::Ident(s.to_string(), Variant::Normal),
            Some((s, Class::Op)) if matches!(s, "{" | "}" | "|" | "‖") => Node::Op(s.to_string(), NOT_STRETCHY),
            Some((s, Class::Op)) => Node::Op(s.to_string(), NONE),
            None => Node::Text(format!("\\{name}"), Variant::Default),
        }
    }

    /// `\left<delim> ... \right<delim>`, after `\left`.
    fn fenced(&mut self) -> Result<Node> {
        let open = self.delimiter()?;
        let body = self.nested(|p| p.row(Stop::Right))?;
        if !self.eat_command("right") {
            return Err(ParseError);
        }
        let close = self.delimiter()?;
        let mut nodes = Vec::with_capacity(body.len() + 2);
        if !open.is_empty() {
            nodes.push(Node::Op(open, OPEN_FENCE));
        }
        nodes.extend(body);
        if !close.is_empty() {
            nodes.push(Node::Op(close, CLOSE_FENCE));
        }
        Ok(Node::Row(nodes))
    }

    /// A delimiter after `\left`, `\right`, `\big`...; `.` is the empty delimiter.
    fn delimiter(&mut self) -> Result<String> {
        self.skip_ws();
        match self.bump() {
            Some('.') => Ok(String::new()),
            Some('<') => Ok("⟨".into()),
            Some('>') => Ok("⟩".into()),
            Some(c @ ('(' | ')' | '[' | ']' | '|' | '/')) => Ok(c.to_string()),
            Some('\\') => match symbols::symbol(self.command_name()) {
                Some((s, Class::Op)) => Ok(s.to_string()),
                _ => Err(ParseError),
            },
            _ => Err(ParseError),
        }
    }

    /// A text-mode argument, read verbatim with balanced braces. `\{ \} \$ \% \& \_ \#` are unescaped, `~`
    /// and spacing commands become spaces, other commands are dropped (their braced arguments are kept).
    fn text_arg(&mut self) -> Result<String> {
        self.skip_ws();
        if !self.eat('{') {
            return match self.bump() {
                Some('\\') => Ok(format!("\\{}", self.command_name())),
                Some(c) if c != '}' => Ok(c.to_string()),
                _ => Err(ParseError),
            };
        }
        let (mut out, mut depth) = (String::new(), 0usize);
        loop {
            match self.bump().ok_or(ParseError)? {
                '{' => depth += 1,
                '}' if depth == 0 => return Ok(out),
                '}' => depth -= 1,
                '~' => out.push('\u{a0}'),
                c if c.is_control() => out.push(' '),
                '\\' => match self.command_name() {
                    escaped @ ("{" | "}" | "$" | "%" | "&" | "_" | "#") => out.push_str(escaped),
                    " " | "," | ":" | ";" | "\\" | "quad" | "qquad" => out.push(' '),
                    _ => {}
                },
                c => out.push(c),
            }
        }
    }
}
