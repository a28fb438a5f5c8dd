//! A stored session back into the in-memory trajectory that ingest encodes, so that a session can
//! be counted again: with another tokenizer (`retokenize`) or after its requests were shortened
//! (`truncate --mode cut`).
//!
//! Stored messages are in OpenAI chat form (`{role, content?, ...fields}`) whatever the raw
//! format, so one rule recovers the texts ingest counted: a string `content`, the text of list
//! parts, tool-call names and arguments, and `reasoning_content`/`reasoning`. A test recounts the
//! real datasets with their own tokenizer and checks every stored count comes back.

use serde_json::{Map, Value};

use crate::dataset::{ReconstructError, SessionData};
use crate::formats::chat::{part_text, tool_call_row};
use crate::ingest::encode::{EncodeError, EncodedSession, Provenance, encode};
use crate::schema::{
    Exactness, GivenHashes, Message, ReportedUsage, SessionInfo, Trajectory, Turn, TurnRow,
};
use crate::tokenizer::Tokenizer;

/// Rebuilds the session's trajectory: its messages, tool sets and turns as a reader gave them.
/// Sizes-only turns keep their stored hash ids as given ids.
pub fn to_trajectory(data: &SessionData) -> Result<Trajectory, ReconstructError> {
    let error = |message: String| ReconstructError {
        session_id: data.session.session_id.clone(),
        message,
    };
    let messages = data
        .messages
        .iter()
        .map(|row| {
            let fields: Map<String, Value> = match &row.fields_json {
                Some(text) => serde_json::from_str(text).map_err(|source| {
                    error(format!(
                        "message {} has bad fields: {source}",
                        row.message_index
                    ))
                })?,
                None => Map::new(),
            };
            let (token_texts, carries_reasoning) = token_texts(row.content.is_some(), &fields);
            Ok(Message {
                role: row.role.clone(),
                content: row.content.clone(),
                fields_json: row.fields_json.clone(),
                token_texts,
                carries_reasoning,
            })
        })
        .collect::<Result<Vec<_>, ReconstructError>>()?;

    let given = data.hash_ids();
    let turns = data
        .turns
        .iter()
        .enumerate()
        .map(|(index, row)| {
            let exactness = match row.exactness.as_str() {
                "exact" => Exactness::Exact,
                "reconstructed" => Exactness::Reconstructed,
                "sizes_only" => Exactness::SizesOnly,
                other => return Err(error(format!("turn {index} has exactness `{other}`"))),
            };
            let given_hashes = (exactness == Exactness::SizesOnly)
                .then(|| {
                    let ids = given.as_ref()?.get(index)?.clone();
                    Some(GivenHashes {
                        block_size: row.hash_block_size?,
                        ids,
                    })
                })
                .flatten();
            Ok(to_turn(row, exactness, given_hashes))
        })
        .collect::<Result<Vec<_>, ReconstructError>>()?;

    let session = &data.session;
    Ok(Trajectory {
        session: SessionInfo {
            session_id: session.session_id.clone(),
            source_line: session.source_line,
            agent: session.agent.clone(),
            agent_version: session.agent_version.clone(),
            model: session.model.clone(),
            task_id: session.task_id.clone(),
            repository: session.repository.clone(),
            parent_session_id: session.parent_session_id.clone(),
            parent_turn_index: session.parent_turn_index,
            exit_status: session.exit_status.clone(),
            totals: ReportedUsage {
                input: session.input_tokens_reported_total,
                output: session.output_tokens_reported_total,
                ..ReportedUsage::default()
            },
            cost_usd: session.cost_usd_reported_total,
            api_calls: session.api_calls_reported,
            metadata_json: session.metadata_json.clone(),
        },
        messages,
        tool_sets: session.tool_sets.clone(),
        turns,
    })
}

fn to_turn(row: &TurnRow, exactness: Exactness, given_hashes: Option<GivenHashes>) -> Turn {
    Turn {
        context: row
            .context
            .iter()
            .flat_map(|range| range.start..range.start.saturating_add(range.count))
            .collect(),
        tool_set: row.tool_set_index,
        output: row.output_message_index,
        exactness,
        model: row.model.clone(),
        usage: ReportedUsage {
            input: row.input_tokens_reported,
            cached: row.cached_tokens_reported,
            cache_write: row.cache_write_tokens_reported,
            output: row.output_tokens_reported,
            reasoning: row.reasoning_tokens_reported,
        },
        cost_usd: row.cost_usd_reported,
        request_time_unix_ms: row.request_time_unix_ms,
        request_offset_ms: row.request_offset_ms,
        model_latency_ms: row.model_latency_ms,
        tool_delay_ms_after: row.tool_delay_ms_after,
        finish_reason: row.finish_reason.clone(),
        response_id: row.response_id.clone(),
        output_reasoning: row.output_reasoning.clone(),
        output_reasoning_encrypted: row.output_reasoning_encrypted,
        output_tool_calls: row.output_tool_calls.clone(),
        call_kind: row.call_kind.clone(),
        metadata_json: row.metadata_json.clone(),
        given_hashes,
    }
}

/// The texts ingest counts for a chat-form message besides a string `content`, and whether the
/// message carries its own reasoning text.
fn token_texts(content_is_string: bool, fields: &Map<String, Value>) -> (Vec<String>, bool) {
    let mut texts = Vec::new();
    if !content_is_string && let Some(Value::Array(parts)) = fields.get("content") {
        texts.extend(parts.iter().filter_map(part_text));
    }
    if let Some(Value::Array(calls)) = fields.get("tool_calls") {
        for call in calls {
            let row = tool_call_row(call);
            texts.push(row.name);
            texts.push(row.arguments);
        }
    }
    let mut carries_reasoning = false;
    for key in ["reasoning_content", "reasoning"] {
        if let Some(Value::String(text)) = fields.get(key) {
            texts.push(text.clone());
            carries_reasoning = true;
        }
    }
    (texts, carries_reasoning)
}

/// Counts a rebuilt session again, keeping its provenance.
pub fn reencode(
    trajectory: Trajectory,
    data: &SessionData,
    tokenizer: Option<&Tokenizer>,
    block_size: usize,
) -> Result<EncodedSession, EncodeError> {
    let provenance = Provenance {
        source_format: &data.session.source_format,
        source_file: &data.session.source_file,
    };
    let mut encoded = encode(trajectory, tokenizer, block_size, provenance)?;
    // Ingest sets these from the raw record; the stored session has them already.
    encoded.session.source_line = data.session.source_line;
    Ok(encoded)
}

impl From<EncodedSession> for SessionData {
    fn from(encoded: EncodedSession) -> SessionData {
        SessionData {
            session: encoded.session,
            turns: encoded.turns,
            messages: encoded.messages,
        }
    }
}
