//! [`Portable`] on SQLite: rows in key order in the neutral form, and back.

use rusqlite::types::{Value as SqlValue, ValueRef};
use serde_json::Value;

use super::{SqliteStore, parse_day, parse_time};
use crate::{
    Error, Portable, Result,
    copy::{Kind, Table, bytes_of, int_of, neutral_bytes, neutral_json, neutral_time, text_of, time_of},
};

fn text(value: ValueRef<'_>) -> Result<Option<String>> {
    match value {
        ValueRef::Null => Ok(None),
        ValueRef::Text(bytes) => {
            Ok(Some(String::from_utf8(bytes.to_vec()).map_err(|_| Error::Corrupt("text is not UTF-8".into()))?))
        }
        other => Err(Error::Corrupt(format!("expected text, found {:?}", other.data_type()))),
    }
}

fn neutral(kind: Kind, value: ValueRef<'_>) -> Result<Value> {
    if let ValueRef::Null = value {
        return Ok(Value::Null);
    }
    Ok(match kind {
        Kind::Int => match value {
            ValueRef::Integer(n) => Value::from(n),
            other => return Err(Error::Corrupt(format!("expected an integer, found {:?}", other.data_type()))),
        },
        Kind::Text => Value::String(text(value)?.unwrap_or_default()),
        Kind::Time => neutral_time(parse_time(&text(value)?.unwrap_or_default())?),
        Kind::Day => Value::String(parse_day(&text(value)?.unwrap_or_default())?.to_string()),
        Kind::Json => neutral_json(&text(value)?.unwrap_or_default())?,
        Kind::Bytes => match value {
            ValueRef::Blob(bytes) => neutral_bytes(bytes),
            other => return Err(Error::Corrupt(format!("expected bytes, found {:?}", other.data_type()))),
        },
    })
}

fn stored(kind: Kind, value: &Value) -> Result<SqlValue> {
    let null = |v: Option<SqlValue>| v.unwrap_or(SqlValue::Null);
    Ok(match kind {
        Kind::Int => null(int_of(value)?.map(SqlValue::Integer)),
        Kind::Text | Kind::Day | Kind::Json => null(text_of(value)?.map(|t| SqlValue::Text(t.to_owned()))),
        // As the rest of paperboy writes times, so that they compare as text.
        Kind::Time => null(time_of(value)?.map(|t| SqlValue::Text(t.to_rfc3339()))),
        Kind::Bytes => null(bytes_of(value)?.map(SqlValue::Blob)),
    })
}

impl Portable for SqliteStore {
    fn dump(&self, table: &Table, each: &mut dyn FnMut(Vec<Value>) -> Result<()>) -> Result<()> {
        let columns: Vec<&str> = table.columns.iter().map(|(name, _)| *name).collect();
        self.with_reader(|c| {
            let mut statement =
                c.prepare(&format!("SELECT {} FROM {} ORDER BY {}", columns.join(", "), table.name, table.key))?;
            let mut rows = statement.query([])?;
            while let Some(row) = rows.next()? {
                let values = table
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, (_, kind))| neutral(*kind, row.get_ref(i)?))
                    .collect::<Result<Vec<_>>>()?;
                each(values)?;
            }
            Ok(())
        })
    }

    fn load(&self, table: &Table, rows: &[Vec<Value>]) -> Result<()> {
        let columns: Vec<&str> = table.columns.iter().map(|(name, _)| *name).collect();
        let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
        let sql = format!("INSERT INTO {} ({}) VALUES ({})", table.name, columns.join(", "), placeholders.join(", "));
        self.write(|tx| {
            let mut insert = tx.prepare(&sql)?;
            for row in rows {
                let values = table
                    .columns
                    .iter()
                    .zip(row)
                    .map(|((_, kind), value)| stored(*kind, value))
                    .collect::<Result<Vec<_>>>()?;
                insert.execute(rusqlite::params_from_iter(values))?;
            }
            Ok(())
        })
    }

    fn finish_load(&self, id_floors: &[(&'static str, i64)]) -> Result<()> {
        // Sequence numbers are read as MAX(seq), and AUTOINCREMENT follows the ids inserted; past
        // those, ids the source gave out before must not come again.
        self.write(|tx| {
            for (table, floor) in id_floors {
                if *table == "accounts" {
                    tx.execute("UPDATE sqlite_sequence SET seq = MAX(seq, ?1) WHERE name = 'accounts'", [floor])?;
                    tx.execute(
                        "INSERT INTO sqlite_sequence (name, seq) SELECT 'accounts', ?1
                         WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'accounts')",
                        [floor],
                    )?;
                }
            }
            Ok(())
        })
    }

    fn id_floors(&self) -> Result<Vec<(&'static str, i64)>> {
        self.with_reader(|c| {
            let accounts: i64 = c.query_row(
                "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'accounts'), 0),
                            COALESCE((SELECT MAX(id) FROM accounts), 0))",
                [],
                |row| row.get(0),
            )?;
            let outbox: i64 = c.query_row("SELECT COALESCE(MAX(id), 0) FROM outbox", [], |row| row.get(0))?;
            Ok(vec![("accounts", accounts), ("outbox", outbox)])
        })
    }

    fn is_empty(&self) -> Result<bool> {
        self.with_reader(|c| {
            let papers: i64 = c.query_row("SELECT COUNT(*) FROM (SELECT 1 FROM papers LIMIT 1)", [], |r| r.get(0))?;
            let accounts: i64 =
                c.query_row("SELECT COUNT(*) FROM (SELECT 1 FROM accounts LIMIT 1)", [], |r| r.get(0))?;
            Ok(papers == 0 && accounts == 0)
        })
    }
}
