//! The Arrow schema of each table, traced from the row structs, and rows ↔ `RecordBatch`.
//!
//! Tracing (`serde_arrow`) keeps the row structs the only place a column is defined: adding a field
//! to `TurnRow` adds the column everywhere. `store` writes and reads these batches; nothing else
//! builds Arrow arrays for dataset tables.

use std::sync::{Arc, OnceLock};

use arrow_array::RecordBatch;
use arrow_schema::{FieldRef, Schema, SchemaRef};
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_arrow::schema::{SchemaLike, TracingOptions};

use super::{MessageRow, SessionRow, TurnRow};

/// Converting rows to or from Arrow failed: a bug or a dataset written by a foreign tool.
#[derive(Debug, thiserror::Error)]
#[error("table `{table}`: {source}")]
pub struct ConversionError {
    /// Table being converted.
    pub table: &'static str,
    /// The underlying error.
    #[source]
    pub source: serde_arrow::Error,
}

/// A row type stored as one Parquet table.
pub trait TableRow: Serialize + DeserializeOwned + JsonSchema + Send + 'static {
    /// Table name, also the Parquet file stem.
    const TABLE: &'static str;

    /// The table's Arrow schema.
    fn schema() -> SchemaRef;

    /// Rough size of the row's variable-length data in bytes, so that writers can bound the rows
    /// they buffer by memory rather than by count (a session row can carry 20 KB of metadata).
    fn approximate_bytes(&self) -> usize;

    /// Converts rows to a record batch.
    fn to_batch(rows: &[Self]) -> Result<RecordBatch, ConversionError> {
        let schema = Self::schema();
        serde_arrow::to_record_batch(schema.fields(), &rows).map_err(|source| ConversionError {
            table: Self::TABLE,
            source,
        })
    }

    /// Converts a record batch back to rows.
    fn from_batch(batch: &RecordBatch) -> Result<Vec<Self>, ConversionError> {
        serde_arrow::from_record_batch(batch).map_err(|source| ConversionError {
            table: Self::TABLE,
            source,
        })
    }
}

fn trace<Row: Serialize + DeserializeOwned>() -> SchemaRef {
    let options = TracingOptions::default()
        .strings_as_large_utf8(false)
        .sequence_as_large_list(false);
    // Tracing a fixed, known struct cannot fail unless the struct uses a construct serde_arrow
    // does not support; `schema_tracing_succeeds` below proves it does not.
    let fields = Vec::<FieldRef>::from_type::<Row>(options)
        .unwrap_or_else(|error| panic!("cannot trace the Arrow schema of a row type: {error}"));
    Arc::new(Schema::new(fields))
}

macro_rules! table_row {
    ($row:ty, $table:literal, |$this:ident| $bytes:expr) => {
        impl TableRow for $row {
            const TABLE: &'static str = $table;

            fn schema() -> SchemaRef {
                static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
                SCHEMA.get_or_init(trace::<$row>).clone()
            }

            fn approximate_bytes(&self) -> usize {
                let $this = self;
                $bytes
            }
        }
    };
}

fn text_bytes(text: Option<&String>) -> usize {
    text.map_or(0, String::len)
}

table_row!(TurnRow, "turns", |row| 256
    + text_bytes(row.output_reasoning.as_ref())
    + row.context.len() * 8
    + row.hash_ids_new.as_ref().map_or(0, |ids| ids.len() * 8)
    + row
        .output_tool_calls
        .iter()
        .map(|call| call.name.len() + call.arguments.len() + 32)
        .sum::<usize>());
table_row!(SessionRow, "sessions", |row| 256
    + text_bytes(row.metadata_json.as_ref())
    + row.tool_sets.iter().map(String::len).sum::<usize>());
table_row!(MessageRow, "messages", |row| 64
    + row.session_id.len()
    + text_bytes(row.content.as_ref())
    + text_bytes(row.fields_json.as_ref()));

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{MessageRange, ToolCallRow};

    #[test]
    fn schema_tracing_succeeds() {
        assert!(TurnRow::schema().fields().len() > 20);
        assert!(SessionRow::schema().fields().len() > 10);
        assert_eq!(MessageRow::schema().fields().len(), 6);
    }

    #[test]
    fn turn_rows_round_trip_through_arrow() {
        let row = TurnRow {
            session_id: "s".into(),
            turn_index: 3,
            source_format: "openai-jsonl".into(),
            source_file: "a.jsonl".into(),
            agent: None,
            model: Some("m".into()),
            task_id: None,
            repository: None,
            context: vec![MessageRange { start: 0, count: 4 }],
            context_messages: 4,
            tool_set_index: Some(0),
            output_message_index: Some(4),
            exactness: "exact".into(),
            input_tokens_reported: Some(10),
            input_tokens_counted: Some(9),
            cached_tokens_reported: None,
            cache_write_tokens_reported: None,
            prefix_tokens_counted: Some(2),
            new_tokens_reported: None,
            new_tokens_counted: Some(7),
            output_tokens_reported: Some(5),
            output_tokens_counted: Some(4),
            reasoning_tokens_reported: None,
            reasoning_tokens_counted: None,
            cost_usd_reported: Some(0.25),
            request_time_unix_ms: Some(1_700_000_000_000),
            request_offset_ms: None,
            model_latency_ms: None,
            tool_delay_ms_after: Some(12.5),
            finish_reason: Some("stop".into()),
            response_id: None,
            output_reasoning: None,
            output_reasoning_encrypted: false,
            output_tool_calls: vec![ToolCallRow {
                id: Some("c1".into()),
                name: "bash".into(),
                arguments: "{\"cmd\":\"ls\"}".into(),
            }],
            call_kind: None,
            metadata_json: None,
            hash_block_size: Some(16),
            hash_prefix_blocks: Some(1),
            hash_ids_new: Some(vec![u64::MAX, 7]),
        };
        let batch = TurnRow::to_batch(std::slice::from_ref(&row)).unwrap();
        assert_eq!(TurnRow::from_batch(&batch).unwrap(), vec![row]);
    }
}
