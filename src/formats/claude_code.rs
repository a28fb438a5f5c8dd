//! Claude Code session JSONL (`~/.claude/projects/<cwd-with-dashes>/<sessionId>.jsonl`, and
//! sub-agents in `<sessionId>/subagents/agent-<agentId>.jsonl`).
//!
//! Producer: Anthropic's Claude Code CLI, 1.0.x to 2.1.x. One JSON object per line. `user` and
//! `assistant` records carry the conversation; they form a tree through `uuid`/`parentUuid`
//! (forks when a prompt is edited or a branch is resumed, cut at compaction boundaries). Other
//! record types (`summary`, `file-history-snapshot`, `mode`, `permission-mode`, `ai-title`,
//! `last-prompt`, `queue-operation`, `attachment`, `system`, `progress`, …) and `isMeta` user
//! records are not messages, but those with a `uuid` are nodes of the tree: a chain walks through
//! them.
//!
//! **Calls.** One Anthropic response is logged as several `assistant` lines, one per content block,
//! with the same `message.id` and the usage repeated (`output_tokens` grows): the lines of one id
//! are merged into one assistant message and one turn, in order of the id's first line. Lines
//! without an id are assistant messages but no call; `<synthetic>` lines (API-error notices) are
//! neither.
//!
//! **Requests.** A call's request is the chain of records from its first line's parent back to
//! the root, converted to OpenAI chat form. Parallel tool results are logged as siblings (each
//! `tool_result` record hangs under the line of its `tool_use`, and the next call's chain passes
//! through one of them), so a tool-result record under a call's line stands for all of that
//! call's results.
//! Contexts are `Reconstructed`: the system prompt and tool definitions are not in the log, and
//! injected reminders (`attachment`, `isMeta`) are left out. A file whose records name no parent at
//! all (hand-written logs) is read as one linear conversation in file order.
//!
//! **Sessions.** The records' `sessionId` names the session (else the file name). Inline sub-agent
//! threads (`isSidechain: true`, older versions) become sessions `<session>/agent-<agentId>`
//! (or `<session>/sidechain-<n>` without an `agentId`); a sub-agent file (every conversation
//! record a side chain) is the session `<parent>/agent-<id>`, whose parent is the directory's
//! session (or the records' `sessionId`). The spawning turn is found from the sidecar
//! `agent-<id>.meta.json` (`toolUseId`), the parent's tool result naming the agent
//! (`toolUseResult.agentId`, `agentId: <id>` in its text), or a `Task`/`Agent` call whose
//! `prompt` is the sub-agent's first prompt.
//!
//! **Counts and times.** Anthropic usage: input = `input_tokens + cache_creation_input_tokens +
//! cache_read_input_tokens`, cached = cache read, cache write = cache creation, output = the
//! largest `output_tokens` of the id's lines. The request time is the timestamp of the record the
//! call answers (the nearest timestamped ancestor of its first line); latency runs from there to
//! the call's last line; the tool delay after a call runs from its last line to the tool-result
//! record that triggers the next call.
//!
//! Kept without a column: per message `uuid`, `toolUseResult`, thinking signatures, redacted
//! thinking and unknown blocks (extra keys); per call `requestId`, the lines' `uuid`s and the raw
//! `usage`; per session `cwd`, `gitBranch`, `entrypoint`, summaries, title, record counts by type
//! and the lines of conversation records whose message could not be read.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use serde_json::value::RawValue;

use super::chat::usage_from;
use super::json::{RawObject, RecordText, as_count, iso_time_to_unix_ms, kind_of, record_lines};
use super::{FormatDescription, FormatError, SourceUnit, file_name, file_stem_id};
use crate::schema::{
    Exactness, Message, ReportedUsage, SessionInfo, ToolCallRow, Trajectory, Turn,
};

const AGENT: &str = "claude-code";

/// What the format gives.
pub const DESCRIPTION: FormatDescription = FormatDescription {
    name: "claude-code",
    producer: "Anthropic Claude Code CLI 1.0.x–2.1.x",
    files: "~/.claude/projects/<cwd>/<session>.jsonl, <session>/subagents/agent-<id>.jsonl",
    context: "reconstructed: the parentUuid chain of each call, one message per Anthropic response; system prompt and tool definitions are not logged",
    reported_counts: "per call: input (+ cache creation + cache read), cached, cache write, output",
    timing: "ISO timestamps per record: request time, model latency, tool delays",
};

/// Whether a file looks like a Claude Code session: a `.jsonl` file with, among its first lines, a
/// record carrying `parentUuid` and `sessionId`, a Claude Code housekeeping record (`summary` with
/// `leafUuid`, `file-history-snapshot`, `queue-operation`), or a usage record with `sessionId`,
/// `requestId` and an assistant `message` (ccusage's test layout).
pub fn detect(path: &Path, head: &[u8]) -> bool {
    let name = file_name(path);
    if !claims_file_name(&name) {
        return false;
    }
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split('\n').peekable();
    let mut seen = 0;
    while let Some(line) = lines.next() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        seen += 1;
        if seen > 64 {
            break;
        }
        match serde_json::from_str::<RawObject>(line) {
            Ok(object) => {
                if looks_like_record(&object) {
                    return true;
                }
            }
            // The last line of the head may be cut short: look at its first keys.
            Err(_) if lines.peek().is_none() => {
                return line.starts_with("{\"parentUuid\":")
                    || line.starts_with("{\"type\":\"file-history-snapshot\",")
                    || (line.contains("\"parentUuid\":") && line.contains("\"sessionId\":"));
            }
            Err(_) => {}
        }
    }
    false
}

fn looks_like_record(object: &RawObject<'_>) -> bool {
    let has = |key| object.get(key).is_some();
    if has("parentUuid") && (has("sessionId") || has("uuid")) {
        return true;
    }
    let kind = string_of(object.get("type"));
    match kind.as_deref() {
        Some("summary") if has("leafUuid") => return true,
        Some("file-history-snapshot") if has("snapshot") => return true,
        Some("queue-operation") if has("operation") && has("sessionId") => return true,
        _ => {}
    }
    kind.is_none()
        && has("sessionId")
        && has("requestId")
        && object
            .get("message")
            .and_then(object_of)
            .is_some_and(|m| string_of(m.get("role")).as_deref() == Some("assistant"))
}

/// Whether a file name is one this format usually has (`*.jsonl`, but not the prompt history).
pub fn claims_file_name(name: &str) -> bool {
    Path::new(name)
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("jsonl"))
        && name != "history.jsonl"
}

/// Reads one session file: the session, its inline sub-agent threads, and one error per bad line.
pub fn read(unit: SourceUnit) -> impl Iterator<Item = Result<Trajectory, FormatError>> + Send {
    std::iter::once_with(move || read_file(&unit)).flatten()
}

fn read_file(unit: &SourceUnit) -> Vec<Result<Trajectory, FormatError>> {
    let (records, errors) = parse_records(&unit.data, &unit.path, unit.first_line);
    if records.is_empty() {
        if errors.is_empty() {
            return vec![Err(FormatError {
                path: unit.path.clone(),
                line: None,
                column: None,
                json_path: None,
                message: "empty file: no records".to_owned(),
            })];
        }
        return errors.into_iter().map(Err).collect();
    }
    let mut out: Vec<Result<Trajectory, FormatError>> = errors.into_iter().map(Err).collect();
    let file = FileView::new(&records);
    let session_id = records
        .iter()
        .find_map(|r| r.session_id.clone())
        .unwrap_or_else(|| file_stem_id(&unit.path, &[".jsonl"]));
    let subagent = file
        .all_side
        .then(|| Subagent::of(Path::new(&unit.path), &records, &session_id))
        .flatten();

    let mut spawns: Option<SpawnIndex> = None;
    for (index, thread) in file.threads.iter().enumerate() {
        let view = ThreadView::new(&records, &file, index);
        let mut session = SessionInfo {
            agent: Some(AGENT.to_owned()),
            ..SessionInfo::default()
        };
        if index == 0 {
            match &subagent {
                Some(sub) => {
                    session.session_id =
                        format!("{}/agent-{}", sub.parent_session_id, sub.agent_id);
                    session.parent_session_id = Some(sub.parent_session_id.clone());
                    session.parent_turn_index = sub.spawning_turn(&view);
                }
                None => session.session_id.clone_from(&session_id),
            }
        } else {
            let first = thread.members.first().map(|&r| &records[r]);
            session.source_line = first.map(|r| r.line);
            session.session_id = match &thread.key {
                ThreadKey::Agent(agent) => format!("{session_id}/agent-{agent}"),
                _ => format!("{session_id}/sidechain-{index}"),
            };
            session.parent_session_id = Some(session_id.clone());
            if let Some(spawns) = &spawns {
                session.parent_turn_index = spawns.turn(
                    None,
                    match &thread.key {
                        ThreadKey::Agent(agent) => Some(agent.as_str()),
                        _ => None,
                    },
                    view.first_prompt().as_deref(),
                );
            }
        }
        let trajectory = view.build(session, subagent.as_ref().filter(|_| index == 0));
        if index == 0 && file.threads.len() > 1 {
            spawns = Some(view.spawn_index());
        }
        out.push(Ok(trajectory));
    }
    out
}

// ------------------------------------------------------------------------------------------
// Records

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    User,
    Assistant,
    Other,
}

/// One line of the file, with the envelope fields read and the rest kept raw.
struct Rec<'a> {
    line: u64,
    text: RecordText<'a>,
    kind: Kind,
    type_name: Option<String>,
    uuid: Option<String>,
    parent_uuid: Option<String>,
    sidechain: bool,
    is_meta: bool,
    agent_id: Option<String>,
    session_id: Option<String>,
    timestamp_ms: Option<i64>,
    object: RawObject<'a>,
    /// `message`, when it is an object.
    message: Option<RawObject<'a>>,
}

impl<'a> Rec<'a> {
    fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.object.get(key)
    }

    fn is_conversation(&self) -> bool {
        self.kind != Kind::Other
    }

    /// `message.id` of an assistant line.
    fn message_id(&self) -> Option<String> {
        self.message.as_ref().and_then(|m| string_of(m.get("id")))
    }

    fn model(&self) -> Option<String> {
        self.message
            .as_ref()
            .and_then(|m| string_of(m.get("model")))
    }

    /// The `content` of `message` as raw blocks (a string is one text block).
    fn blocks(&self) -> Option<Vec<Block<'a>>> {
        let content = self.message.as_ref()?.get("content")?;
        match content.get().as_bytes().first() {
            Some(b'"') => Some(vec![Block::Text(string_of(Some(content))?)]),
            Some(b'[') => {
                let items: Vec<&RawValue> = serde_json::from_str(content.get()).ok()?;
                Some(items.into_iter().map(Block::of).collect())
            }
            _ => None,
        }
    }
}

/// A content block.
enum Block<'a> {
    /// A text block, or a bare string in a content list.
    Text(String),
    /// Any other object block, by its `type`.
    Object(String, RawObject<'a>, &'a RawValue),
    /// Something that is neither.
    Other(&'a RawValue),
}

impl<'a> Block<'a> {
    fn of(raw: &'a RawValue) -> Self {
        match raw.get().as_bytes().first() {
            Some(b'"') => string_of(Some(raw)).map_or(Block::Other(raw), Block::Text),
            Some(b'{') => match object_of(raw) {
                Some(object) => {
                    let kind = string_of(object.get("type")).unwrap_or_default();
                    // A bare text block (other keys absent or null) is its text.
                    if kind == "text"
                        && let Some(text) = string_of(object.get("text"))
                        && object.entries.iter().all(|(key, value)| {
                            matches!(key.as_ref(), "type" | "text") || value.get() == "null"
                        })
                    {
                        return Block::Text(text);
                    }
                    Block::Object(kind, object, raw)
                }
                None => Block::Other(raw),
            },
            _ => Block::Other(raw),
        }
    }
}

/// Splits the data into lines and reads each one's envelope; a line that is not a JSON object is
/// an error located at its line.
fn parse_records<'a>(
    data: &'a [u8],
    path: &'a str,
    first_line: u64,
) -> (Vec<Rec<'a>>, Vec<FormatError>) {
    let mut records = Vec::new();
    let mut errors = Vec::new();
    for (line, range) in record_lines(data, first_line) {
        match parse_record(&data[range], path, line) {
            Ok(record) => records.push(record),
            Err(error) => errors.push(error),
        }
    }
    (records, errors)
}

fn parse_record<'a>(bytes: &'a [u8], path: &'a str, line: u64) -> Result<Rec<'a>, FormatError> {
    let text = RecordText::decode(bytes, path, line)?;
    let trimmed = text.text.trim();
    if !trimmed.starts_with('{') {
        let found = serde_json::from_str::<&RawValue>(trimmed).map_or("invalid JSON", kind_of);
        return Err(text.error(format!("expected a JSON object per line, found {found}")));
    }
    let object: RawObject<'a> =
        serde_json::from_str(text.text).map_err(|error| text.json_error(&error, 0, ""))?;
    let type_name = string_of(object.get("type"));
    let kind = match type_name.as_deref() {
        Some("user") => Kind::User,
        Some("assistant") => Kind::Assistant,
        _ => Kind::Other,
    };
    let flag = |key| object.get(key).map(RawValue::get) == Some("true");
    Ok(Rec {
        line,
        text,
        kind,
        type_name,
        uuid: string_of(object.get("uuid")),
        parent_uuid: string_of(object.get("parentUuid")),
        sidechain: flag("isSidechain"),
        is_meta: flag("isMeta"),
        agent_id: string_of(object.get("agentId")),
        session_id: string_of(object.get("sessionId")).filter(|s| !s.is_empty()),
        timestamp_ms: string_of(object.get("timestamp")).and_then(|t| iso_time_to_unix_ms(&t)),
        message: object.get("message").and_then(object_of),
        object,
    })
}

// ------------------------------------------------------------------------------------------
// Threads: the main conversation and the side chains

#[derive(Debug, Clone, PartialEq, Eq)]
enum ThreadKey {
    Main,
    Agent(String),
    Root,
}

struct Thread {
    key: ThreadKey,
    /// Record indexes, in file order.
    members: Vec<usize>,
}

/// How the file's records divide into threads, and each record's parent.
struct FileView {
    /// Whether every conversation record is a side chain (a sub-agent file).
    all_side: bool,
    threads: Vec<Thread>,
    /// Parent record of each record, within its thread.
    parent: Vec<Option<usize>>,
}

impl FileView {
    fn new(records: &[Rec<'_>]) -> Self {
        let mut by_uuid: HashMap<&str, usize> = HashMap::with_capacity(records.len());
        for (index, record) in records.iter().enumerate() {
            if let Some(uuid) = &record.uuid {
                by_uuid.entry(uuid.as_str()).or_insert(index);
            }
        }
        let resolved: Vec<Option<usize>> = records
            .iter()
            .enumerate()
            .map(|(index, r)| {
                r.parent_uuid
                    .as_deref()
                    .and_then(|p| by_uuid.get(p).copied())
                    .filter(|&p| p != index)
            })
            .collect();
        let all_side = records
            .iter()
            .filter(|r| r.is_conversation())
            .all(|r| r.sidechain);

        let mut threads = vec![Thread {
            key: ThreadKey::Main,
            members: Vec::new(),
        }];
        let mut by_agent: HashMap<&str, usize> = HashMap::new();
        let mut thread_of = vec![0; records.len()];
        for (index, record) in records.iter().enumerate() {
            let thread = if all_side || !record.sidechain {
                0
            } else if let Some(agent) = &record.agent_id {
                *by_agent.entry(agent.as_str()).or_insert_with(|| {
                    threads.push(Thread {
                        key: ThreadKey::Agent(agent.clone()),
                        members: Vec::new(),
                    });
                    threads.len() - 1
                })
            } else {
                match resolved[index].filter(|&p| p < index && thread_of[p] != 0) {
                    Some(parent) => thread_of[parent],
                    None if record.is_conversation() => {
                        threads.push(Thread {
                            key: ThreadKey::Root,
                            members: Vec::new(),
                        });
                        threads.len() - 1
                    }
                    None => 0,
                }
            };
            thread_of[index] = thread;
            threads[thread].members.push(index);
        }

        let mut parent: Vec<Option<usize>> = resolved
            .iter()
            .enumerate()
            .map(|(index, p)| p.filter(|&p| thread_of[p] == thread_of[index]))
            .collect();
        // A thread whose records name no parent at all is taken in file order.
        for thread in &threads {
            let conversation: Vec<usize> = thread
                .members
                .iter()
                .copied()
                .filter(|&r| records[r].is_conversation())
                .collect();
            if conversation.len() > 1 && conversation.iter().all(|&r| parent[r].is_none()) {
                for pair in conversation.windows(2) {
                    parent[pair[1]] = Some(pair[0]);
                }
            }
        }
        FileView {
            all_side,
            threads,
            parent,
        }
    }
}

/// For each item, the nearest item on its chain (itself, then its ancestors) for which `has`
/// holds. Linear: every item is resolved once; a cycle ends a chain.
fn nearest_on_chain(parent: &[Option<usize>], has: impl Fn(usize) -> bool) -> Vec<Option<usize>> {
    let mut out: Vec<Option<Option<usize>>> = vec![None; parent.len()];
    let mut on_stack = vec![false; parent.len()];
    let mut stack = Vec::new();
    for start in 0..parent.len() {
        let mut item = start;
        let found = loop {
            if let Some(known) = out[item] {
                break known;
            }
            if has(item) {
                out[item] = Some(Some(item));
                break Some(item);
            }
            if on_stack[item] {
                break None;
            }
            on_stack[item] = true;
            stack.push(item);
            match parent[item] {
                Some(next) => item = next,
                None => break None,
            }
        };
        for done in stack.drain(..) {
            out[done] = Some(found);
            on_stack[done] = false;
        }
    }
    out.into_iter().map(Option::flatten).collect()
}

// ------------------------------------------------------------------------------------------
// One thread: its messages, calls and contexts

/// One Anthropic response: the assistant lines sharing a `message.id` (or a line without one).
struct Group {
    /// Local indexes of its lines, in file order.
    lines: Vec<usize>,
    message_id: Option<String>,
    synthetic: bool,
}

/// A thread's messages and what each record and response contributed.
struct Built {
    messages: Vec<Message>,
    /// Messages of each record, with the tool-call id of tool messages.
    own: Vec<Vec<(u32, Option<String>)>>,
    /// Message of each response.
    group_message: Vec<Option<u32>>,
    /// Facts of each response, taken when its turn is made.
    group_output: Vec<Option<AssistantOutput>>,
    /// Whether each record holds tool results.
    has_results: Vec<bool>,
    /// Lines of conversation records whose message could not be read.
    unreadable: Vec<u64>,
    /// API-error notices written as responses (`<synthetic>` model).
    synthetic: usize,
}

struct ThreadView<'r, 'a> {
    records: &'r [Rec<'a>],
    /// Global record index of each local index.
    members: &'r [usize],
    /// Parent of each record, local.
    parent: Vec<Option<usize>>,
    groups: Vec<Group>,
    /// Group of each assistant line, local.
    group_of: Vec<Option<usize>>,
    /// Groups that are calls, in order of their first line.
    calls: Vec<usize>,
}

impl<'r, 'a> ThreadView<'r, 'a> {
    fn new(records: &'r [Rec<'a>], file: &'r FileView, thread: usize) -> Self {
        let members = file.threads[thread].members.as_slice();
        let mut local_of: HashMap<usize, usize> = HashMap::with_capacity(members.len());
        for (local, &global) in members.iter().enumerate() {
            local_of.insert(global, local);
        }
        let parent = members
            .iter()
            .map(|&g| file.parent[g].and_then(|p| local_of.get(&p).copied()))
            .collect();
        let mut groups: Vec<Group> = Vec::new();
        let mut group_of = vec![None; members.len()];
        let mut by_id: HashMap<String, usize> = HashMap::new();
        for (local, &global) in members.iter().enumerate() {
            let record = &records[global];
            if record.kind != Kind::Assistant || record.message.is_none() {
                continue;
            }
            let message_id = record.message_id();
            let existing = message_id.as_ref().and_then(|id| by_id.get(id).copied());
            let group = existing.unwrap_or_else(|| {
                if let Some(id) = &message_id {
                    by_id.insert(id.clone(), groups.len());
                }
                groups.push(Group {
                    lines: Vec::new(),
                    message_id,
                    synthetic: false,
                });
                groups.len() - 1
            });
            groups[group].lines.push(local);
            if record.model().as_deref() == Some("<synthetic>") {
                groups[group].synthetic = true;
            }
            group_of[local] = Some(group);
        }
        let calls = (0..groups.len())
            .filter(|&g| groups[g].message_id.is_some() && !groups[g].synthetic)
            .collect();
        ThreadView {
            records,
            members,
            parent,
            groups,
            group_of,
            calls,
        }
    }

    fn record(&self, local: usize) -> &'r Rec<'a> {
        &self.records[self.members[local]]
    }

    /// Where the thread's calls spawn sub-agents, to link those to their turn.
    fn spawn_index(&self) -> SpawnIndex {
        let mut index = SpawnIndex::default();
        for (k, &group) in self.calls.iter().enumerate() {
            for &line in &self.groups[group].lines {
                for block in self.record(line).blocks().unwrap_or_default() {
                    if let Block::Object(kind, object, _) = block
                        && kind == "tool_use"
                    {
                        index.add_tool_use(k, &object);
                    }
                }
            }
        }
        for local in 0..self.members.len() {
            let record = self.record(local);
            if record.kind == Kind::User {
                index.add_results(record);
            }
        }
        index
    }

    /// The text of the thread's first typed prompt (a sub-agent's task).
    fn first_prompt(&self) -> Option<String> {
        let first = (0..self.members.len())
            .map(|l| self.record(l))
            .find(|r| r.is_conversation() && !r.is_meta)?;
        if first.kind != Kind::User {
            return None;
        }
        match first.blocks()?.as_slice() {
            [Block::Text(text)] => Some(text.clone()),
            _ => None,
        }
    }

    fn build(&self, mut session: SessionInfo, subagent: Option<&Subagent>) -> Trajectory {
        let mut built = self.messages();
        let contribution = self.contributions(&built);
        let turns = self.turns(&mut built, &contribution);
        session.model = turns.iter().find_map(|t| t.model.clone());
        session.agent_version =
            (0..self.members.len()).find_map(|l| string_of(self.record(l).get("version")));
        session.metadata_json = self.session_metadata(&built.unreadable, built.synthetic, subagent);
        Trajectory {
            session,
            messages: built.messages,
            tool_sets: Vec::new(),
            turns,
        }
    }

    /// Every message of the thread, in file order: each user record's, and one per response.
    fn messages(&self) -> Built {
        let count = self.members.len();
        let mut built = Built {
            messages: Vec::new(),
            own: vec![Vec::new(); count],
            group_message: vec![None; self.groups.len()],
            group_output: (0..self.groups.len()).map(|_| None).collect(),
            has_results: vec![false; count],
            unreadable: Vec::new(),
            synthetic: 0,
        };
        for local in 0..count {
            let record = self.record(local);
            match record.kind {
                Kind::User if !record.is_meta => match user_messages(record) {
                    Some(messages) => {
                        for (message, tool_call_id) in messages {
                            built.has_results[local] |= tool_call_id.is_some();
                            built.own[local].push((index_of(built.messages.len()), tool_call_id));
                            built.messages.push(message);
                        }
                    }
                    None => built.unreadable.push(record.line),
                },
                Kind::Assistant => match self.group_of[local] {
                    Some(group) if self.groups[group].lines.first() == Some(&local) => {
                        if self.groups[group].synthetic {
                            built.synthetic += 1;
                            continue;
                        }
                        let lines: Vec<&Rec<'_>> = self.groups[group]
                            .lines
                            .iter()
                            .map(|&l| self.record(l))
                            .collect();
                        let output = assistant_output(&lines);
                        built.group_message[group] = Some(index_of(built.messages.len()));
                        built.messages.push(output.message.clone());
                        built.group_output[group] = Some(output);
                    }
                    Some(_) => {}
                    None => built.unreadable.push(record.line),
                },
                _ => {}
            }
        }
        built
    }

    /// The group of the nearest response on each record's chain (itself included).
    fn last_groups(&self) -> Vec<Option<usize>> {
        nearest_on_chain(&self.parent, |l| self.group_of[l].is_some())
            .into_iter()
            .map(|line| line.and_then(|l| self.group_of[l]))
            .collect()
    }

    /// What each record adds to a request whose chain passes through it. A response adds its
    /// message at its first line on the chain; a tool-result record under a response's line adds
    /// the results of all such records (parallel results are siblings, and a chain passes through
    /// one of them only), each tool call answered once.
    fn contributions(&self, built: &Built) -> Vec<Vec<u32>> {
        let count = self.members.len();
        let last_group = self.last_groups();
        let answered_group = |local: usize| {
            self.parent[local]
                .and_then(|p| self.group_of[p])
                .filter(|_| built.has_results[local])
        };
        let mut siblings: Vec<Vec<usize>> = vec![Vec::new(); self.groups.len()];
        for local in 0..count {
            if let Some(group) = answered_group(local) {
                siblings[group].push(local);
            }
        }
        let mut contribution: Vec<Vec<u32>> = vec![Vec::new(); count];
        for (local, added) in contribution.iter_mut().enumerate() {
            if let Some(group) = self.group_of[local] {
                if self.parent[local].and_then(|p| last_group[p]) != Some(group)
                    && let Some(message) = built.group_message[group]
                {
                    added.push(message);
                }
            } else if let Some(group) = answered_group(local) {
                let mut answered: Vec<&str> = Vec::new();
                for &sibling in &siblings[group] {
                    for (message, call_id) in &built.own[sibling] {
                        if let Some(id) = call_id {
                            if answered.contains(&id.as_str()) {
                                continue;
                            }
                            answered.push(id);
                        }
                        added.push(*message);
                    }
                }
            } else {
                added.extend(built.own[local].iter().map(|(m, _)| *m));
            }
        }
        contribution
    }

    /// The turns: each call's request is the chain of its first line, built by extending the
    /// previous call's path from where the two chains meet.
    fn turns(&self, built: &mut Built, contribution: &[Vec<u32>]) -> Vec<Turn> {
        let count = self.members.len();
        let last_group = self.last_groups();
        let nearest_time =
            nearest_on_chain(&self.parent, |l| self.record(l).timestamp_ms.is_some());
        let nearest_message = nearest_on_chain(&self.parent, |l| {
            !built.own[l].is_empty() || self.group_of[l].is_some()
        });
        let mut turns = Vec::with_capacity(self.calls.len());
        let mut path: Vec<(usize, usize)> = Vec::new();
        let mut on_path: Vec<Option<usize>> = vec![None; count];
        let mut visited: Vec<usize> = vec![usize::MAX; count];
        let mut context: Vec<u32> = Vec::new();
        for (k, &group) in self.calls.iter().enumerate() {
            let Some(&first) = self.groups[group].lines.first() else {
                continue;
            };
            let mut segment = Vec::new();
            let mut anchor = None;
            let mut cursor = self.parent[first];
            while let Some(local) = cursor {
                if let Some(position) = on_path[local] {
                    anchor = Some(position);
                    break;
                }
                if visited[local] == k {
                    break;
                }
                visited[local] = k;
                segment.push(local);
                cursor = self.parent[local];
            }
            let keep = anchor.map_or(0, |p| p + 1);
            for &(local, _) in &path[keep..] {
                on_path[local] = None;
            }
            path.truncate(keep);
            context.truncate(path.last().map_or(0, |&(_, len)| len));
            for &local in segment.iter().rev() {
                context.extend_from_slice(&contribution[local]);
                on_path[local] = Some(path.len());
                path.push((local, context.len()));
            }

            let Some(output) = built.group_output[group].take() else {
                continue;
            };
            let end_ms = output.end_ms;
            let mut turn = output.into_turn(
                context.clone(),
                built.group_message[group],
                self.groups[group].message_id.clone(),
            );
            turn.request_time_unix_ms = self.parent[first]
                .and_then(|p| nearest_time[p])
                .and_then(|l| self.record(l).timestamp_ms);
            if let (Some(start), Some(end)) = (turn.request_time_unix_ms, end_ms)
                && end >= start
            {
                turn.model_latency_ms = Some(ms_between(start, end));
            }
            // The tool delay: from this call's last line to the tool result that triggers the
            // next call, when that result answers this call.
            if let Some(&next) = self.calls.get(k + 1)
                && let Some(&next_first) = self.groups[next].lines.first()
                && let Some(trigger) = self.parent[next_first].and_then(|p| nearest_message[p])
                && built.has_results[trigger]
                && last_group[trigger] == Some(group)
                && let (Some(end), Some(at)) = (end_ms, self.record(trigger).timestamp_ms)
            {
                turn.tool_delay_ms_after = Some(ms_between(end, at.max(end)));
            }
            turns.push(turn);
        }
        turns
    }

    fn session_metadata(
        &self,
        unreadable: &[u64],
        synthetic: usize,
        subagent: Option<&Subagent>,
    ) -> Option<String> {
        let mut meta = JsonObject::default();
        let records = || (0..self.members.len()).map(|l| self.record(l));
        for key in [
            "cwd",
            "gitBranch",
            "entrypoint",
            "userType",
            "slug",
            "agentId",
        ] {
            if let Some(raw) = records().find_map(|r| r.get(key).filter(|v| v.get() != "null")) {
                meta.raw(key, raw.get());
            }
        }
        let mut versions: Vec<String> = Vec::new();
        let mut session_ids: Vec<String> = Vec::new();
        let mut types: Vec<(String, usize)> = Vec::new();
        let mut summaries: Vec<String> = Vec::new();
        let mut title = None;
        for record in records() {
            if let Some(version) = string_of(record.get("version"))
                && !versions.contains(&version)
            {
                versions.push(version);
            }
            if let Some(id) = &record.session_id
                && !session_ids.contains(id)
            {
                session_ids.push(id.clone());
            }
            let name = record.type_name.as_deref().unwrap_or("(none)");
            match types.iter_mut().find(|(n, _)| n == name) {
                Some((_, n)) => *n += 1,
                None => types.push((name.to_owned(), 1)),
            }
            if record.type_name.as_deref() == Some("summary") {
                let mut summary = JsonObject::default();
                for key in ["summary", "leafUuid"] {
                    if let Some(raw) = record.get(key) {
                        summary.raw(key, raw.get());
                    }
                }
                summaries.extend(summary.finish());
            }
            if let Some(raw) = record.get("aiTitle").or_else(|| record.get("customTitle")) {
                title = Some(raw.get());
            }
        }
        if versions.len() > 1 {
            meta.raw("versions", &json_array(versions.iter().map(|v| quote(v))));
        }
        if session_ids.len() > 1 {
            meta.raw(
                "sessionIds",
                &json_array(session_ids.iter().map(|v| quote(v))),
            );
        }
        if let Some(title) = title {
            meta.raw("title", title);
        }
        if !summaries.is_empty() {
            meta.raw("summaries", &json_array(summaries));
        }
        let mut counts = JsonObject::default();
        for (name, n) in &types {
            counts.raw(name, &n.to_string());
        }
        if let Some(counts) = counts.finish() {
            meta.raw("record_types", &counts);
        }
        if !unreadable.is_empty() {
            meta.raw(
                "unreadable_message_lines",
                &json_array(unreadable.iter().map(u64::to_string)),
            );
        }
        if synthetic > 0 {
            meta.raw("synthetic_messages", &synthetic.to_string());
        }
        if let Some(raw) = subagent.and_then(|s| s.meta.as_deref()) {
            meta.raw("subagent_meta", raw);
        }
        meta.finish()
    }
}

fn index_of(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

#[expect(
    clippy::cast_precision_loss,
    reason = "millisecond differences between log times are far below 2^52"
)]
fn ms_between(start: i64, end: i64) -> f64 {
    end.saturating_sub(start) as f64
}

// ------------------------------------------------------------------------------------------
// Messages in OpenAI chat form

/// The messages of a `user` record: one `tool` message per `tool_result` block, then one `user`
/// message with the other blocks. `None` when the record has no readable `message.content`.
fn user_messages(record: &Rec<'_>) -> Option<Vec<(Message, Option<String>)>> {
    let blocks = record.blocks()?;
    let mut out = Vec::new();
    let mut parts = Parts::default();
    for block in blocks {
        match block {
            Block::Object(kind, object, _) if kind == "tool_result" => {
                out.push(tool_message(&object));
            }
            block => parts.push(block),
        }
    }
    if let Some(content) = parts.finish() {
        let mut fields = JsonObject::default();
        let (content, token_texts) = content.split(&mut fields);
        out.push((
            Message {
                role: "user".to_owned(),
                content,
                fields_json: fields.finish(),
                token_texts,
                carries_reasoning: false,
            },
            None,
        ));
    }
    // Record-level data goes on the record's first message.
    if let Some((first, _)) = out.first_mut() {
        let mut fields = JsonObject::reopen(first.fields_json.take());
        if let Some(uuid) = &record.uuid {
            fields.raw("uuid", &quote(uuid));
        }
        for key in [
            "isCompactSummary",
            "isVisibleInTranscriptOnly",
            "toolUseResult",
        ] {
            if let Some(raw) = record.get(key).filter(|v| v.get() != "null") {
                fields.raw(key, raw.get());
            }
        }
        first.fields_json = fields.finish();
    }
    Some(out)
}

fn tool_message(block: &RawObject<'_>) -> (Message, Option<String>) {
    let call_id = string_of(block.get("tool_use_id"));
    let mut fields = JsonObject::default();
    if let Some(id) = &call_id {
        fields.raw("tool_call_id", &quote(id));
    }
    let (content, token_texts) = match block.get("content").filter(|raw| raw.get() != "null") {
        None => (Some(String::new()), Vec::new()),
        Some(raw) if raw.get().starts_with('"') => (string_of(Some(raw)), Vec::new()),
        Some(raw) => {
            let items: Vec<&RawValue> = if raw.get().starts_with('[') {
                serde_json::from_str(raw.get()).unwrap_or_default()
            } else {
                vec![raw]
            };
            let mut parts = Parts::default();
            for item in items {
                parts.push(Block::of(item));
            }
            match parts.finish() {
                Some(content) => content.split(&mut fields),
                None => (Some(String::new()), Vec::new()),
            }
        }
    };
    for (key, value) in &block.entries {
        if !matches!(key.as_ref(), "type" | "tool_use_id" | "content") && value.get() != "null" {
            fields.raw(key, value.get());
        }
    }
    (
        Message {
            role: "tool".to_owned(),
            content,
            fields_json: fields.finish(),
            token_texts,
            carries_reasoning: false,
        },
        call_id,
    )
}

/// One content part in OpenAI form.
struct Part {
    /// The part as JSON text.
    json: String,
    /// Its text, for a text part.
    text: Option<String>,
    /// Whether it is a bare text part, which a string content can stand for.
    plain: bool,
}

/// Content parts of a message, in OpenAI form.
#[derive(Default)]
struct Parts(Vec<Part>);

/// A message's content: a string, or a list of parts with the texts to count.
enum Content {
    Text(String),
    Parts { json: String, texts: Vec<String> },
}

impl Content {
    /// The string content and the texts to count; a list goes to `fields` as `content`.
    fn split(self, fields: &mut JsonObject) -> (Option<String>, Vec<String>) {
        match self {
            Content::Text(text) => (Some(text), Vec::new()),
            Content::Parts { json, texts } => {
                fields.raw("content", &json);
                (None, texts)
            }
        }
    }
}

impl Parts {
    fn push(&mut self, block: Block<'_>) {
        let part = match block {
            Block::Text(text) => Part {
                json: format!("{{\"type\":\"text\",\"text\":{}}}", quote(&text)),
                text: Some(text),
                plain: true,
            },
            Block::Object(kind, object, raw) if kind == "image" => Part {
                json: image_part(&object).unwrap_or_else(|| raw.get().to_owned()),
                text: None,
                plain: false,
            },
            // A text block with more keys (`citations`, `cache_control`) is kept whole.
            Block::Object(kind, object, raw) if kind == "text" => Part {
                json: raw.get().to_owned(),
                text: string_of(object.get("text")),
                plain: false,
            },
            Block::Object(_, _, raw) | Block::Other(raw) => Part {
                json: raw.get().to_owned(),
                text: None,
                plain: false,
            },
        };
        self.0.push(part);
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A single bare text part as a string, else the list; `None` without parts.
    fn finish(self) -> Option<Content> {
        let mut parts = self.0;
        match parts.as_slice() {
            [] => None,
            [Part { plain: true, .. }] => parts.pop().and_then(|p| p.text).map(Content::Text),
            _ => Some(Content::Parts {
                texts: parts.iter().filter_map(|p| p.text.clone()).collect(),
                json: json_array(parts.into_iter().map(|p| p.json)),
            }),
        }
    }
}

/// An Anthropic image block as an OpenAI `image_url` part (a data URL for base64 sources).
fn image_part(block: &RawObject<'_>) -> Option<String> {
    let source = object_of(block.get("source")?)?;
    let url = match string_of(source.get("type")).as_deref() {
        Some("base64") => format!(
            "data:{};base64,{}",
            string_of(source.get("media_type"))?,
            string_of(source.get("data"))?
        ),
        Some("url") => string_of(source.get("url"))?,
        _ => return None,
    };
    Some(format!(
        "{{\"type\":\"image_url\",\"image_url\":{{\"url\":{}}}}}",
        quote(&url)
    ))
}

/// One response merged from its lines: the assistant message and the call's facts.
struct AssistantOutput {
    message: Message,
    model: Option<String>,
    usage: ReportedUsage,
    finish_reason: Option<String>,
    reasoning: Option<String>,
    reasoning_encrypted: bool,
    tool_calls: Vec<ToolCallRow>,
    end_ms: Option<i64>,
    metadata: Option<String>,
}

impl AssistantOutput {
    fn into_turn(
        self,
        context: Vec<u32>,
        output: Option<u32>,
        response_id: Option<String>,
    ) -> Turn {
        let mut turn = Turn::new(context, output, Exactness::Reconstructed);
        turn.model = self.model;
        turn.usage = self.usage;
        turn.finish_reason = self.finish_reason;
        turn.response_id = response_id;
        turn.output_reasoning = self.reasoning;
        turn.output_reasoning_encrypted = self.reasoning_encrypted;
        turn.output_tool_calls = self.tool_calls;
        turn.metadata_json = self.metadata;
        turn
    }
}

/// The content blocks of one response's lines, sorted by kind.
#[derive(Default)]
struct Blocks {
    parts: Parts,
    tool_calls: Vec<String>,
    rows: Vec<ToolCallRow>,
    thinking: Vec<String>,
    signatures: Vec<String>,
    redacted: Vec<String>,
    other: Vec<String>,
    /// Reasoning present only as a signature or redacted data.
    encrypted: bool,
}

impl Blocks {
    fn of(lines: &[&Rec<'_>]) -> Self {
        let mut blocks = Blocks::default();
        for line in lines {
            for block in line.blocks().unwrap_or_default() {
                blocks.push(block);
            }
        }
        blocks
    }

    fn push(&mut self, block: Block<'_>) {
        match block {
            Block::Object(kind, object, raw) => match kind.as_str() {
                "text" => self.parts.push(Block::Object(kind, object, raw)),
                "thinking" => {
                    let text = string_of(object.get("thinking")).unwrap_or_default();
                    if let Some(signature) = object.get("signature") {
                        self.signatures.push(signature.get().to_owned());
                        self.encrypted |= text.is_empty();
                    }
                    if !text.is_empty() {
                        self.thinking.push(text);
                    }
                }
                "redacted_thinking" => {
                    self.encrypted = true;
                    let data = object.get("data").map_or("null", RawValue::get);
                    self.redacted.push(data.to_owned());
                }
                "tool_use" => {
                    let row = tool_call(&object);
                    // A block repeated on a later line is the same call.
                    if !self.rows.iter().any(|r| r.id.is_some() && r.id == row.id) {
                        self.tool_calls.push(tool_call_json(&object, &row));
                        self.rows.push(row);
                    }
                }
                _ => self.other.push(raw.get().to_owned()),
            },
            block @ Block::Text(_) => self.parts.push(block),
            Block::Other(raw) => self.other.push(raw.get().to_owned()),
        }
    }
}

fn assistant_output(lines: &[&Rec<'_>]) -> AssistantOutput {
    let Blocks {
        parts,
        tool_calls,
        rows,
        thinking,
        signatures,
        redacted,
        other,
        encrypted,
    } = Blocks::of(lines);
    let mut fields = JsonObject::default();
    let mut token_texts = Vec::new();
    let empty = parts.is_empty();
    let content = match parts.finish() {
        Some(content) => {
            let (content, texts) = content.split(&mut fields);
            token_texts.extend(texts);
            content
        }
        None if empty && rows.is_empty() => Some(String::new()),
        None => None,
    };
    if !tool_calls.is_empty() {
        fields.raw("tool_calls", &json_array(tool_calls));
        for row in &rows {
            token_texts.push(row.name.clone());
            token_texts.push(row.arguments.clone());
        }
    }
    let reasoning = (!thinking.is_empty()).then(|| thinking.join("\n\n"));
    if let Some(text) = &reasoning {
        fields.raw("reasoning_content", &quote(text));
        token_texts.push(text.clone());
    }
    for (key, items) in [
        ("thinking_signatures", signatures),
        ("redacted_thinking", redacted),
        ("other_blocks", other),
    ] {
        if !items.is_empty() {
            fields.raw(key, &json_array(items));
        }
    }
    if let [line] = lines
        && line.message_id().is_none()
        && let Some(uuid) = &line.uuid
    {
        fields.raw("uuid", &quote(uuid));
    }
    AssistantOutput {
        message: Message {
            role: "assistant".to_owned(),
            content,
            fields_json: fields.finish(),
            token_texts,
            carries_reasoning: reasoning.is_some(),
        },
        model: lines.iter().rev().find_map(|l| l.model()),
        usage: call_usage(lines),
        finish_reason: lines
            .iter()
            .rev()
            .find_map(|l| string_of(l.message.as_ref()?.get("stop_reason"))),
        reasoning,
        reasoning_encrypted: encrypted,
        tool_calls: rows,
        end_ms: lines.iter().filter_map(|l| l.timestamp_ms).max(),
        metadata: call_metadata(lines),
    }
}

/// Usage of a response: the last line's, with the largest `output_tokens` of all its lines
/// (earlier lines carry partial counts).
fn call_usage(lines: &[&Rec<'_>]) -> ReportedUsage {
    let usages: Vec<Value> = lines
        .iter()
        .filter_map(|l| l.message.as_ref()?.get("usage"))
        .filter(|raw| raw.get().starts_with('{'))
        .filter_map(|raw| serde_json::from_str(raw.get()).ok())
        .collect();
    let mut usage = usages.last().map(usage_from).unwrap_or_default();
    let most_output = usages
        .iter()
        .filter_map(|u| u.get("output_tokens").and_then(as_count))
        .max();
    if most_output.is_some() {
        usage.output = most_output;
    }
    usage
}

/// Per-call data without a column: `requestId`, the lines' `uuid`s, and the last line's other
/// `message` keys (`usage` as logged, `stop_sequence`, …).
fn call_metadata(lines: &[&Rec<'_>]) -> Option<String> {
    let mut metadata = JsonObject::default();
    if let Some(raw) = lines.iter().rev().find_map(|l| l.get("requestId")) {
        metadata.raw("requestId", raw.get());
    }
    let uuids: Vec<String> = lines
        .iter()
        .filter_map(|l| l.uuid.as_deref().map(quote))
        .collect();
    if !uuids.is_empty() {
        metadata.raw("uuids", &json_array(uuids));
    }
    let last = lines.last();
    if let Some(message) = last.and_then(|l| l.message.as_ref()) {
        for (key, value) in &message.entries {
            if !matches!(
                key.as_ref(),
                "id" | "type" | "role" | "model" | "content" | "stop_reason"
            ) && value.get() != "null"
            {
                metadata.raw(key, value.get());
            }
        }
    }
    for key in ["isApiErrorMessage", "error"] {
        if let Some(raw) = last.and_then(|l| l.get(key)) {
            metadata.raw(key, raw.get());
        }
    }
    metadata.finish()
}

/// A `tool_use` block as a tool-call row: arguments are the JSON text of `input` as logged.
fn tool_call(block: &RawObject<'_>) -> ToolCallRow {
    ToolCallRow {
        id: string_of(block.get("id")),
        name: string_of(block.get("name")).unwrap_or_default(),
        arguments: block
            .get("input")
            .map_or_else(|| "{}".to_owned(), |raw| raw.get().to_owned()),
    }
}

/// A `tool_use` block in OpenAI `tool_calls` form, keeping any other keys (`caller`, …).
fn tool_call_json(block: &RawObject<'_>, row: &ToolCallRow) -> String {
    let mut call = JsonObject::default();
    if let Some(id) = &row.id {
        call.raw("id", &quote(id));
    }
    call.raw("type", "\"function\"");
    call.raw(
        "function",
        &format!(
            "{{\"name\":{},\"arguments\":{}}}",
            quote(&row.name),
            quote(&row.arguments)
        ),
    );
    for (key, value) in &block.entries {
        if !matches!(key.as_ref(), "type" | "id" | "name" | "input") {
            call.raw(key, value.get());
        }
    }
    call.finish().unwrap_or_default()
}

// ------------------------------------------------------------------------------------------
// Sub-agents

/// A sub-agent file's link to its parent session.
struct Subagent {
    agent_id: String,
    parent_session_id: String,
    /// The parent session's file, when it can be located.
    parent_file: Option<PathBuf>,
    /// `toolUseId` of the sidecar `agent-<id>.meta.json`.
    tool_use_id: Option<String>,
    /// The sidecar's text, when it is a small JSON object.
    meta: Option<String>,
}

impl Subagent {
    /// The link of a file whose conversation records are all side chains, when it is a
    /// sub-agent's (named `agent-<id>.jsonl`, or records with `agentId`).
    fn of(path: &Path, records: &[Rec<'_>], session_id: &str) -> Option<Self> {
        let stem = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let stem = stem.strip_suffix(".jsonl").unwrap_or(&stem);
        let agent_id = records
            .iter()
            .find_map(|r| r.agent_id.clone())
            .or_else(|| stem.strip_prefix("agent-").map(str::to_owned))
            .filter(|id| !id.is_empty())?;
        // `<project>/<session>/subagents/[workflows/<run>/]agent-<id>.jsonl`.
        let session_dir = path
            .ancestors()
            .skip(1)
            .find(|dir| dir.file_name().is_some_and(|n| n == "subagents"))
            .and_then(Path::parent);
        let (parent_session_id, parent_file) = match session_dir
            .and_then(|dir| Some((dir, dir.file_name()?.to_string_lossy().into_owned())))
        {
            Some((dir, name)) => (
                name.clone(),
                Some(dir.with_file_name(format!("{name}.jsonl"))),
            ),
            None => (
                session_id.to_owned(),
                path.parent()
                    .map(|dir| dir.join(format!("{session_id}.jsonl"))),
            ),
        };
        let meta = path
            .parent()
            .map(|dir| dir.join(format!("{stem}.meta.json")))
            .and_then(|meta| fs_err::read_to_string(meta).ok())
            .map(|text| text.trim().to_owned())
            .filter(|text| text.len() <= 4096 && object_of_str(text).is_some());
        let tool_use_id = meta
            .as_deref()
            .and_then(object_of_str)
            .and_then(|object| string_of(object.get("toolUseId")));
        Some(Subagent {
            agent_id,
            parent_session_id,
            parent_file,
            tool_use_id,
            meta,
        })
    }

    /// The parent's turn that spawned this sub-agent, read from the parent's file.
    fn spawning_turn(&self, view: &ThreadView<'_, '_>) -> Option<u32> {
        let path = self.parent_file.as_ref()?;
        let data = fs_err::read(path).ok()?;
        // Nothing to find unless the parent names the call or the agent.
        let needle = self.tool_use_id.as_deref().unwrap_or(&self.agent_id);
        let prompt = view.first_prompt();
        if memchr::memmem::find(&data, needle.as_bytes()).is_none() && prompt.is_none() {
            return None;
        }
        let display = path.to_string_lossy().into_owned();
        let (records, _) = parse_records(&data, &display, 1);
        let file = FileView::new(&records);
        ThreadView::new(&records, &file, 0).spawn_index().turn(
            self.tool_use_id.as_deref(),
            Some(&self.agent_id),
            prompt.as_deref(),
        )
    }
}

/// Where a thread's calls spawn sub-agents: the call of each `tool_use`, the `tool_use` each
/// agent's result answers, and the call of each `Task`/`Agent` prompt.
#[derive(Default)]
struct SpawnIndex {
    /// Call of each `tool_use` id.
    calls: HashMap<String, usize>,
    /// `tool_use` id that each agent's result answers.
    agents: HashMap<String, String>,
    /// Call of each `Task`/`Agent` prompt; `None` when several calls have it.
    prompts: HashMap<String, Option<usize>>,
}

impl SpawnIndex {
    fn add_tool_use(&mut self, call: usize, block: &RawObject<'_>) {
        if let Some(id) = string_of(block.get("id")) {
            self.calls.entry(id).or_insert(call);
        }
        if matches!(
            string_of(block.get("name")).as_deref(),
            Some("Task" | "Agent")
        ) && let Some(prompt) = block
            .get("input")
            .and_then(object_of)
            .and_then(|input| string_of(input.get("prompt")))
        {
            self.prompts
                .entry(prompt)
                .and_modify(|known| {
                    if *known != Some(call) {
                        *known = None;
                    }
                })
                .or_insert(Some(call));
        }
    }

    /// Agents named by a record's tool results: `toolUseResult.agentId`, or `agentId: <id>` in
    /// a result's text.
    fn add_results(&mut self, record: &Rec<'_>) {
        let text = record.text.text;
        if !text.contains("agentId") {
            return;
        }
        let named = record
            .get("toolUseResult")
            .and_then(object_of)
            .and_then(|o| string_of(o.get("agentId")));
        for block in record.blocks().unwrap_or_default() {
            let Block::Object(kind, object, raw) = block else {
                continue;
            };
            let Some(tool_use_id) = string_of(object.get("tool_use_id")) else {
                continue;
            };
            if kind != "tool_result" {
                continue;
            }
            let mut agents: Vec<String> = named.iter().cloned().collect();
            let mut rest = raw.get();
            while let Some(at) = rest.find("agentId: ") {
                rest = &rest[at + "agentId: ".len()..];
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || "_-@.".contains(c)))
                    .unwrap_or(rest.len());
                agents.push(rest[..end].to_owned());
            }
            for agent in agents.into_iter().filter(|a| !a.is_empty()) {
                self.agents
                    .entry(agent)
                    .or_insert_with(|| tool_use_id.clone());
            }
        }
    }

    /// The turn that spawned a sub-agent: the call holding `tool_use_id`; else the call whose
    /// tool result names `agent_id`; else the one `Task`/`Agent` call with the sub-agent's
    /// first prompt.
    fn turn(
        &self,
        tool_use_id: Option<&str>,
        agent_id: Option<&str>,
        prompt: Option<&str>,
    ) -> Option<u32> {
        tool_use_id
            .and_then(|id| self.calls.get(id))
            .or_else(|| {
                let id = self.agents.get(agent_id?)?;
                self.calls.get(id)
            })
            .copied()
            .or_else(|| self.prompts.get(prompt?).copied().flatten())
            .and_then(|k| u32::try_from(k).ok())
    }
}

// ------------------------------------------------------------------------------------------
// Small JSON helpers

/// A raw value as a string, when it is one.
fn string_of(raw: Option<&RawValue>) -> Option<String> {
    raw.filter(|raw| raw.get().starts_with('"'))
        .and_then(|raw| serde_json::from_str(raw.get()).ok())
}

/// A raw value as an object of raw values, when it is one.
fn object_of(raw: &RawValue) -> Option<RawObject<'_>> {
    object_of_str(raw.get())
}

fn object_of_str(text: &str) -> Option<RawObject<'_>> {
    text.starts_with('{')
        .then(|| serde_json::from_str(text).ok())
        .flatten()
}

/// A string as a JSON string literal.
fn quote(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

fn json_array(items: impl IntoIterator<Item = String>) -> String {
    let mut out = String::from("[");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&item);
    }
    out.push(']');
    out
}

/// A JSON object written key by key from raw value texts.
#[derive(Default)]
struct JsonObject(String);

impl JsonObject {
    /// Continues an object text (`{…}`) to add keys to it.
    fn reopen(text: Option<String>) -> Self {
        match text.and_then(|t| t.strip_suffix('}').map(str::to_owned)) {
            Some(open) if open.len() > 1 => JsonObject(open),
            _ => JsonObject::default(),
        }
    }

    fn raw(&mut self, key: &str, value: &str) {
        self.0.push(if self.0.is_empty() { '{' } else { ',' });
        self.0.push_str(&quote(key));
        self.0.push(':');
        self.0.push_str(value);
    }

    fn finish(mut self) -> Option<String> {
        if self.0.is_empty() {
            None
        } else {
            self.0.push('}');
            Some(self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_text(path: &str, text: &str) -> Vec<Result<Trajectory, FormatError>> {
        read(SourceUnit {
            path: path.to_owned(),
            data: text.as_bytes().to_vec(),
            first_line: 1,
        })
        .collect()
    }

    fn line(fields: &str) -> String {
        format!("{{\"sessionId\":\"s\",\"version\":\"2.1.0\",{fields}}}\n")
    }

    #[test]
    fn detection_needs_the_envelope() {
        let record =
            "{\"parentUuid\":null,\"isSidechain\":false,\"sessionId\":\"s\",\"type\":\"user\"}\n";
        assert!(detect(Path::new("a.jsonl"), record.as_bytes()));
        assert!(!detect(Path::new("a.json"), record.as_bytes()));
        assert!(!detect(Path::new("history.jsonl"), record.as_bytes()));
        let summary = "{\"type\":\"summary\",\"summary\":\"x\",\"leafUuid\":\"u\"}\n";
        assert!(detect(Path::new("a.jsonl"), summary.as_bytes()));
        let chat = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}\n";
        assert!(!detect(Path::new("a.jsonl"), chat.as_bytes()));
        let codex = "{\"timestamp\":\"t\",\"type\":\"session_meta\",\"payload\":{\"id\":\"x\"}}\n";
        assert!(!detect(Path::new("a.jsonl"), codex.as_bytes()));
        let queue =
            "{\"type\":\"queue-operation\",\"operation\":\"enqueue\",\"sessionId\":\"s\"}\n";
        assert!(detect(Path::new("a.jsonl"), queue.as_bytes()));
        // A first line cut by the 64 KiB head.
        assert!(detect(
            Path::new("a.jsonl"),
            b"{\"parentUuid\":\"p\",\"isSidechain\":false,\"message\":{\"content\":\"aaa"
        ));
    }

    #[test]
    fn lines_of_one_response_merge_and_parallel_results_join() {
        let text = [
            line(r#""type":"user","uuid":"u1","parentUuid":null,"timestamp":"2025-01-01T00:00:00Z","message":{"role":"user","content":"go"}"#),
            line(r#""type":"assistant","uuid":"a1","parentUuid":"u1","timestamp":"2025-01-01T00:00:02Z","message":{"id":"m1","model":"claude","role":"assistant","content":[{"type":"thinking","thinking":"","signature":"sig"}],"stop_reason":null,"usage":{"input_tokens":3,"cache_creation_input_tokens":10,"cache_read_input_tokens":100,"output_tokens":1}}"#),
            line(r#""type":"assistant","uuid":"a2","parentUuid":"a1","timestamp":"2025-01-01T00:00:03Z","message":{"id":"m1","model":"claude","role":"assistant","content":[{"type":"tool_use","id":"t1","name":"Bash","input":{"command":"ls"}}],"stop_reason":null,"usage":{"input_tokens":3,"cache_creation_input_tokens":10,"cache_read_input_tokens":100,"output_tokens":1}}"#),
            line(r#""type":"assistant","uuid":"a3","parentUuid":"a2","timestamp":"2025-01-01T00:00:04Z","message":{"id":"m1","model":"claude","role":"assistant","content":[{"type":"tool_use","id":"t2","name":"Read","input":{"file":"x"}}],"stop_reason":"tool_use","usage":{"input_tokens":3,"cache_creation_input_tokens":10,"cache_read_input_tokens":100,"output_tokens":40}}"#),
            line(r#""type":"user","uuid":"r1","parentUuid":"a2","timestamp":"2025-01-01T00:00:05Z","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"a b"}]},"toolUseResult":{"stdout":"a b"}"#),
            line(r#""type":"user","uuid":"r2","parentUuid":"a3","timestamp":"2025-01-01T00:00:07Z","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"t2","content":"x"}]}"#),
            line(r#""type":"attachment","uuid":"x1","parentUuid":"r2","timestamp":"2025-01-01T00:00:08Z","attachment":{}"#),
            line(r#""type":"assistant","uuid":"a4","parentUuid":"x1","timestamp":"2025-01-01T00:00:10Z","message":{"id":"m2","model":"claude","role":"assistant","content":[{"type":"text","text":"done"}],"stop_reason":"end_turn","usage":{"input_tokens":5,"cache_read_input_tokens":110,"output_tokens":2}}"#),
        ]
        .concat();
        let results = read_text("s.jsonl", &text);
        assert_eq!(results.len(), 1);
        let trajectory = results[0].as_ref().unwrap();
        assert_eq!(trajectory.session.session_id, "s");
        let roles: Vec<&str> = trajectory
            .messages
            .iter()
            .map(|m| m.role.as_str())
            .collect();
        assert_eq!(roles, ["user", "assistant", "tool", "tool", "assistant"]);
        let [first, second] = trajectory.turns.as_slice() else {
            panic!("two turns");
        };
        assert_eq!(first.context, [0]);
        assert_eq!(first.output, Some(1));
        assert_eq!(first.usage.input, Some(113));
        assert_eq!(first.usage.cached, Some(100));
        assert_eq!(first.usage.cache_write, Some(10));
        assert_eq!(first.usage.output, Some(40));
        assert_eq!(first.finish_reason.as_deref(), Some("tool_use"));
        assert!(first.output_reasoning_encrypted);
        assert_eq!(first.output_tool_calls.len(), 2);
        assert_eq!(first.request_time_unix_ms, Some(1_735_689_600_000));
        assert_eq!(first.model_latency_ms, Some(4000.0));
        assert_eq!(first.tool_delay_ms_after, Some(3000.0));
        assert_eq!(second.context, [0, 1, 2, 3]);
        assert_eq!(second.request_time_unix_ms, Some(1_735_689_608_000));
        assert_eq!(second.tool_delay_ms_after, None);
        assert_eq!(
            trajectory.messages[2].fields_json.as_deref(),
            Some(r#"{"tool_call_id":"t1","uuid":"r1","toolUseResult":{"stdout":"a b"}}"#)
        );
    }

    #[test]
    fn forks_share_the_common_prefix() {
        let text = [
            line(r#""type":"user","uuid":"u1","parentUuid":null,"message":{"role":"user","content":"one"}"#),
            line(r#""type":"assistant","uuid":"a1","parentUuid":"u1","message":{"id":"m1","role":"assistant","content":"A"}"#),
            line(r#""type":"user","uuid":"u2","parentUuid":"a1","message":{"role":"user","content":"two"}"#),
            line(r#""type":"assistant","uuid":"a2","parentUuid":"u2","message":{"id":"m2","role":"assistant","content":"B"}"#),
            line(r#""type":"user","uuid":"u3","parentUuid":"a1","message":{"role":"user","content":"two, edited"}"#),
            line(r#""type":"assistant","uuid":"a3","parentUuid":"u3","message":{"id":"m3","role":"assistant","content":"C"}"#),
            line(r#""type":"user","uuid":"u4","parentUuid":"a2","message":{"role":"user","content":"back"}"#),
            line(r#""type":"assistant","uuid":"a4","parentUuid":"u4","message":{"id":"m4","role":"assistant","content":"D"}"#),
        ]
        .concat();
        let results = read_text("s.jsonl", &text);
        let trajectory = results[0].as_ref().unwrap();
        let contexts: Vec<&[u32]> = trajectory
            .turns
            .iter()
            .map(|t| t.context.as_slice())
            .collect();
        assert_eq!(
            contexts,
            [&[0][..], &[0, 1, 2], &[0, 1, 4], &[0, 1, 2, 3, 6]]
        );
    }

    #[test]
    fn side_chains_become_linked_sessions() {
        let text = [
            line(r#""type":"user","uuid":"u1","parentUuid":null,"isSidechain":false,"message":{"role":"user","content":"explore"}"#),
            line(r#""type":"assistant","uuid":"a1","parentUuid":"u1","isSidechain":false,"message":{"id":"m1","role":"assistant","content":[{"type":"tool_use","id":"t1","name":"Task","input":{"prompt":"find files","description":"d"}}]}"#),
            line(r#""type":"user","uuid":"s1","parentUuid":null,"isSidechain":true,"message":{"role":"user","content":"find files"}"#),
            line(r#""type":"assistant","uuid":"s2","parentUuid":"s1","isSidechain":true,"message":{"id":"m2","role":"assistant","content":"found"}"#),
            line(r#""type":"user","uuid":"u2","parentUuid":"a1","isSidechain":false,"message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"found"}]}"#),
            line(r#""type":"assistant","uuid":"a2","parentUuid":"u2","isSidechain":false,"message":{"id":"m3","role":"assistant","content":"ok"}"#),
        ]
        .concat();
        let results = read_text("s.jsonl", &text);
        assert_eq!(results.len(), 2);
        let main = results[0].as_ref().unwrap();
        let side = results[1].as_ref().unwrap();
        assert_eq!(main.turns.len(), 2);
        assert_eq!(side.session.session_id, "s/sidechain-1");
        assert_eq!(side.session.parent_session_id.as_deref(), Some("s"));
        assert_eq!(side.session.parent_turn_index, Some(0));
        assert_eq!(side.session.source_line, Some(3));
        assert_eq!(side.turns.len(), 1);
        assert_eq!(side.turns[0].context, [0]);
    }

    #[test]
    fn agents_named_in_result_text_link_to_their_call() {
        let text = [
            line(r#""type":"user","uuid":"u1","parentUuid":null,"message":{"role":"user","content":"go"}"#),
            line(r#""type":"assistant","uuid":"a1","parentUuid":"u1","message":{"id":"m1","role":"assistant","content":"thinking"}"#),
            line(r#""type":"user","uuid":"u2","parentUuid":"a1","message":{"role":"user","content":"more"}"#),
            line(r#""type":"assistant","uuid":"a2","parentUuid":"u2","message":{"id":"m2","role":"assistant","content":[{"type":"tool_use","id":"t9","name":"Agent","input":{"prompt":"p"}}]}"#),
            line(r#""type":"user","uuid":"x1","parentUuid":null,"isSidechain":true,"agentId":"a-7f","message":{"role":"user","content":"other words"}"#),
            line(r#""type":"assistant","uuid":"x2","parentUuid":"x1","isSidechain":true,"agentId":"a-7f","message":{"id":"m3","role":"assistant","content":"ok"}"#),
            line(r#""type":"user","uuid":"u3","parentUuid":"a2","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"t9","content":[{"type":"text","text":"ok\nagentId: a-7f (use SendMessage)"}]}]}"#),
        ]
        .concat();
        let results = read_text("s.jsonl", &text);
        let side = results[1].as_ref().unwrap();
        assert_eq!(side.session.session_id, "s/agent-a-7f");
        assert_eq!(side.session.parent_turn_index, Some(1));
    }

    #[test]
    fn bad_lines_are_located_and_skipped() {
        let text = format!(
            "{}[1]\n\n{{\"type\": \n\"x\"\n{}",
            line(
                r#""type":"user","uuid":"u1","parentUuid":null,"message":{"role":"user","content":"hi"}"#
            ),
            line(
                r#""type":"assistant","uuid":"a1","parentUuid":"u1","message":{"id":"m1","role":"assistant","content":"yo"}"#
            )
        );
        let results = read_text("s.jsonl", &text);
        let errors: Vec<String> = results
            .iter()
            .filter_map(|r| r.as_ref().err().map(ToString::to_string))
            .collect();
        assert_eq!(
            errors,
            [
                "s.jsonl:2: expected a JSON object per line, found an array",
                "s.jsonl:4:9: truncated JSON: EOF while parsing a value",
                "s.jsonl:5: expected a JSON object per line, found a string",
            ]
        );
        let trajectory = results[3].as_ref().unwrap();
        assert_eq!(trajectory.turns.len(), 1);
        assert_eq!(trajectory.turns[0].context, [0]);
    }
}
