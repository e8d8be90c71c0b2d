//! Citations of papers in the formats reference managers read.

use paperboy_domain::Paper;

/// A BibTeX entry for the paper, as arXiv's "Export BibTeX" gives.
pub fn bibtex(paper: &Paper) -> String {
    let year =
        paper.submitted.map(|d| d.format("%Y").to_string()).unwrap_or_else(|| paper.date().format("%Y").to_string());
    let key_author = paper
        .authors
        .first()
        .and_then(|a| a.split_whitespace().last())
        .map(|s| s.chars().filter(|c| c.is_alphanumeric()).collect::<String>().to_lowercase())
        .unwrap_or_else(|| "arxiv".into());
    let mut entry = format!(
        "@misc{{{key_author}{year}_{id},\n  title         = {{{title}}},\n  author        = {{{authors}}},\n  year          = {{{year}}},\n  eprint        = {{{id}}},\n  archivePrefix = {{arXiv}},\n",
        id = paper.id.to_string().replace('/', "_"),
        title = paper.title.replace(['{', '}'], ""),
        authors = paper.authors.join(" and ").replace(['{', '}'], ""),
    );
    if let Some(category) = paper.primary_category() {
        entry.push_str(&format!("  primaryClass  = {{{category}}},\n"));
    }
    if let Some(doi) = &paper.doi {
        entry.push_str(&format!("  doi           = {{{}}},\n", doi.replace(['{', '}'], "")));
    }
    entry.push_str(&format!("  url           = {{https://arxiv.org/abs/{}}}\n}}", paper.id));
    entry
}
