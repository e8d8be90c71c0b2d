#!/usr/bin/env python3
"""BM25's k1 and b, per field, tuned on SciFact train (#16 item 2).

tantivy 0.27 fixes k1 = 1.2 and b = 0.75 (constants in `query/bm25.rs`), so the grid is run on a
re-implementation of paperboy's keyword ranking: the same analysis (Unicode words, lower case,
Lucene's 33 English stop words, the Snowball English stemmer; ASCII folding is left out, SciFact
is English), the same fields (the whole text, plus the title weighted by 0.25) and tantivy's
formula and idf. It prints the re-implementation's score at tantivy's constants next to
`paperboy eval beir --pair-boost 0 --triple-boost 0` (train 0.7023, test 0.6952), so how closely it
follows the real ranking can be checked; proximity is off in both.

  pip install PyStemmer
  python3 benches/tuning/bm25_params.py SCIFACT_DIR
"""
import collections
import json
import math
import os
import re
import sys

import Stemmer

STOP = set(
    "a an and are as at be but by for if in into is it no not of on or such that the their then there "
    "these they this to was will with".split()
)
TITLE_WEIGHT = 0.25


class Analyzer:
    def __init__(self):
        self.stemmer = Stemmer.Stemmer("english")
        self.cache = {}

    def __call__(self, text):
        out = []
        for word in re.findall(r"\w+", text.lower()):
            if word in STOP:
                continue
            stem = self.cache.get(word)
            if stem is None:
                stem = self.cache[word] = self.stemmer.stemWord(word)
            out.append(stem)
        return out


class Field:
    def __init__(self, texts, analyze):
        counts = [collections.Counter(analyze(t)) for t in texts]
        self.length = [sum(c.values()) for c in counts]
        self.average = sum(self.length) / len(self.length)
        self.postings = collections.defaultdict(list)
        for doc, c in enumerate(counts):
            for term, tf in c.items():
                self.postings[term].append((doc, tf))


def ndcg10(ranked, judged):
    dcg = sum(judged.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:10]))
    ideal = sorted((g for g in judged.values() if g > 0), reverse=True)[:10]
    return dcg / sum(g / math.log2(i + 2) for i, g in enumerate(ideal))


def main():
    scifact = sys.argv[1]
    analyze = Analyzer()
    docs = [json.loads(l) for l in open(os.path.join(scifact, "corpus.jsonl"))]
    ids = [d["_id"] for d in docs]
    whole = Field([d["title"] + " " + d["text"] for d in docs], analyze)
    title = Field([d["title"] for d in docs], analyze)
    queries = {}
    for line in open(os.path.join(scifact, "queries.jsonl")):
        q = json.loads(line)
        queries[q["_id"]] = analyze(q["text"])
    qrels = {}
    for split in ("train", "test"):
        judged = collections.defaultdict(dict)
        with open(os.path.join(scifact, "qrels", f"{split}.tsv")) as f:
            next(f)
            for line in f:
                q, d, s = line.rstrip("\n").split("\t")[:3]
                judged[q][d] = int(s)
        qrels[split] = {q: j for q, j in judged.items() if any(g > 0 for g in j.values())}
    n = len(docs)

    def search(terms, whole_k1, whole_b, title_k1, title_b):
        scores = collections.defaultdict(float)
        for field, weight, k1, b in ((whole, 1.0, whole_k1, whole_b), (title, TITLE_WEIGHT, title_k1, title_b)):
            for term in terms:
                postings = field.postings.get(term)
                if not postings:
                    continue
                idf = math.log(1 + (n - len(postings) + 0.5) / (len(postings) + 0.5))
                for doc, tf in postings:
                    norm = k1 * (1 - b + b * field.length[doc] / field.average)
                    scores[doc] += weight * idf * (k1 + 1) * tf / (tf + norm)
        return [ids[d] for d, _ in sorted(scores.items(), key=lambda x: -x[1])[:10]]

    def evaluate(split, *params):
        return sum(ndcg10(search(queries[q], *params), j) for q, j in qrels[split].items()) / len(qrels[split])

    print(f"tantivy's k1 = 1.2, b = 0.75 re-implemented: train {evaluate('train', 1.2, 0.75, 1.2, 0.75):.4f}, "
          f"test {evaluate('test', 1.2, 0.75, 1.2, 0.75):.4f} (paperboy, proximity off: 0.7023, 0.6952)")
    print()
    print("| whole text k1 | whole text b | title k1 | title b | train nDCG@10 |")
    print("|---:|---:|---:|---:|---:|")
    rows = [(k1, b, k1, b) for k1 in (0.6, 0.9, 1.2, 1.5, 2.0) for b in (0.3, 0.5, 0.75, 0.9)]
    rows += [(1.2, 0.75, k1, b) for k1 in (0.6, 1.2, 2.0) for b in (0.0, 0.3, 0.75, 1.0) if (k1, b) != (1.2, 0.75)]
    results = [(evaluate("train", *row), row) for row in rows]
    for score, row in results:
        print("| " + " | ".join(str(v) for v in row) + f" | {score:.4f} |")
    score, row = max(results)
    print()
    print(f"best on train: {row}, {score:.4f}; its test: {evaluate('test', *row):.4f}")


if __name__ == "__main__":
    main()
