//! The bounded-cache simulation behind `--kv-capacity`: N agents work through the dataset's
//! sessions concurrently, as in AgentPerf, and every request goes through one shared LRU block
//! cache per capacity, plus an unbounded one for the ceiling.
//!
//! Whether a serving system thrives or collapses under agent load is decided here: with few
//! agents each session's prefix stays cached between its turns; with many, the tool delays of
//! one agent are other agents' prefills, and the LRU evicts prefixes before their next turn.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::kv::{LruBlockCache, UnboundedBlockCache};
use super::report::{Figure, KvCapacityPoint, KvSimulation};
use crate::blocks::{StoredIds, coarsen};

/// One request of a simulated session.
#[derive(Debug, Clone)]
pub struct SimTurn {
    /// Recorded request time in ms (any clock; only differences within the session are used).
    pub time_ms: Option<f64>,
    /// Recorded model latency in ms.
    pub latency_ms: Option<f64>,
    /// Block size of the stored ids; 0 when the turn has none.
    pub block_size: u32,
    /// Blocks shared with the previous turn.
    pub prefix_blocks: u32,
    /// The ids after the shared prefix.
    pub new_ids: Vec<u64>,
}

/// How requests of concurrent sessions are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interleaving {
    /// By each session's recorded gaps, from when an agent picks it up.
    RecordedTime,
    /// One request per agent in turn.
    RoundRobin,
}

impl Interleaving {
    /// Name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Interleaving::RecordedTime => "recorded-time",
            Interleaving::RoundRobin => "round-robin",
        }
    }
}

/// Settings of a simulation.
#[derive(Debug, Clone)]
pub struct SimulationOptions {
    /// Concurrent agents (at least 1).
    pub agents: u32,
    /// Cache capacities in tokens, in the order reported.
    pub capacities: Vec<u64>,
    /// Tokens per cache block; every turn's stored block size must divide it.
    pub block_size: u32,
    /// Request order.
    pub interleaving: Interleaving,
}

struct Agent {
    turns: Vec<SimTurn>,
    next: usize,
    /// When the agent picked the session up, on the simulation clock.
    start_ms: f64,
    /// The session's first recorded time.
    base_ms: f64,
    /// The current turn's whole id list at the stored block size.
    ids: Vec<u64>,
    stored_block_size: u32,
}

impl Agent {
    fn next_time(&self) -> f64 {
        let time = self.turns[self.next].time_ms.unwrap_or(self.base_ms);
        self.start_ms + (time - self.base_ms).max(0.0)
    }
}

#[derive(PartialEq)]
struct Pending {
    time_ms: f64,
    agent: usize,
}

impl Eq for Pending {}

impl Ord for Pending {
    // Earliest first (BinaryHeap is a max-heap), then the lowest agent.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .time_ms
            .total_cmp(&self.time_ms)
            .then_with(|| other.agent.cmp(&self.agent))
    }
}

impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The caches every request goes through: one LRU per capacity and the unbounded ceiling.
struct Caches {
    lru: Vec<LruBlockCache>,
    unbounded: UnboundedBlockCache,
    block_size: u32,
    requests_without_ids: u64,
    /// The request's ids at the simulation's block size (reused buffer).
    request_ids: Vec<u64>,
}

impl Caches {
    fn new(capacities: &[u64], block_size: u32) -> Caches {
        Caches {
            lru: capacities
                .iter()
                .map(|&capacity| {
                    LruBlockCache::new(
                        usize::try_from(capacity / u64::from(block_size)).unwrap_or(usize::MAX),
                    )
                })
                .collect(),
            unbounded: UnboundedBlockCache::default(),
            block_size,
            requests_without_ids: 0,
            request_ids: Vec::new(),
        }
    }

    /// Serves the agent's next request (its id list is rebuilt from the stored delta).
    fn serve(&mut self, agent: &mut Agent) {
        let turn = &agent.turns[agent.next];
        if turn.block_size == 0 || !self.block_size.is_multiple_of(turn.block_size) {
            self.requests_without_ids += 1;
            return;
        }
        if turn.block_size != agent.stored_block_size {
            agent.ids.clear();
            agent.stored_block_size = turn.block_size;
        }
        StoredIds {
            block_size: turn.block_size,
            prefix_blocks: turn.prefix_blocks,
            new_ids: &turn.new_ids,
        }
        .apply(&mut agent.ids);
        let factor = (self.block_size / turn.block_size) as usize;
        self.request_ids.clear();
        if factor == 1 {
            self.request_ids.extend_from_slice(&agent.ids);
        } else {
            self.request_ids.extend(coarsen(&agent.ids, factor));
        }
        for cache in &mut self.lru {
            cache.request(&self.request_ids);
        }
        self.unbounded.request(&self.request_ids);
    }

    fn points(&self, capacities: &[u64]) -> Vec<KvCapacityPoint> {
        let mut points: Vec<KvCapacityPoint> = capacities
            .iter()
            .zip(&self.lru)
            .map(|(&capacity, cache)| KvCapacityPoint {
                capacity_tokens: Some(capacity),
                capacity_blocks: Some(capacity / u64::from(self.block_size)),
                blocks: cache.blocks,
                hit_blocks: cache.hit_blocks,
                hit_rate: Figure::ratio(cache.hit_blocks, cache.blocks),
                evictions: cache.evictions,
            })
            .collect();
        points.push(KvCapacityPoint {
            capacity_tokens: None,
            capacity_blocks: None,
            blocks: self.unbounded.blocks,
            hit_blocks: self.unbounded.hit_blocks,
            hit_rate: Figure::ratio(self.unbounded.hit_blocks, self.unbounded.blocks),
            evictions: 0,
        });
        points
    }
}

/// Runs the simulation over `session_count` sessions, loading each with `load` when an agent
/// picks it up (sessions are taken in dataset order).
pub fn simulate<E>(
    session_count: usize,
    mut load: impl FnMut(usize) -> Result<Vec<SimTurn>, E>,
    options: &SimulationOptions,
) -> Result<KvSimulation, E> {
    let block_size = options.block_size.max(1);
    let mut caches = Caches::new(&options.capacities, block_size);
    let mut requests = 0u64;
    let mut sessions = 0u64;
    let mut next_session = 0usize;
    let agent_count = options.agents.max(1) as usize;
    let mut agents: Vec<Option<Agent>> = (0..agent_count).map(|_| None).collect();
    let mut heap = BinaryHeap::new();
    let mut take_session = |agent: &mut Option<Agent>, start_ms: f64| -> Result<bool, E> {
        while next_session < session_count {
            let turns = load(next_session)?;
            next_session += 1;
            if turns.is_empty() {
                continue;
            }
            let base_ms = turns[0].time_ms.unwrap_or(0.0);
            *agent = Some(Agent {
                turns,
                next: 0,
                start_ms,
                base_ms,
                ids: Vec::new(),
                stored_block_size: 0,
            });
            return Ok(true);
        }
        *agent = None;
        Ok(false)
    };
    for (index, agent) in agents.iter_mut().enumerate() {
        if take_session(agent, 0.0)? {
            sessions += 1;
            if let Some(state) = agent {
                heap.push(Pending {
                    time_ms: state.next_time(),
                    agent: index,
                });
            }
        }
    }
    let mut round_robin_cursor = 0usize;
    loop {
        let index = match options.interleaving {
            Interleaving::RecordedTime => match heap.pop() {
                Some(pending) => pending.agent,
                None => break,
            },
            Interleaving::RoundRobin => {
                let Some(offset) = (0..agent_count)
                    .find(|offset| agents[(round_robin_cursor + offset) % agent_count].is_some())
                else {
                    break;
                };
                let index = (round_robin_cursor + offset) % agent_count;
                round_robin_cursor = index + 1;
                index
            }
        };
        let Some(agent) = agents[index].as_mut() else {
            continue;
        };
        let request_time = agent.next_time();
        requests += 1;
        caches.serve(agent);
        let latency = agent.turns[agent.next].latency_ms.unwrap_or(0.0).max(0.0);
        agent.next += 1;
        if agent.next < agent.turns.len() {
            if options.interleaving == Interleaving::RecordedTime {
                heap.push(Pending {
                    time_ms: agent.next_time(),
                    agent: index,
                });
            }
        } else if take_session(&mut agents[index], request_time + latency)? {
            sessions += 1;
            if options.interleaving == Interleaving::RecordedTime
                && let Some(state) = &agents[index]
            {
                heap.push(Pending {
                    time_ms: state.next_time(),
                    agent: index,
                });
            }
        }
    }
    Ok(KvSimulation {
        agents: options.agents.max(1),
        block_size,
        interleaving: options.interleaving.name().to_owned(),
        sessions,
        requests,
        requests_without_ids: caches.requests_without_ids,
        points: caches.points(&options.capacities),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(first_id: u64, turns: u32, time_step: f64) -> Vec<SimTurn> {
        // Each turn appends 4 blocks to the previous turn's ids.
        (0..turns)
            .map(|turn| SimTurn {
                time_ms: Some(f64::from(turn) * time_step),
                latency_ms: Some(1.0),
                block_size: 16,
                prefix_blocks: turn * 4,
                new_ids: (0..4).map(|k| first_id + u64::from(turn * 4 + k)).collect(),
            })
            .collect()
    }

    #[test]
    fn a_cache_holding_every_session_hits_all_shared_prefixes_and_a_tiny_one_thrashes() {
        let sessions = [session(1000, 5, 10.0), session(2000, 5, 10.0)];
        let run = |capacity: u64, agents: u32| {
            simulate::<()>(
                sessions.len(),
                |index| Ok(sessions[index].clone()),
                &SimulationOptions {
                    agents,
                    capacities: vec![capacity],
                    block_size: 16,
                    interleaving: Interleaving::RecordedTime,
                },
            )
            .unwrap()
        };
        // 5 turns of 4, 8, …, 20 blocks: 60 blocks, of which 0+4+8+12+16 = 40 were sent before.
        let large = run(1 << 20, 2);
        assert_eq!(large.requests, 10);
        assert_eq!(large.points[0].blocks, 120);
        assert_eq!(large.points[0].hit_blocks, 80);
        assert_eq!(large.points[0].hit_rate, large.points[1].hit_rate);
        // Two agents interleaved through a cache smaller than one session's context: the other
        // agent's blocks evict the prefix before the next turn.
        let small = run(16 * 6, 2);
        assert!(small.points[0].hit_blocks < 80, "{small:?}");
        assert!(small.points[0].evictions > 0);
    }

    #[test]
    fn round_robin_visits_agents_in_turn() {
        let sessions = [
            session(1, 2, 0.0),
            session(100, 2, 0.0),
            session(200, 1, 0.0),
        ];
        let result = simulate::<()>(
            3,
            |index| Ok(sessions[index].clone()),
            &SimulationOptions {
                agents: 2,
                capacities: vec![],
                block_size: 64,
                interleaving: Interleaving::RoundRobin,
            },
        )
        .unwrap();
        assert_eq!((result.sessions, result.requests), (3, 5));
        // 64-token blocks: each turn is 1 or 2 coarse blocks; the unbounded point is last.
        assert_eq!(result.points.len(), 1);
        assert_eq!(result.points[0].capacity_tokens, None);
    }
}
