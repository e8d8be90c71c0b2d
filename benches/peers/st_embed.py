#!/usr/bin/env python3
"""sentence-transformers' throughput on the same texts as paperboy's embed bench (one JSON line).

  python st_embed.py MODEL_DIR TEXTS_FILE [BATCH_SIZE]

Needs `pip install sentence-transformers` (PyTorch, CPU).
"""
import json
import sys
import time

import torch
from sentence_transformers import SentenceTransformer

model_dir, texts_file = sys.argv[1], sys.argv[2]
batch_size = int(sys.argv[3]) if len(sys.argv) > 3 else 32
texts = open(texts_file, encoding="utf-8").read().splitlines()
model = SentenceTransformer(model_dir, device="cpu")
model.encode(texts[:16], batch_size=batch_size)
started = time.perf_counter()
vectors = model.encode(texts, batch_size=batch_size, normalize_embeddings=True)
seconds = time.perf_counter() - started
tokens = sum(len(model.tokenizer(t, truncation=True, max_length=model.max_seq_length)["input_ids"]) for t in texts)
print(json.dumps({
    "engine": "sentence-transformers", "torch": torch.__version__, "threads": torch.get_num_threads(),
    "batch_size": batch_size, "texts": len(texts), "mean_tokens": tokens / len(texts),
    "seconds": seconds, "docs_per_second": len(texts) / seconds,
}))
