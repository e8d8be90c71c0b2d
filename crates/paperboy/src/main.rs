//! The `paperboy` binary: parses the command line, reads the environment, and calls the use cases
//! in `paperboy_app`. Only this crate reads configuration and environment variables.

mod cli;
mod commands;
mod output;
mod progress;

use std::{path::PathBuf, process::ExitCode};

use clap::Parser;

use crate::cli::{Cli, Command, LogFormat};

/// mimalloc instead of the system allocator: a search allocates and frees many small buffers on
/// many threads, where glibc's malloc spent about 7% of a loaded server's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A long-running server keeps Rust's default (a closed pipe is an error, not the end); the
    // other commands end quietly when their reader goes away.
    if !matches!(cli.command, Command::Serve(_) | Command::Demo(_)) {
        restore_sigpipe();
    }
    init_logging(cli.log_format);
    let models_dir = cli.models_dir.clone().unwrap_or_else(paperboy_embed::provision::default_models_dir);
    let context = commands::Context {
        data_dir: cli.data_dir.clone().unwrap_or_else(default_data_dir),
        model: (!cli.model.eq_ignore_ascii_case("none"))
            .then(|| paperboy_app::ModelChoice { name: cli.model.clone(), models_dir: models_dir.clone() }),
        models_dir,
        signing_key_file: std::env::var_os("PAPERBOY_SIGNING_KEY_FILE").filter(|v| !v.is_empty()).map(PathBuf::from),
    };
    let outcome = match cli.command {
        Command::Ingest(command) => commands::ingest::run(&context, command),
        Command::Search(args) => commands::search::run(&context, args),
        Command::Show(args) => commands::show::run(&context, args),
        Command::Similar(args) => commands::show::similar(&context, args),
        Command::Embed(args) => commands::embed::run(&context, args),
        Command::Model(command) => commands::model::run(&context, command),
        Command::Trending(args) => commands::browse::trending(&context, args),
        Command::Daily(args) => commands::browse::daily(&context, args),
        Command::Stats(args) => commands::stats::run(&context, args),
        Command::Reindex(args) => commands::stats::reindex(&context, args),
        Command::Eval(command) => commands::eval::run(&context, command),
        Command::Serve(args) => commands::serve::run(&context, args),
        Command::Demo(args) => commands::demo::run(&context, cli.data_dir.is_some(), args),
        Command::Subscriber(command) => commands::subscriber::run(&context, command),
        Command::Digest(command) => commands::digest::run(&context, command),
        Command::SigningKey(command) => commands::signing_key::run(&context, command),
    };
    match outcome {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// `$XDG_DATA_HOME/paperboy`, else `~/.local/share/paperboy`, else `./.paperboy`.
fn default_data_dir() -> PathBuf {
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(xdg).join("paperboy");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(home).join(".local/share/paperboy");
    }
    PathBuf::from(".paperboy")
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PAPERBOY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Lets a closed pipe end the process quietly, as for any Unix command-line tool
/// (`paperboy search x | head` must not panic). Rust ignores SIGPIPE by default, which turns a
/// closed stdout into a panic in `println!`.
#[cfg(unix)]
#[allow(unsafe_code)]
fn restore_sigpipe() {
    // SAFETY: called at the start of `main`, before any other thread exists; restoring a signal's
    // default disposition has no other effect on the process.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(not(unix))]
fn restore_sigpipe() {}
