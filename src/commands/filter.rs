//! `trajkit filter`: turns the flags into `transform::filter` conditions, writes the derived
//! dataset, and reports on stderr what was kept and why the rest was not.

use anyhow::Context as _;
use regex::Regex;

use super::{ExitStatus, derivation, open_dataset};
use crate::cli::{FilterArgs, FilterScopeArg};
use crate::transform::DerivedWriter;
use crate::transform::filter::{self, Bounds, FilterOptions, Scope};

/// Runs `trajkit filter`.
pub fn run(args: FilterArgs) -> anyhow::Result<ExitStatus> {
    let task = args
        .task
        .as_deref()
        .map(Regex::new)
        .transpose()
        .context("bad --task pattern")?;
    let options = FilterOptions {
        scope: match args.scope {
            FilterScopeArg::Session => Scope::Session,
            FilterScopeArg::Turn => Scope::Turn,
        },
        figure: super::token_figure(args.tokens),
        input_tokens: Bounds {
            min: args.min_input_tokens,
            max: args.max_input_tokens,
        },
        output_tokens: Bounds {
            min: args.min_output_tokens,
            max: args.max_output_tokens,
        },
        turns: Bounds {
            min: args.min_turns,
            max: args.max_turns,
        },
        models: args.model,
        sources: args.source,
        agents: args.agent,
        languages: args.language,
        task,
    };
    let dataset = open_dataset(&args.dataset)?;
    let mut writer = DerivedWriter::create(
        &args.output.output,
        args.output.force,
        &[dataset.reader()],
        derivation("filter", &[&args.dataset], &args.output),
        None,
    )?;
    let summary = filter::filter(&dataset, &options, &mut writer)?;
    writer.finish()?;
    eprintln!(
        "kept {} of {} sessions and {} of {} turns → {}",
        summary.sessions_kept,
        summary.sessions_read,
        summary.turns_kept,
        summary.turns_read,
        args.output.output.display()
    );
    for (reason, count) in &summary.sessions_dropped {
        eprintln!("  sessions dropped ({reason}): {count}");
    }
    for (reason, count) in &summary.turns_failed {
        eprintln!("  turns failing {reason}: {count}");
    }
    Ok(ExitStatus::Success)
}
