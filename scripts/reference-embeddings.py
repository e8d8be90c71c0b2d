#!/usr/bin/env python3
"""Reference vectors from Python sentence-transformers, for paperboy's embedder tests.

  python3 scripts/reference-embeddings.py MODEL_DIR OUT.json

Needs `pip install sentence-transformers` (torch); CI does not run this, the output is committed
(crates/paperboy_embed/tests/data/). The texts cover what the tests must get right: short queries, a
single word, long abstracts truncated at the model's max_seq_length, TeX, accents, CJK, emoji and
hostile markup.
"""
import json
import sys

from sentence_transformers import SentenceTransformer

model_dir, out = sys.argv[1], sys.argv[2]
texts = [
    "degeneration",
    "performance degrades in the late pretraining phase",
    "diffusion policy",
    "speculative decoding for large language models",
    "Attention Is All You Need",
    "0-dimensional biomaterials lack inductive properties.",
    "The Aharonov-Bohm (AB) problem for vector bosons by the Duffin-Kemmer-Petiau (DKP) formalism is analyzed.",
    "We prove that $\\Lambda_{\\alpha} \\to \\infty$ as $n \\to \\infty$ for every $\\epsilon > 0$.",
    "C. Balázs, E. L. Berger, P. M. Nadolsky, C.-P. Yuan: Calculation of prompt diphoton production",
    "Müller–Schön–Dvořák: Zürich çelik ğ ñ ø ß",
    "多模态大语言模型的视觉推理",
    "🚀 rocket science 🔥 with emoji",
    "<script>alert(1)</script><img src=x onerror=alert(2)> \\href{javascript:alert(3)}{click}",
    "",
    "a",
    "the of and",
    "GPT-4 vs. Llama-3: 70B parameters, 8k context, 1.5x speed-up (p < 0.05)",
    "Representation degeneration problem in training natural language generation models",
    "Neural radiance fields for novel view synthesis of dynamic scenes",
    "Reinforcement learning with verifiable rewards for reasoning",
]
# Long texts: real abstracts past 256 tokens, to check truncation matches.
for line in open("../shared/data/scifact/corpus.jsonl"):
    doc = json.loads(line)
    text = doc["title"] + " " + doc["text"]
    if len(text.split()) > 300:
        texts.append(text)
    if len(texts) >= 26:
        break
model = SentenceTransformer(model_dir, device="cpu")
vectors = model.encode(texts, batch_size=8, normalize_embeddings=False, convert_to_numpy=True)
json.dump(
    {
        "model_dir": model_dir,
        "max_seq_length": model.max_seq_length,
        "texts": texts,
        "token_counts": [len(model.tokenizer(t, truncation=True, max_length=model.max_seq_length)["input_ids"]) for t in texts],
        "vectors": [[round(float(x), 8) for x in v] for v in vectors],
    },
    open(out, "w"),
    ensure_ascii=False,
)
print(f"{len(texts)} reference vectors -> {out}")
