//! `trajkit sample`: a seeded sample of whole sessions, uniform or shaped to a workload profile.
//!
//! Sessions are ordered by a seeded hash of their id (XXH3-64), so a sample depends only on the
//! seed and the ids, never on the thread count or the dataset's order, and a larger uniform
//! sample contains every smaller one of the same seed.
//!
//! Stratified sampling takes the profile's bounds (`min ≥`, `max ≤`) as hard conditions on a
//! session's turns and its `≈` targets (mean, percentiles) as the objective: sessions are added
//! one at a time, each the best of the next `POOL` candidates in seeded order by how far the
//! sample's figures would then be from the targets (relative distance, summed). The figures of
//! the objective use fine log bins (2.2% wide) for percentiles; the report the command prints
//! afterwards computes the sample's figures exactly, like `stats --profile`.

use super::{TransformError, session_hash};
use crate::dataset::DatasetIndex;
use crate::dataset::ScanColumns;
use crate::stats::profile::Profile;

/// Candidates weighed at each step of a stratified sample.
pub const POOL: usize = 64;

/// How many sessions a sample takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SampleSize {
    /// This many sessions (all, when fewer are eligible).
    Sessions(u64),
    /// This fraction of the eligible sessions, rounded to the nearest session.
    Fraction(f64),
    /// Sessions in seeded order until at least this many turns are taken.
    Turns(u64),
}

/// Per-session figures the sampler decides on.
#[derive(Debug, Clone, Default)]
pub struct SessionFigures {
    /// Input tokens of each turn (reported, else counted), where known.
    pub input: Vec<u64>,
    /// Output tokens of each turn (reported, else counted), where known.
    pub output: Vec<u64>,
}

/// Reads every session's turn figures with a column scan.
pub fn session_figures(index: &DatasetIndex) -> Result<Vec<SessionFigures>, TransformError> {
    let sessions = index.sessions();
    let mut figures = vec![SessionFigures::default(); sessions.len()];
    let mut boundaries: Vec<(u64, usize)> = sessions
        .iter()
        .enumerate()
        .map(|(position, session)| {
            (
                session.turn_row_offset + u64::from(session.turn_count),
                position,
            )
        })
        .collect();
    boundaries.sort_unstable();
    let mut row = 0u64;
    let mut cursor = 0usize;
    for batch in index.scan_turns(ScanColumns::default(), None)? {
        let batch = batch?;
        for position in 0..batch.len() {
            while cursor < boundaries.len() && boundaries[cursor].0 <= row {
                cursor += 1;
            }
            if let Some(&(_, session)) = boundaries.get(cursor) {
                let facts = batch.facts(position);
                let entry = &mut figures[session];
                entry.input.extend(facts.input_tokens());
                entry
                    .output
                    .extend(facts.output_tokens_reported.or(facts.output_tokens_counted));
            }
            row += 1;
        }
    }
    Ok(figures)
}

/// Session indexes in seeded order.
pub fn seeded_order(index: &DatasetIndex, seed: u64) -> Vec<usize> {
    let mut order: Vec<(u64, &str, usize)> = index
        .sessions()
        .iter()
        .enumerate()
        .map(|(position, session)| {
            (
                session_hash(&session.session_id, seed),
                session.session_id.as_str(),
                position,
            )
        })
        .collect();
    order.sort_unstable();
    order.into_iter().map(|(_, _, position)| position).collect()
}

/// A uniform sample: the first sessions of the seeded order. Returns the chosen session indexes
/// in dataset order.
pub fn uniform(index: &DatasetIndex, seed: u64, size: SampleSize) -> Vec<usize> {
    let order = seeded_order(index, seed);
    take(&order, index, size)
}

fn take(order: &[usize], index: &DatasetIndex, size: SampleSize) -> Vec<usize> {
    let mut chosen: Vec<usize> = match size {
        SampleSize::Sessions(count) => order
            .iter()
            .copied()
            .take(usize::try_from(count).unwrap_or(usize::MAX))
            .collect(),
        SampleSize::Fraction(fraction) => {
            #[allow(
                clippy::cast_precision_loss,
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "a fraction in [0, 1] of a session count"
            )]
            let count = (order.len() as f64 * fraction.clamp(0.0, 1.0)).round() as usize;
            order.iter().copied().take(count).collect()
        }
        SampleSize::Turns(turns) => {
            let mut taken = 0u64;
            order
                .iter()
                .copied()
                .take_while(|&position| {
                    let more = taken < turns;
                    taken += u64::from(index.sessions()[position].turn_count);
                    more
                })
                .collect()
        }
    };
    chosen.sort_unstable();
    chosen
}

/// A hard condition from a profile bound.
#[derive(Debug, Clone, Copy)]
struct Condition {
    metric: MetricKind,
    at_least: Option<f64>,
    at_most: Option<f64>,
}

/// A soft target from a profile `about` figure.
#[derive(Debug, Clone, Copy)]
struct Objective {
    metric: MetricKind,
    statistic: Statistic,
    about: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MetricKind {
    Input,
    Output,
    Turns,
}

#[derive(Debug, Clone, Copy)]
enum Statistic {
    Mean,
    Percentile(f64),
}

/// What a profile asks of a sample, split into the parts the sampler can use.
#[derive(Debug, Clone, Default)]
pub struct ProfileTargets {
    conditions: Vec<Condition>,
    objectives: Vec<Objective>,
    /// Targets the sampler cannot steer toward (other metrics or statistics), by `metric statistic`.
    pub ignored: Vec<String>,
}

impl ProfileTargets {
    /// Splits a profile's targets.
    pub fn of(profile: &Profile) -> ProfileTargets {
        let mut targets = ProfileTargets::default();
        for target in &profile.targets {
            let metric = match target.metric.as_str() {
                "input_tokens" => MetricKind::Input,
                "output_tokens" => MetricKind::Output,
                "turns_per_session" => MetricKind::Turns,
                _ => {
                    targets
                        .ignored
                        .push(format!("{} {}", target.metric, target.statistic));
                    continue;
                }
            };
            let statistic = target.statistic.as_str();
            let mut used = false;
            if (statistic == "min" && target.at_least.is_some())
                || (statistic == "max" && target.at_most.is_some())
            {
                targets.conditions.push(Condition {
                    metric,
                    at_least: target.at_least.filter(|_| statistic == "min"),
                    at_most: target.at_most.filter(|_| statistic == "max"),
                });
                used = true;
            }
            if let Some(about) = target.about {
                let statistic = match statistic {
                    "mean" => Some(Statistic::Mean),
                    other => other
                        .strip_prefix('p')
                        .and_then(|digits| digits.parse::<f64>().ok())
                        .filter(|p| (0.0..=100.0).contains(p))
                        .map(|p| Statistic::Percentile(p / 100.0)),
                };
                if let Some(statistic) = statistic {
                    targets.objectives.push(Objective {
                        metric,
                        statistic,
                        about,
                    });
                    used = true;
                }
            }
            if !used {
                targets
                    .ignored
                    .push(format!("{} {}", target.metric, target.statistic));
            }
        }
        targets
    }

    #[allow(
        clippy::cast_precision_loss,
        reason = "token counts compared with bounds"
    )]
    fn admits(&self, figures: &SessionFigures, turns: u32) -> bool {
        self.conditions.iter().all(|condition| {
            let values: Vec<f64> = match condition.metric {
                MetricKind::Input => figures.input.iter().map(|&v| v as f64).collect(),
                MetricKind::Output => figures.output.iter().map(|&v| v as f64).collect(),
                MetricKind::Turns => vec![f64::from(turns)],
            };
            values.iter().all(|&value| {
                condition.at_least.is_none_or(|low| value >= low)
                    && condition.at_most.is_none_or(|high| value <= high)
            })
        })
    }
}

/// Log-binned counts with exact sums: percentiles to 2.2%, means exact.
#[derive(Debug, Clone)]
struct Tally {
    bins: Vec<u64>,
    count: u64,
    sum: u128,
}

const BINS_PER_DOUBLING: f64 = 32.0;
const BIN_COUNT: usize = 40 * 32;

impl Tally {
    fn new() -> Tally {
        Tally {
            bins: vec![0; BIN_COUNT],
            count: 0,
            sum: 0,
        }
    }

    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a log-scale bin index of a count"
    )]
    fn bin(value: u64) -> usize {
        (((value as f64) + 1.0).log2() * BINS_PER_DOUBLING).min((BIN_COUNT - 1) as f64) as usize
    }

    fn add(&mut self, values: &[u64], sign: bool) {
        for &value in values {
            let bin = &mut self.bins[Tally::bin(value)];
            if sign {
                *bin += 1;
                self.count += 1;
                self.sum += u128::from(value);
            } else {
                *bin -= 1;
                self.count -= 1;
                self.sum -= u128::from(value);
            }
        }
    }

    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "statistics of counts"
    )]
    fn statistic(&self, statistic: Statistic) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        match statistic {
            Statistic::Mean => Some(self.sum as f64 / self.count as f64),
            Statistic::Percentile(q) => {
                let rank = ((q * self.count as f64).ceil() as u64).max(1);
                let mut seen = 0;
                for (bin, &count) in self.bins.iter().enumerate() {
                    seen += count;
                    if seen >= rank {
                        return Some(2f64.powf((bin as f64 + 0.5) / BINS_PER_DOUBLING) - 1.0);
                    }
                }
                None
            }
        }
    }
}

/// What a stratified sample did.
#[derive(Debug, Clone)]
pub struct StratifiedSample {
    /// Chosen session indexes, in dataset order.
    pub chosen: Vec<usize>,
    /// Sessions the profile's bounds excluded.
    pub excluded: u64,
    /// Targets the sampler could not steer toward.
    pub ignored: Vec<String>,
}

/// A sample shaped to `targets`.
pub fn stratified(
    index: &DatasetIndex,
    figures: &[SessionFigures],
    targets: &ProfileTargets,
    seed: u64,
    size: SampleSize,
) -> StratifiedSample {
    let sessions = index.sessions();
    let order = seeded_order(index, seed);
    let eligible: Vec<usize> = order
        .iter()
        .copied()
        .filter(|&position| targets.admits(&figures[position], sessions[position].turn_count))
        .collect();
    let excluded = (order.len() - eligible.len()) as u64;
    let wanted_sessions = match size {
        SampleSize::Sessions(count) => usize::try_from(count).unwrap_or(usize::MAX),
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a fraction in [0, 1] of a session count"
        )]
        SampleSize::Fraction(fraction) => {
            (eligible.len() as f64 * fraction.clamp(0.0, 1.0)).round() as usize
        }
        SampleSize::Turns(_) => usize::MAX,
    };
    let wanted_turns = match size {
        SampleSize::Turns(turns) => turns,
        _ => u64::MAX,
    };

    let mut input = Tally::new();
    let mut output = Tally::new();
    let mut turns = Tally::new();
    let mut remaining = eligible;
    let mut chosen = Vec::new();
    let mut taken_turns = 0u64;
    while chosen.len() < wanted_sessions && taken_turns < wanted_turns && !remaining.is_empty() {
        let pool = remaining.len().min(POOL);
        let mut best: Option<(f64, usize)> = None;
        for (slot, &candidate) in remaining[..pool].iter().enumerate() {
            let figure = &figures[candidate];
            let turn_count = [u64::from(sessions[candidate].turn_count)];
            input.add(&figure.input, true);
            output.add(&figure.output, true);
            turns.add(&turn_count, true);
            let distance = distance(&targets.objectives, &input, &output, &turns);
            input.add(&figure.input, false);
            output.add(&figure.output, false);
            turns.add(&turn_count, false);
            if best.is_none_or(|(best_distance, _)| distance < best_distance) {
                best = Some((distance, slot));
            }
        }
        let Some((_, slot)) = best else { break };
        let candidate = remaining.remove(slot);
        let figure = &figures[candidate];
        input.add(&figure.input, true);
        output.add(&figure.output, true);
        turns.add(&[u64::from(sessions[candidate].turn_count)], true);
        taken_turns += u64::from(sessions[candidate].turn_count);
        chosen.push(candidate);
    }
    chosen.sort_unstable();
    StratifiedSample {
        chosen,
        excluded,
        ignored: targets.ignored.clone(),
    }
}

fn distance(objectives: &[Objective], input: &Tally, output: &Tally, turns: &Tally) -> f64 {
    objectives
        .iter()
        .map(|objective| {
            let tally = match objective.metric {
                MetricKind::Input => input,
                MetricKind::Output => output,
                MetricKind::Turns => turns,
            };
            tally.statistic(objective.statistic).map_or(1.0, |value| {
                (value - objective.about).abs() / objective.about.abs().max(1.0)
            })
        })
        .sum()
}
