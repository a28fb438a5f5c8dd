//! The network driver of `trajkit replay`: N simulated agents work through the dataset's
//! sessions turn by turn, teacher-forced (each request carries the recorded context, never the
//! live answers), stream every response over SSE, and record what was served and when.
//!
//! Every failure of a request (HTTP status, refused connection, stall, disconnect, malformed or
//! endless stream) is recorded as that error on that turn and the run goes on; nothing waits
//! without a deadline. The run directory is written at the end (also on Ctrl-C, marked
//! incomplete) into a temporary directory renamed into place, so no half run is ever left.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eventsource_stream::Eventsource as _;
use futures_util::StreamExt as _;
use serde_json::{Map, Value};

use super::record::{
    RECORD_KIND, RECORD_VERSION, REQUESTS_FILE, RUN_FILE, RequestRecord, RunDataset, RunManifest,
    ServerDescription,
};
use super::request::{OutputPolicy, ToolDelayPolicy, body, salt_messages};
use super::stream::StreamState;
use crate::dataset::Dataset;
use crate::schema::{Exactness, SessionRow};

/// Settings of a replay.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// Dataset directory.
    pub dataset: PathBuf,
    /// Base URL, e.g. `http://127.0.0.1:8080/v1`.
    pub base_url: String,
    /// Model name sent.
    pub model: String,
    /// Run directory to write.
    pub output: PathBuf,
    /// Replace an existing run directory.
    pub force: bool,
    /// Concurrent agents.
    pub agents: u32,
    /// Replay at most this many sessions (dataset order).
    pub sessions: Option<u64>,
    /// Stop starting requests after this long.
    pub duration: Option<Duration>,
    /// Output-length policy.
    pub output_policy: OutputPolicy,
    /// `--max-tokens`: a cap on every request.
    pub max_tokens: Option<u64>,
    /// Tool-delay policy.
    pub tool_delay: ToolDelayPolicy,
    /// Sampling parameters, sent as given.
    pub sampling: Map<String, Value>,
    /// Salt put before the first message; `None` for no salt.
    pub salt: Option<String>,
    /// Bearer token (from the environment only).
    pub api_key: Option<String>,
    /// Deadline of one request, from sending to the end of its stream.
    pub request_timeout: Duration,
    /// Longest silence within a stream, after its first event, before the request is abandoned
    /// as stalled.
    pub idle_timeout: Duration,
    /// Draw a progress bar.
    pub progress: bool,
    /// Start the sessions over when every one was taken (capacity steps sustain concurrency for
    /// their whole window).
    pub cycle: bool,
}

/// A replay that could not run (not a failed request: those are recorded).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The dataset could not be read.
    #[error("{0}")]
    Dataset(String),
    /// The run directory could not be written.
    #[error("{}: {source}", path.display())]
    Output {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The server does not do what the run needs (e.g. honour `ignore_eos` for `exact`).
    #[error("{0}")]
    Server(String),
}

/// One session's requests, rebuilt from the dataset when an agent takes the session.
struct PlannedTurn {
    turn_index: u32,
    messages: Vec<Value>,
    tools: Vec<Value>,
    recorded_output: Option<u64>,
    tool_delay_ms: Option<f64>,
}

struct Shared {
    options: ReplayOptions,
    dataset: Dataset,
    sessions: Vec<SessionRow>,
    /// The sessions in dataset order, read in one pass as agents take them.
    feed: Mutex<SessionFeed>,
    cancelled: AtomicBool,
    records: Mutex<Vec<(usize, RequestRecord)>>,
    client: reqwest::Client,
    started: Instant,
    progress: indicatif::ProgressBar,
}

/// Runs a replay and writes the run directory; returns its manifest.
pub fn replay(options: ReplayOptions) -> Result<RunManifest, ReplayError> {
    let runtime = runtime(&options.output)?;
    runtime.block_on(run(options))
}

/// The async runtime of a replay or a capacity search.
fn runtime(output: &Path) -> Result<tokio::runtime::Runtime, ReplayError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| ReplayError::Output {
            path: output.to_owned(),
            source,
        })
}

fn unix_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// What every run needs before its agents start: the dataset, the sessions to replay, a client,
/// the server's description, and (for `exact`) the proof that the server honours it.
struct Prepared {
    dataset: Dataset,
    sessions: Vec<SessionRow>,
    client: reqwest::Client,
    server: ServerDescription,
}

async fn prepare(options: &ReplayOptions) -> Result<Prepared, ReplayError> {
    let dataset = Dataset::open(&options.dataset).map_err(|error| {
        ReplayError::Dataset(format!(
            "failed to open dataset `{}`: {error}",
            options.dataset.display()
        ))
    })?;
    let limit = options
        .sessions
        .map_or(usize::MAX, |k| usize::try_from(k).unwrap_or(usize::MAX));
    let sessions: Vec<SessionRow> = dataset.sessions().iter().take(limit).cloned().collect();
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(usize::try_from(options.agents).unwrap_or(1))
        .build()
        .map_err(|error| ReplayError::Server(format!("cannot build the HTTP client: {error}")))?;
    let server = describe_server(&client, options).await;
    if options.output_policy == OutputPolicy::Exact {
        check_exact_output(&client, options).await?;
    }
    Ok(Prepared {
        dataset,
        sessions,
        client,
        server,
    })
}

/// Runs `options.agents` agents until they finish (or `options.duration` passes, or Ctrl-C);
/// returns the records in session order and whether the run was interrupted.
async fn drive_agents(
    prepared: &Prepared,
    options: &ReplayOptions,
    planned_turns: u64,
) -> (Vec<(usize, RequestRecord)>, bool) {
    let progress = if options.progress {
        indicatif::ProgressBar::new(planned_turns)
    } else {
        indicatif::ProgressBar::hidden()
    };
    let shared = Arc::new(Shared {
        options: options.clone(),
        dataset: prepared.dataset.clone(),
        sessions: prepared.sessions.clone(),
        feed: Mutex::new(SessionFeed {
            stream: None,
            taken: 0,
        }),
        cancelled: AtomicBool::new(false),
        records: Mutex::new(Vec::new()),
        client: prepared.client.clone(),
        started: Instant::now(),
        progress,
    });
    let mut agents = Vec::new();
    for agent in 0..options.agents.max(1) {
        agents.push(tokio::spawn(run_agent(Arc::clone(&shared), agent)));
    }
    let all_agents = futures_util::future::join_all(agents);
    let interrupted = tokio::select! {
        _ = all_agents => false,
        _ = tokio::signal::ctrl_c() => {
            shared.cancelled.store(true, Ordering::SeqCst);
            true
        }
    };
    shared.progress.finish_and_clear();
    let mut records = std::mem::take(
        &mut *shared
            .records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    records.sort_by_key(|(index, record)| (*index, record.turn_index));
    (records, interrupted)
}

async fn run(options: ReplayOptions) -> Result<RunManifest, ReplayError> {
    let started_unix_ms = unix_ms();
    if options.output.exists() && !options.force {
        return Err(ReplayError::Server(format!(
            "`{}` already exists\nhint: pass --force to replace it",
            options.output.display()
        )));
    }
    let prepared = prepare(&options).await?;
    let planned_turns: u64 = prepared
        .sessions
        .iter()
        .map(|s| u64::from(s.turn_count))
        .sum();
    let (records, interrupted) = drive_agents(&prepared, &options, planned_turns).await;
    let manifest = run_manifest(
        &prepared,
        &options,
        &records,
        started_unix_ms,
        planned_turns,
        interrupted,
    );
    write_run(&options.output, &manifest, records.iter().map(|(_, r)| r))?;
    Ok(manifest)
}

/// The manifest of a finished (or interrupted) run.
fn run_manifest(
    prepared: &Prepared,
    options: &ReplayOptions,
    records: &[(usize, RequestRecord)],
    started_unix_ms: i64,
    planned_turns: u64,
    interrupted: bool,
) -> RunManifest {
    let requests = records.len() as u64;
    let failed_requests = records
        .iter()
        .filter(|(_, r)| r.error_kind.is_some())
        .count() as u64;
    let complete = !interrupted && requests == planned_turns;
    let incomplete_reason = if interrupted {
        Some("interrupted (Ctrl-C)".to_owned())
    } else if requests < planned_turns {
        Some(format!(
            "{requests} of {planned_turns} planned requests made (--duration reached)"
        ))
    } else {
        None
    };

    RunManifest {
        record: RECORD_KIND.to_owned(),
        record_version: RECORD_VERSION.to_owned(),
        trajkit_version: env!("CARGO_PKG_VERSION").to_owned(),
        dataset: RunDataset {
            path: options.dataset.display().to_string(),
            name: prepared.dataset.reader().manifest().name.clone(),
            sessions: prepared.sessions.len() as u64,
            turns: planned_turns,
        },
        base_url: options.base_url.clone(),
        model: options.model.clone(),
        agents: options.agents.max(1),
        output_policy: options.output_policy.name(),
        tool_delay_policy: options.tool_delay.name(),
        salt: options.salt.clone(),
        sampling: options.sampling.clone(),
        server: prepared.server.clone(),
        started_unix_ms,
        finished_unix_ms: unix_ms(),
        complete,
        incomplete_reason,
        requests,
        failed_requests,
    }
}

/// Writes `run.json` and `requests.jsonl` into a temporary directory beside `target`, then
/// renames it into place (replacing an earlier run).
fn write_run<'a>(
    target: &Path,
    manifest: &RunManifest,
    records: impl Iterator<Item = &'a RequestRecord>,
) -> Result<(), ReplayError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| ReplayError::Output { path, source }
    };
    let parent = match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    let staging = tempfile::Builder::new()
        .prefix(".trajkit-run-")
        .tempdir_in(&parent)
        .map_err(io(&parent))?;
    let mut lines = String::new();
    for record in records {
        lines.push_str(&serde_json::to_string(record).unwrap_or_default());
        lines.push('\n');
    }
    let requests_path = staging.path().join(REQUESTS_FILE);
    fs_err::write(&requests_path, lines).map_err(io(&requests_path))?;
    let mut text = serde_json::to_string_pretty(manifest).unwrap_or_default();
    text.push('\n');
    let run_path = staging.path().join(RUN_FILE);
    fs_err::write(&run_path, text).map_err(io(&run_path))?;
    if target.exists() {
        fs_err::remove_dir_all(target).map_err(io(target))?;
    }
    let staged = staging.keep();
    fs_err::rename(&staged, target).map_err(io(target))?;
    Ok(())
}

/// The server's `/v1/models` and `/props` (llama.cpp), when it answers within a few seconds.
async fn describe_server(client: &reqwest::Client, options: &ReplayOptions) -> ServerDescription {
    let base = options.base_url.trim_end_matches('/');
    let root = base.strip_suffix("/v1").unwrap_or(base);
    let get = |url: String| {
        let mut request = client.get(url).timeout(Duration::from_secs(5));
        if let Some(key) = &options.api_key {
            request = request.bearer_auth(key);
        }
        async move {
            let response = request.send().await.ok()?;
            if !response.status().is_success() {
                return None;
            }
            let bytes = response.bytes().await.ok()?;
            serde_json::from_slice::<Value>(&bytes).ok()
        }
    };
    ServerDescription {
        models: get(format!("{base}/models")).await,
        props: get(format!("{root}/props")).await,
    }
}

/// Tokens the `exact` probe asks for.
const PROBE_TOKENS: u64 = 16;

/// `exact` needs the server to honour `ignore_eos` with `max_tokens`: ask for 16 tokens of a
/// prompt that invites a shorter answer, and stop unless exactly 16 come back.
async fn check_exact_output(
    client: &reqwest::Client,
    options: &ReplayOptions,
) -> Result<(), ReplayError> {
    let messages = vec![serde_json::json!({"role": "user", "content": "Reply with one word: hi"})];
    let request_body = body(
        &options.model,
        messages,
        Vec::new(),
        &options.sampling,
        Some(PROBE_TOKENS),
        true,
    );
    let result = send(client, options, &request_body, Instant::now(), None).await;
    if let Some(kind) = &result.error_kind {
        return Err(ReplayError::Server(format!(
            "the server at {} failed the output-length check ({kind}: {})",
            options.base_url,
            result.error.unwrap_or_default()
        )));
    }
    if result.output_tokens != Some(PROBE_TOKENS) {
        return Err(ReplayError::Server(format!(
            "the server at {} does not honour `ignore_eos` with `max_tokens`: asked for {PROBE_TOKENS} \
             tokens, got {:?} ({})\nhint: use --output-policy recorded, or a server that supports \
             ignore_eos (vLLM, SGLang, llama.cpp)",
            options.base_url,
            result.output_tokens,
            result.output_tokens_source.unwrap_or_default()
        )));
    }
    Ok(())
}

async fn run_agent(shared: Arc<Shared>, agent: u32) {
    loop {
        if shared.cancelled.load(Ordering::SeqCst) || past_duration(&shared) {
            return;
        }
        // Reading a session decodes Parquet pages: milliseconds of CPU that, run on the async
        // workers, would stall every stream in flight (at 1,000 agents the first ones measured
        // seconds of false TTFT while the others loaded). The blocking pool keeps them reading.
        let loader = Arc::clone(&shared);
        let taken = tokio::task::spawn_blocking(move || take_session(&loader))
            .await
            .unwrap_or(None);
        let Some((index, planned)) = taken else {
            return;
        };
        let session = &shared.sessions[index];
        let turns = match planned {
            Ok(turns) => turns,
            Err(message) => {
                // A session that cannot be rebuilt is recorded as failed on each of its turns.
                for turn_index in 0..session.turn_count {
                    let record = RequestRecord {
                        session_id: session.session_id.clone(),
                        turn_index,
                        agent,
                        error_kind: Some("dataset".to_owned()),
                        error: Some(message.clone()),
                        ..RequestRecord::default()
                    };
                    push_record(&shared, index, record);
                }
                continue;
            }
        };
        let last = turns.len().saturating_sub(1);
        for (position, turn) in turns.into_iter().enumerate() {
            if shared.cancelled.load(Ordering::SeqCst) || past_duration(&shared) {
                return;
            }
            let options = &shared.options;
            let (max_tokens, ignore_eos, target) = options
                .output_policy
                .limits(turn.recorded_output, options.max_tokens);
            let mut messages = turn.messages;
            if let Some(salt) = &options.salt {
                salt_messages(&mut messages, salt);
            }
            let (sampling, seed) =
                seeded_sampling(&options.sampling, &session.session_id, turn.turn_index);
            let request_body = body(
                &options.model,
                messages,
                turn.tools,
                &sampling,
                max_tokens,
                ignore_eos,
            );
            let mut record = send(
                &shared.client,
                options,
                &request_body,
                shared.started,
                max_tokens,
            )
            .await;
            record.session_id.clone_from(&session.session_id);
            record.turn_index = turn.turn_index;
            record.agent = agent;
            record.target_output_tokens = target;
            record.seed = seed;
            push_record(&shared, index, record);
            if position < last {
                let delay = options.tool_delay.delay_ms(turn.tool_delay_ms);
                if delay > 0.0 {
                    tokio::time::sleep(Duration::from_secs_f64(delay / 1000.0)).await;
                }
            }
        }
    }
}

/// The sampling parameters of one request: the run's, with its `seed` (when it has an integer
/// one) replaced by the request's own (`request_seed`), which is returned too.
fn seeded_sampling<'a>(
    sampling: &'a serde_json::Map<String, Value>,
    session_id: &str,
    turn_index: u32,
) -> (
    std::borrow::Cow<'a, serde_json::Map<String, Value>>,
    Option<i64>,
) {
    match sampling.get("seed").and_then(Value::as_i64) {
        Some(run_seed) => {
            let seed = crate::replay::request::request_seed(run_seed, session_id, turn_index);
            let mut sampling = sampling.clone();
            sampling.insert("seed".to_owned(), Value::from(seed));
            (std::borrow::Cow::Owned(sampling), Some(seed))
        }
        None => (std::borrow::Cow::Borrowed(sampling), None),
    }
}

fn past_duration(shared: &Shared) -> bool {
    shared
        .options
        .duration
        .is_some_and(|duration| shared.started.elapsed() >= duration)
}

fn push_record(shared: &Shared, session_index: usize, record: RequestRecord) {
    shared.progress.inc(1);
    shared
        .records
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push((session_index, record));
}

/// The next session of the run in dataset order (again from the start with `cycle`), read from
/// one streaming pass over the tables so that each page is decoded once however many agents
/// start at once; `None` when every session was taken.
struct SessionFeed {
    stream: Option<crate::dataset::SessionStream>,
    taken: usize,
}

fn take_session(shared: &Shared) -> Option<(usize, Result<Vec<PlannedTurn>, String>)> {
    let count = shared.sessions.len();
    let data = {
        let mut feed = shared
            .feed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if count == 0 || (feed.taken >= count && !shared.options.cycle) {
            return None;
        }
        let index = feed.taken % count;
        if index == 0 {
            let all: Vec<usize> = (0..count).collect();
            feed.stream = match shared.dataset.stream(&all) {
                Ok(stream) => Some(stream),
                Err(error) => {
                    feed.taken += 1;
                    return Some((index, Err(format!("cannot read the dataset: {error}"))));
                }
            };
        }
        feed.taken += 1;
        let Some(data) = feed.stream.as_mut().and_then(Iterator::next) else {
            return Some((index, Err("the dataset's tables ended early".to_owned())));
        };
        (index, data)
    };
    let (index, data) = data;
    let planned = data
        .map_err(|error| format!("cannot read the session: {error}"))
        .and_then(|data| plan_session(&data));
    Some((index, planned))
}

fn plan_session(data: &crate::dataset::SessionData) -> Result<Vec<PlannedTurn>, String> {
    let mut turns = Vec::with_capacity(data.turns.len());
    for (index, row) in data.turns.iter().enumerate() {
        if row.exactness == Exactness::SizesOnly.as_str() {
            return Err("the session is sizes-only: there is no text to send".to_owned());
        }
        let request = data.request(index).map_err(|error| error.to_string())?;
        turns.push(PlannedTurn {
            turn_index: row.turn_index,
            messages: request.messages,
            tools: request.tools,
            recorded_output: row.output_tokens_reported.or(row.output_tokens_counted),
            tool_delay_ms: row.tool_delay_ms_after,
        });
    }
    Ok(turns)
}

fn elapsed_ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// Sends one streaming request and records what happened; never fails, never waits past the
/// request deadline.
async fn send(
    client: &reqwest::Client,
    options: &ReplayOptions,
    request_body: &Value,
    run_started: Instant,
    max_tokens: Option<u64>,
) -> RequestRecord {
    let url = format!(
        "{}/chat/completions",
        options.base_url.trim_end_matches('/')
    );
    let sent = Instant::now();
    let mut record = RequestRecord {
        send_ms: sent.duration_since(run_started).as_secs_f64() * 1000.0,
        max_tokens,
        ..RequestRecord::default()
    };
    let deadline = tokio::time::Instant::from_std(sent + options.request_timeout);
    let bytes = serde_json::to_vec(request_body).unwrap_or_default();
    let attempt = || {
        let mut request = client
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(bytes.clone());
        if let Some(key) = &options.api_key {
            request = request.bearer_auth(key);
        }
        request.send()
    };
    let mut result = tokio::time::timeout_at(deadline, attempt()).await;
    // A pooled keep-alive connection the server closed just as it was reused fails before the
    // request was read (hyper's "connection closed before message completed"): the server never
    // saw it, so it is sent again once, on a fresh connection, rather than counted as the server's
    // failure.
    if let Ok(Err(error)) = &result
        && without_url(error).contains("connection closed before message completed")
    {
        result = tokio::time::timeout_at(deadline, attempt()).await;
    }
    let response = match result {
        Err(_) => {
            fail(
                &mut record,
                "timeout",
                "no response before the request deadline".to_owned(),
            );
            record.end_ms = elapsed_ms(sent);
            return record;
        }
        Ok(Err(error)) => {
            let kind = if error.is_connect() {
                "connect"
            } else {
                "disconnect"
            };
            fail(&mut record, kind, without_url(&error));
            record.end_ms = elapsed_ms(sent);
            return record;
        }
        Ok(Ok(response)) => response,
    };
    let status = response.status();
    record.http_status = Some(status.as_u16());
    if !status.is_success() {
        let text = tokio::time::timeout_at(deadline, response.text())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        fail(
            &mut record,
            "http_status",
            format!(
                "HTTP {status}: {}",
                text.chars().take(2000).collect::<String>()
            ),
        );
        record.end_ms = elapsed_ms(sent);
        return record;
    }
    let state = read_stream(
        response,
        &mut record,
        sent,
        deadline,
        options.idle_timeout,
        max_tokens,
    )
    .await;
    record.end_ms = elapsed_ms(sent);
    record.ttft_ms = state.ttft_ms();
    record.finish_reason = state.finish_reason.clone();
    record.prompt_tokens = state.prompt_tokens;
    record.cached_tokens = state.cached_tokens;
    if let Some(tokens) = state.completion_tokens {
        record.output_tokens = Some(tokens);
        record.output_tokens_source = Some("usage".to_owned());
    } else if !state.chunk_ms.is_empty() {
        record.output_tokens = Some(state.chunk_ms.len() as u64);
        record.output_tokens_source = Some("chunks".to_owned());
    }
    record.content = (!state.content.is_empty()).then(|| state.content.clone());
    record.reasoning = (!state.reasoning.is_empty()).then(|| state.reasoning.clone());
    record.tool_calls = state.tool_calls;
    record.chunk_ms = state.chunk_ms;
    record.logprobs = state.logprobs;
    record
}

/// Reads an SSE response to its end, its deadline, a stall, or a fault (recorded in `record`).
async fn read_stream(
    response: reqwest::Response,
    record: &mut RequestRecord,
    sent: Instant,
    deadline: tokio::time::Instant,
    idle_timeout: Duration,
    max_tokens: Option<u64>,
) -> StreamState {
    let mut state = StreamState::default();
    // A stream that never ends on its own is cut once it has sent far more than was asked.
    let chunk_limit = max_tokens
        .unwrap_or(32_768)
        .saturating_mul(2)
        .saturating_add(256);
    let mut events = response.bytes_stream().eventsource();
    let mut chunks = 0u64;
    loop {
        // Silence before the first event is prefill, which a long prompt on a busy server can
        // make last minutes; only the request deadline bounds it.
        let idle = if chunks == 0 {
            deadline
        } else {
            tokio::time::Instant::now() + idle_timeout
        };
        let next = tokio::time::timeout_at(idle.min(deadline), events.next()).await;
        match next {
            Err(_) => {
                let message = if tokio::time::Instant::now() >= deadline {
                    "the stream did not finish before the request deadline"
                } else {
                    "the stream stalled"
                };
                fail(record, "timeout", message.to_owned());
                break;
            }
            Ok(None) => {
                if !state.done && state.finish_reason.is_none() {
                    fail(
                        record,
                        "disconnect",
                        "the stream ended before a finish reason or [DONE]".to_owned(),
                    );
                }
                break;
            }
            Ok(Some(Err(error))) => {
                fail(record, "disconnect", error.to_string());
                break;
            }
            Ok(Some(Ok(event))) => {
                chunks += 1;
                if let Err(error) = state.push(&event.data, elapsed_ms(sent)) {
                    fail(record, "malformed_stream", error.to_string());
                    break;
                }
                if state.done {
                    break;
                }
                if chunks > chunk_limit {
                    fail(
                        record,
                        "stream_too_long",
                        format!("more than {chunk_limit} chunks without an end"),
                    );
                    break;
                }
            }
        }
    }
    state
}

fn fail(record: &mut RequestRecord, kind: &str, message: String) {
    record.error_kind = Some(kind.to_owned());
    record.error = Some(message);
}

/// An HTTP error's message without the URL's query (which could carry credentials).
fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        let bare = format!(
            "{}://{}{}",
            url.scheme(),
            url.host_str().unwrap_or(""),
            url.path()
        );
        text = text.replace(url.as_str(), &bare);
    }
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Settings of a capacity search.
#[derive(Debug, Clone)]
pub struct CapacityOptions {
    /// Service tiers, each searched.
    pub tiers: Vec<super::capacity::Tier>,
    /// Time every agent is active before the window opens.
    pub warmup: Duration,
    /// Length of the measured window.
    pub window: Duration,
    /// Largest agent count tried.
    pub max_agents: u32,
    /// Timestamped accelerator power (`unix_seconds`, watts), for per-step mean power.
    pub power_log: Vec<(f64, f64)>,
    /// Power sampled by trajkit itself (`--nvml`) while the steps run.
    pub power_sampler: Option<Arc<super::power::PowerSampler>>,
}

/// One measured step and the tiers it met.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CapacityStep {
    /// When the step started, ms since the Unix epoch.
    pub started_unix_ms: i64,
    /// The measurement.
    #[serde(flatten)]
    pub measure: super::capacity::StepMeasure,
    /// Tiers (by name) the step met.
    pub tiers_met: Vec<String>,
}

/// Runs the search of every tier, measuring each agent count once (tiers share steps);
/// `on_step` sees each step as it is measured. Stops early on Ctrl-C, returning what it has.
pub fn capacity(
    options: &ReplayOptions,
    search: &CapacityOptions,
    mut on_step: impl FnMut(&CapacityStep),
) -> Result<(Vec<CapacityStep>, Vec<u32>, ServerDescription), ReplayError> {
    use super::capacity::{Search, measure_window, meets};
    let runtime = runtime(&options.output)?;
    runtime.block_on(async {
        let prepared = prepare(options).await?;
        let mut steps: Vec<CapacityStep> = Vec::new();
        let mut searches: Vec<Search> = vec![Search::default(); search.tiers.len()];
        loop {
            // The smallest count any unfinished tier wants next, or the one already measured.
            let wanted: Vec<u32> = searches
                .iter()
                .filter_map(|s| s.next(search.max_agents))
                .collect();
            let Some(&agents) = wanted.iter().min() else {
                break;
            };
            let step = if let Some(step) = steps.iter().find(|step| step.measure.agents == agents) {
                step.clone()
            } else {
                let mut step_options = options.clone();
                step_options.agents = agents;
                step_options.duration = Some(search.warmup + search.window);
                step_options.cycle = true;
                step_options.progress = false;
                let started_unix_ms = unix_ms();
                let (records, interrupted) = drive_agents(&prepared, &step_options, 0).await;
                if interrupted {
                    break;
                }
                let records: Vec<RequestRecord> =
                    records.into_iter().map(|(_, record)| record).collect();
                let mut measure =
                    measure_window(agents, &records, search.warmup.as_secs_f64() * 1000.0);
                let (window_start, window_end) =
                    window_bounds(started_unix_ms, search.warmup, search.window);
                measure.mean_power_watts =
                    super::power::window_mean(&search.power_log, window_start, window_end);
                measure.measured_power_watts = search
                    .power_sampler
                    .as_ref()
                    .and_then(|sampler| sampler.mean(window_start, window_end));
                let tiers_met = search
                    .tiers
                    .iter()
                    .filter(|tier| meets(&measure, tier))
                    .map(|tier| tier.name.clone())
                    .collect();
                let step = CapacityStep {
                    started_unix_ms,
                    measure,
                    tiers_met,
                };
                on_step(&step);
                steps.push(step.clone());
                step
            };
            for (tier, tier_search) in search.tiers.iter().zip(&mut searches) {
                if tier_search.next(search.max_agents) == Some(agents) {
                    tier_search.record(agents, step.tiers_met.contains(&tier.name));
                }
            }
        }
        let results = searches.iter().map(Search::result).collect();
        Ok((steps, results, prepared.server))
    })
}

/// A step's measured window in Unix seconds: from the end of its warm-up to the end of its
/// window.
fn window_bounds(started_unix_ms: i64, warmup: Duration, window: Duration) -> (f64, f64) {
    #[allow(clippy::cast_precision_loss, reason = "ms since the epoch fit in f64")]
    let start = started_unix_ms as f64 / 1000.0 + warmup.as_secs_f64();
    (start, start + window.as_secs_f64())
}
