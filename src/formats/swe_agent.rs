//! PLACEHOLDER: the swe-agent reader is being written; until then nothing is detected as swe-agent.

use std::path::Path;

use super::{FormatDescription, FormatError, SourceUnit};
use crate::schema::Trajectory;

/// What the format gives.
pub const DESCRIPTION: FormatDescription = FormatDescription {
    name: "swe-agent",
    producer: "",
    files: "",
    context: "",
    reported_counts: "",
    timing: "",
};

/// Whether a file looks like this format.
pub fn detect(_path: &Path, _head: &[u8]) -> bool {
    false
}

/// Whether a file name is one this format usually has.
pub fn claims_file_name(_name: &str) -> bool {
    false
}

/// Reads one unit.
pub fn read(unit: SourceUnit) -> impl Iterator<Item = Result<Trajectory, FormatError>> + Send {
    std::iter::once(Err(FormatError {
        path: unit.path,
        line: None,
        column: None,
        json_path: None,
        message: "the swe-agent reader is not written yet".to_owned(),
    }))
}
