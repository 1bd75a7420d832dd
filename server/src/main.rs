//! `q8s-server`: runs the q8s service, or manages its users.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use q8s_server::config::{Config, LogFormat, Settings};

/// Every proxied request allocates and frees a few dozen small blocks (headers, buffers,
/// futures) across worker threads; mimalloc's thread-local free lists do that in a fraction
/// of glibc malloc's time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The q8s service: API, sign-in, storage, instances and their proxy.
#[derive(Debug, Parser)]
#[command(name = "q8s-server", version, about)]
struct Cli {
    /// A TOML file with settings (keys as the flags, e.g. `data-dir = "/srv/q8s"`).
    #[arg(long, global = true, env = "Q8S_SERVER_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    settings: Settings,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service (the default).
    Serve,
    /// Apply the database's migrations, say which, and exit (the server also applies them at
    /// start, under the same lock).
    Migrate,
    /// Reach the database, the blob store and the runtime; say what is wrong and how to fix
    /// it (exit status 1 when something is).
    Check,
    /// Move a SQLite + folder installation into an empty PostgreSQL database and an S3 bucket
    /// (docs/scale-out.md). Stop the server first.
    MigrateData {
        /// The source database, e.g. `sqlite:///var/lib/q8s/q8s.db`.
        #[arg(long)]
        from: String,
        /// The source blob store, e.g. `file:///var/lib/q8s/blobs`.
        #[arg(long)]
        from_blobs: String,
        /// The target database, empty: `postgres://USER:PASSWORD@HOST:PORT/DATABASE`.
        #[arg(long)]
        to: String,
        /// The target blob store, e.g. `s3://bucket?endpoint=…&region=…` (credentials from
        /// the `AWS_*` variables).
        #[arg(long)]
        to_blobs: String,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user with a random password (printed once).
    Add {
        /// The username.
        name: String,
        /// Make the user an admin.
        #[arg(long)]
        admin: bool,
    },
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("Q8S_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    // Colours for a terminal only: a log file or journal gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutting down");
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // First: the connection limit's default is read from it.
    let open_files = q8s_runtime::raise_open_file_limit();
    let cli = Cli::parse();
    let file = match &cli.config {
        Some(path) => Settings::from_file(path)?,
        None => Settings::default(),
    };
    let config = Config::resolve(cli.settings.over(file))?;
    init_logging(config.log_format);
    match open_files {
        Ok(limit) if limit.now > limit.was => {
            tracing::info!(
                was = limit.was,
                now = limit.now,
                "raised the open-file limit"
            );
        }
        Ok(_) => {}
        Err(err) => tracing::warn!(%err, "cannot raise the open-file limit"),
    }
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => q8s_server::run(config, shutdown_signal()).await,
        Command::Migrate => {
            for line in q8s_server::operations::migrate(&config).await? {
                println!("{line}");
            }
            Ok(())
        }
        Command::Check => {
            let lines = q8s_server::operations::check(&config).await;
            for line in &lines {
                println!("{line}");
            }
            if lines.iter().any(|l| l.outcome.is_err()) {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::MigrateData {
            from,
            from_blobs,
            to,
            to_blobs,
        } => {
            let transfer = q8s_server::operations::transfer::Transfer {
                from,
                from_blobs,
                to,
                to_blobs,
            };
            q8s_server::operations::transfer::migrate_data(
                &transfer,
                config.database_pool,
                &mut |line| println!("{line}"),
            )
            .await?;
            println!("done: start q8s-server with --database and --blob-store naming the targets");
            Ok(())
        }
        Command::User {
            command: UserCommand::Add { name, admin },
        } => {
            let password = q8s_server::add_user(&config, &name, admin).await?;
            let role = if admin { "admin" } else { "user" };
            println!("created {role} `{name}` with password: {password}");
            println!(
                "sign in at {}/login (this password is shown once)",
                config.base_url()
            );
            Ok(())
        }
    }
}
