//! mini-swe-agent trajectories (`<instance>/<instance>.traj.json`).
//!
//! Producer: SWE-agent/mini-swe-agent. Versions seen: `trajectory_format: "mini-swe-agent-1"`
//! (mini 1.x), `"mini-swe-agent-1.1"` (mini ≥ 2.0, per-message `extra.timestamp`, `extra.cost`),
//! and bare message lists (the project's hand-written test files). Shape:
//! `{"info": {"exit_status", "submission", "model_stats", "mini_version", "config"}, "messages":
//! [...], "trajectory_format", "instance_id"}`.
//!
//! A turn is an assistant message; its request is every message before it (the history is linear
//! and untruncated by default), so contexts are exact. Usage comes from the raw provider response
//! in `extra.response` (`usage.prompt_tokens`, `prompt_tokens_details.cached_tokens`, …).
//! Quirks: the final `user` message holds the submitted diff and is no call's input; reasoning
//! appears only inside `extra.response` (sometimes encrypted, as `reasoning_details`).

use std::path::Path;

use serde_json::Value;
use serde_json::value::RawValue;

use super::chat::{linear_trajectory, parse_messages, parse_messages_document};
use super::json::{RawObject, RecordText, as_count, kind_of};
use super::{FormatDescription, FormatError, SourceUnit, file_name, file_stem_id};
use crate::schema::{SessionInfo, Trajectory};

const AGENT: &str = "mini-swe-agent";
const SUFFIXES: [&str; 2] = [".traj.json", ".json"];

/// What the format gives.
pub const DESCRIPTION: FormatDescription = FormatDescription {
    name: "mini-swe-agent",
    producer: "mini-swe-agent 1.x and 2.x (SWE-agent/mini-swe-agent)",
    files: "<instance>/<instance>.traj.json",
    context: "exact: a call's request is every message before its assistant message",
    reported_counts: "per call, from the logged provider response: prompt, cached, completion, reasoning, cost",
    timing: "request time (provider `created`, 1 s resolution; 2.x: per-message timestamps)",
};

/// Whether a file looks like a mini-swe-agent trajectory.
pub fn detect(path: &Path, head: &[u8]) -> bool {
    let name = file_name(path);
    if name.ends_with(".traj.json") {
        return true;
    }
    let head = String::from_utf8_lossy(head);
    name.ends_with(".json")
        && head.trim_start().starts_with('{')
        && (head.contains("\"mini-swe-agent") || head.contains("\"mini_version\""))
}

/// Reads one trajectory file.
pub fn read(unit: SourceUnit) -> impl Iterator<Item = Result<Trajectory, FormatError>> + Send {
    std::iter::once_with(move || read_file(&unit))
}

fn read_file(unit: &SourceUnit) -> Result<Trajectory, FormatError> {
    let record = RecordText::decode(&unit.data, &unit.path, unit.first_line)?;
    let mut session = SessionInfo {
        session_id: file_stem_id(&unit.path, &SUFFIXES),
        agent: Some(AGENT.to_owned()),
        ..SessionInfo::default()
    };
    match record.text.trim_start().as_bytes().first() {
        None => Err(record.error("empty file")),
        Some(b'[') => {
            let messages: &RawValue = serde_json::from_str(record.text)
                .map_err(|error| record.json_error(&error, 0, ""))?;
            let chat = parse_messages(&record, messages, "messages")?;
            Ok(linear_trajectory(session, chat, Vec::new()))
        }
        Some(b'{') => {
            let (object, chat) = parse_messages_document(&record, "trajectory has no `messages`")?;
            read_session_info(&record, &object, &mut session)?;
            session.metadata_json = object.to_json_without(&[]);
            Ok(linear_trajectory(session, chat, Vec::new()))
        }
        Some(_) => Err(record
            .error("expected a mini-swe-agent trajectory (a JSON object or array of messages)")),
    }
}

fn read_session_info(
    record: &RecordText<'_>,
    object: &RawObject<'_>,
    session: &mut SessionInfo,
) -> Result<(), FormatError> {
    if let Some(raw) = object.get("instance_id") {
        match record.parse::<Value>(raw, "instance_id")? {
            Value::String(id) if !id.is_empty() => session.session_id = id,
            Value::String(_) | Value::Null => {}
            _ => {
                return Err(record.error_at(
                    raw,
                    "instance_id",
                    format!("expected a string, found {}", kind_of(raw)),
                ));
            }
        }
        session.task_id = Some(session.session_id.clone());
        session.repository = swe_bench_repository(&session.session_id);
    }
    if let Some(raw) = object.get("info") {
        let info: Value = record.parse(raw, "info")?;
        let text = |pointer: &str| {
            info.pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        session.exit_status = text("/exit_status");
        session.agent_version = text("/mini_version");
        session.model = text("/config/model/model_name");
        session.cost_usd = info
            .pointer("/model_stats/instance_cost")
            .and_then(Value::as_f64);
        session.api_calls = info.pointer("/model_stats/api_calls").and_then(as_count);
    }
    Ok(())
}

/// `owner/name` from a SWE-bench instance id (`django__django-11099` → `django/django`).
pub(crate) fn swe_bench_repository(instance_id: &str) -> Option<String> {
    let (owner, rest) = instance_id.split_once("__")?;
    let (name, number) = rest.rsplit_once('-')?;
    (!owner.is_empty() && !name.is_empty() && number.chars().all(|c| c.is_ascii_digit()))
        .then(|| format!("{owner}/{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(text: &str) -> SourceUnit {
        SourceUnit {
            path: "dir/x__y-1.traj.json".into(),
            data: text.as_bytes().to_vec(),
            first_line: 1,
        }
    }

    #[test]
    fn repository_comes_from_swe_bench_ids() {
        assert_eq!(
            swe_bench_repository("django__django-11099").as_deref(),
            Some("django/django")
        );
        assert_eq!(
            swe_bench_repository("scikit-learn__scikit-learn-25747").as_deref(),
            Some("scikit-learn/scikit-learn")
        );
        assert_eq!(swe_bench_repository("local"), None);
    }

    #[test]
    fn bare_lists_take_their_id_from_the_file_name() {
        let text = r#"[{"role":"system","content":"s"},{"role":"user","content":"u"},
            {"role":"assistant","content":"a"},{"role":"user","content":"o"}]"#;
        let trajectory = read_file(&unit(text)).unwrap();
        assert_eq!(trajectory.session.session_id, "x__y-1");
        assert_eq!(trajectory.turns.len(), 1);
        assert_eq!(trajectory.turns[0].context, vec![0, 1]);
        assert_eq!(trajectory.turns[0].output, Some(2));
    }

    #[test]
    fn bad_files_are_located() {
        let empty = read_file(&unit("  \n")).unwrap_err();
        assert_eq!(empty.to_string(), "dir/x__y-1.traj.json:1: empty file");
        let numbers = read_file(&unit("[1, 2]")).unwrap_err();
        assert_eq!(
            numbers.to_string(),
            "dir/x__y-1.traj.json:1:2: messages[0]: expected a message object, found a number"
        );
        let truncated = read_file(&unit("{\"messages\": [{\"role\": \"us")).unwrap_err();
        assert!(
            truncated.message.starts_with("truncated JSON"),
            "{truncated}"
        );
    }
}
