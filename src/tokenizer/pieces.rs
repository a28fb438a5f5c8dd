//! A per-thread cache from pre-token text to token ids.
//!
//! BPE is a pure function of the pre-token, and agent logs repeat the same words, paths and
//! indentation endlessly (on the mini-swe-agent corpus, 870K pre-tokens are 22K distinct ones), so
//! merging each distinct pre-token once is most of the speed-up. The cache is per thread so that
//! workers never contend, namespaced per tokenizer, and cleared when it grows past a bound so
//! that memory stays flat however large the input.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// Entries per thread and tokenizer before the cache is cleared.
const MAX_ENTRIES: usize = 1 << 18;

static NEXT_NAMESPACE: AtomicU64 = AtomicU64::new(0);

/// One tokenizer's cached pre-tokens.
type PieceIds = HashMap<Box<str>, Box<[u32]>>;

thread_local! {
    static PIECES: RefCell<HashMap<u64, PieceIds>> = RefCell::new(HashMap::new());
}

/// A namespace for one tokenizer's entries.
pub fn new_namespace() -> u64 {
    NEXT_NAMESPACE.fetch_add(1, Ordering::Relaxed)
}

/// Appends the ids of `piece` to `out`, computing them with `encode` on a miss.
pub fn extend_with<E>(
    namespace: u64,
    piece: &str,
    out: &mut Vec<u32>,
    encode: impl FnOnce(&str) -> Result<Vec<u32>, E>,
) -> Result<(), E> {
    PIECES.with(|cache| {
        let mut cache = cache.borrow_mut();
        let entries = cache.entry(namespace).or_default();
        if let Some(ids) = entries.get(piece) {
            out.extend_from_slice(ids);
            return Ok(());
        }
        let ids = encode(piece)?;
        out.extend_from_slice(&ids);
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(piece.into(), ids.into_boxed_slice());
        Ok(())
    })
}
