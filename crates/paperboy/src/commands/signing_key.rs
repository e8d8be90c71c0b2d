//! `paperboy signing-key rotate|path`: the key that signs links in mail, kept outside the store.

use std::process::ExitCode;

use paperboy_app::signing::KeyChange;

use super::{Context, open_library};
use crate::{cli::SigningKeyCommand, output::print_json};

pub fn run(context: &Context, command: SigningKeyCommand) -> anyhow::Result<ExitCode> {
    let library = open_library(context)?;
    match command {
        SigningKeyCommand::Path => println!("{}", library.signing_key_path().display()),
        SigningKeyCommand::Rotate(json) => {
            let change = library.rotate_signing_key()?;
            let sessions_ended = match change {
                KeyChange::Replaced { sessions_ended } => sessions_ended,
                KeyChange::Same | KeyChange::First => 0,
            };
            if json.json {
                print_json(&serde_json::json!({
                    "path": library.signing_key_path(),
                    "sessions_ended": sessions_ended,
                }))?;
            } else {
                println!("wrote a new signing key to {}", library.signing_key_path().display());
                println!(
                    "ended {sessions_ended} sessions; unsubscribe and preference links in mail already sent, and \
                     sign-in links not yet used, no longer work"
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
