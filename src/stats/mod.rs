//! Dataset statistics: pure computation over turn facts, producing a `StatsReport`.
//!
//! The caller streams sessions and their turns in dataset order (`begin_session`, `add_turn`);
//! nothing here reads files or prints. Every distribution is exact (see `distribution`), so the
//! report is the same whatever the number of turns, and the same bytes whatever the thread count.

pub mod compare;
pub mod distribution;
pub mod html;
pub mod kv;
pub mod language;
pub mod metric;
pub mod profile;
pub mod render;
pub mod report;
pub mod simulate;

use std::collections::BTreeMap;

pub use crate::dataset::TurnFacts;
use crate::schema::columns::SessionIndexRow;
use distribution::{IntegerDistribution, RealDistribution};
use kv::{REPORTED_BLOCK_SIZES, SessionCache};
use metric::Metric;
use report::{
    BlockHitRate, Distribution, Figure, GroupReport, GrowthBucket, HistogramScale, KvReuse,
};

/// Turn indexes per context-growth bucket.
pub const GROWTH_BUCKET_TURNS: u32 = 10;
/// Number of context-growth buckets; the last is open (`>= 200`).
pub const GROWTH_BUCKETS: u32 = 21;

/// What `--by` groups turns by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    /// The raw log format.
    Source,
    /// The model of each turn (the session's model when the turn has none).
    Model,
    /// The agent.
    Agent,
    /// The session's programming language (from its metadata, else inferred from file names).
    Language,
    /// The session's number of turns, bucketed.
    SessionLengthBucket,
}

impl GroupBy {
    /// Every choice, in `--by` order.
    pub const ALL: [GroupBy; 5] = [
        GroupBy::Source,
        GroupBy::Model,
        GroupBy::Agent,
        GroupBy::Language,
        GroupBy::SessionLengthBucket,
    ];

    /// The `--by` value.
    pub fn name(self) -> &'static str {
        match self {
            GroupBy::Source => "source",
            GroupBy::Model => "model",
            GroupBy::Agent => "agent",
            GroupBy::Language => "language",
            GroupBy::SessionLengthBucket => "session-length-bucket",
        }
    }

    /// Parses a `--by` value.
    pub fn parse(name: &str) -> Option<GroupBy> {
        GroupBy::ALL.into_iter().find(|by| by.name() == name)
    }
}

/// The bucket of a session length, named so that keys sort in length order.
pub fn session_length_bucket(turns: u32) -> &'static str {
    match turns {
        0..10 => "001-009 turns",
        10..25 => "010-024 turns",
        25..50 => "025-049 turns",
        50..100 => "050-099 turns",
        100..200 => "100-199 turns",
        _ => "200+ turns",
    }
}

const UNKNOWN: &str = "unknown";

/// Accumulates one group's figures.
#[derive(Debug, Clone)]
struct GroupAccumulator {
    sessions: u64,
    sub_agent_sessions: u64,
    turns: u64,
    sizes_only_turns: u64,
    turns_in_session: u64,
    last_session: Option<u64>,
    turns_per_session: IntegerDistribution,
    integers: BTreeMap<Metric, IntegerDistribution>,
    reals: BTreeMap<Metric, RealDistribution>,
    growth: Vec<IntegerDistribution>,
    prefix_turns: u64,
    prefix_tokens: u128,
    prefix_input_tokens: u128,
    provider_cached_turns: u64,
    provider_cached_tokens: u128,
    provider_input_tokens: u128,
    block_turns: [u64; 3],
    blocks: [u64; 3],
    hit_blocks: [u64; 3],
}

impl GroupAccumulator {
    fn new() -> GroupAccumulator {
        GroupAccumulator {
            sessions: 0,
            sub_agent_sessions: 0,
            turns: 0,
            sizes_only_turns: 0,
            turns_in_session: 0,
            last_session: None,
            turns_per_session: IntegerDistribution::default(),
            integers: BTreeMap::new(),
            reals: BTreeMap::new(),
            growth: vec![IntegerDistribution::default(); GROWTH_BUCKETS as usize],
            prefix_turns: 0,
            prefix_tokens: 0,
            prefix_input_tokens: 0,
            provider_cached_turns: 0,
            provider_cached_tokens: 0,
            provider_input_tokens: 0,
            block_turns: [0; 3],
            blocks: [0; 3],
            hit_blocks: [0; 3],
        }
    }

    /// Counts the session once and closes the previous session's turn count.
    fn enter_session(&mut self, serial: u64, sub_agent: bool) {
        if self.last_session != Some(serial) {
            self.close_session();
            self.last_session = Some(serial);
            self.sessions += 1;
            self.sub_agent_sessions += u64::from(sub_agent);
        }
    }

    fn close_session(&mut self) {
        if self.last_session.is_some() {
            self.turns_per_session.add(self.turns_in_session);
        }
        self.turns_in_session = 0;
        self.last_session = None;
    }

    fn add_turn(&mut self, facts: &TurnFacts<'_>, derived: &DerivedTurn) {
        self.turns += 1;
        self.turns_in_session += 1;
        self.sizes_only_turns += u64::from(facts.sizes_only);
        for metric in Metric::PER_TURN {
            match metric.value(facts, derived) {
                Some(metric::Value::Integer(value)) => {
                    self.integers.entry(metric).or_default().add(value);
                }
                Some(metric::Value::Real(value)) => {
                    self.reals.entry(metric).or_default().add(value);
                }
                None => {}
            }
        }
        if let Some(input) = facts.input_tokens() {
            let bucket = (facts.turn_index / GROWTH_BUCKET_TURNS).min(GROWTH_BUCKETS - 1);
            self.growth[bucket as usize].add(input);
        }
        if let (Some(prefix), Some(input)) =
            (facts.prefix_tokens_counted, facts.input_tokens_counted)
        {
            self.prefix_turns += 1;
            self.prefix_tokens += u128::from(prefix);
            self.prefix_input_tokens += u128::from(input);
        }
        if let (Some(cached), Some(input)) =
            (facts.cached_tokens_reported, facts.input_tokens_reported)
        {
            self.provider_cached_turns += 1;
            self.provider_cached_tokens += u128::from(cached);
            self.provider_input_tokens += u128::from(input);
        }
        for (index, hits) in derived.block_hits.iter().enumerate() {
            if let Some(hits) = hits {
                self.block_turns[index] += 1;
                self.blocks[index] += hits.blocks;
                self.hit_blocks[index] += hits.hit_blocks;
            }
        }
    }

    /// Adds another accumulator's figures (both with their sessions closed).
    fn merge(&mut self, mut other: GroupAccumulator) {
        self.close_session();
        other.close_session();
        self.sessions += other.sessions;
        self.sub_agent_sessions += other.sub_agent_sessions;
        self.turns += other.turns;
        self.sizes_only_turns += other.sizes_only_turns;
        self.turns_per_session.merge(&other.turns_per_session);
        for (metric, distribution) in other.integers {
            self.integers
                .entry(metric)
                .or_default()
                .merge(&distribution);
        }
        for (metric, distribution) in other.reals {
            self.reals.entry(metric).or_default().merge(&distribution);
        }
        for (mine, theirs) in self.growth.iter_mut().zip(&other.growth) {
            mine.merge(theirs);
        }
        self.prefix_turns += other.prefix_turns;
        self.prefix_tokens += other.prefix_tokens;
        self.prefix_input_tokens += other.prefix_input_tokens;
        self.provider_cached_turns += other.provider_cached_turns;
        self.provider_cached_tokens += other.provider_cached_tokens;
        self.provider_input_tokens += other.provider_input_tokens;
        for index in 0..REPORTED_BLOCK_SIZES.len() {
            self.block_turns[index] += other.block_turns[index];
            self.blocks[index] += other.blocks[index];
            self.hit_blocks[index] += other.hit_blocks[index];
        }
    }

    fn finish(mut self, key: String) -> GroupReport {
        self.close_session();
        let mut distributions = Vec::with_capacity(Metric::ALL.len());
        for metric in Metric::ALL {
            let summary = if metric == Metric::TurnsPerSession {
                self.turns_per_session.summary()
            } else if metric.is_integer() {
                self.integers.remove(&metric).unwrap_or_default().summary()
            } else {
                let scale = if metric.unit() == "ratio" {
                    HistogramScale::Linear
                } else {
                    HistogramScale::Log2
                };
                self.reals
                    .remove(&metric)
                    .unwrap_or_default()
                    .summary(scale)
            };
            distributions.push(Distribution {
                metric: metric.id().to_owned(),
                label: metric.label().to_owned(),
                unit: metric.unit().to_owned(),
                definition: metric.definition().to_owned(),
                summary,
            });
        }
        let context_growth = self
            .growth
            .iter()
            .zip(0u32..)
            .map(|(distribution, bucket)| {
                let summary = distribution.summary();
                GrowthBucket {
                    first_turn_index: bucket * GROWTH_BUCKET_TURNS,
                    last_turn_index: (bucket + 1 < GROWTH_BUCKETS)
                        .then(|| (bucket + 1) * GROWTH_BUCKET_TURNS - 1),
                    turns: summary.count,
                    median: summary.p50,
                    p90: summary.p90,
                }
            })
            .collect();
        let block_hit_rates = REPORTED_BLOCK_SIZES
            .iter()
            .enumerate()
            .map(|(index, &block_size)| BlockHitRate {
                block_size,
                turns: self.block_turns[index],
                blocks: self.blocks[index],
                hit_blocks: self.hit_blocks[index],
                hit_rate: Figure::ratio(self.hit_blocks[index], self.blocks[index]),
            })
            .collect();
        GroupReport {
            key,
            sessions: self.sessions,
            sub_agent_sessions: self.sub_agent_sessions,
            turns: self.turns,
            sizes_only_turns: self.sizes_only_turns,
            distributions,
            context_growth,
            kv_reuse: KvReuse {
                prefix_turns: self.prefix_turns,
                prefix_reuse_token_weighted: ratio_wide(
                    self.prefix_tokens,
                    self.prefix_input_tokens,
                ),
                provider_cached_turns: self.provider_cached_turns,
                provider_cached_share: ratio_wide(
                    self.provider_cached_tokens,
                    self.provider_input_tokens,
                ),
                block_hit_rates,
            },
        }
    }
}

#[allow(clippy::cast_precision_loss, reason = "a ratio is a float")]
fn ratio_wide(numerator: u128, denominator: u128) -> Option<f64> {
    (denominator > 0).then(|| numerator as f64 / denominator as f64)
}

/// Figures of a turn computed from its session's earlier turns.
#[derive(Debug, Clone, Default)]
pub struct DerivedTurn {
    /// Hits at each of `REPORTED_BLOCK_SIZES` (None where the ids cannot be read at that size).
    pub block_hits: [Option<kv::TurnHits>; 3],
    /// Hits at the stored block size.
    pub stored_hits: Option<kv::TurnHits>,
}

/// Builds the overall and per-group reports from sessions and turns in dataset order.
pub struct StatsBuilder {
    group_by: Option<GroupBy>,
    overall: GroupAccumulator,
    groups: BTreeMap<String, GroupAccumulator>,
    cache: SessionCache,
    session_serial: u64,
    session_key: String,
    session_is_sub_agent: bool,
    session_model: Option<String>,
    session_turns_seen: u32,
    session_open: bool,
}

impl StatsBuilder {
    /// A builder grouping by `group_by` (none: only the overall report).
    pub fn new(group_by: Option<GroupBy>) -> StatsBuilder {
        StatsBuilder {
            group_by,
            overall: GroupAccumulator::new(),
            groups: BTreeMap::new(),
            cache: SessionCache::default(),
            session_serial: 0,
            session_key: String::new(),
            session_is_sub_agent: false,
            session_model: None,
            session_turns_seen: 0,
            session_open: false,
        }
    }

    /// Starts a session. `language` is the session's language when grouping by language.
    pub fn begin_session(&mut self, session: &SessionIndexRow, language: Option<&str>) {
        self.end_session();
        self.session_serial += 1;
        self.session_open = true;
        self.session_turns_seen = 0;
        self.session_is_sub_agent = session.parent_session_id.is_some();
        self.session_model.clone_from(&session.model);
        self.session_key = match self.group_by {
            None => String::new(),
            Some(GroupBy::Source) => session.source_format.clone(),
            Some(GroupBy::Model) => session.model.as_deref().unwrap_or(UNKNOWN).to_owned(),
            Some(GroupBy::Agent) => session.agent.as_deref().unwrap_or(UNKNOWN).to_owned(),
            Some(GroupBy::Language) => language.unwrap_or(UNKNOWN).to_owned(),
            Some(GroupBy::SessionLengthBucket) => {
                session_length_bucket(session.turn_count).to_owned()
            }
        };
        self.cache.reset();
        self.overall
            .enter_session(self.session_serial, self.session_is_sub_agent);
    }

    fn end_session(&mut self) {
        if !self.session_open {
            return;
        }
        self.session_open = false;
        if self.session_turns_seen == 0 && self.group_by.is_some() {
            // A session without turns still counts, in its session-level group.
            let serial = self.session_serial;
            let sub_agent = self.session_is_sub_agent;
            let group = self
                .groups
                .entry(self.session_key.clone())
                .or_insert_with(GroupAccumulator::new);
            group.enter_session(serial, sub_agent);
        }
    }

    /// Adds the next turn of the current session.
    pub fn add_turn(&mut self, facts: &TurnFacts<'_>) {
        self.session_turns_seen += 1;
        let mut derived = DerivedTurn::default();
        if let Some(ids) = facts.hash_ids {
            let (per_size, stored) = self.cache.add(ids);
            derived.block_hits = per_size;
            derived.stored_hits = Some(stored);
        }
        self.overall.add_turn(facts, &derived);
        if let Some(group_by) = self.group_by {
            let key = match group_by {
                GroupBy::Model => facts
                    .model
                    .or(self.session_model.as_deref())
                    .unwrap_or(UNKNOWN),
                _ => self.session_key.as_str(),
            };
            let serial = self.session_serial;
            let sub_agent = self.session_is_sub_agent;
            let group = match self.groups.get_mut(key) {
                Some(group) => group,
                None => self
                    .groups
                    .entry(key.to_owned())
                    .or_insert_with(GroupAccumulator::new),
            };
            group.enter_session(serial, sub_agent);
            group.add_turn(facts, &derived);
        }
    }

    /// Adds the figures of a builder that saw other sessions (a parallel scan of another part of
    /// the dataset). Every figure merges exactly (counts per value, integer sums), so the result
    /// does not depend on how the sessions were split.
    pub fn merge(&mut self, mut other: StatsBuilder) {
        self.end_session();
        other.end_session();
        self.overall.merge(other.overall);
        for (key, group) in other.groups {
            self.groups
                .entry(key)
                .or_insert_with(GroupAccumulator::new)
                .merge(group);
        }
    }

    /// The overall report and the group reports (ordered by key).
    pub fn finish(mut self) -> (GroupReport, Vec<GroupReport>) {
        self.end_session();
        let overall = self.overall.finish("all".to_owned());
        let groups = self
            .groups
            .into_iter()
            .map(|(key, group)| group.finish(key))
            .collect();
        (overall, groups)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocks::StoredIds;

    fn session(index: u32, turns: u32) -> SessionIndexRow {
        SessionIndexRow {
            session_id: format!("s{index}"),
            source_format: if index.is_multiple_of(2) { "a" } else { "b" }.to_owned(),
            agent: None,
            model: Some(format!("m{}", index % 3)),
            parent_session_id: (index % 4 == 3).then(|| "s0".to_owned()),
            turn_count: turns,
            message_count: 0,
            turn_row_offset: 0,
            message_row_offset: 0,
            metadata_json: None,
        }
    }

    /// Feeds sessions `range` of a synthetic dataset into a builder.
    fn feed(builder: &mut StatsBuilder, sessions: std::ops::Range<u32>, ids: &[Vec<u64>]) {
        for index in sessions {
            let turns = index % 5; // includes sessions without turns
            builder.begin_session(
                &session(index, turns),
                Some(["Go", "Rust"][index as usize % 2]),
            );
            for turn in 0..turns {
                let value = u64::from(index * 37 + turn * 11);
                let facts = TurnFacts {
                    turn_index: turn,
                    model: (turn % 2 == 0).then_some("turn-model"),
                    input_tokens_counted: Some(value * 10),
                    prefix_tokens_counted: Some(value * 5),
                    output_tokens_reported: Some(value),
                    cached_tokens_reported: Some(value),
                    input_tokens_reported: Some(value * 10),
                    model_latency_ms: Some(f64::from(turn) * 0.37 + f64::from(index)),
                    hash_ids: Some(StoredIds {
                        block_size: 16,
                        prefix_blocks: turn,
                        new_ids: &ids[(index + turn) as usize % ids.len()],
                    }),
                    ..TurnFacts::default()
                };
                builder.add_turn(&facts);
            }
        }
    }

    #[test]
    fn split_and_merged_scans_equal_one_scan_for_every_grouping() {
        let ids: Vec<Vec<u64>> = (0..7u64)
            .map(|k| (k * 100..k * 100 + k + 3).collect())
            .collect();
        for group_by in std::iter::once(None).chain(GroupBy::ALL.map(Some)) {
            let mut whole = StatsBuilder::new(group_by);
            feed(&mut whole, 0..40, &ids);
            let expected = serde_json::to_string(&whole.finish()).unwrap();
            for split in [1, 7, 20, 39] {
                let mut left = StatsBuilder::new(group_by);
                feed(&mut left, 0..split, &ids);
                let mut middle = StatsBuilder::new(group_by);
                feed(&mut middle, split..40, &ids);
                left.merge(middle);
                assert_eq!(
                    serde_json::to_string(&left.finish()).unwrap(),
                    expected,
                    "{group_by:?} split at {split}"
                );
            }
        }
    }
}
