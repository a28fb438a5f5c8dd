//! Deriving datasets from datasets: the shared machinery of `filter`, `sample`, `split`, `merge`,
//! `truncate`, `retokenize` and `anonymize`.
//!
//! Every one of them reads sessions in dataset order (`Dataset::stream`, each table page decoded
//! once), decides or rewrites per session, and writes a new dataset through `DerivedWriter`,
//! which keeps the input's tokenizer and hash identity, counts what each raw source still
//! contributes, and records the deriving command and its arguments in the manifest. Rows that a
//! command does not change are copied as stored; only `retokenize` and `truncate --mode cut`
//! rebuild a session's text and count it again (`trajectory`).

pub mod anonymize;
pub mod filter;
pub mod sample;
pub mod split;
pub mod trajectory;
pub mod truncate;
pub mod turns;

use std::collections::BTreeMap;
use std::path::Path;

use crate::dataset::{DatasetIndex, SessionData};
use crate::schema::manifest::{CreationParameters, Manifest, Rejects, TableFile, Tables};
use crate::schema::{MessageRow, SCHEMA_VERSION, SessionRow, TurnRow};
use crate::store::{DatasetReader, DatasetWriter, StoreError, table_file};

/// Why a dataset could not be derived.
#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    /// Reading or writing a dataset failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored session is inconsistent.
    #[error(transparent)]
    Reconstruct(#[from] crate::dataset::ReconstructError),
    /// Counting tokens failed.
    #[error(transparent)]
    Tokenizer(#[from] crate::tokenizer::TokenizerError),
    /// Re-encoding a session failed.
    #[error("session `{session_id}`: {source}")]
    Encode {
        /// The session.
        session_id: String,
        /// Why.
        #[source]
        source: crate::ingest::encode::EncodeError,
    },
    /// The command cannot apply to this input.
    #[error("{0}")]
    Invalid(String),
}

/// What a derived dataset records about how it was made.
#[derive(Debug, Clone)]
pub struct Derivation {
    /// The subcommand (`filter`, `sample`, …).
    pub command: &'static str,
    /// The input dataset paths, as given.
    pub inputs: Vec<String>,
    /// The command's own arguments, as given, so that the dataset can be made again.
    pub arguments: Vec<String>,
    /// Name for the new dataset; the output directory's name when `None`.
    pub name: Option<String>,
}

/// What a derived dataset holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DerivedSummary {
    /// Sessions written.
    pub sessions: u64,
    /// Turns written.
    pub turns: u64,
    /// Messages written.
    pub messages: u64,
}

/// Writes a derived dataset atomically and builds its manifest from the inputs'.
pub struct DerivedWriter {
    writer: DatasetWriter,
    manifest: Manifest,
    /// Sessions and turns written per raw source file, to restate the sources' counts.
    per_source: BTreeMap<String, (u64, u64)>,
    /// Whether file names are to be removed from the manifest.
    scrub: bool,
    /// The inputs' dataset names.
    input_names: Vec<String>,
}

impl DerivedWriter {
    /// Starts a dataset at `output` derived from `inputs` (at least one). The inputs must share
    /// one tokenizer and hash identity, since the written counts and ids are theirs. With
    /// `tokenizer`, the dataset is recounted and takes that identity instead.
    pub fn create(
        output: &Path,
        force: bool,
        inputs: &[&DatasetReader],
        derivation: Derivation,
        recounted: Option<Recounted>,
    ) -> Result<DerivedWriter, TransformError> {
        let first = inputs
            .first()
            .ok_or_else(|| TransformError::Invalid("no input dataset".to_owned()))?
            .manifest();
        if recounted.is_none() {
            for other in &inputs[1..] {
                let manifest = other.manifest();
                if manifest.tokenizer != first.tokenizer || manifest.hash != first.hash {
                    return Err(TransformError::Invalid(format!(
                        "`{}` and `{}` were counted with different tokenizers or hash parameters \
                         ({} vs {}); retokenize one of them first",
                        inputs[0].directory().display(),
                        other.directory().display(),
                        tokenizer_name(first),
                        tokenizer_name(manifest),
                    )));
                }
            }
        }
        let (tokenizer, hash, tokenizer_argument) = match recounted {
            Some(recounted) => (recounted.identity, recounted.hash, recounted.argument),
            None => (
                first.tokenizer.clone(),
                first.hash.clone(),
                first.creation.tokenizer.clone(),
            ),
        };
        let mut sources = Vec::new();
        let mut rejects = Rejects {
            count: 0,
            records: Vec::new(),
        };
        let mut skipped_files = Vec::new();
        for input in inputs {
            let manifest = input.manifest();
            sources.extend(manifest.sources.iter().cloned());
            rejects.count += manifest.rejects.count;
            rejects
                .records
                .extend(manifest.rejects.records.iter().cloned());
            skipped_files.extend(manifest.skipped_files.iter().cloned());
        }
        rejects
            .records
            .truncate(crate::schema::manifest::REJECTS_LISTED);
        let name = derivation.name.clone().unwrap_or_else(|| {
            output
                .file_name()
                .map_or_else(String::new, |name| name.to_string_lossy().into_owned())
        });
        let tokenizer_json = serde_json::to_string(&tokenizer).map_err(|error| StoreError::Io {
            path: output.to_owned(),
            source: error.into(),
        })?;
        let writer = DatasetWriter::create(output, force, &tokenizer_json)?;
        let manifest = Manifest {
            schema_version: SCHEMA_VERSION.to_owned(),
            trajkit_version: env!("CARGO_PKG_VERSION").to_owned(),
            name,
            creation: CreationParameters {
                command: derivation.command.to_owned(),
                inputs: derivation.inputs,
                format: "trajkit".to_owned(),
                tokenizer: tokenizer_argument,
                strict: false,
                arguments: derivation.arguments,
            },
            tokenizer,
            hash,
            tables: Tables {
                turns: TableFile {
                    path: table_file::<TurnRow>(),
                    rows: 0,
                },
                sessions: TableFile {
                    path: table_file::<SessionRow>(),
                    rows: 0,
                },
                messages: TableFile {
                    path: table_file::<MessageRow>(),
                    rows: 0,
                },
            },
            sources,
            rejects,
            skipped_files,
        };
        Ok(DerivedWriter {
            writer,
            manifest,
            per_source: BTreeMap::new(),
            scrub: false,
            input_names: inputs
                .iter()
                .map(|input| input.manifest().name.clone())
                .collect(),
        })
    }

    /// Appends one session.
    pub fn write(&mut self, session: SessionData) -> Result<(), TransformError> {
        let source = session.session.source_file.clone();
        self.write_counted_as(session, &source)
    }

    /// Appends one session, counting it for the raw source `source_file` (a session whose
    /// provenance was scrubbed still counts for the file it came from).
    pub fn write_counted_as(
        &mut self,
        session: SessionData,
        source_file: &str,
    ) -> Result<(), TransformError> {
        let entry = self.per_source.entry(source_file.to_owned()).or_default();
        entry.0 += 1;
        entry.1 += session.turns.len() as u64;
        self.writer
            .write_session(session.session, session.turns, session.messages)?;
        Ok(())
    }

    /// Removes file names and rejected records' texts from the manifest (`anonymize`): sources
    /// become `source-1`, … with their sizes and digests, rejected records keep only their count,
    /// inputs become the input datasets' names.
    pub fn scrub_provenance(&mut self) {
        self.scrub = true;
        self.manifest.rejects.records.clear();
        self.manifest.skipped_files.clear();
    }

    /// Finishes the tables and the manifest and moves the dataset into place.
    pub fn finish(mut self) -> Result<DerivedSummary, TransformError> {
        let summary = DerivedSummary {
            sessions: self.writer.session_rows(),
            turns: self.writer.turn_rows(),
            messages: self.writer.message_rows(),
        };
        self.manifest.tables.turns.rows = summary.turns;
        self.manifest.tables.sessions.rows = summary.sessions;
        self.manifest.tables.messages.rows = summary.messages;
        // A source listed twice (merging datasets made from one file) keeps one entry.
        let mut seen = std::collections::HashSet::new();
        self.manifest
            .sources
            .retain(|source| seen.insert((source.path.clone(), source.sha256.clone())));
        for source in &mut self.manifest.sources {
            let (sessions, turns) = self
                .per_source
                .get(&source.path)
                .copied()
                .unwrap_or_default();
            source.sessions = sessions;
            source.turns = turns;
        }
        if self.scrub {
            for (index, source) in self.manifest.sources.iter_mut().enumerate() {
                source.path = format!("source-{}", index + 1);
            }
            self.manifest.creation.inputs.clone_from(&self.input_names);
        }
        self.writer.finish(&self.manifest)?;
        Ok(summary)
    }
}

/// The identity a recounted dataset takes (`retokenize`).
#[derive(Debug, Clone)]
pub struct Recounted {
    /// The new tokenizer's identity.
    pub identity: Option<crate::schema::manifest::TokenizerIdentity>,
    /// The new hash parameters.
    pub hash: Option<crate::schema::manifest::HashParameters>,
    /// `--tokenizer` as given.
    pub argument: String,
}

fn tokenizer_name(manifest: &Manifest) -> String {
    manifest
        .tokenizer
        .as_ref()
        .map_or_else(|| "none".to_owned(), |identity| identity.name.clone())
}

/// Copies the sessions of `dataset` at `chosen` (ascending), unchanged, in dataset order.
pub fn copy_sessions(
    dataset: &DatasetIndex,
    chosen: &[usize],
    writer: &mut DerivedWriter,
) -> Result<(), TransformError> {
    for session in dataset.stream(chosen)?.prefetched() {
        writer.write(session?)?;
    }
    Ok(())
}

/// `SplitMix64`: a fixed, documented mixing function for seeded decisions that must not change
/// between releases or platforms (sampling, splitting).
pub fn mix64(mut value: u64) -> u64 {
    value = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
    value = (value ^ (value >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    value = (value ^ (value >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    value ^ (value >> 31)
}

/// A session id's stable 64-bit hash under `seed`: XXH3-64 of its UTF-8 bytes.
pub fn session_hash(session_id: &str, seed: u64) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(session_id.as_bytes(), seed)
}
