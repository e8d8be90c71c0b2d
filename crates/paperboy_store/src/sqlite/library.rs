//! [`LibraryStore`] on SQLite.

use chrono::{DateTime, Utc};
use paperboy_domain::{AccountId, ArxivId};
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, parse_id, parse_time};
use crate::{Error, FeedbackKind, LibraryStore, PaperFeedback, Result, SavedPaper};

impl LibraryStore for SqliteStore {
    fn save_paper(&self, account: AccountId, paper: ArxivId, tags: &[String], now: DateTime<Utc>) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO library (account_id, paper_id, tags, saved_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (account_id, paper_id) DO UPDATE SET tags = excluded.tags",
                params![
                    account.0,
                    paper.base().to_string(),
                    serde_json::to_string(tags).expect("tags serialise"),
                    now.to_rfc3339()
                ],
            )?;
            Ok(())
        })
    }

    fn unsave_paper(&self, account: AccountId, paper: ArxivId) -> Result<bool> {
        self.write(|tx| {
            Ok(tx.execute(
                "DELETE FROM library WHERE account_id = ?1 AND paper_id = ?2",
                params![account.0, paper.base().to_string()],
            )? == 1)
        })
    }

    fn library(&self, account: AccountId) -> Result<Vec<SavedPaper>> {
        self.with_reader(|c| {
            let mut statement = c.prepare_cached(
                "SELECT paper_id, tags, saved_at FROM library WHERE account_id = ?1 ORDER BY saved_at DESC, paper_id",
            )?;
            let rows = statement.query_map([account.0], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?))
            })?;
            rows.map(|row| {
                let (paper, tags, saved_at) = row?;
                Ok(SavedPaper {
                    paper_id: parse_id(&paper)?,
                    tags: serde_json::from_str(&tags).map_err(|e| Error::Corrupt(format!("library tags: {e}")))?,
                    saved_at: parse_time(&saved_at)?,
                })
            })
            .collect()
        })
    }

    fn upvote(&self, account: AccountId, paper: ArxivId, now: DateTime<Utc>) -> Result<bool> {
        let paper = paper.base().to_string();
        self.write(|tx| {
            let new = tx.execute(
                "INSERT INTO upvotes (account_id, paper_id, created_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                params![account.0, paper, now.to_rfc3339()],
            )? == 1;
            if new {
                refresh_local_upvotes(tx, &paper, &now.to_rfc3339())?;
            }
            Ok(new)
        })
    }

    fn remove_upvote(&self, account: AccountId, paper: ArxivId, now: DateTime<Utc>) -> Result<bool> {
        let paper = paper.base().to_string();
        self.write(|tx| {
            let removed = tx
                .execute("DELETE FROM upvotes WHERE account_id = ?1 AND paper_id = ?2", params![account.0, paper])?
                == 1;
            if removed {
                refresh_local_upvotes(tx, &paper, &now.to_rfc3339())?;
            }
            Ok(removed)
        })
    }

    fn upvotes_of(&self, account: AccountId) -> Result<Vec<(ArxivId, DateTime<Utc>)>> {
        self.with_reader(|c| {
            let mut statement = c.prepare_cached(
                "SELECT paper_id, created_at FROM upvotes WHERE account_id = ?1 ORDER BY created_at DESC, paper_id",
            )?;
            let rows =
                statement.query_map([account.0], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))?;
            rows.map(|r| {
                let (paper, at) = r?;
                Ok((parse_id(&paper)?, parse_time(&at)?))
            })
            .collect()
        })
    }

    fn upvoted(&self, account: AccountId, papers: &[ArxivId]) -> Result<Vec<ArxivId>> {
        self.with_reader(|c| {
            let mut statement = c.prepare_cached("SELECT 1 FROM upvotes WHERE account_id = ?1 AND paper_id = ?2")?;
            let mut out = Vec::new();
            for paper in papers {
                if statement.query_row(params![account.0, paper.base().to_string()], |_| Ok(())).optional()?.is_some() {
                    out.push(paper.base());
                }
            }
            Ok(out)
        })
    }

    fn set_feedback(&self, account: AccountId, paper: ArxivId, kind: FeedbackKind, now: DateTime<Utc>) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO paper_feedback (account_id, paper_id, kind, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (account_id, paper_id) DO UPDATE SET kind = excluded.kind, created_at = excluded.created_at",
                params![account.0, paper.base().to_string(), kind.as_str(), now.to_rfc3339()],
            )?;
            Ok(())
        })
    }

    fn remove_feedback(&self, account: AccountId, paper: ArxivId) -> Result<bool> {
        self.write(|tx| {
            Ok(tx.execute(
                "DELETE FROM paper_feedback WHERE account_id = ?1 AND paper_id = ?2",
                params![account.0, paper.base().to_string()],
            )? == 1)
        })
    }

    fn feedback(&self, account: AccountId) -> Result<Vec<PaperFeedback>> {
        let rows = self.with_reader(|c| {
            let mut statement = c.prepare_cached(
                "SELECT paper_id, kind, created_at FROM paper_feedback WHERE account_id = ?1
                 ORDER BY created_at DESC, paper_id",
            )?;
            let rows = statement
                .query_map([account.0], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })?;
        rows.into_iter()
            .map(|(paper, kind, at)| {
                Ok(PaperFeedback {
                    paper_id: parse_id(&paper)?,
                    kind: FeedbackKind::from_stored(&kind)?,
                    created_at: parse_time(&at)?,
                })
            })
            .collect()
    }

    fn feedback_on(&self, papers: &[ArxivId]) -> Result<Vec<(AccountId, ArxivId, FeedbackKind)>> {
        let rows = self.with_reader(|c| {
            let mut statement = c.prepare_cached("SELECT account_id, kind FROM paper_feedback WHERE paper_id = ?1")?;
            let mut out = Vec::new();
            for paper in papers {
                let rows = statement.query_map([paper.base().to_string()], |row| {
                    Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
                })?;
                for row in rows {
                    let (account, kind) = row?;
                    out.push((AccountId(account), paper.base(), kind));
                }
            }
            Ok(out)
        })?;
        rows.into_iter().map(|(account, paper, kind)| Ok((account, paper, FeedbackKind::from_stored(&kind)?))).collect()
    }
}

/// Local upvotes are a signal like Hugging Face's: the count of the paper's upvotes, featured on
/// the paper's announcement day (or today, for a paper not stored).
pub(super) fn refresh_local_upvotes(tx: &rusqlite::Transaction<'_>, paper: &str, now: &str) -> Result<()> {
    let count: i64 = tx.query_row("SELECT COUNT(*) FROM upvotes WHERE paper_id = ?1", [paper], |row| row.get(0))?;
    if count == 0 {
        tx.execute("DELETE FROM signals WHERE paper_id = ?1 AND source = 'local'", [paper])?;
        return Ok(());
    }
    let day: Option<String> =
        tx.query_row("SELECT announced FROM papers WHERE id = ?1", [paper], |row| row.get(0)).optional()?.flatten();
    let day = day.unwrap_or_else(|| now[..10].to_owned());
    tx.execute(
        "INSERT INTO signals (paper_id, source, upvotes, comments, featured_on, observed_at) VALUES (?1, 'local', ?2, 0, ?3, ?4)
         ON CONFLICT (paper_id, source) DO UPDATE SET upvotes = excluded.upvotes, observed_at = excluded.observed_at",
        params![paper, count, day, now],
    )?;
    Ok(())
}
