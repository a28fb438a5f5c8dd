//! The replay run record: what `trajkit replay` writes and `trajkit verify` reads.
//!
//! A run is a directory: `run.json` (a `RunManifest`: the configuration lock, the server's own
//! description, and whether the run completed) and `requests.jsonl` (one `RequestRecord` per
//! request, keyed by session id and turn index). JSON lines keep the record streamable while the
//! run goes on, readable by any tool, and diffable; the shapes are published as
//! `schemas/replay-run.schema.json` and `schemas/replay-request.schema.json`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Name of the record kind, the first key of `run.json`.
pub const RECORD_KIND: &str = "trajkit-replay-run";
/// Version of the record's JSON shapes.
pub const RECORD_VERSION: &str = "1";
/// File name of the run manifest inside a run directory.
pub const RUN_FILE: &str = "run.json";
/// File name of the request records inside a run directory.
pub const REQUESTS_FILE: &str = "requests.jsonl";

/// `run.json`: how a run was made, so that two runs can be checked to be comparable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunManifest {
    /// Always `trajkit-replay-run`.
    pub record: String,
    /// Version of the record shapes.
    pub record_version: String,
    /// trajkit version that made the run.
    pub trajkit_version: String,
    /// The replayed dataset.
    pub dataset: RunDataset,
    /// Base URL of the OpenAI-compatible server (`http://host:port/v1`).
    pub base_url: String,
    /// Model name sent in every request.
    pub model: String,
    /// Concurrent simulated agents.
    pub agents: u32,
    /// Output-length policy: `exact`, `recorded` or `fixed:N`.
    pub output_policy: String,
    /// Tool-delay policy: `recorded`, `none`, `scale:X` or `cap:MS`.
    pub tool_delay_policy: String,
    /// The marker put before the first message of every request so that no KV cache is reused
    /// across runs; null when salting was turned off.
    pub salt: Option<String>,
    /// Sampling parameters exactly as sent in every request (`temperature`, `top_p`, `seed`, …).
    pub sampling: Map<String, Value>,
    /// What the server said about itself: `/v1/models` and `/props` responses, when it has them.
    pub server: ServerDescription,
    /// When the run started, in milliseconds since the Unix epoch.
    pub started_unix_ms: i64,
    /// When the run ended (or was interrupted).
    pub finished_unix_ms: i64,
    /// Whether every planned request was made; false when interrupted (Ctrl-C) or stopped early.
    pub complete: bool,
    /// Why the run is incomplete.
    pub incomplete_reason: Option<String>,
    /// Requests recorded.
    pub requests: u64,
    /// Requests that ended in an error (HTTP status, transport, timeout, malformed stream).
    pub failed_requests: u64,
}

/// Which dataset a run replayed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunDataset {
    /// Path as given.
    pub path: String,
    /// Dataset name from its manifest.
    pub name: String,
    /// Sessions replayed.
    pub sessions: u64,
    /// Turns (requests) planned.
    pub turns: u64,
}

/// The server's self-description.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerDescription {
    /// The `/v1/models` response.
    pub models: Option<Value>,
    /// The `/props` response (llama.cpp).
    pub props: Option<Value>,
}

/// A tool call as served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServedToolCall {
    /// The call's id, when the server gave one.
    pub id: Option<String>,
    /// Function name.
    pub name: String,
    /// Arguments exactly as streamed (may be invalid JSON).
    pub arguments: String,
}

/// One line of `requests.jsonl`: one request of the run and what the server did with it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestRecord {
    /// Session of the dataset.
    pub session_id: String,
    /// Turn of the session (0-based).
    pub turn_index: u32,
    /// Simulated agent that sent it (0-based).
    pub agent: u32,
    /// When the request was sent, in ms since the run started.
    pub send_ms: f64,
    /// Time to the first content, reasoning or tool-call token, in ms after sending; null when
    /// none came.
    pub ttft_ms: Option<f64>,
    /// Arrival of every streamed chunk that carried output, in ms after sending.
    pub chunk_ms: Vec<f64>,
    /// When the response ended (last byte or error), in ms after sending.
    pub end_ms: f64,
    /// HTTP status; null when no response came (connection refused, timeout before headers).
    pub http_status: Option<u16>,
    /// What failed: `http_status`, `connect`, `timeout`, `disconnect`, `malformed_stream`,
    /// `stream_too_long`; null for a successful request.
    pub error_kind: Option<String>,
    /// The error message (response body for an HTTP error), never containing the API key.
    pub error: Option<String>,
    /// The `seed` this request sent (derived from the run's seed, the session and the turn);
    /// absent when the run sent no seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// `max_tokens` sent; null when none was.
    pub max_tokens: Option<u64>,
    /// The recorded output length the policy targeted, when there was one.
    pub target_output_tokens: Option<u64>,
    /// Why generation stopped, as served.
    pub finish_reason: Option<String>,
    /// The served content.
    pub content: Option<String>,
    /// The served reasoning (`reasoning_content` or `reasoning` deltas).
    pub reasoning: Option<String>,
    /// The served tool calls, deltas merged by index.
    pub tool_calls: Vec<ServedToolCall>,
    /// Prompt tokens by the server's usage.
    pub prompt_tokens: Option<u64>,
    /// Prompt tokens the server served from its cache, when it says.
    pub cached_tokens: Option<u64>,
    /// Output tokens: the server's usage, else the number of streamed chunks with output.
    pub output_tokens: Option<u64>,
    /// Where `output_tokens` came from: `usage` or `chunks`.
    pub output_tokens_source: Option<String>,
    /// Per output token, its log-probability and the most likely alternatives, when the run asked
    /// for them (`--logprobs N`); absent in records made without (older records read the same).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Vec<TokenLogprob>>,
}

/// One output token's log-probability, as the OpenAI `logprobs.content[]` entries give it.
/// Unknown keys (`bytes`) are ignored so that other tools' outputs read too.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct TokenLogprob {
    /// The token's text.
    pub token: String,
    /// Its natural-log probability.
    pub logprob: f64,
    /// The most likely tokens at this position, best first (may include the token itself).
    #[serde(default)]
    pub top_logprobs: Vec<TopLogprob>,
}

/// One alternative at a position.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct TopLogprob {
    /// The token's text.
    pub token: String,
    /// Its natural-log probability.
    pub logprob: f64,
}
