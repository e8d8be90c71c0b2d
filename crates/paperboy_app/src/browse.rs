//! What a reader browses: a day's announcements, trending papers, a category's newest papers.
//!
//! Trending (written out in ARCHITECTURE.md):
//!
//! ```text
//! points = Σ upvotes over sources (Hugging Face, local)  +  3 · log2(1 + GitHub stars)
//! age    = hours from the start of the day the paper was featured (else announced) to the end of `as_of`
//! score  = points / (age + 2)^1.5
//! ```
//!
//! Hacker News's gravity with a gentler exponent (1.5 instead of 1.8): papers stay worth reading for
//! days, not hours. Stars count logarithmically so that one famous repository does not drown every
//! upvote. Only papers featured or announced in the 30 days up to `as_of` are ranked.

use std::collections::HashMap;

use chrono::{Duration, NaiveDate};
use paperboy_domain::{ArxivId, Category, Paper, Signals, query::CategoryFilter};
use paperboy_search::{Filters, SearchRequest, Sort};
use serde::Serialize;

use crate::{Error, Library, Result};

/// How far back trending looks.
pub const TRENDING_WINDOW_DAYS: i64 = 30;
/// The gravity exponent.
pub const TRENDING_GRAVITY: f64 = 1.5;

/// One announcement day.
#[derive(Debug, Clone, Serialize)]
pub struct Daily {
    /// The day.
    pub date: NaiveDate,
    /// The previous day with announcements.
    pub previous: Option<NaiveDate>,
    /// The next day with announcements.
    pub next: Option<NaiveDate>,
    /// Papers announced that day, grouped by primary category (most papers first).
    pub groups: Vec<DailyGroup>,
    /// Papers in all.
    pub total: usize,
}

/// The papers of one primary category on one day.
#[derive(Debug, Clone, Serialize)]
pub struct DailyGroup {
    /// The category (`None`: papers without one).
    pub category: Option<Category>,
    /// The papers, by id.
    pub papers: Vec<Paper>,
}

/// One trending paper.
#[derive(Debug, Clone, Serialize)]
pub struct Trending {
    /// The paper.
    pub paper: Paper,
    /// Its trending score.
    pub score: f64,
    /// Upvotes from every source.
    pub upvotes: u32,
    /// Stars of its code repository.
    pub github_stars: Option<u32>,
    /// Its code repository.
    pub github_repo: Option<String>,
    /// The day it was featured or announced.
    pub day: NaiveDate,
}

/// A page of trending papers.
#[derive(Debug, Clone, Serialize)]
pub struct TrendingPage {
    /// The day the ranking is for.
    pub as_of: Option<NaiveDate>,
    /// The papers, best first.
    pub papers: Vec<Trending>,
    /// Papers with a score, in all.
    pub total: usize,
}

/// The trending score (see the module documentation).
pub fn trending_score(upvotes: u32, github_stars: Option<u32>, age_hours: f64) -> f64 {
    let points = upvotes as f64 + 3.0 * (1.0 + github_stars.unwrap_or(0) as f64).log2();
    points / (age_hours.max(0.0) + 2.0).powf(TRENDING_GRAVITY)
}

impl Library {
    /// The latest day with announcements or featured papers: "today" for this library.
    pub fn latest_day(&self) -> Result<Option<NaiveDate>> {
        Ok(self.store.latest_day()?)
    }

    /// The papers announced on `date` (default: the latest announcement day), grouped by category.
    pub fn daily(&self, date: Option<NaiveDate>, category: Option<CategoryFilter>) -> Result<Daily> {
        let date = match date {
            Some(date) => date,
            None => match self.store.last_announced()? {
                Some(day) => day,
                None => return Err(Error::NoAnnouncements),
            },
        };
        let (previous, next) = self.store.announcement_days_around(date)?;
        let mut groups: HashMap<Option<Category>, Vec<Paper>> = HashMap::new();
        let mut total = 0;
        for stored in self.store.papers_announced_on(date)? {
            let paper = stored.paper;
            let keep = match category {
                None => true,
                Some(CategoryFilter::Category(c)) => paper.categories.contains(&c),
                Some(CategoryFilter::Archive(a)) => paper.categories.iter().any(|c| c.archive() == a),
            };
            if keep {
                total += 1;
                groups.entry(paper.primary_category()).or_default().push(paper);
            }
        }
        let mut groups: Vec<DailyGroup> =
            groups.into_iter().map(|(category, papers)| DailyGroup { category, papers }).collect();
        groups.sort_by(|a, b| b.papers.len().cmp(&a.papers.len()).then(a.category.cmp(&b.category)));
        Ok(Daily { date, previous, next, groups, total })
    }

    /// Papers ranked by trending score as of `as_of` (default: the latest day).
    pub fn trending(&self, as_of: Option<NaiveDate>, limit: usize, offset: usize) -> Result<TrendingPage> {
        let Some(as_of) = as_of.or(self.store.latest_day()?) else {
            return Ok(TrendingPage { as_of: None, papers: Vec::new(), total: 0 });
        };
        let scored = self.score_trending(as_of)?;
        let total = scored.len();
        let page: Vec<Scored> = scored.into_iter().skip(offset).take(limit.clamp(1, 500)).collect();
        let ids: Vec<ArxivId> = page.iter().map(|p| p.id).collect();
        let mut papers: HashMap<ArxivId, Paper> =
            self.store.papers(&ids)?.into_iter().map(|s| (s.paper.id, s.paper)).collect();
        let papers = page
            .into_iter()
            .filter_map(|s| {
                papers.remove(&s.id).map(|paper| Trending {
                    paper,
                    score: s.score,
                    upvotes: s.upvotes,
                    github_stars: s.github_stars,
                    github_repo: s.github_repo,
                    day: s.day,
                })
            })
            .collect();
        Ok(TrendingPage { as_of: Some(as_of), papers, total })
    }

    /// The trending scores (as of the latest day) of these papers; papers without signals are left out.
    pub fn trending_scores(&self, ids: impl Iterator<Item = ArxivId>) -> Result<HashMap<ArxivId, f64>> {
        let Some(as_of) = self.store.latest_day()? else { return Ok(HashMap::new()) };
        let wanted: std::collections::HashSet<ArxivId> = ids.collect();
        Ok(self
            .score_trending(as_of)?
            .into_iter()
            .filter(|s| wanted.contains(&s.id))
            .map(|s| (s.id, s.score))
            .collect())
    }

    fn score_trending(&self, as_of: NaiveDate) -> Result<Vec<Scored>> {
        let from = as_of - Duration::days(TRENDING_WINDOW_DAYS - 1);
        let mut by_paper: HashMap<ArxivId, Vec<Signals>> = HashMap::new();
        for signals in self.store.signals_between(from, as_of)? {
            by_paper.entry(signals.id).or_default().push(signals);
        }
        let end_of_day = as_of + Duration::days(1);
        let mut scored: Vec<Scored> = by_paper
            .into_iter()
            .map(|(id, signals)| {
                let upvotes = signals.iter().map(|s| s.upvotes).sum();
                let github_stars = signals.iter().filter_map(|s| s.github_stars).max();
                let github_repo = signals.iter().find_map(|s| s.github_repo.clone());
                let day = signals.iter().filter_map(|s| s.featured_on).min().unwrap_or_else(|| {
                    signals.iter().map(|s| s.observed_at.date_naive()).min().expect("at least one record")
                });
                let age_hours = (end_of_day - day).num_hours() as f64;
                Scored {
                    score: trending_score(upvotes, github_stars, age_hours),
                    id,
                    upvotes,
                    github_stars,
                    github_repo,
                    day,
                }
            })
            .filter(|s| s.score > 0.0)
            .collect();
        scored.sort_by(|a, b| b.score.total_cmp(&a.score).then(b.id.cmp(&a.id)));
        Ok(scored)
    }

    /// The newest papers of a category or archive.
    pub fn category(&self, category: CategoryFilter, limit: usize, offset: usize) -> Result<(Vec<Paper>, u64)> {
        let query = paperboy_domain::SearchQuery::parse(&format!("cat:{category}"))?;
        let request = SearchRequest {
            query: &query,
            raw: "",
            filters: Filters::default(),
            sort: Sort::Date,
            limit: limit.clamp(1, 500),
            offset,
            count_total: true,
        };
        let results = self.index.search(&request)?;
        let ids: Vec<ArxivId> = results.hits.iter().filter_map(|h| ArxivId::parse(&h.key).ok()).collect();
        let mut papers: HashMap<ArxivId, Paper> =
            self.store.papers(&ids)?.into_iter().map(|s| (s.paper.id, s.paper)).collect();
        Ok((ids.iter().filter_map(|id| papers.remove(id)).collect(), results.total.unwrap_or(0)))
    }
}

struct Scored {
    score: f64,
    id: ArxivId,
    upvotes: u32,
    github_stars: Option<u32>,
    github_repo: Option<String>,
    day: NaiveDate,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trending_decays_with_age_and_stars_count_logarithmically() {
        let fresh = trending_score(10, None, 12.0);
        let old = trending_score(10, None, 24.0 * 7.0);
        assert!(fresh > old * 10.0, "{fresh} vs {old}");
        assert!(trending_score(0, Some(10_000), 12.0) < trending_score(50, None, 12.0), "stars do not drown upvotes");
        assert_eq!(trending_score(0, None, 5.0), 0.0);
        // A week-old paper needs many more upvotes than a new one to rank above it.
        assert!(trending_score(100, None, 24.0 * 7.0) < trending_score(10, None, 12.0));
    }
}
