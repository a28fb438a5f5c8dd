//! `trajkit merge`: concatenates datasets counted alike into one, in the order given.

use std::collections::HashMap;

use anyhow::bail;

use super::{ExitStatus, derivation, open_dataset};
use crate::cli::MergeArgs;
use crate::transform::DerivedWriter;

/// Runs `trajkit merge`.
pub fn run(args: &MergeArgs) -> anyhow::Result<ExitStatus> {
    let datasets = args
        .datasets
        .iter()
        .map(|path| open_dataset(path))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let inputs: Vec<&std::path::Path> = args.datasets.iter().map(AsRef::as_ref).collect();
    let references: Vec<_> = datasets
        .iter()
        .map(crate::dataset::DatasetIndex::reader)
        .collect();
    let mut writer = DerivedWriter::create(
        &args.output.output,
        args.output.force,
        &references,
        derivation("merge", &inputs, &args.output),
        None,
    )?;
    // The writer checks first that the inputs were counted alike.
    // Which sessions each input contributes: the first of a repeated id.
    let mut owner: HashMap<&str, usize> = HashMap::new();
    let mut chosen: Vec<Vec<usize>> = vec![Vec::new(); datasets.len()];
    let mut skipped = 0u64;
    for (input, dataset) in datasets.iter().enumerate() {
        for (position, session) in dataset.sessions().iter().enumerate() {
            match owner.get(session.session_id.as_str()) {
                Some(&first) if !args.skip_duplicates => bail!(
                    "session `{}` is in both `{}` and `{}`\nhint: pass --skip-duplicates to keep \
                     the first",
                    session.session_id,
                    args.datasets[first].display(),
                    args.datasets[input].display()
                ),
                Some(_) => skipped += 1,
                None => {
                    owner.insert(&session.session_id, input);
                    chosen[input].push(position);
                }
            }
        }
    }
    for (dataset, chosen) in datasets.iter().zip(&chosen) {
        crate::transform::copy_sessions(dataset, chosen, &mut writer)?;
    }
    let summary = writer.finish()?;
    eprintln!(
        "merged {} datasets: {} sessions, {} turns → {}{}",
        datasets.len(),
        summary.sessions,
        summary.turns,
        args.output.output.display(),
        if skipped > 0 {
            format!(" ({skipped} repeated sessions skipped)")
        } else {
            String::new()
        }
    );
    Ok(ExitStatus::Success)
}
