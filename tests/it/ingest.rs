//! `trajkit ingest`: bad input handling, strictness, atomic output, determinism.

use std::path::Path;
use std::time::Instant;

use trajkit::dataset::Dataset;

use crate::util::{
    corpus, directory_bytes, ingest_args, repo, run, run_ok, sample_inputs, temp_dir, trajkit,
};

/// Runs ingest from the repository root so that paths in messages are stable.
fn ingest_in_repo(args: &[&str], output: &Path) -> crate::util::Run {
    trajkit()
        .current_dir(repo())
        .arg("ingest")
        .args(args)
        .arg("-o")
        .arg(output)
        .output()
        .expect("trajkit runs")
        .into()
}

#[test]
fn bad_trajectory_files_are_located_skipped_and_counted() {
    let out = temp_dir();
    let dataset = out.path().join("d");
    let run = ingest_in_repo(&["tests/fixtures/mini_swe_agent"], &dataset);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    insta::assert_snapshot!(
        run.stderr
            .replace(&dataset.display().to_string(), "[DATASET]")
    );
    let opened = Dataset::open(&dataset).unwrap();
    assert_eq!(opened.sessions().len(), 2, "minimal and v2_toolcalls");
    assert_eq!(opened.reader().manifest().rejects.count, 5);
    let listed = &opened.reader().manifest().rejects.records;
    assert!(
        listed
            .iter()
            .all(|r| r.file.starts_with("tests/fixtures/mini_swe_agent/"))
    );
}

#[test]
fn bad_lines_are_rejected_alone() {
    let out = temp_dir();
    let dataset = out.path().join("d");
    let run = ingest_in_repo(
        &["tests/fixtures/openai_jsonl/mixed_bad_lines.jsonl"],
        &dataset,
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    insta::assert_snapshot!(
        run.stderr
            .replace(&dataset.display().to_string(), "[DATASET]")
    );
    let opened = Dataset::open(&dataset).unwrap();
    let ids: Vec<&str> = opened
        .sessions()
        .iter()
        .map(|s| s.session_id.as_str())
        .collect();
    assert_eq!(ids, ["chat-1", "chat-2"]);
    assert_eq!(opened.sessions()[1].source_line, Some(6));
    assert_eq!(opened.reader().manifest().rejects.count, 3);
}

#[test]
fn strict_mode_stops_at_the_first_bad_record_and_writes_nothing() {
    let out = temp_dir();
    let dataset = out.path().join("d");
    let run = ingest_in_repo(&["--strict", "tests/fixtures/mini_swe_agent"], &dataset);
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr.starts_with("error: failed to ingest into"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("array_of_numbers.traj.json:1:2: messages[0]"),
        "{}",
        run.stderr
    );
    assert!(!dataset.exists());
    assert_eq!(
        fs_err::read_dir(out.path()).unwrap().count(),
        0,
        "no temporary left"
    );
}

#[test]
fn ten_megabyte_lines_are_read_or_located() {
    let out = temp_dir();
    let big = "x".repeat(10 << 20);
    let good = out.path().join("good.jsonl");
    fs_err::write(
        &good,
        format!(
            "{{\"id\":\"big\",\"messages\":[{{\"role\":\"user\",\"content\":\"{big}\"}},{{\"role\":\"assistant\",\"content\":\"ok\"}}]}}\n"
        ),
    )
    .unwrap();
    let bad = out.path().join("bad.jsonl");
    fs_err::write(
        &bad,
        format!("{{\"id\":\"big\",\"messages\":[{{\"role\":\"user\",\"content\":\"{big}"),
    )
    .unwrap();
    let dataset = out.path().join("d");
    let run = run_ok(ingest_args(&[&good, &bad], &dataset, &[]));
    let opened = Dataset::open(&dataset).unwrap();
    assert_eq!(opened.sessions().len(), 1);
    let data = opened.load(&opened.sessions()[0]).unwrap();
    assert_eq!(
        data.messages[0].content.as_deref().map(str::len),
        Some(10 << 20)
    );
    let reject = &opened.reader().manifest().rejects.records[0];
    assert_eq!(reject.line, Some(1));
    assert_eq!(reject.column, Some(10_485_810));
    assert!(reject.message.starts_with("truncated JSON"), "{reject:?}");
    assert!(
        run.stderr.contains("bad.jsonl:1:10485810: truncated JSON"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_existing_dataset_is_replaced_only_with_force() {
    let out = temp_dir();
    let dataset = out.path().join("d");
    let sample = sample_inputs();
    run_ok(ingest_args(&[&sample], &dataset, &[]));
    let again = run(ingest_args(&[&sample], &dataset, &[]));
    assert_eq!(again.code, Some(2));
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
    assert!(
        again.stderr.contains("hint: pass --force"),
        "{}",
        again.stderr
    );
    run_ok(ingest_args(&[&sample], &dataset, &["--force"]));
    assert_eq!(Dataset::open(&dataset).unwrap().sessions().len(), 4);

    let precious = out.path().join("precious");
    fs_err::create_dir(&precious).unwrap();
    fs_err::write(precious.join("notes.txt"), "keep me").unwrap();
    let refused = run(ingest_args(&[&sample], &precious, &["--force"]));
    assert_eq!(refused.code, Some(2));
    assert!(
        refused
            .stderr
            .contains("is not a trajkit dataset; refusing"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        fs_err::read_to_string(precious.join("notes.txt")).unwrap(),
        "keep me"
    );
}

#[test]
fn duplicate_session_ids_are_kept_under_new_names() {
    let out = temp_dir();
    let copy = out.path().join("copy");
    fs_err::create_dir(&copy).unwrap();
    let source = sample_inputs().join("django__django-11239.traj.json");
    fs_err::copy(&source, copy.join("again.traj.json")).unwrap();
    let dataset = out.path().join("d");
    let run = run_ok(ingest_args(&[&source, &copy], &dataset, &[]));
    assert!(
        run.stderr.contains(
            "session id `django__django-11239` was already used; stored as `django__django-11239#2`"
        ),
        "{}",
        run.stderr
    );
    let opened = Dataset::open(&dataset).unwrap();
    let second = opened.session("django__django-11239#2").unwrap();
    let data = opened.load(second).unwrap();
    assert!(
        data.turns
            .iter()
            .all(|t| t.session_id == "django__django-11239#2")
    );
}

/// A JSONL file big enough to be split into several chunks, so that parallel units are ordered.
fn write_many_sessions(path: &Path) {
    use std::io::Write as _;
    let mut file = std::io::BufWriter::new(fs_err::File::create(path).unwrap());
    for i in 0..12_000 {
        let filler = "lorem ipsum dolor sit amet ".repeat(40 + i % 50);
        writeln!(
            file,
            "{{\"id\":\"s{i}\",\"messages\":[{{\"role\":\"system\",\"content\":\"You are agent {}.\"}},{{\"role\":\"user\",\"content\":\"{filler}\"}},{{\"role\":\"assistant\",\"content\":\"step {i}\"}},{{\"role\":\"user\",\"content\":\"ok {filler}\"}},{{\"role\":\"assistant\",\"content\":\"done\"}}]}}",
            i % 7
        )
        .unwrap();
    }
}

#[test]
fn output_is_byte_identical_whatever_the_thread_count() {
    let out = temp_dir();
    let many = out.path().join("many.jsonl");
    write_many_sessions(&many);
    assert!(
        fs_err::metadata(&many).unwrap().len() > 16 << 20,
        "spans several chunks"
    );
    let mut outputs = Vec::new();
    for threads in ["1", "2"] {
        // Same dataset name (it is recorded in the manifest), different parent directories.
        let dataset = out.path().join(format!("run{threads}")).join("d");
        let run: crate::util::Run = trajkit()
            .current_dir(repo())
            .env("RAYON_NUM_THREADS", threads)
            .args(["ingest", "datasets/mini-swe-agent-sample", "tests/fixtures"])
            .arg(&many)
            .arg(corpus())
            .arg("-o")
            .arg(&dataset)
            .output()
            .unwrap()
            .into();
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        outputs.push(directory_bytes(&dataset));
    }
    assert_eq!(outputs[0].len(), 4, "manifest and three tables");
    assert!(
        outputs[0] == outputs[1],
        "datasets differ between 1 and 2 threads"
    );
}

/// SIGKILL at random moments never leaves a partial dataset at the target, and a rerun works.
#[test]
fn killed_ingest_never_leaves_a_partial_dataset() {
    let out = temp_dir();
    let many = out.path().join("many.jsonl");
    write_many_sessions(&many);
    let reference = out.path().join("reference");
    let started = Instant::now();
    let corpus = corpus();
    run_ok(ingest_args(&[&many, &corpus], &reference, &[]));
    let full_run = started.elapsed();
    let expected = Dataset::open(&reference).unwrap().sessions().len();

    let target = out.path().join("target");
    // A fixed sequence of moments spread over the run (deterministic, no random crate needed).
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for attempt in 0..10 {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let fraction = f64::from(u32::try_from(state >> 33).unwrap()) / f64::from(1u32 << 31);
        let delay = full_run.mul_f64(fraction * 1.2);
        let mut child = trajkit()
            .args(ingest_args(&[&many, &corpus], &target, &["--force"]))
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        if target.exists() {
            let opened = Dataset::open(&target)
                .unwrap_or_else(|error| panic!("attempt {attempt}: unreadable dataset: {error}"));
            assert_eq!(opened.sessions().len(), expected, "attempt {attempt}");
        }
    }
    run_ok(ingest_args(&[&many, &corpus], &target, &["--force"]));
    assert_eq!(Dataset::open(&target).unwrap().sessions().len(), expected);
    let leftovers: Vec<String> = fs_err::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("trajkit-"))
        .collect();
    assert!(leftovers.is_empty(), "stale temporaries: {leftovers:?}");
}
