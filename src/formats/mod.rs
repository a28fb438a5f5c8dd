//! Raw agent-log formats: one file per format behind the `TraceReader` trait, chosen by the
//! exhaustive `SourceFormat` enum.
//!
//! Adding a format means a file here, a variant, its match arms, and `tests/fixtures/<name>/`.
//! Readers only parse and locate errors; they never tokenize, hash or write (that is `ingest`).
//! Shared parsing helpers live in `json` (raw-preserving objects, error locations) and `chat`
//! (OpenAI-style message lists), which are building blocks, not formats.

pub mod aa_recording;
pub mod aa_replay;
pub mod aider;
pub mod chat;
pub mod claude_code;
pub mod codex;
pub mod json;
pub mod mini_swe_agent;
pub mod mooncake;
pub mod openai_jsonl;
pub mod openhands;
pub mod swe_agent;
pub mod weka;

use std::fmt;
use std::path::Path;

use crate::schema::Trajectory;

/// Streams trajectories out of one unit of raw input. One implementation per format.
///
/// A unit may yield several trajectories (one per record, or a session and its sub-agents) and
/// errors between them: an `Err` is one rejected record, and reading goes on after it.
pub trait TraceReader: Iterator<Item = Result<Trajectory, FormatError>> + Send {}

impl<T: Iterator<Item = Result<Trajectory, FormatError>> + Send> TraceReader for T {}

/// A piece of raw input handed to a reader: a whole file, or for formats with one record per
/// line, a run of whole lines of it.
#[derive(Debug, Clone)]
pub struct SourceUnit {
    /// Path used in messages and in the dataset (`source_file`). It names the file on disk, so a
    /// reader may open files beside it (a replay directory's manifest, completion logs).
    pub path: String,
    /// The bytes.
    pub data: Vec<u8>,
    /// Line number (1-based) of the first byte of `data` within the file.
    pub first_line: u64,
}

/// What a format gives, for `trajkit formats` and the docs. Each format file defines one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct FormatDescription {
    /// The `--format` name.
    pub name: &'static str,
    /// The agent or tool that writes it.
    pub producer: &'static str,
    /// Usual file names (what a directory walk with a forced `--format` picks up).
    pub files: &'static str,
    /// How each turn's request is known: exact, reconstructed, or sizes only.
    pub context: &'static str,
    /// Which token counts the log reports (trajkit counts the rest with its tokenizer).
    pub reported_counts: &'static str,
    /// Which times the log records.
    pub timing: &'static str,
}

/// The raw formats trajkit reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SourceFormat {
    /// SWE-agent `*.traj` (v0 history only, 1.0 per-step `messages`, ≥1.1 per-step `query`).
    SweAgent,
    /// mini-swe-agent `*.traj.json` (`mini-swe-agent-1`, `-1.1`, bare message lists).
    MiniSweAgent,
    /// OpenHands evaluation `output.jsonl`, one instance per line.
    OpenHands,
    /// Claude Code session JSONL (`~/.claude/projects/…/<session>.jsonl`, sub-agent files).
    ClaudeCode,
    /// OpenAI Codex CLI rollout JSONL.
    Codex,
    /// Artificial Analysis agentperf-local replay trace (`traces/<task>.jsonl` of a replay dir).
    AaReplay,
    /// Artificial Analysis recording JSON (`metadata` + `events`).
    AaRecording,
    /// Aider `.aider.llm.history`.
    Aider,
    /// Mooncake sizes-only JSONL (`timestamp, input_length, output_length, hash_ids`).
    Mooncake,
    /// Weka / cc-traces sizes-only JSON (`block_size`, `requests` with nested sub-agents).
    Weka,
    /// OpenAI chat JSONL: one session per line, `{"id"?, "messages", "tools"?}`.
    OpenAiJsonl,
}

impl SourceFormat {
    /// Every format, in detection order: the most specific first, generic OpenAI JSONL last.
    pub const ALL: [SourceFormat; 11] = [
        SourceFormat::SweAgent,
        SourceFormat::MiniSweAgent,
        SourceFormat::OpenHands,
        SourceFormat::ClaudeCode,
        SourceFormat::Codex,
        SourceFormat::AaReplay,
        SourceFormat::AaRecording,
        SourceFormat::Aider,
        SourceFormat::Mooncake,
        SourceFormat::Weka,
        SourceFormat::OpenAiJsonl,
    ];

    /// What the format gives.
    pub fn description(self) -> &'static FormatDescription {
        match self {
            SourceFormat::SweAgent => &swe_agent::DESCRIPTION,
            SourceFormat::MiniSweAgent => &mini_swe_agent::DESCRIPTION,
            SourceFormat::OpenHands => &openhands::DESCRIPTION,
            SourceFormat::ClaudeCode => &claude_code::DESCRIPTION,
            SourceFormat::Codex => &codex::DESCRIPTION,
            SourceFormat::AaReplay => &aa_replay::DESCRIPTION,
            SourceFormat::AaRecording => &aa_recording::DESCRIPTION,
            SourceFormat::Aider => &aider::DESCRIPTION,
            SourceFormat::Mooncake => &mooncake::DESCRIPTION,
            SourceFormat::Weka => &weka::DESCRIPTION,
            SourceFormat::OpenAiJsonl => &openai_jsonl::DESCRIPTION,
        }
    }

    /// The `--format` name.
    pub fn name(self) -> &'static str {
        self.description().name
    }

    /// The format with this `--format` name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|format| format.name() == name)
    }

    /// Detects a file's format from its name and first bytes (`head`, up to 64 KiB).
    pub fn detect(path: &Path, head: &[u8]) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|format| format.matches(path, head))
    }

    fn matches(self, path: &Path, head: &[u8]) -> bool {
        match self {
            SourceFormat::SweAgent => swe_agent::detect(path, head),
            SourceFormat::MiniSweAgent => mini_swe_agent::detect(path, head),
            SourceFormat::OpenHands => openhands::detect(path, head),
            SourceFormat::ClaudeCode => claude_code::detect(path, head),
            SourceFormat::Codex => codex::detect(path, head),
            SourceFormat::AaReplay => aa_replay::detect(path, head),
            SourceFormat::AaRecording => aa_recording::detect(path, head),
            SourceFormat::Aider => aider::detect(path, head),
            SourceFormat::Mooncake => mooncake::detect(path, head),
            SourceFormat::Weka => weka::detect(path, head),
            SourceFormat::OpenAiJsonl => openai_jsonl::detect(path, head),
        }
    }

    /// Whether a file of this format is a candidate when a directory is walked with the format
    /// forced by `--format` (its usual file names).
    pub fn claims_file_name(self, path: &Path) -> bool {
        let name = file_name(path);
        match self {
            SourceFormat::SweAgent => swe_agent::claims_file_name(&name),
            SourceFormat::MiniSweAgent => name.ends_with(".traj.json"),
            SourceFormat::OpenHands => openhands::claims_file_name(&name),
            SourceFormat::ClaudeCode => claude_code::claims_file_name(&name),
            SourceFormat::Codex => codex::claims_file_name(&name),
            SourceFormat::AaReplay => aa_replay::claims_file_name(&name),
            SourceFormat::AaRecording => aa_recording::claims_file_name(&name),
            SourceFormat::Aider => aider::claims_file_name(&name),
            SourceFormat::Mooncake => mooncake::claims_file_name(&name),
            SourceFormat::Weka => weka::claims_file_name(&name),
            SourceFormat::OpenAiJsonl => name.ends_with(".jsonl"),
        }
    }

    /// Whether each line is a record of its own, so a file may be split at line boundaries and
    /// read in parallel.
    pub fn is_line_oriented(self) -> bool {
        matches!(self, SourceFormat::OpenAiJsonl | SourceFormat::OpenHands)
    }

    /// A reader for one unit of input.
    pub fn reader(self, unit: SourceUnit) -> Box<dyn TraceReader> {
        match self {
            SourceFormat::SweAgent => Box::new(swe_agent::read(unit)),
            SourceFormat::MiniSweAgent => Box::new(mini_swe_agent::read(unit)),
            SourceFormat::OpenHands => Box::new(openhands::read(unit)),
            SourceFormat::ClaudeCode => Box::new(claude_code::read(unit)),
            SourceFormat::Codex => Box::new(codex::read(unit)),
            SourceFormat::AaReplay => Box::new(aa_replay::read(unit)),
            SourceFormat::AaRecording => Box::new(aa_recording::read(unit)),
            SourceFormat::Aider => Box::new(aider::read(unit)),
            SourceFormat::Mooncake => Box::new(mooncake::read(unit)),
            SourceFormat::Weka => Box::new(weka::read(unit)),
            SourceFormat::OpenAiJsonl => Box::new(openai_jsonl::read(unit)),
        }
    }
}

impl fmt::Display for SourceFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A record that cannot be read, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FormatError {
    /// File.
    pub path: String,
    /// Line (1-based), when known.
    pub line: Option<u64>,
    /// Column (1-based, in bytes), when known.
    pub column: Option<u64>,
    /// JSON path of the offending value within the record, when known.
    pub json_path: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        if let Some(json_path) = &self.json_path {
            write!(f, ": {json_path}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Session id from a file name: the name without the format's suffix.
pub(crate) fn file_stem_id(path: &str, suffixes: &[&str]) -> String {
    let name = Path::new(path)
        .file_name()
        .map_or_else(|| path.to_owned(), |n| n.to_string_lossy().into_owned());
    suffixes
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .filter(|stem| !stem.is_empty())
        .map_or_else(|| name.clone(), str::to_owned)
}

/// Whether a file name ends with `suffix`, ignoring ASCII case (`TRACE.JSONL`).
pub(crate) fn has_suffix(name: &str, suffix: &str) -> bool {
    let (name, suffix) = (name.as_bytes(), suffix.as_bytes());
    name.len() >= suffix.len() && name[name.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

/// A path's file name, lossily as text; empty when it has none.
pub(crate) fn file_name(path: &Path) -> std::borrow::Cow<'_, str> {
    path.file_name()
        .map(|name| name.to_string_lossy())
        .unwrap_or_default()
}
