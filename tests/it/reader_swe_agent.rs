//! SWE-agent `.traj`: every real file in `../shared/data/real/swe-agent/` against its line in
//! STATS.txt, the fixtures as snapshots, and an end-to-end ingest of both.

use std::path::{Path, PathBuf};

use regex::Regex;
use trajkit::dataset::Dataset;
use trajkit::formats::SourceFormat;
use trajkit::schema::{Exactness, Trajectory};

use crate::util::{ingest_args, read_as, repo, run_ok, shared, temp_dir, trajkit};

const REAL: &str = "data/real/swe-agent";
const FILES: [&str; 4] = [
    "ctf_i_got_id_demo.traj",
    "fc_replace_from_source__marshmallow-1867.traj",
    "function_calling__marshmallow-1867.traj",
    "gpt4_v0_default__pydicom-1458.traj",
];

fn read_real(name: &str) -> Trajectory {
    let path = shared(REAL).join(name);
    let mut results = read_as(SourceFormat::SweAgent, &path);
    assert_eq!(results.len(), 1, "{name}: one session");
    results.remove(0).unwrap()
}

/// The file's line of STATS.txt's "SWE-agent .traj" section.
fn stats_line(name: &str) -> String {
    let stats = fs_err::read_to_string(shared("data/real/STATS.txt")).unwrap();
    stats
        .lines()
        .find(|line| line.starts_with(&format!("{name}:")))
        .unwrap_or_else(|| panic!("{name} is not in STATS.txt"))
        .to_owned()
}

fn capture(line: &str, pattern: &str) -> Option<String> {
    Regex::new(pattern)
        .unwrap()
        .captures(line)
        .map(|c| c[1].to_owned())
}

fn number(line: &str, pattern: &str) -> u64 {
    capture(line, pattern)
        .unwrap_or_else(|| panic!("`{pattern}` not in {line}"))
        .parse()
        .unwrap()
}

fn content_chars(trajectory: &Trajectory, index: u32) -> usize {
    trajectory.messages[index as usize]
        .content
        .as_deref()
        .map_or(0, |text| text.chars().count())
}

/// The mean rounded to the nearest whole number, as STATS.txt prints it.
fn rounded_mean(values: &[usize]) -> u64 {
    let (sum, n) = (values.iter().sum::<usize>(), values.len());
    ((2 * sum + n) / (2 * n)) as u64
}

#[test]
fn real_files_match_stats() {
    for name in FILES {
        let line = stats_line(name);
        let trajectory = read_real(name);
        let session = &trajectory.session;
        // Turns: `steps(LLM calls)=N`.
        assert_eq!(
            trajectory.turns.len() as u64,
            number(&line, r"steps\(LLM calls\)=(\d+)"),
            "{name}"
        );
        // Each turn's output is the step's `response`: `response_chars[n mean … max]`, in
        // characters as Python counts them.
        let chars: Vec<usize> = trajectory
            .turns
            .iter()
            .map(|turn| content_chars(&trajectory, turn.output.unwrap()))
            .collect();
        let mean = rounded_mean(&chars);
        assert_eq!(
            chars.len() as u64,
            number(&line, r"response_chars\[n=(\d+)"),
            "{name}"
        );
        assert_eq!(
            mean,
            number(&line, r"response_chars\[n=\d+ mean=(\d+)"),
            "{name}"
        );
        assert_eq!(
            *chars.iter().max().unwrap() as u64,
            number(&line, r"response_chars\[[^\]]* max=(\d+)\]"),
            "{name}"
        );
        // Totals from `model_stats`; zero token counts (replayed demonstrations) are absent.
        let sent = number(&line, r"'tokens_sent': (\d+)");
        let received = number(&line, r"'tokens_received': (\d+)");
        let calls = number(&line, r"'api_calls': (\d+)");
        let counted = sent > 0 || received > 0;
        assert_eq!(session.totals.input, counted.then_some(sent), "{name}");
        assert_eq!(session.totals.output, counted.then_some(received), "{name}");
        assert_eq!(session.api_calls, (calls > 0).then_some(calls), "{name}");
        let cost: f64 = capture(&line, r"'instance_cost': ([\d.]+)")
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(session.cost_usd, (cost > 0.0).then_some(cost), "{name}");
        assert_eq!(
            session.exit_status.as_deref(),
            capture(&line, r"exit=(\S+)").as_deref(),
            "{name}"
        );
        // No file holds a step's `query`: every context is rebuilt, none is per-call usage.
        assert!(
            trajectory
                .turns
                .iter()
                .all(|t| t.exactness == Exactness::Reconstructed && t.usage.input.is_none()),
            "{name}"
        );
        assert_eq!(session.agent.as_deref(), Some("swe-agent"));
    }
}

#[test]
fn version_1_0_contexts_are_the_previous_step_messages() {
    let trajectory = read_real("fc_replace_from_source__marshmallow-1867.traj");
    // STATS.txt: `per_step_ctx_key=messages ctx_chars[n=13 mean=14519 … max=18085]` measures
    // `trajectory[k].messages`, the history after step k, which is the request of step k + 1.
    // These are its 13 values (content characters, from the file); the last one follows the last
    // call and is no call's request.
    let per_step = [
        6085, 9686, 16285, 16642, 17067, 16934, 14422, 8509, 12912, 17107, 17507, 17501, 18085,
    ];
    assert_eq!(rounded_mean(&per_step), 14519);
    let contexts: Vec<usize> = trajectory
        .turns
        .iter()
        .map(|turn| {
            turn.context
                .iter()
                .map(|&i| content_chars(&trajectory, i))
                .sum()
        })
        .collect();
    assert_eq!(contexts[1..], per_step[..12]);
    // The first call sees the system prompt and the task: the history before its answer.
    assert_eq!(trajectory.turns[0].context, [0, 1]);
    assert_eq!(trajectory.turns[0].output, Some(2));
    // From step 5 on, the `last_n_observations` processor elides old observations: the request
    // holds the elided text, not the history's.
    let elided = trajectory.turns[6].context[3];
    assert_eq!(
        trajectory.messages[elided as usize].content.as_deref(),
        Some("Old environment output: (7 lines omitted)")
    );
    // Tool results get `tool_call_id` (from `tool_call_ids`), outputs their tool calls.
    let tool = &trajectory.messages[3];
    assert_eq!(tool.role, "tool");
    assert!(
        tool.fields_json
            .as_deref()
            .unwrap()
            .starts_with(r#"{"tool_call_id":"call_9diWc1DYm4RLmPfHgIaP2wd","#)
    );
    assert_eq!(trajectory.turns[0].output_tool_calls[0].name, "bash");
    assert_eq!(
        trajectory.turns[0].tool_delay_ms_after,
        Some(116.055_538_001_091_92)
    );
    // A replayed demonstration: the `replay` stand-in is no model.
    assert_eq!(trajectory.session.model, None);
    assert_eq!(
        trajectory.session.task_id.as_deref(),
        Some("marshmallow-code__marshmallow-1867")
    );
    assert_eq!(
        trajectory.session.repository.as_deref(),
        Some("marshmallow-code/marshmallow")
    );
    // The 26 history messages, plus 9 observations as the processor left them (elided).
    assert_eq!(trajectory.messages.len(), 35);
}

#[test]
fn version_0_contexts_are_the_history_with_its_demonstration() {
    let trajectory = read_real("gpt4_v0_default__pydicom-1458.traj");
    // system, the demonstration (`is_demo`, sent as one user message), the task.
    assert_eq!(trajectory.turns[0].context, [0, 1, 2]);
    assert_eq!(trajectory.turns[0].output, Some(3));
    assert_eq!(trajectory.turns[11].context.len(), 25);
    assert_eq!(trajectory.session.model, None);
    assert_eq!(
        trajectory.session.task_id.as_deref(),
        Some("gpt4_v0_default__pydicom-1458")
    );
    // The shared copy was renamed (`gpt4_v0_default__…`): no repository is made up from it.
    assert_eq!(trajectory.session.repository, None);
    let model = read_real("function_calling__marshmallow-1867.traj")
        .session
        .model;
    assert_eq!(model.as_deref(), Some("gpt-4o"));
}

#[test]
fn fixtures() {
    insta::glob!("../fixtures", "swe_agent/*.traj", |path| {
        insta::assert_snapshot!(crate::formats::read_fixture(path));
    });
}

fn ingest(inputs: &[&Path], flags: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let out = temp_dir();
    let dataset = out.path().join("d");
    run_ok(ingest_args(inputs, &dataset, flags));
    (out, dataset)
}

#[test]
fn real_files_ingest_and_their_counted_tokens_match_the_reported_totals() {
    let (_out, dataset) = ingest(&[&shared(REAL)], &["--tokenizer", "o200k"]);
    let opened = Dataset::open(&dataset).unwrap();
    let manifest = opened.reader().manifest();
    assert_eq!(manifest.rejects.count, 0);
    // The predictions file beside the trajectories is not one.
    assert_eq!(manifest.skipped_files.len(), 1);
    assert!(manifest.skipped_files[0].ends_with("all_preds.jsonl"));
    let turns: Vec<u32> = opened.sessions().iter().map(|s| s.turn_count).collect();
    assert_eq!(turns, [21, 13, 11, 12]);
    // The GPT-4 run reports 122,612 tokens sent and 1,369 received over its 12 calls. Counting
    // the rebuilt requests (the whole history, demonstration included) with o200k gives within
    // 1 % of both, which is what checks the reconstruction: a history processor eliding old
    // observations would have sent far fewer.
    let session = opened
        .session("gpt4_v0_default__pydicom-1458")
        .unwrap()
        .clone();
    assert_eq!(session.input_tokens_reported_total, Some(122_612));
    assert_eq!(session.output_tokens_reported_total, Some(1_369));
    assert_eq!(session.cost_usd_reported_total, Some(1.26719));
    assert_eq!(session.api_calls_reported, Some(12));
    let data = opened.load(&session).unwrap();
    let input: u64 = data
        .turns
        .iter()
        .map(|t| t.input_tokens_counted.unwrap())
        .sum();
    let output: u64 = data
        .turns
        .iter()
        .map(|t| t.output_tokens_counted.unwrap())
        .sum();
    assert!(
        input.abs_diff(122_612) * 100 < 122_612,
        "{input} tokens counted"
    );
    assert!(
        output.abs_diff(1_369) * 100 < 1_369,
        "{output} tokens counted"
    );
}

#[test]
fn fixture_rejects_are_located_and_the_rest_is_read() {
    let out = temp_dir();
    let dataset = out.path().join("d");
    let run = trajkit()
        .current_dir(repo())
        .arg("ingest")
        .arg("tests/fixtures/swe_agent")
        .arg("-o")
        .arg(&dataset)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0));
    let opened = Dataset::open(&dataset).unwrap();
    let ids: Vec<&str> = opened
        .sessions()
        .iter()
        .map(|s| s.session_id.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "marshmallow_1_0_messages_trimmed",
            "pydicom_v0_trimmed",
            "retry_attempts/attempt_0",
            "retry_attempts/attempt_1",
            "v1_1_query"
        ]
    );
    let rejects: Vec<String> = opened
        .reader()
        .manifest()
        .rejects
        .records
        .iter()
        .map(|r| {
            format!(
                "{}:{}:{} {}",
                r.file.rsplit('/').next().unwrap(),
                r.line.unwrap_or(0),
                r.column.unwrap_or(0),
                r.json_path.as_deref().unwrap_or("-")
            )
        })
        .collect();
    assert_eq!(
        rejects,
        [
            "invalid_utf8.traj:7:80 -",
            "missing_role.traj:31:5 history[2]",
            "retry_attempts.traj:194:5 attempts[2]",
            "truncated.traj:27:27 -",
        ]
    );
}
