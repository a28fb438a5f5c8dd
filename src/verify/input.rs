//! Reading the runs to verify and checking that they can be compared at all.
//!
//! A run is either a replay run directory (`run.json` + `requests.jsonl`, see
//! `replay::record`) or a plain JSON-lines file of outputs served by another tool (one
//! `{session_id, turn_index, content, reasoning?, tool_calls?, finish_reason, output_tokens,
//! logprobs?}` per line). Everything that makes a comparison meaningless (unreadable files,
//! records of turns the dataset does not have, references that did not answer every turn, runs
//! made with different prompts or sampling) is an [`InputError`], never a verdict: the command
//! exits 2.

use std::collections::HashMap;
use std::io::BufRead as _;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Map, Value};

use super::tools::ToolSchemas;
use crate::dataset::Dataset;
use crate::replay::record::{REQUESTS_FILE, RUN_FILE, RunManifest, ServedToolCall, TokenLogprob};
use crate::schema::SessionRow;
use crate::store::StoreError;

/// Input that cannot be verified (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// A file could not be read.
    #[error("cannot read `{path}`: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line or file is not what it should be.
    #[error("`{path}` line {line}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line (0 for the whole file).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The dataset cannot be opened.
    #[error("dataset `{path}`: {source}")]
    Dataset {
        /// The dataset directory.
        path: PathBuf,
        /// Why.
        source: StoreError,
    },
    /// The runs do not cover the same turns as the dataset or as each other.
    #[error("turn set mismatch: {0}")]
    TurnSet(String),
    /// Two runs were made under different locked settings (prompts, sampling, model …).
    #[error("config lock: {0}")]
    ConfigLock(String),
    /// The profile does not accept these runs.
    #[error("profile `{profile}`: {message}")]
    Profile {
        /// Profile name.
        profile: String,
        /// What does not fit.
        message: String,
    },
}

/// A tool call, with its arguments as text (they may be invalid JSON).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ToolCall {
    /// Function name.
    pub name: String,
    /// Arguments exactly as served.
    pub arguments: String,
}

/// What one run served for one turn.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Output {
    /// Content text (empty when none).
    pub content: String,
    /// Reasoning text (empty when none).
    pub reasoning: String,
    /// Tool calls.
    pub tool_calls: Vec<ToolCall>,
    /// Why generation stopped.
    pub finish_reason: Option<String>,
    /// Output tokens.
    pub output_tokens: Option<u64>,
    /// The error, for a failed request.
    pub error: Option<String>,
    /// `max_tokens` sent (replay records only): part of the locked request.
    pub max_tokens: Option<u64>,
    /// Per-token log-probabilities, when the run has them.
    pub logprobs: Option<Vec<TokenLogprob>>,
}

/// One run, read.
#[derive(Debug, Clone)]
pub struct Run {
    /// The path as given.
    pub path: PathBuf,
    /// `run.json`, for a replay run directory.
    pub manifest: Option<RunManifest>,
    /// Outputs by (session id, turn index), with the 1-based line each came from.
    pub outputs: rustc_hash::FxHashMap<(String, u32), (usize, Output)>,
}

/// A plain output line from another tool.
#[derive(Debug, Deserialize)]
struct PlainOutput {
    session_id: String,
    turn_index: u32,
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    reasoning: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<PlainToolCall>>,
    #[serde(default)]
    finish_reason: Option<String>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    logprobs: Option<PlainLogprobs>,
    #[serde(default)]
    error: Option<Value>,
    #[serde(default)]
    max_tokens: Option<u64>,
}

/// Logprobs as a bare list, or as OpenAI's `{"content": [...]}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum PlainLogprobs {
    List(Vec<TokenLogprob>),
    OpenAi { content: Option<Vec<TokenLogprob>> },
}

/// A tool call as `{name, arguments}` or in OpenAI's `{function: {name, arguments}}` form.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum PlainToolCall {
    Flat { name: String, arguments: Value },
    OpenAi { function: PlainFunction },
}

#[derive(Debug, Deserialize)]
struct PlainFunction {
    name: String,
    arguments: Value,
}

fn arguments_text(arguments: Value) -> String {
    match arguments {
        Value::String(text) => text,
        other => other.to_string(),
    }
}

impl From<PlainOutput> for Output {
    fn from(plain: PlainOutput) -> Output {
        Output {
            content: plain.content.unwrap_or_default(),
            reasoning: plain.reasoning.unwrap_or_default(),
            tool_calls: plain
                .tool_calls
                .unwrap_or_default()
                .into_iter()
                .map(|call| match call {
                    PlainToolCall::Flat { name, arguments }
                    | PlainToolCall::OpenAi {
                        function: PlainFunction { name, arguments },
                    } => ToolCall {
                        name,
                        arguments: arguments_text(arguments),
                    },
                })
                .collect(),
            finish_reason: plain.finish_reason,
            output_tokens: plain.output_tokens,
            error: match plain.error {
                None | Some(Value::Null) => None,
                Some(Value::String(text)) => Some(text),
                Some(other) => Some(other.to_string()),
            },
            max_tokens: plain.max_tokens,
            logprobs: match plain.logprobs {
                Some(PlainLogprobs::List(list)) => Some(list),
                Some(PlainLogprobs::OpenAi { content }) => content,
                None => None,
            },
        }
    }
}

/// What verify reads of a `requests.jsonl` line ([`crate::replay::record::RequestRecord`]): the
/// served output, field for field, while the timing and accounting fields are only checked to be
/// there and skipped unbuilt. A real streamed run records one chunk time per output token, at full
/// float precision, so those lists are most of a record's bytes; parsing them into numbers nobody
/// reads made reading a run cost more than scoring it. Unknown keys are still refused, and a test
/// checks that every field of `RequestRecord` is named here.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServedRecord {
    session_id: String,
    turn_index: u32,
    #[serde(default)]
    error_kind: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    max_tokens: Option<u64>,
    #[serde(default)]
    finish_reason: Option<String>,
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    reasoning: Option<String>,
    tool_calls: Vec<ServedToolCall>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    logprobs: Option<Vec<TokenLogprob>>,
    // Required in a request record, so required here too.
    #[allow(dead_code, reason = "checked to be present, never read")]
    agent: IgnoredAny,
    #[allow(dead_code, reason = "checked to be present, never read")]
    send_ms: IgnoredAny,
    #[allow(dead_code, reason = "checked to be present, never read")]
    chunk_ms: IgnoredAny,
    #[allow(dead_code, reason = "checked to be present, never read")]
    end_ms: IgnoredAny,
    // Optional (nullable or absent) in a request record.
    #[serde(default)]
    #[allow(dead_code, reason = "skipped, never read")]
    ttft_ms: IgnoredAny,
    #[serde(default)]
    #[allow(dead_code, reason = "skipped, never read")]
    http_status: IgnoredAny,
    #[serde(default)]
    #[allow(dead_code, reason = "skipped, never read")]
    seed: IgnoredAny,
    #[serde(default)]
    #[allow(dead_code, reason = "skipped, never read")]
    target_output_tokens: IgnoredAny,
    #[serde(default)]
    #[allow(dead_code, reason = "skipped, never read")]
    prompt_tokens: IgnoredAny,
    #[serde(default)]
    #[allow(dead_code, reason = "skipped, never read")]
    cached_tokens: IgnoredAny,
    #[serde(default)]
    #[allow(dead_code, reason = "skipped, never read")]
    output_tokens_source: IgnoredAny,
}

impl From<ServedRecord> for Output {
    fn from(record: ServedRecord) -> Output {
        let error = match (record.error_kind, record.error) {
            (None, None) => None,
            (kind, message) => Some(format!(
                "{}: {}",
                kind.unwrap_or_else(|| "error".to_owned()),
                message.unwrap_or_default()
            )),
        };
        Output {
            content: record.content.unwrap_or_default(),
            reasoning: record.reasoning.unwrap_or_default(),
            tool_calls: record
                .tool_calls
                .into_iter()
                .map(
                    |ServedToolCall {
                         name, arguments, ..
                     }| ToolCall { name, arguments },
                )
                .collect(),
            finish_reason: record.finish_reason,
            output_tokens: record.output_tokens,
            error,
            max_tokens: record.max_tokens,
            logprobs: record.logprobs,
        }
    }
}

fn read_text(path: &Path) -> Result<String, InputError> {
    fs_err::read_to_string(path).map_err(|source| InputError::Read {
        path: path.to_owned(),
        source,
    })
}

/// How many sessions (the dataset's first) the first reference run directory says it replayed,
/// as `align` takes them; `None` when no reference is a readable run directory (then `read_run`
/// says why, or the references are plain output files, which may answer any sessions).
pub fn replayed_session_count(references: &[PathBuf]) -> Option<usize> {
    references.iter().find_map(|path| {
        let text = fs_err::read_to_string(path.join(RUN_FILE)).ok()?;
        let manifest: RunManifest = serde_json::from_str(&text).ok()?;
        usize::try_from(manifest.dataset.sessions).ok()
    })
}

/// Reads a run directory or a plain JSON-lines file.
pub fn read_run(path: &Path) -> Result<Run, InputError> {
    let (manifest, lines_path) = if path.is_dir() {
        let manifest_path = path.join(RUN_FILE);
        let manifest: RunManifest =
            serde_json::from_str(&read_text(&manifest_path)?).map_err(|error| {
                InputError::Parse {
                    path: manifest_path.clone(),
                    line: error.line(),
                    message: format!("not a trajkit replay run record: {error}"),
                }
            })?;
        (Some(manifest), path.join(REQUESTS_FILE))
    } else {
        (None, path.to_owned())
    };
    // Streamed line by line: a run's records are several times the size of the outputs kept.
    let read_error = |source| InputError::Read {
        path: lines_path.clone(),
        source,
    };
    let mut reader = std::io::BufReader::with_capacity(
        1 << 20,
        fs_err::File::open(&lines_path).map_err(read_error)?,
    );
    let mut outputs = rustc_hash::FxHashMap::default();
    let mut line = String::new();
    let mut line_number = 0;
    loop {
        line.clear();
        line_number += 1;
        let parse_error = |message: String| InputError::Parse {
            path: lines_path.clone(),
            line: line_number,
            message,
        };
        match reader.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::InvalidData => {
                return Err(parse_error("not UTF-8 text".to_owned()));
            }
            Err(error) => return Err(read_error(error)),
        }
        if line.trim().is_empty() {
            continue;
        }
        let (key, output) = if manifest.is_some() {
            let record: ServedRecord = serde_json::from_str(&line)
                .map_err(|error| parse_error(format!("not a request record: {error}")))?;
            (
                (record.session_id.clone(), record.turn_index),
                Output::from(record),
            )
        } else {
            let plain: PlainOutput = serde_json::from_str(&line).map_err(|error| {
                parse_error(format!(
                    "not an output line ({{session_id, turn_index, content, ...}}): {error}"
                ))
            })?;
            (
                (plain.session_id.clone(), plain.turn_index),
                Output::from(plain),
            )
        };
        if let Some((first_line, _)) = outputs.get(&key) {
            return Err(parse_error(format!(
                "session `{}` turn {} is recorded twice (first on line {first_line})",
                key.0, key.1
            )));
        }
        outputs.insert(key, (line_number, output));
    }
    Ok(Run {
        path: path.to_owned(),
        manifest,
        outputs,
    })
}

/// The normalized bash actions (`bash::actions`) of each recorded output that runs any, by
/// (session id, turn index): the answers the dataset-answer score compares every run with.
pub type RecordedActions = rustc_hash::FxHashMap<(String, u32), Vec<&'static str>>;

/// Reads the recorded output of every turn of the dataset and keeps the bash actions of those
/// that run a counted command. Outputs that cannot be rebuilt are passed over (they are not
/// scorable, as MLCommons excludes turns without ground truth).
/// `sessions`: read only the first this many sessions (those a replay of the first N replayed).
pub fn recorded_bash_actions(
    dataset_path: &Path,
    sessions: Option<usize>,
) -> Result<RecordedActions, InputError> {
    let dataset_error = |source| InputError::Dataset {
        path: dataset_path.to_owned(),
        source,
    };
    let dataset = Dataset::open(dataset_path).map_err(dataset_error)?;
    let count = sessions.map_or(dataset.sessions().len(), |limit| {
        limit.min(dataset.sessions().len())
    });
    let chosen: Vec<usize> = (0..count).collect();
    let mut recorded = RecordedActions::default();
    for session in dataset.stream(&chosen).map_err(dataset_error)?.prefetched() {
        let session = session.map_err(dataset_error)?;
        for (position, turn) in session.turns.iter().enumerate() {
            let Ok(Some(message)) = session.output(position) else {
                continue;
            };
            let Some(Value::Array(calls)) = message.get("tool_calls") else {
                continue;
            };
            let parsed: Vec<(&str, Option<Value>)> = calls
                .iter()
                .filter_map(|call| {
                    let function = call.get("function")?;
                    let name = function.get("name")?.as_str()?;
                    let arguments = match function.get("arguments") {
                        Some(Value::String(text)) => serde_json::from_str(text).ok(),
                        other => other.cloned(),
                    };
                    Some((name, arguments))
                })
                .collect();
            let actions = super::bash::actions(
                parsed
                    .iter()
                    .map(|(name, arguments)| (*name, arguments.as_ref())),
            );
            if !actions.is_empty() {
                recorded.insert((turn.session_id.clone(), turn.turn_index), actions);
            }
        }
    }
    Ok(recorded)
}

/// The turns a verification scores, in dataset order, and every run's output for each.
#[derive(Debug)]
pub struct Aligned {
    /// Dataset name (from its manifest).
    pub dataset_name: String,
    /// Session of each turn (index into `session_ids`).
    pub turn_session: Vec<u32>,
    /// Turn index of each turn.
    pub turn_index: Vec<u32>,
    /// Session ids, dataset order.
    pub session_ids: Vec<String>,
    /// Candidate outputs, one per turn (`None`: missing).
    pub candidate: Vec<Option<Output>>,
    /// Reference outputs: `references[run][turn]`.
    pub references: Vec<Vec<Output>>,
    /// Which settings the config lock compared, and what it could not check.
    pub lock: LockOutcome,
    /// The tools each turn's request offered, to check served calls against.
    pub tools: ToolSchemas,
    /// The bash actions of each turn's recorded output (empty: not scorable).
    pub recorded_actions: Vec<Vec<&'static str>>,
}

/// What the config lock compared.
#[derive(Debug, Clone, Default)]
pub struct LockOutcome {
    /// Runs whose `run.json` took part.
    pub runs_with_manifest: usize,
    /// Runs in all.
    pub runs: usize,
    /// Warnings (a run without `run.json` cannot be checked).
    pub notes: Vec<String>,
}

/// Sampling keys that may differ between runs: the seed (each run should draw its own) and
/// what only asks the server to report more.
const UNLOCKED_SAMPLING: [&str; 4] = ["seed", "logprobs", "top_logprobs", "stream_options"];

fn locked_sampling(sampling: &Map<String, Value>) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = sampling
        .iter()
        .filter(|(key, _)| !UNLOCKED_SAMPLING.contains(&key.as_str()))
        .map(|(key, value)| (key.clone(), super::metrics::canonical_json(value)))
        .collect();
    pairs.sort();
    pairs
}

/// The locked settings of a run manifest, as (name, value) pairs.
fn lock_fields(manifest: &RunManifest) -> Vec<(String, String)> {
    let mut fields = vec![
        ("record_version".to_owned(), manifest.record_version.clone()),
        ("dataset.name".to_owned(), manifest.dataset.name.clone()),
        (
            "dataset.sessions".to_owned(),
            manifest.dataset.sessions.to_string(),
        ),
        (
            "dataset.turns".to_owned(),
            manifest.dataset.turns.to_string(),
        ),
        ("model".to_owned(), manifest.model.clone()),
        ("output_policy".to_owned(), manifest.output_policy.clone()),
        ("salted".to_owned(), manifest.salt.is_some().to_string()),
    ];
    fields.extend(
        locked_sampling(&manifest.sampling)
            .into_iter()
            .map(|(key, value)| (format!("sampling.{key}"), value)),
    );
    fields
}

/// Compares every run's locked settings with the first reference's.
fn check_lock(runs: &[&Run], lock: &mut LockOutcome) -> Result<(), InputError> {
    lock.runs = runs.len();
    let with_manifest: Vec<(&Run, &RunManifest)> = runs
        .iter()
        .filter_map(|run| run.manifest.as_ref().map(|manifest| (*run, manifest)))
        .collect();
    lock.runs_with_manifest = with_manifest.len();
    for run in runs.iter().filter(|run| run.manifest.is_none()) {
        lock.notes.push(format!(
            "`{}` is a plain output file: its model, prompts and sampling cannot be checked",
            run.path.display()
        ));
    }
    let Some(&(first_run, first)) = with_manifest.first() else {
        return Ok(());
    };
    let expected = lock_fields(first);
    for &(run, manifest) in &with_manifest[1..] {
        let found = lock_fields(manifest);
        let expected_map: HashMap<&str, &str> = expected
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()))
            .collect();
        let found_map: HashMap<&str, &str> = found
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()))
            .collect();
        let mut keys: Vec<&str> = expected_map
            .keys()
            .chain(found_map.keys())
            .copied()
            .collect();
        keys.sort_unstable();
        keys.dedup();
        for key in keys {
            let left = expected_map.get(key).copied();
            let right = found_map.get(key).copied();
            if left != right {
                return Err(InputError::ConfigLock(format!(
                    "`{key}` is {} in `{}` but {} in `{}`",
                    left.map_or_else(|| "unset".to_owned(), |value| format!("`{value}`")),
                    first_run.path.display(),
                    right.map_or_else(|| "unset".to_owned(), |value| format!("`{value}`")),
                    run.path.display(),
                )));
            }
        }
    }
    Ok(())
}

/// The temperature every run with a manifest was made at (`None` when unset or no manifest).
pub fn run_temperature(run: &Run) -> Option<f64> {
    run.manifest
        .as_ref()
        .and_then(|manifest| manifest.sampling.get("temperature"))
        .and_then(Value::as_f64)
}

/// Opens the dataset, checks the runs against it and each other, and aligns their outputs by
/// turn. References must answer every turn; a candidate's missing or failed turns are kept (as
/// `None` or an errored output) for the guardrails.
#[allow(
    clippy::too_many_lines,
    reason = "the checks read best in the order they apply: lock, records, turn set, references, per-turn lock"
)]
pub fn align(
    dataset_path: &Path,
    references: Vec<Run>,
    candidate: Run,
    mut recorded: RecordedActions,
) -> Result<Aligned, InputError> {
    let dataset = Dataset::open(dataset_path).map_err(|source| InputError::Dataset {
        path: dataset_path.to_owned(),
        source,
    })?;
    let dataset_name = dataset.reader().manifest().name.clone();
    let mut lock = LockOutcome::default();
    {
        let mut all: Vec<&Run> = references.iter().collect();
        all.push(&candidate);
        check_lock(&all, &mut lock)?;
        for run in &all {
            if let Some(manifest) = &run.manifest
                && manifest.dataset.name != dataset_name
            {
                return Err(InputError::ConfigLock(format!(
                    "`{}` replayed dataset `{}`, not `{dataset_name}`",
                    run.path.display(),
                    manifest.dataset.name
                )));
            }
        }
    }
    let turn_counts: HashMap<&str, u32> = dataset
        .sessions()
        .iter()
        .map(|session| (session.session_id.as_str(), session.turn_count))
        .collect();
    // Every record must name a turn of the dataset.
    let all_runs = references.iter().chain(std::iter::once(&candidate));
    for run in all_runs {
        let fits = |(session_id, turn_index): &(String, u32)| {
            turn_counts
                .get(session_id.as_str())
                .is_some_and(|&count| *turn_index < count)
        };
        // The first line (in file order) that names no turn of the dataset.
        let first_bad = run
            .outputs
            .iter()
            .filter(|(key, _)| !fits(key))
            .min_by_key(|(_, (line, _))| *line);
        if let Some(((session_id, turn_index), (line, _))) = first_bad {
            return Err(InputError::TurnSet(
                match turn_counts.get(session_id.as_str()) {
                    Some(&count) => format!(
                        "`{}` line {line}: session `{session_id}` has {count} turns in the dataset, \
                     not a turn {turn_index}",
                        run.path.display()
                    ),
                    None => format!(
                        "`{}` line {line}: session `{session_id}` is not in the dataset",
                        run.path.display()
                    ),
                },
            ));
        }
    }
    // The sessions replayed: the first `dataset.sessions` of the dataset when the references say
    // so (replay takes sessions in dataset order), else every session a reference answered.
    let replayed_sessions = references.iter().find_map(|run| {
        run.manifest
            .as_ref()
            .map(|manifest| manifest.dataset.sessions)
    });
    let session_rows: Vec<&SessionRow> = if let Some(count) = replayed_sessions {
        dataset
            .sessions()
            .iter()
            .take(usize::try_from(count).unwrap_or(usize::MAX))
            .collect()
    } else {
        let answered: std::collections::HashSet<&str> = references
            .iter()
            .flat_map(|run| run.outputs.keys().map(|(session, _)| session.as_str()))
            .collect();
        dataset
            .sessions()
            .iter()
            .filter(|session| answered.contains(session.session_id.as_str()))
            .collect()
    };
    let sessions: Vec<(&str, u32)> = session_rows
        .iter()
        .map(|session| (session.session_id.as_str(), session.turn_count))
        .collect();
    let session_position: HashMap<&str, usize> = sessions
        .iter()
        .enumerate()
        .map(|(position, (id, _))| (*id, position))
        .collect();
    let mut turn_session = Vec::new();
    let mut turn_index = Vec::new();
    for (position, &(_, count)) in sessions.iter().enumerate() {
        for index in 0..count {
            turn_session.push(u32::try_from(position).unwrap_or(u32::MAX));
            turn_index.push(index);
        }
    }
    let session_ids: Vec<String> = sessions.iter().map(|(id, _)| (*id).to_owned()).collect();
    let tools = ToolSchemas::new(&dataset, &session_rows, &turn_session, &turn_index).map_err(
        |source| InputError::Dataset {
            path: dataset_path.to_owned(),
            source,
        },
    )?;
    let expected = turn_session.len();
    // Records outside the replayed sessions.
    for run in references.iter().chain(std::iter::once(&candidate)) {
        if let Some(((session_id, turn), (line, _))) = run
            .outputs
            .iter()
            .filter(|((session_id, _), _)| !session_position.contains_key(session_id.as_str()))
            .min_by_key(|(_, (line, _))| *line)
        {
            return Err(InputError::TurnSet(format!(
                "`{}` line {line}: session `{session_id}` turn {turn} was not replayed by the \
                 references ({} sessions, {expected} turns)",
                run.path.display(),
                sessions.len()
            )));
        }
    }
    let take = |run: &mut Run| -> Vec<Option<Output>> {
        let mut outputs = Vec::with_capacity(expected);
        for &(session_id, count) in &sessions {
            // One key per session, its turn index changed in place: no string copy per turn.
            let mut key = (session_id.to_owned(), 0);
            for index in 0..count {
                key.1 = index;
                outputs.push(run.outputs.remove(&key).map(|(_, output)| output));
            }
        }
        outputs
    };
    let mut reference_outputs = Vec::with_capacity(references.len());
    let mut has_manifest: Vec<bool> = references
        .iter()
        .map(|run| run.manifest.is_some())
        .collect();
    has_manifest.push(candidate.manifest.is_some());
    for mut run in references {
        let outputs = take(&mut run);
        let missing: Vec<usize> = (0..expected)
            .filter(|&turn| outputs[turn].is_none())
            .collect();
        if let Some(&first) = missing.first() {
            return Err(InputError::TurnSet(format!(
                "reference `{}` has no output for {} of {expected} turns (first: session `{}` \
                 turn {}); a reference must answer every turn",
                run.path.display(),
                missing.len(),
                session_ids[turn_session[first] as usize],
                turn_index[first]
            )));
        }
        let outputs: Vec<Output> = outputs.into_iter().flatten().collect();
        if let Some((first, output)) = outputs
            .iter()
            .enumerate()
            .find(|(_, output)| output.error.is_some())
        {
            let failed = outputs
                .iter()
                .filter(|output| output.error.is_some())
                .count();
            return Err(InputError::TurnSet(format!(
                "reference `{}` failed {failed} of {expected} turns (first: session `{}` turn {}: \
                 {}); a reference must answer every turn",
                run.path.display(),
                session_ids[turn_session[first] as usize],
                turn_index[first],
                output.error.as_deref().unwrap_or_default()
            )));
        }
        reference_outputs.push(outputs);
    }
    let mut candidate = candidate;
    let candidate_outputs = take(&mut candidate);
    // The request each turn sent must be the same: `max_tokens` is part of it.
    let runs_for_lock = reference_outputs
        .iter()
        .map(|outputs| outputs.iter().map(Some).collect::<Vec<_>>())
        .chain(std::iter::once(
            candidate_outputs.iter().map(Option::as_ref).collect(),
        ));
    let mut max_tokens: Vec<Option<Option<u64>>> = vec![None; expected];
    for (outputs, _) in runs_for_lock
        .zip(&has_manifest)
        .filter(|(_, has_manifest)| **has_manifest)
    {
        for (turn, output) in outputs.iter().enumerate() {
            let Some(output) = output else { continue };
            if output.error.is_some() && output.max_tokens.is_none() {
                continue;
            }
            match max_tokens[turn] {
                None => max_tokens[turn] = Some(output.max_tokens),
                Some(previous) if previous == output.max_tokens => {}
                Some(previous) => {
                    return Err(InputError::ConfigLock(format!(
                        "session `{}` turn {}: max_tokens differs between runs ({} vs {})",
                        session_ids[turn_session[turn] as usize],
                        turn_index[turn],
                        previous.map_or_else(|| "unset".to_owned(), |value| value.to_string()),
                        output
                            .max_tokens
                            .map_or_else(|| "unset".to_owned(), |value| value.to_string()),
                    )));
                }
            }
        }
    }
    let recorded_actions = turn_session
        .iter()
        .zip(&turn_index)
        .map(|(&session, &index)| {
            recorded
                .remove(&(session_ids[session as usize].clone(), index))
                .unwrap_or_default()
        })
        .collect();
    Ok(Aligned {
        dataset_name,
        turn_session,
        turn_index,
        session_ids,
        candidate: candidate_outputs,
        references: reference_outputs,
        lock,
        tools,
        recorded_actions,
    })
}

/// What the config lock requires to be equal across runs (documented in `docs/verify.md`).
pub const LOCKED_FIELDS: [&str; 9] = [
    "record_version",
    "dataset.name",
    "dataset.sessions",
    "dataset.turns",
    "model",
    "output_policy",
    "salted (whether a salt marker was used)",
    "sampling (every key but seed, logprobs, top_logprobs, stream_options)",
    "max_tokens of every turn",
];

/// What may differ between runs.
pub const FREE_FIELDS: [&str; 9] = [
    "sampling.seed",
    "salt (the marker text)",
    "base_url",
    "agents",
    "tool_delay_policy",
    "server (the deployment's self-description)",
    "trajkit_version",
    "timestamps",
    "complete / failed_requests (judged by the guardrails)",
];

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::replay::record::{RequestRecord, TopLogprob};

    /// A request record with every field set, as `trajkit replay` writes one.
    fn full_record() -> RequestRecord {
        RequestRecord {
            session_id: "s1".to_owned(),
            turn_index: 3,
            agent: 2,
            send_ms: 10.5,
            ttft_ms: Some(120.25),
            chunk_ms: vec![120.25, 130.125, 140.0625],
            end_ms: 141.0,
            http_status: Some(200),
            error_kind: Some("disconnect".to_owned()),
            error: Some("closed early".to_owned()),
            seed: Some(1_321_248_214),
            max_tokens: Some(64),
            target_output_tokens: Some(40),
            finish_reason: Some("tool_calls".to_owned()),
            content: Some("Let me look.".to_owned()),
            reasoning: Some("The file first.".to_owned()),
            tool_calls: vec![ServedToolCall {
                id: Some("call_1".to_owned()),
                name: "bash".to_owned(),
                arguments: r#"{"command":"ls"}"#.to_owned(),
            }],
            prompt_tokens: Some(1_379),
            cached_tokens: Some(1_024),
            output_tokens: Some(3),
            output_tokens_source: Some("usage".to_owned()),
            logprobs: Some(vec![TokenLogprob {
                token: "Let".to_owned(),
                logprob: -0.5,
                top_logprobs: vec![TopLogprob {
                    token: "I".to_owned(),
                    logprob: -1.5,
                }],
            }]),
        }
    }

    fn accepts<T: serde::de::DeserializeOwned>(value: &Value) -> bool {
        serde_json::from_value::<T>(value.clone()).is_ok()
    }

    #[test]
    fn served_records_read_what_request_records_accept_and_keep_the_outputs() {
        let record = full_record();
        let value = serde_json::to_value(&record).expect("record serializes");
        let served: ServedRecord =
            serde_json::from_value(value.clone()).expect("every RequestRecord field is named");
        assert_eq!(
            Output::from(served),
            Output {
                content: "Let me look.".to_owned(),
                reasoning: "The file first.".to_owned(),
                tool_calls: vec![ToolCall {
                    name: "bash".to_owned(),
                    arguments: r#"{"command":"ls"}"#.to_owned(),
                }],
                finish_reason: Some("tool_calls".to_owned()),
                output_tokens: Some(3),
                error: Some("disconnect: closed early".to_owned()),
                max_tokens: Some(64),
                logprobs: record.logprobs.clone(),
            }
        );
        // Leaving out any one field: both shapes accept it or both refuse it.
        let Value::Object(fields) = &value else {
            panic!("a record is an object")
        };
        for key in fields.keys() {
            let mut without = value.clone();
            without.as_object_mut().expect("object").remove(key);
            assert_eq!(
                accepts::<ServedRecord>(&without),
                accepts::<RequestRecord>(&without),
                "record without `{key}`"
            );
        }
        let mut unknown = value.clone();
        unknown
            .as_object_mut()
            .expect("object")
            .insert("surprise".to_owned(), json!(1));
        assert!(!accepts::<ServedRecord>(&unknown) && !accepts::<RequestRecord>(&unknown));
    }

    #[test]
    fn a_bad_line_is_named_by_its_number() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let path = directory.path().join("outputs.jsonl");
        let good = r#"{"session_id": "s1", "turn_index": 0, "content": "hi"}"#;
        let mut bytes = format!("{good}\n\n").into_bytes();
        bytes.extend_from_slice(
            b"{\"session_id\": \"s1\", \"turn_index\": 1, \"content\": \"\xff\"}\n",
        );
        fs_err::write(&path, &bytes).expect("write");
        let error = read_run(&path).expect_err("invalid UTF-8 on line 3");
        assert!(
            matches!(&error, InputError::Parse { line: 3, message, .. } if message.contains("UTF-8")),
            "{error}"
        );
        fs_err::write(&path, format!("{good}\n{{\"turn_index\": 2}}\n")).expect("write");
        let error = read_run(&path).expect_err("a line without its session");
        assert!(
            matches!(&error, InputError::Parse { line: 2, .. }),
            "{error}"
        );
        fs_err::write(&path, format!("{good}\n")).expect("write");
        let run = read_run(&path).expect("one good line");
        assert_eq!(run.outputs[&("s1".to_owned(), 0)].1.content, "hi");
    }
}
