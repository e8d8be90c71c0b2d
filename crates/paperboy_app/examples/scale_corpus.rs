//! A corpus of any size in the format of Kaggle's `arxiv-metadata-oai-snapshot.json`, built from
//! real papers, for measuring paperboy at the scale of all of arXiv (`scripts/scale-corpus`).
//!
//! ```text
//! scale_corpus --papers N --out FILE [--vectors FILE] [--seed S] [--source DIR]
//!              [--kaggle FILE] [--sample-vectors FILE]
//! ```
//!
//! Every record is recombined from real ones, so that vocabulary, lengths and posting lists are
//! shaped like arXiv's: a record starts from a real paper (its length in sentences, its number of
//! authors, its comment), keeps some of its sentences and takes the others from papers of the same
//! primary category; its title joins the start of one real title to the end of another of that
//! category; its authors are real names; its categories are a real paper's mix (now and then a
//! physics or mathematics one from the Kaggle sample). Ids follow arXiv's history: about one in
//! seven old-style (`archive/YYMMNNN`, 1991 to March 2007), the rest new-style from April 2007 to
//! November 2026 with four-digit numbers until 2014 and five after (never a real paper's id, so
//! the real papers can be ingested on top), monthly volume growing as arXiv's did; one to five versions each, dated inside the id's month and after. The output is
//! deterministic for a seed, sorted as the snapshot is (new-style ids first, then old-style).
//!
//! With `--vectors`, it also writes a vectors file that `paperboy embed --import` reads: each
//! record's vector mixes the real embeddings of the papers its text came from (`--sample-vectors`,
//! all-MiniLM-L6-v2 by default) with a little noise, so the vector index is measured on vectors
//! clustered as real embeddings are, not on uniform noise. Each vector carries the hash of the
//! text paperboy will store for its record, so the import keeps every one.

use std::{
    collections::HashMap,
    fs::File,
    io::{BufRead, BufReader, BufWriter, Read, Write},
    path::{Path, PathBuf},
    process::ExitCode,
    time::Instant,
};

use flate2::{Compression, write::GzEncoder};
use paperboy_arxiv::jsonl::{self, JsonlReader};
use paperboy_domain::Paper;
use paperboy_search::vector::{decode_f16, encode_f16};
use serde::Serialize;

struct Args {
    papers: u64,
    out: PathBuf,
    vectors: Option<PathBuf>,
    seed: u64,
    source: PathBuf,
    kaggle: PathBuf,
    sample_vectors: PathBuf,
}

const USAGE: &str = "usage: scale_corpus --papers N --out FILE [--vectors FILE] [--seed S] [--source DIR] \
                     [--kaggle FILE] [--sample-vectors FILE]\n\
                     FILE ending in .gz is written gzip-compressed.";

fn parse_args() -> Result<Args, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let shared_days = root.join("../shared/data/arxiv-daily-cs/days");
    let mut args = Args {
        papers: 0,
        out: PathBuf::new(),
        vectors: None,
        seed: 1,
        source: if shared_days.is_dir() { shared_days } else { root.join("data/sample/arxiv-cs") },
        kaggle: root.join("crates/paperboy_arxiv/tests/data/kaggle-sample.jsonl"),
        sample_vectors: root.join("data/sample/vectors-all-MiniLM-L6-v2.bin"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            return Err(USAGE.to_owned());
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--papers" => args.papers = value.parse().map_err(|_| format!("--papers: not a number: {value}"))?,
            "--out" => args.out = value.into(),
            "--vectors" => args.vectors = Some(value.into()),
            "--seed" => args.seed = value.parse().map_err(|_| format!("--seed: not a number: {value}"))?,
            "--source" => args.source = value.into(),
            "--kaggle" => args.kaggle = value.into(),
            "--sample-vectors" => args.sample_vectors = value.into(),
            _ => return Err(format!("unknown flag {flag}\n{USAGE}")),
        }
    }
    if args.papers == 0 || args.out.as_os_str().is_empty() {
        return Err(USAGE.to_owned());
    }
    Ok(args)
}

/// SplitMix64: small, fast and the same on every machine, so a seed always gives one corpus.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64 * n as f64) as usize
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A standard normal draw (Box–Muller).
    fn normal(&mut self) -> f32 {
        let u = self.unit().max(1e-12);
        let v = self.unit();
        ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
    }
}

/// A real paper, cut into what records are built from.
struct Source {
    title: Vec<String>,
    sentences: Vec<String>,
    authors: usize,
    categories: String,
    comments: Option<String>,
    vector: Option<Vec<f32>>,
}

/// What the records are built from.
struct Pools {
    /// The model of the real embeddings.
    model: String,
    papers: Vec<Source>,
    /// Papers by primary category.
    by_primary: HashMap<String, Vec<usize>>,
    /// Papers that have a real embedding, by primary category, and all of them.
    with_vector_by_primary: HashMap<String, Vec<usize>>,
    with_vector: Vec<usize>,
    names: Vec<String>,
    /// Category mixes of other fields than computer science (the Kaggle sample).
    other_mixes: Vec<String>,
    /// The real papers' ids: no record takes one, so the real papers can be added on top.
    real_ids: std::collections::HashSet<String>,
}

fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    for i in 0..bytes.len() {
        let ends = bytes[i] == b'.'
            && bytes.get(i + 1) == Some(&b' ')
            && bytes.get(i + 2).is_some_and(|b| b.is_ascii_uppercase())
            && i + 1 - start > 20;
        if ends {
            out.push(text[start..=i].to_owned());
            start = i + 2;
        }
    }
    if start < text.len() {
        out.push(text[start..].to_owned());
    }
    out
}

/// The model the vectors are of and the vectors by paper id.
fn read_sample_vectors(path: &Path) -> Result<(String, HashMap<String, Vec<f32>>), String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut input = BufReader::new(file);
    let mut header = Vec::new();
    input.read_until(b'\n', &mut header).map_err(|e| e.to_string())?;
    let header: serde_json::Value = serde_json::from_slice(&header).map_err(|e| format!("{}: {e}", path.display()))?;
    let dimension = header["dimension"].as_u64().ok_or("no dimension in the vectors header")? as usize;
    let model = header["model"].as_str().ok_or("no model in the vectors header")?.to_owned();
    let mut vectors = HashMap::new();
    loop {
        let mut len = [0u8];
        if input.read_exact(&mut len).is_err() {
            break;
        }
        let mut key = vec![0u8; len[0] as usize];
        let mut hash = [0u8; 8];
        let mut vector = vec![0u8; dimension * 2];
        input
            .read_exact(&mut key)
            .and_then(|_| input.read_exact(&mut hash))
            .and_then(|_| input.read_exact(&mut vector))
            .map_err(|_| format!("{} is truncated", path.display()))?;
        vectors.insert(String::from_utf8_lossy(&key).into_owned(), decode_f16(&vector));
    }
    Ok((model, vectors))
}

fn read_pools(args: &Args) -> Result<Pools, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(&args.source)
        .map_err(|e| format!("{}: {e}", args.source.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.to_string_lossy().contains(".jsonl"))
        .collect();
    files.sort();
    let (model, mut sample_vectors) = match args.vectors {
        Some(_) => read_sample_vectors(&args.sample_vectors)?,
        None => (String::new(), HashMap::new()),
    };
    let mut pools = Pools {
        model,
        papers: Vec::new(),
        by_primary: HashMap::new(),
        with_vector_by_primary: HashMap::new(),
        with_vector: Vec::new(),
        names: Vec::new(),
        other_mixes: Vec::new(),
        real_ids: std::collections::HashSet::new(),
    };
    let mut seen_names = std::collections::HashSet::new();
    let mut add = |pools: &mut Pools, paper: Paper, vector: Option<Vec<f32>>| {
        let Some(primary) = paper.categories.first() else { return };
        let title: Vec<String> = paper.title.split_whitespace().map(str::to_owned).collect();
        let sentences = sentences(&paper.abstract_text);
        if title.len() < 2 || sentences.is_empty() {
            return;
        }
        for name in &paper.authors {
            if seen_names.insert(name.clone()) {
                pools.names.push(name.clone());
            }
        }
        let index = pools.papers.len();
        pools.by_primary.entry(primary.as_str().to_owned()).or_default().push(index);
        if vector.is_some() {
            pools.with_vector_by_primary.entry(primary.as_str().to_owned()).or_default().push(index);
            pools.with_vector.push(index);
        }
        pools.papers.push(Source {
            title,
            sentences,
            authors: paper.authors.len().max(1),
            categories: paper.categories.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(" "),
            comments: paper.comments.clone(),
            vector,
        });
    };
    for path in &files {
        for record in JsonlReader::open(path).map_err(|e| e.to_string())? {
            let Ok(paper) = record else { continue };
            pools.real_ids.insert(paper.id.to_string());
            let vector = sample_vectors.remove(&paper.id.to_string());
            add(&mut pools, paper, vector);
        }
    }
    for record in JsonlReader::open(&args.kaggle).map_err(|e| e.to_string())? {
        let Ok(paper) = record else { continue };
        pools.other_mixes.push(paper.categories.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(" "));
    }
    if pools.papers.is_empty() || pools.names.is_empty() {
        return Err(format!("no papers to build from in {}", args.source.display()));
    }
    if args.vectors.is_some() && pools.with_vector.is_empty() {
        return Err(format!("none of the papers has a vector in {}", args.sample_vectors.display()));
    }
    Ok(pools)
}

/// One record of the snapshot, its fields in the snapshot's order.
#[derive(Serialize)]
struct Record {
    id: String,
    submitter: String,
    authors: String,
    title: String,
    comments: Option<String>,
    #[serde(rename = "journal-ref")]
    journal_ref: Option<String>,
    doi: Option<String>,
    #[serde(rename = "report-no")]
    report_no: Option<String>,
    categories: String,
    license: Option<&'static str>,
    #[serde(rename = "abstract")]
    abstract_text: String,
    versions: Vec<RecordVersion>,
    update_date: String,
    authors_parsed: Vec<[String; 3]>,
}

#[derive(Serialize)]
struct RecordVersion {
    version: String,
    created: String,
}

const LICENSES: [Option<&str>; 5] = [
    Some("http://arxiv.org/licenses/nonexclusive-distrib/1.0/"),
    Some("http://arxiv.org/licenses/nonexclusive-distrib/1.0/"),
    Some("http://creativecommons.org/licenses/by/4.0/"),
    Some("http://creativecommons.org/licenses/by-nc-sa/4.0/"),
    None,
];

/// Records per month: `((year, month), count)`, oldest first.
type MonthPlan = Vec<((u16, u8), u64)>;

/// How many records each month gets: volume grows about eightfold from 2007 to 2026, as arXiv's
/// submissions did; old-style months (from August 1991) hold about one record in seven.
fn month_plan(papers: u64) -> (MonthPlan, MonthPlan) {
    let months = |from: (u16, u8), to: (u16, u8)| {
        let mut out = Vec::new();
        let (mut year, mut month) = from;
        while (year, month) <= to {
            out.push((year, month));
            (year, month) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
        }
        out
    };
    let spread = |months: Vec<(u16, u8)>, total: u64, growth: f64| {
        let weights: Vec<f64> =
            (0..months.len()).map(|i| (i as f64 / months.len() as f64 * growth.ln()).exp()).collect();
        let sum: f64 = weights.iter().sum();
        let mut counts: Vec<u64> = weights.iter().map(|w| (w / sum * total as f64) as u64).collect();
        let short = total - counts.iter().sum::<u64>();
        for i in 0..short as usize {
            let last = counts.len() - 1 - i % counts.len();
            counts[last] += 1;
        }
        months.into_iter().zip(counts).collect::<Vec<_>>()
    };
    let old = papers / 7;
    (spread(months((2007, 4), (2026, 11)), papers - old, 8.0), spread(months((1991, 8), (2007, 3)), old, 20.0))
}

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

fn rfc2822(at: chrono::NaiveDateTime) -> String {
    use chrono::{Datelike, Timelike};
    format!(
        "{}, {} {} {} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[at.weekday().num_days_from_monday() as usize],
        at.day(),
        MONTHS[at.month0() as usize],
        at.year(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// Wraps text as the snapshot does: lines of about 80 characters joined by a newline and two spaces.
fn wrap(text: &str, indent: bool) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 40);
    if indent {
        out.push_str("  ");
    }
    let mut line = 0;
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            if line + word.len() > 78 {
                out.push_str(if indent { "\n" } else { "\n  " });
                line = 0;
            } else {
                out.push(' ');
                line += 1;
            }
        }
        out.push_str(word);
        line += word.len();
    }
    if indent {
        out.push('\n');
    }
    out
}

struct Builder<'a> {
    pools: &'a Pools,
    rng: Rng,
    dimension: usize,
}

impl Builder<'_> {
    /// A record for `id`, submitted in `(year, month)`, and the vector its text calls for.
    /// An old-style id names its archive, so its category mix is chosen with it (`mix`).
    fn record(&mut self, id: String, (year, month): (u16, u8), mix: Option<String>) -> (Record, Option<Vec<f32>>) {
        let pools = self.pools;
        let rng = &mut self.rng;
        let base_index = rng.below(pools.papers.len());
        let base = &pools.papers[base_index];
        let primary = base.categories.split(' ').next().unwrap_or_default();
        let kin = &pools.by_primary[primary];
        let other_index = *rng.pick(kin);
        let other = &pools.papers[other_index];

        let cut = 1 + rng.below(base.title.len() - 1);
        let from = rng.below(other.title.len() - 1).max(1);
        let mut title: Vec<&str> = base.title[..cut].iter().map(String::as_str).collect();
        title.extend(other.title[from..].iter().map(String::as_str));

        let mut abstract_text = String::new();
        for own in &base.sentences {
            let sentence = if rng.chance(0.3) {
                own
            } else {
                let donor = &pools.papers[*rng.pick(kin)];
                rng.pick(&donor.sentences)
            };
            if !abstract_text.is_empty() {
                abstract_text.push(' ');
            }
            abstract_text.push_str(sentence);
        }

        let authors: Vec<&str> = (0..base.authors).map(|_| rng.pick(&pools.names).as_str()).collect();
        let categories = if let Some(mix) = mix {
            mix
        } else if !pools.other_mixes.is_empty() && rng.chance(0.2) {
            rng.pick(&pools.other_mixes).clone()
        } else {
            base.categories.clone()
        };

        let start = chrono::NaiveDate::from_ymd_opt(year.into(), month.into(), 1 + rng.below(28) as u32)
            .expect("a day of the month")
            .and_hms_opt(rng.below(24) as u32, rng.below(60) as u32, rng.below(60) as u32)
            .expect("a time of day");
        let mut versions = vec![start];
        while versions.len() < 5 && rng.chance(0.4) {
            let last = *versions.last().expect("one version");
            versions.push(last + chrono::Duration::minutes(60 + rng.below(400 * 24 * 60) as i64));
        }
        let record = Record {
            submitter: authors[0].to_owned(),
            authors: match authors.as_slice() {
                [one] => (*one).to_owned(),
                [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
                [] => unreachable!("at least one author"),
            },
            title: wrap(&title.join(" "), false),
            comments: base.comments.clone(),
            journal_ref: None,
            doi: None,
            report_no: None,
            categories,
            license: *rng.pick(&LICENSES),
            abstract_text: wrap(&abstract_text, true),
            update_date: versions.last().expect("one version").date().to_string(),
            versions: versions
                .iter()
                .enumerate()
                .map(|(i, at)| RecordVersion { version: format!("v{}", i + 1), created: rfc2822(*at) })
                .collect(),
            authors_parsed: authors
                .iter()
                .map(|name| match name.rsplit_once(' ') {
                    Some((first, last)) => [last.to_owned(), first.to_owned(), String::new()],
                    None => [(*name).to_owned(), String::new(), String::new()],
                })
                .collect(),
            id,
        };
        let vector = (self.dimension > 0).then(|| self.vector(primary, base_index, other_index));
        (record, vector)
    }

    /// Most of the base paper's embedding, some of the other's, a little noise; unit length.
    fn vector(&mut self, primary: &str, base: usize, other: usize) -> Vec<f32> {
        let pools = self.pools;
        let with_vector = pools.with_vector_by_primary.get(primary).map_or(&pools.with_vector[..], |v| &v[..]);
        let real = |index: usize, rng: &mut Rng| match &pools.papers[index].vector {
            Some(vector) => vector.clone(),
            None => pools.papers[*rng.pick(with_vector)].vector.clone().expect("a paper with a vector"),
        };
        let a = real(base, &mut self.rng);
        let b = real(other, &mut self.rng);
        let noise = 0.35 / (self.dimension as f32).sqrt();
        let mut v: Vec<f32> = a.iter().zip(&b).map(|(a, b)| 0.7 * a + 0.3 * b + noise * self.rng.normal()).collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
        v.iter_mut().for_each(|x| *x /= norm);
        v
    }
}

/// The records' file: gzip when its name ends in `.gz`.
enum Output {
    Plain(BufWriter<File>),
    Gzip(Box<GzEncoder<BufWriter<File>>>),
}

impl Write for Output {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        match self {
            Output::Plain(out) => out.write(bytes),
            Output::Gzip(out) => out.write(bytes),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Output::Plain(out) => out.flush(),
            Output::Gzip(out) => out.flush(),
        }
    }
}

impl Output {
    /// Writes what is left (gzip's trailer too: dropping an encoder would lose its error) and
    /// flushes the file.
    fn finish(self) -> std::io::Result<()> {
        match self {
            Output::Plain(mut out) => out.flush(),
            Output::Gzip(out) => out.finish()?.flush(),
        }
    }
}

fn create(path: &Path) -> Result<Output, String> {
    let file = File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let out = BufWriter::with_capacity(1 << 20, file);
    Ok(if path.extension().is_some_and(|e| e == "gz") {
        Output::Gzip(Box::new(GzEncoder::new(out, Compression::fast())))
    } else {
        Output::Plain(out)
    })
}

fn run(args: &Args) -> Result<(), String> {
    let started = Instant::now();
    let pools = read_pools(args)?;
    eprintln!(
        "building {} records from {} real papers ({} with vectors) and {} author names",
        args.papers,
        pools.papers.len(),
        pools.with_vector.len(),
        pools.names.len()
    );
    let dimension = match &args.vectors {
        Some(_) => pools.papers[pools.with_vector[0]].vector.as_ref().map_or(0, Vec::len),
        None => 0,
    };
    let mut out = create(&args.out)?;
    let mut vectors_out = match &args.vectors {
        Some(path) => {
            let mut out = BufWriter::with_capacity(1 << 20, File::create(path).map_err(|e| e.to_string())?);
            let header = serde_json::json!({"format": "paperboy-vectors", "version": 1, "dtype": "f16", "model": pools.model, "dimension": dimension});
            writeln!(out, "{header}").map_err(|e| e.to_string())?;
            Some(out)
        }
        None => None,
    };
    let mut builder = Builder { pools: &pools, rng: Rng(args.seed), dimension };
    let (new_style, old_style) = month_plan(args.papers);
    let mut written = 0u64;
    let mut line = Vec::with_capacity(8192);
    let mut emit = |builder: &mut Builder, id: String, month: (u16, u8), mix: Option<String>| -> Result<(), String> {
        let (record, vector) = builder.record(id, month, mix);
        line.clear();
        serde_json::to_writer(&mut line, &record).map_err(|e| e.to_string())?;
        line.push(b'\n');
        out.write_all(&line).map_err(|e| format!("{}: {e}", args.out.display()))?;
        if let (Some(vectors_out), Some(vector)) = (vectors_out.as_mut(), vector) {
            // The hash of the text paperboy will store: the record read back as ingest reads it.
            let paper = jsonl::parse_line(std::str::from_utf8(&line).expect("JSON is UTF-8").trim())
                .map_err(|e| format!("a generated record does not parse: {e}"))?;
            let hash = xxhash_rust::xxh3::xxh3_64(
                paperboy_embed::document_text(&paper.title, &paper.abstract_text).as_bytes(),
            );
            let key = paper.id.to_string();
            let mut bytes = Vec::with_capacity(1 + key.len() + 8 + vector.len() * 2);
            bytes.push(key.len() as u8);
            bytes.extend_from_slice(key.as_bytes());
            bytes.extend_from_slice(&hash.to_le_bytes());
            bytes.extend_from_slice(&encode_f16(&vector));
            vectors_out.write_all(&bytes).map_err(|e| e.to_string())?;
        }
        written += 1;
        if written.is_multiple_of(250_000) {
            eprintln!("{written} records, {:.0} s", started.elapsed().as_secs_f64());
        }
        Ok(())
    };
    for ((year, month), count) in new_style {
        let yymm = format!("{:02}{month:02}", year % 100);
        let width = if year < 2015 { 4 } else { 5 };
        if count > if width == 4 { 9_999 } else { 99_999 } {
            return Err(format!("{count} papers in {yymm} are more than arXiv's numbers of that month hold"));
        }
        let mut number = 0;
        for _ in 0..count {
            let id = loop {
                number += 1;
                let id = format!("{yymm}.{number:0width$}");
                if !pools.real_ids.contains(&id) {
                    break id;
                }
            };
            if number > if width == 4 { 9_999 } else { 99_999 } {
                return Err(format!("{count} papers in {yymm} are more than arXiv's numbers of that month hold"));
            }
            emit(&mut builder, id, (year, month), None)?;
        }
    }
    for ((year, month), count) in old_style {
        // Old-style numbers count per archive and month, up to 999 each.
        let mut numbers: HashMap<String, u64> = HashMap::new();
        let mut made = 0;
        let mut tries = 0;
        while made < count {
            tries += 1;
            if tries > 1_000 * count {
                return Err(format!("{count} old-style papers in {year}-{month:02} are more than the archives hold"));
            }
            let mix = pools.papers[builder.rng.below(pools.papers.len())].categories.clone();
            let mix = if !pools.other_mixes.is_empty() && builder.rng.chance(0.6) {
                builder.rng.pick(&pools.other_mixes).clone()
            } else {
                mix
            };
            let archive = mix.split([' ', '.']).next().unwrap_or("cs").to_owned();
            if paperboy_domain::ArxivId::parse(&format!("{archive}/9901001")).is_err() {
                continue;
            }
            let number = numbers.entry(archive.clone()).or_default();
            if *number == 999 {
                continue;
            }
            *number += 1;
            let id = format!("{archive}/{:02}{month:02}{:03}", year % 100, *number);
            emit(&mut builder, id, (year, month), Some(mix))?;
            made += 1;
        }
    }
    out.finish().map_err(|e| format!("{}: {e}", args.out.display()))?;
    if let Some(mut vectors_out) = vectors_out {
        vectors_out.flush().map_err(|e| e.to_string())?;
    }
    eprintln!("wrote {written} records to {} in {:.1} s", args.out.display(), started.elapsed().as_secs_f64());
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("scale_corpus: {message}");
            ExitCode::FAILURE
        }
    }
}
