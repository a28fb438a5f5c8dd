//! Dropping turns from a stored session without its tokenizer: what `filter --scope turn` and
//! `truncate --mode drop|end` need.
//!
//! A turn row is mostly self-contained (its request is in `context`, its counts are its own), but
//! three things depend on the session's earlier turns and must be restated when turns go: the
//! turn index, the reusable prefix (`prefix_tokens_counted`: what the session had already sent),
//! and the hash-id delta (`hash_prefix_blocks`/`hash_ids_new`: relative to the previous turn).
//! Both are rebuilt here from stored data alone: message token counts for the prefix, the full
//! id lists (rebuilt from the stored deltas) for the hashes. Messages and tool sets that no kept
//! turn uses any more are dropped and the rest renumbered.

use std::collections::HashMap;

use crate::blocks::StoredIds;
use crate::dataset::SessionData;
use crate::ingest::encode::{NO_TOOLS_SYMBOL, SentTrie, TOOL_SET_SYMBOL, ranges, request_symbols};
use crate::schema::{Exactness, TurnRow};

/// A session with some turns dropped, and where each original turn went.
#[derive(Debug, Clone)]
pub struct KeptTurns {
    /// The rewritten session.
    pub session: SessionData,
    /// For each original turn, its new index; `None` when dropped.
    pub turn_map: Vec<Option<u32>>,
}

/// Keeps the turns whose `keep` entry is true (missing entries count as false).
pub fn keep_turns(session: SessionData, keep: &[bool]) -> KeptTurns {
    let kept = |index: usize| keep.get(index).copied().unwrap_or(false);
    let turn_count = session.turns.len();
    if (0..turn_count).all(kept) {
        let turn_map = (0..turn_count)
            .map(|index| u32::try_from(index).ok())
            .collect();
        return KeptTurns { session, turn_map };
    }
    let SessionData {
        session: mut session_row,
        turns,
        messages,
    } = session;

    let message_tokens: Vec<Option<u64>> = messages
        .iter()
        .map(|message| message.tokens.map(u64::from))
        .collect();
    let tool_set_tokens = tool_set_tokens(&turns, &message_tokens);

    let (message_used, tool_set_used) =
        used_entries(&turns, &kept, messages.len(), session_row.tool_sets.len());
    let message_map = renumber(&message_used);
    let tool_set_map = renumber(&tool_set_used);

    let mut trie = SentTrie::default();
    let mut chain: Vec<u64> = Vec::new();
    let mut previous_kept: Option<(u32, Vec<u64>)> = None;
    let mut turn_map = Vec::with_capacity(turn_count);
    let mut new_turns = Vec::new();
    for (index, mut turn) in turns.into_iter().enumerate() {
        // The original chain advances through every turn, kept or not.
        let ids = stored_ids(&turn).map(|stored| {
            stored.apply(&mut chain);
            stored.block_size
        });
        if !kept(index) {
            turn_map.push(None);
            continue;
        }
        let new_index = u32::try_from(new_turns.len()).unwrap_or(u32::MAX);
        turn_map.push(Some(new_index));

        let symbols = request_symbols(turn.tool_set_index, context_indexes(&turn));
        // Past 4,294,967,295 trie nodes the prefix is unknown, as ingest would have refused.
        let matched = trie
            .match_and_insert(&symbols, turn.output_message_index)
            .ok();
        if turn.prefix_tokens_counted.is_some() && turn.exactness != Exactness::SizesOnly.as_str() {
            let prefix = matched.and_then(|matched| {
                symbols[..matched]
                    .iter()
                    .map(|&symbol| symbol_tokens(symbol, &message_tokens, &tool_set_tokens))
                    .sum::<Option<u64>>()
            });
            turn.prefix_tokens_counted = prefix;
            turn.new_tokens_counted = turn
                .input_tokens_counted
                .zip(prefix)
                .map(|(input, prefix)| input.saturating_sub(prefix));
        }

        if let Some(block_size) = ids {
            let shared = match &previous_kept {
                Some((previous_size, previous)) if *previous_size == block_size => previous
                    .iter()
                    .zip(&chain)
                    .take_while(|(a, b)| a == b)
                    .count(),
                _ => 0,
            };
            turn.hash_prefix_blocks = Some(u32::try_from(shared).unwrap_or(u32::MAX));
            turn.hash_ids_new = Some(chain[shared..].to_vec());
            previous_kept = Some((block_size, chain.clone()));
        }

        turn.turn_index = new_index;
        let context: Vec<u32> = context_indexes(&turn)
            .filter_map(|message| message_map.get(message as usize).copied().flatten())
            .collect();
        turn.context = ranges(&context);
        turn.context_messages = u32::try_from(context.len()).unwrap_or(u32::MAX);
        turn.output_message_index = turn
            .output_message_index
            .and_then(|message| message_map.get(message as usize).copied().flatten());
        turn.tool_set_index = turn
            .tool_set_index
            .and_then(|set| tool_set_map.get(set as usize).copied().flatten());
        new_turns.push(turn);
    }

    let new_messages = compact_store(&mut session_row, messages, &message_map, &tool_set_used);
    session_row.turn_count = u32::try_from(new_turns.len()).unwrap_or(u32::MAX);
    KeptTurns {
        session: SessionData {
            session: session_row,
            turns: new_turns,
            messages: new_messages,
        },
        turn_map,
    }
}

/// Which messages and tool sets the kept turns still use.
fn used_entries(
    turns: &[TurnRow],
    kept: &impl Fn(usize) -> bool,
    messages: usize,
    tool_sets: usize,
) -> (Vec<bool>, Vec<bool>) {
    let mut message_used = vec![false; messages];
    let mut tool_set_used = vec![false; tool_sets];
    for (index, turn) in turns.iter().enumerate() {
        if !kept(index) {
            continue;
        }
        for message in context_indexes(turn).chain(turn.output_message_index) {
            if let Some(used) = message_used.get_mut(message as usize) {
                *used = true;
            }
        }
        if let Some(used) = turn
            .tool_set_index
            .and_then(|set| tool_set_used.get_mut(set as usize))
        {
            *used = true;
        }
    }
    (message_used, tool_set_used)
}

/// Drops the messages and tool sets no kept turn uses and renumbers the rest; sets the session's
/// message count.
fn compact_store(
    session_row: &mut crate::schema::SessionRow,
    messages: Vec<crate::schema::MessageRow>,
    message_map: &[Option<u32>],
    tool_set_used: &[bool],
) -> Vec<crate::schema::MessageRow> {
    let new_messages: Vec<_> = messages
        .into_iter()
        .enumerate()
        .filter_map(|(index, mut message)| {
            let new_index = message_map.get(index).copied().flatten()?;
            message.message_index = new_index;
            Some(message)
        })
        .collect();
    session_row.tool_sets = std::mem::take(&mut session_row.tool_sets)
        .into_iter()
        .enumerate()
        .filter(|(index, _)| tool_set_used.get(*index).copied().unwrap_or(false))
        .map(|(_, tools)| tools)
        .collect();
    session_row.message_count = u32::try_from(new_messages.len()).unwrap_or(u32::MAX);
    new_messages
}

fn stored_ids(turn: &TurnRow) -> Option<StoredIds<'_>> {
    Some(StoredIds {
        block_size: turn.hash_block_size?,
        prefix_blocks: turn.hash_prefix_blocks?,
        new_ids: turn.hash_ids_new.as_deref()?,
    })
}

fn context_indexes(turn: &TurnRow) -> impl Iterator<Item = u32> + '_ {
    turn.context
        .iter()
        .flat_map(|range| range.start..range.start.saturating_add(range.count))
}

/// New indexes of the used entries, in order; `None` for unused ones.
fn renumber(used: &[bool]) -> Vec<Option<u32>> {
    let mut next = 0u32;
    used.iter()
        .map(|&used| {
            used.then(|| {
                next += 1;
                next - 1
            })
        })
        .collect()
}

/// Each tool set's counted tokens, recovered from a turn that sent it: its counted input minus
/// its messages' counts (ingest counts a request as tool definitions plus messages).
fn tool_set_tokens(turns: &[TurnRow], message_tokens: &[Option<u64>]) -> HashMap<u32, u64> {
    let mut tokens = HashMap::new();
    for turn in turns {
        let (Some(set), Some(input)) = (turn.tool_set_index, turn.input_tokens_counted) else {
            continue;
        };
        if tokens.contains_key(&set) {
            continue;
        }
        let messages: Option<u64> = context_indexes(turn)
            .map(|message| message_tokens.get(message as usize).copied().flatten())
            .sum();
        if let Some(messages) = messages {
            tokens.insert(set, input.saturating_sub(messages));
        }
    }
    tokens
}

fn symbol_tokens(
    symbol: u64,
    message_tokens: &[Option<u64>],
    tool_set_tokens: &HashMap<u32, u64>,
) -> Option<u64> {
    if symbol == NO_TOOLS_SYMBOL {
        Some(0)
    } else if symbol >= TOOL_SET_SYMBOL {
        let set = u32::try_from(symbol - TOOL_SET_SYMBOL).ok()?;
        tool_set_tokens.get(&set).copied()
    } else {
        message_tokens
            .get(usize::try_from(symbol).ok()?)
            .copied()
            .flatten()
    }
}
