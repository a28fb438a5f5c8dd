//! The foundation issue's acceptance checks on the real mini-swe-agent corpus: every session,
//! turn, provider count and request comes through ingest exactly, and the dataset is linear in
//! size.

use serde_json::Value;
use trajkit::dataset::Dataset;

use crate::util::{corpus, corpus_dataset, directory_bytes, trajectory_files};

fn count(value: Option<&Value>) -> Option<u64> {
    value.and_then(Value::as_u64)
}

#[test]
fn every_corpus_trajectory_is_ingested_exactly() {
    let dataset_path = corpus_dataset();
    let dataset = Dataset::open(dataset_path).unwrap();
    let manifest = dataset.reader().manifest();
    assert_eq!(manifest.rejects.count, 0, "{:?}", manifest.rejects.records);

    let files = trajectory_files(&corpus());
    assert!(
        files.len() >= 40,
        "the corpus has {} trajectories",
        files.len()
    );
    assert_eq!(
        dataset.sessions().len(),
        files.len(),
        "sessions ingested = files"
    );

    let mut turns_checked = 0u64;
    for file in &files {
        let raw: Value = serde_json::from_slice(&fs_err::read(file).unwrap()).unwrap();
        let id = raw["instance_id"].as_str().unwrap();
        let messages = raw["messages"].as_array().unwrap();
        let assistant: Vec<usize> = messages
            .iter()
            .enumerate()
            .filter(|(_, m)| m["role"] == "assistant")
            .map(|(i, _)| i)
            .collect();
        let session = dataset
            .session(id)
            .unwrap_or_else(|| panic!("session {id}"));
        let data = dataset.load(session).unwrap();
        assert_eq!(
            data.turns.len(),
            assistant.len(),
            "{id}: turns = assistant messages"
        );
        for (k, &position) in assistant.iter().enumerate() {
            let turn = &data.turns[k];
            let usage = messages[position].pointer("/extra/response/usage");
            let get = |pointer: &str| count(usage.and_then(|u| u.pointer(pointer)));
            assert_eq!(
                turn.input_tokens_reported,
                get("/prompt_tokens"),
                "{id} turn {k}"
            );
            assert_eq!(
                turn.output_tokens_reported,
                get("/completion_tokens"),
                "{id} turn {k}"
            );
            assert_eq!(
                turn.cached_tokens_reported,
                get("/prompt_tokens_details/cached_tokens"),
                "{id} turn {k}"
            );
            assert_eq!(
                turn.reasoning_tokens_reported,
                get("/completion_tokens_details/reasoning_tokens"),
                "{id} turn {k}"
            );
            let request = data.request(k).unwrap();
            assert_eq!(
                request.messages,
                messages[..position],
                "{id} turn {k}: request"
            );
            assert_eq!(data.output(k).unwrap().as_ref(), Some(&messages[position]));
            assert!(turn.input_tokens_counted.unwrap() > 0);
            turns_checked += 1;
        }
    }
    assert_eq!(manifest.tables.turns.rows, turns_checked);
}

/// The AA replay shape: one JSON line per turn carrying the turn's whole request.
#[test]
fn dataset_is_at_least_twenty_times_smaller_than_full_context_lines() {
    let dataset_path = corpus_dataset();
    let dataset_bytes: usize = directory_bytes(dataset_path)
        .iter()
        .map(|(_, bytes)| bytes.len())
        .sum();
    let dataset = Dataset::open(dataset_path).unwrap();
    let mut replay_bytes = 0usize;
    for session in dataset.sessions() {
        let data = dataset.load(session).unwrap();
        for k in 0..data.turns.len() {
            let request = data.request(k).unwrap();
            // AA replay lines carry the provider request (role and content), not the log's
            // vendor keys, so the comparison is against the smaller of the two shapes.
            let messages: Vec<Value> = request
                .messages
                .iter()
                .map(|m| serde_json::json!({"role": m["role"], "content": m["content"]}))
                .collect();
            let line = serde_json::json!({
                "version": 1,
                "turn_id": format!("{}:{k:04}", session.session_id),
                "task_id": session.session_id,
                "messages": messages,
            });
            replay_bytes += serde_json::to_string(&line).unwrap().len() + 1;
        }
    }
    let tenths = replay_bytes * 10 / dataset_bytes;
    let ratio = format!("{}.{}x", tenths / 10, tenths % 10);
    eprintln!("full-context lines {replay_bytes} bytes, dataset {dataset_bytes} bytes: {ratio}");
    assert!(replay_bytes >= 20 * dataset_bytes, "only {ratio} smaller");
}
