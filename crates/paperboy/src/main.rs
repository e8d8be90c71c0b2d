//! The `paperboy` binary: parses the command line, reads the environment, and calls the use cases
//! in `paperboy_app`. Only this crate reads configuration and environment variables.

mod cli;
mod commands;
mod output;
mod progress;

use std::{path::PathBuf, process::ExitCode};

use clap::Parser;

use crate::cli::{Cli, Command, LogFormat};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let data_dir = cli.data_dir.clone().unwrap_or_else(default_data_dir);
    let outcome = match cli.command {
        Command::Ingest(command) => commands::ingest::run(&data_dir, command),
        Command::Search(args) => commands::search::run(&data_dir, args),
        Command::Show(args) => commands::show::run(&data_dir, args),
        Command::Stats(args) => commands::stats::run(&data_dir, args),
        Command::Reindex => commands::stats::reindex(&data_dir),
        Command::Eval(command) => commands::eval::run(&data_dir, command),
        Command::Demo(args) => commands::demo::run(cli.data_dir.as_deref(), args),
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
