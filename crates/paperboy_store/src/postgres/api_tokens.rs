//! [`ApiTokenStore`] on PostgreSQL.

use chrono::{DateTime, Utc};
use paperboy_domain::AccountId;

use super::PostgresStore;
use crate::{ApiToken, ApiTokenStore, Result, TokenScope, api_tokens::to_the_minute};

fn token(row: &postgres::Row) -> Result<ApiToken> {
    Ok(ApiToken {
        id: row.get(0),
        account: AccountId(row.get(1)),
        name: row.get(2),
        scope: TokenScope::from_stored(row.get(3))?,
        created_at: row.get(4),
        last_used_at: row.get(5),
    })
}

impl ApiTokenStore for PostgresStore {
    fn insert_api_token(&self, token: &ApiToken, hash: &[u8]) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO api_tokens (id, account_id, hash, name, scope, created_at, last_used_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &token.id,
                    &token.account.0,
                    &hash,
                    &token.name,
                    &token.scope.as_str(),
                    &token.created_at,
                    &token.last_used_at,
                ],
            )?;
            Ok(())
        })
    }

    fn api_tokens(&self, account: AccountId) -> Result<Vec<ApiToken>> {
        let rows = self.read(|c| {
            c.query(
                "SELECT id, account_id, name, scope, created_at, last_used_at FROM api_tokens
                 WHERE account_id = $1 ORDER BY created_at DESC, id",
                &[&account.0],
            )
        })?;
        rows.iter().map(token).collect()
    }

    fn api_token_by_hash(&self, hash: &[u8]) -> Result<Option<ApiToken>> {
        let row = self.read(|c| {
            c.query_opt(
                "SELECT id, account_id, name, scope, created_at, last_used_at FROM api_tokens WHERE hash = $1",
                &[&hash],
            )
        })?;
        row.as_ref().map(token).transpose()
    }

    fn touch_api_token(&self, id: &str, now: DateTime<Utc>) -> Result<()> {
        let minute = to_the_minute(now);
        // The condition makes most uses, which fall in a minute already recorded, write nothing.
        self.read(|c| {
            c.query(
                "UPDATE api_tokens SET last_used_at = $2 WHERE id = $1 AND last_used_at IS DISTINCT FROM $2",
                &[&id, &minute],
            )
        })?;
        Ok(())
    }

    fn delete_api_token(&self, account: AccountId, id: &str) -> Result<bool> {
        self.write(|tx| {
            Ok(tx.execute("DELETE FROM api_tokens WHERE account_id = $1 AND id = $2", &[&account.0, &id])? == 1)
        })
    }
}
