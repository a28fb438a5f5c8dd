//! Aider's LLM history (`.aider.llm.history`, written with `--llm-history-file`): every LLM call's
//! whole request and its response, as text.
//!
//! Producer: Aider (Aider-AI/aider, `InputOutput.log_llm_history` and `utils.format_messages`),
//! all versions that have the option. A call is
//!
//! ```text
//! TO LLM 2025-05-04T17:06:58
//! -------
//! SYSTEM Act as an expert software developer.
//! SYSTEM Always use best practices when coding.
//! -------
//! USER Change get_factorial() to use math.factorial
//! LLM RESPONSE 2025-05-04T17:07:07
//! ASSISTANT To make this change we need to modify `mathweb/flask/app.py` to:
//! ```
//!
//! Each message is `-------` then its lines, each prefixed with the upper-cased role; the response
//! is the assistant's lines after `LLM RESPONSE`. Times are local, to the second, with no offset
//! (read as UTC). Each `TO LLM` block is one turn with an exact request; since every block repeats
//! the whole conversation, messages are interned and consecutive calls share indexes. Latency is
//! the response time minus the request time; the delay after a call runs to the next request.
//!
//! Quirks: lines are split the way Python's `splitlines` does, so a message's final newline is
//! lost and line ends come back as `\n`. A message whose content is a list of parts (Anthropic
//! prompt caching) is written one `key: value` line per part field (`type: text`, `text: …`,
//! `cache_control: {'type': 'ephemeral'}`), a multi-line value continuing on lines *without* the
//! role prefix; it is rebuilt as a list of parts (Python dict literals of strings become JSON). A
//! message with empty content is a bare blank line with no role: it cannot be rebuilt and is
//! counted in the turn's `metadata_json` (`empty_messages`). Reasoning that Aider streams into the
//! response between its `<thinking-content-…>` tags (or `<think>`) is split out. Weak-model calls
//! (commit messages, chat summaries) are recognized by Aider's system prompts and get
//! `call_kind = "weak-model"`. The log names no model and counts no tokens; the main and weak
//! models come from the banner of the `.aider.chat.history.md` beside it when there is one (the
//! run whose start precedes the call). A call that cannot be read (invalid UTF-8, a request
//! without messages, text outside any call) is rejected alone; the file's other calls make one
//! session, named after the file (or, for the usual bare `.aider.llm.history`, its directory).

use std::path::Path;

use serde_json::{Map, Value, json};

use super::json::iso_time_to_unix_ms;
use super::swe_agent::MessageInterner;
use super::{FormatDescription, FormatError, SourceUnit, file_name};
use crate::schema::{Exactness, Message, SessionInfo, Trajectory, Turn};

const AGENT: &str = "aider";
const REQUEST: &str = "TO LLM";
const RESPONSE: &str = "LLM RESPONSE";
const SEPARATOR: &str = "-------";
/// The roles Aider writes, upper-cased as in the log.
const ROLES: [(&str, &str); 5] = [
    ("SYSTEM", "system"),
    ("USER", "user"),
    ("ASSISTANT", "assistant"),
    ("TOOL", "tool"),
    ("FUNCTION", "function"),
];
/// Texts of the system prompts of Aider's weak-model calls: commit messages (`commit_system`, old
/// and new wordings) and chat-history summaries (`summarize`).
const WEAK_MODEL_PROMPTS: [&str; 3] = [
    "Review the provided context and diffs which are about to be committed to a git repo.",
    "one-line Git commit messages",
    "summarize this partial conversation",
];
/// Tags around reasoning in a response: Aider's own, and the `<think>` some models write.
const REASONING_TAGS: [&str; 2] = ["thinking-content-7bbeb8e1441453ad999a0bbba8a46d4b", "think"];

/// What the format gives.
pub const DESCRIPTION: FormatDescription = FormatDescription {
    name: "aider",
    producer: "Aider (Aider-AI/aider), `--llm-history-file`",
    files: ".aider.llm.history (and the .aider.chat.history.md beside it, for model names)",
    context: "exact: each `TO LLM` block is a call's whole request (line ends normalized)",
    reported_counts: "none",
    timing: "request and response times (1 s resolution, local time read as UTC): latency, delay to the next call",
};

/// Whether a file looks like an Aider LLM history: its name, or a first line `TO LLM <time>`
/// followed by `-------`.
pub fn detect(path: &Path, head: &[u8]) -> bool {
    let name = file_name(path);
    if claims_file_name(&name) {
        return true;
    }
    let head = String::from_utf8_lossy(head);
    let mut lines = head.lines().skip_while(|line| line.trim().is_empty());
    lines
        .next()
        .and_then(|line| header(line, REQUEST))
        .is_some_and(|time| time.as_bytes().first().is_some_and(u8::is_ascii_digit))
        && lines.next().map(str::trim_end) == Some(SEPARATOR)
}

/// Whether a file name is one this format usually has.
pub fn claims_file_name(name: &str) -> bool {
    name.ends_with(".llm.history")
}

/// Reads one history file: one session, and one error per call that cannot be read.
pub fn read(unit: SourceUnit) -> impl Iterator<Item = Result<Trajectory, FormatError>> + Send {
    std::iter::once_with(move || read_file(&unit)).flatten()
}

/// One line of a message: after its role prefix, or a continuation line without one.
enum Line {
    Prefixed(String),
    Continued(String),
}

impl Line {
    fn text(&self) -> &str {
        match self {
            Line::Prefixed(text) | Line::Continued(text) => text,
        }
    }
}

struct RawMessage {
    role: &'static str,
    lines: Vec<Line>,
}

struct Response {
    time: String,
    lines: Vec<Line>,
}

/// One `TO LLM` block as read.
struct Block {
    line: u64,
    time: String,
    messages: Vec<RawMessage>,
    current: Option<RawMessage>,
    /// Whether the last request line was a separator (or blank lines after one).
    after_separator: bool,
    empty_messages: u32,
    response: Option<Response>,
    error: Option<FormatError>,
}

impl Block {
    fn end_message(&mut self) {
        if let Some(message) = self.current.take() {
            self.messages.push(message);
        } else if self.after_separator {
            self.empty_messages += 1;
        }
    }
}

#[derive(PartialEq)]
enum Section {
    /// Before the first `TO LLM`, or after a response that had no request.
    Outside,
    Request,
    Response,
}

struct Parser<'a> {
    path: &'a str,
    blocks: Vec<Block>,
    errors: Vec<FormatError>,
    section: Section,
    /// Whether the current run of stray text was already reported.
    reported: bool,
    any_text: bool,
}

impl Parser<'_> {
    fn error(&self, line: u64, column: Option<u64>, message: impl Into<String>) -> FormatError {
        FormatError {
            path: self.path.to_owned(),
            line: Some(line),
            column,
            json_path: None,
            message: message.into(),
        }
    }

    fn line(&mut self, number: u64, bytes: &[u8]) {
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(error) => {
                let column = error.valid_up_to() as u64 + 1;
                let error = self.error(number, Some(column), "invalid UTF-8");
                self.any_text = true;
                match self.blocks.last_mut() {
                    Some(block) if self.section != Section::Outside => {
                        block.error.get_or_insert(error);
                    }
                    _ => self.stray(error),
                }
                return;
            }
        };
        self.any_text |= !text.trim().is_empty();
        if let Some(time) = header(text, REQUEST) {
            if let Some(block) = self.blocks.last_mut() {
                block.end_message();
            }
            self.blocks.push(Block {
                line: number,
                time: time.to_owned(),
                messages: Vec::new(),
                current: None,
                after_separator: false,
                empty_messages: 0,
                response: None,
                error: None,
            });
            self.section = Section::Request;
            self.reported = false;
            return;
        }
        if let Some(time) = header(text, RESPONSE) {
            match self.blocks.last_mut() {
                Some(block) if self.section == Section::Request => {
                    block.end_message();
                    block.response = Some(Response {
                        time: time.to_owned(),
                        lines: Vec::new(),
                    });
                    self.section = Section::Response;
                }
                _ => {
                    self.section = Section::Outside;
                    self.reported = false;
                    let error = self.error(
                        number,
                        None,
                        "`LLM RESPONSE` without a `TO LLM` request before it",
                    );
                    self.stray(error);
                }
            }
            return;
        }
        match self.section {
            Section::Outside => {
                if !text.trim().is_empty() {
                    let error = self.error(
                        number,
                        None,
                        "expected `TO LLM <time>` to start a call, found other text",
                    );
                    self.stray(error);
                }
            }
            Section::Request => self.request_line(number, text),
            Section::Response => {
                if let Some(response) = self
                    .blocks
                    .last_mut()
                    .and_then(|block| block.response.as_mut())
                {
                    response.lines.push(match role_line(text) {
                        Some(("assistant", rest)) => Line::Prefixed(rest.to_owned()),
                        _ => Line::Continued(text.to_owned()),
                    });
                }
            }
        }
    }

    /// Reports stray text once per run of it.
    fn stray(&mut self, error: FormatError) {
        if !self.reported {
            self.errors.push(error);
            self.reported = true;
        }
    }

    fn request_line(&mut self, number: u64, text: &str) {
        let Some(block) = self.blocks.last_mut() else {
            return;
        };
        if text.trim_end() == SEPARATOR {
            block.end_message();
            block.after_separator = true;
            return;
        }
        if let Some((role, rest)) = role_line(text) {
            match &mut block.current {
                Some(message) if message.role == role => {
                    message.lines.push(Line::Prefixed(rest.to_owned()));
                }
                current => {
                    if let Some(message) = current.take() {
                        block.messages.push(message);
                    }
                    block.current = Some(RawMessage {
                        role,
                        lines: vec![Line::Prefixed(rest.to_owned())],
                    });
                }
            }
            block.after_separator = false;
            return;
        }
        match &mut block.current {
            Some(message) => message.lines.push(Line::Continued(text.to_owned())),
            None if text.trim().is_empty() => {}
            None => {
                let error = FormatError {
                    path: self.path.to_owned(),
                    line: Some(number),
                    column: None,
                    json_path: None,
                    message: "expected `-------` or a line starting with a role (`SYSTEM`, `USER`, `ASSISTANT`)".to_owned(),
                };
                block.error.get_or_insert(error);
            }
        }
    }
}

/// The text after `keyword ` on a header line.
fn header<'a>(line: &'a str, keyword: &str) -> Option<&'a str> {
    let rest = line.strip_prefix(keyword)?;
    if rest.is_empty() {
        Some("")
    } else {
        rest.strip_prefix(' ').map(str::trim)
    }
}

/// The role and the rest of a role-prefixed line (`USER text`, or a bare `USER` for an empty
/// line).
fn role_line(text: &str) -> Option<(&'static str, &str)> {
    ROLES.iter().find_map(|(prefix, role)| {
        let rest = text.strip_prefix(prefix)?;
        if rest.is_empty() {
            Some((*role, ""))
        } else {
            rest.strip_prefix(' ').map(|rest| (*role, rest))
        }
    })
}

fn read_file(unit: &SourceUnit) -> Vec<Result<Trajectory, FormatError>> {
    let mut parser = Parser {
        path: &unit.path,
        blocks: Vec::new(),
        errors: Vec::new(),
        section: Section::Outside,
        reported: false,
        any_text: false,
    };
    let data = unit.data.strip_suffix(b"\n").unwrap_or(&unit.data);
    for (i, line) in data.split(|&b| b == b'\n').enumerate() {
        parser.line(unit.first_line + i as u64, line);
    }
    if let Some(block) = parser.blocks.last_mut() {
        block.end_message();
    }
    if !parser.any_text {
        return vec![Err(parser.error(unit.first_line, None, "empty file"))];
    }
    let Parser {
        blocks, mut errors, ..
    } = parser;
    // The delay after a call runs to the next request, whether or not that one can be read.
    let next_requests: Vec<Option<i64>> = blocks
        .iter()
        .skip(1)
        .map(|block| iso_time_to_unix_ms(&block.time))
        .chain([None])
        .collect();
    let mut interner = MessageInterner::default();
    let mut turns = Vec::new();
    for (block, next_request) in blocks.into_iter().zip(next_requests) {
        if let Some(error) = block.error {
            errors.push(error);
            continue;
        }
        if block.messages.is_empty() {
            errors.push(FormatError {
                path: unit.path.clone(),
                line: Some(block.line),
                column: None,
                json_path: None,
                message: "`TO LLM` request without messages".to_owned(),
            });
            continue;
        }
        let response_ms = block
            .response
            .as_ref()
            .and_then(|response| iso_time_to_unix_ms(&response.time));
        let mut turn = block_turn(block, response_ms, &mut interner);
        turn.tool_delay_ms_after = milliseconds_between(response_ms, next_request);
        turns.push(turn);
    }
    errors.sort_by_key(|error| error.line);
    let mut results: Vec<_> = errors.into_iter().map(Err).collect();
    if !turns.is_empty() {
        results.push(Ok(session(unit, interner, turns)));
    }
    results
}

/// `end − start` in milliseconds, when both are known and in order.
fn milliseconds_between(start: Option<i64>, end: Option<i64>) -> Option<f64> {
    let difference = end?.checked_sub(start?)?;
    u32::try_from(difference).ok().map(f64::from)
}

fn block_turn(block: Block, response_ms: Option<i64>, interner: &mut MessageInterner) -> Turn {
    let weak = block.messages.first().is_some_and(|message| {
        message.role == "system"
            && message.lines.iter().any(|line| {
                WEAK_MODEL_PROMPTS
                    .iter()
                    .any(|prompt| line.text().contains(prompt))
            })
    });
    let context = block
        .messages
        .iter()
        .map(|message| interner.intern(build_message(message)))
        .collect();
    let (output, reasoning) = match &block.response {
        Some(response) => {
            let (message, reasoning) = build_response(&response.lines);
            (Some(interner.intern(message)), reasoning)
        }
        None => (None, None),
    };
    let mut turn = Turn::new(context, output, Exactness::Exact);
    turn.request_time_unix_ms = iso_time_to_unix_ms(&block.time);
    turn.model_latency_ms = milliseconds_between(turn.request_time_unix_ms, response_ms);
    turn.output_reasoning = reasoning;
    turn.call_kind = weak.then(|| "weak-model".to_owned());
    let mut metadata = Map::new();
    metadata.insert("request_time".into(), Value::String(block.time));
    if let Some(response) = block.response {
        metadata.insert("response_time".into(), Value::String(response.time));
    }
    if block.empty_messages > 0 {
        metadata.insert("empty_messages".into(), block.empty_messages.into());
    }
    turn.metadata_json = Some(Value::Object(metadata).to_string());
    turn
}

fn plain_message(role: &str, content: String) -> Message {
    Message {
        role: role.to_owned(),
        content: Some(content),
        fields_json: None,
        token_texts: Vec::new(),
        carries_reasoning: false,
    }
}

fn join(lines: &[Line]) -> String {
    lines.iter().map(Line::text).collect::<Vec<_>>().join("\n")
}

/// A request message: its lines joined, or its list of parts when it was logged as one.
fn build_message(raw: &RawMessage) -> Message {
    match list_parts(&raw.lines) {
        Some(parts) => {
            let token_texts = parts
                .iter()
                .filter_map(|part| part.get("text").and_then(Value::as_str))
                .map(str::to_owned)
                .collect();
            Message {
                role: raw.role.to_owned(),
                content: None,
                fields_json: Some(json!({ "content": parts }).to_string()),
                token_texts,
                carries_reasoning: false,
            }
        }
        None => plain_message(raw.role, join(&raw.lines)),
    }
}

/// The parts of a list-content message, written as `type: text` / `text: …` /
/// `cache_control: {…}` lines (`Image_url URL: …` for images); `None` when the lines are not that.
fn list_parts(lines: &[Line]) -> Option<Vec<Map<String, Value>>> {
    let is_key =
        |key: &str| !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    match lines.first() {
        Some(Line::Prefixed(first))
            if first.strip_prefix("type: ").is_some_and(is_key) && lines.len() > 1 => {}
        _ => return None,
    }
    let mut parts: Vec<Map<String, Value>> = Vec::new();
    let mut last_key: Option<String> = None;
    for line in lines {
        match line {
            Line::Prefixed(text) => {
                if let Some(kind) = text.strip_prefix("type: ") {
                    let mut part = Map::new();
                    part.insert("type".into(), Value::String(kind.to_owned()));
                    parts.push(part);
                    last_key = Some("type".to_owned());
                    continue;
                }
                let part = parts.last_mut()?;
                let (key, value) = text.split_once(": ")?;
                if let Some(field) = key.strip_suffix(" URL").filter(|k| is_key(k)) {
                    part.insert(field.to_lowercase(), json!({ "url": value }));
                    last_key = None;
                } else if is_key(key) {
                    let value =
                        python_dict(value).unwrap_or_else(|| Value::String(value.to_owned()));
                    part.insert(key.to_owned(), value);
                    last_key = Some(key.to_owned());
                } else {
                    return None;
                }
            }
            Line::Continued(text) => {
                let key = last_key.as_deref()?;
                match parts.last_mut()?.get_mut(key)? {
                    Value::String(value) => {
                        value.push('\n');
                        value.push_str(text);
                    }
                    _ => return None,
                }
            }
        }
    }
    Some(parts)
}

/// A Python dict literal of plain strings (`{'type': 'ephemeral'}`) as a JSON object.
fn python_dict(text: &str) -> Option<Value> {
    let inner = text.strip_prefix('{')?.strip_suffix('}')?;
    let mut object = Map::new();
    for pair in inner.split(", ").filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once(": ")?;
        let unquote = |s: &str| {
            s.strip_prefix('\'')
                .and_then(|s| s.strip_suffix('\''))
                .filter(|s| !s.contains(['\'', '\\']))
                .map(str::to_owned)
        };
        object.insert(unquote(key)?, Value::String(unquote(value)?));
    }
    Some(Value::Object(object))
}

/// The response message, with reasoning streamed between tags split out.
fn build_response(lines: &[Line]) -> (Message, Option<String>) {
    let end = lines
        .iter()
        .rposition(|line| matches!(line, Line::Prefixed(_)))
        .map_or(0, |last| last + 1);
    let text = join(&lines[..end]);
    for tag in REASONING_TAGS {
        let open = format!("<{tag}>");
        let close = format!("</{tag}>");
        if let Some((reasoning, answer)) = text
            .trim_start()
            .strip_prefix(&open)
            .and_then(|rest| rest.split_once(&close))
        {
            let reasoning = reasoning.trim().to_owned();
            let mut message = plain_message("assistant", answer.trim_start().to_owned());
            message.fields_json = Some(json!({ "reasoning_content": reasoning }).to_string());
            message.token_texts.push(reasoning.clone());
            message.carries_reasoning = true;
            return (message, Some(reasoning));
        }
    }
    (plain_message("assistant", text), None)
}

/// One run of Aider, from the banner of `.aider.chat.history.md`.
#[derive(Debug, Default)]
struct Run {
    started: String,
    started_ms: Option<i64>,
    version: Option<String>,
    main_model: Option<String>,
    weak_model: Option<String>,
}

/// The runs in the chat history beside the LLM history, if there is one.
fn chat_history_runs(path: &str) -> Vec<Run> {
    let Some(stem) = path.strip_suffix("llm.history") else {
        return Vec::new();
    };
    let Ok(text) = fs_err::read_to_string(format!("{stem}chat.history.md")) else {
        return Vec::new();
    };
    let mut runs: Vec<Run> = Vec::new();
    for line in text.lines() {
        if let Some(started) = line.strip_prefix("# aider chat started at ") {
            let started = started.trim();
            runs.push(Run {
                started: started.to_owned(),
                started_ms: iso_time_to_unix_ms(&started.replacen(' ', "T", 1)),
                ..Run::default()
            });
            continue;
        }
        let (Some(banner), Some(run)) = (line.strip_prefix("> "), runs.last_mut()) else {
            continue;
        };
        let banner = banner.trim();
        let model = |rest: &str| {
            rest.split(" with ")
                .next()
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .map(str::to_owned)
        };
        if let Some(rest) = banner
            .strip_prefix("Main model: ")
            .or_else(|| banner.strip_prefix("Model: "))
        {
            if run.main_model.is_none() {
                run.main_model = model(rest);
            }
        } else if let Some(rest) = banner.strip_prefix("Weak model: ") {
            if run.weak_model.is_none() {
                run.weak_model = model(rest);
            }
        } else if let Some(rest) = banner.strip_prefix("Models: ") {
            // Aider 0.3x–0.4x: `Models: X with diff edit format, weak model Y`.
            if run.main_model.is_none() {
                run.main_model = model(rest);
            }
            if run.weak_model.is_none() {
                run.weak_model = rest
                    .rsplit_once("weak model ")
                    .map(|(_, weak)| weak.trim().to_owned());
            }
        } else if let Some(version) = banner.strip_prefix("Aider v") {
            run.version.get_or_insert_with(|| version.trim().to_owned());
        }
    }
    runs
}

fn session(unit: &SourceUnit, interner: MessageInterner, mut turns: Vec<Turn>) -> Trajectory {
    let runs = chat_history_runs(&unit.path);
    for turn in &mut turns {
        let run = turn.request_time_unix_ms.and_then(|at| {
            runs.iter()
                .rev()
                .find(|run| run.started_ms.is_some_and(|start| start <= at))
        });
        if let Some(run) = run {
            turn.model = if turn.call_kind.is_some() {
                run.weak_model.clone()
            } else {
                run.main_model.clone()
            };
        }
    }
    let metadata = (!runs.is_empty()).then(|| {
        let runs: Vec<Value> = runs
            .iter()
            .map(|run| {
                json!({"started": run.started, "aider_version": run.version,
                    "main_model": run.main_model, "weak_model": run.weak_model})
            })
            .collect();
        json!({ "chat_history_runs": runs }).to_string()
    });
    let first = runs.first();
    Trajectory {
        session: SessionInfo {
            session_id: session_id(&unit.path),
            agent: Some(AGENT.to_owned()),
            agent_version: first.and_then(|run| run.version.clone()),
            model: first.and_then(|run| run.main_model.clone()),
            metadata_json: metadata,
            ..SessionInfo::default()
        },
        messages: interner.into_messages(),
        tool_sets: Vec::new(),
        turns,
    }
}

/// The file name without `.aider.llm.history`; for the usual bare `.aider.llm.history`, the name
/// of the project directory it sits in.
fn session_id(path: &str) -> String {
    let path = Path::new(path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    [".aider.llm.history", ".llm.history"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .filter(|stem| !stem.is_empty())
        .map(str::to_owned)
        .or_else(|| {
            path.parent()
                .and_then(Path::file_name)
                .map(|dir| dir.to_string_lossy().into_owned())
        })
        .unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_text(text: &str) -> Vec<Result<Trajectory, FormatError>> {
        read(SourceUnit {
            path: "project/.aider.llm.history".into(),
            data: text.as_bytes().to_vec(),
            first_line: 1,
        })
        .collect()
    }

    const TWO_CALLS: &str = "TO LLM 2025-05-04T17:06:58\n-------\nSYSTEM Be brief.\nSYSTEM \n-------\nUSER hi\nLLM RESPONSE 2025-05-04T17:07:07\nASSISTANT hello\nASSISTANT \nASSISTANT there\nTO LLM 2025-05-04T17:07:30\n-------\nSYSTEM Be brief.\nSYSTEM \n-------\nUSER hi\n-------\nASSISTANT hello\nASSISTANT \nASSISTANT there\n-------\nUSER bye\nLLM RESPONSE 2025-05-04T17:07:31\nASSISTANT bye\n";

    #[test]
    fn calls_share_interned_messages_and_times() {
        let mut results = read_text(TWO_CALLS);
        assert_eq!(results.len(), 1);
        let trajectory = results.remove(0).unwrap();
        assert_eq!(trajectory.session.session_id, "project");
        let turns = &trajectory.turns;
        assert_eq!(turns[0].context, [0, 1]);
        assert_eq!(turns[0].output, Some(2));
        assert_eq!(turns[1].context, [0, 1, 2, 3]);
        assert_eq!(turns[1].output, Some(4));
        assert_eq!(
            trajectory.messages[0].content.as_deref(),
            Some("Be brief.\n")
        );
        assert_eq!(
            trajectory.messages[2].content.as_deref(),
            Some("hello\n\nthere")
        );
        assert_eq!(turns[0].model_latency_ms, Some(9000.0));
        assert_eq!(turns[0].tool_delay_ms_after, Some(23000.0));
        assert_eq!(turns[0].request_time_unix_ms, Some(1_746_378_418_000));
        assert!(turns.iter().all(|t| t.exactness == Exactness::Exact));
    }

    #[test]
    fn list_content_is_rebuilt_as_parts() {
        let lines = [
            Line::Prefixed("type: text".into()),
            Line::Prefixed("text: first".into()),
            Line::Continued("second".into()),
            Line::Prefixed("cache_control: {'type': 'ephemeral'}".into()),
        ];
        let message = build_message(&RawMessage {
            role: "user",
            lines: lines.into(),
        });
        assert_eq!(message.content, None);
        assert_eq!(
            message.fields_json.as_deref(),
            Some(
                r#"{"content":[{"type":"text","text":"first\nsecond","cache_control":{"type":"ephemeral"}}]}"#
            )
        );
        assert_eq!(message.token_texts, ["first\nsecond"]);
        let plain = build_message(&RawMessage {
            role: "user",
            lines: vec![Line::Prefixed("type: text".into())],
        });
        assert_eq!(plain.content.as_deref(), Some("type: text"));
    }

    #[test]
    fn reasoning_is_split_from_the_answer() {
        let lines: Vec<Line> = ["<think>", "", "plan", "", "</think>", "", "answer"]
            .iter()
            .map(|l| Line::Prefixed((*l).to_owned()))
            .collect();
        let (message, reasoning) = build_response(&lines);
        assert_eq!(reasoning.as_deref(), Some("plan"));
        assert_eq!(message.content.as_deref(), Some("answer"));
        assert!(message.carries_reasoning);
    }

    #[test]
    fn stray_text_and_bad_blocks_are_located() {
        let text = "junk\nmore junk\nLLM RESPONSE 2025-01-01T00:00:00\nASSISTANT x\nTO LLM 2025-01-01T00:00:01\nstray\nLLM RESPONSE 2025-01-01T00:00:02\n";
        let results = read_text(text);
        let errors: Vec<String> = results
            .iter()
            .map(|r| r.as_ref().unwrap_err().to_string())
            .collect();
        assert_eq!(
            errors,
            [
                "project/.aider.llm.history:1: expected `TO LLM <time>` to start a call, found other text",
                "project/.aider.llm.history:3: `LLM RESPONSE` without a `TO LLM` request before it",
                "project/.aider.llm.history:6: expected `-------` or a line starting with a role (`SYSTEM`, `USER`, `ASSISTANT`)",
            ]
        );
        assert_eq!(
            read_text("\n\n")[0].as_ref().unwrap_err().to_string(),
            "project/.aider.llm.history:1: empty file"
        );
    }

    #[test]
    fn detection_needs_the_name_or_the_first_lines() {
        assert!(detect(Path::new("x/.aider.llm.history"), b""));
        assert!(detect(
            Path::new("x/calls.log"),
            b"TO LLM 2025-05-04T17:06:58\n-------\nSYSTEM a\n"
        ));
        assert!(!detect(Path::new("x/calls.log"), b"TO LLM soon\n-------\n"));
        assert!(!detect(
            Path::new("x/.aider.chat.history.md"),
            b"# aider chat started at 2025-05-04 17:06:52\n"
        ));
    }
}
