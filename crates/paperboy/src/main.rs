//! The `paperboy` binary: parses the command line, reads the configuration (file, environment,
//! flags) once into a validated `Config`, and calls the use cases in `paperboy_app`. Only this
//! crate reads configuration and environment variables (in `config`).

mod cli;
mod commands;
mod config;
mod output;
mod progress;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

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
    let config = match config::Config::load(cli.config.as_deref(), &cli.config_flags()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    init_logging(&config);
    let context = commands::Context { config: std::sync::Arc::new(config) };
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
        Command::Serve(_) => commands::serve::run(&context),
        Command::Demo(args) => commands::demo::run(&context, args),
        Command::Subscriber(command) => commands::subscriber::run(&context, command),
        Command::Library(command) => commands::library::run(&context, command),
        Command::Mcp(args) => commands::mcp::run(&context, args),
        Command::Digest(command) => commands::digest::run(&context, command),
        Command::SigningKey(command) => commands::signing_key::run(&context, command),
        Command::Config(json) => commands::config::run(&context, json),
        Command::Store(command) => commands::store::run(&context, command),
    };
    match outcome {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(config: &config::Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if config.log_json {
        builder.json().init();
    } else {
        builder.init();
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
