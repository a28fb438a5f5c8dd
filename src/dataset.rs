//! Reading a dataset back as requests: the exact messages and tools each turn sent.
//!
//! This is the inverse of ingest's linear storage. A session's messages are read once (their
//! rows are contiguous, located through `sessions.message_row_offset`), and any turn's request is
//! rebuilt by concatenating its context ranges. Exporters and `show` use this; nothing else
//! should reassemble messages by hand.

use std::path::Path;

use serde_json::{Map, Value};

use crate::blocks;
use crate::schema::{MessageRow, SessionRow, TurnRow};
use crate::store::{DatasetReader, StoreError};

/// A dataset's stored data is inconsistent (a damaged or foreign dataset).
#[derive(Debug, thiserror::Error)]
#[error("session `{session_id}`: {message}")]
pub struct ReconstructError {
    /// The session.
    pub session_id: String,
    /// What is inconsistent.
    pub message: String,
}

/// An open dataset with its sessions table loaded.
#[derive(Debug, Clone)]
pub struct Dataset {
    reader: DatasetReader,
    sessions: Vec<SessionRow>,
}

impl Dataset {
    /// Opens a dataset directory.
    pub fn open(directory: &Path) -> Result<Dataset, StoreError> {
        let reader = DatasetReader::open(directory)?;
        let sessions = reader.read_all::<SessionRow>()?;
        Ok(Dataset { reader, sessions })
    }

    /// The underlying reader (manifest, tables).
    pub fn reader(&self) -> &DatasetReader {
        &self.reader
    }

    /// Every session, in dataset order.
    pub fn sessions(&self) -> &[SessionRow] {
        &self.sessions
    }

    /// The session with this id.
    pub fn session(&self, session_id: &str) -> Option<&SessionRow> {
        self.sessions.iter().find(|s| s.session_id == session_id)
    }

    /// Loads one session's turns and messages.
    pub fn load(&self, session: &SessionRow) -> Result<SessionData, StoreError> {
        let turns = self
            .reader
            .read_rows::<TurnRow>(session.turn_row_offset, u64::from(session.turn_count))?;
        let messages = self.reader.read_rows::<MessageRow>(
            session.message_row_offset,
            u64::from(session.message_count),
        )?;
        Ok(SessionData {
            session: session.clone(),
            turns,
            messages,
        })
    }
}

/// One session's rows.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionData {
    /// The session row.
    pub session: SessionRow,
    /// Its turns, in order.
    pub turns: Vec<TurnRow>,
    /// Its messages, in store order.
    pub messages: Vec<MessageRow>,
}

/// A turn's request as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The messages, in order.
    pub messages: Vec<Value>,
    /// The tool definitions (empty when none were sent).
    pub tools: Vec<Value>,
}

impl SessionData {
    fn error(&self, message: String) -> ReconstructError {
        ReconstructError {
            session_id: self.session.session_id.clone(),
            message,
        }
    }

    /// Message `index` of the store, rebuilt as logged: `{role, content?, ...fields}`.
    pub fn message(&self, index: u32) -> Result<Value, ReconstructError> {
        let row = self
            .messages
            .get(index as usize)
            .filter(|row| row.message_index == index)
            .ok_or_else(|| self.error(format!("message {index} is missing")))?;
        let mut object = Map::new();
        object.insert("role".to_owned(), Value::String(row.role.clone()));
        if let Some(content) = &row.content {
            object.insert("content".to_owned(), Value::String(content.clone()));
        }
        if let Some(fields) = &row.fields_json {
            let fields: Map<String, Value> = serde_json::from_str(fields)
                .map_err(|error| self.error(format!("message {index} has bad fields: {error}")))?;
            object.extend(fields);
        }
        Ok(Value::Object(object))
    }

    /// The request turn `turn_index` sent.
    pub fn request(&self, turn_index: usize) -> Result<Request, ReconstructError> {
        let turn = self
            .turns
            .get(turn_index)
            .ok_or_else(|| self.error(format!("turn {turn_index} does not exist")))?;
        let mut messages = Vec::with_capacity(turn.context_messages as usize);
        for range in &turn.context {
            for index in range.start..range.start.saturating_add(range.count) {
                messages.push(self.message(index)?);
            }
        }
        let tools = match turn.tool_set_index {
            Some(index) => {
                let text = self
                    .session
                    .tool_sets
                    .get(index as usize)
                    .ok_or_else(|| self.error(format!("tool set {index} is missing")))?;
                serde_json::from_str(text)
                    .map_err(|error| self.error(format!("tool set {index} is bad: {error}")))?
            }
            None => Vec::new(),
        };
        Ok(Request { messages, tools })
    }

    /// The output message of turn `turn_index`, as logged; `None` when the log has none.
    pub fn output(&self, turn_index: usize) -> Result<Option<Value>, ReconstructError> {
        let turn = self
            .turns
            .get(turn_index)
            .ok_or_else(|| self.error(format!("turn {turn_index} does not exist")))?;
        turn.output_message_index
            .map(|index| self.message(index))
            .transpose()
    }

    /// Every turn's full list of block hash ids (block size `hash_block_size` of each turn), rebuilt
    /// from the stored prefix lengths and new ids; `None` when a turn has none (no tokenizer, or a
    /// sizes-only log without ids).
    pub fn hash_ids(&self) -> Option<Vec<Vec<u64>>> {
        let mut previous: Vec<u64> = Vec::new();
        let mut all = Vec::with_capacity(self.turns.len());
        for turn in &self.turns {
            let prefix = turn.hash_prefix_blocks? as usize;
            let mut ids = previous[..prefix.min(previous.len())].to_vec();
            ids.extend(turn.hash_ids_new.as_ref()?);
            previous.clone_from(&ids);
            all.push(ids);
        }
        Some(all)
    }

    /// Every turn's hash ids at a block size `factor` times the stored one.
    pub fn hash_ids_coarse(&self, factor: usize) -> Option<Vec<Vec<u64>>> {
        self.hash_ids()
            .map(|all| all.iter().map(|ids| blocks::coarsen(ids, factor)).collect())
    }
}
