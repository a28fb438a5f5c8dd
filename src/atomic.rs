//! Writing a single output file atomically: a temporary file beside the target, synced, then
//! renamed over it, so an interrupted run leaves either the old file or the whole new one.

use std::io::Write;
use std::path::Path;

/// Writes `contents` to `path` atomically.
pub fn write_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut file = tempfile::Builder::new()
        .prefix(".trajkit-")
        .suffix(".tmp")
        .tempfile_in(directory)?;
    file.write_all(contents)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|error| error.error)?;
    Ok(())
}
