//! Dataset-to-dataset commands (`filter`, `sample`, `split`, `merge`, `truncate`, `retokenize`,
//! `anonymize`) on real data: every bound holds in the output, the row-level turn dropping agrees
//! with counting the shortened sessions again from text, recounting with a dataset's own tokenizer
//! gives back its counts, splits are exact and stable, and outputs are deterministic.
#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "session and token counts compared as reals"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use trajkit::dataset::{Dataset, SessionData};
use trajkit::schema::TurnRow;
use trajkit::tokenizer::{Tokenizer, TokenizerSpec};
use trajkit::transform::trajectory::{reencode, to_trajectory};
use trajkit::transform::turns::keep_turns;

use crate::util::{corpus_dataset, directory_bytes, ingest_args, run, run_ok, shared, temp_dir};

/// Every real log of `../shared/data/real` ingested with o200k, once per test run.
fn real_dataset() -> &'static Path {
    static DATASET: OnceLock<PathBuf> = OnceLock::new();
    DATASET.get_or_init(|| {
        let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("transform-real.trajkit");
        run_ok(ingest_args(
            &[&shared("data/real")],
            &path,
            &["--force", "-q"],
        ));
        path
    })
}

fn all_sessions(path: &Path) -> Vec<SessionData> {
    let dataset = Dataset::open(path).unwrap();
    let all: Vec<usize> = (0..dataset.sessions().len()).collect();
    dataset
        .stream(&all)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

fn args(items: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<std::ffi::OsString> {
    items.iter().map(|item| item.as_ref().to_owned()).collect()
}

#[test]
fn streaming_read_equals_ranged_reads() {
    let dataset = Dataset::open(real_dataset()).unwrap();
    let streamed = all_sessions(real_dataset());
    assert_eq!(streamed.len(), dataset.sessions().len());
    for (session, streamed) in dataset.sessions().iter().zip(&streamed) {
        assert_eq!(&dataset.load(session).unwrap(), streamed);
    }
}

#[test]
fn retokenizing_with_the_own_tokenizer_gives_back_every_count() {
    let output = temp_dir();
    for (input, name) in [(real_dataset(), "real"), (corpus_dataset(), "corpus")] {
        let recounted = output.path().join(name);
        let tokenizer = Dataset::open(input)
            .unwrap()
            .reader()
            .manifest()
            .creation
            .tokenizer
            .clone();
        run_ok(args(&[
            &"retokenize",
            &input,
            &"--tokenizer",
            &tokenizer,
            &"-o",
            &recounted,
        ]));
        let before = all_sessions(input);
        let after = all_sessions(&recounted);
        assert_eq!(before.len(), after.len());
        let mut turns = 0;
        for (before, after) in before.iter().zip(&after) {
            assert_eq!(
                before.messages, after.messages,
                "{}",
                before.session.session_id
            );
            assert_eq!(before.turns, after.turns, "{}", before.session.session_id);
            assert_eq!(before.session, after.session);
            turns += before.turns.len();
        }
        assert!(turns > 1000, "{name}: only {turns} turns compared");
    }
}

/// The request of every turn as sent: messages and tools.
fn requests(session: &SessionData) -> Vec<(Vec<serde_json::Value>, Vec<serde_json::Value>)> {
    (0..session.turns.len())
        .map(|index| {
            let request = session.request(index).unwrap();
            (request.messages, request.tools)
        })
        .collect()
}

/// The figures of a turn that depend on the session's other turns, and its own.
fn turn_figures(turn: &TurnRow) -> impl PartialEq + std::fmt::Debug {
    (
        turn.turn_index,
        turn.input_tokens_counted,
        turn.prefix_tokens_counted,
        turn.new_tokens_counted,
        turn.output_tokens_counted,
        turn.hash_block_size,
        turn.hash_prefix_blocks,
        turn.hash_ids_new.clone(),
        turn.input_tokens_reported,
        turn.output_tokens_reported,
    )
}

#[test]
fn dropping_turns_by_rows_agrees_with_counting_the_shortened_sessions_again() {
    let dataset = Dataset::open(real_dataset()).unwrap();
    let tokenizer = Tokenizer::load(&TokenizerSpec::O200k).unwrap().unwrap();
    let mut checked = 0;
    for (number, session) in all_sessions(real_dataset()).into_iter().enumerate() {
        let count = session.turns.len();
        if count < 3 {
            continue;
        }
        // Three masks per session: drop the tail, drop every third turn, drop a seeded mix.
        let masks: Vec<Vec<bool>> = vec![
            (0..count).map(|index| index < count / 2).collect(),
            (0..count).map(|index| index % 3 != 1).collect(),
            (0..count)
                .map(|index| {
                    !trajkit::transform::mix64((number * 1000 + index) as u64).is_multiple_of(4)
                })
                .collect(),
        ];
        for keep in masks {
            let by_rows = keep_turns(session.clone(), &keep).session;
            let mut trajectory = to_trajectory(&session).unwrap();
            let mut index = 0;
            trajectory.turns.retain(|_| {
                index += 1;
                keep[index - 1]
            });
            let by_text: SessionData = reencode(
                trajectory,
                &session,
                Some(&tokenizer),
                dataset
                    .reader()
                    .manifest()
                    .hash
                    .as_ref()
                    .unwrap()
                    .block_size as usize,
            )
            .unwrap()
            .into();
            assert_eq!(by_rows.turns.len(), by_text.turns.len());
            for (rows, text) in by_rows.turns.iter().zip(&by_text.turns) {
                assert_eq!(
                    turn_figures(rows),
                    turn_figures(text),
                    "{} turn {}",
                    session.session.session_id,
                    rows.turn_index
                );
            }
            assert_eq!(requests(&by_rows), requests(&by_text));
            for index in 0..by_rows.turns.len() {
                assert_eq!(
                    by_rows.output(index).unwrap(),
                    by_text.output(index).unwrap()
                );
            }
            checked += by_rows.turns.len();
        }
    }
    assert!(checked > 1000, "only {checked} turns checked");
}

fn input_tokens(turn: &TurnRow) -> Option<u64> {
    turn.input_tokens_reported.or(turn.input_tokens_counted)
}

#[test]
fn filter_bounds_hold_in_every_kept_session_and_turn() {
    let output = temp_dir();
    let corpus = corpus_dataset();
    let sessions = output.path().join("sessions");
    let run = run_ok(args(&[
        &"filter",
        &corpus,
        &"--max-input-tokens",
        &"20000",
        &"--min-turns",
        &"10",
        &"--max-turns",
        &"30",
        &"-o",
        &sessions,
    ]));
    let kept = all_sessions(&sessions);
    assert!(!kept.is_empty(), "{}", run.stderr);
    let expected: Vec<&str> = all_sessions(corpus)
        .iter()
        .filter(|session| {
            (10..=30).contains(&session.turns.len())
                && session
                    .turns
                    .iter()
                    .all(|turn| input_tokens(turn).is_some_and(|input| input <= 20_000))
        })
        .map(|session| session.session.session_id.as_str())
        .collect::<Vec<_>>()
        .into_iter()
        .map(|id| Box::leak(id.to_owned().into_boxed_str()) as &str)
        .collect();
    let got: Vec<&str> = kept.iter().map(|s| s.session.session_id.as_str()).collect();
    assert_eq!(got, expected);

    let turns = output.path().join("turns");
    run_ok(args(&[
        &"filter",
        &corpus,
        &"--scope",
        &"turn",
        &"--max-input-tokens",
        &"20000",
        &"--min-output-tokens",
        &"50",
        &"-o",
        &turns,
    ]));
    let original: BTreeMap<String, SessionData> = all_sessions(corpus)
        .into_iter()
        .map(|session| (session.session.session_id.clone(), session))
        .collect();
    let mut kept_turns = 0;
    for session in all_sessions(&turns) {
        let source = &original[&session.session.session_id];
        let wanted: Vec<&TurnRow> = source
            .turns
            .iter()
            .filter(|turn| {
                input_tokens(turn).is_some_and(|input| input <= 20_000)
                    && turn
                        .output_tokens_reported
                        .or(turn.output_tokens_counted)
                        .is_some_and(|output| output >= 50)
            })
            .collect();
        assert_eq!(session.turns.len(), wanted.len());
        for (index, (turn, wanted)) in session.turns.iter().zip(wanted).enumerate() {
            assert_eq!(turn.turn_index as usize, index);
            assert_eq!(turn.response_id, wanted.response_id);
            // Each kept turn still sends its full recorded request.
            let original_index = wanted.turn_index as usize;
            assert_eq!(
                session.request(index).unwrap(),
                source.request(original_index).unwrap()
            );
        }
        kept_turns += session.turns.len();
    }
    assert!(kept_turns > 100);
}

#[test]
fn filter_by_task_language_and_model() {
    let output = temp_dir();
    let corpus = corpus_dataset();
    let django = output.path().join("django");
    run_ok(args(&[
        &"filter",
        &corpus,
        &"--task",
        &"^django__",
        &"-o",
        &django,
    ]));
    let kept = all_sessions(&django);
    assert!(kept.len() > 20, "{}", kept.len());
    assert!(kept.iter().all(|s| {
        s.session
            .task_id
            .as_deref()
            .unwrap()
            .starts_with("django__")
    }));

    let python = output.path().join("python");
    run_ok(args(&[
        &"filter",
        &corpus,
        &"--language",
        &"PYTHON",
        &"-o",
        &python,
    ]));
    assert_eq!(
        all_sessions(&python).len(),
        all_sessions(corpus).len(),
        "SWE-bench Verified is Python"
    );
    let rust = output.path().join("rust");
    run_ok(args(&[
        &"filter",
        &corpus,
        &"--language",
        &"rust",
        &"-o",
        &rust,
    ]));
    assert_eq!(all_sessions(&rust).len(), 0);

    let none = output.path().join("none");
    run_ok(args(&[
        &"filter",
        &corpus,
        &"--model",
        &"no-such-model",
        &"-o",
        &none,
    ]));
    assert_eq!(all_sessions(&none).len(), 0);
    let bad = run(args(&[
        &"filter", &corpus, &"--task", &"(", &"-o", &none, &"--force",
    ]));
    assert_eq!(bad.code, Some(2), "{}", bad.stderr);
    assert!(bad.stderr.contains("--task"), "{}", bad.stderr);
}

#[test]
fn truncate_end_drop_and_cut_keep_every_turn_within_the_window() {
    let output = temp_dir();
    let input = real_dataset();
    for mode in ["end", "drop", "cut"] {
        let path = output.path().join(mode);
        let run = run_ok(args(&[
            &"truncate",
            &input,
            &"--max-context",
            &"8000",
            &"--mode",
            &mode,
            &"--tokens",
            &"counted",
            &"-o",
            &path,
        ]));
        let sessions = all_sessions(&path);
        let mut cut = 0;
        for session in &sessions {
            for turn in &session.turns {
                if let Some(input) = turn.input_tokens_counted {
                    assert!(
                        input <= 8000,
                        "{mode}: {} has {input}",
                        session.session.session_id
                    );
                }
                if turn
                    .metadata_json
                    .as_deref()
                    .is_some_and(|text| text.contains("trajkit_truncated"))
                {
                    cut += 1;
                    assert_eq!(turn.input_tokens_reported, None);
                }
            }
        }
        if mode == "cut" {
            assert!(cut > 10, "{}", run.stderr);
        } else {
            assert_eq!(cut, 0);
        }
    }
    // `end` keeps exactly the leading turns below the window.
    let original = all_sessions(input);
    let ended: BTreeMap<String, usize> = all_sessions(&output.path().join("end"))
        .into_iter()
        .map(|session| (session.session.session_id.clone(), session.turns.len()))
        .collect();
    for session in original {
        let leading = session
            .turns
            .iter()
            .take_while(|turn| turn.input_tokens_counted.is_none_or(|input| input <= 8000))
            .count();
        assert_eq!(
            ended.get(&session.session.session_id).copied().unwrap_or(0),
            leading
        );
    }
}

#[test]
fn same_seed_gives_the_same_sample() {
    let output = temp_dir();
    let corpus = corpus_dataset();
    let sample = |name: &str, seed: &str| {
        let path = output.path().join(name);
        run_ok(args(&[
            &"sample",
            &corpus,
            &"--sessions",
            &"20",
            &"--seed",
            &seed,
            &"-o",
            &path,
        ]));
        path
    };
    let a = sample("a", "7");
    let b = sample("b", "7");
    let c = sample("c", "8");
    let manifest_free = |path: &Path| {
        directory_bytes(path)
            .into_iter()
            .filter(|(name, _)| name != Path::new("manifest.json"))
            .collect::<Vec<_>>()
    };
    assert_eq!(manifest_free(&a), manifest_free(&b));
    assert_ne!(manifest_free(&a), manifest_free(&c));
    assert_eq!(all_sessions(&a).len(), 20);
}

/// A split is replaced only with --force, and a directory that is not a split never.
#[test]
fn split_replaces_only_an_earlier_split() {
    let output = temp_dir();
    let corpus = corpus_dataset();
    let parts = output.path().join("parts");
    let again = |out: &Path, force: bool| {
        let mut command = vec![
            "split".to_owned(),
            "--part".to_owned(),
            "a=0.5".to_owned(),
            "--part".to_owned(),
            "b=0.5".to_owned(),
            "-o".to_owned(),
            out.display().to_string(),
            corpus.display().to_string(),
        ];
        if force {
            command.push("--force".to_owned());
        }
        run(command)
    };
    let first = again(&parts, false);
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    let refused = again(&parts, false);
    assert_eq!(refused.code, Some(2), "{}", refused.stderr);
    assert!(refused.stderr.contains("--force"), "{}", refused.stderr);
    let foreign = output.path().join("foreign");
    fs_err::create_dir(&foreign).expect("mkdir");
    fs_err::write(foreign.join("keep.txt"), "mine").expect("write");
    let refused = again(&foreign, true);
    assert_eq!(refused.code, Some(2), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("is not a trajkit split"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        fs_err::read_to_string(foreign.join("keep.txt")).expect("kept"),
        "mine"
    );
    fs_err::write(parts.join("stray.txt"), "left by hand").expect("write");
    let forced = again(&parts, true);
    assert_eq!(forced.code, Some(0), "{}", forced.stderr);
    assert!(parts.join("a").is_dir() && parts.join("split.json").is_file());
    assert!(
        !parts.join("stray.txt").exists(),
        "replaced whole, not merged"
    );
}

#[test]
fn split_is_exact_and_stable_when_the_dataset_grows() {
    let output = temp_dir();
    let corpus = corpus_dataset();

    // Split the corpus 20/30/50: each part within one session of its target.
    let parts = output.path().join("parts");
    let split = |input: &Path, out: &Path, previous: Option<&Path>| {
        let mut command: Vec<std::ffi::OsString> = [
            "split",
            "--part",
            "tuning=0.2",
            "--part",
            "dev=0.3",
            "--part",
            "test=0.5",
            "--seed",
            "3",
            "-o",
        ]
        .iter()
        .map(Into::into)
        .collect();
        command.push(out.into());
        command.push(input.into());
        if let Some(previous) = previous {
            command.push("--previous".into());
            command.push(previous.into());
        }
        run_ok(command);
    };
    split(corpus, &parts, None);
    let total = all_sessions(corpus).len();
    let members = |directory: &Path| -> BTreeMap<String, BTreeSet<String>> {
        ["tuning", "dev", "test"]
            .iter()
            .map(|part| {
                (
                    (*part).to_owned(),
                    all_sessions(&directory.join(part))
                        .into_iter()
                        .map(|session| session.session.session_id)
                        .collect(),
                )
            })
            .collect()
    };
    let first = members(&parts);
    for (part, fraction) in [("tuning", 0.2), ("dev", 0.3), ("test", 0.5)] {
        let target = fraction * total as f64;
        let got = first[part].len() as f64;
        assert!((got - target).abs() <= 1.0, "{part}: {got} vs {target}");
    }
    let union: BTreeSet<&String> = first.values().flatten().collect();
    assert_eq!(
        union.len(),
        total,
        "parts are disjoint and cover the dataset"
    );

    // Grow the dataset by merging in its Django sessions, renamed: old sessions keep their parts.
    let half = output.path().join("half");
    run_ok(args(&[
        &"filter",
        &corpus,
        &"--task",
        &"^django__",
        &"-o",
        &half,
    ]));
    let grown_extra = output.path().join("extra");
    run_ok(args(&[&"anonymize", &half, &"-o", &grown_extra]));
    let grown = output.path().join("grown");
    run_ok(args(&[&"merge", &corpus, &grown_extra, &"-o", &grown]));
    let parts2 = output.path().join("parts2");
    split(&grown, &parts2, Some(&parts.join("split.json")));
    let second = members(&parts2);
    for (part, sessions) in &first {
        assert!(sessions.is_subset(&second[part]), "{part} lost sessions");
    }
    let grown_total = all_sessions(&grown).len();
    assert!(grown_total > total);
    for (part, fraction) in [("tuning", 0.2), ("dev", 0.3), ("test", 0.5)] {
        let target = fraction * grown_total as f64;
        let got = second[part].len() as f64;
        assert!((got - target).abs() <= 1.0, "{part}: {got} vs {target}");
    }
}

#[test]
fn merge_refuses_repeated_sessions_and_tokenizers_that_differ() {
    let output = temp_dir();
    let corpus = corpus_dataset();
    let twice = output.path().join("twice");
    let refused = run(args(&[&"merge", &corpus, &corpus, &"-o", &twice]));
    assert_eq!(refused.code, Some(2));
    assert!(
        refused.stderr.contains("--skip-duplicates"),
        "{}",
        refused.stderr
    );
    run_ok(args(&[
        &"merge",
        &corpus,
        &corpus,
        &"--skip-duplicates",
        &"-o",
        &twice,
    ]));
    assert_eq!(all_sessions(&twice).len(), all_sessions(corpus).len());
    let other = run(args(&[
        &"merge",
        &corpus,
        &real_dataset(),
        &"-o",
        &twice,
        &"--force",
    ]));
    assert_eq!(other.code, Some(2));
    assert!(other.stderr.contains("retokenize"), "{}", other.stderr);
}

#[test]
fn anonymize_keeps_every_size_and_no_text() {
    let output = temp_dir();
    let input = real_dataset();
    let anonymous = output.path().join("anonymous");
    run_ok(args(&[&"anonymize", &input, &"-o", &anonymous]));
    let before = all_sessions(input);
    let after = all_sessions(&anonymous);
    assert_eq!(before.len(), after.len());
    for (before, after) in before.iter().zip(&after) {
        assert!(after.messages.is_empty());
        assert!(after.session.tool_sets.is_empty());
        assert!(after.session.session_id.starts_with("session-"));
        assert_eq!(after.session.source_file, "");
        for (original, stripped) in before.turns.iter().zip(&after.turns) {
            assert_eq!(stripped.exactness, "sizes_only");
            assert!(stripped.context.is_empty() && stripped.output_tool_calls.is_empty());
            assert_eq!(stripped.output_reasoning, None);
            assert_eq!(stripped.metadata_json, None);
            assert_eq!(
                (
                    original.input_tokens_reported,
                    original.input_tokens_counted,
                    original.prefix_tokens_counted,
                    original.output_tokens_reported,
                    original.output_tokens_counted,
                    original.request_time_unix_ms,
                    original.tool_delay_ms_after,
                    &original.hash_ids_new,
                ),
                (
                    stripped.input_tokens_reported,
                    stripped.input_tokens_counted,
                    stripped.prefix_tokens_counted,
                    stripped.output_tokens_reported,
                    stripped.output_tokens_counted,
                    stripped.request_time_unix_ms,
                    stripped.tool_delay_ms_after,
                    &stripped.hash_ids_new,
                )
            );
        }
    }
    let manifest = fs_err::read_to_string(anonymous.join("manifest.json")).unwrap();
    assert!(
        !manifest.contains("data/real"),
        "file names left in the manifest"
    );
    // The workload statistics of the copy are the original's.
    let stats = |path: &Path| {
        let report: serde_json::Value = serde_json::from_str(
            &run_ok(args(&[
                &"stats",
                &path,
                &"--format",
                &"json",
                &"--no-block-hits",
            ]))
            .stdout,
        )
        .unwrap();
        report["overall"]["distributions"].clone()
    };
    assert_eq!(stats(input), stats(&anonymous));
}

#[test]
fn stratified_sample_moves_toward_the_profile() {
    let output = temp_dir();
    let path = output.path().join("agentperf");
    let corpus = corpus_dataset();
    let run = run_ok(args(&[
        &"sample",
        &corpus,
        &"--profile",
        &"agentperf",
        &"--sessions",
        &"12",
        &"--seed",
        &"1",
        &"-o",
        &path,
    ]));
    assert!(run.stdout.contains("profile agentperf"), "{}", run.stdout);
    // The profile's three ≈ targets, as relative distances summed (what the sampler minimizes).
    let distance = |path: &Path| {
        let sessions = all_sessions(path);
        let inputs: Vec<u64> = sessions
            .iter()
            .flat_map(|session| session.turns.iter().filter_map(input_tokens))
            .collect();
        let mut outputs: Vec<u64> = sessions
            .iter()
            .flat_map(|session| {
                session
                    .turns
                    .iter()
                    .filter_map(|turn| turn.output_tokens_reported.or(turn.output_tokens_counted))
            })
            .collect();
        outputs.sort_unstable();
        let rank = |q: f64| outputs[((q * outputs.len() as f64).ceil() as usize).max(1) - 1] as f64;
        let mean = inputs.iter().sum::<u64>() as f64 / inputs.len() as f64;
        (mean - 27_000.0).abs() / 27_000.0
            + (rank(0.5) - 150.0).abs() / 150.0
            + (rank(0.95) - 2000.0).abs() / 2000.0
    };
    let uniform = output.path().join("uniform");
    run_ok(args(&[
        &"sample",
        &corpus,
        &"--sessions",
        &"12",
        &"--seed",
        &"1",
        &"-o",
        &uniform,
    ]));
    assert!(
        distance(&path) < distance(&uniform) && distance(&path) < distance(corpus),
        "stratified {} vs uniform {} vs whole corpus {}",
        distance(&path),
        distance(&uniform),
        distance(corpus)
    );
    let deviations = |line: &str| -> Vec<u64> {
        line.split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse().ok())
            .collect()
    };
    let last = run.stdout.lines().last().unwrap();
    let counts = deviations(last);
    assert!(counts[1] <= counts[0], "{}", run.stdout);
}

#[test]
fn retokenize_writes_the_same_bytes_at_any_thread_count() {
    let output = temp_dir();
    let parquet = |path: &Path| {
        directory_bytes(path)
            .into_iter()
            .filter(|(name, _)| name.extension().is_some_and(|ext| ext == "parquet"))
            .collect::<Vec<_>>()
    };
    let mut results = Vec::new();
    for threads in ["1", "2"] {
        let path = output.path().join(threads);
        run_ok(args(&[
            &"retokenize",
            &real_dataset(),
            &"--tokenizer",
            &"o200k-harmony",
            &"-j",
            &threads,
            &"-o",
            &path,
        ]));
        results.push(parquet(&path));
    }
    assert_eq!(results[0].len(), 3);
    assert_eq!(results[0], results[1]);
}
