//! `trajkit formats`: the raw formats `ingest` reads, each with what it gives (exact context or
//! not, reported counts, times), so a user knows what a dataset built from a log can answer.

use std::io::Write;

use anyhow::Context as _;

use super::ExitStatus;
use crate::cli::FormatsArgs;
use crate::formats::{FormatDescription, SourceFormat};

#[derive(serde::Serialize)]
struct Entry<'a> {
    #[serde(flatten)]
    description: &'a FormatDescription,
    line_oriented: bool,
}

/// Runs `trajkit formats`.
pub fn run(args: &FormatsArgs, out: &mut dyn Write) -> anyhow::Result<ExitStatus> {
    if args.json {
        let entries: Vec<Entry<'_>> = SourceFormat::ALL
            .iter()
            .map(|format| Entry {
                description: format.description(),
                line_oriented: format.is_line_oriented(),
            })
            .collect();
        serde_json::to_writer_pretty(&mut *out, &entries).context("writing JSON")?;
        writeln!(out)?;
        return Ok(ExitStatus::Success);
    }
    writeln!(
        out,
        "Formats read by `trajkit ingest` (detected from file names and first bytes; \
         force one with --format NAME):"
    )?;
    for format in SourceFormat::ALL {
        let description = format.description();
        writeln!(out, "\n{}  ({})", description.name, description.producer)?;
        for (label, value) in [
            ("files", description.files),
            ("context", description.context),
            ("counts", description.reported_counts),
            ("timing", description.timing),
        ] {
            writeln!(out, "  {label:<8} {value}")?;
        }
    }
    Ok(ExitStatus::Success)
}
