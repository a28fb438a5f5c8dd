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
//! Each n-gram of at most 6 characters is packed losslessly into a `u128` (21 bits per Unicode
//! scalar value), so counting is an exact sort-and-merge with no hashing and no collisions.

/// sacrebleu's `CHRF.CHAR_ORDER`.
pub const CHAR_ORDER: usize = 6;
/// sacrebleu's `CHRF.BETA`.
pub const BETA: f64 = 2.0;

/// The character n-gram counts of one text, per order, each sorted by n-gram.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CharNgrams {
    orders: [Vec<(u128, u32)>; CHAR_ORDER],
}

/// Whether Python's `str.split()` splits at this character: Unicode `White_Space` plus the four
/// information separators U+001C..U+001F, which Python also treats as whitespace.
fn is_python_whitespace(character: char) -> bool {
    character.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&character)
}

impl CharNgrams {
    /// Extracts the n-grams of `text` with whitespace removed, as sacrebleu's
    /// `extract_all_char_ngrams(line, 6, include_whitespace=False)`.
    ///
    /// One sort serves every order: each position's window of up to 6 characters is packed with
    /// its first character in the high bits (scalar + 1, so that 0 marks "past the end"); sorted
    /// windows are sorted by every prefix, so each order's equal n-grams are consecutive.
    pub fn new(text: &str) -> CharNgrams {
        let characters: Vec<u128> = text
            .chars()
            .filter(|&character| !is_python_whitespace(character))
            .map(|character| u128::from(u32::from(character)) + 1)
            .collect();
        // Built from the end: each window is the next one shifted down one character, with this
        // position's character on top.
        let mut windows: Vec<u128> = vec![0; characters.len()];
        let mut window = 0_u128;
        for (slot, &character) in windows.iter_mut().zip(&characters).rev() {
            window = (window >> 21) | (character << (21 * (CHAR_ORDER - 1)));
            *slot = window;
        }
        windows.sort_unstable();
        let orders = std::array::from_fn(|order_index| {
            let shift = 21 * (CHAR_ORDER - order_index - 1);
            let mut counted: Vec<(u128, u32)> = Vec::new();
            for window in &windows {
                let gram = window >> shift;
                // The order's last character is 0 past the end of the text: no n-gram there.
                if gram.trailing_zeros() >= 21 {
                    continue;
                }
                match counted.last_mut() {
                    Some((last, count)) if *last == gram => *count += 1,
                    _ => counted.push((gram, 1)),
                }
            }
            counted
        });
        CharNgrams { orders }
    }
}

/// Match statistics of one order: hypothesis n-grams, reference n-grams, clipped matches.
fn match_statistics(hypothesis: &[(u128, u32)], reference: &[(u128, u32)]) -> (u64, u64, u64) {
    let hypothesis_count: u64 = hypothesis.iter().map(|&(_, count)| u64::from(count)).sum();
    let reference_count: u64 = reference.iter().map(|&(_, count)| u64::from(count)).sum();
    let (mut left, mut right, mut matches) = (0, 0, 0_u64);
    while left < hypothesis.len() && right < reference.len() {
        let (hypothesis_gram, hypothesis_n) = hypothesis[left];
        let (reference_gram, reference_n) = reference[right];
        match hypothesis_gram.cmp(&reference_gram) {
            std::cmp::Ordering::Less => left += 1,
            std::cmp::Ordering::Greater => right += 1,
            std::cmp::Ordering::Equal => {
                matches += u64::from(hypothesis_n.min(reference_n));
                left += 1;
                right += 1;
            }
        }
    }
    // sacrebleu counts no hypothesis n-grams of an order the reference has none of.
    let hypothesis_count = if reference.is_empty() {
        0
    } else {
        hypothesis_count
    };
    (hypothesis_count, reference_count, matches)
}

/// Sentence-level chrF of `hypothesis` against one `reference`, on sacrebleu's 0–100 scale
/// (`CHRF().sentence_score(hypothesis, [reference]).score`).
pub fn chrf(hypothesis: &CharNgrams, reference: &CharNgrams) -> f64 {
    let statistics: [(u64, u64, u64); CHAR_ORDER] = std::array::from_fn(|order| {
        match_statistics(&hypothesis.orders[order], &reference.orders[order])
    });
    score(&statistics)
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
    let forward: [(u64, u64, u64); CHAR_ORDER] =
        std::array::from_fn(|order| match_statistics(&first.orders[order], &second.orders[order]));
    let backward = forward.map(|(first_count, second_count, matches)| {
        // `match_statistics` zeroes the hypothesis count when the reference has none.
        let first_total = if first_count == 0 && second_count > 0 {
            0
        } else {
            first_count
        };
        (
            if first_total == 0 { 0 } else { second_count },
            first_total,
            matches,
        )
    });
    (score(&forward) + score(&backward)) / 200.0
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

    #[test]
    fn whitespace_is_ignored_and_case_kept() {
        assert!((chrf_text("a b c", "abc") - 100.0).abs() < 1e-12);
        assert!(chrf_text("ABC", "abc") < 1.0);
    }
}
