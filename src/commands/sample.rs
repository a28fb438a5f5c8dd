//! `trajkit sample`: a seeded sample of sessions (`transform::sample`); with a profile, the
//! profile check of the input and of the sample is printed so the user sees how close it got.

use std::io::Write;

use anyhow::bail;

use super::ReportFormat;
use super::stats::{StatsOptions, build_report, load_profile};
use super::{ExitStatus, derivation, open_dataset};
use crate::cli::SampleArgs;
use crate::stats::report::ProfileCheck;
use crate::transform::sample::{self, ProfileTargets, SampleSize};
use crate::transform::{DerivedWriter, copy_sessions};

/// Runs `trajkit sample`.
pub fn run(args: &SampleArgs, out: &mut dyn Write) -> anyhow::Result<ExitStatus> {
    let size = match (args.sessions, args.fraction, args.turns) {
        (Some(sessions), _, _) => SampleSize::Sessions(sessions),
        (_, Some(fraction), _) if (0.0..=1.0).contains(&fraction) => SampleSize::Fraction(fraction),
        (_, Some(fraction), _) => bail!("--fraction must be in [0, 1], not {fraction}"),
        (_, _, Some(turns)) => SampleSize::Turns(turns),
        _ => bail!("give --sessions, --fraction or --turns"),
    };
    let profile = args.profile.as_deref().map(load_profile).transpose()?;
    let dataset = open_dataset(&args.dataset)?;
    let index = &dataset;
    let (chosen, excluded, ignored) = match &profile {
        None => (sample::uniform(index, args.seed, size), 0, Vec::new()),
        Some(profile) => {
            let figures = sample::session_figures(index)?;
            let targets = ProfileTargets::of(profile);
            let result = sample::stratified(index, &figures, &targets, args.seed, size);
            (result.chosen, result.excluded, result.ignored)
        }
    };
    let mut writer = DerivedWriter::create(
        &args.output.output,
        args.output.force,
        &[dataset.reader()],
        derivation("sample", &[&args.dataset], &args.output),
        None,
    )?;
    copy_sessions(&dataset, &chosen, &mut writer)?;
    let summary = writer.finish()?;
    eprintln!(
        "sampled {} of {} sessions ({} turns) with seed {} → {}",
        summary.sessions,
        dataset.sessions().len(),
        summary.turns,
        args.seed,
        args.output.output.display()
    );
    if let Some(profile) = profile {
        if excluded > 0 {
            eprintln!("  {excluded} sessions excluded by the profile's bounds");
        }
        for target in &ignored {
            eprintln!("  the sampler cannot steer `{target}`; it is only checked");
        }
        let check = |path: &std::path::Path| -> anyhow::Result<Option<ProfileCheck>> {
            let report = build_report(&StatsOptions {
                dataset: path.to_owned(),
                group_by: None,
                format: ReportFormat::Table,
                output: None,
                profile: Some(profile.clone()),
                compare: None,
                kv_capacities: Vec::new(),
                agents: 1,
                kv_block_size: None,
                block_hits: false,
            })?;
            Ok(report.profile)
        };
        let before = check(&args.dataset)?;
        let after = check(&args.output.output)?;
        writeln!(
            out,
            "profile {}: target | input dataset | sample",
            profile.name
        )?;
        if let (Some(before), Some(after)) = (before, after) {
            for (input, sampled) in before.checks.iter().zip(&after.checks) {
                let figure = |row: &crate::stats::report::ProfileCheckRow| {
                    row.dataset
                        .as_ref()
                        .map_or_else(|| "—".to_owned(), |figure| format!("{:.0}", figure.value()))
                };
                writeln!(
                    out,
                    "  {} {}: {} | {} ({}) | {} ({})",
                    input.metric,
                    input.statistic,
                    input.target,
                    figure(input),
                    input.status,
                    figure(sampled),
                    sampled.status
                )?;
            }
            writeln!(
                out,
                "deviations: input dataset {}, sample {}",
                before.deviations, after.deviations
            )?;
        }
    }
    Ok(ExitStatus::Success)
}
