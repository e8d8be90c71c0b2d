//! The BERT encoder's forward pass over a packed batch: the token rows of several texts are
//! concatenated (no padding), the dense layers run on all rows at once, and attention runs per text
//! and head in parallel.

use rayon::prelude::*;

use crate::{
    Error,
    linalg::{self, Matrix, MatrixMut, Threads, Weight},
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
    pub(crate) fn load(config: ModelConfig, mut tensors: Tensors) -> Result<Bert, Error> {
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
                qkv_weight: Weight::new(qkv_weight, 3 * h, h),
                qkv_bias,
                output_weight: Weight::new(take("attention.output.dense.weight", &[h, h])?, h, h),
                output_bias: take("attention.output.dense.bias", &[h])?,
                attention_norm: (
                    take("attention.output.LayerNorm.weight", &[h])?,
                    take("attention.output.LayerNorm.bias", &[h])?,
                ),
                intermediate_weight: Weight::new(take("intermediate.dense.weight", &[i, h])?, i, h),
                intermediate_bias: take("intermediate.dense.bias", &[i])?,
                ffn_weight: Weight::new(take("output.dense.weight", &[h, i])?, h, i),
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
    /// pooled vector each.
    pub(crate) fn encode(&self, texts: &[Vec<u32>]) -> Vec<Vec<f32>> {
        let h = self.config.hidden_size;
        let heads = self.config.heads;
        let head_dim = h / heads;
        let i = self.config.intermediate_size;
        let eps = self.config.layer_norm_eps;
        let starts: Vec<usize> = texts
            .iter()
            .scan(0, |offset, ids| {
                let start = *offset;
                *offset += ids.len();
                Some(start)
            })
            .collect();
        let rows: usize = texts.iter().map(Vec::len).sum();
        // A query is too small to share: handing each of its ~50 steps to the thread pool costs more
        // than the step (a third of a query's time), and a busy server runs queries side by side.
        let threads = if rows <= SEQUENTIAL_ROWS { Threads::One } else { Threads::Pool };

        // Embeddings: word + position + token type, then LayerNorm.
        let mut x = vec![0.0f32; rows * h];
        linalg::vectorized(|| {
            for (ids, &start) in texts.iter().zip(&starts) {
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
        linalg::add_layer_norm(&mut x, None, &self.embedding_norm.0, &self.embedding_norm.1, eps, threads);

        let mut qkv = vec![0.0f32; rows * 3 * h];
        let mut context = vec![0.0f32; rows * h];
        let mut projected = vec![0.0f32; rows * h];
        let mut intermediate = vec![0.0f32; rows * i];
        let scale = 1.0 / (head_dim as f32).sqrt();
        for layer in &self.layers {
            linalg::linear(&mut qkv, &x, rows, &layer.qkv_weight, &layer.qkv_bias, threads);

            // Attention, one (text, head) pair per task; each writes its own columns of its own
            // rows of `context`.
            let tasks: Vec<(usize, usize, usize)> = texts
                .iter()
                .zip(&starts)
                .flat_map(|(ids, &start)| (0..heads).map(move |head| (start, ids.len(), head)))
                .collect();
            let attend = |&(start, len, head): &(usize, usize, usize)| {
                let q = Matrix {
                    data: &qkv,
                    offset: start * 3 * h + head * head_dim,
                    rows: len,
                    cols: head_dim,
                    row_stride: 3 * h,
                    col_stride: 1,
                };
                // Kᵀ: head_dim × len.
                let k_t = Matrix {
                    data: &qkv,
                    offset: start * 3 * h + h + head * head_dim,
                    rows: head_dim,
                    cols: len,
                    row_stride: 1,
                    col_stride: 3 * h,
                };
                let v = Matrix {
                    data: &qkv,
                    offset: start * 3 * h + 2 * h + head * head_dim,
                    rows: len,
                    cols: head_dim,
                    row_stride: 3 * h,
                    col_stride: 1,
                };
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
                Threads::One => tasks.iter().map(attend).collect(),
                Threads::Pool => tasks.par_iter().map(attend).collect(),
            };
            for (start, len, head, out) in outputs {
                for row in 0..len {
                    let dst = (start + row) * h + head * head_dim;
                    context[dst..dst + head_dim].copy_from_slice(&out[row * head_dim..(row + 1) * head_dim]);
                }
            }

            linalg::linear(&mut projected, &context, rows, &layer.output_weight, &layer.output_bias, threads);
            let norm = &layer.attention_norm;
            linalg::add_layer_norm(&mut projected, Some(&x), &norm.0, &norm.1, eps, threads);
            std::mem::swap(&mut x, &mut projected);

            linalg::linear(&mut intermediate, &x, rows, &layer.intermediate_weight, &layer.intermediate_bias, threads);
            linalg::gelu(&mut intermediate, threads);
            linalg::linear(&mut projected, &intermediate, rows, &layer.ffn_weight, &layer.ffn_bias, threads);
            linalg::add_layer_norm(&mut projected, Some(&x), &layer.ffn_norm.0, &layer.ffn_norm.1, eps, threads);
            std::mem::swap(&mut x, &mut projected);
        }

        texts
            .iter()
            .zip(&starts)
            .map(|(ids, &start)| {
                let mut pooled = match self.config.pooling {
                    Pooling::Cls => x[start * h..(start + 1) * h].to_vec(),
                    Pooling::Mean => {
                        let mut sum = vec![0.0f32; h];
                        for row in x[start * h..(start + ids.len()) * h].chunks_exact(h) {
                            for (s, v) in sum.iter_mut().zip(row) {
                                *s += v;
                            }
                        }
                        let n = ids.len().max(1) as f32;
                        sum.iter_mut().for_each(|s| *s /= n);
                        sum
                    }
                };
                if self.config.normalize {
                    let norm = pooled.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
                    pooled.iter_mut().for_each(|v| *v /= norm);
                }
                pooled
            })
            .collect()
    }
}
