//! `--compare`: two datasets' figures side by side, with differences.

use super::report::{Delta, Figure, GroupReport, KvSimulation};

/// Statistics compared for every distribution.
pub const COMPARED_STATISTICS: [&str; 7] = ["count", "mean", "p50", "p90", "p95", "p99", "max"];

/// Figure-by-figure deltas of B against A: every distribution's compared statistics, then the
/// reuse shares and block hit rates, then the simulated hit rates when both have them.
pub fn deltas(
    a: &GroupReport,
    b: &GroupReport,
    a_simulation: Option<&KvSimulation>,
    b_simulation: Option<&KvSimulation>,
) -> Vec<Delta> {
    let mut deltas = Vec::new();
    for distribution in &a.distributions {
        let other = b.distribution(&distribution.metric);
        for statistic in COMPARED_STATISTICS {
            deltas.push(delta(
                &distribution.metric,
                statistic,
                distribution.summary.statistic(statistic),
                other.and_then(|other| other.summary.statistic(statistic)),
            ));
        }
    }
    deltas.push(delta(
        "sessions",
        "count",
        Some(Figure::integer(a.sessions)),
        Some(Figure::integer(b.sessions)),
    ));
    deltas.push(delta(
        "prefix_reuse_token_weighted",
        "value",
        a.kv_reuse.prefix_reuse_token_weighted.map(Figure::real),
        b.kv_reuse.prefix_reuse_token_weighted.map(Figure::real),
    ));
    deltas.push(delta(
        "provider_cached_share",
        "value",
        a.kv_reuse.provider_cached_share.map(Figure::real),
        b.kv_reuse.provider_cached_share.map(Figure::real),
    ));
    for rate in &a.kv_reuse.block_hit_rates {
        let other = b
            .kv_reuse
            .block_hit_rates
            .iter()
            .find(|other| other.block_size == rate.block_size);
        deltas.push(delta(
            &format!("block_hit_rate_{}", rate.block_size),
            "value",
            rate.hit_rate.map(Figure::real),
            other.and_then(|other| other.hit_rate).map(Figure::real),
        ));
    }
    if let (Some(a_simulation), Some(b_simulation)) = (a_simulation, b_simulation) {
        for (a_point, b_point) in a_simulation.points.iter().zip(&b_simulation.points) {
            let name = a_point.capacity_tokens.map_or_else(
                || "kv_simulation_hit_rate_unbounded".to_owned(),
                |capacity| format!("kv_simulation_hit_rate_{capacity}"),
            );
            deltas.push(delta(
                &name,
                "value",
                a_point.hit_rate.map(Figure::real),
                b_point.hit_rate.map(Figure::real),
            ));
        }
    }
    deltas
}

fn delta(metric: &str, statistic: &str, a: Option<Figure>, b: Option<Figure>) -> Delta {
    let difference = match (a, b) {
        (Some(a), Some(b)) => Some(Figure::real(b.value() - a.value())),
        _ => None,
    };
    let relative = match (a, b) {
        (Some(a), Some(b)) if a.value() != 0.0 => Some((b.value() - a.value()) / a.value()),
        _ => None,
    };
    Delta {
        metric: metric.to_owned(),
        statistic: statistic.to_owned(),
        a,
        b,
        difference,
        relative,
    }
}
