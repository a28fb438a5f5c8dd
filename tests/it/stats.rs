//! `trajkit stats`: every format on edge-case datasets (empty, one turn, no timing, sizes-only),
//! determinism, grouping, profile, comparison, the cache simulation, and errors.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::{ingest_args, repo, run, run_ok, sample_inputs, temp_dir, trajkit};

/// Ingests `inputs` into `directory/name` with extra flags.
fn ingest(directory: &Path, name: &str, inputs: &[&Path], flags: &[&str]) -> PathBuf {
    let output = directory.join(name);
    let mut all_flags = vec!["--force", "-q"];
    all_flags.extend_from_slice(flags);
    run_ok(ingest_args(inputs, &output, &all_flags));
    output
}

fn stats_json(dataset: &Path, flags: &[&str]) -> Value {
    let mut args = vec![
        "stats".as_ref(),
        dataset.as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
    ];
    args.extend(flags.iter().map(|flag| std::ffi::OsStr::new(*flag)));
    let run = run_ok(args);
    assert!(
        !run.stdout.contains("NaN") && !run.stdout.contains("inf"),
        "{}",
        run.stdout
    );
    serde_json::from_str(&run.stdout).expect("the JSON report parses")
}

fn distribution<'a>(group: &'a Value, metric: &str) -> &'a Value {
    group["distributions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["metric"] == metric)
        .unwrap_or_else(|| panic!("no distribution `{metric}`"))
}

/// Every format renders without failing, and the JSON has no NaN.
fn every_format_renders(dataset: &Path) {
    for format in ["table", "json", "markdown", "html"] {
        let run = run_ok([
            "stats".as_ref(),
            dataset.as_os_str(),
            "--format".as_ref(),
            format.as_ref(),
            "--profile".as_ref(),
            "agentperf".as_ref(),
            "--kv-capacity".as_ref(),
            "1K,64K".as_ref(),
            "--agents".as_ref(),
            "2".as_ref(),
        ]);
        assert!(!run.stdout.is_empty(), "{format}");
        assert!(!run.stdout.contains("NaN"), "{format}: {}", run.stdout);
    }
}

#[test]
fn an_empty_dataset_reports_zero_counts_and_null_figures() {
    let directory = temp_dir();
    let empty = directory.path().join("empty.jsonl");
    fs_err::write(&empty, "").unwrap();
    let dataset = ingest(
        directory.path(),
        "empty.trajkit",
        &[&empty],
        &["--format", "openai-jsonl"],
    );
    every_format_renders(&dataset);
    let report = stats_json(&dataset, &["--by", "model"]);
    assert_eq!(report["overall"]["sessions"], 0);
    assert_eq!(report["overall"]["turns"], 0);
    let input = distribution(&report["overall"], "input_tokens");
    assert_eq!(input["count"], 0);
    for statistic in ["mean", "min", "p50", "p99", "max"] {
        assert!(input[statistic].is_null(), "{statistic}");
    }
    assert!(report["overall"]["kv_reuse"]["prefix_reuse_token_weighted"].is_null());
    assert_eq!(report["groups"].as_array().unwrap().len(), 0);
}

#[test]
fn one_turn_without_timing_gives_that_turn_as_every_percentile() {
    let directory = temp_dir();
    let one = directory.path().join("one.jsonl");
    fs_err::write(
        &one,
        r#"{"id": "only", "messages": [{"role": "user", "content": "Fix the failing test in src/app.py, please."}, {"role": "assistant", "content": "Done: I changed src/app.py."}]}"#,
    )
    .unwrap();
    let dataset = ingest(directory.path(), "one.trajkit", &[&one], &[]);
    every_format_renders(&dataset);
    let report = stats_json(&dataset, &["--by", "language", "--kv-capacity", "1K"]);
    let overall = &report["overall"];
    assert_eq!(
        (overall["sessions"].as_u64(), overall["turns"].as_u64()),
        (Some(1), Some(1))
    );
    let input = distribution(overall, "input_tokens");
    assert_eq!(input["count"], 1);
    let value = input["min"].as_u64().expect("an integer token count");
    assert!(value > 5);
    for statistic in [
        "p5", "p25", "p50", "p75", "p90", "p95", "p99", "max", "mean",
    ] {
        assert_eq!(input[statistic].as_u64(), Some(value), "{statistic}");
    }
    // No timing in the log: no latency or delay values, and the simulation falls back to
    // round-robin interleaving.
    assert_eq!(distribution(overall, "model_latency_ms")["count"], 0);
    assert_eq!(distribution(overall, "tool_delay_ms")["count"], 0);
    assert_eq!(report["kv_simulation"]["interleaving"], "round-robin");
    // The first turn of a session has nothing to reuse.
    assert_eq!(
        overall["kv_reuse"]["prefix_reuse_token_weighted"].as_f64(),
        Some(0.0)
    );
    assert_eq!(report["groups"][0]["key"], "Python");
}

#[test]
fn sizes_only_traces_report_reuse_from_their_own_block_ids() {
    let directory = temp_dir();
    let trace = repo().join("tests/fixtures/mooncake/conversation_head.jsonl");
    let dataset = ingest(directory.path(), "mooncake.trajkit", &[&trace], &[]);
    every_format_renders(&dataset);
    let report = stats_json(&dataset, &["--kv-capacity", "100K,10M"]);
    let overall = &report["overall"];
    assert_eq!(overall["sizes_only_turns"], overall["turns"]);
    // No text: no counted tokens, so no message-level reuse; the trace's 512-token ids give the
    // block-level figures, at 512 tokens only.
    assert_eq!(overall["kv_reuse"]["prefix_turns"], 0);
    let rates = overall["kv_reuse"]["block_hit_rates"].as_array().unwrap();
    assert_eq!(
        rates[0]["turns"], 0,
        "16-token blocks cannot be read from 512-token ids"
    );
    assert_eq!(rates[1]["turns"], 0);
    assert_eq!(rates[2]["turns"], overall["turns"]);
    assert!(rates[2]["hit_rate"].as_f64().is_some());
    let simulation = &report["kv_simulation"];
    assert_eq!(simulation["block_size"], 512);
    assert_eq!(simulation["interleaving"], "recorded-time");
    assert_eq!(simulation["requests_without_ids"], 0);
}

#[test]
fn reports_are_byte_identical_across_runs_and_thread_counts() {
    let directory = temp_dir();
    let dataset = ingest(directory.path(), "sample.trajkit", &[&sample_inputs()], &[]);
    let render = |threads: &str, format: &str| {
        let output = trajkit()
            .env("RAYON_NUM_THREADS", threads)
            .args(["stats".as_ref(), dataset.as_os_str()])
            .args([
                "--format",
                format,
                "--by",
                "model",
                "--kv-capacity",
                "10K,100K",
            ])
            .args(["--agents", "3", "--profile", "agentperf"])
            .output()
            .unwrap();
        assert!(output.status.success());
        output.stdout
    };
    for format in ["json", "table", "markdown", "html"] {
        assert_eq!(render("1", format), render("2", format), "{format}");
    }
}

#[test]
fn the_sample_dataset_table() {
    let directory = temp_dir();
    let dataset = ingest(directory.path(), "sample.trajkit", &[&sample_inputs()], &[]);
    let run = run_ok([
        "stats".as_ref(),
        dataset.as_os_str(),
        "--by".as_ref(),
        "session-length-bucket".as_ref(),
        "--kv-capacity".as_ref(),
        "10K,30K,100K".as_ref(),
        "--agents".as_ref(),
        "4".as_ref(),
        "--profile".as_ref(),
        "agentperf".as_ref(),
    ]);
    let text = run
        .stdout
        .replace(&dataset.display().to_string(), "[DATASET]");
    insta::assert_snapshot!(text);
}

#[test]
fn groups_partition_the_turns_and_sessions() {
    let directory = temp_dir();
    let inputs = [
        sample_inputs(),
        repo().join("tests/fixtures/openai_jsonl/tool_calls.jsonl"),
    ];
    let inputs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    let dataset = ingest(directory.path(), "mixed.trajkit", &inputs, &[]);
    for by in [
        "source",
        "model",
        "agent",
        "language",
        "session-length-bucket",
    ] {
        let report = stats_json(&dataset, &["--by", by]);
        assert_eq!(report["group_by"], by);
        let groups = report["groups"].as_array().unwrap();
        assert!(groups.len() >= 2, "{by}: {groups:?}");
        let turns: u64 = groups.iter().map(|g| g["turns"].as_u64().unwrap()).sum();
        assert_eq!(turns, report["overall"]["turns"].as_u64().unwrap(), "{by}");
        let input_count: u64 = groups
            .iter()
            .map(|g| distribution(g, "input_tokens")["count"].as_u64().unwrap())
            .sum();
        assert_eq!(
            input_count,
            distribution(&report["overall"], "input_tokens")["count"]
                .as_u64()
                .unwrap()
        );
        if by != "model" {
            // Session-level keys: each session is in exactly one group.
            let sessions: u64 = groups.iter().map(|g| g["sessions"].as_u64().unwrap()).sum();
            assert_eq!(
                sessions,
                report["overall"]["sessions"].as_u64().unwrap(),
                "{by}"
            );
        }
        let keys: Vec<&str> = groups.iter().map(|g| g["key"].as_str().unwrap()).collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(keys, sorted, "groups are ordered by key");
    }
}

#[test]
fn the_cache_curve_rises_with_capacity_up_to_the_unbounded_ceiling() {
    let directory = temp_dir();
    let dataset = ingest(directory.path(), "sample.trajkit", &[&sample_inputs()], &[]);
    let report = stats_json(
        &dataset,
        &["--kv-capacity", "2K,8K,32K,128K,1M", "--agents", "4"],
    );
    let points = report["kv_simulation"]["points"].as_array().unwrap();
    assert_eq!(points.len(), 6);
    assert!(points[5]["capacity_tokens"].is_null());
    let rates: Vec<f64> = points
        .iter()
        .map(|p| p["hit_rate"].as_f64().unwrap())
        .collect();
    for pair in rates.windows(2) {
        assert!(pair[0] <= pair[1] + 1e-12, "{rates:?}");
    }
    assert!(
        rates[0] < rates[5],
        "a 2K-token cache cannot hold 4 agents' prefixes: {rates:?}"
    );
    let requests = report["kv_simulation"]["requests"].as_u64().unwrap();
    assert_eq!(requests, report["overall"]["turns"].as_u64().unwrap());
    // The sample's sessions carry request times.
    assert_eq!(report["kv_simulation"]["interleaving"], "recorded-time");
}

#[test]
fn profile_deviations_are_flagged() {
    let directory = temp_dir();
    let dataset = ingest(directory.path(), "sample.trajkit", &[&sample_inputs()], &[]);
    let report = stats_json(&dataset, &["--profile", "agentperf"]);
    let profile = &report["profile"];
    assert_eq!(profile["profile"], "agentperf");
    let mean_input = profile["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["metric"] == "input_tokens" && row["statistic"] == "mean")
        .unwrap();
    // The sample's mean input is ~7K tokens, far from AgentPerf's ~27K.
    assert_eq!(mean_input["status"], "deviates", "{mean_input}");
    assert_eq!(
        mean_input["dataset"],
        distribution(&report["overall"], "input_tokens")["mean"]
    );
    let deviations = profile["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["status"] == "deviates")
        .count();
    assert_eq!(profile["deviations"].as_u64(), Some(deviations as u64));

    // A profile file of the same shape.
    let file = directory.path().join("loose.json");
    fs_err::write(
        &file,
        r#"{"name": "loose", "source": "test", "targets": [{"metric": "input_tokens", "statistic": "mean", "about": 7000, "tolerance": 0.5, "note": "n"}]}"#,
    )
    .unwrap();
    let report = stats_json(&dataset, &["--profile", file.to_str().unwrap()]);
    assert_eq!(report["profile"]["checks"][0]["status"], "ok");
    assert_eq!(report["profile"]["deviations"], 0);
}

#[test]
fn bad_profiles_and_missing_datasets_exit_2_with_the_reason() {
    let directory = temp_dir();
    let dataset = ingest(directory.path(), "sample.trajkit", &[&sample_inputs()], &[]);
    let file = directory.path().join("bad.json");
    fs_err::write(
        &file,
        r#"{"name": "bad", "source": "", "targets": [], "oops": 1}"#,
    )
    .unwrap();
    let result = run([
        "stats".as_ref(),
        dataset.as_os_str(),
        "--profile".as_ref(),
        file.as_os_str(),
    ]);
    assert_eq!(result.code, Some(2));
    assert!(
        result.stderr.contains("unknown field `oops`"),
        "{}",
        result.stderr
    );
    assert!(result.stderr.contains("bad.json"), "{}", result.stderr);
    let result = run(["stats", "--profile", "nonesuch", dataset.to_str().unwrap()]);
    assert_eq!(result.code, Some(2));
    assert!(
        result.stderr.contains("no profile `nonesuch`"),
        "{}",
        result.stderr
    );
    let missing = directory.path().join("missing.trajkit");
    let result = run(["stats".as_ref(), missing.as_os_str()]);
    assert_eq!(result.code, Some(2));
    assert!(
        result.stderr.contains("missing.trajkit"),
        "{}",
        result.stderr
    );
    let result = run([
        "stats".as_ref(),
        dataset.as_os_str(),
        "--kv-capacity".as_ref(),
        "lots".as_ref(),
    ]);
    assert_eq!(result.code, Some(2));
    assert!(
        result.stderr.contains("not a token count"),
        "{}",
        result.stderr
    );
}

#[test]
fn compare_puts_two_datasets_side_by_side() {
    let directory = temp_dir();
    let sample = ingest(directory.path(), "sample.trajkit", &[&sample_inputs()], &[]);
    let chats = repo().join("tests/fixtures/openai_jsonl/tool_calls.jsonl");
    let other = ingest(directory.path(), "chats.trajkit", &[&chats], &[]);
    let report = stats_json(
        &sample,
        &["--compare", other.to_str().unwrap(), "--kv-capacity", "10K"],
    );
    let comparison = &report["comparison"];
    assert_eq!(comparison["dataset"]["name"], "chats.trajkit");
    let deltas = comparison["deltas"].as_array().unwrap();
    let turns = deltas
        .iter()
        .find(|d| d["metric"] == "input_tokens" && d["statistic"] == "count")
        .unwrap();
    let a = turns["a"].as_u64().unwrap();
    let b = turns["b"].as_u64().unwrap();
    assert_eq!(
        a,
        distribution(&report["overall"], "input_tokens")["count"]
            .as_u64()
            .unwrap()
    );
    assert_eq!(
        b,
        distribution(&comparison["overall"], "input_tokens")["count"]
            .as_u64()
            .unwrap()
    );
    assert_eq!(
        turns["difference"].as_i64().unwrap(),
        b.cast_signed() - a.cast_signed()
    );
    let relative = (f64::from(u32::try_from(b).unwrap()) - f64::from(u32::try_from(a).unwrap()))
        / f64::from(u32::try_from(a).unwrap());
    assert!((turns["relative"].as_f64().unwrap() - relative).abs() < 1e-12);
    assert!(
        deltas
            .iter()
            .any(|d| d["metric"] == "kv_simulation_hit_rate_unbounded"),
        "simulated hit rates are compared too"
    );
    let table = run_ok([
        "stats".as_ref(),
        sample.as_os_str(),
        "--compare".as_ref(),
        other.as_os_str(),
    ]);
    assert!(
        table.stdout.contains("Compared with chats.trajkit"),
        "{}",
        table.stdout
    );
}

#[test]
fn output_files_are_written_whole_and_stdout_stays_empty() {
    let directory = temp_dir();
    let dataset = ingest(directory.path(), "sample.trajkit", &[&sample_inputs()], &[]);
    let file = directory.path().join("report.md");
    let result = run_ok([
        "stats".as_ref(),
        dataset.as_os_str(),
        "--format".as_ref(),
        "markdown".as_ref(),
        "-o".as_ref(),
        file.as_os_str(),
    ]);
    assert!(result.stdout.is_empty());
    let text = fs_err::read_to_string(&file).unwrap();
    assert!(
        text.starts_with("# trajkit stats: sample.trajkit"),
        "{text}"
    );
    assert!(text.contains("| input tokens per turn |"), "{text}");
    let leftovers: Vec<_> = fs_err::read_dir(directory.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| {
            Path::new(name)
                .extension()
                .is_some_and(|extension| extension.eq_ignore_ascii_case("tmp"))
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
