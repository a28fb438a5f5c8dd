//! The trajectory format: row types, the Arrow schema traced from them, the manifest, and the
//! in-memory trajectory that readers produce.
//!
//! This is the bottom layer: it imports nothing else from the crate, and every other module takes
//! its column names and types from here (the `arrow-schema` role in arrow-rs).

pub mod arrow;
pub mod columns;
pub mod generate;
pub mod manifest;
pub mod rows;
pub mod trajectory;

pub use manifest::Manifest;
pub use rows::{MessageRange, MessageRow, SessionRow, ToolCallRow, TurnRow};
pub use trajectory::{GivenHashes, Message, ReportedUsage, SessionInfo, Trajectory, Turn};

/// Version of the trajectory format written by this build. Readers accept datasets with the same
/// major version.
pub const SCHEMA_VERSION: &str = "1.1.0";

/// Parquet key-value metadata key holding `SCHEMA_VERSION`.
pub const METADATA_SCHEMA_VERSION: &str = "trajkit.schema_version";
/// Parquet key-value metadata key holding the tokenizer identity as JSON (`null` without one).
pub const METADATA_TOKENIZER: &str = "trajkit.tokenizer";
/// Parquet key-value metadata key holding the table name (`turns`, `sessions`, `messages`).
pub const METADATA_TABLE: &str = "trajkit.table";

/// How faithfully a turn's stored context reproduces the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exactness {
    /// The log holds the request as sent.
    Exact,
    /// Rebuilt from an event stream; may differ from what was sent.
    Reconstructed,
    /// Only sizes are known; no text.
    SizesOnly,
}

impl Exactness {
    /// The value stored in `turns.exactness`.
    pub fn as_str(self) -> &'static str {
        match self {
            Exactness::Exact => "exact",
            Exactness::Reconstructed => "reconstructed",
            Exactness::SizesOnly => "sizes_only",
        }
    }
}

/// Whether a dataset written with `version` can be read by this build.
pub fn is_supported_version(version: &str) -> bool {
    let major = |v: &str| v.split('.').next().map(str::to_owned);
    major(version) == major(SCHEMA_VERSION)
}
