//! OpenHands evaluation output (`output.jsonl`): one benchmark instance per line, each holding
//! the agent's whole event stream.
//!
//! Producer: All-Hands-AI/OpenHands `evaluation/benchmarks/*/run_infer.py` (seen: v0.35, the
//! `SystemMessageAction` era with `args.openhands_version` and `args.tools`). A line is
//! `{"instance_id", "test_result": {"git_patch"}, "instruction", "metadata": {"agent_class",
//! "llm_config": {"model", "max_message_chars", …}, …}, "history": [event…], "metrics":
//! {"accumulated_cost", "accumulated_token_usage", "costs", "response_latencies",
//! "token_usages"}, "error", "instance": {"repo", …}}`. Events are actions (`"action": "run"`,
//! `"source": "agent"`, `tool_call_metadata: {tool_call_id, function_name, model_response,
//! total_calls_in_response}`) and observations (`"observation": "run"`, `cause`, `content`,
//! `extras`, the same `tool_call_metadata`).
//!
//! A turn is one model response: the agent actions sharing a `model_response.id` (parallel tool
//! calls give several actions per response), or an agent `message`/`finish` action without tool
//! metadata (a response without tool calls). The request is rebuilt the way OpenHands'
//! `ConversationMemory` builds it: the system event, the user's message, then per response the
//! assistant message (`model_response.choices[0].message`, verbatim, with its tool calls)
//! followed by its tool results (`role: tool`, keyed by `tool_call_id`, rendered as OpenHands
//! renders each observation kind) once all of them are in; error observations without tool
//! metadata become user messages. Such contexts are `Reconstructed`: the real request may
//! differ (prompt templates, mocked function calling that puts the tools into the system text,
//! `cache_control` parts). Recall observations (workspace context, microagents) are rendered by
//! OpenHands templates and only sent when prompt extensions are on (SWE-bench runs turn them
//! off); they are skipped.
//!
//! When the run logged its completions (`log_completions=true`), the files
//! `llm_completions/<instance_id>/*.json` beside `output.jsonl` hold each call's request as sent
//! (`{messages, response, args, kwargs, timestamp, cost, fncall_messages?, fncall_response?}`,
//! `openhands/llm/llm.py`); a turn whose response id has such a file takes its context from it
//! (`Exact`), with messages interned across calls.
//!
//! Figures: per-call usage from `metrics.token_usages[]` and latency from
//! `metrics.response_latencies[]`, both joined by `response_id`; `llm_metrics` on events are
//! running totals and are not used. Quirks:
//! * A response whose mocked tool call fails validation (`FunctionCallValidationError`) has a
//!   latency entry but no usage, no action and no completion log (the error is raised between
//!   the two in `llm.py`); an `error` observation without tool metadata follows it. It is no
//!   turn; its latency entry is kept in the session metadata (`latencies_without_usage`), and
//!   the tool delay of the turn before it runs to the next turn's request, across it.
//! * `costs[]` entries carry no response id; they are joined by position only when there are as
//!   many as usage entries (OpenHands records both per priced response).
//! * Event timestamps are the writer's local time without an offset; the provider's
//!   `model_response.created` (Unix seconds) gives the offset, which is applied to every time.
//! * `accumulated_cost` is 0.0 when litellm cannot price the model: with no `costs[]` entry it
//!   is taken as unknown.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;
use serde_json::value::RawValue;

use super::chat::{ChatMessage, parse_message, usage_from};
use super::json::{
    RawObject, RecordText, as_count, iso_time_to_unix_ms, kind_of, parse_object_with_array,
    record_lines,
};
use super::mini_swe_agent::swe_bench_repository;
use super::{FormatDescription, FormatError, SourceUnit, file_name, file_stem_id};
use crate::schema::{
    Exactness, Message, ReportedUsage, SessionInfo, ToolCallRow, Trajectory, Turn,
};

const AGENT: &str = "openhands";
const COMPLETIONS_DIR: &str = "llm_completions";
/// Values of `instance` longer than this (problem statements, test lists) stay out of the
/// session metadata.
const SMALL_VALUE_BYTES: usize = 256;

/// What the format gives.
pub const DESCRIPTION: FormatDescription = FormatDescription {
    name: "openhands",
    producer: "OpenHands evaluation harness (All-Hands-AI/OpenHands `run_infer.py`, seen v0.35)",
    files: "output.jsonl, one instance per line; optional llm_completions/<instance_id>/*.json beside it",
    context: "reconstructed from the event stream (system event, user message, model responses, tool observations); exact where llm_completions logs exist",
    reported_counts: "per call from metrics.token_usages (prompt incl. cached, cache read, cache write, completion); session totals and cost",
    timing: "event timestamps (local time; UTC offset inferred from the provider's `created`), per-call latency; request time = response event - latency",
};

/// Whether a file looks like OpenHands evaluation output: a `.jsonl` whose first record starts
/// with an instance and carries an event history or an agent configuration. Prediction files
/// (`instance_id`, `model_patch`) are not claimed.
pub fn detect(path: &Path, head: &[u8]) -> bool {
    let name = file_name(path);
    if !name.ends_with(".jsonl") {
        return false;
    }
    let head = String::from_utf8_lossy(head);
    let first = head
        .lines()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("")
        .trim_start();
    // A long `git_patch` may push everything after `test_result` past the head.
    first.starts_with('{')
        && first.contains("\"instance_id\"")
        && (first.contains("\"history\"")
            || first.contains("\"agent_class\"")
            || (first.contains("\"test_result\"")
                && (first.contains("\"instruction\"") || claims_file_name(&name))))
}

/// Whether a file name is one this format usually has.
pub fn claims_file_name(name: &str) -> bool {
    name == "output.jsonl" || name.ends_with("_output.jsonl")
}

/// Reads the instances of a run of lines; a bad line is rejected alone.
pub fn read(unit: SourceUnit) -> impl Iterator<Item = Result<Trajectory, FormatError>> + Send {
    let SourceUnit {
        path,
        data,
        first_line,
    } = unit;
    let lines: Vec<_> = record_lines(&data, first_line).collect();
    lines
        .into_iter()
        .flat_map(move |(line, range)| read_line(&path, &data[range], line))
}

/// One instance: its trajectory, and errors for unreadable completion logs beside it.
fn read_line(path: &str, bytes: &[u8], line: u64) -> Vec<Result<Trajectory, FormatError>> {
    let mut results = Vec::new();
    let outcome =
        RecordText::decode(bytes, path, line).and_then(|record| read_record(&record, &mut results));
    results.insert(0, outcome);
    results
}

fn read_record(
    record: &RecordText<'_>,
    sidecar_errors: &mut Vec<Result<Trajectory, FormatError>>,
) -> Result<Trajectory, FormatError> {
    let (object, history) = split_history(record)?;
    let (mut session, instance_id) = session_info(record, &object)?;
    let max_message_chars = object_of(object.get("metadata"))
        .and_then(|m| object_of(m.get("llm_config")))
        .and_then(|c| c.get("max_message_chars"))
        .and_then(|raw| serde_json::from_str::<Value>(raw.get()).ok())
        .as_ref()
        .and_then(as_count)
        .and_then(|n| usize::try_from(n).ok());

    let mut builder = Builder::new(record, max_message_chars);
    for (index, raw) in history.iter().enumerate() {
        builder.event(raw, index)?;
    }
    if session.exit_status.is_none() && builder.finished {
        session.exit_status = Some("finished".to_owned());
    }
    session.agent_version.clone_from(&builder.version);

    let metrics = Metrics::read(record, object.get("metrics"))?;
    session.totals = metrics.totals;
    session.cost_usd = metrics
        .accumulated_cost
        .filter(|&cost| cost > 0.0 || !metrics.costs.is_empty());
    session.api_calls = Some(metrics.usages.len() as u64).filter(|_| metrics.present);

    let Builder {
        mut interner,
        calls,
        tool_set,
        ..
    } = builder;
    let (mut turns, unmatched_latencies) =
        join_calls(&calls, &metrics, tool_set, session.model.as_deref());
    let offset_ms = infer_utc_offset_ms(&calls);
    apply_times(&mut turns, &calls, offset_ms);

    let mut extra = Vec::new();
    if let Some(id) = instance_id.as_deref() {
        let directory = completions_directory(record.path, id);
        if let Some(directory) = directory.filter(|d| d.is_dir()) {
            let summary = read_completions(
                &directory,
                &calls,
                &mut turns,
                &mut interner,
                sidecar_errors,
            );
            extra.push(("completion_logs", summary));
        }
    }
    if let Some(offset) = offset_ms {
        extra.push(("timestamp_utc_offset_s", (offset / 1000).to_string()));
    }
    if !unmatched_latencies.is_empty() {
        extra.push((
            "latencies_without_usage",
            format!("[{}]", unmatched_latencies.join(",")),
        ));
    }
    session.metadata_json = session_metadata(&object, &extra);
    let (messages, tool_sets) = compact(interner, &mut turns);
    Ok(Trajectory {
        session,
        messages,
        tool_sets,
        turns,
    })
}

/// The record's keys and its `history` events, or why the line is no OpenHands instance.
fn split_history<'a>(
    record: &RecordText<'a>,
) -> Result<(RawObject<'a>, Vec<&'a RawValue>), FormatError> {
    let trimmed = record.text.trim_start();
    if !trimmed.starts_with('{') {
        let found = serde_json::from_str::<&RawValue>(trimmed).map_or("invalid JSON", kind_of);
        return Err(record.error(format!("expected a JSON object per line, found {found}")));
    }
    let missing = || record.error("record has no `history`: not an OpenHands instance");
    if let Ok(parsed) = parse_object_with_array(record.text, "history") {
        return parsed
            .array
            .map(|history| (parsed.object, history))
            .ok_or_else(missing);
    }
    // The one-pass parse failed: find out where, on a slower pass.
    let object: RawObject =
        serde_json::from_str(record.text).map_err(|error| record.json_error(&error, 0, ""))?;
    match object.get("history") {
        Some(raw) if raw.get() == "null" => Ok((object, Vec::new())),
        Some(raw) => Err(record.error_at(
            raw,
            "history",
            format!("expected an array of events, found {}", kind_of(raw)),
        )),
        None => Err(missing()),
    }
}

/// Session facts from the record's keys (not its events), and the instance id.
fn session_info(
    record: &RecordText<'_>,
    object: &RawObject<'_>,
) -> Result<(SessionInfo, Option<String>), FormatError> {
    let line = record.first_line;
    let instance_id = match object.get("instance_id") {
        Some(raw) => match record.parse::<Value>(raw, "instance_id")? {
            Value::String(id) if !id.is_empty() => Some(id),
            Value::Number(number) => Some(number.to_string()),
            Value::String(_) | Value::Null => None,
            _ => {
                return Err(record.error_at(
                    raw,
                    "instance_id",
                    format!("expected a string, found {}", kind_of(raw)),
                ));
            }
        },
        None => None,
    };
    let metadata = object_of(object.get("metadata"));
    let agent_class = metadata
        .as_ref()
        .and_then(|m| string_of(m.get("agent_class")));
    let session = SessionInfo {
        session_id: instance_id
            .clone()
            .unwrap_or_else(|| format!("{}:{line}", file_stem_id(record.path, &[".jsonl"]))),
        source_line: Some(line),
        agent: Some(agent_class.map_or_else(|| AGENT.to_owned(), |c| format!("{AGENT}/{c}"))),
        model: metadata
            .as_ref()
            .and_then(|m| object_of(m.get("llm_config")))
            .and_then(|c| string_of(c.get("model"))),
        task_id: instance_id.clone(),
        repository: object_of(object.get("instance"))
            .and_then(|i| string_of(i.get("repo")))
            .or_else(|| instance_id.as_deref().and_then(swe_bench_repository)),
        exit_status: string_of(object.get("error")).filter(|e| !e.is_empty()),
        ..SessionInfo::default()
    };
    Ok((session, instance_id))
}

/// Keeps only the messages and tool sets some turn refers to (a last observation no call read,
/// the rebuilt messages of calls whose logged request replaced them), in their order.
fn compact(interner: Interner, turns: &mut [Turn]) -> (Vec<Message>, Vec<String>) {
    fn keep<T>(items: Vec<T>, used: &[bool]) -> (Vec<T>, Vec<u32>) {
        let mut remap = vec![u32::MAX; items.len()];
        let mut kept = Vec::new();
        for ((item, &used), slot) in items.into_iter().zip(used).zip(&mut remap) {
            if used {
                *slot = u32::try_from(kept.len()).unwrap_or(u32::MAX);
                kept.push(item);
            }
        }
        (kept, remap)
    }
    let mut used_messages = vec![false; interner.messages.len()];
    let mut used_tools = vec![false; interner.tool_sets.len()];
    for turn in turns.iter() {
        for &index in turn.context.iter().chain(&turn.output) {
            if let Some(used) = used_messages.get_mut(index as usize) {
                *used = true;
            }
        }
        if let Some(used) = turn.tool_set.and_then(|i| used_tools.get_mut(i as usize)) {
            *used = true;
        }
    }
    let (messages, message_map) = keep(interner.messages, &used_messages);
    let (tool_sets, tool_map) = keep(interner.tool_sets, &used_tools);
    let lookup = |map: &[u32], index: u32| map.get(index as usize).copied().unwrap_or(u32::MAX);
    for turn in turns.iter_mut() {
        for index in &mut turn.context {
            *index = lookup(&message_map, *index);
        }
        turn.output = turn.output.map(|i| lookup(&message_map, i));
        turn.tool_set = turn.tool_set.map(|i| lookup(&tool_map, i));
    }
    (messages, tool_sets)
}

/// Distinct messages and tool sets of a session.
#[derive(Default)]
struct Interner {
    messages: Vec<Message>,
    by_key: HashMap<String, u32>,
    tool_sets: Vec<String>,
}

impl Interner {
    fn add(&mut self, message: Message) -> u32 {
        let mut key = String::with_capacity(
            message.role.len()
                + message.content.as_ref().map_or(0, String::len)
                + message.fields_json.as_ref().map_or(0, String::len)
                + 4,
        );
        key.push_str(&message.role);
        key.push('\0');
        match &message.content {
            Some(content) => {
                key.push('s');
                key.push_str(content);
            }
            None => key.push('n'),
        }
        key.push('\0');
        key.push_str(message.fields_json.as_deref().unwrap_or(""));
        if let Some(&index) = self.by_key.get(&key) {
            return index;
        }
        let index = u32::try_from(self.messages.len()).unwrap_or(u32::MAX);
        self.by_key.insert(key, index);
        self.messages.push(message);
        index
    }

    fn tool_set(&mut self, text: &str) -> u32 {
        let position = self
            .tool_sets
            .iter()
            .position(|known| known == text)
            .unwrap_or_else(|| {
                self.tool_sets.push(text.to_owned());
                self.tool_sets.len() - 1
            });
        u32::try_from(position).unwrap_or(u32::MAX)
    }
}

/// One model response as found in the event stream.
#[derive(Debug, Default)]
struct Call {
    response_id: Option<String>,
    context: Vec<u32>,
    output: Option<u32>,
    tool_calls: Vec<ToolCallRow>,
    reasoning: Option<String>,
    model: Option<String>,
    finish_reason: Option<String>,
    created_s: Option<i64>,
    /// Time of the response's first action (the call's end), as written (local time).
    end_ms: Option<i64>,
    /// Time of the event before the call, as written.
    before_ms: Option<i64>,
    action_ids: Vec<String>,
    total_calls_in_response: Option<String>,
    response_usage: Option<String>,
}

/// An assistant message waiting for its tool results, as `ConversationMemory` holds it.
struct Pending {
    message: u32,
    tool_call_ids: Vec<String>,
}

/// Walks the event stream once, building the conversation and the calls.
struct Builder<'r, 'a> {
    record: &'r RecordText<'a>,
    max_message_chars: Option<usize>,
    interner: Interner,
    conversation: Vec<u32>,
    pending: Vec<Pending>,
    tool_results: HashMap<String, u32>,
    calls: Vec<Call>,
    call_of_response: HashMap<String, usize>,
    tool_set: Option<u32>,
    version: Option<String>,
    finished: bool,
    last_time_ms: Option<i64>,
    /// Ids of the actions the user ran, to word their observations as OpenHands does.
    user_actions: std::collections::HashSet<String>,
}

impl<'r, 'a> Builder<'r, 'a> {
    fn new(record: &'r RecordText<'a>, max_message_chars: Option<usize>) -> Self {
        Builder {
            record,
            max_message_chars,
            interner: Interner::default(),
            conversation: Vec::new(),
            pending: Vec::new(),
            tool_results: HashMap::new(),
            calls: Vec::new(),
            call_of_response: HashMap::new(),
            tool_set: None,
            version: None,
            finished: false,
            last_time_ms: None,
            user_actions: std::collections::HashSet::new(),
        }
    }

    fn event(&mut self, raw: &'a RawValue, index: usize) -> Result<(), FormatError> {
        let path = format!("history[{index}]");
        if !raw.get().starts_with('{') {
            return Err(self.record.error_at(
                raw,
                &path,
                format!("expected an event object, found {}", kind_of(raw)),
            ));
        }
        let event: RawObject<'a> = self.record.parse(raw, &path)?;
        let time_ms = string_of(event.get("timestamp")).and_then(|t| iso_time_to_unix_ms(&t));
        let source = string_of(event.get("source")).unwrap_or_default();
        let metadata = object_of(event.get("tool_call_metadata"));
        if let Some(action) = string_of(event.get("action")) {
            if source == "user" {
                self.user_actions
                    .extend(event.get("id").map(|id| id.get().to_owned()));
            }
            self.action(&event, &path, &action, &source, metadata.as_ref(), time_ms)?;
        } else if let Some(observation) = string_of(event.get("observation")) {
            self.observation(&event, &observation, metadata.as_ref());
        }
        self.flush_pending();
        if time_ms.is_some() {
            self.last_time_ms = time_ms;
        }
        Ok(())
    }

    fn action(
        &mut self,
        event: &RawObject<'a>,
        path: &str,
        action: &str,
        source: &str,
        metadata: Option<&RawObject<'a>>,
        time_ms: Option<i64>,
    ) -> Result<(), FormatError> {
        let args = object_of(event.get("args"));
        let arg = |key: &str| args.as_ref().and_then(|a| string_of(a.get(key)));
        if let Some(metadata) = metadata {
            return self.tool_action(event, path, action, metadata, args.as_ref(), time_ms);
        }
        match (action, source) {
            ("system", _) => {
                self.version = self.version.take().or_else(|| arg("openhands_version"));
                if let Some(tools) = args
                    .as_ref()
                    .and_then(|a| a.get("tools"))
                    .filter(|raw| raw.get().starts_with('['))
                {
                    self.tool_set = Some(self.interner.tool_set(tools.get()));
                }
                if let Some(content) = arg("content") {
                    let index = self.interner.add(text_message("system", content));
                    self.conversation.push(index);
                }
            }
            ("message", "user") => {
                let index = self
                    .interner
                    .add(text_message("user", arg("content").unwrap_or_default()));
                self.conversation.push(index);
            }
            ("message" | "finish", "agent") => {
                let text = if action == "message" {
                    arg("content")
                } else {
                    arg("thought")
                        .filter(|t| !t.is_empty())
                        .or_else(|| arg("final_thought"))
                };
                self.finished |= action == "finish";
                self.text_call(event, text.unwrap_or_default(), time_ms);
            }
            (
                "run" | "run_ipython" | "read" | "write" | "edit" | "browse" | "browse_interactive"
                | "think" | "delegate" | "reject",
                "agent",
            ) => {
                // Non-function-calling agents: the response is gone; its thought stands in.
                self.text_call(event, arg("thought").unwrap_or_default(), time_ms);
            }
            _ => {}
        }
        Ok(())
    }

    /// An agent response without tool calls: one call whose output also joins the
    /// conversation at once.
    fn text_call(&mut self, event: &RawObject<'a>, text: String, time_ms: Option<i64>) {
        let output = self.interner.add(text_message("assistant", text));
        let call = Call {
            response_id: string_of(event.get("response_id")).filter(|id| !id.is_empty()),
            context: self.conversation.clone(),
            output: Some(output),
            end_ms: time_ms,
            before_ms: self.last_time_ms,
            action_ids: event
                .get("id")
                .map(|id| id.get().to_owned())
                .into_iter()
                .collect(),
            ..Call::default()
        };
        self.conversation.push(output);
        self.calls.push(call);
    }

    fn tool_action(
        &mut self,
        event: &RawObject<'a>,
        path: &str,
        action: &str,
        metadata: &RawObject<'a>,
        args: Option<&RawObject<'a>>,
        time_ms: Option<i64>,
    ) -> Result<(), FormatError> {
        let response = object_of(metadata.get("model_response"));
        let response_id = response
            .as_ref()
            .and_then(|r| string_of(r.get("id")))
            .filter(|id| !id.is_empty());
        let action_id = event.get("id").map(|id| id.get().to_owned());
        self.finished |= action == "finish";
        if let Some(&known) = response_id
            .as_ref()
            .and_then(|id| self.call_of_response.get(id))
        {
            if let Some(call) = self.calls.get_mut(known) {
                call.action_ids.extend(action_id);
            }
            return Ok(());
        }
        let message_path = format!("{path}.tool_call_metadata.model_response.choices[0].message");
        let choice = first_choice(response.as_ref());
        let parsed = match choice.as_ref().and_then(|c| c.get("message")) {
            Some(raw) if raw.get().starts_with('{') => {
                Some(parse_message(self.record, raw, &message_path)?)
            }
            _ => None,
        };
        let mut call = Call {
            response_id: response_id.clone(),
            context: self.conversation.clone(),
            model: response.as_ref().and_then(|r| string_of(r.get("model"))),
            finish_reason: choice
                .as_ref()
                .and_then(|c| string_of(c.get("finish_reason"))),
            created_s: response
                .as_ref()
                .and_then(|r| r.get("created"))
                .and_then(|raw| serde_json::from_str::<i64>(raw.get()).ok()),
            end_ms: time_ms,
            before_ms: self.last_time_ms,
            action_ids: action_id.into_iter().collect(),
            total_calls_in_response: metadata
                .get("total_calls_in_response")
                .map(|raw| raw.get().to_owned()),
            response_usage: response
                .as_ref()
                .and_then(|r| r.get("usage"))
                .filter(|raw| raw.get() != "null")
                .map(|raw| raw.get().to_owned()),
            ..Call::default()
        };
        let thought = args.and_then(|a| string_of(a.get("thought")));
        if let Some(ChatMessage {
            message,
            tool_calls,
            reasoning,
            ..
        }) = parsed
        {
            let content = message.content.clone().unwrap_or_default();
            let index = self.interner.add(message);
            call.output = Some(index);
            call.reasoning = reasoning;
            let ids: Vec<String> = tool_calls.iter().filter_map(|c| c.id.clone()).collect();
            call.tool_calls = tool_calls;
            if action == "finish" {
                // `ConversationMemory` sends a finish as a plain assistant message.
                let text = match thought.filter(|t| !t.is_empty()) {
                    Some(thought) if thought != content => format!("{thought}\n{content}"),
                    Some(thought) => thought,
                    None => content,
                };
                let finish = self.interner.add(text_message("assistant", text));
                self.conversation.push(finish);
            } else if ids.is_empty() {
                self.conversation.push(index);
            } else {
                self.pending.push(Pending {
                    message: index,
                    tool_call_ids: ids,
                });
            }
        } else {
            let index = self
                .interner
                .add(text_message("assistant", thought.unwrap_or_default()));
            call.output = Some(index);
            self.conversation.push(index);
        }
        if let Some(id) = response_id {
            self.call_of_response.insert(id, self.calls.len());
        }
        self.calls.push(call);
        Ok(())
    }

    fn observation(&mut self, event: &RawObject<'a>, kind: &str, metadata: Option<&RawObject<'a>>) {
        if matches!(kind, "recall" | "agent_state_changed" | "null") {
            return;
        }
        let tool_call_id = metadata.and_then(|m| string_of(m.get("tool_call_id")));
        let by_user = event
            .get("cause")
            .is_some_and(|cause| self.user_actions.contains(cause.get()));
        let text = render_observation(event, kind, by_user, self.max_message_chars);
        if let Some(id) = tool_call_id {
            let mut fields = vec![("tool_call_id", json_string(&id))];
            if let Some(name) = metadata.and_then(|m| string_of(m.get("function_name"))) {
                fields.push(("name", json_string(&name)));
            }
            let message = Message {
                role: "tool".to_owned(),
                content: Some(text),
                fields_json: json_object(&fields),
                token_texts: Vec::new(),
                carries_reasoning: false,
            };
            let index = self.interner.add(message);
            self.tool_results.insert(id, index);
        } else {
            let index = self.interner.add(text_message("user", text));
            self.conversation.push(index);
        }
    }

    /// Emits the assistant messages whose tool results are all in, each followed by its
    /// results, in the order the responses came.
    fn flush_pending(&mut self) {
        let results = &mut self.tool_results;
        let conversation = &mut self.conversation;
        self.pending.retain(|pending| {
            if !pending
                .tool_call_ids
                .iter()
                .all(|id| results.contains_key(id))
            {
                return true;
            }
            conversation.push(pending.message);
            for id in &pending.tool_call_ids {
                if let Some(result) = results.remove(id) {
                    conversation.push(result);
                }
            }
            false
        });
    }
}

/// The text OpenHands sends for an observation (`ConversationMemory._process_observation`).
fn render_observation(
    event: &RawObject<'_>,
    kind: &str,
    by_user: bool,
    max_chars: Option<usize>,
) -> String {
    let content = string_of(event.get("content")).unwrap_or_default();
    let extras = object_of(event.get("extras"));
    let truncate = |text: &str| truncate_content(text, max_chars);
    match kind {
        "run" => {
            let metadata = extras.as_ref().and_then(|e| object_of(e.get("metadata")));
            let field = |key: &str| {
                metadata
                    .as_ref()
                    .and_then(|m| string_of(m.get(key)))
                    .unwrap_or_default()
            };
            let mut text = format!("{}{content}{}", field("prefix"), field("suffix"));
            let working_dir = field("working_dir");
            if !working_dir.is_empty() {
                let _ = write!(text, "\n[Current working directory: {working_dir}]");
            }
            let interpreter = field("py_interpreter_path");
            if !interpreter.is_empty() {
                let _ = write!(text, "\n[Python interpreter: {interpreter}]");
            }
            let exit_code = metadata
                .as_ref()
                .and_then(|m| m.get("exit_code"))
                .and_then(|raw| serde_json::from_str::<i64>(raw.get()).ok())
                .unwrap_or(-1);
            if exit_code != -1 {
                let _ = write!(text, "\n[Command finished with exit code {exit_code}]");
            }
            if by_user {
                truncate(&format!(
                    "\nObserved result of command executed by user:\n{text}"
                ))
            } else {
                truncate(&text)
            }
        }
        "run_ipython" => {
            let cleaned: Vec<&str> = content
                .split('\n')
                .map(|line| {
                    if line.contains("![image](data:image/png;base64,") {
                        "![image](data:image/png;base64, ...) already displayed to user"
                    } else {
                        line
                    }
                })
                .collect();
            truncate(&cleaned.join("\n"))
        }
        "read" => content,
        "error" => format!(
            "{}\n[Error occurred in processing last action]",
            truncate(&content)
        ),
        "user_rejected" => format!(
            "OBSERVATION:\n{}\n[Last action has been rejected by the user]",
            truncate(&content)
        ),
        "delegate" => {
            let outputs = extras
                .as_ref()
                .and_then(|e| object_of(e.get("outputs")))
                .and_then(|o| string_of(o.get("content")));
            truncate(&outputs.unwrap_or(content))
        }
        _ => truncate(&content),
    }
}

/// OpenHands' `truncate_content`: the first and last halves of an over-long text around a note,
/// counting characters as Python does.
fn truncate_content(text: &str, max_chars: Option<usize>) -> String {
    let Some(max) = max_chars else {
        return text.to_owned();
    };
    let count = text.chars().count();
    if count <= max {
        return text.to_owned();
    }
    let half = max / 2;
    let head_end = text.char_indices().nth(half).map_or(text.len(), |(i, _)| i);
    let tail_start = if half == 0 {
        text.len()
    } else {
        text.char_indices()
            .nth(count - half)
            .map_or(text.len(), |(i, _)| i)
    };
    format!(
        "{}\n[... Observation truncated due to length ...]\n{}",
        &text[..head_end],
        &text[tail_start..]
    )
}

/// `metrics` of an instance: per-call records and session totals.
#[derive(Debug, Default)]
struct Metrics {
    present: bool,
    /// `(response_id, usage)` in call order.
    usages: Vec<(Option<String>, ReportedUsage)>,
    /// `(response_id, latency in seconds, raw entry)`.
    latencies: Vec<(Option<String>, Option<f64>, String)>,
    costs: Vec<Option<f64>>,
    totals: ReportedUsage,
    accumulated_cost: Option<f64>,
}

impl Metrics {
    fn read(record: &RecordText<'_>, raw: Option<&RawValue>) -> Result<Self, FormatError> {
        let mut metrics = Metrics::default();
        let Some(raw) = raw.filter(|raw| raw.get() != "null") else {
            return Ok(metrics);
        };
        if !raw.get().starts_with('{') {
            return Err(record.error_at(
                raw,
                "metrics",
                format!("expected an object, found {}", kind_of(raw)),
            ));
        }
        let object: RawObject = record.parse(raw, "metrics")?;
        metrics.present = true;
        let list = |key: &str| -> Result<Vec<&RawValue>, FormatError> {
            match object.get(key) {
                Some(raw) if raw.get().starts_with('[') => {
                    record.parse(raw, &format!("metrics.{key}"))
                }
                _ => Ok(Vec::new()),
            }
        };
        for entry in list("token_usages")? {
            let value: Value = serde_json::from_str(entry.get()).unwrap_or(Value::Null);
            metrics
                .usages
                .push((response_id_of(&value), openhands_usage(&value)));
        }
        for entry in list("response_latencies")? {
            let value: Value = serde_json::from_str(entry.get()).unwrap_or(Value::Null);
            metrics.latencies.push((
                response_id_of(&value),
                value.get("latency").and_then(Value::as_f64),
                entry.get().to_owned(),
            ));
        }
        for entry in list("costs")? {
            let value: Value = serde_json::from_str(entry.get()).unwrap_or(Value::Null);
            metrics
                .costs
                .push(value.get("cost").and_then(Value::as_f64));
        }
        if let Some(raw) = object.get("accumulated_token_usage") {
            let value: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
            metrics.totals = openhands_usage(&value);
        }
        metrics.accumulated_cost = object
            .get("accumulated_cost")
            .and_then(|raw| serde_json::from_str::<f64>(raw.get()).ok());
        Ok(metrics)
    }
}

fn response_id_of(value: &Value) -> Option<String> {
    value
        .get("response_id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
}

/// OpenHands' `TokenUsage`: `prompt_tokens` include the cached ones.
fn openhands_usage(value: &Value) -> ReportedUsage {
    let count = |key: &str| value.get(key).and_then(as_count);
    ReportedUsage {
        input: count("prompt_tokens"),
        cached: count("cache_read_tokens"),
        cache_write: count("cache_write_tokens"),
        output: count("completion_tokens"),
        reasoning: None,
    }
}

/// Turns for the calls, with usage, latency and cost joined by response id, and the raw latency
/// entries no call claimed. A call without an id (a response without tool calls, in versions
/// that do not log its id) takes the entry right after the previous call's, when no other call
/// claims it.
fn join_calls(
    calls: &[Call],
    metrics: &Metrics,
    tool_set: Option<u32>,
    session_model: Option<&str>,
) -> (Vec<Turn>, Vec<String>) {
    let index_of = |entries: &mut dyn Iterator<Item = Option<&String>>| {
        let mut map: HashMap<String, usize> = HashMap::new();
        for (i, id) in entries.enumerate() {
            if let Some(id) = id {
                map.entry(id.clone()).or_insert(i);
            }
        }
        map
    };
    let usage_index = index_of(&mut metrics.usages.iter().map(|(id, _)| id.as_ref()));
    let latency_index = index_of(&mut metrics.latencies.iter().map(|(id, _, _)| id.as_ref()));
    let claimed: std::collections::HashSet<&str> = calls
        .iter()
        .filter_map(|c| c.response_id.as_deref())
        .collect();
    let usage_ids: Vec<Option<&str>> = metrics.usages.iter().map(|(id, _)| id.as_deref()).collect();
    let latency_ids: Vec<Option<&str>> = metrics
        .latencies
        .iter()
        .map(|(id, _, _)| id.as_deref())
        .collect();
    let costs_join = !metrics.costs.is_empty() && metrics.costs.len() == metrics.usages.len();
    let mut previous_usage: Option<usize> = None;
    let mut previous_latency: Option<usize> = None;
    let mut latency_used = vec![false; metrics.latencies.len()];
    let mut turns = Vec::with_capacity(calls.len());
    for call in calls {
        let usage_at = match &call.response_id {
            Some(id) => usage_index.get(id).copied(),
            None => next_unclaimed(previous_usage, &usage_ids, &claimed),
        };
        // A call matched by position takes the id of its usage entry for the other joins: the
        // latency list also holds responses that never became actions.
        let response_id = call
            .response_id
            .clone()
            .or_else(|| usage_at.and_then(|i| metrics.usages[i].0.clone()));
        let latency_at = match &response_id {
            Some(id) => latency_index.get(id).copied(),
            None => next_unclaimed(previous_latency, &latency_ids, &claimed),
        };
        previous_usage = usage_at.or(previous_usage);
        previous_latency = latency_at.or(previous_latency);
        if let Some(used) = latency_at.and_then(|i| latency_used.get_mut(i)) {
            *used = true;
        }

        let mut turn = Turn::new(call.context.clone(), call.output, Exactness::Reconstructed);
        turn.tool_set = tool_set;
        turn.model = call
            .model
            .clone()
            .or_else(|| session_model.map(str::to_owned));
        if let Some(i) = usage_at {
            turn.usage = metrics.usages[i].1;
            if costs_join {
                turn.cost_usd = metrics.costs[i];
            }
        }
        turn.model_latency_ms = latency_at
            .and_then(|i| metrics.latencies[i].1)
            .map(|seconds| seconds * 1000.0);
        turn.finish_reason.clone_from(&call.finish_reason);
        turn.response_id = response_id;
        turn.output_reasoning.clone_from(&call.reasoning);
        turn.output_tool_calls.clone_from(&call.tool_calls);
        let mut fields = Vec::new();
        if !call.action_ids.is_empty() {
            fields.push(("action_ids", format!("[{}]", call.action_ids.join(","))));
        }
        if let Some(total) = &call.total_calls_in_response {
            fields.push(("total_calls_in_response", total.clone()));
        }
        if let Some(created) = call.created_s {
            fields.push(("created", created.to_string()));
        }
        if let Some(usage) = &call.response_usage {
            fields.push(("response_usage", usage.clone()));
        }
        turn.metadata_json = json_object(&fields);
        turns.push(turn);
    }
    let unmatched = metrics
        .latencies
        .iter()
        .zip(latency_used)
        .filter(|(_, used)| !used)
        .map(|((_, _, raw), _)| raw.clone())
        .collect();
    (turns, unmatched)
}

/// The entry after `previous`, unless a call claims it by id.
fn next_unclaimed(
    previous: Option<usize>,
    ids: &[Option<&str>],
    claimed: &std::collections::HashSet<&str>,
) -> Option<usize> {
    let next = previous.map_or(0, |p| p + 1);
    match ids.get(next) {
        Some(Some(id)) if claimed.contains(id) => None,
        Some(_) => Some(next),
        None => None,
    }
}

/// Request times and tool delays, in Unix milliseconds once the writer's offset is removed.
#[expect(
    clippy::cast_possible_truncation,
    reason = "latencies are seconds to minutes; `as` saturates anything absurd"
)]
#[expect(
    clippy::cast_precision_loss,
    reason = "millisecond differences between events are far below 2^52"
)]
fn apply_times(turns: &mut [Turn], calls: &[Call], offset_ms: Option<i64>) {
    let offset = offset_ms.unwrap_or(0);
    for (turn, call) in turns.iter_mut().zip(calls) {
        turn.request_time_unix_ms = match (call.end_ms, turn.model_latency_ms) {
            (Some(end), Some(latency)) => end
                .checked_sub(latency.round() as i64)
                .and_then(|start| start.checked_sub(offset)),
            _ => call.before_ms.and_then(|before| before.checked_sub(offset)),
        };
    }
    for k in 0..turns.len().saturating_sub(1) {
        let next_start = turns[k + 1].request_time_unix_ms;
        if let (Some(end), Some(next)) = (calls[k].end_ms, next_start) {
            let delay = end
                .checked_sub(offset)
                .and_then(|end| next.checked_sub(end));
            turns[k].tool_delay_ms_after = delay.filter(|&d| d >= 0).map(|d| d as f64);
        }
    }
}

/// The writer's UTC offset, when event times are local: the median difference between a
/// response event's time and the provider's `created` (Unix seconds), rounded to a quarter hour.
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    reason = "differences are checked to be within hours before they matter"
)]
fn infer_utc_offset_ms(calls: &[Call]) -> Option<i64> {
    const QUARTER_HOUR_MS: i64 = 15 * 60 * 1000;
    const MAX_OFFSET_MS: i64 = 14 * 60 * 60 * 1000;
    let mut differences: Vec<i64> = calls
        .iter()
        .filter_map(|call| call.end_ms?.checked_sub(call.created_s?.checked_mul(1000)?))
        .collect();
    if differences.is_empty() {
        return None;
    }
    differences.sort_unstable();
    let median = differences[differences.len() / 2];
    if median.unsigned_abs() > (MAX_OFFSET_MS + QUARTER_HOUR_MS).unsigned_abs() {
        return None;
    }
    let rounded = (median as f64 / QUARTER_HOUR_MS as f64).round() as i64 * QUARTER_HOUR_MS;
    (rounded != 0 && rounded.abs() <= MAX_OFFSET_MS).then_some(rounded)
}

/// `llm_completions/<instance_id>` beside the output file; `None` for ids that are no plain
/// file name.
fn completions_directory(path: &str, instance_id: &str) -> Option<PathBuf> {
    let plain = !instance_id.is_empty()
        && instance_id != "."
        && instance_id != ".."
        && !instance_id.contains(['/', '\\', '\0']);
    plain.then(|| {
        Path::new(path)
            .parent()
            .unwrap_or_else(|| Path::new(""))
            .join(COMPLETIONS_DIR)
            .join(instance_id)
    })
}

/// Replaces the contexts of the calls that have a completion log with the logged request.
/// Returns a summary for the session metadata; unreadable logs become errors.
fn read_completions(
    directory: &Path,
    calls: &[Call],
    turns: &mut [Turn],
    interner: &mut Interner,
    errors: &mut Vec<Result<Trajectory, FormatError>>,
) -> String {
    let sidecar_error = |path: String, message: String| FormatError {
        path,
        line: None,
        column: None,
        json_path: None,
        message,
    };
    let mut files: Vec<PathBuf> = match fs_err::read_dir(directory) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|e| e == "json") && path.is_file())
            .collect(),
        Err(error) => {
            errors.push(Err(sidecar_error(
                directory.to_string_lossy().into_owned(),
                error.to_string(),
            )));
            Vec::new()
        }
    };
    files.sort();
    let call_of: HashMap<&str, usize> = calls
        .iter()
        .enumerate()
        .filter_map(|(i, call)| call.response_id.as_deref().map(|id| (id, i)))
        .collect();
    let mut raw_index: HashMap<[u8; 32], u32> = HashMap::new();
    let mut used = 0_usize;
    let mut unused = Vec::new();
    for file in &files {
        let display = file.to_string_lossy().into_owned();
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let outcome = fs_err::read(file)
            .map_err(|error| sidecar_error(display.clone(), error.to_string()))
            .and_then(|bytes| {
                read_completion(
                    &display,
                    &bytes,
                    &name,
                    &call_of,
                    turns,
                    interner,
                    &mut raw_index,
                )
            });
        match outcome {
            Ok(true) => used += 1,
            Ok(false) => unused.push(json_string(&name)),
            Err(error) => errors.push(Err(error)),
        }
    }
    let directory_name = Path::new(COMPLETIONS_DIR).join(directory.file_name().unwrap_or_default());
    format!(
        "{{\"directory\":{},\"files\":{},\"used\":{used},\"unused\":[{}]}}",
        json_string(&directory_name.to_string_lossy()),
        files.len(),
        unused.join(",")
    )
}

/// Reads one completion log; `Ok(false)` when it belongs to no call of the event stream.
fn read_completion(
    path: &str,
    bytes: &[u8],
    name: &str,
    call_of: &HashMap<&str, usize>,
    turns: &mut [Turn],
    interner: &mut Interner,
    raw_index: &mut HashMap<[u8; 32], u32>,
) -> Result<bool, FormatError> {
    use sha2::Digest as _;

    let record = RecordText::decode(bytes, path, 1)?;
    if !record.text.trim_start().starts_with('{') {
        return Err(record.error("expected a completion log object"));
    }
    let object: RawObject =
        serde_json::from_str(record.text).map_err(|error| record.json_error(&error, 0, ""))?;
    let response = object_of(object.get("response"));
    let Some(turn) = response
        .as_ref()
        .and_then(|r| string_of(r.get("id")))
        .and_then(|id| call_of.get(id.as_str()).copied())
        .and_then(|call| turns.get_mut(call))
        .filter(|turn| turn.exactness != Exactness::Exact)
    else {
        return Ok(false);
    };
    let messages = object
        .get("messages")
        .ok_or_else(|| record.error("completion log has no `messages`"))?;
    if !messages.get().starts_with('[') {
        return Err(record.error_at(
            messages,
            "messages",
            format!("expected an array of messages, found {}", kind_of(messages)),
        ));
    }
    let items: Vec<&RawValue> = record.parse(messages, "messages")?;
    let mut context = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let digest: [u8; 32] = sha2::Sha256::digest(item.get().as_bytes()).into();
        if let Some(&index) = raw_index.get(&digest) {
            context.push(index);
            continue;
        }
        let parsed = parse_message(&record, item, &format!("messages[{i}]"))?;
        let index = interner.add(parsed.message);
        raw_index.insert(digest, index);
        context.push(index);
    }
    let output = match first_choice_message(response.as_ref()) {
        Some(raw) => Some(parse_message(&record, raw, "response.choices[0].message")?),
        None => None,
    };
    let converted = object_of(object.get("fncall_response"));
    let converted_calls = match first_choice_message(converted.as_ref()) {
        Some(raw) => parse_message(&record, raw, "fncall_response.choices[0].message")?.tool_calls,
        None => Vec::new(),
    };
    turn.context = context;
    turn.exactness = Exactness::Exact;
    turn.tool_set = object
        .get("kwargs")
        .and_then(|raw| object_of(Some(raw)))
        .and_then(|kwargs| kwargs.get("tools"))
        .filter(|raw| raw.get().starts_with('['))
        .map(|tools| interner.tool_set(tools.get()));
    if let Some(reason) =
        first_choice(response.as_ref()).and_then(|c| string_of(c.get("finish_reason")))
    {
        turn.finish_reason = Some(reason);
    }
    if let Some(output) = output {
        turn.output_tool_calls = if converted_calls.is_empty() {
            output.tool_calls
        } else {
            converted_calls
        };
        turn.output_reasoning = output.reasoning.or(turn.output_reasoning.take());
        turn.output = Some(interner.add(output.message));
    }
    if turn.usage == ReportedUsage::default()
        && let Some(usage) = response
            .as_ref()
            .and_then(|r| r.get("usage"))
            .and_then(|raw| serde_json::from_str::<Value>(raw.get()).ok())
    {
        turn.usage = usage_from(&usage);
    }
    if turn.cost_usd.is_none() {
        turn.cost_usd = object
            .get("cost")
            .and_then(|raw| serde_json::from_str::<f64>(raw.get()).ok())
            .filter(|&cost| cost > 0.0);
    }
    append_field(
        &mut turn.metadata_json,
        "completion_log",
        &json_string(name),
    );
    Ok(true)
}

/// `choices[0]` of a logged response.
fn first_choice<'a>(response: Option<&RawObject<'a>>) -> Option<RawObject<'a>> {
    response
        .and_then(|r| r.get("choices"))
        .filter(|raw| raw.get().starts_with('['))
        .and_then(|raw| serde_json::from_str::<Vec<&RawValue>>(raw.get()).ok())
        .and_then(|choices| object_of(choices.first().copied()))
}

/// `choices[0].message` of a logged response.
fn first_choice_message<'a>(response: Option<&RawObject<'a>>) -> Option<&'a RawValue> {
    first_choice(response)
        .and_then(|choice| choice.get("message"))
        .filter(|raw| raw.get().starts_with('{'))
}

/// Session metadata: the record's small keys as logged (not the history, the instruction
/// — the first user message — or the per-call metrics), `instance` without its long values,
/// and what the reader derived.
fn session_metadata(object: &RawObject<'_>, extra: &[(&str, String)]) -> Option<String> {
    let mut fields: Vec<(&str, String)> = Vec::new();
    for (key, value) in &object.entries {
        match key.as_ref() {
            "instance_id" | "history" | "instruction" | "metrics" => {}
            "instance" => {
                if let Some(instance) = object_of(Some(value)) {
                    let small: Vec<(&str, String)> = instance
                        .entries
                        .iter()
                        .filter(|(_, v)| v.get().len() <= SMALL_VALUE_BYTES)
                        .map(|(k, v)| (k.as_ref(), v.get().to_owned()))
                        .collect();
                    fields.push(("instance", json_object(&small).unwrap_or("{}".to_owned())));
                }
            }
            _ => fields.push((key.as_ref(), value.get().to_owned())),
        }
    }
    fields.extend(extra.iter().map(|(k, v)| (*k, v.clone())));
    json_object(&fields)
}

fn text_message(role: &str, content: String) -> Message {
    Message {
        role: role.to_owned(),
        content: Some(content),
        fields_json: None,
        token_texts: Vec::new(),
        carries_reasoning: false,
    }
}

/// A raw value as an object of raw values, when it is an object.
fn object_of(raw: Option<&RawValue>) -> Option<RawObject<'_>> {
    raw.filter(|raw| raw.get().starts_with('{'))
        .and_then(|raw| serde_json::from_str(raw.get()).ok())
}

/// A raw value as a string, when it is one.
fn string_of(raw: Option<&RawValue>) -> Option<String> {
    raw.filter(|raw| raw.get().starts_with('"'))
        .and_then(|raw| serde_json::from_str(raw.get()).ok())
}

fn json_string(text: &str) -> String {
    // Serializing a string cannot fail.
    serde_json::to_string(text).unwrap_or_default()
}

/// A JSON object text from keys and raw value texts; `None` when empty.
fn json_object(fields: &[(&str, String)]) -> Option<String> {
    if fields.is_empty() {
        return None;
    }
    let body: Vec<String> = fields
        .iter()
        .map(|(key, value)| format!("{}:{value}", json_string(key)))
        .collect();
    Some(format!("{{{}}}", body.join(",")))
}

/// Adds a key to a JSON object text (or starts one).
fn append_field(object: &mut Option<String>, key: &str, value: &str) {
    let field = format!("{}:{value}", json_string(key));
    *object = Some(match object.take() {
        Some(text) if text.len() > 2 => format!("{},{field}}}", &text[..text.len() - 1]),
        _ => format!("{{{field}}}"),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(text: &str) -> Vec<Result<Trajectory, FormatError>> {
        read(SourceUnit {
            path: "output.jsonl".into(),
            data: text.as_bytes().to_vec(),
            first_line: 1,
        })
        .collect()
    }

    #[test]
    fn truncation_keeps_both_halves_by_characters() {
        assert_eq!(truncate_content("abcdef", Some(6)), "abcdef");
        assert_eq!(
            truncate_content("aébcdéf", Some(4)),
            "aé\n[... Observation truncated due to length ...]\néf"
        );
        assert_eq!(truncate_content("abc", None), "abc");
    }

    #[test]
    fn detection_wants_an_instance_with_history() {
        let path = Path::new("output.jsonl");
        assert!(detect(
            path,
            br#"{"instance_id": "a__b-1", "test_result": {}, "instruction": "x""#
        ));
        assert!(detect(path, br#"{"instance_id": "a", "history": []}"#));
        assert!(detect(
            path,
            br#"{"instance_id": "a", "test_result": {"git_patch": "diff"#
        ));
        assert!(!detect(
            Path::new("preds.jsonl"),
            br#"{"instance_id": "a", "test_result": {"git_patch": "diff"#
        ));
        assert!(!detect(
            path,
            br#"{"instance_id": "a__b-1", "model_patch": "diff"}"#
        ));
        assert!(!detect(
            Path::new("output.json"),
            br#"{"instance_id": "a", "history": []}"#
        ));
        assert!(claims_file_name("output.jsonl"));
        assert!(!claims_file_name("output.swebench.jsonl"));
    }

    #[test]
    fn the_utc_offset_comes_from_provider_times() {
        let call = |end_ms, created_s| Call {
            end_ms: Some(end_ms),
            created_s: Some(created_s),
            ..Call::default()
        };
        // 16:32:57.8 local (UTC+8) for a response created at 08:32:54 UTC.
        let local = iso_time_to_unix_ms("2025-04-30T16:32:57.821635").unwrap();
        assert_eq!(
            infer_utc_offset_ms(&[call(local, 1_746_001_974)]),
            Some(8 * 3_600_000)
        );
        assert_eq!(
            infer_utc_offset_ms(&[call(1_746_001_977_000, 1_746_001_974)]),
            None
        );
        assert_eq!(infer_utc_offset_ms(&[call(0, 1_746_001_974)]), None);
    }

    #[test]
    fn lines_stand_alone() {
        let results =
            read_all("{\"instance_id\":\"x\",\"history\":[]}\n[1]\n{\"instance_id\":\"y\"}\n");
        assert_eq!(results.len(), 3);
        assert_eq!(results[0].as_ref().unwrap().session.session_id, "x");
        assert_eq!(
            results[1].as_ref().unwrap_err().to_string(),
            "output.jsonl:2: expected a JSON object per line, found an array"
        );
        assert_eq!(
            results[2].as_ref().unwrap_err().to_string(),
            "output.jsonl:3: record has no `history`: not an OpenHands instance"
        );
    }

    #[test]
    fn completion_logs_are_looked_for_beside_the_file_only() {
        assert_eq!(
            completions_directory("runs/output.jsonl", "a__b-1"),
            Some(PathBuf::from("runs/llm_completions/a__b-1"))
        );
        assert_eq!(completions_directory("output.jsonl", "../x"), None);
        assert_eq!(completions_directory("output.jsonl", ".."), None);
    }
}
