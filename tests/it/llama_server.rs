//! Smoke tests of the real inference server (`scripts/llama-server`: llama.cpp's llama-server
//! with SmolLM2-135M-Instruct on the CPU). Replay and load generation rely on what is checked
//! here: the OpenAI-compatible endpoints answer, chat completions stream as server-sent events
//! ending in a usage chunk and `[DONE]`, `ignore_eos` with `max_tokens` generates exactly that
//! many tokens (the `exact` output policy), and a seeded greedy request is repeatable.
//! Prompts stay short: the model decodes at tens of tokens per second on two shared cores.

use std::time::Duration;

use serde_json::{Value, json};

use crate::util::{HttpResponse, LlamaServer, llama_server};

/// A streamed response's `data:` payloads, each with the arrival time of the chunk that
/// completed it.
fn sse_data(response: &HttpResponse) -> Vec<(Duration, String)> {
    let mut events = Vec::new();
    let mut pending = Vec::new();
    for (arrived, piece) in &response.pieces {
        pending.extend_from_slice(piece);
        while let Some(end) = pending.iter().position(|&byte| byte == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let line = String::from_utf8(line).expect("UTF-8 events");
            if let Some(data) = line.trim_end().strip_prefix("data: ") {
                events.push((*arrived, data.to_owned()));
            }
        }
    }
    assert!(
        String::from_utf8_lossy(&pending).trim().is_empty(),
        "the stream ended mid-line: {:?}",
        String::from_utf8_lossy(&pending)
    );
    events
}

/// What a streamed chat completion came to.
struct Streamed {
    /// The concatenated content deltas.
    content: String,
    /// How many chunks carried content.
    content_chunks: usize,
    /// The final usage chunk's `usage`.
    usage: Value,
    /// The last `finish_reason` seen.
    finish_reason: Option<String>,
    /// Arrival of the first and the last content chunk since the request was sent.
    first_content: Duration,
    last_content: Duration,
    /// llama-server's own `timings` (prompt and decode rates), when it sends them.
    timings: Option<Value>,
}

/// Sends a streamed chat completion with `include_usage` and checks the stream's shape: JSON
/// `data:` chunks, then one usage chunk with no choices, then `data: [DONE]` last.
fn stream_chat(server: &LlamaServer, request: &Value) -> Streamed {
    let mut request = request.clone();
    request["model"] = json!(server.model());
    request["stream"] = json!(true);
    request["stream_options"] = json!({"include_usage": true});
    let response = server.post_json("/v1/chat/completions", &request);
    assert_eq!(response.status, 200, "{}", response.text());
    assert!(
        response
            .header("content-type")
            .is_some_and(|value| value.starts_with("text/event-stream")),
        "{:?}",
        response.headers
    );
    let events = sse_data(&response);
    let (done, chunks) = events.split_last().expect("at least one event");
    assert_eq!(done.1, "[DONE]", "the stream must end with data: [DONE]");

    let mut streamed = Streamed {
        content: String::new(),
        content_chunks: 0,
        usage: Value::Null,
        finish_reason: None,
        first_content: Duration::ZERO,
        last_content: Duration::ZERO,
        timings: None,
    };
    for (index, (arrived, data)) in chunks.iter().enumerate() {
        let chunk: Value =
            serde_json::from_str(data).unwrap_or_else(|error| panic!("{error} in {data:?}"));
        assert_eq!(chunk["object"], "chat.completion.chunk", "{chunk}");
        let choices = chunk["choices"].as_array().expect("choices");
        if let Some(choice) = choices.first() {
            if let Some(content) = choice["delta"]["content"].as_str()
                && !content.is_empty()
            {
                if streamed.content_chunks == 0 {
                    streamed.first_content = *arrived;
                }
                streamed.last_content = *arrived;
                streamed.content_chunks += 1;
                streamed.content.push_str(content);
            }
            if let Some(reason) = choice["finish_reason"].as_str() {
                streamed.finish_reason = Some(reason.to_owned());
            }
        }
        if !chunk["usage"].is_null() {
            // The usage chunk is the last before [DONE] and, as OpenAI sends it, has no choices.
            assert_eq!(index, chunks.len() - 1, "usage before the end: {chunk}");
            assert!(choices.is_empty(), "usage chunk with choices: {chunk}");
            streamed.usage = chunk["usage"].clone();
            streamed.timings = chunk.get("timings").cloned();
        }
    }
    assert!(
        streamed.usage.is_object(),
        "no usage chunk in the stream:\n{}",
        response.text()
    );
    streamed
}

/// A usage field as a count.
fn usage(streamed: &Streamed, field: &str) -> u64 {
    streamed.usage[field]
        .as_u64()
        .unwrap_or_else(|| panic!("usage.{field} missing: {}", streamed.usage))
}

/// A short chat request, greedy and seeded.
fn chat(prompt: &str, max_tokens: u32) -> Value {
    json!({
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "seed": 42,
    })
}

#[test]
fn llama_server_models_props_and_health_respond() {
    let server = llama_server();
    assert!(
        server
            .base_url()
            .starts_with(&format!("http://127.0.0.1:{}/", server.port()))
    );
    assert!(server.base_url().ends_with("/v1"));

    let health = server.get("/health");
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "ok");

    let models = server.get("/v1/models");
    assert_eq!(models.status, 200, "{}", models.text());
    let models = models.json();
    assert_eq!(models["object"], "list", "{models}");
    let ids: Vec<&str> = models["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|model| model["id"].as_str())
        .collect();
    assert_eq!(ids, [server.model()], "{models}");

    // /props reflects the command line the helper promises: `-c 4096 -np 2` is 2 slots that
    // split the context, 2048 tokens each, which bounds a replayed request (prompt + output).
    let props = server.get("/props");
    assert_eq!(props.status, 200, "{}", props.text());
    let props = props.json();
    assert_eq!(props["total_slots"], 2, "{props}");
    assert_eq!(
        props["default_generation_settings"]["n_ctx"], 2048,
        "{props}"
    );
}

#[test]
fn llama_server_streams_content_then_usage_then_done() {
    let server = llama_server();
    let streamed = stream_chat(
        &server,
        &chat("Name three colors, separated by commas.", 32),
    );
    assert!(
        streamed.content_chunks >= 2,
        "expected several content deltas, got {} ({:?})",
        streamed.content_chunks,
        streamed.content
    );
    assert!(!streamed.content.trim().is_empty());
    let prompt_tokens = usage(&streamed, "prompt_tokens");
    let completion_tokens = usage(&streamed, "completion_tokens");
    assert!(prompt_tokens > 5, "prompt_tokens {prompt_tokens}");
    // One token per delta at most (a delta may hold several when a character spans tokens).
    assert!(
        (1..=32).contains(&completion_tokens)
            && u64::try_from(streamed.content_chunks).unwrap() <= completion_tokens,
        "completion_tokens {completion_tokens}, content chunks {}",
        streamed.content_chunks
    );
    if let Some(total) = streamed.usage["total_tokens"].as_u64() {
        assert_eq!(
            total,
            prompt_tokens + completion_tokens,
            "{}",
            streamed.usage
        );
    }
    assert!(
        matches!(streamed.finish_reason.as_deref(), Some("stop" | "length")),
        "finish_reason {:?}",
        streamed.finish_reason
    );
    // What this machine does, for the record (visible with --nocapture).
    let decode = streamed.last_content.saturating_sub(streamed.first_content);
    let decoded = f64::from(u32::try_from(completion_tokens - 1).expect("a few tokens"));
    eprintln!(
        "llama-server stream: {prompt_tokens} prompt + {completion_tokens} completion tokens, \
         first content after {:?}, {:.1} tokens/s after it; server timings {}",
        streamed.first_content,
        decoded / decode.as_secs_f64(),
        streamed.timings.unwrap_or_default()
    );
}

#[test]
fn llama_server_ignore_eos_generates_exactly_max_tokens() {
    let server = llama_server();
    // A prompt the model answers in a few tokens: without ignore_eos it stops well before 40,
    // so the 40 below come from ignore_eos and max_tokens, not from a long answer.
    let prompt = "Answer with one word: what color is the sky?";
    let natural = stream_chat(&server, &chat(prompt, 40));
    assert_eq!(natural.finish_reason.as_deref(), Some("stop"));
    assert!(
        usage(&natural, "completion_tokens") < 40,
        "the control answer ran to {} tokens: {:?}",
        usage(&natural, "completion_tokens"),
        natural.content
    );

    let mut request = chat(prompt, 40);
    request["ignore_eos"] = json!(true);
    let forced = stream_chat(&server, &request);
    assert_eq!(
        usage(&forced, "completion_tokens"),
        40,
        "{:?}",
        forced.content
    );
    assert_eq!(forced.finish_reason.as_deref(), Some("length"));

    // The same without streaming: the replay may send either.
    request["model"] = json!(server.model());
    let response = server.post_json("/v1/chat/completions", &request);
    assert_eq!(response.status, 200, "{}", response.text());
    let body = response.json();
    assert_eq!(body["usage"]["completion_tokens"], 40, "{body}");
    assert_eq!(body["choices"][0]["finish_reason"], "length", "{body}");
    assert_eq!(
        body["choices"][0]["message"]["content"].as_str(),
        Some(forced.content.as_str()),
        "streamed and non-streamed greedy outputs differ"
    );
}

#[test]
fn llama_server_seeded_greedy_output_is_repeatable() {
    let server = llama_server();
    let request = chat("Write one sentence about the sea.", 24);
    let first = stream_chat(&server, &request);
    let second = stream_chat(&server, &request);
    assert!(!first.content.trim().is_empty());
    assert_eq!(first.content, second.content);
    assert_eq!(
        first.usage["completion_tokens"],
        second.usage["completion_tokens"]
    );
}
