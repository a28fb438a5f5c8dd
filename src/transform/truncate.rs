//! `trajkit truncate --max-context N`: fits a dataset to a model's context window.
//!
//! AgentPerf's methodology says only that its trajectories are "truncated to the model's
//! recommended context". Three readings are offered and the help says which is which:
//! - `end` (default): a session ends before its first turn whose input exceeds N. Later turns
//!   only grow, so this keeps every turn a real agent with that window could have reached.
//! - `drop`: only the turns whose input exceeds N are dropped; later turns that fit stay.
//! - `cut`: a turn over N keeps its leading system and first user messages and loses its oldest
//!   other messages (a tool result never outlives the call it answers) until it fits, like an
//!   agent's own context trimming. Its requests change, so its sessions are counted again with the
//!   dataset's tokenizer; the provider-reported input and cache figures of a cut turn no longer
//!   describe what it sends and are cleared.
//!
//! `end` and `drop` need no tokenizer (see `turns`).

use serde_json::{Map, Value};

use super::filter::TokenFigure;
use super::trajectory::{reencode, to_trajectory};
use super::turns::keep_turns;
use super::{DerivedWriter, TransformError};
use crate::dataset::{DatasetIndex, SessionData};
use crate::tokenizer::Tokenizer;

/// How turns over the limit are handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TruncateMode {
    /// The session ends before its first turn over the limit.
    End,
    /// Turns over the limit are dropped.
    Drop,
    /// Turns over the limit lose their oldest messages until they fit.
    Cut,
}

/// Options of `truncate`.
#[derive(Debug, Clone, Copy)]
pub struct TruncateOptions {
    /// Largest input a turn may have, in tokens.
    pub max_context: u64,
    /// What happens to the turns over it.
    pub mode: TruncateMode,
    /// Which input figure is compared (`cut` always uses counted tokens).
    pub figure: TokenFigure,
}

/// What `truncate` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TruncateSummary {
    /// Sessions read.
    pub sessions_read: u64,
    /// Turns read.
    pub turns_read: u64,
    /// Turns over the limit.
    pub turns_over: u64,
    /// Turns dropped (over the limit, or after one in `end` mode, or not cuttable).
    pub turns_dropped: u64,
    /// Turns cut to fit.
    pub turns_cut: u64,
    /// Turns whose size is unknown under the chosen figure (kept as they are).
    pub turns_unknown: u64,
    /// Sessions left with no turn, and so not written.
    pub sessions_emptied: u64,
}

/// Truncates `dataset` into `writer`. `tokenizer` is required for `cut`.
pub fn truncate(
    dataset: &DatasetIndex,
    options: TruncateOptions,
    tokenizer: Option<&Tokenizer>,
    writer: &mut DerivedWriter,
) -> Result<TruncateSummary, TransformError> {
    let mut summary = TruncateSummary::default();
    let block_size = dataset
        .reader()
        .manifest()
        .hash
        .as_ref()
        .map_or(crate::blocks::DEFAULT_BLOCK_SIZE, |hash| {
            hash.block_size as usize
        });
    let all: Vec<usize> = (0..dataset.sessions().len()).collect();
    for session in dataset.stream(&all)?.prefetched() {
        let session = session?;
        summary.sessions_read += 1;
        summary.turns_read += session.turns.len() as u64;
        let figure = match options.mode {
            TruncateMode::Cut => TokenFigure::Counted,
            _ => options.figure,
        };
        let over: Vec<bool> = session
            .turns
            .iter()
            .map(|turn| {
                let input = figure.input(turn);
                if input.is_none() {
                    summary.turns_unknown += 1;
                }
                input.is_some_and(|input| input > options.max_context)
            })
            .collect();
        let over_count = over.iter().filter(|&&over| over).count() as u64;
        summary.turns_over += over_count;
        let rewritten = match options.mode {
            TruncateMode::End => {
                let first_over = over.iter().position(|&over| over).unwrap_or(over.len());
                let keep: Vec<bool> = (0..over.len()).map(|index| index < first_over).collect();
                summary.turns_dropped += (over.len() - first_over) as u64;
                keep_turns(session, &keep).session
            }
            TruncateMode::Drop => {
                summary.turns_dropped += over_count;
                let keep: Vec<bool> = over.iter().map(|&over| !over).collect();
                keep_turns(session, &keep).session
            }
            TruncateMode::Cut if over_count == 0 => session,
            TruncateMode::Cut => {
                let tokenizer = tokenizer.ok_or_else(|| {
                    TransformError::Invalid("`--mode cut` needs the dataset's tokenizer".to_owned())
                })?;
                let (cut, counts) =
                    cut_session(&session, &over, options.max_context, tokenizer, block_size)?;
                summary.turns_cut += counts.0;
                summary.turns_dropped += counts.1;
                cut
            }
        };
        if rewritten.turns.is_empty() {
            summary.sessions_emptied += 1;
            continue;
        }
        writer.write(rewritten)?;
    }
    Ok(summary)
}

/// Cuts the session's turns marked `over`; returns the session counted again and (cut, dropped).
fn cut_session(
    session: &SessionData,
    over: &[bool],
    max_context: u64,
    tokenizer: &Tokenizer,
    block_size: usize,
) -> Result<(SessionData, (u64, u64)), TransformError> {
    let mut trajectory = to_trajectory(session)?;
    let message_tokens: Vec<u64> = session
        .messages
        .iter()
        .map(|message| message.tokens.map_or(0, u64::from))
        .collect();
    let mut cut = 0;
    let mut keep = vec![true; trajectory.turns.len()];
    for (index, turn) in trajectory.turns.iter_mut().enumerate() {
        if !over.get(index).copied().unwrap_or(false) {
            continue;
        }
        let row = &session.turns[index];
        let messages_total: u64 = turn
            .context
            .iter()
            .map(|&message| message_tokens.get(message as usize).copied().unwrap_or(0))
            .sum();
        let tools = row
            .input_tokens_counted
            .unwrap_or(0)
            .saturating_sub(messages_total);
        let roles: Vec<&str> = turn
            .context
            .iter()
            .map(|&message| trajectory_role(&session.messages, message))
            .collect();
        let head = head_length(&roles);
        let mut total = tools + messages_total;
        let mut start = head;
        while total > max_context && start < turn.context.len() {
            total -= message_tokens
                .get(turn.context[start] as usize)
                .copied()
                .unwrap_or(0);
            start += 1;
            // A tool result without the call it answers is not a valid request.
            while start < turn.context.len() && roles[start] == "tool" {
                total -= message_tokens
                    .get(turn.context[start] as usize)
                    .copied()
                    .unwrap_or(0);
                start += 1;
            }
        }
        if total > max_context || start >= turn.context.len() {
            keep[index] = false;
            continue;
        }
        let removed = start - head;
        turn.context.drain(head..start);
        turn.usage.input = None;
        turn.usage.cached = None;
        turn.usage.cache_write = None;
        let mut metadata: Map<String, Value> = turn
            .metadata_json
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or_default();
        metadata.insert(
            "trajkit_truncated".to_owned(),
            serde_json::json!({
                "max_context": max_context,
                "messages_removed": removed,
                "input_tokens_counted_before": row.input_tokens_counted,
                "input_tokens_reported_before": row.input_tokens_reported,
            }),
        );
        turn.metadata_json = Some(Value::Object(metadata).to_string());
        cut += 1;
    }
    let dropped = keep.iter().filter(|&&kept| !kept).count() as u64;
    if dropped > 0 {
        let mut index = 0;
        trajectory.turns.retain(|_| {
            index += 1;
            keep[index - 1]
        });
    }
    let encoded = reencode(trajectory, session, Some(tokenizer), block_size).map_err(|source| {
        TransformError::Encode {
            session_id: session.session.session_id.clone(),
            source,
        }
    })?;
    Ok((encoded.into(), (cut, dropped)))
}

fn trajectory_role(messages: &[crate::schema::MessageRow], index: u32) -> &str {
    messages
        .get(index as usize)
        .map_or("", |message| message.role.as_str())
}

/// Leading messages a cut keeps: the system and developer messages, then the first user message.
fn head_length(roles: &[&str]) -> usize {
    let mut head = roles
        .iter()
        .take_while(|role| matches!(**role, "system" | "developer"))
        .count();
    if roles.get(head) == Some(&"user") {
        head += 1;
    }
    head
}
