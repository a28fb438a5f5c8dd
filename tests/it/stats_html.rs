//! `trajkit stats --format html`: the report is one self-contained file whose charts a browser
//! actually draws. Headless Chromium (Debian's `chromium`, installed by `scripts/setup`) loads
//! the file and dumps the DOM it built; every chart the report's JSON calls for must be there as
//! an `<svg>` with its bars, lines and points, in dataset A's colour and, with `--compare`, B's.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{ingest_args, run_ok, sample_inputs, temp_dir};

/// Fill and stroke colours the report draws datasets A and B with (as plotters writes them).
const COLOUR_A: &str = "#2563EB";
const COLOUR_B: &str = "#EA580C";

/// Name of the compared dataset: every character that needs escaping in HTML.
const AWKWARD_NAME: &str = "two <django> & \"friends\" 'quoted'";

const CHROMIUM: &str = "/usr/bin/chromium";
/// Headless Chromium takes a few seconds to start; a hung one must not hang the test run.
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(120);

/// The sample dataset (A) and two of its sessions under an awkward name (B).
fn datasets(directory: &Path) -> (PathBuf, PathBuf) {
    let a = directory.join("a.trajkit");
    run_ok(ingest_args(&[&sample_inputs()], &a, &["--force", "-q"]));
    let b = directory.join("b.trajkit");
    let inputs = [
        sample_inputs().join("django__django-11179.traj.json"),
        sample_inputs().join("django__django-9296.traj.json"),
    ];
    let inputs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    run_ok(ingest_args(
        &inputs,
        &b,
        &["--force", "-q", "--name", AWKWARD_NAME],
    ));
    (a, b)
}

/// The options every report here is written with, after the dataset.
fn report_options(other: &Path) -> Vec<String> {
    [
        "--kv-capacity",
        "10K,100K",
        "--agents",
        "4",
        "--profile",
        "agentperf",
        "--by",
        "model",
        "--compare",
    ]
    .iter()
    .map(|&argument| argument.to_owned())
    .chain([other.display().to_string()])
    .collect()
}

fn stats(dataset: &Path, format: &str, output: &Path, options: &[String]) {
    let mut args = vec![
        "stats".to_owned(),
        dataset.display().to_string(),
        "--format".to_owned(),
        format.to_owned(),
        "-o".to_owned(),
        output.display().to_string(),
    ];
    args.extend_from_slice(options);
    run_ok(args);
}

/// The DOM headless Chromium builds from `page`, serialized (`--dump-dom`).
fn rendered_dom(page: &Path) -> String {
    assert!(
        Path::new(CHROMIUM).exists(),
        "`{CHROMIUM}` is missing: run `scripts/setup` (it installs Debian's chromium package)"
    );
    let profile = temp_dir();
    let output = temp_dir();
    let dom_path = output.path().join("dom.html");
    let errors_path = output.path().join("chromium.log");
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(fs_err::File::create(&dom_path).unwrap().into_parts().0)
        .stderr(fs_err::File::create(&errors_path).unwrap().into_parts().0)
        .spawn()
        .expect("chromium starts");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > CHROMIUM_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium did not finish within {CHROMIUM_TIMEOUT:?}:\n{}",
                fs_err::read_to_string(&errors_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let dom = fs_err::read_to_string(&dom_path).unwrap();
    assert!(
        status.success() && dom.contains("</html>"),
        "chromium failed ({status}):\n{}",
        fs_err::read_to_string(&errors_path).unwrap_or_default()
    );
    dom
}

/// The `<figure>` element with this id in the DOM, or `None`.
fn figure<'a>(dom: &'a str, id: &str) -> Option<&'a str> {
    let marker = format!("id=\"{id}\"");
    let at = dom.find(&marker)?;
    let start = dom[..at].rfind('<')?;
    if !dom[start..].starts_with("<figure") {
        return None;
    }
    let end = start + dom[start..].find("</figure>")?;
    Some(&dom[start..end])
}

/// Number of `<tag …>` elements in `fragment` whose opening tag carries `attribute`.
fn count_elements(fragment: &str, tag: &str, attribute: &str) -> usize {
    fragment
        .split(&format!("<{tag} "))
        .skip(1)
        .filter(|rest| {
            let opening = &rest[..rest.find('>').unwrap_or(rest.len())];
            opening.contains(attribute)
        })
        .count()
}

/// The opening tags of the `<tag …>` elements in `fragment` that carry `attribute`.
fn opening_tags<'a>(fragment: &'a str, tag: &str, attribute: &str) -> Vec<&'a str> {
    fragment
        .split(&format!("<{tag} "))
        .skip(1)
        .map(|rest| &rest[..rest.find('>').unwrap_or(rest.len())])
        .filter(|opening| opening.contains(attribute))
        .collect()
}

/// The value of `name="…"` in an opening tag.
fn attribute<'a>(opening: &'a str, name: &str) -> &'a str {
    let start = opening
        .find(&format!(" {name}=\""))
        .map(|at| at + name.len() + 3)
        .or_else(|| {
            opening
                .starts_with(&format!("{name}=\""))
                .then_some(name.len() + 2)
        })
        .unwrap_or_else(|| panic!("no `{name}` in `{opening}`"));
    &opening[start..start + opening[start..].find('"').unwrap()]
}

/// The centres of the filled circles in `colour`: the data points of a line chart.
fn points_of(fragment: &str, colour: &str) -> Vec<(i64, i64)> {
    opening_tags(fragment, "circle", &format!("fill=\"{colour}\""))
        .into_iter()
        .map(|opening| {
            (
                attribute(opening, "cx").parse().unwrap(),
                attribute(opening, "cy").parse().unwrap(),
            )
        })
        .collect()
}

/// Whether one polyline in `colour` passes through every point of `points`, in order: the
/// line of a series, not a dash or a legend sample.
fn line_through(fragment: &str, colour: &str, points: &[(i64, i64)]) -> bool {
    opening_tags(fragment, "polyline", &format!("stroke=\"{colour}\""))
        .into_iter()
        .any(|opening| {
            let vertices: Vec<(i64, i64)> = attribute(opening, "points")
                .split_whitespace()
                .map(|pair| {
                    let (x, y) = pair.split_once(',').unwrap();
                    (x.parse().unwrap(), y.parse().unwrap())
                })
                .collect();
            vertices == points
        })
}

/// The trimmed contents of the `<text>` elements in `fragment`.
fn texts(fragment: &str) -> Vec<&str> {
    fragment
        .split("<text ")
        .skip(1)
        .filter_map(|rest| {
            let content = &rest[rest.find('>')? + 1..];
            Some(content[..content.find("</text>")?].trim())
        })
        .collect()
}

/// The figure with `id` is in the DOM and holds an `<svg>`; returns the figure.
fn chart<'a>(dom: &'a str, id: &str) -> &'a str {
    let figure = figure(dom, id).unwrap_or_else(|| panic!("no `<figure id=\"{id}\">` in the DOM"));
    assert!(
        figure.contains("<svg"),
        "`{id}` has no <svg> in the DOM:\n{figure}"
    );
    figure
}

/// Histogram bins holding values.
fn bins(distribution: &Value) -> usize {
    distribution["histogram"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|bin| bin["count"].as_u64().unwrap() > 0)
        .count()
}

fn distribution<'a>(group: &'a Value, metric: &str) -> &'a Value {
    group["distributions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|distribution| distribution["metric"] == metric)
        .unwrap()
}

#[test]
fn every_chart_renders_in_headless_chromium() {
    let directory = temp_dir();
    let (a, b) = datasets(directory.path());
    let options = report_options(&b);
    let json_path = directory.path().join("report.json");
    stats(&a, "json", &json_path, &options);
    let report: Value = serde_json::from_str(&fs_err::read_to_string(&json_path).unwrap()).unwrap();
    let html_path = directory.path().join("report.html");
    stats(&a, "html", &html_path, &options);
    let html = fs_err::read_to_string(&html_path).unwrap();
    check_self_contained_and_escaped(&html);

    let dom = rendered_dom(&html_path);
    assert!(
        dom.contains("two &lt;django&gt; &amp; \"friends\" 'quoted'"),
        "the browser did not read the escaped name back as text"
    );
    check_histograms(&dom, &report);
    check_context_growth(&dom, &report);
    check_block_hit_rates(&dom, &report);
    check_simulation(&dom, &report);

    // Tables: profile deviations highlighted, groups and comparison present.
    let deviations = usize::try_from(report["profile"]["deviations"].as_u64().unwrap()).unwrap();
    assert!(deviations > 0, "the sample deviates from agentperf");
    assert_eq!(dom.matches("<tr class=\"deviates\">").count(), deviations);
    assert!(dom.contains("id=\"groups\""));
    assert!(dom.contains("google/gemini-3-pro-preview"));
    assert!(dom.contains("id=\"comparison\""));
}

/// Nothing to fetch, no script; text from the datasets escaped.
fn check_self_contained_and_escaped(html: &str) {
    for forbidden in [
        "<script", "<link", "<img", "<iframe", "src=", "url(", "@import", "http",
    ] {
        let allowed_namespace = html.matches("http://www.w3.org/2000/svg").count();
        if forbidden == "http" {
            assert_eq!(
                html.matches("http").count(),
                allowed_namespace,
                "the report refers to a URL besides the SVG namespace"
            );
        } else {
            assert!(
                !html.contains(forbidden),
                "the report contains `{forbidden}`"
            );
        }
    }
    // Text from the datasets is escaped.
    assert!(!html.contains("<django>"), "an unescaped dataset name");
    assert!(html.contains("two &lt;django&gt; &amp; &quot;friends&quot; &#x27;quoted&#x27;"));
}

/// A histogram per distribution with values in A or B, with one bar per non-empty bin of
/// each and an A/B legend; a note for each distribution without values.
fn check_histograms(dom: &str, report: &Value) {
    let overall = &report["overall"];
    let other = &report["comparison"]["overall"];
    let mut charts = 0;
    for distribution_a in overall["distributions"].as_array().unwrap() {
        let metric = distribution_a["metric"].as_str().unwrap();
        let distribution_b = distribution(other, metric);
        let id = format!("chart-{metric}");
        if distribution_a["count"] == 0 && distribution_b["count"] == 0 {
            assert!(figure(dom, &id).is_none(), "`{id}` charts no values");
            assert!(
                dom.contains(&format!("id=\"{id}-none\"")),
                "`{metric}` has no values and no note saying so"
            );
            continue;
        }
        let figure = chart(dom, &id);
        let fill_a = format!("fill=\"{COLOUR_A}\"");
        let fill_b = format!("fill=\"{COLOUR_B}\"");
        // One bar per non-empty bin for each dataset (the legend adds one swatch each).
        let bars_a = count_elements(figure, "rect", &fill_a);
        let bars_b = count_elements(figure, "rect", &fill_b);
        assert!(
            bars_a > bins(distribution_a) && bars_b > bins(distribution_b),
            "`{id}`: {bars_a} bars of A for {} bins, {bars_b} of B for {} bins",
            bins(distribution_a),
            bins(distribution_b)
        );
        let labels = texts(figure);
        assert!(
            labels.contains(&"A") && labels.contains(&"B"),
            "`{id}` has no A/B legend: {labels:?}"
        );
        charts += 1;
    }
    assert!(charts >= 9, "only {charts} histograms");
}

/// Context growth: per dataset, a median point per bucket with turns, one line through them,
/// and the p90 points (hollow circles).
fn check_context_growth(dom: &str, report: &Value) {
    let growth = chart(dom, "chart-context-growth");
    for (colour, group) in [
        (COLOUR_A, &report["overall"]),
        (COLOUR_B, &report["comparison"]["overall"]),
    ] {
        let buckets = group["context_growth"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|bucket| !bucket["median"].is_null())
            .count();
        assert!(buckets >= 3, "{buckets} buckets");
        let medians = points_of(growth, colour);
        assert_eq!(medians.len(), buckets, "median points in {colour}");
        assert!(
            line_through(growth, colour, &medians),
            "no median line through the points in {colour}"
        );
        let p90 = count_elements(
            growth,
            "circle",
            &format!("fill=\"none\" stroke=\"{colour}\""),
        );
        assert_eq!(p90, buckets, "p90 points in {colour}");
    }
}

/// Block hit rates: one bar per block size and dataset, labelled with its rate.
fn check_block_hit_rates(dom: &str, report: &Value) {
    let (overall, other) = (&report["overall"], &report["comparison"]["overall"]);
    let blocks = chart(dom, "chart-block-hit-rates");
    let rates = |group: &Value| {
        group["kv_reuse"]["block_hit_rates"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|rate| !rate["hit_rate"].is_null())
            .count()
    };
    assert_eq!(rates(overall), 3);
    assert_eq!(
        count_elements(blocks, "rect", &format!("fill=\"{COLOUR_A}\"")),
        rates(overall) + 1,
        "block hit rates of A (bars and legend swatch)"
    );
    assert_eq!(
        count_elements(blocks, "rect", &format!("fill=\"{COLOUR_B}\"")),
        rates(other) + 1,
        "block hit rates of B (bars and legend swatch)"
    );
    let label = format!(
        "{:.1}%",
        overall["kv_reuse"]["block_hit_rates"][1]["hit_rate"]
            .as_f64()
            .unwrap()
            * 100.0
    );
    assert!(
        texts(blocks).contains(&label.as_str()),
        "no bar label {label}"
    );
}

/// The simulation: one point per bounded capacity and dataset, a curve, a ceiling.
fn check_simulation(dom: &str, report: &Value) {
    let simulation = chart(dom, "chart-kv-simulation");
    for (colour, simulation_json) in [
        (COLOUR_A, &report["kv_simulation"]),
        (COLOUR_B, &report["comparison"]["kv_simulation"]),
    ] {
        let bounded = simulation_json["points"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|point| !point["capacity_tokens"].is_null())
            .count();
        assert_eq!(bounded, 2);
        let points = points_of(simulation, colour);
        assert_eq!(points.len(), bounded, "simulation points in {colour}");
        assert!(
            line_through(simulation, colour, &points),
            "no hit-rate curve through the points in {colour}"
        );
        // The ceiling: a dashed line, many segments across the chart.
        assert!(
            count_elements(
                simulation,
                "polyline",
                &format!("stroke=\"{colour}\" stroke-width=\"1\"")
            ) >= 10,
            "no dashed ceiling in {colour}"
        );
    }
    assert!(
        texts(simulation)
            .iter()
            .any(|text| text.starts_with("B: unbounded cache")),
        "no legend for B's ceiling"
    );
}

/// No number in the report, in its text or its SVG attributes, is NaN or infinite.
fn assert_finite(html: &str) {
    for word in html.split(|c: char| !c.is_ascii_alphanumeric()) {
        assert!(
            !matches!(word, "NaN" | "nan" | "inf" | "Infinity" | "infinity"),
            "`{word}` in the report"
        );
    }
}

#[test]
fn the_report_is_byte_identical_across_runs_and_an_empty_dataset_renders() {
    let directory = temp_dir();
    let (a, b) = datasets(directory.path());
    let options = report_options(&b);
    let first = directory.path().join("first.html");
    let second = directory.path().join("second.html");
    stats(&a, "html", &first, &options);
    stats(&a, "html", &second, &options);
    let first = fs_err::read(&first).unwrap();
    assert!(first.len() > 50_000, "{} bytes", first.len());
    assert!(first == fs_err::read(&second).unwrap(), "two runs differ");
    assert_finite(&String::from_utf8(first).unwrap());

    let empty_input = directory.path().join("no-logs");
    fs_err::create_dir(&empty_input).unwrap();
    let empty = directory.path().join("empty.trajkit");
    run_ok(ingest_args(&[&empty_input], &empty, &["--force", "-q"]));
    let page = directory.path().join("empty.html");
    stats(
        &empty,
        "html",
        &page,
        &[
            "--kv-capacity",
            "10K",
            "--profile",
            "agentperf",
            "--by",
            "model",
        ]
        .map(str::to_owned),
    );
    let html = fs_err::read_to_string(&page).unwrap();
    assert!(
        !html.contains("<svg"),
        "an empty dataset has nothing to chart"
    );
    assert_finite(&html);
    for id in [
        "chart-input_tokens-none",
        "chart-context-growth-none",
        "chart-block-hit-rates-none",
        "chart-kv-simulation-none",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "no `{id}` note");
    }
    assert!(html.ends_with("</html>\n"));
}
