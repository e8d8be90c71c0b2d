#!/usr/bin/env python3
"""Calibrates the digest's "matches by meaning" threshold (SEMANTIC_MATCH in
crates/paperboy_app/src/digest.rs) on SciFact: for each cosine threshold t, how many of the
query/relevant-document pairs reach it (recall) and how many query/other-document pairs do
(false matches), and what that means for a day of 554 new papers.

  python benches/peers/semantic_match.py SCIFACT_DIR MODEL_DIR [--cache FILE.npy]

Embeddings come from sentence-transformers with the same model paperboy runs (paperboy's own
vectors agree with them to cosine >= 0.999: crates/paperboy_embed tests). Document texts are
title + " " + text, as in `paperboy eval beir`. SciFact documents are abstracts, as papers are;
its queries are claims (one sentence), as saved searches often are.
"""
import argparse
import json
import os
import sys

import numpy as np
from sentence_transformers import SentenceTransformer


def main():
    p = argparse.ArgumentParser()
    p.add_argument("scifact")
    p.add_argument("model")
    p.add_argument("--cache", help="document embeddings cache (.npy)")
    args = p.parse_args()
    docs = [json.loads(l) for l in open(os.path.join(args.scifact, "corpus.jsonl"))]
    ids = [d["_id"] for d in docs]
    model = SentenceTransformer(args.model, device="cpu")
    if args.cache and os.path.exists(args.cache):
        emb = np.load(args.cache)
    else:
        texts = [(d.get("title", "") + " " + d.get("text", "")).strip() for d in docs]
        emb = model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
        if args.cache:
            np.save(args.cache, emb)
    queries = {}
    for line in open(os.path.join(args.scifact, "queries.jsonl")):
        q = json.loads(line)
        queries[q["_id"]] = q["text"]
    qrels = {}
    for split in ("train", "test"):
        path = os.path.join(args.scifact, "qrels", f"{split}.tsv")
        for i, line in enumerate(open(path)):
            if i == 0:
                continue
            qid, did, score = line.rstrip("\n").split("\t")[:3]
            if int(score) > 0:
                qrels.setdefault(qid, set()).add(did)
    qids = [q for q in qrels if q in queries]
    qemb = model.encode([queries[q] for q in qids], batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    sims = qemb @ emb.T
    index = {d: i for i, d in enumerate(ids)}
    relevant = np.zeros_like(sims, dtype=bool)
    for row, q in enumerate(qids):
        for d in qrels[q]:
            if d in index:
                relevant[row, index[d]] = True
    rel = sims[relevant]
    other = sims[~relevant]
    rows = []
    for t in [0.30, 0.35, 0.40, 0.45, 0.50, 0.55, 0.60]:
        rows.append({"threshold": t, "relevant_pairs_matched": float((rel >= t).mean()),
                     "other_pairs_matched": float((other >= t).mean()),
                     "false_matches_per_554_papers": float((other >= t).mean() * 554)})
    out = {"queries": len(qids), "relevant_pairs": int(relevant.sum()), "documents": len(ids),
           "relevant_cosine_median": float(np.median(rel)), "other_cosine_median": float(np.median(other)),
           "rows": rows}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    sys.exit(main())
