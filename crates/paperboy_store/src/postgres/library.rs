//! [`LibraryStore`] on PostgreSQL.

use chrono::{DateTime, Utc};
use paperboy_domain::{AccountId, ArxivId};

use super::{Outcome, PostgresStore, Tx};
use crate::{Error, FeedbackKind, LibraryStore, PaperFeedback, Result, SavedPaper};

fn parse_id(text: &str) -> Result<ArxivId> {
    ArxivId::parse(text).map_err(|e| Error::Corrupt(e.to_string()))
}

impl LibraryStore for PostgresStore {
    fn save_paper(&self, account: AccountId, paper: ArxivId, tags: &[String], now: DateTime<Utc>) -> Result<()> {
        let tags = serde_json::to_string(tags).expect("tags serialise");
        self.write(|tx| {
            tx.execute(
                "INSERT INTO library (account_id, paper_id, tags, saved_at) VALUES ($1, $2, $3::text::jsonb, $4)
                 ON CONFLICT (account_id, paper_id) DO UPDATE SET tags = excluded.tags",
                &[&account.0, &paper.base().to_string(), &tags, &now],
            )?;
            Ok(())
        })
    }

    fn unsave_paper(&self, account: AccountId, paper: ArxivId) -> Result<bool> {
        self.write(|tx| {
            Ok(tx.execute(
                "DELETE FROM library WHERE account_id = $1 AND paper_id = $2",
                &[&account.0, &paper.base().to_string()],
            )? == 1)
        })
    }

    fn library(&self, account: AccountId) -> Result<Vec<SavedPaper>> {
        let rows = self.read(|c| {
            c.query(
                "SELECT paper_id, tags::text, saved_at FROM library WHERE account_id = $1 ORDER BY saved_at DESC, paper_id",
                &[&account.0],
            )
        })?;
        rows.iter()
            .map(|row| {
                let tags: String = row.get(1);
                Ok(SavedPaper {
                    paper_id: parse_id(row.get(0))?,
                    tags: serde_json::from_str(&tags).map_err(|e| Error::Corrupt(format!("library tags: {e}")))?,
                    saved_at: row.get(2),
                })
            })
            .collect()
    }

    fn upvote(&self, account: AccountId, paper: ArxivId, now: DateTime<Utc>) -> Result<bool> {
        let paper = paper.base().to_string();
        self.write(|tx| {
            lock_paper_upvotes(tx, &paper)?;
            let new = tx.execute(
                "INSERT INTO upvotes (account_id, paper_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                &[&account.0, &paper, &now],
            )? == 1;
            if new {
                refresh_local_upvotes(tx, &paper, now)?;
            }
            Ok(new)
        })
    }

    fn remove_upvote(&self, account: AccountId, paper: ArxivId, now: DateTime<Utc>) -> Result<bool> {
        let paper = paper.base().to_string();
        self.write(|tx| {
            lock_paper_upvotes(tx, &paper)?;
            let removed =
                tx.execute("DELETE FROM upvotes WHERE account_id = $1 AND paper_id = $2", &[&account.0, &paper])? == 1;
            if removed {
                refresh_local_upvotes(tx, &paper, now)?;
            }
            Ok(removed)
        })
    }

    fn upvotes_of(&self, account: AccountId) -> Result<Vec<(ArxivId, DateTime<Utc>)>> {
        let rows = self.read(|c| {
            c.query(
                "SELECT paper_id, created_at FROM upvotes WHERE account_id = $1 ORDER BY created_at DESC, paper_id",
                &[&account.0],
            )
        })?;
        rows.iter().map(|row| Ok((parse_id(row.get(0))?, row.get(1)))).collect()
    }

    fn upvoted(&self, account: AccountId, papers: &[ArxivId]) -> Result<Vec<ArxivId>> {
        let keys: Vec<String> = papers.iter().map(|p| p.base().to_string()).collect();
        let rows = self.read(|c| {
            c.query("SELECT paper_id FROM upvotes WHERE account_id = $1 AND paper_id = ANY($2)", &[&account.0, &keys])
        })?;
        let found: std::collections::HashSet<String> = rows.iter().map(|row| row.get(0)).collect();
        Ok(papers.iter().filter(|p| found.contains(&p.base().to_string())).map(|p| p.base()).collect())
    }

    fn set_feedback(&self, account: AccountId, paper: ArxivId, kind: FeedbackKind, now: DateTime<Utc>) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO paper_feedback (account_id, paper_id, kind, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (account_id, paper_id) DO UPDATE SET kind = excluded.kind, created_at = excluded.created_at",
                &[&account.0, &paper.base().to_string(), &kind.as_str(), &now],
            )?;
            Ok(())
        })
    }

    fn remove_feedback(&self, account: AccountId, paper: ArxivId) -> Result<bool> {
        self.write(|tx| {
            Ok(tx.execute(
                "DELETE FROM paper_feedback WHERE account_id = $1 AND paper_id = $2",
                &[&account.0, &paper.base().to_string()],
            )? == 1)
        })
    }

    fn feedback(&self, account: AccountId) -> Result<Vec<PaperFeedback>> {
        let rows = self.read(|c| {
            c.query(
                "SELECT paper_id, kind, created_at FROM paper_feedback WHERE account_id = $1
                 ORDER BY created_at DESC, paper_id",
                &[&account.0],
            )
        })?;
        rows.iter()
            .map(|row| {
                Ok(PaperFeedback {
                    paper_id: parse_id(row.get(0))?,
                    kind: FeedbackKind::from_stored(row.get(1))?,
                    created_at: row.get(2),
                })
            })
            .collect()
    }

    fn feedback_on(&self, papers: &[ArxivId]) -> Result<Vec<(AccountId, ArxivId, FeedbackKind)>> {
        let keys: Vec<String> = papers.iter().map(|p| p.base().to_string()).collect();
        let rows = self.read(|c| {
            c.query("SELECT account_id, paper_id, kind FROM paper_feedback WHERE paper_id = ANY($1)", &[&keys])
        })?;
        rows.iter()
            .map(|row| Ok((AccountId(row.get(0)), parse_id(row.get(1))?, FeedbackKind::from_stored(row.get(2))?)))
            .collect()
    }
}

/// Serialises upvote changes of one paper across connections, so that each recount sees the
/// others' rows (two upvotes at once must count two).
pub(super) fn lock_paper_upvotes(tx: &mut Tx<'_>, paper: &str) -> Outcome<()> {
    tx.query_one("SELECT pg_advisory_xact_lock(hashtextextended('upvotes:' || $1, 0))", &[&paper])?;
    Ok(())
}

/// Local upvotes are a signal like Hugging Face's: the count of the paper's upvotes, featured on
/// the paper's announcement day (or today, for a paper not stored).
pub(super) fn refresh_local_upvotes(tx: &mut Tx<'_>, paper: &str, now: DateTime<Utc>) -> Outcome<()> {
    lock_paper_upvotes(tx, paper)?;
    let count: i64 = tx.query_one("SELECT COUNT(*) FROM upvotes WHERE paper_id = $1", &[&paper])?.get(0);
    if count == 0 {
        tx.execute("DELETE FROM signals WHERE paper_id = $1 AND source = 'local'", &[&paper])?;
        return Ok(());
    }
    let announced: Option<chrono::NaiveDate> =
        tx.query_opt("SELECT announced FROM papers WHERE id = $1", &[&paper])?.and_then(|row| row.get(0));
    let day = announced.unwrap_or_else(|| now.date_naive());
    tx.execute(
        "INSERT INTO signals (paper_id, source, upvotes, comments, featured_on, observed_at) VALUES ($1, 'local', $2, 0, $3, $4)
         ON CONFLICT (paper_id, source) DO UPDATE SET upvotes = excluded.upvotes, observed_at = excluded.observed_at",
        &[&paper, &count, &day, &now],
    )?;
    Ok(())
}
