//! `--to openai-jsonl`: OpenAI chat JSONL, `sessions.jsonl`, one line per session:
//! `{"id", "messages", "tools"?, ...session metadata}` (the shape `formats::openai_jsonl` reads).
//!
//! `messages` is the session's conversation (its message store in order when the session is
//! linear, else its last request and answer, with a note); `tools` the tool list its turns send,
//! absent when none; the session's `metadata_json` keys follow, so that a session read from
//! OpenAI JSONL (whose metadata is the line's other keys, `model` among them) is written back
//! whole and ingest → export → ingest gives the same dataset.

use serde_json::{Map, Value};

use super::output::OutputDirectory;
use super::{
    ExportError, ExportFormat, ExportSummary, conversation, require_text, session_metadata,
    session_tools,
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
        let (messages, linear) = conversation(&data)?;
        not_linear += u64::from(!linear);
        let mut line = Map::new();
        line.insert("id".to_owned(), Value::from(session.session_id.clone()));
        line.insert("messages".to_owned(), Value::Array(messages));
        let tools = session_tools(&data)?;
        if data.turns.iter().any(|turn| turn.tool_set_index.is_some()) {
            line.insert("tools".to_owned(), Value::Array(tools));
        }
        for (key, value) in session_metadata(session) {
            if !line.contains_key(&key) {
                line.insert(key, value);
            }
        }
        file.write_line(&Value::Object(line))?;
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
