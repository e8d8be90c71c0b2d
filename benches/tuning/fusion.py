#!/usr/bin/env python3
"""What hybrid fusion was tried on SciFact (#16): each method's keyword weight chosen on the train
queries, its nDCG@10 on train and (for reference only) on test, and the calibration of the floor a
paper found by meaning alone must reach.

Fusion only reorders what each side returns, so it is replayed here from the two sides' rankings,
which paperboy writes as TREC runs (depth 1000, so that a candidate's score on the other side is
known beyond that side's top 100, as paper search now computes it):

  for split in train test; do for mode in keyword semantic; do
    PAPERBOY_MODEL=none paperboy --data-dir D eval beir SCIFACT --split $split --mode $mode \\
      --depth 1000 --write-run RUNS/$mode-$split.run   # semantic: with the model, not =none
  done; done
  python3 benches/tuning/fusion.py SCIFACT RUNS D/scratch/beir-scifact/vectors-all-MiniLM-L6-v2

The vectors folder (paperboy's f16 rows) is read for the pseudo-relevance-feedback row only. The
chosen method is paperboy's `Fusion::default()`, and `paperboy eval beir --mode hybrid` reproduces
its row (train 0.7356, test 0.7346 on 2026-12-04).
"""
import collections
import json
import math
import os
import statistics
import sys

import numpy as np

FUSED = 100  # what each side contributes, as in paper search


def load_run(path):
    run = collections.defaultdict(list)
    for line in open(path):
        query, _, doc, _, score, _ = line.split()
        run[query].append((doc, float(score)))
    return run


def load_qrels(scifact, split):
    qrels = collections.defaultdict(dict)
    with open(os.path.join(scifact, "qrels", f"{split}.tsv")) as f:
        next(f)
        for line in f:
            query, doc, score = line.rstrip("\n").split("\t")[:3]
            qrels[query][doc] = int(score)
    return {q: j for q, j in qrels.items() if any(g > 0 for g in j.values())}


def load_vectors(folder):
    meta = json.load(open(os.path.join(folder, "meta.json")))
    dimension, records = meta["dimension"], meta["records"]
    size = 56 + 2 * dimension  # key length, 47-byte key, text hash, f16 vector
    raw = np.fromfile(os.path.join(folder, "rows.bin"), dtype=np.uint8)[: records * size].reshape(records, size)
    keys = [bytes(row[1 : 1 + row[0]]).decode() for row in raw]
    return {k: i for i, k in enumerate(keys)}, raw[:, 56:].copy().view(np.float16).astype(np.float32)


def ndcg10(ranked, judged):
    dcg = sum(judged.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:10]))
    ideal = sorted((g for g in judged.values() if g > 0), reverse=True)[:10]
    return dcg / sum(g / math.log2(i + 2) for i, g in enumerate(ideal))


def recall100(ranked, judged):
    relevant = [d for d, g in judged.items() if g > 0]
    return sum(1 for d in ranked[:100] if judged.get(d, 0) > 0) / len(relevant)


def words(text):
    return sum(1 for w in text.split() if any(c.isalnum() for c in w))


def ordered(scores):
    return [d for d, _ in sorted(scores.items(), key=lambda x: (-x[1], x[0]))]


class Sides:
    """One query's two rankings, and what fusion may know of them."""

    def __init__(self, keyword, semantic, text):
        self.keyword, self.semantic, self.text = keyword[:FUSED], semantic[:FUSED], text
        self.similarity = dict(semantic)  # depth 1000: the true similarity of nearly every candidate
        self.lowest = semantic[-1][1] if semantic else 0.0
        self.candidates = {d for d, _ in self.keyword} | {d for d, _ in self.semantic}

    def true_similarity(self, doc):
        return self.similarity.get(doc, self.lowest)


def convex(w_long, normalise="max", true_similarity=True, w_short=0.8, weight_of=None, floor=None):
    """Each side normalised, `w · keyword + (1 − w) · meaning`; `floor` = (kind, value) for papers
    found by meaning alone."""

    def fuse(s):
        w = w_short if words(s.text) <= 3 else w_long
        if weight_of:
            w = weight_of(s, w)
        scores = collections.defaultdict(float)
        for side, weight, known in (
            (s.keyword, w, lambda d: dict(s.keyword).get(d, 0.0)),
            (s.semantic, 1 - w, s.true_similarity if true_similarity else lambda d: dict(s.semantic).get(d)),
        ):
            if not side:
                continue
            top = [v for _, v in side]
            hi, lo = max(top), min(top)
            mean, sd = statistics.mean(top), statistics.pstdev(top) or 1.0
            for d in s.candidates:
                v = known(d)
                if v is None:
                    continue
                n = {"max": v / hi, "minmax": (v - lo) / (hi - lo) if hi > lo else 1.0, "z": (v - mean) / sd}[normalise]
                scores[d] += weight * n
        if floor:
            kind, value = floor
            best = s.semantic[0][1] if s.semantic else 0.0
            threshold = value if kind == "absolute" else value * best
            in_keyword = {d for d, _ in s.keyword}
            for d in list(scores):
                if d not in in_keyword and s.true_similarity(d) < threshold:
                    del scores[d]
        return ordered(scores)

    return fuse


def rrf(k=60):
    def fuse(s):
        scores = collections.defaultdict(float)
        for side in (s.keyword, s.semantic):
            for rank, (d, _) in enumerate(side):
                scores[d] += 1 / (k + rank + 1)
        return ordered(scores)

    return fuse


def main():
    scifact, runs, vectors = sys.argv[1:4]
    queries = {json.loads(l)["_id"]: json.loads(l)["text"] for l in open(os.path.join(scifact, "queries.jsonl"))}
    data = {}
    for split in ("train", "test"):
        keyword = load_run(os.path.join(runs, f"keyword-{split}.run"))
        semantic = load_run(os.path.join(runs, f"semantic-{split}.run"))
        qrels = load_qrels(scifact, split)
        data[split] = [(Sides(keyword.get(q, []), semantic.get(q, []), queries[q]), j) for q, j in qrels.items()]
    index, matrix = load_vectors(vectors)

    def run(fuse, split):
        ranked = [(fuse(s), j) for s, j in data[split]]
        n = len(ranked)
        return sum(ndcg10(r, j) for r, j in ranked) / n, sum(recall100(r, j) for r, j in ranked) / n

    def prf(k, beta, w):
        """The nearest re-ranked by similarity to the query plus beta × to the centroid of its first k."""

        def fuse(s):
            if not s.semantic:
                return convex(w)(s)
            centroid = matrix[[index[d] for d, _ in s.semantic[:k]]].mean(0)
            moved = {d: v + beta * float(matrix[index[d]] @ centroid) for d, v in s.similarity.items()}
            semantic = sorted(moved.items(), key=lambda x: -x[1])
            return convex(w)(Sides(s.keyword, semantic, s.text))

        return fuse

    confidence = {
        "semantic side's best similarity: w + α(s₁ − 0.6)": lambda a: lambda s, w: min(
            0.95, max(0.05, w + a * ((s.semantic[0][1] if s.semantic else 0.6) - 0.6))
        ),
        "keyword side's top-5 share of its top-100 mass: w + α(m − 0.1)": lambda a: lambda s, w: min(
            0.95,
            max(0.05, w + a * (sum(v for _, v in s.keyword[:5]) / (sum(v for _, v in s.keyword) or 1) - 0.1)),
        ),
        "gap between each side's first two scores: w + α(Δk − 5Δs)": lambda a: lambda s, w: min(
            0.95,
            max(
                0.05,
                w
                + a
                * (
                    ((s.keyword[0][1] - s.keyword[1][1]) / s.keyword[0][1] if len(s.keyword) > 1 else 1)
                    - 5 * ((s.semantic[0][1] - s.semantic[1][1]) / s.semantic[0][1] if len(s.semantic) > 1 else 0)
                ),
            ),
        ),
    }
    weights = [0.3, 0.4, 0.5, 0.6, 0.7]
    rows = [
        ("before: min-max over each top 100, a side's missing candidate 0", lambda w: convex(w, "minmax", False), weights),
        ("reciprocal rank fusion, k = 60 (baseline)", lambda w: rrf(), [None]),
        ("min-max, every candidate's true similarity", lambda w: convex(w, "minmax"), weights),
        ("z-score, every candidate's true similarity", lambda w: convex(w, "z"), weights),
        ("divided by the best, missing candidate 0", lambda w: convex(w, "max", False), weights),
        ("**divided by the best, every candidate's true similarity (chosen)**", lambda w: convex(w), weights),
    ]
    print("| fusion (long queries; ≤ 3 words keep w = 0.8) | best train w | train nDCG@10 | test nDCG@10 |")
    print("|---|---:|---:|---:|")
    for name, make, grid in rows:
        best = max(grid, key=lambda w: run(make(w), "train")[0])
        print(f"| {name} | {best if best is not None else '—'} | {run(make(best), 'train')[0]:.4f} | {run(make(best), 'test')[0]:.4f} |")
    for name, make in confidence.items():
        grid = [(w, a) for w in (0.4, 0.5, 0.6) for a in (-1, -0.5, -0.25, 0.25, 0.5, 1)]
        w, a = max(grid, key=lambda p: run(convex(p[0], weight_of=make(p[1])), "train")[0])
        fuse = convex(w, weight_of=make(a))
        print(f"| chosen + weight from the {name} | {w}, α = {a} | {run(fuse, 'train')[0]:.4f} | {run(fuse, 'test')[0]:.4f} |")
    grid = [(k, b) for k in (1, 3, 5, 10) for b in (0.1, 0.25, 0.5, 1.0)]
    k, b = max(grid, key=lambda p: run(prf(p[0], p[1], 0.5), "train")[0])
    print(f"| chosen + vector pseudo-relevance feedback (first k nearest, β) | k = {k}, β = {b} | {run(prf(k, b, 0.5), 'train')[0]:.4f} | {run(prf(k, b, 0.5), 'test')[0]:.4f} |")

    def paired(a, b, split):
        """Mean per-query nDCG@10 difference a − b and its standard error."""
        d = [ndcg10(a(s), j) - ndcg10(b(s), j) for s, j in data[split]]
        return statistics.mean(d), statistics.pstdev(d) / len(d) ** 0.5

    chosen, before = convex(0.5), convex(0.6, "minmax", False)
    best_two = convex(0.4, weight_of=list(confidence.values())[0](-0.5))
    print()
    for name, a, b in (("chosen − before", chosen, before), ("semantic-best weighting − chosen", best_two, chosen)):
        (tm, te), (sm, se) = paired(a, b, "train"), paired(a, b, "test")
        print(f"paired nDCG@10 difference, {name}: train {tm:+.4f} ± {te:.4f}, test {sm:+.4f} ± {se:.4f}")

    print()
    print("| floor for papers found by meaning alone | train nDCG@10 | train Recall@100 | such papers per query | of them judged relevant |")
    print("|---|---:|---:|---:|---:|")
    floors = [None] + [("absolute", t) for t in (0.30, 0.35, 0.40, 0.45)] + [("relative", r) for r in (0.6, 0.65, 0.7, 0.75, 0.8)]
    for floor in floors:
        fuse = convex(0.5, floor=floor)
        ndcg, recall = run(fuse, "train")
        alone = relevant = 0
        for s, j in data["train"]:
            in_keyword = {d for d, _ in s.keyword}
            only = [d for d in fuse(s)[:100] if d not in in_keyword]
            alone += len(only)
            relevant += sum(1 for d in only if j.get(d, 0) > 0)
        name = "none" if floor is None else (f"similarity ≥ {floor[1]}" if floor[0] == "absolute" else f"similarity ≥ {floor[1]} × the query's best")
        n = len(data["train"])
        print(f"| {name} | {ndcg:.4f} | {recall:.4f} | {alone / n:.1f} | {100 * relevant / max(alone, 1):.2f}% |")


if __name__ == "__main__":
    main()
