//! [`ApiTokenStore`] on SQLite.

use chrono::{DateTime, Utc};
use paperboy_domain::AccountId;
use rusqlite::{OptionalExtension, Row, params};

use super::{SqliteStore, parse_time};
use crate::{ApiToken, ApiTokenStore, Result, TokenScope, api_tokens::to_the_minute};

const COLUMNS: &str = "id, account_id, name, scope, created_at, last_used_at";

type RawToken = (String, i64, String, String, String, Option<String>);

fn raw(row: &Row<'_>) -> rusqlite::Result<RawToken> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?))
}

fn token((id, account, name, scope, created_at, last_used_at): RawToken) -> Result<ApiToken> {
    Ok(ApiToken {
        id,
        account: AccountId(account),
        name,
        scope: TokenScope::from_stored(&scope)?,
        created_at: parse_time(&created_at)?,
        last_used_at: last_used_at.as_deref().map(parse_time).transpose()?,
    })
}

impl ApiTokenStore for SqliteStore {
    fn insert_api_token(&self, token: &ApiToken, hash: &[u8]) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO api_tokens (id, account_id, hash, name, scope, created_at, last_used_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    token.id,
                    token.account.0,
                    hash,
                    token.name,
                    token.scope.as_str(),
                    token.created_at.to_rfc3339(),
                    token.last_used_at.map(|t| t.to_rfc3339())
                ],
            )?;
            Ok(())
        })
    }

    fn api_tokens(&self, account: AccountId) -> Result<Vec<ApiToken>> {
        let rows = self.with_reader(|c| {
            let mut statement = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM api_tokens WHERE account_id = ?1 ORDER BY created_at DESC, id"
            ))?;
            let rows = statement.query_map([account.0], raw)?.collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })?;
        rows.into_iter().map(token).collect()
    }

    fn api_token_by_hash(&self, hash: &[u8]) -> Result<Option<ApiToken>> {
        let row = self.with_reader(|c| {
            Ok(c.prepare_cached(&format!("SELECT {COLUMNS} FROM api_tokens WHERE hash = ?1"))?
                .query_row([hash], raw)
                .optional()?)
        })?;
        row.map(token).transpose()
    }

    fn touch_api_token(&self, id: &str, now: DateTime<Utc>) -> Result<()> {
        let minute = to_the_minute(now).to_rfc3339();
        // Read first: most uses fall in a minute already recorded and need no write transaction.
        let recorded = self.with_reader(|c| {
            Ok(c.prepare_cached("SELECT last_used_at FROM api_tokens WHERE id = ?1")?
                .query_row([id], |row| row.get::<_, Option<String>>(0))
                .optional()?)
        })?;
        if recorded.flatten().as_deref() == Some(minute.as_str()) {
            return Ok(());
        }
        self.write(|tx| {
            tx.execute("UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1", params![id, minute])?;
            Ok(())
        })
    }

    fn delete_api_token(&self, account: AccountId, id: &str) -> Result<bool> {
        self.write(|tx| {
            Ok(tx.execute("DELETE FROM api_tokens WHERE account_id = ?1 AND id = ?2", params![account.0, id])? == 1)
        })
    }
}
