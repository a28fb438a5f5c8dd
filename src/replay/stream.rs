//! Folding the `data:` payloads of an OpenAI-compatible chat-completions stream into what was
//! served: content, reasoning, tool calls (deltas merged by index), finish reason, usage, and the
//! arrival time of every chunk that carried output. Pure: the network driver feeds it payloads
//! with their arrival times.

use serde::Deserialize as _;
use serde_json::Value;

use super::record::{ServedToolCall, TokenLogprob};

/// A payload that is not a chat-completions chunk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed stream chunk: {message}")]
pub struct MalformedChunk {
    /// What is wrong, with the start of the payload.
    pub message: String,
}

/// What a stream has delivered so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamState {
    /// Concatenated content deltas.
    pub content: String,
    /// Concatenated reasoning deltas (`reasoning_content`, or `reasoning`).
    pub reasoning: String,
    /// Tool calls by their stream index.
    pub tool_calls: Vec<ServedToolCall>,
    /// Finish reason of the first choice.
    pub finish_reason: Option<String>,
    /// `usage.prompt_tokens`.
    pub prompt_tokens: Option<u64>,
    /// `usage.prompt_tokens_details.cached_tokens`.
    pub cached_tokens: Option<u64>,
    /// `usage.completion_tokens`.
    pub completion_tokens: Option<u64>,
    /// Arrival (ms after sending) of every chunk that carried output.
    pub chunk_ms: Vec<f64>,
    /// Whether `[DONE]` arrived.
    pub done: bool,
    /// The content tokens' log-probabilities (`choices[0].logprobs.content[]`), in order; `None`
    /// until a chunk carries them.
    pub logprobs: Option<Vec<TokenLogprob>>,
}

impl StreamState {
    /// Time to the first output chunk.
    pub fn ttft_ms(&self) -> Option<f64> {
        self.chunk_ms.first().copied()
    }

    /// Folds one `data:` payload that arrived `at_ms` after sending.
    pub fn push(&mut self, data: &str, at_ms: f64) -> Result<(), MalformedChunk> {
        let data = data.trim();
        if data == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        let malformed = |message: &str| MalformedChunk {
            message: format!(
                "{message}: `{}`",
                data.chars().take(120).collect::<String>()
            ),
        };
        let chunk: Value = serde_json::from_str(data).map_err(|_| malformed("not JSON"))?;
        let Some(object) = chunk.as_object() else {
            return Err(malformed("not a JSON object"));
        };
        if let Some(error) = object.get("error") {
            return Err(malformed(&format!("error in stream: {error}")));
        }
        if let Some(usage) = object.get("usage").filter(|usage| !usage.is_null()) {
            self.prompt_tokens = usage.get("prompt_tokens").and_then(Value::as_u64);
            self.completion_tokens = usage.get("completion_tokens").and_then(Value::as_u64);
            self.cached_tokens = usage
                .pointer("/prompt_tokens_details/cached_tokens")
                .and_then(Value::as_u64);
        }
        let choices = match object.get("choices") {
            None | Some(Value::Null) => return Ok(()),
            Some(Value::Array(choices)) => choices,
            Some(_) => return Err(malformed("`choices` is not a list")),
        };
        let Some(choice) = choices.first() else {
            return Ok(());
        };
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            self.finish_reason = Some(reason.to_owned());
        }
        if let Some(entries) = choice.pointer("/logprobs/content") {
            self.push_logprobs(entries)
                .map_err(|message| malformed(&message))?;
        }
        let Some(delta) = choice.get("delta").filter(|delta| !delta.is_null()) else {
            return Ok(());
        };
        let mut carried_output = false;
        if let Some(text) = delta.get("content").and_then(Value::as_str)
            && !text.is_empty()
        {
            self.content.push_str(text);
            carried_output = true;
        }
        let reasoning = delta
            .get("reasoning_content")
            .or_else(|| delta.get("reasoning"))
            .and_then(Value::as_str);
        if let Some(text) = reasoning
            && !text.is_empty()
        {
            self.reasoning.push_str(text);
            carried_output = true;
        }
        if let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) {
            for (position, call) in calls.iter().enumerate() {
                let index = call
                    .get("index")
                    .and_then(Value::as_u64)
                    .and_then(|index| usize::try_from(index).ok())
                    .unwrap_or(position);
                if index > self.tool_calls.len() + 64 {
                    return Err(malformed("tool-call index out of range"));
                }
                while self.tool_calls.len() <= index {
                    self.tool_calls.push(ServedToolCall {
                        id: None,
                        name: String::new(),
                        arguments: String::new(),
                    });
                }
                let slot = &mut self.tool_calls[index];
                if let Some(id) = call.get("id").and_then(Value::as_str) {
                    slot.id = Some(id.to_owned());
                }
                if let Some(function) = call.get("function") {
                    if let Some(name) = function.get("name").and_then(Value::as_str) {
                        slot.name.push_str(name);
                    }
                    if let Some(arguments) = function.get("arguments").and_then(Value::as_str) {
                        slot.arguments.push_str(arguments);
                    }
                }
                carried_output = true;
            }
        }
        if carried_output {
            self.chunk_ms.push(at_ms);
        }
        Ok(())
    }
}

impl StreamState {
    /// Appends one chunk's `logprobs.content` entries (null: none in this chunk).
    fn push_logprobs(&mut self, entries: &Value) -> Result<(), String> {
        match entries {
            Value::Null => Ok(()),
            Value::Array(entries) => {
                let logprobs = self.logprobs.get_or_insert_with(Vec::new);
                for entry in entries {
                    let entry = TokenLogprob::deserialize(entry)
                        .map_err(|error| format!("bad logprobs entry ({error})"))?;
                    logprobs.push(entry);
                }
                Ok(())
            }
            _ => Err("`logprobs.content` is not a list".to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_reasoning_tool_calls_and_usage_are_folded() {
        let mut state = StreamState::default();
        let chunks = [
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"reasoning_content":"think"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"Hel"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"lo"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1","function":{"name":"bash","arguments":"{\"cmd\":"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"ls\"}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":9,"prompt_tokens_details":{"cached_tokens":4}}}"#,
            "[DONE]",
        ];
        for (index, chunk) in chunks.iter().enumerate() {
            state
                .push(chunk, f64::from(u32::try_from(index).unwrap()) * 10.0)
                .unwrap();
        }
        assert_eq!(state.content, "Hello");
        assert_eq!(state.reasoning, "think");
        assert_eq!(
            state.tool_calls,
            vec![ServedToolCall {
                id: Some("c1".to_owned()),
                name: "bash".to_owned(),
                arguments: r#"{"cmd":"ls"}"#.to_owned(),
            }]
        );
        assert_eq!(state.finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(
            (
                state.prompt_tokens,
                state.completion_tokens,
                state.cached_tokens
            ),
            (Some(12), Some(9), Some(4))
        );
        // The empty role chunk carries no output; the first output is the reasoning at 10 ms.
        assert_eq!(state.ttft_ms(), Some(10.0));
        assert_eq!(state.chunk_ms.len(), 5);
        assert!(state.done);
    }

    #[test]
    fn logprobs_are_collected_in_token_order() {
        let mut state = StreamState::default();
        state
            .push(r#"{"choices":[{"delta":{"content":"Hi"}}]}"#, 1.0)
            .unwrap();
        assert_eq!(state.logprobs, None);
        // As llama-server streams them: one entry per chunk, with `id` and `bytes` besides.
        for (index, chunk) in [
            r#"{"choices":[{"delta":{"content":"I"},"logprobs":{"content":[{"id":57,"token":"I","bytes":[73],"logprob":-2.28,"top_logprobs":[{"id":57,"token":"I","bytes":[73],"logprob":-2.28},{"id":19556,"token":"Hello","bytes":[72],"logprob":-2.37}]}]}}]}"#,
            r#"{"choices":[{"delta":{"content":"'m"},"logprobs":{"content":[{"token":"'m","logprob":-0.15}]}}]}"#,
            r#"{"choices":[{"delta":{},"finish_reason":"stop","logprobs":null}]}"#,
        ]
        .iter()
        .enumerate()
        {
            state
                .push(chunk, f64::from(u32::try_from(index).unwrap()))
                .unwrap();
        }
        let logprobs = state.logprobs.unwrap();
        assert_eq!(
            logprobs
                .iter()
                .map(|entry| (
                    entry.token.as_str(),
                    entry.logprob,
                    entry.top_logprobs.len()
                ))
                .collect::<Vec<_>>(),
            vec![("I", -2.28, 2), ("'m", -0.15, 0)]
        );
        assert_eq!(logprobs[0].top_logprobs[1].token, "Hello");
        for bad in [
            r#"{"choices":[{"delta":{},"logprobs":{"content":3}}]}"#,
            r#"{"choices":[{"delta":{},"logprobs":{"content":[{"token":"x"}]}}]}"#,
        ] {
            assert!(StreamState::default().push(bad, 0.0).is_err(), "{bad}");
        }
    }

    #[test]
    fn malformed_payloads_are_errors_not_panics() {
        for bad in [
            "{not json",
            "[1, 2]",
            r#"{"choices": 3}"#,
            r#"{"error": {"message": "overloaded"}}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":1000000}]}}]}"#,
        ] {
            let mut state = StreamState::default();
            assert!(state.push(bad, 0.0).is_err(), "{bad}");
        }
    }
}
