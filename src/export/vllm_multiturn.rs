//! `--to vllm-multiturn`: the input of vLLM's multi-turn serving benchmark
//! (`benchmarks/multi_turn/benchmark_serving_multi_turn.py --input-file`), one JSON array
//! `[{"id", "messages"}]` in `conversations.json`, one conversation per session.
//!
//! A conversation is the session's whole message history when the session is linear (every turn
//! sends all messages before its answer), else its last request and answer, the longest history
//! one list can hold (a note says how many sessions that was). Messages are written as logged,
//! tool calls and vendor keys included. The array is streamed element by element.

use serde_json::Value;

use super::output::OutputDirectory;
use super::{ExportError, ExportFormat, ExportSummary, conversation_texts, require_text};
use crate::dataset::Dataset;

/// The file written.
const FILE: &str = "conversations.json";

pub(super) fn write(
    dataset: &Dataset,
    directory: &mut OutputDirectory,
    summary: &mut ExportSummary,
) -> Result<(), ExportError> {
    let mut file = directory.create_file(FILE)?;
    file.write(b"[")?;
    let mut not_linear = 0u64;
    for session in dataset.sessions() {
        let data = dataset.load(session)?;
        require_text(ExportFormat::VllmMultiturn, &data)?;
        let (messages, linear) = conversation_texts(&data)?;
        not_linear += u64::from(!linear);
        file.write(if summary.sessions == 0 { b"\n" } else { b",\n" })?;
        // Messages as their stored bytes, one conversation per line.
        let text = format!(
            "{{\"id\":{},\"messages\":[{}]}}",
            Value::from(session.session_id.clone()),
            messages.join(",")
        );
        file.write(text.as_bytes())?;
        summary.sessions += 1;
        summary.turns += data.turns.len() as u64;
    }
    file.write(b"\n]\n")?;
    if not_linear > 0 {
        summary.note(format!(
            "{not_linear} sessions are not one linear history (compaction, dropped messages): each was written as its last request and answer"
        ));
    }
    file.finish()
}
