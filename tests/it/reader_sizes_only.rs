//! The sizes-only readers (Mooncake, Weka): every real trace reads completely, request counts and
//! token figures equal an independent walk of the JSON, hash ids survive ingest exactly, and
//! sub-agents become linked sessions.

use std::path::Path;

use serde_json::Value;
use trajkit::dataset::Dataset;
use trajkit::formats::SourceFormat;
use trajkit::schema::{Exactness, Trajectory};

use crate::util::{files_under, ingest_args, read_as, run_ok, shared, temp_dir};

fn read(format: SourceFormat, path: &Path) -> (Vec<Trajectory>, Vec<String>) {
    let mut sessions = Vec::new();
    let mut errors = Vec::new();
    for item in read_as(format, path) {
        match item {
            Ok(trajectory) => sessions.push(trajectory),
            Err(error) => errors.push(error.to_string()),
        }
    }
    (sessions, errors)
}

#[test]
fn mooncake_fixtures() {
    insta::glob!("../fixtures", "mooncake/*.jsonl", |path| {
        insta::assert_snapshot!(crate::formats::read_fixture(path));
    });
}

#[test]
fn weka_fixtures() {
    insta::glob!("../fixtures", "weka/*.json", |path| {
        insta::assert_snapshot!(crate::formats::read_fixture(path));
    });
}

/// STATS.txt: `conversation_trace.jsonl: requests=12031 input_length[n=12031 mean=12035 …
/// max=126195] output_length[n=12031 mean=343 … max=2000] … infinite-cache prefix block hit
/// ratio=0.366` and `synthetic_trace.jsonl: requests=3993 input_length[… mean=15325 …
/// max=191378] output_length[… mean=149 … max=893] … ratio=0.640`.
#[test]
fn mooncake_real_traces_match_stats() {
    // The hit ratio in thousandths.
    for (file, requests, input_mean, input_max, output_mean, output_max, hit_ratio) in [
        (
            "conversation_trace.jsonl",
            12_031,
            12_035,
            126_195,
            343,
            2_000,
            366,
        ),
        (
            "synthetic_trace.jsonl",
            3_993,
            15_325,
            191_378,
            149,
            893,
            640,
        ),
    ] {
        let path = shared("data/real/mooncake").join(file);
        let (sessions, errors) = read(SourceFormat::Mooncake, &path);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(sessions.len(), 1);
        let turns = &sessions[0].turns;
        assert_eq!(turns.len(), requests);
        let inputs: Vec<u64> = turns.iter().map(|t| t.usage.input.unwrap()).collect();
        let outputs: Vec<u64> = turns.iter().map(|t| t.usage.output.unwrap()).collect();
        // Rounded to the nearest integer, as STATS.txt prints it.
        let mean = |values: &[u64]| {
            let n = u64::try_from(values.len()).unwrap();
            (2 * values.iter().sum::<u64>() + n) / (2 * n)
        };
        assert_eq!(mean(&inputs), input_mean, "{file}");
        assert_eq!(inputs.iter().max(), Some(&input_max));
        assert_eq!(mean(&outputs), output_mean, "{file}");
        assert_eq!(outputs.iter().max(), Some(&output_max));
        assert!(turns.iter().all(|t| t.exactness == Exactness::SizesOnly
            && t.context.is_empty()
            && t.given_hashes.as_ref().unwrap().block_size == 512));

        // The trace-wide prefix hit ratio under an unbounded cache, from the ids as read.
        let mut seen = std::collections::HashSet::new();
        let (mut hits, mut blocks) = (0usize, 0usize);
        for turn in turns {
            let ids = &turn.given_hashes.as_ref().unwrap().ids;
            hits += ids.iter().take_while(|id| seen.contains(*id)).count();
            blocks += ids.len();
            seen.extend(ids.iter().copied());
        }
        // In thousandths, rounded as STATS.txt prints it.
        assert_eq!((hits * 1000 + blocks / 2) / blocks, hit_ratio, "{file}");
    }
}

/// Requests of a Weka agent, counted by walking the JSON independently of the reader: the
/// agent's own requests, then each sub-agent's, recursively.
fn walk(requests: &[Value], agents: &mut Vec<(usize, u64, u64)>) {
    let own: Vec<&Value> = requests
        .iter()
        .filter(|r| r["type"] != "subagent")
        .collect();
    agents.push((
        own.len(),
        own.iter().map(|r| r["in"].as_u64().unwrap()).sum(),
        own.iter().map(|r| r["out"].as_u64().unwrap()).sum(),
    ));
    for sub in requests.iter().filter(|r| r["type"] == "subagent") {
        walk(sub["requests"].as_array().unwrap(), agents);
    }
}

#[test]
fn every_weka_trace_reads_with_linked_subagents() {
    let mut files = files_under(&shared("data/real/weka"));
    files.extend(files_under(&shared("data/corpus/weka-claude-code")));
    files.retain(|f| f.extension().is_some_and(|e| e == "json"));
    assert!(files.len() >= 80, "{} traces", files.len());
    let (mut total_requests, mut subagent_sessions) = (0, 0);
    for file in &files {
        let raw: Value = serde_json::from_slice(&fs_err::read(file).unwrap()).unwrap();
        let mut expected = Vec::new();
        walk(raw["requests"].as_array().unwrap(), &mut expected);
        let (sessions, errors) = read(SourceFormat::Weka, file);
        assert!(errors.is_empty(), "{}: {errors:?}", file.display());
        let found: Vec<(usize, u64, u64)> = sessions
            .iter()
            .map(|s| {
                (
                    s.turns.len(),
                    s.turns.iter().map(|t| t.usage.input.unwrap()).sum(),
                    s.turns.iter().map(|t| t.usage.output.unwrap()).sum(),
                )
            })
            .collect();
        assert_eq!(found, expected, "{}", file.display());
        let main = &sessions[0].session;
        assert_eq!(main.session_id, raw["id"].as_str().unwrap());
        assert_eq!(main.parent_session_id, None);
        for sub in &sessions[1..] {
            assert_eq!(
                sub.session.parent_session_id.as_deref(),
                Some(&*main.session_id)
            );
            assert!(
                sub.session
                    .session_id
                    .starts_with(&format!("{}/", main.session_id))
            );
            subagent_sessions += 1;
        }
        total_requests += expected.iter().map(|e| e.0).sum::<usize>();
    }
    // 5,761 requests in the 75 corpus traces and 156 in the 5 real ones (a Python walk of the
    // same files); 11 + 6 sub-agents.
    assert_eq!(total_requests, 5_917);
    assert_eq!(subagent_sessions, 17);
}

#[test]
fn weka_times_links_and_hash_ids_survive_ingest() {
    let trace = shared("data/real/weka/trace_0291.json");
    let raw: Value = serde_json::from_slice(&fs_err::read(&trace).unwrap()).unwrap();
    let dir = temp_dir();
    let output = dir.path().join("weka.trajkit");
    run_ok(ingest_args(&[&trace], &output, &[]));
    let dataset = Dataset::open(&output).unwrap();
    let ids: Vec<&str> = dataset
        .sessions()
        .iter()
        .map(|s| s.session_id.as_str())
        .collect();
    assert_eq!(
        ids,
        ["trace_0291", "trace_0291/agent_001", "trace_0291/agent_002"]
    );

    let requests = raw["requests"].as_array().unwrap();
    let main_requests: Vec<&Value> = requests
        .iter()
        .filter(|r| r["type"] != "subagent")
        .collect();
    let main = dataset
        .load(dataset.session("trace_0291").unwrap())
        .unwrap();
    let hash_ids = main.hash_ids().unwrap();
    for (k, (turn, request)) in main.turns.iter().zip(&main_requests).enumerate() {
        let expected: Vec<u64> = request["hash_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert_eq!(hash_ids[k], expected, "turn {k}");
        assert_eq!(turn.hash_block_size, Some(64));
        assert_eq!(turn.exactness, "sizes_only");
        assert_eq!(turn.input_tokens_reported, request["in"].as_u64());
        assert_eq!(turn.input_tokens_counted, None);
        assert_eq!(
            turn.request_offset_ms,
            Some(request["t"].as_f64().unwrap() * 1000.0)
        );
        // The next request's think time is this one's tool delay.
        if let Some(next) = main_requests.get(k + 1) {
            assert_eq!(
                turn.tool_delay_ms_after,
                Some(next["think_time"].as_f64().unwrap() * 1000.0)
            );
        }
    }
    // The first sub-agent was spawned after the parent's 16th request (index 15) and its first
    // request sits at the spawn time on the trace's clock.
    let spawn = requests
        .iter()
        .position(|r| r["type"] == "subagent")
        .unwrap();
    let sub_row = dataset.session("trace_0291/agent_001").unwrap();
    assert_eq!(sub_row.parent_session_id.as_deref(), Some("trace_0291"));
    assert_eq!(
        sub_row.parent_turn_index,
        Some(u32::try_from(spawn - 1).unwrap())
    );
    let sub = dataset.load(sub_row).unwrap();
    let spawn_ms = requests[spawn]["t"].as_f64().unwrap() * 1000.0;
    assert_eq!(sub.turns[0].request_offset_ms, Some(spawn_ms));
    assert_eq!(
        sub.turns.len(),
        requests[spawn]["requests"].as_array().unwrap().len()
    );
}
