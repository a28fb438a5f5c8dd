//! Writing a single output file atomically: a temporary file beside the target, synced, then
//! renamed over it, so an interrupted run leaves either the old file or the whole new one.
//!
//! Only regular files (or new paths) are replaced that way. A target that exists and is not a
//! regular file (`/dev/null`, `/dev/stdout`, a FIFO) is written in place: renaming over it would
//! replace the device itself with a plain file.

use std::io::Write;
use std::path::Path;

/// Writes `contents` to `path`: atomically when `path` is, or will be, a regular file.
pub fn write_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    match fs_err::metadata(path) {
        Ok(metadata) if !metadata.is_file() && !metadata.is_dir() => {
            let mut file = fs_err::OpenOptions::new().write(true).open(path)?;
            return file.write_all(contents);
        }
        _ => {}
    }
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".trajkit-").suffix(".tmp");
    // A temporary file is private (0600); the output is a report to share: keep the replaced
    // file's mode, or give a new one the usual 0644.
    #[cfg(unix)]
    let permissions = {
        use std::os::unix::fs::PermissionsExt;
        fs_err::metadata(path).map_or_else(
            |_| std::fs::Permissions::from_mode(0o644),
            |metadata| metadata.permissions(),
        )
    };
    #[cfg(unix)]
    builder.permissions(permissions);
    let mut file = builder.tempfile_in(directory)?;
    file.write_all(contents)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|error| error.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_are_written_in_place_and_files_replaced_whole() {
        let null = Path::new("/dev/null");
        if null.exists() {
            write_file(null, b"discarded").unwrap();
            let metadata = fs_err::metadata(null).unwrap();
            assert!(!metadata.is_file(), "/dev/null must stay a device");
        }
        let directory = tempfile::tempdir().unwrap();
        let target = directory.path().join("report.json");
        write_file(&target, b"first").unwrap();
        write_file(&target, b"second").unwrap();
        assert_eq!(fs_err::read(&target).unwrap(), b"second");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs_err::metadata(&target).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o644, "{mode:o}");
        }
        assert_eq!(fs_err::read_dir(directory.path()).unwrap().count(), 1);
    }
}
