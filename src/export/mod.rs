//! Writing a dataset back out in the formats replay and benchmark tools read: the AA
//! agentperf-local replay directory, AIPerf's `mooncake_trace`, Mooncake and Weka traces, vLLM's
//! multi-turn benchmark input, and OpenAI chat JSONL.
//!
//! Every exporter streams the dataset session by session (one session's rows in memory at a
//! time), rebuilds requests only through [`crate::dataset::SessionData`], and writes into a
//! temporary directory beside the target that is renamed into place at the end, with a
//! `.trajkit-export.json` marker that says what wrote it. Output depends only on the dataset and
//! the flags: no clock, no randomness, no thread count.

mod aa_replay;
mod aiperf;
mod mooncake;
mod openai_jsonl;
mod output;
mod vllm_multiturn;
mod weka;

use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::dataset::{Dataset, ReconstructError, SessionData};
use crate::formats::json::RawObject;
use crate::schema::{Exactness, SessionRow, TurnRow};
use crate::store::StoreError;

pub use output::{MARKER_FILE, OutputDirectory};

/// A format `trajkit export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// aa-agentperf-local replay directory.
    AaReplay,
    /// AIPerf `mooncake_trace` JSONL.
    Aiperf,
    /// Mooncake FAST'25 trace.
    Mooncake,
    /// Weka / SemiAnalysis cc-traces.
    Weka,
    /// vLLM's multi-turn benchmark input.
    VllmMultiturn,
    /// OpenAI chat JSONL.
    OpenaiJsonl,
}

impl ExportFormat {
    /// Every format, in help order.
    pub const ALL: [ExportFormat; 6] = [
        ExportFormat::AaReplay,
        ExportFormat::Aiperf,
        ExportFormat::Mooncake,
        ExportFormat::Weka,
        ExportFormat::VllmMultiturn,
        ExportFormat::OpenaiJsonl,
    ];

    /// The `--to` name.
    pub fn name(self) -> &'static str {
        match self {
            ExportFormat::AaReplay => "aa-replay",
            ExportFormat::Aiperf => "aiperf",
            ExportFormat::Mooncake => "mooncake",
            ExportFormat::Weka => "weka",
            ExportFormat::VllmMultiturn => "vllm-multiturn",
            ExportFormat::OpenaiJsonl => "openai-jsonl",
        }
    }

    /// The format with this `--to` name.
    pub fn from_name(name: &str) -> Option<ExportFormat> {
        Self::ALL.into_iter().find(|format| format.name() == name)
    }

    /// What the format's files look like, in one line.
    pub fn shape(self) -> &'static str {
        match self {
            ExportFormat::AaReplay => {
                "manifest.json + traces/<task>.jsonl, one line per turn: {version, turn_id, task_id, conversation_id, conversation_idx, messages, tools, target_output_tokens, simulated_tool_delay_ms_after, recorded_tool_calls_after, recorded_*}"
            }
            ExportFormat::Aiperf => {
                "aiperf.jsonl, one line per turn: {session_id, delay, output_length, messages, tools}; with --sizes-only standalone {input_length, output_length, hash_ids} (512-token blocks)"
            }
            ExportFormat::Mooncake => {
                "mooncake.jsonl, one line per turn: {timestamp, input_length, output_length, hash_ids} (512-token blocks)"
            }
            ExportFormat::Weka => {
                "<session>.json per top-level session: {id, models, block_size: 64, hash_id_scope, requests: [{t, model, in, out, hash_ids, stop, api_time, think_time}]}, sub-agents nested as requests"
            }
            ExportFormat::VllmMultiturn => {
                "conversations.json: [{\"id\", \"messages\"}], one conversation per session"
            }
            ExportFormat::OpenaiJsonl => {
                "sessions.jsonl, one line per session: {id, messages, tools, ...session metadata}"
            }
        }
    }

    /// Whether the format carries message text (and so cannot be written from sizes alone).
    pub fn needs_text(self, sizes_only: bool) -> bool {
        match self {
            ExportFormat::Aiperf => !sizes_only,
            ExportFormat::Mooncake | ExportFormat::Weka => false,
            ExportFormat::AaReplay | ExportFormat::VllmMultiturn | ExportFormat::OpenaiJsonl => {
                true
            }
        }
    }
}

/// What to export, where.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// The dataset directory.
    pub dataset: PathBuf,
    /// The output directory to create.
    pub output: PathBuf,
    /// The format.
    pub format: ExportFormat,
    /// AIPerf only: write sizes and hash ids instead of messages.
    pub sizes_only: bool,
    /// Replace a previous export (or an empty directory) at `output`.
    pub force: bool,
}

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExportSummary {
    /// Sessions written.
    pub sessions: u64,
    /// Turns written (lines, requests).
    pub turns: u64,
    /// Turns left out, with the reason (each reason once, with its count).
    pub skipped: Vec<(String, u64)>,
    /// Files written, relative to the output directory, in order (the marker excluded).
    pub files: Vec<String>,
    /// Facts a reader of the output should know (lossy conversions), each once.
    pub notes: Vec<String>,
}

impl ExportSummary {
    /// Counts a turn left out for `reason`.
    pub(crate) fn skip(&mut self, reason: &str) {
        match self.skipped.iter_mut().find(|(known, _)| known == reason) {
            Some((_, count)) => *count += 1,
            None => self.skipped.push((reason.to_owned(), 1)),
        }
    }

    /// Records a note once.
    pub(crate) fn note(&mut self, note: String) {
        if !self.notes.contains(&note) {
            self.notes.push(note);
        }
    }
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The dataset could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A session's stored rows are inconsistent.
    #[error(transparent)]
    Reconstruct(#[from] ReconstructError),
    /// An output file could not be written.
    #[error("cannot write `{}`: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The output exists and --force was not given.
    #[error("`{}` already exists\nhint: pass --force to replace a previous export", path.display())]
    Exists {
        /// The output directory.
        path: PathBuf,
    },
    /// The output exists, is not empty and was not written by `trajkit export`.
    #[error("`{}` exists, is not empty and is not a trajkit export; refusing to replace it", path.display())]
    NotReplaceable {
        /// The output directory.
        path: PathBuf,
    },
    /// A text format was asked of a sizes-only session.
    #[error(
        "session `{session_id}` has no message text (its turns are sizes_only, read from {source_format}); `{format}` writes messages\nhint: export sizes with --to mooncake, --to weka or --to aiperf --sizes-only"
    )]
    NeedsText {
        /// The format asked for.
        format: &'static str,
        /// The session.
        session_id: String,
        /// Where it was read from.
        source_format: String,
    },
    /// Stored hash ids cannot be regrouped into the format's blocks.
    #[error(
        "session `{session_id}`: its hash ids are of {stored}-token blocks, which do not divide the {target}-token blocks `{format}` writes\nhint: re-ingest the raw logs with a --block-size that divides {target} (the default 16 does)"
    )]
    BlockSize {
        /// The format.
        format: &'static str,
        /// The session.
        session_id: String,
        /// The stored block size.
        stored: u32,
        /// The block size the format needs.
        target: u32,
    },
    /// A flag that does not apply to the format.
    #[error("--sizes-only applies to --to aiperf only (`{format}` has one shape)")]
    SizesOnlyFlag {
        /// The format asked for.
        format: &'static str,
    },
    /// A turn's stored metadata is not a JSON object.
    #[error(
        "session `{session_id}` turn {turn_index}: metadata_json is not a JSON object: {message}"
    )]
    Metadata {
        /// The session.
        session_id: String,
        /// The turn.
        turn_index: u32,
        /// Why.
        message: String,
    },
}

/// Writes `options.dataset` in `options.format` to `options.output`.
pub fn export(options: &ExportOptions) -> Result<ExportSummary, ExportError> {
    if options.sizes_only && options.format != ExportFormat::Aiperf {
        return Err(ExportError::SizesOnlyFlag {
            format: options.format.name(),
        });
    }
    let dataset = Dataset::open(&options.dataset)?;
    let mut directory = OutputDirectory::create(&options.output, options.force)?;
    let mut summary = ExportSummary::default();
    match options.format {
        ExportFormat::AaReplay => aa_replay::write(&dataset, &mut directory, &mut summary)?,
        ExportFormat::Aiperf => {
            aiperf::write(&dataset, &mut directory, &mut summary, options.sizes_only)?;
        }
        ExportFormat::Mooncake => mooncake::write(&dataset, &mut directory, &mut summary)?,
        ExportFormat::Weka => weka::write(&dataset, &mut directory, &mut summary)?,
        ExportFormat::VllmMultiturn => {
            vllm_multiturn::write(&dataset, &mut directory, &mut summary)?;
        }
        ExportFormat::OpenaiJsonl => openai_jsonl::write(&dataset, &mut directory, &mut summary)?,
    }
    summary.files = directory.files().to_vec();
    let marker = marker(&dataset, options, &summary);
    directory.finish(&marker)?;
    Ok(summary)
}

/// The marker's JSON: what wrote the directory, from what. No time and no absolute path, so the
/// same dataset and flags give the same bytes.
fn marker(dataset: &Dataset, options: &ExportOptions, summary: &ExportSummary) -> String {
    let mut object = Map::new();
    object.insert(
        "trajkit_version".to_owned(),
        Value::from(env!("CARGO_PKG_VERSION")),
    );
    object.insert("format".to_owned(), Value::from(options.format.name()));
    object.insert("sizes_only".to_owned(), Value::from(options.sizes_only));
    object.insert(
        "dataset".to_owned(),
        Value::from(dataset.reader().manifest().name.clone()),
    );
    object.insert("sessions".to_owned(), Value::from(summary.sessions));
    object.insert("turns".to_owned(), Value::from(summary.turns));
    object.insert(
        "skipped_turns".to_owned(),
        Value::Object(
            summary
                .skipped
                .iter()
                .map(|(reason, count)| (reason.clone(), Value::from(*count)))
                .collect(),
        ),
    );
    object.insert("files".to_owned(), Value::from(summary.files.clone()));
    object.insert("notes".to_owned(), Value::from(summary.notes.clone()));
    let mut text = serde_json::to_string_pretty(&Value::Object(object)).unwrap_or_default();
    text.push('\n');
    text
}

/// Fails when a text format meets a sizes-only session.
fn require_text(format: ExportFormat, data: &SessionData) -> Result<(), ExportError> {
    let sizes_only = data
        .turns
        .iter()
        .any(|turn| turn.exactness == Exactness::SizesOnly.as_str());
    if sizes_only {
        return Err(ExportError::NeedsText {
            format: format.name(),
            session_id: data.session.session_id.clone(),
            source_format: data.session.source_format.clone(),
        });
    }
    Ok(())
}

/// Output tokens of a turn: reported, else counted.
fn output_tokens(turn: &TurnRow) -> Option<u64> {
    turn.output_tokens_reported.or(turn.output_tokens_counted)
}

/// Input tokens of a turn: reported, else counted.
fn input_tokens(turn: &TurnRow) -> Option<u64> {
    turn.input_tokens_reported.or(turn.input_tokens_counted)
}

/// A JSON number for a duration or time in ms: an integer when it is whole (as traces write
/// them), else the float.
fn milliseconds(value: f64) -> Value {
    #[expect(
        clippy::cast_possible_truncation,
        reason = "checked whole and within ±2^53, where the conversion is exact"
    )]
    if value.fract() == 0.0 && value.abs() < 9_007_199_254_740_992.0 {
        return Value::from(value as i64);
    }
    Value::from(value)
}

/// A turn's metadata object (`metadata_json`), empty when it has none.
fn turn_metadata(session: &SessionRow, turn: &TurnRow) -> Result<Map<String, Value>, ExportError> {
    parse_object(turn.metadata_json.as_deref()).map_err(|message| ExportError::Metadata {
        session_id: session.session_id.clone(),
        turn_index: turn.turn_index,
        message,
    })
}

/// A session's metadata object (`metadata_json`), empty when it has none or it is not an object.
fn session_metadata(session: &SessionRow) -> Map<String, Value> {
    parse_object(session.metadata_json.as_deref()).unwrap_or_default()
}

fn parse_object(text: Option<&str>) -> Result<Map<String, Value>, String> {
    match text {
        None => Ok(Map::new()),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(object)) => Ok(object),
            Ok(_) => Err("not an object".to_owned()),
            Err(error) => Err(error.to_string()),
        },
    }
}

/// Each turn's hash ids regrouped into `target`-token blocks: `None` when the dataset has none
/// (no tokenizer, or a sizes-only trace without ids); an error when the stored block size does not
/// divide `target` (ids of coarser or misaligned blocks cannot be split).
///
/// For a turn read from text, the ids describe the dataset tokenizer's count, which may exceed the
/// reported input the exporter writes as the length: ids that would end past `input_length` are
/// dropped (`keep_partial` false drops a last partial block too, as Weka traces list full blocks
/// only), so every consumer sees ids that fit inside the length.
fn block_ids(
    format: ExportFormat,
    data: &SessionData,
    target: u32,
    keep_partial: bool,
) -> Result<Option<Vec<Vec<u64>>>, ExportError> {
    let Some(stored) = data.turns.first().and_then(|turn| turn.hash_block_size) else {
        return Ok(None);
    };
    if stored == 0 || !target.is_multiple_of(stored) {
        return Err(ExportError::BlockSize {
            format: format.name(),
            session_id: data.session.session_id.clone(),
            stored,
            target,
        });
    }
    let Some(mut all) = data.hash_ids_coarse((target / stored) as usize) else {
        return Ok(None);
    };
    for (ids, turn) in all.iter_mut().zip(&data.turns) {
        if turn.exactness == Exactness::SizesOnly.as_str() {
            continue;
        }
        let Some(length) = input_tokens(turn) else {
            continue;
        };
        let full = usize::try_from(length / u64::from(target)).unwrap_or(usize::MAX);
        let fits =
            keep_partial && (ids.len() as u64).saturating_sub(1) * u64::from(target) < length;
        if !fits {
            ids.truncate(full);
        }
    }
    Ok(Some(all))
}

/// The session's conversation as one message list, and whether it is the whole session: for a
/// linear session (each turn sends every message before its output, and the outputs are the
/// assistant messages) the message store in order, which re-reads as the same turns; otherwise
/// the last turn's request and output, the longest view a single list can give. Each message is
/// its JSON text with the stored bytes: `role`, `content`, then the other keys exactly as logged (line breaks between tokens become spaces, so a text stays on
/// one JSONL line). Formats that readers ingest again use this, so their values keep their bytes.
fn conversation_texts(data: &SessionData) -> Result<(Vec<String>, bool), ExportError> {
    let text = |index: u32| message_text(data, index);
    if is_linear(data) {
        let mut texts = Vec::with_capacity(data.messages.len());
        for index in 0..data.messages.len() {
            texts.push(text(u32::try_from(index).unwrap_or(u32::MAX))?);
        }
        return Ok((texts, true));
    }
    let Some(last) = data.turns.last() else {
        return Ok((Vec::new(), true));
    };
    let mut texts = Vec::new();
    for range in &last.context {
        for index in range.start..range.start.saturating_add(range.count) {
            texts.push(text(index)?);
        }
    }
    if let Some(output) = last.output_message_index {
        texts.push(text(output)?);
    }
    Ok((texts, false))
}

/// One stored message as JSON text, its other keys' values in their original bytes.
fn message_text(data: &SessionData, index: u32) -> Result<String, ExportError> {
    let row = data
        .messages
        .get(index as usize)
        .filter(|row| row.message_index == index)
        .ok_or_else(|| ReconstructError {
            session_id: data.session.session_id.clone(),
            message: format!("message {index} is missing"),
        })?;
    let mut text = String::from("{\"role\":");
    text.push_str(&Value::from(row.role.clone()).to_string());
    if let Some(content) = &row.content {
        text.push_str(",\"content\":");
        text.push_str(&Value::from(content.clone()).to_string());
    }
    if let Some(fields) = &row.fields_json {
        let inner = fields
            .trim()
            .strip_prefix('{')
            .and_then(|rest| rest.strip_suffix('}'))
            .ok_or_else(|| ReconstructError {
                session_id: data.session.session_id.clone(),
                message: format!("message {index} has bad fields"),
            })?
            .trim();
        if !inner.is_empty() {
            text.push(',');
            text.push_str(inner);
        }
    }
    text.push('}');
    Ok(one_line(text))
}

/// JSON text on one line: a line break outside a string is whitespace (inside one it is escaped).
fn one_line(text: String) -> String {
    if text.contains(['\n', '\r']) {
        text.replace(['\n', '\r'], " ")
    } else {
        text
    }
}

/// Whether the session reads back from its message store as an OpenAI message list gives the same
/// turns: turn k sends messages `0..c` and answers with message `c`, and no other stored message
/// is an assistant's.
fn is_linear(data: &SessionData) -> bool {
    let mut outputs = Vec::with_capacity(data.turns.len());
    for turn in &data.turns {
        let sent = match turn.context.as_slice() {
            [] => 0,
            [range] if range.start == 0 => range.count,
            _ => return false,
        };
        if turn.output_message_index != Some(sent) {
            return false;
        }
        outputs.push(sent);
    }
    data.messages
        .iter()
        .filter(|message| message.role == "assistant")
        .map(|message| message.message_index)
        .eq(outputs)
}

/// The JSON text of the tool list the session's first turn with tools sends (formats with one
/// `tools` per session carry that); `None` when no turn sends tools.
fn session_tools_text(data: &SessionData) -> Option<String> {
    let index = data.turns.iter().find_map(|turn| turn.tool_set_index)?;
    let text = data.session.tool_sets.get(index as usize)?;
    Some(one_line(text.trim().to_owned()))
}

/// The session metadata's keys and original value texts, in order (none when it has no object).
fn session_metadata_entries(session: &SessionRow) -> Vec<(String, String)> {
    session
        .metadata_json
        .as_deref()
        .and_then(|text| serde_json::from_str::<RawObject>(text).ok())
        .map(|object| {
            object
                .entries
                .iter()
                .map(|(key, raw)| (key.to_string(), one_line(raw.get().to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// File-name-safe, unique names for session ids: letters, digits, `.`, `_` and `-` kept, any
/// other character `_`, no leading dot, at most 120 bytes; an id that had to change (or collides
/// with an earlier name) gets a short hash of the id appended, then a counter if still taken.
#[derive(Debug, Default)]
pub(crate) struct FileNames {
    used: std::collections::HashSet<String>,
}

impl FileNames {
    /// The name for `id`, never one handed out before.
    pub fn name(&mut self, id: &str) -> String {
        let mut safe: String = id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if safe.starts_with('.') {
            safe.replace_range(..1, "_");
        }
        let changed = safe != id || safe.is_empty() || safe.len() > 120;
        if safe.is_empty() {
            safe.push_str("session");
        }
        safe.truncate(120);
        let mut name = if changed {
            let digest = xxhash_rust::xxh3::xxh3_64(id.as_bytes());
            format!("{safe}-{:08x}", digest >> 32)
        } else {
            safe
        };
        if self.used.contains(&name.to_ascii_lowercase()) {
            let base = name.clone();
            let mut counter = 2u64;
            while self.used.contains(&name.to_ascii_lowercase()) {
                name = format!("{base}-{counter}");
                counter += 1;
            }
        }
        // Case-insensitive file systems would merge `A` and `a`.
        self.used.insert(name.to_ascii_lowercase());
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_safe_and_unique() {
        let mut names = FileNames::default();
        assert_eq!(names.name("django__django-11099"), "django__django-11099");
        let weka = names.name("trace_0291/agent-1");
        assert!(weka.starts_with("trace_0291_agent-1-"), "{weka}");
        assert!(!names.name("../etc").contains('/'));
        assert!(!names.name(".hidden").starts_with('.'));
        let empty = names.name("");
        assert!(empty.starts_with("session-"), "{empty}");
        assert_eq!(names.name("A"), "A");
        assert_eq!(names.name("a"), "a-2", "case-insensitive collision");
        assert!(names.name(&"x".repeat(400)).len() <= 130);
    }

    #[test]
    fn whole_milliseconds_are_integers() {
        assert_eq!(milliseconds(50.0).to_string(), "50");
        assert_eq!(milliseconds(2.5).to_string(), "2.5");
    }
}
