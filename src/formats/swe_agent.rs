//! SWE-agent trajectories (`<instance_id>.traj`, one JSON document per instance).
//!
//! Producer: SWE-agent/SWE-agent. Versions seen: 0.x (`history` plus `trajectory` steps with
//! `action`, `observation`, `response`, `thought`, `state`), 1.0 (steps add `execution_time` and
//! `messages`: the processed history *after* the step, so the input of the *next* step), ≥ 1.1
//! (steps carry `query`, the exact input of the step, and `extra_info`). A `RetryAgent` run adds
//! `attempts`, one full trajectory per attempt, and copies the chosen one to the top level. Shape:
//! `{"trajectory": [{"response", "thought", "action", "observation", "execution_time", "state",
//! "query"|"messages"}], "history": [{"role", "content", "agent", "message_type", "is_demo",
//! "tool_calls", "tool_call_ids"}], "info": {"exit_status", "submission", "model_stats",
//! "swe_agent_version"}, "replay_config": {…} | "<the same as JSON text>", "environment"}`.
//!
//! A turn is a `trajectory[]` step (one LLM call). Its output is the step's assistant message in
//! `history` (with its `tool_calls` in function-calling runs), matched in order by `response`; a
//! step without one (a requery after a format error, which SWE-agent keeps out of the history)
//! gets an assistant message built from its `response`. Its request is, by decreasing fidelity:
//! `query` (exact); the previous step's `messages` (reconstructed: the history as the agent's
//! history processors left it, e.g. with old observations elided); the `history` before the
//! output (reconstructed, unprocessed). Demonstrations (`is_demo`) were sent to the model, so they
//! stay in rebuilt contexts, but their assistant messages are not calls. Entries of another agent
//! (an `agent` other than the one that answers) are left out of rebuilt contexts, as SWE-agent
//! filters them before each query.
//!
//! Quirks: usage exists only as per-instance totals (`info.model_stats`); replayed demonstrations
//! log zeros there, so zero token counts mean "not counted" and are left out, as are a zero cost
//! and zero `api_calls`. History tool results carry `tool_call_ids`; the OpenAI `tool_call_id` (the
//! first id, which is what SWE-agent sends) is added. In ≥ 1.1 a step with an empty `query` is an
//! automatic submission after an error, not an LLM call. The tool schemas of function-calling runs
//! live in SWE-agent's tool bundles, not in the file, so turns have no tool set. A `RetryAgent`
//! file gives one session per attempt (`<file>/attempt_<i>`), each with the run's top-level
//! `info` (the chosen attempt, the totals of all attempts and the reviewer) as `retry_info` in
//! its metadata; the top level's copy of the chosen attempt is not read twice.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::chat::{ChatMessage, parse_message};
use super::json::{RawObject, RecordText, as_count, kind_of};
use super::mini_swe_agent::swe_bench_repository;
use super::{FormatDescription, FormatError, SourceUnit, file_name, file_stem_id};
use crate::schema::{Exactness, Message, SessionInfo, ToolCallRow, Trajectory, Turn};

const AGENT: &str = "swe-agent";
const SUFFIXES: [&str; 1] = [".traj"];
/// SWE-agent's stand-in models, which replay a file or ask a human instead of calling an LLM.
const PSEUDO_MODELS: [&str; 4] = ["replay", "human", "human_thought", "instant_empty_submit"];

/// What the format gives.
pub const DESCRIPTION: FormatDescription = FormatDescription {
    name: "swe-agent",
    producer: "SWE-agent 0.x, 1.0 and ≥ 1.1 (SWE-agent/SWE-agent), RetryAgent attempts as sessions",
    files: "<instance_id>/<instance_id>.traj",
    context: "exact from a step's `query` (≥ 1.1); reconstructed from the previous step's `messages` (1.0) or from `history` (0.x)",
    reported_counts: "per-instance totals only (`info.model_stats`: tokens sent and received, cost, API calls); zeros of replayed runs left out",
    timing: "tool run time per step (`execution_time`); no wall-clock times",
};

/// Whether a file looks like a SWE-agent trajectory: a `.traj` name and a JSON object with its
/// keys.
pub fn detect(path: &Path, head: &[u8]) -> bool {
    let name = file_name(path);
    if !claims_file_name(&name) {
        return false;
    }
    let head = String::from_utf8_lossy(head);
    head.trim_start().starts_with('{')
        && ["\"trajectory\"", "\"history\"", "\"attempts\"", "\"info\""]
            .iter()
            .any(|key| head.contains(key))
}

/// Whether a file name is one this format usually has.
pub fn claims_file_name(name: &str) -> bool {
    Path::new(name)
        .extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("traj"))
}

/// Reads one trajectory file: one session, or one per `RetryAgent` attempt.
pub fn read(unit: SourceUnit) -> impl Iterator<Item = Result<Trajectory, FormatError>> + Send {
    std::iter::once_with(move || read_file(&unit)).flatten()
}

fn read_file(unit: &SourceUnit) -> Vec<Result<Trajectory, FormatError>> {
    let record = match RecordText::decode(&unit.data, &unit.path, unit.first_line) {
        Ok(record) => record,
        Err(error) => return vec![Err(error)],
    };
    let object = match parse_document(&record) {
        Ok(object) => object,
        Err(error) => return vec![Err(error)],
    };
    let stem = file_stem_id(&unit.path, &SUFFIXES);
    match array_items(&record, object.get("attempts"), "attempts") {
        Err(error) => vec![Err(error)],
        Ok(Some(attempts)) if !attempts.is_empty() => {
            // The top level repeats the chosen attempt; its `info` holds the run's totals.
            let retry_info = object.get("info");
            attempts
                .iter()
                .enumerate()
                .map(|(i, raw)| {
                    let path = format!("attempts[{i}]");
                    let attempt = parse_object(&record, raw, &path)?;
                    read_session(
                        &record,
                        &attempt,
                        &path,
                        format!("{stem}/attempt_{i}"),
                        retry_info,
                    )
                })
                .collect()
        }
        Ok(_) => vec![read_session(&record, &object, "", stem, None)],
    }
}

fn parse_document<'a>(record: &RecordText<'a>) -> Result<RawObject<'a>, FormatError> {
    match record.text.trim_start().as_bytes().first() {
        None => Err(record.error("empty file")),
        Some(b'{') => {
            serde_json::from_str(record.text).map_err(|error| record.json_error(&error, 0, ""))
        }
        Some(_) => Err(record.error("expected a SWE-agent trajectory (a JSON object)")),
    }
}

/// A history entry: the message (interned), and what SWE-agent keeps beside it.
struct Entry {
    index: u32,
    is_assistant: bool,
    is_demo: bool,
    agent: Option<String>,
    tool_calls: Vec<ToolCallRow>,
    reasoning: Option<String>,
}

/// The history, and what the agent that answers made of it.
struct History {
    entries: Vec<Entry>,
    /// The agent of the first non-demonstration assistant message.
    main_agent: Option<String>,
    /// Positions of the answering agent's own (non-demonstration) assistant messages: the calls.
    outputs: Vec<usize>,
}

impl History {
    fn read(
        record: &RecordText<'_>,
        items: Vec<&RawValue>,
        json_path: &str,
        interner: &mut MessageInterner,
    ) -> Result<History, FormatError> {
        let mut entries = Vec::with_capacity(items.len());
        for (i, raw) in items.into_iter().enumerate() {
            let parsed = parse_entry(record, raw, &format!("{json_path}[{i}]"))?;
            let is_assistant = parsed.chat.message.role == "assistant";
            entries.push(Entry {
                index: interner.intern(parsed.chat.message),
                is_assistant,
                is_demo: parsed.is_demo,
                agent: parsed.agent,
                tool_calls: parsed.chat.tool_calls,
                reasoning: parsed.chat.reasoning.or(parsed.thinking),
            });
        }
        let main_agent = entries
            .iter()
            .find(|e| e.is_assistant && !e.is_demo)
            .and_then(|e| e.agent.clone());
        let mut history = History {
            entries,
            main_agent,
            outputs: Vec::new(),
        };
        history.outputs = (0..history.entries.len())
            .filter(|&i| {
                let entry = &history.entries[i];
                entry.is_assistant && !entry.is_demo && history.in_context(entry)
            })
            .collect();
        Ok(history)
    }

    /// Whether the answering agent sends this entry (SWE-agent filters on `agent`).
    fn in_context(&self, entry: &Entry) -> bool {
        match (&entry.agent, &self.main_agent) {
            (Some(agent), Some(main)) => agent == main,
            _ => true,
        }
    }

    /// The request rebuilt from the entries before `end`.
    fn context(&self, end: usize) -> Vec<u32> {
        self.entries[..end.min(self.entries.len())]
            .iter()
            .filter(|e| self.in_context(e))
            .map(|e| e.index)
            .collect()
    }

    /// A turn answered by the entry at `position`.
    fn turn(&self, position: usize, context: Vec<u32>, exactness: Exactness) -> Turn {
        let entry = &self.entries[position];
        let mut turn = Turn::new(context, Some(entry.index), exactness);
        turn.output_tool_calls.clone_from(&entry.tool_calls);
        turn.output_reasoning.clone_from(&entry.reasoning);
        turn
    }
}

fn read_session(
    record: &RecordText<'_>,
    object: &RawObject<'_>,
    prefix: &str,
    session_id: String,
    retry_info: Option<&RawValue>,
) -> Result<Trajectory, FormatError> {
    let history_path = child(prefix, "history");
    let steps_path = child(prefix, "trajectory");
    let history_raw = array_items(record, object.get("history"), &history_path)?;
    let steps_raw = array_items(record, object.get("trajectory"), &steps_path)?;
    if history_raw.is_none() && steps_raw.is_none() {
        let at = if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}: ")
        };
        return Err(record.error(format!(
            "{at}not a SWE-agent trajectory: no `trajectory` or `history`"
        )));
    }
    let mut session = session_info(record, object, prefix, session_id)?;
    let mut interner = MessageInterner::default();
    let history = History::read(
        record,
        history_raw.unwrap_or_default(),
        &history_path,
        &mut interner,
    )?;
    let steps = steps_raw
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(k, raw)| parse_object(record, raw, &format!("{steps_path}[{k}]")))
        .collect::<Result<Vec<_>, _>>()?;
    let mut extra = Vec::new();
    let turns = if steps.is_empty() {
        // A history without steps: every answer of the agent is a call.
        history
            .outputs
            .iter()
            .map(|&position| {
                let mut turn = history.turn(
                    position,
                    history.context(position),
                    Exactness::Reconstructed,
                );
                turn.model.clone_from(&session.model);
                turn
            })
            .collect()
    } else {
        let mut reader = StepReader {
            record,
            steps: &steps,
            steps_path: &steps_path,
            history: &history,
            interner: &mut interner,
            cursor: 0,
        };
        let (turns, without_query) = reader.turns(session.model.as_ref())?;
        if without_query > 0 {
            extra.push(("steps_without_query", without_query.to_string()));
        }
        turns
    };
    if let Some(info) = retry_info {
        extra.insert(0, ("retry_info", info.get().to_owned()));
    }
    session.metadata_json = with_fields(
        object
            .to_json_without(&["trajectory", "history", "attempts"])
            .as_deref(),
        &extra,
    );
    Ok(Trajectory {
        session,
        messages: interner.into_messages(),
        tool_sets: Vec::new(),
        turns,
    })
}

/// Turns from `trajectory[]` steps, matched in order to the history's answers.
struct StepReader<'r, 'a> {
    record: &'r RecordText<'a>,
    steps: &'r [RawObject<'a>],
    steps_path: &'r str,
    history: &'r History,
    interner: &'r mut MessageInterner,
    /// The next unmatched entry of `history.outputs`.
    cursor: usize,
}

impl StepReader<'_, '_> {
    /// The turns, and how many steps were no LLM call (an empty `query`).
    fn turns(&mut self, model: Option<&String>) -> Result<(Vec<Turn>, u64), FormatError> {
        let has_query = self.steps.iter().any(|step| step.get("query").is_some());
        let mut turns = Vec::with_capacity(self.steps.len());
        let mut without_query = 0_u64;
        for k in 0..self.steps.len() {
            match self.turn(k, has_query)? {
                Some(mut turn) => {
                    turn.model = model.cloned();
                    turns.push(turn);
                }
                None => without_query += 1,
            }
        }
        Ok((turns, without_query))
    }

    /// Step `k`'s turn; `None` for an automatic submission (an empty `query` in a file that has
    /// them), which calls no model.
    fn turn(&mut self, k: usize, has_query: bool) -> Result<Option<Turn>, FormatError> {
        let (record, history) = (self.record, self.history);
        let step = &self.steps[k];
        let path = format!("{}[{k}]", self.steps_path);
        let response = string_field(step.get("response"));
        let matched = history
            .outputs
            .get(self.cursor)
            .copied()
            .filter(|&position| {
                response.is_none()
                    || self
                        .interner
                        .get(history.entries[position].index)
                        .and_then(|m| m.content.as_deref())
                        == response.as_deref()
            });
        if matched.is_some() {
            self.cursor += 1;
        }
        let query = array_items(record, step.get("query"), &format!("{path}.query"))?;
        if has_query && query.as_ref().is_some_and(Vec::is_empty) {
            return Ok(None);
        }
        let (context, exactness) = match query.filter(|items| !items.is_empty()) {
            Some(items) => (
                intern_list(record, self.interner, &items, &format!("{path}.query"))?,
                Exactness::Exact,
            ),
            None => (self.rebuilt_context(k, matched)?, Exactness::Reconstructed),
        };
        let mut turn = if let Some(position) = matched {
            history.turn(position, context, exactness)
        } else {
            // Not in the history (a requery): the step's own response is the output.
            let output = response.map(|text| {
                self.interner.intern(Message {
                    role: "assistant".to_owned(),
                    content: Some(text),
                    fields_json: None,
                    token_texts: Vec::new(),
                    carries_reasoning: false,
                })
            });
            Turn::new(context, output, exactness)
        };
        if let Some(reasoning) =
            string_field(step.get("reasoning_content")).filter(|text| !text.is_empty())
        {
            turn.output_reasoning = Some(reasoning);
        }
        turn.tool_delay_ms_after = number_field(step.get("execution_time"))
            .map(|seconds| seconds * 1000.0)
            .filter(|ms| ms.is_finite() && *ms >= 0.0);
        turn.metadata_json = step.to_json_without(&["query", "messages"]);
        Ok(Some(turn))
    }

    /// Step `k`'s request without a `query`: the previous step's `messages` (1.0), else the
    /// history before the step's answer.
    fn rebuilt_context(
        &mut self,
        k: usize,
        matched: Option<usize>,
    ) -> Result<Vec<u32>, FormatError> {
        if let Some(j) = k.checked_sub(1) {
            let path = format!("{}[{j}].messages", self.steps_path);
            if let Some(items) = array_items(self.record, self.steps[j].get("messages"), &path)? {
                return intern_list(self.record, self.interner, &items, &path);
            }
        }
        let end = matched
            .or_else(|| self.history.outputs.get(self.cursor).copied())
            .unwrap_or(self.history.entries.len());
        Ok(self.history.context(end))
    }
}

fn session_info(
    record: &RecordText<'_>,
    object: &RawObject<'_>,
    prefix: &str,
    session_id: String,
) -> Result<SessionInfo, FormatError> {
    let mut session = SessionInfo {
        session_id,
        agent: Some(AGENT.to_owned()),
        ..SessionInfo::default()
    };
    let info = match object.get("info") {
        Some(raw) if raw.get().starts_with('{') => {
            Some(record.parse::<Value>(raw, &child(prefix, "info"))?)
        }
        Some(raw) if raw.get() == "null" => None,
        Some(raw) => {
            return Err(record.error_at(
                raw,
                child(prefix, "info"),
                format!("expected an object, found {}", kind_of(raw)),
            ));
        }
        None => None,
    };
    // 1.x writes the run configuration as JSON text; some versions as an object.
    let config = object
        .get("replay_config")
        .and_then(|raw| match raw.get().as_bytes().first() {
            Some(b'{') => serde_json::from_str::<Value>(raw.get()).ok(),
            Some(b'"') => serde_json::from_str::<String>(raw.get())
                .ok()
                .and_then(|text| serde_json::from_str::<Value>(&text).ok()),
            _ => None,
        });
    if let Some(info) = &info {
        let text = |pointer: &str| {
            info.pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        session.exit_status = text("/exit_status");
        session.agent_version = text("/swe_agent_version");
        if let Some(stats) = info.get("model_stats") {
            let count = |key: &str| stats.get(key).and_then(as_count);
            let (sent, received) = (count("tokens_sent"), count("tokens_received"));
            // Replayed and hand-made runs log zeros: no tokens were counted.
            if sent.unwrap_or(0) > 0 || received.unwrap_or(0) > 0 {
                session.totals.input = sent;
                session.totals.output = received;
            }
            session.cost_usd = ["instance_cost", "total_cost"]
                .iter()
                .find_map(|key| stats.get(*key).and_then(Value::as_f64))
                .filter(|cost| *cost > 0.0);
            session.api_calls = count("api_calls").filter(|calls| *calls > 0);
        }
    }
    if let Some(config) = &config {
        session.model = [
            "/agent/model/name",
            "/agent/model/model_name",
            "/agent/agent_configs/0/model/name",
        ]
        .iter()
        .find_map(|pointer| config.pointer(pointer).and_then(Value::as_str))
        .filter(|name| !name.is_empty() && !PSEUDO_MODELS.contains(name))
        .map(str::to_owned);
        session.task_id = config
            .pointer("/problem_statement/id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .map(str::to_owned);
        session.repository = config
            .pointer("/env/repo/github_url")
            .and_then(Value::as_str)
            .and_then(github_repository);
    }
    let task_id = session
        .task_id
        .get_or_insert_with(|| session.session_id.clone());
    if session.repository.is_none() {
        // GitHub owners never contain `_`, so a renamed file (`run_name__repo-1`) gives none.
        session.repository = swe_bench_repository(task_id).filter(|repository| {
            repository
                .split('/')
                .next()
                .is_some_and(|o| !o.contains('_'))
        });
    }
    Ok(session)
}

/// `owner/name` from a GitHub URL (`https://github.com/owner/name(.git)`).
fn github_repository(url: &str) -> Option<String> {
    let rest = url
        .trim_end_matches('/')
        .trim_end_matches(".git")
        .split_once("github.com/")?
        .1;
    let (owner, name) = rest.split_once('/')?;
    (!owner.is_empty() && !name.is_empty() && !name.contains('/'))
        .then(|| format!("{owner}/{name}"))
}

/// What SWE-agent keeps beside a history message, read without copying the content again.
#[derive(Deserialize)]
struct EntryFields<'a> {
    #[serde(borrow, default)]
    is_demo: Option<&'a RawValue>,
    #[serde(borrow, default)]
    agent: Option<&'a RawValue>,
    #[serde(borrow, default)]
    tool_call_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    tool_call_ids: Option<&'a RawValue>,
    #[serde(borrow, default)]
    thinking_blocks: Option<&'a RawValue>,
}

struct ParsedEntry {
    chat: ChatMessage,
    is_demo: bool,
    agent: Option<String>,
    thinking: Option<String>,
}

/// Parses a history item (also the form of `query` and `messages` items) into an OpenAI message.
fn parse_entry(
    record: &RecordText<'_>,
    raw: &RawValue,
    json_path: &str,
) -> Result<ParsedEntry, FormatError> {
    let mut chat = parse_message(record, raw, json_path)?;
    let fields: EntryFields = record.parse(raw, json_path)?;
    if chat.message.role == "tool" && fields.tool_call_id.is_none() {
        let first = fields
            .tool_call_ids
            .and_then(|ids| serde_json::from_str::<Vec<&RawValue>>(ids.get()).ok())
            .and_then(|ids| ids.first().copied())
            .filter(|id| id.get().starts_with('"'));
        if let Some(id) = first {
            chat.message.fields_json = Some(with_leading_field(
                chat.message.fields_json.as_deref(),
                "tool_call_id",
                id.get(),
            ));
        }
    }
    let thinking = fields
        .thinking_blocks
        .and_then(|blocks| serde_json::from_str::<Vec<Value>>(blocks.get()).ok())
        .map(|blocks| {
            blocks
                .iter()
                .filter_map(|block| block.get("thinking").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n\n")
        })
        .filter(|text| !text.is_empty());
    Ok(ParsedEntry {
        chat,
        is_demo: fields.is_demo.is_some_and(|v| v.get() == "true"),
        agent: fields
            .agent
            .and_then(|v| serde_json::from_str::<String>(v.get()).ok()),
        thinking,
    })
}

fn intern_list(
    record: &RecordText<'_>,
    interner: &mut MessageInterner,
    items: &[&RawValue],
    json_path: &str,
) -> Result<Vec<u32>, FormatError> {
    items
        .iter()
        .enumerate()
        .map(|(i, raw)| {
            let parsed = parse_entry(record, raw, &format!("{json_path}[{i}]"))?;
            Ok(interner.intern(parsed.chat.message))
        })
        .collect()
}

/// The elements of an array value; `None` when absent or null.
fn array_items<'a>(
    record: &RecordText<'a>,
    raw: Option<&'a RawValue>,
    json_path: &str,
) -> Result<Option<Vec<&'a RawValue>>, FormatError> {
    match raw {
        None => Ok(None),
        Some(raw) if raw.get() == "null" => Ok(None),
        Some(raw) if raw.get().starts_with('[') => record.parse(raw, json_path).map(Some),
        Some(raw) => Err(record.error_at(
            raw,
            json_path,
            format!("expected an array, found {}", kind_of(raw)),
        )),
    }
}

fn parse_object<'a>(
    record: &RecordText<'a>,
    raw: &'a RawValue,
    json_path: &str,
) -> Result<RawObject<'a>, FormatError> {
    if raw.get().starts_with('{') {
        record.parse(raw, json_path)
    } else {
        Err(record.error_at(
            raw,
            json_path,
            format!("expected an object, found {}", kind_of(raw)),
        ))
    }
}

fn string_field(raw: Option<&RawValue>) -> Option<String> {
    raw.filter(|raw| raw.get().starts_with('"'))
        .and_then(|raw| serde_json::from_str(raw.get()).ok())
}

fn number_field(raw: Option<&RawValue>) -> Option<f64> {
    raw.and_then(|raw| serde_json::from_str::<f64>(raw.get()).ok())
}

fn child(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

/// A JSON object text with `key` (its value given as JSON text) added first.
fn with_leading_field(fields: Option<&str>, key: &str, value_json: &str) -> String {
    let entry = format!(
        "{}:{value_json}",
        serde_json::to_string(key).unwrap_or_default()
    );
    match fields.and_then(|f| f.strip_prefix('{')) {
        Some(rest) => format!("{{{entry},{rest}"),
        None => format!("{{{entry}}}"),
    }
}

/// A JSON object text with `extra` keys (values given as JSON text) added last.
fn with_fields(object: Option<&str>, extra: &[(&str, String)]) -> Option<String> {
    let mut text = object
        .and_then(|o| o.strip_suffix('}'))
        .map_or_else(|| "{".to_owned(), str::to_owned);
    for (key, value) in extra {
        if text.len() > 1 {
            text.push(',');
        }
        text.push_str(&serde_json::to_string(key).unwrap_or_default());
        text.push(':');
        text.push_str(value);
    }
    (text.len() > 1).then(|| text + "}")
}

/// Stores each distinct message once, for logs that repeat a call's whole request: identical
/// messages (role, content and every other field) get one index, so consecutive requests share
/// their indexes. Fields are compared as JSON values, not bytes: a log that nests its copies at
/// different depths indents them differently. The first copy is the one kept. Indexes follow
/// first appearance, so output is deterministic.
#[derive(Debug, Default)]
pub(crate) struct MessageInterner {
    messages: Vec<Message>,
    /// Each message's fields in compact JSON, the form they are compared in.
    fields: Vec<Option<String>>,
    by_hash: HashMap<u64, Vec<u32>>,
}

impl MessageInterner {
    /// The index of `message`, stored now if it is new.
    pub(crate) fn intern(&mut self, message: Message) -> u32 {
        let fields = message.fields_json.as_deref().map(|text| {
            serde_json::from_str::<Value>(text).map_or_else(|_| text.to_owned(), |v| v.to_string())
        });
        let mut hasher = DefaultHasher::new();
        message.role.hash(&mut hasher);
        message.content.hash(&mut hasher);
        fields.hash(&mut hasher);
        let candidates = self.by_hash.entry(hasher.finish()).or_default();
        let same = |&&i: &&u32| {
            let i = i as usize;
            self.messages.get(i).is_some_and(|stored| {
                stored.role == message.role && stored.content == message.content
            }) && self.fields.get(i) == Some(&fields)
        };
        if let Some(&found) = candidates.iter().find(same) {
            return found;
        }
        let index = u32::try_from(self.messages.len()).unwrap_or(u32::MAX);
        candidates.push(index);
        self.messages.push(message);
        self.fields.push(fields);
        index
    }

    /// The message at `index`.
    pub(crate) fn get(&self, index: u32) -> Option<&Message> {
        self.messages.get(index as usize)
    }

    /// The distinct messages, in order of first appearance.
    pub(crate) fn into_messages(self) -> Vec<Message> {
        self.messages
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_text(text: &str) -> Vec<Result<Trajectory, FormatError>> {
        read(SourceUnit {
            path: "runs/django__django-11099.traj".into(),
            data: text.as_bytes().to_vec(),
            first_line: 1,
        })
        .collect()
    }

    #[test]
    fn detection_needs_the_name_and_the_keys() {
        let head = b"{\n  \"environment\": \"main\",\n  \"trajectory\": [";
        assert!(detect(Path::new("a/x.traj"), head));
        assert!(!detect(Path::new("a/x.traj.json"), head));
        assert!(!detect(Path::new("a/all_preds.jsonl"), head));
        assert!(!detect(Path::new("a/x.traj"), b"[1, 2]"));
        assert!(!detect(Path::new("a/x.traj"), b"{\"instance_id\": 1}"));
    }

    #[test]
    fn history_only_runs_rebuild_each_request() {
        let text = r#"{"history": [
            {"role": "system", "content": "s", "agent": "primary"},
            {"role": "user", "content": "demo", "agent": "primary", "is_demo": true},
            {"role": "user", "content": "task", "agent": "primary"},
            {"role": "assistant", "content": "a1", "agent": "primary"},
            {"role": "user", "content": "sub", "agent": "subroutine"},
            {"role": "user", "content": "o1", "agent": "primary"},
            {"role": "assistant", "content": "a2", "agent": "primary"}],
          "trajectory": [{"response": "a1", "execution_time": 0.5}, {"response": "a2"}],
          "info": {"exit_status": "submitted", "model_stats": {"tokens_sent": 0,
            "tokens_received": 0, "instance_cost": 0, "api_calls": 2}}}"#;
        let trajectory = read_text(text).remove(0).unwrap();
        assert_eq!(trajectory.session.session_id, "django__django-11099");
        assert_eq!(
            trajectory.session.repository.as_deref(),
            Some("django/django")
        );
        assert_eq!(trajectory.session.totals.input, None);
        assert_eq!(trajectory.session.cost_usd, None);
        assert_eq!(trajectory.session.api_calls, Some(2));
        let turns = &trajectory.turns;
        assert_eq!(turns.len(), 2);
        assert_eq!(
            (turns[0].context.clone(), turns[0].output),
            (vec![0, 1, 2], Some(3))
        );
        assert_eq!(turns[0].tool_delay_ms_after, Some(500.0));
        // The sub-agent's message is not part of the main agent's request.
        assert_eq!(turns[1].context, vec![0, 1, 2, 3, 5]);
        assert_eq!(turns[1].output, Some(6));
        assert!(
            turns
                .iter()
                .all(|t| t.exactness == Exactness::Reconstructed)
        );
    }

    #[test]
    fn queries_are_exact_and_requeries_keep_their_own_output() {
        let text = r#"{"history": [
            {"role": "system", "content": "s", "agent": "main"},
            {"role": "assistant", "content": "fixed", "agent": "main",
             "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "bash", "arguments": "{}"}}]},
            {"role": "tool", "content": "out", "agent": "main", "tool_call_ids": ["c1"]}],
          "trajectory": [
            {"response": "bad", "query": [{"role": "system", "content": "s", "agent": "main"}]},
            {"response": "fixed", "query": [{"role": "system", "content": "s", "agent": "main"},
              {"role": "assistant", "content": "bad"}, {"role": "user", "content": "format error"}],
             "reasoning_content": "think"},
            {"response": "Exit due to cost limit", "query": []}]}"#;
        let trajectory = read_text(text).remove(0).unwrap();
        assert_eq!(trajectory.turns.len(), 2);
        let (first, second) = (&trajectory.turns[0], &trajectory.turns[1]);
        assert_eq!(first.exactness, Exactness::Exact);
        assert_eq!(first.context, vec![0]);
        let output = &trajectory.messages[first.output.unwrap() as usize];
        assert_eq!(output.content.as_deref(), Some("bad"));
        assert_eq!(second.output, Some(1));
        assert_eq!(second.output_tool_calls[0].name, "bash");
        assert_eq!(second.output_reasoning.as_deref(), Some("think"));
        assert_eq!(
            trajectory.messages[2].fields_json.as_deref(),
            Some(r#"{"tool_call_id":"c1","agent":"main","tool_call_ids":["c1"]}"#)
        );
        assert_eq!(
            trajectory.session.metadata_json.as_deref(),
            Some(r#"{"steps_without_query":1}"#)
        );
    }

    #[test]
    fn bad_files_are_located() {
        let empty = read_text("  \n").remove(0).unwrap_err();
        assert_eq!(
            empty.to_string(),
            "runs/django__django-11099.traj:1: empty file"
        );
        let step = read_text("{\"trajectory\": [1]}").remove(0).unwrap_err();
        assert_eq!(
            step.to_string(),
            "runs/django__django-11099.traj:1:17: trajectory[0]: expected an object, found a number"
        );
        let neither = read_text("{\"info\": {}}").remove(0).unwrap_err();
        assert!(
            neither.message.contains("no `trajectory` or `history`"),
            "{neither}"
        );
    }

    #[test]
    fn interning_shares_identical_messages() {
        let mut interner = MessageInterner::default();
        let message = |content: &str| Message {
            role: "user".into(),
            content: Some(content.into()),
            fields_json: None,
            token_texts: Vec::new(),
            carries_reasoning: false,
        };
        assert_eq!(interner.intern(message("a")), 0);
        assert_eq!(interner.intern(message("b")), 1);
        assert_eq!(interner.intern(message("a")), 0);
        let indented = Message {
            fields_json: Some("{\"x\": [1,\n   2]}".into()),
            ..message("a")
        };
        assert_eq!(interner.intern(indented.clone()), 2);
        let flat = Message {
            fields_json: Some("{\"x\":[1,2]}".into()),
            ..message("a")
        };
        assert_eq!(interner.intern(flat), 2);
        assert_eq!(interner.into_messages()[2], indented);
    }
}
