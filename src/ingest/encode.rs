//! Turns a parsed trajectory into rows: tokenizes each distinct message once, derives every
//! turn's counts, reusable prefix and block hashes from those ids, and range-encodes contexts.
//!
//! This is where linear size and linear time are won. A turn's input count is the sum of its
//! messages' counts; its prefix is found by walking a trie of the session's earlier requests at
//! message granularity; its block hashes restart at the first block that differs from the
//! previous turn, and only those new ids are stored.

use std::collections::HashMap;
use std::iter;

use rayon::prelude::*;

use crate::blocks;
use crate::schema::{
    Exactness, GivenHashes, Message, MessageRange, MessageRow, SessionInfo, SessionRow, Trajectory,
    Turn, TurnRow,
};
use crate::tokenizer::{Tokenizer, TokenizerError};

/// A session ready to be written: one session row, its turns and its messages. Row offsets are
/// filled in by the writer.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedSession {
    /// The session row.
    pub session: SessionRow,
    /// Its turns, in order.
    pub turns: Vec<TurnRow>,
    /// Its distinct messages, in store order.
    pub messages: Vec<MessageRow>,
}

/// Why a parsed trajectory could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// The reader produced an index out of range (a reader bug, reported rather than panicking).
    #[error("turn {turn} refers to {what} {index}, but the session has {available}")]
    BadIndex {
        /// Turn index.
        turn: usize,
        /// What was referred to.
        what: &'static str,
        /// The index.
        index: u32,
        /// How many exist.
        available: usize,
    },
    /// The tokenizer failed.
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    /// The session is larger than the format's 32-bit indexes allow.
    #[error("session has more than 4,294,967,295 messages or turns")]
    TooLarge,
}

/// Where the trajectory came from, stamped on every row.
#[derive(Debug, Clone, Copy)]
pub struct Provenance<'a> {
    /// `--format` name of the raw format.
    pub source_format: &'a str,
    /// Raw file path.
    pub source_file: &'a str,
}

/// Symbols of a request as a sequence: the tool set first, then message indexes.
pub(crate) const TOOL_SET_SYMBOL: u64 = 1 << 32;
pub(crate) const NO_TOOLS_SYMBOL: u64 = TOOL_SET_SYMBOL + u32::MAX as u64;

/// A request as symbols: its tool set (or none), then its message indexes.
pub(crate) fn request_symbols(
    tool_set: Option<u32>,
    context: impl IntoIterator<Item = u32>,
) -> Vec<u64> {
    iter::once(tool_set.map_or(NO_TOOLS_SYMBOL, |t| TOOL_SET_SYMBOL + u64::from(t)))
        .chain(context.into_iter().map(u64::from))
        .collect()
}

/// Every symbol sequence a session has sent (requests, each followed by its output), as a trie,
/// for the reusable prefix of each next request at message granularity.
#[derive(Debug, Default)]
pub(crate) struct SentTrie {
    children: HashMap<(u32, u64), u32>,
}

impl SentTrie {
    /// Length of the longest run of leading `symbols` the session already sent; then records the
    /// request followed by its output as sent.
    pub(crate) fn match_and_insert(
        &mut self,
        symbols: &[u64],
        output: Option<u32>,
    ) -> Result<usize, EncodeError> {
        let mut node = 0u32;
        let mut matched = 0;
        while let Some(&child) = symbols
            .get(matched)
            .and_then(|&symbol| self.children.get(&(node, symbol)))
        {
            node = child;
            matched += 1;
        }
        let output = output.map(u64::from);
        for &symbol in symbols[matched..].iter().chain(output.as_ref()) {
            let next = u32::try_from(self.children.len() + 1).map_err(|_| EncodeError::TooLarge)?;
            node = *self.children.entry((node, symbol)).or_insert(next);
        }
        Ok(matched)
    }
}

/// Encodes one trajectory.
pub fn encode(
    trajectory: Trajectory,
    tokenizer: Option<&Tokenizer>,
    block_size: usize,
    provenance: Provenance<'_>,
) -> Result<EncodedSession, EncodeError> {
    validate(&trajectory)?;
    let Trajectory {
        session: info,
        messages,
        tool_sets,
        turns,
    } = trajectory;
    let tokens = tokenizer
        .map(|tokenizer| SessionTokens::count(tokenizer, &messages, &tool_sets, &turns))
        .transpose()?;

    let mut encoder = TurnEncoder {
        tokens: tokens.as_ref(),
        block_size,
        trie: SentTrie::default(),
        previous_symbols: Vec::new(),
        previous_hashes: Vec::new(),
    };
    let mut turn_rows = Vec::with_capacity(turns.len());
    for (turn_index, turn) in turns.into_iter().enumerate() {
        let output_carries_reasoning = turn
            .output
            .is_some_and(|o| messages[o as usize].carries_reasoning);
        turn_rows.push(encoder.encode(
            turn_index,
            turn,
            output_carries_reasoning,
            &info,
            provenance,
        )?);
    }

    let message_rows = messages
        .into_iter()
        .enumerate()
        .map(|(index, message)| {
            Ok(MessageRow {
                session_id: info.session_id.clone(),
                message_index: u32::try_from(index).map_err(|_| EncodeError::TooLarge)?,
                role: message.role,
                content: message.content,
                fields_json: message.fields_json,
                tokens: tokens
                    .as_ref()
                    .map(|t| u32::try_from(t.messages[index].len()).unwrap_or(u32::MAX)),
            })
        })
        .collect::<Result<Vec<_>, EncodeError>>()?;

    let session = SessionRow {
        session_id: info.session_id,
        source_format: provenance.source_format.to_owned(),
        source_file: provenance.source_file.to_owned(),
        source_line: info.source_line,
        agent: info.agent,
        agent_version: info.agent_version,
        model: info.model,
        task_id: info.task_id,
        repository: info.repository,
        parent_session_id: info.parent_session_id,
        parent_turn_index: info.parent_turn_index,
        exit_status: info.exit_status,
        turn_count: u32::try_from(turn_rows.len()).map_err(|_| EncodeError::TooLarge)?,
        message_count: u32::try_from(message_rows.len()).map_err(|_| EncodeError::TooLarge)?,
        turn_row_offset: 0,
        message_row_offset: 0,
        input_tokens_reported_total: info.totals.input,
        output_tokens_reported_total: info.totals.output,
        cost_usd_reported_total: info.cost_usd,
        api_calls_reported: info.api_calls,
        tool_sets,
        metadata_json: info.metadata_json,
    };
    Ok(EncodedSession {
        session,
        turns: turn_rows,
        messages: message_rows,
    })
}

/// Token ids of everything a session sends, each text encoded exactly once.
struct SessionTokens {
    messages: Vec<Vec<u32>>,
    tool_sets: Vec<Vec<u32>>,
    reasoning_counts: Vec<u64>,
}

impl SessionTokens {
    fn count(
        tokenizer: &Tokenizer,
        messages: &[Message],
        tool_sets: &[String],
        turns: &[Turn],
    ) -> Result<SessionTokens, TokenizerError> {
        let messages = messages
            .par_iter()
            .map(|message| {
                let mut ids = match &message.content {
                    Some(content) => tokenizer.encode(content)?,
                    None => Vec::new(),
                };
                for text in &message.token_texts {
                    ids.extend(tokenizer.encode(text)?);
                }
                Ok(ids)
            })
            .collect::<Result<Vec<_>, TokenizerError>>()?;
        let tool_sets = tool_sets
            .iter()
            .map(|tools| tokenizer.encode(tools))
            .collect::<Result<Vec<_>, _>>()?;
        let reasoning_counts = turns
            .par_iter()
            .map(|turn| {
                turn.output_reasoning.as_deref().map_or(Ok(0), |text| {
                    tokenizer.encode(text).map(|ids| ids.len() as u64)
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SessionTokens {
            messages,
            tool_sets,
            reasoning_counts,
        })
    }

    fn symbol_ids(&self, symbol: u64) -> &[u32] {
        if symbol == NO_TOOLS_SYMBOL {
            &[]
        } else if symbol >= TOOL_SET_SYMBOL {
            &self.tool_sets[usize::try_from(symbol - TOOL_SET_SYMBOL).unwrap_or(usize::MAX)]
        } else {
            &self.messages[usize::try_from(symbol).unwrap_or(usize::MAX)]
        }
    }

    fn sum(&self, symbols: &[u64]) -> u64 {
        symbols
            .iter()
            .map(|&symbol| self.symbol_ids(symbol).len() as u64)
            .sum()
    }
}

/// Per-session state carried from turn to turn.
struct TurnEncoder<'a> {
    tokens: Option<&'a SessionTokens>,
    block_size: usize,
    /// Every symbol sequence the session has sent (requests, each followed by its output).
    trie: SentTrie,
    previous_symbols: Vec<u64>,
    previous_hashes: Vec<u64>,
}

impl TurnEncoder<'_> {
    fn encode(
        &mut self,
        turn_index: usize,
        turn: Turn,
        output_carries_reasoning: bool,
        info: &SessionInfo,
        provenance: Provenance<'_>,
    ) -> Result<TurnRow, EncodeError> {
        let symbols = request_symbols(turn.tool_set, turn.context.iter().copied());
        let matched = self.trie.match_and_insert(&symbols, turn.output)?;
        let hashed = match (&turn.given_hashes, self.tokens) {
            (Some(given), _) => Some((self.take_given(given), given.block_size)),
            (None, Some(tokens)) if turn.exactness != Exactness::SizesOnly => Some((
                self.hash(tokens, &symbols),
                u32::try_from(self.block_size).map_err(|_| EncodeError::TooLarge)?,
            )),
            (None, _) => None,
        };
        let (hash_block_size, hash_prefix_blocks, hash_ids_new) = match hashed {
            Some(((prefix, new_ids), block_size)) => (
                Some(block_size),
                Some(u32::try_from(prefix).map_err(|_| EncodeError::TooLarge)?),
                Some(new_ids),
            ),
            None => (None, None, None),
        };
        // A turn without text has nothing to count: its sizes are the log's.
        let tokens = self
            .tokens
            .filter(|_| turn.exactness != Exactness::SizesOnly);
        let input_tokens_counted = tokens.map(|t| t.sum(&symbols));
        let prefix_tokens_counted = tokens.map(|t| t.sum(&symbols[..matched]));
        let output_message_tokens = tokens
            .zip(turn.output)
            .map(|(t, o)| t.messages[o as usize].len() as u64);
        let reasoning_tokens_counted = tokens.map(|t| t.reasoning_counts[turn_index]);
        let output_tokens_counted = match (output_message_tokens, reasoning_tokens_counted) {
            (Some(message), Some(reasoning)) if !output_carries_reasoning => {
                Some(message + reasoning)
            }
            (message, _) => message,
        };
        self.previous_symbols = symbols;
        let usage = turn.usage;
        Ok(TurnRow {
            session_id: info.session_id.clone(),
            turn_index: u32::try_from(turn_index).map_err(|_| EncodeError::TooLarge)?,
            source_format: provenance.source_format.to_owned(),
            source_file: provenance.source_file.to_owned(),
            agent: info.agent.clone(),
            model: turn.model,
            task_id: info.task_id.clone(),
            repository: info.repository.clone(),
            context_messages: u32::try_from(turn.context.len())
                .map_err(|_| EncodeError::TooLarge)?,
            context: ranges(&turn.context),
            tool_set_index: turn.tool_set,
            output_message_index: turn.output,
            exactness: turn.exactness.as_str().to_owned(),
            input_tokens_reported: usage.input,
            input_tokens_counted,
            cached_tokens_reported: usage.cached,
            cache_write_tokens_reported: usage.cache_write,
            prefix_tokens_counted,
            new_tokens_reported: usage
                .input
                .zip(usage.cached)
                .map(|(input, cached)| input.saturating_sub(cached)),
            new_tokens_counted: input_tokens_counted
                .zip(prefix_tokens_counted)
                .map(|(input, prefix)| input - prefix),
            output_tokens_reported: usage.output,
            output_tokens_counted,
            reasoning_tokens_reported: usage.reasoning,
            reasoning_tokens_counted,
            cost_usd_reported: turn.cost_usd,
            request_time_unix_ms: turn.request_time_unix_ms,
            request_offset_ms: turn.request_offset_ms,
            model_latency_ms: turn.model_latency_ms,
            tool_delay_ms_after: turn.tool_delay_ms_after,
            finish_reason: turn.finish_reason,
            response_id: turn.response_id,
            output_reasoning: turn.output_reasoning,
            output_reasoning_encrypted: turn.output_reasoning_encrypted,
            output_tool_calls: turn.output_tool_calls,
            call_kind: turn.call_kind,
            metadata_json: turn.metadata_json,
            hash_block_size,
            hash_prefix_blocks,
            hash_ids_new,
        })
    }

    /// A log's own hash ids, stored like computed ones: how many lead the previous turn's, and
    /// the rest.
    fn take_given(&mut self, given: &GivenHashes) -> (usize, Vec<u64>) {
        let prefix = given
            .ids
            .iter()
            .zip(&self.previous_hashes)
            .take_while(|(a, b)| a == b)
            .count();
        self.previous_hashes.clone_from(&given.ids);
        (prefix, given.ids[prefix..].to_vec())
    }

    /// Block hashes of the request, resuming after the blocks fully inside the prefix shared with
    /// the previous turn. Returns how many leading blocks equal the previous turn's, and the rest.
    fn hash(&mut self, tokens: &SessionTokens, symbols: &[u64]) -> (usize, Vec<u64>) {
        let shared_symbols = symbols
            .iter()
            .zip(&self.previous_symbols)
            .take_while(|(a, b)| a == b)
            .count();
        let shared_tokens = usize::try_from(tokens.sum(&symbols[..shared_symbols])).unwrap_or(0);
        let reuse = (shared_tokens / self.block_size).min(self.previous_hashes.len());
        let seed = if reuse == 0 {
            0
        } else {
            self.previous_hashes[reuse - 1]
        };
        let pieces = symbols.iter().map(|&symbol| tokens.symbol_ids(symbol));
        let fresh = blocks::hash_blocks(pieces, self.block_size, reuse, seed);
        let mut prefix = reuse;
        while prefix < self.previous_hashes.len()
            && prefix - reuse < fresh.len()
            && fresh[prefix - reuse] == self.previous_hashes[prefix]
        {
            prefix += 1;
        }
        let new_ids = fresh[prefix - reuse..].to_vec();
        self.previous_hashes.truncate(reuse);
        self.previous_hashes.extend_from_slice(&fresh);
        (prefix, new_ids)
    }
}

fn validate(trajectory: &Trajectory) -> Result<(), EncodeError> {
    let messages = trajectory.messages.len();
    let tool_sets = trajectory.tool_sets.len();
    if messages > u32::MAX as usize || trajectory.turns.len() > u32::MAX as usize {
        return Err(EncodeError::TooLarge);
    }
    for (turn_index, turn) in trajectory.turns.iter().enumerate() {
        let bad = |what, index, available| EncodeError::BadIndex {
            turn: turn_index,
            what,
            index,
            available,
        };
        if let Some(&index) = turn.context.iter().find(|&&i| i as usize >= messages) {
            return Err(bad("message", index, messages));
        }
        if let Some(index) = turn.output.filter(|&i| i as usize >= messages) {
            return Err(bad("message", index, messages));
        }
        if let Some(index) = turn.tool_set.filter(|&i| i as usize >= tool_sets) {
            return Err(bad("tool set", index, tool_sets));
        }
    }
    Ok(())
}

/// Run-length encodes message indexes into ranges of consecutive indexes.
pub fn ranges(indexes: &[u32]) -> Vec<MessageRange> {
    let mut out: Vec<MessageRange> = Vec::new();
    for &index in indexes {
        match out.last_mut() {
            Some(last) if last.start.checked_add(last.count) == Some(index) => last.count += 1,
            _ => out.push(MessageRange {
                start: index,
                count: 1,
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenizer::TokenizerSpec;

    fn message(role: &str, content: &str) -> Message {
        Message {
            role: role.into(),
            content: Some(content.into()),
            fields_json: None,
            token_texts: Vec::new(),
            carries_reasoning: false,
        }
    }

    fn trajectory(contexts: &[(&[u32], u32)], messages: usize) -> Trajectory {
        Trajectory {
            session: SessionInfo {
                session_id: "s".into(),
                ..SessionInfo::default()
            },
            messages: (0..messages)
                .map(|i| {
                    message(
                        "user",
                        &format!("message number {i} says {}", "word ".repeat(i * 5)),
                    )
                })
                .collect(),
            tool_sets: Vec::new(),
            turns: contexts
                .iter()
                .map(|(context, output)| {
                    Turn::new(context.to_vec(), Some(*output), Exactness::Exact)
                })
                .collect(),
        }
    }

    const PROVENANCE: Provenance<'static> = Provenance {
        source_format: "openai-jsonl",
        source_file: "f",
    };

    #[test]
    fn ranges_compress_runs() {
        assert_eq!(
            ranges(&[0, 1, 2, 5, 6, 3]),
            vec![
                MessageRange { start: 0, count: 3 },
                MessageRange { start: 5, count: 2 },
                MessageRange { start: 3, count: 1 },
            ]
        );
        assert!(ranges(&[]).is_empty());
    }

    #[test]
    fn counts_prefixes_and_hashes_follow_the_messages() {
        let tokenizer = Tokenizer::load(&TokenizerSpec::O200k).unwrap().unwrap();
        // Turn 1 extends turn 0's request and output; turn 2 drops message 2 (compaction).
        let trajectory = trajectory(
            &[(&[0, 1], 2), (&[0, 1, 2, 3], 4), (&[0, 1, 3, 4, 5], 6)],
            7,
        );
        let encoded = encode(trajectory, Some(&tokenizer), 16, PROVENANCE).unwrap();
        let tokens: Vec<u64> = encoded
            .messages
            .iter()
            .map(|m| u64::from(m.tokens.unwrap()))
            .collect();
        let turns = &encoded.turns;
        assert_eq!(turns[0].input_tokens_counted, Some(tokens[0] + tokens[1]));
        assert_eq!(turns[0].prefix_tokens_counted, Some(0));
        assert_eq!(
            turns[1].prefix_tokens_counted,
            Some(tokens[0] + tokens[1] + tokens[2])
        );
        assert_eq!(turns[2].prefix_tokens_counted, Some(tokens[0] + tokens[1]));
        assert_eq!(turns[2].context.len(), 2);

        // Rebuilding each turn's full hash list from the stored prefix and new ids gives the
        // hashes of the whole request computed from scratch.
        let mut full: Vec<u64> = Vec::new();
        for (turn, context) in turns
            .iter()
            .zip([&[0u32, 1][..], &[0, 1, 2, 3], &[0, 1, 3, 4, 5]])
        {
            full.truncate(turn.hash_prefix_blocks.unwrap() as usize);
            full.extend(turn.hash_ids_new.as_ref().unwrap());
            let ids: Vec<Vec<u32>> = context
                .iter()
                .map(|&m| {
                    tokenizer
                        .encode(encoded.messages[m as usize].content.as_deref().unwrap())
                        .unwrap()
                })
                .collect();
            let expected = blocks::hash_blocks(
                iter::once(&[][..]).chain(ids.iter().map(Vec::as_slice)),
                16,
                0,
                0,
            );
            assert_eq!(full, expected);
        }
        assert!(turns[1].hash_prefix_blocks.unwrap() > 0);
    }

    #[test]
    fn out_of_range_indexes_are_errors_not_panics() {
        let trajectory = trajectory(&[(&[0, 9], 1)], 2);
        let error = encode(trajectory, None, 16, PROVENANCE).unwrap_err();
        assert_eq!(
            error.to_string(),
            "turn 0 refers to message 9, but the session has 2"
        );
    }
}
