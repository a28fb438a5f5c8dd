//! Weka / SemiAnalysis "cc-traces" (`callanjfox/kv-cache-tester` `traces/*.json`; AIPerf
//! `weka_trace`): anonymized Claude Code sessions as sizes only.
//!
//! Shape: one JSON object per file, `{"id", "models", "block_size": 64, "hash_id_scope":
//! "local"|"global", "tool_tokens", "system_tokens", "requests": [...], "totals": {...}}`. A
//! request is `{"t" (s from the trace start), "type": "n"|"s" (non-streaming/streaming), "model",
//! "in", "out", "hash_ids", "input_types", "output_types", "stop", "api_time" (s),
//! "think_time" (s of client delay before it), "ttft"?}`; a sub-agent is an entry `{"t", "type":
//! "subagent", "agent_id", "subagent_type", "duration_ms", "status", "requests": [...], …}` whose
//! own requests' `t` count from its spawn.
//!
//! The main agent is one session; each sub-agent entry becomes a session of its own, linked by
//! `parent_session_id` and `parent_turn_index` (the parent's last call before the spawn), its
//! requests placed on the trace's clock. Turns are `sizes_only` with the trace's hash ids and
//! block size; `think_time` of the next request is this one's tool delay. A bad request is
//! rejected alone (the rest of its agent is kept); keys without a column stay in metadata.

use std::path::Path;

use serde_json::Value;
use serde_json::value::RawValue;

use super::json::{RawObject, RecordText, as_count, kind_of};
use super::mooncake::parse_hash_ids;
use super::{FormatDescription, FormatError, SourceUnit, file_name, file_stem_id, has_suffix};
use crate::schema::{Exactness, GivenHashes, ReportedUsage, SessionInfo, Trajectory, Turn};

/// What the format gives.
pub const DESCRIPTION: FormatDescription = FormatDescription {
    name: "weka",
    producer: "Weka / SemiAnalysis cc-traces of Claude Code (callanjfox/kv-cache-tester, AIPerf `weka_trace`)",
    files: "trace_*.json, one `{id, block_size, requests: [...]}` object per file; sub-agents nested",
    context: "sizes only: input and output tokens and the trace's prefix-block hash ids (64 tokens), no text",
    reported_counts: "per request: input (`in`), output (`out`)",
    timing: "request offset from the trace start (`t`), API time, think time (tool delay)",
};

const AGENT: &str = "claude-code";
const SUFFIXES: [&str; 1] = [".json"];

/// Request keys read into columns; the others are kept in the turn's metadata.
const REQUEST_KEYS: [&str; 7] = ["t", "model", "in", "out", "hash_ids", "stop", "api_time"];
/// Sub-agent keys that are structure, not metadata.
const SUBAGENT_KEYS: [&str; 2] = ["requests", "type"];

/// Whether a file looks like a Weka trace: a `.json` object with `block_size` and `requests`.
pub fn detect(path: &Path, head: &[u8]) -> bool {
    let name = file_name(path);
    if !claims_file_name(&name) {
        return false;
    }
    let head = String::from_utf8_lossy(head);
    head.trim_start().starts_with('{')
        && head.contains("\"block_size\"")
        && head.contains("\"requests\"")
        && !head.contains("\"messages\"")
}

/// Whether a file name is one this format usually has.
pub fn claims_file_name(name: &str) -> bool {
    has_suffix(name, ".json") && !has_suffix(name, ".traj.json") && !has_suffix(name, ".meta.json")
}

/// Reads one trace file: the main agent's session, then each sub-agent's, then the errors.
#[expect(
    clippy::needless_pass_by_value,
    reason = "every reader takes its unit by value (`SourceFormat::reader`)"
)]
pub fn read(unit: SourceUnit) -> impl Iterator<Item = Result<Trajectory, FormatError>> + Send {
    let mut out = Vec::new();
    if let Err(error) = read_file(&unit, &mut out) {
        out.push(Err(error));
    }
    // Sessions first, in order of appearance, then every rejected request.
    out.sort_by_key(Result::is_err);
    out.into_iter()
}

/// One agent (main or sub-agent) being read.
struct Agent<'a> {
    session: SessionInfo,
    requests: &'a RawValue,
    json_path: String,
    /// Seconds on the trace clock where this agent's `t` values start.
    clock_start_s: f64,
}

fn read_file(
    unit: &SourceUnit,
    out: &mut Vec<Result<Trajectory, FormatError>>,
) -> Result<(), FormatError> {
    let record = RecordText::decode(&unit.data, &unit.path, unit.first_line)?;
    if record.text.trim().is_empty() {
        return Err(record.error("empty file"));
    }
    let object: RawObject = serde_json::from_str(record.text).map_err(|error| {
        match serde_json::from_str::<&RawValue>(record.text) {
            Ok(value) => record.error(format!("expected a trace object, found {}", kind_of(value))),
            Err(_) => record.json_error(&error, 0, ""),
        }
    })?;
    let block_size = match object.get("block_size") {
        Some(raw) => {
            let value: Value = record.parse(raw, "block_size")?;
            as_count(&value)
                .and_then(|size| u32::try_from(size).ok())
                .filter(|&size| size > 0)
                .ok_or_else(|| record.error_at(raw, "block_size", "expected a positive integer"))?
        }
        None => return Err(record.error("trace has no `block_size`")),
    };
    let requests = object
        .get("requests")
        .ok_or_else(|| record.error("trace has no `requests`"))?;
    let session_id = match object.get("id").map(|raw| record.parse::<Value>(raw, "id")) {
        Some(Ok(Value::String(id))) if !id.is_empty() => id,
        _ => file_stem_id(&unit.path, &SUFFIXES),
    };
    let models: Vec<String> = object
        .get("models")
        .and_then(|raw| serde_json::from_str(raw.get()).ok())
        .unwrap_or_default();
    let totals = object
        .get("totals")
        .and_then(|raw| serde_json::from_str::<Value>(raw.get()).ok());
    let parent_totals = totals.as_ref().and_then(|t| t.get("parent_tokens"));
    let session = SessionInfo {
        session_id,
        agent: Some(AGENT.to_owned()),
        model: models.first().cloned(),
        totals: ReportedUsage {
            input: parent_totals
                .and_then(|t| t.get("input"))
                .and_then(as_count),
            output: parent_totals
                .and_then(|t| t.get("output"))
                .and_then(as_count),
            ..ReportedUsage::default()
        },
        metadata_json: object.to_json_without(&["requests"]),
        ..SessionInfo::default()
    };
    let main = Agent {
        session,
        requests,
        json_path: "requests".to_owned(),
        clock_start_s: 0.0,
    };
    emit(&record, main, block_size, out);
    Ok(())
}

/// Reads an agent, then its sub-agents depth-first in order of appearance. Nesting is bounded by
/// the JSON parser's depth limit.
fn emit<'a>(
    record: &RecordText<'a>,
    agent: Agent<'a>,
    block_size: u32,
    out: &mut Vec<Result<Trajectory, FormatError>>,
) {
    let (trajectory, children) = read_agent(record, agent, block_size, out);
    out.push(Ok(trajectory));
    for child in children {
        emit(record, child, block_size, out);
    }
}

/// Reads one agent's requests into its session; returns the session and the sub-agents found.
fn read_agent<'a>(
    record: &RecordText<'a>,
    agent: Agent<'a>,
    block_size: u32,
    out: &mut Vec<Result<Trajectory, FormatError>>,
) -> (Trajectory, Vec<Agent<'a>>) {
    let Agent {
        session,
        requests,
        json_path,
        clock_start_s,
    } = agent;
    let mut turns: Vec<Turn> = Vec::new();
    let mut children = Vec::new();
    let items: Vec<&RawValue> = match record.parse(requests, &json_path) {
        Ok(items) => items,
        Err(error) => {
            out.push(Err(error));
            Vec::new()
        }
    };
    for (index, raw) in items.into_iter().enumerate() {
        let path = format!("{json_path}[{index}]");
        let Ok(object) = record.parse::<RawObject>(raw, &path) else {
            out.push(Err(record.error_at(
                raw,
                &path,
                format!("expected a request object, found {}", kind_of(raw)),
            )));
            continue;
        };
        let entry = Entry { object, raw, path };
        let is_subagent = matches!(
            entry.object.get("type").map(RawValue::get),
            Some("\"subagent\"")
        );
        let result = if is_subagent {
            let parent_turn_index = turns
                .len()
                .checked_sub(1)
                .and_then(|last| u32::try_from(last).ok());
            subagent(
                record,
                &entry,
                index,
                &session,
                parent_turn_index,
                clock_start_s,
            )
            .map(|child| children.push(child))
        } else {
            request(record, &entry, block_size, clock_start_s).map(|(turn, think)| {
                if let (Some(previous), Some(think)) = (turns.last_mut(), think) {
                    previous.tool_delay_ms_after = Some(think * 1000.0);
                }
                turns.push(turn);
            })
        };
        if let Err(error) = result {
            out.push(Err(error));
        }
    }
    let trajectory = Trajectory {
        session,
        messages: Vec::new(),
        tool_sets: Vec::new(),
        turns,
    };
    (trajectory, children)
}

/// One element of a `requests` array, parsed as an object, with where it is.
struct Entry<'a> {
    object: RawObject<'a>,
    raw: &'a RawValue,
    path: String,
}

fn seconds(
    record: &RecordText<'_>,
    object: &RawObject<'_>,
    key: &str,
    path: &str,
) -> Result<Option<f64>, FormatError> {
    object
        .get(key)
        .map(|raw| {
            let value: Value = record.parse(raw, &format!("{path}.{key}"))?;
            value
                .as_f64()
                .filter(|s| s.is_finite() && *s >= 0.0)
                .ok_or_else(|| {
                    record.error_at(
                        raw,
                        format!("{path}.{key}"),
                        "expected a non-negative number of seconds",
                    )
                })
        })
        .transpose()
}

/// One request: its turn, and its `think_time` (the delay before it) in seconds.
fn request(
    record: &RecordText<'_>,
    entry: &Entry<'_>,
    block_size: u32,
    clock_start_s: f64,
) -> Result<(Turn, Option<f64>), FormatError> {
    let Entry { object, raw, path } = entry;
    let (raw, path) = (*raw, path.as_str());
    let count = |key: &str| -> Result<u64, FormatError> {
        let value = object
            .get(key)
            .ok_or_else(|| record.error_at(raw, path, format!("request has no `{key}`")))?;
        let parsed: Value = record.parse(value, &format!("{path}.{key}"))?;
        as_count(&parsed).ok_or_else(|| {
            record.error_at(
                value,
                format!("{path}.{key}"),
                "expected a non-negative integer token count",
            )
        })
    };
    let input = count("in")?;
    let output = count("out")?;
    let hash_ids = object
        .get("hash_ids")
        .map(|value| parse_hash_ids(record, value, &format!("{path}.hash_ids")))
        .transpose()?;
    let text = |key: &str| -> Result<Option<String>, FormatError> {
        object
            .get(key)
            .map(|value| record.parse::<Option<String>>(value, &format!("{path}.{key}")))
            .transpose()
            .map(Option::flatten)
    };
    let mut turn = Turn::new(Vec::new(), None, Exactness::SizesOnly);
    turn.usage.input = Some(input);
    turn.usage.output = Some(output);
    turn.model = text("model")?.filter(|m| !m.is_empty());
    turn.finish_reason = text("stop")?.filter(|s| !s.is_empty());
    turn.request_offset_ms = seconds(record, object, "t", path)?
        .map(|t| ((clock_start_s + t) * 1000.0 * 1000.0).round() / 1000.0);
    turn.model_latency_ms = seconds(record, object, "api_time", path)?.map(|s| s * 1000.0);
    turn.given_hashes = hash_ids.map(|ids| GivenHashes { block_size, ids });
    turn.metadata_json = object.to_json_without(&REQUEST_KEYS);
    let think = seconds(record, object, "think_time", path)?;
    Ok((turn, think))
}

/// A sub-agent entry: the agent to read, linked to its parent.
fn subagent<'a>(
    record: &RecordText<'a>,
    entry: &Entry<'a>,
    index: usize,
    parent: &SessionInfo,
    parent_turn_index: Option<u32>,
    clock_start_s: f64,
) -> Result<Agent<'a>, FormatError> {
    let Entry { object, raw, path } = entry;
    let (raw, path) = (*raw, path.as_str());
    let requests = object
        .get("requests")
        .ok_or_else(|| record.error_at(raw, path, "sub-agent has no `requests`"))?;
    let spawn_s = seconds(record, object, "t", path)?.unwrap_or(0.0);
    let agent_id = object
        .get("agent_id")
        .and_then(|id| serde_json::from_str::<String>(id.get()).ok())
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| format!("subagent-{index}"));
    let models: Vec<String> = object
        .get("models")
        .and_then(|raw| serde_json::from_str(raw.get()).ok())
        .unwrap_or_default();
    let session = SessionInfo {
        session_id: format!("{}/{agent_id}", parent.session_id),
        agent: parent.agent.clone(),
        model: models.first().cloned(),
        parent_session_id: Some(parent.session_id.clone()),
        parent_turn_index,
        exit_status: object
            .get("status")
            .and_then(|status| serde_json::from_str::<String>(status.get()).ok()),
        metadata_json: object.to_json_without(&SUBAGENT_KEYS),
        ..SessionInfo::default()
    };
    Ok(Agent {
        session,
        requests,
        json_path: format!("{path}.requests"),
        clock_start_s: clock_start_s + spawn_s,
    })
}
