//! Exact distributions: every value is kept (as counts per distinct value), so percentiles are
//! exact for any number of turns, with memory bounded by the number of distinct values rather
//! than by the number of turns.
//!
//! Token counts are integers with a few hundred thousand distinct values at most, counted in a
//! dense array indexed by value; durations and ratios are counted per distinct `f64`. Means are
//! summed in value order, so the result is the same whatever order the values arrived in, and
//! partial distributions merge exactly (for a parallel scan).

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use super::report::{Figure, HistogramBin, HistogramScale, Summary};

/// Quantiles reported for every distribution, as (name, q).
pub const QUANTILES: [(&str, f64); 7] = [
    ("p5", 0.05),
    ("p25", 0.25),
    ("p50", 0.50),
    ("p75", 0.75),
    ("p90", 0.90),
    ("p95", 0.95),
    ("p99", 0.99),
];

/// The percentile definition, stated in every report.
pub const PERCENTILE_DEFINITION: &str = "nearest rank: the q-quantile of n values is the \
    ceil(q*n)-th smallest (1-based, at least the 1st; q*n in double precision), always one of \
    the values; identical to DuckDB's quantile_disc";

/// Integer values below this are counted in the dense array; larger ones in a sorted map.
const DENSE_LIMIT: u64 = 1 << 22;

/// Linear histogram bins of ratios per unit: bin k holds `k/20 <= value < (k+1)/20`, with the
/// bounds the nearest doubles to those fractions (so 0.85 is in `[0.85, 0.9)`), and 1.0 in the
/// last bin.
pub(super) const RATIO_BINS: f64 = 20.0;

/// The linear bin of a ratio (see `RATIO_BINS`), 0..=19.
fn ratio_bin(value: f64) -> u32 {
    let mut index = (value * RATIO_BINS).floor().clamp(0.0, RATIO_BINS - 1.0);
    // `value * 20` can round across an integer; the bounds as printed decide.
    if index > 0.0 && value < index / RATIO_BINS {
        index -= 1.0;
    } else if index < RATIO_BINS - 1.0 && value >= (index + 1.0) / RATIO_BINS {
        index += 1.0;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "clamped to 0..=19"
    )]
    let index = index as u32;
    index
}

/// An exact distribution of non-negative integers (token counts, turns).
#[derive(Debug, Clone, Default)]
pub struct IntegerDistribution {
    dense: Vec<u32>,
    sparse: BTreeMap<u64, u64>,
    count: u64,
}

impl IntegerDistribution {
    /// Adds one value.
    pub fn add(&mut self, value: u64) {
        self.count += 1;
        if value < DENSE_LIMIT {
            let Ok(index) = usize::try_from(value) else {
                unreachable!("values below DENSE_LIMIT fit in usize")
            };
            if index >= self.dense.len() {
                self.dense
                    .resize((index + 1).next_power_of_two().max(64), 0);
            }
            if let Some(slot) = self.dense.get_mut(index) {
                if *slot == u32::MAX {
                    *self.sparse.entry(value).or_default() += u64::from(u32::MAX);
                    *slot = 0;
                }
                *slot += 1;
            }
        } else {
            *self.sparse.entry(value).or_default() += 1;
        }
    }

    /// Number of values.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &IntegerDistribution) {
        for (value, count) in other.counts() {
            self.add_many(value, count);
        }
    }

    fn add_many(&mut self, value: u64, count: u64) {
        if count == 0 {
            return;
        }
        self.count += count;
        *self.sparse.entry(value).or_default() += count;
    }

    /// (value, count) pairs in increasing value order.
    fn counts(&self) -> Vec<(u64, u64)> {
        let mut merged: BTreeMap<u64, u64> = self.sparse.clone();
        for (value, &count) in self.dense.iter().enumerate() {
            if count > 0 {
                *merged.entry(value as u64).or_default() += u64::from(count);
            }
        }
        merged.into_iter().collect()
    }

    /// The summary: count, mean, extremes, quantiles and a log2-binned histogram.
    pub fn summary(&self) -> Summary {
        let counts = self.counts();
        let total: u128 = counts
            .iter()
            .map(|&(value, count)| u128::from(value) * u128::from(count))
            .sum();
        #[allow(clippy::cast_precision_loss, reason = "a mean is a float")]
        let mean = (self.count > 0).then(|| total as f64 / self.count as f64);
        let ordered: Vec<(Figure, u64)> = counts
            .iter()
            .map(|&(value, count)| (Figure::integer(value), count))
            .collect();
        let mut histogram: Vec<HistogramBin> = Vec::new();
        for &(value, count) in &counts {
            let (lower, upper) = if value == 0 {
                (0, 1)
            } else {
                let power = value.ilog2();
                (
                    1u64 << power,
                    1u64.checked_shl(power + 1).unwrap_or(u64::MAX),
                )
            };
            push_bin(
                &mut histogram,
                Some(Figure::integer(lower)),
                Figure::integer(upper),
                count,
            );
        }
        summarize(&ordered, self.count, mean, HistogramScale::Log2, histogram)
    }
}

/// An exact distribution of real values (milliseconds, ratios).
#[derive(Debug, Clone, Default)]
pub struct RealDistribution {
    counts: FxHashMap<u64, u64>,
    count: u64,
    non_finite: u64,
}

impl RealDistribution {
    /// Adds one value; NaN and infinities are counted apart and left out of the figures.
    pub fn add(&mut self, value: f64) {
        if !value.is_finite() {
            self.non_finite += 1;
            return;
        }
        // -0.0 and 0.0 are one value.
        let value = if value == 0.0 { 0.0 } else { value };
        self.count += 1;
        *self.counts.entry(value.to_bits()).or_default() += 1;
    }

    /// Number of finite values.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &RealDistribution) {
        for (&bits, &count) in &other.counts {
            *self.counts.entry(bits).or_default() += count;
        }
        self.count += other.count;
        self.non_finite += other.non_finite;
    }

    fn sorted(&self) -> Vec<(f64, u64)> {
        let mut values: Vec<(f64, u64)> = self
            .counts
            .iter()
            .map(|(&bits, &count)| (f64::from_bits(bits), count))
            .collect();
        values.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        values
    }

    /// The summary; `scale` picks log2 bins (durations) or linear bins of 0.05 (ratios in 0..1).
    pub fn summary(&self, scale: HistogramScale) -> Summary {
        let values = self.sorted();
        #[allow(clippy::cast_precision_loss, reason = "a mean is a float")]
        let mean = (self.count > 0).then(|| {
            let total: f64 = values
                .iter()
                .map(|&(value, count)| value * count as f64)
                .sum();
            total / self.count as f64
        });
        let mut histogram: Vec<HistogramBin> = Vec::new();
        for &(value, count) in &values {
            let (lower, upper) = match scale {
                HistogramScale::Log2 => {
                    if value < 1.0 {
                        (if value < 0.0 { None } else { Some(0.0) }, 1.0)
                    } else {
                        let power = value.log2().floor();
                        let mut lower = power.exp2();
                        // log2 of a value just below a power of two can round up to it.
                        if lower > value {
                            lower /= 2.0;
                        }
                        (Some(lower), lower * 2.0)
                    }
                }
                HistogramScale::Linear => {
                    let index = f64::from(ratio_bin(value));
                    (Some(index / RATIO_BINS), (index + 1.0) / RATIO_BINS)
                }
            };
            push_bin(
                &mut histogram,
                lower.map(Figure::real),
                Figure::real(upper),
                count,
            );
        }
        let ordered: Vec<(Figure, u64)> = values
            .iter()
            .map(|&(value, count)| (Figure::real(value), count))
            .collect();
        let mut summary = summarize(&ordered, self.count, mean, scale, histogram);
        summary.non_finite = self.non_finite;
        summary
    }
}

fn push_bin(histogram: &mut Vec<HistogramBin>, lower: Option<Figure>, upper: Figure, count: u64) {
    match histogram.last_mut() {
        Some(last) if last.lower == lower => last.count += count,
        _ => histogram.push(HistogramBin {
            lower,
            upper,
            count,
        }),
    }
}

/// The 1-based rank of the q-quantile of `n` values (see `PERCENTILE_DEFINITION`).
pub fn nearest_rank(n: u64, q: f64) -> u64 {
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "the rank is computed in double precision, as DuckDB does"
    )]
    let rank = (n as f64 * q).ceil() as u64;
    rank.clamp(1, n.max(1))
}

fn summarize(
    ordered: &[(Figure, u64)],
    count: u64,
    mean: Option<f64>,
    scale: HistogramScale,
    histogram: Vec<HistogramBin>,
) -> Summary {
    let mut quantiles = Vec::with_capacity(QUANTILES.len());
    let mut iterator = ordered.iter();
    let mut seen = 0u64;
    let mut current: Option<Figure> = None;
    for &(_, q) in &QUANTILES {
        let rank = nearest_rank(count, q);
        while seen < rank {
            let Some(&(value, n)) = iterator.next() else {
                break;
            };
            seen += n;
            current = Some(value);
        }
        quantiles.push(if count == 0 { None } else { current });
    }
    let [p5, p25, p50, p75, p90, p95, p99] = quantiles[..] else {
        unreachable!("seven quantiles")
    };
    Summary {
        count,
        non_finite: 0,
        mean: mean.map(Figure::real),
        min: ordered.first().map(|&(value, _)| value),
        p5,
        p25,
        p50,
        p75,
        p90,
        p95,
        p99,
        max: ordered.last().map(|&(value, _)| value),
        histogram_scale: scale,
        histogram,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted_quantile(values: &mut [u64], q: f64) -> u64 {
        values.sort_unstable();
        let rank = nearest_rank(u64::try_from(values.len()).unwrap(), q);
        values[usize::try_from(rank).unwrap() - 1]
    }

    #[test]
    fn integer_quantiles_equal_nearest_rank_on_the_sorted_values() {
        let mut state = 7u64;
        for n in [1usize, 2, 3, 19, 20, 21, 100, 1001] {
            let mut values: Vec<u64> = (0..n)
                .map(|_| {
                    state = state
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1);
                    (state >> 33) % 5000
                        + if state.is_multiple_of(7) {
                            DENSE_LIMIT
                        } else {
                            0
                        }
                })
                .collect();
            let mut distribution = IntegerDistribution::default();
            for &value in &values {
                distribution.add(value);
            }
            let summary = distribution.summary();
            assert_eq!(summary.count, n as u64);
            let figures = [
                summary.p5,
                summary.p25,
                summary.p50,
                summary.p75,
                summary.p90,
                summary.p95,
                summary.p99,
            ];
            for ((_, q), figure) in QUANTILES.iter().zip(figures) {
                assert_eq!(
                    figure,
                    Some(Figure::integer(sorted_quantile(&mut values, *q))),
                    "n={n} q={q}"
                );
            }
            let histogram_total: u64 = summary.histogram.iter().map(|bin| bin.count).sum();
            assert_eq!(histogram_total, n as u64);
        }
    }

    #[test]
    fn merging_gives_the_same_summary_as_one_pass() {
        let mut whole = RealDistribution::default();
        let mut left = RealDistribution::default();
        let mut right = RealDistribution::default();
        for index in 0..500u32 {
            let value = f64::from(index).sqrt() * 13.7;
            whole.add(value);
            if index % 3 == 0 {
                left.add(value);
            } else {
                right.add(value);
            }
        }
        right.merge(&left);
        assert_eq!(
            serde_json::to_string(&whole.summary(HistogramScale::Log2)).unwrap(),
            serde_json::to_string(&right.summary(HistogramScale::Log2)).unwrap()
        );
    }

    #[test]
    fn ratio_bins_follow_their_printed_bounds() {
        for k in 0..20u32 {
            let lower = f64::from(k) / RATIO_BINS;
            assert_eq!(ratio_bin(lower), k, "{lower}");
            let below = f64::from_bits(lower.to_bits().saturating_sub(1));
            if k > 0 {
                assert_eq!(ratio_bin(below), k - 1, "{below}");
            }
        }
        assert_eq!(ratio_bin(0.85), 17);
        assert_eq!(ratio_bin(1.0), 19);
        assert_eq!(ratio_bin(0.0), 0);
    }

    #[test]
    fn empty_and_non_finite_values_give_nulls_not_nan() {
        let mut distribution = RealDistribution::default();
        distribution.add(f64::NAN);
        distribution.add(f64::INFINITY);
        let summary = distribution.summary(HistogramScale::Log2);
        assert_eq!(summary.count, 0);
        assert_eq!(summary.non_finite, 2);
        let text = serde_json::to_string(&summary).unwrap();
        assert!(
            !text.contains("NaN") && text.contains("\"mean\":null"),
            "{text}"
        );
    }
}
