//! The statistics of a verdict: for each metric, per-turn paired differences
//! d = (reference↔reference agreement) − (candidate↔reference agreement), their mean with a
//! standard error clustered by session, a one-sided upper bound (Student t and a seeded cluster
//! bootstrap; the larger counts), the margin, and the minimum detectable effect
//! (verification.md §5.3 and §7.3).
//!
//! Turns of one session share context, so they are not independent: the standard error treats
//! sessions as the sampling unit, `SE² = C/(C−1) · Σ_c (Σ_{i∈c}(d_i − d̄))² / n²` (the usual
//! small-sample factor on the cluster-robust variance), with C − 1 degrees of freedom.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use rayon::prelude::*;
use statrs::distribution::{ContinuousCDF, StudentsT};

/// One turn's paired agreements for one metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Paired {
    /// Session (cluster) of the turn; turns of a session are contiguous.
    pub session: u32,
    /// Candidate↔reference agreement (mean over references).
    pub candidate: f64,
    /// Reference↔reference agreement (mean over reference pairs).
    pub reference: f64,
}

/// The test of one metric.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricStatistics {
    /// Turns with a defined difference.
    pub turns: u64,
    /// Sessions among them.
    pub sessions: u64,
    /// Mean candidate↔reference agreement.
    pub candidate_agreement: f64,
    /// Mean reference↔reference agreement.
    pub reference_agreement: f64,
    /// Mean difference (positive: the candidate agrees less).
    pub difference: f64,
    /// Session-clustered standard error of the mean difference (NaN with fewer than 2 sessions).
    pub standard_error: f64,
    /// t upper bound at 1 − α.
    pub t_upper: f64,
    /// Cluster-bootstrap upper bound at 1 − α, when resampled.
    pub bootstrap_upper: Option<f64>,
    /// The bound that counts: the larger of the two.
    pub upper: f64,
    /// t lower bound at 1 − α (the suspicion check).
    pub lower: f64,
    /// Margin: `margin_fraction` × mean reference↔reference agreement.
    pub margin: f64,
    /// Minimum detectable effect, (t(1−α) + t(power)) × SE.
    pub minimum_detectable_effect: f64,
}

/// Settings of a test.
#[derive(Debug, Clone, Copy)]
pub struct TestSettings {
    /// One-sided α.
    pub alpha: f64,
    /// Power for the MDE.
    pub power: f64,
    /// Margin fraction.
    pub margin_fraction: f64,
    /// Bootstrap resamples (0: none).
    pub resamples: u32,
    /// Bootstrap seed.
    pub seed: u64,
}

fn t_quantile(probability: f64, degrees_of_freedom: f64) -> f64 {
    StudentsT::new(0.0, 1.0, degrees_of_freedom).map_or(f64::NAN, |distribution| {
        distribution.inverse_cdf(probability)
    })
}

/// Resamples per bootstrap task: each task has its own seeded generator, so the result does not
/// depend on how many threads run them.
const RESAMPLES_PER_TASK: u32 = 500;

/// `(1 − α)` nearest-rank percentile of the mean difference over cluster resamples.
#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "counts are far below 2^52; the rank is within 1..=resamples"
)]
fn bootstrap_upper(clusters: &[(f64, u64)], settings: TestSettings) -> Option<f64> {
    if settings.resamples == 0 || clusters.len() < 2 {
        return None;
    }
    let count = clusters.len() as u64;
    let tasks = settings.resamples.div_ceil(RESAMPLES_PER_TASK);
    let mut means: Vec<f64> = (0..tasks)
        .into_par_iter()
        .flat_map_iter(|task| {
            let mut generator = ChaCha8Rng::seed_from_u64(
                settings.seed ^ u64::from(task).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            );
            let size = RESAMPLES_PER_TASK.min(settings.resamples - task * RESAMPLES_PER_TASK);
            (0..size)
                .map(|_| {
                    // Four partial sums: one running sum would make every draw wait for the
                    // previous addition.
                    let (mut sums, mut turns) = ([0.0_f64; 4], 0_u64);
                    for draw in 0..count {
                        // Lemire's multiply-shift: an index in 0..count without division.
                        let index =
                            ((u128::from(generator.next_u64()) * u128::from(count)) >> 64) as usize;
                        let (cluster_sum, cluster_turns) = clusters[index];
                        sums[(draw % 4) as usize] += cluster_sum;
                        turns += cluster_turns;
                    }
                    ((sums[0] + sums[1]) + (sums[2] + sums[3])) / turns as f64
                })
                .collect::<Vec<f64>>()
        })
        .collect();
    means.sort_by(f64::total_cmp);
    let rank = ((1.0 - settings.alpha) * means.len() as f64).ceil() as usize;
    means.get(rank.clamp(1, means.len()) - 1).copied()
}

/// Tests one metric from its per-turn pairs (in session order).
#[allow(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
pub fn test(pairs: &[Paired], settings: TestSettings) -> MetricStatistics {
    let turns = pairs.len();
    let n = turns as f64;
    let mean = |values: &mut dyn Iterator<Item = f64>| {
        if turns == 0 {
            f64::NAN
        } else {
            values.sum::<f64>() / n
        }
    };
    let candidate_agreement = mean(&mut pairs.iter().map(|pair| pair.candidate));
    let reference_agreement = mean(&mut pairs.iter().map(|pair| pair.reference));
    let difference = mean(&mut pairs.iter().map(|pair| pair.reference - pair.candidate));
    // Per-session sums of d and of (d − d̄), in order.
    let mut clusters: Vec<(f64, u64)> = Vec::new();
    let mut centred: Vec<f64> = Vec::new();
    let mut last_session = None;
    for pair in pairs {
        let value = pair.reference - pair.candidate;
        if last_session != Some(pair.session) {
            clusters.push((0.0, 0));
            centred.push(0.0);
            last_session = Some(pair.session);
        }
        if let (Some(cluster), Some(deviation)) = (clusters.last_mut(), centred.last_mut()) {
            cluster.0 += value;
            cluster.1 += 1;
            *deviation += value - difference;
        }
    }
    let sessions = clusters.len();
    let cluster_count = sessions as f64;
    let standard_error = if sessions < 2 {
        f64::NAN
    } else {
        let sum_of_squares: f64 = centred.iter().map(|value| value * value).sum();
        (cluster_count / (cluster_count - 1.0) * sum_of_squares).sqrt() / n
    };
    let degrees_of_freedom = cluster_count - 1.0;
    let t_alpha = t_quantile(1.0 - settings.alpha, degrees_of_freedom);
    let t_power = t_quantile(settings.power, degrees_of_freedom);
    let t_upper = difference + t_alpha * standard_error;
    let lower = difference - t_alpha * standard_error;
    let bootstrap_upper = bootstrap_upper(&clusters, settings);
    let upper = bootstrap_upper.map_or(t_upper, |bootstrap| bootstrap.max(t_upper));
    MetricStatistics {
        turns: turns as u64,
        sessions: sessions as u64,
        candidate_agreement,
        reference_agreement,
        difference,
        standard_error,
        t_upper,
        bootstrap_upper,
        upper,
        lower,
        margin: settings.margin_fraction * reference_agreement,
        minimum_detectable_effect: (t_alpha + t_power) * standard_error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTINGS: TestSettings = TestSettings {
        alpha: 0.05,
        power: 0.8,
        margin_fraction: 0.03,
        resamples: 2000,
        seed: 1,
    };

    #[test]
    fn clustered_standard_error_matches_a_hand_computation() {
        // Two sessions: d = {0.1, 0.3} and {0.2}; d̄ = 0.2; cluster deviations 0.0 and 0.0 → SE 0.
        let pairs = [
            Paired {
                session: 0,
                candidate: 0.8,
                reference: 0.9,
            },
            Paired {
                session: 0,
                candidate: 0.6,
                reference: 0.9,
            },
            Paired {
                session: 1,
                candidate: 0.7,
                reference: 0.9,
            },
        ];
        let statistics = test(&pairs, SETTINGS);
        assert!((statistics.difference - 0.2).abs() < 1e-12);
        assert!(statistics.standard_error.abs() < 1e-12);
        // Sessions {0.1}, {0.3}: d̄ 0.2, deviations ±0.1 → SE = sqrt(2 · 0.02) / 2 = 0.1.
        let pairs = [
            Paired {
                session: 0,
                candidate: 0.8,
                reference: 0.9,
            },
            Paired {
                session: 1,
                candidate: 0.6,
                reference: 0.9,
            },
        ];
        let statistics = test(&pairs, SETTINGS);
        assert!((statistics.standard_error - 0.1).abs() < 1e-12);
        // t(0.95, 1 df) = 6.3138.
        assert!((statistics.t_upper - (0.2 + 6.313_751_514_675_04 * 0.1)).abs() < 1e-6);
    }

    #[test]
    fn bootstrap_is_deterministic_and_thread_independent() {
        let pairs: Vec<Paired> = (0..200)
            .map(|index| Paired {
                session: index / 5,
                candidate: f64::from(index % 7) / 7.0,
                reference: f64::from(index % 3) / 3.0,
            })
            .collect();
        let first = test(&pairs, SETTINGS);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build();
        let second = pool.map(|pool| pool.install(|| test(&pairs, SETTINGS)));
        assert_eq!(Some(first.clone()), second.ok());
        assert!(
            first
                .bootstrap_upper
                .is_some_and(|upper| upper > first.difference)
        );
    }
}
