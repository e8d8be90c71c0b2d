//! [`EmbeddingStore`] on PostgreSQL. Embedding sequence numbers come from the `embeddings`
//! counter, taken under its lock like the papers' (see the module above).

use paperboy_domain::ArxivId;

use super::PostgresStore;
use crate::{EmbeddingStore, Error, Result, StoredEmbedding};

impl EmbeddingStore for PostgresStore {
    fn put_embeddings(&self, model: &str, embeddings: &[StoredEmbedding], papers_seq: i64) -> Result<i64> {
        self.write(|tx| {
            let mut seq = tx.lock_counter("embeddings")?;
            for embedding in embeddings {
                seq += 1;
                tx.execute(
                    "INSERT INTO embeddings (model, paper_id, text_hash, vector, seq) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (model, paper_id) DO UPDATE SET text_hash = excluded.text_hash,
                         vector = excluded.vector, seq = excluded.seq",
                    &[&model, &embedding.paper.base().to_string(), &embedding.text_hash, &embedding.vector, &seq],
                )?;
            }
            if !embeddings.is_empty() {
                tx.set_counter("embeddings", seq)?;
            }
            tx.execute(
                "INSERT INTO embedding_progress (model, paper_seq) VALUES ($1, $2)
                 ON CONFLICT (model) DO UPDATE SET paper_seq = GREATEST(embedding_progress.paper_seq, excluded.paper_seq)",
                &[&model, &papers_seq],
            )?;
            Ok(tx
                .query_one("SELECT COALESCE(MAX(seq), 0)::bigint FROM embeddings WHERE model = $1", &[&model])?
                .get(0))
        })
    }

    fn embeddings_since(&self, model: &str, after: i64, limit: usize) -> Result<Vec<StoredEmbedding>> {
        let rows = self.read(|c| {
            c.query(
                "SELECT paper_id, text_hash, vector, seq FROM embeddings WHERE model = $1 AND seq > $2
                 ORDER BY seq LIMIT $3",
                &[&model, &after, &(limit as i64)],
            )
        })?;
        rows.iter()
            .map(|row| {
                Ok(StoredEmbedding {
                    paper: ArxivId::parse(row.get(0)).map_err(|e| Error::Corrupt(e.to_string()))?,
                    text_hash: row.get(1),
                    vector: row.get(2),
                    seq: row.get(3),
                })
            })
            .collect()
    }

    fn embedding_hashes(&self, model: &str, papers: &[ArxivId]) -> Result<Vec<(ArxivId, i64)>> {
        let keys: Vec<String> = papers.iter().map(|p| p.base().to_string()).collect();
        let rows = self.read(|c| {
            c.query(
                "SELECT paper_id, text_hash FROM embeddings WHERE model = $1 AND paper_id = ANY($2)",
                &[&model, &keys],
            )
        })?;
        let found: std::collections::HashMap<String, i64> = rows.iter().map(|row| (row.get(0), row.get(1))).collect();
        Ok(papers.iter().filter_map(|p| found.get(&p.base().to_string()).map(|hash| (p.base(), *hash))).collect())
    }

    fn embedded_up_to(&self, model: &str) -> Result<i64> {
        self.read(|c| {
            Ok(c.query_opt("SELECT paper_seq FROM embedding_progress WHERE model = $1", &[&model])?
                .map_or(0, |row| row.get(0)))
        })
    }

    fn max_embedding_seq(&self, model: &str) -> Result<i64> {
        self.read(|c| {
            Ok(c.query_one("SELECT COALESCE(MAX(seq), 0)::bigint FROM embeddings WHERE model = $1", &[&model])?.get(0))
        })
    }

    fn count_embeddings(&self, model: &str) -> Result<u64> {
        self.read(|c| {
            Ok(c.query_one("SELECT COUNT(*) FROM embeddings WHERE model = $1", &[&model])?.get::<_, i64>(0) as u64)
        })
    }
}
