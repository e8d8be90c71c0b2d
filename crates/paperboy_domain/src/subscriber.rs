//! Subscribers: e-mail addresses, and what each one wants in a digest.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Category, SearchQuery, text};

/// A valid e-mail address: personal data, so its `Debug` and `Display` are the address itself but
/// logs use [`EmailAddress::redacted`].
///
/// Accepted: `local@domain` with a dot-atom local part of at most 64 characters (letters, digits
/// and ``!#$%&'*+/=?^_`{|}~-``, dots not leading, trailing or doubled) and a domain of at least two
/// labels, each 1–63 letters, digits or hyphens (Unicode domains are converted to their ASCII
/// `xn--` form), at most 254 characters in all. Quoted local parts, IP-literal domains,
/// whitespace and control characters (a `\r\n` header injection) are refused. The domain is
/// lower-cased; the local part is kept as written.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EmailAddress(String);

/// Why a string is not an e-mail address paperboy accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EmailError(&'static str);

impl EmailAddress {
    /// Parses and normalises an address typed by a person (surrounding spaces are trimmed).
    pub fn parse(input: &str) -> Result<EmailAddress, EmailError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(EmailError("the e-mail address is empty"));
        }
        if input.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(EmailError("an e-mail address cannot contain spaces or line breaks"));
        }
        if input.chars().count() > 320 {
            return Err(EmailError("the e-mail address is too long"));
        }
        let (local, domain) = input.rsplit_once('@').ok_or(EmailError("an e-mail address needs an @"))?;
        if local.is_empty() || local.len() > 64 {
            return Err(EmailError("the part before the @ must be 1 to 64 characters"));
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(EmailError("the part before the @ has a misplaced dot"));
        }
        if !local.chars().all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-.".contains(c)) {
            return Err(EmailError("the part before the @ has a character e-mail does not allow"));
        }
        let domain = to_ascii_domain(domain)?;
        let address = format!("{local}@{domain}");
        if address.len() > 254 {
            return Err(EmailError("the e-mail address is longer than 254 characters"));
        }
        Ok(EmailAddress(address))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The domain part.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, d)| d)
    }

    /// A form safe for logs: `a***@example.org`.
    pub fn redacted(&self) -> String {
        let (local, domain) = self.0.rsplit_once('@').unwrap_or(("", ""));
        let first: String = local.chars().take(1).collect();
        format!("{first}***@{domain}")
    }
}

fn to_ascii_domain(domain: &str) -> Result<String, EmailError> {
    if domain.is_empty() {
        return Err(EmailError("the domain after the @ is empty"));
    }
    if domain.starts_with('[') {
        return Err(EmailError("addresses at an IP address are not accepted"));
    }
    let ascii = if domain.is_ascii() {
        domain.to_ascii_lowercase()
    } else {
        idna::domain_to_ascii(domain).map_err(|_| EmailError("the domain is not a valid international domain name"))?
    };
    let labels: Vec<&str> = ascii.trim_end_matches('.').split('.').collect();
    if labels.len() < 2 {
        return Err(EmailError("the domain needs at least one dot (example.org)"));
    }
    for label in &labels {
        if label.is_empty() || label.len() > 63 {
            return Err(EmailError("a part of the domain is empty or longer than 63 characters"));
        }
        if label.starts_with('-')
            || label.ends_with('-')
            || !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(EmailError("the domain has a character domains do not allow"));
        }
    }
    let tld = labels.last().expect("two labels");
    if tld.len() < 2 || tld.chars().all(|c| c.is_ascii_digit()) {
        return Err(EmailError("the domain does not end in a valid top-level domain"));
    }
    Ok(labels.join("."))
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EmailAddress({})", self.redacted())
    }
}

impl Serialize for EmailAddress {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for EmailAddress {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        EmailAddress::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// An account's number: assigned by the store, never reused (so a link signed for a deleted
/// account stays dead).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AccountId(pub i64);

impl std::fmt::Display for AccountId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for AccountId {
    type Err = std::num::ParseIntError;

    fn from_str(text: &str) -> Result<AccountId, Self::Err> {
        text.parse().map(AccountId)
    }
}

/// How often a subscriber gets a digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Cadence {
    /// After each arXiv announcement (weekdays).
    #[default]
    Daily,
    /// Once a week.
    Weekly,
    /// Not at the moment.
    Paused,
}

impl Cadence {
    /// Every cadence.
    pub const ALL: [Cadence; 3] = [Cadence::Daily, Cadence::Weekly, Cadence::Paused];

    /// Its name in forms, files and output: `daily`, `weekly`, `paused`.
    pub fn as_str(self) -> &'static str {
        match self {
            Cadence::Daily => "daily",
            Cadence::Weekly => "weekly",
            Cadence::Paused => "paused",
        }
    }

    /// The cadence of a name, if it is one.
    pub fn parse(name: &str) -> Option<Cadence> {
        Cadence::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

/// The most saved searches, followed categories and followed authors a subscriber may have.
pub const MAX_FOLLOWS: usize = 50;

/// What a subscriber wants in a digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Preferences {
    /// How often.
    pub cadence: Cadence,
    /// The top N trending papers (0: no trending section).
    pub trending: u32,
    /// Saved searches, run as hybrid searches over the new papers.
    pub searches: Vec<String>,
    /// Followed categories.
    pub categories: Vec<Category>,
    /// Followed authors, as names.
    pub authors: Vec<String>,
    /// Papers like the ones in the subscriber's library.
    pub library: bool,
    /// The most papers in one digest (the trending section aside).
    pub max_papers: u32,
    /// Send a (short) digest even when nothing matched.
    pub send_empty: bool,
}

impl Default for Preferences {
    fn default() -> Self {
        Preferences {
            cadence: Cadence::Daily,
            trending: 5,
            searches: Vec::new(),
            categories: Vec::new(),
            authors: Vec::new(),
            library: true,
            max_papers: 30,
            send_empty: false,
        }
    }
}

/// Why preferences cannot be saved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PreferencesError(pub String);

impl Preferences {
    /// Checks and tidies preferences from a form or the CLI: searches must parse, duplicates go,
    /// lists and numbers have limits.
    pub fn validate(mut self) -> Result<Preferences, PreferencesError> {
        let mut searches: Vec<String> = Vec::new();
        for search in &self.searches {
            let search = text::collapse_whitespace(search);
            if search.is_empty() {
                continue;
            }
            SearchQuery::parse(&search)
                .map_err(|e| PreferencesError(format!("the saved search {search:?} does not work: {e}")))?;
            if !searches.contains(&search) {
                searches.push(search);
            }
        }
        self.searches = searches;
        self.categories.dedup();
        let mut authors: Vec<String> = Vec::new();
        for author in &self.authors {
            let author = text::collapse_whitespace(author);
            if author.chars().count() > 200 {
                return Err(PreferencesError("an author name is longer than 200 characters".into()));
            }
            if !author.is_empty() && !authors.contains(&author) {
                authors.push(author);
            }
        }
        self.authors = authors;
        for (what, n) in [
            ("saved searches", self.searches.len()),
            ("categories", self.categories.len()),
            ("authors", self.authors.len()),
        ] {
            if n > MAX_FOLLOWS {
                return Err(PreferencesError(format!("at most {MAX_FOLLOWS} {what}")));
            }
        }
        if self.trending > 50 {
            return Err(PreferencesError("the trending section holds at most 50 papers".into()));
        }
        if !(1..=200).contains(&self.max_papers) {
            return Err(PreferencesError("a digest holds 1 to 200 papers".into()));
        }
        Ok(self)
    }
}

/// A normalised author name for matching: lower case, ASCII-folded letters, single spaces.
/// `"Geoffrey E. Hinton"` and `"geoffrey e hinton"` match; so does a name with the same surname
/// and first initial (`"G. Hinton"`), see [`author_matches`].
pub fn author_key(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for ch in text::decode_tex_accents(name).chars() {
        let ch = fold(ch);
        if ch.is_alphanumeric() {
            out.extend(ch.to_lowercase());
        } else if !out.ends_with(' ') && !out.is_empty() {
            out.push(' ');
        }
    }
    out.trim_end().to_owned()
}

/// Whether an author of a paper (`paper_author`) is the followed one (`followed`), both as
/// [`author_key`]s: the same full name, or the same surname with a compatible first initial.
pub fn author_matches(followed: &str, paper_author: &str) -> bool {
    if followed == paper_author {
        return true;
    }
    let (f, p): (Vec<&str>, Vec<&str>) = (followed.split(' ').collect(), paper_author.split(' ').collect());
    match (f.as_slice(), p.as_slice()) {
        ([f_first, .., f_last], [p_first, .., p_last]) if f_last == p_last && f.len() >= 2 && p.len() >= 2 => {
            // One side may give only the initial.
            let initial = |s: &str| s.chars().next();
            (f_first.len() == 1 || p_first.len() == 1 || f_first == p_first) && initial(f_first) == initial(p_first)
        }
        _ => false,
    }
}

fn fold(ch: char) -> char {
    match ch {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => 'a',
        'ç' | 'ć' | 'č' => 'c',
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ę' | 'ě' => 'e',
        'ì' | 'í' | 'î' | 'ï' | 'ī' | 'ı' => 'i',
        'ñ' | 'ń' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => 'o',
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' => 'u',
        'ý' | 'ÿ' => 'y',
        'ś' | 'š' | 'ş' => 's',
        'ź' | 'ż' | 'ž' => 'z',
        'ř' => 'r',
        'ł' => 'l',
        'ğ' => 'g',
        'ß' => 's',
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_addresses_parse_and_normalise() {
        assert_eq!(
            EmailAddress::parse(" Ada.Lovelace+papers@Example.ORG ").unwrap().as_str(),
            "Ada.Lovelace+papers@example.org"
        );
        assert_eq!(EmailAddress::parse("x@münchen.de").unwrap().as_str(), "x@xn--mnchen-3ya.de");
        assert_eq!(EmailAddress::parse("a@b.co").unwrap().redacted(), "a***@b.co");
    }

    #[test]
    fn bad_addresses_are_refused_with_a_reason() {
        for (input, reason) in [
            ("", "empty"),
            ("a@b", "at least one dot"),
            ("no-at-sign", "needs an @"),
            (&format!("{}@example.org", "x".repeat(300)), "1 to 64"),
            ("a@example.org\r\nBcc: victim@example.org", "spaces or line breaks"),
            ("a b@example.org", "spaces"),
            ("\"quoted\"@example.org", "character e-mail does not allow"),
            ("a..b@example.org", "misplaced dot"),
            ("a@[127.0.0.1]", "IP address"),
            ("a@-bad.org", "domains do not allow"),
            ("a@example.1", "top-level domain"),
            ("a@exa_mple.org", "domains do not allow"),
        ] {
            let err = EmailAddress::parse(input).unwrap_err().to_string();
            assert!(err.contains(reason), "{input:?}: {err}");
        }
    }

    #[test]
    fn debug_output_does_not_leak_the_address() {
        let address = EmailAddress::parse("secret.person@example.org").unwrap();
        assert!(!format!("{address:?}").contains("secret.person"));
    }

    #[test]
    fn preferences_validate_searches_and_limits() {
        let prefs = Preferences {
            searches: vec!["  diffusion   policy ".into(), "diffusion policy".into(), "".into()],
            ..Preferences::default()
        };
        assert_eq!(prefs.validate().unwrap().searches, ["diffusion policy"]);
        let bad = Preferences { searches: vec!["ti:".into()], ..Preferences::default() };
        assert!(bad.validate().unwrap_err().to_string().contains("does not work"));
        let too_many = Preferences { max_papers: 0, ..Preferences::default() };
        assert!(too_many.validate().is_err());
    }

    #[test]
    fn authors_match_by_name_or_initial() {
        let key = |s| author_key(s);
        assert_eq!(key("Geoffrey E. Hinton"), "geoffrey e hinton");
        assert_eq!(key("C. Bal\\'azs"), "c balazs");
        assert!(author_matches(&key("Geoffrey Hinton"), &key("G. Hinton")));
        assert!(author_matches(&key("G. Hinton"), &key("Geoffrey Hinton")));
        assert!(!author_matches(&key("Geoffrey Hinton"), &key("Graham Hinton")));
        assert!(!author_matches(&key("Geoffrey Hinton"), &key("Geoffrey Everest")));
        assert!(author_matches(&key("Müller"), &key("muller")));
    }
}
