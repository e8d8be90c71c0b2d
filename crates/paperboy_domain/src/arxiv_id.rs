//! arXiv identifiers, new style (`2401.01234v2`, `0704.0001`) and old style (`hep-th/9901001v3`).

use std::{cmp::Ordering, fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::category;

/// A valid arXiv identifier, with or without a version.
///
/// New-style ids (April 2007 on) are `YYMM.NNNN` up to 2014 and `YYMM.NNNNN` from 2015; old-style ids
/// are `archive/YYMMNNN` (1991 to March 2007). Ordering is chronological: old style before new style,
/// then by month and number, then by version (no version first).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArxivId {
    scheme: Scheme,
    version: Option<u16>,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Scheme {
    /// `archive/YYMMNNN`; the archive is one of the taxonomy's, so it can be `'static`.
    Old { archive: &'static str, year: u16, month: u8, number: u16 },
    /// `YYMM.NNNN(N)`.
    New { year: u16, month: u8, number: u32 },
}

/// Why a string is not an arXiv id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid arXiv id {input:?}: {reason}")]
pub struct ArxivIdError {
    /// The text that failed to parse (truncated when long).
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl ArxivId {
    /// Parses an id exactly as arXiv writes it: `2401.01234`, `2401.01234v2`, `0704.0001`,
    /// `hep-th/9901001v3` (an old-style subject class, `math.GT/0309136`, is accepted and dropped).
    pub fn parse(text: &str) -> Result<ArxivId, ArxivIdError> {
        let error = |reason| ArxivIdError { input: truncate(text, 64), reason };
        if text.is_empty() {
            return Err(error("empty"));
        }
        if text.len() > 48 {
            return Err(error("too long"));
        }
        let (base, version) = split_version(text).map_err(error)?;
        let scheme = match base.split_once('/') {
            Some((archive, digits)) => parse_old(archive, digits).map_err(error)?,
            None => parse_new(base).map_err(error)?,
        };
        Ok(ArxivId { scheme, version })
    }

    /// Parses an id as people paste it: also accepts `arXiv:2401.01234`, `oai:arXiv.org:2401.01234`
    /// and `https://arxiv.org/abs/2401.01234` (or `/pdf/...`), with surrounding whitespace.
    pub fn parse_lenient(text: &str) -> Result<ArxivId, ArxivIdError> {
        let mut rest = text.trim();
        for prefix in ["https://", "http://"] {
            if let Some(stripped) = strip_prefix_ignore_case(rest, prefix) {
                rest = stripped;
            }
        }
        for prefix in ["www.", "export."] {
            if let Some(stripped) = strip_prefix_ignore_case(rest, prefix) {
                rest = stripped;
            }
        }
        for prefix in ["arxiv.org/abs/", "arxiv.org/pdf/", "oai:arxiv.org:", "arxiv:"] {
            if let Some(stripped) = strip_prefix_ignore_case(rest, prefix) {
                rest = stripped;
                break;
            }
        }
        let rest = rest.strip_suffix(".pdf").unwrap_or(rest);
        ArxivId::parse(rest).map_err(|err| ArxivIdError { input: truncate(text, 64), ..err })
    }

    /// The version, when the id names one (`v2` in `2401.01234v2`).
    pub fn version(&self) -> Option<u16> {
        self.version
    }

    /// The same paper without a version: the key papers are stored under.
    pub fn base(&self) -> ArxivId {
        ArxivId { version: None, ..*self }
    }

    /// The same paper at the given version.
    pub fn with_version(&self, version: u16) -> ArxivId {
        ArxivId { version: Some(version), ..*self }
    }

    /// Whether this is an old-style (`archive/YYMMNNN`) id.
    pub fn is_old_style(&self) -> bool {
        matches!(self.scheme, Scheme::Old { .. })
    }

    /// The year and month of submission that the id encodes.
    pub fn year_month(&self) -> (u16, u8) {
        match self.scheme {
            Scheme::Old { year, month, .. } | Scheme::New { year, month, .. } => (year, month),
        }
    }

    /// A number that grows with submission order (month, then number): a compact tie-breaker for
    /// "newest first". Old-style ids of different archives can share one.
    pub fn ordinal(&self) -> u32 {
        match self.scheme {
            Scheme::Old { year, month, number, .. } => {
                ((year as u32 - 1990) * 100 + month as u32) * 1_000 + number as u32
            }
            Scheme::New { year, month, number } => ((year as u32 - 2000) * 100 + month as u32) * 100_000 + number,
        }
    }

    fn sort_key(&self) -> (u8, u16, u8, &'static str, u32, u16) {
        let version = self.version.map_or(0, |v| v);
        match self.scheme {
            Scheme::Old { archive, year, month, number } => (0, year, month, archive, number as u32, version),
            Scheme::New { year, month, number } => (1, year, month, "", number, version),
        }
    }
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

fn split_version(text: &str) -> Result<(&str, Option<u16>), &'static str> {
    let Some(v_at) = text.rfind('v') else {
        return Ok((text, None));
    };
    let (base, digits) = (&text[..v_at], &text[v_at + 1..]);
    // `v` also occurs in no archive name after the slash, so a `v` in the old-style number part or
    // after the dot of a new-style id can only be a version marker.
    if base.is_empty() || !(base.contains('.') || base.contains('/')) || base.ends_with('/') {
        return Ok((text, None));
    }
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with('0') {
        return Err("the version must be v1, v2, ...");
    }
    let version: u16 = digits.parse().map_err(|_| "the version is too large")?;
    Ok((base, Some(version)))
}

fn parse_new(base: &str) -> Result<Scheme, &'static str> {
    let (yymm, number) = base.split_once('.').ok_or("expected YYMM.NNNNN or archive/YYMMNNN")?;
    if yymm.len() != 4 || !yymm.bytes().all(|b| b.is_ascii_digit()) {
        return Err("expected four digits YYMM before the dot");
    }
    if !number.bytes().all(|b| b.is_ascii_digit()) || number.is_empty() {
        return Err("expected digits after the dot");
    }
    let yy: u16 = yymm[..2].parse().unwrap();
    let month: u8 = yymm[2..].parse().unwrap();
    if !(1..=12).contains(&month) {
        return Err("the month must be 01 to 12");
    }
    let year = 2000 + yy;
    if (year, month) < (2007, 4) {
        return Err("new-style ids start in April 2007 (0704)");
    }
    let expected_width = if year < 2015 { 4 } else { 5 };
    if number.len() != expected_width {
        return Err(if expected_width == 4 {
            "ids before 2015 have four digits after the dot"
        } else {
            "ids from 2015 on have five digits after the dot"
        });
    }
    let number: u32 = number.parse().unwrap();
    if number == 0 {
        return Err("the number after the dot cannot be zero");
    }
    Ok(Scheme::New { year, month, number })
}

fn parse_old(archive: &str, digits: &str) -> Result<Scheme, &'static str> {
    // `math.GT/0309136`: the subject class is not part of the identity of the paper.
    let archive = archive.split_once('.').map_or(archive, |(archive, _)| archive);
    let archive = category::archive(archive).ok_or("unknown archive before the slash")?.id;
    if digits.len() != 7 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("expected seven digits YYMMNNN after the slash");
    }
    let yy: u16 = digits[..2].parse().unwrap();
    let month: u8 = digits[2..4].parse().unwrap();
    let number: u16 = digits[4..].parse().unwrap();
    if !(1..=12).contains(&month) {
        return Err("the month must be 01 to 12");
    }
    let year = if yy >= 91 { 1900 + yy } else { 2000 + yy };
    if (year, month) > (2007, 3) {
        return Err("old-style ids end in March 2007");
    }
    if number == 0 {
        return Err("the number cannot be zero");
    }
    Ok(Scheme::Old { archive, year, month, number })
}

impl fmt::Display for ArxivId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.scheme {
            Scheme::Old { archive, year, month, number } => {
                write!(f, "{archive}/{:02}{month:02}{number:03}", year % 100)?
            }
            Scheme::New { year, month, number } => {
                let width = if year < 2015 { 4 } else { 5 };
                write!(f, "{:02}{month:02}.{number:0width$}", year % 100)?
            }
        }
        if let Some(version) = self.version {
            write!(f, "v{version}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ArxivId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ArxivId({self})")
    }
}

impl Ord for ArxivId {
    fn cmp(&self, other: &Self) -> Ordering {
        self.sort_key().cmp(&other.sort_key())
    }
}

impl PartialOrd for ArxivId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl FromStr for ArxivId {
    type Err = ArxivIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ArxivId::parse(s)
    }
}

impl Serialize for ArxivId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ArxivId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        ArxivId::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn valid_ids_round_trip() {
        for text in [
            "2401.01234",
            "2401.01234v2",
            "0704.0001",
            "1412.9999v12",
            "1501.00001",
            "hep-th/9901001",
            "hep-th/9901001v3",
            "astro-ph/0601001",
            "quant-ph/0201082v1",
            "cs/0703001",
            "math/9201001",
        ] {
            assert_eq!(ArxivId::parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn invalid_ids_say_why() {
        let reasons: Vec<String> = [
            "",
            "abc",
            "2401.1234",
            "1401.01234",
            "0001.00001",
            "2413.01234",
            "2401.00000",
            "2401.01234v",
            "2401.01234v0",
            "2401.01234vx",
            "0808.05394",
            "nope-th/9901001",
            "hep-th/990100",
            "hep-th/0704001",
            "hep-th/9913001",
            "2401.01234 ",
        ]
        .iter()
        .map(|text| ArxivId::parse(text).unwrap_err().to_string())
        .collect();
        expect![[r#"
            invalid arXiv id "": empty
            invalid arXiv id "abc": expected YYMM.NNNNN or archive/YYMMNNN
            invalid arXiv id "2401.1234": ids from 2015 on have five digits after the dot
            invalid arXiv id "1401.01234": ids before 2015 have four digits after the dot
            invalid arXiv id "0001.00001": new-style ids start in April 2007 (0704)
            invalid arXiv id "2413.01234": the month must be 01 to 12
            invalid arXiv id "2401.00000": the number after the dot cannot be zero
            invalid arXiv id "2401.01234v": the version must be v1, v2, ...
            invalid arXiv id "2401.01234v0": the version must be v1, v2, ...
            invalid arXiv id "2401.01234vx": the version must be v1, v2, ...
            invalid arXiv id "0808.05394": ids before 2015 have four digits after the dot
            invalid arXiv id "nope-th/9901001": unknown archive before the slash
            invalid arXiv id "hep-th/990100": expected seven digits YYMMNNN after the slash
            invalid arXiv id "hep-th/0704001": old-style ids end in March 2007
            invalid arXiv id "hep-th/9913001": the month must be 01 to 12
            invalid arXiv id "2401.01234 ": expected digits after the dot"#]]
        .assert_eq(&reasons.join("\n"));
    }

    #[test]
    fn lenient_parse_accepts_what_people_paste() {
        for text in [
            "arXiv:2401.01234v2",
            " https://arxiv.org/abs/2401.01234v2 ",
            "http://export.arxiv.org/abs/2401.01234v2",
            "https://arxiv.org/pdf/2401.01234v2.pdf",
            "oai:arXiv.org:2401.01234v2",
        ] {
            assert_eq!(ArxivId::parse_lenient(text).unwrap().to_string(), "2401.01234v2", "{text}");
        }
        assert!(ArxivId::parse_lenient("diffusion").is_err());
    }

    #[test]
    fn subject_class_of_old_ids_is_dropped() {
        assert_eq!(ArxivId::parse("math.GT/0309136").unwrap().to_string(), "math/0309136");
    }

    #[test]
    fn ids_sort_chronologically() {
        let mut ids: Vec<ArxivId> = ["2401.01234v2", "0704.0001", "hep-th/9901001", "2401.01234", "1412.9999"]
            .iter()
            .map(|t| ArxivId::parse(t).unwrap())
            .collect();
        ids.sort();
        let sorted: Vec<String> = ids.iter().map(ToString::to_string).collect();
        assert_eq!(sorted, ["hep-th/9901001", "0704.0001", "1412.9999", "2401.01234", "2401.01234v2"]);
    }

    #[test]
    fn ordinals_grow_with_submission_order() {
        let ordinals: Vec<u32> = ["hep-th/9901001", "cs/0703999", "0704.0001", "1412.9999", "1501.00001", "9912.99999"]
            .iter()
            .map(|t| ArxivId::parse(t).unwrap().ordinal())
            .collect();
        assert!(ordinals.windows(2).all(|w| w[0] < w[1]), "{ordinals:?}");
    }

    #[test]
    fn base_drops_the_version() {
        let id = ArxivId::parse("2401.01234v3").unwrap();
        assert_eq!(id.version(), Some(3));
        assert_eq!(id.base().to_string(), "2401.01234");
        assert_eq!(id.base().with_version(1).to_string(), "2401.01234v1");
    }

    proptest! {
        #[test]
        fn parse_never_panics(text in "\\PC{0,60}") {
            let _ = ArxivId::parse(&text);
            let _ = ArxivId::parse_lenient(&text);
        }

        #[test]
        fn new_style_ids_round_trip(yy in 15u16..99, mm in 1u8..=12, number in 1u32..99999, version in proptest::option::of(1u16..500)) {
            let mut text = format!("{yy:02}{mm:02}.{number:05}");
            if let Some(v) = version { text.push_str(&format!("v{v}")); }
            let id = ArxivId::parse(&text).unwrap();
            prop_assert_eq!(id.to_string(), text);
            prop_assert_eq!(id.version(), version);
        }
    }
}
