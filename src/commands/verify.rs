//! `trajkit verify`: resolves the profile, runs `verify::verify`, renders the report, and maps
//! the verdict to the exit code (0 PASS, 1 FAIL; invalid input is an error, exit 2).

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{ExitStatus, ReportFormat};
use crate::cli::VerifyArgs;
use crate::verify::profile::{Profile, ProfileError};
use crate::verify::report::{self, VerifyReport};
use crate::verify::{self, VerifyOptions};

/// Reads a profile: a built-in name, else a JSON file.
pub fn load_profile(name: &str) -> Result<Profile, ProfileError> {
    if let Some(profile) = Profile::built_in(name) {
        return profile;
    }
    let path = Path::new(name);
    if !path.is_file() {
        return Err(ProfileError::Unknown(name.to_owned()));
    }
    let text = fs_err::read_to_string(path).map_err(|error| ProfileError::Invalid {
        name: name.to_owned(),
        message: error.to_string(),
    })?;
    Profile::parse(name, &text)
}

/// Renders a report in a format.
pub fn render(report: &VerifyReport, format: ReportFormat) -> String {
    match format {
        ReportFormat::Json => {
            let mut text = serde_json::to_string_pretty(report).unwrap_or_default();
            text.push('\n');
            text
        }
        ReportFormat::Markdown => report::render_markdown(report),
        ReportFormat::Html => report::render_html(report),
        ReportFormat::Table => report::render_table(report),
    }
}

/// Runs `trajkit verify`.
pub fn run(args: VerifyArgs, out: &mut dyn Write) -> anyhow::Result<ExitStatus> {
    let VerifyArgs {
        dataset,
        references,
        candidate,
        profile,
        format,
        output,
    } = args;
    let format = ReportFormat::parse(&format);
    let options = VerifyOptions {
        dataset,
        references,
        candidate,
        profile: load_profile(&profile)?,
    };
    let report = verify::verify(&options)?;
    let text = render(&report, format);
    write_report(output.as_ref(), &text, out)?;
    if output.is_some() {
        eprintln!("{}", report::verdict_line(&report));
    }
    Ok(if report.verdict == "PASS" {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

fn write_report(output: Option<&PathBuf>, text: &str, out: &mut dyn Write) -> anyhow::Result<()> {
    match output {
        Some(path) => crate::atomic::write_file(path, text.as_bytes())
            .map_err(|error| anyhow::anyhow!("failed to write `{}`: {error}", path.display())),
        None => Ok(out.write_all(text.as_bytes())?),
    }
}
