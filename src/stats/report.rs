//! The statistics report: plain serde types, rendered as JSON, text, Markdown or HTML elsewhere.
//!
//! Its JSON shape is published as `schemas/stats-report.schema.json` (generated from these types
//! and checked like the dataset schema). No figure is ever NaN or infinite: a figure that cannot
//! be computed (an empty distribution, a ratio over zero) is `null`.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Serialize, Serializer};

/// Name of the report kind, the first key of the JSON.
pub const REPORT_KIND: &str = "trajkit-stats";
/// Version of the report's JSON shape; bumped when a key changes meaning or disappears.
pub const REPORT_VERSION: &str = "1";

/// A number in a report. Serialized as a JSON integer when it is integral (token counts, turn
/// counts), else as a float; never NaN or infinite (`Figure::real` is only given finite values).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Figure(pub f64);

impl Figure {
    /// An integer figure.
    #[allow(clippy::cast_precision_loss, reason = "counts stay far below 2^53")]
    pub fn integer(value: u64) -> Figure {
        Figure(value as f64)
    }

    /// A real figure.
    pub fn real(value: f64) -> Figure {
        Figure(value)
    }

    /// The value.
    pub fn value(self) -> f64 {
        self.0
    }

    /// A ratio `numerator / denominator`, or `None` when the denominator is zero.
    #[allow(clippy::cast_precision_loss, reason = "a ratio is a float")]
    pub fn ratio(numerator: u64, denominator: u64) -> Option<f64> {
        (denominator > 0).then(|| numerator as f64 / denominator as f64)
    }
}

impl Serialize for Figure {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        const EXACT_INTEGERS: f64 = 9_007_199_254_740_992.0;
        let value = self.0;
        if !value.is_finite() {
            serializer.serialize_none()
        } else if value.fract() == 0.0 && value.abs() < EXACT_INTEGERS {
            #[allow(clippy::cast_possible_truncation, reason = "integral and below 2^53")]
            serializer.serialize_i64(value as i64)
        } else {
            serializer.serialize_f64(value)
        }
    }
}

impl JsonSchema for Figure {
    fn schema_name() -> Cow<'static, str> {
        "Figure".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A number: an integer when integral, never NaN or infinite.",
            "type": "number"
        })
    }
}

/// How a histogram's bins are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HistogramScale {
    /// Bins `[2^k, 2^(k+1))`, plus `[0, 1)` for values below 1 (lower bound null when a value
    /// is negative).
    Log2,
    /// Bins of width 0.05 over `[0, 1]`; 1.0 falls in the last bin.
    Linear,
}

/// One histogram bin, `[lower, upper)`. Only bins holding values are listed.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct HistogramBin {
    /// Inclusive lower bound; null for an unbounded bin (negative values).
    pub lower: Option<Figure>,
    /// Exclusive upper bound.
    pub upper: Figure,
    /// Number of values in the bin.
    pub count: u64,
}

/// The figures of one distribution. All are null when `count` is 0.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Summary {
    /// Number of values (rows where the metric is defined).
    pub count: u64,
    /// Values left out because they were NaN or infinite (damaged data).
    pub non_finite: u64,
    /// Arithmetic mean.
    pub mean: Option<Figure>,
    /// Smallest value.
    pub min: Option<Figure>,
    /// 5th percentile (see `percentile_definition`).
    pub p5: Option<Figure>,
    /// 25th percentile.
    pub p25: Option<Figure>,
    /// Median.
    pub p50: Option<Figure>,
    /// 75th percentile.
    pub p75: Option<Figure>,
    /// 90th percentile.
    pub p90: Option<Figure>,
    /// 95th percentile.
    pub p95: Option<Figure>,
    /// 99th percentile.
    pub p99: Option<Figure>,
    /// Largest value.
    pub max: Option<Figure>,
    /// Layout of `histogram`.
    pub histogram_scale: HistogramScale,
    /// Non-empty bins in increasing order.
    pub histogram: Vec<HistogramBin>,
}

impl Summary {
    /// The figure of a statistic by name (`count`, `mean`, `min`, `p5` … `p99`, `max`).
    pub fn statistic(&self, name: &str) -> Option<Figure> {
        match name {
            "count" => Some(Figure::integer(self.count)),
            "mean" => self.mean,
            "min" => self.min,
            "p5" => self.p5,
            "p25" => self.p25,
            "p50" => self.p50,
            "p75" => self.p75,
            "p90" => self.p90,
            "p95" => self.p95,
            "p99" => self.p99,
            "max" => self.max,
            _ => None,
        }
    }
}

/// One metric's distribution.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Distribution {
    /// Metric identifier (`input_tokens`, `tool_delay_ms`, …).
    pub metric: String,
    /// Human label.
    pub label: String,
    /// Unit of the values: `turns`, `tokens`, `ms` or `ratio`.
    pub unit: String,
    /// Exactly what is counted, over which rows, as an SQL expression on the dataset's tables.
    pub definition: String,
    /// The figures.
    #[serde(flatten)]
    pub summary: Summary,
}

/// Input tokens of the turns at one range of turn indexes: the context snowball.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct GrowthBucket {
    /// First turn index (0-based) of the bucket.
    pub first_turn_index: u32,
    /// Last turn index of the bucket; null for the open last bucket.
    pub last_turn_index: Option<u32>,
    /// Turns in the bucket with a known input size.
    pub turns: u64,
    /// Median input tokens.
    pub median: Option<Figure>,
    /// 90th percentile of input tokens.
    pub p90: Option<Figure>,
}

/// Block-level prefix reuse at one block size, under an unbounded per-session cache.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct BlockHitRate {
    /// Tokens per block.
    pub block_size: u32,
    /// Turns whose stored hash ids could be read at this block size (their own block size
    /// divides it).
    pub turns: u64,
    /// Blocks of those turns' requests.
    pub blocks: u64,
    /// Blocks in the leading run already sent earlier in the same session.
    pub hit_blocks: u64,
    /// `hit_blocks / blocks`.
    pub hit_rate: Option<f64>,
}

/// How much of each request an agent's earlier calls had already sent.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct KvReuse {
    /// Turns with counted input and prefix tokens.
    pub prefix_turns: u64,
    /// `sum(prefix_tokens_counted) / sum(input_tokens_counted)` over those turns: the share of
    /// input tokens an unbounded per-session cache could serve, at message granularity.
    pub prefix_reuse_token_weighted: Option<f64>,
    /// Turns with reported input and cached tokens.
    pub provider_cached_turns: u64,
    /// `sum(cached_tokens_reported) / sum(input_tokens_reported)` over those turns: what the
    /// provider actually served from its cache.
    pub provider_cached_share: Option<f64>,
    /// Block hit rates at 16, 64 and 512 tokens from the stored hash ids.
    pub block_hit_rates: Vec<BlockHitRate>,
}

/// The statistics of one group of turns (or of the whole dataset).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct GroupReport {
    /// The group's key (`all` for the whole dataset).
    pub key: String,
    /// Sessions with at least one turn in the group (every session for the whole dataset).
    pub sessions: u64,
    /// Of those, sub-agent sessions (with a parent session).
    pub sub_agent_sessions: u64,
    /// Turns.
    pub turns: u64,
    /// Turns with only sizes (no text).
    pub sizes_only_turns: u64,
    /// One distribution per metric, in a fixed order.
    pub distributions: Vec<Distribution>,
    /// Input tokens by turn index.
    pub context_growth: Vec<GrowthBucket>,
    /// Prefix and KV reuse.
    pub kv_reuse: KvReuse,
}

impl GroupReport {
    /// The distribution of a metric.
    pub fn distribution(&self, metric: &str) -> Option<&Distribution> {
        self.distributions.iter().find(|d| d.metric == metric)
    }
}

/// One capacity point of the bounded-cache simulation.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct KvCapacityPoint {
    /// Cache capacity in tokens; null for the unbounded cache (the ceiling).
    pub capacity_tokens: Option<u64>,
    /// Capacity in blocks (`capacity_tokens / block_size`, rounded down).
    pub capacity_blocks: Option<u64>,
    /// Request blocks looked up.
    pub blocks: u64,
    /// Blocks found in the cache (each request's leading run of cached blocks).
    pub hit_blocks: u64,
    /// `hit_blocks / blocks`.
    pub hit_rate: Option<f64>,
    /// Blocks evicted.
    pub evictions: u64,
}

/// `--kv-capacity`: N agents sharing one LRU block cache.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct KvSimulation {
    /// Concurrent agents.
    pub agents: u32,
    /// Tokens per cache block.
    pub block_size: u32,
    /// How requests of concurrent sessions were ordered: `recorded-time` (each agent replays
    /// its session's recorded gaps from when it picked the session up) or `round-robin` (one
    /// request per agent in turn, when some turn has no recorded time).
    pub interleaving: String,
    /// Sessions simulated.
    pub sessions: u64,
    /// Requests simulated.
    pub requests: u64,
    /// Requests left out because they have no hash ids (no tokenizer, or a sizes-only log
    /// without ids) or ids at a block size that does not divide `block_size`.
    pub requests_without_ids: u64,
    /// One point per capacity, then the unbounded cache.
    pub points: Vec<KvCapacityPoint>,
}

/// One target of a workload profile beside the dataset's figure.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ProfileCheckRow {
    /// Metric identifier.
    pub metric: String,
    /// Statistic (`mean`, `p50`, `max`, …).
    pub statistic: String,
    /// The profile's published value, in words (`≈27000`, `≤131072`).
    pub target: String,
    /// The dataset's figure.
    pub dataset: Option<Figure>,
    /// `ok`, `deviates` or `missing` (the dataset has no such figure).
    pub status: String,
    /// Why it deviates, or what the target means.
    pub note: String,
}

/// `--profile`: a published workload profile beside the dataset.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ProfileCheck {
    /// Profile name.
    pub profile: String,
    /// Where its figures come from.
    pub source: String,
    /// One row per target.
    pub checks: Vec<ProfileCheckRow>,
    /// Rows with status `deviates`.
    pub deviations: u64,
}

/// One figure of the two datasets of `--compare`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Delta {
    /// Metric identifier.
    pub metric: String,
    /// Statistic.
    pub statistic: String,
    /// The figure of the dataset the report is about (A).
    pub a: Option<Figure>,
    /// The figure of the compared dataset (B).
    pub b: Option<Figure>,
    /// `b - a`.
    pub difference: Option<Figure>,
    /// `(b - a) / a`; null when `a` is 0 or missing.
    pub relative: Option<f64>,
}

/// `--compare B`: the second dataset's overall statistics and the deltas.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Comparison {
    /// The compared dataset.
    pub dataset: DatasetInfo,
    /// Its overall statistics.
    pub overall: GroupReport,
    /// Its bounded-cache simulation, with the same settings as A's.
    pub kv_simulation: Option<KvSimulation>,
    /// B against A, figure by figure.
    pub deltas: Vec<Delta>,
}

/// Which dataset a report describes.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct DatasetInfo {
    /// Path as given.
    pub path: String,
    /// Dataset name from its manifest.
    pub name: String,
    /// Trajectory format version.
    pub schema_version: String,
    /// Tokenizer of the counted figures; null when the dataset has none.
    pub tokenizer: Option<String>,
    /// Block size of hash ids trajkit computed; null without a tokenizer.
    pub hash_block_size: Option<u32>,
}

/// `trajkit stats`: what a workload looks like.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct StatsReport {
    /// Always `trajkit-stats`.
    pub report: String,
    /// Version of this JSON shape.
    pub report_version: String,
    /// trajkit version that wrote the report.
    pub trajkit_version: String,
    /// How percentiles are defined.
    pub percentile_definition: String,
    /// The dataset.
    pub dataset: DatasetInfo,
    /// The dataset as a whole.
    pub overall: GroupReport,
    /// `--by`: what the groups are keyed by; null without `--by`.
    pub group_by: Option<String>,
    /// One report per group, ordered by key.
    pub groups: Vec<GroupReport>,
    /// `--kv-capacity`.
    pub kv_simulation: Option<KvSimulation>,
    /// `--profile`.
    pub profile: Option<ProfileCheck>,
    /// `--compare`.
    pub comparison: Option<Comparison>,
}
