//! The in-memory trajectory that every format reader produces and ingest turns into rows.
//!
//! Readers only parse: they give each session's distinct messages once (`messages`), and each
//! turn's request as a list of indexes into them. Token counting, prefix reuse, block hashes and
//! range encoding happen later, once, in `ingest::encode`, so that no reader repeats that logic.

use super::{Exactness, ToolCallRow};

/// One session as read from a raw log.
#[derive(Debug, Clone, PartialEq)]
pub struct Trajectory {
    /// Identity and provenance.
    pub session: SessionInfo,
    /// The session's distinct messages; turns refer to them by index.
    pub messages: Vec<Message>,
    /// Distinct tool-definition lists (JSON array texts); turns refer to them by index.
    pub tool_sets: Vec<String>,
    /// The LLM calls, in order.
    pub turns: Vec<Turn>,
}

/// Session-level facts read from the log.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SessionInfo {
    /// The log's own session identifier, or one derived from the file name.
    pub session_id: String,
    /// Line where the session's record starts, for formats with several sessions per file.
    pub source_line: Option<u64>,
    /// Agent or harness.
    pub agent: Option<String>,
    /// Agent version.
    pub agent_version: Option<String>,
    /// Configured model.
    pub model: Option<String>,
    /// Task or instance id.
    pub task_id: Option<String>,
    /// Repository (`owner/name`).
    pub repository: Option<String>,
    /// Parent session (sub-agents).
    pub parent_session_id: Option<String>,
    /// Turn of the parent session whose output spawned this sub-agent, or after which it was
    /// spawned.
    pub parent_turn_index: Option<u32>,
    /// How the run ended.
    pub exit_status: Option<String>,
    /// Session-level totals as logged.
    pub totals: ReportedUsage,
    /// Session-level cost as logged.
    pub cost_usd: Option<f64>,
    /// LLM calls as counted by the agent.
    pub api_calls: Option<u64>,
    /// Format-specific data without a column, as a JSON object text.
    pub metadata_json: Option<String>,
}

/// One message, kept losslessly: `{role, content?, ...fields}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The `role` value.
    pub role: String,
    /// `content` when it is a JSON string.
    pub content: Option<String>,
    /// All other keys as a JSON object text with original value bytes.
    pub fields_json: Option<String>,
    /// Further sendable texts to count besides `content`: text parts of a list content,
    /// tool-call names and arguments, reasoning fields. Not stored; only their tokens are.
    pub token_texts: Vec<String>,
    /// Whether the message itself carries reasoning text (a `reasoning_content` or `reasoning`
    /// field), so its token count already includes the reasoning.
    pub carries_reasoning: bool,
}

/// Token usage as reported by a provider or agent. Every figure is optional: logs differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportedUsage {
    /// Prompt tokens, cached ones included.
    pub input: Option<u64>,
    /// Prompt tokens served from the provider's cache.
    pub cached: Option<u64>,
    /// Prompt tokens written to the provider's cache.
    pub cache_write: Option<u64>,
    /// Completion tokens, reasoning included.
    pub output: Option<u64>,
    /// Reasoning tokens.
    pub reasoning: Option<u64>,
}

/// One LLM call as read from the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    /// Indexes into `Trajectory::messages`, in request order.
    pub context: Vec<u32>,
    /// Index into `Trajectory::tool_sets` of the tools sent.
    pub tool_set: Option<u32>,
    /// Index into `Trajectory::messages` of the output message.
    pub output: Option<u32>,
    /// Fidelity of `context`.
    pub exactness: Exactness,
    /// Model that served the call.
    pub model: Option<String>,
    /// Usage as reported.
    pub usage: ReportedUsage,
    /// Cost as reported.
    pub cost_usd: Option<f64>,
    /// Request time, ms since the Unix epoch.
    pub request_time_unix_ms: Option<i64>,
    /// Request time, ms since the start of the source trace, for logs with only relative times.
    pub request_offset_ms: Option<f64>,
    /// Model latency in ms.
    pub model_latency_ms: Option<f64>,
    /// Delay after this call before the next one, in ms.
    pub tool_delay_ms_after: Option<f64>,
    /// Finish reason.
    pub finish_reason: Option<String>,
    /// Provider response id.
    pub response_id: Option<String>,
    /// Visible reasoning of the output.
    pub output_reasoning: Option<String>,
    /// Whether reasoning was present only as an encrypted blob.
    pub output_reasoning_encrypted: bool,
    /// Tool calls of the output.
    pub output_tool_calls: Vec<ToolCallRow>,
    /// What the call was for when the log marks it as outside the agent's main loop (Aider's
    /// `weak-model` calls for commit messages and summaries, …); `None` for ordinary calls.
    pub call_kind: Option<String>,
    /// Format-specific per-call data without a field here, as a JSON object text with the
    /// values' original bytes (kept so exports can reproduce the record).
    pub metadata_json: Option<String>,
    /// Block hash ids given by a sizes-only log (its own ids and block size), used instead of
    /// hashes computed from text.
    pub given_hashes: Option<GivenHashes>,
}

/// Prefix-block hash ids as a sizes-only trace gives them: equal leading ids mean a shared
/// prefix, within the trace's scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GivenHashes {
    /// Tokens per block (Mooncake 512, Weka 64).
    pub block_size: u32,
    /// The ids, one per block of the request.
    pub ids: Vec<u64>,
}

impl Turn {
    /// A turn with the given request and output and nothing else known yet.
    pub fn new(context: Vec<u32>, output: Option<u32>, exactness: Exactness) -> Self {
        Turn {
            context,
            tool_set: None,
            output,
            exactness,
            model: None,
            usage: ReportedUsage::default(),
            cost_usd: None,
            request_time_unix_ms: None,
            request_offset_ms: None,
            model_latency_ms: None,
            tool_delay_ms_after: None,
            finish_reason: None,
            response_id: None,
            output_reasoning: None,
            output_reasoning_encrypted: false,
            output_tool_calls: Vec::new(),
            call_kind: None,
            metadata_json: None,
            given_hashes: None,
        }
    }
}
