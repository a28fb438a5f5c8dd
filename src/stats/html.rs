//! The HTML report of `trajkit stats --format html`: one self-contained file (inline CSS and
//! inline `<svg>` only, nothing fetched) that a person can open, mail or attach to an issue.
//!
//! It carries the same tables as the terminal report (`render`) plus charts: a histogram per
//! distribution, context growth, block hit rates and the bounded-cache curve, with dataset B of
//! `--compare` overlaid in a second colour. The charts are drawn by `plotters` into SVG strings;
//! its text layout uses plotters' built-in estimate (no `ttf`/`ab_glyph` feature), so nothing
//! reads system fonts and the browser draws the `<text>` with its own. The output depends only on
//! the report (no clock, no random ids, no hash-map order): the same report gives the same bytes.

use std::error::Error;
use std::fmt::Write as _;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::distribution::RATIO_BINS;
use super::render::{
    COMPARISON_HEADER, DISTRIBUTION_HEADER, GROUPS_HEADER, GROWTH_HEADER, PROFILE_HEADER,
    REUSE_HEADER, SIMULATION_HEADER, bucket_label, delta_cells, distribution_cells, format_figure,
    group_cells, growth_cells, percent, profile_cells, reuse_rows, simulation_cells,
    thousands_u64 as thousands,
};
use super::report::{
    BlockHitRate, Distribution, Figure, GroupReport, GrowthBucket, HistogramBin, HistogramScale,
    KvSimulation, ProfileCheck, StatsReport, Summary,
};

/// Colour of the dataset the report is about (A).
const COLOUR_A: RGBColor = RGBColor(37, 99, 235);
/// Colour of the compared dataset (B).
const COLOUR_B: RGBColor = RGBColor(234, 88, 12);
/// Axis text.
const INK: RGBColor = RGBColor(51, 65, 85);
/// Axis lines.
const AXIS: RGBColor = RGBColor(148, 163, 184);
/// Grid lines.
const GRID: RGBColor = RGBColor(226, 232, 240);

/// Size of a chart in a two-column grid, and of a full-width one (SVG user units; the page
/// scales them to the column with `width: 100%`).
const HALF_CHART: (u32, u32) = (560, 290);
const WIDE_CHART: (u32, u32) = (1120, 340);

/// Font family written into the SVG; the page's CSS overrides it with its own stack.
const CHART_FONT: &str = "sans-serif";

/// Most axis labels on one axis: more overlap at the chart sizes above.
const MOST_AXIS_LABELS: usize = 11;

type ChartResult = Result<String, Box<dyn Error>>;

/// Renders the report as one self-contained HTML file.
pub fn render(report: &StatsReport) -> String {
    let mut out = String::with_capacity(256 << 10);
    let title = format!("trajkit stats: {}", report.dataset.name);
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"trajkit {version}\">\n<title>{title}</title>\n\
         <style>{STYLE}</style>\n</head>\n<body>\n<main>\n",
        version = escape(&report.trajkit_version),
        title = escape(&title),
    );
    overview(report, &mut out);
    navigation(report, &mut out);
    let other = report
        .comparison
        .as_ref()
        .map(|comparison| &comparison.overall);
    distributions_section(&report.overall, other, &mut out);
    growth_section(&report.overall, other, &mut out);
    reuse_section(&report.overall, other, &mut out);
    if let Some(group_by) = &report.group_by {
        groups_section(group_by, &report.groups, &mut out);
    }
    if let Some(simulation) = &report.kv_simulation {
        let other_simulation = report
            .comparison
            .as_ref()
            .and_then(|comparison| comparison.kv_simulation.as_ref());
        simulation_section(simulation, other_simulation, &mut out);
    }
    if let Some(profile) = &report.profile {
        profile_section(profile, &mut out);
    }
    if report.comparison.is_some() {
        comparison_section(report, &mut out);
    }
    let _ = write!(
        out,
        "<footer>Written by trajkit {} (stats report version {}).</footer>\n\
         </main>\n</body>\n</html>\n",
        escape(&report.trajkit_version),
        escape(&report.report_version),
    );
    out
}

// ----- Page sections -------------------------------------------------------------------------

/// The figure a card of the overview shows, for dataset A or B.
type CardValue = fn(&GroupReport) -> String;

fn overview(report: &StatsReport, out: &mut String) {
    let dataset = &report.dataset;
    let overall = &report.overall;
    let _ = write!(
        out,
        "<header>\n<p class=\"eyebrow\">trajkit stats</p>\n<h1>{}</h1>\n\
         <p class=\"dataset\"><code>{}</code> · format {} · tokenizer {}{}</p>\n",
        escape(&dataset.name),
        escape(&dataset.path),
        escape(&dataset.schema_version),
        escape(dataset.tokenizer.as_deref().unwrap_or("none")),
        dataset
            .hash_block_size
            .map_or_else(String::new, |size| format!(
                " · hash ids every {size} tokens"
            )),
    );
    if let Some(comparison) = &report.comparison {
        let _ = writeln!(
            out,
            "<p class=\"legend\"><span class=\"swatch a\"></span>A = {} <code>{}</code> \
             <span class=\"swatch b\"></span>B = {} <code>{}</code></p>",
            escape(&dataset.name),
            escape(&dataset.path),
            escape(&comparison.dataset.name),
            escape(&comparison.dataset.path),
        );
    }
    let other = report
        .comparison
        .as_ref()
        .map(|comparison| &comparison.overall);
    out.push_str("<div class=\"cards\">\n");
    let cards: [(&str, CardValue, String); 6] = [
        (
            "sessions",
            |group| thousands(group.sessions),
            format!("{} sub-agent", thousands(overall.sub_agent_sessions)),
        ),
        (
            "turns",
            |group| thousands(group.turns),
            format!("{} sizes-only", thousands(overall.sizes_only_turns)),
        ),
        (
            "input tokens per turn, median",
            |group| group_statistic(group, "input_tokens", "p50"),
            format!("p95 {}", group_statistic(overall, "input_tokens", "p95")),
        ),
        (
            "output tokens per turn, median",
            |group| group_statistic(group, "output_tokens", "p50"),
            format!("p95 {}", group_statistic(overall, "output_tokens", "p95")),
        ),
        (
            "prefix reuse, token-weighted",
            |group| percent(group.kv_reuse.prefix_reuse_token_weighted),
            "unbounded per-session cache".to_owned(),
        ),
        (
            "provider-reported cached share",
            |group| percent(group.kv_reuse.provider_cached_share),
            format!(
                "over {} turns",
                thousands(overall.kv_reuse.provider_cached_turns)
            ),
        ),
    ];
    for (label, value, detail) in cards {
        let detail = match other {
            Some(other) => format!("B: {}", value(other)),
            None => detail,
        };
        let _ = writeln!(
            out,
            "<div class=\"card\"><div class=\"card-label\">{}</div>\
             <div class=\"card-value\">{}</div><div class=\"card-detail\">{}</div></div>",
            escape(label),
            escape(&value(overall)),
            escape(&detail),
        );
    }
    out.push_str("</div>\n");
    let _ = write!(
        out,
        "<p class=\"note\">Percentiles: {}.</p>\n</header>\n",
        escape(&report.percentile_definition)
    );
}

/// One statistic of one metric of a group, formatted.
fn group_statistic(group: &GroupReport, metric: &str, name: &str) -> String {
    let distribution = group.distribution(metric);
    format_figure(
        distribution.and_then(|d| d.summary.statistic(name)),
        distribution.map_or("tokens", |d| d.unit.as_str()),
    )
}

fn navigation(report: &StatsReport, out: &mut String) {
    let mut links = vec![
        ("distributions", "Distributions"),
        ("context-growth", "Context growth"),
        ("kv-reuse", "KV reuse"),
    ];
    if report.group_by.is_some() {
        links.push(("groups", "Groups"));
    }
    if report.kv_simulation.is_some() {
        links.push(("kv-simulation", "Shared LRU cache"));
    }
    if report.profile.is_some() {
        links.push(("profile", "Profile check"));
    }
    if report.comparison.is_some() {
        links.push(("comparison", "Comparison"));
    }
    out.push_str("<nav>");
    for (anchor, text) in links {
        let _ = write!(out, "<a href=\"#{anchor}\">{text}</a>");
    }
    out.push_str("</nav>\n");
}

fn distributions_section(overall: &GroupReport, other: Option<&GroupReport>, out: &mut String) {
    out.push_str("<section id=\"distributions\">\n<h2>Distributions</h2>\n");
    let mut table = HtmlTable::new(&DISTRIBUTION_HEADER);
    for distribution in &overall.distributions {
        let class = if distribution.summary.count == 0 {
            "empty"
        } else {
            ""
        };
        table.row(class, distribution_cells(distribution));
    }
    table.render(out);
    out.push_str(
        "<details><summary>What each metric counts</summary>\n<dl class=\"definitions\">\n",
    );
    for distribution in &overall.distributions {
        let _ = writeln!(
            out,
            "<dt>{}</dt><dd><code>{}</code></dd>",
            escape(&distribution.label),
            escape(&distribution.definition)
        );
    }
    out.push_str("</dl>\n</details>\n<h3>Histograms</h3>\n<p class=\"note\">");
    if other.is_some() {
        out.push_str(
            "Bars show each dataset's share of its values per bin, A and B side by side. ",
        );
    } else {
        out.push_str("Bars count values per bin; dashed lines mark the median and p95. ");
    }
    out.push_str(
        "Token, turn and millisecond bins double in width (log2: [2<sup>k</sup>, \
         2<sup>k+1</sup>), labelled by their lower bound, K = 1,024); ratio bins are 5% wide.</p>\n\
         <div class=\"charts\">\n",
    );
    let mut without_values = Vec::new();
    for distribution in &overall.distributions {
        let other_distribution = other.and_then(|other| other.distribution(&distribution.metric));
        let has_values = distribution.summary.count > 0
            || other_distribution.is_some_and(|other| other.summary.count > 0);
        let id = format!("chart-{}", identifier(&distribution.metric));
        if !has_values {
            without_values.push((id, distribution));
            continue;
        }
        let caption = histogram_caption(distribution, other_distribution);
        figure(
            out,
            &id,
            "chart",
            &caption,
            histogram_chart(distribution, other_distribution),
        );
    }
    out.push_str("</div>\n");
    // Empty distributions get a line each rather than an empty chart.
    if !without_values.is_empty() {
        out.push_str("<ul class=\"without-values\">\n");
        for (id, distribution) in without_values {
            let _ = writeln!(
                out,
                "<li class=\"no-values\" id=\"{id}-none\"><strong>{}</strong>: no values \
                 (no chart)</li>",
                escape(&distribution.label)
            );
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</section>\n");
}

fn histogram_caption(distribution: &Distribution, other: Option<&Distribution>) -> String {
    let describe = |distribution: &Distribution| {
        let summary = &distribution.summary;
        let unit = distribution.unit.as_str();
        if summary.count == 0 {
            return "no values".to_owned();
        }
        format!(
            "n = {}, median {}, p95 {}, max {}",
            thousands(summary.count),
            format_figure(summary.p50, unit),
            format_figure(summary.p95, unit),
            format_figure(summary.max, unit),
        )
    };
    let mut caption = format!("<strong>{}</strong> ", escape(&distribution.label));
    match other {
        Some(other) => {
            let _ = write!(
                caption,
                "<span>A: {}</span> <span>B: {}</span>",
                escape(&describe(distribution)),
                escape(&describe(other))
            );
        }
        None => {
            let _ = write!(caption, "<span>{}</span>", escape(&describe(distribution)));
        }
    }
    let non_finite =
        distribution.summary.non_finite + other.map_or(0, |other| other.summary.non_finite);
    if non_finite > 0 {
        let _ = write!(
            caption,
            " <span class=\"warning\">{} NaN or infinite values left out</span>",
            thousands(non_finite)
        );
    }
    caption
}

fn growth_section(overall: &GroupReport, other: Option<&GroupReport>, out: &mut String) {
    out.push_str(
        "<section id=\"context-growth\">\n<h2>Context growth</h2>\n\
         <p class=\"note\">Input tokens per request by the request's turn index in its session \
         (buckets of 10 turns; the last is open).</p>\n",
    );
    let filled = |group: &GroupReport| group.context_growth.iter().any(|bucket| bucket.turns > 0);
    if filled(overall) || other.is_some_and(filled) {
        figure(
            out,
            "chart-context-growth",
            "chart wide",
            "<strong>input tokens by turn index</strong> <span>median (solid) and p90 (dashed) \
             per bucket</span>",
            growth_chart(overall, other),
        );
    } else {
        out.push_str(
            "<div class=\"no-values\" id=\"chart-context-growth-none\"><strong>context growth\
             </strong><span>no turns with a known input size</span></div>\n",
        );
    }
    let mut header = GROWTH_HEADER.to_vec();
    if other.is_some() {
        header = vec![
            "turns", "A count", "A median", "A p90", "B count", "B median", "B p90",
        ];
    }
    let mut table = HtmlTable::new(&header);
    for (index, bucket) in overall.context_growth.iter().enumerate() {
        let other_bucket = other.and_then(|other| other.context_growth.get(index));
        if bucket.turns == 0 && other_bucket.is_none_or(|other| other.turns == 0) {
            continue;
        }
        let mut cells = growth_cells(bucket);
        if let Some(other_bucket) = other_bucket {
            // B's count, median and p90 beside A's, under the one turn-range label.
            cells.extend(growth_cells(other_bucket).into_iter().skip(1));
        }
        table.row("", cells);
    }
    table.render(out);
    out.push_str("</section>\n");
}

fn reuse_section(overall: &GroupReport, other: Option<&GroupReport>, out: &mut String) {
    out.push_str(
        "<section id=\"kv-reuse\">\n<h2>KV reuse</h2>\n<p class=\"note\">How much of each \
         request an unbounded per-session cache could serve, and what the provider reports it \
         served.</p>\n<div class=\"split\">\n<div>\n",
    );
    let mut table = HtmlTable::new(&REUSE_HEADER);
    table.numeric_from = 1;
    for row in reuse_rows(&overall.kv_reuse, "") {
        table.row("", row);
    }
    if let Some(other) = other {
        for row in reuse_rows(&other.kv_reuse, "B: ") {
            table.row("b", row);
        }
    }
    table.render(out);
    out.push_str("</div>\n<div>\n");
    let has_rate = |group: &GroupReport| {
        group
            .kv_reuse
            .block_hit_rates
            .iter()
            .any(|rate| rate.hit_rate.is_some_and(f64::is_finite))
    };
    if has_rate(overall) || other.is_some_and(has_rate) {
        figure(
            out,
            "chart-block-hit-rates",
            "chart",
            "<strong>block hit rates</strong> <span>leading blocks already sent earlier in the \
             same session, from the stored hash ids</span>",
            block_hit_chart(
                &overall.kv_reuse.block_hit_rates,
                other.map(|other| other.kv_reuse.block_hit_rates.as_slice()),
            ),
        );
    } else {
        out.push_str(
            "<div class=\"no-values\" id=\"chart-block-hit-rates-none\"><strong>block hit rates\
             </strong><span>no turns with hash ids</span></div>\n",
        );
    }
    out.push_str("</div>\n</div>\n</section>\n");
}

fn groups_section(group_by: &str, groups: &[GroupReport], out: &mut String) {
    let _ = writeln!(
        out,
        "<section id=\"groups\">\n<h2>By {}</h2>",
        escape(group_by)
    );
    let mut table = HtmlTable::new(&GROUPS_HEADER);
    for group in groups {
        table.row("", group_cells(group));
    }
    if groups.is_empty() {
        out.push_str("<p class=\"note\">No groups: the dataset has no turns.</p>\n");
    } else {
        table.render(out);
    }
    out.push_str("</section>\n");
}

fn simulation_section(simulation: &KvSimulation, other: Option<&KvSimulation>, out: &mut String) {
    let _ = write!(
        out,
        "<section id=\"kv-simulation\">\n<h2>Shared LRU cache: {} agents, {}-token blocks</h2>\n\
         <p class=\"note\">{} sessions, {} requests ({} without hash ids), interleaved by {}. \
         Each request's leading run of cached blocks is a hit; the unbounded cache is the \
         ceiling.</p>\n",
        simulation.agents,
        simulation.block_size,
        thousands(simulation.sessions),
        thousands(simulation.requests),
        thousands(simulation.requests_without_ids),
        escape(&simulation.interleaving),
    );
    let plotted = |simulation: &KvSimulation| !curve_points(simulation).is_empty();
    if plotted(simulation) || other.is_some_and(plotted) {
        figure(
            out,
            "chart-kv-simulation",
            "chart wide",
            "<strong>hit rate by cache capacity</strong> <span>log capacity axis; dashed: \
             unbounded cache</span>",
            simulation_chart(simulation, other),
        );
    } else {
        out.push_str(
            "<div class=\"no-values\" id=\"chart-kv-simulation-none\"><strong>hit rate by \
             capacity</strong><span>no capacity with looked-up blocks</span></div>\n",
        );
    }
    let mut table = HtmlTable::new(&SIMULATION_HEADER);
    let mut add_rows = |simulation: &KvSimulation, prefix: &str, class: &'static str| {
        for point in &simulation.points {
            table.row(class, simulation_cells(point, prefix));
        }
    };
    match other {
        Some(other) => {
            add_rows(simulation, "A: ", "");
            add_rows(other, "B: ", "b");
        }
        None => add_rows(simulation, "", ""),
    }
    table.render(out);
    out.push_str("</section>\n");
}

fn profile_section(profile: &ProfileCheck, out: &mut String) {
    let _ = write!(
        out,
        "<section id=\"profile\">\n<h2>Profile check: {}</h2>\n<p class=\"note\">{}</p>\n",
        escape(&profile.profile),
        escape(&profile.source),
    );
    let mut table = HtmlTable::new(&PROFILE_HEADER);
    table.numeric_from = 3;
    table.numeric_to = 4;
    for row in &profile.checks {
        let class = match row.status.as_str() {
            "deviates" => "deviates",
            "missing" => "missing",
            _ => "ok",
        };
        table.row(class, profile_cells(row));
    }
    table.render(out);
    let _ = writeln!(
        out,
        "<p class=\"{}\">{} of {} targets deviate.</p>\n</section>",
        if profile.deviations > 0 {
            "verdict deviates"
        } else {
            "verdict ok"
        },
        profile.deviations,
        profile.checks.len()
    );
}

fn comparison_section(report: &StatsReport, out: &mut String) {
    let Some(comparison) = &report.comparison else {
        return;
    };
    let _ = write!(
        out,
        "<section id=\"comparison\">\n<h2>Compared with {}</h2>\n<p class=\"note\">A = \
         <code>{}</code>, B = <code>{}</code>; difference = B − A, relative = (B − A) / A.</p>\n",
        escape(&comparison.dataset.name),
        escape(&report.dataset.path),
        escape(&comparison.dataset.path),
    );
    let mut table = HtmlTable::new(&COMPARISON_HEADER);
    table.numeric_from = 2;
    let mut previous_metric = "";
    for delta in &comparison.deltas {
        if delta.a.is_none() && delta.b.is_none() {
            continue;
        }
        // The metric is named on the first of its rows only, so the groups stand out.
        let mut cells = delta_cells(delta);
        let class = if delta.metric == previous_metric {
            cells[0].clear();
            ""
        } else {
            "first"
        };
        previous_metric = &delta.metric;
        table.row(class, cells);
    }
    table.render(out);
    out.push_str("</section>\n");
}

// ----- HTML helpers --------------------------------------------------------------------------

/// Text taken from the report, escaped for element content and quoted attribute values.
fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    html_escape::encode_quoted_attribute(text)
}

/// A metric identifier made safe for an `id` attribute (identifiers are `snake_case` already;
/// this only guards against a future one that is not).
fn identifier(text: &str) -> String {
    text.chars()
        .map(|character| {
            if character.is_ascii_alphanumeric() || character == '_' || character == '-' {
                character
            } else {
                '-'
            }
        })
        .collect()
}

/// A chart in its `<figure>`, or the reason it could not be drawn.
fn figure(out: &mut String, id: &str, class: &str, caption: &str, svg: ChartResult) {
    match svg {
        Ok(svg) => {
            let _ = write!(
                out,
                "<figure class=\"{class}\" id=\"{id}\">\n{svg}<figcaption>{caption}</figcaption>\n\
                 </figure>\n"
            );
        }
        Err(error) => {
            let _ = writeln!(
                out,
                "<div class=\"no-values\" id=\"{id}-failed\"><strong>chart failed</strong>\
                 <span>{}</span></div>",
                escape(&error.to_string())
            );
        }
    }
}

/// A table whose cells are escaped; columns in `numeric_from..numeric_to` are right-aligned.
struct HtmlTable {
    header: Vec<String>,
    rows: Vec<(&'static str, Vec<String>)>,
    numeric_from: usize,
    numeric_to: usize,
}

impl HtmlTable {
    fn new(header: &[&str]) -> HtmlTable {
        HtmlTable {
            header: header.iter().map(|&cell| cell.to_owned()).collect(),
            rows: Vec::new(),
            numeric_from: 1,
            numeric_to: usize::MAX,
        }
    }

    fn row(&mut self, class: &'static str, cells: Vec<String>) {
        self.rows.push((class, cells));
    }

    fn cell_class(&self, index: usize) -> &'static str {
        if (self.numeric_from..self.numeric_to).contains(&index) {
            " class=\"num\""
        } else {
            ""
        }
    }

    fn render(&self, out: &mut String) {
        out.push_str("<div class=\"table\"><table>\n<thead><tr>");
        for (index, cell) in self.header.iter().enumerate() {
            let _ = write!(out, "<th{}>{}</th>", self.cell_class(index), escape(cell));
        }
        out.push_str("</tr></thead>\n<tbody>\n");
        for (class, cells) in &self.rows {
            if class.is_empty() {
                out.push_str("<tr>");
            } else {
                let _ = write!(out, "<tr class=\"{class}\">");
            }
            for (index, cell) in cells.iter().enumerate() {
                let _ = write!(out, "<td{}>{}</td>", self.cell_class(index), escape(cell));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody>\n</table></div>\n");
    }
}

// ----- Charts --------------------------------------------------------------------------------

/// A chart axis with the tick positions chosen here (plotters' own pick fractional ticks for
/// counts, and its key-point wrapper loses the label formatter on `f64` axes): linear or
/// logarithmic over `[low, high]`.
struct Axis {
    low: f64,
    high: f64,
    logarithmic: bool,
    ticks: Vec<f64>,
}

impl Axis {
    fn linear(low: f64, high: f64, ticks: Vec<f64>) -> Axis {
        Axis {
            low,
            high,
            logarithmic: false,
            ticks,
        }
    }

    /// `[low, high]` on a log scale; both must be positive.
    fn logarithmic(low: f64, high: f64, ticks: Vec<f64>) -> Axis {
        Axis {
            low,
            high,
            logarithmic: true,
            ticks,
        }
    }

    /// 0 to 100 percent, a tick every 20.
    fn percent() -> Axis {
        Axis::linear(0.0, 100.0, vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0])
    }

    /// Where `value` lies between the ends, 0 to 1 (outside for values beyond them).
    fn fraction(&self, value: f64) -> f64 {
        let fraction = if self.logarithmic {
            if value <= 0.0 {
                return 0.0;
            }
            (value.ln() - self.low.ln()) / (self.high.ln() - self.low.ln())
        } else {
            (value - self.low) / (self.high - self.low)
        };
        if fraction.is_finite() { fraction } else { 0.0 }
    }
}

impl Ranged for Axis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    #[allow(
        clippy::cast_possible_truncation,
        reason = "a pixel offset, clamped to a few times the chart's size"
    )]
    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let length = f64::from(limit.1 - limit.0);
        let offset =
            (self.fraction(*value) * length).clamp(-4.0 * length.abs(), 4.0 * length.abs());
        limit.0 + offset.round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // The ticks are the labelled (bold) grid; plotters asks for light grid lines with a
        // hint that allows light points, and gets none.
        if hint.weight().allow_light_points() {
            return Vec::new();
        }
        self.ticks.clone()
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.low..self.high
    }
}

fn label_style(size: u32) -> TextStyle<'static> {
    (CHART_FONT, size).into_font().color(&INK)
}

/// Tick positions `0, step, 2·step, …` covering `max` with a little headroom: a "nice" step
/// (1, 2 or 5 times a power of ten, 2.5 too when fractions are allowed) giving about five ticks.
fn nice_ticks(max: f64, integer: bool) -> Vec<f64> {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    let raw = max / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let multiples: &[f64] = if integer {
        &[1.0, 2.0, 5.0, 10.0]
    } else {
        &[1.0, 2.0, 2.5, 5.0, 10.0]
    };
    let mut step = multiples
        .iter()
        .map(|multiple| multiple * magnitude)
        .find(|step| *step >= raw)
        .unwrap_or(10.0 * magnitude);
    if integer {
        step = step.max(1.0);
    }
    let top = (max * 1.02 / step).ceil().max(1.0);
    (0..=to_index(top))
        .map(|index| to_f64(index) * step)
        .collect()
}

#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "a small non-negative tick count"
)]
fn to_index(value: f64) -> usize {
    value.clamp(0.0, 1000.0) as usize
}

#[allow(clippy::cast_precision_loss, reason = "small counts and indexes")]
fn to_f64(value: usize) -> f64 {
    value as f64
}

#[allow(clippy::cast_precision_loss, reason = "counts stay far below 2^53")]
fn count_f64(value: u64) -> f64 {
    value as f64
}

/// An integer position on a chart axis (bin edges, bucket indexes).
#[allow(
    clippy::cast_possible_truncation,
    reason = "positions are small integers (log2 of a finite f64 is within ±1100)"
)]
fn position(value: f64) -> i32 {
    value.round().clamp(-10_000.0, 10_000.0) as i32
}

/// Positions `first..=last`, thinned to at most `MOST_AXIS_LABELS`, keeping `first`.
fn thinned(first: i32, last: i32) -> Vec<i32> {
    let count = usize::try_from(last - first + 1).unwrap_or(1).max(1);
    let step = count.div_ceil(MOST_AXIS_LABELS).max(1);
    (first..=last).step_by(step).collect()
}

/// A count or token figure in a few characters (decimal: 12K = 12,000).
fn compact_decimal(value: f64) -> String {
    let (scaled, suffix) = if value.abs() >= 1e9 {
        (value / 1e9, "G")
    } else if value.abs() >= 1e6 {
        (value / 1e6, "M")
    } else if value.abs() >= 1e3 {
        (value / 1e3, "K")
    } else {
        return trim_decimal(value);
    };
    format!("{}{suffix}", trim_decimal(scaled))
}

/// One decimal at most, none when it is zero.
fn trim_decimal(value: f64) -> String {
    let text = format!("{value:.1}");
    text.strip_suffix(".0").map_or(text.clone(), str::to_owned)
}

/// A power of two in a few characters (binary: 16K = 16,384), or a duration when `unit` is ms.
fn compact_binary(value: f64, unit: &str) -> String {
    if unit == "ms" {
        return if value < 1000.0 {
            format!("{}ms", trim_decimal(value))
        } else if value < 60_000.0 {
            let seconds = value / 1000.0;
            if seconds < 10.0 {
                format!("{seconds:.1}s")
            } else {
                format!("{seconds:.0}s")
            }
        } else if value < 3_600_000.0 {
            format!("{}m", trim_decimal(value / 60_000.0))
        } else {
            format!("{}h", trim_decimal(value / 3_600_000.0))
        };
    }
    let (scaled, suffix) = if value >= 1_099_511_627_776.0 {
        (value / 1_099_511_627_776.0, "T")
    } else if value >= 1_073_741_824.0 {
        (value / 1_073_741_824.0, "G")
    } else if value >= 1_048_576.0 {
        (value / 1_048_576.0, "M")
    } else if value >= 1024.0 {
        (value / 1024.0, "K")
    } else {
        return trim_decimal(value);
    };
    format!("{}{suffix}", trim_decimal(scaled))
}

/// Where a histogram bin lies on the chart's x axis, as `[left, right)` edge positions: log2 bin
/// `[2^k, 2^(k+1))` spans `k+1..k+2`, `[0, 1)` spans `0..1` and the bin of negative values
/// `-1..0`; ratio bin `i` spans `i..i+1`.
fn bin_span(scale: HistogramScale, bin: &HistogramBin) -> Option<(i32, i32)> {
    let left = match scale {
        HistogramScale::Log2 => match bin.lower.map(Figure::value) {
            None => -1,
            Some(lower) if lower.is_finite() && lower < 1.0 => 0,
            Some(lower) if lower.is_finite() => position(lower.log2()) + 1,
            Some(_) => return None,
        },
        HistogramScale::Linear => {
            let lower = bin.lower.map_or(0.0, Figure::value);
            if !lower.is_finite() {
                return None;
            }
            position(lower * RATIO_BINS)
        }
    };
    Some((left, left + 1))
}

/// The x position of a value on a histogram's axis (for the percentile markers).
fn value_position(scale: HistogramScale, value: f64) -> f64 {
    match scale {
        HistogramScale::Log2 if value < 0.0 => -0.5,
        HistogramScale::Log2 if value < 1.0 => value,
        HistogramScale::Log2 => value.log2() + 1.0,
        HistogramScale::Linear => (value * RATIO_BINS).clamp(0.0, RATIO_BINS),
    }
}

/// The label of a bin edge on a histogram's axis.
fn edge_label(scale: HistogramScale, edge: i32, unit: &str) -> String {
    match scale {
        HistogramScale::Linear => format!("{}%", edge * 5),
        HistogramScale::Log2 => match edge {
            ..=-1 => "<0".to_owned(),
            0 => "0".to_owned(),
            _ => compact_binary(2f64.powi(edge - 1), unit),
        },
    }
}

/// One dataset's bars: `(left edge, right edge, height)`.
fn histogram_bars(summary: &Summary, share: bool) -> Vec<(i32, i32, f64)> {
    let total = count_f64(summary.count.max(1));
    summary
        .histogram
        .iter()
        .filter_map(|bin| {
            let (left, right) = bin_span(summary.histogram_scale, bin)?;
            let count = count_f64(bin.count);
            let height = if share { count / total * 100.0 } else { count };
            height.is_finite().then_some((left, right, height))
        })
        .collect()
}

/// What a histogram chart shows: each dataset's bars and the axes around them.
struct HistogramLayout {
    scale: HistogramScale,
    /// Shares of each dataset's values rather than counts: when comparing, two datasets'
    /// counts can differ by orders of magnitude.
    share: bool,
    /// `(left edge, right edge, height)` of each bar of A, then of B.
    bars_a: Vec<(i32, i32, f64)>,
    bars_b: Vec<(i32, i32, f64)>,
    /// First and last bin edge on the x axis.
    first: i32,
    last: i32,
    y_ticks: Vec<f64>,
    y_top: f64,
    x_description: String,
    y_description: String,
}

impl HistogramLayout {
    fn new(distribution: &Distribution, other: Option<&Distribution>) -> HistogramLayout {
        let scale = distribution.summary.histogram_scale;
        let share = other.is_some();
        let bars_a = histogram_bars(&distribution.summary, share);
        let bars_b = other.map_or_else(Vec::new, |other| histogram_bars(&other.summary, share));
        let (mut first, mut last) = match scale {
            HistogramScale::Linear => (0, position(RATIO_BINS)),
            HistogramScale::Log2 => (i32::MAX, i32::MIN),
        };
        for &(left, right, _) in bars_a.iter().chain(&bars_b) {
            first = first.min(left);
            last = last.max(right);
        }
        if first > last {
            (first, last) = (0, 1);
        }
        // At least four doublings, so that one bin does not fill the whole chart.
        last = last.max(first + 4);
        let highest = bars_a
            .iter()
            .chain(&bars_b)
            .map(|&(_, _, height)| height)
            .fold(0.0, f64::max);
        let mut y_ticks = nice_ticks(highest, !share);
        let mut y_top = y_ticks.last().copied().unwrap_or(1.0);
        if share {
            // Room above the bars for the legend, and no tick beyond 100%.
            y_ticks.retain(|&tick| tick <= 100.0);
            y_top = y_top.max(highest * 1.3);
        }
        let counted = if distribution.metric == "turns_per_session" {
            "sessions"
        } else {
            "turns"
        };
        HistogramLayout {
            scale,
            share,
            bars_a,
            bars_b,
            first,
            last,
            y_ticks,
            y_top,
            x_description: match scale {
                HistogramScale::Linear => "share of the request".to_owned(),
                HistogramScale::Log2 => format!("{} (log2 bins)", distribution.unit),
            },
            y_description: if share {
                format!("% of {counted}")
            } else {
                counted.to_owned()
            },
        }
    }

    /// The upper corner away from the tallest bar, where the legend hides nothing.
    fn legend_corner(&self) -> SeriesLabelPosition {
        let (first, last) = (f64::from(self.first), f64::from(self.last));
        let (_, tallest_left) = self.bars_a.iter().chain(&self.bars_b).fold(
            (0.0, first),
            |best, &(left, _, height)| {
                if height > best.0 {
                    (height, f64::from(left))
                } else {
                    best
                }
            },
        );
        if tallest_left - first > (last - first) / 2.0 {
            SeriesLabelPosition::UpperLeft
        } else {
            SeriesLabelPosition::UpperRight
        }
    }
}

fn histogram_chart(distribution: &Distribution, other: Option<&Distribution>) -> ChartResult {
    let layout = HistogramLayout::new(distribution, other);
    let (scale, share, unit) = (layout.scale, layout.share, distribution.unit.as_str());
    let (first, last) = (f64::from(layout.first), f64::from(layout.last));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, HALF_CHART).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin_top(14)
            .margin_right(18)
            .margin_left(6)
            .x_label_area_size(40)
            .y_label_area_size(58)
            .build_cartesian_2d(
                Axis::linear(
                    first,
                    last,
                    thinned(layout.first, layout.last)
                        .into_iter()
                        .map(f64::from)
                        .collect(),
                ),
                Axis::linear(0.0, layout.y_top, layout.y_ticks.clone()),
            )?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .bold_line_style(GRID.stroke_width(1))
            .axis_style(AXIS.stroke_width(1))
            .label_style(label_style(14))
            .axis_desc_style(label_style(14))
            .x_desc(&layout.x_description)
            .y_desc(&layout.y_description)
            .x_label_formatter(&|x| edge_label(scale, position(*x), unit))
            .y_label_formatter(&|y| {
                if share {
                    format!("{}%", trim_decimal(*y))
                } else {
                    compact_decimal(*y)
                }
            })
            .draw()?;
        // One wide bar per bin, or A and B side by side.
        let width = if layout.share { 0.42 } else { 0.84 };
        let inset = 0.08;
        let series_a = chart.draw_series(layout.bars_a.iter().map(|&(left, _, height)| {
            let left = f64::from(left) + inset;
            Rectangle::new([(left, 0.0), (left + width, height)], COLOUR_A.filled())
        }))?;
        if layout.share {
            series_a
                .label("A")
                .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], COLOUR_A.filled()));
            chart
                .draw_series(layout.bars_b.iter().map(|&(left, _, height)| {
                    let left = f64::from(left) + inset + width;
                    Rectangle::new([(left, 0.0), (left + width, height)], COLOUR_B.filled())
                }))?
                .label("B")
                .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], COLOUR_B.filled()));
            chart
                .configure_series_labels()
                .position(layout.legend_corner())
                .background_style(WHITE.mix(0.9))
                .border_style(GRID)
                .label_font(label_style(14))
                .draw()?;
        } else {
            // Median and p95 markers, where the values fall inside their bins. Their labels sit
            // on two rows (close markers stay readable), right of the line unless it is near
            // the right edge.
            let summary = &distribution.summary;
            for (row, (name, figure)) in [("p50", summary.p50), ("p95", summary.p95)]
                .into_iter()
                .enumerate()
            {
                let Some(value) = figure.map(Figure::value).filter(|v| v.is_finite()) else {
                    continue;
                };
                let x = value_position(scale, value).clamp(first, last);
                chart.draw_series(DashedLineSeries::new(
                    [(x, 0.0), (x, layout.y_top)],
                    4,
                    3,
                    INK.stroke_width(1),
                ))?;
                let gap = (last - first) * 0.01;
                let (side, label_x) = if x > last - (last - first) * 0.12 {
                    (HPos::Right, x - gap)
                } else {
                    (HPos::Left, x + gap)
                };
                let label_y = layout.y_top * (1.0 - 0.07 * to_f64(row));
                chart.draw_series(std::iter::once(Text::new(
                    name,
                    (label_x, label_y),
                    label_style(13).pos(Pos::new(side, VPos::Top)),
                )))?;
            }
        }
        root.present()?;
    }
    Ok(svg)
}

/// One dataset's context-growth lines: `(bucket index, tokens)` of the buckets with turns.
struct GrowthSeries {
    /// Legend prefix: the dataset's letter when there are two, else nothing.
    name: &'static str,
    colour: RGBColor,
    median: Vec<(f64, f64)>,
    p90: Vec<(f64, f64)>,
}

impl GrowthSeries {
    fn new(name: &'static str, colour: RGBColor, group: &GroupReport) -> GrowthSeries {
        let points = |pick: fn(&GrowthBucket) -> Option<Figure>| {
            group
                .context_growth
                .iter()
                .enumerate()
                .filter(|(_, bucket)| bucket.turns > 0)
                .filter_map(|(index, bucket)| {
                    let value = pick(bucket)?.value();
                    value.is_finite().then(|| (to_f64(index), value))
                })
                .collect()
        };
        GrowthSeries {
            name,
            colour,
            median: points(|bucket| bucket.median),
            p90: points(|bucket| bucket.p90),
        }
    }

    fn points(&self) -> impl Iterator<Item = &(f64, f64)> {
        self.median.iter().chain(&self.p90)
    }
}

/// The last bucket index, the y ticks and top, and the legend corner of a growth chart: room
/// above the lines for the legend (two entries per dataset), in the upper corner whose half of
/// the chart has the lower values.
fn growth_axes(series: &[GrowthSeries]) -> (f64, Vec<f64>, f64, SeriesLabelPosition) {
    let (last, highest) = series
        .iter()
        .flat_map(GrowthSeries::points)
        .fold((0.0, 0.0), |(x, y), &(px, py)| {
            (f64::max(x, px), f64::max(y, py))
        });
    let y_ticks = nice_ticks(highest, true);
    let y_top = y_ticks
        .last()
        .copied()
        .unwrap_or(1.0)
        .max(highest * (1.0 + 0.09 * to_f64(2 * series.len())));
    let half_high = |left: bool| {
        series
            .iter()
            .flat_map(GrowthSeries::points)
            .filter(|&&(x, _)| (x <= last / 2.0) == left)
            .map(|&(_, y)| y)
            .fold(0.0, f64::max)
    };
    let corner = if half_high(true) <= half_high(false) {
        SeriesLabelPosition::UpperLeft
    } else {
        SeriesLabelPosition::UpperRight
    };
    (last, y_ticks, y_top, corner)
}

fn growth_chart(overall: &GroupReport, other: Option<&GroupReport>) -> ChartResult {
    let series = match other {
        Some(other) => vec![
            GrowthSeries::new("A ", COLOUR_A, overall),
            GrowthSeries::new("B ", COLOUR_B, other),
        ],
        None => vec![GrowthSeries::new("", COLOUR_A, overall)],
    };
    let labels: Vec<String> = overall.context_growth.iter().map(bucket_label).collect();
    let (last, y_ticks, y_top, corner) = growth_axes(&series);
    let x_ticks: Vec<f64> = thinned(0, position(last))
        .into_iter()
        .map(f64::from)
        .collect();

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, WIDE_CHART).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin_top(14)
            .margin_right(24)
            .margin_left(6)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(
                Axis::linear(-0.5, last + 0.5, x_ticks),
                Axis::linear(0.0, y_top, y_ticks),
            )?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .bold_line_style(GRID.stroke_width(1))
            .axis_style(AXIS.stroke_width(1))
            .label_style(label_style(14))
            .axis_desc_style(label_style(14))
            .x_desc("turn index in the session")
            .y_desc("input tokens")
            .x_label_formatter(&|x| {
                usize::try_from(position(*x))
                    .ok()
                    .and_then(|index| labels.get(index).cloned())
                    .unwrap_or_default()
            })
            .y_label_formatter(&|y| compact_decimal(*y))
            .draw()?;
        for GrowthSeries {
            name,
            colour,
            median,
            p90,
        } in &series
        {
            let colour = *colour;
            chart
                .draw_series(LineSeries::new(
                    median.iter().copied(),
                    colour.stroke_width(2),
                ))?
                .label(format!("{name}median"))
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 18, y)], colour.stroke_width(2))
                });
            chart.draw_series(
                median
                    .iter()
                    .map(|&point| Circle::new(point, 3, colour.filled())),
            )?;
            chart
                .draw_series(DashedLineSeries::new(
                    p90.iter().copied(),
                    6,
                    4,
                    colour.stroke_width(2),
                ))?
                .label(format!("{name}p90 (dashed)"))
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 6, y)], colour.stroke_width(2))
                });
            chart.draw_series(
                p90.iter()
                    .map(|&point| Circle::new(point, 3, colour.stroke_width(1))),
            )?;
        }
        chart
            .configure_series_labels()
            .position(corner)
            .background_style(WHITE.mix(0.9))
            .border_style(GRID)
            .label_font(label_style(14))
            .draw()?;
        root.present()?;
    }
    Ok(svg)
}

fn block_hit_chart(rates: &[BlockHitRate], other: Option<&[BlockHitRate]>) -> ChartResult {
    let mut sizes: Vec<u32> = rates
        .iter()
        .chain(other.unwrap_or_default())
        .map(|rate| rate.block_size)
        .collect();
    sizes.sort_unstable();
    sizes.dedup();
    let bars = |rates: &[BlockHitRate]| -> Vec<(usize, f64)> {
        rates
            .iter()
            .filter_map(|rate| {
                let value = rate.hit_rate.filter(|value| value.is_finite())? * 100.0;
                let index = sizes.iter().position(|&size| size == rate.block_size)?;
                Some((index, value))
            })
            .collect()
    };
    let mut series = vec![("A", COLOUR_A, bars(rates))];
    if let Some(other) = other {
        series.push(("B", COLOUR_B, bars(other)));
    }
    let width = 0.7 / to_f64(series.len());
    let x_ticks: Vec<f64> = (0..sizes.len()).map(|index| to_f64(index) + 0.5).collect();
    let size_labels: Vec<String> = sizes
        .iter()
        .map(|size| format!("{size}-token blocks"))
        .collect();

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, HALF_CHART).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin_top(14)
            .margin_right(18)
            .margin_left(6)
            .x_label_area_size(30)
            .y_label_area_size(58)
            .build_cartesian_2d(
                Axis::linear(0.0, to_f64(sizes.len().max(1)), x_ticks),
                // Room above 100% for the bar labels and, with two datasets, the legend.
                Axis::linear(
                    0.0,
                    if series.len() > 1 { 125.0 } else { 108.0 },
                    vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0],
                ),
            )?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .bold_line_style(GRID.stroke_width(1))
            .axis_style(AXIS.stroke_width(1))
            .label_style(label_style(14))
            .axis_desc_style(label_style(14))
            .y_desc("hit rate")
            .x_label_formatter(&|x| {
                size_labels
                    .get(to_index(x.floor()))
                    .cloned()
                    .unwrap_or_default()
            })
            .y_label_formatter(&|y| format!("{y:.0}%"))
            .draw()?;
        for (series_index, (name, colour, values)) in series.iter().enumerate() {
            let colour = *colour;
            let offset = 0.15 + width * to_f64(series_index);
            let drawn = chart.draw_series(values.iter().map(|&(index, value)| {
                let left = to_f64(index) + offset;
                Rectangle::new([(left, 0.0), (left + width, value)], colour.filled())
            }))?;
            if series.len() > 1 {
                drawn.label(*name).legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.filled())
                });
            }
            chart.draw_series(values.iter().map(|&(index, value)| {
                Text::new(
                    format!("{value:.1}%"),
                    (to_f64(index) + offset + width / 2.0, value),
                    label_style(13).pos(Pos::new(HPos::Center, VPos::Bottom)),
                )
            }))?;
        }
        if series.len() > 1 {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.9))
                .border_style(GRID)
                .label_font(label_style(14))
                .draw()?;
        }
        root.present()?;
    }
    Ok(svg)
}

/// The bounded capacities of a simulation that can sit on a log axis: `(tokens, hit rate %)`.
fn curve_points(simulation: &KvSimulation) -> Vec<(f64, f64)> {
    simulation
        .points
        .iter()
        .filter_map(|point| {
            let capacity = point.capacity_tokens.filter(|&capacity| capacity > 0)?;
            let rate = point.hit_rate.filter(|rate| rate.is_finite())? * 100.0;
            Some((count_f64(capacity), rate))
        })
        .collect()
}

/// The unbounded cache's hit rate in percent.
fn ceiling(simulation: &KvSimulation) -> Option<f64> {
    simulation
        .points
        .iter()
        .find(|point| point.capacity_tokens.is_none())
        .and_then(|point| point.hit_rate)
        .filter(|rate| rate.is_finite())
        .map(|rate| rate * 100.0)
}

/// Key points of a log axis over `[low, high]`: 1, 2 and 5 times the powers of ten, or the
/// powers of ten alone when those are too many.
fn log_ticks(low: f64, high: f64) -> Vec<f64> {
    let first = position(low.log10().floor());
    let last = position(high.log10().ceil());
    let mut ticks = Vec::new();
    for exponent in first..=last {
        for multiple in [1.0, 2.0, 5.0] {
            let tick = multiple * 10f64.powi(exponent);
            if (low..=high).contains(&tick) {
                ticks.push(tick);
            }
        }
    }
    if ticks.len() > MOST_AXIS_LABELS {
        ticks.retain(|tick| (tick.log10() - tick.log10().round()).abs() < 1e-9);
    }
    ticks
}

fn simulation_chart(simulation: &KvSimulation, other: Option<&KvSimulation>) -> ChartResult {
    let mut series = vec![(
        if other.is_some() { "A: " } else { "" },
        COLOUR_A,
        curve_points(simulation),
        ceiling(simulation),
    )];
    if let Some(other) = other {
        series.push(("B: ", COLOUR_B, curve_points(other), ceiling(other)));
    }
    let capacities = || {
        series
            .iter()
            .flat_map(|(_, _, points, _)| points.iter().map(|&(capacity, _)| capacity))
    };
    let low = capacities().fold(f64::INFINITY, f64::min);
    let high = capacities().fold(0.0, f64::max);
    let (low, high) = if low.is_finite() && high >= low {
        (low / 2.0, high * 2.0)
    } else {
        (1.0, 10.0)
    };
    let x_ticks = log_ticks(low, high);
    // Hit rates rise with capacity: the legend goes lower right, unless a curve ends low there.
    let ends_low = series.iter().any(|(_, _, points, _)| {
        points
            .iter()
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .is_some_and(|&(_, rate)| rate < 45.0)
    });
    let corner = if ends_low {
        SeriesLabelPosition::UpperLeft
    } else {
        SeriesLabelPosition::LowerRight
    };

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, WIDE_CHART).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin_top(14)
            .margin_right(24)
            .margin_left(6)
            .x_label_area_size(40)
            .y_label_area_size(58)
            .build_cartesian_2d(Axis::logarithmic(low, high, x_ticks), Axis::percent())?;
        chart
            .configure_mesh()
            .bold_line_style(GRID.stroke_width(1))
            .axis_style(AXIS.stroke_width(1))
            .label_style(label_style(14))
            .axis_desc_style(label_style(14))
            .x_desc("cache capacity (tokens, log scale)")
            .y_desc("hit rate")
            .x_label_formatter(&|x| compact_decimal(*x))
            .y_label_formatter(&|y| format!("{y:.0}%"))
            .draw()?;
        for (name, colour, points, ceiling) in &series {
            let colour = *colour;
            chart
                .draw_series(LineSeries::new(
                    points.iter().copied(),
                    colour.stroke_width(2),
                ))?
                .label(format!("{name}hit rate"))
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 18, y)], colour.stroke_width(2))
                });
            chart.draw_series(
                points
                    .iter()
                    .map(|&point| Circle::new(point, 4, colour.filled())),
            )?;
            if let Some(ceiling) = *ceiling {
                chart
                    .draw_series(DashedLineSeries::new(
                        [(low, ceiling), (high, ceiling)],
                        6,
                        4,
                        colour.stroke_width(1),
                    ))?
                    .label(format!("{name}unbounded cache, {ceiling:.1}% (dashed)"))
                    .legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 6, y)], colour.stroke_width(1))
                    });
            }
        }
        chart
            .configure_series_labels()
            .position(corner)
            .background_style(WHITE.mix(0.9))
            .border_style(GRID)
            .label_font(label_style(14))
            .draw()?;
        root.present()?;
    }
    Ok(svg)
}

// ----- Style ---------------------------------------------------------------------------------

const STYLE: &str = "
:root{--ink:#0f172a;--muted:#64748b;--line:#e2e8f0;--paper:#fff;--ground:#f1f5f9;
--a:#2563eb;--b:#ea580c;--bad:#b91c1c;--bad-ground:#fef2f2;--good:#15803d}
*{box-sizing:border-box}
body{margin:0;background:var(--ground);color:var(--ink);
font:14px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif}
main{max-width:1200px;margin:0 auto;padding:24px 28px 40px}
header,section{background:var(--paper);border:1px solid var(--line);border-radius:10px;
padding:20px 24px;margin:0 0 18px;box-shadow:0 1px 2px rgba(15,23,42,.04)}
h1{font-size:26px;margin:0 0 4px;word-break:break-all}
h2{font-size:19px;margin:0 0 6px}
h3{font-size:15px;margin:18px 0 4px}
.eyebrow{margin:0;color:var(--a);font-weight:600;letter-spacing:.06em;text-transform:uppercase;
font-size:12px}
.dataset{margin:0 0 14px;color:var(--muted)}
code{font:12.5px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;
background:var(--ground);padding:1px 5px;border-radius:4px;word-break:break-all}
.note{color:var(--muted);margin:4px 0 12px}
.legend{margin:0 0 12px}
.swatch{display:inline-block;width:12px;height:12px;border-radius:3px;margin:0 6px 0 10px;
vertical-align:-1px}
.swatch.a{background:var(--a);margin-left:0}.swatch.b{background:var(--b)}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:10px;
margin:6px 0 12px}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 12px}
.card-label{color:var(--muted);font-size:12px}
.card-value{font-size:22px;font-weight:600;font-variant-numeric:tabular-nums}
.card-detail{color:var(--muted);font-size:12px}
nav{display:flex;flex-wrap:wrap;gap:6px;margin:0 0 18px}
nav a{color:var(--a);text-decoration:none;background:var(--paper);border:1px solid var(--line);
border-radius:999px;padding:3px 12px;font-size:13px}
.table{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:5px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{font-size:12px;color:var(--muted);font-weight:600;white-space:nowrap;
border-bottom:2px solid var(--line)}
td.num,th.num{text-align:right;white-space:nowrap}
tbody tr:nth-child(even){background:#f8fafc}
tr.empty td{color:#94a3b8}
tr.b td:first-child{color:var(--b)}
tr.deviates td{background:var(--bad-ground)}
#profile td:nth-child(-n+5){white-space:nowrap}
#comparison tbody tr:nth-child(even){background:none}
#comparison tr.first td{border-top:2px solid var(--line)}
tr.deviates td:nth-child(5){color:var(--bad);font-weight:700}
tr.ok td:nth-child(5){color:var(--good);font-weight:600}
tr.missing td:nth-child(5){color:var(--muted);font-style:italic}
.verdict{font-weight:600;margin:10px 0 0}
.verdict.deviates{color:var(--bad)}.verdict.ok{color:var(--good)}
details{margin:10px 0 4px}
summary{cursor:pointer;color:var(--a)}
dl.definitions{display:grid;grid-template-columns:max-content 1fr;gap:4px 14px;margin:8px 0}
dl.definitions dt{color:var(--muted)}dl.definitions dd{margin:0}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(480px,1fr));gap:14px}
.split{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:18px;align-items:start}
figure.chart{margin:0;border:1px solid var(--line);border-radius:8px;padding:8px 8px 6px;
background:#fff}
figure.chart.wide{margin:8px 0 14px}
figure.chart svg{display:block;width:100%;height:auto}
figure.chart svg text{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif}
figcaption{font-size:13px;padding:4px 6px 0}
figcaption span{color:var(--muted);margin-right:8px}
figcaption .warning{color:var(--bad)}
div.no-values{border:1px dashed #cbd5e1;border-radius:8px;padding:14px;display:flex;
flex-direction:column;justify-content:center;gap:2px;min-height:80px;color:var(--muted)}
.no-values strong{color:var(--ink);font-weight:600}
ul.without-values{margin:12px 0 0;padding:0;list-style:none;display:flex;flex-wrap:wrap;gap:8px}
li.no-values{border:1px dashed #cbd5e1;border-radius:6px;padding:4px 10px;color:var(--muted)}
footer{color:var(--muted);font-size:12px;padding:4px 4px 0}
@media (max-width:900px){.split{grid-template-columns:1fr}.charts{grid-template-columns:1fr}}
";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::StatsBuilder;
    use crate::stats::report::{DatasetInfo, KvCapacityPoint};

    fn empty_report() -> StatsReport {
        let (overall, groups) = StatsBuilder::new(None).finish();
        StatsReport {
            report: "trajkit-stats".to_owned(),
            report_version: "1".to_owned(),
            trajkit_version: "0.0.0".to_owned(),
            percentile_definition: "nearest rank".to_owned(),
            dataset: DatasetInfo {
                path: "/tmp/<empty>&".to_owned(),
                name: "empty <script>alert(1)</script>".to_owned(),
                schema_version: "1.1.0".to_owned(),
                tokenizer: None,
                hash_block_size: None,
            },
            overall,
            group_by: Some("model".to_owned()),
            groups,
            kv_simulation: Some(KvSimulation {
                agents: 1,
                block_size: 16,
                interleaving: "round-robin".to_owned(),
                sessions: 0,
                requests: 0,
                requests_without_ids: 0,
                points: vec![
                    KvCapacityPoint {
                        capacity_tokens: Some(0),
                        capacity_blocks: Some(0),
                        blocks: 0,
                        hit_blocks: 0,
                        hit_rate: None,
                        evictions: 0,
                    },
                    KvCapacityPoint {
                        capacity_tokens: None,
                        capacity_blocks: None,
                        blocks: 0,
                        hit_blocks: 0,
                        hit_rate: None,
                        evictions: 0,
                    },
                ],
            }),
            profile: None,
            comparison: None,
        }
    }

    /// Every number written, in text or SVG attributes, is finite.
    fn assert_finite(html: &str) {
        for word in html.split(|c: char| !c.is_ascii_alphanumeric()) {
            assert!(
                !matches!(word, "NaN" | "nan" | "inf" | "Infinity" | "infinity"),
                "`{word}` in the HTML"
            );
        }
    }

    #[test]
    fn an_empty_dataset_renders_notes_and_no_charts() {
        let report = empty_report();
        let html = render(&report);
        assert_finite(&html);
        assert!(!html.contains("<svg"), "an empty dataset draws no chart");
        for distribution in &report.overall.distributions {
            assert!(
                html.contains(&format!("id=\"chart-{}-none\"", distribution.metric)),
                "{}",
                distribution.metric
            );
        }
        assert!(html.contains("id=\"chart-context-growth-none\""));
        assert!(html.contains("id=\"chart-kv-simulation-none\""));
        assert!(html.contains("empty &lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!html.contains("<script"));
        assert!(html.ends_with("</html>\n"));
    }

    #[test]
    fn the_same_report_renders_the_same_bytes() {
        let mut report = empty_report();
        report.overall.distributions[1].summary = Summary {
            count: 3,
            histogram: vec![
                HistogramBin {
                    lower: Some(Figure::integer(0)),
                    upper: Figure::integer(1),
                    count: 1,
                },
                HistogramBin {
                    lower: Some(Figure::integer(1024)),
                    upper: Figure::integer(2048),
                    count: 2,
                },
            ],
            p50: Some(Figure::integer(1500)),
            p95: Some(Figure::integer(2000)),
            ..report.overall.distributions[1].summary.clone()
        };
        let first = render(&report);
        let second = render(&report);
        assert_eq!(first, second);
        assert!(first.contains("<figure class=\"chart\" id=\"chart-input_tokens\">"));
        assert_finite(&first);
    }

    #[test]
    fn histogram_bins_sit_at_their_log2_edges() {
        let bin = |lower: Option<f64>, upper: f64| HistogramBin {
            lower: lower.map(Figure::real),
            upper: Figure::real(upper),
            count: 1,
        };
        let log2 = HistogramScale::Log2;
        assert_eq!(bin_span(log2, &bin(None, 1.0)), Some((-1, 0)));
        assert_eq!(bin_span(log2, &bin(Some(0.0), 1.0)), Some((0, 1)));
        assert_eq!(bin_span(log2, &bin(Some(1.0), 2.0)), Some((1, 2)));
        assert_eq!(bin_span(log2, &bin(Some(1024.0), 2048.0)), Some((11, 12)));
        assert_eq!(edge_label(log2, 11, "tokens"), "1K");
        assert_eq!(edge_label(log2, 18, "tokens"), "128K");
        assert_eq!(edge_label(log2, 11, "ms"), "1.0s");
        let linear = HistogramScale::Linear;
        assert_eq!(bin_span(linear, &bin(Some(0.95), 1.0)), Some((19, 20)));
        assert_eq!(edge_label(linear, 10, "ratio"), "50%");
        // A value inside its bin: 1500 lies in [1024, 2048), edges 11..12.
        let x = value_position(log2, 1500.0);
        assert!(x > 11.0 && x < 12.0, "{x}");
    }

    #[test]
    fn ticks_are_nice_and_cover_the_maximum() {
        assert_eq!(nice_ticks(3.0, true), vec![0.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!(nice_ticks(29.0, true), vec![0.0, 10.0, 20.0, 30.0]);
        assert_eq!(nice_ticks(0.0, true), vec![0.0, 1.0, 2.0]);
        assert_eq!(log_ticks(5_000.0, 200_000.0).first(), Some(&5_000.0));
        assert_eq!(compact_decimal(100_000.0), "100K");
        assert_eq!(compact_decimal(2_500_000.0), "2.5M");
    }
}
