//! Citations of papers in the formats reference managers read: BibTeX (as arXiv's "Export
//! BibTeX" gives), RIS (EndNote, Zotero, Mendeley) and CSL-JSON (Zotero, Pandoc, citeproc).
//! Titles and abstracts keep their TeX, as arXiv's own exports do; values are made safe for each
//! format (balanced braces and escaped `&%#` in BibTeX, one line per value in RIS, JSON escaping).

use chrono::Datelike;
use paperboy_domain::Paper;
use serde_json::{Value, json};

/// A format to export citations in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// BibTeX `@misc` entries with `eprint` and `archivePrefix`.
    Bibtex,
    /// RIS records.
    Ris,
    /// A CSL-JSON array.
    CslJson,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 3] = [Format::Bibtex, Format::Ris, Format::CslJson];

    /// `bibtex` (or `bib`), `ris`, `csl-json` (or `csl`), in any letter case.
    pub fn parse(text: &str) -> Option<Format> {
        match text.trim().to_ascii_lowercase().as_str() {
            "bibtex" | "bib" => Some(Format::Bibtex),
            "ris" => Some(Format::Ris),
            "csl-json" | "csl" | "csljson" => Some(Format::CslJson),
            _ => None,
        }
    }

    /// The name `parse` reads.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Bibtex => "bibtex",
            Format::Ris => "ris",
            Format::CslJson => "csl-json",
        }
    }

    /// The media type of an export.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Bibtex => "application/x-bibtex; charset=utf-8",
            Format::Ris => "application/x-research-info-systems; charset=utf-8",
            Format::CslJson => "application/vnd.citationstyles.csl+json; charset=utf-8",
        }
    }

    /// The file name extension of an export.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Bibtex => "bib",
            Format::Ris => "ris",
            Format::CslJson => "json",
        }
    }
}

/// A paper to cite, with the reader's tags for it (exported as keywords).
#[derive(Debug, Clone, Copy)]
pub struct Cited<'a> {
    /// The paper.
    pub paper: &'a Paper,
    /// The reader's tags (may be empty).
    pub tags: &'a [String],
}

/// The papers in `format`, in the order given.
pub fn export(papers: &[Cited<'_>], format: Format) -> String {
    match format {
        Format::Bibtex => {
            let mut out = String::new();
            for cited in papers {
                out.push_str(&bibtex_entry(cited.paper, cited.tags));
                out.push_str("\n\n");
            }
            out
        }
        Format::Ris => papers.iter().map(|cited| ris(cited.paper, cited.tags)).collect(),
        Format::CslJson => {
            let items: Vec<Value> = papers.iter().map(|cited| csl_json(cited.paper, cited.tags)).collect();
            let mut out = serde_json::to_string_pretty(&items).expect("JSON values serialize");
            out.push('\n');
            out
        }
    }
}

/// A BibTeX entry for the paper, as arXiv's "Export BibTeX" gives.
pub fn bibtex(paper: &Paper) -> String {
    bibtex_entry(paper, &[])
}

/// The year a paper is cited by: its first submission's, else its announcement's.
fn year(paper: &Paper) -> i32 {
    paper.submitted.map_or_else(|| paper.date().year(), |d| d.year())
}

/// Text on one line: runs of whitespace (newlines included) as one space, control characters
/// dropped.
fn one_line(text: &str) -> String {
    let text: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The key of a paper's BibTeX entry: the first author's last name, the year, the id.
fn bibtex_key(paper: &Paper) -> String {
    let author = paper
        .authors
        .first()
        .and_then(|a| a.split_whitespace().last())
        .map(|s| s.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_lowercase())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "arxiv".into());
    format!("{author}{}_{}", year(paper), paper.id.to_string().replace('/', "_"))
}

/// Whether the braces of `text` balance, counting `\{` and `\}` (`escaped_count`) or not.
/// Parsers differ: BibTeX counts every brace, bibtexparser skips escaped ones.
fn braces_balance(text: &str, escaped_count: bool) -> bool {
    let mut depth = 0i32;
    let mut after_backslash = false;
    for c in text.chars() {
        if escaped_count || !after_backslash {
            depth += match c {
                '{' => 1,
                '}' => -1,
                _ => 0,
            };
        }
        if depth < 0 {
            return false;
        }
        after_backslash = c == '\\' && !after_backslash;
    }
    depth == 0
}

/// A value inside BibTeX braces: on one line; braces kept only when they balance for every
/// parser (TeX such as `$\mathcal{O}(n)$` survives, a stray or escaped brace cannot end the field
/// or open another); `& % #` escaped, which LaTeX would otherwise read as an alignment tab, a
/// comment and a parameter; and no backslash at the end, which would escape the closing brace.
fn bib_value(text: &str) -> String {
    let text = one_line(text);
    let keep_braces = braces_balance(&text, true) && braces_balance(&text, false);
    let mut out = String::with_capacity(text.len() + 8);
    let mut escaped = false;
    for c in text.chars() {
        match c {
            '{' | '}' if !keep_braces => continue,
            '&' | '%' | '#' if !escaped => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
        escaped = c == '\\' && !escaped;
    }
    out.trim_end_matches(['\\', ' ']).to_owned()
}

/// A name for BibTeX's `author` list: braced when it holds the word "and", which would split it.
fn bib_name(name: &str) -> String {
    let value = bib_value(name);
    match value.split_whitespace().any(|w| w.eq_ignore_ascii_case("and")) {
        true => format!("{{{}}}", value.replace(['{', '}'], "")),
        false => value,
    }
}

fn bibtex_entry(paper: &Paper, tags: &[String]) -> String {
    let field = |name: &str, value: &str| format!("  {name:<13} = {{{value}}},\n");
    let mut entry = format!("@misc{{{},\n", bibtex_key(paper));
    entry.push_str(&field("title", &bib_value(&paper.title)));
    let authors: Vec<String> = paper.authors.iter().map(|a| bib_name(a)).collect();
    entry.push_str(&field("author", &authors.join(" and ")));
    entry.push_str(&field("year", &year(paper).to_string()));
    entry.push_str(&field("eprint", &paper.id.to_string()));
    entry.push_str(&field("archivePrefix", "arXiv"));
    if let Some(category) = paper.primary_category() {
        entry.push_str(&field("primaryClass", category.as_str()));
    }
    if let Some(doi) = &paper.doi {
        // Verbatim in biblatex: no TeX escapes, only nothing that could end the field.
        entry.push_str(&field("doi", &one_line(doi).replace(['{', '}', '\\'], "")));
    }
    if !tags.is_empty() {
        let tags: Vec<String> = tags.iter().map(|t| bib_value(t)).collect();
        entry.push_str(&field("keywords", &tags.join(", ")));
    }
    entry.push_str(&format!("  url           = {{https://arxiv.org/abs/{}}}\n}}", paper.id));
    entry
}

/// An RIS record (`TY  - ` to `ER  - `), lines ending in CR LF as the format asks.
fn ris(paper: &Paper, tags: &[String]) -> String {
    let mut out = String::new();
    let mut line = |tag: &str, value: &str| {
        let value = one_line(value);
        if !value.is_empty() {
            out.push_str(&format!("{tag}  - {value}\r\n"));
        }
    };
    line("TY", "UNPB");
    line("TI", &paper.title);
    for author in &paper.authors {
        line("AU", &ris_author(author));
    }
    line("PY", &year(paper).to_string());
    let day = paper.submitted.map_or_else(|| paper.date(), |d| d.date_naive());
    line("DA", &day.format("%Y/%m/%d").to_string());
    line("AB", &paper.abstract_text);
    line("PB", "arXiv");
    line("M1", &format!("arXiv:{}", paper.id));
    line("UR", &format!("https://arxiv.org/abs/{}", paper.id));
    line("L1", &format!("https://arxiv.org/pdf/{}", paper.id));
    if let Some(doi) = &paper.doi {
        line("DO", doi);
    }
    for category in &paper.categories {
        line("KW", category.as_str());
    }
    for tag in tags {
        line("KW", tag);
    }
    if let Some(comments) = &paper.comments {
        line("N1", comments);
    }
    out.push_str("ER  - \r\n\r\n");
    out
}

/// `Last, First` for RIS's `AU` (a one-word name stays as it is).
fn ris_author(name: &str) -> String {
    match split_name(name) {
        (Some(given), family) => format!("{family}, {given}"),
        (None, family) => family.to_owned(),
    }
}

/// `(given names, family name)`: the family name is the last word, as arXiv lists authors.
fn split_name(name: &str) -> (Option<&str>, &str) {
    let name = name.trim();
    match name.rsplit_once(char::is_whitespace) {
        Some((given, family)) if !given.trim().is_empty() => (Some(given.trim()), family),
        _ => (None, name),
    }
}

/// A CSL-JSON item: a preprint (`article`) published by arXiv.
fn csl_json(paper: &Paper, tags: &[String]) -> Value {
    let authors: Vec<Value> = paper
        .authors
        .iter()
        .map(|name| match split_name(name) {
            (Some(given), family) => json!({"given": given, "family": family}),
            (None, family) => json!({"literal": family}),
        })
        .collect();
    let day = paper.submitted.map_or_else(|| paper.date(), |d| d.date_naive());
    let mut keywords: Vec<&str> = paper.categories.iter().map(|c| c.as_str()).collect();
    keywords.extend(tags.iter().map(String::as_str));
    let mut item = json!({
        "id": format!("arXiv:{}", paper.id),
        "type": "article",
        "title": one_line(&paper.title),
        "author": authors,
        "issued": {"date-parts": [[day.year(), day.month(), day.day()]]},
        "abstract": one_line(&paper.abstract_text),
        "publisher": "arXiv",
        "number": format!("arXiv:{}", paper.id),
        "genre": "Preprint",
        "URL": format!("https://arxiv.org/abs/{}", paper.id),
        "keyword": keywords.join(", "),
    });
    if let Some(doi) = &paper.doi {
        item["DOI"] = json!(doi);
    }
    item
}

#[cfg(test)]
mod tests {
    use super::*;
    use paperboy_domain::{ArxivId, Category};

    fn paper(title: &str, authors: &[&str]) -> Paper {
        let mut paper = Paper::new(ArxivId::parse("2401.01234").unwrap(), title);
        paper.abstract_text = "An abstract\nover two lines.".into();
        paper.authors = authors.iter().map(|a| (*a).to_owned()).collect();
        paper.categories = vec![Category::parse("cs.CL").unwrap(), Category::parse("cs.LG").unwrap()];
        paper.announced = Some(chrono::NaiveDate::from_ymd_opt(2024, 1, 3).unwrap());
        paper
    }

    #[test]
    fn bibtex_values_are_safe_and_keep_balanced_tex() {
        assert_eq!(bib_value("Q&A at 50% on #1"), "Q\\&A at 50\\% on \\#1");
        assert_eq!(bib_value("already \\& escaped"), "already \\& escaped");
        assert_eq!(bib_value("$\\mathcal{O}(n)$ time"), "$\\mathcal{O}(n)$ time");
        assert_eq!(bib_value("a } stray { brace"), "a  stray  brace");
        // Escaped braces balance for BibTeX but not for bibtexparser: both must agree.
        let injected = bib_value("\\{}, doi = {10.1/evil}, note = {\\}");
        assert!(!injected.contains(['{', '}']) && !injected.ends_with('\\'), "{injected}");
        assert_eq!(bib_value("Weird \\}"), "Weird");
        assert_eq!(bib_value("ends in a backslash \\"), "ends in a backslash");
        assert_eq!(bib_name("Ada and Bob Collaboration"), "{Ada and Bob Collaboration}");
        assert_eq!(bib_name("Alexander Andersen"), "Alexander Andersen");
        assert_eq!(one_line("a\u{1c}b\u{7}c"), "a b c");
        assert_eq!(bib_value("two\nlines"), "two lines");
        let entry = bibtex_entry(&paper("Hostile} title = {x", &["Ada Lovelace"]), &["to read".into()]);
        assert_eq!(entry.matches('{').count(), entry.matches('}').count(), "{entry}");
        assert!(entry.starts_with("@misc{lovelace2024_2401.01234,\n"), "{entry}");
        assert!(entry.contains("keywords      = {to read},"), "{entry}");
    }

    /// Random hostile text never makes a value that leaves its field, for either brace rule.
    #[test]
    fn random_values_stay_in_their_field() {
        let alphabet: Vec<char> = "{}\\\\ab &%#$,=@\n\r\u{1c}\"α".chars().collect();
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = (next() % 24) as usize;
            let text: String = (0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect();
            let value = bib_value(&text);
            assert!(braces_balance(&value, true) && braces_balance(&value, false), "{text:?} -> {value:?}");
            assert!(!value.ends_with('\\') && !value.contains(['\n', '\r', '\u{1c}']), "{text:?} -> {value:?}");
            let entry = bibtex_entry(&paper(&text, &[&text, "Ada Lovelace"]), std::slice::from_ref(&text));
            assert!(braces_balance(&entry, true) && braces_balance(&entry, false), "{text:?}:\n{entry}");
            let record = ris(&paper(&text, &[&text]), std::slice::from_ref(&text));
            assert!(
                record.lines().all(|line| line.is_empty() || line.get(2..6) == Some("  - ")),
                "{text:?}:\n{record}"
            );
        }
    }

    #[test]
    fn ris_records_have_one_line_per_value() {
        let record = ris(&paper("A title", &["Ada Lovelace", "Plato"]), &[]);
        assert!(record.starts_with("TY  - UNPB\r\n"), "{record}");
        assert!(record.contains("AU  - Lovelace, Ada\r\nAU  - Plato\r\n"), "{record}");
        assert!(record.contains("AB  - An abstract over two lines.\r\n"), "{record}");
        assert!(record.contains("DA  - 2024/01/03\r\n") && record.contains("KW  - cs.CL\r\n"), "{record}");
        assert!(record.ends_with("ER  - \r\n\r\n"), "{record}");
    }

    #[test]
    fn csl_json_names_and_dates() {
        let item = csl_json(&paper("A title", &["Ada King Lovelace", "Plato"]), &["x".into()]);
        assert_eq!(item["author"][0], json!({"given": "Ada King", "family": "Lovelace"}));
        assert_eq!(item["author"][1], json!({"literal": "Plato"}));
        assert_eq!(item["issued"]["date-parts"], json!([[2024, 1, 3]]));
        assert_eq!(item["keyword"], "cs.CL, cs.LG, x");
        for format in Format::ALL {
            assert_eq!(Format::parse(format.as_str()), Some(format));
        }
        assert_eq!(Format::parse("BibTeX"), Some(Format::Bibtex));
        assert_eq!(Format::parse("docx"), None);
    }
}
