//! `q8s-cli`: bundle apps, sign in to q8s, publish and run apps, follow their logs.

mod admin;
mod app;
mod bundle;
mod exec;
mod ids;
mod instance;
mod logout;
mod loopback;
mod output;
mod publish;
mod render;
mod session;
mod setup;
mod token;
mod typos;

use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{CommandFactory as _, Parser, Subcommand};

use crate::output::{Format, Output};
use crate::session::Connection;

/// Publish Python web apps (H2O Wave and others) to q8s.
#[derive(Debug, Parser)]
#[command(name = "q8s-cli", version, about, propagate_version = true)]
#[command(
    after_help = "Examples:\n  q8s-cli config setup                # sign in (opens your browser)\n  q8s-cli bundle deploy               # bundle, import and run the app in this folder\n  q8s-cli app list -a                 # every app you can launch\n  q8s-cli instance logs ID -f         # follow an instance's log\n  q8s-cli bundle validate app/        # check an app folder or a .qz offline\n\nSettings: --url/--token/--profile, then Q8S_URL/Q8S_TOKEN/Q8S_PROFILE, then the file\n$Q8S_CONFIG or ~/.config/q8s/config.toml (written by `config setup`)."
)]
struct Cli {
    #[command(flatten)]
    connection: Connection,
    /// Output: text for people, json for programs (on stdout alone, errors too); `bundle
    /// [DIR]` also takes the PATH to write the bundle to.
    #[arg(short, long, global = true, value_name = "text|json|PATH", value_parser = Output::parse)]
    output: Option<Output>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sign in and save the server and token (`config setup`), or sign out (`config logout`).
    #[command(subcommand)]
    Config(setup::ConfigCommand),
    /// List, show, launch, share and delete apps.
    #[command(subcommand)]
    App(app::AppCommand),
    /// Build, validate, inspect, import and deploy .qz bundles.
    Bundle(bundle::BundleArgs),
    /// List instances, follow their logs, share, suspend, resume and terminate them.
    #[command(subcommand)]
    Instance(instance::InstanceCommand),
    /// List and revoke your API tokens.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// List the secrets apps can use.
    #[command(subcommand)]
    Secret(admin::SecretCommand),
    /// Manage secrets, users and app Names (admins only).
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Run the app in a folder locally, as q8s runs it, at http://localhost:55555/.
    Exec(exec::ExecArgs),
    /// Print shell completions (bash, zsh, fish, elvish, powershell).
    #[command(
        after_help = "Examples:\n  q8s-cli completions bash > ~/.local/share/bash-completion/completions/q8s-cli\n  q8s-cli completions zsh > \"${fpath[1]}/_q8s-cli\""
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Exit code 1: the operation failed or found errors (2 is wrong usage,
/// which clap reports itself).
const FAILURE: u8 = 1;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let tip = || typos::tip(&Cli::command(), &args);
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => match tip().filter(|_| e.use_stderr()) {
            Some(tip) => Cli::command()
                .error(ErrorKind::InvalidSubcommand, tip)
                .exit(),
            None => e.exit(),
        },
    };
    // `bundle WORD` reads WORD as the app folder; when there is none, a command may be meant.
    if let (Command::Bundle(b), Some(tip)) = (&cli.command, tip())
        && b.builds()
    {
        Cli::command()
            .error(ErrorKind::InvalidSubcommand, tip)
            .exit();
    }
    let (format, destination) = match cli.output {
        None => (Format::Text, None),
        Some(Output::Format(format)) => (format, None),
        Some(Output::Path(path)) => (Format::Text, Some(path)),
    };
    let text_only = matches!(cli.command, Command::Exec(_) | Command::Completions { .. });
    if let Some(path) = destination
        .as_ref()
        .filter(|_| !matches!(&cli.command, Command::Bundle(b) if b.builds()))
    {
        let message = format!(
            "-o takes text or json here; a PATH ({}) only goes with `bundle [DIR]`",
            path.display()
        );
        Cli::command()
            .error(ErrorKind::InvalidValue, message)
            .exit();
    }
    if text_only && format == Format::Json {
        let message = "`exec` and `completions` print text only: leave out -o json";
        Cli::command()
            .error(ErrorKind::ArgumentConflict, message)
            .exit();
    }
    let connection = cli.connection;
    let result = match cli.command {
        Command::Config(c) => setup::run(c, format, &connection),
        Command::App(c) => app::run(c, format, &connection),
        Command::Bundle(args) => bundle::run(args, format, destination, &connection),
        Command::Instance(c) => instance::run(c, format, &connection),
        Command::Token(c) => token::run(c, format, &connection),
        Command::Secret(c) => admin::run_secret(c, format, &connection),
        Command::Admin(c) => admin::run_admin(c, format, &connection),
        Command::Exec(args) => exec::run(args),
        Command::Completions { shell } => {
            // Through `emit`, which ends quietly on a closed stdout (`| head`).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "q8s-cli", &mut script);
            output::emit(&String::from_utf8_lossy(&script));
            Ok(ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            output::print_error(&err, format);
            ExitCode::from(FAILURE)
        }
    }
}
