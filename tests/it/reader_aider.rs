//! Aider `.aider.llm.history`. No real file is in `../shared/data/real/` (STATS.txt describes
//! `Simple-Calulator.aider.llm.history`, 34 calls, from a repository without a licence, so it is
//! not copied anywhere); the fixtures hold a trimmed real file (MIT) and hand-written ones in
//! Aider's writer format. Here: what each call becomes, the `.aider.chat.history.md` banner, the
//! snapshots, and an end-to-end ingest.

use std::path::{Path, PathBuf};

use trajkit::dataset::Dataset;
use trajkit::formats::SourceFormat;
use trajkit::schema::{Exactness, Trajectory};

use crate::util::{read_as, repo, temp_dir, trajkit};

fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures/aider").join(name)
}

/// Reads a fixture by its full path, so that the chat history beside it is found.
fn read(path: &Path) -> Vec<Result<Trajectory, trajkit::formats::FormatError>> {
    read_as(SourceFormat::Aider, path)
}

fn content(trajectory: &Trajectory, index: u32) -> Option<&str> {
    trajectory.messages[index as usize].content.as_deref()
}

#[test]
fn a_real_history_keeps_every_call_and_shares_the_repeated_conversation() {
    let mut results = read(&fixture("music_anomalizer_trimmed.aider.llm.history"));
    assert_eq!(results.len(), 1);
    let trajectory = results.remove(0).unwrap();
    assert_eq!(trajectory.session.session_id, "music_anomalizer_trimmed");
    let turns = &trajectory.turns;
    assert_eq!(turns.len(), 2);
    // The first request: 16 messages, some user messages in a row (`/exit`, `/exit`).
    assert_eq!(turns[0].context.len(), 16);
    assert_eq!(turns[0].exactness, Exactness::Exact);
    assert_eq!(
        content(&trajectory, turns[0].context[0]).map(|c| c.lines().count()),
        Some(7)
    );
    assert_eq!(content(&trajectory, turns[0].context[3]), Some("/bye  "));
    assert_eq!(
        content(&trajectory, turns[0].context[7]),
        Some(
            "\nI understand. I'm ready to help with your request. Please provide the details of what you'd like me to help you with.\n"
        )
    );
    assert_eq!(
        content(&trajectory, turns[0].context[15]),
        Some("I would like you to analyze /add\n\nReply in English.")
    );
    // The model answered nothing; Aider retried in the same second.
    assert_eq!(content(&trajectory, turns[0].output.unwrap()), Some(""));
    assert_eq!(turns[0].model_latency_ms, Some(1000.0));
    assert_eq!(turns[0].tool_delay_ms_after, Some(0.0));
    // The retry repeats the conversation: its 15 messages are the first request's, shared.
    assert_eq!(turns[1].context, turns[0].context[..15]);
    assert_eq!(turns[1].output, None, "the file is cut before the response");
    // 12 distinct messages in the first request (the repeats are shared) and its output.
    assert_eq!(trajectory.messages.len(), 13);
    assert!(
        turns
            .iter()
            .all(|t| t.call_kind.is_none() && t.model.is_none())
    );
}

#[test]
fn weak_model_calls_and_models_from_the_chat_history() {
    let mut results = read(&fixture("weak_model_calls.aider.llm.history"));
    assert_eq!(results.len(), 1);
    let trajectory = results.remove(0).unwrap();
    let session = &trajectory.session;
    assert_eq!(
        session.model.as_deref(),
        Some("anthropic/claude-3-7-sonnet-20250219")
    );
    assert_eq!(session.agent_version.as_deref(), Some("0.82.2"));
    let kinds: Vec<Option<&str>> = trajectory
        .turns
        .iter()
        .map(|t| t.call_kind.as_deref())
        .collect();
    assert_eq!(kinds, [None, Some("weak-model"), Some("weak-model"), None]);
    let models: Vec<Option<&str>> = trajectory
        .turns
        .iter()
        .map(|t| t.model.as_deref())
        .collect();
    // The fourth call follows the second run's banner (`Model:`, the older spelling).
    assert_eq!(
        models,
        [
            Some("anthropic/claude-3-7-sonnet-20250219"),
            Some("anthropic/claude-3-5-haiku-20241022"),
            Some("anthropic/claude-3-5-haiku-20241022"),
            Some("deepseek/deepseek-chat"),
        ]
    );
    let first = &trajectory.turns[0];
    assert_eq!(
        first.output_reasoning.as_deref(),
        Some("The user wants one helper: a single SEARCH/REPLACE block.")
    );
    assert!(
        content(&trajectory, first.output.unwrap())
            .unwrap()
            .starts_with("calc.py\n```python")
    );
    // A list-content message, its text continuing on lines without the role prefix.
    let listed = &trajectory.messages[first.context[1] as usize];
    assert_eq!(
        listed.fields_json.as_deref(),
        Some(
            r#"{"content":[{"type":"text","text":"Here are some READ ONLY files, provided for your reference.\nDo not edit these files!\n\nCONVENTIONS.md"}]}"#
        )
    );
    assert_eq!(first.request_time_unix_ms, Some(1_746_378_418_000));
    assert_eq!(first.model_latency_ms, Some(9000.0));
    assert_eq!(first.tool_delay_ms_after, Some(2000.0));
    // A message with empty content is a bare blank line with no role: counted, not rebuilt.
    let last = &trajectory.turns[3];
    assert_eq!(last.context.len(), 2);
    assert_eq!(
        last.metadata_json.as_deref(),
        Some(
            r#"{"request_time":"2025-05-04T18:00:01","response_time":"2025-05-04T18:00:05","empty_messages":1}"#
        )
    );
}

#[test]
fn fixtures() {
    insta::glob!("../fixtures", "aider/*.llm.history", |path| {
        insta::assert_snapshot!(crate::formats::read_fixture(path));
    });
}

#[test]
fn fixtures_ingest_with_rejects_located() {
    let out = temp_dir();
    let dataset = out.path().join("d");
    let run = trajkit()
        .current_dir(repo())
        .arg("ingest")
        .arg("tests/fixtures/aider")
        .arg("-o")
        .arg(&dataset)
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let opened = Dataset::open(&dataset).unwrap();
    let sessions: Vec<(&str, u32)> = opened
        .sessions()
        .iter()
        .map(|s| (s.session_id.as_str(), s.turn_count))
        .collect();
    assert_eq!(
        sessions,
        [
            ("malformed", 3),
            ("music_anomalizer_trimmed", 2),
            ("weak_model_calls", 4)
        ]
    );
    let manifest = opened.reader().manifest();
    let rejects: Vec<String> = manifest
        .rejects
        .records
        .iter()
        .map(|r| {
            format!(
                "{}:{}:{}",
                r.file.rsplit('/').next().unwrap(),
                r.line.unwrap_or(0),
                r.column.unwrap_or(0)
            )
        })
        .collect();
    assert_eq!(
        rejects,
        [
            "empty.aider.llm.history:0:0",
            "malformed.aider.llm.history:1:0",
            "malformed.aider.llm.history:7:0",
            "malformed.aider.llm.history:11:15",
            "malformed.aider.llm.history:14:0",
        ]
    );
    // The chat history beside it is not an LLM history (nor is the README).
    let skipped: Vec<&str> = manifest
        .skipped_files
        .iter()
        .map(|file| file.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(
        skipped,
        ["README.md", "weak_model_calls.aider.chat.history.md"]
    );
}
