//! [`AccountStore`] on SQLite.

use chrono::{DateTime, Utc};
use paperboy_domain::{AccountId, EmailAddress, Preferences};
use rusqlite::{OptionalExtension, Row, params};

use super::library::refresh_local_upvotes;
use super::{SqliteStore, parse_day, parse_time};
use crate::{Account, AccountStatus, AccountStore, Error, Pruned, Result, TokenPurpose};

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
        id: AccountId(raw.id),
        email: EmailAddress::parse(&raw.email).map_err(|e| Error::Corrupt(format!("account {}: {e}", raw.id)))?,
        status: AccountStatus::from_stored(&raw.status)?,
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

fn preferences_json(preferences: &Preferences) -> String {
    serde_json::to_string(preferences).expect("preferences serialise")
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

    fn account(&self, id: AccountId) -> Result<Option<Account>> {
        self.with_reader(|c| {
            let raw = c
                .prepare_cached(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?1"))?
                .query_row([id.0], read_account)
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

    fn accounts(&self, after: AccountId, limit: usize) -> Result<Vec<Account>> {
        self.with_reader(|c| {
            let mut statement = c.prepare_cached(&format!(
                "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id > ?1 ORDER BY id LIMIT ?2"
            ))?;
            let rows = statement.query_map(params![after.0, limit as i64], read_account)?;
            rows.map(|r| decode_account(r?)).collect()
        })
    }

    fn active_accounts(&self, after: AccountId, limit: usize) -> Result<Vec<Account>> {
        self.with_reader(|c| {
            let mut statement = c.prepare_cached(&format!(
                "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id > ?1 AND status = 'active' AND suppressed_at IS NULL ORDER BY id LIMIT ?2"
            ))?;
            let rows = statement.query_map(params![after.0, limit as i64], read_account)?;
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

    fn set_preferences(&self, id: AccountId, preferences: &Preferences) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE accounts SET preferences = ?2 WHERE id = ?1",
                params![id.0, preferences_json(preferences)],
            )?;
            Ok(())
        })
    }

    fn set_status(&self, id: AccountId, status: AccountStatus, now: DateTime<Utc>) -> Result<()> {
        self.write(|tx| {
            tx.execute("UPDATE accounts SET status = ?2 WHERE id = ?1", params![id.0, status.as_str()])?;
            if status == AccountStatus::Active {
                tx.execute(
                    "UPDATE accounts SET confirmed_at = COALESCE(confirmed_at, ?2), suppressed_at = NULL,
                         suppressed_reason = NULL, hard_failures = 0
                     WHERE id = ?1",
                    params![id.0, now.to_rfc3339()],
                )?;
            }
            Ok(())
        })
    }

    fn delete_account(&self, id: AccountId) -> Result<bool> {
        self.write(|tx| {
            let papers: Vec<String> = tx
                .prepare("SELECT paper_id FROM upvotes WHERE account_id = ?1")?
                .query_map([id.0], |row| row.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let deleted = tx.execute("DELETE FROM accounts WHERE id = ?1", [id.0])? == 1;
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
            rows.map(|r| {
                let (status, n) = r?;
                Ok((AccountStatus::from_stored(&status)?, n as u64))
            })
            .collect()
        })
    }

    fn count_suppressed(&self) -> Result<u64> {
        self.with_reader(|c| {
            Ok(c.query_row("SELECT COUNT(*) FROM accounts WHERE suppressed_at IS NOT NULL", [], |row| {
                row.get::<_, i64>(0)
            })? as u64)
        })
    }

    fn suppressed_accounts(&self, after: AccountId, limit: usize) -> Result<Vec<Account>> {
        self.with_reader(|c| {
            let mut statement = c.prepare_cached(&format!(
                "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id > ?1 AND suppressed_at IS NOT NULL ORDER BY id LIMIT ?2"
            ))?;
            let rows = statement.query_map(params![after.0, limit as i64], read_account)?;
            rows.map(|r| decode_account(r?)).collect()
        })
    }

    fn unsuppress(&self, id: AccountId) -> Result<bool> {
        self.write(|tx| {
            Ok(tx.execute(
                "UPDATE accounts SET suppressed_at = NULL, suppressed_reason = NULL, hard_failures = 0
                 WHERE id = ?1 AND (suppressed_at IS NOT NULL OR hard_failures > 0)",
                [id.0],
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
                 WHERE status = 'pending' AND confirmed_at IS NULL AND suppressed_at IS NULL AND created_at < ?1
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
        account: AccountId,
        purpose: TokenPurpose,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.write(|tx| {
            // Expired tokens are no use to anyone: drop them on the way.
            tx.execute("DELETE FROM auth_tokens WHERE expires_at < ?1", [now.to_rfc3339()])?;
            tx.execute(
                "INSERT INTO auth_tokens (hash, account_id, purpose, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![hash, account.0, purpose.as_str(), now.to_rfc3339(), expires_at.to_rfc3339()],
            )?;
            Ok(())
        })
    }

    fn use_token(&self, hash: &[u8], purpose: TokenPurpose, now: DateTime<Utc>) -> Result<Option<AccountId>> {
        self.write(|tx| {
            Ok(tx
                .query_row(
                    "UPDATE auth_tokens SET used_at = ?3
                     WHERE hash = ?1 AND purpose = ?2 AND used_at IS NULL AND expires_at > ?3
                     RETURNING account_id",
                    params![hash, purpose.as_str(), now.to_rfc3339()],
                    |row| row.get(0).map(AccountId),
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
        account: AccountId,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.write(|tx| {
            tx.execute("DELETE FROM sessions WHERE expires_at < ?1", [now.to_rfc3339()])?;
            tx.execute(
                "INSERT INTO sessions (hash, account_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![hash, account.0, now.to_rfc3339(), expires_at.to_rfc3339()],
            )?;
            Ok(())
        })
    }

    fn session(&self, hash: &[u8], now: DateTime<Utc>) -> Result<Option<AccountId>> {
        self.with_reader(|c| {
            Ok(c.prepare_cached("SELECT account_id FROM sessions WHERE hash = ?1 AND expires_at > ?2")?
                .query_row(params![hash, now.to_rfc3339()], |row| row.get(0).map(AccountId))
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
}
