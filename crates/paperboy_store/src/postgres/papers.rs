//! [`PaperStore`] on PostgreSQL.

use chrono::{NaiveDate, Timelike, Utc};
use paperboy_domain::{ArxivId, Paper, Signals};
use postgres::Row;

use super::{Outcome, PostgresStore, Tx};
use crate::{
    BatchOutcome, CheckpointUpdate, Error, PaperSource, PaperStore, Result, StoreStats, StoredPaper, UpsertOutcome,
    WriteBatch,
    papers::{PaperColumns, PaperRow, Upsert, merge_signals, plan_upsert},
};

/// `SELECT` of a paper's columns (JSON as text, decoded as the embedded store decodes it) where
/// `$condition` holds.
macro_rules! papers_where {
    ($condition:literal) => {
        concat!(
            "SELECT id, seq, source, version, versions::text, title, abstract, authors::text, categories, \
             submitted, updated, announced, comments, journal_ref, doi, license, first_stored, last_changed \
             FROM papers WHERE ",
            $condition
        )
    };
}

fn decode_paper(row: &Row) -> Result<StoredPaper> {
    PaperRow {
        id: row.get(0),
        seq: row.get(1),
        source: row.get(2),
        version: row.get(3),
        versions: row.get(4),
        title: row.get(5),
        abstract_text: row.get(6),
        authors: row.get(7),
        categories: row.get(8),
        submitted: row.get(9),
        updated: row.get(10),
        announced: row.get(11),
        comments: row.get(12),
        journal_ref: row.get(13),
        doi: row.get(14),
        license: row.get(15),
        first_stored: row.get(16),
        last_changed: row.get(17),
    }
    .decode()
}

fn decode_papers(rows: &[Row]) -> Result<Vec<StoredPaper>> {
    rows.iter().map(decode_paper).collect()
}

fn decode_signals(row: &Row) -> Result<Signals> {
    let count = |n: i64| n.clamp(0, u32::MAX as i64) as u32;
    let id: String = row.get(0);
    Ok(Signals {
        id: ArxivId::parse(&id).map_err(|e| Error::Corrupt(e.to_string()))?,
        source: row.get(1),
        upvotes: count(row.get(2)),
        comments: count(row.get(3)),
        github_repo: row.get(4),
        github_stars: row.get::<_, Option<i64>>(5).map(count),
        featured_on: row.get(6),
        observed_at: row.get(7),
    })
}

impl PaperStore for PostgresStore {
    fn apply(&self, batch: WriteBatch) -> Result<BatchOutcome> {
        self.write(|tx| {
            // PostgreSQL keeps microseconds: what the batch reports is what a read returns.
            let clock = Utc::now();
            let now = clock.with_nanosecond(clock.nanosecond() / 1000 * 1000).unwrap_or(clock);
            // First, before reading anything it will change: see `Tx::lock_counter`.
            let last_seq = tx.lock_counter("papers")?;
            let mut next_seq = last_seq + 1;
            let mut outcome = BatchOutcome::default();
            // What the batch's papers are now, in one round trip rather than one per paper.
            let ids: Vec<String> = batch.papers.iter().map(|paper| paper.id.to_string()).collect();
            let mut existing = std::collections::HashMap::with_capacity(ids.len());
            for row in tx.query(papers_where!("id = ANY($1)"), &[&ids])? {
                let stored = decode_paper(&row)?;
                existing.insert(stored.paper.id.to_string(), stored);
            }
            for (paper, id) in batch.papers.into_iter().zip(ids) {
                let before = existing.remove(&id);
                let (upserted, stored) = upsert_paper(tx, paper, before, batch.paper_source, &mut next_seq, now)?;
                if let Some(stored) = &stored {
                    // The same paper may come again later in the batch (another version).
                    existing.insert(id, stored.clone());
                }
                outcome.papers.push(upserted);
                outcome.changed.extend(stored.map(|stored| (upserted, stored)));
            }
            for signals in &batch.signals {
                outcome.signals.push(upsert_signals(tx, signals)?);
            }
            match &batch.checkpoint {
                Some(CheckpointUpdate::Set { key, value }) => {
                    tx.execute(
                        "INSERT INTO checkpoints (key, value, updated_at) VALUES ($1, $2, $3)
                         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                        &[key, value, &now],
                    )?;
                }
                Some(CheckpointUpdate::Clear { key }) => {
                    tx.execute("DELETE FROM checkpoints WHERE key = $1", &[key])?;
                }
                None => {}
            }
            if next_seq - 1 != last_seq {
                tx.set_counter("papers", next_seq - 1)?;
            }
            Ok(outcome)
        })
    }

    fn paper(&self, id: ArxivId) -> Result<Option<StoredPaper>> {
        let row = self.read(|c| c.query_opt(papers_where!("id = $1"), &[&id.base().to_string()]))?;
        row.as_ref().map(decode_paper).transpose()
    }

    fn papers(&self, ids: &[ArxivId]) -> Result<Vec<StoredPaper>> {
        let keys: Vec<String> = ids.iter().map(|id| id.base().to_string()).collect();
        let rows = self.read(|c| c.query(papers_where!("id = ANY($1)"), &[&keys]))?;
        let mut found: std::collections::HashMap<String, StoredPaper> = std::collections::HashMap::new();
        for row in &rows {
            let paper = decode_paper(row)?;
            found.insert(paper.paper.id.to_string(), paper);
        }
        // In the order asked.
        Ok(keys.iter().filter_map(|key| found.remove(key)).collect())
    }

    fn changed_since(&self, after: i64, limit: usize) -> Result<Vec<StoredPaper>> {
        let rows =
            self.read(|c| c.query(papers_where!("seq > $1 ORDER BY seq LIMIT $2"), &[&after, &(limit as i64)]))?;
        decode_papers(&rows)
    }

    fn max_seq(&self) -> Result<i64> {
        self.read(|c| Ok(c.query_one("SELECT value FROM counters WHERE name = 'papers'", &[])?.get(0)))
    }

    fn count_papers(&self) -> Result<u64> {
        self.read(|c| Ok(c.query_one("SELECT COUNT(*) FROM papers", &[])?.get::<_, i64>(0) as u64))
    }

    fn signals(&self, ids: &[ArxivId]) -> Result<Vec<Signals>> {
        let keys: Vec<String> = ids.iter().map(|id| id.base().to_string()).collect();
        let rows = self.read(|c| {
            c.query(
                "SELECT paper_id, source, upvotes, comments, github_repo, github_stars, featured_on, observed_at
                 FROM signals WHERE paper_id = ANY($1) ORDER BY source",
                &[&keys],
            )
        })?;
        let mut signals = rows.iter().map(decode_signals).collect::<Result<Vec<_>>>()?;
        // By paper in the order asked, then by source.
        let position: std::collections::HashMap<&str, usize> =
            keys.iter().enumerate().map(|(i, k)| (k.as_str(), i)).collect();
        signals.sort_by_key(|s| (position.get(s.id.base().to_string().as_str()).copied(), s.source.clone()));
        Ok(signals)
    }

    fn checkpoint(&self, key: &str) -> Result<Option<String>> {
        self.read(|c| Ok(c.query_opt("SELECT value FROM checkpoints WHERE key = $1", &[&key])?.map(|r| r.get(0))))
    }

    fn papers_announced_on(&self, day: NaiveDate) -> Result<Vec<StoredPaper>> {
        let rows = self.read(|c| c.query(papers_where!("announced = $1"), &[&day]))?;
        let mut papers = decode_papers(&rows)?;
        papers.sort_by_key(|p| p.paper.id);
        Ok(papers)
    }

    fn announcement_days_around(&self, day: NaiveDate) -> Result<(Option<NaiveDate>, Option<NaiveDate>)> {
        self.read(|c| {
            let row = c.query_one(
                "SELECT (SELECT MAX(announced) FROM papers WHERE announced < $1),
                        (SELECT MIN(announced) FROM papers WHERE announced > $1)",
                &[&day],
            )?;
            Ok((row.get(0), row.get(1)))
        })
    }

    fn signals_between(&self, from: NaiveDate, until: NaiveDate) -> Result<Vec<Signals>> {
        let rows = self.read(|c| {
            c.query(
                "SELECT paper_id, source, upvotes, comments, github_repo, github_stars, featured_on, observed_at
                 FROM signals WHERE COALESCE(featured_on, (observed_at AT TIME ZONE 'UTC')::date) BETWEEN $1 AND $2",
                &[&from, &until],
            )
        })?;
        rows.iter().map(decode_signals).collect()
    }

    fn latest_day(&self) -> Result<Option<NaiveDate>> {
        self.read(|c| {
            Ok(c.query_one(
                "SELECT GREATEST((SELECT MAX(announced) FROM papers), (SELECT MAX(featured_on) FROM signals))",
                &[],
            )?
            .get(0))
        })
    }

    fn last_announced(&self) -> Result<Option<NaiveDate>> {
        self.read(|c| Ok(c.query_one("SELECT MAX(announced) FROM papers", &[])?.get(0)))
    }

    fn stats(&self) -> Result<StoreStats> {
        self.read(|c| {
            let row = c.query_one(
                "SELECT (SELECT COUNT(*) FROM papers),
                        (SELECT COUNT(*) FROM papers WHERE source = 'secondary'),
                        (SELECT COUNT(DISTINCT paper_id) FROM signals),
                        (SELECT COUNT(*) FROM signals),
                        (SELECT MIN(announced) FROM papers),
                        (SELECT MAX(announced) FROM papers),
                        (SELECT value FROM counters WHERE name = 'papers'),
                        (SELECT COUNT(*) FROM checkpoints),
                        pg_database_size(current_database())",
                &[],
            )?;
            let count = |i: usize| row.get::<_, i64>(i).max(0) as u64;
            Ok(StoreStats {
                papers: count(0),
                secondary_papers: count(1),
                papers_with_signals: count(2),
                signal_records: count(3),
                first_announced: row.get(4),
                last_announced: row.get(5),
                max_seq: row.get(6),
                unfinished_harvests: count(7),
                bytes_on_disk: count(8),
            })
        })
    }
}

fn upsert_paper(
    tx: &mut Tx<'_>,
    incoming: Paper,
    existing: Option<StoredPaper>,
    source: PaperSource,
    next_seq: &mut i64,
    now: chrono::DateTime<Utc>,
) -> Outcome<(UpsertOutcome, Option<StoredPaper>)> {
    let (outcome, paper, source, first_stored) = match plan_upsert(incoming, source, existing.as_ref()) {
        Upsert::Unchanged => return Ok((UpsertOutcome::Unchanged, None)),
        Upsert::Insert(paper, source) => (UpsertOutcome::New, paper, source, now),
        Upsert::Replace(paper, source) => {
            (UpsertOutcome::Updated, paper, source, existing.expect("replacing a stored paper").first_stored)
        }
    };
    let columns = PaperColumns::of(&paper, source);
    let version = paper.version.map(i64::from);
    tx.execute(
        "INSERT INTO papers (id, seq, source, version, versions, title, abstract, authors, categories, submitted,
             updated, announced, comments, journal_ref, doi, license, content_hash, first_stored, last_changed)
         VALUES ($1, $2, $3, $4, $5::text::jsonb, $6, $7, $8::text::jsonb, $9, $10, $11, $12, $13, $14, $15, $16,
             $17, $18, $19)
         ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, source = excluded.source, version = excluded.version,
             versions = excluded.versions, title = excluded.title, abstract = excluded.abstract,
             authors = excluded.authors, categories = excluded.categories, submitted = excluded.submitted,
             updated = excluded.updated, announced = excluded.announced, comments = excluded.comments,
             journal_ref = excluded.journal_ref, doi = excluded.doi, license = excluded.license,
             content_hash = excluded.content_hash, last_changed = excluded.last_changed",
        &[
            &columns.id,
            &*next_seq,
            &columns.source,
            &version,
            &columns.versions,
            &paper.title,
            &paper.abstract_text,
            &columns.authors,
            &columns.categories,
            &paper.submitted,
            &paper.updated,
            &paper.announced,
            &paper.comments,
            &paper.journal_ref,
            &paper.doi,
            &paper.license,
            &columns.content_hash,
            &first_stored,
            &now,
        ],
    )?;
    let stored = StoredPaper { paper, seq: *next_seq, source, first_stored, last_changed: now };
    *next_seq += 1;
    Ok((outcome, Some(stored)))
}

fn upsert_signals(tx: &mut Tx<'_>, signals: &Signals) -> Outcome<UpsertOutcome> {
    let id = signals.id.base().to_string();
    let existing = tx
        .query_opt(
            "SELECT paper_id, source, upvotes, comments, github_repo, github_stars, featured_on, observed_at
             FROM signals WHERE paper_id = $1 AND source = $2 FOR UPDATE",
            &[&id, &signals.source],
        )?
        .as_ref()
        .map(decode_signals)
        .transpose()?;
    let Some((merged, outcome)) = merge_signals(signals, existing.as_ref()) else {
        return Ok(UpsertOutcome::Unchanged);
    };
    let (upvotes, comments) = (i64::from(merged.upvotes), i64::from(merged.comments));
    let stars = merged.github_stars.map(i64::from);
    tx.execute(
        "INSERT INTO signals (paper_id, source, upvotes, comments, github_repo, github_stars, featured_on, observed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (paper_id, source) DO UPDATE SET upvotes = excluded.upvotes, comments = excluded.comments,
             github_repo = excluded.github_repo, github_stars = excluded.github_stars,
             featured_on = excluded.featured_on, observed_at = excluded.observed_at",
        &[
            &id,
            &merged.source,
            &upvotes,
            &comments,
            &merged.github_repo,
            &stars,
            &merged.featured_on,
            &merged.observed_at,
        ],
    )?;
    Ok(outcome)
}
