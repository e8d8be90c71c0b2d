//! Digest building at scale: N subscribers, each with 3 saved searches (real SciFact claims and
//! real arXiv titles) and 5 followed categories or authors (real ones), against one real
//! announcement day of the sample corpus. One JSON line per size, and one for the naive way —
//! every subscriber's searches run one by one as hybrid searches over the store (measured on a
//! sample of subscribers and scaled) — as the peer.
//!
//! `PAPERBOY_MODEL_DIR=... cargo bench -p paperboy_app --bench digest -- SAMPLE_DIR SCIFACT_DIR CORPUS_DIR DATE N...`
//! (SAMPLE_DIR: data/sample, with arxiv-cs/ and the vectors file; CORPUS_DIR: the 72k corpus's
//! days/, for titles and authors that are not in the sample.)

use std::{
    collections::HashSet,
    io::BufRead,
    path::{Path, PathBuf},
    time::Instant,
};

use chrono::{NaiveDate, Utc};
use paperboy_app::{Library, ModelChoice, NoProgress, SearchMode, SearchParams, digest::BuildOptions};
use paperboy_domain::{Cadence, Category, EmailAddress, Preferences, SearchQuery};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn read_gz_lines(path: &Path) -> Vec<serde_json::Value> {
    let file = std::fs::File::open(path).unwrap();
    let reader = std::io::BufReader::new(flate2::read::GzDecoder::new(file));
    reader.lines().map(|l| serde_json::from_str(&l.unwrap()).unwrap()).collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let [sample, scifact, corpus, date, sizes @ ..] = args.as_slice() else {
        eprintln!("usage: digest SAMPLE_DIR SCIFACT_DIR CORPUS_DAYS_DIR DATE N...");
        std::process::exit(2);
    };
    let date: NaiveDate = date.parse().unwrap();
    let sizes: Vec<usize> = sizes.iter().map(|s| s.parse().unwrap()).collect();

    // Searches: SciFact claims and titles; follows: categories and authors of the corpus.
    let mut searches: Vec<String> = std::fs::read_to_string(Path::new(scifact).join("queries.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["text"].as_str().unwrap().to_owned())
        .collect();
    let mut titles = Vec::new();
    let mut authors = Vec::new();
    let mut categories: Vec<Category> = Vec::new();
    let mut days: Vec<PathBuf> = std::fs::read_dir(corpus).unwrap().map(|e| e.unwrap().path()).collect();
    days.sort();
    for day in &days {
        for record in read_gz_lines(day) {
            titles.push(record["title"].as_str().unwrap_or_default().split_whitespace().collect::<Vec<_>>().join(" "));
            if let Some(list) = record["authors"].as_array() {
                for author in list.iter().take(2) {
                    if let Some(name) = author.as_str() {
                        authors.push(name.to_owned());
                    }
                }
            }
            match &record["categories"] {
                serde_json::Value::String(text) => {
                    categories.extend(text.split_whitespace().filter_map(|c| Category::parse(c).ok()))
                }
                serde_json::Value::Array(list) => {
                    categories.extend(list.iter().filter_map(|c| Category::parse(c.as_str()?).ok()))
                }
                _ => {}
            }
        }
    }
    let mut rng = Rng(0x9e3779b97f4a7c15);
    searches.retain(|s| SearchQuery::parse(s).is_ok());
    authors.retain(|a| !a.is_empty());
    // Distinct saved searches grow with the subscribers: the SciFact claims plus one paper title
    // per 20 subscribers (at least 4,000), drawn at random.
    let mut shuffled: Vec<String> = titles.into_iter().filter(|t| SearchQuery::parse(t).is_ok()).collect();
    for i in (1..shuffled.len()).rev() {
        shuffled.swap(i, rng.below(i + 1));
    }
    eprintln!(
        "{} SciFact claims, {} titles, {} author names, {} category uses",
        searches.len(),
        shuffled.len(),
        authors.len(),
        categories.len()
    );

    for &n in &sizes {
        let mut seen = HashSet::new();
        let pool: Vec<String> = searches
            .iter()
            .chain(shuffled.iter().take((n / 20).max(4_000)))
            .filter(|s| seen.insert(s.to_string()))
            .cloned()
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let library = Library::open_with(
            dir.path(),
            Some(&ModelChoice::new(paperboy_app::models::DEFAULT_MODEL, &models_dir())),
            &NoProgress,
        )
        .unwrap();
        let files: Vec<PathBuf> = {
            let mut f: Vec<PathBuf> =
                std::fs::read_dir(Path::new(sample).join("arxiv-cs")).unwrap().map(|e| e.unwrap().path()).collect();
            f.sort();
            f
        };
        paperboy_app::ingest::ingest_jsonl(&library, &files, &NoProgress).unwrap();
        library.import_vectors(&Path::new(sample).join("vectors-all-MiniLM-L6-v2.bin"), &NoProgress).unwrap();
        let setup = Instant::now();
        let subscribers: Vec<(EmailAddress, bool, Preferences)> = (0..n)
            .map(|i| {
                let follows_categories = 1 + rng.below(4);
                let preferences = Preferences {
                    cadence: Cadence::Daily,
                    searches: (0..3).map(|_| pool[rng.below(pool.len())].clone()).collect(),
                    categories: (0..follows_categories)
                        .map(|_| categories[rng.below(categories.len())])
                        .collect::<HashSet<_>>()
                        .into_iter()
                        .collect(),
                    authors: (0..5 - follows_categories).map(|_| authors[rng.below(authors.len())].clone()).collect(),
                    ..Preferences::default()
                };
                (EmailAddress::parse(&format!("reader{i}@example.org")).unwrap(), true, preferences)
            })
            .collect();
        library.import_subscribers(&subscribers, Utc::now()).unwrap();
        let setup_s = setup.elapsed().as_secs_f64();
        let options = BuildOptions {
            date,
            weekly_on: paperboy_app::digest::WEEKLY_ON,
            host: "bench.example.org".into(),
            dry_run: false,
            only: None,
            details: false,
            now: Utc::now(),
        };
        let report = library.build_digests(&options, &NoProgress).unwrap();
        let rss = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            })
            .unwrap_or(0);
        println!(
            "{}",
            serde_json::json!({
                "engine": "paperboy", "subscribers": n, "setup_s": setup_s, "date": date,
                "papers": report.papers, "searches": report.searches, "due": report.due, "queued": report.queued,
                "empty": report.empty, "entries": report.entries, "seconds": report.seconds,
                "phases": report.phases, "peak_rss_mib": rss / 1024,
            })
        );

        // The naive way, on a sample: each subscriber's searches as hybrid searches of the day.
        if n == *sizes.last().unwrap() {
            let sample_n = 300.min(n);
            let started = Instant::now();
            for (_, _, preferences) in subscribers.iter().take(sample_n) {
                for search in &preferences.searches {
                    let _ = library.search(&SearchParams {
                        query: search.clone(),
                        since: Some(date),
                        until: Some(date),
                        limit: preferences.max_papers as usize,
                        mode: SearchMode::Hybrid,
                        ..SearchParams::default()
                    });
                }
            }
            let per_subscriber = started.elapsed().as_secs_f64() / sample_n as f64;
            println!(
                "{}",
                serde_json::json!({
                    "engine": "naive per-subscriber hybrid search", "subscribers_measured": sample_n,
                    "seconds_per_subscriber": per_subscriber, "projected_seconds_for": n, "projected_seconds": per_subscriber * n as f64,
                    "ratio_vs_paperboy": per_subscriber * n as f64 / report.seconds,
                })
            );
        }
    }
}

/// Where the benchmark's model is installed: `PAPERBOY_MODEL_DIR`.
fn models_dir() -> PathBuf {
    std::env::var_os("PAPERBOY_MODEL_DIR").map(PathBuf::from).expect("set PAPERBOY_MODEL_DIR to the models folder")
}
