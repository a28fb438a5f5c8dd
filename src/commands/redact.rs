//! `trajkit redact`: arguments to options, a progress bar, the table of counts per kind on
//! stderr, and the JSON report.

use std::fmt::Write as _;

use anyhow::Context as _;
use indicatif::ProgressBar;

use super::ExitStatus;
use crate::cli::RedactArgs;
use crate::redact::{self, RedactObserver, RedactOptions, RedactReport};

/// Runs `trajkit redact`.
pub fn run(args: RedactArgs) -> anyhow::Result<ExitStatus> {
    let RedactArgs {
        dataset,
        output,
        force,
        report,
        name,
        threads,
        quiet,
    } = args;
    let name = name.unwrap_or_else(|| {
        output.file_name().map_or_else(
            || "dataset".to_owned(),
            |n| n.to_string_lossy().into_owned(),
        )
    });
    let options = RedactOptions {
        input_label: dataset.to_string_lossy().into_owned(),
        input: dataset,
        output,
        force,
        name,
        arguments: super::recorded_arguments(),
    };
    let mut reporter = Reporter::new(quiet);
    let mut run = || redact::run(&options, &mut reporter);
    let summary = match threads {
        Some(threads) => rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .context("failed to start worker threads")?
            .install(run),
        None => run(),
    }
    .with_context(|| {
        format!(
            "failed to redact `{}` into `{}`",
            options.input.display(),
            options.output.display()
        )
    })?;
    reporter.bar.finish_and_clear();
    if let Some(path) = &report {
        let mut text = serde_json::to_string_pretty(&summary)?;
        text.push('\n');
        crate::atomic::write_file(path, text.as_bytes())
            .with_context(|| format!("failed to write `{}`", path.display()))?;
    }
    if !quiet {
        eprint!("{}", render_table(&summary));
    }
    eprintln!(
        "redacted {} occurrences of {} distinct values in {} sessions into `{}`",
        summary.occurrences,
        summary.distinct,
        summary.sessions,
        options.output.display()
    );
    Ok(ExitStatus::Success)
}

/// The counts per kind as an aligned table.
fn render_table(report: &RedactReport) -> String {
    if report.kinds.is_empty() {
        return "nothing to redact was found\n".to_owned();
    }
    let width = report
        .kinds
        .iter()
        .map(|kind| kind.kind.len())
        .max()
        .unwrap_or_default()
        .max("kind".len());
    let mut out = format!(
        "{:<width$}  {:>8}  {:>11}\n",
        "kind", "distinct", "occurrences"
    );
    for kind in &report.kinds {
        let _ = writeln!(
            out,
            "{:<width$}  {:>8}  {:>11}",
            kind.kind, kind.distinct, kind.occurrences
        );
    }
    let _ = writeln!(
        out,
        "{:<width$}  {:>8}  {:>11}",
        "total", report.distinct, report.occurrences
    );
    out
}

struct Reporter {
    bar: ProgressBar,
}

impl Reporter {
    fn new(quiet: bool) -> Self {
        Reporter {
            bar: super::progress_bar(quiet, "{spinner} {msg} [{bar:40}] {pos}/{len} sessions"),
        }
    }
}

impl RedactObserver for Reporter {
    fn start(&mut self, pass: &str, sessions: u64) {
        self.bar.set_message(pass.to_owned());
        self.bar.set_position(0);
        self.bar.set_length(sessions);
    }

    fn advance(&mut self, sessions: u64) {
        self.bar.inc(sessions);
    }
}
