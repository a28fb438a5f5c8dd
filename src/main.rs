//! The `trajkit` binary: parse the command line, run it, map the outcome to an exit code.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

// glibc's allocator fragments under ingest's churn of large buffers across threads (resident
// memory crept up with input size while the heap stayed flat); jemalloc returns it.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = trajkit::cli::Cli::parse();
    let mut stdout = std::io::stdout().lock();
    let result = trajkit::commands::run(cli, &mut stdout).and_then(|status| {
        stdout.flush()?;
        Ok(status)
    });
    match result {
        Ok(status) => status.into(),
        Err(error) if trajkit::commands::is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
