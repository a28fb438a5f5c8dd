//! The `codex` reader on the real rollouts in `../shared/data/real/codex/` (turn counts and
//! reported usage against STATS.txt), its fixtures as snapshots, and an end-to-end ingest.

use std::path::{Path, PathBuf};

use regex::Regex;
use trajkit::dataset::Dataset;
use trajkit::formats::SourceFormat;
use trajkit::schema::Trajectory;

use crate::util::{ingest_args, read_as, run_ok, shared, temp_dir};

/// One STATS.txt line of the "Codex rollout JSONL" section.
#[derive(Debug)]
struct StatsLine {
    file: String,
    calls: usize,
    /// `[n, mean, max]` of input, cached and output tokens.
    input: [u64; 3],
    cached: [u64; 3],
    output: [u64; 3],
}

fn stats_lines() -> Vec<StatsLine> {
    let text = fs_err::read_to_string(shared("data/real/STATS.txt")).unwrap();
    let section = text
        .split("## Codex rollout JSONL")
        .nth(1)
        .unwrap()
        .split("\n## ")
        .next()
        .unwrap();
    let line = Regex::new(r"^(\S+): records=\d+ llm_calls\(token_count events\)=(\d+) input\[(.*?)\] cached\[(.*?)\] output\[(.*?)\]").unwrap();
    let figures = |text: &str| -> [u64; 3] {
        let get = |key: &str| {
            Regex::new(&format!(r"{key}=(\d+)"))
                .unwrap()
                .captures(text)
                .map_or(0, |c| c[1].parse().unwrap())
        };
        [get("n"), get("mean"), get("max")]
    };
    section
        .lines()
        .filter_map(|l| line.captures(l))
        .map(|c| StatsLine {
            file: c[1].to_owned(),
            calls: c[2].parse().unwrap(),
            input: figures(&c[3]),
            cached: figures(&c[4]),
            output: figures(&c[5]),
        })
        .collect()
}

fn read_real(
    relative: &str,
) -> (
    PathBuf,
    Vec<Result<Trajectory, trajkit::formats::FormatError>>,
) {
    let path = shared("data/real").join(relative);
    let results = read_as(SourceFormat::Codex, &path);
    (path, results)
}

/// n, mean and max of the reported values, as STATS.txt rounds them (`round()`, so within 0.5).
fn assert_figures(what: &str, values: &[u64], expected: [u64; 3]) {
    assert_eq!(values.len() as u64, expected[0], "{what}: n");
    if values.is_empty() {
        return;
    }
    // |sum / n - mean| <= 0.5, in integers.
    let (sum, n) = (values.iter().sum::<u64>(), values.len() as u64);
    assert!(
        2 * sum.abs_diff(expected[1] * n) <= n,
        "{what}: mean {sum}/{n} vs {}",
        expected[1]
    );
    assert_eq!(
        values.iter().max().copied(),
        Some(expected[2]),
        "{what}: max"
    );
}

#[test]
fn real_rollouts_match_stats() {
    let lines = stats_lines();
    assert_eq!(lines.len(), 5, "STATS.txt lists five codex files");
    for stats in &lines {
        let relative = &stats.file;
        let (_, results) = read_real(relative);
        assert!(
            results.iter().all(Result::is_ok),
            "{relative}: {:?}",
            results
                .iter()
                .filter_map(|r| r.as_ref().err())
                .collect::<Vec<_>>()
        );
        assert_eq!(results.len(), 1, "{relative}: one session");
        let trajectory = results[0].as_ref().unwrap();
        // Every `token_count` with usage info is a call, the one without `last_token_usage` in
        // codex-transcripts' sample included (STATS counts it, with no usage: n=0).
        assert_eq!(trajectory.turns.len(), stats.calls, "{relative}: calls");
        let reported = |get: fn(&trajkit::schema::ReportedUsage) -> Option<u64>| -> Vec<u64> {
            trajectory
                .turns
                .iter()
                .filter_map(|t| get(&t.usage))
                .collect()
        };
        assert_figures(
            &format!("{relative} input"),
            &reported(|u| u.input),
            stats.input,
        );
        assert_figures(
            &format!("{relative} cached"),
            &reported(|u| u.cached),
            stats.cached,
        );
        assert_figures(
            &format!("{relative} output"),
            &reported(|u| u.output),
            stats.output,
        );
    }
}

#[test]
fn the_tracelab_segment_is_rebuilt_call_by_call() {
    let (_, results) = read_real("codex/tracelab_codex_segment.jsonl");
    let trajectory = results[0].as_ref().unwrap();
    let session = &trajectory.session;
    assert_eq!(session.session_id, "01a7c9e4-6d12-7b3a-9f42-8c6d5e1a0b73");
    assert_eq!(session.agent.as_deref(), Some("codex"));
    assert_eq!(session.agent_version.as_deref(), Some("0.114.0"));
    assert_eq!(session.model.as_deref(), Some("gpt-5.4"));
    assert_eq!(session.exit_status.as_deref(), Some("completed"));
    let metadata: serde_json::Value =
        serde_json::from_str(session.metadata_json.as_deref().unwrap()).unwrap();
    assert_eq!(metadata["originator"], "codex_cli_rs");

    // Messages: the system prompt, 3 context messages, 3 prompts, 9 outputs, 10 tool outputs.
    assert_eq!(trajectory.messages.len(), 1 + 3 + 3 + 9 + 10);
    let roles = |turn: usize| -> String {
        trajectory.turns[turn]
            .context
            .iter()
            .map(|&i| &trajectory.messages[i as usize].role[..1])
            .collect()
    };
    assert_eq!(roles(0), "sdudu");
    assert_eq!(roles(1), "sduduattt");
    assert_eq!(roles(8), "sduduatttatatattauattauat");
    // Each request extends the previous request and its output.
    for pair in trajectory.turns.windows(2) {
        let mut sent = pair[0].context.clone();
        sent.push(pair[0].output.unwrap());
        assert_eq!(pair[1].context[..sent.len()], sent[..]);
        assert_eq!(pair[1].exactness, trajkit::schema::Exactness::Reconstructed);
    }
    // The first call: encrypted reasoning, a commentary and three parallel tool calls.
    let first = &trajectory.turns[0];
    assert!(first.output_reasoning_encrypted);
    assert_eq!(first.output_reasoning, None);
    assert_eq!(first.output_tool_calls.len(), 3);
    assert_eq!(first.output_tool_calls[0].name, "exec_command");
    assert_eq!(
        first.output_tool_calls[0].id.as_deref(),
        Some("call_A7mQx4Tn9RbV2sLe8HpKcY1D")
    );
    assert_eq!(first.usage.input, Some(9324));
    assert_eq!(first.usage.cached, Some(6912));
    assert_eq!(first.usage.output, Some(444));
    assert_eq!(first.usage.reasoning, Some(199));
    // 10:05:59.328 (prompt) → 10:06:05.542 (usage) → 10:06:06.704 (last tool output).
    assert_eq!(first.model_latency_ms, Some(6214.0));
    assert_eq!(first.tool_delay_ms_after, Some(1162.0));
    let output = &trajectory.messages[first.output.unwrap() as usize];
    assert_eq!(output.role, "assistant");
    assert!(
        output
            .content
            .as_deref()
            .unwrap()
            .starts_with("I’m checking whether")
    );
    let fields: serde_json::Value =
        serde_json::from_str(output.fields_json.as_deref().unwrap()).unwrap();
    assert_eq!(fields["phase"], "commentary");
    assert_eq!(fields["tool_calls"][2]["type"], "function");
    assert_eq!(
        fields["reasoning_encrypted_content"][0],
        "gAAAAABr7Nq4Yp3wK8mV2sLcQ9dEfT6uHaP1xZ0bRyN5kGqC3tWmJ8vLnU2pXsA4cDeF9hIjK6lMoR"
    );
    // The blob is no sendable text.
    assert_eq!(
        output
            .token_texts
            .iter()
            .filter(|t| t.starts_with("gAAAA"))
            .count(),
        0
    );
    // The last call of each user turn carries that turn's duration when logged (0.114: none).
    let last: serde_json::Value =
        serde_json::from_str(trajectory.turns[8].metadata_json.as_deref().unwrap()).unwrap();
    assert_eq!(last["turn_id"], "01a7c9e5-8f20-7a6d-a14c-6e9b27c3f0d1");
    assert_eq!(trajectory.turns[8].tool_delay_ms_after, None);
}

#[test]
fn the_agent_history_session_has_its_task_timing() {
    let (_, results) = read_real("codex/agent-history_real_redacted_codex_session-01.jsonl");
    let trajectory = results[0].as_ref().unwrap();
    assert_eq!(trajectory.turns.len(), 1);
    let metadata: serde_json::Value =
        serde_json::from_str(trajectory.turns[0].metadata_json.as_deref().unwrap()).unwrap();
    assert_eq!(metadata["task_duration_ms"], 6074);
    assert_eq!(metadata["task_time_to_first_token_ms"], 5828);
    assert_eq!(metadata.get("reasoning_effort"), None, "logged as null");
    assert_eq!(trajectory.turns[0].model.as_deref(), Some("gpt-5.5"));
}

#[test]
fn fixtures() {
    insta::glob!("../fixtures", "codex/*.jsonl", |path| {
        insta::assert_snapshot!(crate::formats::read_fixture(path));
    });
}

#[test]
fn real_rollouts_are_ingested() {
    let out = temp_dir();
    let dataset = out.path().join("d");
    let input = shared("data/real/codex");
    let run = run_ok(ingest_args(&[Path::new(&input)], &dataset, &[]));
    let opened = Dataset::open(&dataset).unwrap();
    let mut sessions: Vec<(String, u32)> = opened
        .sessions()
        .iter()
        .map(|s| (s.session_id.clone(), s.turn_count))
        .collect();
    sessions.sort();
    assert_eq!(
        sessions,
        [
            ("00000000-0000-0000-0000-000000000001".to_owned(), 1),
            ("00000000-0000-0000-0000-000000000004".to_owned(), 0),
            ("019e9625-802f-7e91-840a-cfe88d14117a".to_owned(), 1),
            ("01a7c9e4-6d12-7b3a-9f42-8c6d5e1a0b73".to_owned(), 9),
            ("ccusage_session-alpha".to_owned(), 2),
        ],
        "{}",
        run.stderr
    );
    assert_eq!(opened.reader().manifest().rejects.count, 0);
    let segment = opened
        .session("01a7c9e4-6d12-7b3a-9f42-8c6d5e1a0b73")
        .unwrap();
    let data = opened.load(segment).unwrap();
    let request = data.request(1).unwrap();
    assert_eq!(request.messages.len(), 9);
    assert_eq!(request.messages[8]["role"], "tool");
    assert_eq!(
        request.messages[8]["tool_call_id"],
        "call_vN5rPqY7mJc2HtBdX4zLe8Ux"
    );
}
