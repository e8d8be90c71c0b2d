//! [`SettingsStore`] on SQLite.

use chrono::{DateTime, Utc};
use paperboy_domain::AccountId;
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, parse_time};
use crate::{Result, SettingsStore};

fn f32_vector(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

impl SettingsStore for SqliteStore {
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

    fn try_lease(&self, name: &str, holder: &str, until: DateTime<Utc>, now: DateTime<Utc>) -> Result<bool> {
        self.write(|tx| {
            Ok(tx.execute(
                "INSERT INTO leases (name, holder, expires_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                 WHERE leases.expires_at < ?4 OR leases.holder = excluded.holder",
                params![name, holder, until.to_rfc3339(), now.to_rfc3339()],
            )? == 1)
        })
    }

    fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        self.write(|tx| {
            tx.execute("DELETE FROM leases WHERE name = ?1 AND holder = ?2", params![name, holder])?;
            Ok(())
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

    fn library_model(&self, account: AccountId, model: &str, library_hash: i64) -> Result<Option<Vec<f32>>> {
        self.with_reader(|c| {
            let bytes = c
                .prepare_cached(
                    "SELECT weights FROM library_models WHERE account_id = ?1 AND model = ?2 AND library_hash = ?3",
                )?
                .query_row(params![account.0, model, library_hash], |row| row.get::<_, Vec<u8>>(0))
                .optional()?;
            Ok(bytes.map(|b| f32_vector(&b)))
        })
    }

    fn put_library_model(&self, account: AccountId, model: &str, library_hash: i64, weights: &[f32]) -> Result<()> {
        self.write(|tx| {
            let bytes: Vec<u8> = weights.iter().flat_map(|v| v.to_le_bytes()).collect();
            tx.prepare_cached(
                "INSERT INTO library_models (account_id, model, library_hash, weights) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (account_id) DO UPDATE SET model = excluded.model, library_hash = excluded.library_hash, weights = excluded.weights",
            )?
            .execute(params![account.0, model, library_hash, bytes])?;
            Ok(())
        })
    }
}
