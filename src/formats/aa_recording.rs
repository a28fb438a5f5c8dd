//! Artificial Analysis agent recordings (`<name>-recording.json`, `<instance>.json`): the input of
//! `agentperf-local convert`, which turns them into replay traces (`aa-replay`).
//!
//! Producer: the harnesses AA records agents with (PinchBench/OpenClaw, SWE-bench); the layout is
//! the one `agentperf-local` 0.3.4 reads (`workload/recording.py`, Apache-2.0). The wheel bundles
//! no recording, so the fixtures are hand-written from that source. Shape:
//! `{"metadata": {"task_id" | "instance": {"instance_id"}, "docker_image", …}, "events": [
//! {"type": "model_call", "request_messages": [...], "provider_request": {"messages", "tools",
//! …}, "response_message": {"role", "content", "tool_calls"?, "extra": {"response": {"usage":
//! {"prompt_tokens", "completion_tokens", "total_tokens"}, …}}}, "duration_ms"},
//! {"type": "tool_call", "action": {"command" | "name", "tool_call_id"}, "output": {"returncode",
//! …}, "duration_ms", "action_index", "step"}, …]}`. Gzipped recordings (`.json.gz`) are not read.
//!
//! Each `model_call` is a turn. Its request is `provider_request.messages` when non-empty, else
//! `request_messages` (what `convert` sends, `message_source` `provider-request`, with the same
//! fallback), as logged (`Exact`), with `provider_request.tools`; its output is
//! `response_message` without `extra`. Usage, model, response id, finish reason, creation time and
//! reasoning come from `response_message.extra.response` (the mini-swe-agent layout,
//! `chat::usage_from`). `duration_ms` is the model latency; the `tool_call` events up to the next
//! `model_call` are summed into the tool delay after it (an absent duration counts 0, as in
//! `convert`; a last call without tool calls has no delay). The session is the task
//! (`metadata.task_id`, else `metadata.instance.instance_id`, else the file name).
//!
//! The import is lossless without repeating requests: messages and tool lists are stored once
//! (compact JSON); a turn's `metadata_json` holds `{"event": the model call without what is
//! stored elsewhere, "context_from": "provider_request.messages" | "request_messages",
//! "provider_request": its other keys, "request_messages_ranges": [[start, end), …] (message
//! indexes, when the request came from the provider copy), "response_message_extra",
//! "events_after": [the following events]}`; the session metadata holds the recording without
//! `events`, plus `events_before_first_model_call`. An event's `duration_ms` is kept in `event`
//! only when the latency column would not write it back as the same JSON value.

use std::path::Path;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::aa_replay::Interned;
use super::chat::{ChatMessage, parse_message};
use super::json::{RawObject, RecordText, kind_of, parse_object_with_array};
use super::mini_swe_agent::swe_bench_repository;
use super::{FormatDescription, FormatError, SourceUnit, file_stem_id};
use crate::schema::{Exactness, SessionInfo, Trajectory, Turn};

/// What the format gives.
pub const DESCRIPTION: FormatDescription = FormatDescription {
    name: "aa-recording",
    producer: "agent recordings read by Artificial Analysis agentperf-local 0.3.x `convert` (`workload/recording.py`)",
    files: "<name>-recording.json, <instance>.json (not .json.gz)",
    context: "exact: each model call's `provider_request.messages` (else `request_messages`) and tools",
    reported_counts: "per call, from `response_message.extra.response.usage`: prompt, cached, completion, reasoning",
    timing: "per call: duration, response creation time, and the recorded tool-call durations after it",
};

const SUFFIXES: [&str; 2] = [".json.gz", ".json"];

/// Whether a file looks like a recording: a `.json` object with `events` holding a `model_call`.
pub fn detect(path: &Path, head: &[u8]) -> bool {
    let is_json = path
        .extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("json"));
    let head = String::from_utf8_lossy(head);
    is_json
        && head.trim_start().starts_with('{')
        && has_key_value(&head, "events", "[")
        && has_key_value(&head, "type", "\"model_call\"")
}

/// Whether `"key"`, optional whitespace, `:`, optional whitespace, then `value` occurs in `text`.
fn has_key_value(text: &str, key: &str, value: &str) -> bool {
    let quoted = format!("\"{key}\"");
    text.match_indices(&quoted).any(|(at, _)| {
        text[at + quoted.len()..]
            .trim_start()
            .strip_prefix(':')
            .is_some_and(|rest| rest.trim_start().starts_with(value))
    })
}

/// Whether a file name is a recording's (any `.json` but a replay manifest).
pub fn claims_file_name(name: &str) -> bool {
    Path::new(name)
        .extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("json"))
        && !name.starts_with("manifest")
}

/// Reads one recording: one session, and one error per bad event.
pub fn read(unit: SourceUnit) -> impl Iterator<Item = Result<Trajectory, FormatError>> + Send {
    std::iter::once_with(move || read_file(&unit)).flatten()
}

fn read_file(unit: &SourceUnit) -> Vec<Result<Trajectory, FormatError>> {
    let record = match RecordText::decode(&unit.data, &unit.path, unit.first_line) {
        Ok(record) => record,
        Err(error) => return vec![Err(error)],
    };
    let (object, events) = match split_recording(&record) {
        Ok(parts) => parts,
        Err(error) => return vec![Err(error)],
    };
    let mut recording = Recording {
        record,
        interned: Interned::default(),
        turns: Vec::new(),
        metadata: Vec::new(),
        tool_calls_after: Vec::new(),
        before: Vec::new(),
        errors: Vec::new(),
    };
    recording.read_events(&events);
    let Recording {
        interned,
        mut turns,
        metadata,
        tool_calls_after,
        before,
        errors,
        ..
    } = recording;
    let mut results: Vec<Result<Trajectory, FormatError>> = errors.into_iter().map(Err).collect();
    if turns.is_empty() {
        results.push(Err(
            record.error("recording has no readable `model_call` event")
        ));
        return results;
    }
    let last = turns.len() - 1;
    for (k, (turn, mut metadata)) in turns.iter_mut().zip(metadata).enumerate() {
        let (count, delay) = tool_calls_after.get(k).copied().unwrap_or_default();
        if k < last || count > 0 {
            turn.tool_delay_ms_after = Some(delay);
        }
        turn.metadata_json = Some(Value::Object(std::mem::take(&mut metadata)).to_string());
    }

    let mut session_metadata: Map<String, Value> = object
        .to_json_without(&[])
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();
    let task_id = task_id(&session_metadata).unwrap_or_else(|| file_stem_id(&unit.path, &SUFFIXES));
    if !before.is_empty() {
        session_metadata.insert(
            "events_before_first_model_call".to_owned(),
            Value::Array(before),
        );
    }
    let session = SessionInfo {
        session_id: task_id.clone(),
        repository: swe_bench_repository(&task_id),
        task_id: Some(task_id),
        model: turns.iter().find_map(|t| t.model.clone()),
        metadata_json: (!session_metadata.is_empty())
            .then(|| Value::Object(session_metadata).to_string()),
        ..SessionInfo::default()
    };
    results.push(Ok(Trajectory {
        session,
        messages: interned.messages,
        tool_sets: interned.tool_sets,
        turns,
    }));
    results
}

/// The recording's keys other than `events`, and the events' raw elements.
fn split_recording<'a>(
    record: &RecordText<'a>,
) -> Result<(RawObject<'a>, Vec<&'a RawValue>), FormatError> {
    match record.text.trim_start().as_bytes().first() {
        None => return Err(record.error("empty file")),
        Some(b'{') => {}
        Some(_) => return Err(record.error("expected a recording (a JSON object)")),
    }
    if let Ok(parsed) = parse_object_with_array(record.text, "events")
        && let Some(events) = parsed.array
    {
        return Ok((parsed.object, events));
    }
    let object: RawObject =
        serde_json::from_str(record.text).map_err(|error| record.json_error(&error, 0, ""))?;
    match object.get("events") {
        None => Err(record.error("recording has no `events`")),
        Some(raw) => Err(record.error_at(
            raw,
            "events",
            format!("expected an array of events, found {}", kind_of(raw)),
        )),
    }
}

/// `metadata.task_id`, else `metadata.instance.instance_id`, as text (as `convert` reads them).
fn task_id(recording: &Map<String, Value>) -> Option<String> {
    let metadata = recording.get("metadata")?;
    let value = metadata
        .get("task_id")
        .filter(|v| !v.is_null())
        .or_else(|| metadata.get("instance")?.get("instance_id"))?;
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// A recording being read.
struct Recording<'a> {
    record: RecordText<'a>,
    interned: Interned,
    turns: Vec<Turn>,
    /// Each turn's metadata object.
    metadata: Vec<Map<String, Value>>,
    /// Number and summed duration of the tool calls after each turn.
    tool_calls_after: Vec<(usize, f64)>,
    /// Events before the first model call.
    before: Vec<Value>,
    errors: Vec<FormatError>,
}

impl<'a> Recording<'a> {
    fn read_events(&mut self, events: &[&'a RawValue]) {
        // Whether the events now belong to a call that was rejected.
        let mut in_rejected_call = false;
        for (index, raw) in events.iter().enumerate() {
            let path = format!("events[{index}]");
            let event: RawObject = match self.object(raw, &path) {
                Ok(event) => event,
                Err(error) => {
                    self.errors.push(error);
                    continue;
                }
            };
            let kind = event
                .get("type")
                .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok());
            if kind.as_deref() == Some("model_call") {
                match self.model_call(&event, raw, &path) {
                    Ok(()) => in_rejected_call = false,
                    Err(error) => {
                        self.errors.push(error);
                        in_rejected_call = true;
                    }
                }
                continue;
            }
            if in_rejected_call {
                continue;
            }
            let value = compact(raw);
            match self.metadata.last_mut() {
                None => self.before.push(value),
                Some(metadata) => {
                    if kind.as_deref() == Some("tool_call")
                        && let Some(after) = self.tool_calls_after.last_mut()
                    {
                        after.0 += 1;
                        after.1 += value
                            .get("duration_ms")
                            .and_then(Value::as_f64)
                            .filter(|d| *d >= 0.0)
                            .unwrap_or(0.0);
                    }
                    if let Value::Array(list) = metadata
                        .entry("events_after")
                        .or_insert_with(|| Value::Array(Vec::new()))
                    {
                        list.push(value);
                    }
                }
            }
        }
    }

    fn object(&self, raw: &'a RawValue, path: &str) -> Result<RawObject<'a>, FormatError> {
        if !raw.get().starts_with('{') {
            return Err(self.record.error_at(
                raw,
                path,
                format!("expected an event object, found {}", kind_of(raw)),
            ));
        }
        self.record.parse(raw, path)
    }

    /// Reads one model call into a turn.
    fn model_call(
        &mut self,
        event: &RawObject<'a>,
        raw: &'a RawValue,
        path: &str,
    ) -> Result<(), FormatError> {
        let mut metadata = Map::new();
        let mut remainder: Vec<&str> = Vec::new();
        let provider = event
            .get("provider_request")
            .filter(|raw| raw.get().starts_with('{'))
            .map(|raw| {
                self.record
                    .parse::<RawObject>(raw, &format!("{path}.provider_request"))
            })
            .transpose()?;
        let provider_messages = provider
            .as_ref()
            .and_then(|p| p.get("messages"))
            .filter(|raw| is_non_empty_array(raw));
        let request_messages = event
            .get("request_messages")
            .filter(|raw| raw.get().starts_with('['));
        let (context_raw, context_path, from_provider) = match (provider_messages, request_messages)
        {
            (Some(raw), _) => (raw, format!("{path}.provider_request.messages"), true),
            (None, Some(raw)) => (raw, format!("{path}.request_messages"), false),
            (None, None) => {
                return Err(self
                    .record
                    .error_at(raw, path, "model call has no messages"));
            }
        };
        let context = self.messages(context_raw, &context_path)?;
        metadata.insert(
            "context_from".to_owned(),
            Value::from(if from_provider {
                "provider_request.messages"
            } else {
                "request_messages"
            }),
        );
        if let Some(raw) = request_messages {
            remainder.push("request_messages");
            if from_provider {
                let indexes = self.messages(raw, &format!("{path}.request_messages"))?;
                metadata.insert("request_messages_ranges".to_owned(), ranges(&indexes));
            }
        }
        let mut turn = Turn::new(context, None, Exactness::Exact);
        if let Some(provider) = &provider {
            remainder.push("provider_request");
            let mut rest: Vec<&str> = Vec::new();
            if from_provider {
                rest.push("messages");
            }
            if let Some(tools) = provider
                .get("tools")
                .filter(|raw| raw.get().starts_with('['))
            {
                turn.tool_set = Some(self.interned.tools(&compact(tools).to_string()));
                rest.push("tools");
            }
            let others = compact_object(provider, &rest);
            turn.model = others
                .get("model")
                .and_then(Value::as_str)
                .map(str::to_owned);
            metadata.insert("provider_request".to_owned(), Value::Object(others));
        }
        if let Some(response) = event.get("response_message")
            && self.output(&mut turn, &mut metadata, response, path)?
        {
            remainder.push("response_message");
        }
        if let Some(raw) = event.get("duration_ms") {
            let value = compact(raw);
            turn.model_latency_ms = value.as_f64().filter(|ms| *ms >= 0.0);
            if turn.model_latency_ms.map(Value::from).as_ref() == Some(&value) {
                remainder.push("duration_ms");
            }
        }
        metadata.insert(
            "event".to_owned(),
            Value::Object(compact_object(event, &remainder)),
        );
        // Keys in a fixed order, `events_after` (added later) last.
        let ordered: Map<String, Value> = [
            "event",
            "context_from",
            "provider_request",
            "request_messages_ranges",
            "response_message_extra",
        ]
        .into_iter()
        .filter_map(|key| {
            metadata
                .shift_remove(key)
                .map(|value| (key.to_owned(), value))
        })
        .collect();
        self.turns.push(turn);
        self.metadata.push(ordered);
        self.tool_calls_after.push((0, 0.0));
        Ok(())
    }

    /// Sets the turn's output and call facts from `response_message`; whether it was used.
    fn output(
        &mut self,
        turn: &mut Turn,
        metadata: &mut Map<String, Value>,
        response: &'a RawValue,
        path: &str,
    ) -> Result<bool, FormatError> {
        let json_path = format!("{path}.response_message");
        if !response.get().starts_with('{') {
            return Ok(false);
        }
        let object: RawObject = self.record.parse(response, &json_path)?;
        if object
            .get("role")
            .is_none_or(|role| !role.get().starts_with('"'))
        {
            return Ok(false);
        }
        let full = parse_message(&self.record, response, &json_path)?;
        let call = full.call;
        let message = compact_object(&object, &["extra"]);
        let key = Value::Object(message).to_string();
        let index = if let Some(index) = self.interned.get(&key) {
            index
        } else {
            let chat = self.parse_compact(&key, response, &json_path)?;
            self.interned.push(key, chat)
        };
        if let Some(extra) = object.get("extra") {
            metadata.insert("response_message_extra".to_owned(), compact(extra));
        }
        let facts = self.interned_facts(index);
        turn.output = Some(index);
        turn.output_tool_calls = facts.tool_calls;
        turn.output_reasoning = facts.reasoning.or(call.reasoning);
        turn.output_reasoning_encrypted = call.reasoning_encrypted;
        turn.usage = call.usage;
        turn.cost_usd = call.cost_usd;
        turn.model = call.model.or(turn.model.take());
        turn.response_id = call.response_id;
        turn.finish_reason = call.finish_reason;
        turn.request_time_unix_ms = call.created_unix_s.map(seconds_to_ms);
        Ok(true)
    }

    fn interned_facts(&self, index: u32) -> super::aa_replay::OutputFacts {
        self.interned
            .facts
            .get(index as usize)
            .cloned()
            .unwrap_or_default()
    }

    /// The indexes of a message array's messages, each stored once as compact JSON.
    fn messages(&mut self, raw: &'a RawValue, json_path: &str) -> Result<Vec<u32>, FormatError> {
        let items: Vec<&RawValue> = self.record.parse(raw, json_path)?;
        let mut indexes = Vec::with_capacity(items.len());
        for (position, item) in items.into_iter().enumerate() {
            let item_path = format!("{json_path}[{position}]");
            let key = compact(item).to_string();
            if let Some(index) = self.interned.get(&key) {
                indexes.push(index);
                continue;
            }
            // Validate (and locate problems) on the original text, then store the compact form.
            parse_message(&self.record, item, &item_path)?;
            let chat = self.parse_compact(&key, item, &item_path)?;
            indexes.push(self.interned.push(key, chat));
        }
        Ok(indexes)
    }

    /// Parses a message's compact text; problems are located at the original value.
    fn parse_compact(
        &self,
        text: &str,
        original: &RawValue,
        json_path: &str,
    ) -> Result<ChatMessage, FormatError> {
        let compact = RecordText {
            text,
            path: self.record.path,
            first_line: 1,
        };
        let raw: &RawValue = serde_json::from_str(text).map_err(|_| {
            self.record
                .error_at(original, json_path, "unreadable message")
        })?;
        parse_message(&compact, raw, json_path).map_err(|error| {
            self.record
                .error_at(original, json_path, error.message.clone())
        })
    }
}

fn is_non_empty_array(raw: &RawValue) -> bool {
    raw.get().starts_with('[')
        && serde_json::from_str::<Vec<&RawValue>>(raw.get()).is_ok_and(|items| !items.is_empty())
}

/// A raw value as a JSON value (its compact text by `to_string`).
fn compact(raw: &RawValue) -> Value {
    serde_json::from_str(raw.get()).unwrap_or(Value::Null)
}

/// An object without `excluded` keys, as JSON values in their order.
fn compact_object(object: &RawObject<'_>, excluded: &[&str]) -> Map<String, Value> {
    object
        .entries
        .iter()
        .filter(|(key, _)| !excluded.contains(&key.as_ref()))
        .map(|(key, value)| (key.to_string(), compact(value)))
        .collect()
}

/// Message indexes as half-open runs `[[start, end], …]`.
fn ranges(indexes: &[u32]) -> Value {
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for &index in indexes {
        match runs.last_mut() {
            Some((_, end)) if *end == index && index != u32::MAX => *end += 1,
            _ => runs.push((index, index.saturating_add(1))),
        }
    }
    Value::Array(
        runs.into_iter()
            .map(|(start, end)| Value::Array(vec![Value::from(start), Value::from(end)]))
            .collect(),
    )
}

#[expect(
    clippy::cast_possible_truncation,
    reason = "times are far inside i64 milliseconds; `as` saturates anything absurd"
)]
fn seconds_to_ms(seconds: f64) -> i64 {
    (seconds * 1000.0).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_text(text: &str) -> Vec<Result<Trajectory, FormatError>> {
        read(SourceUnit {
            path: "dir/task-recording.json".into(),
            data: text.as_bytes().to_vec(),
            first_line: 1,
        })
        .collect()
    }

    #[test]
    fn detection_needs_events_with_a_model_call() {
        let path = Path::new("x-recording.json");
        let text = br#"{"metadata": {}, "events" : [{"type":  "model_call"}]}"#;
        assert!(detect(path, text));
        assert!(!detect(Path::new("x.jsonl"), text));
        assert!(!detect(path, br#"{"events": [{"type": "tool_call"}]}"#));
        assert!(!detect(path, br#"{"messages": [], "type": "model_call"}"#));
        assert!(claims_file_name("a-recording.json"));
        assert!(!claims_file_name("manifest.json"));
    }

    #[test]
    fn ranges_are_half_open_runs() {
        assert_eq!(
            ranges(&[0, 1, 2, 5, 6, 3]).to_string(),
            "[[0,3],[5,7],[3,4]]"
        );
        assert_eq!(ranges(&[]).to_string(), "[]");
    }

    #[test]
    fn calls_take_the_provider_messages_and_sum_the_tool_time_after() {
        let text = r#"{"metadata": {"task_id": 7}, "events": [
          {"type": "model_call",
           "request_messages": [{"role": "user", "content": "u"}],
           "provider_request": {"model": "m", "messages": [{"role": "user",  "content": "u"}],
                                "tools": [{"type": "function", "function": {"name": "bash"}}]},
           "response_message": {"role": "assistant", "content": "a",
             "extra": {"response": {"id": "r1", "usage": {"prompt_tokens": 5, "completion_tokens": 2}}}},
           "duration_ms": 12.5},
          {"type": "tool_call", "action": {"command": "ls"}, "duration_ms": 3.5},
          {"type": "tool_call", "action": {"command": "pwd"}},
          {"type": "model_call", "request_messages": [{"role": "user", "content": "u"},
             {"role": "assistant", "content": "a"}, {"role": "user", "content": "v"}],
           "response_message": {"role": "assistant", "content": "b"}, "duration_ms": 1000}]}"#;
        let results = read_text(text);
        assert_eq!(results.len(), 1, "{results:?}");
        let trajectory = results[0].as_ref().unwrap();
        assert_eq!(trajectory.session.session_id, "7");
        assert_eq!(trajectory.messages.len(), 4);
        let (first, second) = (&trajectory.turns[0], &trajectory.turns[1]);
        assert_eq!(first.context, [0]);
        assert_eq!(first.output, Some(1));
        assert_eq!(first.usage.input, Some(5));
        assert_eq!(first.response_id.as_deref(), Some("r1"));
        assert_eq!(first.model.as_deref(), Some("m"));
        assert_eq!(first.tool_set, Some(0));
        assert_eq!(first.tool_delay_ms_after, Some(3.5));
        assert_eq!(first.model_latency_ms, Some(12.5));
        assert_eq!(second.context, [0, 1, 2]);
        assert_eq!(second.tool_delay_ms_after, None);
        assert_eq!(second.model_latency_ms, Some(1000.0));
        let metadata: Value =
            serde_json::from_str(first.metadata_json.as_deref().unwrap()).unwrap();
        assert_eq!(metadata["request_messages_ranges"].to_string(), "[[0,1]]");
        assert_eq!(metadata["provider_request"].to_string(), r#"{"model":"m"}"#);
        assert_eq!(metadata["event"].to_string(), r#"{"type":"model_call"}"#);
        assert_eq!(metadata["events_after"].as_array().unwrap().len(), 2);
        let metadata: Value =
            serde_json::from_str(second.metadata_json.as_deref().unwrap()).unwrap();
        assert_eq!(
            metadata["event"].to_string(),
            r#"{"type":"model_call","duration_ms":1000}"#,
            "an integral duration is kept as written"
        );
    }

    #[test]
    fn bad_recordings_and_events_are_located() {
        let error = |text: &str| read_text(text)[0].as_ref().unwrap_err().to_string();
        assert_eq!(error(""), "dir/task-recording.json:1: empty file");
        assert_eq!(
            error(r#"{"events": 3}"#),
            "dir/task-recording.json:1:12: events: expected an array of events, found a number"
        );
        let results = read_text(
            "{\"events\": [1,\n {\"type\": \"model_call\", \"duration_ms\": 1},\n {\"type\": \"model_call\", \"request_messages\": [{\"role\": \"user\"}]}]}",
        );
        let errors: Vec<String> = results
            .iter()
            .filter_map(|r| r.as_ref().err().map(ToString::to_string))
            .collect();
        assert_eq!(
            errors,
            [
                "dir/task-recording.json:1:13: events[0]: expected an event object, found a number",
                "dir/task-recording.json:2:2: events[1]: model call has no messages",
            ]
        );
        assert_eq!(results.last().unwrap().as_ref().unwrap().turns.len(), 1);
    }
}
