//! Raw agent-log formats: one file per format behind the `TraceReader` trait, chosen by the
//! exhaustive `SourceFormat` enum.
//!
//! Adding a format means a file here, a variant, its match arms, and `tests/fixtures/<name>/`.
//! Readers only parse and locate errors; they never tokenize, hash or write (that is `ingest`).
//! Shared parsing helpers live in `json` (raw-preserving objects, error locations) and `chat`
//! (OpenAI-style message lists), which are building blocks, not formats.

pub mod chat;
pub mod json;
pub mod mini_swe_agent;
pub mod openai_jsonl;

use std::fmt;
use std::path::Path;

use crate::schema::Trajectory;

/// Streams trajectories out of one unit of raw input. One implementation per format.
pub trait TraceReader: Iterator<Item = Result<Trajectory, FormatError>> + Send {}

impl<T: Iterator<Item = Result<Trajectory, FormatError>> + Send> TraceReader for T {}

/// A piece of raw input handed to a reader: a whole file, or for formats with one record per
/// line, a run of whole lines of it.
#[derive(Debug, Clone)]
pub struct SourceUnit {
    /// Path used in messages and in the dataset (`source_file`).
    pub path: String,
    /// The bytes.
    pub data: Vec<u8>,
    /// Line number (1-based) of the first byte of `data` within the file.
    pub first_line: u64,
}

/// The raw formats trajkit reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SourceFormat {
    /// mini-swe-agent `*.traj.json` (`mini-swe-agent-1`, `-1.1`, bare message lists).
    MiniSweAgent,
    /// OpenAI chat JSONL: one session per line, `{"id"?, "messages", "tools"?}`.
    OpenAiJsonl,
}

impl SourceFormat {
    /// Every format, in detection order.
    pub const ALL: [SourceFormat; 2] = [SourceFormat::MiniSweAgent, SourceFormat::OpenAiJsonl];

    /// The `--format` name.
    pub fn name(self) -> &'static str {
        match self {
            SourceFormat::MiniSweAgent => "mini-swe-agent",
            SourceFormat::OpenAiJsonl => "openai-jsonl",
        }
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
            SourceFormat::MiniSweAgent => mini_swe_agent::detect(path, head),
            SourceFormat::OpenAiJsonl => openai_jsonl::detect(path, head),
        }
    }

    /// Whether a file of this format is a candidate when a directory is walked with the format
    /// forced by `--format` (its usual file names).
    pub fn claims_file_name(self, path: &Path) -> bool {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        match self {
            SourceFormat::MiniSweAgent => name.ends_with(".traj.json"),
            SourceFormat::OpenAiJsonl => name.ends_with(".jsonl"),
        }
    }

    /// Whether each line is a record of its own, so a file may be split at line boundaries and
    /// read in parallel.
    pub fn is_line_oriented(self) -> bool {
        match self {
            SourceFormat::MiniSweAgent => false,
            SourceFormat::OpenAiJsonl => true,
        }
    }

    /// A reader for one unit of input.
    pub fn reader(self, unit: SourceUnit) -> Box<dyn TraceReader> {
        match self {
            SourceFormat::MiniSweAgent => Box::new(mini_swe_agent::read(unit)),
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
