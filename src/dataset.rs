//! Reading a dataset back as requests: the exact messages and tools each turn sent.
//!
//! This is the inverse of ingest's linear storage. A session's messages are read once (their
//! rows are contiguous, located through `sessions.message_row_offset`), and any turn's request is
//! rebuilt by concatenating its context ranges. Exporters and `show` use this; nothing else
//! should reassemble messages by hand.

use std::path::Path;

use serde_json::{Map, Value};

use crate::blocks::{self, StoredIds};
use crate::schema::arrow::TableRow;
use crate::schema::columns::SessionIndexRow;
use crate::schema::{MessageRow, SessionRow, TurnRow};
use crate::store::{DatasetReader, RowScan, StoreError};

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

/// Where one session's rows are: what a stream needs to know of it in advance.
#[derive(Debug, Clone, Copy)]
struct Placement {
    position: u64,
    turn_row_offset: u64,
    turn_count: u32,
    message_row_offset: u64,
    message_count: u32,
}

impl Dataset {
    /// Streams the rows of the sessions at `chosen` (indexes into `sessions()`, ascending), in
    /// dataset order, reading each table once: rewriting commands use this rather than `load`,
    /// whose ranged reads decode a shared page once per session.
    pub fn stream(&self, chosen: &[usize]) -> Result<SessionStream, StoreError> {
        SessionStream::new(
            &self.reader,
            placements(chosen, |index| {
                let session = self.sessions.get(index)?;
                Some((
                    session.turn_row_offset,
                    session.turn_count,
                    session.message_row_offset,
                    session.message_count,
                ))
            }),
        )
    }
}

impl DatasetIndex {
    /// Streams the whole rows of the sessions at `chosen` (indexes into `sessions()`, ascending),
    /// in dataset order, reading each table once, the `sessions` table included: memory holds the
    /// light index and a batch of each table, never every session's tool sets and metadata.
    pub fn stream(&self, chosen: &[usize]) -> Result<SessionStream, StoreError> {
        SessionStream::new(
            &self.reader,
            placements(chosen, |index| {
                let session = self.sessions.get(index)?;
                Some((
                    session.turn_row_offset,
                    session.turn_count,
                    session.message_row_offset,
                    session.message_count,
                ))
            }),
        )
    }
}

/// Where the `chosen` sessions' rows are, from each one's (turn row offset, turn count, message
/// row offset, message count); indexes with no session are skipped.
fn placements(
    chosen: &[usize],
    locate: impl Fn(usize) -> Option<(u64, u32, u64, u32)>,
) -> impl Iterator<Item = Placement> {
    chosen.iter().filter_map(move |&index| {
        let (turn_row_offset, turn_count, message_row_offset, message_count) = locate(index)?;
        Some(Placement {
            position: index as u64,
            turn_row_offset,
            turn_count,
            message_row_offset,
            message_count,
        })
    })
}

/// Appends a row range, merging it with the previous one when they touch.
fn push_range(ranges: &mut Vec<(u64, u64)>, offset: u64, count: u64) {
    if count == 0 {
        return;
    }
    match ranges.last_mut() {
        Some((start, length)) if *start + *length == offset => *length += count,
        _ => ranges.push((offset, count)),
    }
}

/// Sessions read in one pass over the tables (`Dataset::stream`, `DatasetIndex::stream`).
pub struct SessionStream {
    counts: std::vec::IntoIter<(u32, u32)>,
    sessions: RowQueue<SessionRow>,
    turns: RowQueue<TurnRow>,
    messages: RowQueue<MessageRow>,
}

impl SessionStream {
    fn new(
        reader: &DatasetReader,
        placements: impl Iterator<Item = Placement>,
    ) -> Result<SessionStream, StoreError> {
        let mut session_ranges = Vec::new();
        let mut turn_ranges = Vec::new();
        let mut message_ranges = Vec::new();
        let mut counts = Vec::new();
        for placement in placements {
            push_range(&mut session_ranges, placement.position, 1);
            push_range(
                &mut turn_ranges,
                placement.turn_row_offset,
                u64::from(placement.turn_count),
            );
            push_range(
                &mut message_ranges,
                placement.message_row_offset,
                u64::from(placement.message_count),
            );
            counts.push((placement.turn_count, placement.message_count));
        }
        Ok(SessionStream {
            counts: counts.into_iter(),
            sessions: RowQueue::new(reader.rows::<SessionRow>(Some(&session_ranges))?),
            turns: RowQueue::new(reader.rows::<TurnRow>(Some(&turn_ranges))?),
            messages: RowQueue::new(reader.rows::<MessageRow>(Some(&message_ranges))?),
        })
    }

    fn read(&mut self, turn_count: u32, message_count: u32) -> Result<SessionData, StoreError> {
        let session = self
            .sessions
            .take(1)?
            .pop()
            .ok_or_else(|| StoreError::NotADataset {
                path: self.sessions.scan_path().to_owned(),
                message: "the sessions table ended early".to_owned(),
            })?;
        let turns = self.turns.take(turn_count as usize)?;
        let messages = self.messages.take(message_count as usize)?;
        let foreign = turns
            .iter()
            .map(|turn| &turn.session_id)
            .chain(messages.iter().map(|message| &message.session_id))
            .find(|id| **id != session.session_id);
        if let Some(foreign) = foreign {
            return Err(StoreError::NotADataset {
                path: self.turns.scan_path().to_owned(),
                message: format!(
                    "the rows of session `{}` hold rows of `{foreign}`: the sessions table's \
                     offsets do not match the tables",
                    session.session_id
                ),
            });
        }
        Ok(SessionData {
            session,
            turns,
            messages,
        })
    }
}

impl SessionStream {
    /// The same sessions, read and decoded on a thread of their own a few sessions ahead, so that
    /// decoding the input overlaps with whatever the caller does with each session (rewriting
    /// commands: compressing the output). Order and content are unchanged.
    pub fn prefetched(self) -> impl Iterator<Item = Result<SessionData, StoreError>> {
        let (sender, receiver) = std::sync::mpsc::sync_channel(PREFETCH_SESSIONS);
        std::thread::spawn(move || {
            for session in self {
                // The receiver hung up: the caller stopped early.
                if sender.send(session).is_err() {
                    break;
                }
            }
        });
        receiver.into_iter()
    }
}

/// Sessions decoded ahead of the caller by `SessionStream::prefetched`.
const PREFETCH_SESSIONS: usize = 16;

impl Iterator for SessionStream {
    type Item = Result<SessionData, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (turns, messages) = self.counts.next()?;
        Some(self.read(turns, messages))
    }
}

/// Rows of a whole-row scan, taken a session at a time.
struct RowQueue<Row: TableRow> {
    scan: RowScan<Row>,
    buffer: std::collections::VecDeque<Row>,
}

impl<Row: TableRow> RowQueue<Row> {
    fn new(scan: RowScan<Row>) -> Self {
        RowQueue {
            scan,
            buffer: std::collections::VecDeque::new(),
        }
    }

    fn scan_path(&self) -> &Path {
        self.scan.path()
    }

    fn take(&mut self, count: usize) -> Result<Vec<Row>, StoreError> {
        while self.buffer.len() < count {
            match self.scan.next() {
                Some(batch) => self.buffer.extend(batch?),
                None => {
                    return Err(StoreError::NotADataset {
                        path: self.scan.path().to_owned(),
                        message: "the table has fewer rows than the sessions table says".to_owned(),
                    });
                }
            }
        }
        Ok(self.buffer.drain(..count).collect())
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
        let mut current: Vec<u64> = Vec::new();
        let mut all = Vec::with_capacity(self.turns.len());
        for turn in &self.turns {
            StoredIds {
                block_size: turn.hash_block_size.unwrap_or_default(),
                prefix_blocks: turn.hash_prefix_blocks?,
                new_ids: turn.hash_ids_new.as_deref()?,
            }
            .apply(&mut current);
            all.push(current.clone());
        }
        Some(all)
    }

    /// Every turn's hash ids at a block size `factor` times the stored one.
    pub fn hash_ids_coarse(&self, factor: usize) -> Option<Vec<Vec<u64>>> {
        self.hash_ids()
            .map(|all| all.iter().map(|ids| blocks::coarsen(ids, factor)).collect())
    }
}

/// What a turn's figures are, as read from one `turns` row.
#[derive(Debug, Clone, Copy, Default)]
pub struct TurnFacts<'a> {
    /// `turn_index`.
    pub turn_index: u32,
    /// Whether `exactness` is `sizes_only`.
    pub sizes_only: bool,
    /// `model`.
    pub model: Option<&'a str>,
    /// `input_tokens_reported`.
    pub input_tokens_reported: Option<u64>,
    /// `input_tokens_counted`.
    pub input_tokens_counted: Option<u64>,
    /// `cached_tokens_reported`.
    pub cached_tokens_reported: Option<u64>,
    /// `prefix_tokens_counted`.
    pub prefix_tokens_counted: Option<u64>,
    /// `new_tokens_reported`.
    pub new_tokens_reported: Option<u64>,
    /// `new_tokens_counted`.
    pub new_tokens_counted: Option<u64>,
    /// `output_tokens_reported`.
    pub output_tokens_reported: Option<u64>,
    /// `output_tokens_counted`.
    pub output_tokens_counted: Option<u64>,
    /// `reasoning_tokens_reported`.
    pub reasoning_tokens_reported: Option<u64>,
    /// `reasoning_tokens_counted`.
    pub reasoning_tokens_counted: Option<u64>,
    /// `request_time_unix_ms`.
    pub request_time_unix_ms: Option<i64>,
    /// `request_offset_ms`.
    pub request_offset_ms: Option<f64>,
    /// `model_latency_ms`.
    pub model_latency_ms: Option<f64>,
    /// `tool_delay_ms_after`.
    pub tool_delay_ms_after: Option<f64>,
    /// `hash_block_size`, `hash_prefix_blocks` and `hash_ids_new`, when all are present.
    pub hash_ids: Option<StoredIds<'a>>,
}

impl TurnFacts<'_> {
    /// Input tokens: as reported, else as counted.
    pub fn input_tokens(&self) -> Option<u64> {
        self.input_tokens_reported.or(self.input_tokens_counted)
    }
}

/// Which optional columns a turn scan decodes (the others are left undecoded).
#[derive(Debug, Clone, Copy, Default)]
pub struct ScanColumns {
    /// `model`.
    pub model: bool,
    /// The hash-id columns.
    pub hash_ids: bool,
}

/// A dataset opened for column scans: its manifest and a light index of its sessions (no tool
/// sets, no metadata unless asked), for statistics over millions of turns.
#[derive(Debug, Clone)]
pub struct DatasetIndex {
    reader: DatasetReader,
    sessions: Vec<SessionIndexRow>,
}

impl DatasetIndex {
    /// Opens a dataset and reads its session index; `with_metadata` also reads each session's
    /// `metadata_json`.
    pub fn open(directory: &Path, with_metadata: bool) -> Result<DatasetIndex, StoreError> {
        use crate::schema::columns::{SESSION_INDEX_COLUMNS, SESSION_METADATA_JSON};
        let reader = DatasetReader::open(directory)?;
        let mut columns: Vec<&str> = SESSION_INDEX_COLUMNS.to_vec();
        if with_metadata {
            columns.push(SESSION_METADATA_JSON);
        }
        let path = directory.join(crate::store::table_file::<SessionRow>());
        let mut sessions = Vec::new();
        for batch in reader.scan::<SessionRow>(&columns, None)? {
            sessions.extend(SessionIndexRow::from_batch(&batch?).map_err(|source| {
                StoreError::Conversion {
                    path: path.clone(),
                    source,
                }
            })?);
        }
        Ok(DatasetIndex { reader, sessions })
    }

    /// The underlying reader (manifest).
    pub fn reader(&self) -> &DatasetReader {
        &self.reader
    }

    /// Every session, in dataset order.
    pub fn sessions(&self) -> &[SessionIndexRow] {
        &self.sessions
    }
}

impl DatasetIndex {
    /// Streams the figures of the turns (all, or `count` rows from row `offset`), column-wise:
    /// only the columns `TurnFacts` needs are decoded.
    pub fn scan_turns(
        &self,
        columns: ScanColumns,
        range: Option<(u64, u64)>,
    ) -> Result<impl Iterator<Item = Result<TurnBatch, StoreError>> + use<>, StoreError> {
        use crate::schema::columns as c;
        let mut names = vec![
            c::TURN_INDEX,
            c::EXACTNESS,
            c::INPUT_TOKENS_REPORTED,
            c::INPUT_TOKENS_COUNTED,
            c::CACHED_TOKENS_REPORTED,
            c::PREFIX_TOKENS_COUNTED,
            c::NEW_TOKENS_REPORTED,
            c::NEW_TOKENS_COUNTED,
            c::OUTPUT_TOKENS_REPORTED,
            c::OUTPUT_TOKENS_COUNTED,
            c::REASONING_TOKENS_REPORTED,
            c::REASONING_TOKENS_COUNTED,
            c::REQUEST_TIME_UNIX_MS,
            c::REQUEST_OFFSET_MS,
            c::MODEL_LATENCY_MS,
            c::TOOL_DELAY_MS_AFTER,
        ];
        if columns.model {
            names.push(c::MODEL);
        }
        if columns.hash_ids {
            names.extend([c::HASH_BLOCK_SIZE, c::HASH_PREFIX_BLOCKS, c::HASH_IDS_NEW]);
        }
        let path = self
            .reader
            .directory()
            .join(crate::store::table_file::<TurnRow>());
        let scan = self.reader.scan::<TurnRow>(&names, range)?;
        Ok(scan.map(move |batch| TurnBatch::new(&batch?, &path)))
    }
}

/// A projected column of a batch, downcast; `None` when it was not projected, an error when it
/// has another type (a foreign dataset).
fn column<T: arrow_array::Array + Clone + 'static>(
    batch: &arrow_array::RecordBatch,
    name: &str,
    path: &Path,
) -> Result<Option<T>, StoreError> {
    let Some(array) = batch.column_by_name(name) else {
        return Ok(None);
    };
    array
        .as_any()
        .downcast_ref::<T>()
        .cloned()
        .map(Some)
        .ok_or_else(|| StoreError::MissingColumn {
            path: path.to_owned(),
            column: format!("{name} (of another type)"),
        })
}
/// A projected column that must be there.
fn required<T: arrow_array::Array + Clone + 'static>(
    batch: &arrow_array::RecordBatch,
    name: &str,
    path: &Path,
) -> Result<T, StoreError> {
    column::<T>(batch, name, path)?.ok_or_else(|| StoreError::MissingColumn {
        path: path.to_owned(),
        column: name.to_owned(),
    })
}

/// One record batch of a turn scan, with its arrays downcast once.
pub struct TurnBatch {
    rows: usize,
    turn_index: arrow_array::UInt32Array,
    exactness: arrow_array::StringArray,
    model: Option<arrow_array::StringArray>,
    integers: [arrow_array::UInt64Array; 10],
    request_time_unix_ms: arrow_array::Int64Array,
    reals: [arrow_array::Float64Array; 3],
    hash_block_size: Option<arrow_array::UInt32Array>,
    hash_prefix_blocks: Option<arrow_array::UInt32Array>,
    hash_ids_new: Option<arrow_array::ListArray>,
}

impl TurnBatch {
    fn new(batch: &arrow_array::RecordBatch, path: &Path) -> Result<TurnBatch, StoreError> {
        use crate::schema::columns as c;
        let integer = |name| required::<arrow_array::UInt64Array>(batch, name, path);
        let real = |name| required::<arrow_array::Float64Array>(batch, name, path);
        Ok(TurnBatch {
            rows: batch.num_rows(),
            turn_index: required(batch, c::TURN_INDEX, path)?,
            exactness: required(batch, c::EXACTNESS, path)?,
            model: column(batch, c::MODEL, path)?,
            integers: [
                integer(c::INPUT_TOKENS_REPORTED)?,
                integer(c::INPUT_TOKENS_COUNTED)?,
                integer(c::CACHED_TOKENS_REPORTED)?,
                integer(c::PREFIX_TOKENS_COUNTED)?,
                integer(c::NEW_TOKENS_REPORTED)?,
                integer(c::NEW_TOKENS_COUNTED)?,
                integer(c::OUTPUT_TOKENS_REPORTED)?,
                integer(c::OUTPUT_TOKENS_COUNTED)?,
                integer(c::REASONING_TOKENS_REPORTED)?,
                integer(c::REASONING_TOKENS_COUNTED)?,
            ],
            request_time_unix_ms: required(batch, c::REQUEST_TIME_UNIX_MS, path)?,
            reals: [
                real(c::REQUEST_OFFSET_MS)?,
                real(c::MODEL_LATENCY_MS)?,
                real(c::TOOL_DELAY_MS_AFTER)?,
            ],
            hash_block_size: column(batch, c::HASH_BLOCK_SIZE, path)?,
            hash_prefix_blocks: column(batch, c::HASH_PREFIX_BLOCKS, path)?,
            hash_ids_new: column(batch, c::HASH_IDS_NEW, path)?,
        })
    }

    /// Rows in the batch.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether the batch has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The figures of row `row`.
    pub fn facts(&self, row: usize) -> TurnFacts<'_> {
        use arrow_array::Array;
        use arrow_array::cast::AsArray;
        use arrow_array::types::UInt64Type;
        let integer = |index: usize| {
            let array = &self.integers[index];
            array.is_valid(row).then(|| array.value(row))
        };
        let real = |index: usize| {
            let array = &self.reals[index];
            array.is_valid(row).then(|| array.value(row))
        };
        let hash_ids = match (
            &self.hash_block_size,
            &self.hash_prefix_blocks,
            &self.hash_ids_new,
        ) {
            (Some(size), Some(prefix), Some(ids))
                if size.is_valid(row) && prefix.is_valid(row) && ids.is_valid(row) =>
            {
                let offsets = ids.value_offsets();
                let values = ids.values().as_primitive::<UInt64Type>().values();
                let start = usize::try_from(offsets[row]).unwrap_or(0);
                let end = usize::try_from(offsets[row + 1]).unwrap_or(0);
                values.get(start..end).map(|new_ids| StoredIds {
                    block_size: size.value(row),
                    prefix_blocks: prefix.value(row),
                    new_ids,
                })
            }
            _ => None,
        };
        TurnFacts {
            turn_index: self.turn_index.value(row),
            sizes_only: self.exactness.value(row) == crate::schema::Exactness::SizesOnly.as_str(),
            model: self
                .model
                .as_ref()
                .and_then(|model| model.is_valid(row).then(|| model.value(row))),
            input_tokens_reported: integer(0),
            input_tokens_counted: integer(1),
            cached_tokens_reported: integer(2),
            prefix_tokens_counted: integer(3),
            new_tokens_reported: integer(4),
            new_tokens_counted: integer(5),
            output_tokens_reported: integer(6),
            output_tokens_counted: integer(7),
            reasoning_tokens_reported: integer(8),
            reasoning_tokens_counted: integer(9),
            request_time_unix_ms: self
                .request_time_unix_ms
                .is_valid(row)
                .then(|| self.request_time_unix_ms.value(row)),
            request_offset_ms: real(0),
            model_latency_ms: real(1),
            tool_delay_ms_after: real(2),
            hash_ids,
        }
    }
}

impl DatasetIndex {
    /// Calls `visit(message_row, text)` for the content and the other fields' JSON text of every
    /// message, in table order, decoding only those two columns.
    pub fn for_each_message_text(
        &self,
        mut visit: impl FnMut(u64, &str),
    ) -> Result<(), StoreError> {
        use crate::schema::columns as c;
        use arrow_array::Array;
        let path = self
            .reader
            .directory()
            .join(crate::store::table_file::<MessageRow>());
        let mut row = 0u64;
        for batch in self
            .reader
            .scan::<MessageRow>(&[c::MESSAGE_CONTENT, c::MESSAGE_FIELDS_JSON], None)?
        {
            let batch = batch?;
            let content: arrow_array::StringArray = required(&batch, c::MESSAGE_CONTENT, &path)?;
            let fields: arrow_array::StringArray = required(&batch, c::MESSAGE_FIELDS_JSON, &path)?;
            for index in 0..batch.num_rows() {
                if content.is_valid(index) {
                    visit(row, content.value(index));
                }
                if fields.is_valid(index) {
                    visit(row, fields.value(index));
                }
                row += 1;
            }
        }
        Ok(())
    }
}
