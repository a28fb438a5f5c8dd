//! Rendering a `StatsReport` as a terminal table or Markdown (JSON is serde's; HTML is `html`).
//! One layout, two syntaxes: the Markdown tables carry the same rows as the terminal tables.

use std::fmt::Write as _;

use super::metric::Metric;
use super::report::{
    Comparison, Delta, Distribution, Figure, GroupReport, GrowthBucket, KvCapacityPoint, KvReuse,
    KvSimulation, ProfileCheck, ProfileCheckRow, StatsReport,
};

/// Output syntax of the tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// Aligned columns for a terminal.
    Table,
    /// GitHub-flavoured Markdown.
    Markdown,
}

// The tables' rows, shared by the terminal and Markdown tables here and the HTML report: one
// definition of what each table shows and how each figure reads.

/// Header of the distribution table.
pub(super) const DISTRIBUTION_HEADER: [&str; 12] = [
    "metric", "count", "mean", "min", "p5", "p25", "p50", "p75", "p90", "p95", "p99", "max",
];

/// A distribution's row: its label, then the figures of `DISTRIBUTION_HEADER`.
pub(super) fn distribution_cells(distribution: &Distribution) -> Vec<String> {
    let summary = &distribution.summary;
    let mut cells = vec![distribution.label.clone(), thousands_u64(summary.count)];
    for statistic in &DISTRIBUTION_HEADER[2..] {
        cells.push(format_figure(
            summary.statistic(statistic),
            &distribution.unit,
        ));
    }
    cells
}

/// Header of the context-growth table.
pub(super) const GROWTH_HEADER: [&str; 4] = ["turns", "count", "median", "p90"];

/// The turn indexes of a growth bucket (`0–9`, `200+`).
pub(super) fn bucket_label(bucket: &GrowthBucket) -> String {
    match bucket.last_turn_index {
        Some(last) => format!("{}–{last}", bucket.first_turn_index),
        None => format!("{}+", bucket.first_turn_index),
    }
}

/// A growth bucket's row, after `GROWTH_HEADER`.
pub(super) fn growth_cells(bucket: &GrowthBucket) -> Vec<String> {
    vec![
        bucket_label(bucket),
        thousands_u64(bucket.turns),
        format_figure(bucket.median, "tokens"),
        format_figure(bucket.p90, "tokens"),
    ]
}

/// Header of the reuse table.
pub(super) const REUSE_HEADER: [&str; 3] = ["measure", "value", "over"];

/// The reuse table's rows, each measure's name after `prefix` (`B: ` for a compared dataset).
pub(super) fn reuse_rows(reuse: &KvReuse, prefix: &str) -> Vec<Vec<String>> {
    let mut rows = vec![
        vec![
            format!("{prefix}prefix reuse, token-weighted (messages)"),
            percent(reuse.prefix_reuse_token_weighted),
            format!("{} turns", thousands_u64(reuse.prefix_turns)),
        ],
        vec![
            format!("{prefix}provider-reported cached share"),
            percent(reuse.provider_cached_share),
            format!("{} turns", thousands_u64(reuse.provider_cached_turns)),
        ],
    ];
    for rate in &reuse.block_hit_rates {
        rows.push(vec![
            format!("{prefix}block hit rate, {}-token blocks", rate.block_size),
            percent(rate.hit_rate),
            format!(
                "{} blocks, {} turns",
                thousands_u64(rate.blocks),
                thousands_u64(rate.turns)
            ),
        ]);
    }
    rows
}

/// Header of the groups table.
pub(super) const GROUPS_HEADER: [&str; 11] = [
    "group",
    "sessions",
    "turns",
    "turns/session p50",
    "input mean",
    "input p50",
    "input p95",
    "output p50",
    "output p95",
    "prefix reuse",
    "block hit 64",
];

/// A group's row, after `GROUPS_HEADER`.
pub(super) fn group_cells(group: &GroupReport) -> Vec<String> {
    let figure = |metric: &str, statistic: &str| {
        group
            .distribution(metric)
            .and_then(|d| d.summary.statistic(statistic))
    };
    let block_64 = group
        .kv_reuse
        .block_hit_rates
        .iter()
        .find(|rate| rate.block_size == 64)
        .and_then(|rate| rate.hit_rate);
    vec![
        group.key.clone(),
        thousands_u64(group.sessions),
        thousands_u64(group.turns),
        format_figure(figure("turns_per_session", "p50"), "turns"),
        format_figure(figure("input_tokens", "mean"), "tokens"),
        format_figure(figure("input_tokens", "p50"), "tokens"),
        format_figure(figure("input_tokens", "p95"), "tokens"),
        format_figure(figure("output_tokens", "p50"), "tokens"),
        format_figure(figure("output_tokens", "p95"), "tokens"),
        percent(group.kv_reuse.prefix_reuse_token_weighted),
        percent(block_64),
    ]
}

/// Header of the simulation table.
pub(super) const SIMULATION_HEADER: [&str; 5] = [
    "capacity (tokens)",
    "hit rate",
    "hit blocks",
    "blocks",
    "evictions",
];

/// A capacity point's row, after `SIMULATION_HEADER`, its capacity after `prefix`.
pub(super) fn simulation_cells(point: &KvCapacityPoint, prefix: &str) -> Vec<String> {
    vec![
        format!(
            "{prefix}{}",
            point
                .capacity_tokens
                .map_or_else(|| "unbounded".to_owned(), thousands_u64)
        ),
        percent(point.hit_rate),
        thousands_u64(point.hit_blocks),
        thousands_u64(point.blocks),
        thousands_u64(point.evictions),
    ]
}

/// Header of the profile table.
pub(super) const PROFILE_HEADER: [&str; 6] =
    ["metric", "statistic", "target", "dataset", "status", "note"];

/// A profile check's row, after `PROFILE_HEADER`.
pub(super) fn profile_cells(row: &ProfileCheckRow) -> Vec<String> {
    let unit = Metric::from_id(&row.metric).map_or("", Metric::unit);
    vec![
        row.metric.clone(),
        row.statistic.clone(),
        row.target.clone(),
        format_figure(row.dataset, unit),
        if row.status == "deviates" {
            "DEVIATES".to_owned()
        } else {
            row.status.clone()
        },
        row.note.clone(),
    ]
}

/// Header of the comparison table.
pub(super) const COMPARISON_HEADER: [&str; 6] =
    ["metric", "statistic", "A", "B", "B − A", "relative"];

/// A delta's row, after `COMPARISON_HEADER`. Counts of anything read as counts.
pub(super) fn delta_cells(delta: &Delta) -> Vec<String> {
    let unit = if delta.metric == "sessions" || delta.statistic == "count" {
        "turns"
    } else {
        Metric::from_id(&delta.metric).map_or("ratio", Metric::unit)
    };
    vec![
        delta.metric.clone(),
        delta.statistic.clone(),
        format_figure(delta.a, unit),
        format_figure(delta.b, unit),
        format_figure(delta.difference, unit),
        delta
            .relative
            .filter(|relative| relative.is_finite())
            .map_or_else(|| "–".to_owned(), |r| format!("{:+.1}%", r * 100.0)),
    ]
}

/// A figure as a person reads it: counts with thousands separators, ratios as percentages,
/// milliseconds to one decimal.
pub fn format_figure(figure: Option<Figure>, unit: &str) -> String {
    let Some(figure) = figure else {
        return "–".to_owned();
    };
    let value = figure.value();
    match unit {
        "ratio" => format!("{:.1}%", value * 100.0),
        "ms" => {
            if value.abs() >= 1000.0 {
                thousands(value.round())
            } else {
                format!("{value:.1}")
            }
        }
        _ => {
            if value.fract() == 0.0 {
                thousands(value)
            } else if value.abs() >= 100.0 {
                thousands(value.round())
            } else {
                format!("{value:.2}")
            }
        }
    }
}

fn thousands(value: f64) -> String {
    let text = format!("{:.0}", value.abs());
    let mut out = String::new();
    for (index, digit) in text.chars().enumerate() {
        if index > 0 && (text.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    if value < 0.0 { format!("-{out}") } else { out }
}

/// A share as a percentage with one decimal.
pub(super) fn percent(value: Option<f64>) -> String {
    value
        .filter(|value| value.is_finite())
        .map_or_else(|| "–".to_owned(), |value| format!("{:.1}%", value * 100.0))
}

/// Rows of cells rendered in one syntax.
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    /// Columns after the first are right-aligned.
    numeric: bool,
}

impl Table {
    fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|&cell| cell.to_owned()).collect(),
            rows: Vec::new(),
            numeric: true,
        }
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn render(&self, syntax: Syntax, out: &mut String) {
        let columns = self.header.len();
        match syntax {
            Syntax::Markdown => {
                let escape = |cell: &str| cell.replace('|', "\\|");
                let _ = writeln!(
                    out,
                    "| {} |",
                    self.header
                        .iter()
                        .map(|c| escape(c))
                        .collect::<Vec<_>>()
                        .join(" | ")
                );
                let rule: Vec<&str> = (0..columns)
                    .map(|index| {
                        if index > 0 && self.numeric {
                            "---:"
                        } else {
                            "---"
                        }
                    })
                    .collect();
                let _ = writeln!(out, "|{}|", rule.join("|"));
                for row in &self.rows {
                    let _ = writeln!(
                        out,
                        "| {} |",
                        row.iter()
                            .map(|c| escape(c))
                            .collect::<Vec<_>>()
                            .join(" | ")
                    );
                }
            }
            Syntax::Table => {
                let mut widths: Vec<usize> = self
                    .header
                    .iter()
                    .map(|cell| cell.chars().count())
                    .collect();
                for row in &self.rows {
                    for (index, cell) in row.iter().enumerate() {
                        if let Some(width) = widths.get_mut(index) {
                            *width = (*width).max(cell.chars().count());
                        }
                    }
                }
                let line = |cells: &[String], out: &mut String| {
                    let mut text = String::new();
                    for (index, cell) in cells.iter().enumerate() {
                        let width = widths.get(index).copied().unwrap_or(0);
                        if index > 0 {
                            text.push_str("  ");
                        }
                        let pad = width.saturating_sub(cell.chars().count());
                        if index > 0 && self.numeric {
                            text.push_str(&" ".repeat(pad));
                            text.push_str(cell);
                        } else {
                            text.push_str(cell);
                            text.push_str(&" ".repeat(pad));
                        }
                    }
                    let _ = writeln!(out, "{}", text.trim_end());
                };
                line(&self.header, out);
                for row in &self.rows {
                    line(row, out);
                }
            }
        }
    }
}

fn heading(syntax: Syntax, level: usize, text: &str, out: &mut String) {
    match syntax {
        Syntax::Markdown => {
            let _ = writeln!(out, "\n{} {text}\n", "#".repeat(level));
        }
        Syntax::Table => {
            let _ = writeln!(out, "\n{text}");
            let _ = writeln!(
                out,
                "{}",
                if level <= 2 { "=" } else { "-" }.repeat(text.chars().count())
            );
        }
    }
}

fn paragraph(syntax: Syntax, text: &str, out: &mut String) {
    let _ = writeln!(out, "{text}");
    if syntax == Syntax::Markdown {
        out.push('\n');
    }
}

/// Renders the whole report.
pub fn render(report: &StatsReport, syntax: Syntax) -> String {
    let mut out = String::new();
    let dataset = &report.dataset;
    match syntax {
        Syntax::Markdown => {
            let _ = writeln!(out, "# trajkit stats: {}\n", dataset.name);
        }
        Syntax::Table => {
            let _ = writeln!(out, "trajkit stats: {}", dataset.name);
        }
    }
    paragraph(
        syntax,
        &format!(
            "{} · format {} · tokenizer {} · {} sessions ({} sub-agent), {} turns ({} sizes-only)",
            dataset.path,
            dataset.schema_version,
            dataset.tokenizer.as_deref().unwrap_or("none"),
            thousands_u64(report.overall.sessions),
            thousands_u64(report.overall.sub_agent_sessions),
            thousands_u64(report.overall.turns),
            thousands_u64(report.overall.sizes_only_turns),
        ),
        &mut out,
    );
    paragraph(
        syntax,
        &format!("Percentiles: {}.", report.percentile_definition),
        &mut out,
    );
    group(&report.overall, syntax, "Distributions", &mut out);
    if let Some(group_by) = &report.group_by {
        heading(syntax, 2, &format!("By {group_by}"), &mut out);
        groups_table(&report.groups, syntax, &mut out);
    }
    if let Some(simulation) = &report.kv_simulation {
        simulation_section(simulation, syntax, &mut out);
    }
    if let Some(profile) = &report.profile {
        profile_section(profile, syntax, &mut out);
    }
    if let Some(comparison) = &report.comparison {
        comparison_section(comparison, &dataset.path, syntax, &mut out);
    }
    out
}

/// A count with thousands separators.
pub(super) fn thousands_u64(value: u64) -> String {
    format_figure(Some(Figure::integer(value)), "tokens")
}

/// The distributions, context growth and reuse of one group.
fn group(report: &GroupReport, syntax: Syntax, title: &str, out: &mut String) {
    heading(syntax, 2, title, out);
    let mut table = Table::new(&DISTRIBUTION_HEADER);
    for distribution in &report.distributions {
        table.row(distribution_cells(distribution));
    }
    table.render(syntax, out);
    heading(syntax, 3, "Context growth: input tokens by turn index", out);
    let mut table = Table::new(&GROWTH_HEADER);
    for bucket in report
        .context_growth
        .iter()
        .filter(|bucket| bucket.turns > 0)
    {
        table.row(growth_cells(bucket));
    }
    table.render(syntax, out);
    heading(syntax, 3, "KV reuse (unbounded per-session cache)", out);
    let mut table = Table::new(&REUSE_HEADER);
    for row in reuse_rows(&report.kv_reuse, "") {
        table.row(row);
    }
    table.render(syntax, out);
}

fn groups_table(groups: &[GroupReport], syntax: Syntax, out: &mut String) {
    let mut table = Table::new(&GROUPS_HEADER);
    for group in groups {
        table.row(group_cells(group));
    }
    table.render(syntax, out);
}

fn simulation_section(simulation: &KvSimulation, syntax: Syntax, out: &mut String) {
    heading(
        syntax,
        2,
        &format!(
            "Shared LRU cache: {} agents, {}-token blocks",
            simulation.agents, simulation.block_size
        ),
        out,
    );
    paragraph(
        syntax,
        &format!(
            "{} sessions, {} requests ({} without hash ids), interleaved by {}.",
            thousands_u64(simulation.sessions),
            thousands_u64(simulation.requests),
            thousands_u64(simulation.requests_without_ids),
            simulation.interleaving
        ),
        out,
    );
    let mut table = Table::new(&SIMULATION_HEADER);
    for point in &simulation.points {
        table.row(simulation_cells(point, ""));
    }
    table.render(syntax, out);
}

fn profile_section(profile: &ProfileCheck, syntax: Syntax, out: &mut String) {
    heading(
        syntax,
        2,
        &format!("Profile check: {}", profile.profile),
        out,
    );
    paragraph(syntax, &profile.source, out);
    let mut table = Table::new(&PROFILE_HEADER);
    table.numeric = false;
    for row in &profile.checks {
        table.row(profile_cells(row));
    }
    table.render(syntax, out);
    paragraph(
        syntax,
        &format!(
            "{} of {} targets deviate.",
            profile.deviations,
            profile.checks.len()
        ),
        out,
    );
}

fn comparison_section(comparison: &Comparison, a_path: &str, syntax: Syntax, out: &mut String) {
    heading(
        syntax,
        2,
        &format!(
            "Compared with {} ({})",
            comparison.dataset.name, comparison.dataset.path
        ),
        out,
    );
    paragraph(
        syntax,
        &format!(
            "A = {}, B = {}; difference = B − A, relative = (B − A) / A.",
            a_path, comparison.dataset.path
        ),
        out,
    );
    let mut table = Table::new(&COMPARISON_HEADER);
    for delta in &comparison.deltas {
        if delta.a.is_some() || delta.b.is_some() {
            table.row(delta_cells(delta));
        }
    }
    table.render(syntax, out);
}
