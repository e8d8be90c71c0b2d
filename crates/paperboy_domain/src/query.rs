//! The search query language: what a researcher types into the search box, parsed into a tree the
//! search engines translate. It follows arXiv's and Lucene's conventions:
//!
//! - `diffusion policy` — words; by relevance, papers with more of them (and rarer ones) rank higher;
//! - `"diffusion policy"` — a phrase;
//! - `-survey`, `NOT survey` — exclude; `+robot` — require; `a AND b`, `a OR b`, `( ... )`;
//! - `ti:`, `au:`, `abs:`, `cat:` (and `all:`) — restrict a word or phrase to a field, as arXiv does:
//!   `au:hinton`, `ti:"neural radiance"`, `cat:cs.CL`, `cat:cs` (the whole archive).
//!
//! `OR` binds tighter than juxtaposition: `robot a OR b` is `robot (a OR b)`.
//!
//! People paste titles and sentences full of `(+)`, `-`, `:`, quotes and brackets. Syntax that
//! cannot apply never throws the words away: an empty group `()` is ignored, and a query whose
//! syntax is broken (an unclosed quote, a stray parenthesis, a dangling `AND`) is searched as its
//! plain words, with [`SearchQuery::relaxed`] saying what did not parse. Only a query with no word
//! to search for, or one over the limits, or naming an unknown category, is an error.

use std::fmt;

use crate::{Category, category};

/// The longest query accepted, in characters. Longer input is refused, not truncated.
pub const MAX_QUERY_CHARS: usize = 1_000;
/// The most words and phrases one query may hold.
pub const MAX_CLAUSES: usize = 64;
/// The deepest nesting of parentheses accepted.
pub const MAX_DEPTH: usize = 8;

/// A parsed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    /// The top-level clauses, combined by their [`Occur`].
    pub clauses: Vec<Clause>,
    /// Set when the query's syntax did not parse and its plain words were taken instead: why.
    pub relaxed: Option<QueryError>,
}

/// One clause of a boolean combination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    /// How the clause combines with its siblings.
    pub occur: Occur,
    /// What it matches.
    pub node: Node,
}

/// How a clause combines with its siblings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Occur {
    /// A plain word: it ranks matches, and whether it must match is the engine's choice (by
    /// relevance it need not; sorted by date it must).
    Default,
    /// `+word`, or a side of `AND`: must match.
    Must,
    /// `-word`, `NOT word`: must not match.
    MustNot,
    /// A side of `OR`: any one of the `OR`ed clauses suffices.
    Should,
}

/// What a clause matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A single word in a text field (it may still analyse into several tokens: `GPT-4`).
    Word {
        /// The field.
        field: Field,
        /// The word as typed.
        text: String,
    },
    /// Words in sequence.
    Phrase {
        /// The field.
        field: Field,
        /// The words as typed.
        text: String,
    },
    /// `cat:cs.CL` or `cat:cs`.
    Category(CategoryFilter),
    /// A parenthesised group or an `OR` chain.
    Group(Vec<Clause>),
}

/// Which text a word or phrase is looked for in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// Title, abstract and authors.
    All,
    /// `ti:`
    Title,
    /// `au:`
    Authors,
    /// `abs:`
    Abstract,
}

/// A category or a whole archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CategoryFilter {
    /// One category, `cs.CL`.
    Category(Category),
    /// Every category of an archive, `cs` (or `cs.*`).
    Archive(&'static str),
}

impl CategoryFilter {
    /// Parses `cs.CL`, `cs`, `cs.*` or an alias such as `cs.NA`.
    pub fn parse(text: &str) -> Result<CategoryFilter, QueryError> {
        let trimmed = text.strip_suffix(".*").unwrap_or(text);
        if let Ok(category) = Category::parse(trimmed) {
            // `hep-th` is both an archive and a category; as a filter it means the category.
            return Ok(CategoryFilter::Category(category));
        }
        if let Some(archive) = category::archive_in_any_case(trimmed) {
            return Ok(CategoryFilter::Archive(archive.id));
        }
        Err(QueryError::UnknownCategory(text.chars().take(40).collect()))
    }

    /// The term the index stores for this filter (categories and archives are both indexed).
    pub fn as_str(&self) -> &'static str {
        match self {
            CategoryFilter::Category(category) => category.as_str(),
            CategoryFilter::Archive(archive) => archive,
        }
    }
}

impl fmt::Display for CategoryFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a query cannot be run. The messages are meant for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// Nothing to search for.
    #[error("the query is empty")]
    Empty,
    /// Over [`MAX_QUERY_CHARS`].
    #[error("the query is too long ({0} characters; at most {MAX_QUERY_CHARS})")]
    TooLong(usize),
    /// Over [`MAX_CLAUSES`].
    #[error("the query has too many words (at most {MAX_CLAUSES})")]
    TooManyClauses,
    /// Over [`MAX_DEPTH`].
    #[error("the query nests parentheses too deeply (at most {MAX_DEPTH})")]
    TooDeep,
    /// `"abc` without the closing quote.
    #[error("a quote opened at character {0} is never closed")]
    UnclosedQuote(usize),
    /// `(abc` without the closing parenthesis.
    #[error("a parenthesis opened at character {0} is never closed")]
    UnclosedParen(usize),
    /// `abc)`.
    #[error("a closing parenthesis at character {0} has no opening one")]
    UnopenedParen(usize),
    /// `ti:` followed by nothing.
    #[error("`{0}:` needs a word or a \"phrase\" after it")]
    EmptyField(&'static str),
    /// `AND` or `OR` with nothing on one side.
    #[error("`{0}` needs something to search for on both sides")]
    DanglingOperator(&'static str),
    /// `cat:xx.YY`.
    #[error("unknown arXiv category {0:?} (for example cs.CL, cs.LG, hep-th, or an archive such as cs)")]
    UnknownCategory(String),
    /// Only exclusions or only operators.
    #[error("the query excludes words but asks for none")]
    OnlyExclusions,
}

impl SearchQuery {
    /// Parses a query typed by a person. Broken syntax falls back to the query's plain words (see
    /// the module's documentation).
    pub fn parse(input: &str) -> Result<SearchQuery, QueryError> {
        match SearchQuery::parse_strict(input) {
            Ok(query) => Ok(query),
            Err(err) if err.falls_back_to_words() => match words_of(input) {
                Ok(clauses) => Ok(SearchQuery { clauses, relaxed: Some(err) }),
                // Its words are too many to search: say so, not the syntax error they replaced.
                Err(Some(too_many)) => Err(too_many),
                Err(None) => Err(err),
            },
            Err(err) => Err(err),
        }
    }

    /// Parses a query, refusing any syntax that does not apply.
    pub fn parse_strict(input: &str) -> Result<SearchQuery, QueryError> {
        let n_chars = input.chars().count();
        if n_chars > MAX_QUERY_CHARS {
            return Err(QueryError::TooLong(n_chars));
        }
        let tokens = lex(input)?;
        if tokens.iter().all(|t| matches!(t.kind, TokenKind::And | TokenKind::Or | TokenKind::Not)) {
            return Err(if tokens.is_empty() { QueryError::Empty } else { QueryError::DanglingOperator("AND/OR") });
        }
        let mut parser = Parser { tokens, pos: 0, n_clauses: 0 };
        let clauses = parser.sequence(0)?;
        if let Some(token) = parser.tokens.get(parser.pos) {
            // The only token `sequence` stops at outside parentheses is a stray `)`.
            return Err(QueryError::UnopenedParen(token.at + 1));
        }
        if clauses.is_empty() {
            return Err(QueryError::Empty);
        }
        Ok(SearchQuery { clauses, relaxed: None })
    }

    /// Every word and phrase the query asks for (not the excluded ones), with its field: what
    /// highlighting and "matched terms" explanations look for.
    pub fn positive_terms(&self) -> Vec<(Field, &str)> {
        fn walk<'a>(clauses: &'a [Clause], out: &mut Vec<(Field, &'a str)>) {
            for clause in clauses {
                if clause.occur == Occur::MustNot {
                    continue;
                }
                match &clause.node {
                    Node::Word { field, text } | Node::Phrase { field, text } => out.push((*field, text)),
                    Node::Category(_) => {}
                    Node::Group(inner) => walk(inner, out),
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.clauses, &mut out);
        out
    }

    /// Whether the query asks for any text (and not only categories or exclusions).
    pub fn has_positive_text(&self) -> bool {
        !self.positive_terms().is_empty()
    }

    /// Whether every word and phrase the query asks for names its field (`au:"Ada Lovelace"`,
    /// `ti:transformer`, `abs:"weak supervision"`): such a query is a filter, and papers found
    /// by meaning, which need not satisfy it, have no place in its results.
    pub fn is_fielded_only(&self) -> bool {
        let terms = self.positive_terms();
        !terms.is_empty() && terms.iter().all(|(field, _)| *field != Field::All)
    }
}

impl QueryError {
    /// Whether the query's plain words, if it has any, are searched instead: errors of syntax that
    /// could not apply. Limits and unknown categories are not syntax: they stay errors.
    fn falls_back_to_words(&self) -> bool {
        matches!(
            self,
            QueryError::Empty
                | QueryError::TooDeep
                | QueryError::UnclosedQuote(_)
                | QueryError::UnclosedParen(_)
                | QueryError::UnopenedParen(_)
                | QueryError::EmptyField(_)
                | QueryError::DanglingOperator(_)
                | QueryError::OnlyExclusions
        )
    }
}

/// The plain words of a query whose syntax did not parse: quotes, parentheses, field prefixes and
/// operators dropped, `-word` kept as an exclusion. `None` when no word is left to search for.
/// The query's plain words as clauses; `Err(None)` when it has none, `Err(Some(OnlyExclusions))`
/// when it only excludes words, and `Err(Some(TooManyClauses))` when it has more than
/// [`MAX_CLAUSES`].
fn words_of(input: &str) -> Result<Vec<Clause>, Option<QueryError>> {
    let cleaned: String =
        input.chars().map(|c| if matches!(c, '(' | ')' | '"' | '“' | '”') { ' ' } else { c }).collect();
    let mut clauses = Vec::new();
    for piece in cleaned.split_whitespace() {
        let excluded =
            piece.starts_with('-') && piece.trim_start_matches(['-', '+']).chars().any(char::is_alphanumeric);
        let mut word = piece.trim_start_matches(['-', '+']);
        if let Some((prefix, rest)) = word.split_once(':')
            && FIELDS.contains(&prefix.to_ascii_lowercase().as_str())
        {
            word = rest;
        }
        if word.is_empty()
            || matches!(word, "AND" | "OR" | "NOT" | "&&" | "||")
            || !word.chars().any(char::is_alphanumeric)
        {
            continue;
        }
        let occur = if excluded { Occur::MustNot } else { Occur::Default };
        clauses.push(Clause { occur, node: Node::Word { field: Field::All, text: word.to_owned() } });
        if clauses.len() > MAX_CLAUSES {
            return Err(Some(QueryError::TooManyClauses));
        }
    }
    match clauses.iter().any(|c| c.occur != Occur::MustNot) {
        true => Ok(clauses),
        // Only exclusions: say that, whatever syntax error came first.
        false if !clauses.is_empty() => Err(Some(QueryError::OnlyExclusions)),
        false => Err(None),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum TokenKind {
    Word(String),
    Phrase(String),
    Field(&'static str),
    Open,
    Close,
    And,
    Or,
    Not,
    Plus,
    Minus,
}

#[derive(Debug, Clone)]
struct Token {
    kind: TokenKind,
    /// Character offset in the input, for messages.
    at: usize,
}

const FIELDS: &[&str] = &["ti", "au", "abs", "cat", "all"];

fn lex(input: &str) -> Result<Vec<Token>, QueryError> {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let ch = chars[i];
        if ch.is_whitespace() {
            i += 1;
            continue;
        }
        let at = i;
        match ch {
            '(' => {
                tokens.push(Token { kind: TokenKind::Open, at });
                i += 1;
            }
            ')' => {
                tokens.push(Token { kind: TokenKind::Close, at });
                i += 1;
            }
            '"' | '“' | '”' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|c| matches!(c, '"' | '“' | '”'))
                    .ok_or(QueryError::UnclosedQuote(at + 1))?;
                let text: String = chars[i + 1..i + 1 + end].iter().collect();
                tokens.push(Token { kind: TokenKind::Phrase(text), at });
                i += end + 2;
            }
            // Words are lexed whole, so a `-` or `+` here starts a word: a modifier.
            '-' | '+' if i + 1 < chars.len() && !chars[i + 1].is_whitespace() && chars[i + 1] != ')' => {
                tokens.push(Token { kind: if ch == '-' { TokenKind::Minus } else { TokenKind::Plus }, at });
                i += 1;
            }
            _ => i = lex_word(&chars, i, &mut tokens),
        }
    }
    Ok(tokens)
}

fn is_word_char(ch: char) -> bool {
    !ch.is_whitespace() && !matches!(ch, '(' | ')' | '"' | '“' | '”')
}

fn lex_word(chars: &[char], start: usize, tokens: &mut Vec<Token>) -> usize {
    let mut end = start;
    while end < chars.len() && is_word_char(chars[end]) {
        end += 1;
    }
    let word: String = chars[start..end].iter().collect();
    if word == "-" || word == "+" {
        // A lone `-`/`+` followed by space: nothing to search for.
        return end;
    }
    // `ti:word` or `ti:"phrase"`: split the field prefix off.
    if let Some((prefix, rest)) = word.split_once(':') {
        let lower = prefix.to_ascii_lowercase();
        if let Some(field) = FIELDS.iter().find(|f| **f == lower) {
            tokens.push(Token { kind: TokenKind::Field(field), at: start });
            if !rest.is_empty() {
                tokens.push(Token { kind: TokenKind::Word(rest.to_owned()), at: start + prefix.len() + 1 });
            }
            return end;
        }
    }
    let kind = match word.as_str() {
        "AND" | "&&" => TokenKind::And,
        "OR" | "||" => TokenKind::Or,
        "NOT" => TokenKind::Not,
        _ => TokenKind::Word(word),
    };
    tokens.push(Token { kind, at: start });
    end
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    n_clauses: usize,
}

impl Parser {
    fn peek(&self) -> Option<&TokenKind> {
        self.tokens.get(self.pos).map(|t| &t.kind)
    }

    /// `item (AND? item)*` up to a `)` or the end.
    fn sequence(&mut self, depth: usize) -> Result<Vec<Clause>, QueryError> {
        let mut clauses: Vec<Clause> = Vec::new();
        let mut and_pending = false;
        loop {
            match self.peek() {
                None | Some(TokenKind::Close) => break,
                Some(TokenKind::And) => {
                    if clauses.is_empty() {
                        return Err(QueryError::DanglingOperator("AND"));
                    }
                    self.pos += 1;
                    and_pending = true;
                    if let Some(last) = clauses.last_mut()
                        && last.occur == Occur::Default
                    {
                        last.occur = Occur::Must;
                    }
                    continue;
                }
                Some(TokenKind::Or) => return Err(QueryError::DanglingOperator("OR")),
                _ => {}
            }
            let Some(mut clause) = self.item(depth)? else {
                continue;
            };
            if and_pending && clause.occur == Occur::Default {
                clause.occur = Occur::Must;
            }
            and_pending = false;
            clauses.push(clause);
        }
        if and_pending {
            return Err(QueryError::DanglingOperator("AND"));
        }
        if !clauses.is_empty() && clauses.iter().all(|c| c.occur == Occur::MustNot) && depth > 0 {
            return Err(QueryError::OnlyExclusions);
        }
        Ok(clauses)
    }

    /// `[+|-|NOT] or_chain`
    fn item(&mut self, depth: usize) -> Result<Option<Clause>, QueryError> {
        let occur = match self.peek() {
            Some(TokenKind::Plus) => Occur::Must,
            Some(TokenKind::Minus | TokenKind::Not) => Occur::MustNot,
            _ => Occur::Default,
        };
        if occur != Occur::Default {
            self.pos += 1;
            if matches!(self.peek(), None | Some(TokenKind::Close | TokenKind::And | TokenKind::Or)) {
                // `foo -` or `NOT)`: a modifier with nothing to modify is ignored.
                return Ok(None);
            }
        }
        let mut alternatives: Vec<Node> = self.primary(depth)?.into_iter().collect();
        while self.peek() == Some(&TokenKind::Or) {
            self.pos += 1;
            if matches!(self.peek(), None | Some(TokenKind::Close | TokenKind::Or | TokenKind::And)) {
                return Err(QueryError::DanglingOperator("OR"));
            }
            alternatives.extend(self.primary(depth)?);
        }
        if alternatives.is_empty() {
            return Ok(None);
        }
        let node = if alternatives.len() == 1 {
            alternatives.pop().unwrap()
        } else {
            Node::Group(alternatives.into_iter().map(|node| Clause { occur: Occur::Should, node }).collect())
        };
        Ok(Some(Clause { occur, node }))
    }

    /// One word, phrase, field or group; `None` for an empty group.
    fn primary(&mut self, depth: usize) -> Result<Option<Node>, QueryError> {
        let token = self.tokens[self.pos].clone();
        self.pos += 1;
        match token.kind {
            TokenKind::Open => {
                if depth + 1 > MAX_DEPTH {
                    return Err(QueryError::TooDeep);
                }
                let inner = self.sequence(depth + 1)?;
                if self.peek() != Some(&TokenKind::Close) {
                    return Err(QueryError::UnclosedParen(token.at + 1));
                }
                self.pos += 1;
                match <[Clause; 1]>::try_from(inner) {
                    // `(a)` is `a`, `((a OR b))` is `(a OR b)`.
                    Ok([Clause { occur: Occur::Default, node }]) => Ok(Some(node)),
                    Ok([clause]) => Ok(Some(Node::Group(vec![clause]))),
                    // `()` (as in "alpha (+)- thalassemia") asks for nothing: it is left out.
                    Err(inner) if inner.is_empty() => Ok(None),
                    Err(inner) => Ok(Some(Node::Group(inner))),
                }
            }
            TokenKind::Field(name) => {
                let value = self.tokens.get(self.pos).map(|t| t.kind.clone());
                let field = match name {
                    "ti" => Field::Title,
                    "au" => Field::Authors,
                    "abs" => Field::Abstract,
                    _ => Field::All,
                };
                match value {
                    Some(TokenKind::Word(text)) if name == "cat" => {
                        self.pos += 1;
                        self.count()?;
                        Ok(Some(Node::Category(CategoryFilter::parse(&text)?)))
                    }
                    Some(TokenKind::Word(text)) => {
                        self.pos += 1;
                        self.count()?;
                        Ok(Some(Node::Word { field, text }))
                    }
                    Some(TokenKind::Phrase(text)) if name != "cat" && !text.trim().is_empty() => {
                        self.pos += 1;
                        self.count()?;
                        Ok(Some(Node::Phrase { field, text }))
                    }
                    _ => Err(QueryError::EmptyField(name)),
                }
            }
            TokenKind::Word(text) => {
                self.count()?;
                Ok(Some(Node::Word { field: Field::All, text }))
            }
            TokenKind::Phrase(text) => {
                self.count()?;
                if text.trim().is_empty() {
                    return Err(QueryError::Empty);
                }
                Ok(Some(Node::Phrase { field: Field::All, text }))
            }
            TokenKind::Close => Err(QueryError::UnopenedParen(token.at + 1)),
            TokenKind::And => Err(QueryError::DanglingOperator("AND")),
            TokenKind::Or => Err(QueryError::DanglingOperator("OR")),
            TokenKind::Not | TokenKind::Plus | TokenKind::Minus => {
                // `--foo`, `NOT -foo`: treat the repeated modifier as the word it guards.
                self.pos -= 1;
                self.tokens.remove(self.pos);
                if self.pos >= self.tokens.len() {
                    return Err(QueryError::Empty);
                }
                self.primary(depth)
            }
        }
    }

    fn count(&mut self) -> Result<(), QueryError> {
        self.n_clauses += 1;
        if self.n_clauses > MAX_CLAUSES { Err(QueryError::TooManyClauses) } else { Ok(()) }
    }
}

impl fmt::Display for SearchQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn write_clauses(f: &mut fmt::Formatter<'_>, clauses: &[Clause]) -> fmt::Result {
            for (i, clause) in clauses.iter().enumerate() {
                if i > 0 {
                    f.write_str(" ")?;
                }
                f.write_str(match clause.occur {
                    Occur::Default => "",
                    Occur::Must => "+",
                    Occur::MustNot => "-",
                    Occur::Should => "?",
                })?;
                match &clause.node {
                    Node::Word { field, text } => write!(f, "{}{text}", field_prefix(*field))?,
                    Node::Phrase { field, text } => write!(f, "{}\"{text}\"", field_prefix(*field))?,
                    Node::Category(filter) => write!(f, "cat:{filter}")?,
                    Node::Group(inner) => {
                        f.write_str("(")?;
                        write_clauses(f, inner)?;
                        f.write_str(")")?;
                    }
                }
            }
            Ok(())
        }
        fn field_prefix(field: Field) -> &'static str {
            match field {
                Field::All => "",
                Field::Title => "ti:",
                Field::Authors => "au:",
                Field::Abstract => "abs:",
            }
        }
        write_clauses(f, &self.clauses)
    }
}

impl SearchQuery {
    /// A one-line note for the person who typed a query whose syntax did not parse.
    pub fn relaxed_notice(&self) -> Option<String> {
        self.relaxed
            .as_ref()
            .map(|err| format!("searched the words of your query, since its syntax did not work: {err}"))
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};
    use proptest::prelude::*;

    use super::*;

    #[track_caller]
    fn check(input: &str, expect: Expect) {
        let actual = match SearchQuery::parse(input) {
            Ok(query) => match &query.relaxed {
                None => query.to_string(),
                Some(err) => format!("words ({err}): {query}"),
            },
            Err(err) => format!("error: {err}"),
        };
        expect.assert_eq(&actual);
    }

    #[test]
    fn words_and_phrases() {
        check("diffusion policy", expect!["diffusion policy"]);
        check("\"diffusion policy\" robot", expect![[r#""diffusion policy" robot"#]]);
        check("“curly quotes”", expect![[r#""curly quotes""#]]);
        check("state-of-the-art GPT-4", expect!["state-of-the-art GPT-4"]);
    }

    #[test]
    fn exclusion_and_requirement() {
        check("transformer -survey", expect!["transformer -survey"]);
        check("transformer NOT survey", expect!["transformer -survey"]);
        check("+robot learning", expect!["+robot learning"]);
        check("-survey", expect!["-survey"]);
        check("transformer - survey", expect!["transformer survey"]);
        check("transformer --survey", expect!["transformer -survey"]);
    }

    #[test]
    fn boolean_operators() {
        check("a AND b", expect!["+a +b"]);
        check("a b OR c", expect!["a (?b ?c)"]);
        check("(a OR b) AND c", expect!["+(?a ?b) +c"]);
        check("a and b or c", expect!["a and b or c"]);
        check("NOT (a OR b) c", expect!["-(?a ?b) c"]);
    }

    #[test]
    fn field_prefixes() {
        check("ti:transformer au:hinton", expect!["ti:transformer au:hinton"]);
        check("abs:\"neural radiance\" all:x", expect![[r#"abs:"neural radiance" x"#]]);
        check("cat:cs.CL cat:cs cat:cs.* cat:cs.NA", expect!["cat:cs.CL cat:cs cat:cs cat:math.NA"]);
        check("TI:Upper", expect!["ti:Upper"]);
        check("BERT: pre-training", expect!["BERT: pre-training"]);
        check("foo:bar", expect!["foo:bar"]);
        check("-cat:cs.CV vision", expect!["-cat:cs.CV vision"]);
    }

    #[test]
    fn malformed_queries_without_words_get_clear_messages() {
        check("", expect!["error: the query is empty"]);
        check("   ", expect!["error: the query is empty"]);
        check("ti:", expect!["error: `ti:` needs a word or a \"phrase\" after it"]);
        check("ti: transformer", expect!["ti:transformer"]);
        check("cat:", expect!["error: `cat:` needs a word or a \"phrase\" after it"]);
        check("((((", expect!["error: a parenthesis opened at character 4 is never closed"]);
        check("()", expect!["error: the query is empty"]);
        check("(+)-", expect!["error: the query is empty"]);
        check("AND", expect!["error: `AND/OR` needs something to search for on both sides"]);
        check("- -", expect!["error: the query is empty"]);
        check(
            "cat:xx.YY",
            expect![[
                r#"error: unknown arXiv category "xx.YY" (for example cs.CL, cs.LG, hep-th, or an archive such as cs)"#
            ]],
        );
        check("\"\"", expect!["error: the query is empty"]);
        check("(-a)", expect!["error: the query excludes words but asks for none"]);
        check(&"(".repeat(20), expect!["error: the query nests parentheses too deeply (at most 8)"]);
        check(
            &format!("{}a{}", "(".repeat(20), ")".repeat(20)),
            expect!["words (the query nests parentheses too deeply (at most 8)): a"],
        );
        check(&"x".repeat(20_000), expect!["error: the query is too long (20000 characters; at most 1000)"]);
        check(&"word ".repeat(100), expect!["error: the query has too many words (at most 64)"]);
    }

    #[test]
    fn syntax_that_cannot_apply_falls_back_to_the_words() {
        check(
            "A high microerythrocyte count protects against severe anemia in homozygous alpha (+)- thalassemia trait subjects.",
            expect![
                "A high microerythrocyte count protects against severe anemia in homozygous alpha thalassemia trait subjects."
            ],
        );
        check("a () b", expect!["a b"]);
        check("\"unclosed", expect!["words (a quote opened at character 1 is never closed): unclosed"]);
        check("a)", expect!["words (a closing parenthesis at character 2 has no opening one): a"]);
        check("a AND", expect!["words (`AND` needs something to search for on both sides): a"]);
        check("a OR", expect!["words (`OR` needs something to search for on both sides): a"]);
        check("OR a", expect!["words (`OR` needs something to search for on both sides): a"]);
        check(
            "transformers (survey -old",
            expect!["words (a parenthesis opened at character 14 is never closed): transformers survey -old"],
        );
        check("robots ti:", expect!["words (`ti:` needs a word or a \"phrase\" after it): robots"]);
        check("5\" displays (OLED)", expect!["words (a quote opened at character 2 is never closed): 5 displays OLED"]);
    }

    /// Found by `scripts/fuzz` (query target): a pasted abstract whose syntax fell back to its words,
    /// but with more words than a query may have, was refused as "the query is empty".
    #[test]
    fn too_many_words_after_a_fallback_say_so() {
        let pasted = format!("x \"\" {}", vec!["word"; MAX_CLAUSES + 3].join(" "));
        assert_eq!(SearchQuery::parse(&pasted).unwrap_err(), QueryError::TooManyClauses);
        let fewer = format!("x \"\" {}", vec!["word"; MAX_CLAUSES - 2].join(" "));
        assert!(SearchQuery::parse(&fewer).is_ok());
        // Also found by the fuzzer: only an exclusion among broken syntax said "empty".
        assert_eq!(SearchQuery::parse("-C NOT NOT").unwrap_err(), QueryError::OnlyExclusions);
    }

    #[test]
    fn positive_terms_skip_exclusions() {
        let query = SearchQuery::parse("ti:diffusion \"policy learning\" -survey cat:cs.RO").unwrap();
        let terms: Vec<_> = query.positive_terms();
        assert_eq!(terms, [(Field::Title, "diffusion"), (Field::All, "policy learning")]);
    }

    proptest! {
        #[test]
        fn parse_never_panics(input in "[a-z:()\"+\\- ANDORTti]{0,40}") {
            let _ = SearchQuery::parse(&input);
        }

        #[test]
        fn parse_never_panics_on_any_text(input in "\\PC{0,80}") {
            let _ = SearchQuery::parse(&input);
        }

        #[test]
        fn a_query_with_a_word_is_never_empty(
            // Lower case: `AND`, `OR` and `NOT` are operators, not words.
            words in proptest::collection::vec("[a-z0-9]{1,12}", 1..8),
            noise in proptest::collection::vec("[()\"+: ]{0,4}|\\) - \\(", 1..8),
        ) {
            let input: String = words.iter().zip(noise.iter().cycle()).map(|(w, n)| format!("{n}{w}{n} ")).collect();
            if let Err(err) = SearchQuery::parse(&input) {
                prop_assert!(
                    !matches!(err, QueryError::Empty | QueryError::UnclosedQuote(_) | QueryError::UnclosedParen(_)
                        | QueryError::UnopenedParen(_) | QueryError::DanglingOperator(_) | QueryError::EmptyField(_)),
                    "{input:?}: {err}"
                );
            }
        }
    }
}
