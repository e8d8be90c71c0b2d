//! [`Portable`] on PostgreSQL: rows streamed in key order in the neutral form, and back.

use postgres::{Row, types::ToSql};
use serde_json::Value;

use super::PostgresStore;
use crate::{
    Error, Portable, Result,
    copy::{Kind, Table, bytes_of, day_of, int_of, neutral_bytes, neutral_json, neutral_time, text_of, time_of},
};

fn neutral(kind: Kind, row: &Row, i: usize) -> Result<Value> {
    Ok(match kind {
        Kind::Int => row.get::<_, Option<i64>>(i).map_or(Value::Null, Value::from),
        Kind::Text => row.get::<_, Option<String>>(i).map_or(Value::Null, Value::String),
        Kind::Time => row.get::<_, Option<chrono::DateTime<chrono::Utc>>>(i).map_or(Value::Null, neutral_time),
        Kind::Day => row.get::<_, Option<chrono::NaiveDate>>(i).map_or(Value::Null, |d| Value::String(d.to_string())),
        Kind::Json => match row.get::<_, Option<String>>(i) {
            Some(text) => neutral_json(&text)?,
            None => Value::Null,
        },
        Kind::Bytes => row.get::<_, Option<Vec<u8>>>(i).map_or(Value::Null, |b| neutral_bytes(&b)),
    })
}

fn stored(kind: Kind, value: &Value) -> Result<Box<dyn ToSql + Sync>> {
    Ok(match kind {
        Kind::Int => Box::new(int_of(value)?),
        Kind::Text | Kind::Json => Box::new(text_of(value)?.map(str::to_owned)),
        Kind::Time => Box::new(time_of(value)?),
        Kind::Day => Box::new(day_of(value)?),
        Kind::Bytes => Box::new(bytes_of(value)?),
    })
}

/// A column as selected: JSON as text, to be read back the way the embedded store's is.
fn select_column(name: &str, kind: Kind) -> String {
    match kind {
        Kind::Json => format!("{name}::text"),
        _ => name.to_owned(),
    }
}

/// The table's key as an `ORDER BY` that sorts text bytewise, as SQLite does, whatever the
/// database's collation (under en-US, `Zeta` sorts after `alpha`): both sides of a copy list their
/// rows in one order, which the checksum needs.
fn byte_order(table: &Table) -> String {
    let kind = |name: &str| table.columns.iter().find(|(column, _)| *column == name).map(|(_, kind)| *kind);
    table
        .key
        .split(',')
        .map(str::trim)
        .map(|name| match kind(name) {
            Some(Kind::Text) => format!("{name} COLLATE \"C\""),
            _ => name.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl Portable for PostgresStore {
    fn dump(&self, table: &Table, each: &mut dyn FnMut(Vec<Value>) -> Result<()>) -> Result<()> {
        let columns: Vec<String> = table.columns.iter().map(|(name, kind)| select_column(name, *kind)).collect();
        let sql = format!("SELECT {} FROM {} ORDER BY {}", columns.join(", "), table.name, byte_order(table));
        let mut failed = None;
        self.read(|c| {
            let params: [&(dyn ToSql + Sync); 0] = [];
            // Streamed: the rows are not held in memory all at once.
            let mut rows = c.client().query_raw(sql.as_str(), params)?;
            while let Some(row) = postgres::fallible_iterator::FallibleIterator::next(&mut rows)? {
                let values = table
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, (_, kind))| neutral(*kind, &row, i))
                    .collect::<Result<Vec<_>>>();
                match values.and_then(&mut *each) {
                    Ok(()) => {}
                    Err(err) => {
                        failed = Some(err);
                        break;
                    }
                }
            }
            Ok(())
        })?;
        failed.map_or(Ok(()), Err)
    }

    fn load(&self, table: &Table, rows: &[Vec<Value>]) -> Result<()> {
        let columns: Vec<&str> = table.columns.iter().map(|(name, _)| *name).collect();
        let placeholders: Vec<String> = table
            .columns
            .iter()
            .enumerate()
            .map(|(i, (_, kind))| match kind {
                Kind::Json => format!("${}::text::jsonb", i + 1),
                _ => format!("${}", i + 1),
            })
            .collect();
        let sql = format!("INSERT INTO {} ({}) VALUES ({})", table.name, columns.join(", "), placeholders.join(", "));
        self.write(|tx| {
            for row in rows {
                if row.len() != table.columns.len() {
                    return Err(Error::Corrupt(format!("a row of {} has {} values", table.name, row.len())).into());
                }
                let values = table
                    .columns
                    .iter()
                    .zip(row)
                    .map(|((_, kind), value)| stored(*kind, value))
                    .collect::<Result<Vec<_>>>()?;
                let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v.as_ref()).collect();
                tx.execute_dynamic(&sql, &params)?;
            }
            Ok(())
        })
    }

    fn finish_load(&self, id_floors: &[(&'static str, i64)]) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE counters SET value = GREATEST(value, (SELECT COALESCE(MAX(seq), 0) FROM papers)) WHERE name = 'papers'",
                &[],
            )?;
            tx.execute(
                "UPDATE counters SET value = GREATEST(value, (SELECT COALESCE(MAX(seq), 0) FROM embeddings))
                 WHERE name = 'embeddings'",
                &[],
            )?;
            for (table, floor) in id_floors {
                // The next id is past every id the source ever gave out: ids are never reused.
                let sql = match *table {
                    "accounts" => {
                        "SELECT setval(pg_get_serial_sequence('accounts', 'id'),
                             GREATEST((SELECT COALESCE(MAX(id), 0) FROM accounts), $1) + 1, false)"
                    }
                    "outbox" => {
                        "SELECT setval(pg_get_serial_sequence('outbox', 'id'),
                             GREATEST((SELECT COALESCE(MAX(id), 0) FROM outbox), $1) + 1, false)"
                    }
                    other => return Err(Error::Config(format!("no id sequence for {other}")).into()),
                };
                tx.query_one(sql, &[floor])?;
            }
            Ok(())
        })
    }

    fn id_floors(&self) -> Result<Vec<(&'static str, i64)>> {
        self.read(|c| {
            let row = c.query_one(
                "SELECT GREATEST(COALESCE(pg_sequence_last_value(pg_get_serial_sequence('accounts', 'id')::regclass), 0),
                                 (SELECT COALESCE(MAX(id), 0) FROM accounts)),
                        GREATEST(COALESCE(pg_sequence_last_value(pg_get_serial_sequence('outbox', 'id')::regclass), 0),
                                 (SELECT COALESCE(MAX(id), 0) FROM outbox))",
                &[],
            )?;
            Ok(vec![("accounts", row.get::<_, Option<i64>>(0).unwrap_or(0)), ("outbox", row.get::<_, Option<i64>>(1).unwrap_or(0))])
        })
    }

    fn is_empty(&self) -> Result<bool> {
        self.read(|c| {
            let row =
                c.query_one("SELECT NOT EXISTS (SELECT 1 FROM papers) AND NOT EXISTS (SELECT 1 FROM accounts)", &[])?;
            Ok(row.get(0))
        })
    }
}
