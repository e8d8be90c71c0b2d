//! The few TeX text commands that authors leave in titles and abstracts outside math, shown as
//! what they mean rather than as source: `\cite{a,b}` as `[a, b]`, `\emph{word}` as `word`,
//! `\url{…}` as the address. Anything else stays as it was written.

use std::borrow::Cow;

/// The longest argument read; a longer "argument" is not one (an unclosed brace, say).
const MAX_ARGUMENT: usize = 300;

/// What a command becomes.
enum Shown {
    /// `[arguments]`, commas spaced: citations.
    Citation,
    /// The argument itself.
    Argument,
    /// The second of two arguments (`\href{url}{text}`).
    SecondArgument,
}

fn command(name: &str) -> Option<Shown> {
    Some(match name {
        "cite" | "citep" | "citet" | "citealp" | "citealt" | "citeauthor" | "citeyear" | "citenum" | "parencite"
        | "textcite" | "autocite" => Shown::Citation,
        "emph" | "textit" | "textbf" | "texttt" | "textsc" | "textsf" | "textrm" | "underline" | "url" | "mbox"
        | "text" => Shown::Argument,
        "href" => Shown::SecondArgument,
        _ => return None,
    })
}

/// `{…}` at the start of `text` (no nested braces): the argument and the bytes it took.
fn braced(text: &str) -> Option<(&str, usize)> {
    let rest = text.strip_prefix('{')?;
    let end = rest.find(['{', '}'])?;
    (rest[end..].starts_with('}') && end <= MAX_ARGUMENT).then(|| (&rest[..end], end + 2))
}

/// Optional `[…]` arguments (`\cite[p.~3]{key}`): the bytes they take.
fn optional_arguments(text: &str) -> usize {
    let mut taken = 0;
    while let Some(rest) = text[taken..].strip_prefix('[') {
        match rest.find(']') {
            Some(end) if end <= MAX_ARGUMENT && !rest[..end].contains(['[', '{', '}']) => taken += end + 2,
            _ => break,
        }
    }
    taken
}

/// `text` with the commands above replaced; borrowed when there are none.
pub fn text_commands(text: &str) -> Cow<'_, str> {
    if !text.contains('\\') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while let Some(found) = text[at..].find('\\') {
        let start = at + found;
        let name_len = text[start + 1..].bytes().take_while(u8::is_ascii_alphabetic).count();
        let name = &text[start + 1..start + 1 + name_len];
        let after_name = start + 1 + name_len;
        let replaced = command(name).and_then(|shown| {
            let mut end = after_name + optional_arguments(&text[after_name..]);
            let (first, taken) = braced(&text[end..])?;
            end += taken;
            let shown = match shown {
                Shown::Citation => {
                    let keys: Vec<&str> = first.split(',').map(str::trim).filter(|k| !k.is_empty()).collect();
                    format!("[{}]", keys.join(", "))
                }
                Shown::Argument => first.to_owned(),
                Shown::SecondArgument => {
                    let (second, taken) = braced(&text[end..])?;
                    end += taken;
                    second.to_owned()
                }
            };
            Some((shown, end))
        });
        match replaced {
            Some((shown, end)) => {
                // `word~\cite{x}`: TeX's tie is a space.
                let before = &text[at..start];
                out.push_str(before.strip_suffix('~').unwrap_or(before));
                if before.ends_with('~') {
                    out.push(' ');
                }
                out.push_str(&shown);
                at = end;
            }
            None => {
                out.push_str(&text[at..after_name.max(start + 1)]);
                at = after_name.max(start + 1);
            }
        }
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn citations_and_emphasis_read_as_text() {
        for (source, shown) in [
            ("as shown in~\\cite{smith2020, doe21}.", "as shown in [smith2020, doe21]."),
            ("\\citep[p.~3]{key} and \\citet{other}", "[key] and [other]"),
            ("an \\emph{important} result", "an important result"),
            ("code at \\url{https://github.com/x/y}", "code at https://github.com/x/y"),
            ("see \\href{https://x.org}{our site}", "see our site"),
        ] {
            assert_eq!(text_commands(source), shown, "{source}");
        }
    }

    #[test]
    fn anything_else_is_left_as_written() {
        for source in [
            "no commands",
            "\\unknown{x}",
            "\\cite{unclosed",
            "\\cite{nested {braces}}",
            "a lone \\ backslash",
            "\\cite",
            "trailing \\",
            "ünïcödé \\emph{wörd}\\",
        ] {
            let shown = text_commands(source);
            if source.contains("\\emph") {
                assert_eq!(shown, "ünïcödé wörd\\");
            } else {
                assert_eq!(shown, source);
            }
        }
        assert!(matches!(text_commands("plain"), Cow::Borrowed(_)));
    }
}
