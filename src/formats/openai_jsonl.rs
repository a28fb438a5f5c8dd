//! OpenAI chat JSONL: one session per line, `{"id"?, "messages": [...], "tools"?: [...]}`.
//!
//! The lingua franca of chat datasets and the form `trajkit export --to openai-jsonl` writes.
//! Every assistant message is a turn whose request is the messages before it, sent with `tools`.
//! Keys other than `id`, `messages` and `tools` are kept as session metadata; a string `model`
//! key names the model. Usage is read when an assistant message carries it (a `usage` object, or
//! a logged provider response under `extra.response`). Lines are independent, so large files are
//! split and read in parallel; a bad line is rejected alone.

use std::path::Path;

use serde_json::Value;

use super::chat::{linear_trajectory, parse_messages_document};
use super::json::{RecordText, kind_of, record_lines};
use super::{FormatDescription, FormatError, SourceUnit, file_name, file_stem_id};
use crate::schema::{SessionInfo, Trajectory};

/// What the format gives.
pub const DESCRIPTION: FormatDescription = FormatDescription {
    name: "openai-jsonl",
    producer: "chat datasets: OpenAI chat-completions message lists, one session per line",
    files: "*.jsonl, one `{\"id\"?, \"messages\", \"tools\"?}` session per line",
    context: "exact: a call's request is every message before its assistant message",
    reported_counts: "per call when an assistant message carries `usage` or a logged response",
    timing: "none unless logged with a response",
};

/// Whether a file looks like OpenAI chat JSONL: a `.jsonl` name and a first record with
/// `messages`.
pub fn detect(path: &Path, head: &[u8]) -> bool {
    let name = file_name(path);
    if !name.ends_with(".jsonl") {
        return false;
    }
    let head = String::from_utf8_lossy(head);
    let first = head
        .lines()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("");
    first.trim_start().starts_with('{') && first.contains("\"messages\"")
}

/// Reads the sessions of a run of lines.
pub fn read(unit: SourceUnit) -> impl Iterator<Item = Result<Trajectory, FormatError>> + Send {
    let SourceUnit {
        path,
        data,
        first_line,
    } = unit;
    let lines: Vec<_> = record_lines(&data, first_line).collect();
    lines
        .into_iter()
        .map(move |(line, range)| read_line(&path, &data[range], line))
}

fn read_line(path: &str, bytes: &[u8], line: u64) -> Result<Trajectory, FormatError> {
    let record = RecordText::decode(bytes, path, line)?;
    let trimmed = record.text.trim_start();
    if !trimmed.starts_with('{') {
        let found = serde_json::from_str::<&serde_json::value::RawValue>(trimmed)
            .map_or("invalid JSON", kind_of);
        return Err(record.error(format!("expected a JSON object per line, found {found}")));
    }
    let (object, chat) = parse_messages_document(&record, "record has no `messages`")?;
    let mut session = SessionInfo {
        source_line: Some(line),
        ..SessionInfo::default()
    };
    session.session_id = match object.get("id") {
        Some(raw) => match record.parse::<Value>(raw, "id")? {
            Value::String(id) if !id.is_empty() => id,
            Value::Number(number) => number.to_string(),
            _ => format!("{}:{line}", file_stem_id(path, &[".jsonl"])),
        },
        None => format!("{}:{line}", file_stem_id(path, &[".jsonl"])),
    };
    if let Some(raw) = object.get("model") {
        session.model = record
            .parse::<Value>(raw, "model")?
            .as_str()
            .map(str::to_owned);
    }
    let mut tool_sets = Vec::new();
    if let Some(raw) = object.get("tools") {
        match raw.get().as_bytes().first() {
            Some(b'[') => tool_sets.push(raw.get().to_owned()),
            Some(b'n') => {}
            _ => {
                return Err(record.error_at(
                    raw,
                    "tools",
                    format!("expected an array of tools, found {}", kind_of(raw)),
                ));
            }
        }
    }
    session.metadata_json = object.to_json_without(&["id", "messages", "tools"]);
    Ok(linear_trajectory(session, chat, tool_sets))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(text: &str) -> Vec<Result<Trajectory, FormatError>> {
        read(SourceUnit {
            path: "chats.jsonl".into(),
            data: text.as_bytes().to_vec(),
            first_line: 1,
        })
        .collect()
    }

    #[test]
    fn each_line_is_a_session_and_bad_lines_stand_alone() {
        let text = "{\"id\":\"a\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"assistant\",\"content\":\"yo\"}],\"tools\":[]}\n\n[1,2]\n{\"messages\":[]}\n{\"messages\": [";
        let results = read_all(text);
        assert_eq!(results.len(), 4);
        let first = results[0].as_ref().unwrap();
        assert_eq!(first.session.session_id, "a");
        assert_eq!(first.turns.len(), 1);
        assert_eq!(first.turns[0].tool_set, Some(0));
        assert_eq!(
            results[1].as_ref().unwrap_err().to_string(),
            "chats.jsonl:3: expected a JSON object per line, found an array"
        );
        assert_eq!(results[2].as_ref().unwrap().session.session_id, "chats:4");
        let truncated = results[3].as_ref().unwrap_err();
        assert_eq!(truncated.line, Some(5));
        assert!(truncated.message.starts_with("truncated JSON"));
    }
}
