//! AgentPerf's capacity search, pure: per service tier, an exponential ramp of concurrent agents
//! then a binary search for the largest count whose steady-state window meets the tier (P25 of
//! per-request output speed ≥ SPEED tokens/s and P95 time to first token ≤ TTFT seconds). The
//! driver measures a step; this module judges it and picks the next one.

use serde::Serialize;

use super::record::RequestRecord;
use crate::stats::distribution::nearest_rank;

/// A service tier: minimum P25 output speed and maximum P95 TTFT.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tier {
    /// As given: `SPEED:TTFT`.
    pub name: String,
    /// Tokens per second.
    pub min_output_speed: f64,
    /// Seconds.
    pub max_ttft_seconds: f64,
}

impl Tier {
    /// Parses `SPEED:TTFT` (tokens/s : seconds), e.g. `30:15`.
    pub fn parse(text: &str) -> Result<Tier, String> {
        let bad = || format!("`{text}` is not a tier: SPEED:TTFT, e.g. 30:15 (30 tok/s, 15 s)");
        let (speed, ttft) = text.split_once(':').ok_or_else(bad)?;
        let speed: f64 = speed.trim().parse().map_err(|_| bad())?;
        let ttft: f64 = ttft
            .trim()
            .trim_end_matches('s')
            .parse()
            .map_err(|_| bad())?;
        if !(speed.is_finite() && speed >= 0.0 && ttft.is_finite() && ttft > 0.0) {
            return Err(bad());
        }
        Ok(Tier {
            name: text.to_owned(),
            min_output_speed: speed,
            max_ttft_seconds: ttft,
        })
    }
}

/// What one step (a number of concurrent agents) measured in its steady-state window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepMeasure {
    /// Concurrent agents.
    pub agents: u32,
    /// Requests that ended in the window (after the warm-up).
    pub requests: u64,
    /// Of those, failed requests (any error): they count against every tier.
    pub failed: u64,
    /// P25 of per-request output speed, tokens/s: (output tokens − 1) / (end − first token).
    pub p25_output_speed: Option<f64>,
    /// P95 of time to first token, seconds.
    pub p95_ttft_seconds: Option<f64>,
    /// Mean accelerator power during the step, watts, when a power log was given.
    pub mean_power_watts: Option<f64>,
    /// Mean total GPU power over the window as trajkit sampled it (`--nvml`), watts.
    pub measured_power_watts: Option<f64>,
    /// The first failed request's error kind and message, to say why a step failed.
    pub first_error: Option<String>,
}

/// The requests of a step that ended after `warmup_ms` (when every agent had been active for the
/// warm-up), judged. Requests that ended during the warm-up are left out; a long request that
/// started before and ended after it counts, so that a window shorter than one request still
/// measures something.
pub fn measure_window(agents: u32, records: &[RequestRecord], warmup_ms: f64) -> StepMeasure {
    let window: Vec<&RequestRecord> = records
        .iter()
        .filter(|r| r.send_ms + r.end_ms >= warmup_ms)
        .collect();
    let failed = window.iter().filter(|r| r.error_kind.is_some()).count() as u64;
    let mut speeds: Vec<f64> = window
        .iter()
        .filter(|r| r.error_kind.is_none())
        .filter_map(|r| {
            let tokens = r.output_tokens?;
            let first = r.ttft_ms?;
            let seconds = (r.end_ms - first) / 1000.0;
            #[allow(clippy::cast_precision_loss, reason = "token counts are small")]
            (tokens >= 2 && seconds > 0.0).then(|| (tokens - 1) as f64 / seconds)
        })
        .collect();
    let mut ttfts: Vec<f64> = window
        .iter()
        .filter(|r| r.error_kind.is_none())
        .filter_map(|r| r.ttft_ms.map(|ms| ms / 1000.0))
        .collect();
    StepMeasure {
        agents,
        requests: window.len() as u64,
        failed,
        p25_output_speed: quantile(&mut speeds, 0.25),
        p95_ttft_seconds: quantile(&mut ttfts, 0.95),
        mean_power_watts: None,
        measured_power_watts: None,
        first_error: window.iter().find(|r| r.error_kind.is_some()).map(|r| {
            format!(
                "{}: {}",
                r.error_kind.as_deref().unwrap_or_default(),
                r.error.as_deref().unwrap_or_default()
            )
        }),
    }
}

/// The nearest-rank quantile (as `trajkit stats`).
fn quantile(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable_by(f64::total_cmp);
    let rank = nearest_rank(values.len() as u64, q);
    values
        .get(usize::try_from(rank).ok()?.checked_sub(1)?)
        .copied()
}

/// Whether a step meets a tier: requests were measured, none failed, and both targets hold.
pub fn meets(step: &StepMeasure, tier: &Tier) -> bool {
    step.requests > 0
        && step.failed == 0
        && step
            .p25_output_speed
            .is_some_and(|speed| speed >= tier.min_output_speed)
        && step
            .p95_ttft_seconds
            .is_some_and(|ttft| ttft <= tier.max_ttft_seconds)
}

/// The search of one tier: exponential ramp, then bisection.
#[derive(Debug, Clone, Default)]
pub struct Search {
    /// Largest count that met the tier.
    pub passed: Option<u32>,
    /// Smallest count that did not.
    pub failed: Option<u32>,
}

impl Search {
    /// Records a judged step.
    pub fn record(&mut self, agents: u32, met: bool) {
        if met {
            self.passed = Some(self.passed.map_or(agents, |p| p.max(agents)));
        } else {
            self.failed = Some(self.failed.map_or(agents, |f| f.min(agents)));
        }
    }

    /// The next count to measure, or `None` when the search is over (`max_agents` caps it).
    pub fn next(&self, max_agents: u32) -> Option<u32> {
        match (self.passed, self.failed) {
            (None, None) => Some(1),
            (None, Some(_)) => None,
            (Some(passed), None) if passed >= max_agents => None,
            (Some(passed), None) => Some(passed.saturating_mul(2).min(max_agents)),
            (Some(passed), Some(failed)) if failed <= passed + 1 => None,
            (Some(passed), Some(failed)) => Some(passed + (failed - passed) / 2),
        }
    }

    /// The result: the largest count that met the tier (0 when even one agent did not).
    pub fn result(&self) -> u32 {
        self.passed.unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_search_ramps_then_bisects_to_the_largest_passing_count() {
        for capacity in [0u32, 1, 2, 3, 5, 8, 13, 100, 1000] {
            let mut search = Search::default();
            let mut steps = 0;
            while let Some(agents) = search.next(512) {
                steps += 1;
                search.record(agents, agents <= capacity);
                assert!(steps < 40, "the search ends");
            }
            assert_eq!(search.result(), capacity.min(512), "capacity {capacity}");
        }
    }

    #[test]
    fn a_step_is_judged_on_its_steady_state_window() {
        let request = |send_ms: f64, ttft_ms: f64, end_ms: f64, tokens: u64| RequestRecord {
            send_ms,
            ttft_ms: Some(ttft_ms),
            end_ms,
            output_tokens: Some(tokens),
            ..RequestRecord::default()
        };
        let records = vec![
            // Ended during the warm-up: ignored however slow.
            request(0.0, 4_000.0, 4_500.0, 2),
            // 11 tokens over 1 s after the first: 10 tok/s; 2 s TTFT.
            request(5_000.0, 2_000.0, 3_000.0, 11),
            request(6_000.0, 1_000.0, 1_500.0, 11),
        ];
        let step = measure_window(2, &records, 5_000.0);
        assert_eq!(step.requests, 2);
        assert_eq!(step.p25_output_speed, Some(10.0));
        assert_eq!(step.p95_ttft_seconds, Some(2.0));
        assert!(meets(&step, &Tier::parse("10:2").unwrap()));
        assert!(!meets(&step, &Tier::parse("10.5:2").unwrap()));
        assert!(!meets(&step, &Tier::parse("10:1.5").unwrap()));
        let mut failed = records.clone();
        failed[2].error_kind = Some("timeout".to_owned());
        assert!(!meets(
            &measure_window(2, &failed, 5_000.0),
            &Tier::parse("1:100").unwrap()
        ));
        assert!(Tier::parse("fast").is_err());
        assert!(Tier::parse("30:0").is_err());
    }
}
