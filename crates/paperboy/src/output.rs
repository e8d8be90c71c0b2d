//! Text output for people (JSON output is serde's).

use std::fmt::Write as _;

use paperboy_app::{EmbedSummary, PaperDetails, SearchHit, SearchPage, ingest::IngestSummary};
use paperboy_domain::Paper;

/// Prints a value as pretty JSON on standard output.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// `1234567` -> `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

pub fn ingest_summary(summary: &IngestSummary) -> String {
    let mut out = String::new();
    if let Some(resumed) = &summary.resumed {
        let _ = writeln!(out, "{resumed}");
    }
    let _ = write!(
        out,
        "read {} records in {:.1} s ({} records/s)",
        thousands(summary.read),
        summary.elapsed_s,
        thousands(summary.records_per_second() as u64)
    );
    if summary.pages > 0 {
        let _ = write!(out, " from {} pages", summary.pages);
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "  new {} · updated {} · unchanged {} · skipped {}",
        thousands(summary.new),
        thousands(summary.updated),
        thousands(summary.unchanged),
        thousands(summary.skipped)
    );
    if summary.signals_new + summary.signals_updated + summary.signals_unchanged > 0 {
        let _ = writeln!(
            out,
            "  signals: new {} · updated {} · unchanged {}",
            thousands(summary.signals_new),
            thousands(summary.signals_updated),
            thousands(summary.signals_unchanged)
        );
    }
    if summary.deleted > 0 {
        let _ = writeln!(out, "  {} records reported deleted by the repository", summary.deleted);
    }
    if !summary.skipped_records.is_empty() {
        let _ = writeln!(out, "skipped:");
        for skipped in summary.skipped_records.iter().take(20) {
            let _ = writeln!(out, "  {skipped}");
        }
        let unlisted = summary.skipped - summary.skipped_records.len().min(20) as u64;
        if unlisted > 0 {
            let _ = writeln!(out, "  ... and {unlisted} more (--json lists the first 100)");
        }
    }
    for failed in &summary.failed_files {
        let _ = writeln!(out, "failed: {failed}");
    }
    out
}

pub fn embed_summary(summary: &EmbedSummary) -> String {
    let mut out = format!(
        "embedded {} papers with {} ({:.1} papers/s); {} unchanged; {} vectors in all",
        thousands(summary.embedded),
        summary.model,
        summary.papers_per_second,
        thousands(summary.unchanged),
        thousands(summary.vectors)
    );
    if let Some(note) = &summary.note {
        out.push_str(&format!(" ({note})"));
    }
    out
}

pub fn similar(id: &str, hits: &[SearchHit]) -> String {
    let mut out = format!("papers similar to {}\n", id.trim());
    for (i, hit) in hits.iter().enumerate() {
        let paper = &hit.paper;
        let _ = writeln!(out, "{:>3}. {}  {}  ({:.3})", i + 1, paper.id, paper.title, hit.score);
        let _ = writeln!(out, "     {} · {}", authors_short(paper), paper.date());
    }
    out
}

fn authors_short(paper: &Paper) -> String {
    match paper.authors.len() {
        0 => String::new(),
        1..=3 => paper.authors.join(", "),
        _ => format!("{} et al.", paper.authors[..2].join(", ")),
    }
}

pub fn search_page(query: &str, page: &SearchPage, offset: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} results for '{}' ({}, {:.1} ms)", thousands(page.total), query, page.mode, page.took_ms);
    for (i, hit) in page.hits.iter().enumerate() {
        let paper = &hit.paper;
        let categories = paper.categories.iter().take(3).map(|c| c.as_str()).collect::<Vec<_>>().join(" ");
        let _ =
            writeln!(out, "{:>3}. {}{}  {}", offset + i + 1, paper.id, if hit.pinned { " *" } else { "" }, paper.title);
        let _ = writeln!(out, "     {} · {} · {}", authors_short(paper), categories, paper.date());
        for (label, line) in hit.why() {
            let _ = writeln!(out, "     {:<8} {line}", format!("{label}:"));
        }
    }
    if page.hits.is_empty() {
        let _ = writeln!(out, "no papers match; try fewer words, or drop filters");
    }
    out
}

pub fn paper_details(details: &PaperDetails) -> String {
    let paper = &details.stored.paper;
    let mut out = String::new();
    let _ = writeln!(out, "{}", paper.title);
    let _ = writeln!(out, "{}", paper.versioned_id());
    let _ = writeln!(out);
    let _ = writeln!(out, "Authors:    {}", paper.authors.join(", "));
    let categories: Vec<String> = paper.categories.iter().map(|c| format!("{} ({})", c, c.name())).collect();
    if !categories.is_empty() {
        let _ = writeln!(out, "Categories: {}", categories.join(", "));
    }
    if let Some(announced) = paper.announced {
        let _ = writeln!(out, "Announced:  {announced}");
    }
    if let Some(submitted) = paper.submitted {
        let _ = writeln!(out, "Submitted:  {}", submitted.format("%Y-%m-%d %H:%M UTC"));
    }
    for version in &paper.versions {
        let date = version.submitted.map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_else(|| "date unknown".into());
        let size = version.size.as_deref().map(|s| format!(" ({s})")).unwrap_or_default();
        let _ = writeln!(out, "  v{}: {date}{size}", version.number);
    }
    for (label, value) in [
        ("Comments:", &paper.comments),
        ("Journal:", &paper.journal_ref),
        ("DOI:", &paper.doi),
        ("Licence:", &paper.license),
    ] {
        if let Some(value) = value {
            let _ = writeln!(out, "{label:<11} {value}");
        }
    }
    for signals in &details.signals {
        let _ = write!(out, "{}: {} upvotes, {} comments", signals.source, signals.upvotes, signals.comments);
        if let Some(repo) = &signals.github_repo {
            let _ = write!(out, ", code {repo}");
            if let Some(stars) = signals.github_stars {
                let _ = write!(out, " ({stars} stars)");
            }
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "Abstract:   https://arxiv.org/abs/{}", paper.versioned_id());
    let _ = writeln!(out, "PDF:        https://arxiv.org/pdf/{}", paper.versioned_id());
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", wrap(&paper.abstract_text, 96));
    out
}

fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line_len = 0;
    for word in text.split_whitespace() {
        let len = word.chars().count();
        if line_len > 0 && line_len + 1 + len > width {
            out.push('\n');
            line_len = 0;
        } else if line_len > 0 {
            out.push(' ');
            line_len += 1;
        }
        out.push_str(word);
        line_len += len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(71990), "71,990");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn wrapping_keeps_words_whole() {
        assert_eq!(wrap("aaa bbb ccc", 7), "aaa bbb\nccc");
    }
}
