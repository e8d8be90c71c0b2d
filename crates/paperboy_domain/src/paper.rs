//! A paper's metadata as paperboy keeps it, and the community signals attached to it.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::{ArxivId, Category, text};

/// Upper bounds that keep one hostile or broken record from bloating the store and the index.
pub mod limits {
    /// Longest title kept, in characters.
    pub const TITLE_CHARS: usize = 2_000;
    /// Longest abstract kept, in characters (arXiv's own limit is 1,920).
    pub const ABSTRACT_CHARS: usize = 20_000;
    /// Most authors kept (collaboration papers list thousands; the rest are dropped).
    pub const AUTHORS: usize = 2_000;
    /// Longest free-text field (comments, journal-ref, ...), in characters.
    pub const FIELD_CHARS: usize = 4_000;
}

/// One paper: the newest version's metadata plus the dates of every version seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Paper {
    /// The paper's id, without a version.
    pub id: ArxivId,
    /// The newest version seen, when the source says (the daily listings do not).
    pub version: Option<u16>,
    /// Every version seen, sorted by number.
    pub versions: Vec<Version>,
    /// The title, whitespace collapsed; may hold TeX (`$\alpha$`). Untrusted text.
    pub title: String,
    /// The abstract, whitespace collapsed; may hold TeX. Untrusted text.
    #[serde(rename = "abstract")]
    pub abstract_text: String,
    /// Author names in order, "First Last".
    pub authors: Vec<String>,
    /// Categories, the primary first. Empty only for papers known from a source without
    /// categories (Hugging Face daily papers).
    pub categories: Vec<Category>,
    /// When the first version was submitted.
    pub submitted: Option<DateTime<Utc>>,
    /// When the newest version was submitted.
    pub updated: Option<DateTime<Utc>>,
    /// The day arXiv first announced the paper in its listings.
    pub announced: Option<NaiveDate>,
    /// The authors' comments ("12 pages, 4 figures").
    pub comments: Option<String>,
    /// The journal reference, once published.
    pub journal_ref: Option<String>,
    /// The DOI of the published version.
    pub doi: Option<String>,
    /// The licence URL.
    pub license: Option<String>,
}

/// One version of a paper.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    /// 1 for `v1`.
    pub number: u16,
    /// When this version was submitted, when known.
    pub submitted: Option<DateTime<Utc>>,
    /// The size arXiv reports ("424kb"), when known.
    pub size: Option<String>,
}

/// Why a record cannot become a [`Paper`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaperError {
    /// The title is empty after whitespace is collapsed.
    #[error("the title is empty")]
    EmptyTitle,
    /// A field is longer than paperboy keeps.
    #[error("the {field} is too long ({chars} characters, at most {max})")]
    TooLong {
        /// Which field.
        field: &'static str,
        /// How long it is.
        chars: usize,
        /// The limit.
        max: usize,
    },
}

impl Paper {
    /// A paper with the given id and title and nothing else known yet; sources fill in the rest
    /// and then call [`Paper::normalize`].
    pub fn new(id: ArxivId, title: impl Into<String>) -> Paper {
        Paper {
            id: id.base(),
            version: id.version(),
            versions: Vec::new(),
            title: title.into(),
            abstract_text: String::new(),
            authors: Vec::new(),
            categories: Vec::new(),
            submitted: None,
            updated: None,
            announced: None,
            comments: None,
            journal_ref: None,
            doi: None,
            license: None,
        }
    }

    /// Brings a record from any source to paperboy's canonical form: whitespace collapsed, empty
    /// optional fields as `None`, duplicate categories and authors dropped, versions sorted and
    /// `version` at least the newest of them, dates consistent with the versions. Fails when the
    /// record is unusable (no title) or hostile (fields beyond [`limits`]).
    pub fn normalize(mut self) -> Result<Paper, PaperError> {
        self.id = self.id.base();
        self.title = text::collapse_whitespace(&self.title);
        if self.title.is_empty() {
            return Err(PaperError::EmptyTitle);
        }
        check_len("title", &self.title, limits::TITLE_CHARS)?;
        self.abstract_text = text::collapse_whitespace(&self.abstract_text);
        check_len("abstract", &self.abstract_text, limits::ABSTRACT_CHARS)?;

        let mut authors = Vec::with_capacity(self.authors.len());
        for author in &self.authors {
            let author = truncate_name(text::collapse_whitespace(author));
            if !author.is_empty() && !authors.contains(&author) {
                authors.push(author);
            }
            if authors.len() == limits::AUTHORS {
                break;
            }
        }
        self.authors = authors;

        let mut categories = Vec::with_capacity(self.categories.len());
        for category in &self.categories {
            if !categories.contains(category) {
                categories.push(*category);
            }
        }
        self.categories = categories;

        for field in [&mut self.comments, &mut self.journal_ref, &mut self.doi, &mut self.license] {
            if let Some(value) = field.take() {
                let value = text::collapse_whitespace(&value);
                if !value.is_empty() {
                    check_len("comments, journal-ref, DOI or licence", &value, limits::FIELD_CHARS)?;
                    *field = Some(value);
                }
            }
        }

        self.versions.sort_by_key(|v| v.number);
        self.versions.dedup_by(|later, earlier| {
            // Keep the entry with the most information for each number.
            if later.number == earlier.number {
                earlier.submitted = earlier.submitted.or(later.submitted);
                earlier.size = earlier.size.take().or(later.size.take());
                true
            } else {
                false
            }
        });
        if let Some(newest) = self.versions.last() {
            self.version = Some(self.version.map_or(newest.number, |v| v.max(newest.number)));
        }
        if let Some(first) = self.versions.iter().find(|v| v.number == 1).and_then(|v| v.submitted) {
            self.submitted = Some(first);
        }
        if let Some(newest) = self.versions.last().and_then(|v| v.submitted) {
            self.updated = Some(self.updated.map_or(newest, |u| u.max(newest)));
        }
        Ok(self)
    }

    /// The primary category, when known.
    pub fn primary_category(&self) -> Option<Category> {
        self.categories.first().copied()
    }

    /// The day a reader would file this paper under: the announcement day, else the submission
    /// day, else the first day of the month its id encodes.
    pub fn date(&self) -> NaiveDate {
        self.announced.or_else(|| self.submitted.map(|s| s.date_naive())).unwrap_or_else(|| {
            let (year, month) = self.id.year_month();
            NaiveDate::from_ymd_opt(year.into(), month.into(), 1).expect("a valid id has a valid month")
        })
    }

    /// The id with the newest known version (`2401.01234v2`), or the bare id.
    pub fn versioned_id(&self) -> ArxivId {
        match self.version {
            Some(version) => self.id.with_version(version),
            None => self.id,
        }
    }

    /// Merges what is already stored about this paper into a newer record of it: the announcement
    /// day is the earliest seen, versions are the union, fields the newer record lacks are kept.
    pub fn merge_older(&mut self, older: &Paper) {
        self.announced = match (self.announced, older.announced) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        for version in &older.versions {
            if let Some(mine) = self.versions.iter_mut().find(|v| v.number == version.number) {
                mine.submitted = mine.submitted.or(version.submitted);
                mine.size = mine.size.take().or_else(|| version.size.clone());
            } else {
                self.versions.push(version.clone());
            }
        }
        self.versions.sort_by_key(|v| v.number);
        if self.categories.is_empty() {
            self.categories = older.categories.clone();
        }
        if self.abstract_text.is_empty() {
            self.abstract_text = older.abstract_text.clone();
        }
        if self.authors.is_empty() {
            self.authors = older.authors.clone();
        }
        self.submitted = self.submitted.or(older.submitted);
        self.updated = match (self.updated, older.updated) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.version = match (self.version, older.version) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        for (mine, theirs) in [
            (&mut self.comments, &older.comments),
            (&mut self.journal_ref, &older.journal_ref),
            (&mut self.doi, &older.doi),
            (&mut self.license, &older.license),
        ] {
            if mine.is_none() {
                mine.clone_from(theirs);
            }
        }
    }
}

/// Longest author name kept, in characters. Real listings hold "names" that are a whole author
/// list run together; those are cut at a word boundary rather than losing the paper.
const AUTHOR_NAME_CHARS: usize = 300;

fn truncate_name(name: String) -> String {
    if name.len() <= AUTHOR_NAME_CHARS {
        return name;
    }
    let Some((cut, _)) = name.char_indices().nth(AUTHOR_NAME_CHARS) else { return name };
    let head = &name[..cut];
    let head = head.rfind(' ').map_or(head, |space| &head[..space]);
    format!("{head}…")
}

fn check_len(field: &'static str, value: &str, max: usize) -> Result<(), PaperError> {
    // Byte length bounds character count from above: only count when it might be over.
    if value.len() > max {
        let chars = value.chars().count();
        if chars > max {
            return Err(PaperError::TooLong { field, chars, max });
        }
    }
    Ok(())
}

/// Community signals for a paper from one source (Hugging Face daily papers, local upvotes, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signals {
    /// The paper.
    pub id: ArxivId,
    /// Where the numbers come from, e.g. `huggingface`.
    pub source: String,
    /// Upvotes at `observed_at`.
    pub upvotes: u32,
    /// Comments at `observed_at`.
    pub comments: u32,
    /// The code repository, when one is linked.
    pub github_repo: Option<String>,
    /// The repository's stars at `observed_at`.
    pub github_stars: Option<u32>,
    /// The day the paper was featured by the source (Hugging Face's daily list date).
    pub featured_on: Option<NaiveDate>,
    /// When the numbers were read.
    pub observed_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> ArxivId {
        ArxivId::parse(text).unwrap()
    }

    #[test]
    fn normalize_collapses_whitespace_and_orders_versions() {
        let mut paper = Paper::new(id("0704.0001v2"), "  Calculation of prompt\n  diphoton production ");
        paper.abstract_text = "  A fully\ndifferential   calculation.\n".into();
        paper.authors = vec!["C. Balázs".into(), " C. Balázs ".into(), "".into(), "E. Berger".into()];
        paper.categories = vec![Category::parse("hep-ph").unwrap(), Category::parse("hep-ph").unwrap()];
        paper.comments = Some("   ".into());
        paper.versions = vec![
            Version { number: 2, submitted: None, size: None },
            Version { number: 1, submitted: None, size: Some("424kb".into()) },
        ];
        let paper = paper.normalize().unwrap();
        assert_eq!(paper.id.to_string(), "0704.0001");
        assert_eq!(paper.version, Some(2));
        assert_eq!(paper.title, "Calculation of prompt diphoton production");
        assert_eq!(paper.abstract_text, "A fully differential calculation.");
        assert_eq!(paper.authors, ["C. Balázs", "E. Berger"]);
        assert_eq!(paper.categories.len(), 1);
        assert_eq!(paper.comments, None);
        assert_eq!(paper.versions.iter().map(|v| v.number).collect::<Vec<_>>(), [1, 2]);
    }

    #[test]
    fn overlong_author_names_are_cut_not_fatal() {
        let mut paper = Paper::new(id("2506.00001"), "t");
        paper.authors = vec!["Xiangyu Kongand Xiaoxia Xingand ".repeat(20), "Ada Lovelace".into()];
        let paper = paper.normalize().unwrap();
        assert!(paper.authors[0].chars().count() <= AUTHOR_NAME_CHARS + 1);
        assert!(paper.authors[0].ends_with('…'));
        assert_eq!(paper.authors[1], "Ada Lovelace");
    }

    #[test]
    fn normalize_rejects_empty_titles_and_huge_fields() {
        assert_eq!(Paper::new(id("2401.01234"), " \n ").normalize(), Err(PaperError::EmptyTitle));
        let mut paper = Paper::new(id("2401.01234"), "t");
        paper.abstract_text = "x".repeat(limits::ABSTRACT_CHARS + 1);
        assert!(matches!(paper.normalize(), Err(PaperError::TooLong { field: "abstract", .. })));
    }

    #[test]
    fn merge_keeps_the_earliest_announcement_and_all_versions() {
        let mut older = Paper::new(id("2401.01234"), "Old title");
        older.announced = NaiveDate::from_ymd_opt(2024, 1, 3);
        older.versions = vec![Version { number: 1, submitted: None, size: Some("1kb".into()) }];
        older.doi = Some("10.1/x".into());
        let mut newer = Paper::new(id("2401.01234v2"), "New title");
        newer.versions = vec![Version { number: 2, submitted: None, size: None }];
        newer.merge_older(&older);
        assert_eq!(newer.title, "New title");
        assert_eq!(newer.announced, NaiveDate::from_ymd_opt(2024, 1, 3));
        assert_eq!(newer.versions.len(), 2);
        assert_eq!(newer.doi.as_deref(), Some("10.1/x"));
        assert_eq!(newer.version, Some(2));
    }

    #[test]
    fn date_falls_back_to_the_id_month() {
        let paper = Paper::new(id("hep-th/9901001"), "t");
        assert_eq!(paper.date(), NaiveDate::from_ymd_opt(1999, 1, 1).unwrap());
    }
}
