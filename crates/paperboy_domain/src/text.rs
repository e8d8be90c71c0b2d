//! Text clean-up shared by every source: whitespace, TeX accents in names, title keys, and HTML
//! escaping (for the web pages and the mail).

/// Escapes text for HTML element content and attribute values (`&`, `<`, `>`, both quotes).
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
}

/// Collapses every run of whitespace (arXiv's hard line breaks included) to one space and trims.
pub fn collapse_whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// The key two titles are compared by for "exact title" look-ups: lower case, letters and digits
/// only, single spaces. `"Attention Is All You Need."` and `"attention is all you  need"` match.
pub fn title_key(title: &str) -> String {
    let mut key = String::with_capacity(title.len());
    let mut pending_space = false;
    for ch in title.chars() {
        if ch.is_alphanumeric() {
            if pending_space && !key.is_empty() {
                key.push(' ');
            }
            pending_space = false;
            key.extend(ch.to_lowercase());
        } else {
            pending_space = true;
        }
    }
    key
}

/// Replaces the TeX accent commands common in arXiv author lists (`Bal\'azs`, `M{\"u}ller`,
/// `\c{C}elik`, `{\o}`, `\ss`) with the Unicode letters they stand for, and drops the braces
/// around them. Anything it does not recognise is left as it is.
pub fn decode_tex_accents(text: &str) -> String {
    if !text.contains('\\') && !text.contains('{') {
        return text.to_owned();
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let ch = chars[i];
        if ch == '{' || ch == '}' {
            // Braces in names only group letters: `{\"o}`, `{Le}Cun`.
            i += 1;
            continue;
        }
        if ch != '\\' || i + 1 >= chars.len() {
            out.push(ch);
            i += 1;
            continue;
        }
        let command = chars[i + 1];
        // A letter command (`\v`, `\c`) needs a delimiter before its argument: `\v{r}`, `\c C`;
        // `\unknown` is some other command.
        let delimited = !command.is_alphabetic() || matches!(chars.get(i + 2), Some('{' | ' '));
        if let Some(mark) = combining_mark(command).filter(|_| delimited) {
            match accented(&chars, i + 2, mark) {
                Some((letters, next)) => {
                    out.extend(letters);
                    i = next;
                }
                None => {
                    out.push(ch);
                    i += 1;
                }
            }
            continue;
        }
        // Letter commands: `\o`, `\ss`, `\aa`, `\ae`, `\l`, `\i`.
        let word: String = chars[i + 1..].iter().take_while(|c| c.is_ascii_alphabetic()).collect();
        match letter_command(&word) {
            Some(letter) => {
                out.push_str(letter);
                i += 1 + word.chars().count();
                // `\o{}` and `\ss ` end with an empty group or one space.
                if chars.get(i) == Some(&' ') {
                    i += 1;
                }
            }
            None => {
                out.push(ch);
                i += 1;
            }
        }
    }
    out
}

/// The letter an accent command's argument starting at `start` becomes (`\'a`, `\'{a}`, `\' a`,
/// `\c{c}`, `\v s`, `\'\i`), and where the text after it starts; `None` when no letter follows.
fn accented(chars: &[char], start: usize, mark: char) -> Option<(Vec<char>, usize)> {
    let mut j = start;
    while j < chars.len() && (chars[j] == '{' || chars[j] == ' ') {
        j += 1;
    }
    let (base, mut next) = match chars.get(j)? {
        // `\'\i` is a dotless i carrying an accent.
        '\\' if chars.get(j + 1) == Some(&'i') => ('i', j + 2),
        c if c.is_alphabetic() => (*c, j + 1),
        _ => return None,
    };
    if chars.get(next) == Some(&'}') {
        next += 1;
    }
    Some((compose(base, mark), next))
}

/// The letters TeX names by a command: `\o` is ø, `\ss` is ß.
fn letter_command(word: &str) -> Option<&'static str> {
    Some(match word {
        "o" => "ø",
        "O" => "Ø",
        "ss" => "ß",
        "aa" => "å",
        "AA" => "Å",
        "ae" => "æ",
        "AE" => "Æ",
        "oe" => "œ",
        "OE" => "Œ",
        "l" => "ł",
        "L" => "Ł",
        "i" => "ı",
        _ => return None,
    })
}

fn combining_mark(command: char) -> Option<char> {
    Some(match command {
        '\'' => '\u{301}',
        '`' => '\u{300}',
        '^' => '\u{302}',
        '"' => '\u{308}',
        '~' => '\u{303}',
        '=' => '\u{304}',
        '.' => '\u{307}',
        'u' => '\u{306}',
        'v' => '\u{30C}',
        'H' => '\u{30B}',
        'c' => '\u{327}',
        'k' => '\u{328}',
        'r' => '\u{30A}',
        _ => return None,
    })
}

/// The precomposed letter for `base` + combining `mark` where Unicode has one (the usual case for
/// European names), else the decomposed pair.
fn compose(base: char, mark: char) -> Vec<char> {
    const TABLE: &[(char, char, char)] = &[
        ('a', '\u{301}', 'á'),
        ('e', '\u{301}', 'é'),
        ('i', '\u{301}', 'í'),
        ('o', '\u{301}', 'ó'),
        ('u', '\u{301}', 'ú'),
        ('y', '\u{301}', 'ý'),
        ('c', '\u{301}', 'ć'),
        ('n', '\u{301}', 'ń'),
        ('s', '\u{301}', 'ś'),
        ('z', '\u{301}', 'ź'),
        ('A', '\u{301}', 'Á'),
        ('E', '\u{301}', 'É'),
        ('I', '\u{301}', 'Í'),
        ('O', '\u{301}', 'Ó'),
        ('U', '\u{301}', 'Ú'),
        ('S', '\u{301}', 'Ś'),
        ('a', '\u{300}', 'à'),
        ('e', '\u{300}', 'è'),
        ('i', '\u{300}', 'ì'),
        ('o', '\u{300}', 'ò'),
        ('u', '\u{300}', 'ù'),
        ('a', '\u{302}', 'â'),
        ('e', '\u{302}', 'ê'),
        ('i', '\u{302}', 'î'),
        ('o', '\u{302}', 'ô'),
        ('u', '\u{302}', 'û'),
        ('a', '\u{308}', 'ä'),
        ('e', '\u{308}', 'ë'),
        ('i', '\u{308}', 'ï'),
        ('o', '\u{308}', 'ö'),
        ('u', '\u{308}', 'ü'),
        ('y', '\u{308}', 'ÿ'),
        ('A', '\u{308}', 'Ä'),
        ('O', '\u{308}', 'Ö'),
        ('U', '\u{308}', 'Ü'),
        ('a', '\u{303}', 'ã'),
        ('n', '\u{303}', 'ñ'),
        ('o', '\u{303}', 'õ'),
        ('N', '\u{303}', 'Ñ'),
        ('c', '\u{327}', 'ç'),
        ('C', '\u{327}', 'Ç'),
        ('s', '\u{327}', 'ş'),
        ('S', '\u{327}', 'Ş'),
        ('c', '\u{30C}', 'č'),
        ('s', '\u{30C}', 'š'),
        ('z', '\u{30C}', 'ž'),
        ('r', '\u{30C}', 'ř'),
        ('e', '\u{30C}', 'ě'),
        ('C', '\u{30C}', 'Č'),
        ('S', '\u{30C}', 'Š'),
        ('Z', '\u{30C}', 'Ž'),
        ('R', '\u{30C}', 'Ř'),
        ('g', '\u{306}', 'ğ'),
        ('a', '\u{306}', 'ă'),
        ('o', '\u{30B}', 'ő'),
        ('u', '\u{30B}', 'ű'),
        ('a', '\u{30A}', 'å'),
        ('A', '\u{30A}', 'Å'),
        ('u', '\u{30A}', 'ů'),
        ('a', '\u{328}', 'ą'),
        ('e', '\u{328}', 'ę'),
        ('z', '\u{307}', 'ż'),
        ('Z', '\u{307}', 'Ż'),
        ('I', '\u{307}', 'İ'),
        ('a', '\u{304}', 'ā'),
        ('e', '\u{304}', 'ē'),
        ('i', '\u{304}', 'ī'),
        ('o', '\u{304}', 'ō'),
        ('u', '\u{304}', 'ū'),
    ];
    match TABLE.iter().find(|(b, m, _)| *b == base && *m == mark) {
        Some((_, _, composed)) => vec![*composed],
        None => vec![base, mark],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_collapses() {
        assert_eq!(collapse_whitespace("  a\n  b\t\tc  "), "a b c");
        assert_eq!(collapse_whitespace(""), "");
    }

    #[test]
    fn title_keys_ignore_case_and_punctuation() {
        assert_eq!(title_key("Attention Is All You Need."), "attention is all you need");
        assert_eq!(title_key("  BERT: Pre-training of  Deep"), "bert pre training of deep");
        assert_eq!(title_key("$\\alpha$-Nets"), "alpha nets");
    }

    #[test]
    fn tex_accents_in_names_become_letters() {
        for (tex, unicode) in [
            ("C. Bal\\'azs", "C. Balázs"),
            ("M{\\\"u}ller", "Müller"),
            ("M\\\"uller", "Müller"),
            ("\\c{C}elik", "Çelik"),
            ("Dvo\\v{r}\\'ak", "Dvořák"),
            ("Sch\\\"{o}n", "Schön"),
            ("S{\\o}rensen", "Sørensen"),
            ("Stra\\ss e", "Straße"),
            ("Garc\\'{\\i}a", "García"),
            ("{L}e{C}un", "LeCun"),
            ("Plain Name", "Plain Name"),
            ("trailing \\", "trailing \\"),
            ("\\unknown{x}", "\\unknownx"),
        ] {
            assert_eq!(decode_tex_accents(tex), unicode, "{tex}");
        }
    }
}
