//! Finds the files to ingest and each one's format, before any is read whole.
//!
//! Order is part of the output: inputs are taken in command-line order and directories are
//! walked with entries sorted by name, so the dataset is the same on every machine. Hidden entries
//! (names starting with `.`, such as trajkit's own temporary directories) are not walked.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::formats::SourceFormat;

/// Bytes read from the start of each file for format detection.
pub const HEAD_BYTES: usize = 64 << 10;

/// A file to ingest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// Path to open.
    pub path: PathBuf,
    /// Path as recorded in the dataset and in messages.
    pub display: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Its format; `None` when it could not be detected.
    pub format: Option<SourceFormat>,
    /// Whether it was named on the command line (rather than found in a directory).
    pub explicit: bool,
}

/// The outcome of discovery.
#[derive(Debug, Default)]
pub struct Plan {
    /// Files to read (including explicit files of unknown format, which become rejects).
    pub files: Vec<PlannedFile>,
    /// Files under directories whose format was not recognized.
    pub skipped: Vec<String>,
}

/// An input could not be listed or opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot read input `{}`: {source}", path.display())]
pub struct DiscoverError {
    /// The input.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

/// Lists and classifies the files under `inputs`, leaving out anything under `exclude` (the
/// output dataset). With `forced`, directories contribute the files that format usually names.
pub fn plan(
    inputs: &[PathBuf],
    forced: Option<SourceFormat>,
    exclude: &Path,
) -> Result<Plan, DiscoverError> {
    let mut found: Vec<(PathBuf, bool)> = Vec::new();
    for input in inputs {
        let metadata = fs_err::metadata(input).map_err(|source| DiscoverError {
            path: input.clone(),
            source,
        })?;
        if metadata.is_dir() {
            walk(input, exclude, &mut found)?;
        } else {
            found.push((input.clone(), true));
        }
    }
    let mut plan = Plan::default();
    let mut seen = std::collections::HashSet::new();
    for (path, explicit) in found {
        if !seen.insert(path.clone()) {
            continue;
        }
        let display = path.to_string_lossy().into_owned();
        if !explicit && forced.is_some_and(|format| !format.claims_file_name(&path)) {
            plan.skipped.push(display);
            continue;
        }
        let (bytes, head) = read_head(&path)?;
        let format = forced.or_else(|| SourceFormat::detect(&path, &head));
        if format.is_none() && !explicit {
            plan.skipped.push(display);
            continue;
        }
        plan.files.push(PlannedFile {
            path,
            display,
            bytes,
            format,
            explicit,
        });
    }
    Ok(plan)
}

fn walk(
    directory: &Path,
    exclude: &Path,
    found: &mut Vec<(PathBuf, bool)>,
) -> Result<(), DiscoverError> {
    let error = |source| DiscoverError {
        path: directory.to_owned(),
        source,
    };
    let mut entries: Vec<_> = fs_err::read_dir(directory)
        .map_err(error)?
        .collect::<Result<_, _>>()
        .map_err(error)?;
    entries.sort_by_key(fs_err::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') || path == exclude {
            continue;
        }
        let file_type = entry.file_type().map_err(error)?;
        if file_type.is_dir() {
            walk(&path, exclude, found)?;
        } else if file_type.is_file() || (file_type.is_symlink() && path.is_file()) {
            found.push((path, false));
        }
    }
    Ok(())
}

fn read_head(path: &Path) -> Result<(u64, Vec<u8>), DiscoverError> {
    let error = |source| DiscoverError {
        path: path.to_owned(),
        source,
    };
    let file = fs_err::File::open(path).map_err(error)?;
    let bytes = file.metadata().map_err(error)?.len();
    let mut head = Vec::with_capacity(HEAD_BYTES);
    file.take(HEAD_BYTES as u64)
        .read_to_end(&mut head)
        .map_err(error)?;
    Ok((bytes, head))
}
