//! The HTML report (placeholder until the charts land).

use super::report::StatsReport;

/// Renders the report as one self-contained HTML file.
pub fn render(report: &StatsReport) -> String {
    format!("<!doctype html><title>{}</title>", report.dataset.name)
}
