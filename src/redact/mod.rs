//! `redact`: a dataset in, the same dataset out with secrets and personal data replaced by typed,
//! deterministic placeholders (`[REDACTED:github-pat:1]`).
//!
//! Two passes over the sessions in dataset order. The first finds every secret (matching runs in
//! parallel, a window of sessions at a time) and numbers the distinct values per kind in order of
//! first appearance, so numbering never depends on thread count and no placeholder carries a hash
//! of a low-entropy value. The second rewrites every text field: what the detectors find there,
//! plus every other occurrence of an already-found value (a password seen once in
//! `DB_PASSWORD=...` is replaced where it later appears bare), then writes the new dataset
//! atomically. Token counts and hash ids are kept as recorded: they describe the workload that
//! was served, which redaction does not change.

pub mod extra;
pub mod json_text;
pub mod rules;

use std::path::PathBuf;

use aho_corasick::{AhoCorasick, MatchKind};
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::dataset::{DatasetIndex, SessionData};
use crate::schema::manifest::{CreationParameters, TableFile, Tables};
use crate::schema::{Manifest, MessageRow, SessionRow, TurnRow};
use crate::store::{DatasetWriter, StoreError, table_file};
use json_text::Span;
use rules::{Detector, KindId, RuleFileError, SkippedRule};

/// Sessions loaded and matched at a time (bounds memory by the window, not the dataset).
const WINDOW_SESSIONS: usize = 64;
/// Values at least this long are replaced wherever they occur; shorter ones only where they
/// stand alone (not inside a longer word or number).
const ANYWHERE_LENGTH: usize = 16;
/// Values shorter than this are replaced only where a detector finds them.
const PROPAGATE_LENGTH: usize = 8;
/// Tag bit of a span whose value was not numbered (never expected: both passes see the same
/// text); such spans get an unnumbered placeholder of their kind.
const UNNUMBERED: u32 = 1 << 31;

/// Everything `redact` needs, resolved from the command line.
#[derive(Debug, Clone)]
pub struct RedactOptions {
    /// Dataset to read.
    pub input: PathBuf,
    /// Dataset directory to create.
    pub output: PathBuf,
    /// Whether an existing dataset at `output` is replaced.
    pub force: bool,
    /// The input as given on the command line, recorded (redacted) in the manifest.
    pub input_label: String,
    /// Dataset name for the manifest.
    pub name: String,
    /// The command's arguments as given, recorded (redacted) in the manifest.
    pub arguments: Vec<String>,
}

/// What redact reports as it goes. Implemented by the command (a progress bar).
pub trait RedactObserver: Send {
    /// Total sessions of a pass.
    fn start(&mut self, pass: &str, sessions: u64);
    /// Sessions processed since the last call.
    fn advance(&mut self, sessions: u64);
}

/// Redact failed; nothing was written at the output path.
#[derive(Debug, thiserror::Error)]
pub enum RedactError {
    /// The rule set could not be loaded.
    #[error(transparent)]
    Rules(#[from] RuleFileError),
    /// The dataset could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Findings of one kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KindCount {
    /// The kind (a Gitleaks rule id, or `email`, `ipv4`, `ipv6`, `url-password`, `env-secret`,
    /// `home-user`).
    pub kind: String,
    /// Distinct values replaced (the highest placeholder number).
    pub distinct: u64,
    /// Replacements made.
    pub occurrences: u64,
}

/// Replacements in one column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ColumnCount {
    /// `table.column` (`manifest` for the manifest's text).
    pub column: String,
    /// Replacements made.
    pub occurrences: u64,
}

/// The rule set in use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RulesReport {
    /// Where the vendored rules come from.
    pub source: String,
    /// Gitleaks rules in use.
    pub gitleaks_rules: usize,
    /// Gitleaks rules not in use, and why.
    pub skipped: Vec<SkippedRule>,
    /// trajkit's own rules.
    pub extra_rules: Vec<String>,
}

/// What a finished redaction found and replaced. Deterministic: no paths, no times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RedactReport {
    /// Sessions written.
    pub sessions: u64,
    /// Turns written.
    pub turns: u64,
    /// Messages written.
    pub messages: u64,
    /// Replacements made, in all.
    pub occurrences: u64,
    /// Distinct values replaced, in all.
    pub distinct: u64,
    /// Per kind, for kinds found, by name.
    pub kinds: Vec<KindCount>,
    /// Per column, for columns with replacements, by name.
    pub columns: Vec<ColumnCount>,
    /// The rule set.
    pub rules: RulesReport,
}

/// A text column of the dataset, for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Column {
    SessionId,
    SourceFile,
    Agent,
    AgentVersion,
    Model,
    TaskId,
    Repository,
    ParentSessionId,
    ExitStatus,
    ToolSets,
    SessionMetadata,
    Content,
    Fields,
    FinishReason,
    ResponseId,
    OutputReasoning,
    ToolCallId,
    ToolCallName,
    ToolCallArguments,
    TurnMetadata,
    Manifest,
}

impl Column {
    const ALL: [Column; 21] = [
        Column::SessionId,
        Column::SourceFile,
        Column::Agent,
        Column::AgentVersion,
        Column::Model,
        Column::TaskId,
        Column::Repository,
        Column::ParentSessionId,
        Column::ExitStatus,
        Column::ToolSets,
        Column::SessionMetadata,
        Column::Content,
        Column::Fields,
        Column::FinishReason,
        Column::ResponseId,
        Column::OutputReasoning,
        Column::ToolCallId,
        Column::ToolCallName,
        Column::ToolCallArguments,
        Column::TurnMetadata,
        Column::Manifest,
    ];

    /// The column's name; identity columns repeated in several tables are named once.
    fn name(self) -> &'static str {
        match self {
            Column::SessionId => "*.session_id",
            Column::SourceFile => "*.source_file",
            Column::Agent => "*.agent",
            Column::AgentVersion => "sessions.agent_version",
            Column::Model => "*.model",
            Column::TaskId => "*.task_id",
            Column::Repository => "*.repository",
            Column::ParentSessionId => "sessions.parent_session_id",
            Column::ExitStatus => "sessions.exit_status",
            Column::ToolSets => "sessions.tool_sets",
            Column::SessionMetadata => "sessions.metadata_json",
            Column::Content => "messages.content",
            Column::Fields => "messages.fields_json",
            Column::FinishReason => "turns.finish_reason",
            Column::ResponseId => "turns.response_id",
            Column::OutputReasoning => "turns.output_reasoning",
            Column::ToolCallId => "turns.output_tool_calls.id",
            Column::ToolCallName => "turns.output_tool_calls.name",
            Column::ToolCallArguments => "turns.output_tool_calls.arguments",
            Column::TurnMetadata => "turns.metadata_json",
            Column::Manifest => "manifest",
        }
    }

    fn index(self) -> usize {
        Column::ALL
            .iter()
            .position(|column| *column == self)
            .unwrap_or_default()
    }
}

/// How a text column is read: as plain text, or as JSON whose string literals are the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Text {
    Plain,
    Json,
}

/// Calls `visit` on every text field of a session, in a fixed order: the session row, its
/// messages, its turns. Enumerations (`source_format`, `exactness`, `role`, `call_kind`) are
/// not text and are left out.
fn visit_session(data: &mut SessionData, visit: &mut dyn FnMut(Column, Text, &mut String)) {
    let SessionData {
        session,
        turns,
        messages,
    } = data;
    let optional = |visit: &mut dyn FnMut(Column, Text, &mut String),
                    column,
                    text,
                    value: &mut Option<String>| {
        if let Some(value) = value {
            visit(column, text, value);
        }
    };
    visit(Column::SessionId, Text::Plain, &mut session.session_id);
    visit(Column::SourceFile, Text::Plain, &mut session.source_file);
    optional(visit, Column::Agent, Text::Plain, &mut session.agent);
    optional(
        visit,
        Column::AgentVersion,
        Text::Plain,
        &mut session.agent_version,
    );
    optional(visit, Column::Model, Text::Plain, &mut session.model);
    optional(visit, Column::TaskId, Text::Plain, &mut session.task_id);
    optional(
        visit,
        Column::Repository,
        Text::Plain,
        &mut session.repository,
    );
    optional(
        visit,
        Column::ParentSessionId,
        Text::Plain,
        &mut session.parent_session_id,
    );
    optional(
        visit,
        Column::ExitStatus,
        Text::Plain,
        &mut session.exit_status,
    );
    for tool_set in &mut session.tool_sets {
        visit(Column::ToolSets, Text::Json, tool_set);
    }
    optional(
        visit,
        Column::SessionMetadata,
        Text::Json,
        &mut session.metadata_json,
    );
    for message in messages {
        visit_message(message, visit);
    }
    for turn in turns {
        visit_turn(turn, visit);
    }
}

fn visit_message(message: &mut MessageRow, visit: &mut dyn FnMut(Column, Text, &mut String)) {
    visit(Column::SessionId, Text::Plain, &mut message.session_id);
    if let Some(content) = &mut message.content {
        visit(Column::Content, Text::Plain, content);
    }
    if let Some(fields) = &mut message.fields_json {
        visit(Column::Fields, Text::Json, fields);
    }
}

fn visit_turn(turn: &mut TurnRow, visit: &mut dyn FnMut(Column, Text, &mut String)) {
    visit(Column::SessionId, Text::Plain, &mut turn.session_id);
    visit(Column::SourceFile, Text::Plain, &mut turn.source_file);
    let plain = [
        (Column::Agent, &mut turn.agent),
        (Column::Model, &mut turn.model),
        (Column::TaskId, &mut turn.task_id),
        (Column::Repository, &mut turn.repository),
        (Column::FinishReason, &mut turn.finish_reason),
        (Column::ResponseId, &mut turn.response_id),
        (Column::OutputReasoning, &mut turn.output_reasoning),
    ];
    for (column, value) in plain {
        if let Some(value) = value {
            visit(column, Text::Plain, value);
        }
    }
    for call in &mut turn.output_tool_calls {
        if let Some(id) = &mut call.id {
            visit(Column::ToolCallId, Text::Plain, id);
        }
        visit(Column::ToolCallName, Text::Plain, &mut call.name);
        visit(Column::ToolCallArguments, Text::Json, &mut call.arguments);
    }
    if let Some(metadata) = &mut turn.metadata_json {
        visit(Column::TurnMetadata, Text::Json, metadata);
    }
}

/// Calls `visit` on every text of the manifest a reader could be identified by: source paths,
/// the tokenizer's path, rejected records' files and messages, the creation parameters.
fn visit_manifest(manifest: &mut Manifest, visit: &mut dyn FnMut(Column, Text, &mut String)) {
    let mut plain = |value: &mut String| visit(Column::Manifest, Text::Plain, value);
    plain(&mut manifest.name);
    for input in &mut manifest.creation.inputs {
        plain(input);
    }
    plain(&mut manifest.creation.tokenizer);
    if let Some(tokenizer) = &mut manifest.tokenizer {
        plain(&mut tokenizer.name);
    }
    for source in &mut manifest.sources {
        plain(&mut source.path);
    }
    for record in &mut manifest.rejects.records {
        plain(&mut record.file);
        if let Some(path) = &mut record.json_path {
            plain(path);
        }
        plain(&mut record.message);
    }
    for file in &mut manifest.skipped_files {
        plain(file);
    }
}

/// Every distinct value found, numbered per kind in order of first appearance.
#[derive(Debug, Default)]
struct Registry {
    /// Value → index into `entries`.
    index: FxHashMap<String, u32>,
    /// (value, kind, number within the kind).
    entries: Vec<(String, KindId, u32)>,
    /// Next number per kind.
    next: FxHashMap<KindId, u32>,
}

impl Registry {
    fn register(&mut self, kind: KindId, value: String) {
        if self.index.contains_key(&value) {
            return;
        }
        let next = self.next.entry(kind).or_insert(0);
        *next += 1;
        let Ok(index) = u32::try_from(self.entries.len()) else {
            return;
        };
        self.index.insert(value.clone(), index);
        self.entries.push((value, kind, *next));
    }
}

/// Finds the values of one text (pass 1).
fn collect_values(detector: &Detector, text: &str, json: Text, out: &mut Vec<(KindId, String)>) {
    json_text::spans(text, json == Text::Json, &mut |leaf: &str| {
        for finding in detector.find(leaf) {
            out.push((finding.kind, leaf[finding.start..finding.end].to_owned()));
        }
        Vec::new()
    });
}

/// The read-only state of pass 2, shared by the workers.
struct Replacer<'a> {
    detector: &'a Detector,
    registry: &'a Registry,
    placeholders: Vec<String>,
    /// Values replaced wherever they occur; pattern `i` is registry entry `literal_entries[i]`.
    literals: Option<AhoCorasick>,
    literal_entries: Vec<u32>,
}

impl<'a> Replacer<'a> {
    fn new(detector: &'a Detector, registry: &'a Registry) -> Replacer<'a> {
        let placeholders = registry
            .entries
            .iter()
            .map(|(_, kind, number)| {
                format!(
                    "[REDACTED:{}:{number}]",
                    detector.kinds()[usize::from(*kind)]
                )
            })
            .collect();
        let home_user = detector.kind(extra::HOME_USER);
        let mut patterns = Vec::new();
        let mut literal_entries = Vec::new();
        for (index, (value, kind, _)) in registry.entries.iter().enumerate() {
            // A user name is personal only as a path component ("/home/test" vs. the word).
            if value.len() >= PROPAGATE_LENGTH && Some(*kind) != home_user {
                patterns.push(value.as_str());
                literal_entries.push(u32::try_from(index).unwrap_or(u32::MAX));
            }
        }
        let literals = if patterns.is_empty() {
            None
        } else {
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&patterns)
                .ok()
        };
        Replacer {
            detector,
            registry,
            placeholders,
            literals,
            literal_entries,
        }
    }

    fn placeholder(&self, tag: u32) -> String {
        if tag & UNNUMBERED != 0 {
            let kind = usize::try_from(tag & !UNNUMBERED).unwrap_or_default();
            let name = self
                .detector
                .kinds()
                .get(kind)
                .map_or("secret", String::as_str);
            return format!("[REDACTED:{name}]");
        }
        self.placeholders
            .get(tag as usize)
            .cloned()
            .unwrap_or_else(|| "[REDACTED]".to_owned())
    }

    fn kind_of(&self, tag: u32) -> KindId {
        if tag & UNNUMBERED != 0 {
            return KindId::try_from(tag & !UNNUMBERED).unwrap_or_default();
        }
        self.registry
            .entries
            .get(tag as usize)
            .map_or(0, |(_, kind, _)| *kind)
    }

    /// Spans of a leaf text: what the detectors find, then other occurrences of known values
    /// that do not overlap those.
    fn leaf_spans(&self, leaf: &str) -> Vec<Span> {
        let mut spans: Vec<Span> = self
            .detector
            .find(leaf)
            .into_iter()
            .map(|finding| Span {
                start: finding.start,
                end: finding.end,
                tag: self
                    .registry
                    .index
                    .get(&leaf[finding.start..finding.end])
                    .copied()
                    .unwrap_or(UNNUMBERED | u32::from(finding.kind)),
            })
            .collect();
        if let Some(literals) = &self.literals {
            let detected = spans.len();
            for found in literals.find_iter(leaf) {
                let (start, end) = (found.start(), found.end());
                if spans[..detected]
                    .iter()
                    .any(|span| start < span.end && span.start < end)
                {
                    continue;
                }
                if end - start < ANYWHERE_LENGTH && !stands_alone(leaf, start, end) {
                    continue;
                }
                spans.push(Span {
                    start,
                    end,
                    tag: self.literal_entries[found.pattern().as_usize()],
                });
            }
            spans.sort_by_key(|span| span.start);
        }
        spans
    }

    /// Rewrites one text in place (pass 2), counting replacements.
    fn rewrite(&self, column: Column, json: Text, text: &mut String, counts: &mut Counts) {
        let spans = json_text::spans(text, json == Text::Json, &mut |leaf: &str| {
            self.leaf_spans(leaf)
        });
        if spans.is_empty() {
            return;
        }
        for span in &spans {
            *counts.kinds.entry(self.kind_of(span.tag)).or_insert(0) += 1;
            counts.columns[column.index()] += 1;
        }
        *text = json_text::splice(text, &spans, &|tag| self.placeholder(tag));
    }
}

/// Whether `text[start..end]` is not part of a longer word or number.
fn stands_alone(text: &str, start: usize, end: usize) -> bool {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let value = &text[start..end];
    let open_left = !value.starts_with(word) || !text[..start].ends_with(word);
    let open_right = !value.ends_with(word) || !text[end..].starts_with(word);
    open_left && open_right
}

/// Replacement counts of pass 2.
#[derive(Debug, Default)]
struct Counts {
    kinds: FxHashMap<KindId, u64>,
    columns: [u64; Column::ALL.len()],
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        for (kind, count) in &other.kinds {
            *self.kinds.entry(*kind).or_insert(0) += count;
        }
        for (total, count) in self.columns.iter_mut().zip(other.columns) {
            *total += count;
        }
    }
}

/// Runs redact.
pub fn run(
    options: &RedactOptions,
    observer: &mut dyn RedactObserver,
) -> Result<RedactReport, RedactError> {
    let detector = Detector::new()?;
    let dataset = DatasetIndex::open(&options.input, false)?;
    let sessions = dataset.sessions();
    let total = sessions.len() as u64;

    // Pass 1: number every distinct value in dataset order.
    observer.start("finding", total);
    let mut registry = Registry::default();
    let all: Vec<usize> = (0..sessions.len()).collect();
    let mut stream = dataset.stream(&all)?.prefetched();
    for window in sessions.chunks(WINDOW_SESSIONS) {
        let loaded = stream
            .by_ref()
            .take(window.len())
            .collect::<Result<Vec<_>, StoreError>>()?;
        let found: Vec<Vec<(KindId, String)>> = loaded
            .into_par_iter()
            .map(|mut data| {
                let mut values = Vec::new();
                visit_session(&mut data, &mut |_, json, text| {
                    collect_values(&detector, text, json, &mut values);
                });
                Ok(values)
            })
            .collect::<Result<_, StoreError>>()?;
        for (kind, value) in found.into_iter().flatten() {
            registry.register(kind, value);
        }
        observer.advance(window.len() as u64);
    }
    let mut manifest = output_manifest(dataset.reader().manifest(), options);
    let mut manifest_values = Vec::new();
    visit_manifest(&mut manifest, &mut |_, json, text| {
        collect_values(&detector, text, json, &mut manifest_values);
    });
    for (kind, value) in manifest_values {
        registry.register(kind, value);
    }

    // Pass 2: rewrite and write.
    let replacer = Replacer::new(&detector, &registry);
    let mut counts = Counts::default();
    visit_manifest(&mut manifest, &mut |column, json, text| {
        replacer.rewrite(column, json, text, &mut counts);
    });
    let tokenizer_json =
        serde_json::to_string(&manifest.tokenizer).unwrap_or_else(|_| "null".to_owned());
    let mut writer = DatasetWriter::create(&options.output, options.force, &tokenizer_json)?;
    observer.start("redacting", total);
    let mut stream = dataset.stream(&all)?.prefetched();
    for window in sessions.chunks(WINDOW_SESSIONS) {
        let loaded = stream
            .by_ref()
            .take(window.len())
            .collect::<Result<Vec<_>, StoreError>>()?;
        let rewritten: Vec<(SessionData, Counts)> = loaded
            .into_par_iter()
            .map(|mut data| {
                let mut counts = Counts::default();
                visit_session(&mut data, &mut |column, json, text| {
                    replacer.rewrite(column, json, text, &mut counts);
                });
                Ok((data, counts))
            })
            .collect::<Result<_, StoreError>>()?;
        for (data, session_counts) in rewritten {
            counts.add(&session_counts);
            writer.write_session(data.session, data.turns, data.messages)?;
        }
        observer.advance(window.len() as u64);
    }
    let table = |path: String, rows: u64| TableFile { path, rows };
    manifest.tables = Tables {
        turns: table(table_file::<TurnRow>(), writer.turn_rows()),
        sessions: table(table_file::<SessionRow>(), writer.session_rows()),
        messages: table(table_file::<MessageRow>(), writer.message_rows()),
    };
    let report = report(&detector, &registry, &counts, &manifest.tables);
    writer.finish(&manifest)?;
    Ok(report)
}

/// The input's manifest, as written by `redact`: same tokenizer, hash parameters and sources
/// (the data they describe is the same), new name and creation parameters.
fn output_manifest(input: &Manifest, options: &RedactOptions) -> Manifest {
    let mut manifest = input.clone();
    env!("CARGO_PKG_VERSION").clone_into(&mut manifest.trajkit_version);
    manifest.name.clone_from(&options.name);
    manifest.creation = CreationParameters {
        command: "redact".to_owned(),
        inputs: vec![options.input_label.clone()],
        format: input.creation.format.clone(),
        tokenizer: input.creation.tokenizer.clone(),
        strict: input.creation.strict,
        arguments: options.arguments.clone(),
    };
    manifest
}

fn report(
    detector: &Detector,
    registry: &Registry,
    counts: &Counts,
    tables: &Tables,
) -> RedactReport {
    let mut distinct: FxHashMap<KindId, u64> = FxHashMap::default();
    for (_, kind, _) in &registry.entries {
        *distinct.entry(*kind).or_insert(0) += 1;
    }
    let mut kinds: Vec<KindCount> = counts
        .kinds
        .iter()
        .map(|(kind, occurrences)| KindCount {
            kind: detector.kinds()[usize::from(*kind)].clone(),
            distinct: distinct.get(kind).copied().unwrap_or_default(),
            occurrences: *occurrences,
        })
        .collect();
    kinds.sort_by(|a, b| a.kind.cmp(&b.kind));
    let mut columns: Vec<ColumnCount> = Column::ALL
        .iter()
        .zip(counts.columns)
        .filter(|(_, count)| *count > 0)
        .map(|(column, occurrences)| ColumnCount {
            column: column.name().to_owned(),
            occurrences,
        })
        .collect();
    columns.sort_by(|a, b| a.column.cmp(&b.column));
    let gitleaks_kinds = detector.gitleaks_rules();
    RedactReport {
        sessions: tables.sessions.rows,
        turns: tables.turns.rows,
        messages: tables.messages.rows,
        occurrences: counts.kinds.values().sum(),
        distinct: registry.entries.len() as u64,
        kinds,
        columns,
        rules: RulesReport {
            source:
                "Gitleaks v8.30.1 default rules (MIT), vendored in src/redact/gitleaks-rules.json"
                    .to_owned(),
            gitleaks_rules: gitleaks_kinds,
            skipped: detector.skipped().to_vec(),
            extra_rules: detector.kinds()[gitleaks_kinds..].to_vec(),
        },
    }
}
