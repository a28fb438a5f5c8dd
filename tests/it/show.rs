//! `trajkit show`: summaries, session listings, and exact request reconstruction through the CLI.

use serde_json::Value;

use crate::util::{
    ingest_args, repo, run, run_ok, sample_inputs, temp_dir, trajectory_files, trajkit,
};

fn sample_dataset(out: &tempfile::TempDir) -> std::path::PathBuf {
    let dataset = out.path().join("sample");
    let run: crate::util::Run = trajkit()
        .current_dir(repo())
        .args(["ingest", "datasets/mini-swe-agent-sample/trajs", "-o"])
        .arg(&dataset)
        .output()
        .unwrap()
        .into();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    dataset
}

/// `show --json` gives, for every turn, exactly the messages before that assistant message and
/// the assistant message itself, as JSON values.
#[test]
fn show_json_reconstructs_every_turn_of_the_sample() {
    let out = temp_dir();
    let dataset = sample_dataset(&out);
    let mut turns = 0;
    for file in trajectory_files(&sample_inputs()) {
        let raw: Value = serde_json::from_slice(&fs_err::read(&file).unwrap()).unwrap();
        let id = raw["instance_id"].as_str().unwrap();
        let messages = raw["messages"].as_array().unwrap();
        let positions = messages
            .iter()
            .enumerate()
            .filter(|(_, m)| m["role"] == "assistant")
            .map(|(i, _)| i);
        for (k, position) in positions.enumerate() {
            let shown = run_ok([
                "show".as_ref(),
                dataset.as_os_str(),
                "--session".as_ref(),
                id.as_ref(),
                "--turn".as_ref(),
                k.to_string().as_ref(),
                "--json".as_ref(),
            ]);
            let shown: Value = serde_json::from_str(&shown.stdout).unwrap();
            assert_eq!(shown["messages"].as_array().unwrap(), &messages[..position]);
            assert_eq!(shown["output"], messages[position]);
            assert_eq!(shown["tools"], Value::Array(Vec::new()));
            turns += 1;
        }
    }
    assert_eq!(turns, 81);
}

#[test]
fn summary_and_session_views() {
    let out = temp_dir();
    let dataset = sample_dataset(&out);
    let summary = run_ok(["show".as_ref(), dataset.as_os_str()]);
    insta::assert_snapshot!("summary", summary.stdout);
    let session = run_ok([
        "show".as_ref(),
        dataset.as_os_str(),
        "--session".as_ref(),
        "django__django-11239".as_ref(),
    ]);
    insta::assert_snapshot!("session", session.stdout);
    let turn = run_ok([
        "show".as_ref(),
        dataset.as_os_str(),
        "--session".as_ref(),
        "django__django-11239".as_ref(),
        "--turn".as_ref(),
        "1".as_ref(),
    ]);
    insta::assert_snapshot!("turn", turn.stdout);
    let json = run_ok(["show".as_ref(), dataset.as_os_str(), "--json".as_ref()]);
    let json: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(json["sessions"], 4);
    assert_eq!(json["turns"], 81);
}

#[test]
fn unknown_sessions_and_turns_are_usage_errors() {
    let out = temp_dir();
    let dataset = sample_dataset(&out);
    let missing = run([
        "show".as_ref(),
        dataset.as_os_str(),
        "--session".as_ref(),
        "nope".as_ref(),
    ]);
    assert_eq!(missing.code, Some(2));
    assert!(
        missing.stderr.contains("error: no session `nope` in"),
        "{}",
        missing.stderr
    );
    let beyond = run([
        "show".as_ref(),
        dataset.as_os_str(),
        "--session".as_ref(),
        "django__django-11239".as_ref(),
        "--turn".as_ref(),
        "14".as_ref(),
    ]);
    assert_eq!(beyond.code, Some(2));
    assert!(
        beyond
            .stderr
            .contains("has 14 turns (0 to 13); there is no turn 14"),
        "{}",
        beyond.stderr
    );
    let ambiguous = run([
        "show".as_ref(),
        dataset.as_os_str(),
        "--turn".as_ref(),
        "0".as_ref(),
    ]);
    assert_eq!(ambiguous.code, Some(2));
    let not_dataset = run(["show", "/nonexistent/dataset"]);
    assert_eq!(not_dataset.code, Some(2));
    assert!(
        not_dataset.stderr.contains("is not a trajkit dataset"),
        "{}",
        not_dataset.stderr
    );
}

/// OpenAI JSONL with tools: the request carries the tool definitions and the tool-call messages.
#[test]
fn openai_jsonl_requests_carry_tools() {
    let out = temp_dir();
    let dataset = out.path().join("d");
    let input = repo().join("tests/fixtures/openai_jsonl/tool_calls.jsonl");
    run_ok(ingest_args(&[&input], &dataset, &[]));
    let shown = run_ok([
        "show".as_ref(),
        dataset.as_os_str(),
        "--session".as_ref(),
        "chat-1".as_ref(),
        "--turn".as_ref(),
        "1".as_ref(),
        "--json".as_ref(),
    ]);
    let shown: Value = serde_json::from_str(&shown.stdout).unwrap();
    let line: Value = serde_json::from_str(
        fs_err::read_to_string(&input)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        shown["messages"],
        Value::Array(line["messages"].as_array().unwrap()[..4].to_vec())
    );
    assert_eq!(shown["tools"], line["tools"]);
    assert_eq!(shown["output"], line["messages"][4]);
}
