//! Glue between the command line and the library: one file per subcommand, each turning its
//! `<Name>Args` into options, calling the library, and rendering the result. Only this module
//! and `cli` know clap; only here do errors become `anyhow` with context.

pub mod capacity;
pub mod formats;
pub mod ingest;
pub mod replay;
pub mod schemas;
pub mod show;
pub mod stats;
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
        Command::Schemas(args) => schemas::run(args),
        Command::Formats(args) => formats::run(&args, out),
        Command::Verify(args) => verify::run(args, out),
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
