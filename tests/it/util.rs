//! Shared test helpers: the binary, temporary directories, paths to fixtures and to the shared
//! corpora, and the Python environment the test command sets up.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The embedded sample dataset's raw trajectories.
pub fn sample_inputs() -> PathBuf {
    repo().join("datasets/mini-swe-agent-sample/trajs")
}

/// `../shared/<relative>`, which CI checks out beside the repository. A missing corpus fails the
/// test: a check that silently skips would report a pass it never made.
pub fn shared(relative: &str) -> PathBuf {
    let base =
        std::env::var_os("TRAJKIT_SHARED").map_or_else(|| repo().join("../shared"), PathBuf::from);
    let path = base.join(relative);
    assert!(
        path.exists(),
        "`{}` is missing: the shared corpora must sit beside the repository (or set TRAJKIT_SHARED)",
        path.display()
    );
    path
}

/// The mini-swe-agent corpus.
pub fn corpus() -> PathBuf {
    shared("data/corpus/mini-swe-agent-gemini3pro/trajs")
}

/// The DeepSeek V4 tokenizer.
pub fn deepseek_tokenizer() -> PathBuf {
    shared("data/tokenizers/deepseek-v4/tokenizer.json")
}

/// The Python interpreter of the environment `scripts/test` prepares (pyarrow, duckdb, …).
pub fn python() -> PathBuf {
    let path = std::env::var_os("TRAJKIT_PYTHON").map_or_else(
        || {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/trajkit/venv/bin/python")
        },
        PathBuf::from,
    );
    assert!(
        path.exists(),
        "`{}` is missing: run the tests with `scripts/test` (it installs the Python packages)",
        path.display()
    );
    path
}

/// The arguments of `trajkit ingest INPUT... -o OUTPUT FLAG...`.
pub fn ingest_args(inputs: &[&Path], output: &Path, flags: &[&str]) -> Vec<OsString> {
    let mut args = vec![OsString::from("ingest")];
    args.extend(inputs.iter().map(|input| input.as_os_str().to_owned()));
    args.push("-o".into());
    args.push(output.as_os_str().to_owned());
    args.extend(flags.iter().map(OsString::from));
    args
}

/// A `trajkit` command.
pub fn trajkit() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_trajkit"));
    command.env_remove("RAYON_NUM_THREADS");
    command
}

/// A finished command's outcome, with text output.
#[derive(Debug)]
pub struct Run {
    /// Exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Self {
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// Runs `trajkit ARGS…`.
pub fn run<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    trajkit().args(args).output().expect("trajkit runs").into()
}

/// Runs `trajkit ARGS…` and asserts exit 0 and no panic.
pub fn run_ok<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let run = run(args);
    assert_eq!(run.code, Some(0), "trajkit failed:\n{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    run
}

/// A fresh temporary directory.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("trajkit-test-")
        .tempdir()
        .expect("temporary directory")
}

/// Every file under a directory, recursively, sorted.
pub fn files_under(directory: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![directory.to_owned()];
    while let Some(next) = stack.pop() {
        for entry in fs_err::read_dir(&next).expect("readable directory") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Every file of a directory (recursively) with its bytes, sorted by path.
pub fn directory_bytes(directory: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    files_under(directory)
        .into_iter()
        .map(|path| {
            let bytes = fs_err::read(&path).expect("readable file");
            (path.strip_prefix(directory).unwrap().to_owned(), bytes)
        })
        .collect()
}

/// All `*.traj.json` files under a directory, sorted.
pub fn trajectory_files(directory: &Path) -> Vec<PathBuf> {
    files_under(directory)
        .into_iter()
        .filter(|path| path.to_string_lossy().ends_with(".traj.json"))
        .collect()
}

/// The mini-swe-agent corpus ingested with the DeepSeek V4 tokenizer, once per test run.
pub fn corpus_dataset() -> &'static Path {
    static DATASET: OnceLock<PathBuf> = OnceLock::new();
    DATASET.get_or_init(|| {
        let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("corpus-deepseek.trajkit");
        let tokenizer = deepseek_tokenizer();
        let tokenizer = tokenizer.to_str().expect("a UTF-8 path");
        run_ok(ingest_args(
            &[&corpus()],
            &path,
            &["--force", "--tokenizer", tokenizer],
        ));
        path
    })
}

/// Reads a raw file with `format`, after checking that detection (on the first 64 KiB, as
/// ingest does) picks that format: every session and every located error, in reader order.
pub fn read_as(
    format: trajkit::formats::SourceFormat,
    path: &Path,
) -> Vec<Result<trajkit::schema::Trajectory, trajkit::formats::FormatError>> {
    let data = fs_err::read(path).unwrap();
    let head = &data[..data.len().min(64 << 10)];
    assert_eq!(
        trajkit::formats::SourceFormat::detect(path, head),
        Some(format),
        "{}",
        path.display()
    );
    let unit = trajkit::formats::SourceUnit {
        path: path.display().to_string(),
        data,
        first_line: 1,
    };
    format.reader(unit).collect()
}
