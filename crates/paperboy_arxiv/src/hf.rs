//! Hugging Face daily papers: the `GET /api/daily_papers?date=YYYY-MM-DD` response (a JSON array;
//! three schema eras seen since 2024), or JSON Lines of flattened records. Gives upvotes, comment
//! counts and linked GitHub repositories as [`Signals`], and the paper's arXiv metadata.
//!
//! Hugging Face's own generated text (`ai_summary`, `ai_keywords`) is ignored on purpose.

use std::{
    fs::File,
    io::{BufReader, Read},
    path::Path,
};

use chrono::{DateTime, NaiveDate, Utc};
use flate2::read::MultiGzDecoder;
use paperboy_domain::{ArxivId, Paper, Signals};
use serde::Deserialize;
use serde_json::Value;

use crate::{Error, RecordError};

/// The source name stored with these signals.
pub const SOURCE: &str = "huggingface";

/// One featured paper: its signals, and its metadata when the record carries a title.
#[derive(Debug, Clone)]
pub struct HfRecord {
    /// Upvotes, comments, GitHub repository and stars.
    pub signals: Signals,
    /// The paper as Hugging Face describes it (no categories): stored only when paperboy does not
    /// know the paper from arXiv yet.
    pub paper: Option<Paper>,
}

/// The largest file read (uncompressed), in bytes.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Reads a file (plain or gzip) holding one API response or JSON Lines of records. `observed_at`
/// is when the numbers were read, for files that do not say (the API response does not).
pub fn read_file(path: &Path, observed_at: DateTime<Utc>) -> Result<Vec<Result<HfRecord, RecordError>>, Error> {
    let file = File::open(path).map_err(|source| Error::Io { path: path.to_owned(), source })?;
    let too_big = || {
        Error::Malformed(format!(
            "{}: over {} MiB (a day of Hugging Face papers is well under one)",
            path.display(),
            MAX_FILE_BYTES >> 20
        ))
    };
    let mut raw = Vec::new();
    BufReader::new(file)
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut raw)
        .map_err(|source| Error::Io { path: path.to_owned(), source })?;
    if raw.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big());
    }
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        // Read at most the limit uncompressed, too: a small gzip bomb is no smaller a problem.
        let mut out = Vec::new();
        MultiGzDecoder::new(raw.as_slice()).take(MAX_FILE_BYTES + 1).read_to_end(&mut out).map_err(|err| {
            Error::Malformed(format!("{}: the gzip data is corrupt or truncated ({err})", path.display()))
        })?;
        if out.len() as u64 > MAX_FILE_BYTES {
            return Err(too_big());
        }
        out
    } else {
        raw
    };
    let text = String::from_utf8(bytes).map_err(|err| {
        Error::Malformed(format!("{}: not valid UTF-8 at byte {}", path.display(), err.utf8_error().valid_up_to()))
    })?;
    parse(&text, &path.display().to_string(), observed_at)
}

/// Parses the text of an API response (`[...]`, or `{"data": [...]}`) or of JSON Lines.
pub fn parse(text: &str, label: &str, observed_at: DateTime<Utc>) -> Result<Vec<Result<HfRecord, RecordError>>, Error> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') || (trimmed.starts_with('{') && !looks_like_json_lines(trimmed)) {
        let value: Value =
            serde_json::from_str(text).map_err(|err| Error::Malformed(format!("{label}: invalid JSON: {err}")))?;
        let items = match value {
            Value::Array(items) => items,
            Value::Object(mut object) => match object.remove("data") {
                Some(Value::Array(items)) => items,
                _ => {
                    return Err(Error::Malformed(format!("{label}: expected a JSON array of daily papers")));
                }
            },
            _ => {
                return Err(Error::Malformed(format!("{label}: expected a JSON array of daily papers")));
            }
        };
        Ok(items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                api_item(item, observed_at)
                    .map_err(|reason| RecordError::new(format!("{label}, item {}", i + 1), reason))
            })
            .collect())
    } else {
        Ok(text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(i, line)| {
                flat_record(line, observed_at).map_err(|reason| RecordError::new(format!("{label}:{}", i + 1), reason))
            })
            .collect())
    }
}

fn looks_like_json_lines(text: &str) -> bool {
    // A JSON Lines file has a complete object on its first line.
    let first = text.lines().next().unwrap_or("");
    serde_json::from_str::<Value>(first).is_ok() && text.lines().nth(1).is_some_and(|l| l.trim_start().starts_with('{'))
}

/// One item of the API response. The paper's fields sit under `paper`; the list date is
/// `paper.submittedOnDailyAt` (2025 on) or the item's `publishedAt` (2024).
fn api_item(item: Value, observed_at: DateTime<Utc>) -> Result<HfRecord, String> {
    let paper = item.get("paper").ok_or("the item has no `paper`")?;
    let id_text = paper.get("id").and_then(Value::as_str).ok_or("the item has no `paper.id`")?;
    let id = ArxivId::parse(id_text).map_err(|e| e.to_string())?;
    let day = paper
        .get("submittedOnDailyAt")
        .or_else(|| item.get("publishedAt"))
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|d| d.date_naive());
    let signals = Signals {
        id,
        source: SOURCE.to_owned(),
        upvotes: count(paper.get("upvotes")),
        comments: count(item.get("numComments")),
        github_repo: github_repo(paper.get("githubRepo")),
        github_stars: paper.get("githubStars").and_then(Value::as_u64).map(|n| n.min(u32::MAX as u64) as u32),
        featured_on: day,
        observed_at,
    };
    let title = paper.get("title").and_then(Value::as_str);
    let metadata = title.map(|title| {
        let mut metadata = Paper::new(id, title);
        metadata.abstract_text = paper.get("summary").and_then(Value::as_str).unwrap_or_default().to_owned();
        metadata.authors = paper
            .get("authors")
            .and_then(Value::as_array)
            .map(|authors| {
                authors
                    .iter()
                    .filter(|a| a.get("hidden").and_then(Value::as_bool) != Some(true))
                    .filter_map(|a| a.get("name").and_then(Value::as_str).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        metadata.submitted = paper
            .get("publishedAt")
            .and_then(Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|d| d.with_timezone(&Utc));
        metadata
    });
    Ok(HfRecord { signals, paper: metadata.map(Paper::normalize).transpose().map_err(|e| e.to_string())? })
}

/// A flattened record, one per line: `{"id","title","abstract","authors":[..],"published",
/// "hf_date","upvotes","num_comments","upvotes_observed_by","github_repo","github_stars"}`.
#[derive(Deserialize)]
struct FlatRecord {
    id: String,
    title: Option<String>,
    #[serde(rename = "abstract")]
    abstract_text: Option<String>,
    #[serde(default)]
    authors: Vec<String>,
    published: Option<String>,
    hf_date: Option<String>,
    upvotes: Option<u64>,
    num_comments: Option<u64>,
    upvotes_observed_by: Option<String>,
    github_repo: Option<String>,
    github_stars: Option<u64>,
}

fn flat_record(line: &str, observed_at: DateTime<Utc>) -> Result<HfRecord, String> {
    let record: FlatRecord = serde_json::from_str(line).map_err(|err| format!("invalid JSON: {err}"))?;
    let id = ArxivId::parse(record.id.trim()).map_err(|e| e.to_string())?;
    let featured_on = record
        .hf_date
        .as_deref()
        .map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| format!("invalid hf_date {d:?}")))
        .transpose()?;
    let observed = record
        .upvotes_observed_by
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or(observed_at);
    let signals = Signals {
        id,
        source: SOURCE.to_owned(),
        upvotes: record.upvotes.unwrap_or(0).min(u32::MAX as u64) as u32,
        comments: record.num_comments.unwrap_or(0).min(u32::MAX as u64) as u32,
        github_repo: github_repo(record.github_repo.map(Value::String).as_ref()),
        github_stars: record.github_stars.map(|n| n.min(u32::MAX as u64) as u32),
        featured_on,
        observed_at: observed,
    };
    let paper = match record.title {
        Some(title) => {
            let mut paper = Paper::new(id, title);
            paper.abstract_text = record.abstract_text.unwrap_or_default();
            paper.authors = record.authors;
            paper.submitted = record
                .published
                .as_deref()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|d| d.with_timezone(&Utc));
            Some(paper.normalize().map_err(|e| e.to_string())?)
        }
        None => None,
    };
    Ok(HfRecord { signals, paper })
}

fn count(value: Option<&Value>) -> u32 {
    value.and_then(Value::as_u64).unwrap_or(0).min(u32::MAX as u64) as u32
}

/// Only `https://github.com/...` links are kept: the value ends up in an `href`.
fn github_repo(value: Option<&Value>) -> Option<String> {
    let url = value?.as_str()?.trim();
    let valid = url.starts_with("https://github.com/")
        && url.len() < 300
        && url["https://github.com/".len()..].chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
    valid.then(|| url.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> Vec<HfRecord> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/hf-raw").join(name);
        read_file(&path, Utc::now()).unwrap().into_iter().map(Result::unwrap).collect()
    }

    #[test]
    fn all_three_schema_eras_parse() {
        let era_2024 = sample("2024-05-27.json.gz");
        assert_eq!(era_2024.len(), 13);
        assert_eq!(era_2024[0].signals.id.to_string(), "2405.15738");
        assert_eq!(era_2024[0].signals.upvotes, 32);
        assert_eq!(era_2024[0].signals.comments, 3);
        assert_eq!(era_2024[0].signals.featured_on, NaiveDate::from_ymd_opt(2024, 5, 27));

        let era_2025 = sample("2025-06-10.json.gz");
        assert_eq!(era_2025.len(), 28);
        assert_eq!(era_2025[0].signals.upvotes, 97);
        assert_eq!(era_2025[0].paper.as_ref().unwrap().title, "Reinforcement Pre-Training");

        let era_2026 = sample("2026-08-07.json.gz");
        let first = &era_2026[0];
        assert_eq!(first.signals.github_repo.as_deref(), Some("https://github.com/ZethWang/AgentOPSD"));
        assert_eq!(first.signals.github_stars, Some(2));
        assert_eq!(first.paper.as_ref().unwrap().authors.len(), 13);
    }

    #[test]
    fn flat_json_lines_parse() {
        let text = r#"{"id": "2606.17006", "title": "T", "abstract": "A", "authors": ["Y. Kim"], "published": "2026-06-15T00:00:00.000Z", "hf_date": "2026-06-16", "upvotes": 4, "num_comments": 1, "upvotes_observed_by": "2026-06-16T12:29:15Z", "github_repo": "javascript:alert(1)", "github_stars": 0, "ai_summary": "ignored"}
{"id": "bad"}"#;
        let records = parse(text, "f", Utc::now()).unwrap();
        let first = records[0].as_ref().unwrap();
        assert_eq!(first.signals.upvotes, 4);
        assert_eq!(first.signals.github_repo, None, "non-GitHub links are dropped");
        assert!(records[1].is_err());
    }

    #[test]
    fn malformed_responses_are_errors() {
        assert!(parse("{\"error\": \"rate limited\"}", "f", Utc::now()).is_err());
        assert!(parse("[{\"nopaper\": 1}]", "f", Utc::now()).unwrap()[0].is_err());
        assert!(parse("[1, 2", "f", Utc::now()).is_err());
    }

    #[test]
    fn files_over_the_limit_are_refused_plain_or_as_a_gzip_bomb() {
        use std::io::Write as _;
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("huge.json");
        let file = std::fs::File::create(&plain).unwrap();
        file.set_len(MAX_FILE_BYTES + 10).unwrap();
        let err = read_file(&plain, Utc::now()).unwrap_err().to_string();
        assert!(err.contains("over 64 MiB"), "{err}");
        let bomb = dir.path().join("bomb.json.gz");
        let mut encoder = flate2::write::GzEncoder::new(std::fs::File::create(&bomb).unwrap(), Default::default());
        let zeros = vec![b' '; 1 << 20];
        for _ in 0..(MAX_FILE_BYTES >> 20) + 2 {
            encoder.write_all(&zeros).unwrap();
        }
        encoder.finish().unwrap();
        assert!(std::fs::metadata(&bomb).unwrap().len() < 1 << 20, "the bomb is small");
        let err = read_file(&bomb, Utc::now()).unwrap_err().to_string();
        assert!(err.contains("over 64 MiB"), "{err}");
    }
}
