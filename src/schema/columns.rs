//! Names of the `turns` and `messages` columns that column-wise readers project, checked against `TurnRow`.
//!
//! Statistics over millions of turns read a few columns as Arrow arrays instead of decoding
//! whole rows; these constants are how such readers name them without spelling a column name
//! outside `schema`. A unit test proves each one is a field of `TurnRow` with the expected type.

/// `turns.turn_index`.
pub const TURN_INDEX: &str = "turn_index";
/// `turns.model`.
pub const MODEL: &str = "model";
/// `turns.exactness`.
pub const EXACTNESS: &str = "exactness";
/// `turns.input_tokens_reported`.
pub const INPUT_TOKENS_REPORTED: &str = "input_tokens_reported";
/// `turns.input_tokens_counted`.
pub const INPUT_TOKENS_COUNTED: &str = "input_tokens_counted";
/// `turns.cached_tokens_reported`.
pub const CACHED_TOKENS_REPORTED: &str = "cached_tokens_reported";
/// `turns.prefix_tokens_counted`.
pub const PREFIX_TOKENS_COUNTED: &str = "prefix_tokens_counted";
/// `turns.new_tokens_reported`.
pub const NEW_TOKENS_REPORTED: &str = "new_tokens_reported";
/// `turns.new_tokens_counted`.
pub const NEW_TOKENS_COUNTED: &str = "new_tokens_counted";
/// `turns.output_tokens_reported`.
pub const OUTPUT_TOKENS_REPORTED: &str = "output_tokens_reported";
/// `turns.output_tokens_counted`.
pub const OUTPUT_TOKENS_COUNTED: &str = "output_tokens_counted";
/// `turns.reasoning_tokens_reported`.
pub const REASONING_TOKENS_REPORTED: &str = "reasoning_tokens_reported";
/// `turns.reasoning_tokens_counted`.
pub const REASONING_TOKENS_COUNTED: &str = "reasoning_tokens_counted";
/// `turns.request_time_unix_ms`.
pub const REQUEST_TIME_UNIX_MS: &str = "request_time_unix_ms";
/// `turns.request_offset_ms`.
pub const REQUEST_OFFSET_MS: &str = "request_offset_ms";
/// `turns.model_latency_ms`.
pub const MODEL_LATENCY_MS: &str = "model_latency_ms";
/// `turns.tool_delay_ms_after`.
pub const TOOL_DELAY_MS_AFTER: &str = "tool_delay_ms_after";
/// `turns.tool_set_index`.
pub const TOOL_SET_INDEX: &str = "tool_set_index";
/// `turns.hash_block_size`.
pub const HASH_BLOCK_SIZE: &str = "hash_block_size";
/// `turns.hash_prefix_blocks`.
pub const HASH_PREFIX_BLOCKS: &str = "hash_prefix_blocks";
/// `turns.hash_ids_new`.
pub const HASH_IDS_NEW: &str = "hash_ids_new";

/// `messages.content`.
pub const MESSAGE_CONTENT: &str = "content";
/// `messages.fields_json`.
pub const MESSAGE_FIELDS_JSON: &str = "fields_json";

/// `sessions.metadata_json`.
pub const SESSION_METADATA_JSON: &str = "metadata_json";

/// The `sessions` columns a column scan needs to place and group turns: a projection of
/// `SessionRow` with the same names and types (a test proves it), read without the tool sets and
/// metadata that make up most of the table.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SessionIndexRow {
    /// `session_id`.
    pub session_id: String,
    /// `source_format`.
    pub source_format: String,
    /// `agent`.
    pub agent: Option<String>,
    /// `model`.
    pub model: Option<String>,
    /// `parent_session_id`.
    pub parent_session_id: Option<String>,
    /// `turn_count`.
    pub turn_count: u32,
    /// `message_count`.
    pub message_count: u32,
    /// `turn_row_offset`.
    pub turn_row_offset: u64,
    /// `message_row_offset`.
    pub message_row_offset: u64,
    /// `metadata_json`, when asked for (`SESSION_METADATA_JSON`); else null.
    #[serde(default)]
    pub metadata_json: Option<String>,
}

/// The columns of `SessionIndexRow` always read (`SESSION_METADATA_JSON` only on demand).
pub const SESSION_INDEX_COLUMNS: [&str; 9] = [
    "session_id",
    "source_format",
    "agent",
    "model",
    "parent_session_id",
    "turn_count",
    "message_count",
    "turn_row_offset",
    "message_row_offset",
];

impl SessionIndexRow {
    /// Converts a batch of projected `sessions` columns.
    pub fn from_batch(
        batch: &arrow_array::RecordBatch,
    ) -> Result<Vec<SessionIndexRow>, crate::schema::arrow::ConversionError> {
        serde_arrow::from_record_batch(batch).map_err(|source| {
            crate::schema::arrow::ConversionError {
                table: "sessions",
                source,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use arrow_schema::DataType;

    use super::*;
    use crate::schema::TurnRow;
    use crate::schema::arrow::TableRow;

    #[test]
    fn every_constant_is_a_turns_column_of_the_expected_type() {
        let schema = TurnRow::schema();
        let expect = |name: &str, data_type: &DataType| {
            let field = schema
                .field_with_name(name)
                .unwrap_or_else(|_| panic!("`{name}` is not a turns column"));
            assert_eq!(field.data_type(), data_type, "type of `{name}`");
        };
        expect(TURN_INDEX, &DataType::UInt32);
        expect(MODEL, &DataType::Utf8);
        expect(EXACTNESS, &DataType::Utf8);
        for name in [
            INPUT_TOKENS_REPORTED,
            INPUT_TOKENS_COUNTED,
            CACHED_TOKENS_REPORTED,
            PREFIX_TOKENS_COUNTED,
            NEW_TOKENS_REPORTED,
            NEW_TOKENS_COUNTED,
            OUTPUT_TOKENS_REPORTED,
            OUTPUT_TOKENS_COUNTED,
            REASONING_TOKENS_REPORTED,
            REASONING_TOKENS_COUNTED,
        ] {
            expect(name, &DataType::UInt64);
        }
        expect(REQUEST_TIME_UNIX_MS, &DataType::Int64);
        for name in [REQUEST_OFFSET_MS, MODEL_LATENCY_MS, TOOL_DELAY_MS_AFTER] {
            expect(name, &DataType::Float64);
        }
        expect(TOOL_SET_INDEX, &DataType::UInt32);
        expect(HASH_BLOCK_SIZE, &DataType::UInt32);
        expect(HASH_PREFIX_BLOCKS, &DataType::UInt32);
        let DataType::List(item) = schema
            .field_with_name(HASH_IDS_NEW)
            .expect("hash_ids_new")
            .data_type()
        else {
            panic!("hash_ids_new is not a list");
        };
        assert_eq!(item.data_type(), &DataType::UInt64);
        let sessions = crate::schema::SessionRow::schema();
        let index_fields = serde_json::to_value(super::SessionIndexRow {
            session_id: String::new(),
            source_format: String::new(),
            agent: None,
            model: None,
            parent_session_id: None,
            turn_count: 0,
            message_count: 0,
            turn_row_offset: 0,
            message_row_offset: 0,
            metadata_json: None,
        })
        .unwrap();
        let index_fields = index_fields.as_object().unwrap();
        assert_eq!(index_fields.len(), SESSION_INDEX_COLUMNS.len() + 1);
        for name in SESSION_INDEX_COLUMNS.iter().chain([&SESSION_METADATA_JSON]) {
            assert!(
                index_fields.contains_key(*name),
                "`{name}` is a SessionIndexRow field"
            );
            sessions
                .field_with_name(name)
                .unwrap_or_else(|_| panic!("`{name}` is not a sessions column"));
        }
        let messages = crate::schema::MessageRow::schema();
        for name in [MESSAGE_CONTENT, MESSAGE_FIELDS_JSON] {
            let field = messages.field_with_name(name).expect("messages column");
            assert_eq!(field.data_type(), &DataType::Utf8, "type of `{name}`");
        }
    }
}
