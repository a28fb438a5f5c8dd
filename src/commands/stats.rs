//! `trajkit stats`: reads a dataset column-wise in one streaming pass, feeds the pure
//! `stats::StatsBuilder`, runs the optional cache simulation, profile check and comparison, and
//! renders the report.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use rayon::prelude::*;

use super::{ExitStatus, ReportFormat};
use crate::cli::StatsArgs;
use crate::dataset::{DatasetIndex, ScanColumns, TurnBatch};
use crate::schema::columns::SessionIndexRow;
use crate::stats::distribution::PERCENTILE_DEFINITION;
use crate::stats::language::{self, LanguageCounter};
use crate::stats::profile::{Profile, ProfileError};
use crate::stats::render::{self, Syntax};
use crate::stats::report::{
    Comparison, DatasetInfo, GroupReport, KvSimulation, REPORT_KIND, REPORT_VERSION, StatsReport,
};
use crate::stats::simulate::{self, Interleaving, SimTurn, SimulationOptions};
use crate::stats::{GroupBy, StatsBuilder, compare, html};

/// The resolved options of `trajkit stats`.
#[derive(Debug, Clone)]
pub struct StatsOptions {
    /// Dataset directory.
    pub dataset: PathBuf,
    /// Grouping.
    pub group_by: Option<GroupBy>,
    /// Output format.
    pub format: ReportFormat,
    /// Output file (stdout when `None`).
    pub output: Option<PathBuf>,
    /// Profile to check against.
    pub profile: Option<Profile>,
    /// Dataset to compare with.
    pub compare: Option<PathBuf>,
    /// Cache capacities to simulate (tokens); empty: no simulation.
    pub kv_capacities: Vec<u64>,
    /// Concurrent agents of the simulation.
    pub agents: u32,
    /// Block size of the simulation.
    pub kv_block_size: Option<u32>,
    /// Whether to compute block-level reuse from the hash ids.
    pub block_hits: bool,
}

impl StatsArgs {
    /// Validates the arguments.
    pub fn resolve(self) -> anyhow::Result<StatsOptions> {
        let StatsArgs {
            dataset,
            by,
            format,
            output,
            profile,
            compare,
            kv_capacity,
            agents,
            kv_block_size,
            no_block_hits,
        } = self;
        let format = ReportFormat::parse(&format);
        let profile = profile.map(|name| load_profile(&name)).transpose()?;
        Ok(StatsOptions {
            dataset,
            group_by: by.as_deref().and_then(GroupBy::parse),
            format,
            output,
            profile,
            compare,
            kv_capacities: kv_capacity,
            agents,
            kv_block_size,
            block_hits: !no_block_hits,
        })
    }
}

pub(crate) fn load_profile(name: &str) -> anyhow::Result<Profile> {
    if let Some(profile) = Profile::built_in(name) {
        return Ok(profile?);
    }
    let path = Path::new(name);
    if !path.is_file() {
        return Err(ProfileError::Unknown(name.to_owned()).into());
    }
    let text = fs_err::read_to_string(path)?;
    Ok(Profile::parse(name, &text)?)
}

/// Runs `trajkit stats`.
pub fn run(args: StatsArgs, out: &mut dyn Write) -> anyhow::Result<ExitStatus> {
    let options = args.resolve()?;
    let report = build_report(&options)?;
    let text = match options.format {
        ReportFormat::Json => {
            let mut text = serde_json::to_string_pretty(&report)?;
            text.push('\n');
            text
        }
        ReportFormat::Table => render::render(&report, Syntax::Table),
        ReportFormat::Markdown => render::render(&report, Syntax::Markdown),
        ReportFormat::Html => html::render(&report),
    };
    match &options.output {
        Some(path) => crate::atomic::write_file(path, text.as_bytes())
            .with_context(|| format!("failed to write `{}`", path.display()))?,
        None => out.write_all(text.as_bytes())?,
    }
    Ok(ExitStatus::Success)
}

/// Computes the whole report (profile, comparison and simulation included).
pub fn build_report(options: &StatsOptions) -> anyhow::Result<StatsReport> {
    let (dataset_info, computed) = dataset_statistics(&options.dataset, options)?;
    let profile = options
        .profile
        .as_ref()
        .map(|profile| profile.check(&computed.overall));
    let comparison = match &options.compare {
        Some(path) => {
            let (info, other) = dataset_statistics(path, options)?;
            let deltas = compare::deltas(
                &computed.overall,
                &other.overall,
                computed.simulation.as_ref(),
                other.simulation.as_ref(),
            );
            Some(Comparison {
                dataset: info,
                overall: other.overall,
                kv_simulation: other.simulation,
                deltas,
            })
        }
        None => None,
    };
    Ok(StatsReport {
        report: REPORT_KIND.to_owned(),
        report_version: REPORT_VERSION.to_owned(),
        trajkit_version: env!("CARGO_PKG_VERSION").to_owned(),
        percentile_definition: PERCENTILE_DEFINITION.to_owned(),
        dataset: dataset_info,
        overall: computed.overall,
        group_by: options.group_by.map(|by| by.name().to_owned()),
        groups: computed.groups,
        kv_simulation: computed.simulation,
        profile,
        comparison,
    })
}

struct Computed {
    overall: GroupReport,
    groups: Vec<GroupReport>,
    simulation: Option<KvSimulation>,
}

fn dataset_statistics(
    path: &Path,
    options: &StatsOptions,
) -> anyhow::Result<(DatasetInfo, Computed)> {
    let dataset = DatasetIndex::open(path, options.group_by == Some(GroupBy::Language))
        .with_context(|| format!("failed to open dataset `{}`", path.display()))?;
    let manifest = dataset.reader().manifest();
    let info = DatasetInfo {
        path: path.display().to_string(),
        name: manifest.name.clone(),
        schema_version: manifest.schema_version.clone(),
        tokenizer: manifest.tokenizer.as_ref().map(|t| t.name.clone()),
        hash_block_size: manifest.hash.as_ref().map(|hash| hash.block_size),
    };
    let mut order: Vec<&SessionIndexRow> = dataset.sessions().iter().collect();
    order.sort_by_key(|session| session.turn_row_offset);
    let languages = if options.group_by == Some(GroupBy::Language) {
        Some(session_languages(&dataset)?)
    } else {
        None
    };
    let turns_path = path.join("turns.parquet");
    let (builder, totals) =
        parallel_scan(&dataset, &order, languages.as_ref(), options, &turns_path)?;
    let ScanTotals {
        untimed_turns,
        largest_block_size,
    } = totals;
    let (overall, groups) = builder.finish();
    let simulation = if options.kv_capacities.is_empty() {
        None
    } else {
        let block_size = options
            .kv_block_size
            .or((largest_block_size > 0).then_some(largest_block_size))
            .or(info.hash_block_size)
            .unwrap_or_else(|| u32::try_from(crate::blocks::DEFAULT_BLOCK_SIZE).unwrap_or(16));
        let simulation_options = SimulationOptions {
            agents: options.agents,
            capacities: options.kv_capacities.clone(),
            block_size,
            interleaving: if untimed_turns == 0 {
                Interleaving::RecordedTime
            } else {
                Interleaving::RoundRobin
            },
        };
        let mut sessions = SequentialSessions::new(&dataset, &order)?;
        Some(simulate::simulate(
            order.len(),
            |index| sessions.next(index),
            &simulation_options,
        )?)
    };
    Ok((
        info,
        Computed {
            overall,
            groups,
            simulation,
        },
    ))
}

/// What the streaming pass learned besides the statistics.
struct ScanTotals {
    /// Turns with neither an absolute nor a relative request time.
    untimed_turns: u64,
    /// Largest block size of the stored hash ids (0 when none were read).
    largest_block_size: u32,
}

/// Sessions per part of the parallel scan, at least: below this, splitting costs more than it
/// saves.
const MIN_TURNS_PER_PART: u64 = 50_000;

/// Scans the turns in contiguous parts of whole sessions, one per thread, and merges the parts'
/// builders. Every figure merges exactly, so the report does not depend on the thread count.
fn parallel_scan(
    dataset: &DatasetIndex,
    order: &[&SessionIndexRow],
    languages: Option<&HashMap<&str, Option<String>>>,
    options: &StatsOptions,
    turns_path: &Path,
) -> anyhow::Result<(StatsBuilder, ScanTotals)> {
    let total_turns: u64 = order.iter().map(|s| u64::from(s.turn_count)).sum();
    let threads = u64::try_from(rayon::current_num_threads()).unwrap_or(1);
    let parts = threads.min(total_turns / MIN_TURNS_PER_PART).max(1);
    let target = total_turns.div_ceil(parts).max(1);
    let mut chunks: Vec<&[&SessionIndexRow]> = Vec::new();
    let mut start = 0;
    let mut turns = 0u64;
    for (index, session) in order.iter().enumerate() {
        turns += u64::from(session.turn_count);
        if turns >= target && index + 1 < order.len() {
            chunks.push(&order[start..=index]);
            start = index + 1;
            turns = 0;
        }
    }
    chunks.push(&order[start..]);
    let results: Vec<anyhow::Result<(StatsBuilder, ScanTotals)>> = chunks
        .par_iter()
        .map(|chunk| scan(dataset, chunk, languages, options, turns_path))
        .collect();
    let mut merged: Option<(StatsBuilder, ScanTotals)> = None;
    for result in results {
        let (builder, totals) = result?;
        match &mut merged {
            None => merged = Some((builder, totals)),
            Some((all, all_totals)) => {
                all.merge(builder);
                all_totals.untimed_turns += totals.untimed_turns;
                all_totals.largest_block_size =
                    all_totals.largest_block_size.max(totals.largest_block_size);
            }
        }
    }
    merged.ok_or_else(|| anyhow::anyhow!("no part was scanned"))
}

/// One streaming pass over the turns of `order` (contiguous sessions in row order): each turn's
/// facts to a builder.
fn scan(
    dataset: &DatasetIndex,
    order: &[&SessionIndexRow],
    languages: Option<&HashMap<&str, Option<String>>>,
    options: &StatsOptions,
    turns_path: &Path,
) -> anyhow::Result<(StatsBuilder, ScanTotals)> {
    let first_row = order.first().map_or(0, |session| session.turn_row_offset);
    let rows: u64 = order.iter().map(|s| u64::from(s.turn_count)).sum();
    let mut builder = StatsBuilder::new(options.group_by);
    let columns = ScanColumns {
        model: options.group_by == Some(GroupBy::Model),
        hash_ids: options.block_hits,
    };
    let mut sessions = order.iter();
    let mut remaining = 0u32;
    let mut untimed_turns = 0u64;
    let mut largest_block_size = 0u32;
    let begin = |builder: &mut StatsBuilder, session: &SessionIndexRow| {
        let language = languages.and_then(|languages| {
            languages
                .get(session.session_id.as_str())
                .and_then(|language: &Option<String>| language.as_deref())
        });
        builder.begin_session(session, language);
    };
    for batch in dataset
        .scan_turns(columns, Some((first_row, rows)))
        .with_context(|| format!("failed to read `{}`", turns_path.display()))?
    {
        let batch = batch.with_context(|| format!("failed to read `{}`", turns_path.display()))?;
        for row in 0..batch.len() {
            while remaining == 0 {
                let Some(session) = sessions.next() else {
                    bail!(
                        "`{}` has more turn rows than its sessions declare: the dataset is damaged",
                        turns_path.display()
                    );
                };
                begin(&mut builder, session);
                remaining = session.turn_count;
            }
            let facts = batch.facts(row);
            if facts.request_time_unix_ms.is_none() && facts.request_offset_ms.is_none() {
                untimed_turns += 1;
            }
            if let Some(ids) = facts.hash_ids {
                largest_block_size = largest_block_size.max(ids.block_size);
            }
            builder.add_turn(&facts);
            remaining -= 1;
        }
    }
    // The sessions after the last turn row can only be sessions without turns.
    let trailing: Vec<&&SessionIndexRow> = sessions.collect();
    if remaining > 0 || trailing.iter().any(|session| session.turn_count > 0) {
        bail!(
            "`{}` has fewer turn rows than its sessions declare: the dataset is damaged",
            turns_path.display()
        );
    }
    for session in trailing {
        begin(&mut builder, session);
    }
    Ok((
        builder,
        ScanTotals {
            untimed_turns,
            largest_block_size,
        },
    ))
}

/// The simulation's sessions, read in dataset order from one streaming scan of the turns: the
/// simulation takes sessions in that order, so each page of `turns` is decoded once rather than
/// once per session it holds.
struct SequentialSessions<'a> {
    order: &'a [&'a SessionIndexRow],
    batches: Box<dyn Iterator<Item = Result<TurnBatch, crate::store::StoreError>> + 'a>,
    batch: Option<TurnBatch>,
    row: usize,
    next_index: usize,
}

impl<'a> SequentialSessions<'a> {
    fn new(dataset: &'a DatasetIndex, order: &'a [&'a SessionIndexRow]) -> anyhow::Result<Self> {
        let columns = ScanColumns {
            model: false,
            hash_ids: true,
        };
        let first_row = order.first().map_or(0, |session| session.turn_row_offset);
        let rows: u64 = order.iter().map(|s| u64::from(s.turn_count)).sum();
        let batches = dataset
            .scan_turns(columns, Some((first_row, rows)))
            .context("failed to read the turns")?;
        Ok(SequentialSessions {
            order,
            batches: Box::new(batches),
            batch: None,
            row: 0,
            next_index: 0,
        })
    }

    /// The turns of session `index`, which must be the next one in order.
    fn next(&mut self, index: usize) -> anyhow::Result<Vec<SimTurn>> {
        anyhow::ensure!(
            index == self.next_index,
            "the simulation asked for session {index} out of order (expected {})",
            self.next_index
        );
        self.next_index += 1;
        let session = self.order[index];
        let mut turns = Vec::with_capacity(session.turn_count as usize);
        while turns.len() < session.turn_count as usize {
            let batch = match &self.batch {
                Some(batch) if self.row < batch.len() => batch,
                _ => {
                    let batch = self
                        .batches
                        .next()
                        .with_context(|| {
                            format!(
                                "session `{}`: the turns table ends early: the dataset is damaged",
                                session.session_id
                            )
                        })?
                        .with_context(|| {
                            format!("failed to read session `{}`", session.session_id)
                        })?;
                    self.row = 0;
                    self.batch.insert(batch)
                }
            };
            let facts = batch.facts(self.row);
            self.row += 1;
            #[allow(clippy::cast_precision_loss, reason = "ms since the epoch fit in f64")]
            let time_ms = facts
                .request_time_unix_ms
                .map(|ms| ms as f64)
                .or(facts.request_offset_ms);
            let (block_size, prefix_blocks, new_ids) = match facts.hash_ids {
                Some(ids) => (ids.block_size, ids.prefix_blocks, ids.new_ids.to_vec()),
                None => (0, 0, Vec::new()),
            };
            turns.push(SimTurn {
                time_ms,
                latency_ms: facts.model_latency_ms,
                block_size,
                prefix_blocks,
                new_ids,
            });
        }
        Ok(turns)
    }
}

/// Each session's language: its metadata's, else inferred from the file names in its messages.
fn session_languages(dataset: &DatasetIndex) -> anyhow::Result<HashMap<&str, Option<String>>> {
    let sessions = dataset.sessions();
    let mut by_message_row: Vec<(u64, u64, usize)> = sessions
        .iter()
        .enumerate()
        .map(|(index, session)| {
            (
                session.message_row_offset,
                session.message_row_offset + u64::from(session.message_count),
                index,
            )
        })
        .collect();
    by_message_row.sort_unstable();
    let mut counters: Vec<LanguageCounter> = sessions
        .iter()
        .map(|_| LanguageCounter::default())
        .collect();
    let needs_text: Vec<bool> = sessions
        .iter()
        .map(|session| language::from_metadata(session.metadata_json.as_deref()).is_none())
        .collect();
    let mut cursor = 0usize;
    dataset
        .for_each_message_text(|row, text| {
            while cursor < by_message_row.len() && by_message_row[cursor].1 <= row {
                cursor += 1;
            }
            if let Some(&(start, end, index)) = by_message_row.get(cursor)
                && (start..end).contains(&row)
                && needs_text[index]
            {
                counters[index].add_text(text);
            }
        })
        .context("failed to read the messages")?;
    Ok(sessions
        .iter()
        .zip(&counters)
        .map(|(session, counter)| {
            let language = language::from_metadata(session.metadata_json.as_deref())
                .or_else(|| counter.language().map(str::to_owned));
            (session.session_id.as_str(), language)
        })
        .collect())
}
