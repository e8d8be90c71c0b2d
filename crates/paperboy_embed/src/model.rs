//! A sentence-transformers model folder: `config.json` (the BERT shape), `model.safetensors` (the
//! weights), `tokenizer.json`, and sentence-transformers' own files that say how to pool
//! (`1_Pooling/config.json`), whether to normalise (`modules.json`) and where to truncate
//! (`sentence_bert_config.json`).

use std::{collections::HashMap, path::Path};

use serde::Deserialize;

use crate::Error;

/// How token vectors become one sentence vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    /// The mean of the token vectors (all-MiniLM-L6-v2).
    Mean,
    /// The `[CLS]` token's vector (bge).
    Cls,
}

/// What the model folder says about the model.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelConfig {
    /// Width of the hidden states and of the embedding.
    pub hidden_size: usize,
    /// Transformer layers.
    pub layers: usize,
    /// Attention heads per layer.
    pub heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// LayerNorm epsilon.
    pub layer_norm_eps: f32,
    /// Positions the model has embeddings for.
    pub max_position_embeddings: usize,
    /// Tokens kept per text (sentence-transformers' `max_seq_length`).
    pub max_seq_length: usize,
    /// Pooling.
    pub pooling: Pooling,
    /// Whether the sentence vector is L2-normalised.
    pub normalize: bool,
}

#[derive(Deserialize)]
struct HfConfig {
    model_type: Option<String>,
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    #[serde(default = "default_eps")]
    layer_norm_eps: f32,
    max_position_embeddings: usize,
    #[serde(default = "default_act")]
    hidden_act: String,
    #[serde(default)]
    position_embedding_type: Option<String>,
}

fn default_eps() -> f32 {
    1e-12
}

fn default_act() -> String {
    "gelu".into()
}

#[derive(Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
}

#[derive(Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
}

#[derive(Deserialize)]
struct Module {
    #[serde(rename = "type")]
    kind: String,
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, Error> {
    let text =
        std::fs::read_to_string(path).map_err(|e| Error::Model(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| Error::Model(format!("{} is not valid: {e}", path.display())))
}

impl ModelConfig {
    /// Reads the configuration of the model in `dir`.
    pub fn read(dir: &Path) -> Result<ModelConfig, Error> {
        let hf: HfConfig = read_json(&dir.join("config.json"))?;
        if let Some(model_type) = &hf.model_type
            && !matches!(model_type.as_str(), "bert")
        {
            return Err(Error::Model(format!("model type {model_type:?} is not supported (BERT-family models are)")));
        }
        if hf.hidden_act != "gelu" {
            return Err(Error::Model(format!("activation {:?} is not supported (gelu is)", hf.hidden_act)));
        }
        if hf.position_embedding_type.as_deref().is_some_and(|t| t != "absolute") {
            return Err(Error::Model("only absolute position embeddings are supported".into()));
        }
        if hf.num_attention_heads == 0 || !hf.hidden_size.is_multiple_of(hf.num_attention_heads) {
            return Err(Error::Model("hidden_size must be a multiple of num_attention_heads".into()));
        }
        let pooling = match read_json::<PoolingConfig>(&dir.join("1_Pooling/config.json")) {
            Ok(config) if config.pooling_mode_cls_token => Pooling::Cls,
            Ok(config) if config.pooling_mode_mean_tokens => Pooling::Mean,
            Ok(_) => return Err(Error::Model("only mean and CLS pooling are supported".into())),
            Err(_) => Pooling::Mean,
        };
        let normalize = read_json::<Vec<Module>>(&dir.join("modules.json"))
            .map(|modules| modules.iter().any(|m| m.kind.ends_with("Normalize")))
            .unwrap_or(true);
        let max_seq_length = read_json::<SentenceBertConfig>(&dir.join("sentence_bert_config.json"))
            .ok()
            .and_then(|c| c.max_seq_length)
            .unwrap_or(512)
            .min(hf.max_position_embeddings);
        Ok(ModelConfig {
            hidden_size: hf.hidden_size,
            layers: hf.num_hidden_layers,
            heads: hf.num_attention_heads,
            intermediate_size: hf.intermediate_size,
            layer_norm_eps: hf.layer_norm_eps,
            max_position_embeddings: hf.max_position_embeddings,
            max_seq_length,
            pooling,
            normalize,
        })
    }
}

/// The model's tensors, converted to `f32`, by name (without a leading `bert.`).
pub(crate) struct Tensors(HashMap<String, (Vec<usize>, Vec<f32>)>);

impl Tensors {
    pub(crate) fn read(path: &Path) -> Result<Tensors, Error> {
        let bytes = std::fs::read(path).map_err(|e| Error::Model(format!("cannot read {}: {e}", path.display())))?;
        let file = safetensors::SafeTensors::deserialize(&bytes)
            .map_err(|e| Error::Model(format!("{} is not a valid safetensors file: {e}", path.display())))?;
        let mut tensors = HashMap::new();
        for (name, view) in file.tensors() {
            let values = match view.dtype() {
                safetensors::Dtype::F32 => {
                    view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
                }
                safetensors::Dtype::BF16 => view
                    .data()
                    .chunks_exact(2)
                    .map(|b| f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16))
                    .collect(),
                safetensors::Dtype::F16 => {
                    view.data().chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect()
                }
                // Integer buffers (`position_ids`) are not weights.
                _ => continue,
            };
            let name = name.strip_prefix("bert.").unwrap_or(&name).to_owned();
            tensors.insert(name, (view.shape().to_vec(), values));
        }
        Ok(Tensors(tensors))
    }

    /// The shape of a tensor, if present.
    pub(crate) fn shape(&self, name: &str) -> Option<&[usize]> {
        self.0.get(name).map(|(shape, _)| shape.as_slice())
    }

    /// Takes a tensor out, checking its shape. LayerNorm parameters may be called `gamma`/`beta`
    /// (older checkpoints) instead of `weight`/`bias`.
    pub(crate) fn take(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, Error> {
        let legacy = name.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta");
        let (actual, values) = self
            .0
            .remove(name)
            .or_else(|| self.0.remove(&legacy))
            .ok_or_else(|| Error::Model(format!("the weights lack tensor {name}")))?;
        if actual != shape {
            return Err(Error::Model(format!("tensor {name} has shape {actual:?}, expected {shape:?}")));
        }
        Ok(values)
    }
}
