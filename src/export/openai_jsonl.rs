//! `--to openai-jsonl`: OpenAI chat JSONL, `sessions.jsonl`, one line per session:
//! `{"id", "messages", "tools"?, ...session metadata}` (the shape `formats::openai_jsonl` reads).
//!
//! `messages` is the session's conversation (its message store in order when the session is
//! linear, else its last request and answer, with a note); `tools` the tool list its turns send,
//! absent when none; the session's `metadata_json` keys follow, so that a session read from
//! OpenAI JSONL (whose metadata is the line's other keys, `model` among them) is written back
//! whole and ingest → export → ingest gives the same dataset.

use serde_json::Value;

use super::output::OutputDirectory;
use super::{
    ExportError, ExportFormat, ExportSummary, conversation_texts, require_text,
    session_metadata_entries, session_tools_text,
};
use crate::dataset::Dataset;

/// The file written.
const FILE: &str = "sessions.jsonl";

pub(super) fn write(
    dataset: &Dataset,
    directory: &mut OutputDirectory,
    summary: &mut ExportSummary,
) -> Result<(), ExportError> {
    let mut file = directory.create_file(FILE)?;
    let mut not_linear = 0u64;
    for session in dataset.sessions() {
        let data = dataset.load(session)?;
        require_text(ExportFormat::OpenaiJsonl, &data)?;
        let (messages, linear) = conversation_texts(&data)?;
        not_linear += u64::from(!linear);
        // Written as text so that every value keeps its stored bytes (a re-read stores the same).
        let mut line = String::from("{\"id\":");
        line.push_str(&Value::from(session.session_id.clone()).to_string());
        line.push_str(",\"messages\":[");
        line.push_str(&messages.join(","));
        line.push(']');
        if let Some(tools) = session_tools_text(&data) {
            line.push_str(",\"tools\":");
            line.push_str(&tools);
        }
        for (key, value) in session_metadata_entries(session) {
            if !matches!(key.as_str(), "id" | "messages" | "tools") {
                line.push(',');
                line.push_str(&Value::from(key).to_string());
                line.push(':');
                line.push_str(&value);
            }
        }
        line.push_str("}\n");
        file.write(line.as_bytes())?;
        summary.sessions += 1;
        summary.turns += data.turns.len() as u64;
    }
    if not_linear > 0 {
        summary.note(format!(
            "{not_linear} sessions are not one linear history (compaction, dropped messages): each was written as its last request and answer, so their earlier turns read back differently"
        ));
    }
    file.finish()
}
