//! The `aa-replay` reader on AA's bundled replays in `../shared/data/real/aa-replay/` (every trace
//! line rebuilt exactly from the trajectory; counts against the manifests) and the
//! `aa-recording` reader on hand-written recordings (rebuilt exactly as well), their fixtures as
//! snapshots, and end-to-end ingests.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use trajkit::dataset::Dataset;
use trajkit::formats::SourceFormat;
use trajkit::schema::Trajectory;

use crate::util::{files_under, ingest_args, read_as, repo, run_ok, shared, temp_dir};

fn parse(text: Option<&str>) -> Map<String, Value> {
    text.map(|t| serde_json::from_str(t).unwrap())
        .unwrap_or_default()
}

/// A stored message as the JSON object it was: `{role, content?, ...fields}`.
fn message_value(trajectory: &Trajectory, index: u32) -> Value {
    let message = &trajectory.messages[index as usize];
    let mut object = Map::new();
    object.insert("role".into(), Value::from(message.role.as_str()));
    if let Some(content) = &message.content {
        object.insert("content".into(), Value::from(content.as_str()));
    }
    object.extend(parse(message.fields_json.as_deref()));
    Value::Object(object)
}

fn messages_value(trajectory: &Trajectory, indexes: &[u32]) -> Value {
    Value::Array(
        indexes
            .iter()
            .map(|&i| message_value(trajectory, i))
            .collect(),
    )
}

fn tools_value(trajectory: &Trajectory, tool_set: u32) -> Value {
    serde_json::from_str(&trajectory.tool_sets[tool_set as usize]).unwrap()
}

/// Rebuilds trace line `k` as the module documents: the turn's metadata, then `messages`, `tools`
/// and each column-backed key the metadata lacks.
fn rebuild_replay_line(trajectory: &Trajectory, k: usize) -> Value {
    let turn = &trajectory.turns[k];
    let mut line = parse(turn.metadata_json.as_deref());
    line.insert("messages".into(), messages_value(trajectory, &turn.context));
    if let Some(tool_set) = turn.tool_set {
        line.insert("tools".into(), tools_value(trajectory, tool_set));
    }
    let columns = [
        (
            "task_id",
            trajectory.session.task_id.clone().map(Value::from),
        ),
        ("conversation_idx", Some(Value::from(k as u64))),
        ("recorded_prompt_tokens", turn.usage.input.map(Value::from)),
        (
            "recorded_completion_tokens",
            turn.usage.output.map(Value::from),
        ),
        (
            "recorded_model_duration_ms",
            turn.model_latency_ms.map(Value::from),
        ),
        (
            "simulated_tool_delay_ms_after",
            turn.tool_delay_ms_after.map(Value::from),
        ),
    ];
    for (key, value) in columns {
        if let Some(value) = value {
            line.entry(key).or_insert(value);
        }
    }
    Value::Object(line)
}

fn replay_traces() -> Vec<PathBuf> {
    let mut traces: Vec<PathBuf> = files_under(&shared("data/real/aa-replay"))
        .into_iter()
        .filter(|p| p.parent().unwrap().ends_with("traces"))
        .collect();
    traces.sort();
    traces
}

#[test]
fn every_replay_line_is_rebuilt_exactly() {
    let traces = replay_traces();
    assert_eq!(traces.len(), 9, "8 default tasks and the mini task");
    let mut lines_checked = 0;
    for path in &traces {
        let results = read_as(SourceFormat::AaReplay, path);
        assert_eq!(results.len(), 1, "{}", path.display());
        let trajectory = results[0].as_ref().unwrap();
        let text = fs_err::read_to_string(path).unwrap();
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(trajectory.turns.len(), lines.len());
        for (k, line) in lines.iter().enumerate() {
            let original: Value = serde_json::from_str(line).unwrap();
            assert_eq!(
                rebuild_replay_line(trajectory, k),
                original,
                "{} line {}",
                path.display(),
                k + 1
            );
            lines_checked += 1;
        }
        // Messages are stored once: no two stored messages are equal.
        let mut distinct: Vec<String> = (0..trajectory.messages.len())
            .map(|i| message_value(trajectory, u32::try_from(i).unwrap()).to_string())
            .collect();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), trajectory.messages.len());
        let mut tool_lists: Vec<String> = lines
            .iter()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["tools"].to_string())
            .collect();
        tool_lists.sort();
        tool_lists.dedup();
        assert_eq!(
            trajectory.tool_sets.len(),
            tool_lists.len(),
            "tool lists stored once"
        );
    }
    assert_eq!(lines_checked, 168 + 6);
}

#[test]
fn replays_agree_with_their_manifests_and_answers_with_recorded_tool_calls() {
    // SOURCES.md and formats.md §B6: agentperf-default-v1 has 8 tasks and 168 model turns, the
    // largest recorded prompt 56,000 tokens; aa-mini-v1 has 6 turns. STATS.txt has no AA line.
    let mut turns = 0;
    let mut answered = 0;
    let mut largest_prompt = 0;
    for path in replay_traces() {
        let results = read_as(SourceFormat::AaReplay, &path);
        let trajectory = results[0].as_ref().unwrap();
        let session = &trajectory.session;
        let name = path.file_stem().unwrap().to_str().unwrap();
        assert_eq!(session.session_id, name);
        assert_eq!(session.task_id.as_deref(), Some(name));
        let metadata = parse(session.metadata_json.as_deref());
        let manifests = metadata["manifests"].as_array().unwrap();
        let directory = path.parent().unwrap().parent().unwrap();
        let files: Vec<&str> = manifests
            .iter()
            .map(|m| m["file"].as_str().unwrap())
            .collect();
        if directory.ends_with("aa-mini-v1") {
            assert_eq!(files, ["manifest.json"]);
        } else {
            assert_eq!(files, ["manifest-arm64.json", "manifest-x86_64.json"]);
        }
        for entry in manifests {
            let manifest: Value = serde_json::from_str(
                &fs_err::read_to_string(directory.join(entry["file"].as_str().unwrap())).unwrap(),
            )
            .unwrap();
            let task = manifest["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["task_id"] == name)
                .unwrap();
            assert_eq!(&entry["task"], task);
            let mut header = manifest.as_object().unwrap().clone();
            header.shift_remove("tasks");
            assert_eq!(entry["manifest"], Value::Object(header));
        }
        let task = &manifests[0]["task"];
        assert_eq!(
            trajectory.turns.len() as u64,
            task["model_calls"].as_u64().unwrap()
        );
        let mut tool_calls = 0;
        let mut delay = 0.0;
        for (k, turn) in trajectory.turns.iter().enumerate() {
            let line = parse(turn.metadata_json.as_deref());
            let recorded = line["recorded_tool_calls_after"].as_array().unwrap();
            tool_calls += recorded.len() as u64;
            delay += turn.tool_delay_ms_after.unwrap();
            largest_prompt = largest_prompt.max(turn.usage.input.unwrap_or(0));
            let is_last = k + 1 == trajectory.turns.len();
            assert_eq!(turn.output.is_some(), !is_last, "{name} turn {k}");
            if let Some(output) = turn.output {
                answered += 1;
                assert_eq!(trajectory.messages[output as usize].role, "assistant");
                let ids: Vec<&str> = turn
                    .output_tool_calls
                    .iter()
                    .map(|c| c.id.as_deref().unwrap())
                    .collect();
                let recorded_ids: Vec<&str> = recorded
                    .iter()
                    .map(|c| c["tool_call_id"].as_str().unwrap())
                    .collect();
                assert_eq!(ids, recorded_ids, "{name} turn {k}");
                // The answer is sent back in the next request.
                assert!(trajectory.turns[k + 1].context.contains(&output));
            }
        }
        assert_eq!(tool_calls, task["tool_calls"].as_u64().unwrap(), "{name}");
        let manifest_delay = task["total_recorded_tool_delay_ms"].as_f64().unwrap();
        assert!(
            (delay - manifest_delay).abs() < 1e-6,
            "{name}: {delay} vs {manifest_delay}"
        );
        turns += trajectory.turns.len();
    }
    assert_eq!(turns, 168 + 6);
    assert_eq!(answered, 160 + 5, "every turn but each task's last");
    assert_eq!(largest_prompt, 56_000);
}

#[test]
fn replay_fixtures() {
    insta::glob!("../fixtures", "aa_replay/*.jsonl", |path| {
        insta::assert_snapshot!(crate::formats::read_fixture(path));
    });
}

#[test]
fn replay_fixtures_are_rebuilt_exactly() {
    for path in files_under(&repo().join("tests/fixtures/aa_replay")) {
        if path.extension().is_none_or(|e| e != "jsonl") {
            continue;
        }
        let results = read_as(SourceFormat::AaReplay, &path);
        let Some(Ok(trajectory)) = results.last() else {
            continue;
        };
        let bytes = fs_err::read(&path).unwrap();
        let good: Vec<Value> = bytes
            .split(|&b| b == b'\n')
            .filter_map(|l| std::str::from_utf8(l).ok())
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v.get("messages").is_some_and(Value::is_array))
            .filter(|v| {
                v["messages"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|m| m.get("role").is_some())
            })
            .collect();
        assert_eq!(trajectory.turns.len(), good.len(), "{}", path.display());
        for (k, original) in good.iter().enumerate() {
            assert_eq!(
                &rebuild_replay_line(trajectory, k),
                original,
                "{} turn {k}",
                path.display()
            );
        }
    }
}

#[test]
fn replay_directories_are_ingested() {
    let out = temp_dir();
    let dataset = out.path().join("d");
    let input = shared("data/real/aa-replay");
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
            ("aa-mini-library-01".to_owned(), 6),
            ("django__django-14500".to_owned(), 40),
            ("django__django-15851".to_owned(), 28),
            ("sphinx-doc__sphinx-10614".to_owned(), 40),
            ("task_k8s_debugging".to_owned(), 5),
            ("task_meeting_council_budget".to_owned(), 20),
            ("task_meeting_council_votes".to_owned(), 21),
            ("task_meeting_searchable_index".to_owned(), 9),
            ("task_skill_search".to_owned(), 5),
        ],
        "{}",
        run.stderr
    );
    assert_eq!(
        opened.reader().manifest().rejects.count,
        0,
        "{}",
        run.stderr
    );
    let session = opened.session("django__django-14500").unwrap();
    assert_eq!(session.repository.as_deref(), Some("django/django"));
    let data = opened.load(session).unwrap();
    let request = data.request(1).unwrap();
    let original: Value = serde_json::from_str(
        fs_err::read_to_string(
            input.join("agentperf-default-v1/traces/django__django-14500.jsonl"),
        )
        .unwrap()
        .lines()
        .nth(1)
        .unwrap(),
    )
    .unwrap();
    assert_eq!(Value::Array(request.messages), original["messages"]);
}

/// Rebuilds a recording as the `aa_recording` module documents.
fn rebuild_recording(trajectory: &Trajectory) -> Value {
    let mut recording = parse(trajectory.session.metadata_json.as_deref());
    let mut events = match recording.shift_remove("events_before_first_model_call") {
        Some(Value::Array(before)) => before,
        _ => Vec::new(),
    };
    for turn in &trajectory.turns {
        let mut metadata = parse(turn.metadata_json.as_deref());
        let Some(Value::Object(mut event)) = metadata.remove("event") else {
            panic!("no event");
        };
        let context = messages_value(trajectory, &turn.context);
        let from_provider = metadata["context_from"] == "provider_request.messages";
        if let Some(Value::Object(mut provider)) = metadata.remove("provider_request") {
            if from_provider {
                provider.insert("messages".into(), context.clone());
            }
            if let Some(tool_set) = turn.tool_set {
                provider.insert("tools".into(), tools_value(trajectory, tool_set));
            }
            event.insert("provider_request".into(), Value::Object(provider));
        }
        if !from_provider {
            event.insert("request_messages".into(), context);
        } else if let Some(Value::Array(ranges)) = metadata.remove("request_messages_ranges") {
            let indexes: Vec<u32> = ranges
                .iter()
                .flat_map(|r| {
                    let bound = |i: usize| u32::try_from(r[i].as_u64().unwrap()).unwrap();
                    bound(0)..bound(1)
                })
                .collect();
            event.insert(
                "request_messages".into(),
                messages_value(trajectory, &indexes),
            );
        }
        if let Some(output) = turn.output {
            let mut message = message_value(trajectory, output);
            if let Some(extra) = metadata.remove("response_message_extra") {
                message
                    .as_object_mut()
                    .unwrap()
                    .insert("extra".into(), extra);
            }
            event.insert("response_message".into(), message);
        }
        if let Some(latency) = turn.model_latency_ms {
            event.entry("duration_ms").or_insert(Value::from(latency));
        }
        events.push(Value::Object(event));
        if let Some(Value::Array(after)) = metadata.remove("events_after") {
            events.extend(after);
        }
    }
    recording.insert("events".into(), Value::Array(events));
    Value::Object(recording)
}

#[test]
fn recording_fixtures() {
    insta::glob!("../fixtures", "aa_recording/*.json", |path| {
        insta::assert_snapshot!(crate::formats::read_fixture(path));
    });
}

#[test]
fn recordings_are_rebuilt_exactly() {
    for name in ["psf__requests-2317.json", "task_line_count-recording.json"] {
        let path = repo().join("tests/fixtures/aa_recording").join(name);
        let results = read_as(SourceFormat::AaRecording, &path);
        assert_eq!(results.len(), 1, "{name}: {results:?}");
        let trajectory = results[0].as_ref().unwrap();
        let original: Value = serde_json::from_slice(&fs_err::read(&path).unwrap()).unwrap();
        assert_eq!(rebuild_recording(trajectory), original, "{name}");
    }
}

#[test]
fn a_recording_reads_as_its_converted_replay_would() {
    // What `agentperf-local convert` makes of the SWE-bench fixture (recording.py): one line per
    // model call, usage from the provider response, tool durations summed.
    let path = repo().join("tests/fixtures/aa_recording/psf__requests-2317.json");
    let results = read_as(SourceFormat::AaRecording, &path);
    let trajectory = results[0].as_ref().unwrap();
    let session = &trajectory.session;
    assert_eq!(session.session_id, "psf__requests-2317");
    assert_eq!(session.repository.as_deref(), Some("psf/requests"));
    assert_eq!(session.model.as_deref(), Some("gpt-oss-120b"));
    let turns = &trajectory.turns;
    assert_eq!(turns.len(), 3);
    let inputs: Vec<Option<u64>> = turns.iter().map(|t| t.usage.input).collect();
    assert_eq!(inputs, [Some(812), Some(905), Some(1010)]);
    let outputs: Vec<Option<u64>> = turns.iter().map(|t| t.usage.output).collect();
    assert_eq!(outputs, [Some(64), Some(48), Some(30)]);
    assert_eq!(turns[0].usage.reasoning, Some(21));
    assert_eq!(turns[1].usage.cached, Some(768));
    let delays: Vec<Option<f64>> = turns.iter().map(|t| t.tool_delay_ms_after).collect();
    assert_eq!(delays, [Some(84.25), Some(120.0), None]);
    let latencies: Vec<Option<f64>> = turns.iter().map(|t| t.model_latency_ms).collect();
    assert_eq!(latencies, [Some(1250.5), Some(2000.0), Some(900.125)]);
    assert_eq!(
        turns[0].output_reasoning.as_deref(),
        Some("Search for builtin_str first.")
    );
    assert_eq!(turns[1].output_tool_calls.len(), 2);
    assert_eq!(turns[2].finish_reason.as_deref(), Some("stop"));
    assert_eq!(turns[0].request_time_unix_ms, Some(1_767_225_600_000));
    // Each request is the previous one, its answer and the tool results; the step message of the
    // previous request is not resent.
    assert_eq!(turns[1].context[..2], turns[0].context[..2]);
    assert_eq!(turns[1].context[2], turns[0].output.unwrap());
    assert_eq!(turns[2].context[4], turns[1].output.unwrap());
    for turn in turns {
        assert_eq!(turn.exactness, trajkit::schema::Exactness::Exact);
    }
}

#[test]
fn recordings_are_ingested() {
    let out = temp_dir();
    let dataset = out.path().join("d");
    let input = repo().join("tests/fixtures/aa_recording");
    let run = trajkit_in_repo_ingest(&input, &dataset);
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
            ("bad_events".to_owned(), 2),
            ("psf__requests-2317".to_owned(), 3),
            ("task_line_count".to_owned(), 2),
        ],
        "{run}"
    );
    let rejects = &opened.reader().manifest().rejects;
    let located: Vec<String> = rejects
        .records
        .iter()
        .map(|r| {
            format!(
                "{}:{:?}:{:?}",
                r.file.rsplit('/').next().unwrap(),
                r.line,
                r.json_path
            )
        })
        .collect();
    assert_eq!(
        located,
        [
            "bad_events-recording.json:Some(3):Some(\"events[0]\")",
            "bad_events-recording.json:Some(4):Some(\"events[1]\")",
            "bad_events-recording.json:Some(7):Some(\"events[4].request_messages[1]\")",
            "truncated-recording.json:Some(56):None",
        ]
    );
}

fn trajkit_in_repo_ingest(input: &Path, dataset: &Path) -> String {
    let run = run_ok(ingest_args(&[input], dataset, &[]));
    run.stderr
}
