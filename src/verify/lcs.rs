//! Length of the longest common subsequence of two token sequences, bit-parallel (Hyyrö 2004):
//! one pass over the second sequence, each step a few word operations over a bitset of the first
//! sequence's positions, so O(|b|·⌈|a|/64⌉) and exact.
//!
//! The edit ratio and ROUGE-L are 2·LCS / (|a| + |b|); `similar`'s Myers diff gives the same
//! figure (`diff_ratio`) when its diff is minimal, but is ~20× slower on the verifier's
//! 100K-turn workload (six pairs per turn), and its bounded heuristic may undercount. The
//! `similar` diff is kept for the report's word diffs; a test checks both agree.

use rustc_hash::FxHashMap;

/// Dense ids for the token hashes of one turn's sequences, so that the LCS looks a token's
/// masks up by index: every sequence of a turn is compared with every other, and hashing each
/// token once per partner cost more than the LCS itself.
#[derive(Debug, Default)]
pub struct Vocabulary {
    ids: FxHashMap<u64, u32>,
}

impl Vocabulary {
    /// The ids of `tokens`, new tokens numbered in order of appearance.
    pub fn intern(&mut self, tokens: &[u64]) -> Vec<u32> {
        self.ids.reserve(tokens.len());
        tokens
            .iter()
            .map(|token| {
                let next = u32::try_from(self.ids.len()).unwrap_or(u32::MAX);
                *self.ids.entry(*token).or_insert(next)
            })
            .collect()
    }

    /// How many distinct tokens so far.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no token was interned.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// A sequence's match masks: for each distinct token, the bitset of its positions.
#[derive(Debug, Clone, Default)]
pub struct TokenMasks {
    length: usize,
    words: usize,
    /// Per token id of the vocabulary, its row in `masks` (`u32::MAX`: not in the sequence).
    rows: Vec<u32>,
    masks: Vec<u64>,
}

impl TokenMasks {
    /// Masks of `tokens`, ids below `vocabulary`.
    pub fn new(tokens: &[u32], vocabulary: usize) -> TokenMasks {
        let words = tokens.len().div_ceil(64);
        let mut rows = vec![u32::MAX; vocabulary];
        let mut masks: Vec<u64> = Vec::with_capacity(tokens.len().min(256) * words);
        let mut next = 0_u32;
        for (position, &token) in tokens.iter().enumerate() {
            let row = &mut rows[token as usize];
            if *row == u32::MAX {
                *row = next;
                next += 1;
                masks.extend(std::iter::repeat_n(0, words));
            }
            masks[*row as usize * words + position / 64] |= 1 << (position % 64);
        }
        TokenMasks {
            length: tokens.len(),
            words,
            rows,
            masks,
        }
    }

    /// Tokens in the sequence.
    pub fn len(&self) -> usize {
        self.length
    }

    /// Whether the sequence is empty.
    pub fn is_empty(&self) -> bool {
        self.length == 0
    }
}

/// Row words kept on the stack (sequences up to 512 tokens).
const STACK_WORDS: usize = 8;

/// LCS length of the masked sequence and `other`.
pub fn lcs(first: &TokenMasks, other: &[u32]) -> usize {
    if first.length == 0 || other.is_empty() {
        return 0;
    }
    let words = first.words;
    // Most outputs are a few hundred tokens: their row fits on the stack.
    let mut stack = [u64::MAX; STACK_WORDS];
    let mut heap = Vec::new();
    let row: &mut [u64] = if words <= STACK_WORDS {
        &mut stack[..words]
    } else {
        heap.resize(words, u64::MAX);
        &mut heap
    };
    for token in other {
        let slot = first.rows.get(*token as usize).copied().unwrap_or(u32::MAX);
        if slot == u32::MAX {
            continue;
        }
        let slot = slot as usize;
        let mask = &first.masks[slot * words..(slot + 1) * words];
        let mut carry = 0_u64;
        for (value, &matches) in row.iter_mut().zip(mask) {
            let old = *value;
            let (sum, overflow_first) = old.overflowing_add(old & matches);
            let (sum, overflow_second) = sum.overflowing_add(carry);
            carry = u64::from(overflow_first || overflow_second);
            *value = sum | (old & !matches);
        }
    }
    let mut zeros = 0;
    for (word, value) in row.iter().enumerate() {
        let bits = (first.length - word * 64).min(64);
        let low = if bits == 64 {
            u64::MAX
        } else {
            (1 << bits) - 1
        };
        zeros += (!value & low).count_ones() as usize;
    }
    zeros
}

/// 2·LCS / (|a| + |b|), 1 when both are empty.
#[allow(clippy::cast_precision_loss, reason = "lengths are far below 2^52")]
pub fn ratio(first: &TokenMasks, other: &[u32]) -> f64 {
    let total = first.length + other.len();
    if total == 0 {
        return 1.0;
    }
    2.0 * lcs(first, other) as f64 / total as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha8Rng;
    use rand_core::{RngCore, SeedableRng};

    fn dynamic_programming(first: &[u64], second: &[u64]) -> usize {
        let mut previous = vec![0; second.len() + 1];
        for left in first {
            let mut current = vec![0; second.len() + 1];
            for (column, right) in second.iter().enumerate() {
                current[column + 1] = if left == right {
                    previous[column] + 1
                } else {
                    current[column].max(previous[column + 1])
                };
            }
            previous = current;
        }
        previous[second.len()]
    }

    #[test]
    fn matches_dynamic_programming_and_similar() {
        let mut generator = ChaCha8Rng::seed_from_u64(5);
        for round in 0..300 {
            let alphabet = 2 + u64::from(generator.next_u32() % 8);
            let mut sequence = |limit: u32| -> Vec<u64> {
                (0..generator.next_u32() % limit)
                    .map(|_| generator.next_u64() % alphabet)
                    .collect()
            };
            let limit = if round % 3 == 0 { 200 } else { 70 };
            let first = sequence(limit);
            let second = sequence(limit);
            let expected = dynamic_programming(&first, &second);
            let mut vocabulary = Vocabulary::default();
            let (first_ids, second_ids) = (vocabulary.intern(&first), vocabulary.intern(&second));
            assert_eq!(
                lcs(&TokenMasks::new(&first_ids, vocabulary.len()), &second_ids),
                expected,
                "{first:?} {second:?}"
            );
            let ops = similar::capture_diff_slices(similar::Algorithm::Myers, &first, &second);
            let matched: usize = ops
                .iter()
                .map(|op| match *op {
                    similar::DiffOp::Equal { len, .. } => len,
                    _ => 0,
                })
                .sum();
            assert!(matched <= expected);
        }
    }
}
