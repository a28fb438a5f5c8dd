//! Artificial Analysis agentperf-local replay traces (`<replay>/traces/<task>.jsonl`).
//!
//! Producer: `agentperf-local` 0.3.x (Apache-2.0), whose `convert` command writes them from agent
//! recordings (`workload/recording.py`, format `version` 1) and whose wheel bundles the official
//! AA-AgentPerf workloads `agentperf-default-v1` (8 tasks, 168 turns) and `aa-mini-v1` (6
//! synthetic turns). A replay directory holds `manifest.json` (bundled SWE-bench replays ship one
//! per architecture instead, `manifest-x86_64.json` and `manifest-arm64.json`) listing `tasks[]`,
//! and one trace per task. A trace line is one model call, written by orjson:
//! `{"version":1,"turn_id":"<task>:0001","task_id","conversation_id","conversation_idx",
//! "messages":[...],"tools":[...],"simulated_tool_delay_ms_after":50,
//! "recorded_tool_calls_after":[...],"target_output_tokens","max_output_tokens",
//! "recorded_prompt_tokens","recorded_completion_tokens","recorded_total_tokens",
//! "recorded_model_duration_ms","source":{...}}`.
//!
//! One trace file is one session; each line is a turn whose request is its `messages`, exactly as
//! sent (`Exact`), with its `tools`. Lines repeat the whole context, so messages are interned by
//! their bytes (and tool lists likewise): turn k+1's request shares turn k's indexes. A line does
//! not hold its answer; the next line's request does: the output of turn k is the first message
//! of turn k+1 past their common prefix when it is an assistant message whose tool-call ids are
//! those of `recorded_tool_calls_after` (true of all 160 answered turns of the bundled workloads:
//! SWE-bench traces drop the transient "Tool-call turn k of 100" user message, so the prefix is
//! not always the whole previous request). The last line's output is unknown.
//!
//! Columns: `recorded_prompt_tokens` → reported input, `recorded_completion_tokens` → reported
//! output, `recorded_model_duration_ms` → model latency, `simulated_tool_delay_ms_after` → tool
//! delay, `task_id` → the session's task, `conversation_idx` → the turn index. The session id is
//! the `conversation_id`. The import is lossless: a line is rebuilt as `Turn::metadata_json`,
//! plus `messages` (the context), `tools` (the tool set) and each column-backed key the metadata
//! lacks, written from its column (a key in the metadata overrides its column: it is kept there
//! when the column would not give back the same JSON value, such as `50` written as `50.0`). The
//! manifests' entries for the task (with each manifest's other keys) go to the session metadata
//! as `{"manifests": [{"file", "manifest", "task"}]}`.

use std::collections::HashMap;
use std::path::Path;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::chat::{ChatMessage, parse_message};
use super::json::{
    RawObject, RecordText, as_count, kind_of, parse_object_with_array, record_lines,
};
use super::mini_swe_agent::swe_bench_repository;
use super::{FormatDescription, FormatError, SourceUnit, file_stem_id};
use crate::schema::{Exactness, Message, SessionInfo, ToolCallRow, Trajectory, Turn};

/// What the format gives.
pub const DESCRIPTION: FormatDescription = FormatDescription {
    name: "aa-replay",
    producer: "Artificial Analysis agentperf-local 0.3.x replays (`convert` output, bundled agentperf-default-v1 and aa-mini-v1)",
    files: "<replay>/traces/<task>.jsonl beside manifest.json (or manifest-<arch>.json)",
    context: "exact: each line's `messages` and `tools` as sent; the output is the answer found in the next line",
    reported_counts: "per call: recorded prompt and completion tokens",
    timing: "per call: recorded model duration and the simulated tool delay after it",
};

/// Keys whose value a column gives back.
const COLUMN_KEYS: [&str; 6] = [
    "task_id",
    "conversation_idx",
    "recorded_prompt_tokens",
    "recorded_completion_tokens",
    "recorded_model_duration_ms",
    "simulated_tool_delay_ms_after",
];

/// Whether a file looks like an AA replay trace: a `.jsonl` whose first line is a trace line.
pub fn detect(path: &Path, head: &[u8]) -> bool {
    let is_jsonl = path
        .extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("jsonl"));
    if !is_jsonl {
        return false;
    }
    let head = String::from_utf8_lossy(head);
    let Some(start) = head.find(|c: char| !c.is_ascii_whitespace()) else {
        return false;
    };
    let rest = &head[start..];
    let (first, cut) = match rest.find('\n') {
        Some(end) => (&rest[..end], false),
        None => (rest, true),
    };
    let keys = |names: &[&str]| {
        names
            .iter()
            .all(|name| first.contains(&format!("\"{name}\"")))
    };
    first.starts_with('{')
        && keys(&["turn_id", "conversation_id"])
        // A first line longer than the head may end before its tool delay.
        && (keys(&["simulated_tool_delay_ms_after"])
            || (cut && keys(&["conversation_idx", "messages"])))
}

/// Whether a file name is a trace's (`<task>.jsonl`).
pub fn claims_file_name(name: &str) -> bool {
    Path::new(name)
        .extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("jsonl"))
}

/// Reads one trace file: one session, and one error per bad line.
pub fn read(unit: SourceUnit) -> impl Iterator<Item = Result<Trajectory, FormatError>> + Send {
    std::iter::once_with(move || read_file(&unit)).flatten()
}

fn read_file(unit: &SourceUnit) -> Vec<Result<Trajectory, FormatError>> {
    let mut results = Vec::new();
    let mut trace = Trace::default();
    let data = &unit.data;
    let mut records = 0usize;
    for (line, range) in record_lines(data, unit.first_line) {
        records += 1;
        if let Err(error) = trace.read_line(&unit.path, &data[range], line) {
            results.push(Err(error));
        }
    }
    if records == 0 {
        results.push(Err(FormatError {
            path: unit.path.clone(),
            line: Some(unit.first_line),
            column: None,
            json_path: None,
            message: "empty file".to_owned(),
        }));
        return results;
    }
    if trace.turns.is_empty() {
        return results;
    }
    let (trajectory, manifest_errors) = trace.finish(&unit.path);
    results.extend(manifest_errors.into_iter().map(Err));
    results.push(Ok(trajectory));
    results
}

/// What a message adds when it answers a call.
#[derive(Debug, Default, Clone)]
pub(crate) struct OutputFacts {
    /// Its tool calls.
    pub tool_calls: Vec<ToolCallRow>,
    /// Its reasoning text.
    pub reasoning: Option<String>,
}

/// A session's distinct messages and tool lists, keyed by their JSON text.
#[derive(Debug, Default)]
pub(crate) struct Interned {
    /// Distinct messages.
    pub messages: Vec<Message>,
    /// Output facts of each message, by index.
    pub facts: Vec<OutputFacts>,
    /// Distinct tool lists.
    pub tool_sets: Vec<String>,
    message_index: HashMap<String, u32>,
    tool_index: HashMap<String, u32>,
}

impl Interned {
    /// The index of a message given as JSON text, parsed (and located) only the first time.
    pub fn message(
        &mut self,
        record: &RecordText<'_>,
        raw: &RawValue,
        json_path: &str,
    ) -> Result<u32, FormatError> {
        if let Some(&index) = self.message_index.get(raw.get()) {
            return Ok(index);
        }
        let chat = parse_message(record, raw, json_path)?;
        Ok(self.push(raw.get().to_owned(), chat))
    }

    /// Adds a parsed message under `key`.
    pub fn push(&mut self, key: String, chat: ChatMessage) -> u32 {
        let index = u32::try_from(self.messages.len()).unwrap_or(u32::MAX);
        self.messages.push(chat.message);
        self.facts.push(OutputFacts {
            tool_calls: chat.tool_calls,
            reasoning: chat.reasoning.or(chat.call.reasoning),
        });
        self.message_index.insert(key, index);
        index
    }

    /// The index of a message already interned under `key`.
    pub fn get(&self, key: &str) -> Option<u32> {
        self.message_index.get(key).copied()
    }

    /// The index of a tool list given as JSON array text.
    pub fn tools(&mut self, text: &str) -> u32 {
        if let Some(&index) = self.tool_index.get(text) {
            return index;
        }
        let index = u32::try_from(self.tool_sets.len()).unwrap_or(u32::MAX);
        self.tool_sets.push(text.to_owned());
        self.tool_index.insert(text.to_owned(), index);
        index
    }
}

/// A trace being read.
#[derive(Default)]
struct Trace {
    interned: Interned,
    turns: Vec<Turn>,
    /// Tool-call ids of each turn's `recorded_tool_calls_after`.
    recorded_ids: Vec<Vec<String>>,
    conversation_id: Option<String>,
    task_id: Option<String>,
}

impl Trace {
    fn read_line(&mut self, path: &str, bytes: &[u8], line: u64) -> Result<(), FormatError> {
        let record = RecordText::decode(bytes, path, line)?;
        let (object, items) = split_line(&record)?;
        let mut context = Vec::with_capacity(items.len());
        for (position, raw) in items.iter().enumerate() {
            context.push(
                self.interned
                    .message(&record, raw, &format!("messages[{position}]"))?,
            );
        }
        let mut turn = Turn::new(context, None, Exactness::Exact);
        let mut in_columns: Vec<&str> = Vec::new();
        let text = |key: &str| -> Option<String> {
            object
                .get(key)
                .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok())
        };
        if self.turns.is_empty() {
            self.task_id = text("task_id");
            self.conversation_id = text("conversation_id");
        }
        if let Some(raw) = object.get("tools")
            && raw.get().starts_with('[')
        {
            turn.tool_set = Some(self.interned.tools(raw.get()));
            in_columns.push("tools");
        }
        let index = self.turns.len() as u64;
        for key in COLUMN_KEYS {
            let Some(raw) = object.get(key) else {
                continue;
            };
            let value: Value = record.parse(raw, key)?;
            let restored = match key {
                "task_id" => value
                    .as_str()
                    .filter(|id| Some(*id) == self.task_id.as_deref())
                    .map(Value::from),
                "conversation_idx" => (value.as_u64() == Some(index)).then(|| Value::from(index)),
                "recorded_prompt_tokens" => {
                    turn.usage.input = as_count(&value);
                    turn.usage.input.map(Value::from)
                }
                "recorded_completion_tokens" => {
                    turn.usage.output = as_count(&value);
                    turn.usage.output.map(Value::from)
                }
                "recorded_model_duration_ms" => {
                    turn.model_latency_ms = value.as_f64().filter(|ms| *ms >= 0.0);
                    turn.model_latency_ms.map(Value::from)
                }
                _ => {
                    turn.tool_delay_ms_after = value.as_f64().filter(|ms| *ms >= 0.0);
                    turn.tool_delay_ms_after.map(Value::from)
                }
            };
            if restored.as_ref() == Some(&value) {
                in_columns.push(key);
            }
        }
        self.recorded_ids.push(recorded_tool_call_ids(&object));
        turn.metadata_json = object.to_json_without(&in_columns);
        self.turns.push(turn);
        Ok(())
    }

    fn finish(mut self, path: &str) -> (Trajectory, Vec<FormatError>) {
        self.find_outputs();
        let task_id = self.task_id;
        let mut session = SessionInfo {
            session_id: self
                .conversation_id
                .clone()
                .or_else(|| task_id.clone())
                .unwrap_or_else(|| file_stem_id(path, &[".jsonl"])),
            repository: task_id.as_deref().and_then(swe_bench_repository),
            task_id,
            ..SessionInfo::default()
        };
        let (manifests, errors) = manifest_entries(path, session.task_id.as_deref());
        if !manifests.is_empty() {
            let mut metadata = Map::new();
            metadata.insert("manifests".to_owned(), Value::Array(manifests));
            session.metadata_json = Some(Value::Object(metadata).to_string());
        }
        let trajectory = Trajectory {
            session,
            messages: self.interned.messages,
            tool_sets: self.interned.tool_sets,
            turns: self.turns,
        };
        (trajectory, errors)
    }

    /// Each turn's answer, from the next turn's request.
    fn find_outputs(&mut self) {
        for k in 1..self.turns.len() {
            let (before, after) = self.turns.split_at_mut(k);
            let (Some(turn), Some(next)) = (before.last_mut(), after.first()) else {
                continue;
            };
            let Some(&candidate) = turn
                .context
                .iter()
                .zip(&next.context)
                .position(|(a, b)| a != b)
                .map_or(next.context.get(turn.context.len()), |p| {
                    next.context.get(p)
                })
            else {
                continue;
            };
            let Some(message) = self.interned.messages.get(candidate as usize) else {
                continue;
            };
            let facts = self
                .interned
                .facts
                .get(candidate as usize)
                .cloned()
                .unwrap_or_default();
            let ids: Vec<&str> = facts
                .tool_calls
                .iter()
                .filter_map(|call| call.id.as_deref())
                .collect();
            let recorded = self
                .recorded_ids
                .get(k - 1)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let ids_agree = recorded.is_empty() || ids.is_empty() || ids == *recorded;
            if message.role == "assistant" && ids_agree {
                turn.output = Some(candidate);
                turn.output_tool_calls = facts.tool_calls;
                turn.output_reasoning = facts.reasoning;
            }
        }
    }
}

/// A line's keys and its `messages` elements, in one pass (or a located error).
fn split_line<'a>(
    record: &RecordText<'a>,
) -> Result<(RawObject<'a>, Vec<&'a RawValue>), FormatError> {
    let trimmed = record.text.trim_start();
    if !trimmed.starts_with('{') {
        let found = serde_json::from_str::<&RawValue>(trimmed).map_or("invalid JSON", kind_of);
        return Err(record.error(format!("expected a JSON object per line, found {found}")));
    }
    if let Ok(parsed) = parse_object_with_array(record.text, "messages")
        && let Some(items) = parsed.array
    {
        return Ok((parsed.object, items));
    }
    let object: RawObject =
        serde_json::from_str(record.text).map_err(|error| record.json_error(&error, 0, ""))?;
    match object.get("messages") {
        None => Err(record.error("trace line has no `messages`")),
        Some(raw) => Err(record.error_at(
            raw,
            "messages",
            format!("expected an array of messages, found {}", kind_of(raw)),
        )),
    }
}

fn recorded_tool_call_ids(object: &RawObject<'_>) -> Vec<String> {
    object
        .get("recorded_tool_calls_after")
        .and_then(|raw| serde_json::from_str::<Vec<Value>>(raw.get()).ok())
        .map(|calls| {
            calls
                .iter()
                .filter_map(|call| call.get("tool_call_id").and_then(Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The manifests beside the trace's `traces/` directory (`manifest.json`, then
/// `manifest-*.json` by name) and each one's entry for this trace.
fn manifest_entries(path: &str, task_id: Option<&str>) -> (Vec<Value>, Vec<FormatError>) {
    let trace = Path::new(path);
    let (Some(traces), Some(file)) = (trace.parent(), trace.file_name()) else {
        return (Vec::new(), Vec::new());
    };
    let (Some(directory), Some(traces_name)) = (traces.parent(), traces.file_name()) else {
        return (Vec::new(), Vec::new());
    };
    let relative = format!(
        "{}/{}",
        traces_name.to_string_lossy(),
        file.to_string_lossy()
    );
    let mut names: Vec<String> = fs_err::read_dir(directory)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .filter(|name| {
                    name == "manifest.json"
                        || (name.starts_with("manifest-")
                            && Path::new(name)
                                .extension()
                                .is_some_and(|extension| extension == "json"))
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort_by_key(|name| (name != "manifest.json", name.clone()));
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    for name in names {
        let manifest_path = directory.join(&name);
        let Ok(bytes) = fs_err::read(&manifest_path) else {
            continue;
        };
        let shown = manifest_path.display().to_string();
        match manifest_entry(&shown, &bytes, &relative, task_id) {
            Ok(Some((manifest, task))) => {
                let mut entry = Map::new();
                entry.insert("file".to_owned(), Value::from(name));
                entry.insert("manifest".to_owned(), manifest);
                entry.insert("task".to_owned(), task);
                entries.push(Value::Object(entry));
            }
            Ok(None) => {}
            Err(error) => errors.push(error),
        }
    }
    (entries, errors)
}

/// A manifest's keys other than `tasks`, and its task whose `trace` is this trace (or, failing
/// that, whose `task_id` is this task).
fn manifest_entry(
    path: &str,
    bytes: &[u8],
    trace: &str,
    task_id: Option<&str>,
) -> Result<Option<(Value, Value)>, FormatError> {
    let record = RecordText::decode(bytes, path, 1)?;
    let Value::Object(mut manifest) = serde_json::from_str::<Value>(record.text)
        .map_err(|error| record.json_error(&error, 0, ""))?
    else {
        return Err(record.error("expected a manifest object"));
    };
    let Some(Value::Array(tasks)) = manifest.shift_remove("tasks") else {
        return Ok(None);
    };
    let field = |task: &Value, key: &str| task.get(key).and_then(Value::as_str).map(str::to_owned);
    let task = tasks
        .iter()
        .find(|task| field(task, "trace").as_deref() == Some(trace))
        .or_else(|| {
            tasks
                .iter()
                .find(|task| task_id.is_some() && field(task, "task_id").as_deref() == task_id)
        });
    Ok(task.map(|task| (Value::Object(manifest), task.clone())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_text(text: &str) -> Vec<Result<Trajectory, FormatError>> {
        read(SourceUnit {
            path: "traces/t.jsonl".into(),
            data: text.as_bytes().to_vec(),
            first_line: 1,
        })
        .collect()
    }

    const SYSTEM: &str = r#"{"role":"system","content":"s"}"#;
    const USER: &str = r#"{"role":"user","content":"u"}"#;
    const CALL: &str = r#"{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]}"#;
    const RESULT: &str = r#"{"role":"tool","tool_call_id":"c1","content":"r"}"#;

    fn line(index: u64, messages: &[&str], delay: &str) -> String {
        format!(
            "{{\"version\":1,\"turn_id\":\"t:{index:04}\",\"task_id\":\"t\",\"conversation_id\":\"t\",\"conversation_idx\":{index},\"messages\":[{}],\"tools\":[],\"simulated_tool_delay_ms_after\":{delay},\"recorded_tool_calls_after\":[{{\"duration_ms\":{delay},\"tool_call_id\":\"c1\"}}],\"recorded_prompt_tokens\":7}}\n",
            messages.join(",")
        )
    }

    #[test]
    fn detection_needs_a_trace_line() {
        let path = Path::new("traces/t.jsonl");
        let text = line(0, &[SYSTEM], "1.5");
        assert!(detect(path, text.as_bytes()));
        assert!(!detect(Path::new("t.json"), text.as_bytes()));
        assert!(!detect(path, br#"{"id":"x","messages":[]}"#));
        let cut = &text[..text.find("\"tools\"").unwrap()];
        assert!(detect(path, cut.as_bytes()), "a line cut by the head");
        assert!(!detect(path, format!("{cut}\n").as_bytes()));
    }

    #[test]
    fn lines_share_messages_and_answers_come_from_the_next_line() {
        let text = [
            line(0, &[SYSTEM, USER], "1.5"),
            line(1, &[SYSTEM, USER, CALL, RESULT], "50"),
        ]
        .concat();
        let results = read_text(&text);
        assert_eq!(results.len(), 1);
        let trajectory = results[0].as_ref().unwrap();
        assert_eq!(trajectory.session.session_id, "t");
        assert_eq!(trajectory.messages.len(), 4);
        assert_eq!(trajectory.tool_sets, ["[]"]);
        let (first, second) = (&trajectory.turns[0], &trajectory.turns[1]);
        assert_eq!(first.context, [0, 1]);
        assert_eq!(first.output, Some(2));
        assert_eq!(first.output_tool_calls[0].name, "f");
        assert_eq!(second.context, [0, 1, 2, 3]);
        assert_eq!(second.output, None);
        assert_eq!(first.tool_delay_ms_after, Some(1.5));
        assert_eq!(first.usage.input, Some(7));
        assert_eq!(
            first.metadata_json.as_deref(),
            Some(
                r#"{"version":1,"turn_id":"t:0000","conversation_id":"t","recorded_tool_calls_after":[{"duration_ms":1.5,"tool_call_id":"c1"}]}"#
            )
        );
        // `50` is not what the column (50.0) writes back: kept.
        assert!(
            second
                .metadata_json
                .as_deref()
                .unwrap()
                .contains(r#""simulated_tool_delay_ms_after":50,"#)
        );
    }

    #[test]
    fn bad_lines_are_located() {
        let text = format!(
            "{}[]\n{{\"turn_id\":\"x\"}}\n{{\"messages\":3}}\n{{\"messages\":[{{\"content\":\"x\"}}]}}\n",
            line(0, &[SYSTEM], "0")
        );
        let errors: Vec<String> = read_text(&text)
            .iter()
            .filter_map(|r| r.as_ref().err().map(ToString::to_string))
            .collect();
        assert_eq!(
            errors,
            [
                "traces/t.jsonl:2: expected a JSON object per line, found an array",
                "traces/t.jsonl:3: trace line has no `messages`",
                "traces/t.jsonl:4:13: messages: expected an array of messages, found a number",
                "traces/t.jsonl:5:14: messages[0]: message has no `role`",
            ]
        );
    }
}
