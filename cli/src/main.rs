//! `q8s-cli`: bundle, validate and publish apps to q8s.

mod bundle;
mod output;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Publish Python web apps (H2O Wave and others) to q8s.
#[derive(Debug, Parser)]
#[command(name = "q8s-cli", version, about, propagate_version = true)]
#[command(after_help = "Examples:\n  q8s-cli bundle                 # bundle the app in the current folder\n  q8s-cli bundle validate app/   # check an app folder or a .qz\n  q8s-cli bundle inspect x.qz    # show what a bundle holds")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build a .qz bundle of an app folder, validate one, or inspect one.
    Bundle(bundle::BundleArgs),
}

/// Exit code 1: the operation failed or found errors (2 is wrong usage,
/// which clap reports itself).
const FAILURE: u8 = 1;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Bundle(args) => bundle::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            output::print_error(&err);
            ExitCode::from(FAILURE)
        }
    }
}
