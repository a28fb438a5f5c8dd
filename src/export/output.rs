//! The export's output directory, written atomically (`staged`): an interrupted export leaves
//! either the previous directory or the whole new one. A marker file says the directory is an
//! export, so `--force` may replace it later; any other non-empty directory is never replaced.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::ExportError;
use crate::staged::{DirectoryKind, StageError, StagedDirectory};

/// Name of the marker file every export directory holds.
pub const MARKER_FILE: &str = ".trajkit-export.json";

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.to_owned(),
        source,
    }
}

/// How an export directory is recognised, so that `--force` replaces only exports.
const EXPORT_DIRECTORY: DirectoryKind = DirectoryKind {
    marker: MARKER_FILE,
    what: "trajkit export",
};

impl From<StageError> for ExportError {
    fn from(error: StageError) -> ExportError {
        match error {
            StageError::Exists { path } => ExportError::Exists { path },
            StageError::NotReplaceable { path, .. } => ExportError::NotReplaceable { path },
            StageError::Io { path, source } => ExportError::Io { path, source },
        }
    }
}

/// An export directory being written.
#[derive(Debug)]
pub struct OutputDirectory {
    directory: StagedDirectory,
    files: Vec<String>,
}

impl OutputDirectory {
    /// Starts an export that will appear at `target`. Without `force` the target must not exist;
    /// with it, a previous export or an empty directory is replaced at the end.
    pub fn create(target: &Path, force: bool) -> Result<OutputDirectory, ExportError> {
        Ok(OutputDirectory {
            directory: StagedDirectory::create(target, force, EXPORT_DIRECTORY)?,
            files: Vec::new(),
        })
    }

    /// Files created so far, relative to the directory, in creation order.
    pub fn files(&self) -> &[String] {
        &self.files
    }

    /// Creates the file `relative` (`/`-separated; parents are made) for buffered writing.
    pub fn create_file(&mut self, relative: &str) -> Result<OutputFile, ExportError> {
        let path = self.directory.path().join(relative);
        if let Some(parent) = path.parent() {
            fs_err::create_dir_all(parent).map_err(io_error(parent))?;
        }
        let file = File::create(&path).map_err(io_error(&path))?;
        self.files.push(relative.to_owned());
        Ok(OutputFile {
            writer: BufWriter::with_capacity(1 << 20, file),
            shown: self.directory.target().join(relative),
            path,
        })
    }

    /// Writes the marker, syncs, and moves the directory into place.
    pub fn finish(mut self, marker: &str) -> Result<(), ExportError> {
        let mut file = self.create_file(MARKER_FILE)?;
        self.files.pop();
        file.write(marker.as_bytes())?;
        file.finish()?;
        Ok(self.directory.finish()?)
    }
}

/// One output file being written; errors name the file as it will be once in place.
pub struct OutputFile {
    writer: BufWriter<File>,
    path: PathBuf,
    shown: PathBuf,
}

impl OutputFile {
    /// Appends bytes.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), ExportError> {
        self.writer.write_all(bytes).map_err(io_error(&self.shown))
    }

    /// Appends a JSON value and a newline.
    pub fn write_line(&mut self, value: &serde_json::Value) -> Result<(), ExportError> {
        serde_json::to_writer(&mut self.writer, value)
            .map_err(|error| io_error(&self.shown)(error.into()))?;
        self.write(b"\n")
    }

    /// Flushes and syncs the file.
    pub fn finish(mut self) -> Result<(), ExportError> {
        self.writer.flush().map_err(io_error(&self.shown))?;
        self.writer
            .get_ref()
            .sync_all()
            .map_err(io_error(&self.path))
    }
}
