//! OpenAI-style message lists, shared by every reader whose logs keep them (mini-swe-agent,
//! OpenAI JSONL, later AA replay and SWE-agent): message parsing that keeps every field, and the
//! per-call facts (usage, model, timing, reasoning) found on assistant messages.
//!
//! Provider responses are logged in several shapes; `usage_from` accepts OpenAI Chat
//! Completions (`prompt_tokens`, cached ⊂ prompt), Anthropic (input + cache creation + cache read)
//! and OpenAI Responses (`input_tokens` with `input_tokens_details`).

use serde_json::Value;
use serde_json::value::RawValue;

use super::FormatError;
use super::json::{
    RawObject, RawObjectWithArray, RecordText, as_count, kind_of, parse_object_with_array,
};
use crate::schema::{
    Exactness, Message, ReportedUsage, SessionInfo, ToolCallRow, Trajectory, Turn,
};

/// A parsed message and the call facts logged with it.
#[derive(Debug)]
pub struct ChatMessage {
    /// The message, lossless.
    pub message: Message,
    /// Tool calls, normalized.
    pub tool_calls: Vec<ToolCallRow>,
    /// Reasoning text carried by the message itself.
    pub reasoning: Option<String>,
    /// Facts about the LLM call that produced the message, when logged with it.
    pub call: CallInfo,
}

/// What a log says about one LLM call, gathered from wherever the format keeps it.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CallInfo {
    /// Usage as reported.
    pub usage: ReportedUsage,
    /// Cost in US dollars.
    pub cost_usd: Option<f64>,
    /// Serving model.
    pub model: Option<String>,
    /// Provider response id.
    pub response_id: Option<String>,
    /// Response creation time, Unix seconds.
    pub created_unix_s: Option<f64>,
    /// The logger's own timestamp for the message, Unix seconds.
    pub timestamp_unix_s: Option<f64>,
    /// Finish reason.
    pub finish_reason: Option<String>,
    /// Visible reasoning text from the provider response.
    pub reasoning: Option<String>,
    /// Whether the response carried encrypted reasoning.
    pub reasoning_encrypted: bool,
}

/// Parses a JSON array of messages located at `json_path` within `record`.
pub fn parse_messages(
    record: &RecordText<'_>,
    raw: &RawValue,
    json_path: &str,
) -> Result<Vec<ChatMessage>, FormatError> {
    if !raw.get().starts_with('[') {
        return Err(record.error_at(
            raw,
            json_path,
            format!("expected an array of messages, found {}", kind_of(raw)),
        ));
    }
    let items: Vec<&RawValue> = record.parse(raw, json_path)?;
    parse_message_items(record, &items, json_path)
}

/// Parses a JSON object holding a `messages` array (a trajectory file, a JSONL record) in one
/// pass over the text, returning its other keys and the parsed messages. When the text is not
/// such an object, a second, slower pass says where and why; `missing` is the message for an
/// object without `messages`.
pub fn parse_messages_document<'a>(
    record: &RecordText<'a>,
    missing: &str,
) -> Result<(RawObject<'a>, Vec<ChatMessage>), FormatError> {
    if let Ok(RawObjectWithArray {
        object,
        array: Some(items),
    }) = parse_object_with_array(record.text, "messages")
    {
        let chat = parse_message_items(record, &items, "messages")?;
        return Ok((object, chat));
    }
    let object: RawObject =
        serde_json::from_str(record.text).map_err(|error| record.json_error(&error, 0, ""))?;
    let messages = object
        .get("messages")
        .ok_or_else(|| record.error(missing))?;
    parse_messages(record, messages, "messages")?;
    // The one-pass parse only fails where the passes above do.
    Err(record.error("`messages` could not be read"))
}

/// Parses the raw elements of a message array located at `json_path` within `record`.
pub fn parse_message_items(
    record: &RecordText<'_>,
    items: &[&RawValue],
    json_path: &str,
) -> Result<Vec<ChatMessage>, FormatError> {
    items
        .iter()
        .enumerate()
        .map(|(index, item)| parse_message(record, item, &format!("{json_path}[{index}]")))
        .collect()
}

/// Parses one message object.
pub fn parse_message(
    record: &RecordText<'_>,
    raw: &RawValue,
    json_path: &str,
) -> Result<ChatMessage, FormatError> {
    if !raw.get().starts_with('{') {
        return Err(record.error_at(
            raw,
            json_path,
            format!("expected a message object, found {}", kind_of(raw)),
        ));
    }
    let object: RawObject = record.parse(raw, json_path)?;
    let role_raw = object
        .get("role")
        .ok_or_else(|| record.error_at(raw, json_path, "message has no `role`"))?;
    let role: String = match record.parse::<Option<String>>(role_raw, &format!("{json_path}.role"))
    {
        Ok(Some(role)) => role,
        _ => {
            return Err(record.error_at(
                role_raw,
                format!("{json_path}.role"),
                format!("`role` must be a string, found {}", kind_of(role_raw)),
            ));
        }
    };

    let mut token_texts = Vec::new();
    let content_raw = object.get("content");
    let content = match content_raw {
        Some(value) if value.get().starts_with('"') => {
            Some(record.parse::<String>(value, &format!("{json_path}.content"))?)
        }
        Some(value) if value.get().starts_with('[') => {
            let parts: Vec<Value> = record.parse(value, &format!("{json_path}.content"))?;
            token_texts.extend(parts.iter().filter_map(part_text));
            None
        }
        _ => None,
    };

    let mut tool_calls = Vec::new();
    if let Some(value) = object
        .get("tool_calls")
        .filter(|v| v.get().starts_with('['))
    {
        let calls: Vec<Value> = record.parse(value, &format!("{json_path}.tool_calls"))?;
        for call in &calls {
            let row = tool_call_row(call);
            token_texts.push(row.name.clone());
            token_texts.push(row.arguments.clone());
            tool_calls.push(row);
        }
    }

    let mut reasoning = None;
    for key in ["reasoning_content", "reasoning"] {
        if let Some(value) = object.get(key).filter(|v| v.get().starts_with('"')) {
            let text: String = record.parse(value, &format!("{json_path}.{key}"))?;
            token_texts.push(text.clone());
            reasoning.get_or_insert(text);
        }
    }

    let call = call_info(&object);
    let excluded: &[&str] = if content.is_some() {
        &["role", "content"]
    } else {
        &["role"]
    };
    Ok(ChatMessage {
        message: Message {
            role,
            content,
            fields_json: object.to_json_without(excluded),
            token_texts,
            carries_reasoning: reasoning.is_some(),
        },
        tool_calls,
        reasoning,
        call,
    })
}

pub(crate) fn part_text(part: &Value) -> Option<String> {
    match part {
        Value::String(text) => Some(text.clone()),
        Value::Object(map) => map
            .get("text")
            .or_else(|| map.get("input_text"))
            .or_else(|| map.get("output_text"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        _ => None,
    }
}

/// Normalizes a tool call in OpenAI shape (`{id, type, function: {name, arguments}}`), also
/// accepting a flat `{name, arguments}` and arguments logged as an object instead of a string.
pub fn tool_call_row(call: &Value) -> ToolCallRow {
    let function = call.get("function").unwrap_or(call);
    let arguments = match function.get("arguments").or_else(|| function.get("input")) {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    ToolCallRow {
        id: call.get("id").and_then(Value::as_str).map(str::to_owned),
        name: function
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        arguments,
    }
}

/// Collects call facts from a message's `usage` key and from a logged provider response under
/// `extra.response` (mini-swe-agent and AA recordings) or `response`. Only the small values are
/// parsed: the response's copy of the content and any encrypted reasoning are skipped, not
/// copied.
fn call_info(object: &RawObject<'_>) -> CallInfo {
    let mut info = CallInfo::default();
    let extra = object_of(object.get("extra"));
    let response = object_of(
        extra
            .as_ref()
            .and_then(|e| e.get("response"))
            .or_else(|| object.get("response")),
    );
    let usage = response
        .as_ref()
        .and_then(|r| r.get("usage"))
        .or_else(|| object.get("usage"))
        .filter(|raw| raw.get().starts_with('{'))
        .and_then(|raw| serde_json::from_str::<Value>(raw.get()).ok());
    if let Some(usage) = &usage {
        info.usage = usage_from(usage);
        info.cost_usd = usage.get("cost").and_then(Value::as_f64);
    }
    if let Some(extra) = &extra {
        info.timestamp_unix_s = number_of(extra.get("timestamp"));
        if let Some(cost) = number_of(extra.get("cost")) {
            info.cost_usd.get_or_insert(cost);
        }
    }
    if let Some(response) = &response {
        info.model = string_of(response.get("model"));
        info.response_id = string_of(response.get("id"));
        info.created_unix_s = number_of(response.get("created"));
        let choice = response
            .get("choices")
            .filter(|raw| raw.get().starts_with('['))
            .and_then(|raw| serde_json::from_str::<Vec<&RawValue>>(raw.get()).ok())
            .and_then(|choices| object_of(choices.first().copied()));
        info.finish_reason = choice
            .as_ref()
            .and_then(|c| string_of(c.get("finish_reason")))
            .or_else(|| string_of(response.get("stop_reason")));
        if let Some(message) = object_of(choice.as_ref().and_then(|c| c.get("message"))) {
            info.reasoning = string_of(message.get("reasoning"))
                .or_else(|| string_of(message.get("reasoning_content")))
                .filter(|text| !text.is_empty());
            info.reasoning_encrypted = message
                .get("reasoning_details")
                .and_then(|raw| serde_json::from_str::<Vec<RawObject>>(raw.get()).ok())
                .is_some_and(|details| {
                    details.iter().any(|detail| {
                        string_of(detail.get("type")).as_deref() == Some("reasoning.encrypted")
                    })
                });
        }
    }
    info
}

/// A raw value as an object of raw values, when it is an object.
fn object_of(raw: Option<&RawValue>) -> Option<RawObject<'_>> {
    raw.filter(|raw| raw.get().starts_with('{'))
        .and_then(|raw| serde_json::from_str(raw.get()).ok())
}

/// A raw value as a string, when it is one.
fn string_of(raw: Option<&RawValue>) -> Option<String> {
    raw.filter(|raw| raw.get().starts_with('"'))
        .and_then(|raw| serde_json::from_str(raw.get()).ok())
}

/// A raw value as a number, when it is one.
fn number_of(raw: Option<&RawValue>) -> Option<f64> {
    raw.and_then(|raw| serde_json::from_str(raw.get()).ok())
}

/// Reads a usage object in any of the shapes providers log.
pub fn usage_from(usage: &Value) -> ReportedUsage {
    let count = |value: Option<&Value>| value.and_then(as_count);
    if usage.get("prompt_tokens").is_some() || usage.get("completion_tokens").is_some() {
        return ReportedUsage {
            input: count(usage.get("prompt_tokens")),
            cached: count(usage.pointer("/prompt_tokens_details/cached_tokens")),
            cache_write: count(usage.pointer("/prompt_tokens_details/cache_write_tokens")),
            output: count(usage.get("completion_tokens")),
            reasoning: count(usage.pointer("/completion_tokens_details/reasoning_tokens")),
        };
    }
    let cache_read = count(usage.get("cache_read_input_tokens"));
    let cache_creation = count(usage.get("cache_creation_input_tokens"));
    let input = count(usage.get("input_tokens"));
    if cache_read.is_some() || cache_creation.is_some() {
        // Anthropic reports the three parts of the prompt separately.
        return ReportedUsage {
            input: input.map(|i| i + cache_read.unwrap_or(0) + cache_creation.unwrap_or(0)),
            cached: cache_read,
            cache_write: cache_creation,
            output: count(usage.get("output_tokens")),
            reasoning: None,
        };
    }
    ReportedUsage {
        input,
        cached: count(usage.pointer("/input_tokens_details/cached_tokens"))
            .or_else(|| count(usage.get("cached_input_tokens"))),
        cache_write: None,
        output: count(usage.get("output_tokens")),
        reasoning: count(usage.pointer("/output_tokens_details/reasoning_tokens"))
            .or_else(|| count(usage.get("reasoning_output_tokens"))),
    }
}

/// Unix seconds (as logged, possibly fractional) to whole milliseconds.
#[expect(
    clippy::cast_possible_truncation,
    reason = "timestamps are far inside i64 milliseconds; `as` saturates anything absurd"
)]
fn unix_seconds_to_ms(seconds: f64) -> i64 {
    (seconds * 1000.0).round() as i64
}

/// A session whose history is one linear message list: every assistant message is one call whose
/// request is everything before it, sent with the first of `tool_sets` (if any). Calls whose log
/// names no serving model take the session's configured one.
pub fn linear_trajectory(
    session: SessionInfo,
    chat: Vec<ChatMessage>,
    tool_sets: Vec<String>,
) -> Trajectory {
    let tool_set = (!tool_sets.is_empty()).then_some(0);
    let mut turns = linear_turns(&chat, tool_set);
    for turn in &mut turns {
        if turn.model.is_none() {
            turn.model.clone_from(&session.model);
        }
    }
    Trajectory {
        session,
        messages: chat.into_iter().map(|c| c.message).collect(),
        tool_sets,
        turns,
    }
}

/// Turns of a linear message list: every assistant message is one call whose request is
/// everything before it. `tool_set` is sent with every call.
fn linear_turns(messages: &[ChatMessage], tool_set: Option<u32>) -> Vec<Turn> {
    let assistant_positions: Vec<usize> = messages
        .iter()
        .enumerate()
        .filter(|(_, m)| m.message.role == "assistant")
        .map(|(i, _)| i)
        .collect();
    let mut turns = Vec::with_capacity(assistant_positions.len());
    for (k, &position) in assistant_positions.iter().enumerate() {
        let chat = &messages[position];
        let index = u32::try_from(position).unwrap_or(u32::MAX);
        let mut turn = Turn::new((0..index).collect(), Some(index), Exactness::Exact);
        turn.tool_set = tool_set;
        let call = &chat.call;
        turn.model.clone_from(&call.model);
        turn.usage = call.usage;
        turn.cost_usd = call.cost_usd;
        turn.response_id.clone_from(&call.response_id);
        turn.finish_reason.clone_from(&call.finish_reason);
        turn.request_time_unix_ms = call.created_unix_s.map(unix_seconds_to_ms);
        turn.output_reasoning = chat.reasoning.clone().or_else(|| call.reasoning.clone());
        turn.output_reasoning_encrypted = call.reasoning_encrypted;
        turn.output_tool_calls.clone_from(&chat.tool_calls);
        // With per-message timestamps (mini-swe-agent 2), the time from this response to the
        // last tool observation before the next call is the tool delay.
        let next = assistant_positions
            .get(k + 1)
            .copied()
            .unwrap_or(messages.len());
        if let (Some(start), Some(end)) = (
            call.timestamp_unix_s,
            messages[position + 1..next]
                .iter()
                .rev()
                .find_map(|m| m.call.timestamp_unix_s),
        ) {
            turn.tool_delay_ms_after = Some(((end - start) * 1000.0).max(0.0));
        }
        turns.push(turn);
    }
    turns
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(text: &str) -> RecordText<'_> {
        RecordText {
            text,
            path: "t.json",
            first_line: 1,
        }
    }

    #[test]
    fn message_fields_are_kept_verbatim() {
        let text = r#"{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"bash","arguments":"{\"cmd\": \"ls\"}"}}],"x":1.0}"#;
        let raw: &RawValue = serde_json::from_str(text).unwrap();
        let parsed = parse_message(&record(text), raw, "m").unwrap();
        assert_eq!(parsed.message.content, None);
        assert_eq!(
            parsed.message.fields_json.as_deref(),
            Some(&text[text.find("\"content\"").unwrap()..])
                .map(|rest| format!("{{{rest}"))
                .as_deref()
        );
        assert_eq!(parsed.tool_calls[0].name, "bash");
        assert_eq!(
            parsed.message.token_texts,
            vec!["bash", "{\"cmd\": \"ls\"}"]
        );
    }

    #[test]
    fn missing_role_is_located() {
        let text = "[{\"role\":\"user\",\"content\":\"a\"},\n {\"content\":\"b\"}]";
        let raw: &RawValue = serde_json::from_str(text).unwrap();
        let error = parse_messages(&record(text), raw, "messages").unwrap_err();
        assert_eq!(
            error.to_string(),
            "t.json:2:2: messages[1]: message has no `role`"
        );
    }

    #[test]
    fn anthropic_usage_sums_the_prompt_parts() {
        let usage = serde_json::json!({"input_tokens": 2892, "cache_creation_input_tokens": 2163,
            "cache_read_input_tokens": 27217, "output_tokens": 931});
        let reported = usage_from(&usage);
        assert_eq!(reported.input, Some(32272));
        assert_eq!(reported.cached, Some(27217));
        assert_eq!(reported.output, Some(931));
    }
}
