//! [`AccountStore`] on SQLite.

use chrono::{DateTime, NaiveDate, Utc};
use paperboy_domain::{ArxivId, EmailAddress, Preferences};
use rusqlite::{OptionalExtension, Row, params};

use crate::{
    Account, AccountStatus, AccountStore, Delivery, Error, MessageState, NewMessage, OutboxMessage, Pruned, Result,
    SavedPaper, SqliteStore, TokenPurpose,
    sqlite::{parse_day, parse_id, parse_time},
};

const ACCOUNT_COLUMNS: &str = "id, email, status, preferences, created_at, confirmed_at, last_digest_on, suppressed_at, \
     hard_failures, suppressed_reason";

struct RawAccount {
    id: i64,
    email: String,
    status: String,
    preferences: String,
    created_at: String,
    confirmed_at: Option<String>,
    last_digest_on: Option<String>,
    suppressed_at: Option<String>,
    hard_failures: i64,
    suppressed_reason: Option<String>,
}

fn read_account(row: &Row<'_>) -> rusqlite::Result<RawAccount> {
    Ok(RawAccount {
        id: row.get(0)?,
        email: row.get(1)?,
        status: row.get(2)?,
        preferences: row.get(3)?,
        created_at: row.get(4)?,
        confirmed_at: row.get(5)?,
        last_digest_on: row.get(6)?,
        suppressed_at: row.get(7)?,
        hard_failures: row.get(8)?,
        suppressed_reason: row.get(9)?,
    })
}

fn decode_account(raw: RawAccount) -> Result<Account> {
    Ok(Account {
        id: raw.id,
        email: EmailAddress::parse(&raw.email).map_err(|e| Error::Corrupt(format!("account {}: {e}", raw.id)))?,
        status: AccountStatus::parse(&raw.status),
        preferences: serde_json::from_str(&raw.preferences)
            .map_err(|e| Error::Corrupt(format!("account {} preferences: {e}", raw.id)))?,
        created_at: parse_time(&raw.created_at)?,
        confirmed_at: raw.confirmed_at.as_deref().map(parse_time).transpose()?,
        last_digest_on: raw.last_digest_on.as_deref().map(parse_day).transpose()?,
        suppressed_at: raw.suppressed_at.as_deref().map(parse_time).transpose()?,
        suppressed_reason: raw.suppressed_reason,
        hard_failures: raw.hard_failures.clamp(0, u32::MAX as i64) as u32,
    })
}

const MESSAGE_COLUMNS: &str = "id, account_id, kind, dedupe_key, message_id, recipient, payload, state, attempts, \
     next_attempt_at, last_error, created_at, sent_at";

fn read_message(row: &Row<'_>) -> rusqlite::Result<(OutboxMessage, String, String, Option<String>)> {
    let next: String = row.get(9)?;
    let created: String = row.get(11)?;
    let sent: Option<String> = row.get(12)?;
    let state: String = row.get(7)?;
    Ok((
        OutboxMessage {
            id: row.get(0)?,
            account_id: row.get(1)?,
            kind: row.get(2)?,
            dedupe_key: row.get(3)?,
            message_id: row.get(4)?,
            recipient: row.get(5)?,
            payload: row.get(6)?,
            state: MessageState::parse(&state),
            attempts: row.get::<_, i64>(8)?.clamp(0, u32::MAX as i64) as u32,
            next_attempt_at: DateTime::<Utc>::MIN_UTC,
            last_error: row.get(10)?,
            created_at: DateTime::<Utc>::MIN_UTC,
            sent_at: None,
        },
        next,
        created,
        sent,
    ))
}

fn decode_message(
    (mut message, next, created, sent): (OutboxMessage, String, String, Option<String>),
) -> Result<OutboxMessage> {
    message.next_attempt_at = parse_time(&next)?;
    message.created_at = parse_time(&created)?;
    message.sent_at = sent.as_deref().map(parse_time).transpose()?;
    Ok(message)
}

fn f32_vector(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

fn preferences_json(preferences: &Preferences) -> String {
    serde_json::to_string(preferences).expect("preferences serialise")
}

impl SqliteStore {
    fn write<T>(&self, f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let tx = writer.transaction()?;
        let value = f(&tx)?;
        tx.commit()?;
        Ok(value)
    }
}

impl AccountStore for SqliteStore {
    fn account_for_email(&self, email: &EmailAddress, now: DateTime<Utc>) -> Result<(Account, bool)> {
        let created = self.write(|tx| {
            let inserted = tx
                .prepare_cached(
                    "INSERT INTO accounts (email, status, preferences, created_at) VALUES (?1, 'pending', ?2, ?3)
                     ON CONFLICT (email) DO NOTHING",
                )?
                .execute(params![email.as_str(), preferences_json(&Preferences::default()), now.to_rfc3339()])?;
            Ok(inserted == 1)
        })?;
        let account = self.account_by_email(email)?.ok_or_else(|| Error::Corrupt("an account vanished".into()))?;
        Ok((account, created))
    }

    fn account(&self, id: i64) -> Result<Option<Account>> {
        self.with_reader(|c| {
            let raw = c
                .prepare_cached(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?1"))?
                .query_row([id], read_account)
                .optional()?;
            raw.map(decode_account).transpose()
        })
    }

    fn account_by_email(&self, email: &EmailAddress) -> Result<Option<Account>> {
        self.with_reader(|c| {
            let raw = c
                .prepare_cached(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE email = ?1"))?
                .query_row([email.as_str()], read_account)
                .optional()?;
            raw.map(decode_account).transpose()
        })
    }

    fn accounts(&self, after_id: i64, limit: usize) -> Result<Vec<Account>> {
        self.with_reader(|c| {
            let mut statement = c.prepare_cached(&format!(
                "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id > ?1 ORDER BY id LIMIT ?2"
            ))?;
            let rows = statement.query_map(params![after_id, limit as i64], read_account)?;
            rows.map(|r| decode_account(r?)).collect()
        })
    }

    fn active_accounts(&self, after_id: i64, limit: usize) -> Result<Vec<Account>> {
        self.with_reader(|c| {
            let mut statement = c.prepare_cached(&format!(
                "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id > ?1 AND status = 'active' AND suppressed_at IS NULL ORDER BY id LIMIT ?2"
            ))?;
            let rows = statement.query_map(params![after_id, limit as i64], read_account)?;
            rows.map(|r| decode_account(r?)).collect()
        })
    }

    fn import_accounts(
        &self,
        accounts: &[(EmailAddress, AccountStatus, Preferences)],
        now: DateTime<Utc>,
    ) -> Result<usize> {
        let now = now.to_rfc3339();
        self.write(|tx| {
            let mut insert = tx.prepare_cached(
                "INSERT INTO accounts (email, status, preferences, created_at, confirmed_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (email) DO NOTHING",
            )?;
            let mut created = 0;
            for (email, status, preferences) in accounts {
                let confirmed = (*status == AccountStatus::Active).then_some(now.as_str());
                created += insert.execute(params![
                    email.as_str(),
                    status.as_str(),
                    preferences_json(preferences),
                    now,
                    confirmed
                ])?;
            }
            Ok(created)
        })
    }

    fn set_preferences(&self, id: i64, preferences: &Preferences) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE accounts SET preferences = ?2 WHERE id = ?1",
                params![id, preferences_json(preferences)],
            )?;
            Ok(())
        })
    }

    fn set_status(&self, id: i64, status: AccountStatus, now: DateTime<Utc>) -> Result<()> {
        self.write(|tx| {
            tx.execute("UPDATE accounts SET status = ?2 WHERE id = ?1", params![id, status.as_str()])?;
            if status == AccountStatus::Active {
                tx.execute(
                    "UPDATE accounts SET confirmed_at = COALESCE(confirmed_at, ?2), suppressed_at = NULL,
                         suppressed_reason = NULL, hard_failures = 0
                     WHERE id = ?1",
                    params![id, now.to_rfc3339()],
                )?;
            }
            Ok(())
        })
    }

    fn delete_account(&self, id: i64) -> Result<bool> {
        self.write(|tx| {
            let papers: Vec<String> = tx
                .prepare("SELECT paper_id FROM upvotes WHERE account_id = ?1")?
                .query_map([id], |row| row.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let deleted = tx.execute("DELETE FROM accounts WHERE id = ?1", [id])? == 1;
            let now = Utc::now().to_rfc3339();
            for paper in papers {
                refresh_local_upvotes(tx, &paper, &now)?;
            }
            Ok(deleted)
        })
    }

    fn count_accounts(&self) -> Result<Vec<(AccountStatus, u64)>> {
        self.with_reader(|c| {
            let mut statement = c.prepare("SELECT status, COUNT(*) FROM accounts GROUP BY status ORDER BY status")?;
            let rows = statement.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)))?;
            rows.map(|r| r.map(|(s, n)| (AccountStatus::parse(&s), n as u64)).map_err(Error::from)).collect()
        })
    }

    fn count_suppressed(&self) -> Result<u64> {
        self.with_reader(|c| {
            Ok(c.query_row("SELECT COUNT(*) FROM accounts WHERE suppressed_at IS NOT NULL", [], |row| {
                row.get::<_, i64>(0)
            })? as u64)
        })
    }

    fn suppressed_accounts(&self, after_id: i64, limit: usize) -> Result<Vec<Account>> {
        self.with_reader(|c| {
            let mut statement = c.prepare_cached(&format!(
                "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id > ?1 AND suppressed_at IS NOT NULL ORDER BY id LIMIT ?2"
            ))?;
            let rows = statement.query_map(params![after_id, limit as i64], read_account)?;
            rows.map(|r| decode_account(r?)).collect()
        })
    }

    fn unsuppress(&self, id: i64) -> Result<bool> {
        self.write(|tx| {
            Ok(tx.execute(
                "UPDATE accounts SET suppressed_at = NULL, suppressed_reason = NULL, hard_failures = 0
                 WHERE id = ?1 AND (suppressed_at IS NOT NULL OR hard_failures > 0)",
                [id],
            )? == 1)
        })
    }

    fn prune_stale(
        &self,
        unconfirmed_before: DateTime<Utc>,
        limits_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Pruned> {
        self.write(|tx| {
            let unconfirmed_accounts = tx.execute(
                "DELETE FROM accounts
                 WHERE status = 'pending' AND confirmed_at IS NULL AND created_at < ?1
                   AND NOT EXISTS (SELECT 1 FROM library WHERE library.account_id = accounts.id)
                   AND NOT EXISTS (SELECT 1 FROM upvotes WHERE upvotes.account_id = accounts.id)",
                [unconfirmed_before.to_rfc3339()],
            )? as u64;
            let rate_limits =
                tx.execute("DELETE FROM rate_limits WHERE window_start < ?1", [limits_before.to_rfc3339()])? as u64;
            let now = now.to_rfc3339();
            let expired_secrets = tx.execute("DELETE FROM auth_tokens WHERE expires_at < ?1", [&now])? as u64
                + tx.execute("DELETE FROM sessions WHERE expires_at < ?1", [&now])? as u64;
            Ok(Pruned { unconfirmed_accounts, rate_limits, expired_secrets })
        })
    }

    fn insert_token(
        &self,
        hash: &[u8],
        account_id: i64,
        purpose: TokenPurpose,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.write(|tx| {
            // Expired tokens are no use to anyone: drop them on the way.
            tx.execute("DELETE FROM auth_tokens WHERE expires_at < ?1", [now.to_rfc3339()])?;
            tx.execute(
                "INSERT INTO auth_tokens (hash, account_id, purpose, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![hash, account_id, purpose.as_str(), now.to_rfc3339(), expires_at.to_rfc3339()],
            )?;
            Ok(())
        })
    }

    fn use_token(&self, hash: &[u8], purpose: TokenPurpose, now: DateTime<Utc>) -> Result<Option<i64>> {
        self.write(|tx| {
            Ok(tx
                .query_row(
                    "UPDATE auth_tokens SET used_at = ?3
                     WHERE hash = ?1 AND purpose = ?2 AND used_at IS NULL AND expires_at > ?3
                     RETURNING account_id",
                    params![hash, purpose.as_str(), now.to_rfc3339()],
                    |row| row.get(0),
                )
                .optional()?)
        })
    }

    fn token_is_valid(&self, hash: &[u8], purpose: TokenPurpose, now: DateTime<Utc>) -> Result<bool> {
        self.with_reader(|c| {
            Ok(c.query_row(
                "SELECT 1 FROM auth_tokens WHERE hash = ?1 AND purpose = ?2 AND used_at IS NULL AND expires_at > ?3",
                params![hash, purpose.as_str(), now.to_rfc3339()],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
        })
    }

    fn create_session(
        &self,
        hash: &[u8],
        account_id: i64,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.write(|tx| {
            tx.execute("DELETE FROM sessions WHERE expires_at < ?1", [now.to_rfc3339()])?;
            tx.execute(
                "INSERT INTO sessions (hash, account_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![hash, account_id, now.to_rfc3339(), expires_at.to_rfc3339()],
            )?;
            Ok(())
        })
    }

    fn session(&self, hash: &[u8], now: DateTime<Utc>) -> Result<Option<i64>> {
        self.with_reader(|c| {
            Ok(c.prepare_cached("SELECT account_id FROM sessions WHERE hash = ?1 AND expires_at > ?2")?
                .query_row(params![hash, now.to_rfc3339()], |row| row.get(0))
                .optional()?)
        })
    }

    fn delete_session(&self, hash: &[u8]) -> Result<()> {
        self.write(|tx| {
            tx.execute("DELETE FROM sessions WHERE hash = ?1", [hash])?;
            Ok(())
        })
    }

    fn end_all_sessions(&self) -> Result<u64> {
        self.write(|tx| Ok(tx.execute("DELETE FROM sessions", [])? as u64))
    }

    fn save_paper(&self, account_id: i64, paper: ArxivId, tags: &[String], now: DateTime<Utc>) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO library (account_id, paper_id, tags, saved_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (account_id, paper_id) DO UPDATE SET tags = excluded.tags",
                params![
                    account_id,
                    paper.base().to_string(),
                    serde_json::to_string(tags).expect("tags serialise"),
                    now.to_rfc3339()
                ],
            )?;
            Ok(())
        })
    }

    fn unsave_paper(&self, account_id: i64, paper: ArxivId) -> Result<bool> {
        self.write(|tx| {
            Ok(tx.execute(
                "DELETE FROM library WHERE account_id = ?1 AND paper_id = ?2",
                params![account_id, paper.base().to_string()],
            )? == 1)
        })
    }

    fn library(&self, account_id: i64) -> Result<Vec<SavedPaper>> {
        self.with_reader(|c| {
            let mut statement = c.prepare_cached(
                "SELECT paper_id, tags, saved_at FROM library WHERE account_id = ?1 ORDER BY saved_at DESC, paper_id",
            )?;
            let rows = statement.query_map([account_id], |row| {
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

    fn upvote(&self, account_id: i64, paper: ArxivId, now: DateTime<Utc>) -> Result<bool> {
        let paper = paper.base().to_string();
        self.write(|tx| {
            let new = tx.execute(
                "INSERT INTO upvotes (account_id, paper_id, created_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                params![account_id, paper, now.to_rfc3339()],
            )? == 1;
            if new {
                refresh_local_upvotes(tx, &paper, &now.to_rfc3339())?;
            }
            Ok(new)
        })
    }

    fn remove_upvote(&self, account_id: i64, paper: ArxivId, now: DateTime<Utc>) -> Result<bool> {
        let paper = paper.base().to_string();
        self.write(|tx| {
            let removed = tx
                .execute("DELETE FROM upvotes WHERE account_id = ?1 AND paper_id = ?2", params![account_id, paper])?
                == 1;
            if removed {
                refresh_local_upvotes(tx, &paper, &now.to_rfc3339())?;
            }
            Ok(removed)
        })
    }

    fn upvotes_of(&self, account_id: i64) -> Result<Vec<(ArxivId, DateTime<Utc>)>> {
        self.with_reader(|c| {
            let mut statement = c.prepare_cached(
                "SELECT paper_id, created_at FROM upvotes WHERE account_id = ?1 ORDER BY created_at DESC, paper_id",
            )?;
            let rows =
                statement.query_map([account_id], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))?;
            rows.map(|r| {
                let (paper, at) = r?;
                Ok((parse_id(&paper)?, parse_time(&at)?))
            })
            .collect()
        })
    }

    fn upvoted(&self, account_id: i64, papers: &[ArxivId]) -> Result<Vec<ArxivId>> {
        self.with_reader(|c| {
            let mut statement = c.prepare_cached("SELECT 1 FROM upvotes WHERE account_id = ?1 AND paper_id = ?2")?;
            let mut out = Vec::new();
            for paper in papers {
                if statement.query_row(params![account_id, paper.base().to_string()], |_| Ok(())).optional()?.is_some()
                {
                    out.push(paper.base());
                }
            }
            Ok(out)
        })
    }

    fn rate_limit(&self, key: &str, max: u32, window_seconds: i64, now: DateTime<Utc>) -> Result<bool> {
        self.write(|tx| {
            let current: Option<(String, i64)> = tx
                .query_row("SELECT window_start, count FROM rate_limits WHERE key = ?1", [key], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .optional()?;
            let (start, count) = match current {
                Some((start, count)) if (now - parse_time(&start)?).num_seconds() < window_seconds => (start, count),
                _ => (now.to_rfc3339(), 0),
            };
            if count >= max as i64 {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO rate_limits (key, window_start, count) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key) DO UPDATE SET window_start = excluded.window_start, count = excluded.count",
                params![key, start, count + 1],
            )?;
            Ok(true)
        })
    }

    fn setting(&self, key: &str) -> Result<Option<String>> {
        self.with_reader(|c| {
            Ok(c.query_row("SELECT value FROM settings WHERE key = ?1", [key], |row| row.get(0)).optional()?)
        })
    }

    fn put_setting(&self, key: &str, value: &str) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )?;
            Ok(())
        })
    }

    fn delete_setting(&self, key: &str) -> Result<()> {
        self.write(|tx| {
            tx.execute("DELETE FROM settings WHERE key = ?1", [key])?;
            Ok(())
        })
    }

    fn setting_or_insert(&self, key: &str, value: &str) -> Result<String> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
                params![key, value],
            )?;
            Ok(tx.query_row("SELECT value FROM settings WHERE key = ?1", [key], |row| row.get(0))?)
        })
    }

    fn query_vectors(&self, model: &str, hashes: &[i64]) -> Result<Vec<(i64, Vec<f32>)>> {
        self.with_reader(|c| {
            let mut statement =
                c.prepare_cached("SELECT vector FROM query_vectors WHERE model = ?1 AND text_hash = ?2")?;
            let mut out = Vec::new();
            for &hash in hashes {
                if let Some(bytes) =
                    statement.query_row(params![model, hash], |row| row.get::<_, Vec<u8>>(0)).optional()?
                {
                    out.push((hash, f32_vector(&bytes)));
                }
            }
            Ok(out)
        })
    }

    fn put_query_vectors(&self, model: &str, vectors: &[(i64, Vec<f32>)]) -> Result<()> {
        self.write(|tx| {
            let mut statement = tx.prepare_cached(
                "INSERT INTO query_vectors (model, text_hash, vector) VALUES (?1, ?2, ?3) ON CONFLICT DO UPDATE SET vector = excluded.vector",
            )?;
            for (hash, vector) in vectors {
                let bytes: Vec<u8> = vector.iter().flat_map(|v| v.to_le_bytes()).collect();
                statement.execute(params![model, hash, bytes])?;
            }
            Ok(())
        })
    }

    fn library_model(&self, account_id: i64, model: &str, library_hash: i64) -> Result<Option<Vec<f32>>> {
        self.with_reader(|c| {
            let bytes = c
                .prepare_cached(
                    "SELECT weights FROM library_models WHERE account_id = ?1 AND model = ?2 AND library_hash = ?3",
                )?
                .query_row(params![account_id, model, library_hash], |row| row.get::<_, Vec<u8>>(0))
                .optional()?;
            Ok(bytes.map(|b| f32_vector(&b)))
        })
    }

    fn put_library_model(&self, account_id: i64, model: &str, library_hash: i64, weights: &[f32]) -> Result<()> {
        self.write(|tx| {
            let bytes: Vec<u8> = weights.iter().flat_map(|v| v.to_le_bytes()).collect();
            tx.prepare_cached(
                "INSERT INTO library_models (account_id, model, library_hash, weights) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (account_id) DO UPDATE SET model = excluded.model, library_hash = excluded.library_hash, weights = excluded.weights",
            )?
            .execute(params![account_id, model, library_hash, bytes])?;
            Ok(())
        })
    }

    fn set_last_digest(&self, ids: &[i64], day: NaiveDate) -> Result<()> {
        self.write(|tx| {
            let mut update = tx.prepare_cached("UPDATE accounts SET last_digest_on = ?2 WHERE id = ?1")?;
            for id in ids {
                update.execute(params![id, day.to_string()])?;
            }
            Ok(())
        })
    }

    fn sent_papers(&self, papers: &[ArxivId]) -> Result<Vec<(i64, ArxivId)>> {
        self.with_reader(|c| {
            let mut statement = c.prepare_cached("SELECT account_id FROM sent_papers WHERE paper_id = ?1")?;
            let mut out = Vec::new();
            for paper in papers {
                let rows = statement.query_map([paper.base().to_string()], |row| row.get::<_, i64>(0))?;
                for account in rows {
                    out.push((account?, paper.base()));
                }
            }
            Ok(out)
        })
    }

    fn enqueue(&self, messages: &[NewMessage], period: Option<NaiveDate>, now: DateTime<Utc>) -> Result<usize> {
        let now_text = now.to_rfc3339();
        self.write(|tx| {
            let mut insert = tx.prepare_cached(
                "INSERT INTO outbox (account_id, kind, dedupe_key, message_id, recipient, payload, state, next_attempt_at, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', ?7, ?7)
                 ON CONFLICT (dedupe_key) DO NOTHING",
            )?;
            let mut sent = tx.prepare_cached("INSERT INTO sent_papers (account_id, paper_id, outbox_id) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING")?;
            let mut period_update = tx.prepare_cached("UPDATE accounts SET last_digest_on = ?2 WHERE id = ?1")?;
            let mut new = 0;
            for message in messages {
                let inserted = insert.execute(params![
                    message.account_id,
                    message.kind,
                    message.dedupe_key,
                    message.message_id,
                    message.recipient.as_str(),
                    message.payload,
                    now_text
                ])?;
                if inserted == 0 {
                    continue;
                }
                new += 1;
                let outbox_id = tx.last_insert_rowid();
                for paper in &message.papers {
                    sent.execute(params![message.account_id, paper.base().to_string(), outbox_id])?;
                }
                if let Some(period) = period {
                    period_update.execute(params![message.account_id, period.to_string()])?;
                }
            }
            Ok(new)
        })
    }

    fn claim_due(&self, limit: usize, now: DateTime<Utc>) -> Result<Vec<OutboxMessage>> {
        let now_text = now.to_rfc3339();
        self.write(|tx| {
            let mut statement = tx.prepare_cached(&format!(
                "UPDATE outbox SET state = 'sending', claimed_at = ?1, attempts = attempts + 1
                 WHERE id IN (SELECT id FROM outbox WHERE state = 'queued' AND next_attempt_at <= ?1 ORDER BY next_attempt_at, id LIMIT ?2)
                 RETURNING {MESSAGE_COLUMNS}"
            ))?;
            let rows = statement.query_map(params![now_text, limit as i64], read_message)?;
            let mut messages = rows.map(|r| decode_message(r?)).collect::<Result<Vec<_>>>()?;
            messages.sort_by_key(|m| m.id);
            Ok(messages)
        })
    }

    fn record_delivery(&self, id: i64, delivery: &Delivery, now: DateTime<Utc>) -> Result<()> {
        let now_text = now.to_rfc3339();
        self.write(|tx| {
            match delivery {
                Delivery::Sent => {
                    tx.execute("UPDATE outbox SET state = 'sent', sent_at = ?2, last_error = NULL WHERE id = ?1", params![id, now_text])?;
                    scrub_secrets(tx, id)?;
                }
                Delivery::Retry { error, at } => {
                    tx.execute(
                        "UPDATE outbox SET state = 'queued', next_attempt_at = ?2, last_error = ?3 WHERE id = ?1",
                        params![id, at.to_rfc3339(), error],
                    )?;
                }
                Delivery::Deferred { error, at } => {
                    tx.execute(
                        "UPDATE outbox SET state = 'queued', next_attempt_at = ?2, last_error = ?3, attempts = MAX(attempts - 1, 0) WHERE id = ?1",
                        params![id, at.to_rfc3339(), error],
                    )?;
                }
                Delivery::Cancelled { reason } => {
                    tx.execute("UPDATE outbox SET state = 'failed', last_error = ?2 WHERE id = ?1", params![id, reason])?;
                    scrub_secrets(tx, id)?;
                }
                Delivery::Failed { error, suppress_after } => {
                    tx.execute("UPDATE outbox SET state = 'failed', last_error = ?2 WHERE id = ?1", params![id, error])?;
                    scrub_secrets(tx, id)?;
                    if let Some(suppress_after) = suppress_after {
                        tx.execute(
                            "UPDATE accounts SET hard_failures = hard_failures + 1,
                                 suppressed_reason = CASE WHEN suppressed_at IS NULL AND hard_failures + 1 >= ?2 THEN ?4 ELSE suppressed_reason END,
                                 suppressed_at = CASE WHEN hard_failures + 1 >= ?2 THEN COALESCE(suppressed_at, ?3) ELSE suppressed_at END
                             WHERE id = (SELECT account_id FROM outbox WHERE id = ?1)",
                            params![id, *suppress_after as i64, now_text, error],
                        )?;
                    }
                }
            }
            Ok(())
        })
    }

    fn requeue_sending(&self, claimed_before: DateTime<Utc>) -> Result<usize> {
        self.write(|tx| {
            Ok(tx.execute(
                "UPDATE outbox SET state = 'queued', last_error = 'interrupted while sending' WHERE state = 'sending' AND claimed_at < ?1",
                [claimed_before.to_rfc3339()],
            )?)
        })
    }

    fn prune_delivered(&self, created_before: DateTime<Utc>) -> Result<(u64, u64)> {
        let before = created_before.to_rfc3339();
        let (mut messages, mut papers) = (0u64, 0u64);
        // In batches, so that the writer lock is never held for long. `sent_papers` is keyed by
        // account first: deleting a message's rows reads only that account's rows.
        loop {
            let (batch, removed) = self.write(|tx| {
                let mut select = tx.prepare_cached(
                    "SELECT id, account_id FROM outbox INDEXED BY outbox_created
                     WHERE created_at < ?1 AND state IN ('sent', 'failed') LIMIT 2000",
                )?;
                let rows: Vec<(i64, Option<i64>)> = select
                    .query_map([&before], |row| Ok((row.get(0)?, row.get(1)?)))?
                    .collect::<rusqlite::Result<_>>()?;
                let mut forget_papers =
                    tx.prepare_cached("DELETE FROM sent_papers WHERE account_id = ?1 AND outbox_id = ?2")?;
                let mut forget_message = tx.prepare_cached("DELETE FROM outbox WHERE id = ?1")?;
                let mut removed = 0u64;
                for (id, account) in &rows {
                    if let Some(account) = account {
                        removed += forget_papers.execute(params![account, id])? as u64;
                    }
                    forget_message.execute([id])?;
                }
                Ok((rows.len() as u64, removed))
            })?;
            messages += batch;
            papers += removed;
            if batch < 2000 {
                return Ok((messages, papers));
            }
        }
    }

    fn outbox_counts(&self) -> Result<Vec<(MessageState, u64)>> {
        self.with_reader(|c| {
            let mut statement = c.prepare("SELECT state, COUNT(*) FROM outbox GROUP BY state")?;
            let rows = statement.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)))?;
            rows.map(|r| r.map(|(s, n)| (MessageState::parse(&s), n as u64)).map_err(Error::from)).collect()
        })
    }

    fn messages_of(&self, account_id: i64, limit: usize) -> Result<Vec<OutboxMessage>> {
        self.with_reader(|c| {
            let mut statement = c.prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM outbox WHERE account_id = ?1 ORDER BY id DESC LIMIT ?2"
            ))?;
            let rows = statement.query_map(params![account_id, limit as i64], read_message)?;
            rows.map(|r| decode_message(r?)).collect()
        })
    }

    fn message(&self, id: i64) -> Result<Option<OutboxMessage>> {
        self.with_reader(|c| {
            let row = c
                .prepare_cached(&format!("SELECT {MESSAGE_COLUMNS} FROM outbox WHERE id = ?1"))?
                .query_row([id], read_message)
                .optional()?;
            row.map(decode_message).transpose()
        })
    }
}

/// Local upvotes are a signal like Hugging Face's: the count of the paper's upvotes, featured on
/// the paper's announcement day (or today, for a paper not stored).
/// Sign-in and confirmation messages carry a live token until they are sent: then it goes, so that
/// the store holds tokens only as hashes.
fn scrub_secrets(tx: &rusqlite::Transaction<'_>, id: i64) -> Result<()> {
    tx.execute("UPDATE outbox SET payload = '{}' WHERE id = ?1 AND kind IN ('confirm', 'sign_in')", [id])?;
    Ok(())
}

fn refresh_local_upvotes(tx: &rusqlite::Transaction<'_>, paper: &str, now: &str) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::PaperStore;

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("paperboy.sqlite3")).unwrap();
        (dir, store)
    }

    fn email(text: &str) -> EmailAddress {
        EmailAddress::parse(text).unwrap()
    }

    #[test]
    fn an_address_gets_one_account() {
        let (_dir, store) = store();
        let now = Utc::now();
        let (first, created) = store.account_for_email(&email("a@example.org"), now).unwrap();
        assert!(created);
        assert_eq!(first.status, AccountStatus::Pending);
        let (again, created) = store.account_for_email(&email("a@example.org"), now).unwrap();
        assert!(!created);
        assert_eq!(again.id, first.id);
    }

    #[test]
    fn tokens_work_once_and_expire() {
        let (_dir, store) = store();
        let now = Utc::now();
        let (account, _) = store.account_for_email(&email("a@example.org"), now).unwrap();
        store.insert_token(b"hash-1", account.id, TokenPurpose::Confirm, now + Duration::hours(1), now).unwrap();
        assert!(!store.token_is_valid(b"hash-1", TokenPurpose::SignIn, now).unwrap(), "purpose matters");
        assert!(store.token_is_valid(b"hash-1", TokenPurpose::Confirm, now).unwrap());
        assert_eq!(store.use_token(b"hash-1", TokenPurpose::Confirm, now).unwrap(), Some(account.id));
        assert_eq!(store.use_token(b"hash-1", TokenPurpose::Confirm, now).unwrap(), None, "a replayed token fails");
        store.insert_token(b"hash-2", account.id, TokenPurpose::SignIn, now + Duration::minutes(5), now).unwrap();
        assert_eq!(
            store.use_token(b"hash-2", TokenPurpose::SignIn, now + Duration::minutes(6)).unwrap(),
            None,
            "expired"
        );
    }

    #[test]
    fn deleting_an_account_removes_everything_about_it() {
        let (_dir, store) = store();
        let now = Utc::now();
        let (account, _) = store.account_for_email(&email("a@example.org"), now).unwrap();
        let paper = ArxivId::parse("2401.00001").unwrap();
        store.save_paper(account.id, paper, &["to-read".into()], now).unwrap();
        assert!(store.upvote(account.id, paper, now).unwrap());
        assert!(!store.upvote(account.id, paper, now).unwrap(), "one upvote per account");
        assert_eq!(store.signals(&[paper]).unwrap()[0].upvotes, 1);
        store.create_session(b"s", account.id, now + Duration::days(1), now).unwrap();
        assert!(store.delete_account(account.id).unwrap());
        assert!(store.account(account.id).unwrap().is_none());
        assert!(store.library(account.id).unwrap().is_empty());
        assert_eq!(store.session(b"s", now).unwrap(), None);
        assert!(store.signals(&[paper]).unwrap().is_empty(), "its upvote no longer counts");
    }

    #[test]
    fn the_outbox_enqueues_once_per_key_and_tracks_delivery() {
        let (_dir, store) = store();
        let now = Utc::now();
        let (account, _) = store.account_for_email(&email("a@example.org"), now).unwrap();
        let paper = ArxivId::parse("2401.00001").unwrap();
        let message = NewMessage {
            account_id: account.id,
            kind: "digest".into(),
            dedupe_key: format!("digest:{}:2024-01-02", account.id),
            message_id: "<m@x>".into(),
            recipient: account.email.clone(),
            payload: "{}".into(),
            papers: vec![paper],
        };
        let day = NaiveDate::from_ymd_opt(2024, 1, 2);
        assert_eq!(store.enqueue(std::slice::from_ref(&message), day, now).unwrap(), 1);
        assert_eq!(store.enqueue(&[message], day, now).unwrap(), 0, "the same period is not queued twice");
        assert_eq!(store.sent_papers(&[paper]).unwrap(), [(account.id, paper)]);
        assert_eq!(store.account(account.id).unwrap().unwrap().last_digest_on, day);

        let claimed = store.claim_due(10, now).unwrap();
        assert_eq!((claimed.len(), claimed[0].attempts), (1, 1));
        assert!(store.claim_due(10, now).unwrap().is_empty(), "a claimed message is not claimed twice");
        store
            .record_delivery(
                claimed[0].id,
                &Delivery::Retry { error: "451".into(), at: now + Duration::seconds(30) },
                now,
            )
            .unwrap();
        assert!(store.claim_due(10, now).unwrap().is_empty(), "not before its retry time");
        let again = store.claim_due(10, now + Duration::seconds(31)).unwrap();
        assert_eq!(again[0].attempts, 2);
        store
            .record_delivery(
                again[0].id,
                &Delivery::Failed { error: "550 5.1.1 no such user".into(), suppress_after: Some(1) },
                now,
            )
            .unwrap();
        let account = store.account(account.id).unwrap().unwrap();
        assert!(account.suppressed_at.is_some(), "a bounce suppresses the address");
        assert_eq!(account.suppressed_reason.as_deref(), Some("550 5.1.1 no such user"), "and says why");
        assert!(store.active_accounts(0, 10).unwrap().is_empty());
        assert_eq!(store.suppressed_accounts(0, 10).unwrap().len(), 1);
        assert!(store.unsuppress(account.id).unwrap(), "an operator lifts it");
        let account = store.account(account.id).unwrap().unwrap();
        assert_eq!((account.suppressed_at, account.suppressed_reason, account.hard_failures), (None, None, 0));
        assert!(store.suppressed_accounts(0, 10).unwrap().is_empty());
        assert!(!store.unsuppress(account.id).unwrap(), "nothing to lift twice");
    }

    #[test]
    fn failures_that_are_not_the_addresss_fault_do_not_count_against_it() {
        let (_dir, store) = store();
        let now = Utc::now();
        let (account, _) = store.account_for_email(&email("a@example.org"), now).unwrap();
        store.set_status(account.id, AccountStatus::Active, now).unwrap();
        for key in ["one", "two", "three"] {
            let message = NewMessage {
                account_id: account.id,
                kind: "digest".into(),
                dedupe_key: key.into(),
                message_id: format!("<{key}@x>"),
                recipient: account.email.clone(),
                payload: "{}".into(),
                papers: vec![],
            };
            store.enqueue(&[message], None, now).unwrap();
        }
        let claimed = store.claim_due(10, now).unwrap();
        let content = Delivery::Failed { error: "554 spam".into(), suppress_after: None };
        store.record_delivery(claimed[0].id, &content, now).unwrap();
        let account_now = store.account(account.id).unwrap().unwrap();
        assert_eq!((account_now.suppressed_at, account_now.hard_failures), (None, 0));
        // A mailbox that is full twice is not gone; the third time it counts as gone.
        let full = Delivery::Failed { error: "552 5.2.2 mailbox full".into(), suppress_after: Some(3) };
        store.record_delivery(claimed[1].id, &full, now).unwrap();
        store.record_delivery(claimed[2].id, &full, now).unwrap();
        let account_now = store.account(account.id).unwrap().unwrap();
        assert_eq!((account_now.suppressed_at, account_now.hard_failures), (None, 2));
    }

    #[test]
    fn stale_rows_are_pruned_and_accounts_holding_something_are_kept() {
        let (_dir, store) = store();
        let long_ago = Utc::now() - Duration::days(40);
        let now = Utc::now();
        let (stale, _) = store.account_for_email(&email("stale@example.org"), long_ago).unwrap();
        let (saver, _) = store.account_for_email(&email("saver@example.org"), long_ago).unwrap();
        store.save_paper(saver.id, ArxivId::parse("2401.00001").unwrap(), &[], long_ago).unwrap();
        let (fresh, _) = store.account_for_email(&email("fresh@example.org"), now).unwrap();
        let (active, _) = store.account_for_email(&email("active@example.org"), long_ago).unwrap();
        store.set_status(active.id, AccountStatus::Active, long_ago).unwrap();
        assert!(store.rate_limit("old", 3, 60, long_ago).unwrap());
        assert!(store.rate_limit("new", 3, 60, now).unwrap());
        store.insert_token(b"t", fresh.id, TokenPurpose::SignIn, long_ago + Duration::minutes(30), long_ago).unwrap();
        let pruned = store.prune_stale(now - Duration::days(30), now - Duration::days(1), now).unwrap();
        assert_eq!(pruned, Pruned { unconfirmed_accounts: 1, rate_limits: 1, expired_secrets: 1 });
        assert!(store.account(stale.id).unwrap().is_none());
        for kept in [saver.id, fresh.id, active.id] {
            assert!(store.account(kept).unwrap().is_some(), "account {kept} is kept");
        }
        assert!(!store.rate_limit("new", 1, 60, now).unwrap(), "a live counter is kept");
    }

    #[test]
    fn old_deliveries_are_forgotten_and_queued_mail_is_kept() {
        let (_dir, store) = store();
        let long_ago = Utc::now() - Duration::days(90);
        let now = Utc::now();
        let (account, _) = store.account_for_email(&email("a@example.org"), long_ago).unwrap();
        let message = |key: &str, paper: &str| NewMessage {
            account_id: account.id,
            kind: "digest".into(),
            dedupe_key: key.into(),
            message_id: format!("<{key}@x>"),
            recipient: account.email.clone(),
            payload: "{}".into(),
            papers: vec![ArxivId::parse(paper).unwrap()],
        };
        let old_sent = ArxivId::parse("2401.00001").unwrap();
        let old_queued = ArxivId::parse("2401.00002").unwrap();
        let recent = ArxivId::parse("2401.00003").unwrap();
        store.enqueue(&[message("old-sent", "2401.00001")], None, long_ago).unwrap();
        let claimed = store.claim_due(10, long_ago).unwrap();
        store.record_delivery(claimed[0].id, &Delivery::Sent, long_ago).unwrap();
        store.enqueue(&[message("old-queued", "2401.00002")], None, long_ago).unwrap();
        store.enqueue(&[message("recent", "2401.00003")], None, now).unwrap();
        // The old queued message is being retried (queued again); the recent one went out.
        for m in store.claim_due(10, now).unwrap() {
            let delivery = match m.dedupe_key.as_str() {
                "old-queued" => Delivery::Retry { error: "451".into(), at: now + Duration::hours(1) },
                _ => Delivery::Sent,
            };
            store.record_delivery(m.id, &delivery, now).unwrap();
        }

        assert_eq!(store.prune_delivered(now - Duration::days(60)).unwrap(), (1, 1));
        let sent = store.sent_papers(&[old_sent, old_queued, recent]).unwrap();
        assert_eq!(sent, [(account.id, old_queued), (account.id, recent)]);
        assert_eq!(store.messages_of(account.id, 10).unwrap().len(), 2);
        assert_eq!(store.prune_delivered(now - Duration::days(60)).unwrap(), (0, 0), "nothing twice");
    }

    #[test]
    fn messages_left_sending_by_a_dead_sender_go_back_to_the_queue() {
        let (_dir, store) = store();
        let now = Utc::now();
        let (account, _) = store.account_for_email(&email("a@example.org"), now).unwrap();
        let message = NewMessage {
            account_id: account.id,
            kind: "digest".into(),
            dedupe_key: "k".into(),
            message_id: "<m@x>".into(),
            recipient: account.email.clone(),
            payload: "{}".into(),
            papers: vec![],
        };
        store.enqueue(&[message], None, now).unwrap();
        assert_eq!(store.claim_due(1, now).unwrap().len(), 1);
        assert_eq!(store.requeue_sending(now + Duration::seconds(1)).unwrap(), 1);
        assert_eq!(store.claim_due(1, now).unwrap().len(), 1);
    }

    #[test]
    fn rate_limits_count_within_a_window() {
        let (_dir, store) = store();
        let now = Utc::now();
        for _ in 0..3 {
            assert!(store.rate_limit("k", 3, 60, now).unwrap());
        }
        assert!(!store.rate_limit("k", 3, 60, now + Duration::seconds(10)).unwrap());
        assert!(store.rate_limit("k", 3, 60, now + Duration::seconds(61)).unwrap(), "a new window");
    }
}
