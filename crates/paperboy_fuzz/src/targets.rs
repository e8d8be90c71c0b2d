//! The targets: every parser that reads what someone outside sends or publishes.

use std::{io::Read, path::Path};

use chrono::{NaiveDate, TimeZone, Utc};
use paperboy_domain::{ArxivId, EmailAddress, SearchQuery, query::MAX_QUERY_CHARS, query::QueryError};
use paperboy_mail::{DigestItem, DigestView, MailContext, digest_message};

use crate::Target;

/// Every target, in the order `scripts/fuzz` runs them.
pub static TARGETS: &[Target] = &[
    Target {
        name: "query",
        about: "the query language (SearchQuery::parse): a query with a word (not AND, OR, NOT) is never empty",
        seeds: query_seeds,
        tokens: &[
            "\"", "(", ")", "-", "+", ":", "au:", "ti:", "abs:", "cat:", "cat:cs.", " OR ", " AND ", " NOT ", "*",
            "(+)-", "[", "]", "\\",
        ],
        check: check_query_bytes,
    },
    Target {
        name: "arxiv-id",
        about: "arXiv ids (ArxivId::parse, parse_lenient): an id reads back as itself",
        seeds: id_seeds,
        tokens: &["v", ".", "/", "arXiv:", "https://arxiv.org/abs/", "hep-th", "math.AG", "0", "9", "v99999999999"],
        check: check_id,
    },
    Target {
        name: "email",
        about: "e-mail addresses (EmailAddress::parse): an address reads back as itself, without control characters",
        seeds: email_seeds,
        tokens: &["@", ".", "\"", "<", ">", ",", "\r\n", "+", "xn--", " ", "\\", ";"],
        check: check_email_bytes,
    },
    Target {
        name: "oai-xml",
        about: "OAI-PMH responses (paperboy_arxiv::oai::parse_response)",
        seeds: oai_seeds,
        tokens: &[
            "<record>",
            "</record>",
            "<metadata>",
            "<arXiv>",
            "<a>",
            "</a>",
            "<![CDATA[",
            "]]>",
            "&amp;",
            "&#",
            "<!DOCTYPE x [<!ENTITY a \"b\">]>",
            "&a;",
            "<resumptionToken>",
            "\"",
        ],
        check: check_oai,
    },
    Target {
        name: "atom-xml",
        about: "arXiv API Atom feeds (paperboy_arxiv::api::parse_feed)",
        seeds: atom_seeds,
        tokens: &[
            "<entry>",
            "</entry>",
            "<id>",
            "</id>",
            "<title>",
            "<a>",
            "</a>",
            "<![CDATA[",
            "&amp;",
            "&#x",
            "<opensearch:totalResults>",
            "http://arxiv.org/abs/",
        ],
        check: check_atom,
    },
    Target {
        name: "hf-json",
        about: "Hugging Face daily-paper files (paperboy_arxiv::hf::parse)",
        seeds: hf_seeds,
        tokens: &[
            "{",
            "}",
            "[",
            "]",
            "\"",
            ",",
            ":",
            "\"upvotes\":",
            "\"paper\":",
            "\"id\":",
            "1e999",
            "-1",
            "null",
            "\\u0000",
        ],
        check: check_hf,
    },
    Target {
        name: "jsonl",
        about: "JSON Lines and Kaggle snapshot records (paperboy_arxiv::jsonl::parse_line)",
        seeds: jsonl_seeds,
        tokens: &[
            "{",
            "}",
            "[",
            "]",
            "\"",
            ",",
            ":",
            "\"id\":",
            "\"versions\":",
            "\"categories\":",
            "null",
            "\\ud800",
            "1e308",
        ],
        check: check_jsonl,
    },
    Target {
        name: "tex",
        about: "the TeX-to-MathML renderer (paperboy_web::math): well-formed MathML, no tag from the input",
        seeds: tex_seeds,
        tokens: &[
            "$",
            "$$",
            "\\(",
            "\\)",
            "{",
            "}",
            "^",
            "_",
            "\\frac{",
            "\\sqrt[",
            "\\begin{array}",
            "\\end{array}",
            "\\mathbb{",
            "\\left(",
            "\\right.",
            "&",
            "\\\\",
            "<script>",
            "\\href{javascript:x}",
            "\\emph{",
            "\\cite{",
        ],
        check: check_tex,
    },
    Target {
        name: "params",
        about: "query strings of the pages, the API and the feeds (paperboy_web's parameter decoding): a clear refusal or a search",
        seeds: param_seeds,
        tokens: &[
            "&",
            "=",
            "%",
            "%00",
            "%FF",
            "%2",
            "+",
            "q=",
            "page=",
            "per_page=",
            "since=",
            "until=",
            "sort=",
            "mode=",
            "category=",
            "format=",
            "explain=",
            "date=",
            "99999999999999999999",
            "-1",
            "2026-02-30",
        ],
        check: check_params,
    },
    Target {
        name: "mail",
        about: "digest mail with hostile titles and snippets (paperboy_mail::render): no added header, a parseable message",
        seeds: query_seeds,
        tokens: &["\r\n", "\n", "Bcc: x@example.org", "\r\nSubject: x", "=?utf-8?q?", "<", ">", "\u{0}", "--boundary"],
        check: check_mail,
    },
];

fn gz_lines(path: &Path) -> Vec<String> {
    let mut text = String::new();
    if let Ok(file) = std::fs::File::open(path) {
        let _ = flate2::read::GzDecoder::new(file).read_to_string(&mut text);
    }
    text.lines().map(str::to_owned).collect()
}

/// The sample corpus's records (two days are enough variety and keep start-up short).
fn sample_records(root: &Path) -> Vec<serde_json::Value> {
    ["2026-06-15", "2026-06-16"]
        .iter()
        .flat_map(|day| gz_lines(&root.join(format!("data/sample/arxiv-cs/{day}.jsonl.gz"))))
        .filter_map(|line| serde_json::from_str(&line).ok())
        .collect()
}

fn field<'a>(record: &'a serde_json::Value, name: &str) -> &'a str {
    record.get(name).and_then(|v| v.as_str()).unwrap_or_default()
}

fn files(dir: &Path) -> Vec<Vec<u8>> {
    let mut paths: Vec<_> = std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.path()).collect();
    paths.sort();
    paths.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

fn query_seeds(root: &Path) -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = sample_records(root)
        .iter()
        .flat_map(|r| {
            let first_sentence = field(r, "abstract").split(". ").next().unwrap_or_default().to_owned();
            [field(r, "title").to_owned(), first_sentence]
        })
        .map(String::into_bytes)
        .collect();
    for pasted in [
        "A high microerythrocyte count protects against severe anemia in homozygous alpha (+)- thalassemia trait subjects.",
        "au:\"Chelsea Finn\" cat:cs.RO (diffusion OR flow) -survey",
        "\"speculative decoding\" +ti:llm",
        "((((x))))",
    ] {
        seeds.push(pasted.as_bytes().to_vec());
    }
    seeds
}

fn check_query_bytes(data: &[u8]) -> Result<(), String> {
    check_query(&String::from_utf8_lossy(data))
}

fn check_query(text: &str) -> Result<(), String> {
    let result = SearchQuery::parse(text);
    if matches!(result, Err(QueryError::Empty)) && text.chars().count() <= MAX_QUERY_CHARS && has_a_word(text) {
        return Err(format!("a query with words is empty: {text:?}"));
    }
    Ok(())
}

fn param_seeds(_: &Path) -> Vec<Vec<u8>> {
    [
        "q=diffusion+policy&mode=hybrid&sort=relevance&page=2",
        "q=%22speculative+decoding%22&category=cs.CL&since=2026-01-01&until=2026-06-16",
        "q=au%3A%22Chelsea+Finn%22&sort=date&per_page=50&explain=true",
        "date=2026-06-16&category=cs&page=3",
        "format=bibtex&limit=10",
        "q=&page=0&per_page=1000",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

fn check_params(data: &[u8]) -> Result<(), String> {
    if let Err(message) = paperboy_web::decode_query_string(&String::from_utf8_lossy(data))
        && message.trim().is_empty()
    {
        return Err("a refusal without a message".into());
    }
    Ok(())
}

/// Whether `text` holds a word to search for: a run of letters or digits that is not an operator
/// (`AND`, `OR`, `NOT`) or a field's name before its colon (`ti:`).
fn has_a_word(text: &str) -> bool {
    let mut rest = text;
    while let Some(start) = rest.find(char::is_alphanumeric) {
        let run = &rest[start..];
        let end = run.find(|c: char| !c.is_alphanumeric()).unwrap_or(run.len());
        let (word, after) = run.split_at(end);
        let field = after.starts_with(':') && ["ti", "au", "abs", "cat", "all"].contains(&word.to_lowercase().as_str());
        if !field && !matches!(word, "AND" | "OR" | "NOT") {
            return true;
        }
        rest = after;
    }
    false
}

fn id_seeds(root: &Path) -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> =
        sample_records(root).iter().take(300).map(|r| field(r, "id").as_bytes().to_vec()).collect();
    let kaggle =
        std::fs::read_to_string(root.join("crates/paperboy_arxiv/tests/data/kaggle-sample.jsonl")).unwrap_or_default();
    seeds.extend(
        kaggle
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .map(|r| field(&r, "id").as_bytes().to_vec()),
    );
    for id in
        ["hep-th/9901001v2", "math.AG/0601001", "2401.00001v3", "arXiv:0704.0001", "https://arxiv.org/abs/2606.14725v1"]
    {
        seeds.push(id.as_bytes().to_vec());
    }
    seeds
}

fn check_id(data: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(data);
    for (name, parsed) in [("parse", ArxivId::parse(&text)), ("parse_lenient", ArxivId::parse_lenient(&text))] {
        if let Ok(id) = parsed {
            let shown = id.to_string();
            if ArxivId::parse(&shown).ok() != Some(id) {
                return Err(format!("{name}({text:?}) = {shown:?}, which does not read back as itself"));
            }
        }
    }
    Ok(())
}

fn email_seeds(_: &Path) -> Vec<Vec<u8>> {
    [
        "reader@example.org",
        "First.Last+papers@sub.example.co.uk",
        "\"quoted local\"@example.org",
        "user@[127.0.0.1]",
        "ünïcode@exämple.org",
        "a@b",
        "Victim@Example.ORG",
        "x@example.org\r\nBcc: y@example.org",
        "a..b@example.org",
        "@example.org",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

fn check_email_bytes(data: &[u8]) -> Result<(), String> {
    check_email(&String::from_utf8_lossy(data))
}

fn check_email(text: &str) -> Result<(), String> {
    if let Ok(address) = EmailAddress::parse(text) {
        let shown = address.as_str();
        if shown.chars().any(char::is_control) {
            return Err(format!("{text:?} is accepted with a control character"));
        }
        if EmailAddress::parse(shown).ok().as_ref() != Some(&address) {
            return Err(format!("{text:?} is accepted as {shown:?}, which does not read back as itself"));
        }
    }
    Ok(())
}

fn oai_seeds(root: &Path) -> Vec<Vec<u8>> {
    let data = root.join("crates/paperboy_arxiv/tests/data");
    ["oai-constructed", "oai-hepcrawl", "oai-inspire-next"].iter().flat_map(|d| files(&data.join(d))).collect()
}

fn check_oai(data: &[u8]) -> Result<(), String> {
    let _ = paperboy_arxiv::oai::parse_response(data, "fuzz");
    Ok(())
}

fn atom_seeds(root: &Path) -> Vec<Vec<u8>> {
    let data = root.join("crates/paperboy_arxiv/tests/data");
    let mut seeds = files(&data.join("api-2016"));
    // The 2026 recordings wrap each response's body in JSON.
    seeds.extend(files(&data.join("api-2026")).iter().filter_map(|raw| {
        let recorded: serde_json::Value = serde_json::from_slice(raw).ok()?;
        Some(recorded.get("body")?.as_str()?.as_bytes().to_vec())
    }));
    seeds
}

fn check_atom(data: &[u8]) -> Result<(), String> {
    let _ = paperboy_arxiv::api::parse_feed(data, "fuzz");
    Ok(())
}

fn hf_seeds(root: &Path) -> Vec<Vec<u8>> {
    let dir = root.join("crates/paperboy_arxiv/tests/data/hf-raw");
    let mut paths: Vec<_> = std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.path()).collect();
    paths.sort();
    let mut seeds: Vec<Vec<u8>> = paths.iter().map(|p| gz_lines(p).join("\n").into_bytes()).collect();
    seeds.extend(
        gz_lines(&root.join("data/sample/hf-daily/2026-06-10_2026-06-16.jsonl.gz"))
            .into_iter()
            .take(50)
            .map(String::into_bytes),
    );
    seeds
}

fn check_hf(data: &[u8]) -> Result<(), String> {
    let observed = Utc.with_ymd_and_hms(2026, 6, 16, 12, 0, 0).single().expect("a valid time");
    let _ = paperboy_arxiv::hf::parse(&String::from_utf8_lossy(data), "fuzz", observed);
    Ok(())
}

fn jsonl_seeds(root: &Path) -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = gz_lines(&root.join("data/sample/arxiv-cs/2026-06-16.jsonl.gz"))
        .into_iter()
        .take(200)
        .map(String::into_bytes)
        .collect();
    let kaggle =
        std::fs::read_to_string(root.join("crates/paperboy_arxiv/tests/data/kaggle-sample.jsonl")).unwrap_or_default();
    seeds.extend(kaggle.lines().map(|l| l.as_bytes().to_vec()));
    seeds
}

fn check_jsonl(data: &[u8]) -> Result<(), String> {
    let _ = paperboy_arxiv::jsonl::parse_line(&String::from_utf8_lossy(data));
    Ok(())
}

fn tex_seeds(root: &Path) -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = sample_records(root)
        .iter()
        .flat_map(|r| [field(r, "title").to_owned(), field(r, "abstract").to_owned()])
        .filter(|t| t.contains('$') || t.contains('\\'))
        .map(String::into_bytes)
        .collect();
    seeds.push(
        b"$\\frac{a}{b}^{2} + \\sqrt[3]{x_{i,j}}$ and $$\\begin{array}{cc} 1 & 2 \\\\ 3 & 4 \\end{array}$$".to_vec(),
    );
    seeds
}

/// The elements the renderer emits; an input cannot add any other.
const MATHML: &[&str] = &[
    "math",
    "mrow",
    "mi",
    "mo",
    "mn",
    "ms",
    "mtext",
    "mspace",
    "msup",
    "msub",
    "msubsup",
    "mfrac",
    "msqrt",
    "mroot",
    "mover",
    "munder",
    "munderover",
    "mtable",
    "mtr",
    "mtd",
    "mstyle",
    "mpadded",
    "mphantom",
    "menclose",
    "semantics",
    "annotation",
    "merror",
];

fn check_tex(data: &[u8]) -> Result<(), String> {
    // The renderer sees stored titles and abstracts, which the store limits.
    let text: String = String::from_utf8_lossy(data).chars().take(paperboy_domain::limits::ABSTRACT_CHARS).collect();
    for segment in paperboy_web::math::render(&text) {
        if let paperboy_web::math::Segment::Math(mathml) = segment {
            well_formed(&mathml).map_err(|e| format!("{e} in {mathml:?} from {text:?}"))?;
        }
    }
    let html = paperboy_web::math::to_html(&text);
    well_formed(&html).map_err(|e| format!("to_html: {e} from {text:?}"))?;
    let _ = paperboy_web::math::to_plain(&text);
    Ok(())
}

/// Tags balance, every element is MathML, and no attribute runs script.
fn well_formed(markup: &str) -> Result<(), String> {
    let mut open: Vec<&str> = Vec::new();
    let mut rest = markup;
    while let Some(start) = rest.find('<') {
        let Some(end) = rest[start..].find('>') else { return Err("a '<' never closed".into()) };
        let tag = &rest[start + 1..start + end];
        rest = &rest[start + end + 1..];
        let (closing, body) = match tag.strip_prefix('/') {
            Some(body) => (true, body),
            None => (false, tag),
        };
        let self_closing = body.ends_with('/');
        let name = body.trim_end_matches('/').split_whitespace().next().unwrap_or_default();
        if !MATHML.contains(&name) {
            return Err(format!("the element <{name}>"));
        }
        let attributes = body[name.len()..].to_ascii_lowercase();
        if attributes.contains("javascript:") || attributes.split_whitespace().any(|a| a.starts_with("on")) {
            return Err(format!("the attributes {attributes:?}"));
        }
        match (closing, self_closing) {
            (true, _) => {
                if open.pop() != Some(name) {
                    return Err(format!("</{name}> closes nothing open"));
                }
            }
            (false, true) => {}
            (false, false) => open.push(name),
        }
    }
    if open.is_empty() { Ok(()) } else { Err(format!("{open:?} never closed")) }
}

fn check_mail(data: &[u8]) -> Result<(), String> {
    // What a digest shows comes from stored papers, whose titles the store limits.
    let text: String = String::from_utf8_lossy(data).chars().take(paperboy_domain::limits::TITLE_CHARS).collect();
    let context = MailContext {
        from: "paperboy <digest@papers.example.org>".parse().expect("a valid mailbox"),
        base_url: "https://papers.example.org".into(),
        host: "papers.example.org".into(),
    };
    let item = DigestItem {
        id: "2606.14725".into(),
        title: text.clone(),
        authors: text.clone(),
        url: "https://papers.example.org/paper/2606.14725".into(),
        snippet: text.clone(),
        reasons: vec![text.clone()],
        not_interested_url: "https://papers.example.org/not-interested?token=x".into(),
    };
    let view = DigestView {
        date: NaiveDate::from_ymd_opt(2026, 6, 16).expect("a valid day"),
        cadence: "daily".into(),
        items: vec![item.clone()],
        trending: vec![item],
        preferences_url: "https://papers.example.org/manage?token=x".into(),
        unsubscribe_url: "https://papers.example.org/unsubscribe?token=x".into(),
        unsubscribe_mailto: None,
    };
    let to = EmailAddress::parse("reader@example.org").expect("a valid address");
    // Hostile text in what the message shows: it is built, and the text stays in the body.
    let message = digest_message(&context, &to, "<fuzz@papers.example.org>", &view)
        .map_err(|e| format!("a title or snippet stopped the digest ({e}): {text:?}"))?;
    headers_intact(&message.formatted(), true).map_err(|e| format!("{e} for {text:?}"))?;
    // Hostile text in what goes into headers (links, the mailto address, the message id): refused,
    // or carried without adding a header.
    let view = DigestView {
        unsubscribe_url: format!("https://papers.example.org/unsubscribe?token={text}"),
        unsubscribe_mailto: Some(format!("mailto:unsubscribe@papers.example.org?subject={text}")),
        ..view
    };
    if let Ok(message) = digest_message(&context, &to, &format!("<{text}@papers.example.org>"), &view) {
        headers_intact(&message.formatted(), false).map_err(|e| format!("{e} for {text:?} in the headers"))?;
    }
    Ok(())
}

/// The message parses (mail-parser), its headers are exactly the digest's, once each, it goes to
/// one recipient, and it has a plain and an HTML body.
fn headers_intact(bytes: &[u8], with_bodies: bool) -> Result<(), String> {
    let parsed = mail_parser::MessageParser::default().parse(bytes).ok_or("the message does not parse")?;
    let mut names: Vec<String> = parsed.headers().iter().map(|h| h.name().to_ascii_lowercase()).collect();
    names.sort();
    let expected = [
        "auto-submitted",
        "content-type",
        "date",
        "from",
        "list-id",
        "list-unsubscribe",
        "list-unsubscribe-post",
        "message-id",
        "mime-version",
        "subject",
        "to",
    ];
    if names.iter().any(|n| !expected.contains(&n.as_str())) || names.windows(2).any(|w| w[0] == w[1]) {
        return Err(format!("the headers became {names:?}"));
    }
    let recipients = parsed.to().map(|to| to.iter().count()).unwrap_or(0);
    if recipients != 1 || parsed.bcc().is_some() || parsed.cc().is_some() {
        return Err("the recipients changed".into());
    }
    if with_bodies && (parsed.body_text(0).is_none() || parsed.body_html(0).is_none()) {
        return Err("a body part is missing".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checks_catch_what_they_guard_against() {
        assert!(well_formed("<math><mi>x</mi><msup><mn>2</mn></msup></math>").is_ok());
        assert!(well_formed("<math><script>x</script></math>").is_err(), "a tag that is not MathML");
        assert!(well_formed("<math><mi onclick=\"x\">x</mi></math>").is_err(), "an event attribute");
        assert!(well_formed("<math><mi>x</math>").is_err(), "unbalanced");
        assert!(well_formed("<math").is_err());
        assert!(check_query("(+)-").is_ok(), "no words: may be empty");
        assert!(has_a_word("x") && has_a_word("-C NOT") && has_a_word("ti:robots"));
        assert!(!has_a_word("\"\"ti:\"\"") && !has_a_word("OR NOT --") && !has_a_word("(+)"));
        assert!(check_email("reader@example.org").is_ok());
    }
}
