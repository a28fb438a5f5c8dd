//! `ingest`: raw agent logs in, one trajectory dataset out.
//!
//! The pipeline is discover (formats, order) → read units (whole files, or runs of lines for
//! line-oriented formats) → parse and encode units in parallel (rayon) → write sessions in input
//! order. Units are processed a window at a time while the previous window is written, so memory
//! is bounded by the window, not by the corpus, and output order never depends on thread timing.

pub mod discover;
pub mod encode;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::blocks;
use crate::formats::{FormatError, SourceFormat, SourceUnit};
use crate::schema::manifest::{
    CreationParameters, HashParameters, REJECTS_LISTED, RejectedRecord, Rejects, SourceFile,
    TableFile, Tables, TokenizerIdentity,
};
use crate::schema::{Manifest, MessageRow, SCHEMA_VERSION, SessionRow, TurnRow};
use crate::store::{DatasetWriter, StoreError, table_file};
use crate::tokenizer::{Tokenizer, TokenizerError, TokenizerSpec};
use discover::{DiscoverError, PlannedFile};
use encode::{EncodedSession, Provenance};

/// Bytes of a line-oriented file handed to one worker at a time.
const CHUNK_BYTES: usize = 8 << 20;
/// Bytes of input processed per window (bounds memory together with the largest session).
const WINDOW_BYTES: usize = 8 << 20;
/// Units processed per window at most.
const WINDOW_UNITS: usize = 64;

/// Everything `ingest` needs, resolved from the command line.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Files and directories to read.
    pub inputs: Vec<PathBuf>,
    /// Dataset directory to create.
    pub output: PathBuf,
    /// Dataset name for the manifest.
    pub name: String,
    /// Forced format; `None` detects each file's.
    pub format: Option<SourceFormat>,
    /// Tokenizer to count with.
    pub tokenizer: TokenizerSpec,
    /// Tokens per hash block.
    pub block_size: usize,
    /// Whether a bad record aborts the run.
    pub strict: bool,
    /// Whether an existing dataset at `output` is replaced.
    pub force: bool,
    /// The command line's values, recorded in the manifest.
    pub creation: CreationParameters,
}

/// What ingest reports as it goes. Implemented by the command (stderr, progress bar).
pub trait IngestObserver: Send {
    /// Total input bytes, once known.
    fn start(&mut self, total_bytes: u64);
    /// Input bytes processed since the last call.
    fn advance(&mut self, bytes: u64);
    /// A record was rejected (skipped).
    fn reject(&mut self, error: &FormatError);
    /// Something worth telling that is not a reject.
    fn warn(&mut self, message: &str);
}

/// Counts of a finished ingest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestSummary {
    /// Files read.
    pub files: usize,
    /// Files under input directories that were not recognized.
    pub skipped_files: usize,
    /// Sessions written.
    pub sessions: u64,
    /// Turns written.
    pub turns: u64,
    /// Messages written.
    pub messages: u64,
    /// Records rejected.
    pub rejects: u64,
}

/// Ingest failed; nothing was written at the output path.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// An input could not be listed or read.
    #[error(transparent)]
    Discover(#[from] DiscoverError),
    /// An input file could not be read.
    #[error("cannot read `{path}`: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A record was bad and `--strict` was set.
    #[error("{0}\nhint: without --strict, bad records are skipped, counted and listed")]
    Strict(FormatError),
    /// The tokenizer could not be loaded.
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    /// The dataset could not be written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs ingest.
pub fn run(
    options: &IngestOptions,
    observer: &mut dyn IngestObserver,
) -> Result<IngestSummary, IngestError> {
    let tokenizer = Tokenizer::load(&options.tokenizer)?;
    let identity = tokenizer.as_ref().map(|t| t.identity().clone());
    let plan = discover::plan(&options.inputs, options.format, &options.output)?;
    observer.start(plan.files.iter().map(|f| f.bytes).sum());

    let tokenizer_json = serde_json::to_string(&identity).unwrap_or_else(|_| "null".to_owned());
    let writer = DatasetWriter::create(&options.output, options.force, &tokenizer_json)?;
    let mut sink = Sink {
        writer,
        sources: plan
            .files
            .iter()
            .map(|file| SourceFile {
                path: file.display.clone(),
                format: file.format.map(|f| f.name().to_owned()),
                bytes: file.bytes,
                sha256: String::new(),
                sessions: 0,
                turns: 0,
                rejects: 0,
            })
            .collect(),
        rejects: Rejects {
            count: 0,
            records: Vec::new(),
        },
        session_ids: HashSet::new(),
        strict: options.strict,
        observer,
    };

    let context = WorkContext {
        tokenizer: tokenizer.as_ref(),
        block_size: options.block_size,
        files: &plan.files,
    };
    let mut units = Units::new(&plan.files);
    let mut pending: Option<Vec<UnitOutput>> = None;
    loop {
        let window = units.next_window()?;
        for (file, sha256) in units.take_finished_hashes() {
            sink.sources[file].sha256 = sha256;
        }
        if window.is_empty() && pending.is_none() {
            break;
        }
        let (written, outputs) = rayon::join(
            || pending.take().map_or(Ok(()), |outputs| sink.write(outputs)),
            || {
                window
                    .into_par_iter()
                    .map(|unit| context.process(unit))
                    .collect::<Vec<_>>()
            },
        );
        written?;
        pending = (!outputs.is_empty()).then_some(outputs);
    }

    let summary = IngestSummary {
        files: plan.files.len(),
        skipped_files: plan.skipped.len(),
        sessions: sink.writer.session_rows(),
        turns: sink.writer.turn_rows(),
        messages: sink.writer.message_rows(),
        rejects: sink.rejects.count,
    };
    let table = |file: String, rows: u64| TableFile { path: file, rows };
    let manifest = Manifest {
        schema_version: SCHEMA_VERSION.to_owned(),
        trajkit_version: env!("CARGO_PKG_VERSION").to_owned(),
        name: options.name.clone(),
        creation: options.creation.clone(),
        hash: hash_parameters(identity.as_ref(), options.block_size),
        tokenizer: identity,
        tables: Tables {
            turns: table(table_file::<TurnRow>(), summary.turns),
            sessions: table(table_file::<SessionRow>(), summary.sessions),
            messages: table(table_file::<MessageRow>(), summary.messages),
        },
        sources: sink.sources,
        rejects: sink.rejects,
        skipped_files: plan.skipped,
    };
    sink.writer.finish(&manifest)?;
    Ok(summary)
}

/// The hash parameters of a dataset counted with `identity`'s tokenizer; none without one.
fn hash_parameters(
    identity: Option<&TokenizerIdentity>,
    block_size: usize,
) -> Option<HashParameters> {
    identity.map(|_| HashParameters {
        block_size: u32::try_from(block_size).unwrap_or(u32::MAX),
        algorithm: blocks::ALGORITHM.to_owned(),
        token_stream: "tool definitions, then each request message in order".to_owned(),
        partial_last_block: true,
    })
}

/// The manifest's tokenizer identity and hash parameters for a dataset counted with `tokenizer`
/// at `block_size` (what ingest records; `retokenize` records the same).
pub fn identity_and_hash(
    tokenizer: Option<&Tokenizer>,
    block_size: usize,
) -> (Option<TokenizerIdentity>, Option<HashParameters>) {
    let identity = tokenizer.map(|t| t.identity().clone());
    let hash = hash_parameters(identity.as_ref(), block_size);
    (identity, hash)
}

/// Read-only state shared by the workers.
struct WorkContext<'a> {
    tokenizer: Option<&'a Tokenizer>,
    block_size: usize,
    files: &'a [PlannedFile],
}

struct Unit {
    file: usize,
    source: SourceUnit,
}

struct UnitOutput {
    file: usize,
    bytes: u64,
    sessions: Vec<Result<EncodedSession, FormatError>>,
}

impl WorkContext<'_> {
    fn process(&self, unit: Unit) -> UnitOutput {
        let planned = &self.files[unit.file];
        let bytes = unit.source.data.len() as u64;
        let file_error = |message: &str| UnitOutput {
            file: unit.file,
            bytes,
            sessions: vec![Err(FormatError {
                path: planned.display.clone(),
                line: None,
                column: None,
                json_path: None,
                message: message.to_owned(),
            })],
        };
        if unit.source.first_line == 1 && unit.source.data.iter().all(u8::is_ascii_whitespace) {
            return file_error("empty file");
        }
        let Some(format) = planned.format else {
            return file_error(
                "cannot detect the format of this file\nhint: name it with --format",
            );
        };
        let provenance = Provenance {
            source_format: format.name(),
            source_file: &planned.display,
        };
        let sessions = format
            .reader(unit.source)
            .map(|trajectory| {
                let trajectory = trajectory?;
                let line = trajectory.session.source_line;
                encode::encode(trajectory, self.tokenizer, self.block_size, provenance).map_err(
                    |error| FormatError {
                        path: planned.display.clone(),
                        line,
                        column: None,
                        json_path: None,
                        message: error.to_string(),
                    },
                )
            })
            .collect();
        UnitOutput {
            file: unit.file,
            bytes,
            sessions,
        }
    }
}

/// Writes processed units in order and keeps the manifest's books.
struct Sink<'a> {
    writer: DatasetWriter,
    sources: Vec<SourceFile>,
    rejects: Rejects,
    session_ids: HashSet<String>,
    strict: bool,
    observer: &'a mut dyn IngestObserver,
}

impl Sink<'_> {
    fn write(&mut self, outputs: Vec<UnitOutput>) -> Result<(), IngestError> {
        for output in outputs {
            for session in output.sessions {
                match session {
                    Ok(encoded) => self.write_session(output.file, encoded)?,
                    Err(error) => {
                        if self.strict {
                            return Err(IngestError::Strict(error));
                        }
                        self.observer.reject(&error);
                        self.sources[output.file].rejects += 1;
                        self.rejects.count += 1;
                        if self.rejects.records.len() < REJECTS_LISTED {
                            self.rejects.records.push(RejectedRecord {
                                file: error.path,
                                line: error.line,
                                column: error.column,
                                json_path: error.json_path,
                                message: error.message,
                            });
                        }
                    }
                }
            }
            self.observer.advance(output.bytes);
        }
        Ok(())
    }

    fn write_session(&mut self, file: usize, encoded: EncodedSession) -> Result<(), IngestError> {
        let EncodedSession {
            mut session,
            mut turns,
            mut messages,
        } = encoded;
        if !self.session_ids.insert(session.session_id.clone()) {
            // Two logs with one id (the same task run twice): keep both, renamed visibly.
            let original = session.session_id.clone();
            let mut suffix = 2;
            while self.session_ids.contains(&format!("{original}#{suffix}")) {
                suffix += 1;
            }
            let renamed = format!("{original}#{suffix}");
            self.observer.warn(&format!(
                "{}: session id `{original}` was already used; stored as `{renamed}`",
                session.source_file
            ));
            self.session_ids.insert(renamed.clone());
            for turn in &mut turns {
                turn.session_id.clone_from(&renamed);
            }
            for message in &mut messages {
                message.session_id.clone_from(&renamed);
            }
            session.session_id = renamed;
        }
        let source = &mut self.sources[file];
        source.sessions += 1;
        source.turns += turns.len() as u64;
        self.writer.write_session(session, turns, messages)?;
        Ok(())
    }
}

/// Produces units from the planned files: whole files, or for line-oriented formats runs of
/// about `CHUNK_BYTES` of whole lines. Hashes every file as it goes.
struct Units<'a> {
    files: &'a [PlannedFile],
    next_file: usize,
    open: Option<OpenFile>,
    finished_hashes: Vec<(usize, String)>,
}

struct OpenFile {
    file: usize,
    reader: BufReader<fs_err::File>,
    hasher: Sha256,
    next_line: u64,
}

impl<'a> Units<'a> {
    fn new(files: &'a [PlannedFile]) -> Self {
        Units {
            files,
            next_file: 0,
            open: None,
            finished_hashes: Vec::new(),
        }
    }

    fn take_finished_hashes(&mut self) -> Vec<(usize, String)> {
        std::mem::take(&mut self.finished_hashes)
    }

    fn next_window(&mut self) -> Result<Vec<Unit>, IngestError> {
        let mut window = Vec::new();
        let mut bytes = 0;
        while window.len() < WINDOW_UNITS && bytes < WINDOW_BYTES {
            let Some(unit) = self.next_unit()? else {
                break;
            };
            bytes += unit.source.data.len();
            window.push(unit);
        }
        Ok(window)
    }

    fn next_unit(&mut self) -> Result<Option<Unit>, IngestError> {
        loop {
            if self.open.is_none() {
                let Some(planned) = self.files.get(self.next_file) else {
                    return Ok(None);
                };
                let file =
                    fs_err::File::open(&planned.path).map_err(|source| IngestError::Read {
                        path: planned.display.clone(),
                        source,
                    })?;
                self.open = Some(OpenFile {
                    file: self.next_file,
                    reader: BufReader::with_capacity(1 << 20, file),
                    hasher: Sha256::new(),
                    next_line: 1,
                });
                self.next_file += 1;
            }
            let Some(open) = self.open.as_mut() else {
                continue;
            };
            let planned = &self.files[open.file];
            let read_error = |source| IngestError::Read {
                path: planned.display.clone(),
                source,
            };
            let mut data = Vec::new();
            let line_oriented = planned.format.is_some_and(SourceFormat::is_line_oriented);
            if line_oriented {
                (&mut open.reader)
                    .take(CHUNK_BYTES as u64)
                    .read_to_end(&mut data)
                    .map_err(read_error)?;
                if data.last().is_some_and(|&b| b != b'\n') {
                    open.reader
                        .read_until(b'\n', &mut data)
                        .map_err(read_error)?;
                }
            } else {
                open.reader.read_to_end(&mut data).map_err(read_error)?;
            }
            open.hasher.update(&data);
            let first_line = open.next_line;
            open.next_line += memchr::memchr_iter(b'\n', &data).count() as u64;
            let file = open.file;
            let at_end = !line_oriented || data.len() < CHUNK_BYTES || {
                open.reader.fill_buf().map_err(read_error)?.is_empty()
            };
            if let Some(done) = self.open.take_if(|_| at_end) {
                self.finished_hashes
                    .push((done.file, hex::encode(done.hasher.finalize())));
            }
            // An empty file still yields one unit, so that it is reported.
            if data.is_empty() && first_line > 1 {
                continue;
            }
            return Ok(Some(Unit {
                file,
                source: SourceUnit {
                    path: planned.display.clone(),
                    data,
                    first_line,
                },
            }));
        }
    }
}
