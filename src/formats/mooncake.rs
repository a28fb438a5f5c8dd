//! Mooncake request traces (kvcache-ai/Mooncake `FAST25-release/traces/*.jsonl`): sizes only.
//!
//! Producer: Moonshot AI's Kimi serving traces (FAST '25), anonymized; also what AIPerf's
//! `mooncake_trace` and SGLang's `mooncake` loaders read. Shape, one request per line:
//! `{"timestamp": 27482, "input_length": 6955, "output_length": 52, "hash_ids": [46, 47, …]}`,
//! `timestamp` in milliseconds from the start of the trace, `hash_ids` remapped prefix-block ids
//! of 512 tokens (equal leading ids mean a shareable KV prefix).
//!
//! There is no text and no session id: the whole file is one session whose turns are its requests
//! in file order, all `sizes_only`, with the trace's own hash ids (their scope is the whole trace,
//! which is what a per-session cache over this one session models). A bad line is rejected alone.

use std::path::Path;

use serde_json::Value;
use serde_json::value::RawValue;

use super::json::{RawObject, RecordText, as_count, kind_of, record_lines};
use super::{FormatDescription, FormatError, SourceUnit, file_name, file_stem_id, has_suffix};
use crate::schema::{Exactness, GivenHashes, SessionInfo, Trajectory, Turn};

/// What the format gives.
pub const DESCRIPTION: FormatDescription = FormatDescription {
    name: "mooncake",
    producer: "Mooncake FAST'25 traces (kvcache-ai/Mooncake), AIPerf `mooncake_trace` sizes-only files",
    files: "*.jsonl of `{timestamp, input_length, output_length, hash_ids}`; the file is one session",
    context: "sizes only: input and output lengths and 512-token prefix-block hash ids, no text",
    reported_counts: "per request: input length, output length",
    timing: "arrival offset in ms from the trace start (`timestamp`)",
};

/// Tokens per hash block in Mooncake traces.
pub const BLOCK_SIZE: u32 = 512;

/// Keys read into columns; any other key is kept in the turn's metadata.
const MODELED_KEYS: [&str; 4] = ["timestamp", "input_length", "output_length", "hash_ids"];

/// Whether a file looks like a Mooncake trace: a `.jsonl` name and a first record with
/// `input_length` and `hash_ids` but no `messages`.
pub fn detect(path: &Path, head: &[u8]) -> bool {
    let name = file_name(path);
    if !claims_file_name(&name) {
        return false;
    }
    let head = String::from_utf8_lossy(head);
    let first = head
        .lines()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("");
    first.trim_start().starts_with('{')
        && first.contains("\"input_length\"")
        && first.contains("\"hash_ids\"")
        && !first.contains("\"messages\"")
}

/// Whether a file name is one this format usually has.
pub fn claims_file_name(name: &str) -> bool {
    has_suffix(name, ".jsonl")
}

/// Reads one trace file: the session, then one error per bad line.
pub fn read(unit: SourceUnit) -> impl Iterator<Item = Result<Trajectory, FormatError>> + Send {
    let SourceUnit {
        path,
        data,
        first_line,
    } = unit;
    let mut turns = Vec::new();
    let mut errors = Vec::new();
    for (line, range) in record_lines(&data, first_line) {
        match read_line(&path, &data[range], line) {
            Ok(turn) => turns.push(turn),
            Err(error) => errors.push(error),
        }
    }
    let session = (!turns.is_empty()).then(|| {
        Ok(Trajectory {
            session: SessionInfo {
                session_id: file_stem_id(&path, &[".jsonl"]),
                metadata_json: Some(format!(
                    r#"{{"hash_block_size":{BLOCK_SIZE},"hash_id_scope":"trace"}}"#
                )),
                ..SessionInfo::default()
            },
            messages: Vec::new(),
            tool_sets: Vec::new(),
            turns,
        })
    });
    session.into_iter().chain(errors.into_iter().map(Err))
}

fn read_line(path: &str, bytes: &[u8], line: u64) -> Result<Turn, FormatError> {
    let record = RecordText::decode(bytes, path, line)?;
    let object: RawObject = serde_json::from_str(record.text).map_err(|error| {
        match serde_json::from_str::<&RawValue>(record.text) {
            Ok(value) => record.error(format!(
                "expected a JSON object per line, found {}",
                kind_of(value)
            )),
            Err(_) => record.json_error(&error, 0, ""),
        }
    })?;
    let count = |key: &str| -> Result<Option<u64>, FormatError> {
        object
            .get(key)
            .map(|raw| {
                let value: Value = record.parse(raw, key)?;
                as_count(&value).ok_or_else(|| {
                    record.error_at(raw, key, "expected a non-negative integer token count")
                })
            })
            .transpose()
    };
    let input =
        count("input_length")?.ok_or_else(|| record.error("request has no `input_length`"))?;
    let output = count("output_length")?;
    let timestamp = object
        .get("timestamp")
        .map(|raw| {
            let value: Value = record.parse(raw, "timestamp")?;
            value
                .as_f64()
                .filter(|t| t.is_finite())
                .ok_or_else(|| record.error_at(raw, "timestamp", "expected a number (ms)"))
        })
        .transpose()?;
    let hash_ids = object
        .get("hash_ids")
        .map(|raw| parse_hash_ids(&record, raw, "hash_ids"))
        .transpose()?;

    let mut turn = Turn::new(Vec::new(), None, Exactness::SizesOnly);
    turn.usage.input = Some(input);
    turn.usage.output = output;
    turn.request_offset_ms = timestamp;
    turn.given_hashes = hash_ids.map(|ids| GivenHashes {
        block_size: BLOCK_SIZE,
        ids,
    });
    turn.metadata_json = object.to_json_without(&MODELED_KEYS);
    Ok(turn)
}

/// A sizes-only trace's `hash_ids` array (Mooncake, Weka): non-negative integers, each error
/// located at the array with the offending element's path.
pub(super) fn parse_hash_ids(
    record: &RecordText<'_>,
    raw: &RawValue,
    json_path: &str,
) -> Result<Vec<u64>, FormatError> {
    let values: Vec<Value> = record.parse(raw, json_path)?;
    values
        .iter()
        .enumerate()
        .map(|(index, value)| {
            value.as_u64().ok_or_else(|| {
                record.error_at(
                    raw,
                    format!("{json_path}[{index}]"),
                    "expected a non-negative integer hash id",
                )
            })
        })
        .collect()
}
