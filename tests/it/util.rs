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

/// The model name the test server answers to (its `--alias`), in `/v1/models` and responses.
pub const LLAMA_MODEL_NAME: &str = "smollm2-135m-instruct";

/// A real inference server for one test: llama.cpp's `llama-server` with SmolLM2-135M-Instruct,
/// both installed by `scripts/setup` (through `scripts/llama-server setup`), on a loopback port
/// with the settings the replay tests assume (`-c 4096 -np 2 -t 2`: two slots of 2048 tokens).
/// The process is killed when this value is dropped, so no server outlives its test.
///
/// The binary and model are found with `scripts/llama-server path`, or taken from
/// `TRAJKIT_LLAMA_SERVER` and `TRAJKIT_LLAMA_MODEL` when both are set. Either missing fails the
/// test, with a message saying to run `scripts/setup`: a test that skipped would report a pass
/// it never made.
pub struct LlamaServer {
    child: std::process::Child,
    port: u16,
    model: String,
    log: PathBuf,
    // Holds the log's directory until the server is gone.
    _directory: tempfile::TempDir,
}

/// Starts a [`LlamaServer`] and waits until its `/health` says ok.
pub fn llama_server() -> LlamaServer {
    llama_server_with(&[])
}

/// Starts a [`LlamaServer`] with extra `llama-server` arguments (a repeated option, such as
/// `-t 1`, overrides the default: llama-server takes the last).
pub fn llama_server_with(extra: &[&str]) -> LlamaServer {
    let (binary, model) = llama_paths();
    let directory = temp_dir();
    let log = directory.path().join("llama-server.log");
    let log_file = std::fs::File::create(&log).expect("the server log");
    // Port 0: the server binds a free port itself and logs it. Probing for a free port here and
    // passing it on would race with the other tests' servers.
    let child = Command::new(&binary)
        .arg("-m")
        .arg(&model)
        .args(["--host", "127.0.0.1", "--port", "0"])
        .args(["-c", "4096", "-np", "2", "-t", "2"])
        .args(["--alias", LLAMA_MODEL_NAME])
        .args(extra)
        .stdin(std::process::Stdio::null())
        .stdout(log_file.try_clone().expect("the server log"))
        .stderr(log_file)
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start `{}`: {error}", binary.display()));
    let mut server = LlamaServer {
        child,
        port: 0,
        model: LLAMA_MODEL_NAME.to_owned(),
        log,
        _directory: directory,
    };
    // On failure the server is dropped, and so killed, before the test fails.
    if let Err(message) = server.wait_until_ready(std::time::Duration::from_secs(60)) {
        panic!("{message}");
    }
    server
}

/// The `llama-server` binary and the model file.
fn llama_paths() -> (PathBuf, PathBuf) {
    let setup_hint = "run `scripts/setup` (or `scripts/llama-server setup`) first: it builds \
                      llama-server and fetches the model into ~/.cache/trajkit/llama";
    let (binary, model) = if let (Some(binary), Some(model)) = (
        std::env::var_os("TRAJKIT_LLAMA_SERVER"),
        std::env::var_os("TRAJKIT_LLAMA_MODEL"),
    ) {
        (PathBuf::from(binary), PathBuf::from(model))
    } else {
        let output = Command::new("bash")
            .arg(repo().join("scripts/llama-server"))
            .arg("path")
            .output()
            .expect("bash runs scripts/llama-server");
        assert!(
            output.status.success(),
            "`scripts/llama-server path` failed: {}\n{setup_hint}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
        let stdout = String::from_utf8(output.stdout).expect("UTF-8 paths");
        let mut lines = stdout.lines().map(PathBuf::from);
        match (lines.next(), lines.next()) {
            (Some(binary), Some(model)) => (binary, model),
            _ => panic!("`scripts/llama-server path` printed {stdout:?}, not two paths"),
        }
    };
    for path in [&binary, &model] {
        assert!(
            path.is_file(),
            "`{}` is missing: {setup_hint}",
            path.display()
        );
    }
    (binary, model)
}

impl LlamaServer {
    /// The OpenAI-compatible API's base URL, `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// The model name to send in requests.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The loopback port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The last lines of the server's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = fs_err::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// `GET PATH` (a path from the server's root, such as `/v1/models`).
    pub fn get(&self, path: &str) -> HttpResponse {
        http_request(self.port, "GET", path, None)
            .unwrap_or_else(|error| panic!("GET {path}: {error}\n{}", self.log_tail()))
    }

    /// `POST PATH` with a JSON body.
    pub fn post_json(&self, path: &str, body: &serde_json::Value) -> HttpResponse {
        http_request(self.port, "POST", path, Some(&body.to_string()))
            .unwrap_or_else(|error| panic!("POST {path}: {error}\n{}", self.log_tail()))
    }

    /// Waits for the port in the log's `listening on http://127.0.0.1:PORT` line, then for
    /// `/health` to answer 200 (it answers 503 while the model loads).
    fn wait_until_ready(&mut self, timeout: std::time::Duration) -> Result<(), String> {
        const LISTENING: &str = "listening on http://127.0.0.1:";
        let started = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("the server's status") {
                return Err(format!(
                    "llama-server exited ({status}) before it was ready; its log ends:\n{}",
                    self.log_tail()
                ));
            }
            if self.port == 0 {
                let log = fs_err::read_to_string(&self.log).unwrap_or_default();
                if let Some(at) = log.find(LISTENING) {
                    let digits: String = log[at + LISTENING.len()..]
                        .chars()
                        .take_while(char::is_ascii_digit)
                        .collect();
                    self.port = digits.parse().unwrap_or(0);
                }
            }
            if self.port != 0
                && let Ok(response) = http_request(self.port, "GET", "/health", None)
                && response.status == 200
            {
                return Ok(());
            }
            if started.elapsed() > timeout {
                return Err(format!(
                    "llama-server not ready after {timeout:?} (port {}); its log ends:\n{}",
                    self.port,
                    self.log_tail()
                ));
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        // Already gone is fine; what matters is that it is not left running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP response, its body de-chunked, with when each piece of the body arrived: a streamed
/// response's timings (time to first token, decode rate) come from these.
#[derive(Debug)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body's pieces (chunks of a chunked response), each with its arrival time since the
    /// request was sent.
    pub pieces: Vec<(std::time::Duration, Vec<u8>)>,
}

impl HttpResponse {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The whole body as text.
    pub fn text(&self) -> String {
        let bytes: Vec<u8> = self
            .pieces
            .iter()
            .flat_map(|(_, piece)| piece.clone())
            .collect();
        String::from_utf8(bytes).expect("a UTF-8 body")
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        let text = self.text();
        serde_json::from_str(&text).unwrap_or_else(|error| panic!("{error} in {text:?}"))
    }
}

/// A minimal HTTP/1.1 client over `std::net::TcpStream` (no HTTP crate in the dependencies is
/// needed for a few loopback requests): one request per connection (`Connection: close`),
/// bodies sized by `Content-Length`, by chunked encoding, or by the connection's end.
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    json_body: Option<&str>,
) -> std::io::Result<HttpResponse> {
    use std::io::{BufRead, BufReader, Read, Write};
    let invalid = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, what);

    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    // A hung server fails the test instead of hanging it.
    stream.set_read_timeout(Some(std::time::Duration::from_secs(120)))?;
    let body = json_body.unwrap_or_default();
    let content_headers = if json_body.is_some() {
        format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        )
    } else {
        String::new()
    };
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         {content_headers}\r\n{body}"
    );
    stream.write_all(request.as_bytes())?;
    let sent = std::time::Instant::now();

    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| invalid(format!("bad status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header
            .split_once(':')
            .ok_or_else(|| invalid(format!("bad header {header:?}")))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };

    let mut pieces = Vec::new();
    if header("transfer-encoding").is_some_and(|value| value.eq_ignore_ascii_case("chunked")) {
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let size = line.trim_end().split(';').next().unwrap_or_default();
            let size = usize::from_str_radix(size, 16)
                .map_err(|_| invalid(format!("bad chunk size {line:?}")))?;
            if size == 0 {
                break;
            }
            let mut piece = vec![0; size];
            reader.read_exact(&mut piece)?;
            pieces.push((sent.elapsed(), piece));
            line.clear();
            reader.read_line(&mut line)?;
        }
    } else if let Some(length) = header("content-length") {
        let length = length
            .parse()
            .map_err(|_| invalid(format!("bad Content-Length {length:?}")))?;
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        pieces.push((sent.elapsed(), body));
    } else {
        let mut body = Vec::new();
        reader.read_to_end(&mut body)?;
        pieces.push((sent.elapsed(), body));
    }
    Ok(HttpResponse {
        status,
        headers,
        pieces,
    })
}
