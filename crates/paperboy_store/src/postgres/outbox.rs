//! [`OutboxStore`] on PostgreSQL. Senders on any number of nodes claim with `FOR UPDATE SKIP
//! LOCKED`: two claims at once take different messages, and neither waits for the other.

use chrono::{DateTime, NaiveDate, Utc};
use paperboy_domain::{AccountId, ArxivId};
use postgres::Row;

use super::{Outcome, PostgresStore, Tx};
use crate::{Claim, Delivery, MessageState, NewMessage, OutboxMessage, OutboxStore, Result};

macro_rules! message_columns {
    () => {
        "id, account_id, kind, dedupe_key, message_id, recipient, payload, state, attempts, next_attempt_at, \
         last_error, created_at, sent_at"
    };
}

fn decode_message(row: &Row) -> Result<OutboxMessage> {
    Ok(OutboxMessage {
        id: row.get(0),
        account_id: row.get::<_, Option<i64>>(1).map(AccountId),
        kind: row.get(2),
        dedupe_key: row.get(3),
        message_id: row.get(4),
        recipient: row.get(5),
        payload: row.get(6),
        state: MessageState::from_stored(row.get(7))?,
        attempts: row.get::<_, i64>(8).clamp(0, u32::MAX as i64) as u32,
        next_attempt_at: row.get(9),
        last_error: row.get(10),
        created_at: row.get(11),
        sent_at: row.get(12),
    })
}

impl OutboxStore for PostgresStore {
    fn set_last_digest(&self, ids: &[AccountId], day: NaiveDate) -> Result<()> {
        let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
        self.write(|tx| {
            tx.execute("UPDATE accounts SET last_digest_on = $2 WHERE id = ANY($1)", &[&ids, &day])?;
            Ok(())
        })
    }

    fn sent_papers(&self, papers: &[ArxivId]) -> Result<Vec<(AccountId, ArxivId)>> {
        let keys: Vec<String> = papers.iter().map(|p| p.base().to_string()).collect();
        let rows = self.read(|c| {
            c.query(
                "SELECT account_id, paper_id FROM sent_papers WHERE paper_id = ANY($1) ORDER BY paper_id, account_id",
                &[&keys],
            )
        })?;
        let by_key: std::collections::HashMap<String, ArxivId> =
            papers.iter().map(|p| (p.base().to_string(), p.base())).collect();
        let mut out: Vec<(AccountId, ArxivId)> = rows
            .iter()
            .filter_map(|row| by_key.get(row.get::<_, &str>(1)).map(|paper| (AccountId(row.get(0)), *paper)))
            .collect();
        // In the order the papers were asked for, as the embedded store answers.
        let position: std::collections::HashMap<ArxivId, usize> =
            papers.iter().enumerate().map(|(i, p)| (p.base(), i)).collect();
        out.sort_by_key(|(account, paper)| (position.get(paper).copied(), account.0));
        Ok(out)
    }

    fn enqueue(&self, messages: &[NewMessage], period: Option<NaiveDate>, now: DateTime<Utc>) -> Result<usize> {
        self.write(|tx| {
            let mut new = 0;
            for message in messages {
                let inserted = tx.query_opt(
                    "INSERT INTO outbox (account_id, kind, dedupe_key, message_id, recipient, payload, state,
                         next_attempt_at, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7, $7)
                     ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
                    &[
                        &message.account_id.0,
                        &message.kind,
                        &message.dedupe_key,
                        &message.message_id,
                        &message.recipient.as_str(),
                        &message.payload,
                        &now,
                    ],
                )?;
                let Some(row) = inserted else { continue };
                let outbox_id: i64 = row.get(0);
                new += 1;
                let papers: Vec<String> = message.papers.iter().map(|p| p.base().to_string()).collect();
                tx.execute(
                    "INSERT INTO sent_papers (account_id, paper_id, outbox_id) SELECT $1, paper, $3 FROM unnest($2::text[]) AS paper
                     ON CONFLICT DO NOTHING",
                    &[&message.account_id.0, &papers, &outbox_id],
                )?;
                if let Some(period) = period {
                    tx.execute("UPDATE accounts SET last_digest_on = $2 WHERE id = $1", &[&message.account_id.0, &period])?;
                }
            }
            Ok(new)
        })
    }

    fn claim_due(&self, limit: usize, now: DateTime<Utc>, reclaim_before: DateTime<Utc>) -> Result<Vec<OutboxMessage>> {
        let rows = self.write(|tx| {
            tx.query(
                concat!(
                    "UPDATE outbox SET state = 'sending', claimed_at = $1, attempts = attempts + 1
                     WHERE id IN (
                         SELECT id FROM outbox
                         WHERE (state = 'queued' AND next_attempt_at <= $1) OR (state = 'sending' AND claimed_at < $3)
                         ORDER BY id LIMIT $2
                         FOR UPDATE SKIP LOCKED)
                     RETURNING ",
                    message_columns!()
                ),
                &[&now, &(limit as i64), &reclaim_before],
            )
        })?;
        let mut messages = rows.iter().map(decode_message).collect::<Result<Vec<_>>>()?;
        messages.sort_by_key(|m| m.id);
        Ok(messages)
    }

    fn record_delivery(&self, claim: Claim, delivery: &Delivery, now: DateTime<Utc>) -> Result<bool> {
        self.write(|tx| {
            // Locked, so that no sender claims it again between this check and the update.
            let held = tx.query_opt(
                "SELECT 1 FROM outbox WHERE id = $1 AND state = 'sending' AND attempts = $2 FOR UPDATE",
                &[&claim.id, &i64::from(claim.attempt)],
            )?;
            if held.is_none() {
                return Ok(false);
            }
            record(tx, claim.id, delivery, now)?;
            Ok(true)
        })
    }

    fn requeue_sending(&self, claimed_before: DateTime<Utc>) -> Result<usize> {
        self.write(|tx| {
            Ok(tx.execute(
                "UPDATE outbox SET state = 'queued', last_error = 'interrupted while sending'
                 WHERE state = 'sending' AND claimed_at < $1",
                &[&claimed_before],
            )? as usize)
        })
    }

    fn prune_delivered(&self, created_before: DateTime<Utc>) -> Result<(u64, u64)> {
        let (mut messages, mut papers) = (0u64, 0u64);
        // In batches, so that no transaction holds many locks for long.
        loop {
            let (batch, removed) = self.write(|tx| {
                let rows = tx.query(
                    "DELETE FROM outbox WHERE id IN (
                         SELECT id FROM outbox WHERE created_at < $1 AND state IN ('sent', 'failed') LIMIT 2000
                         FOR UPDATE SKIP LOCKED)
                     RETURNING id, account_id",
                    &[&created_before],
                )?;
                let ids: Vec<i64> = rows.iter().map(|row| row.get(0)).collect();
                let accounts: Vec<Option<i64>> = rows.iter().map(|row| row.get(1)).collect();
                let accounts: Vec<i64> = accounts.into_iter().map(|a| a.unwrap_or(-1)).collect();
                let removed = tx.execute(
                    "DELETE FROM sent_papers USING unnest($1::bigint[], $2::bigint[]) AS gone (account_id, outbox_id)
                     WHERE sent_papers.account_id = gone.account_id AND sent_papers.outbox_id = gone.outbox_id",
                    &[&accounts, &ids],
                )?;
                Ok((ids.len() as u64, removed))
            })?;
            messages += batch;
            papers += removed;
            if batch < 2000 {
                return Ok((messages, papers));
            }
        }
    }

    fn outbox_counts(&self) -> Result<Vec<(MessageState, u64)>> {
        let rows = self.read(|c| c.query("SELECT state, COUNT(*) FROM outbox GROUP BY state", &[]))?;
        rows.iter().map(|row| Ok((MessageState::from_stored(row.get(0))?, row.get::<_, i64>(1) as u64))).collect()
    }

    fn messages_of(&self, account: AccountId, limit: usize) -> Result<Vec<OutboxMessage>> {
        let rows = self.read(|c| {
            c.query(
                concat!("SELECT ", message_columns!(), " FROM outbox WHERE account_id = $1 ORDER BY id DESC LIMIT $2"),
                &[&account.0, &(limit as i64)],
            )
        })?;
        rows.iter().map(decode_message).collect()
    }

    fn message(&self, id: i64) -> Result<Option<OutboxMessage>> {
        let row =
            self.read(|c| c.query_opt(concat!("SELECT ", message_columns!(), " FROM outbox WHERE id = $1"), &[&id]))?;
        row.as_ref().map(decode_message).transpose()
    }
}

fn record(tx: &mut Tx<'_>, id: i64, delivery: &Delivery, now: DateTime<Utc>) -> Outcome<()> {
    match delivery {
        Delivery::Sent => {
            tx.execute(
                "UPDATE outbox SET state = 'sent', sent_at = $2, last_error = NULL WHERE id = $1",
                &[&id, &now],
            )?;
            scrub_secrets(tx, id)?;
            // Bounces count in a row: a mailbox that took mail since is not going away.
            tx.execute(
                "UPDATE accounts SET hard_failures = 0
                 WHERE id = (SELECT account_id FROM outbox WHERE id = $1) AND hard_failures > 0 AND suppressed_at IS NULL",
                &[&id],
            )?;
        }
        Delivery::Retry { error, at } => {
            tx.execute(
                "UPDATE outbox SET state = 'queued', next_attempt_at = $2, last_error = $3 WHERE id = $1",
                &[&id, at, error],
            )?;
        }
        Delivery::Deferred { error, at } => {
            tx.execute(
                "UPDATE outbox SET state = 'queued', next_attempt_at = $2, last_error = $3,
                     attempts = GREATEST(attempts - 1, 0) WHERE id = $1",
                &[&id, at, error],
            )?;
        }
        Delivery::Cancelled { reason } => {
            tx.execute("UPDATE outbox SET state = 'failed', last_error = $2 WHERE id = $1", &[&id, reason])?;
            scrub_secrets(tx, id)?;
        }
        Delivery::Failed { error, suppress_after } => {
            tx.execute("UPDATE outbox SET state = 'failed', last_error = $2 WHERE id = $1", &[&id, error])?;
            scrub_secrets(tx, id)?;
            if let Some(suppress_after) = suppress_after {
                tx.execute(
                    "UPDATE accounts SET hard_failures = hard_failures + 1,
                         suppressed_reason = CASE WHEN suppressed_at IS NULL AND hard_failures + 1 >= $2 THEN $4 ELSE suppressed_reason END,
                         suppressed_at = CASE WHEN hard_failures + 1 >= $2 THEN COALESCE(suppressed_at, $3) ELSE suppressed_at END
                     WHERE id = (SELECT account_id FROM outbox WHERE id = $1)",
                    &[&id, &i64::from(*suppress_after), &now, error],
                )?;
            }
        }
    }
    Ok(())
}

/// Sign-in and confirmation messages carry a live token until they are sent: then it goes, so that
/// the store holds tokens only as hashes.
fn scrub_secrets(tx: &mut Tx<'_>, id: i64) -> Outcome<()> {
    tx.execute("UPDATE outbox SET payload = '{}' WHERE id = $1 AND kind IN ('confirm', 'sign_in')", &[&id])?;
    Ok(())
}
