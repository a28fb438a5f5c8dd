//! Every real log in `../shared/data/real` at once, as a user would point `trajkit ingest` at a
//! folder of mixed agents: each file is detected as its own format, nothing that is not a
//! trajectory is read as one, and the only rejects are the three malformed lines the fixture
//! was written to contain.

use std::collections::BTreeMap;

use trajkit::schema::Manifest;

use crate::util::{ingest_args, run_ok, shared, temp_dir};

#[test]
fn a_folder_of_every_agent_ingests_with_each_file_in_its_format() {
    let dir = temp_dir();
    let output = dir.path().join("real.trajkit");
    let real = shared("data/real");
    run_ok(ingest_args(&[&real], &output, &["--tokenizer", "none"]));
    let manifest: Manifest =
        serde_json::from_slice(&fs_err::read(output.join("manifest.json")).unwrap()).unwrap();

    // Per format: files, sessions, turns. The turn counts are STATS.txt's LLM calls summed per
    // format (AA replay: the manifests' 168 + 6 model turns; Mooncake: 12,031 + 3,993 requests;
    // Weka: 156 requests of 5 traces, whose 6 sub-agents are sessions of their own).
    let mut by_format: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
    for source in &manifest.sources {
        let entry = by_format
            .entry(source.format.clone().unwrap_or_default())
            .or_default();
        entry.0 += 1;
        entry.1 += source.sessions;
        entry.2 += source.turns;
    }
    let expected: BTreeMap<String, (u64, u64, u64)> = [
        ("aa-replay", (9, 9, 174)),
        ("claude-code", (9, 9, 89)),
        ("codex", (5, 5, 13)),
        ("mini-swe-agent", (6, 6, 258)),
        ("mooncake", (2, 2, 16_024)),
        ("openhands", (1, 3, 105)),
        ("swe-agent", (4, 4, 57)),
        ("weka", (5, 11, 156)),
    ]
    .into_iter()
    .map(|(name, counts)| (name.to_owned(), counts))
    .collect();
    assert_eq!(by_format, expected);

    // Everything skipped is documentation, a manifest, a report, a prediction file, a task
    // workspace or a format trajkit does not read (TraceLab's derived tables).
    let skipped: Vec<String> = manifest
        .skipped_files
        .iter()
        .map(|path| {
            path.strip_prefix(&*real.to_string_lossy())
                .unwrap_or(path)
                .trim_start_matches('/')
                .to_owned()
        })
        .collect();
    for path in &skipped {
        let name = path.rsplit('/').next().unwrap();
        let expected_skip = [".md", ".txt", ".csv", ".yml", ".report.json"]
            .iter()
            .any(|suffix| name.ends_with(suffix))
            || name.starts_with("manifest")
            || path.contains("/workspaces/")
            || path.starts_with("tracelab/")
            || [
                "all_preds.jsonl",
                "swe_bench_example_model_output.json",
                "swebench-instances.jsonl",
            ]
            .contains(&name);
        assert!(expected_skip, "unexpectedly skipped: {path}");
    }
    assert_eq!(skipped.len(), 30, "{skipped:#?}");

    let rejects: Vec<(String, Option<u64>)> = manifest
        .rejects
        .records
        .iter()
        .map(|r| (r.file.rsplit('/').next().unwrap().to_owned(), r.line))
        .collect();
    let edge_cases = "claude-code-log_edge_cases.jsonl".to_owned();
    assert_eq!(
        rejects,
        [
            (edge_cases.clone(), Some(13)),
            (edge_cases.clone(), Some(15)),
            (edge_cases, Some(16)),
        ]
    );
}

#[test]
fn formats_lists_every_reader_with_what_it_provides() {
    let listing = run_ok(["formats"]).stdout;
    insta::assert_snapshot!(listing);
    let json: serde_json::Value =
        serde_json::from_str(&run_ok(["formats", "--json"]).stdout).unwrap();
    let formats = json.as_array().unwrap();
    assert_eq!(formats.len(), trajkit::formats::SourceFormat::ALL.len());
    for format in formats {
        for key in [
            "name",
            "producer",
            "files",
            "context",
            "reported_counts",
            "timing",
        ] {
            assert!(
                !format[key].as_str().unwrap().is_empty(),
                "{}: empty {key}",
                format["name"]
            );
        }
    }
}
