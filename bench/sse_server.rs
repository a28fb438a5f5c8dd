//! A fast fake OpenAI chat-completions server for `bench/replay.sh`: every request is answered
//! with a streamed (SSE) response of N tokens, the first one a fixed delay after the request was
//! read and the rest at a fixed interval, `usage` in the last chunk, then `[DONE]`. No model runs,
//! so the clients under test, not the server, are what the benchmark measures; the server counts
//! what it streamed (`GET /stats`) so that every client is judged by the same neutral tally.
//!
//! ```text
//! cargo run --release --example sse_server -- --port 0 --ttft-ms 200 --itl-ms 50 --tokens 64
//! ```
//!
//! It prints `listening 127.0.0.1:PORT` on stdout once bound. HTTP/1.1 with keep-alive, written
//! by hand on tokio's TCP so each token costs one small write and nothing else; one thread by
//! default (`--threads`), so it uses at most one core.
//!
//! `GET /stats` answers the counters as JSON: requests, tokens streamed, streams active now, the
//! most at once and their time-weighted mean since the last reset, and how late the first token
//! went out against the configured delay (mean, p50, p99, max ms: the server's own share of any
//! TTFT error). `GET /stats?reset=1` answers and then starts the counters over.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// Command-line settings.
#[derive(Debug, Clone)]
struct Settings {
    port: u16,
    ttft: Duration,
    inter_token: Duration,
    /// Tokens per response; `None`: the request's `max_tokens` (or `max_completion_tokens`),
    /// else `default_tokens`.
    tokens: Option<u64>,
    default_tokens: u64,
    threads: usize,
    model: String,
}

const USAGE: &str = "usage: sse_server [--port P] [--ttft-ms MS] [--itl-ms MS] [--tokens N | \
                     --default-tokens N] [--threads K] [--model NAME]";

fn parse_settings() -> Result<Settings, String> {
    let mut settings = Settings {
        port: 0,
        ttft: Duration::from_millis(200),
        inter_token: Duration::from_millis(50),
        tokens: None,
        default_tokens: 64,
        threads: 1,
        model: "bench".to_owned(),
    };
    let mut arguments = std::env::args().skip(1);
    while let Some(flag) = arguments.next() {
        let value = arguments
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let bad = || format!("{flag}: `{value}` is not valid\n{USAGE}");
        let milliseconds = |text: &str| {
            text.parse::<f64>()
                .ok()
                .and_then(|ms| Duration::try_from_secs_f64(ms / 1000.0).ok())
        };
        match flag.as_str() {
            "--port" => settings.port = value.parse().map_err(|_| bad())?,
            "--ttft-ms" => settings.ttft = milliseconds(&value).ok_or_else(bad)?,
            "--itl-ms" => settings.inter_token = milliseconds(&value).ok_or_else(bad)?,
            "--tokens" => settings.tokens = Some(value.parse().map_err(|_| bad())?),
            "--default-tokens" => settings.default_tokens = value.parse().map_err(|_| bad())?,
            "--threads" => settings.threads = value.parse().map_err(|_| bad())?,
            "--model" => settings.model.clone_from(&value),
            _ => return Err(format!("unknown flag {flag}\n{USAGE}")),
        }
    }
    Ok(settings)
}

/// The counters behind `GET /stats`.
#[derive(Debug)]
struct Stats {
    since: Instant,
    requests: u64,
    completed: u64,
    tokens: u64,
    active: u64,
    most_active: u64,
    /// Sum of active streams × seconds since `since`, up to `last_change`.
    active_seconds: f64,
    last_change: Instant,
    /// Per request: first token written minus (request read + configured TTFT), ms.
    first_token_lateness_ms: Vec<f64>,
}

impl Stats {
    fn new() -> Stats {
        let now = Instant::now();
        Stats {
            since: now,
            requests: 0,
            completed: 0,
            tokens: 0,
            active: 0,
            most_active: 0,
            active_seconds: 0.0,
            last_change: now,
            first_token_lateness_ms: Vec::new(),
        }
    }

    #[allow(clippy::cast_precision_loss, reason = "stream counts are small")]
    fn change_active(&mut self, up: bool) {
        let now = Instant::now();
        self.active_seconds +=
            self.active as f64 * now.duration_since(self.last_change).as_secs_f64();
        self.last_change = now;
        if up {
            self.active += 1;
            self.requests += 1;
            self.most_active = self.most_active.max(self.active);
        } else {
            self.active = self.active.saturating_sub(1);
            self.completed += 1;
        }
    }

    /// The counters as JSON; a reset keeps the streams still active.
    #[allow(clippy::cast_precision_loss, reason = "counts are small")]
    fn report(&mut self, reset: bool) -> Value {
        self.change_active_noop();
        let seconds = self.since.elapsed().as_secs_f64();
        let mut lateness = self.first_token_lateness_ms.clone();
        lateness.sort_unstable_by(f64::total_cmp);
        let quantile = |percent: usize| {
            // Nearest rank, as trajkit stats.
            let rank = (lateness.len() * percent).div_ceil(100).max(1);
            lateness
                .get(rank - 1)
                .map_or(Value::Null, |value| json!(value))
        };
        let mean = if lateness.is_empty() {
            Value::Null
        } else {
            json!(lateness.iter().sum::<f64>() / lateness.len() as f64)
        };
        let report = json!({
            "seconds": seconds,
            "requests": self.requests,
            "completed": self.completed,
            "tokens": self.tokens,
            "active": self.active,
            "most_active": self.most_active,
            "mean_active": if seconds > 0.0 { self.active_seconds / seconds } else { 0.0 },
            "first_token_lateness_ms": {
                "mean": mean,
                "p50": quantile(50),
                "p99": quantile(99),
                "max": lateness.last().copied(),
            },
        });
        if reset {
            let active = self.active;
            *self = Stats::new();
            self.active = active;
            self.most_active = active;
        }
        report
    }

    /// Brings `active_seconds` up to now without changing the count.
    #[allow(clippy::cast_precision_loss, reason = "stream counts are small")]
    fn change_active_noop(&mut self) {
        let now = Instant::now();
        self.active_seconds +=
            self.active as f64 * now.duration_since(self.last_change).as_secs_f64();
        self.last_change = now;
    }
}

type SharedStats = Arc<Mutex<Stats>>;

fn main() {
    let settings = match parse_settings() {
        Ok(settings) => settings,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let runtime = if settings.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(settings.threads)
            .enable_all()
            .build()
    };
    let result = runtime.and_then(|runtime| runtime.block_on(serve(settings)));
    if let Err(error) = result {
        eprintln!("sse_server: {error}");
        std::process::exit(1);
    }
}

async fn serve(settings: Settings) -> std::io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", settings.port)).await?;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening {}", listener.local_addr()?)?;
        stdout.flush()?;
    }
    let settings = Arc::new(settings);
    let stats: SharedStats = Arc::new(Mutex::new(Stats::new()));
    loop {
        let (socket, _) = listener.accept().await?;
        // Tokens go out as they are made: no Nagle delay on small writes.
        socket.set_nodelay(true)?;
        tokio::spawn(connection(
            socket,
            Arc::clone(&settings),
            Arc::clone(&stats),
        ));
    }
}

/// One request as read off the wire.
struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
    close: bool,
}

/// Reads one request (headers and a `Content-Length` body); `None` when the peer closed or sent
/// something this server does not take.
async fn read_request(socket: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<Request> {
    let header_end = loop {
        if let Some(at) = memchr::memmem::find(buffer, b"\r\n\r\n") {
            break at + 4;
        }
        if buffer.len() > 1 << 20 {
            return None;
        }
        buffer.reserve(16 * 1024);
        if socket.read_buf(buffer).await.ok()? == 0 {
            return None;
        }
    };
    let head = std::str::from_utf8(&buffer[..header_end]).ok()?;
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let path = request_line.next()?.to_owned();
    let version = request_line.next().unwrap_or("HTTP/1.1");
    let mut length = 0usize;
    let mut close = version == "HTTP/1.0";
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse().ok().filter(|&length| length <= 64 << 20)?;
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // Request bodies come with a length from every client benchmarked.
            return None;
        }
    }
    while buffer.len() < header_end + length {
        buffer.reserve(header_end + length - buffer.len());
        if socket.read_buf(buffer).await.ok()? == 0 {
            return None;
        }
    }
    let body = buffer[header_end..header_end + length].to_vec();
    buffer.drain(..header_end + length);
    Some(Request {
        method,
        path,
        body,
        close,
    })
}

async fn connection(mut socket: TcpStream, settings: Arc<Settings>, stats: SharedStats) {
    let mut buffer = Vec::new();
    while let Some(request) = read_request(&mut socket, &mut buffer).await {
        let received = Instant::now();
        let result = match (request.method.as_str(), request.path.as_str()) {
            ("POST", "/v1/chat/completions" | "/chat/completions") => {
                complete(&mut socket, &request, received, &settings, &stats).await
            }
            ("GET", "/v1/models" | "/models") => {
                let body = json!({"object": "list", "data": [
                    {"id": settings.model, "object": "model", "owned_by": "sse_server"}
                ]});
                respond(&mut socket, "200 OK", &body).await
            }
            ("GET", path) if path.starts_with("/stats") => {
                let report = stats
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .report(path.contains("reset"));
                respond(&mut socket, "200 OK", &report).await
            }
            ("GET", "/health" | "/v1/health") => respond(&mut socket, "200 OK", &json!({})).await,
            _ => {
                let body = json!({"error": {"message": "not found"}});
                respond(&mut socket, "404 Not Found", &body).await
            }
        };
        if result.is_err() || request.close {
            return;
        }
    }
}

async fn respond(socket: &mut TcpStream, status: &str, body: &Value) -> std::io::Result<()> {
    let text = body.to_string();
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        text.len()
    );
    socket.write_all(head.as_bytes()).await?;
    socket.write_all(text.as_bytes()).await
}

/// Appends one SSE event as one HTTP chunk.
fn push_event(frame: &mut String, data: &str) {
    let length = data.len() + "data: \n\n".len();
    let _ = write!(frame, "{length:x}\r\ndata: {data}\n\n\r\n");
}

/// Answers a chat completion: streamed unless the request said `"stream": false`.
async fn complete(
    socket: &mut TcpStream,
    request: &Request,
    received: Instant,
    settings: &Settings,
    stats: &SharedStats,
) -> std::io::Result<()> {
    let parsed: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    let tokens = settings
        .tokens
        .or_else(|| parsed.get("max_tokens").and_then(Value::as_u64))
        .or_else(|| parsed.get("max_completion_tokens").and_then(Value::as_u64))
        .unwrap_or(settings.default_tokens)
        .max(1);
    let stream = parsed
        .get("stream")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    // About four bytes of prompt per token: the server has no tokenizer.
    let prompt_tokens = request.body.len() as u64 / 4;
    let usage = json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": tokens,
        "total_tokens": prompt_tokens + tokens,
    });
    let first_at = received + settings.ttft;
    stats
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .change_active(true);
    let result = if stream {
        stream_tokens(socket, tokens, &usage, first_at, settings, stats).await
    } else {
        tokio::time::sleep_until(tokio::time::Instant::from_std(
            first_at + settings.inter_token * u32::try_from(tokens - 1).unwrap_or(u32::MAX),
        ))
        .await;
        let body = json!({
            "id": "chatcmpl-bench", "object": "chat.completion", "created": 0,
            "model": settings.model,
            "choices": [{"index": 0, "finish_reason": "length",
                         "message": {"role": "assistant", "content": " tok".repeat(usize::try_from(tokens).unwrap_or(1))}}],
            "usage": usage,
        });
        stats.lock().unwrap_or_else(PoisonError::into_inner).tokens += tokens;
        respond(socket, "200 OK", &body).await
    };
    stats
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .change_active(false);
    result
}

async fn stream_tokens(
    socket: &mut TcpStream,
    tokens: u64,
    usage: &Value,
    first_at: Instant,
    settings: &Settings,
    stats: &SharedStats,
) -> std::io::Result<()> {
    let model = &settings.model;
    let first = json!({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0,
        "model": model,
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": " tok"}, "finish_reason": null}]})
    .to_string();
    let next = json!({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0,
        "model": model,
        "choices": [{"index": 0, "delta": {"content": " tok"}, "finish_reason": null}]})
    .to_string();
    let finish = json!({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0,
        "model": model,
        "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]})
    .to_string();
    let last = json!({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0,
        "model": model, "choices": [], "usage": usage})
    .to_string();
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\
                Transfer-Encoding: chunked\r\n\r\n";
    socket.write_all(head.as_bytes()).await?;
    let mut frame = String::with_capacity(512);
    for index in 0..tokens {
        let due = first_at + settings.inter_token * u32::try_from(index).unwrap_or(u32::MAX);
        tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await;
        frame.clear();
        push_event(&mut frame, if index == 0 { &first } else { &next });
        if index + 1 == tokens {
            push_event(&mut frame, &finish);
            push_event(&mut frame, &last);
            push_event(&mut frame, "[DONE]");
            frame.push_str("0\r\n\r\n");
        }
        socket.write_all(frame.as_bytes()).await?;
        let late = Instant::now().saturating_duration_since(first_at);
        let mut stats = stats.lock().unwrap_or_else(PoisonError::into_inner);
        stats.tokens += 1;
        if index == 0 {
            stats
                .first_token_lateness_ms
                .push(late.as_secs_f64() * 1000.0);
        }
        drop(stats);
    }
    Ok(())
}
