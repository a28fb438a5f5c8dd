//! chrF exactly as sacrebleu computes it (`sacrebleu.metrics.CHRF()` defaults: character n-grams of
//! order 1 to 6, no word n-grams, β = 2, whitespace removed, case kept, effective-order averaging
//! instead of ε smoothing).
//!
//! No maintained crate implements it, and the verifier's margins are only meaningful if the
//! numbers match the reference implementation, so it is written here and checked against values
//! sacrebleu itself computes (`tests/python/chrf_reference.py`). An output's n-grams are
//! extracted once ([`CharNgrams::new`]) and matched against many others, because every turn is
//! compared with every reference.
//!
//! Each window of 6 characters is packed losslessly into a `u128` (21 bits per Unicode scalar
//! value) and an output's windows are sorted once; two outputs' matches of every order then come
//! from a single merge of their window lists ([`clipped_matches`]), exact, with no hashing and no
//! collisions.

/// sacrebleu's `CHRF.CHAR_ORDER`.
pub const CHAR_ORDER: usize = 6;
/// `CHAR_ORDER` for bit arithmetic.
#[allow(clippy::cast_possible_truncation, reason = "6 fits")]
const ORDER_U32: u32 = CHAR_ORDER as u32;
/// sacrebleu's `CHRF.BETA`.
pub const BETA: f64 = 2.0;

/// The character windows of one text, sorted: enough to count every order's n-grams and to match
/// them against another text's in one merge.
///
/// One window per position: the next `CHAR_ORDER` characters (scalar + 1, the first in the high
/// bits, 0 past the end of the text). Sorted windows are sorted by every prefix, so each order's
/// equal n-grams are consecutive. Texts whose characters are all below U+00FF pack 8 bits a
/// character into a `u64` (most outputs: half the memory, faster sorting and merging); others 21
/// bits into a `u128`. The codes are the same, so a narrow list widens without re-sorting.
#[derive(Debug, Clone, PartialEq)]
pub enum CharNgrams {
    /// 8 bits a character.
    Narrow(Vec<u64>),
    /// 21 bits a character.
    Wide(Vec<u128>),
}

impl Default for CharNgrams {
    fn default() -> CharNgrams {
        CharNgrams::Narrow(Vec::new())
    }
}

/// Whether Python's `str.split()` splits at this character: Unicode `White_Space` plus the four
/// information separators U+001C..U+001F, which Python also treats as whitespace.
fn is_python_whitespace(character: char) -> bool {
    character.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&character)
}

/// A packed window of `CHAR_ORDER` characters.
trait Window: Copy + Ord + std::ops::BitXor<Output = Self> {
    /// Bits per character.
    const CHARACTER_BITS: u32;
    /// Bits above the packed characters.
    const UNUSED_HIGH_BITS: u32;
    fn from_code(code: u32) -> Self;
    fn shift_in(self, code: Self) -> Self;
    fn is_zero(self) -> bool;
    fn leading_zeros(self) -> u32;
    fn trailing_zeros(self) -> u32;
}

impl Window for u64 {
    const CHARACTER_BITS: u32 = 8;
    const UNUSED_HIGH_BITS: u32 = 64 - 8 * ORDER_U32;
    fn from_code(code: u32) -> u64 {
        u64::from(code)
    }
    fn shift_in(self, code: u64) -> u64 {
        (self >> Self::CHARACTER_BITS) | (code << (Self::CHARACTER_BITS * (ORDER_U32 - 1)))
    }
    fn is_zero(self) -> bool {
        self == 0
    }
    fn leading_zeros(self) -> u32 {
        u64::leading_zeros(self)
    }
    fn trailing_zeros(self) -> u32 {
        u64::trailing_zeros(self)
    }
}

impl Window for u128 {
    const CHARACTER_BITS: u32 = 21;
    const UNUSED_HIGH_BITS: u32 = 128 - 21 * ORDER_U32;
    fn from_code(code: u32) -> u128 {
        u128::from(code)
    }
    fn shift_in(self, code: u128) -> u128 {
        (self >> Self::CHARACTER_BITS) | (code << (Self::CHARACTER_BITS * (ORDER_U32 - 1)))
    }
    fn is_zero(self) -> bool {
        self == 0
    }
    fn leading_zeros(self) -> u32 {
        u128::leading_zeros(self)
    }
    fn trailing_zeros(self) -> u32 {
        u128::trailing_zeros(self)
    }
}

/// The sorted windows of the non-whitespace characters' codes (scalar + 1).
fn windows<W: Window>(text: &str) -> Vec<W> {
    let mut windows: Vec<W> = Vec::with_capacity(text.len());
    append_windows(text, &mut windows);
    windows.sort_unstable();
    windows
}

/// Appends the windows of `text`'s non-whitespace characters' codes (scalar + 1), unsorted, in
/// text order; returns how many.
fn append_windows<W: Window>(text: &str, windows: &mut Vec<W>) -> usize {
    let start = windows.len();
    if text.is_ascii() {
        // Byte by byte: ASCII's whitespace under Python's `str.split()` is 0x09–0x0D, 0x1C–0x20.
        windows.extend(
            text.bytes()
                .filter(|&byte| !matches!(byte, 0x09..=0x0D | 0x1C..=0x20))
                .map(|byte| W::from_code(u32::from(byte) + 1)),
        );
    } else {
        windows.extend(
            text.chars()
                .filter(|&character| !is_python_whitespace(character))
                .map(|character| W::from_code(u32::from(character) + 1)),
        );
    }
    // Built from the end: each window is the next one shifted down one character, with this
    // position's character on top.
    let mut window = W::from_code(0);
    for slot in windows[start..].iter_mut().rev() {
        window = window.shift_in(*slot);
        *slot = window;
    }
    windows.len() - start
}

/// The number of n-grams of each order in a text of `length` characters: L − n + 1 of order n.
fn ngram_totals(length: usize) -> [u64; CHAR_ORDER] {
    let length = length as u64;
    std::array::from_fn(|order| length.saturating_sub(order as u64))
}

/// A narrow window's characters at 21 bits each.
fn widen(window: u64) -> u128 {
    (0..CHAR_ORDER).fold(0, |wide, position| {
        let code = (window >> (8 * position)) & 0xFF;
        wide | (u128::from(code) << (21 * position))
    })
}

impl CharNgrams {
    /// Extracts the n-grams of `text` with whitespace removed, as sacrebleu's
    /// `extract_all_char_ngrams(line, 6, include_whitespace=False)`.
    pub fn new(text: &str) -> CharNgrams {
        if is_narrow(text) {
            CharNgrams::Narrow(windows(text))
        } else {
            CharNgrams::Wide(windows(text))
        }
    }

    /// The number of characters (whitespace removed).
    fn length(&self) -> usize {
        match self {
            CharNgrams::Narrow(windows) => windows.len(),
            CharNgrams::Wide(windows) => windows.len(),
        }
    }

    /// The number of n-grams of each order: a text of L characters has L − n + 1 of order n.
    fn totals(&self) -> [u64; CHAR_ORDER] {
        ngram_totals(self.length())
    }

    /// The windows at 21 bits a character.
    fn wide(&self) -> std::borrow::Cow<'_, [u128]> {
        match self {
            CharNgrams::Narrow(windows) => windows.iter().map(|&window| widen(window)).collect(),
            CharNgrams::Wide(windows) => std::borrow::Cow::Borrowed(windows),
        }
    }
}

/// The clipped matches of two texts' n-grams, per order.
fn matches(first: &CharNgrams, second: &CharNgrams) -> [u64; CHAR_ORDER] {
    match (first, second) {
        (CharNgrams::Narrow(left), CharNgrams::Narrow(right)) => clipped_matches(left, right),
        _ => clipped_matches(&first.wide(), &second.wide()),
    }
}

/// How many characters a window holds (its trailing zero characters are past the end).
fn window_length<W: Window>(window: W) -> usize {
    CHAR_ORDER - (window.trailing_zeros() / W::CHARACTER_BITS) as usize
}

/// The clipped matches of every order, Σ over n-grams of min(count in first, count in second),
/// in one merge of the two sorted window lists: consecutive windows of the merged order that
/// share their first n characters belong to one n-gram, so an n-gram's counts are complete when
/// the shared prefix drops below n.
fn clipped_matches<W: Window>(first: &[W], second: &[W]) -> [u64; CHAR_ORDER] {
    let mut matches = [0_u64; CHAR_ORDER];
    let mut counts = [[0_u64; 2]; CHAR_ORDER];
    let mut previous: Option<W> = None;
    // Adds one window of the merged order; returns how many characters it shares with the one
    // before.
    let mut step = |window: W, side: usize| {
        let shared = match previous {
            None => 0,
            Some(before) => {
                let difference = before ^ window;
                if difference.is_zero() {
                    CHAR_ORDER
                } else {
                    ((difference.leading_zeros() - W::UNUSED_HIGH_BITS) / W::CHARACTER_BITS)
                        as usize
                }
            }
        };
        for order in shared..CHAR_ORDER {
            let [in_first, in_second] = counts[order];
            matches[order] += in_first.min(in_second);
            counts[order] = [0, 0];
        }
        for count in counts.iter_mut().take(window_length(window)) {
            count[side] += 1;
        }
        previous = Some(window);
        shared
    };
    let (mut left, mut right) = (0, 0);
    while left < first.len() && right < second.len() {
        if first[left] <= second[right] {
            step(first[left], 0);
            left += 1;
        } else {
            step(second[right], 1);
            right += 1;
        }
    }
    // Once one list is used up, the other's windows can still raise the counts of the n-grams
    // open at that point, until one shares no character with the window before: from there on
    // nothing can match.
    let (rest, side) = if left < first.len() {
        (&first[left..], 0)
    } else {
        (&second[right..], 1)
    };
    for &window in rest {
        if step(window, side) == 0 {
            break;
        }
    }
    for (order, [in_first, in_second]) in counts.into_iter().enumerate() {
        matches[order] += in_first.min(in_second);
    }
    matches
}

/// Per order (hypothesis n-grams, reference n-grams, clipped matches), as sacrebleu's
/// `_get_match_statistics`, which counts no hypothesis n-grams of an order the reference has none
/// of.
fn match_statistics(
    hypothesis: &CharNgrams,
    reference: &CharNgrams,
) -> [(u64, u64, u64); CHAR_ORDER] {
    let matches = matches(hypothesis, reference);
    let (hypothesis_totals, reference_totals) = (hypothesis.totals(), reference.totals());
    std::array::from_fn(|order| {
        let reference_count = reference_totals[order];
        let hypothesis_count = if reference_count == 0 {
            0
        } else {
            hypothesis_totals[order]
        };
        (hypothesis_count, reference_count, matches[order])
    })
}

/// Sentence-level chrF of `hypothesis` against one `reference`, on sacrebleu's 0–100 scale
/// (`CHRF().sentence_score(hypothesis, [reference]).score`).
pub fn chrf(hypothesis: &CharNgrams, reference: &CharNgrams) -> f64 {
    score(&match_statistics(hypothesis, reference))
}

/// chrF of two texts on the 0–100 scale, as sacrebleu: `text_chrf("a", "b")` is
/// `CHRF().sentence_score("a", ["b"]).score`.
pub fn chrf_text(hypothesis: &str, reference: &str) -> f64 {
    chrf(&CharNgrams::new(hypothesis), &CharNgrams::new(reference))
}

/// chrF from per-order (hypothesis n-grams, reference n-grams, matches), on the 0–100 scale.
#[allow(
    clippy::cast_precision_loss,
    reason = "n-gram counts are far below 2^52"
)]
fn score(statistics: &[(u64, u64, u64); CHAR_ORDER]) -> f64 {
    let factor = BETA * BETA;
    let (mut precision_sum, mut recall_sum, mut effective_order) = (0.0, 0.0, 0_u32);
    for &(hypothesis_count, reference_count, matches) in statistics {
        if hypothesis_count > 0 && reference_count > 0 {
            precision_sum += matches as f64 / hypothesis_count as f64;
            recall_sum += matches as f64 / reference_count as f64;
            effective_order += 1;
        }
    }
    if effective_order == 0 {
        return 0.0;
    }
    let precision = precision_sum / f64::from(effective_order);
    let recall = recall_sum / f64::from(effective_order);
    if precision + recall == 0.0 {
        return 0.0;
    }
    100.0 * (1.0 + factor) * precision * recall / (factor * precision + recall)
}

/// The agreement form the verifier gates on: the mean of both directions on a 0–1 scale, so that
/// which run is called the hypothesis does not matter (chrF with β = 2 weighs recall more). The
/// clipped matches are symmetric, so each order is merged once.
pub fn symmetric(first: &CharNgrams, second: &CharNgrams) -> f64 {
    symmetric_score(&matches(first, second), &first.totals(), &second.totals())
}

/// The symmetric score from the clipped matches and both texts' n-gram totals.
fn symmetric_score(
    matches: &[u64; CHAR_ORDER],
    first_totals: &[u64; CHAR_ORDER],
    second_totals: &[u64; CHAR_ORDER],
) -> f64 {
    let direction = |hypothesis: &[u64; CHAR_ORDER], reference: &[u64; CHAR_ORDER]| {
        let statistics: [(u64, u64, u64); CHAR_ORDER] = std::array::from_fn(|order| {
            let hypothesis_count = if reference[order] == 0 {
                0
            } else {
                hypothesis[order]
            };
            (hypothesis_count, reference[order], matches[order])
        });
        score(&statistics)
    };
    (direction(first_totals, second_totals) + direction(second_totals, first_totals)) / 200.0
}

/// The most texts [`symmetric_pairs`] counts jointly (one bit each in a group's presence mask).
const JOINT_TEXTS: usize = 64;

/// [`symmetric`] of every pair of `texts`, pairs in the order (0, 1), (0, 2), …, (1, 2), ….
///
/// One turn's outputs are all compared with each other, so their n-grams are counted jointly:
/// every text's windows, tagged with the text's index, go into one sorted list, and a single pass
/// closes each n-gram once for all pairs, adding clipped matches only for the texts it occurs in.
/// Comparing pair by pair walks each text once per partner. Texts with a character from U+00FF
/// up, or more than 64 texts, are compared pair by pair.
pub fn symmetric_pairs(texts: &[&str]) -> Vec<f64> {
    let count = texts.len();
    let pair_count = count * count.saturating_sub(1) / 2;
    if count > JOINT_TEXTS || !texts.iter().all(|text| is_narrow(text)) {
        let ngrams: Vec<CharNgrams> = texts.iter().map(|text| CharNgrams::new(text)).collect();
        let mut scores = Vec::with_capacity(pair_count);
        for (index, first) in ngrams.iter().enumerate() {
            for second in &ngrams[index + 1..] {
                scores.push(symmetric(first, second));
            }
        }
        return scores;
    }
    let mut tagged: Vec<u64> = Vec::with_capacity(texts.iter().map(|text| text.len()).sum());
    let mut totals: Vec<[u64; CHAR_ORDER]> = Vec::with_capacity(count);
    for (index, text) in texts.iter().enumerate() {
        let start = tagged.len();
        let length = append_windows(text, &mut tagged);
        // The window's 48 bits go above an 8-bit tag, so the sort orders by window first.
        for slot in &mut tagged[start..] {
            *slot = (*slot << 8) | index as u64;
        }
        totals.push(ngram_totals(length));
    }
    tagged.sort_unstable();
    let matches = if count <= LANES && totals.iter().all(|total| total[0] < LANE_LIMIT) {
        lane_matches(&tagged, count)
    } else {
        mask_matches(&tagged, count)
    };
    let pair_index =
        |first: usize, second: usize| first * count - first * (first + 1) / 2 + second - first - 1;
    let mut scores = Vec::with_capacity(pair_count);
    for first in 0..count {
        for second in first + 1..count {
            scores.push(symmetric_score(
                &matches[pair_index(first, second)],
                &totals[first],
                &totals[second],
            ));
        }
    }
    scores
}

/// Per pair (in [`symmetric_pairs`]'s order) and order, the clipped matches of the texts whose
/// tagged windows are `tagged` (sorted): each open n-gram keeps the set of texts it occurs in, and
/// closing it adds min(count, count) for the pairs within that set.
fn mask_matches(tagged: &[u64], count: usize) -> Vec<[u64; CHAR_ORDER]> {
    let pair_count = count * count.saturating_sub(1) / 2;
    let mut matches = vec![[0_u64; CHAR_ORDER]; pair_count];
    let mut counts = vec![[0_u32; CHAR_ORDER]; count];
    // Per order, which texts the open n-gram occurs in.
    let mut present = [0_u64; CHAR_ORDER];
    let pair_index =
        |first: usize, second: usize| first * count - first * (first + 1) / 2 + second - first - 1;
    let close = |order: usize,
                 present: &mut [u64; CHAR_ORDER],
                 counts: &mut [[u32; CHAR_ORDER]],
                 matches: &mut [[u64; CHAR_ORDER]]| {
        let mask = present[order];
        if mask.count_ones() >= 2 {
            let mut outer = mask;
            while outer != 0 {
                let first = outer.trailing_zeros() as usize;
                outer &= outer - 1;
                let mut inner = outer;
                while inner != 0 {
                    let second = inner.trailing_zeros() as usize;
                    inner &= inner - 1;
                    matches[pair_index(first, second)][order] +=
                        u64::from(counts[first][order].min(counts[second][order]));
                }
            }
        }
        let mut bits = mask;
        while bits != 0 {
            counts[bits.trailing_zeros() as usize][order] = 0;
            bits &= bits - 1;
        }
        present[order] = 0;
    };
    let mut previous = 0_u64;
    for &entry in tagged {
        let window = entry >> 8;
        let text = (entry & 0xFF) as usize;
        let shared = ((previous ^ window).leading_zeros() - <u64 as Window>::UNUSED_HIGH_BITS)
            / <u64 as Window>::CHARACTER_BITS;
        for order in shared as usize..CHAR_ORDER {
            if present[order] != 0 {
                close(order, &mut present, &mut counts, &mut matches);
            }
        }
        for order in 0..window_length(window) {
            counts[text][order] += 1;
            present[order] |= 1 << text;
        }
        previous = window;
    }
    for order in 0..CHAR_ORDER {
        close(order, &mut present, &mut counts, &mut matches);
    }
    matches
}

/// Texts the lane pass ([`lane_matches`]) counts: one 16-bit lane each in a `u64`.
const LANES: usize = 4;
/// Windows per text below which every lane count and lane sum stays below 2^15.
const LANE_LIMIT: u64 = 1 << 15;
/// The top bit of every lane.
const LANE_HIGH: u64 = 0x8000_8000_8000_8000;

/// Lane-wise minimum of two words of four counts, each below 2^15.
fn lane_min(first: u64, second: u64) -> u64 {
    // Each lane of (first | high) − second is first − second + 2^15 ≥ 1, so no borrow crosses
    // lanes, and its top bit says first ≥ second.
    let first_not_less = ((first | LANE_HIGH) - second) & LANE_HIGH;
    let take_second = (first_not_less >> 15) * 0xFFFF;
    (second & take_second) | (first & !take_second)
}

/// [`mask_matches`] for at most four texts of fewer than 2^15 windows each, without branches on
/// the data: an open n-gram's counts sit in one word, a lane per text, and closing it adds the
/// lane-wise minimum of the word and the word rotated by one and by two lanes, which holds
/// min(count, count) of every pair (lane k: texts k and k − 1, and k and k − 2, modulo 4).
/// Closing an n-gram that is in one text only adds zeros.
fn lane_matches(tagged: &[u64], count: usize) -> Vec<[u64; CHAR_ORDER]> {
    let mut counts = [0_u64; CHAR_ORDER];
    let mut neighbours = [0_u64; CHAR_ORDER];
    let mut opposites = [0_u64; CHAR_ORDER];
    let mut close = |order: usize, counts: &mut [u64; CHAR_ORDER]| {
        let value = counts[order];
        neighbours[order] += lane_min(value, value.rotate_left(16));
        opposites[order] += lane_min(value, value.rotate_left(32));
        counts[order] = 0;
    };
    let mut previous = 0_u64;
    for &entry in tagged {
        let window = entry >> 8;
        let shared = ((previous ^ window).leading_zeros() - <u64 as Window>::UNUSED_HIGH_BITS)
            / <u64 as Window>::CHARACTER_BITS;
        for order in shared as usize..CHAR_ORDER {
            close(order, &mut counts);
        }
        let increment = 1_u64 << (16 * (entry & 0xFF));
        for slot in counts.iter_mut().take(window_length(window)) {
            *slot += increment;
        }
        previous = window;
    }
    for order in 0..CHAR_ORDER {
        close(order, &mut counts);
    }
    let lane = |word: u64, lane: usize| (word >> (16 * lane)) & 0xFFFF;
    let mut matches = Vec::with_capacity(count * count.saturating_sub(1) / 2);
    for first in 0..count {
        for second in first + 1..count {
            matches.push(std::array::from_fn(|order| match second - first {
                1 => lane(neighbours[order], second),
                2 => lane(opposites[order], second),
                _ => lane(neighbours[order], 0),
            }));
        }
    }
    matches
}

/// Whether every character of `text` packs into 8 bits (scalar + 1 below 256).
fn is_narrow(text: &str) -> bool {
    text.is_ascii() || text.chars().all(|character| u32::from(character) < 0xFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_texts_score_100_and_empty_ones_0() {
        assert!((chrf_text("the cat sat", "the cat sat") - 100.0).abs() < 1e-12);
        assert!(chrf_text("", "abc").abs() < 1e-12);
        assert!(chrf_text("abc", "").abs() < 1e-12);
        assert!(chrf_text("", "").abs() < 1e-12);
    }

    #[test]
    fn symmetric_is_the_mean_of_both_directions() {
        for (first, second) in [
            ("abcab", "bcabx"),
            ("", "abc"),
            ("abc", ""),
            ("aaaa", "aa"),
            ("x y", "x"),
        ] {
            let expected = (chrf_text(first, second) + chrf_text(second, first)) / 200.0;
            let found = symmetric(&CharNgrams::new(first), &CharNgrams::new(second));
            assert!(
                (found - expected).abs() < 1e-12,
                "{first} {second}: {found} vs {expected}"
            );
        }
    }

    /// sacrebleu's definition, literally: count every order's n-grams in a map, clip, score.
    fn naive_chrf(hypothesis: &str, reference: &str) -> f64 {
        use std::collections::HashMap;
        let grams = |text: &str, order: usize| {
            let characters: Vec<char> = text
                .chars()
                .filter(|&character| !is_python_whitespace(character))
                .collect();
            let mut counts: HashMap<Vec<char>, u64> = HashMap::new();
            for window in characters.windows(order) {
                *counts.entry(window.to_vec()).or_default() += 1;
            }
            counts
        };
        let statistics: [(u64, u64, u64); CHAR_ORDER] = std::array::from_fn(|index| {
            let (left, right) = (grams(hypothesis, index + 1), grams(reference, index + 1));
            let matches = left
                .iter()
                .map(|(gram, count)| right.get(gram).map_or(0, |other| *count.min(other)))
                .sum();
            let reference_count: u64 = right.values().sum();
            let hypothesis_count = if reference_count == 0 {
                0
            } else {
                left.values().sum()
            };
            (hypothesis_count, reference_count, matches)
        });
        score(&statistics)
    }

    #[test]
    fn the_single_merge_equals_counting_in_maps() {
        // Few distinct characters, so that n-grams repeat within and across texts and the
        // merge's open n-grams at the end of one list matter; a wide scalar and whitespace too.
        let alphabet = ['a', 'b', 'c', ' ', '\u{10FFFF}', 'é'];
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let text = |next: &mut dyn FnMut() -> u64| {
            let length = next() % 24;
            (0..length)
                .map(|_| alphabet[usize::try_from(next() % 6).unwrap()])
                .collect::<String>()
        };
        for _ in 0..3000 {
            let (first, second) = (text(&mut next), text(&mut next));
            let expected = naive_chrf(&first, &second);
            let found = chrf_text(&first, &second);
            assert!(
                (found - expected).abs() < 1e-9,
                "{first:?} {second:?}: {found} vs {expected}"
            );
            let symmetric_found = symmetric(&CharNgrams::new(&first), &CharNgrams::new(&second));
            let symmetric_expected = (expected + naive_chrf(&second, &first)) / 200.0;
            assert!((symmetric_found - symmetric_expected).abs() < 1e-12);
        }
    }

    #[test]
    fn joint_pairs_equal_pair_by_pair() {
        let alphabet = ['a', 'b', 'c', ' ', '\u{10FFFF}', 'é', 'd'];
        let mut state = 0x2545_F491_4F6C_DD1D_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..2000 {
            // Mostly narrow turns (the joint count); every fifth may carry a wide character.
            let letters = if round % 5 == 0 { 7 } else { 4 };
            let texts: Vec<String> = (0..=(next() % 6))
                .map(|_| {
                    (0..next() % 30)
                        .map(|_| {
                            let pick = usize::try_from(next() % letters).unwrap();
                            if letters == 4 {
                                ['a', 'b', ' ', 'é'][pick]
                            } else {
                                alphabet[pick]
                            }
                        })
                        .collect()
                })
                .collect();
            let borrowed: Vec<&str> = texts.iter().map(String::as_str).collect();
            let mut expected = Vec::new();
            for (index, first) in texts.iter().enumerate() {
                for second in &texts[index + 1..] {
                    expected.push((naive_chrf(first, second) + naive_chrf(second, first)) / 200.0);
                }
            }
            let found = symmetric_pairs(&borrowed);
            assert_eq!(found.len(), expected.len());
            for (found, expected) in found.iter().zip(&expected) {
                assert!(
                    (found - expected).abs() < 1e-12,
                    "{texts:?}: {found} vs {expected}"
                );
            }
        }
    }

    #[test]
    fn ascii_whitespace_is_pythons() {
        for byte in 0_u8..0x80 {
            let character = char::from(byte);
            let expected = is_python_whitespace(character);
            let text = format!("a{character}b");
            let mut windows: Vec<u64> = Vec::new();
            let length = append_windows(&text, &mut windows);
            assert_eq!(length, if expected { 2 } else { 3 }, "{byte:#x}");
        }
    }

    #[test]
    fn whitespace_is_ignored_and_case_kept() {
        assert!((chrf_text("a b c", "abc") - 100.0).abs() < 1e-12);
        assert!(chrf_text("ABC", "abc") < 1.0);
    }
}
