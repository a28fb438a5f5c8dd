//! Reader tests for the `claude_code` format: every real session in `../shared/data/real/
//! claude-code/` against the figures of `STATS.txt`, snapshots of the fixtures, sub-agent files
//! linked to their parent's turn, and an end-to-end ingest.

use std::path::{Path, PathBuf};

use trajkit::dataset::Dataset;
use trajkit::formats::{FormatError, SourceFormat};
use trajkit::schema::Trajectory;

use crate::util::{ingest_args, read_as, repo, run_ok, shared, temp_dir};

/// Reads a file by its detected format, with its real path (so sidecars can be found).
fn read_path(path: &Path) -> Vec<Result<Trajectory, FormatError>> {
    read_as(SourceFormat::ClaudeCode, path)
}

/// The figures `STATS.txt` gives for one file.
#[derive(Debug, PartialEq)]
struct Figures {
    bad_lines: usize,
    calls: usize,
    /// `n`, `mean` (rounded), `max` of the input tokens.
    input: Option<(usize, u64, u64)>,
    output: Option<(usize, u64, u64)>,
    /// Cached share of the input in thousandths (STATS rounds it to three decimals).
    cache_share: Option<i64>,
}

fn stats_figures(file: &str) -> Figures {
    let stats = fs_err::read_to_string(shared("data/real/STATS.txt")).unwrap();
    let line = stats
        .lines()
        .find(|l| l.starts_with(&format!("claude-code/{file}: ")))
        .unwrap_or_else(|| panic!("{file} is not in STATS.txt"));
    let field = |name: &str| {
        let regex = regex::Regex::new(&format!(r"{}=([^ \]]+)", regex::escape(name))).unwrap();
        regex.captures(line).unwrap()[1].to_owned()
    };
    let distribution = |name: &str| {
        let regex = regex::Regex::new(&format!(
            r"{name}\[n=(\d+)(?: mean=(\d+) p50=\d+ p90=\d+ max=(\d+))?\]"
        ))
        .unwrap();
        let captures = regex.captures(line).unwrap();
        let n: usize = captures[1].parse().unwrap();
        (n > 0).then(|| {
            (
                n,
                captures[2].parse().unwrap(),
                captures[3].parse().unwrap(),
            )
        })
    };
    Figures {
        bad_lines: field("non_object_or_bad_lines").parse().unwrap(),
        calls: field("llm_calls(distinct message.id)").parse().unwrap(),
        input: distribution("input_tokens"),
        output: distribution("output_tokens"),
        cache_share: field("cache_read_share").parse().ok().map(thousandths),
    }
}

#[expect(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "token sums of a few sessions, far inside f64's exact range"
)]
fn summary(values: &[u64]) -> Option<(usize, u64, u64)> {
    let max = *values.iter().max()?;
    let mean = values.iter().sum::<u64>() as f64 / values.len() as f64;
    Some((values.len(), mean.round_ties_even() as u64, max))
}

/// The same figures, computed from what the reader gives.
#[expect(
    clippy::cast_precision_loss,
    reason = "token sums of a few sessions, far inside f64's exact range"
)]
fn read_figures(results: &[Result<Trajectory, FormatError>]) -> Figures {
    let turns: Vec<_> = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .flat_map(|t| &t.turns)
        .collect();
    let inputs: Vec<u64> = turns.iter().filter_map(|t| t.usage.input).collect();
    let outputs: Vec<u64> = turns.iter().filter_map(|t| t.usage.output).collect();
    let cached: u64 = turns.iter().filter_map(|t| t.usage.cached).sum();
    let total: u64 = inputs.iter().sum();
    Figures {
        bad_lines: results.iter().filter(|r| r.is_err()).count(),
        calls: turns.len(),
        input: summary(&inputs),
        output: summary(&outputs),
        cache_share: (total > 0).then(|| thousandths(cached as f64 / total as f64)),
    }
}

#[expect(
    clippy::cast_possible_truncation,
    reason = "a share between 0 and 1 in thousandths"
)]
fn thousandths(share: f64) -> i64 {
    (share * 1000.0).round() as i64
}

fn real(file: &str) -> PathBuf {
    shared(&format!("data/real/claude-code/{file}"))
}

const REAL_FILES: [&str; 9] = [
    "agent-history_real_redacted_claude_session-01.jsonl",
    "tracelab_claude_segment.jsonl",
    "vsla_069508a5-1193-487c-a9b5-a6f5f3ae4f98.jsonl",
    "vsla_6dc88126-2048-43a9-b5c2-b9747d5a0301.jsonl",
    "vsla_9cc4a4b0-cba8-4e56-b79f-80b730735150.jsonl",
    "vsla_e80aa543-6eff-4cb5-91e0-6d4e8e7951e9.jsonl",
    "fixtures_synthetic/ccusage_session-alpha_chat.jsonl",
    "fixtures_synthetic/claude-code-log_edge_cases.jsonl",
    "fixtures_synthetic/claude-code-log_representative_messages.jsonl",
];

/// Every real file: calls, input and output token distributions (n, rounded mean, max), cached
/// share and bad lines as `STATS.txt` gives them.
#[test]
fn real_files_match_the_stats() {
    for file in REAL_FILES {
        let results = read_path(&real(file));
        assert_eq!(read_figures(&results), stats_figures(file), "{file}");
    }
}

#[test]
fn real_sessions_have_their_ids_calls_and_times() {
    let results = read_path(&real("vsla_9cc4a4b0-cba8-4e56-b79f-80b730735150.jsonl"));
    let [Ok(session)] = results.as_slice() else {
        panic!("one session: {results:?}");
    };
    assert_eq!(
        session.session.session_id,
        "9cc4a4b0-cba8-4e56-b79f-80b730735150"
    );
    assert_eq!(session.session.agent.as_deref(), Some("claude-code"));
    assert_eq!(session.session.agent_version.as_deref(), Some("1.0.53"));
    assert_eq!(
        session.session.model.as_deref(),
        Some("claude-opus-4-20250514")
    );
    // 17 calls; each request is the previous one plus the previous output and its tool result
    // (or the next prompt): the chain only grows.
    assert_eq!(session.turns.len(), 17);
    for pair in session.turns.windows(2) {
        assert!(pair[1].context.starts_with(&pair[0].context));
        assert_eq!(
            pair[1].context[pair[0].context.len()],
            pair[0].output.unwrap()
        );
    }
    let first = &session.turns[0];
    assert_eq!(first.context, [0]);
    assert_eq!(
        first.response_id.as_deref(),
        Some("msg_01L2UfoeMSUGBm9Mje5T5bnq")
    );
    // The prompt at 19:58:34.347, the call's last line at 19:58:39.771, its tool result at
    // 19:58:43.792.
    assert_eq!(first.request_time_unix_ms, Some(1_752_695_914_347));
    assert_eq!(first.model_latency_ms, Some(5424.0));
    assert_eq!(first.tool_delay_ms_after, Some(4021.0));
    assert_eq!(first.finish_reason.as_deref(), Some("tool_use"));
    assert_eq!(first.output_tool_calls.len(), 1);
    // A call answered by the user's next prompt has no tool delay.
    let answered_by_prompt = &session.turns[3];
    assert_eq!(answered_by_prompt.finish_reason, None);
    assert_eq!(answered_by_prompt.tool_delay_ms_after, None);
}

#[test]
fn parallel_tool_results_all_reach_the_next_request() {
    let results = read_path(&real("tracelab_claude_segment.jsonl"));
    let [Ok(session)] = results.as_slice() else {
        panic!("one session: {results:?}");
    };
    assert_eq!(session.turns.len(), 10);
    let first = &session.turns[0];
    // Thinking (signature only), text and two tool calls in one response of four lines.
    assert_eq!(first.output_tool_calls.len(), 2);
    assert!(first.output_reasoning_encrypted);
    assert_eq!(first.output_reasoning, None);
    assert_eq!(first.usage.input, Some(32272));
    assert_eq!(first.usage.cached, Some(27217));
    assert_eq!(first.usage.cache_write, Some(2163));
    assert_eq!(first.usage.output, Some(931));
    // Both results, though only the second is on the next call's parent chain.
    let second = &session.turns[1];
    let roles: Vec<&str> = second
        .context
        .iter()
        .map(|&m| session.messages[m as usize].role.as_str())
        .collect();
    assert_eq!(roles, ["user", "assistant", "tool", "tool"]);
}

#[test]
fn malformed_lines_are_rejected_at_their_line() {
    let results = read_path(&real("fixtures_synthetic/claude-code-log_edge_cases.jsonl"));
    let lines: Vec<Option<u64>> = results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .map(|e| e.line)
        .collect();
    assert_eq!(lines, [Some(13), Some(15), Some(16)]);
    let sessions: Vec<&Trajectory> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    let [session] = sessions.as_slice() else {
        panic!("one session");
    };
    assert_eq!(session.session.session_id, "edge_cases");
    assert_eq!(session.turns.len(), 4);
    // No record names a parent: the file is one conversation in file order.
    assert_eq!(session.turns[1].context, [0, 1, 2]);
    let metadata = session.session.metadata_json.as_deref().unwrap();
    assert!(
        metadata.contains(r#""unreadable_message_lines":[10,11]"#),
        "{metadata}"
    );
}

#[test]
fn usage_only_records_are_not_calls() {
    // ccusage's fixture: three records with usage but no `type` and no content. STATS counts no
    // call; the reader keeps one session without turns and counts the records.
    let results = read_path(&real("fixtures_synthetic/ccusage_session-alpha_chat.jsonl"));
    let [Ok(session)] = results.as_slice() else {
        panic!("one session: {results:?}");
    };
    assert_eq!(session.session.session_id, "session-alpha");
    assert!(session.turns.is_empty());
    assert!(
        session
            .session
            .metadata_json
            .as_deref()
            .unwrap()
            .contains(r#""record_types":{"(none)":3}"#)
    );
}

#[test]
fn claude_code_fixtures() {
    insta::glob!("../fixtures", "claude_code/*.jsonl", |path| {
        insta::assert_snapshot!(crate::formats::read_fixture(path));
    });
}

fn subagent_project() -> PathBuf {
    repo().join("tests/fixtures/claude_code/subagent_project")
}

const PARENT: &str = "55550000-0000-4000-8000-000000000001";

#[test]
fn subagent_files_link_to_the_spawning_turn() {
    let main = read_path(&subagent_project().join(format!("{PARENT}.jsonl")));
    let [Ok(main)] = main.as_slice() else {
        panic!("one session");
    };
    assert_eq!(main.session.session_id, PARENT);
    assert_eq!(main.turns.len(), 5);
    // The fourth call spawns both agents.
    assert_eq!(
        main.turns[3].output_tool_calls[0].id.as_deref(),
        Some("toolu_sc_showcol1")
    );
    let link = |agent: &str| {
        let path = subagent_project().join(format!("{PARENT}/subagents/agent-{agent}.jsonl"));
        let results = read_path(&path);
        let [Ok(session)] = results.as_slice() else {
            panic!("one session: {results:?}");
        };
        (
            session.session.session_id.clone(),
            session.session.parent_session_id.clone(),
            session.session.parent_turn_index,
            session.turns.len(),
        )
    };
    // Through the sidecar's `toolUseId`.
    assert_eq!(
        link("showcol1"),
        (
            format!("{PARENT}/agent-showcol1"),
            Some(PARENT.to_owned()),
            Some(3),
            1
        )
    );
    // The sidecar has no `toolUseId`: through the parent's `toolUseResult.agentId`.
    assert_eq!(
        link("showcol2"),
        (
            format!("{PARENT}/agent-showcol2"),
            Some(PARENT.to_owned()),
            Some(3),
            2
        )
    );
    // Nothing in the parent names it.
    assert_eq!(
        link("orphan1"),
        (
            format!("{PARENT}/agent-orphan1"),
            Some(PARENT.to_owned()),
            None,
            1
        )
    );
    // Sidecars are not trajectories.
    let meta = subagent_project().join(format!("{PARENT}/subagents/agent-showcol1.meta.json"));
    assert_eq!(
        SourceFormat::detect(&meta, &fs_err::read(&meta).unwrap()),
        None
    );
}

#[test]
fn inline_side_chains_link_to_the_spawning_turn() {
    let results = read_path(&repo().join("tests/fixtures/claude_code/inline_sidechains.jsonl"));
    let links: Vec<(String, Option<String>, Option<u32>, usize)> = results
        .iter()
        .map(|r| {
            let t = r.as_ref().unwrap();
            (
                t.session.session_id.clone(),
                t.session.parent_session_id.clone(),
                t.session.parent_turn_index,
                t.turns.len(),
            )
        })
        .collect();
    assert_eq!(
        links,
        [
            ("hand-1".to_owned(), None, None, 3),
            (
                "hand-1/agent-ab12".to_owned(),
                Some("hand-1".to_owned()),
                Some(0),
                1
            ),
            (
                "hand-1/sidechain-2".to_owned(),
                Some("hand-1".to_owned()),
                Some(1),
                1
            ),
        ]
    );
}

#[test]
fn ingest_reads_every_real_session() {
    let out = temp_dir();
    let dataset = out.path().join("d");
    run_ok(ingest_args(
        &[&shared("data/real/claude-code")],
        &dataset,
        &[],
    ));
    let opened = Dataset::open(&dataset).unwrap();
    let sessions = opened.sessions();
    assert_eq!(sessions.len(), 9);
    assert!(sessions.iter().all(|s| s.source_format == "claude-code"));
    let turns: u32 = sessions.iter().map(|s| s.turn_count).sum();
    // 1 + 10 + 19 + 16 + 17 + 17 + 0 + 4 + 5 (STATS.txt, llm_calls).
    assert_eq!(turns, 89);
    let rejects = &opened.reader().manifest().rejects;
    assert_eq!(rejects.count, 3);
    let lines: Vec<Option<u64>> = rejects.records.iter().map(|r| r.line).collect();
    assert_eq!(lines, [Some(13), Some(15), Some(16)]);
    assert!(
        rejects
            .records
            .iter()
            .all(|r| r.file.ends_with("claude-code-log_edge_cases.jsonl"))
    );
}

#[test]
fn ingest_links_sub_agent_sessions() {
    let out = temp_dir();
    let dataset = out.path().join("d");
    run_ok(ingest_args(&[&subagent_project()], &dataset, &[]));
    let opened = Dataset::open(&dataset).unwrap();
    let mut links: Vec<(String, Option<String>, Option<u32>)> = opened
        .sessions()
        .iter()
        .map(|s| {
            (
                s.session_id.clone(),
                s.parent_session_id.clone(),
                s.parent_turn_index,
            )
        })
        .collect();
    links.sort();
    assert_eq!(
        links,
        [
            (PARENT.to_owned(), None, None),
            (
                format!("{PARENT}/agent-orphan1"),
                Some(PARENT.to_owned()),
                None
            ),
            (
                format!("{PARENT}/agent-showcol1"),
                Some(PARENT.to_owned()),
                Some(3)
            ),
            (
                format!("{PARENT}/agent-showcol2"),
                Some(PARENT.to_owned()),
                Some(3)
            ),
        ]
    );
}
