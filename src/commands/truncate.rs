//! `trajkit truncate`: fits a dataset to a context window (`transform::truncate`), loading the
//! dataset's tokenizer when turns are cut.

use super::{ExitStatus, derivation, open_dataset};
use crate::cli::{TruncateArgs, TruncateModeArg};
use crate::transform::DerivedWriter;
use crate::transform::truncate::{self, TruncateMode, TruncateOptions};

/// Runs `trajkit truncate`.
pub fn run(args: &TruncateArgs) -> anyhow::Result<ExitStatus> {
    let dataset = open_dataset(&args.dataset)?;
    let mode = match args.mode {
        TruncateModeArg::End => TruncateMode::End,
        TruncateModeArg::Drop => TruncateMode::Drop,
        TruncateModeArg::Cut => TruncateMode::Cut,
    };
    let tokenizer = if mode == TruncateMode::Cut {
        Some(super::dataset_tokenizer(
            dataset.reader(),
            args.tokenizer.as_deref(),
        )?)
    } else {
        None
    };
    let mut writer = DerivedWriter::create(
        &args.output.output,
        args.output.force,
        &[dataset.reader()],
        derivation("truncate", &[&args.dataset], &args.output),
        None,
    )?;
    let summary = truncate::truncate(
        &dataset,
        TruncateOptions {
            max_context: args.max_context,
            mode,
            figure: super::token_figure(args.tokens),
        },
        tokenizer.as_ref(),
        &mut writer,
    )?;
    let written = writer.finish()?;
    eprintln!(
        "{} of {} turns over {} tokens: {} dropped, {} cut; {} sessions, {} turns written → {}",
        summary.turns_over,
        summary.turns_read,
        args.max_context,
        summary.turns_dropped,
        summary.turns_cut,
        written.sessions,
        written.turns,
        args.output.output.display()
    );
    if summary.turns_unknown > 0 {
        eprintln!(
            "  {} turns have no input figure of the chosen kind and were kept as they are",
            summary.turns_unknown
        );
    }
    if summary.sessions_emptied > 0 {
        eprintln!(
            "  {} sessions had no turn left and were not written",
            summary.sessions_emptied
        );
    }
    Ok(ExitStatus::Success)
}
