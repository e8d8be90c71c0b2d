//! [`AccountStore`] on PostgreSQL.

use chrono::{DateTime, Utc};
use paperboy_domain::{AccountId, EmailAddress, Preferences};
use postgres::Row;

use super::{PostgresStore, library::refresh_local_upvotes};
use crate::{Account, AccountStatus, AccountStore, Error, Pruned, Result, TokenPurpose};

/// `SELECT` of an account's columns where `$condition` holds.
macro_rules! accounts_where {
    ($condition:literal) => {
        concat!(
            "SELECT id, email, status, preferences::text, created_at, confirmed_at, last_digest_on, suppressed_at, \
             hard_failures, suppressed_reason FROM accounts WHERE ",
            $condition
        )
    };
}

fn decode_account(row: &Row) -> Result<Account> {
    let id: i64 = row.get(0);
    let email: String = row.get(1);
    let status: String = row.get(2);
    let preferences: String = row.get(3);
    Ok(Account {
        id: AccountId(id),
        email: EmailAddress::parse(&email).map_err(|e| Error::Corrupt(format!("account {id}: {e}")))?,
        status: AccountStatus::from_stored(&status)?,
        preferences: serde_json::from_str(&preferences)
            .map_err(|e| Error::Corrupt(format!("account {id} preferences: {e}")))?,
        created_at: row.get(4),
        confirmed_at: row.get(5),
        last_digest_on: row.get(6),
        suppressed_at: row.get(7),
        hard_failures: row.get::<_, i64>(8).clamp(0, u32::MAX as i64) as u32,
        suppressed_reason: row.get(9),
    })
}

fn decode_accounts(rows: &[Row]) -> Result<Vec<Account>> {
    rows.iter().map(decode_account).collect()
}

pub(super) fn preferences_json(preferences: &Preferences) -> String {
    serde_json::to_string(preferences).expect("preferences serialise")
}

impl AccountStore for PostgresStore {
    fn account_for_email(&self, email: &EmailAddress, now: DateTime<Utc>) -> Result<(Account, bool)> {
        let defaults = preferences_json(&Preferences::default());
        let created = self.write(|tx| {
            let inserted = tx.execute(
                "INSERT INTO accounts (email, status, preferences, created_at) VALUES ($1, 'pending', $2::text::jsonb, $3)
                 ON CONFLICT (email) DO NOTHING",
                &[&email.as_str(), &defaults, &now],
            )?;
            Ok(inserted == 1)
        })?;
        let account = self.account_by_email(email)?.ok_or_else(|| Error::Corrupt("an account vanished".into()))?;
        Ok((account, created))
    }

    fn account(&self, id: AccountId) -> Result<Option<Account>> {
        let row = self.read(|c| c.query_opt(accounts_where!("id = $1"), &[&id.0]))?;
        row.as_ref().map(decode_account).transpose()
    }

    fn account_by_email(&self, email: &EmailAddress) -> Result<Option<Account>> {
        let row = self.read(|c| c.query_opt(accounts_where!("email = $1"), &[&email.as_str()]))?;
        row.as_ref().map(decode_account).transpose()
    }

    fn accounts(&self, after: AccountId, limit: usize) -> Result<Vec<Account>> {
        let rows =
            self.read(|c| c.query(accounts_where!("id > $1 ORDER BY id LIMIT $2"), &[&after.0, &(limit as i64)]))?;
        decode_accounts(&rows)
    }

    fn active_accounts(&self, after: AccountId, limit: usize) -> Result<Vec<Account>> {
        let rows = self.read(|c| {
            c.query(
                accounts_where!("id > $1 AND status = 'active' AND suppressed_at IS NULL ORDER BY id LIMIT $2"),
                &[&after.0, &(limit as i64)],
            )
        })?;
        decode_accounts(&rows)
    }

    fn import_accounts(
        &self,
        accounts: &[(EmailAddress, AccountStatus, Preferences)],
        now: DateTime<Utc>,
    ) -> Result<usize> {
        self.write(|tx| {
            let mut created = 0;
            for (email, status, preferences) in accounts {
                let confirmed = (*status == AccountStatus::Active).then_some(now);
                created += tx.execute(
                    "INSERT INTO accounts (email, status, preferences, created_at, confirmed_at)
                     VALUES ($1, $2, $3::text::jsonb, $4, $5) ON CONFLICT (email) DO NOTHING",
                    &[&email.as_str(), &status.as_str(), &preferences_json(preferences), &now, &confirmed],
                )? as usize;
            }
            Ok(created)
        })
    }

    fn set_preferences(&self, id: AccountId, preferences: &Preferences) -> Result<()> {
        let json = preferences_json(preferences);
        self.write(|tx| {
            tx.execute("UPDATE accounts SET preferences = $2::text::jsonb WHERE id = $1", &[&id.0, &json])?;
            Ok(())
        })
    }

    fn set_status(&self, id: AccountId, status: AccountStatus, now: DateTime<Utc>) -> Result<()> {
        self.write(|tx| {
            tx.execute("UPDATE accounts SET status = $2 WHERE id = $1", &[&id.0, &status.as_str()])?;
            if status == AccountStatus::Active {
                tx.execute(
                    "UPDATE accounts SET confirmed_at = COALESCE(confirmed_at, $2), suppressed_at = NULL,
                         suppressed_reason = NULL, hard_failures = 0
                     WHERE id = $1",
                    &[&id.0, &now],
                )?;
            }
            Ok(())
        })
    }

    fn delete_account(&self, id: AccountId) -> Result<bool> {
        self.write(|tx| {
            let papers: Vec<String> = tx
                .query("SELECT paper_id FROM upvotes WHERE account_id = $1 ORDER BY paper_id", &[&id.0])?
                .iter()
                .map(|row| row.get(0))
                .collect();
            // The papers' upvote locks first, in the order an upvote takes them (lock, then the
            // account's rows), so that deleting and upvoting at once cannot deadlock.
            for paper in &papers {
                super::library::lock_paper_upvotes(tx, paper)?;
            }
            let deleted = tx.execute("DELETE FROM accounts WHERE id = $1", &[&id.0])? == 1;
            let now = Utc::now();
            for paper in papers {
                refresh_local_upvotes(tx, &paper, now)?;
            }
            Ok(deleted)
        })
    }

    fn count_accounts(&self) -> Result<Vec<(AccountStatus, u64)>> {
        let rows =
            self.read(|c| c.query("SELECT status, COUNT(*) FROM accounts GROUP BY status ORDER BY status", &[]))?;
        rows.iter().map(|row| Ok((AccountStatus::from_stored(row.get(0))?, row.get::<_, i64>(1) as u64))).collect()
    }

    fn count_suppressed(&self) -> Result<u64> {
        self.read(|c| {
            Ok(c.query_one("SELECT COUNT(*) FROM accounts WHERE suppressed_at IS NOT NULL", &[])?.get::<_, i64>(0)
                as u64)
        })
    }

    fn suppressed_accounts(&self, after: AccountId, limit: usize) -> Result<Vec<Account>> {
        let rows = self.read(|c| {
            c.query(
                accounts_where!("id > $1 AND suppressed_at IS NOT NULL ORDER BY id LIMIT $2"),
                &[&after.0, &(limit as i64)],
            )
        })?;
        decode_accounts(&rows)
    }

    fn unsuppress(&self, id: AccountId) -> Result<bool> {
        self.write(|tx| {
            Ok(tx.execute(
                "UPDATE accounts SET suppressed_at = NULL, suppressed_reason = NULL, hard_failures = 0
                 WHERE id = $1 AND (suppressed_at IS NOT NULL OR hard_failures > 0)",
                &[&id.0],
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
                 WHERE status = 'pending' AND confirmed_at IS NULL AND suppressed_at IS NULL AND created_at < $1
                   AND NOT EXISTS (SELECT 1 FROM library WHERE library.account_id = accounts.id)
                   AND NOT EXISTS (SELECT 1 FROM upvotes WHERE upvotes.account_id = accounts.id)",
                &[&unconfirmed_before],
            )?;
            let rate_limits = tx.execute("DELETE FROM rate_limits WHERE window_start < $1", &[&limits_before])?;
            let expired_secrets = tx.execute("DELETE FROM auth_tokens WHERE expires_at < $1", &[&now])?
                + tx.execute("DELETE FROM sessions WHERE expires_at < $1", &[&now])?;
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
            tx.execute("DELETE FROM auth_tokens WHERE expires_at < $1", &[&now])?;
            tx.execute(
                "INSERT INTO auth_tokens (hash, account_id, purpose, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
                &[&hash, &account.0, &purpose.as_str(), &now, &expires_at],
            )?;
            Ok(())
        })
    }

    fn use_token(&self, hash: &[u8], purpose: TokenPurpose, now: DateTime<Utc>) -> Result<Option<AccountId>> {
        self.write(|tx| {
            Ok(tx
                .query_opt(
                    "UPDATE auth_tokens SET used_at = $3
                     WHERE hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3
                     RETURNING account_id",
                    &[&hash, &purpose.as_str(), &now],
                )?
                .map(|row| AccountId(row.get(0))))
        })
    }

    fn token_is_valid(&self, hash: &[u8], purpose: TokenPurpose, now: DateTime<Utc>) -> Result<bool> {
        self.read(|c| {
            Ok(c.query_opt(
                "SELECT 1 FROM auth_tokens WHERE hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3",
                &[&hash, &purpose.as_str(), &now],
            )?
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
            tx.execute("DELETE FROM sessions WHERE expires_at < $1", &[&now])?;
            tx.execute(
                "INSERT INTO sessions (hash, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
                &[&hash, &account.0, &now, &expires_at],
            )?;
            Ok(())
        })
    }

    fn session(&self, hash: &[u8], now: DateTime<Utc>) -> Result<Option<AccountId>> {
        self.read(|c| {
            Ok(c.query_opt("SELECT account_id FROM sessions WHERE hash = $1 AND expires_at > $2", &[&hash, &now])?
                .map(|row| AccountId(row.get(0))))
        })
    }

    fn delete_session(&self, hash: &[u8]) -> Result<()> {
        self.write(|tx| {
            tx.execute("DELETE FROM sessions WHERE hash = $1", &[&hash])?;
            Ok(())
        })
    }

    fn end_all_sessions(&self) -> Result<u64> {
        self.write(|tx| tx.execute("DELETE FROM sessions", &[]))
    }
}
