//! JSON Lines files of papers, plain or gzip: the Kaggle `arxiv-metadata-oai-snapshot.json` format
//! and the per-day format of the daily-listing crawls (`{"id","title","abstract","authors":[..],
//! "categories":[..],"announced","comment"}`). The format is recognised per line.

use std::{
    fs::File,
    io::{self, BufRead, BufReader, Read},
    path::{Path, PathBuf},
};

use chrono::NaiveDate;
use flate2::read::MultiGzDecoder;
use paperboy_domain::{ArxivId, Paper, Version, text};
use serde::Deserialize;

use crate::{Error, RecordError, oai};

/// The longest line read, in bytes: a record is a few kilobytes (the longest author lists reach
/// about 100 KB). A longer line is skipped with an error, without holding it in memory.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

/// Reads papers from one JSON Lines file, line by line; a bad line (malformed, not UTF-8, over
/// [`MAX_LINE_BYTES`]) is an `Err` item and reading goes on. An unreadable file (truncated gzip,
/// IO error) ends the iteration with one last `Err`.
pub struct JsonlReader {
    path: PathBuf,
    lines: Box<dyn BufRead + Send>,
    line_number: u64,
    buffer: Vec<u8>,
    finished: bool,
    bytes_read: CountingHandle,
}

/// What [`read_line_bounded`] found.
enum Line {
    /// The end of the input.
    End,
    /// A line (in the buffer, without its newline).
    Read,
    /// A line over the limit, skipped; its length in bytes.
    TooLong(u64),
}

/// Reads one line of at most `max` bytes into `buffer`; a longer one is read through and dropped.
fn read_line_bounded(reader: &mut dyn BufRead, buffer: &mut Vec<u8>, max: usize) -> io::Result<Line> {
    buffer.clear();
    let mut length: u64 = 0;
    let mut any = false;
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        if available.is_empty() {
            break;
        }
        any = true;
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(at) => (&available[..at], Some(at + 1)),
            None => (available, None),
        };
        length += chunk.len() as u64;
        if length <= max as u64 {
            buffer.extend_from_slice(chunk);
        }
        let consumed = done.unwrap_or(chunk.len());
        reader.consume(consumed);
        if done.is_some() {
            break;
        }
    }
    if !any {
        return Ok(Line::End);
    }
    if length > max as u64 {
        buffer.clear();
        return Ok(Line::TooLong(length));
    }
    Ok(Line::Read)
}

impl JsonlReader {
    /// Opens a file; gzip is recognised by its magic bytes, not its name.
    pub fn open(path: &Path) -> Result<JsonlReader, Error> {
        let file = File::open(path).map_err(|err| Error::Io { path: path.to_owned(), source: err })?;
        let counter = CountingHandle::default();
        let mut buffered = BufReader::with_capacity(256 * 1024, CountingReader { inner: file, count: counter.clone() });
        let head = buffered.fill_buf().map_err(|err| Error::Io { path: path.to_owned(), source: err })?;
        let lines: Box<dyn BufRead + Send> = if head.starts_with(&[0x1f, 0x8b]) {
            Box::new(BufReader::with_capacity(256 * 1024, MultiGzDecoder::new(buffered)))
        } else {
            Box::new(buffered)
        };
        Ok(JsonlReader {
            path: path.to_owned(),
            lines,
            line_number: 0,
            buffer: Vec::new(),
            finished: false,
            bytes_read: counter,
        })
    }

    /// How many bytes of the file (compressed, if it is) have been read so far: for progress bars.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read.get()
    }

    fn line_position(&self) -> String {
        format!("{}:{}", self.path.display(), self.line_number)
    }
}

impl Iterator for JsonlReader {
    type Item = Result<Paper, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.finished {
                return None;
            }
            self.line_number += 1;
            match read_line_bounded(&mut self.lines, &mut self.buffer, MAX_LINE_BYTES) {
                Ok(Line::End) => {
                    self.finished = true;
                    return None;
                }
                Ok(Line::TooLong(length)) => {
                    let reason = format!("the line is {length} bytes long (at most {MAX_LINE_BYTES}); skipped");
                    return Some(Err(RecordError::new(self.line_position(), reason)));
                }
                Ok(Line::Read) => {
                    let line = match std::str::from_utf8(&self.buffer) {
                        Ok(line) => line.trim(),
                        Err(err) => {
                            let reason =
                                format!("the line is not valid UTF-8 (at byte {}); skipped", err.valid_up_to());
                            return Some(Err(RecordError::new(self.line_position(), reason)));
                        }
                    };
                    if line.is_empty() {
                        continue;
                    }
                    return Some(parse_line(line).map_err(|reason| RecordError::new(self.line_position(), reason)));
                }
                Err(err) => {
                    self.finished = true;
                    let reason = match err.kind() {
                        io::ErrorKind::UnexpectedEof => "the file ends early (truncated gzip?)".to_owned(),
                        _ => format!("reading stopped: {err}"),
                    };
                    return Some(Err(RecordError { fatal: true, ..RecordError::new(self.line_position(), reason) }));
                }
            }
        }
    }
}

/// Parses one line in either format.
pub fn parse_line(line: &str) -> Result<Paper, String> {
    if !line.starts_with('{') {
        return Err("expected a JSON object per line".into());
    }
    let record: Record = serde_json::from_str(line).map_err(|err| format!("invalid JSON: {err}"))?;
    record.into_paper()
}

#[derive(Deserialize)]
struct Record {
    id: String,
    title: Option<String>,
    #[serde(rename = "abstract")]
    abstract_text: Option<String>,
    authors: Option<StringOrList>,
    authors_parsed: Option<Vec<Vec<String>>>,
    categories: Option<StringOrList>,
    #[serde(alias = "comment")]
    comments: Option<String>,
    #[serde(rename = "journal-ref")]
    journal_ref: Option<String>,
    doi: Option<String>,
    license: Option<String>,
    versions: Option<Vec<KaggleVersion>>,
    update_date: Option<String>,
    announced: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StringOrList {
    String(String),
    List(Vec<String>),
}

#[derive(Deserialize)]
struct KaggleVersion {
    version: String,
    created: Option<String>,
}

impl Record {
    fn into_paper(self) -> Result<Paper, String> {
        let id = ArxivId::parse(self.id.trim()).map_err(|e| e.to_string())?;
        let title = self.title.ok_or("missing field `title`")?;
        let mut paper = Paper::new(id, title);
        paper.abstract_text = self.abstract_text.unwrap_or_default();
        paper.authors = match (self.authors_parsed, self.authors) {
            (Some(parsed), _) if !parsed.is_empty() => parsed
                .iter()
                .map(|parts| {
                    // Kaggle's `[last, first, suffix]`.
                    let get = |i: usize| parts.get(i).map(|s| s.trim()).unwrap_or("");
                    let name =
                        [get(1), get(0), get(2)].into_iter().filter(|p| !p.is_empty()).collect::<Vec<_>>().join(" ");
                    text::decode_tex_accents(&name)
                })
                .collect(),
            (_, Some(StringOrList::List(names))) => names.iter().map(|n| text::decode_tex_accents(n)).collect(),
            (_, Some(StringOrList::String(list))) => oai::split_author_list(&list),
            (_, None) => Vec::new(),
        };
        paper.categories = match self.categories {
            Some(StringOrList::String(list)) => oai::parse_categories(&list)?,
            Some(StringOrList::List(list)) => oai::parse_category_tokens(list.iter().map(String::as_str))?,
            None => return Err("missing field `categories`".into()),
        };
        paper.comments = self.comments;
        paper.journal_ref = self.journal_ref;
        paper.doi = self.doi;
        paper.license = self.license;
        for version in self.versions.unwrap_or_default() {
            let number: u16 = version
                .version
                .strip_prefix('v')
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| format!("invalid version label {:?}", version.version))?;
            let submitted = version.created.as_deref().map(oai::parse_rfc2822).transpose()?;
            paper.versions.push(Version { number, submitted, size: None });
        }
        if let Some(announced) = self.announced {
            paper.announced = Some(parse_day(&announced, "announced")?);
        }
        if paper.versions.is_empty()
            && let Some(update) = self.update_date
        {
            let day = parse_day(&update, "update_date")?;
            paper.updated = Some(day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
        }
        paper.normalize().map_err(|e| e.to_string())
    }
}

fn parse_day(text: &str, field: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| format!("invalid {field} date {text:?} (expected YYYY-MM-DD)"))
}

#[derive(Clone, Default)]
struct CountingHandle(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl CountingHandle {
    fn get(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

struct CountingReader<R> {
    inner: R,
    count: CountingHandle,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.0.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use expect_test::expect;
    use flate2::{Compression, write::GzEncoder};

    use super::*;

    fn read_all(path: &Path) -> Vec<Result<Paper, RecordError>> {
        JsonlReader::open(path).unwrap().collect()
    }

    /// Each record's outcome, `ok ID` or the error with the folder written `DIR`.
    fn outcomes(path: &Path, dir: &Path) -> Vec<String> {
        read_all(path)
            .into_iter()
            .map(|r| match r {
                Ok(p) => format!("ok {}", p.id),
                Err(e) => e.to_string().replace(&dir.display().to_string(), "DIR"),
            })
            .collect()
    }

    #[test]
    fn kaggle_snapshot_sample_parses_completely() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/kaggle-sample.jsonl");
        let records = read_all(&path);
        assert_eq!(records.len(), 200);
        let papers: Vec<&Paper> = records.iter().map(|r| r.as_ref().unwrap()).collect();
        let first = papers[0];
        assert_eq!(first.id.to_string(), "0704.0001");
        assert_eq!(first.version, Some(2));
        assert_eq!(first.authors, ["C. Balázs", "E. L. Berger", "P. M. Nadolsky", "C. -P. Yuan"]);
        assert_eq!(
            first.title,
            "Calculation of prompt diphoton production cross sections at Tevatron and LHC energies"
        );
        assert_eq!(first.doi.as_deref(), Some("10.1103/PhysRevD.76.013009"));
        assert_eq!(first.submitted.unwrap().to_rfc3339(), "2007-04-02T19:18:42+00:00");
        assert!(papers.iter().all(|p| !p.categories.is_empty()));
    }

    #[test]
    fn daily_listing_format_parses() {
        let line = r#"{"id": "2606.14716", "title": "RAMS", "abstract": "Edge\n detection.", "authors": ["Kushal Khemani", "Evan Leri"], "categories": ["cs.CV", "cs.AI", "I.2.10"], "announced": "2026-06-16", "first_seen": "2026-06-16", "comment": null}"#;
        let paper = parse_line(line).unwrap();
        assert_eq!(paper.announced, NaiveDate::from_ymd_opt(2026, 6, 16));
        assert_eq!(paper.abstract_text, "Edge detection.");
        assert_eq!(paper.categories.iter().map(|c| c.as_str()).collect::<Vec<_>>(), ["cs.CV", "cs.AI"]);
        assert_eq!(paper.version, None);
    }

    #[test]
    fn bad_lines_are_reported_with_their_position_and_the_rest_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mixed.jsonl");
        std::fs::write(
            &path,
            [
                r#"{"id": "2401.00001", "title": "Good", "categories": ["cs.CL"]}"#,
                r#"{"id": "2401.00002", "title": "Truncated"#,
                r#"{"id": "2401.1", "title": "Bad id", "categories": ["cs.CL"]}"#,
                r#"{"id": "2401.00004", "title": "Bad date", "categories": ["cs.CL"], "announced": "2024-13-45"}"#,
                r#"{"id": "2401.00005", "categories": ["cs.CL"]}"#,
                r#"{"id": "2401.00006", "title": "No category", "categories": ["68T50"]}"#,
                r#"[1, 2, 3]"#,
                "",
                r#"{"id": "2401.00009", "title": "  ", "categories": "cs.CL"}"#,
                r#"{"id": "2401.00010", "title": "Also good", "categories": "cs.CL cs.LG"}"#,
            ]
            .join("\n"),
        )
        .unwrap();
        let lines = outcomes(&path, dir.path());
        expect![[r#"
            ok 2401.00001
            DIR/mixed.jsonl:2: invalid JSON: EOF while parsing a string at line 1 column 40
            DIR/mixed.jsonl:3: invalid arXiv id "2401.1": ids from 2015 on have five digits after the dot
            DIR/mixed.jsonl:4: invalid announced date "2024-13-45" (expected YYYY-MM-DD)
            DIR/mixed.jsonl:5: missing field `title`
            DIR/mixed.jsonl:6: no known arXiv category among ["68T50"]
            DIR/mixed.jsonl:7: expected a JSON object per line
            DIR/mixed.jsonl:9: the title is empty
            ok 2401.00010"#]]
        .assert_eq(&lines.join("\n"));
    }

    #[test]
    fn huge_and_non_utf8_lines_are_skipped_and_reading_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hostile.jsonl");
        let mut bytes = Vec::new();
        bytes.extend_from_slice(br#"{"id": "2401.00001", "title": "Before", "categories": ["cs.CL"]}"#);
        bytes.push(b'\n');
        bytes.extend(std::iter::repeat_n(b'x', 3 * MAX_LINE_BYTES));
        bytes.push(b'\n');
        bytes.extend_from_slice(b"{\"id\": \"2401.00003\", \"title\": \"Caf\xe9\", \"categories\": [\"cs.CL\"]}\n");
        bytes.extend_from_slice(br#"{"id": "2401.00004", "title": "After", "categories": ["cs.CL"]}"#);
        std::fs::write(&path, bytes).unwrap();
        let lines = outcomes(&path, dir.path());
        expect![[r#"
            ok 2401.00001
            DIR/hostile.jsonl:2: the line is 3145728 bytes long (at most 1048576); skipped
            DIR/hostile.jsonl:3: the line is not valid UTF-8 (at byte 34); skipped
            ok 2401.00004"#]]
        .assert_eq(&lines.join("\n"));
    }

    #[test]
    fn gzip_is_detected_and_truncation_reported() {
        let dir = tempfile::tempdir().unwrap();
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        for i in 1..=2000 {
            writeln!(
                encoder,
                r#"{{"id": "2401.{i:05}", "title": "Paper number {i} with some words", "categories": ["cs.CL"]}}"#
            )
            .unwrap();
        }
        let bytes = encoder.finish().unwrap();
        let whole = dir.path().join("day.jsonl.gz");
        std::fs::write(&whole, &bytes).unwrap();
        assert_eq!(read_all(&whole).iter().filter(|r| r.is_ok()).count(), 2000);

        let truncated = dir.path().join("truncated.jsonl.gz");
        std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
        let records = read_all(&truncated);
        let last = records.last().unwrap().as_ref().unwrap_err();
        assert!(last.fatal);
        assert!(last.reason.contains("truncated"), "{last}");
        assert!(records.iter().filter(|r| r.is_ok()).count() > 100);
    }

    #[test]
    fn missing_files_are_an_error() {
        assert!(matches!(JsonlReader::open(Path::new("/nonexistent/file.jsonl")), Err(Error::Io { .. })));
    }
}
