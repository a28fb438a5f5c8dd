//! KV-cache reuse from the stored block hash ids: per-session hit counts under an unbounded
//! cache, and the bounded, shared LRU cache that N concurrent agents actually get.
//!
//! Both count, per request, the leading run of its blocks already in the cache: a prefix cache
//! (vLLM, SGLang) can only reuse blocks up to the first one it lacks. Hash ids are stored
//! delta-encoded (a turn is the previous turn's first `hash_prefix_blocks` ids plus its new
//! ids), and the unbounded count never rebuilds a turn's whole list: the shared prefix is known
//! to be cached, so only the new ids are looked up and inserted. That keeps the pass linear in
//! the ids stored, not in the sum of context lengths.

use std::num::NonZeroUsize;

use lru::LruCache;
use rustc_hash::{FxBuildHasher, FxHashSet};

pub use crate::blocks::StoredIds;

/// Block sizes (tokens) of the reported hit rates.
pub const REPORTED_BLOCK_SIZES: [u32; 3] = [16, 64, 512];

/// Hits of one turn at one of `REPORTED_BLOCK_SIZES`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TurnHits {
    /// Blocks of the request at that size.
    pub blocks: u64,
    /// Blocks of the leading run sent earlier in the session.
    pub hit_blocks: u64,
}

/// One session's unbounded cache, at the stored block size.
#[derive(Debug, Default)]
pub struct SessionCache {
    block_size: u32,
    /// The current turn's whole id list (maintained by truncate and extend: linear overall).
    current: Vec<u64>,
    /// Every id any earlier turn of the session sent.
    seen: FxHashSet<u64>,
    /// The last id of every earlier turn: a partial coarse block can only match a request that
    /// ended at the same place.
    ends: FxHashSet<u64>,
}

impl SessionCache {
    /// Forgets everything: a new session starts.
    pub fn reset(&mut self) {
        self.block_size = 0;
        self.current.clear();
        self.seen.clear();
        self.ends.clear();
    }

    /// Adds a turn; returns its hits at each of `REPORTED_BLOCK_SIZES` that its block size
    /// divides (`None` for the others), and its hits at the stored size.
    pub fn add(&mut self, ids: StoredIds<'_>) -> ([Option<TurnHits>; 3], TurnHits) {
        if ids.block_size != self.block_size {
            // Ids of another block size (a foreign dataset) are not comparable with earlier ones.
            self.reset();
            self.block_size = ids.block_size;
        }
        // The kept prefix was sent by earlier turns; the new ids are looked up before they are
        // added to what the session has seen.
        let mut hits = ids.apply(&mut self.current);
        for id in ids.new_ids {
            if self.seen.contains(id) {
                hits += 1;
            } else {
                break;
            }
        }
        let ends_here_before = self
            .current
            .last()
            .is_some_and(|last| self.ends.contains(last));
        self.seen.extend(ids.new_ids.iter().copied());
        let total = self.current.len();
        if let Some(&last) = self.current.last() {
            self.ends.insert(last);
        }
        let mut per_size = [None; 3];
        for (slot, &size) in per_size.iter_mut().zip(&REPORTED_BLOCK_SIZES) {
            if ids.block_size == 0 || size % ids.block_size != 0 {
                continue;
            }
            *slot = Some(coarse_hits(
                total,
                hits,
                (size / ids.block_size) as usize,
                ends_here_before,
            ));
        }
        (
            per_size,
            TurnHits {
                blocks: total as u64,
                hit_blocks: hits as u64,
            },
        )
    }
}

/// Hits at blocks `factor` times the stored size, from the stored-size leading run `hits` of
/// `total` blocks. A coarse block's id is its last fine block's id, so a full coarse block is
/// hit when the fine run covers it; a partial last coarse block only when the whole request was
/// seen and an earlier request ended at the same block.
fn coarse_hits(total: usize, hits: usize, factor: usize, ends_here_before: bool) -> TurnHits {
    let blocks = total.div_ceil(factor);
    let mut hit_blocks = hits / factor;
    if hits == total && !total.is_multiple_of(factor) && ends_here_before {
        hit_blocks += 1;
    }
    TurnHits {
        blocks: blocks as u64,
        hit_blocks: hit_blocks as u64,
    }
}

/// A shared LRU cache of blocks, as an inference server's prefix cache.
pub struct LruBlockCache {
    cache: LruCache<u64, (), FxBuildHasher>,
    /// Blocks looked up.
    pub blocks: u64,
    /// Blocks found (leading runs).
    pub hit_blocks: u64,
    /// Blocks evicted.
    pub evictions: u64,
}

impl LruBlockCache {
    /// A cache of `capacity` blocks (at least one).
    pub fn new(capacity: usize) -> LruBlockCache {
        let capacity = NonZeroUsize::new(capacity.max(1)).unwrap_or(NonZeroUsize::MIN);
        LruBlockCache {
            cache: LruCache::with_hasher(capacity, FxBuildHasher),
            blocks: 0,
            hit_blocks: 0,
            evictions: 0,
        }
    }

    /// Serves one request: counts its leading run of cached blocks, then makes every block of
    /// the request the most recently used (the server now holds the whole prompt).
    pub fn request(&mut self, ids: &[u64]) {
        self.blocks += ids.len() as u64;
        let mut leading = true;
        for &id in ids {
            let cached = self.cache.get(&id).is_some();
            if leading && cached {
                self.hit_blocks += 1;
            } else {
                leading = false;
            }
            if !cached && self.cache.push(id, ()).is_some_and(|(old, ())| old != id) {
                self.evictions += 1;
            }
        }
    }
}

/// An unbounded shared cache, the ceiling of the LRU curve.
#[derive(Default)]
pub struct UnboundedBlockCache {
    seen: FxHashSet<u64>,
    /// Blocks looked up.
    pub blocks: u64,
    /// Blocks found (leading runs).
    pub hit_blocks: u64,
}

impl UnboundedBlockCache {
    /// Serves one request.
    pub fn request(&mut self, ids: &[u64]) {
        self.blocks += ids.len() as u64;
        let leading = ids.iter().take_while(|id| self.seen.contains(id)).count();
        self.hit_blocks += leading as u64;
        self.seen.extend(ids[leading..].iter().copied());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocks::{coarsen, hash_blocks};

    fn index(value: u64) -> usize {
        usize::try_from(value).unwrap()
    }

    fn brute_force_hits(lists: &[Vec<u64>], turn: usize) -> u64 {
        let mut seen = FxHashSet::default();
        for earlier in &lists[..turn] {
            seen.extend(earlier.iter().copied());
        }
        lists[turn]
            .iter()
            .take_while(|id| seen.contains(id))
            .count() as u64
    }

    /// Sessions of growing, sometimes rolled-back token streams: the delta-encoded count at
    /// every block size equals a brute-force count over the whole id lists.
    #[test]
    fn delta_encoded_hits_equal_brute_force_at_every_block_size() {
        let mut state = 11u64;
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            state >> 40
        };
        for _session in 0..40 {
            let mut tokens: Vec<u32> = Vec::new();
            let mut streams: Vec<Vec<u32>> = Vec::new();
            for _turn in 0..12 {
                match next() % 5 {
                    0 if !streams.is_empty() => {
                        // Go back to an earlier request (a retry or a rolled-back branch).
                        let back = streams[index(next()) % streams.len()].clone();
                        tokens = back;
                    }
                    1 => {
                        let keep = index(next()) % (tokens.len() + 1);
                        tokens.truncate(keep);
                    }
                    _ => {}
                }
                let grow = index(next() % 700);
                tokens.extend((0..grow).map(|_| u32::try_from(next() % 50).unwrap()));
                streams.push(tokens.clone());
            }
            let fine: Vec<Vec<u64>> = streams
                .iter()
                .map(|s| hash_blocks([s.as_slice()], 16, 0, 0))
                .collect();
            let mut cache = SessionCache::default();
            let mut previous: Vec<u64> = Vec::new();
            for (turn, ids) in fine.iter().enumerate() {
                let prefix = previous.iter().zip(ids).take_while(|(a, b)| a == b).count();
                let (per_size, stored) = cache.add(StoredIds {
                    block_size: 16,
                    prefix_blocks: u32::try_from(prefix).unwrap(),
                    new_ids: &ids[prefix..],
                });
                assert_eq!(stored.hit_blocks, brute_force_hits(&fine, turn));
                for (size, hits) in REPORTED_BLOCK_SIZES.iter().zip(per_size) {
                    let factor = (*size / 16) as usize;
                    let coarse: Vec<Vec<u64>> =
                        fine.iter().map(|ids| coarsen(ids, factor)).collect();
                    let hits = hits.expect("16 divides every reported size");
                    assert_eq!(hits.blocks, coarse[turn].len() as u64);
                    assert_eq!(
                        hits.hit_blocks,
                        brute_force_hits(&coarse, turn),
                        "turn {turn} at {size} tokens"
                    );
                }
                previous.clone_from(ids);
            }
        }
    }

    #[test]
    fn lru_counts_leading_runs_and_evicts_least_recently_used() {
        let mut cache = LruBlockCache::new(3);
        cache.request(&[1, 2, 3]);
        assert_eq!((cache.blocks, cache.hit_blocks, cache.evictions), (3, 0, 0));
        cache.request(&[1, 2, 4]);
        assert_eq!((cache.hit_blocks, cache.evictions), (2, 1));
        // 3 was evicted; 1 is cached but the run starts with the missing 3.
        cache.request(&[3, 1]);
        assert_eq!(cache.hit_blocks, 2);
        let mut unbounded = UnboundedBlockCache::default();
        unbounded.request(&[1, 2, 3]);
        unbounded.request(&[1, 2, 4]);
        unbounded.request(&[3, 1]);
        assert_eq!(unbounded.hit_blocks, 4);
    }
}
