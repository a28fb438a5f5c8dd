//! `--to weka`: Weka / SemiAnalysis cc-traces (`callanjfox/kv-cache-tester`, AIPerf
//! `weka_trace`), one `<session>.json` per top-level session with its sub-agents nested as
//! `{"type": "subagent", "requests": [...]}` entries after the parent request that spawned them
//! (the shape `formats::weka` reads).
//!
//! A request is `{t, model, in, out, hash_ids, stop, api_time, think_time}`: `t` in seconds from
//! its agent's start on the trace clock (a sub-agent's from its spawn), `in`/`out` reported
//! tokens else counted, `hash_ids` full 64-token blocks (Weka lists whole blocks only; ids that
//! would end past `in` are dropped), `api_time` the model latency in s, `think_time` the previous
//! request's tool delay in s. A turn without both token figures is left out (the format requires
//! them). Sessions read from Weka traces get their other keys back from their metadata (`type`,
//! `input_types`, `think_time`, the trace's `tool_tokens`, `totals`, …).

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::output::OutputDirectory;
use super::{
    ExportError, ExportFormat, ExportSummary, FileNames, block_ids, input_tokens, output_tokens,
    session_metadata, turn_metadata,
};
use crate::dataset::{Dataset, SessionData};

/// Tokens per Weka hash block.
const BLOCK_SIZE: u32 = 64;

/// The Weka source format's name, as `ingest` records it.
const SOURCE_FORMAT: &str = "weka";

pub(super) fn write(
    dataset: &Dataset,
    directory: &mut OutputDirectory,
    summary: &mut ExportSummary,
) -> Result<(), ExportError> {
    let sessions = dataset.sessions();
    let position: HashMap<&str, usize> = sessions
        .iter()
        .enumerate()
        .map(|(index, session)| (session.session_id.as_str(), index))
        .collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); sessions.len()];
    let mut top_level = Vec::new();
    for (index, session) in sessions.iter().enumerate() {
        match session
            .parent_session_id
            .as_deref()
            .and_then(|parent| position.get(parent))
        {
            Some(&parent) if parent != index => children[parent].push(index),
            _ => top_level.push(index),
        }
    }
    let mut writer = Writer {
        dataset,
        children: &children,
        visited: vec![false; sessions.len()],
        summary,
    };
    let mut names = FileNames::default();
    // Sessions whose parent links form a cycle are reached by no top-level session: written as
    // top-level ones after the others, so that nothing is lost.
    let order: Vec<usize> = top_level.into_iter().chain(0..sessions.len()).collect();
    for index in order {
        if writer.visited[index] {
            continue;
        }
        let object = writer.trace(index)?;
        let name = names.name(&sessions[index].session_id);
        let mut text = serde_json::to_string_pretty(&Value::Object(object)).unwrap_or_default();
        text.push('\n');
        let mut file = directory.create_file(&format!("{name}.json"))?;
        file.write(text.as_bytes())?;
        file.finish()?;
    }
    Ok(())
}

struct Writer<'a> {
    dataset: &'a Dataset,
    children: &'a [Vec<usize>],
    visited: Vec<bool>,
    summary: &'a mut ExportSummary,
}

impl Writer<'_> {
    /// A top-level session's trace object.
    fn trace(&mut self, index: usize) -> Result<Map<String, Value>, ExportError> {
        let session = &self.dataset.sessions()[index];
        let data = self.dataset.load(session)?;
        let epoch = data.turns.iter().find_map(|turn| turn.request_time_unix_ms);
        let requests = self.requests(index, &data, 0.0, epoch)?;
        let mut object = Map::new();
        if session.source_format == SOURCE_FORMAT {
            object = session_metadata(session);
        } else {
            object.insert("id".to_owned(), Value::from(session.session_id.clone()));
            object.insert("models".to_owned(), Value::from(models(&data)));
            object.insert("block_size".to_owned(), Value::from(BLOCK_SIZE));
            // trajkit's ids hash the tokens themselves: equal ids mean equal prefixes in any
            // session of the dataset.
            object.insert("hash_id_scope".to_owned(), Value::from("global"));
        }
        object.insert("block_size".to_owned(), Value::from(BLOCK_SIZE));
        object.insert("requests".to_owned(), Value::Array(requests));
        Ok(object)
    }

    /// An agent's `requests`, its sub-agents placed after the request that spawned them.
    /// `clock_start_ms` is where the agent's `t` counts from on the trace clock; `epoch` the
    /// trace's first Unix time, for turns with absolute times.
    fn requests(
        &mut self,
        index: usize,
        data: &SessionData,
        clock_start_ms: f64,
        epoch: Option<i64>,
    ) -> Result<Vec<Value>, ExportError> {
        self.visited[index] = true;
        let from_weka = data.session.source_format == SOURCE_FORMAT;
        let ids = block_ids(ExportFormat::Weka, data, BLOCK_SIZE, false)?;
        let mut spawned: Vec<(Option<u32>, Value)> = Vec::new();
        for &child in &self.children[index] {
            if self.visited[child] {
                continue;
            }
            let session = &self.dataset.sessions()[child];
            let child_data = self.dataset.load(session)?;
            let metadata = session_metadata(session);
            let spawn_ms = metadata
                .get("t")
                .and_then(Value::as_f64)
                .map(|seconds| clock_start_ms + seconds * 1000.0)
                .or_else(|| {
                    child_data
                        .turns
                        .first()
                        .and_then(|turn| trace_time(turn, epoch))
                })
                .unwrap_or(clock_start_ms);
            let requests = self.requests(child, &child_data, spawn_ms, epoch)?;
            let mut entry = Map::new();
            entry.insert(
                "t".to_owned(),
                Value::from(seconds(spawn_ms - clock_start_ms)),
            );
            entry.insert("type".to_owned(), Value::from("subagent"));
            let agent_id = session
                .session_id
                .strip_prefix(&format!("{}/", data.session.session_id))
                .unwrap_or(&session.session_id)
                .to_owned();
            entry.insert("agent_id".to_owned(), Value::from(agent_id));
            if session.source_format == SOURCE_FORMAT {
                entry.extend(metadata);
            } else {
                entry.insert("models".to_owned(), Value::from(models(&child_data)));
            }
            entry.insert("requests".to_owned(), Value::Array(requests));
            spawned.push((session.parent_turn_index, Value::Object(entry)));
        }
        let mut requests = Vec::with_capacity(data.turns.len() + spawned.len());
        let mut spawned = spawned.into_iter().peekable();
        while let Some((_, entry)) = spawned.next_if(|(after, _)| after.is_none()) {
            requests.push(entry);
        }
        let mut previous_delay: Option<f64> = None;
        let mut written = 0u64;
        for (position, turn) in data.turns.iter().enumerate() {
            let delay = previous_delay.take();
            previous_delay = turn.tool_delay_ms_after;
            if let (Some(input), Some(output)) = (input_tokens(turn), output_tokens(turn)) {
                let mut request = Map::new();
                if let Some(time) = trace_time(turn, epoch) {
                    request.insert("t".to_owned(), Value::from(seconds(time - clock_start_ms)));
                }
                if let Some(model) = &turn.model {
                    request.insert("model".to_owned(), Value::from(model.clone()));
                }
                request.insert("in".to_owned(), Value::from(input));
                request.insert("out".to_owned(), Value::from(output));
                if let Some(ids) = ids.as_ref().and_then(|all| all.get(position)) {
                    request.insert("hash_ids".to_owned(), Value::from(ids.clone()));
                }
                if let Some(stop) = &turn.finish_reason {
                    request.insert("stop".to_owned(), Value::from(stop.clone()));
                }
                if let Some(latency) = turn.model_latency_ms {
                    request.insert("api_time".to_owned(), Value::from(seconds(latency)));
                }
                if let Some(delay) = delay {
                    request.insert("think_time".to_owned(), Value::from(seconds(delay)));
                }
                if from_weka {
                    request.extend(turn_metadata(&data.session, turn)?);
                }
                requests.push(Value::Object(request));
                written += 1;
            } else {
                self.summary.skip("no input or output token count");
            }
            let turn_index = u32::try_from(position).ok();
            while let Some((_, entry)) = spawned.next_if(|(after, _)| *after <= turn_index) {
                requests.push(entry);
            }
        }
        requests.extend(spawned.map(|(_, entry)| entry));
        self.summary.turns += written;
        self.summary.sessions += 1;
        Ok(requests)
    }
}

/// A turn's time in ms on its trace's clock: the relative time a trace gave, else its Unix time
/// from the trace's first.
#[expect(
    clippy::cast_precision_loss,
    reason = "differences of Unix ms stay far below 2^53"
)]
fn trace_time(turn: &crate::schema::TurnRow, epoch: Option<i64>) -> Option<f64> {
    turn.request_offset_ms.or_else(|| {
        turn.request_time_unix_ms
            .zip(epoch)
            .map(|(time, epoch)| (time - epoch) as f64)
    })
}

/// Milliseconds as seconds, rounded to the microsecond (the traces' own precision is ms).
fn seconds(milliseconds: f64) -> f64 {
    (milliseconds * 1000.0).round() / 1_000_000.0
}

/// The distinct models of a session's turns, in order of first use.
fn models(data: &SessionData) -> Vec<String> {
    let mut models: Vec<String> = Vec::new();
    for turn in &data.turns {
        if let Some(model) = &turn.model
            && !models.contains(model)
        {
            models.push(model.clone());
        }
    }
    if models.is_empty()
        && let Some(model) = &data.session.model
    {
        models.push(model.clone());
    }
    models
}
