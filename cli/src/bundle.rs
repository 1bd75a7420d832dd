//! `q8s-cli bundle …`: build, validate and inspect `.qz` bundles offline.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use q8s_core::archive::Limits;
pub(crate) use q8s_core::bundle::manifest_display;
use q8s_core::bundle::{self, BuildOptions, BundleError, CheckReport};
use q8s_core::manifest::MANIFEST_FILE;
use q8s_core::{Diagnostic, Severity};
use serde_json::json;

use crate::output::{Format, count, human_size, outln, print_diagnostics, print_json};
use crate::publish::{DeployArgs, ImportArgs};
use crate::session::Connection;

/// `bundle [DIR] [-o PATH|json] [--explain]`, or one of its subcommands.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
#[command(
    after_help = "Examples:\n  q8s-cli bundle                      # writes ./<Name>.<Version>.qz\n  q8s-cli bundle app/ -o dist/        # writes dist/<Name>.<Version>.qz\n  q8s-cli bundle --explain            # shows why each file is in or out, writes nothing\n  q8s-cli bundle --explain -o dist/   # explains and writes dist/<Name>.<Version>.qz\n  q8s-cli bundle -o json              # machine-readable summary"
)]
pub struct BundleArgs {
    #[command(subcommand)]
    command: Option<BundleCommand>,
    #[command(flatten)]
    build: BuildArgs,
}

#[derive(Debug, Args)]
struct BuildArgs {
    /// The app folder (holding q-app.toml, wave-app.toml or app.toml).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// List every path seen, included or excluded, with the deciding rule,
    /// and the diagnostics; writes no bundle unless -o PATH asks for one.
    #[arg(long)]
    explain: bool,
}

#[derive(Debug, Subcommand)]
enum BundleCommand {
    /// Check an app folder, a manifest file or a .qz file (the manifest, the files,
    /// requirements.txt); exit 1 on errors.
    #[command(
        after_help = "Examples:\n  q8s-cli bundle validate\n  q8s-cli bundle validate app/q-app.toml\n  q8s-cli bundle validate ai.h2o.q.peak.0.1.2.qz -o json"
    )]
    Validate {
        /// App folder, manifest file or .qz bundle.
        #[arg(default_value = ".")]
        target: PathBuf,
    },
    /// Show the manifest and the entries of a .qz bundle.
    #[command(after_help = "Example:\n  q8s-cli bundle inspect ai.h2o.q.peak.0.1.2.qz")]
    Inspect {
        /// The .qz bundle.
        file: PathBuf,
    },
    /// Bundle the app (or take a .qz) and import it into q8s.
    Import(ImportArgs),
    /// Import the app under a generated version, launch it and wait until it runs.
    Deploy(DeployArgs),
}

impl BundleArgs {
    /// True for `bundle [DIR]` itself, the one command where `-o` may name a path.
    pub fn builds(&self) -> bool {
        self.command.is_none()
    }
}

/// Runs `bundle` or one of its subcommands; `destination` is `-o PATH` (`bundle [DIR]` only).
pub fn run(
    args: BundleArgs,
    format: Format,
    destination: Option<PathBuf>,
    connection: &Connection,
) -> anyhow::Result<ExitCode> {
    match args.command {
        None => build(args.build, format, destination),
        Some(BundleCommand::Validate { target }) => validate(&target, format),
        Some(BundleCommand::Inspect { file }) => inspect(&file, format),
        Some(BundleCommand::Import(args)) => crate::publish::import(args, format, connection),
        Some(BundleCommand::Deploy(args)) => crate::publish::deploy(args, format, connection),
    }
}

fn build(
    args: BuildArgs,
    format: Format,
    destination: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    if args.explain && destination.is_none() {
        return explain(&args.dir, format);
    }
    let options = BuildOptions {
        output: destination,
    };
    let manifest_path = manifest_display(&args.dir);
    match bundle::build_dir(&args.dir, &options) {
        Ok((info, path)) => {
            if format == Format::Json {
                let mut value = serde_json::to_value(&info)?;
                value["path"] = json!(path);
                if !args.explain {
                    value.as_object_mut().map(|o| o.remove("explain"));
                }
                print_json(&value)?;
                return Ok(ExitCode::SUCCESS);
            }
            print_diagnostics(&info.diagnostics, &manifest_path);
            if args.explain {
                print_explain(&info.explain);
            }
            outln!("Path     {}", path.display());
            outln!("Name     {}", info.name);
            outln!("Version  {}", info.version);
            outln!("Size     {} ({} bytes)", human_size(info.size), info.size);
            outln!("Files    {}", info.files.len());
            outln!("SHA256   {}", info.sha256);
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => report_bundle_error(err, format, &manifest_path),
    }
}

/// `bundle --explain` without `-o PATH`: which files a bundle would hold and
/// why, and its diagnostics, without writing it. Exit 1 when it could not be
/// built.
fn explain(dir: &Path, format: Format) -> anyhow::Result<ExitCode> {
    let manifest_path = manifest_display(dir);
    let report = match bundle::check_dir(dir) {
        Ok((selection, content)) => CheckReport::new(selection, content),
        Err(err) => return report_bundle_error(err, format, &manifest_path),
    };
    if format == Format::Json {
        print_json(&report)?;
    } else {
        print_diagnostics(&report.content.diagnostics, &manifest_path);
        print_explain(&report.explain);
        outln!(
            "{} of the bundle, nothing written (add -o PATH to write it): {}",
            count(report.files.len(), "file"),
            summary_line(&report.content.diagnostics)
        );
    }
    Ok(exit_code(report.valid))
}

/// 0 for a valid bundle, 1 otherwise.
fn exit_code(valid: bool) -> ExitCode {
    if valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn print_explain(explain: &[q8s_core::select::Decision]) {
    let width = explain.iter().map(|d| d.path.len()).max().unwrap_or(0);
    for d in explain {
        let mark = if d.included { "included" } else { "excluded" };
        // Paths no rule decided say only "included"; the rule column is for
        // paths a rule decided.
        let rule = if d.rule == "included" { "" } else { &d.rule };
        outln!(
            "{}",
            format!("{mark}  {:<width$}  {rule}", d.path).trim_end()
        );
    }
    outln!();
}

/// Prints an invalid bundle's diagnostics (or the JSON error) and returns
/// exit code 1; I/O errors go up as errors.
pub(crate) fn report_bundle_error(
    err: BundleError,
    format: Format,
    manifest_path: &str,
) -> anyhow::Result<ExitCode> {
    if format == Format::Json {
        print_json(&json!({"error": {
            "code": err.code(),
            "message": err.to_string(),
            "details": err.diagnostics(),
        }}))?;
        return Ok(ExitCode::from(1));
    }
    match err {
        BundleError::Invalid(diagnostics) => {
            print_diagnostics(&diagnostics, manifest_path);
            eprintln!("{}", summary_line(&diagnostics));
            Ok(ExitCode::from(1))
        }
        io @ BundleError::Io { .. } => Err(io.into()),
    }
}

fn summary_line(diagnostics: &[Diagnostic]) -> String {
    let of = |severity: Severity| {
        diagnostics
            .iter()
            .filter(|d| d.severity == severity)
            .count()
    };
    let (errors, warnings, notes) = (
        of(Severity::Error),
        of(Severity::Warning),
        of(Severity::Note),
    );
    let mut counts = vec![count(warnings, "warning")];
    if notes > 0 {
        counts.push(count(notes, "note"));
    }
    if errors > 0 {
        format!("invalid: {}, {}", count(errors, "error"), counts.join(", "))
    } else {
        format!("valid ({})", counts.join(", "))
    }
}

fn validate(target: &Path, format: Format) -> anyhow::Result<ExitCode> {
    let bundle::Validation {
        report,
        source: shown_as,
    } = match bundle::validate_path(target) {
        Ok(validation) => validation,
        Err(err) => {
            let shown_as = if target.is_dir() {
                manifest_display(target)
            } else {
                target.display().to_string()
            };
            return report_bundle_error(err, format, &shown_as);
        }
    };
    if format == Format::Json {
        print_json(&report)?;
    } else {
        print_diagnostics(&report.diagnostics, &shown_as);
        match &report.manifest {
            Some(m) => outln!(
                "{} {}: {}",
                m.app.name,
                m.app.version,
                summary_line(&report.diagnostics)
            ),
            None => outln!(
                "{}: {}",
                target.display(),
                summary_line(&report.diagnostics)
            ),
        }
    }
    Ok(exit_code(report.valid))
}

fn inspect(path: &Path, format: Format) -> anyhow::Result<ExitCode> {
    let report = match bundle::inspect_path(path, Limits::default()) {
        Ok(r) => r,
        Err(err) => return report_bundle_error(err, format, &path.display().to_string()),
    };
    if format == Format::Json {
        print_json(&report)?;
        return Ok(exit_code(report.valid));
    }
    let manifest_file = report.content.manifest_file.as_deref();
    print_diagnostics(
        &report.content.diagnostics,
        manifest_file.unwrap_or(MANIFEST_FILE),
    );
    if let Some(m) = &report.content.manifest {
        let row = |k: &str, v: &str| outln!("{k:<12} {v}");
        row("Name", &m.app.name);
        row("Version", &m.app.version);
        row("Title", m.app.title.as_deref().unwrap_or("-"));
        row("Category", m.app.category.as_deref().unwrap_or("-"));
        row("Module", &m.runtime.module);
        row("Icon", report.content.icon.as_deref().unwrap_or("-"));
        if !report.content.screenshots.is_empty() {
            row("Screenshots", &report.content.screenshots.join(", "));
        }
    } else {
        outln!(
            "{}: {}",
            path.display(),
            summary_line(&report.content.diagnostics)
        );
    }
    let (size, stored): (u64, u64) = report
        .entries
        .iter()
        .fold((0, 0), |(s, c), e| (s + e.size, c + e.compressed_size));
    outln!(
        "{:<12} {} ({} stored, {} unpacked)",
        "Entries",
        report.entries.len(),
        human_size(stored),
        human_size(size)
    );
    outln!("{:<12} {}", "SHA256", report.sha256);
    outln!();
    outln!("{:<4}  {:>10}  {:>10}  NAME", "MODE", "SIZE", "STORED");
    for e in &report.entries {
        let mode = if e.executable { "0755" } else { "0644" };
        outln!(
            "{mode:<4}  {:>10}  {:>10}  {}",
            human_size(e.size),
            human_size(e.compressed_size),
            e.name
        );
    }
    Ok(exit_code(report.valid))
}
