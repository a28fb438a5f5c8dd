//! `trajkit verify`: chrF against sacrebleu itself, the verdicts of every profile's declared
//! cases (`verifiers/cases/*.json`: positive and negative controls built as transformations of a
//! candidate), the false-fail rate of exchangeable runs, invalid inputs (exit 2) and
//! byte-identical reports.
//!
//! The controls run on synthetic runs generated here (a seeded model of sampled outputs: each run
//! perturbs a per-turn base answer at a per-turn difficulty), and on the real served outputs of
//! `tests/fixtures/verify/` (llama-server, SmolLM2-135M) in `real_fixture_controls`.

use std::path::{Path, PathBuf};

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use trajkit::replay::record::{
    RequestRecord, RunDataset, RunManifest, ServedToolCall, ServerDescription, TokenLogprob,
    TopLogprob,
};
use trajkit::verify::{self, VerifyOptions, chrf, profile::Profile};

use crate::util::{python, repo, run, run_ok, temp_dir};

/// Sessions and turns per session of the synthetic fixture.
const SESSIONS: u32 = 100;
const TURNS: u32 = 10;

// ---------------------------------------------------------------------------------------------
// chrF against sacrebleu

#[test]
fn chrf_matches_sacrebleu() {
    let mut pairs: Vec<(String, String)> = [
        ("the cat sat on the mat", "the cat sat on the mat"),
        ("the cat sat on the mat", "a cat was sitting on a mat"),
        ("", "reference"),
        ("hypothesis", ""),
        ("", ""),
        ("a", "a"),
        ("ab", "abc"),
        ("Hello, World!", "hello world"),
        ("tabs\tand\nnewlines\r\n here", "tabs and newlines here"),
        (
            "no-break\u{a0}space and\u{2003}em space",
            "no-break space and em space",
        ),
        (
            "separators\u{1c}\u{1d}\u{1e}\u{1f}inside",
            "separatorsinside",
        ),
        ("ünïcödé ✓ 漢字かな 🙂🙂", "unicode ✓ 漢字 🙂"),
        (
            r#"{"arguments":{"command":"ls -la /tmp"},"name":"bash"}"#,
            r#"{"arguments":{"command":"ls /tmp"},"name":"bash"}"#,
        ),
        ("aaaaaaaaaaaa", "aaaa"),
        ("abcabcabcabc", "cbacbacba"),
    ]
    .iter()
    .map(|(left, right)| ((*left).to_owned(), (*right).to_owned()))
    .collect();
    // Random texts over a small alphabet (many repeated n-grams, clipping matters) with spaces.
    let mut generator = ChaCha8Rng::seed_from_u64(11);
    let alphabet: Vec<char> = "abcde fg\u{e9}\u{4e2d}.,{}\"".chars().collect();
    for _ in 0..300 {
        let mut text = || {
            let length = (generator.next_u32() % 60) as usize;
            (0..length)
                .map(|_| alphabet[(generator.next_u32() as usize) % alphabet.len()])
                .collect::<String>()
        };
        let first = text();
        let second = text();
        pairs.push((first, second));
    }
    let directory = temp_dir();
    let input = directory.path().join("pairs.json");
    fs_err::write(&input, serde_json::to_string(&pairs).expect("json")).expect("write pairs");
    let output = std::process::Command::new(python())
        .arg(repo().join("tests/python/chrf_reference.py"))
        .arg(&input)
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "sacrebleu failed (is it installed? scripts/setup pins it):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: Value = serde_json::from_slice(&output.stdout).expect("sacrebleu output");
    assert_eq!(answer["version"], "2.6.0", "the pinned sacrebleu");
    let scores = answer["scores"].as_array().expect("scores");
    assert_eq!(scores.len(), pairs.len());
    for ((hypothesis, reference), expected) in pairs.iter().zip(scores) {
        let expected = expected.as_f64().expect("a number");
        let ours = chrf::chrf_text(hypothesis, reference);
        assert!(
            (ours - expected).abs() < 1e-9,
            "chrF({hypothesis:?}, {reference:?}): trajkit {ours}, sacrebleu {expected}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Synthetic runs

const DATASET_NAME: &str = "verify-synthetic";

/// A dataset of `sessions` sessions of `turns` turns each (tool-calling turns, then a final
/// answer), ingested from a generated OpenAI-chat JSONL file.
fn synthetic_dataset(directory: &Path, sessions: u32, turns: u32) -> (PathBuf, Vec<(String, u32)>) {
    let mut lines = String::new();
    let mut keys = Vec::new();
    for session in 0..sessions {
        let id = format!("s{session:04}");
        let mut messages = vec![
            json!({"role": "system", "content": "You are a coding agent."}),
            json!({"role": "user", "content": format!("Fix issue {session}.")}),
        ];
        for turn in 0..turns {
            keys.push((id.clone(), turn));
            if turn + 1 == turns {
                messages.push(json!({"role": "assistant", "content": "Done."}));
            } else {
                messages.push(
                    json!({"role": "assistant", "content": format!("step {turn}"),
                    "tool_calls": [{"id": format!("c{turn}"), "type": "function",
                    "function": {"name": "bash", "arguments": "{\"command\":\"ls\"}"}}]}),
                );
                messages.push(json!({"role": "tool", "tool_call_id": format!("c{turn}"),
                    "content": format!("output {turn}")}));
            }
        }
        lines.push_str(
            &json!({"id": id, "model": "m", "messages": messages, "tools": synthetic_tools()})
                .to_string(),
        );
        lines.push('\n');
    }
    let source = directory.join("chats.jsonl");
    fs_err::write(&source, lines).expect("write chats");
    let dataset = directory.join("synthetic.trajkit");
    ingest_chats(&source, &dataset);
    (dataset, keys)
}

/// Ingests generated OpenAI-chat lines as the synthetic dataset (no tokenizer).
fn ingest_chats(source: &Path, dataset: &Path) {
    run_ok([
        "ingest".as_ref(),
        source.as_os_str(),
        "--format".as_ref(),
        "openai-jsonl".as_ref(),
        "--tokenizer".as_ref(),
        "none".as_ref(),
        "--name".as_ref(),
        DATASET_NAME.as_ref(),
        "-q".as_ref(),
        "-o".as_ref(),
        dataset.as_os_str(),
    ]);
}

/// The tools every synthetic request offers: `bash` with a required string `command`.
fn synthetic_tools() -> Value {
    json!([{"type": "function", "function": {"name": "bash", "description": "Runs a command.",
        "parameters": {"type": "object", "properties": {"command": {"type": "string"},
        "timeout": {"type": "integer"}}, "required": ["command"]}}}])
}

const VOCABULARY: [&str; 48] = [
    "the", "file", "function", "returns", "value", "error", "test", "fix", "check", "list", "open",
    "read", "write", "path", "line", "code", "run", "module", "class", "import", "call", "result",
    "string", "number", "loop", "index", "patch", "diff", "change", "update", "config", "option",
    "parse", "token", "output", "input", "print", "return", "assert", "django", "model", "query",
    "field", "cache", "server", "request", "response", "status",
];

fn word(generator: &mut ChaCha8Rng) -> &'static str {
    VOCABULARY[(generator.next_u32() as usize) % VOCABULARY.len()]
}

fn chance(generator: &mut ChaCha8Rng, probability: f64) -> bool {
    #[allow(clippy::cast_precision_loss, reason = "53-bit uniform")]
    let uniform = (generator.next_u64() >> 11) as f64 / (1_u64 << 53) as f64;
    uniform < probability
}

fn key_seed(key: &(String, u32)) -> u64 {
    key.0.bytes().fold(
        u64::from(key.1).wrapping_add(0x51_7c_c1_b7),
        |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3),
    )
}

/// How a synthetic run samples.
#[derive(Debug, Clone, Copy)]
struct Style {
    /// The run's own seed.
    seed: u64,
    /// Extra word-replacement probability on top of each turn's difficulty (0: the reference
    /// distribution).
    degradation: f64,
    /// Greedy: outputs equal the base answer except for divergences (near ties when
    /// `degradation` is 0, far from ties otherwise), with logprobs.
    greedy: bool,
}

/// One run's records over `keys`.
#[allow(
    clippy::too_many_lines,
    reason = "one generative model, read top to bottom: base answer, run noise, record"
)]
fn synthetic_run(keys: &[(String, u32)], style: Style) -> Vec<RequestRecord> {
    keys.iter()
        .map(|key| {
            // The turn's base answer and difficulty: the same for every run.
            let mut base = ChaCha8Rng::seed_from_u64(key_seed(key));
            #[allow(clippy::cast_precision_loss, reason = "small numbers")]
            let difficulty = 0.05 + f64::from(base.next_u32() % 40) / 100.0;
            let length = 8 + (base.next_u32() % 24) as usize;
            let base_words: Vec<&str> = (0..length).map(|_| word(&mut base)).collect();
            let calls_tool = chance(&mut base, 0.6);
            let base_command: Vec<&str> = (0..4).map(|_| word(&mut base)).collect();
            let alternative = word(&mut base);
            // Where the base answer's near tie is (greedy runs may flip there).
            let tie_at = (base.next_u32() as usize) % length;
            let mut generator = ChaCha8Rng::seed_from_u64(
                key_seed(key) ^ style.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15),
            );
            let mut words: Vec<String> = base_words.iter().map(|&text| text.to_owned()).collect();
            let mut command: Vec<String> =
                base_command.iter().map(|&text| text.to_owned()).collect();
            let mut tool = calls_tool;
            let mut logprobs = None;
            if style.greedy {
                let near_tie_flip = chance(&mut generator, 0.1);
                let far_flip = chance(&mut generator, style.degradation);
                let at = tie_at;
                let mut tokens: Vec<TokenLogprob> = words
                    .iter()
                    .map(|text| TokenLogprob {
                        token: text.clone(),
                        logprob: -0.05,
                        top_logprobs: vec![TopLogprob {
                            token: text.clone(),
                            logprob: -0.05,
                        }],
                    })
                    .collect();
                // At position `at` the base token and `alternative` are near-tied (0.1 nat).
                tokens[at].top_logprobs.push(TopLogprob {
                    token: alternative.to_owned(),
                    logprob: -0.15,
                });
                if near_tie_flip {
                    alternative.clone_into(&mut words[at]);
                    tokens[at] = TokenLogprob {
                        token: alternative.to_owned(),
                        logprob: -0.1,
                        top_logprobs: vec![
                            TopLogprob {
                                token: alternative.to_owned(),
                                logprob: -0.1,
                            },
                            TopLogprob {
                                token: base_words[at].to_owned(),
                                logprob: -0.12,
                            },
                        ],
                    };
                }
                if far_flip {
                    let other = format!("{}x", word(&mut generator));
                    words[at].clone_from(&other);
                    tokens[at] = TokenLogprob {
                        token: other.clone(),
                        logprob: -2.0,
                        top_logprobs: vec![TopLogprob {
                            token: other,
                            logprob: -2.0,
                        }],
                    };
                    tokens.truncate(at + 1);
                    words.truncate(at + 1);
                }
                logprobs = Some(tokens);
            } else {
                let replace = difficulty + style.degradation;
                for text in &mut words {
                    if chance(&mut generator, replace) {
                        word(&mut generator).clone_into(text);
                    }
                }
                for text in &mut command {
                    if chance(&mut generator, replace / 10.0) {
                        word(&mut generator).clone_into(text);
                    }
                }
                if chance(&mut generator, difficulty / 40.0 + style.degradation / 2.0) {
                    tool = !tool;
                }
            }
            let truncated = !style.greedy && chance(&mut generator, 0.02);
            if truncated {
                words.truncate(words.len() * 7 / 10);
            }
            let tool_calls = if tool && !truncated {
                vec![ServedToolCall {
                    id: Some("call".to_owned()),
                    name: "bash".to_owned(),
                    arguments: json!({"command": command.join(" "), "timeout": 30}).to_string(),
                }]
            } else {
                Vec::new()
            };
            let finish = if truncated {
                "length"
            } else if tool_calls.is_empty() {
                "stop"
            } else {
                "tool_calls"
            };
            RequestRecord {
                session_id: key.0.clone(),
                turn_index: key.1,
                finish_reason: Some(finish.to_owned()),
                content: Some(words.join(" ")),
                output_tokens: Some(
                    (words.len() as u64 * 4).div_ceil(3) + 12 * tool_calls.len() as u64,
                ),
                output_tokens_source: Some("usage".to_owned()),
                tool_calls,
                http_status: Some(200),
                max_tokens: Some(256),
                logprobs,
                ..RequestRecord::default()
            }
        })
        .collect()
}

/// Writes a run directory.
fn write_run(
    directory: &Path,
    records: &[RequestRecord],
    planned: (u64, u64),
    temperature: f64,
    seed: u64,
) {
    let (sessions, turns) = planned;
    fs_err::create_dir_all(directory).expect("run directory");
    let mut sampling = Map::new();
    sampling.insert("temperature".to_owned(), json!(temperature));
    sampling.insert("seed".to_owned(), json!(seed));
    let manifest = RunManifest {
        record: "trajkit-replay-run".to_owned(),
        record_version: "1".to_owned(),
        trajkit_version: "0.1.0".to_owned(),
        dataset: RunDataset {
            path: "synthetic.trajkit".to_owned(),
            name: DATASET_NAME.to_owned(),
            sessions,
            turns,
        },
        base_url: format!("http://127.0.0.1:{}/v1", 8000 + seed),
        model: "synthetic".to_owned(),
        agents: 4,
        output_policy: "recorded".to_owned(),
        tool_delay_policy: "none".to_owned(),
        salt: Some(format!("salt-{seed}")),
        sampling,
        server: ServerDescription::default(),
        started_unix_ms: 0,
        finished_unix_ms: 1,
        complete: true,
        incomplete_reason: None,
        requests: records.len() as u64,
        failed_requests: 0,
    };
    fs_err::write(
        directory.join("run.json"),
        serde_json::to_string_pretty(&manifest).expect("manifest"),
    )
    .expect("write run.json");
    let mut lines = String::new();
    for record in records {
        lines.push_str(&serde_json::to_string(record).expect("record"));
        lines.push('\n');
    }
    fs_err::write(directory.join("requests.jsonl"), lines).expect("write requests");
}

// ---------------------------------------------------------------------------------------------
// Negative controls: transformations of a candidate run

/// Whether this turn is among a seeded `fraction` of turns.
fn selected(record: &RequestRecord, fraction: f64, salt: u64) -> bool {
    let mut generator =
        ChaCha8Rng::seed_from_u64(key_seed(&(record.session_id.clone(), record.turn_index)) ^ salt);
    chance(&mut generator, fraction)
}

/// Applies a named transformation (`truncate:F`, `shuffle_args`, `drop_tool_calls`,
/// `duplicate_eos:F`, `drop_required_argument:F`, `drop_turns:F`).
fn transform(records: &mut Vec<RequestRecord>, name: &str) {
    let (kind, fraction) = name.split_once(':').map_or((name, 1.0), |(kind, value)| {
        (kind, value.parse().expect("a fraction"))
    });
    match kind {
        "truncate" => {
            for record in records
                .iter_mut()
                .filter(|record| selected(record, fraction, 1))
            {
                let content = record.content.take().unwrap_or_default();
                let half: String = content.chars().take(content.chars().count() / 2).collect();
                record.content = Some(half);
                record.tool_calls.clear();
                record.finish_reason = Some("length".to_owned());
                record.output_tokens = record.output_tokens.map(|tokens| tokens / 2);
            }
        }
        "shuffle_args" => {
            // Each call's argument values move to other keys; a one-key call takes the next
            // call's arguments.
            let originals: Vec<String> = records
                .iter()
                .flat_map(|record| record.tool_calls.iter().map(|call| call.arguments.clone()))
                .collect();
            let mut position = 0;
            for record in records.iter_mut() {
                for call in &mut record.tool_calls {
                    position += 1;
                    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&call.arguments)
                    else {
                        continue;
                    };
                    if map.len() > 1 {
                        let keys: Vec<&String> = map.keys().collect();
                        let mut values: Vec<&Value> = map.values().collect();
                        values.rotate_left(1);
                        let shuffled: Map<String, Value> = keys
                            .into_iter()
                            .cloned()
                            .zip(values.into_iter().cloned())
                            .collect();
                        call.arguments = Value::Object(shuffled).to_string();
                    } else if !originals.is_empty() {
                        call.arguments
                            .clone_from(&originals[position % originals.len()]);
                    }
                }
            }
        }
        "drop_tool_calls" => {
            for record in records.iter_mut() {
                if !record.tool_calls.is_empty() {
                    record.tool_calls.clear();
                    record.finish_reason = Some("stop".to_owned());
                }
            }
        }
        "duplicate_eos" => {
            for record in records
                .iter_mut()
                .filter(|record| selected(record, fraction, 2))
            {
                let content = record.content.take().unwrap_or_default();
                record.content = Some(format!("{content}<|im_end|><|im_end|>"));
                record.output_tokens = record.output_tokens.map(|tokens| tokens + 2);
            }
        }
        "drop_required_argument" => {
            // Valid JSON objects that break the tool's schema: `command` is required.
            for record in records
                .iter_mut()
                .filter(|record| selected(record, fraction, 4))
            {
                for call in &mut record.tool_calls {
                    if let Ok(Value::Object(mut map)) =
                        serde_json::from_str::<Value>(&call.arguments)
                    {
                        map.remove("command");
                        call.arguments = Value::Object(map).to_string();
                    }
                }
            }
        }
        "drop_turns" => records.retain(|record| !selected(record, fraction, 3)),
        other => panic!("unknown transformation `{other}`"),
    }
}

// ---------------------------------------------------------------------------------------------
// Declared cases

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    profile: String,
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    #[allow(dead_code, reason = "documentation for readers of the case file")]
    description: String,
    /// `honest`, `slightly_degraded`, `degraded` or `reference`.
    candidate: String,
    transforms: Vec<String>,
    verdict: String,
    /// Reasons the report must include.
    reasons: Vec<String>,
    suspicious: bool,
    /// Whether the case also applies to the real fixtures (false for cases that need data they
    /// lack, like near-tie logprobs).
    real: bool,
}

fn case_file(profile: &str) -> CaseFile {
    let path = repo().join(format!("verifiers/cases/{profile}.json"));
    let text = fs_err::read_to_string(&path).expect("case file");
    let file: CaseFile = serde_json::from_str(&text).expect("case file parses");
    assert_eq!(file.profile, profile);
    file
}

/// The runs a profile's synthetic cases use: three references and the candidates.
struct SyntheticRuns {
    directory: tempfile::TempDir,
    dataset: PathBuf,
    keys: Vec<(String, u32)>,
    sessions: u64,
    greedy: bool,
}

impl SyntheticRuns {
    fn new(sessions: u32, turns: u32, greedy: bool) -> SyntheticRuns {
        let directory = temp_dir();
        let (dataset, keys) = synthetic_dataset(directory.path(), sessions, turns);
        let runs = SyntheticRuns {
            directory,
            dataset,
            keys,
            sessions: u64::from(sessions),
            greedy,
        };
        for seed in 1..=3 {
            let records = synthetic_run(
                &runs.keys,
                Style {
                    seed,
                    degradation: 0.0,
                    greedy,
                },
            );
            write_run(
                &runs.reference(seed),
                &records,
                runs.planned(),
                runs.temperature(),
                seed,
            );
        }
        runs
    }

    fn planned(&self) -> (u64, u64) {
        (self.sessions, self.keys.len() as u64)
    }

    fn temperature(&self) -> f64 {
        if self.greedy { 0.0 } else { 1.0 }
    }

    fn reference(&self, seed: u64) -> PathBuf {
        self.directory.path().join(format!("reference{seed}"))
    }

    fn references(&self) -> Vec<PathBuf> {
        (1..=3).map(|seed| self.reference(seed)).collect()
    }

    fn candidate_records(&self, kind: &str, seed: u64) -> Vec<RequestRecord> {
        let degradation = match kind {
            "honest" => 0.0,
            "slightly_degraded" => 0.03,
            "degraded" => 0.3,
            "reference" => {
                let text = fs_err::read_to_string(self.reference(1).join("requests.jsonl"))
                    .expect("reference");
                return text
                    .lines()
                    .map(|line| serde_json::from_str(line).expect("record"))
                    .collect();
            }
            other => panic!("unknown candidate `{other}`"),
        };
        synthetic_run(
            &self.keys,
            Style {
                seed,
                degradation,
                greedy: self.greedy,
            },
        )
    }

    fn write_candidate(&self, name: &str, records: &[RequestRecord], seed: u64) -> PathBuf {
        let path = self.directory.path().join(format!("candidate-{name}"));
        write_run(&path, records, self.planned(), self.temperature(), seed);
        path
    }
}

fn check_case(case: &Case, report: &verify::report::VerifyReport, on: &str) {
    let context = format!(
        "case `{}` on {on}: got {} {:?} suspicious {:?}\n{}",
        case.name,
        report.verdict,
        report.reasons,
        report.suspicious,
        verify::report::render_table(report)
    );
    assert_eq!(report.verdict, case.verdict, "{context}");
    for reason in &case.reasons {
        assert!(
            report.reasons.contains(reason),
            "missing reason {reason}: {context}"
        );
    }
    assert_eq!(!report.suspicious.is_empty(), case.suspicious, "{context}");
}

fn run_synthetic_cases(profile_name: &str, runs: &SyntheticRuns) {
    let profile = Profile::built_in(profile_name)
        .expect("built in")
        .expect("parses");
    for case in case_file(profile_name).cases {
        let mut records = runs.candidate_records(&case.candidate, 4);
        for name in &case.transforms {
            transform(&mut records, name);
        }
        let candidate = runs.write_candidate(&case.name, &records, 4);
        let started = std::time::Instant::now();
        let report = verify::verify(&VerifyOptions {
            dataset: runs.dataset.clone(),
            references: runs.references(),
            candidate,
            profile: profile.clone(),
        })
        .expect("valid input");
        eprintln!("case {} took {:?}", case.name, started.elapsed());
        check_case(&case, &report, "synthetic runs");
    }
}

#[test]
fn standard_and_strict_profile_cases_on_synthetic_runs() {
    let runs = SyntheticRuns::new(SESSIONS, TURNS, false);
    run_synthetic_cases("standard", &runs);
    run_synthetic_cases("strict", &runs);
}

#[test]
fn greedy_profile_cases_on_synthetic_runs() {
    run_synthetic_cases("greedy", &SyntheticRuns::new(SESSIONS, TURNS, true));
}

// ---------------------------------------------------------------------------------------------
// False-fail rate

/// Reference-only runs, split many ways into (candidate, three references): every candidate is
/// exchangeable with its references, so a FAIL is a false fail. The standard profile must fail
/// at most at its nominal α.
#[test]
fn exchangeable_runs_fail_at_most_at_nominal_alpha() {
    let runs = SyntheticRuns::new(SESSIONS, TURNS, false);
    let seeds: Vec<u64> = (11..=15).collect();
    let paths: Vec<PathBuf> = seeds
        .iter()
        .map(|&seed| {
            let path = runs.directory.path().join(format!("exchangeable{seed}"));
            let records = synthetic_run(
                &runs.keys,
                Style {
                    seed,
                    degradation: 0.0,
                    greedy: false,
                },
            );
            write_run(&path, &records, runs.planned(), 1.0, seed);
            path
        })
        .collect();
    let profile = Profile::built_in("standard")
        .expect("built in")
        .expect("parses");
    let mut splits = 0;
    let mut failures = Vec::new();
    for candidate in 0..paths.len() {
        let others: Vec<usize> = (0..paths.len())
            .filter(|&index| index != candidate)
            .collect();
        // Every three-reference subset of the other four runs.
        for subset in 0..others.len() {
            let references: Vec<PathBuf> = others
                .iter()
                .enumerate()
                .filter(|(position, _)| *position != subset)
                .map(|(_, &index)| paths[index].clone())
                .collect();
            assert_eq!(references.len(), 3);
            let report = verify::verify(&VerifyOptions {
                dataset: runs.dataset.clone(),
                references,
                candidate: paths[candidate].clone(),
                profile: profile.clone(),
            })
            .expect("valid input");
            splits += 1;
            if report.verdict != "PASS" {
                failures.push(format!(
                    "candidate {candidate} subset {subset}: {:?}",
                    report.reasons
                ));
            }
        }
    }
    #[allow(clippy::cast_precision_loss, reason = "tiny counts")]
    let rate = failures.len() as f64 / f64::from(splits);
    eprintln!("false-fail rate {rate} over {splits} splits: {failures:?}");
    assert!(
        rate <= profile.alpha,
        "false-fail rate {rate} over {splits} splits exceeds α = {}: {failures:?}",
        profile.alpha
    );
}

// ---------------------------------------------------------------------------------------------
// The command: exit codes, invalid input, formats, determinism

/// A small fixture (12 sessions × 5 turns) and a profile file whose floor it meets.
fn small_fixture() -> (SyntheticRuns, PathBuf) {
    let runs = SyntheticRuns::new(12, 5, false);
    let text = fs_err::read_to_string(repo().join("verifiers/standard.json")).expect("profile");
    let mut profile: Value = serde_json::from_str(&text).expect("profile json");
    profile["name"] = json!("small");
    profile["min_sessions"] = json!(5);
    profile["min_turns"] = json!(30);
    profile["bootstrap_resamples"] = json!(1000);
    let path = runs.directory.path().join("small.json");
    fs_err::write(&path, profile.to_string()).expect("write profile");
    (runs, path)
}

fn verify_args(runs: &SyntheticRuns, candidate: &Path, extra: &[&str]) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = vec![
        "verify".into(),
        "--dataset".into(),
        runs.dataset.clone().into(),
    ];
    args.push("--reference".into());
    args.extend(runs.references().into_iter().map(Into::into));
    args.push("--candidate".into());
    args.push(candidate.into());
    args.extend(extra.iter().map(Into::into));
    args
}

#[test]
fn reports_are_byte_identical_across_runs_and_thread_counts() {
    let (runs, profile) = small_fixture();
    let candidate = runs.write_candidate("honest", &runs.candidate_records("honest", 4), 4);
    let profile = profile.to_str().expect("utf-8 path");
    for format in ["json", "table", "markdown", "html"] {
        let outputs: Vec<(Option<i32>, String)> = ["1", "2", "4"]
            .iter()
            .map(|threads| {
                let output = crate::util::trajkit()
                    .args(verify_args(
                        &runs,
                        &candidate,
                        &["--profile", profile, "--format", format],
                    ))
                    .env("RAYON_NUM_THREADS", threads)
                    .output()
                    .expect("trajkit runs");
                (
                    output.status.code(),
                    String::from_utf8_lossy(&output.stdout).into_owned(),
                )
            })
            .collect();
        assert!(
            matches!(outputs[0].0, Some(0 | 1)),
            "{format}: {:?}",
            outputs[0]
        );
        assert!(
            outputs.iter().all(|output| output == &outputs[0]),
            "{format} differs between thread counts"
        );
        let first_line = outputs[0].1.lines().next().unwrap_or_default().to_owned();
        let leads_with_verdict = match format {
            "json" => outputs[0].1.contains("\"verdict\""),
            "html" => {
                outputs[0].1.contains("<h1 class=\"pass\">PASS")
                    || outputs[0].1.contains("<h1 class=\"fail\">FAIL")
            }
            _ => first_line.contains("PASS") || first_line.contains("FAIL"),
        };
        assert!(leads_with_verdict, "{format}: {first_line}");
    }
}

#[test]
fn exit_codes_follow_the_verdict_and_the_report_can_be_written_to_a_file() {
    let (runs, profile) = small_fixture();
    let profile = profile.to_str().expect("utf-8 path");
    // At 60 turns an honest run is rarely decided; a reused reference always passes (flagged).
    let reused = runs.write_candidate("reused", &runs.candidate_records("reference", 4), 4);
    let honest = runs.write_candidate("honest", &runs.candidate_records("honest", 4), 4);
    let output = runs.directory.path().join("report.json");
    let outcome = run(verify_args(
        &runs,
        &reused,
        &[
            "--profile",
            profile,
            "--format",
            "json",
            "-o",
            output.to_str().expect("utf-8"),
        ],
    ));
    assert_eq!(
        outcome.code,
        Some(0),
        "{}{}",
        outcome.stdout,
        outcome.stderr
    );
    assert!(outcome.stderr.starts_with("PASS"), "{}", outcome.stderr);
    let report: Value =
        serde_json::from_str(&fs_err::read_to_string(&output).expect("report")).expect("json");
    assert_eq!(report["verdict"], "PASS");
    assert!(
        report["suspicious"]
            .to_string()
            .contains("SUSPICIOUS:text_chrf"),
        "{}",
        report["suspicious"]
    );
    assert_eq!(report["report"], "trajkit-verify-report");
    let mut records = runs.candidate_records("honest", 4);
    transform(&mut records, "drop_tool_calls");
    let dropped = runs.write_candidate("dropped", &records, 4);
    let outcome = run(verify_args(&runs, &dropped, &["--profile", profile]));
    assert_eq!(
        outcome.code,
        Some(1),
        "{}{}",
        outcome.stdout,
        outcome.stderr
    );
    assert!(
        outcome.stdout.starts_with("FAIL (profile small): "),
        "{}",
        outcome.stdout
    );
    // With the built-in standard profile the 60-turn fixture is too small to decide.
    let outcome = run(verify_args(&runs, &honest, &[]));
    assert_eq!(outcome.code, Some(1));
    assert!(
        outcome.stdout.contains("UNDERPOWERED:sample_size"),
        "{}",
        outcome.stdout
    );
}

#[test]
fn tool_schema_checks_say_which_turns_they_covered() {
    let (runs, profile) = small_fixture();
    let honest = runs.write_candidate("honest", &runs.candidate_records("honest", 4), 4);
    let report = |dataset: &Path| -> Value {
        let outcome = run([
            "verify".as_ref(),
            "--dataset".as_ref(),
            dataset.as_os_str(),
            "--reference".as_ref(),
            runs.reference(1).as_os_str(),
            runs.reference(2).as_os_str(),
            runs.reference(3).as_os_str(),
            "--candidate".as_ref(),
            honest.as_os_str(),
            "--profile".as_ref(),
            profile.as_os_str(),
            "--format".as_ref(),
            "json".as_ref(),
        ]);
        serde_json::from_str(&outcome.stdout).expect("a JSON report")
    };
    let schema_guardrail = |report: &Value| -> String {
        report["guardrails"]
            .as_array()
            .expect("guardrails")
            .iter()
            .find(|guardrail| guardrail["name"] == "tool_schema_violations")
            .expect("the guardrail")["detail"]
            .as_str()
            .expect("detail")
            .to_owned()
    };
    let unchecked_warning = |report: &Value| {
        report["warnings"]
            .as_array()
            .expect("warnings")
            .iter()
            .any(|warning| {
                warning
                    .as_str()
                    .is_some_and(|text| text.contains("keeps no tool definitions"))
            })
    };
    let with_tools = report(&runs.dataset);
    assert!(
        schema_guardrail(&with_tools)
            .ends_with("checked on the 60 of 60 turns whose request offered tools"),
        "{}",
        schema_guardrail(&with_tools)
    );
    assert!(!unchecked_warning(&with_tools));

    // The same chats without their tool definitions: the runs still call tools.
    let chats = fs_err::read_to_string(runs.directory.path().join("chats.jsonl")).expect("chats");
    let stripped: String = chats
        .lines()
        .map(|line| {
            let mut session: Value = serde_json::from_str(line).expect("a session");
            session.as_object_mut().expect("an object").remove("tools");
            session.to_string() + "\n"
        })
        .collect();
    let source = runs.directory.path().join("chats-without-tools.jsonl");
    fs_err::write(&source, stripped).expect("write chats");
    let without = runs.directory.path().join("without-tools.trajkit");
    ingest_chats(&source, &without);
    let without_tools = report(&without);
    assert!(
        schema_guardrail(&without_tools)
            .ends_with("checked on the 0 of 60 turns whose request offered tools"),
        "{}",
        schema_guardrail(&without_tools)
    );
    assert!(unchecked_warning(&without_tools));
}

#[test]
fn one_reference_gives_a_weaker_verdict_and_says_why() {
    let (runs, profile) = small_fixture();
    let honest = runs.write_candidate("honest", &runs.candidate_records("honest", 4), 4);
    let outcome = run([
        "verify".as_ref(),
        "--dataset".as_ref(),
        runs.dataset.as_os_str(),
        "--reference".as_ref(),
        runs.reference(1).as_os_str(),
        "--candidate".as_ref(),
        honest.as_os_str(),
        "--profile".as_ref(),
        profile.as_os_str(),
    ]);
    assert_eq!(outcome.code, Some(1), "{}", outcome.stdout);
    assert!(
        outcome
            .stdout
            .contains("one reference run: there is no reference↔reference noise floor"),
        "{}",
        outcome.stdout
    );
}

#[test]
#[allow(
    clippy::too_many_lines,
    reason = "one table of invalid inputs and their messages"
)]
fn invalid_inputs_exit_2_without_a_verdict() {
    let (runs, profile) = small_fixture();
    let profile = profile.to_str().expect("utf-8 path");
    let honest = runs.candidate_records("honest", 4);
    let directory = runs.directory.path();
    let mut cases: Vec<(&str, PathBuf, &str)> = Vec::new();
    // A turn the dataset does not have.
    let mut records = honest.clone();
    records[0].turn_index = 99;
    cases.push((
        "unknown turn",
        runs.write_candidate("unknown-turn", &records, 4),
        "not a turn 99",
    ));
    let mut records = honest.clone();
    records[0].session_id = "nope".to_owned();
    cases.push((
        "unknown session",
        runs.write_candidate("unknown-session", &records, 4),
        "session `nope` is not in the dataset",
    ));
    // A turn recorded twice.
    let mut records = honest.clone();
    records.push(records[0].clone());
    cases.push((
        "duplicate",
        runs.write_candidate("duplicate", &records, 4),
        "recorded twice",
    ));
    // Different sampling (config lock): temperature 0.7 instead of 1.
    let path = directory.join("candidate-hot");
    write_run(&path, &honest, runs.planned(), 0.7, 4);
    cases.push(("sampling", path, "`sampling.temperature`"));
    // Different max_tokens on one turn.
    let mut records = honest.clone();
    records[3].max_tokens = Some(1000);
    cases.push((
        "max_tokens",
        runs.write_candidate("max-tokens", &records, 4),
        "max_tokens differs",
    ));
    // Unreadable and malformed files.
    cases.push(("missing file", directory.join("nowhere"), "cannot read"));
    let path = directory.join("candidate-broken");
    fs_err::create_dir_all(&path).expect("dir");
    fs_err::copy(runs.reference(1).join("run.json"), path.join("run.json")).expect("copy");
    fs_err::write(path.join("requests.jsonl"), "{\"session_id\": 1}\n").expect("write");
    cases.push(("malformed line", path, "line 1"));
    for (name, candidate, expected) in cases {
        let outcome = run(verify_args(&runs, &candidate, &["--profile", profile]));
        assert_eq!(
            outcome.code,
            Some(2),
            "{name}: {}{}",
            outcome.stdout,
            outcome.stderr
        );
        assert!(
            outcome.stdout.is_empty(),
            "{name}: no verdict expected: {}",
            outcome.stdout
        );
        assert!(
            outcome.stderr.contains(expected),
            "{name}: {}",
            outcome.stderr
        );
        assert!(
            !outcome.stderr.contains("panicked"),
            "{name}: {}",
            outcome.stderr
        );
    }
    // A reference that misses a turn is not a reference.
    let mut records = synthetic_run(
        &runs.keys,
        Style {
            seed: 9,
            degradation: 0.0,
            greedy: false,
        },
    );
    records.pop();
    let short = directory.join("short-reference");
    write_run(&short, &records, runs.planned(), 1.0, 9);
    let honest_path = runs.write_candidate("honest", &honest, 4);
    let outcome = run([
        "verify".as_ref(),
        "--dataset".as_ref(),
        runs.dataset.as_os_str(),
        "--reference".as_ref(),
        runs.reference(1).as_os_str(),
        short.as_os_str(),
        "--candidate".as_ref(),
        honest_path.as_os_str(),
        "--profile".as_ref(),
        profile.as_ref(),
    ]);
    assert_eq!(outcome.code, Some(2), "{}", outcome.stderr);
    assert!(
        outcome
            .stderr
            .contains("a reference must answer every turn"),
        "{}",
        outcome.stderr
    );
    // The greedy profile refuses sampled runs.
    let outcome = run(verify_args(&runs, &honest_path, &["--profile", "greedy"]));
    assert_eq!(outcome.code, Some(2), "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("temperature 0"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn plain_output_files_are_read_and_their_lock_is_reported_unchecked() {
    let (runs, profile) = small_fixture();
    let plain = runs.directory.path().join("plain.jsonl");
    let mut lines = String::new();
    for record in runs.candidate_records("honest", 4) {
        let tool_calls: Vec<Value> = record
            .tool_calls
            .iter()
            .map(|call| json!({"type": "function", "function": {"name": call.name, "arguments": call.arguments}}))
            .collect();
        lines.push_str(
            &json!({
                "session_id": record.session_id, "turn_index": record.turn_index,
                "content": record.content, "tool_calls": tool_calls,
                "finish_reason": record.finish_reason, "output_tokens": record.output_tokens,
            })
            .to_string(),
        );
        lines.push('\n');
    }
    fs_err::write(&plain, lines).expect("write plain");
    let outcome = run(verify_args(
        &runs,
        &plain,
        &[
            "--profile",
            profile.to_str().expect("utf-8"),
            "--format",
            "json",
        ],
    ));
    assert!(
        matches!(outcome.code, Some(0 | 1)),
        "{}{}",
        outcome.stdout,
        outcome.stderr
    );
    let report: Value = serde_json::from_str(&outcome.stdout).expect("json");
    assert_eq!(report["config_lock"]["runs_with_run_json"], 3);
    assert!(
        report["warnings"].to_string().contains("plain output file"),
        "{}",
        report["warnings"]
    );
}

// ---------------------------------------------------------------------------------------------
// Real served outputs (tests/fixtures/verify, made by scripts/make-verify-fixtures)

/// The real fixture: `dataset`, `ref-1..3`, `honest`, `q2k` (`TRAJKIT_VERIFY_FIXTURES` overrides
/// the location). Missing fixtures fail the test.
fn real_fixture() -> PathBuf {
    let path = std::env::var_os("TRAJKIT_VERIFY_FIXTURES")
        .map_or_else(|| repo().join("tests/fixtures/verify"), PathBuf::from);
    assert!(
        path.join("honest/run.json").is_file(),
        "`{}` lacks the verify fixtures (scripts/make-verify-fixtures makes them)",
        path.display()
    );
    path
}

/// The standard cases marked `real`, on the real fixture with a profile whose sample-size floor
/// the 57-turn fixture meets. The honest candidate and the reused reference must not FAIL as
/// DEGRADED or on a guardrail (at 57 turns an honest run may still be UNDERPOWERED: that is the
/// honest answer), and every negative control must FAIL.
#[test]
fn real_fixture_controls() {
    let fixture = real_fixture();
    let text = fs_err::read_to_string(repo().join("verifiers/standard.json")).expect("profile");
    let mut profile: Profile = serde_json::from_str(&text).expect("profile");
    profile.name = "standard-fixture".to_owned();
    profile.min_sessions = 5;
    profile.min_turns = 40;
    let references: Vec<PathBuf> = (1..=3)
        .map(|index| fixture.join(format!("ref-{index}")))
        .collect();
    let work = temp_dir();
    let read = |name: &str| -> (String, Vec<RequestRecord>) {
        let directory = fixture.join(name);
        let manifest = fs_err::read_to_string(directory.join("run.json")).expect("run.json");
        let records = fs_err::read_to_string(directory.join("requests.jsonl"))
            .expect("requests")
            .lines()
            .map(|line| serde_json::from_str(line).expect("record"))
            .collect();
        (manifest, records)
    };
    // Only the untransformed candidates: here the honest one comes out UNDERPOWERED, so a
    // negative control applied to it could not flip its verdict (and with outputs capped at 64
    // tokens the references already stop at the cap on ~75% of turns, which hides a 10%
    // truncation). The negative controls run on the greedy fixture, where the honest candidate
    // passes (`real_greedy_fixture_controls`).
    for case in case_file("standard")
        .cases
        .into_iter()
        .filter(|case| case.real && case.transforms.is_empty())
    {
        let source = match case.candidate.as_str() {
            "honest" => "honest",
            "degraded" => "q2k",
            "reference" => "ref-1",
            other => panic!("no real fixture for `{other}`"),
        };
        let (manifest, mut records) = read(source);
        for name in &case.transforms {
            transform(&mut records, name);
        }
        let candidate = work.path().join(&case.name);
        fs_err::create_dir_all(&candidate).expect("dir");
        fs_err::write(candidate.join("run.json"), manifest).expect("run.json");
        let lines: String = records
            .iter()
            .map(|record| serde_json::to_string(record).expect("record") + "\n")
            .collect();
        fs_err::write(candidate.join("requests.jsonl"), lines).expect("requests");
        let report = verify::verify(&VerifyOptions {
            dataset: fixture.join("dataset"),
            references: references.clone(),
            candidate,
            profile: profile.clone(),
        })
        .expect("valid input");
        eprintln!(
            "real fixture, case {}: {}",
            case.name,
            verify::report::verdict_line(&report)
        );
        // The AA-replay turns record `bash` calls; SmolLM2 never calls the offered tool, so no
        // run scores against the recorded answers, and the report must say so (no gate can).
        let answer = report.dataset_answer.as_ref().expect("scorable turns");
        assert!(answer.scorable_turns > 0 && answer.candidate == 0.0);
        assert!(
            report
                .warnings
                .iter()
                .any(|warning| warning
                    .contains("check that the served model calls the offered tools")),
            "case {}: {:?}",
            case.name,
            report.warnings
        );
        if source == "q2k" && case.transforms.is_empty() {
            // The requantized model is the one real degradation: it must be found as such, not
            // merely fail for want of data.
            assert!(
                report
                    .reasons
                    .iter()
                    .any(|reason| reason.starts_with("DEGRADED")),
                "case {}: {}",
                case.name,
                verify::report::render_table(&report)
            );
        }
        if case.verdict == "PASS" {
            assert!(
                report
                    .reasons
                    .iter()
                    .all(|reason| reason.starts_with("UNDERPOWERED")),
                "case {}: {}",
                case.name,
                verify::report::render_table(&report)
            );
        } else {
            assert_eq!(
                report.verdict,
                "FAIL",
                "case {}: {}",
                case.name,
                verify::report::render_table(&report)
            );
        }
    }
}

/// The greedy profile on real served outputs (`tests/fixtures/verify-greedy`, made by
/// `scripts/make-verify-greedy-fixtures`): 44 turns of five real Claude Code sessions served by
/// llama.cpp with SmolLM2-135M at temperature 0 with `--logprobs 5`, three reference runs of one
/// deployment (one slot, one agent). The fixture is small, so the sample-size floor is lowered as
/// for `real_fixture_controls`; the margins are the profile's.
/// On the real greedy runs the honest candidate passes, so each negative control of the standard
/// case file that applies to real data must flip it, with the case's reason. The tool-call
/// controls do not (`real: false`): these requests offer no tools and no run calls one.
fn negative_controls_flip_real_greedy_runs(
    fixture: &Path,
    verify_candidate: &dyn Fn(&str) -> verify::report::VerifyReport,
) {
    let honest_records: Vec<RequestRecord> =
        fs_err::read_to_string(fixture.join("honest/requests.jsonl"))
            .expect("requests")
            .lines()
            .map(|line| serde_json::from_str(line).expect("record"))
            .collect();
    assert!(
        honest_records
            .iter()
            .all(|record| record.tool_calls.is_empty())
    );
    let manifest = fs_err::read_to_string(fixture.join("honest/run.json")).expect("run.json");
    let work = temp_dir();
    let mut flipped = Vec::new();
    for case in case_file("standard").cases {
        if !case.real || case.candidate != "honest" || case.transforms.is_empty() {
            continue;
        }
        let mut records = honest_records.clone();
        for name in &case.transforms {
            if let Some(fraction) = name.strip_prefix("drop_turns:") {
                // 2% of 44 turns is less than one, which the hashed selection may round to
                // none: drop ⌈2%⌉ of the turns, the last ones.
                let fraction: f64 = fraction.parse().expect("a fraction");
                #[allow(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    clippy::cast_precision_loss,
                    reason = "a few dozen turns"
                )]
                let count = (fraction * records.len() as f64).ceil() as usize;
                records.truncate(records.len() - count);
            } else {
                transform(&mut records, name);
            }
        }
        assert!(
            records != honest_records,
            "case {} changed nothing",
            case.name
        );
        let candidate = work.path().join(&case.name);
        fs_err::create_dir_all(&candidate).expect("dir");
        fs_err::write(candidate.join("run.json"), &manifest).expect("run.json");
        let lines: String = records
            .iter()
            .map(|record| serde_json::to_string(record).expect("record") + "\n")
            .collect();
        fs_err::write(candidate.join("requests.jsonl"), lines).expect("requests");
        let report = verify_candidate(candidate.to_str().expect("utf-8 path"));
        assert_eq!(report.verdict, "FAIL", "case {}", case.name);
        for reason in &case.reasons {
            assert!(
                report.reasons.contains(reason),
                "case {}: {reason} missing from {:?}",
                case.name,
                report.reasons
            );
        }
        flipped.push(case.name);
    }
    assert_eq!(
        flipped,
        ["truncated_10pct", "duplicated_eos", "missing_2pct"],
        "the non-tool negative controls"
    );
}

#[test]
fn real_greedy_fixture_controls() {
    let fixture = repo().join("tests/fixtures/verify-greedy");
    let text = fs_err::read_to_string(repo().join("verifiers/greedy.json")).expect("profile");
    let mut profile: Profile = serde_json::from_str(&text).expect("profile");
    profile.name = "greedy-fixture".to_owned();
    profile.min_sessions = 5;
    profile.min_turns = 40;
    let verify_candidate = |name: &str| {
        let report = verify::verify(&VerifyOptions {
            dataset: fixture.join("dataset"),
            references: (1..=3)
                .map(|index| fixture.join(format!("ref-{index}")))
                .collect(),
            candidate: fixture.join(name),
            profile: profile.clone(),
        })
        .expect("valid input");
        eprintln!(
            "real greedy fixture, {name}: {} (near ties: {:?})",
            verify::report::verdict_line(&report),
            report.near_tie
        );
        report
    };

    // Even one deployment's greedy runs differ now and then (prompt-cache reuse changes the
    // numerics); every such divergence here is a near tie, so exact agreement counts as full.
    let honest = verify_candidate("honest");
    assert_eq!(honest.verdict, "PASS", "{:?}", honest.reasons);
    assert!(honest.near_tie.reference_pairs_diverged > 0);
    assert_eq!(
        honest.near_tie.reference_near_ties,
        honest.near_tie.reference_pairs_diverged
    );

    negative_controls_flip_real_greedy_runs(&fixture, &verify_candidate);

    // The same weights with two slots decoding side by side: batch non-invariance makes many
    // turns diverge, most at near ties, some beyond the 0.25-nat rule; 44 turns cannot tell
    // that from a loss of quality, and verify must not call it one.
    let batched = verify_candidate("batched");
    assert!(
        batched.near_tie.candidate_pairs_diverged
            >= 10 * honest.near_tie.candidate_pairs_diverged.max(1),
        "{:?}",
        batched.near_tie
    );
    assert!(batched.near_tie.candidate_near_ties * 2 > batched.near_tie.candidate_pairs_diverged);
    assert!(
        !batched
            .reasons
            .iter()
            .any(|reason| reason.starts_with("DEGRADED")),
        "{:?}",
        batched.reasons
    );

    // The requantized model loses greedy agreement outright.
    let degraded = verify_candidate("q2k");
    for reason in ["DEGRADED:exact", "DEGRADED:lcp_frac"] {
        assert!(
            degraded.reasons.iter().any(|found| found == reason),
            "{:?}",
            degraded.reasons
        );
    }
}

/// Every run is scored against the dataset's recorded answers by the MLCommons rule: the
/// synthetic chats record `bash ls` on every turn but each session's last, so those turns are
/// scorable; a candidate that runs `ls` everywhere scores 1, one that calls no tool scores 0, and
/// the synthetic references (whose commands start with words like `diff` or `the`) score 0.
#[test]
fn runs_are_scored_against_the_recorded_answers() {
    let (runs, profile) = small_fixture();
    let score = |name: &str, calls: Vec<ServedToolCall>| -> Value {
        let mut records = runs.candidate_records("honest", 4);
        for record in &mut records {
            record.tool_calls.clone_from(&calls);
        }
        let candidate = runs.write_candidate(name, &records, 4);
        let profile = profile.to_str().expect("utf-8 path");
        let outcome = run(verify_args(
            &runs,
            &candidate,
            &["--profile", profile, "--format", "json"],
        ));
        let report: Value = serde_json::from_str(&outcome.stdout).expect("a JSON report");
        let answer = report["dataset_answer"].clone();
        // The synthetic references never run the recorded `ls`: the warning that no run does
        // comes exactly when the candidate does not either.
        assert_eq!(
            report["warnings"]
                .to_string()
                .contains("calls the offered tools"),
            answer["candidate"] == 0.0,
            "{}",
            report["warnings"]
        );
        answer
    };
    let listing = ServedToolCall {
        id: None,
        name: "bash".to_owned(),
        arguments: r#"{"command":"cd /testbed && /bin/ls -la"}"#.to_owned(),
    };
    let everywhere = score("ls-everywhere", vec![listing]);
    assert_eq!(everywhere["rule"], "bash_iou");
    assert_eq!(everywhere["scorable_turns"], 12 * 4, "{everywhere}");
    assert_eq!(everywhere["candidate"], 1.0, "{everywhere}");
    let references = everywhere["references"].as_array().expect("references");
    assert_eq!(references.len(), 3);
    for reference in references {
        assert_eq!(reference.as_f64(), Some(0.0), "{everywhere}");
    }
    let silent = score("no-tools", Vec::new());
    assert_eq!(silent["candidate"], 0.0, "{silent}");
    assert_eq!(silent["references"], everywhere["references"]);
}
