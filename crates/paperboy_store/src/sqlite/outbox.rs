//! [`OutboxStore`] on SQLite.

use chrono::{DateTime, NaiveDate, Utc};
use paperboy_domain::{AccountId, ArxivId};
use rusqlite::{OptionalExtension, Row, params};

use super::{SqliteStore, parse_time};
use crate::{Claim, Delivery, MessageState, NewMessage, OutboxMessage, OutboxStore, Result};

const MESSAGE_COLUMNS: &str = "id, account_id, kind, dedupe_key, message_id, recipient, payload, state, attempts, \
     next_attempt_at, last_error, created_at, sent_at";

/// A row's raw columns, decoded outside rusqlite's closure so errors keep their meaning.
struct RawMessage {
    message: OutboxMessage,
    state: String,
    next_attempt_at: String,
    created_at: String,
    sent_at: Option<String>,
}

fn read_message(row: &Row<'_>) -> rusqlite::Result<RawMessage> {
    Ok(RawMessage {
        message: OutboxMessage {
            id: row.get(0)?,
            account_id: row.get::<_, Option<i64>>(1)?.map(AccountId),
            kind: row.get(2)?,
            dedupe_key: row.get(3)?,
            message_id: row.get(4)?,
            recipient: row.get(5)?,
            payload: row.get(6)?,
            state: MessageState::Queued,
            attempts: row.get::<_, i64>(8)?.clamp(0, u32::MAX as i64) as u32,
            next_attempt_at: DateTime::<Utc>::MIN_UTC,
            last_error: row.get(10)?,
            created_at: DateTime::<Utc>::MIN_UTC,
            sent_at: None,
        },
        state: row.get(7)?,
        next_attempt_at: row.get(9)?,
        created_at: row.get(11)?,
        sent_at: row.get(12)?,
    })
}

fn decode_message(raw: RawMessage) -> Result<OutboxMessage> {
    let mut message = raw.message;
    message.state = MessageState::from_stored(&raw.state)?;
    message.next_attempt_at = parse_time(&raw.next_attempt_at)?;
    message.created_at = parse_time(&raw.created_at)?;
    message.sent_at = raw.sent_at.as_deref().map(parse_time).transpose()?;
    Ok(message)
}

impl OutboxStore for SqliteStore {
    fn set_last_digest(&self, ids: &[AccountId], day: NaiveDate) -> Result<()> {
        self.write(|tx| {
            let mut update = tx.prepare_cached("UPDATE accounts SET last_digest_on = ?2 WHERE id = ?1")?;
            for id in ids {
                update.execute(params![id.0, day.to_string()])?;
            }
            Ok(())
        })
    }

    fn sent_papers(&self, papers: &[ArxivId]) -> Result<Vec<(AccountId, ArxivId)>> {
        self.with_reader(|c| {
            let mut statement = c.prepare_cached("SELECT account_id FROM sent_papers WHERE paper_id = ?1")?;
            let mut out = Vec::new();
            for paper in papers {
                let rows = statement.query_map([paper.base().to_string()], |row| row.get::<_, i64>(0))?;
                for account in rows {
                    out.push((AccountId(account?), paper.base()));
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
                    message.account_id.0,
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
                    sent.execute(params![message.account_id.0, paper.base().to_string(), outbox_id])?;
                }
                if let Some(period) = period {
                    period_update.execute(params![message.account_id.0, period.to_string()])?;
                }
            }
            Ok(new)
        })
    }

    fn claim_due(&self, limit: usize, now: DateTime<Utc>, reclaim_before: DateTime<Utc>) -> Result<Vec<OutboxMessage>> {
        let now_text = now.to_rfc3339();
        self.write(|tx| {
            let mut statement = tx.prepare_cached(&format!(
                "UPDATE outbox SET state = 'sending', claimed_at = ?1, attempts = attempts + 1
                 WHERE id IN (
                     SELECT id FROM outbox WHERE state = 'queued' AND next_attempt_at <= ?1
                     UNION ALL
                     SELECT id FROM outbox WHERE state = 'sending' AND claimed_at < ?3
                     ORDER BY id LIMIT ?2)
                 RETURNING {MESSAGE_COLUMNS}"
            ))?;
            let rows =
                statement.query_map(params![now_text, limit as i64, reclaim_before.to_rfc3339()], read_message)?;
            let mut messages = rows.map(|r| decode_message(r?)).collect::<Result<Vec<_>>>()?;
            messages.sort_by_key(|m| m.id);
            Ok(messages)
        })
    }

    fn record_delivery(&self, claim: Claim, delivery: &Delivery, now: DateTime<Utc>) -> Result<bool> {
        let now_text = now.to_rfc3339();
        let id = claim.id;
        self.write(|tx| {
            let held: Option<i64> = tx
                .query_row(
                    "SELECT 1 FROM outbox WHERE id = ?1 AND state = 'sending' AND attempts = ?2",
                    params![id, claim.attempt],
                    |row| row.get(0),
                )
                .optional()?;
            if held.is_none() {
                return Ok(false);
            }
            match delivery {
                Delivery::Sent => {
                    tx.execute("UPDATE outbox SET state = 'sent', sent_at = ?2, last_error = NULL WHERE id = ?1", params![id, now_text])?;
                    scrub_secrets(tx, id)?;
                    // Bounces count in a row: a mailbox that took mail since is not going away.
                    tx.execute(
                        "UPDATE accounts SET hard_failures = 0
                         WHERE id = (SELECT account_id FROM outbox WHERE id = ?1) AND hard_failures > 0 AND suppressed_at IS NULL",
                        [id],
                    )?;
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
            Ok(true)
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
            rows.map(|r| {
                let (state, n) = r?;
                Ok((MessageState::from_stored(&state)?, n as u64))
            })
            .collect()
        })
    }

    fn messages_of(&self, account: AccountId, limit: usize) -> Result<Vec<OutboxMessage>> {
        self.with_reader(|c| {
            let mut statement = c.prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM outbox WHERE account_id = ?1 ORDER BY id DESC LIMIT ?2"
            ))?;
            let rows = statement.query_map(params![account.0, limit as i64], read_message)?;
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

/// Sign-in and confirmation messages carry a live token until they are sent: then it goes, so that
/// the store holds tokens only as hashes.
fn scrub_secrets(tx: &rusqlite::Transaction<'_>, id: i64) -> Result<()> {
    tx.execute("UPDATE outbox SET payload = '{}' WHERE id = ?1 AND kind IN ('confirm', 'sign_in')", [id])?;
    Ok(())
}
