//! Glue between the command line and the library: one file per subcommand, each turning its
//! `<Name>Args` into options, calling the library, and rendering the result. Only this module
//! and `cli` know clap; only here do errors become `anyhow` with context.

pub mod anonymize;
pub mod capacity;
pub mod export;
pub mod filter;
pub mod formats;
pub mod ingest;
pub mod merge;
pub mod redact;
pub mod replay;
pub mod retokenize;
pub mod sample;
pub mod schemas;
pub mod show;
pub mod split;
pub mod stats;
pub mod truncate;
pub mod verify;

use std::io::Write;
use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// How a command that ran to completion ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Exit 0.
    Success,
    /// Exit 1: the command ran and found failures (a stale check, a failed verification).
    Failure,
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> ExitCode {
        match status {
            ExitStatus::Success => ExitCode::SUCCESS,
            ExitStatus::Failure => ExitCode::from(1),
        }
    }
}

/// Runs a parsed command line, writing data to `out` and diagnostics to stderr. An `Err` means
/// exit 2.
pub fn run(cli: Cli, out: &mut dyn Write) -> anyhow::Result<ExitStatus> {
    match cli.command {
        Command::Ingest(args) => ingest::run(args),
        Command::Show(args) => show::run(args, out),
        Command::Stats(args) => stats::run(args, out),
        Command::Replay(args) => replay::run(args, out),
        Command::Capacity(args) => capacity::run(args, out),
        Command::Filter(args) => filter::run(args),
        Command::Sample(args) => sample::run(&args, out),
        Command::Split(args) => split::run(&args),
        Command::Merge(args) => merge::run(&args),
        Command::Truncate(args) => truncate::run(&args),
        Command::Retokenize(args) => retokenize::run(&args),
        Command::Anonymize(args) => anonymize::run(&args),
        Command::Redact(args) => redact::run(args),
        Command::Schemas(args) => schemas::run(args),
        Command::Formats(args) => formats::run(&args, out),
        Command::Export(args) => export::run(args),
        Command::Verify(args) => verify::run(args, out),
    }
}

/// The formats of a report (`stats`, `verify`); each command's JSON has its schema in `schemas/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    /// Terminal tables.
    Table,
    /// JSON.
    Json,
    /// Markdown.
    Markdown,
    /// One self-contained HTML file.
    Html,
}

impl ReportFormat {
    /// The format a `--format` value names (clap has checked it is one of the four).
    pub fn parse(name: &str) -> ReportFormat {
        match name {
            "json" => ReportFormat::Json,
            "markdown" => ReportFormat::Markdown,
            "html" => ReportFormat::Html,
            _ => ReportFormat::Table,
        }
    }
}

/// Whether an error is a closed stdout (`trajkit show … | head`), which is not a failure.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// A progress bar on stderr drawn with `template`; hidden under `--quiet` or when stderr is not a
/// terminal, so logs and pipes get only the summary lines.
fn progress_bar(quiet: bool, template: &str) -> indicatif::ProgressBar {
    use std::io::IsTerminal as _;
    if quiet || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template(template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    )
}

/// Opens a dataset for a deriving command, naming it in the error.
fn open_dataset(path: &std::path::Path) -> anyhow::Result<crate::dataset::DatasetIndex> {
    use anyhow::Context as _;
    crate::dataset::DatasetIndex::open(path, false)
        .with_context(|| format!("failed to open dataset `{}`", path.display()))
}

/// What a derived dataset records of the command that made it: the flags after the subcommand,
/// exactly as given.
fn derivation(
    command: &'static str,
    inputs: &[&std::path::Path],
    output: &crate::cli::DerivedOutputArgs,
) -> crate::transform::Derivation {
    crate::transform::Derivation {
        command,
        inputs: inputs
            .iter()
            .map(|path| path.to_string_lossy().into_owned())
            .collect(),
        arguments: recorded_arguments(),
        name: output.name.clone(),
    }
}

/// The flags after the subcommand as given, without those that change how or where a command runs
/// but not what it writes (`-j N`, `--threads N`, `-q`, `--force`, `-o PATH`, `--report PATH`), so that the manifest
/// is the same whatever the thread count or output location.
fn recorded_arguments() -> Vec<String> {
    let mut recorded = Vec::new();
    let mut arguments = std::env::args().skip(2);
    while let Some(argument) = arguments.next() {
        match argument.as_str() {
            "-j" | "--threads" | "-o" | "--output" | "--report" => {
                arguments.next();
            }
            "-q" | "--quiet" | "--force" => {}
            other
                if other.starts_with("--threads=")
                    || other.starts_with("--output=")
                    || other.starts_with("--report=")
                    || other.starts_with("-j")
                    || other.starts_with("-o") => {}
            _ => recorded.push(argument),
        }
    }
    recorded
}

fn token_figure(figure: crate::cli::TokenFigureArg) -> crate::transform::filter::TokenFigure {
    use crate::cli::TokenFigureArg;
    use crate::transform::filter::TokenFigure;
    match figure {
        TokenFigureArg::Auto => TokenFigure::Auto,
        TokenFigureArg::Reported => TokenFigure::Reported,
        TokenFigureArg::Counted => TokenFigure::Counted,
    }
}

/// The tokenizer a dataset was counted with: `--tokenizer` when given, else the one its manifest
/// names, which must still be the same file (same SHA-256).
fn dataset_tokenizer(
    dataset: &crate::store::DatasetReader,
    given: Option<&str>,
) -> anyhow::Result<crate::tokenizer::Tokenizer> {
    use anyhow::bail;
    let manifest = dataset.manifest();
    let argument = given.unwrap_or(&manifest.creation.tokenizer);
    let spec: crate::tokenizer::TokenizerSpec = argument
        .parse()
        .unwrap_or(crate::tokenizer::TokenizerSpec::None);
    let Some(tokenizer) = crate::tokenizer::Tokenizer::load(&spec)? else {
        bail!(
            "`{}` has no tokenizer to count with\nhint: pass --tokenizer",
            dataset.directory().display()
        );
    };
    if given.is_none()
        && manifest
            .tokenizer
            .as_ref()
            .is_some_and(|identity| identity.sha256 != tokenizer.identity().sha256)
    {
        bail!(
            "the tokenizer `{argument}` recorded in `{}` has changed since the dataset was \
             made (SHA-256 differs)\nhint: pass --tokenizer with the original file",
            dataset.directory().display()
        );
    }
    Ok(tokenizer)
}
