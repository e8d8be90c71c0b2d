//! [`EmbeddingStore`] on SQLite.

use paperboy_domain::ArxivId;
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, parse_id};
use crate::{EmbeddingStore, Result, StoredEmbedding};

impl EmbeddingStore for SqliteStore {
    fn put_embeddings(&self, model: &str, embeddings: &[StoredEmbedding], papers_seq: i64) -> Result<i64> {
        self.write(|tx| {
            let mut seq: i64 = tx.query_row("SELECT COALESCE(MAX(seq), 0) FROM embeddings", [], |row| row.get(0))?;
            let mut upsert = tx.prepare_cached(
                "INSERT INTO embeddings (model, paper_id, text_hash, vector, seq) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (model, paper_id) DO UPDATE SET text_hash = excluded.text_hash,
                     vector = excluded.vector, seq = excluded.seq",
            )?;
            for embedding in embeddings {
                seq += 1;
                upsert.execute(params![
                    model,
                    embedding.paper.base().to_string(),
                    embedding.text_hash,
                    embedding.vector,
                    seq
                ])?;
            }
            tx.execute(
                "INSERT INTO embedding_progress (model, paper_seq) VALUES (?1, ?2)
                 ON CONFLICT (model) DO UPDATE SET paper_seq = MAX(paper_seq, excluded.paper_seq)",
                params![model, papers_seq],
            )?;
            let max: i64 =
                tx.query_row("SELECT COALESCE(MAX(seq), 0) FROM embeddings WHERE model = ?1", [model], |row| {
                    row.get(0)
                })?;
            Ok(max)
        })
    }

    fn embeddings_since(&self, model: &str, after: i64, limit: usize) -> Result<Vec<StoredEmbedding>> {
        self.with_reader(|c| {
            let mut statement = c.prepare_cached(
                "SELECT paper_id, text_hash, vector, seq FROM embeddings WHERE model = ?1 AND seq > ?2
                 ORDER BY seq LIMIT ?3",
            )?;
            let rows = statement.query_map(params![model, after, limit as i64], |row| {
                Ok((row.get::<_, String>(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })?;
            rows.map(|row| {
                let (paper, text_hash, vector, seq) = row?;
                Ok(StoredEmbedding { paper: parse_id(&paper)?, text_hash, vector, seq })
            })
            .collect()
        })
    }

    fn embedding_hashes(&self, model: &str, papers: &[ArxivId]) -> Result<Vec<(ArxivId, i64)>> {
        self.with_reader(|c| {
            let mut statement =
                c.prepare_cached("SELECT text_hash FROM embeddings WHERE model = ?1 AND paper_id = ?2")?;
            let mut out = Vec::new();
            for paper in papers {
                let hash: Option<i64> =
                    statement.query_row(params![model, paper.base().to_string()], |row| row.get(0)).optional()?;
                out.extend(hash.map(|hash| (paper.base(), hash)));
            }
            Ok(out)
        })
    }

    fn embedded_up_to(&self, model: &str) -> Result<i64> {
        self.with_reader(|c| {
            Ok(c.query_row("SELECT paper_seq FROM embedding_progress WHERE model = ?1", [model], |row| row.get(0))
                .optional()?
                .unwrap_or(0))
        })
    }

    fn max_embedding_seq(&self, model: &str) -> Result<i64> {
        self.with_reader(|c| {
            Ok(c.query_row("SELECT COALESCE(MAX(seq), 0) FROM embeddings WHERE model = ?1", [model], |row| row.get(0))?)
        })
    }

    fn count_embeddings(&self, model: &str) -> Result<u64> {
        self.with_reader(|c| {
            Ok(c.query_row("SELECT COUNT(*) FROM embeddings WHERE model = ?1", [model], |row| row.get::<_, i64>(0))?
                as u64)
        })
    }
}
