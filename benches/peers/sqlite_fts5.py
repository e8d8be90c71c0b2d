#!/usr/bin/env python3
"""The peer for paperboy's foundation benchmarks: Python's sqlite3 with an FTS5 index.

  sqlite_fts5.py ingest CORPUS_DIR DB      papers table + FTS5 (porter) over title, abstract, authors
  sqlite_fts5.py search DB QUERIES_FILE [N]  top 10 by bm25() (title weighted like paperboy), with titles;
                                             the first N queries only, if given (FTS5 is slow at millions)

CORPUS_DIR holds JSON Lines files (plain or gzip) in the daily-listing format or Kaggle's snapshot
format (authors and categories as one string).

Each prints one JSON line. Same inputs as paperboy's benches (benches/README.md).
"""
import glob
import gzip
import json
import os
import resource
import sqlite3
import sys
import time


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def ingest(corpus_dir, db_path):
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db_path + suffix):
            os.remove(db_path + suffix)
    started = time.perf_counter()
    db = sqlite3.connect(db_path)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute(
        "CREATE TABLE papers (id TEXT PRIMARY KEY, title TEXT, abstract TEXT, authors TEXT, "
        "categories TEXT, announced TEXT)"
    )
    db.execute(
        "CREATE VIRTUAL TABLE papers_fts USING fts5(title, abstract, authors, "
        "content='papers', content_rowid='rowid', tokenize='porter unicode61')"
    )
    n = 0
    files = sorted(glob.glob(os.path.join(corpus_dir, "*.json*")))
    with db:
        for path in files:
            opener = gzip.open if path.endswith(".gz") else open
            with opener(path, "rt", encoding="utf-8") as lines:
                rows = []
                for line in lines:
                    paper = json.loads(line)
                    authors, categories = paper["authors"], paper["categories"]
                    rows.append((
                        paper["id"], " ".join(paper["title"].split()), " ".join(paper["abstract"].split()),
                        authors if isinstance(authors, str) else ", ".join(authors),
                        categories if isinstance(categories, str) else " ".join(categories),
                        paper.get("announced") or paper.get("update_date"),
                    ))
                    if len(rows) == 10_000:
                        db.executemany("INSERT OR REPLACE INTO papers VALUES (?, ?, ?, ?, ?, ?)", rows)
                        n += len(rows)
                        rows = []
                db.executemany("INSERT OR REPLACE INTO papers VALUES (?, ?, ?, ?, ?, ?)", rows)
                n += len(rows)
        db.execute("INSERT INTO papers_fts (rowid, title, abstract, authors) "
                   "SELECT rowid, title, abstract, authors FROM papers")
    db.close()
    seconds = time.perf_counter() - started
    print(json.dumps({"engine": "python-sqlite3-fts5", "sqlite": sqlite3.sqlite_version, "files": len(files),
                      "papers": n, "seconds": seconds, "papers_per_second": n / seconds,
                      "peak_rss_mib": peak_rss_mib()}))


def search(db_path, queries_path, limit=None):
    db = sqlite3.connect(db_path)
    queries = [q for q in open(queries_path, encoding="utf-8").read().splitlines() if q.strip()]
    if limit is not None:
        queries = queries[: int(limit)]
    sql = ("SELECT papers.id, papers.title FROM papers_fts JOIN papers ON papers.rowid = papers_fts.rowid "
           "WHERE papers_fts MATCH ? ORDER BY bm25(papers_fts, 1.25, 1.0, 1.0) LIMIT 10")

    def fts_query(text):
        # Any word may match (OR), as paperboy's relevance search; words are quoted so FTS5 syntax
        # characters in them are plain text.
        words = [w for w in text.split() if any(c.isalnum() for c in w)]
        return " OR ".join('"' + w.replace('"', '""') + '"' for w in words)

    for q in queries[: min(200, len(queries) // 4)]:
        db.execute(sql, (fts_query(q),)).fetchall()
    latencies, results, errors = [], 0, 0
    for q in queries:
        started = time.perf_counter()
        try:
            results += len(db.execute(sql, (fts_query(q),)).fetchall())
        except sqlite3.Error:
            errors += 1
        latencies.append((time.perf_counter() - started) * 1e3)
    latencies.sort()

    def pct(p):
        return latencies[round((len(latencies) - 1) * p)]

    print(json.dumps({"engine": "python-sqlite3-fts5", "sqlite": sqlite3.sqlite_version, "queries": len(queries),
                      "errors": errors, "mean_results": results / len(queries), "median_ms": pct(0.5),
                      "p90_ms": pct(0.9), "p99_ms": pct(0.99), "max_ms": pct(1.0)}))


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"ingest": ingest, "search": search}[command](*args)
