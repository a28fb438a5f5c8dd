//! `trajkit show`: a one-screen summary of a dataset, a session's turns, or one turn's exact
//! request and output (with `--json`, in OpenAI chat form, messages exactly as logged).

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use super::ExitStatus;
use crate::cli::ShowArgs;
use crate::dataset::{Dataset, SessionData};
use crate::schema::TurnRow;

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
            text.push_str(&format!(
                "\n[tool call] {}({})",
                function.get("name").and_then(Value::as_str).unwrap_or("?"),
                preview(
                    &function
                        .get("arguments")
                        .map(ToString::to_string)
                        .unwrap_or_default()
                )
            ));
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

fn summary(dataset: &Dataset, json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let manifest = dataset.reader().manifest();
    let turns = dataset.reader().read_all::<TurnRow>()?;
    let sum = |get: fn(&TurnRow) -> Option<u64>| -> (u64, usize) {
        turns
            .iter()
            .filter_map(get)
            .fold((0, 0), |(total, n), v| (total + v, n + 1))
    };
    let input_reported = sum(|t| t.input_tokens_reported);
    let cached_reported = sum(|t| t.cached_tokens_reported);
    let input_counted = sum(|t| t.input_tokens_counted);
    let prefix_counted = sum(|t| t.prefix_tokens_counted);
    let output_reported = sum(|t| t.output_tokens_reported);
    let output_counted = sum(|t| t.output_tokens_counted);
    let mut formats: BTreeMap<&str, u64> = BTreeMap::new();
    let mut models: BTreeMap<&str, u64> = BTreeMap::new();
    for session in dataset.sessions() {
        *formats.entry(&session.source_format).or_default() += 1;
        *models
            .entry(session.model.as_deref().unwrap_or("unknown"))
            .or_default() += 1;
    }
    let mut turns_per_session: Vec<u32> = dataset.sessions().iter().map(|s| s.turn_count).collect();
    turns_per_session.sort_unstable();
    let median = turns_per_session
        .get(turns_per_session.len().saturating_sub(1) / 2)
        .copied();
    if json {
        let value = json!({
            "name": manifest.name,
            "schema_version": manifest.schema_version,
            "tokenizer": manifest.tokenizer,
            "sessions": dataset.sessions().len(),
            "turns": turns.len(),
            "messages": manifest.tables.messages.rows,
            "source_files": manifest.sources.len(),
            "rejects": manifest.rejects.count,
            "skipped_files": manifest.skipped_files.len(),
            "sessions_by_format": formats,
            "sessions_by_model": models,
            "turns_per_session": {
                "min": turns_per_session.first(),
                "median_low": median,
                "max": turns_per_session.last(),
            },
            "tokens": {
                "input_reported": input_reported.0,
                "cached_reported": cached_reported.0,
                "input_counted": input_counted.0,
                "prefix_counted": prefix_counted.0,
                "output_reported": output_reported.0,
                "output_counted": output_counted.0,
            },
            "sessions_list": dataset.sessions().iter().map(|s| json!({
                "session_id": s.session_id, "turns": s.turn_count})).collect::<Vec<_>>(),
        });
        serde_json::to_writer_pretty(&mut *out, &value)?;
        writeln!(out)?;
        return Ok(());
    }
    let tokenizer = manifest.tokenizer.as_ref().map_or_else(
        || "none (reported counts only)".to_owned(),
        |t| {
            format!(
                "{} ({}, sha256 {}…)",
                t.name,
                t.kind,
                &t.sha256[..12.min(t.sha256.len())]
            )
        },
    );
    writeln!(
        out,
        "dataset    {} (trajectory format {}, written by trajkit {})",
        manifest.name, manifest.schema_version, manifest.trajkit_version
    )?;
    writeln!(out, "tokenizer  {tokenizer}")?;
    writeln!(
        out,
        "sources    {} files; {} rejected records; {} skipped files",
        manifest.sources.len(),
        manifest.rejects.count,
        manifest.skipped_files.len()
    )?;
    writeln!(
        out,
        "contents   {} sessions, {} turns, {} messages",
        dataset.sessions().len(),
        turns.len(),
        manifest.tables.messages.rows
    )?;
    writeln!(
        out,
        "turns      per session: min {}, median {}, max {}",
        figure(turns_per_session.first().map(|&v| u64::from(v))),
        figure(median.map(u64::from)),
        figure(turns_per_session.last().map(|&v| u64::from(v))),
    )?;
    let share = |part: (u64, usize), whole: (u64, usize)| {
        if whole.0 == 0 {
            "-".to_owned()
        } else {
            format!("{:.1}%", 100.0 * part.0 as f64 / whole.0 as f64)
        }
    };
    writeln!(
        out,
        "input      reported {} tokens over {} turns ({} cached); counted {} ({} reusable prefix)",
        input_reported.0,
        input_reported.1,
        share(cached_reported, input_reported),
        input_counted.0,
        share(prefix_counted, input_counted),
    )?;
    writeln!(
        out,
        "output     reported {} tokens over {} turns; counted {}",
        output_reported.0, output_reported.1, output_counted.0
    )?;
    let list = |map: &BTreeMap<&str, u64>| {
        map.iter()
            .map(|(k, v)| format!("{k} ({v})"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    writeln!(out, "formats    {}", list(&formats))?;
    writeln!(out, "models     {}", list(&models))?;
    let shown: Vec<String> = dataset
        .sessions()
        .iter()
        .take(10)
        .map(|s| format!("{} ({} turns)", s.session_id, s.turn_count))
        .collect();
    writeln!(
        out,
        "sessions   {}{}",
        shown.join(", "),
        if dataset.sessions().len() > 10 {
            ", …"
        } else {
            ""
        }
    )?;
    Ok(())
}
