//! pyarrow and DuckDB read every table of a dataset and agree with trajkit on row counts and
//! token sums, and see the format version in the Parquet metadata.

use serde_json::{Value, json};
use trajkit::dataset::Dataset;
use trajkit::schema::{MessageRow, SessionRow, TurnRow};

use crate::util::{corpus_dataset, python, repo};

fn total(values: impl Iterator<Item = Option<u64>>) -> u64 {
    values.map(|v| v.unwrap_or(0)).sum()
}

#[test]
fn pyarrow_and_duckdb_agree_with_trajkit() {
    let dataset_path = corpus_dataset();
    let dataset = Dataset::open(dataset_path).unwrap();
    let reader = dataset.reader();
    let turns: Vec<TurnRow> = reader.read_all().unwrap();
    let sessions: Vec<SessionRow> = reader.read_all().unwrap();
    let messages: Vec<MessageRow> = reader.read_all().unwrap();
    let expected = json!({
        "turns": {
            "rows": turns.len(),
            "input_tokens_reported": total(turns.iter().map(|t| t.input_tokens_reported)),
            "input_tokens_counted": total(turns.iter().map(|t| t.input_tokens_counted)),
            "cached_tokens_reported": total(turns.iter().map(|t| t.cached_tokens_reported)),
            "prefix_tokens_counted": total(turns.iter().map(|t| t.prefix_tokens_counted)),
            "output_tokens_reported": total(turns.iter().map(|t| t.output_tokens_reported)),
            "output_tokens_counted": total(turns.iter().map(|t| t.output_tokens_counted)),
            "reasoning_tokens_reported": total(turns.iter().map(|t| t.reasoning_tokens_reported)),
            "context_messages": total(turns.iter().map(|t| Some(u64::from(t.context_messages)))),
        },
        "sessions": {
            "rows": sessions.len(),
            "turn_count": total(sessions.iter().map(|s| Some(u64::from(s.turn_count)))),
            "message_count": total(sessions.iter().map(|s| Some(u64::from(s.message_count)))),
        },
        "messages": {
            "rows": messages.len(),
            "tokens": total(messages.iter().map(|m| m.tokens.map(u64::from))),
        },
    });
    assert!(expected["turns"]["input_tokens_reported"].as_u64().unwrap() > 1_000_000);

    let output = std::process::Command::new(python())
        .arg(repo().join("tests/python/read_dataset.py"))
        .arg(dataset_path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(seen["pyarrow"], expected, "pyarrow");
    assert_eq!(seen["duckdb"], expected, "duckdb");
    for table in ["turns", "sessions", "messages"] {
        let metadata = &seen["metadata"][table];
        assert_eq!(
            metadata["trajkit.schema_version"],
            trajkit::schema::SCHEMA_VERSION
        );
        assert_eq!(metadata["trajkit.table"], table);
        let tokenizer: Value =
            serde_json::from_str(metadata["trajkit.tokenizer"].as_str().unwrap()).unwrap();
        assert_eq!(tokenizer["name"], "deepseek-v4/tokenizer.json");
    }
}
