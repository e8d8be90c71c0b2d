//! [`PaperStore`] on SQLite.

use chrono::{NaiveDate, Utc};
use paperboy_domain::{ArxivId, Paper, Signals};
use rusqlite::{OptionalExtension, Row, Transaction, params};

use super::{SqliteStore, parse_day, parse_id, parse_time};
use crate::{
    BatchOutcome, CheckpointUpdate, PaperSource, PaperStore, Result, StoreStats, StoredPaper, UpsertOutcome,
    WriteBatch,
    papers::{PaperColumns, PaperRow, Upsert, merge_signals, plan_upsert},
};

impl PaperStore for SqliteStore {
    fn apply(&self, batch: WriteBatch) -> Result<BatchOutcome> {
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let tx = writer.transaction()?;
        let now = Utc::now().to_rfc3339();
        let mut next_seq: i64 = tx.query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM papers", [], |row| row.get(0))?;
        let mut outcome = BatchOutcome::default();
        for paper in batch.papers {
            let (upserted, stored) = upsert_paper(&tx, paper, batch.paper_source, &mut next_seq, &now)?;
            outcome.papers.push(upserted);
            outcome.changed.extend(stored.map(|stored| (upserted, stored)));
        }
        for signals in &batch.signals {
            outcome.signals.push(upsert_signals(&tx, signals)?);
        }
        match batch.checkpoint {
            Some(CheckpointUpdate::Set { key, value }) => {
                tx.prepare_cached(
                    "INSERT INTO checkpoints (key, value, updated_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                )?
                .execute(params![key, value, now])?;
            }
            Some(CheckpointUpdate::Clear { key }) => {
                tx.execute("DELETE FROM checkpoints WHERE key = ?1", [key])?;
            }
            None => {}
        }
        tx.commit()?;
        Ok(outcome)
    }

    fn paper(&self, id: ArxivId) -> Result<Option<StoredPaper>> {
        self.with_reader(|connection| {
            let mut statement =
                connection.prepare_cached(&format!("SELECT {PAPER_COLUMNS} FROM papers WHERE id = ?1"))?;
            let row = statement.query_row([id.base().to_string()], read_row).optional()?;
            row.map(decode_paper).transpose()
        })
    }

    fn papers(&self, ids: &[ArxivId]) -> Result<Vec<StoredPaper>> {
        self.with_reader(|connection| {
            let mut statement =
                connection.prepare_cached(&format!("SELECT {PAPER_COLUMNS} FROM papers WHERE id = ?1"))?;
            let mut papers = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(row) = statement.query_row([id.base().to_string()], read_row).optional()? {
                    papers.push(decode_paper(row)?);
                }
            }
            Ok(papers)
        })
    }

    fn changed_since(&self, after: i64, limit: usize) -> Result<Vec<StoredPaper>> {
        self.with_reader(|connection| {
            let mut statement = connection
                .prepare_cached(&format!("SELECT {PAPER_COLUMNS} FROM papers WHERE seq > ?1 ORDER BY seq LIMIT ?2"))?;
            let rows = statement.query_map(params![after, limit as i64], read_row)?;
            rows.map(|row| decode_paper(row?)).collect()
        })
    }

    fn max_seq(&self) -> Result<i64> {
        self.with_reader(|connection| {
            Ok(connection.query_row("SELECT COALESCE(MAX(seq), 0) FROM papers", [], |row| row.get(0))?)
        })
    }

    fn count_papers(&self) -> Result<u64> {
        self.with_reader(|connection| {
            Ok(connection.query_row("SELECT COUNT(*) FROM papers", [], |row| row.get::<_, i64>(0))? as u64)
        })
    }

    fn signals(&self, ids: &[ArxivId]) -> Result<Vec<Signals>> {
        self.with_reader(|connection| {
            let mut statement = connection
                .prepare_cached(&format!("SELECT {SIGNAL_COLUMNS} FROM signals WHERE paper_id = ?1 ORDER BY source"))?;
            let mut out = Vec::new();
            for id in ids {
                for row in statement.query_map([id.base().to_string()], read_signals_row)? {
                    out.push(decode_signals(row?)?);
                }
            }
            Ok(out)
        })
    }

    fn checkpoint(&self, key: &str) -> Result<Option<String>> {
        self.with_reader(|connection| {
            Ok(connection
                .query_row("SELECT value FROM checkpoints WHERE key = ?1", [key], |row| row.get(0))
                .optional()?)
        })
    }

    fn papers_announced_on(&self, day: NaiveDate) -> Result<Vec<StoredPaper>> {
        self.with_reader(|connection| {
            let mut statement =
                connection.prepare_cached(&format!("SELECT {PAPER_COLUMNS} FROM papers WHERE announced = ?1"))?;
            let rows = statement.query_map([day.to_string()], read_row)?;
            let mut papers = rows.map(|row| decode_paper(row?)).collect::<Result<Vec<_>>>()?;
            papers.sort_by_key(|p| p.paper.id);
            Ok(papers)
        })
    }

    fn announcement_days_around(&self, day: NaiveDate) -> Result<(Option<NaiveDate>, Option<NaiveDate>)> {
        self.with_reader(|connection| {
            let previous: Option<String> = connection.query_row(
                "SELECT MAX(announced) FROM papers WHERE announced < ?1",
                [day.to_string()],
                |row| row.get(0),
            )?;
            let next: Option<String> = connection.query_row(
                "SELECT MIN(announced) FROM papers WHERE announced > ?1",
                [day.to_string()],
                |row| row.get(0),
            )?;
            Ok((previous.as_deref().map(parse_day).transpose()?, next.as_deref().map(parse_day).transpose()?))
        })
    }

    fn signals_between(&self, from: NaiveDate, until: NaiveDate) -> Result<Vec<Signals>> {
        self.with_reader(|connection| {
            let mut statement = connection.prepare_cached(&format!(
                "SELECT {SIGNAL_COLUMNS} FROM signals
                 WHERE COALESCE(featured_on, substr(observed_at, 1, 10)) BETWEEN ?1 AND ?2"
            ))?;
            let rows = statement.query_map([from.to_string(), until.to_string()], read_signals_row)?;
            rows.map(|row| decode_signals(row?)).collect()
        })
    }

    fn last_announced(&self) -> Result<Option<NaiveDate>> {
        self.with_reader(|connection| {
            let day: Option<String> =
                connection.query_row("SELECT MAX(announced) FROM papers", [], |row| row.get(0))?;
            day.as_deref().map(parse_day).transpose()
        })
    }

    fn latest_day(&self) -> Result<Option<NaiveDate>> {
        self.with_reader(|connection| {
            let day: Option<String> = connection.query_row(
                "SELECT MAX(day) FROM (SELECT MAX(announced) AS day FROM papers UNION ALL SELECT MAX(featured_on) FROM signals)",
                [],
                |row| row.get(0),
            )?;
            day.as_deref().map(parse_day).transpose()
        })
    }

    fn stats(&self) -> Result<StoreStats> {
        let bytes_on_disk = ["", "-wal", "-shm"]
            .iter()
            .filter_map(|suffix| std::fs::metadata(format!("{}{suffix}", self.path.display())).ok())
            .map(|m| m.len())
            .sum();
        self.with_reader(|connection| {
            let count =
                |sql: &str| -> Result<u64> { Ok(connection.query_row(sql, [], |row| row.get::<_, i64>(0))? as u64) };
            let (first_announced, last_announced): (Option<String>, Option<String>) =
                connection.query_row("SELECT MIN(announced), MAX(announced) FROM papers", [], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })?;
            Ok(StoreStats {
                papers: count("SELECT COUNT(*) FROM papers")?,
                secondary_papers: count("SELECT COUNT(*) FROM papers WHERE source = 'secondary'")?,
                papers_with_signals: count("SELECT COUNT(DISTINCT paper_id) FROM signals")?,
                signal_records: count("SELECT COUNT(*) FROM signals")?,
                first_announced: first_announced.as_deref().map(parse_day).transpose()?,
                last_announced: last_announced.as_deref().map(parse_day).transpose()?,
                max_seq: count("SELECT COALESCE(MAX(seq), 0) FROM papers")? as i64,
                unfinished_harvests: count("SELECT COUNT(*) FROM checkpoints")?,
                bytes_on_disk,
            })
        })
    }
}

const PAPER_COLUMNS: &str = "id, seq, source, version, versions, title, abstract, authors, categories, submitted, \
     updated, announced, comments, journal_ref, doi, license, first_stored, last_changed";

/// A row's raw columns, decoded outside rusqlite's closure so errors keep their meaning.
struct RawPaper {
    id: String,
    seq: i64,
    source: String,
    version: Option<i64>,
    versions: String,
    title: String,
    abstract_text: String,
    authors: String,
    categories: String,
    submitted: Option<String>,
    updated: Option<String>,
    announced: Option<String>,
    comments: Option<String>,
    journal_ref: Option<String>,
    doi: Option<String>,
    license: Option<String>,
    first_stored: String,
    last_changed: String,
}

fn read_row(row: &Row<'_>) -> rusqlite::Result<RawPaper> {
    Ok(RawPaper {
        id: row.get(0)?,
        seq: row.get(1)?,
        source: row.get(2)?,
        version: row.get(3)?,
        versions: row.get(4)?,
        title: row.get(5)?,
        abstract_text: row.get(6)?,
        authors: row.get(7)?,
        categories: row.get(8)?,
        submitted: row.get(9)?,
        updated: row.get(10)?,
        announced: row.get(11)?,
        comments: row.get(12)?,
        journal_ref: row.get(13)?,
        doi: row.get(14)?,
        license: row.get(15)?,
        first_stored: row.get(16)?,
        last_changed: row.get(17)?,
    })
}

fn decode_paper(raw: RawPaper) -> Result<StoredPaper> {
    PaperRow {
        submitted: raw.submitted.as_deref().map(parse_time).transpose()?,
        updated: raw.updated.as_deref().map(parse_time).transpose()?,
        announced: raw.announced.as_deref().map(parse_day).transpose()?,
        first_stored: parse_time(&raw.first_stored)?,
        last_changed: parse_time(&raw.last_changed)?,
        id: raw.id,
        seq: raw.seq,
        source: raw.source,
        version: raw.version,
        versions: raw.versions,
        title: raw.title,
        abstract_text: raw.abstract_text,
        authors: raw.authors,
        categories: raw.categories,
        comments: raw.comments,
        journal_ref: raw.journal_ref,
        doi: raw.doi,
        license: raw.license,
    }
    .decode()
}

fn upsert_paper(
    tx: &Transaction<'_>,
    incoming: Paper,
    source: PaperSource,
    next_seq: &mut i64,
    now: &str,
) -> Result<(UpsertOutcome, Option<StoredPaper>)> {
    let id = incoming.id.to_string();
    let existing = tx
        .prepare_cached(&format!("SELECT {PAPER_COLUMNS} FROM papers WHERE id = ?1"))?
        .query_row([&id], read_row)
        .optional()?
        .map(decode_paper)
        .transpose()?;
    let now_time = parse_time(now)?;
    let (outcome, paper, source, first_stored) = match plan_upsert(incoming, source, existing.as_ref()) {
        Upsert::Unchanged => return Ok((UpsertOutcome::Unchanged, None)),
        Upsert::Insert(paper, source) => (UpsertOutcome::New, paper, source, now_time),
        Upsert::Replace(paper, source) => {
            tx.prepare_cached("DELETE FROM papers WHERE id = ?1")?.execute([&id])?;
            (UpsertOutcome::Updated, paper, source, existing.expect("replacing a stored paper").first_stored)
        }
    };
    insert_paper(tx, &paper, source, *next_seq, &first_stored.to_rfc3339(), now)?;
    let stored = StoredPaper { paper, seq: *next_seq, source, first_stored, last_changed: now_time };
    *next_seq += 1;
    Ok((outcome, Some(stored)))
}

fn insert_paper(
    tx: &Transaction<'_>,
    paper: &Paper,
    source: PaperSource,
    seq: i64,
    first_stored: &str,
    now: &str,
) -> Result<()> {
    let columns = PaperColumns::of(paper, source);
    tx.prepare_cached(
        "INSERT INTO papers (id, seq, source, version, versions, title, abstract, authors, categories, submitted,
             updated, announced, comments, journal_ref, doi, license, content_hash, first_stored, last_changed)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
    )?
    .execute(params![
        columns.id,
        seq,
        columns.source,
        paper.version.map(i64::from),
        columns.versions,
        paper.title,
        paper.abstract_text,
        columns.authors,
        columns.categories,
        paper.submitted.map(|d| d.to_rfc3339()),
        paper.updated.map(|d| d.to_rfc3339()),
        paper.announced.map(|d| d.to_string()),
        paper.comments,
        paper.journal_ref,
        paper.doi,
        paper.license,
        columns.content_hash,
        first_stored,
        now,
    ])?;
    Ok(())
}

const SIGNAL_COLUMNS: &str = "paper_id, source, upvotes, comments, github_repo, github_stars, featured_on, observed_at";

struct RawSignals {
    paper_id: String,
    source: String,
    upvotes: i64,
    comments: i64,
    github_repo: Option<String>,
    github_stars: Option<i64>,
    featured_on: Option<String>,
    observed_at: String,
}

fn read_signals_row(row: &Row<'_>) -> rusqlite::Result<RawSignals> {
    Ok(RawSignals {
        paper_id: row.get(0)?,
        source: row.get(1)?,
        upvotes: row.get(2)?,
        comments: row.get(3)?,
        github_repo: row.get(4)?,
        github_stars: row.get(5)?,
        featured_on: row.get(6)?,
        observed_at: row.get(7)?,
    })
}

fn decode_signals(raw: RawSignals) -> Result<Signals> {
    let count = |n: i64| n.clamp(0, u32::MAX as i64) as u32;
    Ok(Signals {
        id: parse_id(&raw.paper_id)?,
        source: raw.source,
        upvotes: count(raw.upvotes),
        comments: count(raw.comments),
        github_repo: raw.github_repo,
        github_stars: raw.github_stars.map(count),
        featured_on: raw.featured_on.as_deref().map(parse_day).transpose()?,
        observed_at: parse_time(&raw.observed_at)?,
    })
}

fn upsert_signals(tx: &Transaction<'_>, signals: &Signals) -> Result<UpsertOutcome> {
    let id = signals.id.base().to_string();
    let existing = tx
        .prepare_cached(&format!("SELECT {SIGNAL_COLUMNS} FROM signals WHERE paper_id = ?1 AND source = ?2"))?
        .query_row(params![id, signals.source], read_signals_row)
        .optional()?
        .map(decode_signals)
        .transpose()?;
    let Some((merged, outcome)) = merge_signals(signals, existing.as_ref()) else {
        return Ok(UpsertOutcome::Unchanged);
    };
    tx.prepare_cached(
        "INSERT INTO signals (paper_id, source, upvotes, comments, github_repo, github_stars, featured_on, observed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (paper_id, source) DO UPDATE SET upvotes = excluded.upvotes, comments = excluded.comments,
             github_repo = excluded.github_repo, github_stars = excluded.github_stars,
             featured_on = excluded.featured_on, observed_at = excluded.observed_at",
    )?
    .execute(params![
        id,
        merged.source,
        merged.upvotes,
        merged.comments,
        merged.github_repo,
        merged.github_stars,
        merged.featured_on.map(|d| d.to_string()),
        merged.observed_at.to_rfc3339(),
    ])?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use paperboy_domain::Category;

    use super::*;

    fn paper(id: &str, title: &str) -> Paper {
        let mut paper = Paper::new(ArxivId::parse(id).unwrap(), title);
        paper.abstract_text = format!("Abstract of {title}.");
        paper.authors = vec!["Ada Lovelace".into()];
        paper.categories = vec![Category::parse("cs.CL").unwrap()];
        paper.normalize().unwrap()
    }

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("paperboy.sqlite3")).unwrap();
        (dir, store)
    }

    #[test]
    fn a_failed_batch_stores_nothing() {
        let (_dir, store) = store();
        store.apply(WriteBatch::papers(vec![paper("2401.00001", "Kept")])).unwrap();
        // Make the second insert fail inside the transaction with a trigger.
        store.writer.lock().unwrap().execute_batch(
            "CREATE TRIGGER boom BEFORE INSERT ON papers WHEN NEW.id = '2401.00003' BEGIN SELECT RAISE(ABORT, 'boom'); END;",
        ).unwrap();
        let batch = WriteBatch {
            papers: vec![paper("2401.00002", "Two"), paper("2401.00003", "Three")],
            paper_source: PaperSource::Arxiv,
            signals: vec![],
            checkpoint: Some(CheckpointUpdate::Set { key: "h".into(), value: "v".into() }),
        };
        assert!(store.apply(batch).is_err());
        assert_eq!(store.count_papers().unwrap(), 1);
        assert_eq!(store.checkpoint("h").unwrap(), None);
    }

    #[test]
    fn a_file_that_is_not_a_database_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("paperboy.sqlite3");
        std::fs::write(&path, "this is not sqlite, just some text that happens to be long enough to matter").unwrap();
        let err = SqliteStore::open(&path).err().unwrap();
        assert!(err.to_string().contains("is not a paperboy database"), "{err}");
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("paperboy.sqlite3");
        drop(SqliteStore::open(&path).unwrap());
        rusqlite::Connection::open(&path).unwrap().pragma_update(None, "user_version", 99).unwrap();
        let err = SqliteStore::open(&path).err().unwrap();
        assert!(matches!(err, crate::Error::SchemaTooNew { found: 99, .. }), "{err}");
    }
}
