//! [`SettingsStore`] on PostgreSQL: rate limits are one atomic statement each, so the limit holds
//! when several nodes count at once.

use chrono::{DateTime, Utc};
use paperboy_domain::AccountId;

use super::PostgresStore;
use crate::{Result, SettingsStore};

fn f32_vector(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

impl SettingsStore for PostgresStore {
    fn rate_limit(&self, key: &str, max: u32, window_seconds: i64, now: DateTime<Utc>) -> Result<bool> {
        let window = window_seconds as f64;
        self.write(|tx| {
            // A hit past the limit still counts (harmless: the window restarts as it would).
            let row = tx.query_one(
                "INSERT INTO rate_limits (key, window_start, count) VALUES ($1, $2, 1)
                 ON CONFLICT (key) DO UPDATE SET
                     count = CASE WHEN rate_limits.window_start > $2 - make_interval(secs => $3)
                                  THEN rate_limits.count + 1 ELSE 1 END,
                     window_start = CASE WHEN rate_limits.window_start > $2 - make_interval(secs => $3)
                                         THEN rate_limits.window_start ELSE $2 END
                 RETURNING count",
                &[&key, &now, &window],
            )?;
            Ok(row.get::<_, i64>(0) <= i64::from(max))
        })
    }

    fn try_lease(&self, name: &str, holder: &str, until: DateTime<Utc>, now: DateTime<Utc>) -> Result<bool> {
        self.write(|tx| {
            Ok(tx
                .query_opt(
                    "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3)
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                     WHERE leases.expires_at < $4 OR leases.holder = excluded.holder
                     RETURNING holder",
                    &[&name, &holder, &until, &now],
                )?
                .is_some())
        })
    }

    fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        self.write(|tx| {
            tx.execute("DELETE FROM leases WHERE name = $1 AND holder = $2", &[&name, &holder])?;
            Ok(())
        })
    }

    fn setting(&self, key: &str) -> Result<Option<String>> {
        self.read(|c| Ok(c.query_opt("SELECT value FROM settings WHERE key = $1", &[&key])?.map(|row| row.get(0))))
    }

    fn put_setting(&self, key: &str, value: &str) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[&key, &value],
            )?;
            Ok(())
        })
    }

    fn delete_setting(&self, key: &str) -> Result<()> {
        self.write(|tx| {
            tx.execute("DELETE FROM settings WHERE key = $1", &[&key])?;
            Ok(())
        })
    }

    fn query_vectors(&self, model: &str, hashes: &[i64]) -> Result<Vec<(i64, Vec<f32>)>> {
        let rows = self.read(|c| {
            c.query(
                "SELECT text_hash, vector FROM query_vectors WHERE model = $1 AND text_hash = ANY($2)",
                &[&model, &hashes],
            )
        })?;
        let mut found: std::collections::HashMap<i64, Vec<f32>> =
            rows.iter().map(|row| (row.get(0), f32_vector(row.get(1)))).collect();
        // In the order asked, as the embedded store answers.
        Ok(hashes.iter().filter_map(|hash| found.remove(hash).map(|v| (*hash, v))).collect())
    }

    fn put_query_vectors(&self, model: &str, vectors: &[(i64, Vec<f32>)]) -> Result<()> {
        self.write(|tx| {
            for (hash, vector) in vectors {
                tx.execute(
                    "INSERT INTO query_vectors (model, text_hash, vector) VALUES ($1, $2, $3)
                     ON CONFLICT (model, text_hash) DO UPDATE SET vector = excluded.vector",
                    &[&model, hash, &f32_bytes(vector)],
                )?;
            }
            Ok(())
        })
    }

    fn library_model(&self, account: AccountId, model: &str, library_hash: i64) -> Result<Option<Vec<f32>>> {
        self.read(|c| {
            Ok(c.query_opt(
                "SELECT weights FROM library_models WHERE account_id = $1 AND model = $2 AND library_hash = $3",
                &[&account.0, &model, &library_hash],
            )?
            .map(|row| f32_vector(row.get(0))))
        })
    }

    fn put_library_model(&self, account: AccountId, model: &str, library_hash: i64, weights: &[f32]) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO library_models (account_id, model, library_hash, weights) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (account_id) DO UPDATE SET model = excluded.model, library_hash = excluded.library_hash,
                     weights = excluded.weights",
                &[&account.0, &model, &library_hash, &f32_bytes(weights)],
            )?;
            Ok(())
        })
    }
}
