//! The metrics of a statistics report: one list, each with its definition, so that the report
//! states exactly what it counted and an independent tool (DuckDB) can recount it.

use super::{DerivedTurn, TurnFacts};

/// A metric's value on one turn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// A count.
    Integer(u64),
    /// A duration or ratio.
    Real(f64),
}

/// Every distribution a report carries, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    /// Turns per session.
    TurnsPerSession,
    /// Input tokens per turn.
    InputTokens,
    /// Input tokens the provider had to prefill (not served from its cache).
    NewTokensReported,
    /// Input tokens outside the reusable prefix (unbounded per-session cache).
    NewTokensCounted,
    /// Input tokens the provider served from its cache.
    CachedTokensReported,
    /// Output tokens per turn.
    OutputTokens,
    /// Reasoning tokens per turn.
    ReasoningTokens,
    /// Model latency.
    ModelLatencyMs,
    /// Tool and agent time between calls.
    ToolDelayMs,
    /// Per-turn message-level prefix reuse.
    PrefixReuseRatio,
    /// Per-turn block-level prefix reuse.
    BlockReuseRatio,
}

impl Metric {
    /// Every metric, in report order.
    pub const ALL: [Metric; 11] = [
        Metric::TurnsPerSession,
        Metric::InputTokens,
        Metric::NewTokensReported,
        Metric::NewTokensCounted,
        Metric::CachedTokensReported,
        Metric::OutputTokens,
        Metric::ReasoningTokens,
        Metric::ModelLatencyMs,
        Metric::ToolDelayMs,
        Metric::PrefixReuseRatio,
        Metric::BlockReuseRatio,
    ];

    /// The metrics with one value per turn.
    pub const PER_TURN: [Metric; 10] = [
        Metric::InputTokens,
        Metric::NewTokensReported,
        Metric::NewTokensCounted,
        Metric::CachedTokensReported,
        Metric::OutputTokens,
        Metric::ReasoningTokens,
        Metric::ModelLatencyMs,
        Metric::ToolDelayMs,
        Metric::PrefixReuseRatio,
        Metric::BlockReuseRatio,
    ];

    /// Identifier in reports.
    pub fn id(self) -> &'static str {
        match self {
            Metric::TurnsPerSession => "turns_per_session",
            Metric::InputTokens => "input_tokens",
            Metric::NewTokensReported => "new_tokens_reported",
            Metric::NewTokensCounted => "new_tokens_counted",
            Metric::CachedTokensReported => "cached_tokens_reported",
            Metric::OutputTokens => "output_tokens",
            Metric::ReasoningTokens => "reasoning_tokens",
            Metric::ModelLatencyMs => "model_latency_ms",
            Metric::ToolDelayMs => "tool_delay_ms",
            Metric::PrefixReuseRatio => "prefix_reuse_ratio",
            Metric::BlockReuseRatio => "block_reuse_ratio",
        }
    }

    /// The metric with this identifier.
    pub fn from_id(id: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|metric| metric.id() == id)
    }

    /// Human label.
    pub fn label(self) -> &'static str {
        match self {
            Metric::TurnsPerSession => "turns per session",
            Metric::InputTokens => "input tokens per turn",
            Metric::NewTokensReported => "prefill tokens per turn (provider)",
            Metric::NewTokensCounted => "prefill tokens per turn (unbounded cache)",
            Metric::CachedTokensReported => "cached tokens per turn (provider)",
            Metric::OutputTokens => "output tokens per turn",
            Metric::ReasoningTokens => "reasoning tokens per turn",
            Metric::ModelLatencyMs => "model latency (ms)",
            Metric::ToolDelayMs => "tool delay after a turn (ms)",
            Metric::PrefixReuseRatio => "prefix reuse per turn (messages)",
            Metric::BlockReuseRatio => "prefix reuse per turn (blocks)",
        }
    }

    /// Unit of the values.
    pub fn unit(self) -> &'static str {
        match self {
            Metric::TurnsPerSession => "turns",
            Metric::ModelLatencyMs | Metric::ToolDelayMs => "ms",
            Metric::PrefixReuseRatio | Metric::BlockReuseRatio => "ratio",
            _ => "tokens",
        }
    }

    /// Whether values are integers.
    pub fn is_integer(self) -> bool {
        matches!(self.unit(), "turns" | "tokens")
    }

    /// The SQL definition over the dataset's tables.
    pub fn definition(self) -> &'static str {
        match self {
            Metric::TurnsPerSession => "sessions.turn_count, every session",
            Metric::InputTokens => {
                "coalesce(turns.input_tokens_reported, turns.input_tokens_counted), where not null"
            }
            Metric::NewTokensReported => "turns.new_tokens_reported, where not null",
            Metric::NewTokensCounted => "turns.new_tokens_counted, where not null",
            Metric::CachedTokensReported => "turns.cached_tokens_reported, where not null",
            Metric::OutputTokens => {
                "coalesce(turns.output_tokens_reported, turns.output_tokens_counted), where not null"
            }
            Metric::ReasoningTokens => {
                "coalesce(turns.reasoning_tokens_reported, turns.reasoning_tokens_counted), where \
                 not null"
            }
            Metric::ModelLatencyMs => "turns.model_latency_ms, where not null",
            Metric::ToolDelayMs => "turns.tool_delay_ms_after, where not null",
            Metric::PrefixReuseRatio => {
                "turns.prefix_tokens_counted::double / turns.input_tokens_counted, where \
                 input_tokens_counted > 0"
            }
            Metric::BlockReuseRatio => {
                "leading blocks of the turn's hash ids sent earlier in the session / blocks, at \
                 turns.hash_block_size, where the turn has hash ids"
            }
        }
    }

    /// The metric's value on a turn; `None` where it is not defined.
    pub fn value(self, facts: &TurnFacts<'_>, derived: &DerivedTurn) -> Option<Value> {
        let integer = |value: Option<u64>| value.map(Value::Integer);
        match self {
            Metric::TurnsPerSession => None,
            Metric::InputTokens => integer(facts.input_tokens()),
            Metric::NewTokensReported => integer(facts.new_tokens_reported),
            Metric::NewTokensCounted => integer(facts.new_tokens_counted),
            Metric::CachedTokensReported => integer(facts.cached_tokens_reported),
            Metric::OutputTokens => {
                integer(facts.output_tokens_reported.or(facts.output_tokens_counted))
            }
            Metric::ReasoningTokens => integer(
                facts
                    .reasoning_tokens_reported
                    .or(facts.reasoning_tokens_counted),
            ),
            Metric::ModelLatencyMs => facts.model_latency_ms.map(Value::Real),
            Metric::ToolDelayMs => facts.tool_delay_ms_after.map(Value::Real),
            Metric::PrefixReuseRatio => {
                let input = facts.input_tokens_counted.filter(|&input| input > 0)?;
                let prefix = facts.prefix_tokens_counted?;
                #[allow(clippy::cast_precision_loss, reason = "a ratio is a float")]
                Some(Value::Real(prefix as f64 / input as f64))
            }
            Metric::BlockReuseRatio => {
                let hits = derived.stored_hits.filter(|hits| hits.blocks > 0)?;
                #[allow(clippy::cast_precision_loss, reason = "a ratio is a float")]
                Some(Value::Real(hits.hit_blocks as f64 / hits.blocks as f64))
            }
        }
    }
}
