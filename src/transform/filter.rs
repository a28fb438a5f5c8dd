//! `trajkit filter`: keeps the sessions, or the turns, that meet every given condition.
//!
//! Conditions are of two kinds. Session conditions (turns per session, source format, agent,
//! language, task) decide whole sessions. Turn conditions (input and output tokens, model) decide
//! turns: in session scope a session is kept only when every one of its turns meets them; in turn
//! scope the failing turns are dropped (the rest keep their full recorded requests, and the
//! session's reuse figures and hash-id deltas are restated, see `turns`), and the turns-per-
//! session bound then applies to the turns kept. Every kept session thus meets every bound.

use std::collections::HashMap;

use regex::Regex;

use super::turns::keep_turns;
use super::{DerivedWriter, TransformError};
use crate::dataset::{DatasetIndex, SessionData};
use crate::schema::TurnRow;
use crate::stats::language::{self, LanguageCounter};

/// An inclusive range; an open end admits anything on that side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bounds {
    /// Smallest admitted value.
    pub min: Option<u64>,
    /// Largest admitted value.
    pub max: Option<u64>,
}

impl Bounds {
    /// Whether any bound is set.
    pub fn is_set(&self) -> bool {
        self.min.is_some() || self.max.is_some()
    }

    /// Whether `value` is within the bounds; an unknown value is admitted only when no bound is
    /// set (a turn whose size is unknown cannot be shown to meet a bound).
    pub fn admits(&self, value: Option<u64>) -> bool {
        if !self.is_set() {
            return true;
        }
        value.is_some_and(|value| {
            self.min.is_none_or(|min| value >= min) && self.max.is_none_or(|max| value <= max)
        })
    }
}

/// Whether conditions on turns decide whole sessions or single turns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// A session is kept when all its turns meet the turn conditions.
    Session,
    /// Turns that fail the turn conditions are dropped from their session.
    Turn,
}

/// Which token figure the token bounds read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFigure {
    /// As reported by the provider, else as counted (what `stats` reports).
    Auto,
    /// As reported by the provider only.
    Reported,
    /// As counted with the dataset's tokenizer only.
    Counted,
}

impl TokenFigure {
    /// A turn's input tokens by this figure.
    pub fn input(self, turn: &TurnRow) -> Option<u64> {
        match self {
            TokenFigure::Auto => turn.input_tokens_reported.or(turn.input_tokens_counted),
            TokenFigure::Reported => turn.input_tokens_reported,
            TokenFigure::Counted => turn.input_tokens_counted,
        }
    }

    /// A turn's output tokens by this figure.
    pub fn output(self, turn: &TurnRow) -> Option<u64> {
        match self {
            TokenFigure::Auto => turn.output_tokens_reported.or(turn.output_tokens_counted),
            TokenFigure::Reported => turn.output_tokens_reported,
            TokenFigure::Counted => turn.output_tokens_counted,
        }
    }
}

/// The conditions of a filter. Empty lists and unset bounds admit everything.
#[derive(Debug, Clone)]
pub struct FilterOptions {
    /// Session or turn scope for the turn conditions.
    pub scope: Scope,
    /// Which token figure the token bounds read.
    pub figure: TokenFigure,
    /// Input tokens per turn.
    pub input_tokens: Bounds,
    /// Output tokens per turn.
    pub output_tokens: Bounds,
    /// Turns per session (after dropping, in turn scope).
    pub turns: Bounds,
    /// Models admitted (a turn's model, else its session's), exactly as stored.
    pub models: Vec<String>,
    /// Source formats admitted.
    pub sources: Vec<String>,
    /// Agents admitted.
    pub agents: Vec<String>,
    /// Languages admitted (compared without case), as `stats --by language` names them.
    pub languages: Vec<String>,
    /// A pattern the session's task id must match (anywhere in it); sessions without one fail.
    pub task: Option<Regex>,
}

/// What a filter kept and why it dropped the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterSummary {
    /// Sessions read.
    pub sessions_read: u64,
    /// Turns read.
    pub turns_read: u64,
    /// Sessions written.
    pub sessions_kept: u64,
    /// Turns written.
    pub turns_kept: u64,
    /// Sessions dropped by a session condition, by condition.
    pub sessions_dropped: Vec<(&'static str, u64)>,
    /// Turns that failed a turn condition, by the first condition they failed.
    pub turns_failed: Vec<(&'static str, u64)>,
}

/// Filters `dataset` into `writer`.
pub fn filter(
    dataset: &DatasetIndex,
    options: &FilterOptions,
    writer: &mut DerivedWriter,
) -> Result<FilterSummary, TransformError> {
    let mut summary = FilterSummary::default();
    let mut dropped: HashMap<&'static str, u64> = HashMap::new();
    let mut failed: HashMap<&'static str, u64> = HashMap::new();
    // New turn indexes of the sessions written so far, for sub-agents that name a parent turn.
    let mut turn_maps: HashMap<String, Vec<Option<u32>>> = HashMap::new();
    let all: Vec<usize> = (0..dataset.sessions().len()).collect();
    for session in dataset.stream(&all)?.prefetched() {
        let session = session?;
        summary.sessions_read += 1;
        summary.turns_read += session.turns.len() as u64;
        if let Some(reason) = session_failure(&session, options) {
            *dropped.entry(reason).or_default() += 1;
            continue;
        }
        let verdicts: Vec<Option<&'static str>> = session
            .turns
            .iter()
            .map(|turn| turn_failure(turn, &session, options))
            .collect();
        for reason in verdicts.iter().flatten() {
            *failed.entry(reason).or_default() += 1;
        }
        let keep: Vec<bool> = verdicts.iter().map(Option::is_none).collect();
        let mut session = match options.scope {
            Scope::Session if keep.iter().all(|&kept| kept) => session,
            Scope::Session => {
                *dropped.entry("a turn failed a turn condition").or_default() += 1;
                continue;
            }
            Scope::Turn => {
                let kept = keep_turns(session, &keep);
                if kept.session.turns.is_empty() {
                    *dropped
                        .entry("no turn met the turn conditions")
                        .or_default() += 1;
                    continue;
                }
                turn_maps.insert(kept.session.session.session_id.clone(), kept.turn_map);
                kept.session
            }
        };
        if !options.turns.admits(Some(session.turns.len() as u64)) {
            *dropped.entry("turns per session").or_default() += 1;
            continue;
        }
        remap_parent_turn(&mut session, &turn_maps);
        summary.sessions_kept += 1;
        summary.turns_kept += session.turns.len() as u64;
        writer.write(session)?;
    }
    summary.sessions_dropped = sorted(dropped);
    summary.turns_failed = sorted(failed);
    Ok(summary)
}

fn sorted(counts: HashMap<&'static str, u64>) -> Vec<(&'static str, u64)> {
    let mut counts: Vec<_> = counts.into_iter().collect();
    counts.sort_unstable();
    counts
}

/// A sub-agent's parent turn, restated when the parent lost turns before it (a dropped parent
/// turn maps to the nearest kept turn before it).
fn remap_parent_turn(session: &mut SessionData, turn_maps: &HashMap<String, Vec<Option<u32>>>) {
    let row = &mut session.session;
    let (Some(parent), Some(turn)) = (&row.parent_session_id, row.parent_turn_index) else {
        return;
    };
    if let Some(map) = turn_maps.get(parent) {
        row.parent_turn_index = map
            .get(..=turn as usize)
            .unwrap_or(map)
            .iter()
            .rev()
            .find_map(|index| *index);
    }
}

fn session_failure(session: &SessionData, options: &FilterOptions) -> Option<&'static str> {
    let row = &session.session;
    let listed = |values: &[String], value: Option<&str>| {
        values.is_empty() || value.is_some_and(|value| values.iter().any(|v| v == value))
    };
    if !listed(&options.sources, Some(&row.source_format)) {
        return Some("source");
    }
    if !listed(&options.agents, row.agent.as_deref()) {
        return Some("agent");
    }
    if let Some(task) = &options.task
        && !row.task_id.as_deref().is_some_and(|id| task.is_match(id))
    {
        return Some("task");
    }
    if options.scope == Scope::Session && !options.turns.admits(Some(session.turns.len() as u64)) {
        return Some("turns per session");
    }
    if !options.languages.is_empty() {
        let language = session_language(session);
        let admitted = language.is_some_and(|language| {
            options
                .languages
                .iter()
                .any(|wanted| wanted.eq_ignore_ascii_case(&language))
        });
        if !admitted {
            return Some("language");
        }
    }
    None
}

fn turn_failure(
    turn: &TurnRow,
    session: &SessionData,
    options: &FilterOptions,
) -> Option<&'static str> {
    if !options.input_tokens.admits(options.figure.input(turn)) {
        return Some("input tokens");
    }
    if !options.output_tokens.admits(options.figure.output(turn)) {
        return Some("output tokens");
    }
    if !options.models.is_empty() {
        let model = turn.model.as_deref().or(session.session.model.as_deref());
        if !model.is_some_and(|model| options.models.iter().any(|m| m == model)) {
            return Some("model");
        }
    }
    None
}

/// The session's language as `stats --by language` finds it: its metadata's, else the language
/// its messages' file names point to.
pub fn session_language(session: &SessionData) -> Option<String> {
    if let Some(language) = language::from_metadata(session.session.metadata_json.as_deref()) {
        return Some(language);
    }
    let mut counter = LanguageCounter::default();
    for message in &session.messages {
        if let Some(content) = &message.content {
            counter.add_text(content);
        }
        if let Some(fields) = &message.fields_json {
            counter.add_text(fields);
        }
    }
    counter.language().map(str::to_owned)
}
