//! The export's output directory, written atomically: files go into a temporary sibling
//! directory, which is synced and renamed over the target at the end, so an interrupted export
//! leaves either the previous directory or the whole new one (as `store::DatasetWriter` does for
//! datasets). A marker file says the directory is an export, so `--force` may replace it later;
//! any other non-empty directory is never replaced.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::ExportError;

/// Name of the marker file every export directory holds.
pub const MARKER_FILE: &str = ".trajkit-export.json";

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.to_owned(),
        source,
    }
}

/// An export directory being written.
#[derive(Debug)]
pub struct OutputDirectory {
    target: PathBuf,
    temporary: PathBuf,
    replace: bool,
    files: Vec<String>,
    finished: bool,
}

impl OutputDirectory {
    /// Starts an export that will appear at `target`. Without `force` the target must not exist;
    /// with it, a previous export or an empty directory is replaced at the end.
    pub fn create(target: &Path, force: bool) -> Result<OutputDirectory, ExportError> {
        let replace = match fs_err::metadata(target) {
            Ok(_) if !force => {
                return Err(ExportError::Exists {
                    path: target.to_owned(),
                });
            }
            Ok(metadata) => {
                let is_export = target.join(MARKER_FILE).is_file();
                let is_empty_directory = metadata.is_dir()
                    && fs_err::read_dir(target)
                        .map_err(io_error(target))?
                        .next()
                        .is_none();
                if !is_export && !is_empty_directory {
                    return Err(ExportError::NotReplaceable {
                        path: target.to_owned(),
                    });
                }
                true
            }
            Err(_) => false,
        };
        let parent = match target.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
            _ => PathBuf::from("."),
        };
        fs_err::create_dir_all(&parent).map_err(io_error(&parent))?;
        let name = target
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .ok_or_else(|| ExportError::Io {
                path: target.to_owned(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "the output path has no directory name",
                ),
            })?;
        let temporary = parent.join(format!(".{name}.trajkit-export-{}", std::process::id()));
        if temporary.exists() {
            fs_err::remove_dir_all(&temporary).map_err(io_error(&temporary))?;
        }
        fs_err::create_dir(&temporary).map_err(io_error(&temporary))?;
        Ok(OutputDirectory {
            target: target.to_owned(),
            temporary,
            replace,
            files: Vec::new(),
            finished: false,
        })
    }

    /// Files created so far, relative to the directory, in creation order.
    pub fn files(&self) -> &[String] {
        &self.files
    }

    /// Creates the file `relative` (`/`-separated; parents are made) for buffered writing.
    pub fn create_file(&mut self, relative: &str) -> Result<OutputFile, ExportError> {
        let path = self.temporary.join(relative);
        if let Some(parent) = path.parent() {
            fs_err::create_dir_all(parent).map_err(io_error(parent))?;
        }
        let file = File::create(&path).map_err(io_error(&path))?;
        self.files.push(relative.to_owned());
        Ok(OutputFile {
            writer: BufWriter::with_capacity(1 << 20, file),
            shown: self.target.join(relative),
            path,
        })
    }

    /// Writes the marker, syncs, and moves the directory into place.
    pub fn finish(mut self, marker: &str) -> Result<(), ExportError> {
        let mut file = self.create_file(MARKER_FILE)?;
        self.files.pop();
        file.write(marker.as_bytes())?;
        file.finish()?;
        if let Ok(directory) = File::open(&self.temporary) {
            // Not every file system syncs directories; a failure does not make the output partial.
            let _ = directory.sync_all();
        }
        if self.replace {
            let parent = self.temporary.parent().unwrap_or(Path::new("."));
            let name = self
                .target
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default();
            let old = parent.join(format!(".{name}.trajkit-export-old-{}", std::process::id()));
            fs_err::rename(&self.target, &old).map_err(io_error(&self.target))?;
            fs_err::rename(&self.temporary, &self.target).map_err(io_error(&self.target))?;
            fs_err::remove_dir_all(&old).map_err(io_error(&old))?;
        } else {
            fs_err::rename(&self.temporary, &self.target).map_err(io_error(&self.target))?;
        }
        self.finished = true;
        Ok(())
    }
}

impl Drop for OutputDirectory {
    fn drop(&mut self) {
        if !self.finished {
            // Best effort: a failed export leaves nothing behind.
            let _ = fs_err::remove_dir_all(&self.temporary);
        }
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
