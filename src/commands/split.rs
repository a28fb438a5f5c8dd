//! `trajkit split`: writes one dataset per part plus `split.json` (`transform::split`), all
//! inside one directory that appears atomically.

use std::io::Write as _;

use anyhow::{Context as _, bail};

use super::{ExitStatus, open_dataset};
use crate::cli::{DerivedOutputArgs, SplitArgs};
use crate::staged::{DirectoryKind, StagedDirectory};
use crate::transform::split::{self, ASSIGNMENTS_FILE, Assignments, Part};
use crate::transform::{DerivedWriter, copy_sessions};

/// How a split directory is recognised, so that `--force` replaces only splits.
const SPLIT_DIRECTORY: DirectoryKind = DirectoryKind {
    marker: ASSIGNMENTS_FILE,
    what: "trajkit split",
};

/// Runs `trajkit split`.
pub fn run(args: &SplitArgs) -> anyhow::Result<ExitStatus> {
    let parts = parse_parts(&args.parts)?;
    let previous: Option<Assignments> = args
        .previous
        .as_deref()
        .map(|path| -> anyhow::Result<Assignments> {
            let text = fs_err::read_to_string(path)?;
            serde_json::from_str(&text)
                .with_context(|| format!("`{}` is not a split.json", path.display()))
        })
        .transpose()?;
    let dataset = open_dataset(&args.dataset)?;
    let ids: Vec<&str> = dataset
        .sessions()
        .iter()
        .map(|session| session.session_id.as_str())
        .collect();
    let plan = split::plan(&ids, &parts, args.seed, previous.as_ref());

    let staged = StagedDirectory::create(&args.output, args.force, SPLIT_DIRECTORY)?;
    let mut assignments = Assignments {
        seed: args.seed,
        parts: parts.clone(),
        sessions: std::collections::BTreeMap::new(),
    };
    let arguments = super::recorded_arguments();
    for (part, members) in parts.iter().zip(&plan.members) {
        let output = DerivedOutputArgs {
            output: staged.path().join(&part.name),
            force: false,
            name: Some(part.name.clone()),
        };
        let mut writer = DerivedWriter::create(
            &output.output,
            false,
            &[dataset.reader()],
            crate::transform::Derivation {
                command: "split",
                inputs: vec![args.dataset.to_string_lossy().into_owned()],
                arguments: arguments.clone(),
                name: output.name.clone(),
            },
            None,
        )?;
        copy_sessions(&dataset, members, &mut writer)?;
        let summary = writer.finish()?;
        for &member in members {
            assignments
                .sessions
                .insert(ids[member].to_owned(), part.name.clone());
        }
        let total: f64 = parts.iter().map(|p| p.fraction).sum();
        #[allow(clippy::cast_precision_loss, reason = "session counts")]
        let wanted = part.fraction / total * ids.len() as f64;
        eprintln!(
            "{}: {} sessions ({} turns), target {wanted:.1}",
            part.name, summary.sessions, summary.turns
        );
    }
    let mut text = serde_json::to_string_pretty(&assignments)?;
    text.push('\n');
    let assignments_path = staged.path().join(ASSIGNMENTS_FILE);
    let mut file = fs_err::File::create(&assignments_path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    staged.finish()?;
    if previous.is_some() {
        eprintln!(
            "{} sessions kept their earlier part, {} new sessions placed",
            plan.kept, plan.new
        );
    }
    eprintln!("split written to {}", args.output.display());
    Ok(ExitStatus::Success)
}

fn parse_parts(values: &[String]) -> anyhow::Result<Vec<Part>> {
    if values.len() < 2 {
        bail!("give at least two --part NAME=FRACTION");
    }
    let mut parts: Vec<Part> = Vec::new();
    for value in values {
        let Some((name, fraction)) = value.split_once('=') else {
            bail!("--part `{value}` is not NAME=FRACTION");
        };
        let fraction: f64 = fraction
            .parse()
            .ok()
            .filter(|f: &f64| f.is_finite() && *f > 0.0)
            .with_context(|| format!("--part `{value}`: the fraction must be a positive number"))?;
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && !name.starts_with('.');
        if !valid {
            bail!("--part `{value}`: the name must be letters, digits, `-`, `_` or `.`");
        }
        if parts.iter().any(|part| part.name == name) {
            bail!("--part `{name}` is given twice");
        }
        parts.push(Part {
            name: name.to_owned(),
            fraction,
        });
    }
    Ok(parts)
}
