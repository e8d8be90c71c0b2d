//! The BERT encoder's forward pass over a packed batch: the token rows of several texts are
//! concatenated (no padding), the dense layers run on all rows at once, and attention runs per text
//! and head in parallel.

use rayon::prelude::*;

use crate::{
    Error,
    dense::{Precision, Weight, linear},
    linalg::{self, Matrix, MatrixMut, Threads},
    model::{ModelConfig, Pooling, Tensors},
};

/// Batches of at most this many token rows (a search query, a title) run on the calling thread.
const SEQUENTIAL_ROWS: usize = 64;

struct Layer {
    /// Query, key and value weights stacked: `3H × H`.
    qkv_weight: Weight,
    qkv_bias: Vec<f32>,
    output_weight: Weight,
    output_bias: Vec<f32>,
    attention_norm: (Vec<f32>, Vec<f32>),
    intermediate_weight: Weight,
    intermediate_bias: Vec<f32>,
    ffn_weight: Weight,
    ffn_bias: Vec<f32>,
    ffn_norm: (Vec<f32>, Vec<f32>),
}

/// A loaded encoder.
pub(crate) struct Bert {
    config: ModelConfig,
    vocab_size: usize,
    word_embeddings: Vec<f32>,
    position_embeddings: Vec<f32>,
    token_type_embedding: Vec<f32>,
    embedding_norm: (Vec<f32>, Vec<f32>),
    layers: Vec<Layer>,
}

impl Bert {
    /// The encoder of `tensors`, its dense layers at `precision` (resolved: not `Auto`).
    pub(crate) fn load(config: ModelConfig, mut tensors: Tensors, precision: Precision) -> Result<Bert, Error> {
        let h = config.hidden_size;
        let vocab_size = tensors
            .shape("embeddings.word_embeddings.weight")
            .and_then(|shape| match shape {
                [vocab, width] if *width == h && *vocab > 0 => Some(*vocab),
                _ => None,
            })
            .ok_or_else(|| Error::Model(format!("the weights lack embeddings.word_embeddings.weight of width {h}")))?;
        let word_embeddings = tensors.take("embeddings.word_embeddings.weight", &[vocab_size, h])?;
        let position_embeddings =
            tensors.take("embeddings.position_embeddings.weight", &[config.max_position_embeddings, h])?;
        let token_types = tensors
            .take("embeddings.token_type_embeddings.weight", &[2, h])
            .or_else(|_| tensors.take("embeddings.token_type_embeddings.weight", &[1, h]))?;
        let token_type_embedding = token_types[..h].to_vec();
        let embedding_norm =
            (tensors.take("embeddings.LayerNorm.weight", &[h])?, tensors.take("embeddings.LayerNorm.bias", &[h])?);
        let mut layers = Vec::with_capacity(config.layers);
        let i = config.intermediate_size;
        for index in 0..config.layers {
            let prefix = format!("encoder.layer.{index}");
            let mut take = |name: &str, shape: &[usize]| tensors.take(&format!("{prefix}.{name}"), shape);
            let mut qkv_weight = take("attention.self.query.weight", &[h, h])?;
            qkv_weight.extend(take("attention.self.key.weight", &[h, h])?);
            qkv_weight.extend(take("attention.self.value.weight", &[h, h])?);
            let mut qkv_bias = take("attention.self.query.bias", &[h])?;
            qkv_bias.extend(take("attention.self.key.bias", &[h])?);
            qkv_bias.extend(take("attention.self.value.bias", &[h])?);
            layers.push(Layer {
                qkv_weight: Weight::new(qkv_weight, 3 * h, h, precision),
                qkv_bias,
                output_weight: Weight::new(take("attention.output.dense.weight", &[h, h])?, h, h, precision),
                output_bias: take("attention.output.dense.bias", &[h])?,
                attention_norm: (
                    take("attention.output.LayerNorm.weight", &[h])?,
                    take("attention.output.LayerNorm.bias", &[h])?,
                ),
                intermediate_weight: Weight::new(take("intermediate.dense.weight", &[i, h])?, i, h, precision),
                intermediate_bias: take("intermediate.dense.bias", &[i])?,
                ffn_weight: Weight::new(take("output.dense.weight", &[h, i])?, h, i, precision),
                ffn_bias: take("output.dense.bias", &[h])?,
                ffn_norm: (take("output.LayerNorm.weight", &[h])?, take("output.LayerNorm.bias", &[h])?),
            });
        }
        Ok(Bert {
            config,
            vocab_size,
            word_embeddings,
            position_embeddings,
            token_type_embedding,
            embedding_norm,
            layers,
        })
    }

    pub(crate) fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Encodes texts given as token ids (each already truncated, with `[CLS]`/`[SEP]`) into one
    /// pooled vector each: embeddings, then each layer (attention, then the feed-forward block),
    /// then pooling.
    pub(crate) fn encode(&self, texts: &[Vec<u32>]) -> Vec<Vec<f32>> {
        let batch = Batch::new(texts);
        // A query is too small to share: handing each of its ~50 steps to the thread pool costs more
        // than the step (a third of a query's time), and a busy server runs queries side by side.
        let threads = if batch.rows <= SEQUENTIAL_ROWS { Threads::One } else { Threads::Pool };
        let (h, i, eps) = (self.config.hidden_size, self.config.intermediate_size, self.config.layer_norm_eps);
        let mut x = self.embed(&batch, threads);
        let rows = batch.rows;
        let mut qkv = vec![0.0f32; rows * 3 * h];
        let mut context = vec![0.0f32; rows * h];
        let mut projected = vec![0.0f32; rows * h];
        let mut intermediate = vec![0.0f32; rows * i];
        for layer in &self.layers {
            linear(&mut qkv, &x, rows, &layer.qkv_weight, &layer.qkv_bias, threads);
            self.attend(&batch, &qkv, &mut context, threads);
            linear(&mut projected, &context, rows, &layer.output_weight, &layer.output_bias, threads);
            let norm = &layer.attention_norm;
            linalg::add_layer_norm(&mut projected, Some(&x), &norm.0, &norm.1, eps, threads);
            std::mem::swap(&mut x, &mut projected);

            linear(&mut intermediate, &x, rows, &layer.intermediate_weight, &layer.intermediate_bias, threads);
            linalg::gelu(&mut intermediate, threads);
            linear(&mut projected, &intermediate, rows, &layer.ffn_weight, &layer.ffn_bias, threads);
            linalg::add_layer_norm(&mut projected, Some(&x), &layer.ffn_norm.0, &layer.ffn_norm.1, eps, threads);
            std::mem::swap(&mut x, &mut projected);
        }
        batch.texts.iter().zip(&batch.starts).map(|(ids, &start)| self.pool(&x, start, ids.len())).collect()
    }

    /// Word + position + token type embeddings of every row, then LayerNorm.
    fn embed(&self, batch: &Batch<'_>, threads: Threads) -> Vec<f32> {
        let h = self.config.hidden_size;
        let mut x = vec![0.0f32; batch.rows * h];
        linalg::vectorized(|| {
            for (ids, &start) in batch.texts.iter().zip(&batch.starts) {
                for (position, &id) in ids.iter().enumerate() {
                    let id = (id as usize).min(self.vocab_size - 1);
                    let row = &mut x[(start + position) * h..(start + position + 1) * h];
                    let word = &self.word_embeddings[id * h..(id + 1) * h];
                    let pos = &self.position_embeddings[position * h..(position + 1) * h];
                    for k in 0..h {
                        row[k] = word[k] + pos[k] + self.token_type_embedding[k];
                    }
                }
            }
        });
        let eps = self.config.layer_norm_eps;
        linalg::add_layer_norm(&mut x, None, &self.embedding_norm.0, &self.embedding_norm.1, eps, threads);
        x
    }

    /// Self-attention of every text, one (text, head) pair per task; each writes its own columns
    /// of its own rows of `context`.
    fn attend(&self, batch: &Batch<'_>, qkv: &[f32], context: &mut [f32], threads: Threads) {
        let h = self.config.hidden_size;
        let heads = self.config.heads;
        let head_dim = h / heads;
        let scale = 1.0 / (head_dim as f32).sqrt();
        let tasks: Vec<(usize, usize, usize)> = batch
            .texts
            .iter()
            .zip(&batch.starts)
            .flat_map(|(ids, &start)| (0..heads).map(move |head| (start, ids.len(), head)))
            .collect();
        let head_view = |start: usize, len: usize, offset: usize| Matrix {
            data: qkv,
            offset: start * 3 * h + offset,
            rows: len,
            cols: head_dim,
            row_stride: 3 * h,
            col_stride: 1,
        };
        let attend_one = |&(start, len, head): &(usize, usize, usize)| {
            let q = head_view(start, len, head * head_dim);
            // Kᵀ: head_dim × len.
            let k_t = Matrix {
                data: qkv,
                offset: start * 3 * h + h + head * head_dim,
                rows: head_dim,
                cols: len,
                row_stride: 1,
                col_stride: 3 * h,
            };
            let v = head_view(start, len, 2 * h + head * head_dim);
            let mut scores = vec![0.0f32; len * len];
            linalg::matmul(&mut MatrixMut::row_major(&mut scores, len, len), q, k_t, false, Threads::One);
            linalg::scale(&mut scores, scale);
            linalg::softmax_rows(&mut scores, len);
            let mut out = vec![0.0f32; len * head_dim];
            linalg::matmul(
                &mut MatrixMut::row_major(&mut out, len, head_dim),
                Matrix::row_major(&scores, len, len),
                v,
                false,
                Threads::One,
            );
            (start, len, head, out)
        };
        let outputs: Vec<(usize, usize, usize, Vec<f32>)> = match threads {
            Threads::One => tasks.iter().map(attend_one).collect(),
            Threads::Pool => tasks.par_iter().map(attend_one).collect(),
        };
        for (start, len, head, out) in outputs {
            for row in 0..len {
                let dst = (start + row) * h + head * head_dim;
                context[dst..dst + head_dim].copy_from_slice(&out[row * head_dim..(row + 1) * head_dim]);
            }
        }
    }

    /// One text's vector from its rows: the pooling and normalisation the model was trained with.
    fn pool(&self, x: &[f32], start: usize, len: usize) -> Vec<f32> {
        let h = self.config.hidden_size;
        let mut pooled = match self.config.pooling {
            Pooling::Cls => x[start * h..(start + 1) * h].to_vec(),
            Pooling::Mean => {
                let mut sum = vec![0.0f32; h];
                for row in x[start * h..(start + len) * h].chunks_exact(h) {
                    for (s, v) in sum.iter_mut().zip(row) {
                        *s += v;
                    }
                }
                let n = len.max(1) as f32;
                sum.iter_mut().for_each(|s| *s /= n);
                sum
            }
        };
        if self.config.normalize {
            let norm = pooled.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            pooled.iter_mut().for_each(|v| *v /= norm);
        }
        pooled
    }
}

/// The texts of a packed batch and where each one's rows start.
struct Batch<'a> {
    texts: &'a [Vec<u32>],
    starts: Vec<usize>,
    rows: usize,
}

impl Batch<'_> {
    fn new(texts: &[Vec<u32>]) -> Batch<'_> {
        let mut starts = Vec::with_capacity(texts.len());
        let mut rows = 0;
        for ids in texts {
            starts.push(rows);
            rows += ids.len();
        }
        Batch { texts, starts, rows }
    }
}
