//! arXiv subject categories from the official taxonomy, compiled in by `build.rs`.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

mod tables {
    use super::{ArchiveInfo, CategoryInfo, GroupInfo};
    include!(concat!(env!("OUT_DIR"), "/taxonomy.rs"));
}

/// An arXiv category such as `cs.CL` or `hep-th`: an index into the compiled taxonomy, so a value
/// that exists is a category arXiv knows. Aliases (`cs.NA` for `math.NA`, ...) parse to the canonical
/// category.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Category(u16);

/// What the taxonomy says about one category.
#[derive(Debug)]
pub struct CategoryInfo {
    /// The identifier, e.g. `cs.CL`.
    pub id: &'static str,
    /// The human name, e.g. "Computation and Language".
    pub name: &'static str,
    /// The archive it belongs to, e.g. `cs`.
    pub archive: &'static str,
    /// Whether arXiv still accepts submissions to it.
    pub active: bool,
    /// arXiv's description of the category's scope (may be empty).
    pub description: &'static str,
    /// For a retired archive-category (`cmp-lg`), the category that replaced it (`cs.CL`).
    pub subsumed_by: Option<&'static str>,
}

/// An arXiv archive (`cs`, `math`, `hep-th`, ...), the part of a category before the dot.
#[derive(Debug)]
pub struct ArchiveInfo {
    /// The identifier, e.g. `cs`.
    pub id: &'static str,
    /// The human name, e.g. "Computer Science".
    pub name: &'static str,
    /// The group it belongs to, e.g. `grp_cs`.
    pub group: &'static str,
}

/// A group of archives (`grp_physics`, `grp_cs`, ...).
#[derive(Debug)]
pub struct GroupInfo {
    /// The identifier, e.g. `grp_cs`.
    pub id: &'static str,
    /// The human name, e.g. "Computer Science".
    pub name: &'static str,
}

/// A string that is not a category of the arXiv taxonomy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown arXiv category {0:?}")]
pub struct UnknownCategory(pub String);

impl Category {
    /// Parses a category identifier in any letter case (`cs.cl` is `cs.CL`: no two identifiers
    /// of the taxonomy differ only in case); aliases map to their canonical category.
    pub fn parse(text: &str) -> Result<Category, UnknownCategory> {
        let text = text.trim();
        let alias = tables::ALIASES
            .binary_search_by(|(alias, _)| (*alias).cmp(text))
            .ok()
            .or_else(|| tables::ALIASES.iter().position(|(alias, _)| alias.eq_ignore_ascii_case(text)));
        let canonical = alias.map_or(text, |i| tables::ALIASES[i].1);
        tables::CATEGORIES
            .binary_search_by(|info| info.id.cmp(canonical))
            .ok()
            .or_else(|| tables::CATEGORIES.iter().position(|info| info.id.eq_ignore_ascii_case(canonical)))
            .map(|i| Category(i as u16))
            .ok_or_else(|| UnknownCategory(text.to_owned()))
    }

    /// Every category of the taxonomy, sorted by identifier.
    pub fn all() -> impl Iterator<Item = Category> {
        (0..tables::CATEGORIES.len()).map(|i| Category(i as u16))
    }

    /// The identifier, e.g. `cs.CL`.
    pub fn as_str(self) -> &'static str {
        self.info().id
    }

    /// What the taxonomy says about this category.
    pub fn info(self) -> &'static CategoryInfo {
        &tables::CATEGORIES[self.0 as usize]
    }

    /// The human name, e.g. "Computation and Language".
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// The archive identifier, e.g. `cs` for `cs.CL`.
    pub fn archive(self) -> &'static str {
        self.info().archive
    }

    /// The category that replaced this retired one, if any (`cmp-lg` -> `cs.CL`).
    pub fn subsumed_by(self) -> Option<Category> {
        self.info().subsumed_by.and_then(|id| Category::parse(id).ok())
    }
}

/// Looks up an archive (`cs`, `hep-th`, `math`, ...) by identifier, exactly as arXiv writes it
/// (old-style paper ids such as `hep-th/9901001` are read with it).
pub fn archive(id: &str) -> Option<&'static ArchiveInfo> {
    tables::ARCHIVES.binary_search_by(|info| info.id.cmp(id)).ok().map(|i| &tables::ARCHIVES[i])
}

/// [`archive`] in any letter case (`CS` is `cs`), for what people type.
pub fn archive_in_any_case(id: &str) -> Option<&'static ArchiveInfo> {
    archive(id).or_else(|| tables::ARCHIVES.iter().find(|info| info.id.eq_ignore_ascii_case(id)))
}

/// Looks up a group (`grp_cs`, ...) by identifier.
pub fn group(id: &str) -> Option<&'static GroupInfo> {
    tables::GROUPS.iter().find(|info| info.id == id)
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Category({})", self.as_str())
    }
}

impl FromStr for Category {
    type Err = UnknownCategory;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Category::parse(s)
    }
}

impl Serialize for Category {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Category {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Category::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_categories_parse_and_round_trip() {
        for id in ["cs.CL", "cs.CV", "hep-th", "astro-ph", "math.AG", "q-bio.NC", "stat.ML"] {
            let category = Category::parse(id).unwrap();
            assert_eq!(category.as_str(), id);
        }
        assert_eq!(Category::parse("cs.CL").unwrap().name(), "Computation and Language");
        assert_eq!(Category::parse("cs.CL").unwrap().archive(), "cs");
    }

    #[test]
    fn letter_case_does_not_matter() {
        for (typed, canonical) in [("cs.cl", "cs.CL"), ("CS.CL", "cs.CL"), ("HEP-TH", "hep-th"), ("cs.na", "math.NA")] {
            assert_eq!(Category::parse(typed).unwrap().as_str(), canonical, "{typed}");
        }
        assert_eq!(archive_in_any_case("CS").map(|a| a.id), Some("cs"));
        assert_eq!(archive_in_any_case("Astro-Ph").map(|a| a.id), Some("astro-ph"));
        assert!(archive("CS").is_none(), "ids are read as arXiv writes them");
        assert!(crate::ArxivId::parse("HEP-TH/9901001").is_err());
        assert!(crate::ArxivId::parse("hep-th/9901001").is_ok());
    }

    #[test]
    fn aliases_parse_to_the_canonical_category() {
        assert_eq!(Category::parse("cs.NA").unwrap().as_str(), "math.NA");
        assert_eq!(Category::parse("math.MP").unwrap().as_str(), "math-ph");
        assert_eq!(Category::parse("cs.SY").unwrap().as_str(), "eess.SY");
    }

    #[test]
    fn acm_and_msc_classes_are_not_categories() {
        for text in ["I.2.7", "68T50", "cs", "", "cs.XX", "cs.cl.x"] {
            assert!(Category::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn retired_archives_know_their_successor() {
        let cmp_lg = Category::parse("cmp-lg").unwrap();
        assert_eq!(cmp_lg.subsumed_by(), Some(Category::parse("cs.CL").unwrap()));
        assert!(!cmp_lg.info().active);
    }

    #[test]
    fn taxonomy_is_complete() {
        assert_eq!(Category::all().count(), 184);
        assert_eq!(archive("cs").unwrap().name, "Computer Science");
        assert_eq!(group("grp_cs").unwrap().name, "Computer Science");
    }
}
