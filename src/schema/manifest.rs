//! `manifest.json`, the entry point of a dataset directory: what it holds and how it was made.
//!
//! A reader opens the manifest first and refuses a dataset whose `schema_version` it does not
//! know. Everything here is deterministic for given inputs and flags (no clock, no host name), so
//! that the same ingest gives a byte-identical dataset.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// File name of the manifest inside a dataset directory.
pub const MANIFEST_FILE: &str = "manifest.json";

/// The manifest of a trajectory dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Version of the trajectory format (`SCHEMA_VERSION`).
    pub schema_version: String,
    /// Version of trajkit that wrote the dataset.
    pub trajkit_version: String,
    /// Dataset name (the output directory's name unless given).
    pub name: String,
    /// The parameters the dataset was created with.
    pub creation: CreationParameters,
    /// Tokenizer used for every counted token and hash id; null for `--tokenizer none`.
    pub tokenizer: Option<TokenizerIdentity>,
    /// How prefix-block hash ids were computed; null without a tokenizer.
    pub hash: Option<HashParameters>,
    /// The Parquet tables of the dataset.
    pub tables: Tables,
    /// Every raw input file that was read, in ingest order.
    pub sources: Vec<SourceFile>,
    /// Records that could not be ingested.
    pub rejects: Rejects,
    /// Files found under input directories whose format was not recognized; they were not read.
    pub skipped_files: Vec<String>,
}

/// The command and flags that created the dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreationParameters {
    /// Subcommand that wrote the dataset (`ingest`, or the deriving command: `filter`, …).
    pub command: String,
    /// Inputs as given on the command line (raw logs, or the datasets a derived one came from).
    pub inputs: Vec<String>,
    /// `--format` value (`auto` or a format name); `trajkit` for a derived dataset.
    pub format: String,
    /// `--tokenizer` value as given.
    pub tokenizer: String,
    /// Whether `--strict` was set.
    pub strict: bool,
    /// For a dataset derived from datasets (`filter`, `sample`, …): the command's arguments as
    /// given, so that it can be made again; absent for `ingest`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arguments: Vec<String>,
}

/// Identity of a tokenizer, precise enough to reproduce every count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenizerIdentity {
    /// Name: the built-in name (`o200k`) or the `tokenizer.json` file name with its directory.
    pub name: String,
    /// `huggingface` (a `tokenizer.json`) or `tiktoken` (built in).
    pub kind: String,
    /// SHA-256 of the `tokenizer.json` bytes, or for built-ins of the rank-to-bytes table
    /// (each rank as 4 little-endian bytes, then the token's length as 4 and its bytes).
    pub sha256: String,
}

/// Parameters of the chained prefix-block hashes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HashParameters {
    /// Tokens per block.
    pub block_size: u32,
    /// Hash algorithm: `xxh3-64-chained`, where block `i`'s id is XXH3-64 of its token ids
    /// (4 little-endian bytes each) seeded with block `i-1`'s id (0 for the first block).
    pub algorithm: String,
    /// The token stream hashed for a turn: the tool definitions' tokens, then each request
    /// message's tokens in order.
    pub token_stream: String,
    /// Whether the last block of a request may be partial (it is hashed too).
    pub partial_last_block: bool,
}

/// The dataset's Parquet tables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tables {
    /// One row per LLM call.
    pub turns: TableFile,
    /// One row per session.
    pub sessions: TableFile,
    /// One row per distinct message per session.
    pub messages: TableFile,
}

/// One Parquet table file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TableFile {
    /// File name inside the dataset directory.
    pub path: String,
    /// Number of rows.
    pub rows: u64,
}

/// A raw input file and what came out of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceFile {
    /// Path as given or found.
    pub path: String,
    /// Detected or forced format; null when it could not be detected.
    pub format: Option<String>,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the file's bytes.
    pub sha256: String,
    /// Sessions ingested from the file.
    pub sessions: u64,
    /// Turns ingested from the file.
    pub turns: u64,
    /// Records of the file that were rejected.
    pub rejects: u64,
}

/// Rejected records: counted exactly, listed up to a limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rejects {
    /// Number of rejected records.
    pub count: u64,
    /// The first rejected records (at most `REJECTS_LISTED`), in ingest order.
    pub records: Vec<RejectedRecord>,
}

/// Rejected records listed in the manifest at most; the count stays exact beyond it.
pub const REJECTS_LISTED: usize = 10_000;

/// One rejected record and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectedRecord {
    /// Raw file.
    pub file: String,
    /// Line (1-based) where the problem is, when known.
    pub line: Option<u64>,
    /// Column (1-based) where the problem is, when known.
    pub column: Option<u64>,
    /// JSON path of the offending value inside the record, when known.
    pub json_path: Option<String>,
    /// What is wrong.
    pub message: String,
}
