//! `trajkit verify`: did a candidate deployment serve the same model as the references?
//!
//! Design (verification.md §7): every turn of the dataset was replayed teacher-forced by two or
//! more reference runs and by the candidate run, so each turn's outputs are comparable. For each
//! agreement metric, the candidate's agreement with the references is compared with the
//! references' agreement with each other (the noise floor), turn by turn; the paired
//! differences go through a session-clustered one-sided non-inferiority test
//! ([`decision`]). Hard guardrails (missing turns, length, truncation, empty outputs, invalid
//! tool arguments, special tokens) are checked beside it. PASS needs every gated metric and every
//! guardrail to pass; FAIL says why.
//!
//! Modules: [`input`] reads and checks the runs, [`metrics`] and [`chrf`] score pairs of outputs,
//! [`decision`] does the statistics, [`profile`] holds the settings, [`report`] renders.

pub mod bash;
pub mod chrf;
pub mod decision;
pub mod input;
pub mod lcs;
pub mod metrics;
pub mod profile;
pub mod report;
pub mod tools;

use std::path::PathBuf;

use rayon::prelude::*;

use self::decision::{Paired, TestSettings};
use self::input::{Aligned, InputError, Output};
use self::metrics::{METRIC_COUNT, Metric, OutputFlags, PairOptions, Prepared, SpecialTokens};
use self::profile::Profile;
use self::report::{
    ConfigLock, Counts, GuardrailReport, Inputs, MetricReport, NearTieReport, VerifyReport,
    WorstTurn, round,
};
use self::tools::ToolSet;

/// What to verify.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Dataset directory the runs replayed.
    pub dataset: PathBuf,
    /// Reference runs (run directories or plain output files).
    pub references: Vec<PathBuf>,
    /// Candidate run.
    pub candidate: PathBuf,
    /// The profile.
    pub profile: Profile,
}

/// Reads, checks, scores and decides.
pub fn verify(options: &VerifyOptions) -> Result<VerifyReport, InputError> {
    let mut paths = options.references.clone();
    paths.push(options.candidate.clone());
    // The recorded answers are read beside the runs: both are I/O and parsing.
    let (runs, recorded) = rayon::join(
        || {
            paths
                .par_iter()
                .map(|path| input::read_run(path))
                .collect::<Result<Vec<_>, _>>()
        },
        || {
            let sessions = input::replayed_session_count(&options.references);
            input::recorded_bash_actions(&options.dataset, sessions)
        },
    );
    let mut runs = runs?;
    let candidate = runs
        .pop()
        .ok_or_else(|| InputError::TurnSet("no candidate".to_owned()))?;
    if let Some(required) = options.profile.required_temperature {
        for run in runs.iter().chain(std::iter::once(&candidate)) {
            if let Some(temperature) = input::run_temperature(run)
                && (temperature - required).abs() > 1e-9
            {
                return Err(InputError::Profile {
                    profile: options.profile.name.clone(),
                    message: format!(
                        "it needs runs made at temperature {required}; `{}` was made at {temperature}",
                        run.path.display()
                    ),
                });
            }
        }
    }
    let aligned = input::align(&options.dataset, runs, candidate, recorded?)?;
    let inputs = Inputs {
        dataset: options.dataset.display().to_string(),
        dataset_name: aligned.dataset_name.clone(),
        candidate: options.candidate.display().to_string(),
        references: options
            .references
            .iter()
            .map(|path| path.display().to_string())
            .collect(),
    };
    Ok(decide(&aligned, &options.profile, inputs))
}

/// Every run's mean `bash_iou` against the recorded answers, over the turns whose recorded answer
/// runs a counted command (the MLCommons inline scorer's coding rule); `None` without such turns.
#[allow(clippy::cast_precision_loss, reason = "turn counts are far below 2^52")]
fn dataset_answer(scores: &[TurnScores], reference_count: usize) -> Option<report::DatasetAnswer> {
    // Summed in turn order, so the figures do not depend on the thread count.
    let mut scorable = 0_u64;
    let mut candidate = 0.0;
    let mut references = vec![0.0; reference_count];
    for (candidate_score, reference_scores) in scores.iter().filter_map(|turn| turn.answer.as_ref())
    {
        scorable += 1;
        candidate += candidate_score;
        for (total, score) in references.iter_mut().zip(reference_scores) {
            *total += score;
        }
    }
    if scorable == 0 {
        return None;
    }
    let mean = |total: f64| round(total / scorable as f64).unwrap_or_default();
    Some(report::DatasetAnswer {
        rule: Metric::BashIou.name().to_owned(),
        scorable_turns: scorable,
        candidate: mean(candidate),
        references: references.into_iter().map(mean).collect(),
    })
}

/// One turn, scored.
#[derive(Debug, Clone)]
struct TurnScores {
    /// Candidate↔reference agreement per metric (mean over references).
    candidate: [Option<f64>; METRIC_COUNT],
    /// Reference↔reference agreement per metric (mean over pairs; 1 with one reference).
    reference: [Option<f64>; METRIC_COUNT],
    /// First divergence of candidate and first reference (characters).
    first_divergence: Option<usize>,
    /// (pairs whose tokens diverged with logprobs on both sides, near ties among them), for
    /// candidate pairs and reference pairs.
    near_ties: [(u64, u64); 2],
    /// The candidate's absolute checks (`None`: missing or failed).
    candidate_flags: Option<OutputFlags>,
    /// Each reference's.
    reference_flags: Vec<OutputFlags>,
    /// Candidate and reference output sizes for the length guardrail: (tokens, characters).
    candidate_size: Option<(Option<u64>, u64)>,
    reference_sizes: Vec<(Option<u64>, u64)>,
    /// `bash_iou` of the candidate and of each reference against the recorded answer, on turns
    /// whose recorded answer runs a counted command.
    answer: Option<(f64, Vec<f64>)>,
}

fn mean_defined(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let (mut sum, mut count) = (0.0, 0_u32);
    for value in values.flatten() {
        sum += value;
        count += 1;
    }
    (count > 0).then(|| sum / f64::from(count))
}

fn score_turn(
    candidate: Option<&Output>,
    references: &[&Output],
    options: PairOptions,
    special: &SpecialTokens,
    tools: Option<&ToolSet>,
    recorded: &[&'static str],
) -> TurnScores {
    let empty = Output::default();
    let answered = candidate.filter(|output| output.error.is_none());
    // A missing or failed turn is scored as an empty output: it agrees with nothing.
    let outputs: Vec<&Output> = std::iter::once(answered.unwrap_or(&empty))
        .chain(references.iter().copied())
        .collect();
    let mut references_prepared = metrics::prepare_turn(&outputs);
    let candidate_prepared = references_prepared.remove(0);
    // chrF of every pair at once: candidate↔reference pairs first, then reference↔reference in
    // the order of the loop below.
    let texts: Vec<&str> = std::iter::once(&candidate_prepared)
        .chain(&references_prepared)
        .map(|prepared| prepared.text.as_str())
        .collect();
    let mut text_chrf = chrf::symmetric_pairs(&texts).into_iter();
    let mut next_chrf = || text_chrf.next().unwrap_or(f64::NAN);
    let mut candidate_pairs: Vec<metrics::PairScores> = references_prepared
        .iter()
        .map(|reference| metrics::compare(&candidate_prepared, reference, next_chrf(), options))
        .collect();
    let mut reference_pairs = Vec::new();
    for (index, first) in references_prepared.iter().enumerate() {
        for second in &references_prepared[index + 1..] {
            reference_pairs.push(metrics::compare(first, second, next_chrf(), options));
        }
    }
    // `tool_struct` is scored on the turns where any run (candidate included) calls a tool, and
    // there a pair where neither side does agrees fully. The selection is symmetric in all runs,
    // so candidate↔reference and reference↔reference agreement stay exchangeable; dropping only
    // the pairs without calls would condition on the references and bias the difference.
    let any_calls = !candidate_prepared.calls.is_empty()
        || references_prepared
            .iter()
            .any(|reference| !reference.calls.is_empty());
    if any_calls {
        let structure = Metric::ToolStruct.index();
        for pair in candidate_pairs.iter_mut().chain(reference_pairs.iter_mut()) {
            pair.values[structure].get_or_insert(1.0);
        }
    }
    let single_reference = references.len() == 1;
    let candidate_values = std::array::from_fn(|metric| {
        mean_defined(candidate_pairs.iter().map(|pair| pair.values[metric]))
    });
    let reference_values = std::array::from_fn(|metric| {
        if single_reference {
            // No second reference: the floor is taken as perfect agreement (see the warning).
            candidate_values[metric].map(|_| 1.0)
        } else {
            mean_defined(reference_pairs.iter().map(|pair| pair.values[metric]))
        }
    });
    let count_ties = |pairs: &[metrics::PairScores]| {
        pairs
            .iter()
            .fold((0, 0), |(diverged, ties), pair| match pair.near_tie {
                Some(tie) => (diverged + 1, ties + u64::from(tie)),
                None => (diverged, ties),
            })
    };
    let size = |prepared: &Prepared| (prepared.output.output_tokens, prepared.char_count as u64);
    TurnScores {
        candidate: candidate_values,
        reference: reference_values,
        first_divergence: candidate_pairs
            .first()
            .and_then(|pair| pair.first_divergence),
        near_ties: [count_ties(&candidate_pairs), count_ties(&reference_pairs)],
        candidate_flags: answered.map(|_| metrics::flags(&candidate_prepared, special, tools)),
        reference_flags: references_prepared
            .iter()
            .map(|prepared| metrics::flags(prepared, special, tools))
            .collect(),
        answer: (!recorded.is_empty()).then(|| {
            // A missing or failed candidate turn was prepared empty: it scores 0.
            let score =
                |prepared: &Prepared| bash::iou(recorded, &prepared.bash_actions).unwrap_or(0.0);
            (
                score(&candidate_prepared),
                references_prepared.iter().map(score).collect(),
            )
        }),
        candidate_size: answered.map(|_| size(&candidate_prepared)),
        reference_sizes: references_prepared.iter().map(size).collect(),
    }
}

/// One absolute check of an output, by name in the guardrails.
type FlagCheck = fn(&OutputFlags) -> bool;

#[allow(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
fn rate(count: usize, total: usize) -> f64 {
    if total == 0 {
        0.0
    } else {
        count as f64 / total as f64
    }
}

/// Scores every turn and decides. `inputs` is echoed into the report.
#[allow(
    clippy::too_many_lines,
    reason = "one pass from scores to verdict reads best in order"
)]
pub fn decide(aligned: &Aligned, profile: &Profile, inputs: Inputs) -> VerifyReport {
    let options = PairOptions {
        near_tie_gap: profile.near_tie_gap,
        near_tie_tolerated: profile.near_tie_tolerated,
    };
    let special = SpecialTokens::new(&profile.special_tokens);
    let turn_count = aligned.turn_session.len();
    let reference_count = aligned.references.len();
    let scores: Vec<TurnScores> = (0..turn_count)
        .into_par_iter()
        .map(|turn| {
            let references: Vec<&Output> =
                aligned.references.iter().map(|run| &run[turn]).collect();
            score_turn(
                aligned.candidate[turn].as_ref(),
                &references,
                options,
                &special,
                aligned.tools.for_turn(turn),
                &aligned.recorded_actions[turn],
            )
        })
        .collect();

    let mut warnings: Vec<String> = Vec::new();
    let answer = dataset_answer(&scores, reference_count);
    if let Some(answer) = &answer
        && answer.candidate == 0.0
        && answer.references.iter().all(|score| *score == 0.0)
    {
        // References and candidate agree with each other here, so no gate can see it: a server
        // that never parses tool calls (or a model that never makes them) passes as its own peer.
        warnings.push(format!(
            "on the {} turns whose recorded answer runs a bash command, no run (candidate or \
             reference) runs one of the same commands: check that the served model calls the \
             offered tools and that the server parses its tool calls",
            answer.scorable_turns
        ));
    }
    match reference_count {
        1 => warnings.push(
            "one reference run: there is no reference↔reference noise floor, so it is taken as \
             perfect agreement (1.0); only a deterministic deployment can meet that, and under \
             sampling the verdict is FAIL whatever the candidate's quality. Give two or more \
             reference runs (three recommended)."
                .to_owned(),
        ),
        2 => warnings.push(
            "two reference runs: the noise floor rests on a single reference pair per turn; \
             three or more make it steadier."
                .to_owned(),
        ),
        _ => {}
    }
    warnings.extend(aligned.lock.notes.iter().cloned());
    warnings.extend(aligned.tools.notes.iter().cloned());

    // Gated and diagnostic metrics.
    let gated = profile.gated_metrics();
    let mut reasons: Vec<String> = Vec::new();
    let mut suspicious: Vec<String> = Vec::new();
    let mut metric_reports = Vec::new();
    let mut sample_sessions = 0;
    let mut sample_turns = 0;
    for metric in Metric::ALL {
        let is_gated = gated.contains(&metric);
        let pairs: Vec<Paired> = scores
            .iter()
            .zip(&aligned.turn_session)
            .filter_map(|(turn, &session)| {
                Some(Paired {
                    session,
                    candidate: turn.candidate[metric.index()]?,
                    reference: turn.reference[metric.index()]?,
                })
            })
            .collect();
        let settings = TestSettings {
            alpha: profile.alpha,
            power: profile.power,
            margin_fraction: profile.margin_fraction,
            resamples: if is_gated {
                profile.bootstrap_resamples
            } else {
                0
            },
            seed: profile.bootstrap_seed
                ^ (metric.index() as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93),
        };
        let statistics = decision::test(&pairs, settings);
        let outcome = if !is_gated {
            "diagnostic"
        } else if statistics.turns == 0 {
            "undefined"
        } else if statistics.upper < statistics.margin {
            "pass"
        } else if statistics.lower >= statistics.margin {
            // Worse than the margin even at the interval's low end: established, whatever the
            // power.
            "degraded"
        } else if statistics.standard_error.is_nan()
            || statistics.minimum_detectable_effect > statistics.margin
        {
            "underpowered"
        } else {
            "degraded"
        };
        if is_gated {
            sample_sessions = sample_sessions.max(statistics.sessions);
            sample_turns = sample_turns.max(statistics.turns);
            match outcome {
                "degraded" => reasons.push(format!("DEGRADED:{}", metric.name())),
                "underpowered" => reasons.push(format!("UNDERPOWERED:{}", metric.name())),
                "undefined" => warnings.push(format!(
                    "gated metric `{}` is defined on no turn (e.g. no tool calls anywhere); it is \
                     not tested",
                    metric.name()
                )),
                _ => {}
            }
            // Significantly *more* agreement than the references have with each other, by more
            // than the margin: the whole one-sided interval lies below −margin.
            if reference_count > 1 && statistics.upper < -statistics.margin {
                suspicious.push(format!("SUSPICIOUS:{}", metric.name()));
            }
        }
        metric_reports.push(MetricReport::new(metric, is_gated, outcome, &statistics));
    }
    if sample_sessions < profile.min_sessions || sample_turns < profile.min_turns {
        reasons.insert(0, "UNDERPOWERED:sample_size".to_owned());
        warnings.push(format!(
            "{sample_turns} scored turns in {sample_sessions} sessions; the profile needs at least \
             {} turns in {} sessions",
            profile.min_turns, profile.min_sessions
        ));
    }
    if !suspicious.is_empty() {
        warnings.push(
            "the candidate agrees with the references significantly more than they agree with \
             each other: cached or leaked reference outputs?"
                .to_owned(),
        );
    }

    // Guardrails.
    let missing = aligned
        .candidate
        .iter()
        .filter(|output| output.is_none())
        .count();
    let errored = aligned
        .candidate
        .iter()
        .filter(|output| output.as_ref().is_some_and(|output| output.error.is_some()))
        .count();
    let mut guardrails = vec![
        GuardrailReport::count("missing_turns", missing, turn_count),
        GuardrailReport::count("errored_turns", errored, turn_count),
    ];
    guardrails.push(length_guardrail(&scores, reference_count, profile));
    let answered: Vec<&TurnScores> = scores
        .iter()
        .filter(|turn| turn.candidate_flags.is_some())
        .collect();
    let flag_rates: [(&str, FlagCheck); 5] = [
        ("truncation", |flags| flags.truncated),
        ("empty_output", |flags| flags.empty),
        ("invalid_tool_arguments", |flags| flags.invalid_arguments),
        ("tool_schema_violations", |flags| flags.schema_violation),
        ("special_tokens", |flags| flags.special_token),
    ];
    for (name, flag) in flag_rates {
        let candidate_rate = rate(
            answered
                .iter()
                .filter(|turn| turn.candidate_flags.as_ref().is_some_and(flag))
                .count(),
            answered.len(),
        );
        let worst_reference = (0..reference_count)
            .map(|run| {
                rate(
                    scores
                        .iter()
                        .filter(|turn| flag(&turn.reference_flags[run]))
                        .count(),
                    turn_count,
                )
            })
            .fold(0.0, f64::max);
        let mut guardrail = GuardrailReport::rate(
            name,
            candidate_rate,
            worst_reference,
            profile.rate_tolerance,
        );
        if name == "tool_schema_violations" {
            // Only turns whose request offered tools can be checked: say how many did, so that
            // a 0 on a dataset without tool definitions is not read as a clean bill.
            let checked = (0..turn_count)
                .filter(|&turn| aligned.tools.for_turn(turn).is_some())
                .count();
            guardrail.detail = format!(
                "{}; checked on the {checked} of {turn_count} turns whose request offered tools",
                guardrail.detail
            );
            let calls_tools = aligned
                .references
                .iter()
                .flatten()
                .chain(aligned.candidate.iter().flatten())
                .any(|output| !output.tool_calls.is_empty());
            if checked == 0 && calls_tools {
                warnings.push(
                    "the runs call tools but the dataset keeps no tool definitions for these \
                     turns: tool calls are checked as JSON only (tool_schema_violations checks \
                     nothing)"
                        .to_owned(),
                );
            }
        }
        guardrails.push(guardrail);
    }
    for guardrail in &guardrails {
        if !guardrail.pass {
            reasons.push(format!("GUARDRAIL:{}", guardrail.name));
        }
    }

    let near_tie = NearTieReport {
        candidate_pairs_diverged: scores.iter().map(|turn| turn.near_ties[0].0).sum(),
        candidate_near_ties: scores.iter().map(|turn| turn.near_ties[0].1).sum(),
        reference_pairs_diverged: scores.iter().map(|turn| turn.near_ties[1].0).sum(),
        reference_near_ties: scores.iter().map(|turn| turn.near_ties[1].1).sum(),
    };

    // Worst turns: largest chrF difference (ties: dataset order).
    let primary = Metric::TextChrf.index();
    let mut ranked: Vec<(usize, f64)> = scores
        .iter()
        .enumerate()
        .filter_map(|(turn, scores)| {
            Some((
                turn,
                scores.reference[primary]? - scores.candidate[primary]?,
            ))
        })
        .collect();
    ranked.sort_by(|left, right| right.1.total_cmp(&left.1).then(left.0.cmp(&right.0)));
    let empty = Output::default();
    let worst: Vec<WorstTurn> = ranked
        .into_iter()
        .take(profile.worst_turns)
        .map(|(turn, difference)| {
            let candidate = aligned.candidate[turn]
                .as_ref()
                .filter(|output| output.error.is_none())
                .unwrap_or(&empty);
            let reference = &aligned.references[0][turn];
            WorstTurn {
                session_id: aligned.session_ids[aligned.turn_session[turn] as usize].clone(),
                turn_index: aligned.turn_index[turn],
                difference: round(difference),
                candidate_vs_reference: round(scores[turn].candidate[primary].unwrap_or(f64::NAN)),
                reference_vs_reference: round(scores[turn].reference[primary].unwrap_or(f64::NAN)),
                first_divergence: scores[turn].first_divergence.map(|at| at as u64),
                diff: report::word_diff(
                    &metrics::canonical_text(reference, &Prepared::new(reference).calls),
                    &metrics::canonical_text(candidate, &Prepared::new(candidate).calls),
                ),
            }
        })
        .collect();

    let verdict = if reasons.is_empty() { "PASS" } else { "FAIL" };
    VerifyReport {
        report: report::REPORT_KIND.to_owned(),
        report_version: report::REPORT_VERSION.to_owned(),
        verdict: verdict.to_owned(),
        reasons,
        suspicious,
        warnings,
        profile: profile.clone(),
        inputs,
        config_lock: ConfigLock {
            runs: aligned.lock.runs as u64,
            runs_with_run_json: aligned.lock.runs_with_manifest as u64,
            locked: input::LOCKED_FIELDS
                .iter()
                .map(|field| (*field).to_owned())
                .collect(),
            free: input::FREE_FIELDS
                .iter()
                .map(|field| (*field).to_owned())
                .collect(),
        },
        counts: Counts {
            sessions: aligned.session_ids.len() as u64,
            turns: turn_count as u64,
            references: reference_count as u64,
            candidate_missing: missing as u64,
            candidate_errors: errored as u64,
        },
        metrics: metric_reports,
        guardrails,
        near_tie,
        dataset_answer: answer,
        worst,
    }
}

#[allow(clippy::cast_precision_loss, reason = "sizes are far below 2^52")]
fn length_guardrail(
    scores: &[TurnScores],
    reference_count: usize,
    profile: &Profile,
) -> GuardrailReport {
    let answered: Vec<&TurnScores> = scores
        .iter()
        .filter(|turn| turn.candidate_size.is_some())
        .collect();
    let tokens_everywhere = answered.iter().all(|turn| {
        turn.candidate_size
            .is_some_and(|(tokens, _)| tokens.is_some())
            && turn
                .reference_sizes
                .iter()
                .all(|(tokens, _)| tokens.is_some())
    });
    let size = |(tokens, characters): (Option<u64>, u64)| {
        if tokens_everywhere {
            tokens.unwrap_or_default()
        } else {
            characters
        }
    };
    let candidate_total: u64 = answered
        .iter()
        .filter_map(|turn| turn.candidate_size.map(size))
        .sum();
    let reference_total: u64 = answered
        .iter()
        .map(|turn| turn.reference_sizes.iter().copied().map(size).sum::<u64>())
        .sum();
    let reference_mean = reference_total as f64 / reference_count.max(1) as f64;
    let ratio = if reference_mean > 0.0 {
        candidate_total as f64 / reference_mean
    } else {
        1.0
    };
    let [low, high] = profile.length_ratio_bounds;
    GuardrailReport {
        name: "length_ratio".to_owned(),
        value: round(ratio),
        limit: format!("within [{low}, {high}]"),
        worst_reference: None,
        pass: (low..=high).contains(&ratio),
        detail: format!(
            "total output {} of the candidate's answered turns over the references' mean",
            if tokens_everywhere {
                "tokens"
            } else {
                "characters (token counts are missing)"
            }
        ),
    }
}
