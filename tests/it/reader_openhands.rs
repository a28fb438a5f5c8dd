//! Reader tests for the `openhands` format: the real Multi-SWE-bench output against STATS.txt,
//! fixture snapshots, completion logs beside an output file, and end-to-end ingests.

use std::collections::BTreeMap;

use trajkit::dataset::Dataset;
use trajkit::formats::{SourceFormat, SourceUnit};
use trajkit::schema::{Exactness, Trajectory};

use crate::util::{ingest_args, repo, run_ok, shared, temp_dir};

const REAL: &str = "data/real/openhands/multi_swe_bench_output.jsonl";

fn read_file(path: &std::path::Path, shown_as: &str) -> Vec<Result<Trajectory, String>> {
    let data = fs_err::read(path).unwrap();
    assert_eq!(
        SourceFormat::detect(path, &data[..data.len().min(64 << 10)]),
        Some(SourceFormat::OpenHands)
    );
    SourceFormat::OpenHands
        .reader(SourceUnit {
            path: shown_as.to_owned(),
            data,
            first_line: 1,
        })
        .map(|result| result.map_err(|error| error.to_string()))
        .collect()
}

/// `name[n=… mean=… p50=… p90=… max=…]` of a STATS.txt line, as (n, mean, max).
fn figures(line: &str, name: &str) -> (usize, u64, u64) {
    let pattern = regex::Regex::new(&format!(
        r"{name}\[n=(\d+) mean=(\d+) p50=\d+ p90=\d+ max=(\d+)\]"
    ))
    .unwrap();
    let captures = pattern
        .captures(line)
        .unwrap_or_else(|| panic!("no {name} in {line}"));
    (
        captures[1].parse().unwrap(),
        captures[2].parse().unwrap(),
        captures[3].parse().unwrap(),
    )
}

#[expect(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "token counts and seconds are small"
)]
fn summary(values: &[f64]) -> (usize, u64, u64) {
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let max = values.iter().copied().fold(0.0, f64::max);
    (values.len(), mean.round() as u64, max.round() as u64)
}

#[expect(clippy::cast_precision_loss, reason = "token counts are small")]
fn counts(trajectory: &Trajectory, pick: fn(&trajkit::schema::Turn) -> Option<u64>) -> Vec<f64> {
    trajectory
        .turns
        .iter()
        .filter_map(|turn| pick(turn).map(|n| n as f64))
        .collect()
}

/// STATS.txt, "OpenHands output.jsonl":
/// `ponylang__ponyc-4595: history_events=49 llm_calls=23 prompt_tokens[n=23 mean=24572 … max=33459]
/// completion_tokens[n=23 mean=111 … max=270] cache_read[n=23 mean=0 … max=0]
/// latency_s[n=23 mean=3 … max=6] model=openai/openrouter-llama-4-maverick` (and 4593: 33 calls,
/// 34 latencies; 4588: 49 calls, 50 latencies). The extra latency is a response whose mocked tool
/// call failed validation: no usage, no action, so no turn; the reader keeps it in the session
/// metadata, and the latency figures are checked over turns plus those entries.
#[test]
fn real_output_matches_stats() {
    let stats = fs_err::read_to_string(shared("data/real/STATS.txt")).unwrap();
    let section: Vec<&str> = stats
        .split("## OpenHands output.jsonl\n")
        .nth(1)
        .unwrap()
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .collect();
    assert_eq!(section.len(), 3);
    let sessions = real_sessions();
    let llm_calls = regex::Regex::new(r"llm_calls=(\d+)").unwrap();
    for line in section {
        let (id, rest) = line.split_once(": ").unwrap();
        let trajectory = &sessions[id];
        let calls: usize = llm_calls.captures(rest).unwrap()[1].parse().unwrap();
        assert_eq!(trajectory.turns.len(), calls, "{id}");
        assert_eq!(
            summary(&counts(trajectory, |t| t.usage.input)),
            figures(rest, "prompt_tokens"),
            "{id}"
        );
        assert_eq!(
            summary(&counts(trajectory, |t| t.usage.output)),
            figures(rest, "completion_tokens"),
            "{id}"
        );
        assert_eq!(
            summary(&counts(trajectory, |t| t.usage.cached)),
            figures(rest, "cache_read"),
            "{id}"
        );
        let metadata: serde_json::Value =
            serde_json::from_str(trajectory.session.metadata_json.as_deref().unwrap()).unwrap();
        let mut latencies: Vec<f64> = trajectory
            .turns
            .iter()
            .filter_map(|turn| turn.model_latency_ms.map(|ms| ms / 1000.0))
            .collect();
        assert_eq!(latencies.len(), calls, "{id}: every turn has its latency");
        let failed: Vec<f64> = metadata
            .get("latencies_without_usage")
            .and_then(serde_json::Value::as_array)
            .map(|entries| {
                entries
                    .iter()
                    .map(|e| e["latency"].as_f64().unwrap())
                    .collect()
            })
            .unwrap_or_default();
        latencies.extend(&failed);
        assert_eq!(summary(&latencies), figures(rest, "latency_s"), "{id}");
        assert!(rest.ends_with("model=openai/openrouter-llama-4-maverick"));
        assert_eq!(
            trajectory.session.model.as_deref(),
            Some("openai/openrouter-llama-4-maverick")
        );
        // Session totals are the sums of the calls.
        let prompt: u64 = trajectory.turns.iter().filter_map(|t| t.usage.input).sum();
        assert_eq!(trajectory.session.totals.input, Some(prompt), "{id}");
        assert_eq!(metadata["timestamp_utc_offset_s"], 28800, "{id}");
        assert!(
            trajectory
                .turns
                .iter()
                .all(|t| t.exactness == Exactness::Reconstructed && t.tool_set == Some(0))
        );
    }
}

fn real_sessions() -> BTreeMap<String, Trajectory> {
    let sessions: BTreeMap<String, Trajectory> = read_file(&shared(REAL), REAL)
        .into_iter()
        .map(|result| {
            let trajectory = result.unwrap();
            (trajectory.session.session_id.clone(), trajectory)
        })
        .collect();
    assert_eq!(sessions.len(), 3);
    sessions
}

/// Session facts, times, the rebuilt conversation and the failed response of the real file.
#[test]
fn real_output_details() {
    let sessions = real_sessions();
    let first = &sessions["ponylang__ponyc-4595"];
    assert_eq!(
        first.session.agent.as_deref(),
        Some("openhands/CodeActAgent")
    );
    assert_eq!(first.session.agent_version.as_deref(), Some("0.35.0"));
    assert_eq!(first.session.repository.as_deref(), Some("ponylang/ponyc"));
    assert_eq!(first.session.exit_status.as_deref(), Some("finished"));
    assert_eq!(
        first.session.cost_usd, None,
        "0.0 without cost entries: unpriced"
    );
    assert_eq!(first.session.api_calls, Some(23));
    let turn = &first.turns[0];
    assert_eq!(turn.context, [0, 1]);
    assert_eq!(first.messages[0].role, "system");
    assert_eq!(first.messages[1].role, "user");
    assert_eq!(
        turn.response_id.as_deref(),
        Some("gen-1746001974-alxKxkQSJ8j9QsfNTvnX")
    );
    // Action at 16:32:57.821635 local (UTC+8), latency 3.057 s: sent at 08:32:54.764Z, the
    // second OpenRouter stamped as `created`.
    assert_eq!(turn.request_time_unix_ms, Some(1_746_001_974_764));
    // Its observation came at 16:32:58.441, the next call left at 16:32:58.454.
    assert_eq!(turn.tool_delay_ms_after, Some(633.0));
    assert_eq!(turn.output_tool_calls[0].name, "execute_bash");
    assert_eq!(first.turns[1].context, [0, 1, 2, 3]);
    assert_eq!(first.messages[3].role, "tool");
    assert_eq!(
        first.messages[3].fields_json.as_deref(),
        Some(r#"{"tool_call_id":"toolu_01","name":"execute_bash"}"#)
    );
    assert!(
        first.messages[3]
            .content
            .as_deref()
            .unwrap()
            .ends_with("\n[The command completed with exit code 0.]\n[Current working directory: /workspace/ponylang__ponyc__0.1]\n[Command finished with exit code 0]")
    );
    let last = first.turns.last().unwrap();
    assert_eq!(last.output_tool_calls[0].name, "finish");
    assert_eq!(last.tool_delay_ms_after, None);

    // 4593: the response that failed validation left an error for the next call to read.
    let second = &sessions["ponylang__ponyc-4593"];
    let after = second
        .turns
        .iter()
        .find(|t| t.response_id.as_deref() == Some("gen-1746002775-OwOLf96V72xEgysw1qyV"))
        .unwrap();
    let error = &second.messages[*after.context.last().unwrap() as usize];
    assert_eq!(error.role, "user");
    assert_eq!(
        error.content.as_deref(),
        Some(
            "Parameter 'command' is expected to be one of ['view', 'create', 'str_replace', 'insert', 'undo_edit'].\n[Error occurred in processing last action]"
        )
    );
    let third = &sessions["ponylang__ponyc-4588"];
    assert_eq!(
        third.session.exit_status.as_deref(),
        Some(
            "RuntimeError: Agent reached maximum iteration in headless mode. Current iteration: 50, max iteration: 50"
        )
    );
    // Each context extends the one before it: one conversation, no message stored twice.
    for trajectory in sessions.values() {
        for pair in trajectory.turns.windows(2) {
            assert!(pair[1].context.starts_with(&pair[0].context));
        }
        let referenced: std::collections::BTreeSet<u32> = trajectory
            .turns
            .iter()
            .flat_map(|t| t.context.iter().copied().chain(t.output))
            .collect();
        assert_eq!(referenced.len(), trajectory.messages.len());
    }
}

#[test]
fn fixtures() {
    insta::glob!("../fixtures", "openhands/*.jsonl", |path| {
        insta::assert_snapshot!(crate::formats::read_fixture(path));
    });
}

/// `completions/output.jsonl` holds two instances with `llm_completions/<id>/` beside it: native
/// function calling with `cache_control` parts (two logged calls, one truncated log, one log of
/// a call the event stream does not show), and mocked function calling (`fncall_response`).
#[test]
fn completion_logs_give_exact_contexts() {
    let path = "tests/fixtures/openhands/completions/output.jsonl";
    let results = read_file(&repo().join(path), path);
    assert_eq!(results.len(), 3);
    let native = results[0].as_ref().unwrap();
    let exactness: Vec<Exactness> = native.turns.iter().map(|t| t.exactness).collect();
    assert_eq!(
        exactness,
        [Exactness::Exact, Exactness::Exact, Exactness::Reconstructed]
    );
    // The system message with its cache marker is stored once and sent twice.
    assert_eq!(native.turns[0].context[0], native.turns[1].context[0]);
    assert_eq!(native.turns[1].context.len(), 4);
    assert_eq!(native.turns[0].tool_set, Some(0));
    assert_eq!(native.tool_sets.len(), 1);
    assert!(
        results[1]
            .as_ref()
            .unwrap_err()
            .ends_with("1748779209.0.json:1:120: truncated JSON: EOF while parsing a string")
    );
    let mocked = results[2].as_ref().unwrap();
    let turn = &mocked.turns[0];
    assert_eq!(turn.exactness, Exactness::Exact);
    assert_eq!(turn.tool_set, None, "mocked tools are in the system text");
    assert_eq!(turn.finish_reason.as_deref(), Some("stop"));
    assert_eq!(turn.output_tool_calls[0].name, "finish");
    assert!(
        mocked.messages[turn.output.unwrap() as usize]
            .content
            .as_deref()
            .unwrap()
            .contains("<function=finish>")
    );
    insta::assert_snapshot!("completions", format!("{results:#?}"));
}

#[test]
fn ingest_reads_the_real_output_and_rejects_bad_lines_alone() {
    let out = temp_dir();
    let dataset = out.path().join("d");
    let real = shared(REAL);
    run_ok(ingest_args(&[&real], &dataset, &[]));
    let opened = Dataset::open(&dataset).unwrap();
    let turns: Vec<(&str, u32)> = opened
        .sessions()
        .iter()
        .map(|s| (s.session_id.as_str(), s.turn_count))
        .collect();
    assert_eq!(
        turns,
        [
            ("ponylang__ponyc-4595", 23),
            ("ponylang__ponyc-4593", 33),
            ("ponylang__ponyc-4588", 49)
        ]
    );
    assert!(
        opened
            .sessions()
            .iter()
            .all(|s| s.source_format == "openhands")
    );
    assert_eq!(opened.reader().manifest().rejects.count, 0);

    let bad = repo().join("tests/fixtures/openhands/bad_lines.jsonl");
    let dataset = out.path().join("bad");
    let run = run_ok(ingest_args(&[&bad], &dataset, &[]));
    let opened = Dataset::open(&dataset).unwrap();
    let ids: Vec<&str> = opened
        .sessions()
        .iter()
        .map(|s| s.session_id.as_str())
        .collect();
    assert_eq!(ids, ["ok-1", "bad_lines:10"]);
    let lines: Vec<Option<u64>> = opened
        .reader()
        .manifest()
        .rejects
        .records
        .iter()
        .map(|r| r.line)
        .collect();
    assert_eq!(lines, [3, 4, 5, 6, 7, 8, 9].map(Some), "{}", run.stderr);
}

/// A directory walk picks up `output.jsonl` and leaves the completion logs to it.
#[test]
fn ingest_of_a_run_directory_uses_its_completion_logs() {
    let out = temp_dir();
    let dataset = out.path().join("d");
    let directory = repo().join("tests/fixtures/openhands/completions");
    run_ok(ingest_args(&[&directory], &dataset, &[]));
    let opened = Dataset::open(&dataset).unwrap();
    let sessions: Vec<(&str, u32)> = opened
        .sessions()
        .iter()
        .map(|s| (s.session_id.as_str(), s.turn_count))
        .collect();
    assert_eq!(sessions, [("demo__completions-1", 3), ("demo__mock-2", 1)]);
    let rejects = &opened.reader().manifest().rejects;
    assert_eq!(rejects.count, 1);
    assert!(rejects.records[0].file.ends_with("1748779209.0.json"));
    assert_eq!(
        rejects.records[0].message,
        "truncated JSON: EOF while parsing a string"
    );
}
