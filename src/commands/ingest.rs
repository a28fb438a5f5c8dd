//! `trajkit ingest`: arguments to options, a progress bar and warnings on stderr, a summary.

use anyhow::Context as _;
use indicatif::ProgressBar;

use super::ExitStatus;
use crate::cli::IngestArgs;
use crate::formats::{FormatError, SourceFormat};
use crate::ingest::{self, IngestObserver, IngestOptions};
use crate::schema::manifest::CreationParameters;
use crate::tokenizer::TokenizerSpec;

impl IngestArgs {
    /// Validates the arguments into the library's options.
    pub fn resolve(self) -> anyhow::Result<(IngestOptions, Option<usize>, bool)> {
        let IngestArgs {
            inputs,
            output,
            format,
            tokenizer,
            name,
            strict,
            force,
            block_size,
            threads,
            quiet,
        } = self;
        let forced = match format.as_str() {
            "auto" => None,
            name => Some(
                SourceFormat::from_name(name)
                    .with_context(|| format!("unknown format `{name}`"))?,
            ),
        };
        let name = name.unwrap_or_else(|| {
            output.file_name().map_or_else(
                || "dataset".to_owned(),
                |n| n.to_string_lossy().into_owned(),
            )
        });
        let creation = CreationParameters {
            command: "ingest".to_owned(),
            inputs: inputs
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect(),
            format: format.clone(),
            tokenizer: tokenizer.clone(),
            strict,
            arguments: Vec::new(),
        };
        let tokenizer = tokenizer
            .parse::<TokenizerSpec>()
            .unwrap_or(TokenizerSpec::None);
        let options = IngestOptions {
            inputs,
            output,
            name,
            format: forced,
            tokenizer,
            block_size: usize::from(block_size),
            strict,
            force,
            creation,
        };
        Ok((options, threads, quiet))
    }
}

/// Runs `trajkit ingest`.
pub fn run(args: IngestArgs) -> anyhow::Result<ExitStatus> {
    let (options, threads, quiet) = args.resolve()?;
    let mut reporter = Reporter::new(quiet);
    let mut run = || ingest::run(&options, &mut reporter);
    let summary = match threads {
        Some(threads) => rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .context("failed to start worker threads")?
            .install(run),
        None => run(),
    }
    .with_context(|| format!("failed to ingest into `{}`", options.output.display()))?;
    reporter.bar.finish_and_clear();
    eprintln!(
        "ingested {} sessions, {} turns, {} messages from {} files into `{}`",
        summary.sessions,
        summary.turns,
        summary.messages,
        summary.files,
        options.output.display()
    );
    if summary.skipped_files > 0 {
        eprintln!(
            "skipped {} files of unrecognized format (listed in the manifest's `skipped_files`)",
            summary.skipped_files
        );
    }
    if summary.rejects > 0 {
        eprintln!(
            "warning: rejected {} records (listed in the manifest's `rejects`)",
            summary.rejects
        );
    }
    Ok(ExitStatus::Success)
}

struct Reporter {
    bar: ProgressBar,
}

impl Reporter {
    fn new(quiet: bool) -> Self {
        Reporter {
            bar: super::progress_bar(
                quiet,
                "{spinner} ingesting [{bar:40}] {binary_bytes}/{binary_total_bytes} \
                 ({binary_bytes_per_sec}, {eta} left)",
            ),
        }
    }
}

impl IngestObserver for Reporter {
    fn start(&mut self, total_bytes: u64) {
        self.bar.set_length(total_bytes);
    }

    fn advance(&mut self, bytes: u64) {
        self.bar.inc(bytes);
    }

    fn reject(&mut self, error: &FormatError) {
        self.bar
            .suspend(|| eprintln!("warning: skipped bad record: {error}"));
    }

    fn warn(&mut self, message: &str) {
        self.bar.suspend(|| eprintln!("warning: {message}"));
    }
}
