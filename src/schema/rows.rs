//! The persisted row types of trajectory format v1: one struct per Parquet table.
//!
//! These structs are the single source of truth for the dataset layout. The Arrow schema is traced
//! from them (`schema::arrow`), the JSON Schema and the column reference in `schemas/` are generated
//! from them (doc comments become column descriptions), and no other module spells a column name.
//! Changing a field here changes the format: bump `SCHEMA_VERSION` and regenerate `schemas/`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One LLM call ("turn") of a session: what was sent, what came back, and what it cost.
///
/// The request is not copied into the row: `context` lists ranges of the session's message store
/// (`messages` table), so each message is stored once per session however many turns send it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TurnRow {
    /// Session identifier, unique within the dataset (the log's own id where it has one).
    pub session_id: String,
    /// Position of this LLM call within its session, counting from 0.
    pub turn_index: u32,
    /// Raw log format this turn was read from (`--format` name, e.g. `mini-swe-agent`).
    pub source_format: String,
    /// Path of the raw log file, as given on the command line or found under a given directory.
    pub source_file: String,
    /// Agent or harness that produced the log (e.g. `mini-swe-agent`), when known.
    pub agent: Option<String>,
    /// Model that served this call, as logged (provider response first, then run configuration).
    pub model: Option<String>,
    /// Task or benchmark instance the session worked on (e.g. a SWE-bench instance id).
    pub task_id: Option<String>,
    /// Source repository of the task (`owner/name`), when known or derivable from the task id.
    pub repository: Option<String>,
    /// The request's messages, in order, as ranges of `messages.message_index` of this session.
    /// A linear history is one range; compaction or dropped messages give several.
    pub context: Vec<MessageRange>,
    /// Number of messages in the request (the sum of the `context` range lengths).
    pub context_messages: u32,
    /// Index into the session's `tool_sets` of the tool definitions sent with the request; null
    /// when no tools were sent.
    pub tool_set_index: Option<u32>,
    /// `messages.message_index` of the message this call produced; null when the log lacks it.
    pub output_message_index: Option<u32>,
    /// How faithfully `context` reproduces the request: `exact` (the log holds the request as
    /// sent), `reconstructed` (rebuilt from an event stream), or `sizes_only` (no text).
    pub exactness: String,
    /// Prompt tokens reported by the provider (total, including cached tokens).
    pub input_tokens_reported: Option<u64>,
    /// Prompt tokens counted with the dataset's tokenizer: the sum of the request's message counts
    /// plus its tool definitions, without chat-template overhead.
    pub input_tokens_counted: Option<u64>,
    /// Prompt tokens the provider reported as served from its cache (a subset of the input).
    pub cached_tokens_reported: Option<u64>,
    /// Prompt tokens the provider reported as written to its cache (Anthropic cache creation).
    pub cache_write_tokens_reported: Option<u64>,
    /// Counted tokens of the longest run of leading request messages that this session had
    /// already sent (as request or as output of an earlier call): the reusable prefix under an
    /// unbounded per-session cache, at message granularity.
    pub prefix_tokens_counted: Option<u64>,
    /// Prompt tokens that had to be prefilled by the provider's account:
    /// `input_tokens_reported - cached_tokens_reported`.
    pub new_tokens_reported: Option<u64>,
    /// Counted prompt tokens outside the reusable prefix:
    /// `input_tokens_counted - prefix_tokens_counted`.
    pub new_tokens_counted: Option<u64>,
    /// Completion tokens reported by the provider (including reasoning tokens).
    pub output_tokens_reported: Option<u64>,
    /// Counted tokens of the output message (content and tool calls) plus its visible reasoning.
    pub output_tokens_counted: Option<u64>,
    /// Reasoning tokens reported by the provider (a subset of the output).
    pub reasoning_tokens_reported: Option<u64>,
    /// Counted tokens of the visible reasoning text; hidden or encrypted reasoning is not counted.
    pub reasoning_tokens_counted: Option<u64>,
    /// Cost of the call in US dollars, as reported by the provider or the agent.
    pub cost_usd_reported: Option<f64>,
    /// When the call was made, in milliseconds since the Unix epoch, as logged (mini-swe-agent:
    /// the provider response's `created`, which has one-second resolution).
    pub request_time_unix_ms: Option<i64>,
    /// When the call was made, in milliseconds since the start of the source trace, for logs that
    /// record only relative times (Weka `t`, Mooncake `timestamp`; sub-agent requests are placed
    /// on their parent trace's clock).
    pub request_offset_ms: Option<f64>,
    /// Time the model took to answer this call, in milliseconds, when the log records it.
    pub model_latency_ms: Option<f64>,
    /// Time between the end of this call and the start of the session's next call (tool
    /// execution and agent overhead), in milliseconds, when the log records it.
    pub tool_delay_ms_after: Option<f64>,
    /// Why generation stopped (`stop`, `tool_calls`, `length`, …), as reported.
    pub finish_reason: Option<String>,
    /// The provider's identifier for the response, when logged.
    pub response_id: Option<String>,
    /// Visible reasoning text of the output (summaries included); null when none was logged.
    pub output_reasoning: Option<String>,
    /// Whether the output carried reasoning only as an opaque (encrypted) blob, kept in the output
    /// message's fields but not as text.
    pub output_reasoning_encrypted: bool,
    /// Tool calls of the output message, normalized to name and JSON arguments.
    pub output_tool_calls: Vec<ToolCallRow>,
    /// What the call was for when the log marks it as outside the agent's main loop: `weak-model`
    /// (Aider's commit-message and summary calls, served by its weak model), …; null for the
    /// agent's ordinary calls.
    pub call_kind: Option<String>,
    /// Format-specific data of the call that has no column (an AA replay line's `turn_id`,
    /// `recorded_tool_calls_after`, …), as the text of a JSON object with the values' original
    /// bytes; null when there is none.
    pub metadata_json: Option<String>,
    /// Tokens per block of this turn's hash ids: the manifest's `hash.block_size` for ids trajkit
    /// computed from the text, or the source trace's own block size (Mooncake 512, Weka 64) for
    /// `sizes_only` turns, whose ids are the trace's and only comparable within it.
    pub hash_block_size: Option<u32>,
    /// Number of leading prefix blocks this turn shares with the previous turn of the session;
    /// null when the dataset has no tokenizer. See `hash_ids_new`.
    pub hash_prefix_blocks: Option<u32>,
    /// Chained hash ids of the request's token blocks after the first `hash_prefix_blocks`: the
    /// turn's full list is the previous turn's first `hash_prefix_blocks` ids followed by these.
    /// Block size is `hash_block_size` (computed ids: 16 tokens by default); the last block may be
    /// partial. Id `i` hashes every token up to the end of block `i`, so the id of a coarser block
    /// of `m` fine blocks is the fine id at index `min(m*(j+1), n) - 1`.
    pub hash_ids_new: Option<Vec<u64>>,
}

/// A run of consecutive messages of a session's message store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageRange {
    /// First `messages.message_index` of the run.
    pub start: u32,
    /// Number of messages in the run.
    pub count: u32,
}

/// A tool call made by the model, normalized from the log's own shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolCallRow {
    /// The call's identifier, when the log has one.
    pub id: Option<String>,
    /// Name of the tool or function called.
    pub name: String,
    /// Arguments as a JSON text, exactly as the model produced them (may be invalid JSON).
    pub arguments: String,
}

/// One distinct message of a session: stored once, referenced by every turn that sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageRow {
    /// Session the message belongs to.
    pub session_id: String,
    /// Position in the session's message store, counting from 0.
    pub message_index: u32,
    /// The message's `role` (`system`, `user`, `assistant`, `tool`, …).
    pub role: String,
    /// The message's `content` when it is a JSON string; null otherwise (then any `content`
    /// value, such as a list of parts or null, is kept in `fields_json`).
    pub content: Option<String>,
    /// Every other key of the message as logged (tool calls, tool call id, name, vendor
    /// extensions), as the text of a JSON object with the values' original bytes; null when the
    /// message has only `role` and `content`. The message is `{role, content?, ...fields_json}`.
    pub fields_json: Option<String>,
    /// Tokens of the message's sendable text (content, text parts, tool-call names and arguments,
    /// reasoning fields) counted with the dataset's tokenizer; null without a tokenizer.
    pub tokens: Option<u32>,
}

/// One session (one agent run on one task): its identity, provenance and run-level totals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionRow {
    /// Session identifier, unique within the dataset.
    pub session_id: String,
    /// Raw log format the session was read from.
    pub source_format: String,
    /// Path of the raw log file.
    pub source_file: String,
    /// Line of the raw file where the session's record starts, for formats with several sessions
    /// per file; null when the session is the whole file.
    pub source_line: Option<u64>,
    /// Agent or harness that produced the log.
    pub agent: Option<String>,
    /// Version of the agent or harness, when logged.
    pub agent_version: Option<String>,
    /// Model configured for the run (turns may record the serving model more precisely).
    pub model: Option<String>,
    /// Task or benchmark instance the session worked on.
    pub task_id: Option<String>,
    /// Source repository of the task (`owner/name`).
    pub repository: Option<String>,
    /// Session that spawned this one (sub-agents); null for top-level sessions.
    pub parent_session_id: Option<String>,
    /// Turn of the parent session whose output spawned this sub-agent (or after which it was
    /// spawned); null for top-level sessions or when the log does not say.
    pub parent_turn_index: Option<u32>,
    /// How the run ended, as logged (e.g. `Submitted`).
    pub exit_status: Option<String>,
    /// Number of turns (rows in `turns`).
    pub turn_count: u32,
    /// Number of distinct messages (rows in `messages`).
    pub message_count: u32,
    /// Row of the `turns` table where this session's turns start (they are contiguous).
    pub turn_row_offset: u64,
    /// Row of the `messages` table where this session's messages start (they are contiguous).
    pub message_row_offset: u64,
    /// Session-level prompt-token total as logged by the agent, for logs without per-call usage.
    pub input_tokens_reported_total: Option<u64>,
    /// Session-level completion-token total as logged by the agent.
    pub output_tokens_reported_total: Option<u64>,
    /// Session-level cost in US dollars as logged by the agent.
    pub cost_usd_reported_total: Option<f64>,
    /// Number of LLM calls as logged by the agent (may differ from `turn_count` when the log
    /// lost calls).
    pub api_calls_reported: Option<u64>,
    /// Distinct tool-definition lists sent by this session, each the JSON text of an array in
    /// OpenAI `tools` form; turns refer to them by `tool_set_index`.
    pub tool_sets: Vec<String>,
    /// Format-specific session data that has no column (run configuration, submission, …), as
    /// the JSON text of an object with the values' original bytes.
    pub metadata_json: Option<String>,
}
