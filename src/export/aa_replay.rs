//! `--to aa-replay`: an aa-agentperf-local replay directory, `manifest.json` plus
//! `traces/<task>.jsonl` with one line per turn (the shape `formats::aa_replay` reads; fields in
//! `../shared/docs/agentperf.md`), runnable by `agentperf-local run`.
//!
//! A session ingested from an AA replay is written back as it was read: its lines are each
//! turn's `metadata_json` (the line's keys without a column, original values) plus `messages`,
//! `tools` and every column-backed key the metadata lacks, from its column, and its manifest task
//! is the one the reader kept in the session metadata. So replay → ingest → export gives the same
//! JSON values line by line. Any other session gets every field computed from its rows: token
//! targets are the reported output tokens, else the counted ones; the tool delay after a turn is
//! `tool_delay_ms_after` (0 when unknown), recorded on its first tool call, since agentperf-local
//! sleeps the sum of `recorded_tool_calls_after` durations and trajkit knows the delay per turn,
//! not per call.

use serde_json::{Map, Value};

use super::output::OutputDirectory;
use super::{
    ExportError, ExportFormat, ExportSummary, FileNames, input_tokens, output_tokens, require_text,
    session_metadata, turn_metadata,
};
use crate::dataset::{Dataset, SessionData};
use crate::schema::TurnRow;

/// The keys of a trace line in the order agentperf-local's own traces have them.
const LINE_KEYS: [&str; 16] = [
    "version",
    "turn_id",
    "task_id",
    "conversation_id",
    "conversation_idx",
    "messages",
    "tools",
    "target_output_tokens",
    "max_output_tokens",
    "simulated_tool_delay_ms_after",
    "recorded_tool_calls_after",
    "recorded_prompt_tokens",
    "recorded_completion_tokens",
    "recorded_total_tokens",
    "recorded_model_duration_ms",
    "source",
];

/// The AA source format's name, as `ingest` records it.
const SOURCE_FORMAT: &str = "aa-replay";

/// Writes every session as a trace, then the manifest.
pub(super) fn write(
    dataset: &Dataset,
    directory: &mut OutputDirectory,
    summary: &mut ExportSummary,
) -> Result<(), ExportError> {
    let mut names = FileNames::default();
    let mut tasks = Vec::new();
    // The manifest header of the AA replay the sessions came from, while they all agree.
    let mut header: Option<Option<Map<String, Value>>> = None;
    for session in dataset.sessions() {
        let data = dataset.load(session)?;
        require_text(ExportFormat::AaReplay, &data)?;
        let from_replay = session.source_format == SOURCE_FORMAT;
        let entry = from_replay.then(|| manifest_entry(&data)).flatten();
        let wanted = if from_replay {
            session.task_id.as_deref().unwrap_or(&session.session_id)
        } else {
            &session.session_id
        };
        let name = names.name(wanted);
        let trace = format!("traces/{name}.jsonl");
        let mut file = directory.create_file(&trace)?;
        let mut totals = TaskTotals::default();
        for (position, turn) in data.turns.iter().enumerate() {
            let line = if from_replay {
                replay_line(&data, position, turn, &name, wanted)?
            } else {
                computed_line(&data, position, turn, &name)?
            };
            let Some(line) = line else {
                summary.skip("turn sends no messages");
                continue;
            };
            totals.add(&line);
            file.write_line(&Value::Object(line))?;
            summary.turns += 1;
        }
        file.finish()?;
        summary.sessions += 1;
        let (entry_header, task) = match entry {
            Some((entry_header, mut task)) => {
                task.insert("trace".to_owned(), Value::from(trace));
                if name != wanted {
                    task.insert("task_id".to_owned(), Value::from(name.clone()));
                }
                (Some(entry_header), task)
            }
            None => (None, totals.task(&data, &name, &trace)),
        };
        header = match header {
            None => Some(entry_header),
            Some(known) if known == entry_header => Some(known),
            Some(_) => Some(None),
        };
        tasks.push(Value::Object(task));
    }
    let mut manifest = header.flatten().unwrap_or_else(|| {
        let name = &dataset.reader().manifest().name;
        let mut header = Map::new();
        header.insert("name".to_owned(), Value::from(name.clone()));
        header.insert(
            "source".to_owned(),
            Value::from(format!("trajkit export of dataset `{name}`")),
        );
        header.insert("mode".to_owned(), Value::from("single_user_agentic_replay"));
        header.insert("version".to_owned(), Value::from(1));
        header
    });
    manifest.insert("tasks".to_owned(), Value::Array(tasks));
    let mut text = serde_json::to_string_pretty(&Value::Object(manifest)).unwrap_or_default();
    text.push('\n');
    let mut file = directory.create_file("manifest.json")?;
    file.write(text.as_bytes())?;
    file.finish()
}

/// The manifest header (its keys but `tasks`) and task entry an AA session was read with.
fn manifest_entry(data: &SessionData) -> Option<(Map<String, Value>, Map<String, Value>)> {
    let metadata = session_metadata(&data.session);
    let entry = metadata.get("manifests")?.as_array()?.first()?;
    let header = entry.get("manifest")?.as_object()?.clone();
    let task = entry.get("task")?.as_object()?.clone();
    Some((header, task))
}

/// An AA session's line, rebuilt as the reader split it: metadata first, columns where the
/// metadata lacks a key.
fn replay_line(
    data: &SessionData,
    position: usize,
    turn: &TurnRow,
    name: &str,
    wanted: &str,
) -> Result<Option<Map<String, Value>>, ExportError> {
    let mut metadata = turn_metadata(&data.session, turn)?;
    let request = data.request(position)?;
    let mut columns = Map::new();
    columns.insert("messages".to_owned(), Value::Array(request.messages));
    if turn.tool_set_index.is_some() {
        columns.insert("tools".to_owned(), Value::Array(request.tools));
    }
    if let Some(task_id) = &data.session.task_id {
        columns.insert("task_id".to_owned(), Value::from(task_id.clone()));
    }
    columns.insert("conversation_idx".to_owned(), Value::from(turn.turn_index));
    let optional = [
        (
            "recorded_prompt_tokens",
            turn.input_tokens_reported.map(Value::from),
        ),
        (
            "recorded_completion_tokens",
            turn.output_tokens_reported.map(Value::from),
        ),
        (
            "recorded_model_duration_ms",
            turn.model_latency_ms.map(Value::from),
        ),
        (
            "simulated_tool_delay_ms_after",
            turn.tool_delay_ms_after.map(Value::from),
        ),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            columns.insert(key.to_owned(), value);
        }
    }
    let mut line = Map::new();
    for key in LINE_KEYS {
        if let Some(value) = metadata.shift_remove(key).or_else(|| columns.remove(key)) {
            line.insert(key.to_owned(), value);
        }
    }
    line.extend(metadata);
    if name != wanted {
        line.insert("task_id".to_owned(), Value::from(name.to_owned()));
    }
    Ok(Some(line))
}

/// A line computed from the turn's rows, for sessions from any other source.
fn computed_line(
    data: &SessionData,
    position: usize,
    turn: &TurnRow,
    name: &str,
) -> Result<Option<Map<String, Value>>, ExportError> {
    let request = data.request(position)?;
    if request.messages.is_empty() {
        return Ok(None);
    }
    let mut line = Map::new();
    line.insert("version".to_owned(), Value::from(1));
    line.insert(
        "turn_id".to_owned(),
        Value::from(format!("{name}:{position:04}")),
    );
    line.insert("task_id".to_owned(), Value::from(name.to_owned()));
    line.insert(
        "conversation_id".to_owned(),
        Value::from(data.session.session_id.clone()),
    );
    line.insert("conversation_idx".to_owned(), Value::from(position));
    line.insert("messages".to_owned(), Value::Array(request.messages));
    line.insert("tools".to_owned(), Value::Array(request.tools));
    let output = output_tokens(turn);
    if let Some(output) = output {
        line.insert("target_output_tokens".to_owned(), Value::from(output));
    }
    let delay = turn.tool_delay_ms_after.unwrap_or(0.0);
    line.insert(
        "simulated_tool_delay_ms_after".to_owned(),
        super::milliseconds(delay),
    );
    line.insert(
        "recorded_tool_calls_after".to_owned(),
        Value::Array(recorded_calls(turn, delay)),
    );
    let input = input_tokens(turn);
    if let Some(input) = input {
        line.insert("recorded_prompt_tokens".to_owned(), Value::from(input));
    }
    if let Some(output) = output {
        line.insert("recorded_completion_tokens".to_owned(), Value::from(output));
    }
    if let (Some(input), Some(output)) = (input, output) {
        line.insert(
            "recorded_total_tokens".to_owned(),
            Value::from(input.saturating_add(output)),
        );
    }
    if let Some(latency) = turn.model_latency_ms {
        line.insert(
            "recorded_model_duration_ms".to_owned(),
            super::milliseconds(latency),
        );
    }
    Ok(Some(line))
}

/// The tool calls after a turn, the whole delay on the first; a delay without a call (agent
/// overhead) is one anonymous entry, so that the replay still waits it.
fn recorded_calls(turn: &TurnRow, delay: f64) -> Vec<Value> {
    let mut calls: Vec<Value> = turn
        .output_tool_calls
        .iter()
        .enumerate()
        .map(|(index, call)| {
            let mut entry = Map::new();
            let duration = if index == 0 { delay } else { 0.0 };
            entry.insert("duration_ms".to_owned(), super::milliseconds(duration));
            if let Some(id) = &call.id {
                entry.insert("tool_call_id".to_owned(), Value::from(id.clone()));
            }
            entry.insert("tool_name".to_owned(), Value::from(call.name.clone()));
            Value::Object(entry)
        })
        .collect();
    if calls.is_empty() && delay > 0.0 {
        let mut entry = Map::new();
        entry.insert("duration_ms".to_owned(), super::milliseconds(delay));
        calls.push(Value::Object(entry));
    }
    calls
}

/// A task's totals for its manifest entry, summed over the lines written.
#[derive(Debug, Default)]
struct TaskTotals {
    model_calls: u64,
    tool_calls: u64,
    tool_delay_ms: f64,
    required_context_tokens: Option<u64>,
}

impl TaskTotals {
    fn add(&mut self, line: &Map<String, Value>) {
        self.model_calls += 1;
        if let Some(calls) = line
            .get("recorded_tool_calls_after")
            .and_then(Value::as_array)
        {
            self.tool_calls += calls.len() as u64;
        }
        self.tool_delay_ms += line
            .get("simulated_tool_delay_ms_after")
            .and_then(Value::as_f64)
            .unwrap_or(0.0);
        // As agentperf-local's `convert`: the largest recorded prompt plus target.
        if let Some(prompt) = line.get("recorded_prompt_tokens").and_then(Value::as_u64) {
            let target = line
                .get("target_output_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            let demand = prompt.saturating_add(target);
            self.required_context_tokens = Some(
                self.required_context_tokens
                    .map_or(demand, |d| d.max(demand)),
            );
        }
    }

    fn task(&self, data: &SessionData, name: &str, trace: &str) -> Map<String, Value> {
        let session = &data.session;
        let mut task = Map::new();
        task.insert("task_id".to_owned(), Value::from(name.to_owned()));
        task.insert("trace".to_owned(), Value::from(trace.to_owned()));
        let recording = if session.source_file.is_empty() {
            session.session_id.clone()
        } else {
            session.source_file.clone()
        };
        task.insert("source_recording".to_owned(), Value::from(recording));
        task.insert("model_calls".to_owned(), Value::from(self.model_calls));
        task.insert("tool_calls".to_owned(), Value::from(self.tool_calls));
        task.insert(
            "total_recorded_tool_delay_ms".to_owned(),
            super::milliseconds(self.tool_delay_ms),
        );
        if let Some(agent) = &session.agent {
            task.insert("family".to_owned(), Value::from(agent.clone()));
        }
        if let Some(tokens) = self.required_context_tokens {
            task.insert("required_context_tokens".to_owned(), Value::from(tokens));
        }
        task
    }
}
