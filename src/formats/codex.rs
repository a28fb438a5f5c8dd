//! OpenAI Codex CLI rollout JSONL (`~/.codex/sessions/YYYY/MM/DD/rollout-<time>-<uuid>.jsonl`).
//!
//! Producer: openai/codex (`codex-rs`), written by the CLI (`originator` `codex_cli_rs`), by
//! `codex exec` (`codex_exec`) and by the IDE and app servers. Versions seen: 0.114.0 and 0.135.0
//! (real), plus hand-written third-party fixtures. Each line is `{"timestamp", "type",
//! "payload"}` with `type` one of `session_meta`, `turn_context`, `response_item`, `event_msg`,
//! `compacted`; a sample line:
//! `{"timestamp":"2026-03-21T10:06:05.480Z","type":"response_item","payload":{"type":
//! "function_call","name":"exec_command","arguments":"{\"cmd\":\"pwd\"}","call_id":"call_A7"}}`.
//!
//! The log is not a request log: it holds the conversation items (Responses-API input and output
//! items) and events, so every request is rebuilt (`Reconstructed`), as codex itself rebuilds
//! its history when a session is resumed (`rollout_reconstruction.rs`):
//! * A call ends at an `event_msg` `token_count` whose `info` is an object;
//!   `info.last_token_usage` is that call's usage (`input_tokens` includes
//!   `cached_input_tokens`; `output_tokens` includes `reasoning_output_tokens`: on every real call
//!   `total_tokens` = `input_tokens` + `output_tokens`). A `token_count` with `info: null` is a
//!   rate-limit update; one whose `total_token_usage` repeats the previous one is a rate-limit or
//!   post-compaction refresh (codex re-sends the last usage, or zeroes `last_token_usage` after
//!   estimating the compacted history), not a call.
//! * A call's request is the system prompt (`session_meta.payload.base_instructions.text`; older
//!   sessions lack it and codex used its built-in prompt, which is not logged: no system message;
//!   their `instructions` key held the user instructions, also sent as an item, and stays
//!   metadata), then every earlier item; its output is the last run of model-produced items
//!   (`reasoning`, assistant `message`, `function_call`, `custom_tool_call`, `local_shell_call`,
//!   other `*_call`) before the `token_count`, merged into one assistant message. Tool outputs are
//!   recorded after the `token_count` and belong to the next request.
//! * Items become OpenAI chat messages: `input_text`/`output_text` parts → text (a single text part
//!   → string content), `input_image` → `image_url`; `function_call` → `tool_calls[{type:
//!   "function"}]`; `custom_tool_call` (free-form input such as `apply_patch`) → `tool_calls[{type:
//!   "custom", custom: {name, input}}]`; `local_shell_call` → a `local_shell` function call with
//!   the action as arguments; `*_call_output` → `role: tool`. Reasoning `summary` and `content`
//!   texts → `reasoning_content` (visible reasoning); `encrypted_content` stays an opaque
//!   `reasoning_encrypted_content` list, never counted as text. Hosted calls without a client
//!   result (`web_search_call`, …) stay as `codex_hosted_calls`; other items (`compaction`, …)
//!   become `{role: "user", codex_item}` without text. Item `id`s and `status`es are dropped;
//!   `ghost_snapshot` items (undo state, never sent) are skipped.
//! * `compacted` replaces the history: with `replacement_history` (codex ≥ late 2025, local and
//!   remote compaction) by those items; without it (older local compaction), as codex's
//!   `build_compacted_history` does, by the initial context (the developer and user messages
//!   before the first prompt), the real user prompts (newest first, within codex's 20,000-token
//!   bytes/4 estimate; one that does not fit is dropped where codex would truncate it) and the
//!   summary as a user message. A call whose `token_count` comes right before `compacted` with no
//!   output item is the summarization call (`call_kind` `compaction`); its prompt is not logged. An
//!   `event_msg` `context_compacted` only announces the compaction (no content); alone it changes
//!   nothing and is marked in the next call's metadata. `thread_rolled_back` drops the last
//!   `num_turns` user turns.
//! * Times: a call's request time is that of the last item before its output (the prompt or the
//!   last tool output), its latency runs to the `token_count`, and the tool delay from there to the
//!   next request. `task_complete` (`duration_ms`, `time_to_first_token_ms`) is per user turn and
//!   goes to the metadata of that user turn's last call. Tool definitions are not logged.
//!
//! Quirks: `event_msg` `user_message`/`agent_message`/`agent_reasoning` duplicate items for the
//! UI and are not messages; items after the last `token_count` (an interrupted call) are kept as
//! messages but no turn (the call's usage is unknown); the legacy pre-2025 layout (a bare session
//! object then bare items) is not read.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use super::chat::usage_from;
use super::json::{RawObject, RecordText, iso_time_to_unix_ms, kind_of, record_lines};
use super::{FormatDescription, FormatError, SourceUnit, file_stem_id};
use crate::schema::{
    Exactness, Message, ReportedUsage, SessionInfo, ToolCallRow, Trajectory, Turn,
};

const AGENT: &str = "codex";

/// Codex's budget for user messages kept by a legacy compaction (`COMPACT_USER_MESSAGE_MAX_TOKENS`).
const COMPACT_USER_MESSAGE_MAX_TOKENS: usize = 20_000;

/// What the format gives.
pub const DESCRIPTION: FormatDescription = FormatDescription {
    name: "codex",
    producer: "OpenAI Codex CLI, `codex exec` and IDE/app servers (openai/codex, 0.1xx)",
    files: "~/.codex/sessions/YYYY/MM/DD/rollout-<time>-<uuid>.jsonl",
    context: "reconstructed: system prompt + every earlier Responses-API item, rewritten by compactions; no tool definitions",
    reported_counts: "per call (`token_count.info.last_token_usage`): input incl. cached, cached, output incl. reasoning, reasoning",
    timing: "ISO times per record: request time, latency to the usage report, tool delay; per user turn duration and time to first token",
};

/// The first record of a rollout: compact JSON with these keys in this order.
static FIRST_RECORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"^\s*\{\s*"timestamp"\s*:\s*"[^"]*"\s*,\s*"type"\s*:\s*"(session_meta|turn_context|event_msg|response_item|compacted)"\s*,\s*"payload"\s*:"#,
    )
    .unwrap_or_else(|_| unreachable!("the pattern is a valid regex"))
});

/// Whether a file looks like a Codex rollout: its first record is `{"timestamp", "type",
/// "payload"}` with a rollout record type.
pub fn detect(_path: &Path, head: &[u8]) -> bool {
    let head = String::from_utf8_lossy(head);
    head.lines()
        .find(|line| !line.trim().is_empty())
        .is_some_and(|line| FIRST_RECORD.is_match(line))
}

/// Whether a file name is a rollout's (`rollout-<time>-<uuid>.jsonl`).
pub fn claims_file_name(name: &str) -> bool {
    name.starts_with("rollout-")
        && Path::new(name)
            .extension()
            .is_some_and(|extension| extension.eq_ignore_ascii_case("jsonl"))
}

/// Reads one rollout file: one session, and one error per bad line.
pub fn read(unit: SourceUnit) -> impl Iterator<Item = Result<Trajectory, FormatError>> + Send {
    std::iter::once_with(move || read_file(&unit)).flatten()
}

fn read_file(unit: &SourceUnit) -> Vec<Result<Trajectory, FormatError>> {
    let mut results = Vec::new();
    let mut rollout = Rollout::new(&unit.path);
    let mut records = 0usize;
    let data = &unit.data;
    for (line, range) in record_lines(data, unit.first_line) {
        records += 1;
        match parse_record(&unit.path, &data[range], line) {
            Ok(record) => rollout.apply(record),
            Err(error) => results.push(Err(error)),
        }
    }
    if records == 0 {
        results.push(Err(FormatError {
            path: unit.path.clone(),
            line: Some(unit.first_line),
            column: None,
            json_path: None,
            message: "empty file".to_owned(),
        }));
    } else if results.len() < records {
        results.push(Ok(rollout.finish()));
    }
    results
}

/// One line of the rollout, decoded.
struct Record {
    kind: String,
    time: Option<i64>,
    payload: Value,
}

fn parse_record(path: &str, bytes: &[u8], line: u64) -> Result<Record, FormatError> {
    let record = RecordText::decode(bytes, path, line)?;
    let trimmed = record.text.trim_start();
    if !trimmed.starts_with('{') {
        let found = serde_json::from_str::<&serde_json::value::RawValue>(trimmed)
            .map_or("invalid JSON", kind_of);
        return Err(record.error(format!("expected a JSON object per line, found {found}")));
    }
    let object: RawObject =
        serde_json::from_str(record.text).map_err(|error| record.json_error(&error, 0, ""))?;
    let kind_raw = object
        .get("type")
        .ok_or_else(|| record.error("record has no `type`"))?;
    let Value::String(kind) = record.parse::<Value>(kind_raw, "type")? else {
        return Err(record.error_at(
            kind_raw,
            "type",
            format!("`type` must be a string, found {}", kind_of(kind_raw)),
        ));
    };
    let payload = match object.get("payload") {
        Some(raw) => {
            let payload: Value = record.parse(raw, "payload")?;
            let known = matches!(
                kind.as_str(),
                "session_meta" | "turn_context" | "response_item" | "event_msg" | "compacted"
            );
            if known && !payload.is_object() {
                return Err(record.error_at(
                    raw,
                    "payload",
                    format!("expected an object, found {}", kind_of(raw)),
                ));
            }
            payload
        }
        None => return Err(record.error("record has no `payload`")),
    };
    let time = object
        .get("timestamp")
        .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok())
        .and_then(|text| iso_time_to_unix_ms(&text));
    Ok(Record {
        kind,
        time,
        payload,
    })
}

/// What the log said about compaction since the last call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compaction {
    None,
    /// A `compacted` record rewrote the history.
    Recorded,
    /// Only a `context_compacted` event: the rewrite is unknown.
    EventOnly,
}

/// A Responses-API item recorded since the last call.
struct Pending {
    item: Map<String, Value>,
    time: Option<i64>,
    output: bool,
}

/// A message converted from items, with the call facts of an output.
struct Converted {
    message: Message,
    tool_calls: Vec<ToolCallRow>,
    reasoning: Option<String>,
    encrypted: bool,
}

/// Rollout state while reading: the history as codex would send it next, and the calls so far.
struct Rollout {
    session: SessionInfo,
    session_meta_seen: bool,
    instructions: Option<String>,
    system: Option<u32>,
    messages: Interner,
    history: Vec<u32>,
    pending: Vec<Pending>,
    turns: Vec<Turn>,
    turn_metadata: Vec<Map<String, Value>>,
    /// When each turn's usage was reported.
    turn_ends: Vec<Option<i64>>,
    /// Time of the last counted `token_count`.
    last_boundary: Option<i64>,
    /// Time of the last event since then that precedes a request (`turn_context`, `task_started`,
    /// `user_message`).
    input_event_time: Option<i64>,
    /// `total_token_usage` (or whole `info`) of the last `token_count` with info.
    last_usage_key: Option<Value>,
    /// Last session-level usage seen.
    last_total: Option<Value>,
    model: Option<String>,
    turn_id: Option<String>,
    reasoning_effort: Option<Value>,
    /// Turn index where the current user turn's calls start.
    task_first_turn: usize,
    /// Prompts announced by `user_message` events, to tell real prompts from context messages.
    prompts: HashSet<String>,
    /// Summaries written by legacy compactions (not real prompts).
    summaries: HashSet<String>,
    /// Whether the last `token_count` was counted with no output and nothing recorded since.
    bare_call_pending: bool,
    compaction: Compaction,
    ignored: BTreeMap<String, u64>,
    exit_status: Option<String>,
}

impl Rollout {
    fn new(path: &str) -> Self {
        Rollout {
            session: SessionInfo {
                session_id: file_stem_id(path, &[".jsonl"]),
                agent: Some(AGENT.to_owned()),
                ..SessionInfo::default()
            },
            session_meta_seen: false,
            instructions: None,
            system: None,
            messages: Interner::default(),
            history: Vec::new(),
            pending: Vec::new(),
            turns: Vec::new(),
            turn_metadata: Vec::new(),
            turn_ends: Vec::new(),
            last_boundary: None,
            input_event_time: None,
            last_usage_key: None,
            last_total: None,
            model: None,
            turn_id: None,
            reasoning_effort: None,
            task_first_turn: 0,
            prompts: HashSet::new(),
            summaries: HashSet::new(),
            bare_call_pending: false,
            compaction: Compaction::None,
            ignored: BTreeMap::new(),
            exit_status: None,
        }
    }

    fn apply(&mut self, record: Record) {
        let Record {
            kind,
            time,
            payload,
        } = record;
        match kind.as_str() {
            "session_meta" => self.session_meta(payload),
            "turn_context" => {
                self.input_event_time = time.or(self.input_event_time);
                self.turn_context(&payload);
            }
            "response_item" => {
                if let Value::Object(item) = payload {
                    self.response_item(item, time);
                }
            }
            "event_msg" => self.event(&payload, time),
            "compacted" => self.compacted(&payload),
            other => *self.ignored.entry(other.to_owned()).or_default() += 1,
        }
    }

    fn session_meta(&mut self, payload: Value) {
        let Value::Object(mut meta) = payload else {
            return;
        };
        if self.session_meta_seen {
            *self.ignored.entry("session_meta".to_owned()).or_default() += 1;
            return;
        }
        self.session_meta_seen = true;
        if let Some(Value::String(id)) =
            meta.shift_remove("id").filter(|id| id.as_str() != Some(""))
        {
            self.session.session_id = id;
        }
        // The legacy `instructions` key held the user instructions (AGENTS.md), which codex also
        // sent as a user message recorded as an item: it stays metadata, not a system prompt.
        let base = meta.shift_remove("base_instructions");
        self.instructions = base
            .as_ref()
            .and_then(|b| b.get("text"))
            .and_then(Value::as_str)
            .or_else(|| base.as_ref().and_then(Value::as_str))
            .map(str::to_owned);
        self.session.agent_version = meta
            .get("cli_version")
            .and_then(Value::as_str)
            .map(str::to_owned);
        self.session.parent_session_id = meta
            .get("source")
            .and_then(|source| source.pointer("/subagent/thread_spawn/parent_thread_id"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        self.session.repository = meta
            .get("git")
            .and_then(|git| git.get("repository_url"))
            .and_then(Value::as_str)
            .and_then(github_repository);
        if !meta.is_empty() {
            self.session.metadata_json = Some(Value::Object(meta).to_string());
        }
        if let Some(text) = self.instructions.clone() {
            let message = plain_message("system", text);
            self.system = Some(self.messages.intern(message));
        }
    }

    fn turn_context(&mut self, payload: &Value) {
        if let Some(model) = payload.get("model").and_then(Value::as_str) {
            self.model = Some(model.to_owned());
            self.session.model.get_or_insert_with(|| model.to_owned());
        }
        if let Some(turn_id) = payload.get("turn_id").and_then(Value::as_str) {
            self.turn_id = Some(turn_id.to_owned());
        }
        self.reasoning_effort = payload
            .get("effort")
            .or_else(|| payload.pointer("/collaboration_mode/settings/reasoning_effort"))
            .filter(|v| !v.is_null())
            .cloned();
    }

    fn response_item(&mut self, item: Map<String, Value>, time: Option<i64>) {
        let kind = item.get("type").and_then(Value::as_str).unwrap_or_default();
        let output = match kind {
            "ghost_snapshot" => return,
            "reasoning" => true,
            "message" => item.get("role").and_then(Value::as_str) == Some("assistant"),
            _ => kind.ends_with("_call"),
        };
        self.bare_call_pending = false;
        self.pending.push(Pending { item, time, output });
    }

    fn event(&mut self, payload: &Value, time: Option<i64>) {
        match payload.get("type").and_then(Value::as_str) {
            Some("token_count") => self.token_count(payload, time),
            Some("task_started") => {
                self.input_event_time = time.or(self.input_event_time);
                self.task_first_turn = self.turns.len();
                if let Some(turn_id) = payload.get("turn_id").and_then(Value::as_str) {
                    self.turn_id = Some(turn_id.to_owned());
                }
            }
            Some("user_message") => {
                self.input_event_time = time.or(self.input_event_time);
                if let Some(text) = payload.get("message").and_then(Value::as_str) {
                    self.prompts.insert(text.to_owned());
                }
            }
            Some("task_complete") => {
                self.exit_status = Some("completed".to_owned());
                self.task_complete(payload);
            }
            Some("turn_aborted") => {
                self.exit_status = Some(
                    payload
                        .get("reason")
                        .and_then(Value::as_str)
                        .map_or_else(|| "aborted".to_owned(), |r| format!("aborted: {r}")),
                );
            }
            Some("context_compacted") if self.compaction == Compaction::None => {
                self.compaction = Compaction::EventOnly;
            }
            Some("thread_rolled_back") => {
                let turns = payload
                    .get("num_turns")
                    .and_then(Value::as_u64)
                    .unwrap_or_default();
                self.roll_back(turns);
            }
            _ => {}
        }
    }

    fn task_complete(&mut self, payload: &Value) {
        if self.turns.len() <= self.task_first_turn {
            return;
        }
        let Some(metadata) = self.turn_metadata.last_mut() else {
            return;
        };
        for (key, name) in [
            ("duration_ms", "task_duration_ms"),
            ("time_to_first_token_ms", "task_time_to_first_token_ms"),
        ] {
            if let Some(value) = payload.get(key).filter(|v| !v.is_null()) {
                metadata.insert(name.to_owned(), value.clone());
            }
        }
    }

    fn token_count(&mut self, payload: &Value, time: Option<i64>) {
        let Some(info) = payload.get("info").filter(|info| info.is_object()) else {
            return;
        };
        let key = info
            .get("total_token_usage")
            .cloned()
            .unwrap_or_else(|| info.clone());
        if self.last_usage_key.as_ref() == Some(&key) {
            return;
        }
        self.last_usage_key = Some(key);
        if let Some(total) = info.get("total_token_usage") {
            self.last_total = Some(total.clone());
        }
        let last = info.get("last_token_usage");
        let count = |name: &str| last.and_then(|l| l.get(name)).and_then(Value::as_u64);
        if last.is_some() && count("input_tokens") == Some(0) && count("output_tokens") == Some(0) {
            // A post-compaction estimate: only `total_tokens` is set.
            return;
        }
        self.call(info, time);
    }

    /// Ends a call at a counted `token_count`.
    fn call(&mut self, info: &Value, time: Option<i64>) {
        let pending = std::mem::take(&mut self.pending);
        let run_end = pending.iter().rposition(|p| p.output).map_or(0, |i| i + 1);
        let run_start = pending[..run_end]
            .iter()
            .rposition(|p| !p.output)
            .map_or(0, |i| i + 1);
        let (before, rest) = pending.split_at(run_start);
        let (outputs, after) = rest.split_at(run_end - run_start);

        let request_time = before
            .iter()
            .rev()
            .find_map(|p| p.time)
            .max(self.input_event_time.take());
        let converted = self.convert_items(before);
        self.history.extend(converted);
        let mut context: Vec<u32> = self.system.into_iter().collect();
        context.extend_from_slice(&self.history);

        let mut turn = Turn::new(context, None, Exactness::Reconstructed);
        if !outputs.is_empty() {
            let items: Vec<&Map<String, Value>> = outputs.iter().map(|p| &p.item).collect();
            let output = merge_outputs(&items);
            let index = self.messages.intern(output.message);
            self.history.push(index);
            turn.output = Some(index);
            turn.output_tool_calls = output.tool_calls;
            turn.output_reasoning = output.reasoning;
            turn.output_reasoning_encrypted = output.encrypted;
        }
        let converted = self.convert_items(after);
        self.history.extend(converted);

        turn.model = info
            .get("model")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| self.model.clone());
        if let Some(last) = info.get("last_token_usage").filter(|l| l.is_object()) {
            turn.usage = usage_from(last);
        }
        turn.request_time_unix_ms = request_time;
        if let (Some(start), Some(end)) = (request_time, time) {
            turn.model_latency_ms = Some(ms_between(start, end));
        }
        if let (Some(previous), Some(previous_end), Some(start)) =
            (self.turns.last_mut(), self.last_boundary, request_time)
        {
            previous.tool_delay_ms_after = Some(ms_between(previous_end, start));
        }
        let metadata = self.call_metadata(info);
        self.turn_metadata.push(metadata);
        self.bare_call_pending = outputs.is_empty() && after.is_empty();
        self.compaction = Compaction::None;
        self.turns.push(turn);
        self.turn_ends.push(time);
        self.last_boundary = time.or(self.last_boundary);
    }

    fn call_metadata(&mut self, info: &Value) -> Map<String, Value> {
        let mut metadata = Map::new();
        if let Some(turn_id) = &self.turn_id {
            metadata.insert("turn_id".to_owned(), Value::String(turn_id.clone()));
        }
        if let Some(effort) = &self.reasoning_effort {
            metadata.insert("reasoning_effort".to_owned(), effort.clone());
        }
        for key in ["total_token_usage", "model_context_window"] {
            if let Some(value) = info.get(key).filter(|v| !v.is_null()) {
                metadata.insert(key.to_owned(), value.clone());
            }
        }
        if self.compaction == Compaction::EventOnly {
            metadata.insert(
                "context_compacted_without_record".to_owned(),
                Value::Bool(true),
            );
        }
        metadata
    }

    /// Items in request order as chat messages: each run of model-produced items becomes one
    /// assistant message.
    fn convert_items(&mut self, items: &[Pending]) -> Vec<u32> {
        let mut indexes = Vec::with_capacity(items.len());
        let mut start = 0;
        while start < items.len() {
            if items[start].output {
                let end = items[start..]
                    .iter()
                    .position(|p| !p.output)
                    .map_or(items.len(), |i| start + i);
                let run: Vec<&Map<String, Value>> =
                    items[start..end].iter().map(|p| &p.item).collect();
                indexes.push(self.messages.intern(merge_outputs(&run).message));
                start = end;
            } else {
                indexes.push(self.messages.intern(input_message(&items[start].item)));
                start += 1;
            }
        }
        indexes
    }

    fn flush_pending(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        let converted = self.convert_items(&pending);
        self.history.extend(converted);
    }

    fn compacted(&mut self, payload: &Value) {
        if self.bare_call_pending
            && let Some(turn) = self.turns.last_mut()
        {
            turn.call_kind = Some("compaction".to_owned());
        }
        self.bare_call_pending = false;
        self.compaction = Compaction::Recorded;
        self.flush_pending();
        if let Some(Value::Array(items)) = payload.get("replacement_history") {
            let items: Vec<Pending> = items
                .iter()
                .filter_map(Value::as_object)
                .filter(|item| item.get("type").and_then(Value::as_str) != Some("ghost_snapshot"))
                .map(|item| Pending {
                    output: is_output_item(item),
                    item: item.clone(),
                    time: None,
                })
                .collect();
            self.history = self.convert_items(&items);
            return;
        }
        let summary = payload
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        self.history = self.legacy_compacted_history(&summary);
        self.summaries.insert(summary);
    }

    /// What codex's `build_compacted_history` makes of the history when a compaction logged only
    /// its summary: initial context, recent real prompts within the token budget, the summary.
    fn legacy_compacted_history(&mut self, summary: &str) -> Vec<u32> {
        let prompt_positions = self.prompt_positions();
        let first_prompt = prompt_positions
            .first()
            .copied()
            .unwrap_or(self.history.len());
        let mut history: Vec<u32> = self.history[..first_prompt]
            .iter()
            .copied()
            .filter(|&i| {
                self.messages
                    .get(i)
                    .is_some_and(|m| m.role == "developer" || m.role == "user")
            })
            .collect();
        let mut remaining = COMPACT_USER_MESSAGE_MAX_TOKENS;
        let mut selected = Vec::new();
        for &position in prompt_positions.iter().rev() {
            let index = self.history[position];
            let bytes = self
                .messages
                .get(index)
                .and_then(|m| m.content.as_ref())
                .map_or(0, String::len);
            let tokens = bytes.div_ceil(4);
            if tokens > remaining || remaining == 0 {
                break;
            }
            remaining -= tokens;
            selected.push(index);
        }
        history.extend(selected.into_iter().rev());
        let text = if summary.is_empty() {
            "(no summary available)".to_owned()
        } else {
            summary.to_owned()
        };
        history.push(self.messages.intern(plain_message("user", text)));
        history
    }

    /// Positions in the history of real user prompts (announced by `user_message` events, not
    /// earlier summaries).
    fn prompt_positions(&self) -> Vec<usize> {
        self.history
            .iter()
            .enumerate()
            .filter(|&(_, &index)| {
                self.messages.get(index).is_some_and(|m| {
                    m.role == "user"
                        && m.content.as_ref().is_some_and(|text| {
                            self.prompts.contains(text) && !self.summaries.contains(text)
                        })
                })
            })
            .map(|(position, _)| position)
            .collect()
    }

    fn roll_back(&mut self, turns: u64) {
        self.flush_pending();
        let positions = self.prompt_positions();
        let keep = usize::try_from(turns)
            .ok()
            .and_then(|n| positions.len().checked_sub(n))
            .and_then(|k| positions.get(k).copied());
        match keep {
            Some(cut) => self.history.truncate(cut),
            None if turns > 0 => {
                if let Some(&first) = positions.first() {
                    self.history.truncate(first);
                }
            }
            None => {}
        }
    }

    fn finish(mut self) -> Trajectory {
        let trailing = self.pending.len();
        self.flush_pending();
        let mut extra = Map::new();
        if trailing > 0 {
            extra.insert(
                "items_after_last_call".to_owned(),
                Value::from(u64::try_from(trailing).unwrap_or(u64::MAX)),
            );
        }
        if !self.ignored.is_empty() {
            let ignored: Map<String, Value> = self
                .ignored
                .iter()
                .map(|(kind, count)| (kind.clone(), Value::from(*count)))
                .collect();
            extra.insert("ignored_records".to_owned(), Value::Object(ignored));
        }
        if !extra.is_empty() {
            let mut metadata = self
                .session
                .metadata_json
                .as_deref()
                .and_then(|text| serde_json::from_str::<Map<String, Value>>(text).ok())
                .unwrap_or_default();
            metadata.extend(extra);
            self.session.metadata_json = Some(Value::Object(metadata).to_string());
        }
        if self
            .turns
            .iter()
            .all(|t| t.usage == ReportedUsage::default())
            && let Some(total) = &self.last_total
        {
            self.session.totals = usage_from(total);
        }
        self.session.exit_status = self.exit_status;
        if self.session.model.is_none() {
            self.session.model = self.turns.iter().find_map(|t| t.model.clone());
        }
        for (turn, metadata) in self.turns.iter_mut().zip(self.turn_metadata) {
            if !metadata.is_empty() {
                turn.metadata_json = Some(Value::Object(metadata).to_string());
            }
        }
        Trajectory {
            session: self.session,
            messages: self.messages.messages,
            tool_sets: Vec::new(),
            turns: self.turns,
        }
    }
}

/// Milliseconds between two times, never negative.
#[expect(
    clippy::cast_precision_loss,
    reason = "time differences are far below 2^52 ms"
)]
fn ms_between(start: i64, end: i64) -> f64 {
    end.saturating_sub(start).max(0) as f64
}

fn is_output_item(item: &Map<String, Value>) -> bool {
    match item.get("type").and_then(Value::as_str).unwrap_or_default() {
        "reasoning" => true,
        "message" => item.get("role").and_then(Value::as_str) == Some("assistant"),
        kind => kind.ends_with("_call"),
    }
}

/// `owner/name` from a GitHub remote URL.
fn github_repository(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("https://github.com/")
        .or_else(|| url.strip_prefix("git@github.com:"))
        .or_else(|| url.strip_prefix("ssh://git@github.com/"))?;
    let rest = rest.trim_end_matches('/');
    let rest = rest.strip_suffix(".git").unwrap_or(rest);
    let (owner, name) = rest.split_once('/')?;
    (!owner.is_empty() && !name.is_empty() && !name.contains('/'))
        .then(|| format!("{owner}/{name}"))
}

/// A message with string content and no other field.
fn plain_message(role: &str, text: String) -> Message {
    Message {
        role: role.to_owned(),
        content: Some(text),
        fields_json: None,
        token_texts: Vec::new(),
        carries_reasoning: false,
    }
}

/// Builds a message from its parts: string content stays `content`; any other content is a field.
fn build_message(
    role: &str,
    content: Option<Value>,
    fields: Map<String, Value>,
    mut token_texts: Vec<String>,
    carries_reasoning: bool,
) -> Message {
    let mut all = Map::new();
    let content = match content {
        Some(Value::String(text)) => Some(text),
        Some(other) => {
            if let Value::Array(parts) = &other {
                token_texts.extend(parts.iter().filter_map(|part| {
                    part.get("text").and_then(Value::as_str).map(str::to_owned)
                }));
            }
            all.insert("content".to_owned(), other);
            None
        }
        None => None,
    };
    all.extend(fields);
    Message {
        role: role.to_owned(),
        content,
        fields_json: (!all.is_empty()).then(|| Value::Object(all).to_string()),
        token_texts,
        carries_reasoning,
    }
}

/// Responses-API content parts as chat content parts.
fn content_parts(content: Option<&Value>) -> Vec<Value> {
    match content {
        Some(Value::Array(parts)) => parts.iter().map(content_part).collect(),
        Some(Value::String(text)) => vec![text_part(text)],
        _ => Vec::new(),
    }
}

fn text_part(text: &str) -> Value {
    let mut part = Map::new();
    part.insert("type".to_owned(), Value::from("text"));
    part.insert("text".to_owned(), Value::from(text));
    Value::Object(part)
}

fn content_part(part: &Value) -> Value {
    let kind = part.get("type").and_then(Value::as_str).unwrap_or_default();
    match (kind, part.get("text").and_then(Value::as_str)) {
        ("input_text" | "output_text" | "text", Some(text)) => text_part(text),
        ("input_image", _) => match part.get("image_url") {
            Some(url) => {
                let mut image = Map::new();
                image.insert("url".to_owned(), url.clone());
                if let Some(detail) = part.get("detail") {
                    image.insert("detail".to_owned(), detail.clone());
                }
                let mut converted = Map::new();
                converted.insert("type".to_owned(), Value::from("image_url"));
                converted.insert("image_url".to_owned(), Value::Object(image));
                Value::Object(converted)
            }
            None => part.clone(),
        },
        _ => part.clone(),
    }
}

/// A single text part becomes string content; none becomes no content.
fn parts_to_content(parts: Vec<Value>) -> Option<Value> {
    match parts.as_slice() {
        [] => None,
        [only] if only.get("type").and_then(Value::as_str) == Some("text") => {
            only.get("text").cloned()
        }
        _ => Some(Value::Array(parts)),
    }
}

/// An input item (a user or developer message, a tool output, anything else) as a message.
fn input_message(item: &Map<String, Value>) -> Message {
    let kind = item.get("type").and_then(Value::as_str).unwrap_or_default();
    if kind == "message" {
        let role = item.get("role").and_then(Value::as_str).unwrap_or("user");
        let content = parts_to_content(content_parts(item.get("content")));
        let fields = extra_fields(item, &["type", "role", "content", "id"]);
        return build_message(role, content, fields, Vec::new(), false);
    }
    if kind.ends_with("_call_output") {
        let mut fields = Map::new();
        if let Some(call_id) = item.get("call_id") {
            fields.insert("tool_call_id".to_owned(), call_id.clone());
        }
        fields.extend(extra_fields(
            item,
            &["type", "call_id", "output", "id", "status"],
        ));
        let content = match item.get("output") {
            Some(Value::String(text)) => Some(Value::String(text.clone())),
            Some(Value::Array(parts)) => parts_to_content(parts.iter().map(content_part).collect()),
            Some(Value::Null) | None => None,
            Some(other) => Some(Value::String(other.to_string())),
        };
        return build_message("tool", content, fields, Vec::new(), false);
    }
    let role = item.get("role").and_then(Value::as_str).unwrap_or("user");
    let mut fields = Map::new();
    fields.insert("codex_item".to_owned(), Value::Object(item.clone()));
    build_message(role, None, fields, Vec::new(), false)
}

fn extra_fields(item: &Map<String, Value>, known: &[&str]) -> Map<String, Value> {
    item.iter()
        .filter(|(key, _)| !known.contains(&key.as_str()))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

/// Texts of a reasoning item's `summary` and `content` parts.
fn reasoning_texts(item: &Map<String, Value>) -> impl Iterator<Item = &str> {
    ["summary", "content"]
        .into_iter()
        .filter_map(|key| item.get(key).and_then(Value::as_array))
        .flatten()
        .filter_map(|part| part.get("text").and_then(Value::as_str))
        .filter(|text| !text.is_empty())
}

/// A run of model-produced items as one assistant message.
fn merge_outputs(items: &[&Map<String, Value>]) -> Converted {
    let mut parts = Vec::new();
    let mut fields = Map::new();
    let mut reasoning = Vec::new();
    let mut encrypted = Vec::new();
    let mut tool_calls = Vec::new();
    let mut rows = Vec::new();
    let mut hosted = Vec::new();
    for item in items {
        match item.get("type").and_then(Value::as_str).unwrap_or_default() {
            "message" => {
                parts.extend(content_parts(item.get("content")));
                for (key, value) in extra_fields(item, &["type", "role", "content", "id"]) {
                    fields.entry(key).or_insert(value);
                }
            }
            "reasoning" => {
                reasoning.extend(reasoning_texts(item).map(str::to_owned));
                if let Some(blob) = item.get("encrypted_content").filter(|v| v.is_string()) {
                    encrypted.push(blob.clone());
                }
            }
            "function_call" | "custom_tool_call" | "local_shell_call" => {
                let (call, row) = tool_call(item);
                tool_calls.push(call);
                rows.push(row);
            }
            _ => hosted.push(Value::Object((*item).clone())),
        }
    }
    let mut token_texts = Vec::new();
    let mut message_fields = Map::new();
    let reasoning = (!reasoning.is_empty()).then(|| reasoning.join("\n\n"));
    if let Some(text) = &reasoning {
        message_fields.insert("reasoning_content".to_owned(), Value::from(text.as_str()));
        token_texts.push(text.clone());
    }
    let is_encrypted = !encrypted.is_empty();
    if is_encrypted {
        message_fields.insert(
            "reasoning_encrypted_content".to_owned(),
            Value::Array(encrypted),
        );
    }
    if !tool_calls.is_empty() {
        message_fields.insert("tool_calls".to_owned(), Value::Array(tool_calls));
        for row in &rows {
            token_texts.push(row.name.clone());
            token_texts.push(row.arguments.clone());
        }
    }
    if !hosted.is_empty() {
        message_fields.insert("codex_hosted_calls".to_owned(), Value::Array(hosted));
    }
    message_fields.extend(fields);
    let carries_reasoning = reasoning.is_some();
    Converted {
        message: build_message(
            "assistant",
            parts_to_content(parts),
            message_fields,
            token_texts,
            carries_reasoning,
        ),
        tool_calls: rows,
        reasoning,
        encrypted: is_encrypted,
    }
}

/// A tool-calling item as an OpenAI tool call and its row.
fn tool_call(item: &Map<String, Value>) -> (Value, ToolCallRow) {
    let kind = item.get("type").and_then(Value::as_str).unwrap_or_default();
    let id = item
        .get("call_id")
        .or_else(|| item.get("id"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let text = |key: &str| match item.get(key) {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let (name, arguments, call) = match kind {
        "custom_tool_call" => {
            let (name, input) = (text("name"), text("input"));
            let mut custom = Map::new();
            custom.insert("name".to_owned(), Value::from(name.as_str()));
            custom.insert("input".to_owned(), Value::from(input.as_str()));
            (name, input, ("custom", Value::Object(custom)))
        }
        "local_shell_call" => {
            let arguments = item.get("action").map(Value::to_string).unwrap_or_default();
            (
                "local_shell".to_owned(),
                arguments.clone(),
                ("function", function_value("local_shell", &arguments)),
            )
        }
        _ => {
            let (name, arguments) = (text("name"), text("arguments"));
            let function = function_value(&name, &arguments);
            (name, arguments, ("function", function))
        }
    };
    let mut object = Map::new();
    if let Some(id) = &id {
        object.insert("id".to_owned(), Value::from(id.as_str()));
    }
    object.insert("type".to_owned(), Value::from(call.0));
    object.insert(call.0.to_owned(), call.1);
    for (key, value) in extra_fields(
        item,
        &[
            "type",
            "call_id",
            "id",
            "status",
            "name",
            "arguments",
            "input",
            "action",
        ],
    ) {
        object.entry(key).or_insert(value);
    }
    (
        Value::Object(object),
        ToolCallRow {
            id,
            name,
            arguments,
        },
    )
}

fn function_value(name: &str, arguments: &str) -> Value {
    let mut function = Map::new();
    function.insert("name".to_owned(), Value::from(name));
    function.insert("arguments".to_owned(), Value::from(arguments));
    Value::Object(function)
}

/// The session's distinct messages: identical messages (role, content, fields) share an index.
#[derive(Default)]
struct Interner {
    messages: Vec<Message>,
    buckets: HashMap<u64, Vec<u32>>,
}

impl Interner {
    fn intern(&mut self, message: Message) -> u32 {
        let mut hasher = DefaultHasher::new();
        (&message.role, &message.content, &message.fields_json).hash(&mut hasher);
        let bucket = self.buckets.entry(hasher.finish()).or_default();
        for &index in bucket.iter() {
            if let Some(existing) = self.messages.get(index as usize)
                && existing.role == message.role
                && existing.content == message.content
                && existing.fields_json == message.fields_json
            {
                return index;
            }
        }
        let index = u32::try_from(self.messages.len()).unwrap_or(u32::MAX);
        bucket.push(index);
        self.messages.push(message);
        index
    }

    fn get(&self, index: u32) -> Option<&Message> {
        self.messages.get(index as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_text(text: &str) -> Vec<Result<Trajectory, FormatError>> {
        read(SourceUnit {
            path: "dir/rollout-x.jsonl".into(),
            data: text.as_bytes().to_vec(),
            first_line: 1,
        })
        .collect()
    }

    fn line(kind: &str, time: &str, payload: &str) -> String {
        format!(
            "{{\"timestamp\":\"2026-01-01T00:00:{time}Z\",\"type\":\"{kind}\",\"payload\":{payload}}}\n"
        )
    }

    fn usage(input: u64, output: u64, total_input: u64) -> String {
        format!(
            "{{\"type\":\"token_count\",\"info\":{{\"total_token_usage\":{{\"input_tokens\":{total_input},\"output_tokens\":1}},\"last_token_usage\":{{\"input_tokens\":{input},\"cached_input_tokens\":2,\"output_tokens\":{output},\"reasoning_output_tokens\":1}}}}}}"
        )
    }

    #[test]
    fn detection_needs_a_rollout_first_record() {
        let path = Path::new("x.jsonl");
        assert!(detect(
            path,
            b"{\"timestamp\":\"t\",\"type\":\"session_meta\",\"payload\":{}}\n"
        ));
        assert!(detect(
            path,
            b"\n{\"timestamp\":\"t\",\"type\":\"event_msg\",\"payload\":{}}"
        ));
        assert!(!detect(
            path,
            b"{\"timestamp\":\"t\",\"type\":\"user\",\"payload\":{}}"
        ));
        assert!(!detect(path, b"{\"type\":\"session_meta\",\"payload\":{}}"));
        assert!(claims_file_name("rollout-2025-01-01T00-00-00-abc.jsonl"));
        assert!(!claims_file_name("history.jsonl"));
    }

    #[test]
    fn a_call_is_the_items_before_its_usage_and_tool_outputs_follow() {
        let text = [
            line("session_meta", "00", r#"{"id":"s1","cli_version":"0.1","base_instructions":{"text":"SYS"}}"#),
            line("turn_context", "00", r#"{"model":"gpt-x","turn_id":"t1"}"#),
            line("response_item", "01", r#"{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}]}"#),
            line("response_item", "02", r#"{"type":"reasoning","summary":[{"type":"summary_text","text":"think"}],"encrypted_content":"gAAA"}"#),
            line("response_item", "03", r#"{"type":"function_call","name":"sh","arguments":"{}","call_id":"c1"}"#),
            line("event_msg", "04", &usage(10, 5, 10)),
            line("event_msg", "04", &usage(10, 5, 10)),
            line("response_item", "05", r#"{"type":"function_call_output","call_id":"c1","output":"ok"}"#),
            line("response_item", "07", r#"{"type":"message","role":"assistant","content":[{"type":"output_text","text":"done"}]}"#),
            line("event_msg", "08", &usage(20, 3, 30)),
        ]
        .concat();
        let results = read_text(&text);
        assert_eq!(results.len(), 1);
        let trajectory = results[0].as_ref().unwrap();
        assert_eq!(trajectory.session.session_id, "s1");
        assert_eq!(trajectory.turns.len(), 2, "the repeated usage is no call");
        let first = &trajectory.turns[0];
        assert_eq!(first.context, vec![0, 1]);
        assert_eq!(first.output, Some(2));
        assert_eq!(first.usage.input, Some(10));
        assert_eq!(first.usage.cached, Some(2));
        assert_eq!(first.usage.reasoning, Some(1));
        assert_eq!(first.output_reasoning.as_deref(), Some("think"));
        assert!(first.output_reasoning_encrypted);
        assert_eq!(first.output_tool_calls[0].name, "sh");
        assert_eq!(first.request_time_unix_ms, Some(1_767_225_601_000));
        assert_eq!(first.model_latency_ms, Some(3000.0));
        assert_eq!(first.tool_delay_ms_after, Some(1000.0));
        assert_eq!(first.model.as_deref(), Some("gpt-x"));
        let second = &trajectory.turns[1];
        assert_eq!(second.context, vec![0, 1, 2, 3]);
        assert_eq!(second.output, Some(4));
        let tool = &trajectory.messages[3];
        assert_eq!(tool.role, "tool");
        assert_eq!(tool.content.as_deref(), Some("ok"));
        assert_eq!(
            tool.fields_json.as_deref(),
            Some(r#"{"tool_call_id":"c1"}"#)
        );
        assert_eq!(
            trajectory.messages[2].fields_json.as_deref(),
            Some(
                r#"{"reasoning_content":"think","reasoning_encrypted_content":["gAAA"],"tool_calls":[{"id":"c1","type":"function","function":{"name":"sh","arguments":"{}"}}]}"#
            )
        );
    }

    #[test]
    fn legacy_compaction_keeps_context_prompts_and_summary() {
        let text = [
            line("response_item", "00", r#"{"type":"message","role":"developer","content":[{"type":"input_text","text":"perms"}]}"#),
            line("response_item", "00", r#"{"type":"message","role":"user","content":[{"type":"input_text","text":"ask"}]}"#),
            line("event_msg", "00", r#"{"type":"user_message","message":"ask"}"#),
            line("response_item", "01", r#"{"type":"message","role":"assistant","content":[{"type":"output_text","text":"a"}]}"#),
            line("event_msg", "02", &usage(10, 5, 10)),
            line("event_msg", "03", &usage(12, 4, 22)),
            line("compacted", "04", r#"{"message":"SUMMARY"}"#),
            line("event_msg", "04", r#"{"type":"context_compacted"}"#),
            line("response_item", "05", r#"{"type":"message","role":"user","content":[{"type":"input_text","text":"more"}]}"#),
            line("response_item", "06", r#"{"type":"message","role":"assistant","content":[{"type":"output_text","text":"b"}]}"#),
            line("event_msg", "07", &usage(8, 1, 30)),
        ]
        .concat();
        let results = read_text(&text);
        let trajectory = results[0].as_ref().unwrap();
        assert_eq!(trajectory.turns.len(), 3);
        assert_eq!(trajectory.turns[1].call_kind.as_deref(), Some("compaction"));
        let roles: Vec<(&str, Option<&str>)> = trajectory.turns[2]
            .context
            .iter()
            .map(|&i| {
                let m = &trajectory.messages[i as usize];
                (m.role.as_str(), m.content.as_deref())
            })
            .collect();
        assert_eq!(
            roles,
            [
                ("developer", Some("perms")),
                ("user", Some("ask")),
                ("user", Some("SUMMARY")),
                ("user", Some("more"))
            ]
        );
    }

    #[test]
    fn bad_lines_are_located_and_reading_goes_on() {
        let text = format!(
            "{}[1]\n{{\"type\":3,\"payload\":{{}}}}\n{{\"timestamp\":\"x\",\"type\":\"event_msg\"\n{}",
            line("turn_context", "00", r#"{"model":"m"}"#),
            line("event_msg", "01", &usage(1, 1, 1)),
        );
        let results = read_text(&text);
        let errors: Vec<String> = results
            .iter()
            .filter_map(|r| r.as_ref().err().map(ToString::to_string))
            .collect();
        assert_eq!(
            errors,
            [
                "dir/rollout-x.jsonl:2: expected a JSON object per line, found an array",
                "dir/rollout-x.jsonl:3:9: type: `type` must be a string, found a number",
                "dir/rollout-x.jsonl:4:35: truncated JSON: EOF while parsing an object",
            ]
        );
        let trajectory = results[3].as_ref().unwrap();
        assert_eq!(trajectory.session.session_id, "rollout-x");
        assert_eq!(trajectory.turns.len(), 1);
        assert!(read_text("\n \n")[0].is_err());
    }

    #[test]
    fn github_urls_give_repositories() {
        assert_eq!(
            github_repository("https://github.com/openai/codex.git").as_deref(),
            Some("openai/codex")
        );
        assert_eq!(
            github_repository("git@github.com:a/b").as_deref(),
            Some("a/b")
        );
        assert_eq!(github_repository("https://example.com/a/b"), None);
    }
}
