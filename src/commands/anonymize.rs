//! `trajkit anonymize`: writes the sizes-only copy of a dataset (`transform::anonymize`).

use super::{ExitStatus, derivation, open_dataset};
use crate::cli::AnonymizeArgs;
use crate::transform::DerivedWriter;
use crate::transform::anonymize::{self, AnonymizeOptions};

/// Runs `trajkit anonymize`.
pub fn run(args: &AnonymizeArgs) -> anyhow::Result<ExitStatus> {
    let dataset = open_dataset(&args.dataset)?;
    let mut writer = DerivedWriter::create(
        &args.output.output,
        args.output.force,
        &[dataset.reader()],
        derivation("anonymize", &[&args.dataset], &args.output),
        None,
    )?;
    anonymize::anonymize(
        &dataset,
        AnonymizeOptions {
            keep_session_ids: args.keep_session_ids,
            keep_tasks: args.keep_tasks,
        },
        &mut writer,
    )?;
    let summary = writer.finish()?;
    eprintln!(
        "anonymized {} sessions, {} turns (sizes only) → {}",
        summary.sessions,
        summary.turns,
        args.output.output.display()
    );
    Ok(ExitStatus::Success)
}
