//! Chained prefix-block hash ids: the token-level identity of every prefix a request shares with
//! others, for KV-reuse analysis and anonymized (sizes-only) export.
//!
//! Block `i`'s id is XXH3-64 of its token ids seeded with block `i-1`'s id, so an id names the
//! whole prefix up to the end of its block. That makes coarser blocks derivable: the id of a
//! 64-token block is the id of the last 16-token block inside it (`coarsen`). Only ingest hashes;
//! everything downstream works on the stored ids.

use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Block size of the stored hash ids unless ingest is told otherwise.
pub const DEFAULT_BLOCK_SIZE: usize = 16;

/// Algorithm name recorded in the manifest.
pub const ALGORITHM: &str = "xxh3-64-chained";

/// A turn's hash ids as stored.
#[derive(Debug, Clone, Copy)]
pub struct StoredIds<'a> {
    /// Tokens per block.
    pub block_size: u32,
    /// Blocks shared with the previous turn of the session.
    pub prefix_blocks: u32,
    /// The ids after the shared prefix.
    pub new_ids: &'a [u64],
}

impl StoredIds<'_> {
    /// Turns `ids`, the previous turn's whole list, into this turn's: its first `prefix_blocks`
    /// ids, then the new ones. Returns how many were kept. Linear in the new ids, so a session's
    /// lists are rebuilt in time proportional to the ids stored, not to its context lengths.
    pub fn apply(&self, ids: &mut Vec<u64>) -> usize {
        let kept = (self.prefix_blocks as usize).min(ids.len());
        ids.truncate(kept);
        ids.extend_from_slice(self.new_ids);
        kept
    }
}

/// Hashes the blocks of the token stream `pieces` (concatenated), starting at block
/// `first_block` whose predecessor's id is `seed` (0 for the first block of a stream). The last
/// block may be partial. Returns the ids of blocks `first_block..`.
pub fn hash_blocks<'a>(
    pieces: impl IntoIterator<Item = &'a [u32]>,
    block_size: usize,
    first_block: usize,
    seed: u64,
) -> Vec<u64> {
    let mut skip = first_block * block_size;
    let mut ids = Vec::new();
    let mut block = Vec::with_capacity(block_size * 4);
    let mut in_block = 0;
    let mut previous = seed;
    for piece in pieces {
        let piece = if skip >= piece.len() {
            skip -= piece.len();
            continue;
        } else {
            let rest = &piece[skip..];
            skip = 0;
            rest
        };
        for token in piece {
            block.extend_from_slice(&token.to_le_bytes());
            in_block += 1;
            if in_block == block_size {
                previous = xxh3_64_with_seed(&block, previous);
                ids.push(previous);
                block.clear();
                in_block = 0;
            }
        }
    }
    if in_block > 0 {
        ids.push(xxh3_64_with_seed(&block, previous));
    }
    ids
}

/// Ids of blocks `factor` times larger, derived from chained ids: coarse block `j` ends where fine
/// block `factor * (j + 1) - 1` ends (or at the last, partial, fine block).
pub fn coarsen(ids: &[u64], factor: usize) -> Vec<u64> {
    if factor <= 1 {
        return ids.to_vec();
    }
    (0..ids.len().div_ceil(factor))
        .map(|j| ids[(factor * (j + 1)).min(ids.len()) - 1])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resuming_mid_stream_matches_hashing_from_the_start() {
        let tokens: Vec<u32> = (0..100).collect();
        let whole = hash_blocks([&tokens[..]], 16, 0, 0);
        assert_eq!(whole.len(), 7, "six full blocks and one partial");
        let resumed = hash_blocks([&tokens[..40], &tokens[40..]], 16, 3, whole[2]);
        assert_eq!(resumed, whole[3..]);
    }

    #[test]
    fn piece_boundaries_do_not_matter() {
        let tokens: Vec<u32> = (0..50).collect();
        let one = hash_blocks([&tokens[..]], 16, 0, 0);
        let many = hash_blocks([&tokens[..7], &tokens[7..33], &tokens[33..]], 16, 0, 0);
        assert_eq!(one, many);
    }

    #[test]
    fn coarse_ids_equal_ids_hashed_at_the_coarse_size() {
        let tokens: Vec<u32> = (0..1000).map(|t| t * 7 % 101).collect();
        let fine = hash_blocks([&tokens[..]], 16, 0, 0);
        let direct: Vec<u64> = hash_blocks([&tokens[..]], 64, 0, 0);
        let derived = coarsen(&fine, 4);
        assert_eq!(derived.len(), direct.len());
        // Different block sizes hash different byte runs, so the ids differ, but equal prefixes
        // must give equal coarse ids: compare against a stream sharing the first 640 tokens.
        let mut other = tokens.clone();
        other[700] += 1;
        let other_derived = coarsen(&hash_blocks([&other[..]], 16, 0, 0), 4);
        let shared = derived
            .iter()
            .zip(&other_derived)
            .take_while(|(a, b)| a == b)
            .count();
        assert_eq!(shared, 700 / 64);
    }
}
