//! Every figure of `trajkit stats` on the real corpora equals an independent computation: DuckDB
//! and plain Python (`tests/python/stats_check.py`) recount each distribution, histogram,
//! context-growth bucket and KV-reuse figure from the dataset's Parquet files, without trajkit's
//! Rust code, and the report must agree figure by figure (means within a stated tolerance).
//!
//! Three datasets cover what the figures depend on: the mini-swe-agent corpus (computed hash ids,
//! provider-reported cache figures), the whole real-log folder (every format at once, sizes-only
//! Mooncake and Weka traces with their own 512- and 64-token block ids, turns without timing),
//! and the Weka Claude Code corpus (sizes-only, 64-token blocks, recorded timing).

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::util::{corpus_dataset, ingest_args, python, repo, run_ok, shared, temp_dir};

/// The outcome of `stats_check.py DATASET REPORT`: exit code and everything it printed.
struct Check {
    code: Option<i32>,
    output: String,
}

fn stats_check(dataset: &Path, report: &Path) -> Check {
    let output = Command::new(python())
        .arg(repo().join("tests/python/stats_check.py"))
        .arg(dataset)
        .arg(report)
        .output()
        .expect("python runs");
    Check {
        code: output.status.code(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

/// Writes `trajkit stats DATASET --format json --by BY` to `report` and returns it parsed.
fn write_report(dataset: &Path, by: &str, report: &Path) -> Value {
    run_ok([
        "stats".as_ref(),
        dataset.as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
        "--by".as_ref(),
        by.as_ref(),
        "-o".as_ref(),
        report.as_os_str(),
    ]);
    serde_json::from_slice(&fs_err::read(report).unwrap()).unwrap()
}

/// Runs `trajkit stats --by BY` on the dataset and the independent check on its report, which
/// must pass; returns the report.
fn assert_figures_match(dataset: &Path, by: &str) -> Value {
    let directory = temp_dir();
    let report_path = directory.path().join("report.json");
    let report = write_report(dataset, by, &report_path);
    let check = stats_check(dataset, &report_path);
    assert_eq!(
        check.code,
        Some(0),
        "trajkit stats --by {by} on `{}` disagrees with DuckDB/Python:\n{}",
        dataset.display(),
        check.output
    );
    // The check saw the dataset's turns (not an empty or foreign report).
    let turns = report["overall"]["turns"].as_u64().unwrap();
    assert!(turns > 0);
    assert!(
        check
            .output
            .contains(&format!("stats_check: {turns} turns")),
        "{}",
        check.output
    );
    eprintln!("{}", check.output.trim_end());
    report
}

fn ingested(inputs: &Path, name: &str, directory: &Path) -> std::path::PathBuf {
    let dataset = directory.join(name);
    run_ok(ingest_args(&[inputs], &dataset, &["--quiet"]));
    dataset
}

#[test]
fn mini_swe_agent_corpus_figures_equal_duckdb_and_reuse_bounds_the_provider_cache() {
    let dataset = corpus_dataset();
    let report = assert_figures_match(dataset, "source");
    // Issue 4: an unbounded per-session cache can serve at least what the provider did.
    let kv = &report["overall"]["kv_reuse"];
    let reuse = kv["prefix_reuse_token_weighted"].as_f64().unwrap();
    let cached = kv["provider_cached_share"].as_f64().unwrap();
    eprintln!("prefix_reuse_token_weighted {reuse}, provider_cached_share {cached}");
    assert!(
        kv["prefix_turns"].as_u64().unwrap() > 1000
            && kv["provider_cached_turns"].as_u64().unwrap() > 1000,
        "{kv}"
    );
    assert!(
        reuse >= cached,
        "unbounded-cache reuse {reuse} is below the provider's cached share {cached}"
    );
}

#[test]
fn every_real_log_format_at_once_figures_equal_duckdb() {
    let directory = temp_dir();
    let dataset = ingested(&shared("data/real"), "real.trajkit", directory.path());
    let report = assert_figures_match(&dataset, "source");
    // The folder exercises what it is here for: several formats, sizes-only turns with their
    // own block sizes, and turns without timing.
    let overall = &report["overall"];
    assert!(report["groups"].as_array().unwrap().len() >= 8, "{report}");
    assert!(overall["sizes_only_turns"].as_u64().unwrap() > 0);
    let latency = overall["distributions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|distribution| distribution["metric"] == "model_latency_ms")
        .unwrap();
    let timed = latency["count"].as_u64().unwrap();
    assert!(timed > 0 && timed < overall["turns"].as_u64().unwrap());
    for rate in overall["kv_reuse"]["block_hit_rates"].as_array().unwrap() {
        assert!(rate["turns"].as_u64().unwrap() > 0, "{rate}");
    }
    assert_figures_match(&dataset, "session-length-bucket");
}

/// Takes about 9 s in a debug build (ingest 6 s, stats 0.5 s, the check 3 s: 10 million 64-token
/// blocks rebuilt in Python).
#[test]
fn weka_claude_code_corpus_figures_equal_duckdb() {
    let directory = temp_dir();
    let dataset = ingested(
        &shared("data/corpus/weka-claude-code"),
        "weka.trajkit",
        directory.path(),
    );
    let report = assert_figures_match(&dataset, "source");
    let overall = &report["overall"];
    assert_eq!(
        overall["sizes_only_turns"], overall["turns"],
        "the Weka corpus is sizes-only"
    );
    let rates = overall["kv_reuse"]["block_hit_rates"].as_array().unwrap();
    assert_eq!(rates[0]["turns"], 0, "64-token ids cannot be read at 16");
    assert!(rates[1]["hit_blocks"].as_u64().unwrap() > 0);
}

/// The check can fail: one percentile moved by one token is found and named.
#[test]
fn the_check_finds_a_percentile_that_is_off_by_one() {
    let directory = temp_dir();
    let dataset = corpus_dataset();
    let report_path = directory.path().join("report.json");
    let mut report = write_report(dataset, "source", &report_path);
    let input = report["overall"]["distributions"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|distribution| distribution["metric"] == "input_tokens")
        .unwrap();
    input["p90"] = Value::from(input["p90"].as_u64().unwrap() + 1);
    fs_err::write(&report_path, serde_json::to_vec(&report).unwrap()).unwrap();
    let check = stats_check(dataset, &report_path);
    assert_eq!(check.code, Some(1), "{}", check.output);
    assert!(
        check.output.contains("MISMATCH overall input_tokens p90"),
        "{}",
        check.output
    );
}
