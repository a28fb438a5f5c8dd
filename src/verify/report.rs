//! The verification report: one serializable value (the JSON report, schema
//! `schemas/verify-report.schema.json`) rendered also as a terminal summary, Markdown and one
//! self-contained HTML page. Every rendering leads with the verdict line; floats are rounded to
//! six decimals when the report is built, so the same inputs give byte-identical reports.

use std::fmt::Write as _;

use schemars::JsonSchema;
use serde::Serialize;
use similar::{Algorithm, DiffOp, capture_diff_slices};

use super::decision::MetricStatistics;
use super::metrics::{Metric, word_tokens};
use super::profile::Profile;

/// First key of the JSON report.
pub const REPORT_KIND: &str = "trajkit-verify-report";
/// Version of the report shape.
pub const REPORT_VERSION: &str = "1.1";

/// `trajkit verify`'s report.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct VerifyReport {
    /// Always `trajkit-verify-report`.
    pub report: String,
    /// Version of this shape.
    pub report_version: String,
    /// `PASS` or `FAIL`.
    pub verdict: String,
    /// Why it failed: `DEGRADED:<metric>`, `UNDERPOWERED:<metric>`, `UNDERPOWERED:sample_size`,
    /// `GUARDRAIL:<name>`. Empty for PASS.
    pub reasons: Vec<String>,
    /// `SUSPICIOUS:<metric>` when the candidate agrees with the references significantly more
    /// than they agree with each other (cached or leaked answers). Not a failure by itself.
    pub suspicious: Vec<String>,
    /// What weakens the verdict or what could not be checked.
    pub warnings: Vec<String>,
    /// The profile applied, in full.
    pub profile: Profile,
    /// What was compared.
    pub inputs: Inputs,
    /// What the config lock compared.
    pub config_lock: ConfigLock,
    /// Sizes.
    pub counts: Counts,
    /// Every agreement metric: gated ones decide, the others are diagnostics.
    pub metrics: Vec<MetricReport>,
    /// The hard checks.
    pub guardrails: Vec<GuardrailReport>,
    /// First-divergence near ties (only pairs where both outputs carry logprobs).
    pub near_tie: NearTieReport,
    /// How every run scores against the dataset's recorded answers (informational, never
    /// gated); null when no recorded answer runs a counted bash command. Since report 1.1.
    pub dataset_answer: Option<DatasetAnswer>,
    /// The turns where the candidate's chrF agreement falls furthest below the references'.
    pub worst: Vec<WorstTurn>,
}

/// What was compared.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Inputs {
    /// Dataset path as given.
    pub dataset: String,
    /// Dataset name.
    pub dataset_name: String,
    /// Candidate run path as given.
    pub candidate: String,
    /// Reference run paths as given.
    pub references: Vec<String>,
}

/// What the config lock compared.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ConfigLock {
    /// Runs in all (references and candidate).
    pub runs: u64,
    /// Runs with a `run.json` whose settings were compared (plain output files have none).
    pub runs_with_run_json: u64,
    /// Settings that must be equal.
    pub locked: Vec<String>,
    /// Settings that may differ.
    pub free: Vec<String>,
}

/// Sizes.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Counts {
    /// Sessions replayed.
    pub sessions: u64,
    /// Turns replayed.
    pub turns: u64,
    /// Reference runs.
    pub references: u64,
    /// Turns the candidate has no output for.
    pub candidate_missing: u64,
    /// Turns the candidate's request failed.
    pub candidate_errors: u64,
}

/// One metric's test.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct MetricReport {
    /// Metric identifier.
    pub metric: String,
    /// Its definition.
    pub definition: String,
    /// Whether it decides the verdict.
    pub gated: bool,
    /// `pass`, `degraded`, `underpowered`, `undefined` (no turn defines it) or `diagnostic`.
    pub outcome: String,
    /// Turns with a defined difference.
    pub turns: u64,
    /// Sessions among them.
    pub sessions: u64,
    /// Mean candidate↔reference agreement.
    pub candidate_vs_reference: Option<f64>,
    /// Mean reference↔reference agreement (the noise floor).
    pub reference_vs_reference: Option<f64>,
    /// Mean paired difference, reference↔reference minus candidate↔reference.
    pub difference: Option<f64>,
    /// Session-clustered standard error of the difference.
    pub standard_error: Option<f64>,
    /// Student-t upper bound at 1 − α.
    pub t_upper: Option<f64>,
    /// Cluster-bootstrap upper bound at 1 − α (gated metrics).
    pub bootstrap_upper: Option<f64>,
    /// The upper bound that counts (the larger).
    pub upper: Option<f64>,
    /// Student-t lower bound at 1 − α (below −margin: suspicious).
    pub lower: Option<f64>,
    /// Margin: the profile's fraction of the reference↔reference agreement.
    pub margin: Option<f64>,
    /// Minimum detectable effect at the profile's power.
    pub minimum_detectable_effect: Option<f64>,
}

/// Rounds to six decimals; `None` for NaN and infinities.
pub fn round(value: f64) -> Option<f64> {
    value.is_finite().then(|| (value * 1e6).round() / 1e6 + 0.0)
}

impl MetricReport {
    /// The report row of a metric's statistics.
    pub fn new(
        metric: Metric,
        gated: bool,
        outcome: &str,
        statistics: &MetricStatistics,
    ) -> MetricReport {
        MetricReport {
            metric: metric.name().to_owned(),
            definition: metric.definition().to_owned(),
            gated,
            outcome: outcome.to_owned(),
            turns: statistics.turns,
            sessions: statistics.sessions,
            candidate_vs_reference: round(statistics.candidate_agreement),
            reference_vs_reference: round(statistics.reference_agreement),
            difference: round(statistics.difference),
            standard_error: round(statistics.standard_error),
            t_upper: round(statistics.t_upper),
            bootstrap_upper: statistics.bootstrap_upper.and_then(round),
            upper: round(statistics.upper),
            lower: round(statistics.lower),
            margin: round(statistics.margin),
            minimum_detectable_effect: round(statistics.minimum_detectable_effect),
        }
    }
}

/// One guardrail.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct GuardrailReport {
    /// `missing_turns`, `errored_turns`, `length_ratio`, `truncation`, `empty_output`,
    /// `invalid_tool_arguments`, `tool_schema_violations` or `special_tokens`.
    pub name: String,
    /// The candidate's value (a count, a ratio or a rate).
    pub value: Option<f64>,
    /// What it must satisfy.
    pub limit: String,
    /// For rates: the worst reference's rate.
    pub worst_reference: Option<f64>,
    /// Whether it holds.
    pub pass: bool,
    /// How the value is computed.
    pub detail: String,
}

#[allow(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
impl GuardrailReport {
    /// A count that must be zero.
    pub fn count(name: &str, count: usize, turns: usize) -> GuardrailReport {
        GuardrailReport {
            name: name.to_owned(),
            value: round(count as f64),
            limit: "0".to_owned(),
            worst_reference: None,
            pass: count == 0,
            detail: format!("candidate turns of {turns}"),
        }
    }

    /// A rate that may exceed the worst reference's by at most `tolerance`.
    pub fn rate(
        name: &str,
        candidate: f64,
        worst_reference: f64,
        tolerance: f64,
    ) -> GuardrailReport {
        GuardrailReport {
            name: name.to_owned(),
            value: round(candidate),
            limit: format!("<= worst reference + {tolerance}"),
            worst_reference: round(worst_reference),
            // A small epsilon so that a candidate exactly at the limit is not failed by rounding.
            pass: candidate <= worst_reference + tolerance + 1e-12,
            detail: "share of the candidate's answered turns".to_owned(),
        }
    }
}

/// First-divergence near ties.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct NearTieReport {
    /// Candidate↔reference pairs whose tokens diverged, both carrying logprobs.
    pub candidate_pairs_diverged: u64,
    /// Of them, divergences at a near tie.
    pub candidate_near_ties: u64,
    /// Reference↔reference pairs whose tokens diverged, both carrying logprobs.
    pub reference_pairs_diverged: u64,
    /// Of them, divergences at a near tie.
    pub reference_near_ties: u64,
}

/// Every run's agreement with the answers recorded in the dataset, by the MLCommons inline
/// scorer's coding rule (`bash_iou` against the recorded output), so the report can say what the
/// reference deployment itself scores on MLPerf's scale. An absolute score against one recorded
/// sample, with no noise floor: it informs, it does not decide.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct DatasetAnswer {
    /// The rule: `bash_iou`.
    pub rule: String,
    /// Turns whose recorded output runs a counted bash command: the only scorable ones.
    pub scorable_turns: u64,
    /// The candidate's mean over them (a missing or failed turn scores 0, as MLCommons counts it).
    pub candidate: f64,
    /// Each reference's mean, in the order given.
    pub references: Vec<f64>,
}

/// A turn where the candidate disagrees most.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct WorstTurn {
    /// Session.
    pub session_id: String,
    /// Turn index.
    pub turn_index: u32,
    /// chrF difference (reference↔reference − candidate↔reference).
    pub difference: Option<f64>,
    /// Candidate↔reference chrF.
    pub candidate_vs_reference: Option<f64>,
    /// Reference↔reference chrF.
    pub reference_vs_reference: Option<f64>,
    /// Character index where the candidate first differs from the first reference.
    pub first_divergence: Option<u64>,
    /// Word-level diff, first reference → candidate: `[-removed-]{+added+}`, around the first
    /// change, cut to a few hundred characters.
    pub diff: String,
}

/// Characters of context kept before the first change of a word diff.
const DIFF_CONTEXT: usize = 80;
/// Longest word diff kept.
const DIFF_LENGTH: usize = 600;

/// A word-level inline diff of `old` → `new`, starting a little before the first change.
pub fn word_diff(old: &str, new: &str) -> String {
    let old_tokens = word_tokens(old);
    let new_tokens = word_tokens(new);
    let ops = capture_diff_slices(Algorithm::Myers, &old_tokens, &new_tokens);
    let mut out = String::new();
    let mut first_change: Option<usize> = None;
    for op in ops {
        match op {
            DiffOp::Equal { old_index, len, .. } => {
                out.extend(old_tokens[old_index..old_index + len].iter().copied());
            }
            DiffOp::Delete {
                old_index, old_len, ..
            } => {
                first_change.get_or_insert(out.len());
                out.push_str("[-");
                out.extend(old_tokens[old_index..old_index + old_len].iter().copied());
                out.push_str("-]");
            }
            DiffOp::Insert {
                new_index, new_len, ..
            } => {
                first_change.get_or_insert(out.len());
                out.push_str("{+");
                out.extend(new_tokens[new_index..new_index + new_len].iter().copied());
                out.push_str("+}");
            }
            DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => {
                first_change.get_or_insert(out.len());
                out.push_str("[-");
                out.extend(old_tokens[old_index..old_index + old_len].iter().copied());
                out.push_str("-]{+");
                out.extend(new_tokens[new_index..new_index + new_len].iter().copied());
                out.push_str("+}");
            }
        }
    }
    let start = first_change.map_or(0, |at| at.saturating_sub(DIFF_CONTEXT));
    let start = (0..=start)
        .rev()
        .find(|&at| out.is_char_boundary(at))
        .unwrap_or(0);
    let mut excerpt: String = out[start..].chars().take(DIFF_LENGTH).collect();
    if start > 0 {
        excerpt.insert(0, '…');
    }
    if out[start..].chars().count() > DIFF_LENGTH {
        excerpt.push('…');
    }
    excerpt
}

fn figure(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), |value| format!("{value:.4}"))
}

/// The metric table's header.
const METRIC_HEADER: [&str; 9] = [
    "metric",
    "cand↔ref",
    "ref↔ref",
    "difference",
    "upper",
    "margin",
    "MDE",
    "gated",
    "pass",
];

fn metric_cells(metric: &MetricReport) -> Vec<String> {
    vec![
        metric.metric.clone(),
        figure(metric.candidate_vs_reference),
        figure(metric.reference_vs_reference),
        figure(metric.difference),
        figure(metric.upper),
        figure(metric.margin),
        figure(metric.minimum_detectable_effect),
        if metric.gated { "yes" } else { "no" }.to_owned(),
        metric.outcome.clone(),
    ]
}

const GUARDRAIL_HEADER: [&str; 5] = ["guardrail", "candidate", "worst reference", "limit", "pass"];

fn guardrail_cells(guardrail: &GuardrailReport) -> Vec<String> {
    vec![
        guardrail.name.clone(),
        figure(guardrail.value),
        figure(guardrail.worst_reference),
        guardrail.limit.clone(),
        if guardrail.pass { "yes" } else { "NO" }.to_owned(),
    ]
}

/// The verdict line every rendering starts with.
pub fn verdict_line(report: &VerifyReport) -> String {
    let mut line = format!("{} (profile {})", report.verdict, report.profile.name);
    if !report.reasons.is_empty() {
        let _ = write!(line, ": {}", report.reasons.join(", "));
    }
    if !report.suspicious.is_empty() {
        let _ = write!(line, " [{}]", report.suspicious.join(", "));
    }
    line
}

fn aligned_table(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|cell| cell.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (index, (cell, width)) in cells.iter().zip(&widths).enumerate() {
            if index > 0 {
                text.push_str("  ");
            }
            let padding = width - cell.chars().count();
            if index == 0 {
                text.push_str(cell);
                text.push_str(&" ".repeat(padding));
            } else {
                text.push_str(&" ".repeat(padding));
                text.push_str(cell);
            }
        }
        text.trim_end().to_owned()
    };
    let _ = writeln!(out, "{}", line(header.to_vec()));
    for row in rows {
        let _ = writeln!(out, "{}", line(row.iter().map(String::as_str).collect()));
    }
}

fn markdown_table(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    let escape = |cell: &str| cell.replace('|', "\\|");
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(header.len()));
    for row in rows {
        let cells: Vec<String> = row.iter().map(|cell| escape(cell)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
}

fn summary_lines(report: &VerifyReport) -> Vec<String> {
    let mut lines = vec![
        format!(
            "dataset {} ({} sessions, {} turns); {} reference runs; candidate {}",
            report.inputs.dataset_name,
            report.counts.sessions,
            report.counts.turns,
            report.counts.references,
            report.inputs.candidate
        ),
        format!(
            "α = {} one-sided, margin = {} × ref↔ref agreement, power {} for the MDE",
            report.profile.alpha, report.profile.margin_fraction, report.profile.power
        ),
    ];
    if let Some(answer) = &report.dataset_answer {
        let references: Vec<String> = answer
            .references
            .iter()
            .map(|score| format!("{score:.4}"))
            .collect();
        lines.push(format!(
            "against the recorded answers ({}, MLCommons inline rule, {} scorable turns; \
             informational): candidate {:.4}, references {}",
            answer.rule,
            answer.scorable_turns,
            answer.candidate,
            references.join(", ")
        ));
    }
    lines
}

/// The terminal summary.
pub fn render_table(report: &VerifyReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", verdict_line(report));
    for line in summary_lines(report) {
        let _ = writeln!(out, "{line}");
    }
    for warning in &report.warnings {
        let _ = writeln!(out, "warning: {warning}");
    }
    out.push('\n');
    let rows: Vec<Vec<String>> = report.metrics.iter().map(metric_cells).collect();
    aligned_table(&mut out, &METRIC_HEADER, &rows);
    out.push('\n');
    let rows: Vec<Vec<String>> = report.guardrails.iter().map(guardrail_cells).collect();
    aligned_table(&mut out, &GUARDRAIL_HEADER, &rows);
    if let Some(worst) = report.worst.first() {
        let _ = writeln!(
            out,
            "\nworst turn: session {} turn {} (chrF difference {}, first divergence at {})",
            worst.session_id,
            worst.turn_index,
            figure(worst.difference),
            worst
                .first_divergence
                .map_or_else(|| "–".to_owned(), |at| at.to_string())
        );
    }
    out
}

/// Markdown.
pub fn render_markdown(report: &VerifyReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Verification: {}\n", verdict_line(report));
    for line in summary_lines(report) {
        let _ = writeln!(out, "- {line}");
    }
    for warning in &report.warnings {
        let _ = writeln!(out, "- **warning**: {warning}");
    }
    out.push_str("\n## Metrics\n\n");
    let rows: Vec<Vec<String>> = report.metrics.iter().map(metric_cells).collect();
    markdown_table(&mut out, &METRIC_HEADER, &rows);
    out.push_str("\n## Guardrails\n\n");
    let rows: Vec<Vec<String>> = report.guardrails.iter().map(guardrail_cells).collect();
    markdown_table(&mut out, &GUARDRAIL_HEADER, &rows);
    out.push_str("\n## Worst turns\n\n");
    for worst in &report.worst {
        let _ = writeln!(
            out,
            "### session `{}` turn {}\n\nchrF difference {}, cand↔ref {}, ref↔ref {}, first \
             divergence at character {}\n\n```diff\n{}\n```\n",
            worst.session_id,
            worst.turn_index,
            figure(worst.difference),
            figure(worst.candidate_vs_reference),
            figure(worst.reference_vs_reference),
            worst
                .first_divergence
                .map_or_else(|| "–".to_owned(), |at| at.to_string()),
            worst.diff.replace("```", "`‌``")
        );
    }
    out
}

/// Text from the runs, escaped for element content and quoted attribute values.
fn escape_html(text: &str) -> std::borrow::Cow<'_, str> {
    html_escape::encode_quoted_attribute(text)
}

fn html_table(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    out.push_str("<table><thead><tr>");
    for cell in header {
        let _ = write!(out, "<th>{}</th>", escape_html(cell));
    }
    out.push_str("</tr></thead><tbody>\n");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{}</td>", escape_html(cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n");
}

/// Marks a word diff's `[-…-]` and `{+…+}` runs as `<del>` and `<ins>`.
fn html_diff(diff: &str) -> String {
    escape_html(diff)
        .replace("[-", "<del>")
        .replace("-]", "</del>")
        .replace("{+", "<ins>")
        .replace("+}", "</ins>")
}

/// One self-contained HTML page.
pub fn render_html(report: &VerifyReport) -> String {
    let mut out = String::new();
    let class = if report.verdict == "PASS" {
        "pass"
    } else {
        "fail"
    };
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>trajkit verify: \
         {verdict}</title><style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:70em}}\
         table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:.25em \
         .6em;text-align:right}}td:first-child,th:first-child{{text-align:left}}.pass{{color:#176f2c}}\
         .fail{{color:#b00020}}pre{{white-space:pre-wrap;background:#f6f6f6;padding:.6em}}\
         del{{background:#fdd}}ins{{background:#dfd}}</style></head><body>\n<h1 class=\"{class}\">\
         {line}</h1>\n<ul>",
        verdict = escape_html(&report.verdict),
        line = escape_html(&verdict_line(report)),
    );
    for line in summary_lines(report) {
        let _ = write!(out, "<li>{}</li>", escape_html(&line));
    }
    for warning in &report.warnings {
        let _ = write!(
            out,
            "<li><strong>warning</strong>: {}</li>",
            escape_html(warning)
        );
    }
    out.push_str("</ul>\n<h2>Metrics</h2>\n");
    let rows: Vec<Vec<String>> = report.metrics.iter().map(metric_cells).collect();
    html_table(&mut out, &METRIC_HEADER, &rows);
    out.push_str("<h2>Guardrails</h2>\n");
    let rows: Vec<Vec<String>> = report.guardrails.iter().map(guardrail_cells).collect();
    html_table(&mut out, &GUARDRAIL_HEADER, &rows);
    out.push_str("<h2>Worst turns</h2>\n");
    for worst in &report.worst {
        let _ = writeln!(
            out,
            "<h3>session {} turn {}</h3><p>chrF difference {}, cand↔ref {}, ref↔ref {}, first \
             divergence at character {}</p><pre>{}</pre>",
            escape_html(&worst.session_id),
            worst.turn_index,
            figure(worst.difference),
            figure(worst.candidate_vs_reference),
            figure(worst.reference_vs_reference),
            worst
                .first_divergence
                .map_or_else(|| "–".to_owned(), |at| at.to_string()),
            html_diff(&worst.diff)
        );
    }
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_diff_marks_changes() {
        assert_eq!(
            word_diff("the cat sat", "the dog sat"),
            "the [-cat-]{+dog+} sat"
        );
        assert_eq!(word_diff("same", "same"), "same");
    }
}
