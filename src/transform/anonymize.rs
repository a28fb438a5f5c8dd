//! `trajkit anonymize`: a sizes-only copy of a dataset — counts, timing and hash ids, no text.
//!
//! What is kept is what a capacity benchmark or a cache study needs: every token figure, every
//! time, the finish reason, the model and agent names, the session's turn structure and the
//! chained block hash ids (which name shared prefixes without revealing them). What goes is
//! every text a person or a secret could hide in: messages, tool definitions, tool calls,
//! reasoning, response ids, task and repository names, file paths, per-format metadata, and the
//! raw file names of the manifest. Session ids become `session-000001`… in dataset order unless
//! kept, so no id links the copy back to a source log.
//!
//! A caution the documentation repeats: hash ids of a prompt anyone can guess (a public agent's
//! system prompt) can be recomputed and recognized; they reveal that prompt, never private text.

use std::collections::BTreeMap;

use super::{DerivedWriter, TransformError};
use crate::dataset::{DatasetIndex, SessionData};
use crate::schema::Exactness;

/// Options of `anonymize`.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnonymizeOptions {
    /// Keep session ids (and parent ids) as they are.
    pub keep_session_ids: bool,
    /// Keep task ids and repositories (public benchmark instance names).
    pub keep_tasks: bool,
}

/// The anonymized id of each session, by dataset position.
pub fn anonymous_ids(
    dataset: &DatasetIndex,
    options: AnonymizeOptions,
) -> BTreeMap<String, String> {
    let width = dataset.sessions().len().to_string().len().max(6);
    dataset
        .sessions()
        .iter()
        .enumerate()
        .map(|(position, session)| {
            let id = if options.keep_session_ids {
                session.session_id.clone()
            } else {
                format!("session-{:0width$}", position + 1)
            };
            (session.session_id.clone(), id)
        })
        .collect()
}

/// Writes the sizes-only copy of every session.
pub fn anonymize(
    dataset: &DatasetIndex,
    options: AnonymizeOptions,
    writer: &mut DerivedWriter,
) -> Result<(), TransformError> {
    let ids = anonymous_ids(dataset, options);
    let all: Vec<usize> = (0..dataset.sessions().len()).collect();
    writer.scrub_provenance();
    for session in dataset.stream(&all)?.prefetched() {
        let session = session?;
        let source = session.session.source_file.clone();
        writer.write_counted_as(strip(session, options, &ids), &source)?;
    }
    Ok(())
}

/// The sizes-only form of one session.
pub fn strip(
    data: SessionData,
    options: AnonymizeOptions,
    ids: &BTreeMap<String, String>,
) -> SessionData {
    let SessionData {
        mut session,
        mut turns,
        messages: _,
    } = data;
    let new_id = ids
        .get(&session.session_id)
        .cloned()
        .unwrap_or_else(|| session.session_id.clone());
    let task_id = session.task_id.take().filter(|_| options.keep_tasks);
    let repository = session.repository.take().filter(|_| options.keep_tasks);
    for turn in &mut turns {
        turn.session_id.clone_from(&new_id);
        turn.source_file = String::new();
        turn.task_id.clone_from(&task_id);
        turn.repository.clone_from(&repository);
        turn.context = Vec::new();
        turn.context_messages = 0;
        turn.tool_set_index = None;
        turn.output_message_index = None;
        Exactness::SizesOnly
            .as_str()
            .clone_into(&mut turn.exactness);
        turn.response_id = None;
        turn.output_reasoning = None;
        turn.output_tool_calls = Vec::new();
        turn.metadata_json = None;
    }
    // A parent outside the dataset keeps its id only when ids are kept.
    session.parent_session_id = session.parent_session_id.take().and_then(|parent| {
        ids.get(&parent)
            .cloned()
            .or_else(|| options.keep_session_ids.then_some(parent))
    });
    session.session_id = new_id;
    session.source_file = String::new();
    session.source_line = None;
    session.task_id = task_id;
    session.repository = repository;
    session.message_count = 0;
    session.tool_sets = Vec::new();
    session.metadata_json = None;
    SessionData {
        session,
        turns,
        messages: Vec::new(),
    }
}
