//! Rendering a `StatsReport` as a terminal table or Markdown (JSON is serde's; HTML is `html`).
//! One layout, two syntaxes: the Markdown tables carry the same rows as the terminal tables.

use std::fmt::Write as _;

use super::compare::COMPARED_STATISTICS;
use super::report::{Comparison, Figure, GroupReport, KvSimulation, ProfileCheck, StatsReport};

/// Output syntax of the tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// Aligned columns for a terminal.
    Table,
    /// GitHub-flavoured Markdown.
    Markdown,
}

const DISTRIBUTION_COLUMNS: [&str; 12] = [
    "count", "mean", "min", "p5", "p25", "p50", "p75", "p90", "p95", "p99", "max", "",
];

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

fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), |value| format!("{:.1}%", value * 100.0))
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

fn thousands_u64(value: u64) -> String {
    format_figure(Some(Figure::integer(value)), "tokens")
}

/// The distributions, context growth and reuse of one group.
fn group(report: &GroupReport, syntax: Syntax, title: &str, out: &mut String) {
    heading(syntax, 2, title, out);
    let mut header = vec!["metric"];
    header.extend(DISTRIBUTION_COLUMNS.iter().take(11));
    let mut table = Table::new(&header);
    for distribution in &report.distributions {
        let summary = &distribution.summary;
        let unit = distribution.unit.as_str();
        let mut cells = vec![distribution.label.clone(), thousands_u64(summary.count)];
        for statistic in &DISTRIBUTION_COLUMNS[1..11] {
            cells.push(format_figure(summary.statistic(statistic), unit));
        }
        table.row(cells);
    }
    table.render(syntax, out);
    heading(syntax, 3, "Context growth: input tokens by turn index", out);
    let mut table = Table::new(&["turns", "count", "median", "p90"]);
    for bucket in &report.context_growth {
        if bucket.turns == 0 {
            continue;
        }
        let range = match bucket.last_turn_index {
            Some(last) => format!("{}–{last}", bucket.first_turn_index),
            None => format!("{}+", bucket.first_turn_index),
        };
        table.row(vec![
            range,
            thousands_u64(bucket.turns),
            format_figure(bucket.median, "tokens"),
            format_figure(bucket.p90, "tokens"),
        ]);
    }
    table.render(syntax, out);
    heading(syntax, 3, "KV reuse (unbounded per-session cache)", out);
    let reuse = &report.kv_reuse;
    let mut table = Table::new(&["measure", "value", "over"]);
    table.row(vec![
        "prefix reuse, token-weighted (messages)".to_owned(),
        percent(reuse.prefix_reuse_token_weighted),
        format!("{} turns", thousands_u64(reuse.prefix_turns)),
    ]);
    table.row(vec![
        "provider-reported cached share".to_owned(),
        percent(reuse.provider_cached_share),
        format!("{} turns", thousands_u64(reuse.provider_cached_turns)),
    ]);
    for rate in &reuse.block_hit_rates {
        table.row(vec![
            format!("block hit rate, {}-token blocks", rate.block_size),
            percent(rate.hit_rate),
            format!(
                "{} blocks, {} turns",
                thousands_u64(rate.blocks),
                thousands_u64(rate.turns)
            ),
        ]);
    }
    table.render(syntax, out);
}

fn groups_table(groups: &[GroupReport], syntax: Syntax, out: &mut String) {
    let mut table = Table::new(&[
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
    ]);
    for group in groups {
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
        table.row(vec![
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
        ]);
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
    let mut table = Table::new(&[
        "capacity (tokens)",
        "hit rate",
        "hit blocks",
        "blocks",
        "evictions",
    ]);
    for point in &simulation.points {
        table.row(vec![
            point
                .capacity_tokens
                .map_or_else(|| "unbounded".to_owned(), thousands_u64),
            percent(point.hit_rate),
            thousands_u64(point.hit_blocks),
            thousands_u64(point.blocks),
            thousands_u64(point.evictions),
        ]);
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
    let mut table = Table::new(&["metric", "statistic", "target", "dataset", "status", "note"]);
    table.numeric = false;
    for row in &profile.checks {
        let unit = super::metric::Metric::from_id(&row.metric).map_or("", |m| m.unit());
        table.row(vec![
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
        ]);
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
    let mut table = Table::new(&["metric", "statistic", "A", "B", "B − A", "relative"]);
    for delta in &comparison.deltas {
        if delta.a.is_none() && delta.b.is_none() {
            continue;
        }
        let unit = super::metric::Metric::from_id(&delta.metric).map_or("ratio", |m| {
            if delta.statistic == "count" {
                "turns"
            } else {
                m.unit()
            }
        });
        let unit = if delta.metric == "sessions" {
            "turns"
        } else {
            unit
        };
        table.row(vec![
            delta.metric.clone(),
            delta.statistic.clone(),
            format_figure(delta.a, unit),
            format_figure(delta.b, unit),
            format_figure(delta.difference, unit),
            delta
                .relative
                .map_or_else(|| "–".to_owned(), |r| format!("{:+.1}%", r * 100.0)),
        ]);
    }
    table.render(syntax, out);
    debug_assert!(COMPARED_STATISTICS.contains(&"p50"));
}
