//! `trajkit replay` against a small in-test server that misbehaves on purpose: every fault is
//! recorded as that error on that turn, the run goes on, nothing hangs, and the API key never
//! reaches the record.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::util::{ingest_args, run, run_ok, sample_inputs, temp_dir};

/// What the fault server does with one request.
#[derive(Debug, Clone, Copy)]
enum Behaviour {
    Ok,
    Status(u16),
    DisconnectMidStream,
    Malformed,
    Stall,
    Endless,
}

fn chunk(content: &str) -> String {
    format!(
        "data: {}\n\n",
        serde_json::json!({"choices": [{"index": 0, "delta": {"content": content}}]})
    )
}

/// One HTTP request as the fault server saw it.
struct SeenRequest {
    /// `METHOD /path`.
    line: String,
    authorization: Option<String>,
}

/// Reads one HTTP request.
fn read_request(stream: &mut TcpStream) -> Option<SeenRequest> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut length = 0usize;
    let mut authorization = None;
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    let line: String = request_line
        .split(' ')
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("content-length:") {
            length = value.trim().parse().ok()?;
        }
        if lower.starts_with("authorization:") {
            authorization = Some(line["authorization:".len()..].trim().to_owned());
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(SeenRequest {
        line,
        authorization,
    })
}

fn serve(mut stream: TcpStream, behaviour: Behaviour) {
    let sse_head =
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n";
    let _ = match behaviour {
        Behaviour::Ok => {
            let mut text = String::from(sse_head);
            for word in ["Hello", " there"] {
                text.push_str(&chunk(word));
            }
            text.push_str(
                "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
            );
            text.push_str("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2}}\n\n");
            text.push_str("data: [DONE]\n\n");
            stream.write_all(text.as_bytes())
        }
        Behaviour::Status(code) => {
            let body = format!("{{\"error\":{{\"message\":\"injected {code}\"}}}}");
            stream.write_all(
                format!(
                    "HTTP/1.1 {code} Injected\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            )
        }
        Behaviour::DisconnectMidStream => {
            stream.write_all(format!("{sse_head}{}", chunk("partial")).as_bytes())
        }
        Behaviour::Malformed => stream
            .write_all(format!("{sse_head}{}data: {{this is not json\n\n", chunk("ok")).as_bytes()),
        Behaviour::Stall => {
            let _ = stream.write_all(format!("{sse_head}{}", chunk("then silence")).as_bytes());
            std::thread::sleep(Duration::from_secs(8));
            Ok(())
        }
        Behaviour::Endless => {
            let _ = stream.write_all(sse_head.as_bytes());
            let piece = chunk("more");
            for _ in 0..100_000 {
                if stream.write_all(piece.as_bytes()).is_err() {
                    break;
                }
            }
            Ok(())
        }
    };
    let _ = stream.flush();
}

/// A server answering chat-completion requests, in arrival order, with `plan` (then `Ok`); it
/// records the Authorization headers of every request it saw.
fn fault_server(plan: Vec<Behaviour>) -> (String, Arc<Mutex<Vec<Option<String>>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen_by_server = Arc::clone(&seen);
    std::thread::spawn(move || {
        let mut index = 0;
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let Some(request) = read_request(&mut stream) else {
                continue;
            };
            seen_by_server.lock().unwrap().push(request.authorization);
            if request.line != "POST /v1/chat/completions" {
                // `/v1/models` and `/props`: this server describes nothing.
                let _ = stream.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                continue;
            }
            let behaviour = plan.get(index).copied().unwrap_or(Behaviour::Ok);
            index += 1;
            std::thread::spawn(move || serve(stream, behaviour));
        }
    });
    (format!("http://{address}/v1"), seen)
}

fn sample_dataset(directory: &Path) -> std::path::PathBuf {
    let dataset = directory.join("sample.trajkit");
    run_ok(ingest_args(&[&sample_inputs()], &dataset, &["-q"]));
    dataset
}

fn records(run_directory: &Path) -> Vec<Value> {
    fs_err::read_to_string(run_directory.join("requests.jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Replays the first session against the fault server with a secret key; returns stderr after
/// checking the exit code (1: failed requests) and that the run did not hang.
fn replay_against_faults(dataset: &Path, base_url: &str, run_directory: &Path) -> String {
    let started = std::time::Instant::now();
    let result = crate::util::trajkit()
        .env("TRAJKIT_TEST_SECRET_KEY", "sk-test-0123456789abcdef")
        .args(["replay".as_ref(), dataset.as_os_str()])
        .args([
            "--base-url",
            base_url,
            "--model",
            "fault",
            "--sessions",
            "1",
        ])
        .args([
            "--output-policy",
            "recorded",
            "--max-tokens",
            "5",
            "--tool-delay",
            "none",
        ])
        .args([
            "--idle-timeout",
            "1",
            "--request-timeout",
            "20",
            "--salt",
            "none",
        ])
        .args(["--api-key-env", "TRAJKIT_TEST_SECRET_KEY", "-o"])
        .arg(run_directory)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr).into_owned();
    assert_eq!(
        result.status.code(),
        Some(1),
        "failed requests exit 1: {stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the run must not hang"
    );
    stderr
}

#[test]
fn every_injected_fault_is_recorded_on_its_turn_and_the_run_goes_on() {
    let directory = temp_dir();
    let dataset = sample_dataset(directory.path());
    let plan = vec![
        Behaviour::Ok,
        Behaviour::Status(500),
        Behaviour::Status(429),
        Behaviour::DisconnectMidStream,
        Behaviour::Malformed,
        Behaviour::Stall,
        Behaviour::Endless,
    ];
    let (base_url, seen) = fault_server(plan);
    let run_directory = directory.path().join("run");
    let stderr = replay_against_faults(&dataset, &base_url, &run_directory);
    let records = records(&run_directory);
    let manifest: Value =
        serde_json::from_str(&fs_err::read_to_string(run_directory.join("run.json")).unwrap())
            .unwrap();
    let turns = manifest["dataset"]["turns"].as_u64().unwrap();
    assert_eq!(records.len() as u64, turns, "every turn is recorded");
    assert_eq!(manifest["complete"], true);
    let kinds: Vec<Option<&str>> = records.iter().map(|r| r["error_kind"].as_str()).collect();
    let errors: Vec<&Value> = records.iter().map(|r| &r["error"]).take(8).collect();
    assert_eq!(
        kinds[..8],
        [
            None,
            Some("http_status"),
            Some("http_status"),
            Some("disconnect"),
            Some("malformed_stream"),
            Some("timeout"),
            Some("stream_too_long"),
            None
        ],
        "{errors:#?}"
    );
    assert_eq!(manifest["failed_requests"], 6);
    assert_eq!(records[0]["content"], "Hello there");
    assert_eq!(records[0]["output_tokens"], 2);
    assert_eq!(records[0]["output_tokens_source"], "usage");
    assert_eq!(records[0]["finish_reason"], "stop");
    assert!(records[0]["ttft_ms"].as_f64().unwrap() <= records[0]["end_ms"].as_f64().unwrap());
    assert_eq!(records[1]["http_status"], 500);
    assert!(
        records[1]["error"]
            .as_str()
            .unwrap()
            .contains("injected 500")
    );
    assert_eq!(records[2]["http_status"], 429);
    assert_eq!(
        records[3]["content"], "partial",
        "what came before the disconnect is kept"
    );
    for (index, record) in records.iter().enumerate() {
        assert_eq!(record["turn_index"], index, "records are in turn order");
        assert_eq!(record["max_tokens"], 5);
    }
    // The key went to the server, and nowhere else.
    let seen = seen.lock().unwrap();
    assert!(
        seen.iter()
            .all(|h| h.as_deref() == Some("Bearer sk-test-0123456789abcdef"))
    );
    for file in ["run.json", "requests.jsonl"] {
        let text = fs_err::read_to_string(run_directory.join(file)).unwrap();
        assert!(
            !text.contains("sk-test-0123456789abcdef"),
            "{file} leaks the key"
        );
    }
    assert!(!stderr.contains("sk-test-0123456789abcdef"));
}

#[test]
fn a_refused_connection_is_recorded_on_every_turn() {
    let directory = temp_dir();
    let dataset = sample_dataset(directory.path());
    // A port that was just free: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let run_directory = directory.path().join("run");
    let result = run([
        "replay".as_ref(),
        dataset.as_os_str(),
        "--base-url".as_ref(),
        format!("http://127.0.0.1:{port}/v1").as_ref(),
        "--model".as_ref(),
        "none".as_ref(),
        "--sessions".as_ref(),
        "1".as_ref(),
        "--output-policy".as_ref(),
        "recorded".as_ref(),
        "--tool-delay".as_ref(),
        "none".as_ref(),
        "-o".as_ref(),
        run_directory.as_os_str(),
    ]);
    assert_eq!(result.code, Some(1), "{}", result.stderr);
    let records = records(&run_directory);
    assert!(!records.is_empty());
    assert!(
        records.iter().all(|r| r["error_kind"] == "connect"),
        "{records:?}"
    );
    assert!(records.iter().all(|r| r["http_status"].is_null()));
}

#[test]
fn the_exact_policy_stops_when_the_server_ignores_ignore_eos() {
    let directory = temp_dir();
    let dataset = sample_dataset(directory.path());
    // The fault server's normal answer has 2 tokens, whatever max_tokens says.
    let (base_url, _) = fault_server(vec![]);
    let run_directory = directory.path().join("run");
    let result = run([
        "replay".as_ref(),
        dataset.as_os_str(),
        "--base-url".as_ref(),
        base_url.as_ref(),
        "--model".as_ref(),
        "m".as_ref(),
        "-o".as_ref(),
        run_directory.as_os_str(),
    ]);
    assert_eq!(result.code, Some(2), "{}", result.stderr);
    assert!(
        result.stderr.contains("does not honour `ignore_eos`"),
        "{}",
        result.stderr
    );
    assert!(!run_directory.exists(), "no run is written");
}

/// Short sessions in real agents' formats: Artificial Analysis's own bundled mini replay (6
/// turns of at most ~700 tokens, with tools) and a real Codex CLI session (1 short turn); the
/// CPU server prefills ~150 tokens/s, so longer contexts would make the test slow.
fn short_sessions(directory: &Path) -> std::path::PathBuf {
    let dataset = directory.join("short.trajkit");
    let replay = crate::util::shared("data/real/aa-replay/aa-mini-v1");
    let codex =
        crate::util::shared("data/real/codex/agent-history_real_redacted_codex_session-01.jsonl");
    run_ok(ingest_args(&[&replay, &codex], &dataset, &["-q"]));
    dataset
}

#[test]
fn a_real_llama_server_serves_every_turn_at_exactly_the_recorded_length() {
    // One thread per server: two test servers sharing two cores with `-t 2` stall each other.
    let server = crate::util::llama_server_with(&["-t", "1"]);
    let directory = temp_dir();
    let dataset = short_sessions(directory.path());
    let run_directory = directory.path().join("run");
    let result = run([
        "replay".as_ref(),
        dataset.as_os_str(),
        "--base-url".as_ref(),
        server.base_url().as_ref(),
        "--model".as_ref(),
        server.model().as_ref(),
        "--agents".as_ref(),
        "2".as_ref(),
        "--output-policy".as_ref(),
        "exact".as_ref(),
        "--tool-delay".as_ref(),
        "none".as_ref(),
        "--temperature".as_ref(),
        "0".as_ref(),
        "--seed".as_ref(),
        "1".as_ref(),
        "--max-tokens".as_ref(),
        "64".as_ref(),
        "-o".as_ref(),
        run_directory.as_os_str(),
    ]);
    assert_eq!(
        result.code,
        Some(0),
        "{}\n{}",
        result.stderr,
        server.log_tail()
    );
    let manifest: Value =
        serde_json::from_str(&fs_err::read_to_string(run_directory.join("run.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["complete"], true);
    assert_eq!(manifest["failed_requests"], 0);
    assert_eq!(manifest["sampling"]["temperature"], 0.0);
    assert!(
        manifest["salt"]
            .as_str()
            .unwrap()
            .starts_with("[trajkit run ")
    );
    assert!(
        manifest["server"]["props"].is_object(),
        "llama.cpp describes itself"
    );
    assert!(manifest["server"]["models"]["data"].is_array());
    let records = records(&run_directory);
    assert_eq!(
        records.len() as u64,
        manifest["dataset"]["turns"].as_u64().unwrap()
    );
    assert!(records.len() >= 7);
    let mut agents = std::collections::BTreeSet::new();
    let mut exact_turns = 0;
    for record in &records {
        let context = format!("{record:#}");
        agents.insert(record["agent"].as_u64().unwrap());
        let output = record["output_tokens"].as_u64().expect(&context);
        assert_eq!(record["output_tokens_source"], "usage", "{context}");
        // `exact`: ignore_eos with max_tokens = the recorded length, and the server's usage says
        // it generated exactly that. A turn the log has no output length for (the replay's last
        // turn) is capped by --max-tokens instead.
        let target = if let Some(target) = record["target_output_tokens"].as_u64() {
            exact_turns += 1;
            assert_eq!(output, target, "{context}");
            assert_eq!(record["finish_reason"], "length", "{context}");
            target
        } else {
            assert!(output <= 64, "{context}");
            assert_eq!(record["max_tokens"], 64, "{context}");
            64
        };
        assert!(record["prompt_tokens"].as_u64().unwrap() > 0, "{context}");
        let text_and_calls = record["content"].as_str().map_or(0, str::len)
            + record["tool_calls"].as_array().map_or(0, Vec::len);
        assert!(text_and_calls > 0, "an output was recorded: {context}");
        let ttft = record["ttft_ms"].as_f64().expect(&context);
        let end = record["end_ms"].as_f64().unwrap();
        assert!(ttft > 0.0 && ttft <= end, "{context}");
        let chunks = record["chunk_ms"].as_array().unwrap();
        assert!(
            !chunks.is_empty() && chunks.len() as u64 <= target,
            "{context}"
        );
        assert!(record["error_kind"].is_null(), "{context}");
    }
    assert_eq!(agents.len(), 2, "both agents worked");
    assert!(
        exact_turns >= 6,
        "{exact_turns} turns had a recorded length"
    );
}

/// `--logprobs N` against a real llama-server at temperature 0: every generated token is recorded
/// with its log-probability and N alternatives, and the chosen token is the most likely one. The
/// same server refuses logprobs on a streamed request with tools (llama.cpp: "logprobs is not
/// supported with tools + stream"); that refusal is recorded on each turn, never dropped.
#[test]
fn logprobs_are_recorded_per_token_and_a_refusal_per_turn() {
    let server = crate::util::llama_server_with(&["-t", "1"]);
    let directory = temp_dir();
    let replay = |input: &str, name: &str| {
        let dataset = directory.path().join(format!("{name}.trajkit"));
        run_ok(ingest_args(
            &[&crate::util::shared(input)],
            &dataset,
            &["-q"],
        ));
        let run_directory = directory.path().join(name);
        let result = run([
            "replay".as_ref(),
            dataset.as_os_str(),
            "--base-url".as_ref(),
            server.base_url().as_ref(),
            "--model".as_ref(),
            server.model().as_ref(),
            "--output-policy".as_ref(),
            "recorded".as_ref(),
            "--tool-delay".as_ref(),
            "none".as_ref(),
            "--temperature".as_ref(),
            "0".as_ref(),
            "--logprobs".as_ref(),
            "3".as_ref(),
            "-o".as_ref(),
            run_directory.as_os_str(),
        ]);
        (result, records(&run_directory))
    };

    // A Codex session without tool definitions in its one request.
    let (result, records) = replay(
        "data/real/codex/agent-history_real_redacted_codex_session-01.jsonl",
        "codex",
    );
    assert_eq!(
        result.code,
        Some(0),
        "{}\n{}",
        result.stderr,
        server.log_tail()
    );
    assert_eq!(records.len(), 1);
    let record = &records[0];
    let output = record["output_tokens"].as_u64().unwrap();
    let logprobs = record["logprobs"].as_array().expect("logprobs recorded");
    assert!(output > 0);
    assert_eq!(logprobs.len() as u64, output, "{record:#}");
    let text: String = logprobs
        .iter()
        .map(|entry| entry["token"].as_str().unwrap())
        .collect();
    assert_eq!(
        Some(text.as_str()),
        record["content"].as_str(),
        "tokens spell the content"
    );
    for entry in logprobs {
        let chosen = entry["logprob"].as_f64().unwrap();
        let alternatives = entry["top_logprobs"].as_array().unwrap();
        assert_eq!(alternatives.len(), 3, "{entry}");
        let best = alternatives[0]["logprob"].as_f64().unwrap();
        assert!(
            chosen <= 0.0 && chosen >= best - 1e-6,
            "greedy takes the best: {entry}"
        );
    }

    // The AA replay's requests carry `tools` (all but its last, which the log has no tools for).
    let (result, records) = replay("data/real/aa-replay/aa-mini-v1", "tools");
    assert_eq!(result.code, Some(1), "{}", result.stderr);
    let refused: Vec<&Value> = records
        .iter()
        .filter(|record| record["http_status"] != 200)
        .collect();
    assert_eq!(refused.len(), 5, "{records:#?}");
    for record in refused {
        assert_eq!(record["http_status"], 400, "{record:#}");
        assert!(
            record["error"]
                .as_str()
                .unwrap()
                .contains("logprobs is not supported with tools + stream"),
            "{record:#}"
        );
    }
}

#[test]
fn ctrl_c_writes_what_was_recorded_marked_incomplete() {
    let directory = temp_dir();
    let dataset = sample_dataset(directory.path());
    // The first turn is answered; the second stalls until the run is interrupted.
    let (base_url, _) = fault_server(vec![Behaviour::Ok, Behaviour::Stall]);
    let run_directory = directory.path().join("run");
    let mut child = crate::util::trajkit()
        .args(["replay".as_ref(), dataset.as_os_str()])
        .args(["--base-url", &base_url, "--model", "m", "--sessions", "1"])
        .args(["--output-policy", "recorded", "--tool-delay", "none", "-o"])
        .arg(&run_directory)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "replay did not stop on Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(exit.code(), Some(1), "an incomplete run exits 1");
    let manifest: Value =
        serde_json::from_str(&fs_err::read_to_string(run_directory.join("run.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["complete"], false);
    assert!(
        manifest["incomplete_reason"]
            .as_str()
            .unwrap()
            .contains("interrupted"),
        "{manifest}"
    );
    let records = records(&run_directory);
    assert_eq!(records.len(), 1, "the answered turn is kept: {records:?}");
    assert_eq!(records[0]["content"], "Hello there");
}
