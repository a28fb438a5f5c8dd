//! `trajkit schemas`: writes `schemas/` from the row and report types, or checks it is up to
//! date.

use anyhow::Context as _;

use super::ExitStatus;
use crate::cli::SchemasArgs;
use crate::replay::record::{RECORD_KIND, RECORD_VERSION, RequestRecord, RunManifest};
use crate::schema::generate::json_schema_file_with_id;
use crate::stats::report::{REPORT_KIND, REPORT_VERSION, StatsReport};
use crate::verify::report::{
    REPORT_KIND as VERIFY_REPORT_KIND, REPORT_VERSION as VERIFY_REPORT_VERSION, VerifyReport,
};

/// Every generated file of `schemas/`: the dataset format's, then the reports'.
pub fn generated_files() -> Vec<(String, String)> {
    let mut files = crate::schema::generate::generated_files();
    files.push(json_schema_file_with_id::<StatsReport>(
        "stats-report",
        &format!("{REPORT_KIND}/{REPORT_VERSION}/stats-report.schema.json"),
    ));
    files.push(json_schema_file_with_id::<RunManifest>(
        "replay-run",
        &format!("{RECORD_KIND}/{RECORD_VERSION}/replay-run.schema.json"),
    ));
    files.push(json_schema_file_with_id::<RequestRecord>(
        "replay-request",
        &format!("{RECORD_KIND}/{RECORD_VERSION}/replay-request.schema.json"),
    ));
    files.push(json_schema_file_with_id::<VerifyReport>(
        "verify-report",
        &format!("{VERIFY_REPORT_KIND}/{VERIFY_REPORT_VERSION}/verify-report.schema.json"),
    ));
    files
}

/// Runs `trajkit schemas`.
pub fn run(args: SchemasArgs) -> anyhow::Result<ExitStatus> {
    let SchemasArgs { dir, check } = args;
    let mut stale = Vec::new();
    for (name, contents) in generated_files() {
        let path = dir.join(&name);
        if check {
            let current = fs_err::read_to_string(&path).unwrap_or_default();
            if current != contents {
                stale.push(path.display().to_string());
            }
        } else {
            fs_err::create_dir_all(&dir)?;
            fs_err::write(&path, contents)
                .with_context(|| format!("failed to write `{}`", path.display()))?;
        }
    }
    if stale.is_empty() {
        Ok(ExitStatus::Success)
    } else {
        eprintln!(
            "stale generated files: {}\nhint: run `trajkit schemas` to regenerate them",
            stale.join(", ")
        );
        Ok(ExitStatus::Failure)
    }
}
