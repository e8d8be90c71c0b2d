//! What a test does when something it needs (the embedding model, PostgreSQL, a Python package) is
//! not there. In CI (`CI` set) that is a failure: a suite that silently tests less is worse than a
//! red one. Elsewhere the test is skipped and says so, and the skip is recorded in the file
//! `PAPERBOY_SKIP_LOG` names, so that `scripts/test` can count and list the skips at the end.
//! And a scratch PostgreSQL database per test, for the suites that run on both backends.

use std::io::Write as _;

/// Whether a test may run without `what`: false in CI (after which the caller panics via
/// [`missing`]), true elsewhere once the skip is recorded.
fn may_skip(test: &str, what: &str) -> bool {
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0") {
        return false;
    }
    record_skip(test, what);
    true
}

/// Says that `test` is skipped for want of `what`, and logs it for `scripts/test`'s count.
fn record_skip(test: &str, what: &str) {
    eprintln!("SKIPPED {test}: {what}");
    if let Some(log) = std::env::var_os("PAPERBOY_SKIP_LOG") {
        let line = format!("{test}: {what}\n");
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .and_then(|mut f| f.write_all(line.as_bytes()));
    }
}

/// Call when `what` a test needs is missing: in CI it panics with `what`; elsewhere it records the
/// skip and returns, and the test should return at once.
pub fn missing(test: &str, what: &str) {
    if !may_skip(test, what) {
        panic!("{test} needs {what} (CI runs every test; `scripts/test` sets it up)");
    }
}

/// The Python that has `module` (`PAPERBOY_TEST_PYTHON`, else `python3`; `scripts/test` installs
/// the test's third-party packages), or `None` after [`missing`] (`package` says what to install).
pub fn python_with(test: &str, module: &str, package: &str) -> Option<String> {
    let python = std::env::var("PAPERBOY_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let found = std::process::Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return Some(python);
    }
    missing(test, &format!("Python with {package} (pip install {package})"));
    None
}

/// Call when this CPU lacks an instruction set a test exercises (AVX-512 BF16, say): the skip is
/// recorded everywhere, CI included, because no setup can supply a CPU feature. The test that
/// calls it must have a sibling that checks what such a CPU does instead, so the machine tests
/// the path it really runs.
pub fn cpu_lacks(test: &str, what: &str) {
    record_skip(test, &format!("this CPU lacks {what}"));
}

/// The value of the environment variable `name`, or — when unset — a recorded skip (a panic in
/// CI) explaining `what` it stands for.
pub fn env_or_skip(test: &str, name: &str, what: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => Some(value),
        _ => {
            missing(test, &format!("{what} (set {name}; scripts/test does)"));
            None
        }
    }
}

/// Skips the rest of the test when `$value` (an `Option`) is `None`, recording why.
#[macro_export]
macro_rules! or_skip {
    ($value:expr) => {
        match $value {
            Some(value) => value,
            None => return,
        }
    };
}

/// A database of its own on the test server (`PAPERBOY_TEST_DATABASE_URL`, a server where the
/// user may create databases; `scripts/test` starts one), dropped when the value is.
pub struct ScratchDatabase {
    admin: String,
    name: String,
    /// The new database's URL.
    pub url: String,
}

impl ScratchDatabase {
    /// A new empty database, or `None` (a recorded skip; a failure in CI) without a server.
    pub fn create(test: &str) -> Option<ScratchDatabase> {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let admin = env_or_skip(test, "PAPERBOY_TEST_DATABASE_URL", "a PostgreSQL server")?;
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("pb_test_{}_{n}", std::process::id());
        let mut client = postgres::Client::connect(&admin, postgres::NoTls).expect("connecting to the test server");
        client.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).unwrap();
        // A natural-language collation, as managed servers and most installations have (not the
        // C order a scratch server starts with), so that code relying on bytewise order shows.
        let icu = format!(
            "CREATE DATABASE {name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
        );
        if client.batch_execute(&icu).is_err() {
            client.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        }
        let (base, _) = admin.rsplit_once('/').expect("the URL names a database");
        Some(ScratchDatabase { url: format!("{base}/{name}"), admin, name })
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        if let Ok(mut client) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}
