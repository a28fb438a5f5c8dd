//! `trajkit show`: a one-screen summary of a dataset, a session's turns, or one turn's exact
//! request and output (with `--json`, in OpenAI chat form, messages exactly as logged).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;

use anyhow::{Context as _, bail};
use serde::Serialize;
use serde_json::{Value, json};

use super::ExitStatus;
use crate::cli::ShowArgs;
use crate::dataset::{Dataset, SessionData};
use crate::schema::manifest::TokenizerIdentity;
use crate::schema::{Exactness, TurnRow};

/// Characters of each message shown in the text view of a turn.
const PREVIEW_CHARS: usize = 300;

/// Runs `trajkit show`.
pub fn run(args: ShowArgs, out: &mut dyn Write) -> anyhow::Result<ExitStatus> {
    let ShowArgs {
        dataset,
        session,
        turn,
        json,
    } = args;
    let opened = Dataset::open(&dataset)
        .with_context(|| format!("failed to open dataset `{}`", dataset.display()))?;
    let session_id = match (session, turn) {
        (Some(id), _) => Some(id),
        (None, Some(_)) if opened.sessions().len() == 1 => {
            Some(opened.sessions()[0].session_id.clone())
        }
        (None, Some(_)) => bail!(
            "--turn needs --session: the dataset has {} sessions",
            opened.sessions().len()
        ),
        (None, None) => None,
    };
    let Some(session_id) = session_id else {
        summary(&opened, json, out)?;
        return Ok(ExitStatus::Success);
    };
    let row = opened.session(&session_id).with_context(|| {
        format!(
            "no session `{session_id}` in `{}`\nhint: `trajkit show {}` lists sessions",
            dataset.display(),
            dataset.display()
        )
    })?;
    let data = opened
        .load(row)
        .with_context(|| format!("failed to read session `{session_id}`"))?;
    match turn {
        Some(turn) => show_turn(&data, turn, json, out)?,
        None => show_session(&data, json, out)?,
    }
    Ok(ExitStatus::Success)
}

fn show_turn(
    data: &SessionData,
    turn: usize,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    if turn >= data.turns.len() {
        bail!(
            "session `{}` has {} turns (0 to {}); there is no turn {turn}",
            data.session.session_id,
            data.turns.len(),
            data.turns.len().saturating_sub(1)
        );
    }
    let request = data.request(turn)?;
    let output = data.output(turn)?;
    if json {
        let value = json!({
            "messages": request.messages,
            "tools": request.tools,
            "output": output.unwrap_or(Value::Null),
        });
        serde_json::to_writer_pretty(&mut *out, &value)?;
        writeln!(out)?;
        return Ok(());
    }
    let row = &data.turns[turn];
    writeln!(
        out,
        "session {} turn {turn}: {} messages, {} tools sent; input {} tokens (reported {}), output {} (reported {})",
        data.session.session_id,
        request.messages.len(),
        request.tools.len(),
        figure(row.input_tokens_counted),
        figure(row.input_tokens_reported),
        figure(row.output_tokens_counted),
        figure(row.output_tokens_reported),
    )?;
    for (index, message) in request.messages.iter().enumerate() {
        writeln!(out, "\n--- [{index}] {}", preview_message(message))?;
    }
    writeln!(
        out,
        "\n=== output (finish: {})",
        row.finish_reason.as_deref().unwrap_or("unknown")
    )?;
    match output {
        Some(message) => writeln!(out, "{}", preview_message(&message))?,
        None => writeln!(out, "(not logged)")?,
    }
    Ok(())
}

fn preview_message(message: &Value) -> String {
    let role = message.get("role").and_then(Value::as_str).unwrap_or("?");
    let content = match message.get("content") {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let mut text = format!("{role}\n{}", preview(&content));
    if let Some(calls) = message.get("tool_calls").and_then(Value::as_array) {
        for call in calls {
            let function = call.get("function").unwrap_or(call);
            let arguments = match function.get("arguments") {
                Some(Value::String(text)) => text.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            };
            let _ = write!(
                text,
                "\n[tool call] {}({})",
                function.get("name").and_then(Value::as_str).unwrap_or("?"),
                preview(&arguments)
            );
        }
    }
    text
}

fn preview(text: &str) -> String {
    let total = text.chars().count();
    if total <= PREVIEW_CHARS {
        return text.to_owned();
    }
    let head: String = text.chars().take(PREVIEW_CHARS).collect();
    format!("{head}… ({} more characters)", total - PREVIEW_CHARS)
}

fn show_session(data: &SessionData, json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    if json {
        let value = json!({
            "session": data.session,
            "turns": data.turns.iter().map(turn_summary).collect::<Vec<_>>(),
        });
        serde_json::to_writer_pretty(&mut *out, &value)?;
        writeln!(out)?;
        return Ok(());
    }
    let session = &data.session;
    writeln!(
        out,
        "session {} ({} from `{}`): {} turns, {} messages, model {}, exit {}",
        session.session_id,
        session.source_format,
        session.source_file,
        session.turn_count,
        session.message_count,
        session.model.as_deref().unwrap_or("unknown"),
        session.exit_status.as_deref().unwrap_or("unknown"),
    )?;
    writeln!(
        out,
        "{:>5} {:>5} {:>10} {:>10} {:>10} {:>10} {:>8} {:>8}  finish",
        "turn", "msgs", "input rep", "input cnt", "cached rep", "prefix cnt", "out rep", "out cnt"
    )?;
    for row in &data.turns {
        writeln!(
            out,
            "{:>5} {:>5} {:>10} {:>10} {:>10} {:>10} {:>8} {:>8}  {}",
            row.turn_index,
            row.context_messages,
            figure(row.input_tokens_reported),
            figure(row.input_tokens_counted),
            figure(row.cached_tokens_reported),
            figure(row.prefix_tokens_counted),
            figure(row.output_tokens_reported),
            figure(row.output_tokens_counted),
            row.finish_reason.as_deref().unwrap_or("-"),
        )?;
    }
    Ok(())
}

fn turn_summary(row: &TurnRow) -> Value {
    json!({
        "turn_index": row.turn_index,
        "context_messages": row.context_messages,
        "input_tokens_reported": row.input_tokens_reported,
        "input_tokens_counted": row.input_tokens_counted,
        "cached_tokens_reported": row.cached_tokens_reported,
        "prefix_tokens_counted": row.prefix_tokens_counted,
        "output_tokens_reported": row.output_tokens_reported,
        "output_tokens_counted": row.output_tokens_counted,
        "finish_reason": row.finish_reason,
        "model": row.model,
    })
}

fn figure(value: Option<u64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// The dataset summary, as printed with `--json` and rendered as text otherwise.
#[derive(Debug, Serialize)]
struct Summary<'a> {
    name: &'a str,
    schema_version: &'a str,
    trajkit_version: &'a str,
    tokenizer: Option<&'a TokenizerIdentity>,
    sessions: usize,
    turns: usize,
    messages: u64,
    source_files: usize,
    rejects: u64,
    skipped_files: usize,
    sessions_by_format: BTreeMap<&'a str, u64>,
    sessions_by_model: BTreeMap<&'a str, u64>,
    turns_per_session_min: Option<u32>,
    turns_per_session_median_low: Option<u32>,
    turns_per_session_max: Option<u32>,
    tokens: TokenTotals,
    session_ids: Vec<&'a str>,
}

/// Token totals over the turns that report each figure (`turns_*` says how many did).
#[derive(Debug, Default, Serialize)]
struct TokenTotals {
    input_reported: u64,
    turns_input_reported: usize,
    cached_reported: u64,
    turns_cached_reported: usize,
    /// Turns without text (sizes-only logs): nothing to count.
    turns_sizes_only: usize,
    input_counted: u64,
    prefix_counted: u64,
    output_reported: u64,
    turns_output_reported: usize,
    output_counted: u64,
}

fn summary(dataset: &Dataset, json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let manifest = dataset.reader().manifest();
    let turns = dataset.reader().read_all::<TurnRow>()?;
    let mut tokens = TokenTotals::default();
    for turn in &turns {
        let add = |total: &mut u64, value: Option<u64>| *total += value.unwrap_or(0);
        add(&mut tokens.input_reported, turn.input_tokens_reported);
        tokens.turns_input_reported += usize::from(turn.input_tokens_reported.is_some());
        add(&mut tokens.cached_reported, turn.cached_tokens_reported);
        tokens.turns_cached_reported += usize::from(turn.cached_tokens_reported.is_some());
        tokens.turns_sizes_only += usize::from(turn.exactness == Exactness::SizesOnly.as_str());
        add(&mut tokens.input_counted, turn.input_tokens_counted);
        add(&mut tokens.prefix_counted, turn.prefix_tokens_counted);
        add(&mut tokens.output_reported, turn.output_tokens_reported);
        tokens.turns_output_reported += usize::from(turn.output_tokens_reported.is_some());
        add(&mut tokens.output_counted, turn.output_tokens_counted);
    }
    let mut sessions_by_format: BTreeMap<&str, u64> = BTreeMap::new();
    let mut sessions_by_model: BTreeMap<&str, u64> = BTreeMap::new();
    for session in dataset.sessions() {
        *sessions_by_format
            .entry(&session.source_format)
            .or_default() += 1;
        *sessions_by_model
            .entry(session.model.as_deref().unwrap_or("unknown"))
            .or_default() += 1;
    }
    let mut turns_per_session: Vec<u32> = dataset.sessions().iter().map(|s| s.turn_count).collect();
    turns_per_session.sort_unstable();
    let summary = Summary {
        name: &manifest.name,
        schema_version: &manifest.schema_version,
        trajkit_version: &manifest.trajkit_version,
        tokenizer: manifest.tokenizer.as_ref(),
        sessions: dataset.sessions().len(),
        turns: turns.len(),
        messages: manifest.tables.messages.rows,
        source_files: manifest.sources.len(),
        rejects: manifest.rejects.count,
        skipped_files: manifest.skipped_files.len(),
        sessions_by_format,
        sessions_by_model,
        turns_per_session_min: turns_per_session.first().copied(),
        turns_per_session_median_low: turns_per_session
            .get(turns_per_session.len().saturating_sub(1) / 2)
            .copied(),
        turns_per_session_max: turns_per_session.last().copied(),
        tokens,
        session_ids: dataset
            .sessions()
            .iter()
            .map(|s| s.session_id.as_str())
            .collect(),
    };
    if json {
        serde_json::to_writer_pretty(&mut *out, &summary)?;
        writeln!(out)?;
    } else {
        render_summary(&summary, out)?;
    }
    Ok(())
}

fn render_summary(summary: &Summary<'_>, out: &mut dyn Write) -> std::io::Result<()> {
    let tokenizer = summary.tokenizer.map_or_else(
        || "none (reported counts only)".to_owned(),
        |t| {
            format!(
                "{} ({}, sha256 {}…)",
                t.name,
                t.kind,
                t.sha256.get(..12).unwrap_or("")
            )
        },
    );
    writeln!(
        out,
        "dataset    {} (trajectory format {}, written by trajkit {})",
        summary.name, summary.schema_version, summary.trajkit_version
    )?;
    writeln!(out, "tokenizer  {tokenizer}")?;
    writeln!(
        out,
        "sources    {} files; {} rejected records; {} skipped files",
        summary.source_files, summary.rejects, summary.skipped_files
    )?;
    writeln!(
        out,
        "contents   {} sessions, {} turns, {} messages",
        summary.sessions, summary.turns, summary.messages
    )?;
    let small = |v: Option<u32>| figure(v.map(u64::from));
    writeln!(
        out,
        "turns      per session: min {}, median {}, max {}",
        small(summary.turns_per_session_min),
        small(summary.turns_per_session_median_low),
        small(summary.turns_per_session_max),
    )?;
    let tokens = &summary.tokens;
    let cached = if tokens.turns_cached_reported == 0 {
        "cache use not reported".to_owned()
    } else {
        format!(
            "{} cached",
            percent(tokens.cached_reported, tokens.input_reported)
        )
    };
    writeln!(
        out,
        "input      reported {} tokens over {} turns ({cached}); counted {} ({} reusable prefix)",
        tokens.input_reported,
        tokens.turns_input_reported,
        tokens.input_counted,
        percent(tokens.prefix_counted, tokens.input_counted),
    )?;
    if tokens.turns_sizes_only > 0 {
        writeln!(
            out,
            "           {} sizes-only turns have no text: reported sizes and hash ids only",
            tokens.turns_sizes_only
        )?;
    }
    writeln!(
        out,
        "output     reported {} tokens over {} turns; counted {}",
        tokens.output_reported, tokens.turns_output_reported, tokens.output_counted
    )?;
    let list = |map: &BTreeMap<&str, u64>| {
        map.iter()
            .map(|(k, v)| format!("{k} ({v})"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    writeln!(out, "formats    {}", list(&summary.sessions_by_format))?;
    writeln!(out, "models     {}", list(&summary.sessions_by_model))?;
    let shown = summary.session_ids.len().min(10);
    writeln!(
        out,
        "sessions   {}{}",
        summary.session_ids[..shown].join(", "),
        if summary.session_ids.len() > shown {
            ", …"
        } else {
            ""
        }
    )
}

#[expect(
    clippy::cast_precision_loss,
    reason = "a percentage needs no more than f64's 52 bits of precision"
)]
fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".to_owned()
    } else {
        format!("{:.1}%", 100.0 * part as f64 / whole as f64)
    }
}
