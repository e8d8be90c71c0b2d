//! Moving a store to another backend (`paperboy store copy --to postgres://…`): every table is read
//! in key order as backend-neutral rows, written to the other store in batches, then read back from
//! it and compared, count and checksum, with what was read. The neutral form is the same whatever
//! the backend: times in UTC to the microsecond (PostgreSQL's precision), days as `YYYY-MM-DD`,
//! JSON with its keys sorted, bytes as hex.

use serde_json::Value;

use crate::{Error, Result, Store};

/// How a column's values are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text.
    Text,
    /// A 64-bit integer.
    Int,
    /// A point in time (UTC).
    Time,
    /// A calendar day.
    Day,
    /// A JSON document.
    Json,
    /// Bytes.
    Bytes,
}

/// One table as the copy sees it.
#[derive(Debug)]
pub struct Table {
    /// Its name (the same in every backend).
    pub name: &'static str,
    /// Its columns in order.
    pub columns: &'static [(&'static str, Kind)],
    /// The columns it is ordered by (its primary key).
    pub key: &'static str,
}

use Kind::{Bytes, Day, Int, Json, Text, Time};

/// Every table with data worth keeping, parents before children. Leases and the sequence counters
/// are not copied: leases are moments, and the counters are set from the copied rows.
pub const TABLES: &[Table] = &[
    Table {
        name: "papers",
        columns: &[
            ("id", Text),
            ("seq", Int),
            ("source", Text),
            ("version", Int),
            ("versions", Json),
            ("title", Text),
            ("abstract", Text),
            ("authors", Json),
            ("categories", Text),
            ("submitted", Time),
            ("updated", Time),
            ("announced", Day),
            ("comments", Text),
            ("journal_ref", Text),
            ("doi", Text),
            ("license", Text),
            ("content_hash", Int),
            ("first_stored", Time),
            ("last_changed", Time),
        ],
        key: "id",
    },
    Table {
        name: "signals",
        columns: &[
            ("paper_id", Text),
            ("source", Text),
            ("upvotes", Int),
            ("comments", Int),
            ("github_repo", Text),
            ("github_stars", Int),
            ("featured_on", Day),
            ("observed_at", Time),
        ],
        key: "paper_id, source",
    },
    Table { name: "checkpoints", columns: &[("key", Text), ("value", Text), ("updated_at", Time)], key: "key" },
    Table {
        name: "accounts",
        columns: &[
            ("id", Int),
            ("email", Text),
            ("status", Text),
            ("preferences", Json),
            ("created_at", Time),
            ("confirmed_at", Time),
            ("last_digest_on", Day),
            ("suppressed_at", Time),
            ("hard_failures", Int),
            ("suppressed_reason", Text),
        ],
        key: "id",
    },
    Table {
        name: "auth_tokens",
        columns: &[
            ("hash", Bytes),
            ("account_id", Int),
            ("purpose", Text),
            ("created_at", Time),
            ("expires_at", Time),
            ("used_at", Time),
        ],
        key: "hash",
    },
    Table {
        name: "sessions",
        columns: &[("hash", Bytes), ("account_id", Int), ("created_at", Time), ("expires_at", Time)],
        key: "hash",
    },
    Table {
        name: "api_tokens",
        columns: &[
            ("id", Text),
            ("account_id", Int),
            ("hash", Bytes),
            ("name", Text),
            ("scope", Text),
            ("created_at", Time),
            ("last_used_at", Time),
        ],
        key: "id",
    },
    Table {
        name: "library",
        columns: &[("account_id", Int), ("paper_id", Text), ("tags", Json), ("saved_at", Time)],
        key: "account_id, paper_id",
    },
    Table {
        name: "upvotes",
        columns: &[("account_id", Int), ("paper_id", Text), ("created_at", Time)],
        key: "account_id, paper_id",
    },
    Table {
        name: "paper_feedback",
        columns: &[("account_id", Int), ("paper_id", Text), ("kind", Text), ("created_at", Time)],
        key: "account_id, paper_id",
    },
    Table {
        name: "outbox",
        columns: &[
            ("id", Int),
            ("account_id", Int),
            ("kind", Text),
            ("dedupe_key", Text),
            ("message_id", Text),
            ("recipient", Text),
            ("payload", Text),
            ("state", Text),
            ("attempts", Int),
            ("next_attempt_at", Time),
            ("claimed_at", Time),
            ("last_error", Text),
            ("created_at", Time),
            ("sent_at", Time),
        ],
        key: "id",
    },
    Table {
        name: "sent_papers",
        columns: &[("account_id", Int), ("paper_id", Text), ("outbox_id", Int)],
        key: "account_id, paper_id",
    },
    Table { name: "rate_limits", columns: &[("key", Text), ("window_start", Time), ("count", Int)], key: "key" },
    Table { name: "settings", columns: &[("key", Text), ("value", Text)], key: "key" },
    Table {
        name: "library_models",
        columns: &[("account_id", Int), ("model", Text), ("library_hash", Int), ("weights", Bytes)],
        key: "account_id",
    },
    Table {
        name: "query_vectors",
        columns: &[("model", Text), ("text_hash", Int), ("vector", Bytes)],
        key: "model, text_hash",
    },
    Table {
        name: "embeddings",
        columns: &[("model", Text), ("paper_id", Text), ("text_hash", Int), ("vector", Bytes), ("seq", Int)],
        key: "model, paper_id",
    },
    Table { name: "embedding_progress", columns: &[("model", Text), ("paper_seq", Int)], key: "model" },
];

/// A store's side of a copy.
pub trait Portable: Send + Sync {
    /// Calls `each` with every row of `table`, in key order, as neutral values (one per column).
    fn dump(&self, table: &Table, each: &mut dyn FnMut(Vec<Value>) -> Result<()>) -> Result<()>;
    /// Inserts neutral rows into `table`, in one transaction.
    fn load(&self, table: &Table, rows: &[Vec<Value>]) -> Result<()>;
    /// After a load: sets the sequence counters past the copied rows, and the id generators past
    /// both the copied ids and `id_floors` (the highest id of each table the source ever gave out).
    fn finish_load(&self, id_floors: &[(&'static str, i64)]) -> Result<()>;
    /// The highest id of `accounts` and `outbox` this store ever gave out (deleted rows included).
    fn id_floors(&self) -> Result<Vec<(&'static str, i64)>>;
    /// Whether the store holds no paper and no account (a copy goes only into an empty store).
    fn is_empty(&self) -> Result<bool>;
}

/// What a copy moved, per table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TableCopy {
    /// The table.
    pub table: &'static str,
    /// Rows copied (and found again in the target).
    pub rows: u64,
    /// The checksum both sides agree on (xxh3 of the rows' neutral form, in key order).
    pub checksum: String,
}

/// Rows written per transaction.
const COPY_BATCH: usize = 2_000;

/// Copies every table of `from` into `to` (which must be empty), then checks that `to` holds the
/// same rows. `progress` hears each table's name and row count as it goes.
pub fn copy(from: &dyn Store, to: &dyn Store, progress: &mut dyn FnMut(&str, u64)) -> Result<Vec<TableCopy>> {
    if !to.is_empty()? {
        return Err(Error::Config(format!(
            "{} already holds papers or accounts; copy into an empty database",
            to.describe()
        )));
    }
    let mut report = Vec::with_capacity(TABLES.len());
    for table in TABLES {
        let mut rows = 0u64;
        let mut digest = Checksum::default();
        let mut batch = Vec::with_capacity(COPY_BATCH);
        from.dump(table, &mut |row| {
            digest.add(&row);
            batch.push(row);
            rows += 1;
            if batch.len() == COPY_BATCH {
                to.load(table, &batch)?;
                batch.clear();
                progress(table.name, rows);
            }
            Ok(())
        })?;
        if !batch.is_empty() {
            to.load(table, &batch)?;
        }
        progress(table.name, rows);
        report.push(TableCopy { table: table.name, rows, checksum: digest.hex() });
    }
    to.finish_load(&from.id_floors()?)?;
    for (table, copied) in TABLES.iter().zip(&report) {
        let (rows, checksum) = checksum(to, table)?;
        if rows != copied.rows || checksum != copied.checksum {
            return Err(Error::Corrupt(format!(
                "the copy of {} does not match: {} rows read, {rows} found in {} (checksums {} and {checksum})",
                table.name,
                copied.rows,
                to.describe(),
                copied.checksum
            )));
        }
    }
    Ok(report)
}

/// The row count and checksum of a table, as [`copy`] computes them.
pub fn checksum(store: &dyn Store, table: &Table) -> Result<(u64, String)> {
    let mut rows = 0u64;
    let mut digest = Checksum::default();
    store.dump(table, &mut |row| {
        digest.add(&row);
        rows += 1;
        Ok(())
    })?;
    Ok((rows, digest.hex()))
}

/// An order-sensitive hash of neutral rows.
#[derive(Default)]
struct Checksum(u64);

impl Checksum {
    fn add(&mut self, row: &[Value]) {
        let bytes = serde_json::to_vec(row).expect("neutral rows serialise");
        self.0 = xxhash_rust::xxh3::xxh3_64_with_seed(&bytes, self.0);
    }

    fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

/// A time in the neutral form: UTC, microseconds, `Z`.
pub(crate) fn neutral_time(time: chrono::DateTime<chrono::Utc>) -> Value {
    Value::String(time.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
}

/// JSON text in the neutral form: keys sorted at every level.
pub(crate) fn neutral_json(text: &str) -> Result<Value> {
    let value: Value = serde_json::from_str(text).map_err(|e| Error::Corrupt(format!("stored JSON: {e}")))?;
    Ok(Value::String(serde_json::to_string(&sorted(value)).expect("JSON serialises")))
}

fn sorted(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut pairs: Vec<(String, Value)> = map.into_iter().collect();
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            let mut out = serde_json::Map::new();
            for (key, value) in pairs {
                out.insert(key, sorted(value));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// Bytes in the neutral form: lowercase hex.
pub(crate) fn neutral_bytes(bytes: &[u8]) -> Value {
    Value::String(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Bytes back from their neutral form.
pub(crate) fn bytes_of(value: &Value) -> Result<Option<Vec<u8>>> {
    let Some(text) = text_of(value)? else { return Ok(None) };
    if text.len() % 2 != 0 {
        return Err(Error::Corrupt("odd-length hex".into()));
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).map_err(|_| Error::Corrupt("bad hex".into())))
        .collect::<Result<Vec<u8>>>()
        .map(Some)
}

/// Text back from its neutral form.
pub(crate) fn text_of(value: &Value) -> Result<Option<&str>> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) => Ok(Some(text)),
        other => Err(Error::Corrupt(format!("expected text, found {other}"))),
    }
}

/// An integer back from its neutral form.
pub(crate) fn int_of(value: &Value) -> Result<Option<i64>> {
    match value {
        Value::Null => Ok(None),
        Value::Number(n) => n.as_i64().map(Some).ok_or_else(|| Error::Corrupt(format!("not an integer: {n}"))),
        other => Err(Error::Corrupt(format!("expected an integer, found {other}"))),
    }
}

/// A time back from its neutral form.
pub(crate) fn time_of(value: &Value) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
    text_of(value)?
        .map(|text| {
            chrono::DateTime::parse_from_rfc3339(text)
                .map(|t| t.with_timezone(&chrono::Utc))
                .map_err(|e| Error::Corrupt(format!("time {text:?}: {e}")))
        })
        .transpose()
}

/// A day back from its neutral form.
pub(crate) fn day_of(value: &Value) -> Result<Option<chrono::NaiveDate>> {
    text_of(value)?
        .map(|text| {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map_err(|e| Error::Corrupt(format!("day {text:?}: {e}")))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_compared_with_its_keys_sorted() {
        let a = neutral_json(r#"{"b": 1, "a": {"d": [1, {"z": 0, "y": 1}], "c": null}}"#).unwrap();
        let b = neutral_json(r#"{"a": {"c": null, "d": [1, {"y": 1, "z": 0}]}, "b": 1}"#).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn bytes_round_trip_through_hex() {
        let bytes = vec![0u8, 1, 0xab, 0xff];
        assert_eq!(bytes_of(&neutral_bytes(&bytes)).unwrap(), Some(bytes));
        assert!(bytes_of(&Value::String("abc".into())).is_err());
    }

    #[test]
    fn times_keep_microseconds() {
        let time = chrono::DateTime::parse_from_rfc3339("2026-06-16T12:34:56.123456789+02:00").unwrap().to_utc();
        assert_eq!(neutral_time(time), Value::String("2026-06-16T10:34:56.123456Z".into()));
    }
}
