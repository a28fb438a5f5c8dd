//! `trajkit split`: named parts with given fractions, by a seeded hash of the session id.
//!
//! Two promises pull against each other: exact fractions (each part within one session of its
//! target) and stability (a session keeps its part when the dataset grows). Hash thresholds alone
//! are stable but only binomially close to the fractions; ranks alone are exact but move
//! sessions at the boundaries when new ones arrive. So parts are assigned by rank in seeded hash
//! order (largest-remainder counts, exact), and a later split given the earlier one's assignments
//! (`split.json`) keeps every session it assigned where it was and places only the new sessions,
//! in hash order, where the parts are short of their targets.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::session_hash;

/// File of a split's assignments, beside its part datasets.
pub const ASSIGNMENTS_FILE: &str = "split.json";

/// One part of a split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Part {
    /// Name (also the part's dataset directory name).
    pub name: String,
    /// Target fraction of the sessions.
    pub fraction: f64,
}

/// `split.json`: how a split was made and where each session went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assignments {
    /// The seed of the hash order.
    pub seed: u64,
    /// The parts, in the order given.
    pub parts: Vec<Part>,
    /// Session id → part name, for every session of the split dataset.
    pub sessions: BTreeMap<String, String>,
}

/// Per part: its sessions' indexes (into `session_ids`), ascending.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitPlan {
    /// One list per part, in part order.
    pub members: Vec<Vec<usize>>,
    /// Sessions that kept the part an earlier split gave them.
    pub kept: u64,
    /// Sessions an earlier split did not know.
    pub new: u64,
}

/// Session counts per part for `total` sessions: floors of the fractions, then the sessions left
/// over to the parts with the largest remainders (ties: earlier part).
pub fn target_counts(parts: &[Part], total: usize) -> Vec<usize> {
    let sum: f64 = parts.iter().map(|part| part.fraction).sum();
    #[allow(clippy::cast_precision_loss, reason = "session counts")]
    let exact: Vec<f64> = parts
        .iter()
        .map(|part| part.fraction / sum * total as f64)
        .collect();
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "floors of non-negative counts"
    )]
    let mut counts: Vec<usize> = exact.iter().map(|&value| value.floor() as usize).collect();
    let mut left = total.saturating_sub(counts.iter().sum());
    #[allow(clippy::cast_precision_loss, reason = "remainders")]
    let mut by_remainder: Vec<usize> = (0..parts.len()).collect();
    by_remainder.sort_by(|&a, &b| {
        let remainder = |index: usize| exact[index] - exact[index].floor();
        remainder(b).total_cmp(&remainder(a)).then(a.cmp(&b))
    });
    for index in by_remainder {
        if left == 0 {
            break;
        }
        counts[index] += 1;
        left -= 1;
    }
    counts
}

/// Assigns sessions to parts. With `previous`, sessions it names keep their part (when that part
/// still exists) and only the others are placed.
pub fn plan(
    session_ids: &[&str],
    parts: &[Part],
    seed: u64,
    previous: Option<&Assignments>,
) -> SplitPlan {
    let targets = target_counts(parts, session_ids.len());
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); parts.len()];
    let mut order: Vec<(u64, &str, usize)> = Vec::new();
    let mut kept = 0;
    for (index, id) in session_ids.iter().enumerate() {
        let earlier = previous
            .and_then(|previous| previous.sessions.get(*id))
            .and_then(|name| parts.iter().position(|part| &part.name == name));
        match earlier {
            Some(part) => {
                members[part].push(index);
                kept += 1;
            }
            None => order.push((session_hash(id, seed), id, index)),
        }
    }
    order.sort_unstable();
    let new = order.len() as u64;
    // New sessions fill the parts in order up to their targets; what no target wants (only when
    // earlier assignments overfill a part) goes to the part furthest below its target.
    let mut next_part = 0;
    for (_, _, index) in order {
        while next_part < parts.len() && members[next_part].len() >= targets[next_part] {
            next_part += 1;
        }
        let part = if next_part < parts.len() {
            next_part
        } else {
            #[allow(clippy::cast_possible_wrap, reason = "session counts")]
            (0..parts.len())
                .max_by_key(|&part| {
                    (
                        targets[part] as i64 - members[part].len() as i64,
                        std::cmp::Reverse(part),
                    )
                })
                .unwrap_or(0)
        };
        members[part].push(index);
    }
    for list in &mut members {
        list.sort_unstable();
    }
    SplitPlan { members, kept, new }
}
