//! `trajkit export`: arguments to options, the export, and a one-line summary on stderr (the
//! data goes to files, so stdout stays empty).

use anyhow::Context as _;

use super::ExitStatus;
use crate::cli::ExportArgs;
use crate::export::{self, ExportFormat, ExportOptions, ExportSummary};

impl ExportArgs {
    /// Validates the arguments into the library's options.
    pub fn resolve(self) -> anyhow::Result<ExportOptions> {
        let ExportArgs {
            dataset,
            to,
            output,
            sizes_only,
            force,
        } = self;
        let format =
            ExportFormat::from_name(&to).with_context(|| format!("unknown format `{to}`"))?;
        Ok(ExportOptions {
            dataset,
            output,
            format,
            sizes_only,
            force,
        })
    }
}

/// Runs `trajkit export`.
pub fn run(args: ExportArgs) -> anyhow::Result<ExitStatus> {
    let options = args.resolve()?;
    let summary = export::export(&options).with_context(|| {
        format!(
            "cannot export `{}` as {}",
            options.dataset.display(),
            options.format.name()
        )
    })?;
    eprintln!("{}", summary_line(&options, &summary));
    for note in &summary.notes {
        eprintln!("note: {note}");
    }
    Ok(ExitStatus::Success)
}

/// `exported 3 sessions, 120 turns as aa-replay into `out` (4 files); skipped 2 turns (reason)`.
fn summary_line(options: &ExportOptions, summary: &ExportSummary) -> String {
    let line = format!(
        "exported {} sessions, {} turns as {}{} into `{}` ({} files)",
        summary.sessions,
        summary.turns,
        options.format.name(),
        if options.sizes_only {
            " (sizes only)"
        } else {
            ""
        },
        options.output.display(),
        summary.files.len()
    );
    if !summary.skipped.is_empty() {
        let skipped: u64 = summary.skipped.iter().map(|(_, count)| count).sum();
        let reasons: Vec<String> = summary
            .skipped
            .iter()
            .map(|(reason, count)| format!("{count} {reason}"))
            .collect();
        return format!("{line}; skipped {skipped} turns ({})", reasons.join(", "));
    }
    line
}
