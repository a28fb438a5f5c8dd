//! Output directories written atomically. Every command that writes a directory (ingest and the
//! dataset transforms, export, split) builds it in a hidden sibling, syncs it, and renames it over
//! the target at the end, so an interrupted run leaves either the previous directory or the whole
//! new one, never a half. The target is replaced only with `--force`, and only when it is this
//! command's own earlier output (it holds the command's marker file) or an empty directory: any
//! other directory is never replaced.
//!
//! Staging siblings are named `.NAME.trajkit-tmp-PID` (and `.NAME.trajkit-old-PID` for the
//! moment of the swap); those of processes that no longer run are removed at the next write.

use std::fs::File;
use std::path::{Path, PathBuf};

/// Why a staged directory could not be started or put in place.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// The target exists and `--force` was not given.
    #[error("`{}` already exists\nhint: pass --force to replace it", path.display())]
    Exists {
        /// The target.
        path: PathBuf,
    },
    /// The target exists, is not empty and is not this command's output.
    #[error("`{}` exists, is not empty and is not a {what}; refusing to replace it", path.display())]
    NotReplaceable {
        /// The target.
        path: PathBuf,
        /// What the command writes (`trajkit dataset`, `trajkit export`, …).
        what: &'static str,
    },
    /// A file system operation failed.
    #[error("cannot write `{}`: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StageError + '_ {
    move |source| StageError::Io {
        path: path.to_owned(),
        source,
    }
}

/// What kind of directory a command writes: how to recognise its earlier output.
#[derive(Debug, Clone, Copy)]
pub struct DirectoryKind {
    /// A file every such directory holds (a manifest or marker).
    pub marker: &'static str,
    /// Its name in messages (`trajkit dataset`).
    pub what: &'static str,
}

/// A directory being written in a hidden sibling of its target.
#[derive(Debug)]
pub struct StagedDirectory {
    target: PathBuf,
    temporary: PathBuf,
    replace: bool,
    finished: bool,
}

impl StagedDirectory {
    /// Starts a directory that will appear at `target`. Without `force` the target must not
    /// exist; with it, an earlier directory of the same `kind`, or an empty one, is replaced at
    /// the end.
    pub fn create(
        target: &Path,
        force: bool,
        kind: DirectoryKind,
    ) -> Result<StagedDirectory, StageError> {
        let replace = match fs_err::metadata(target) {
            Ok(_) if !force => {
                return Err(StageError::Exists {
                    path: target.to_owned(),
                });
            }
            Ok(metadata) => {
                let is_same_kind = target.join(kind.marker).is_file();
                let is_empty_directory = metadata.is_dir()
                    && fs_err::read_dir(target)
                        .map_err(io_error(target))?
                        .next()
                        .is_none();
                if !is_same_kind && !is_empty_directory {
                    return Err(StageError::NotReplaceable {
                        path: target.to_owned(),
                        what: kind.what,
                    });
                }
                true
            }
            Err(_) => false,
        };
        let parent = parent_of(target);
        fs_err::create_dir_all(&parent).map_err(io_error(&parent))?;
        let name = directory_name(target)?;
        remove_stale_siblings(&parent, &name);
        let temporary = parent.join(format!(".{name}.trajkit-tmp-{}", std::process::id()));
        if temporary.exists() {
            fs_err::remove_dir_all(&temporary).map_err(io_error(&temporary))?;
        }
        fs_err::create_dir(&temporary).map_err(io_error(&temporary))?;
        Ok(StagedDirectory {
            target: target.to_owned(),
            temporary,
            replace,
            finished: false,
        })
    }

    /// Where the files go until [`StagedDirectory::finish`].
    pub fn path(&self) -> &Path {
        &self.temporary
    }

    /// Where the directory will be.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Syncs the staged directory and moves it over the target.
    pub fn finish(mut self) -> Result<(), StageError> {
        sync_directory(&self.temporary);
        if self.replace {
            let name = directory_name(&self.target)?;
            let old =
                parent_of(&self.target).join(format!(".{name}.trajkit-old-{}", std::process::id()));
            fs_err::rename(&self.target, &old).map_err(io_error(&self.target))?;
            fs_err::rename(&self.temporary, &self.target).map_err(io_error(&self.target))?;
            fs_err::remove_dir_all(&old).map_err(io_error(&old))?;
        } else {
            fs_err::rename(&self.temporary, &self.target).map_err(io_error(&self.target))?;
        }
        sync_directory(&parent_of(&self.target));
        self.finished = true;
        Ok(())
    }
}

impl Drop for StagedDirectory {
    fn drop(&mut self) {
        if !self.finished {
            // Best effort: a failed run leaves nothing behind; a killed one is cleaned next time.
            let _ = fs_err::remove_dir_all(&self.temporary);
        }
    }
}

fn parent_of(target: &Path) -> PathBuf {
    match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    }
}

fn directory_name(target: &Path) -> Result<String, StageError> {
    target
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .ok_or_else(|| StageError::Io {
            path: target.to_owned(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the output path has no directory name",
            ),
        })
}

/// Removes `.NAME.trajkit-tmp-PID` and `.NAME.trajkit-old-PID` directories left by processes
/// that no longer run.
fn remove_stale_siblings(parent: &Path, name: &str) {
    let Ok(entries) = fs_err::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = file_name.strip_prefix(&format!(".{name}.trajkit-")) else {
            continue;
        };
        let Some(pid) = rest
            .strip_prefix("tmp-")
            .or_else(|| rest.strip_prefix("old-"))
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let alive = pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists();
        if !alive && Path::new("/proc/self").exists() {
            let _ = fs_err::remove_dir_all(entry.path());
        }
    }
}

/// Syncs a directory, so that renames in it survive a power loss. Not every file system supports
/// it, and a failure there does not make the output partial.
pub fn sync_directory(path: &Path) {
    if let Ok(directory) = File::open(path) {
        let _ = directory.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIND: DirectoryKind = DirectoryKind {
        marker: "marker.json",
        what: "test output",
    };

    fn entries(directory: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs_err::read_dir(directory)
            .expect("read directory")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_directory_appears_whole_and_replaces_only_its_own_kind() {
        let root = tempfile::tempdir().expect("temporary directory");
        let target = root.path().join("out");
        let staged = StagedDirectory::create(&target, false, KIND).expect("create");
        fs_err::write(staged.path().join("marker.json"), "{}").expect("write");
        assert!(!target.exists(), "nothing at the target before finish");
        staged.finish().expect("finish");
        assert_eq!(entries(&target), ["marker.json"]);

        assert!(matches!(
            StagedDirectory::create(&target, false, KIND),
            Err(StageError::Exists { .. })
        ));
        let staged = StagedDirectory::create(&target, true, KIND).expect("replace own kind");
        fs_err::write(staged.path().join("marker.json"), "{}").expect("write");
        fs_err::write(staged.path().join("second"), "").expect("write");
        staged.finish().expect("finish");
        assert_eq!(entries(&target), ["marker.json", "second"]);

        let foreign = root.path().join("foreign");
        fs_err::create_dir(&foreign).expect("mkdir");
        fs_err::write(foreign.join("notes.txt"), "mine").expect("write");
        assert!(matches!(
            StagedDirectory::create(&foreign, true, KIND),
            Err(StageError::NotReplaceable { .. })
        ));
        let empty = root.path().join("empty");
        fs_err::create_dir(&empty).expect("mkdir");
        StagedDirectory::create(&empty, true, KIND)
            .expect("an empty directory is replaceable")
            .finish()
            .expect("finish");

        // Dropped unfinished: the staging sibling goes, the target stays as it was.
        let staged = StagedDirectory::create(&target, true, KIND).expect("create");
        fs_err::write(staged.path().join("marker.json"), "{}").expect("write");
        drop(staged);
        assert_eq!(entries(root.path()), ["empty", "foreign", "out"]);
        assert_eq!(entries(&target), ["marker.json", "second"]);
    }
}
