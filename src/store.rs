//! Reading and writing dataset directories: the only module that imports `parquet`.
//!
//! Writes are atomic (`staged`): tables and manifest go to a hidden directory beside the target,
//! are synced, and the directory is renamed into place, so an interrupted run (even SIGKILL)
//! never leaves a partial dataset at the target path.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use parquet::arrow::arrow_reader::{
    ArrowReaderOptions, ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder, RowSelection,
    RowSelector,
};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::metadata::{KeyValue, PageIndexPolicy};
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use crate::schema::arrow::{ConversionError, TableRow};
use crate::schema::manifest::MANIFEST_FILE;
use crate::schema::{
    METADATA_SCHEMA_VERSION, METADATA_TABLE, METADATA_TOKENIZER, Manifest, MessageRow,
    SCHEMA_VERSION, SessionRow, TurnRow, is_supported_version,
};
use crate::staged::{DirectoryKind, StageError, StagedDirectory};

/// Rows converted to Arrow at a time, at most.
const BATCH_ROWS: usize = 4096;
/// Rows per record batch of a column scan.
const SCAN_BATCH_ROWS: usize = 8192;
/// Rows per batch of a whole-row scan: message rows carry whole tool outputs, so fewer of them.
const ROW_SCAN_BATCH_ROWS: usize = 1024;
/// Approximate bytes of buffered rows converted to Arrow at a time, at most.
const BATCH_BYTES: usize = 4 << 20;
/// Row groups are closed when their encoded size passes this, bounding writer memory.
const ROW_GROUP_BYTES: usize = 8 << 20;

/// A dataset could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file system operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Parquet encoding or decoding failed.
    #[error("{}: {source}", path.display())]
    Parquet {
        /// The Parquet file.
        path: PathBuf,
        /// The error.
        #[source]
        source: ParquetError,
    },
    /// Rows could not be converted to or from Arrow.
    #[error("{}: {source}", path.display())]
    Conversion {
        /// The Parquet file.
        path: PathBuf,
        /// The error.
        #[source]
        source: ConversionError,
    },
    /// The target exists and overwriting was not asked for.
    #[error("`{}` already exists\nhint: pass --force to replace it", path.display())]
    Exists {
        /// The target.
        path: PathBuf,
    },
    /// The target exists, is not a dataset, and is not empty: never replaced, even with --force.
    #[error("`{}` exists and is not a trajkit dataset; refusing to replace it", path.display())]
    NotReplaceable {
        /// The target.
        path: PathBuf,
    },
    /// The directory has no readable manifest.
    #[error("`{}` is not a trajkit dataset: {message}", path.display())]
    NotADataset {
        /// The directory.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A table lacks a column a reader asked for (a dataset written by a foreign tool).
    #[error("{}: no column `{column}`", path.display())]
    MissingColumn {
        /// The Parquet file.
        path: PathBuf,
        /// The column.
        column: String,
    },
    /// The dataset was written by an incompatible format version.
    #[error("`{}` has trajectory format {found}; this trajkit reads {SCHEMA_VERSION}", path.display())]
    Version {
        /// The directory.
        path: PathBuf,
        /// The version found.
        found: String,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// File name of a table inside a dataset directory.
pub fn table_file<Row: TableRow>() -> String {
    format!("{}.parquet", Row::TABLE)
}

/// Writes one dataset directory atomically.
pub struct DatasetWriter {
    directory: StagedDirectory,
    turns: TableWriter<TurnRow>,
    sessions: TableWriter<SessionRow>,
    messages: TableWriter<MessageRow>,
}

/// How a dataset directory is recognised, so that `--force` replaces only datasets.
const DATASET_DIRECTORY: DirectoryKind = DirectoryKind {
    marker: MANIFEST_FILE,
    what: "trajkit dataset",
};

impl From<StageError> for StoreError {
    fn from(error: StageError) -> StoreError {
        match error {
            StageError::Exists { path } => StoreError::Exists { path },
            StageError::NotReplaceable { path, .. } => StoreError::NotReplaceable { path },
            StageError::Io { path, source } => StoreError::Io { path, source },
        }
    }
}

impl DatasetWriter {
    /// Starts writing a dataset that will appear at `target`. `tokenizer_json` is the tokenizer
    /// identity as JSON (`null` without one), stored in every table's metadata. With
    /// `overwrite`, an existing dataset (or empty directory) at `target` is replaced at the end.
    pub fn create(
        target: &Path,
        overwrite: bool,
        tokenizer_json: &str,
    ) -> Result<DatasetWriter, StoreError> {
        let directory = StagedDirectory::create(target, overwrite, DATASET_DIRECTORY)?;
        let open = |file: String| directory.path().join(file);
        Ok(DatasetWriter {
            turns: TableWriter::create(open(table_file::<TurnRow>()), tokenizer_json)?,
            sessions: TableWriter::create(open(table_file::<SessionRow>()), tokenizer_json)?,
            messages: TableWriter::create(open(table_file::<MessageRow>()), tokenizer_json)?,
            directory,
        })
    }

    /// Rows written so far to `turns`.
    pub fn turn_rows(&self) -> u64 {
        self.turns.rows
    }

    /// Rows written so far to `messages`.
    pub fn message_rows(&self) -> u64 {
        self.messages.rows
    }

    /// Rows written so far to `sessions`.
    pub fn session_rows(&self) -> u64 {
        self.sessions.rows
    }

    /// Appends one session with its turns and messages, setting the session's row offsets.
    pub fn write_session(
        &mut self,
        mut session: SessionRow,
        turns: Vec<TurnRow>,
        messages: Vec<MessageRow>,
    ) -> Result<(), StoreError> {
        session.turn_row_offset = self.turns.rows;
        session.message_row_offset = self.messages.rows;
        self.sessions.push(std::iter::once(session))?;
        self.turns.push(turns)?;
        self.messages.push(messages)
    }

    /// Finishes the tables, writes `manifest`, and moves the dataset into place.
    pub fn finish(mut self, manifest: &Manifest) -> Result<(), StoreError> {
        self.turns.finish()?;
        self.sessions.finish()?;
        self.messages.finish()?;
        let manifest_path = self.directory.path().join(MANIFEST_FILE);
        let mut text = serde_json::to_string_pretty(manifest).map_err(|error| StoreError::Io {
            path: manifest_path.clone(),
            source: error.into(),
        })?;
        text.push('\n');
        write_synced(&manifest_path, text.as_bytes())?;
        Ok(self.directory.finish()?)
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut file = fs_err::File::create(path).map_err(io_error(path))?;
    file.write_all(bytes).map_err(io_error(path))?;
    file.sync_all().map_err(io_error(path))
}

struct TableWriter<Row: TableRow> {
    path: PathBuf,
    writer: Option<ArrowWriter<BufWriter<File>>>,
    buffer: Vec<Row>,
    buffered_bytes: usize,
    rows: u64,
}

impl<Row: TableRow> TableWriter<Row> {
    fn create(path: PathBuf, tokenizer_json: &str) -> Result<Self, StoreError> {
        let file = File::create(&path).map_err(io_error(&path))?;
        let properties = WriterProperties::builder()
            // Level 1: the writer runs beside the parsers on one core, and level 3 made it the
            // bottleneck for 2% smaller files.
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap_or_default()))
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_max_row_group_bytes(Some(ROW_GROUP_BYTES))
            .set_created_by(format!("trajkit {}", env!("CARGO_PKG_VERSION")))
            .set_key_value_metadata(Some(vec![
                KeyValue::new(
                    METADATA_SCHEMA_VERSION.to_owned(),
                    SCHEMA_VERSION.to_owned(),
                ),
                KeyValue::new(METADATA_TOKENIZER.to_owned(), tokenizer_json.to_owned()),
                KeyValue::new(METADATA_TABLE.to_owned(), Row::TABLE.to_owned()),
            ]))
            .build();
        let writer = ArrowWriter::try_new(BufWriter::new(file), Row::schema(), Some(properties))
            .map_err(|source| StoreError::Parquet {
                path: path.clone(),
                source,
            })?;
        Ok(TableWriter {
            path,
            writer: Some(writer),
            buffer: Vec::new(),
            buffered_bytes: 0,
            rows: 0,
        })
    }

    fn push(&mut self, rows: impl IntoIterator<Item = Row>) -> Result<(), StoreError> {
        for row in rows {
            self.buffered_bytes += row.approximate_bytes();
            self.buffer.push(row);
            self.rows += 1;
            if self.buffer.len() >= BATCH_ROWS || self.buffered_bytes >= BATCH_BYTES {
                self.write_buffer()?;
            }
        }
        Ok(())
    }

    fn write_buffer(&mut self) -> Result<(), StoreError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let batch = Row::to_batch(&self.buffer).map_err(|source| StoreError::Conversion {
            path: self.path.clone(),
            source,
        })?;
        self.buffer.clear();
        self.buffered_bytes = 0;
        if let Some(writer) = self.writer.as_mut() {
            writer.write(&batch).map_err(|source| StoreError::Parquet {
                path: self.path.clone(),
                source,
            })?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), StoreError> {
        self.write_buffer()?;
        let Some(writer) = self.writer.take() else {
            return Ok(());
        };
        let parquet_error = |source| StoreError::Parquet {
            path: self.path.clone(),
            source,
        };
        let buffered = writer.into_inner().map_err(parquet_error)?;
        let file = buffered
            .into_inner()
            .map_err(|error| io_error(&self.path)(error.into_error()))?;
        file.sync_all().map_err(io_error(&self.path))
    }
}

/// An open dataset directory.
#[derive(Debug, Clone)]
pub struct DatasetReader {
    directory: PathBuf,
    manifest: Manifest,
}

impl DatasetReader {
    /// Opens a dataset, checking its manifest and format version.
    pub fn open(directory: &Path) -> Result<DatasetReader, StoreError> {
        let manifest_path = directory.join(MANIFEST_FILE);
        let text =
            fs_err::read_to_string(&manifest_path).map_err(|error| StoreError::NotADataset {
                path: directory.to_owned(),
                message: error.to_string(),
            })?;
        let version: serde_json::Value =
            serde_json::from_str(&text).map_err(|error| StoreError::NotADataset {
                path: directory.to_owned(),
                message: format!("{MANIFEST_FILE}: {error}"),
            })?;
        let found = version
            .get("schema_version")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("unknown");
        if !is_supported_version(found) {
            return Err(StoreError::Version {
                path: directory.to_owned(),
                found: found.to_owned(),
            });
        }
        let manifest =
            serde_json::from_value(version).map_err(|error| StoreError::NotADataset {
                path: directory.to_owned(),
                message: format!("{MANIFEST_FILE}: {error}"),
            })?;
        Ok(DatasetReader {
            directory: directory.to_owned(),
            manifest,
        })
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The dataset directory.
    pub fn directory(&self) -> &Path {
        &self.directory
    }

    /// Every row of a table.
    pub fn read_all<Row: TableRow>(&self) -> Result<Vec<Row>, StoreError> {
        self.read(None)
    }

    /// `count` rows of a table starting at row `offset` (pages outside are skipped).
    pub fn read_rows<Row: TableRow>(
        &self,
        offset: u64,
        count: u64,
    ) -> Result<Vec<Row>, StoreError> {
        self.read(Some((offset, count)))
    }

    /// Streams the named columns of a table (every row, or `count` rows from row `offset`) as
    /// record batches, decoding no other column: the fast path for statistics over millions of
    /// rows. Batch columns keep the table's order; look them up by name.
    pub fn scan<Row: TableRow>(
        &self,
        columns: &[&str],
        range: Option<(u64, u64)>,
    ) -> Result<BatchScan, StoreError> {
        let path = self.directory.join(table_file::<Row>());
        let parquet_error = |source| StoreError::Parquet {
            path: path.clone(),
            source,
        };
        let file = File::open(&path).map_err(io_error(&path))?;
        let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
        let mut builder = ParquetRecordBatchReaderBuilder::try_new_with_options(file, options)
            .map_err(parquet_error)?;
        let mut roots = Vec::with_capacity(columns.len());
        for column in columns {
            let index =
                builder
                    .schema()
                    .index_of(column)
                    .map_err(|_| StoreError::MissingColumn {
                        path: path.clone(),
                        column: (*column).to_owned(),
                    })?;
            roots.push(index);
        }
        roots.sort_unstable();
        let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
        builder = builder
            .with_projection(mask)
            .with_batch_size(SCAN_BATCH_ROWS);
        if let Some((offset, count)) = range {
            let to_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
            builder = builder.with_row_selection(RowSelection::from(vec![
                RowSelector::skip(to_usize(offset)),
                RowSelector::select(to_usize(count)),
            ]));
        }
        let reader = builder.build().map_err(parquet_error)?;
        Ok(BatchScan { path, reader })
    }

    /// Streams whole rows of a table in table order, in batches: every row, or only the rows of
    /// `ranges` (`(offset, count)` pairs, ascending and disjoint; pages outside them are skipped).
    /// Rewriting commands read datasets this way, each page decoded once.
    pub fn rows<Row: TableRow>(
        &self,
        ranges: Option<&[(u64, u64)]>,
    ) -> Result<RowScan<Row>, StoreError> {
        let path = self.directory.join(table_file::<Row>());
        if ranges.is_some_and(<[_]>::is_empty) {
            return Ok(RowScan {
                path,
                reader: None,
                row: std::marker::PhantomData,
            });
        }
        let parquet_error = |source| StoreError::Parquet {
            path: path.clone(),
            source,
        };
        let file = File::open(&path).map_err(io_error(&path))?;
        let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
        let mut builder = ParquetRecordBatchReaderBuilder::try_new_with_options(file, options)
            .map_err(parquet_error)?
            .with_batch_size(ROW_SCAN_BATCH_ROWS);
        if let Some(ranges) = ranges {
            let to_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
            let mut selectors = Vec::with_capacity(ranges.len() * 2);
            let mut position = 0u64;
            for &(offset, count) in ranges {
                if offset < position {
                    return Err(StoreError::Io {
                        path,
                        source: std::io::Error::new(
                            std::io::ErrorKind::InvalidInput,
                            "row ranges are not ascending (a damaged sessions table?)",
                        ),
                    });
                }
                if offset > position {
                    selectors.push(RowSelector::skip(to_usize(offset - position)));
                }
                selectors.push(RowSelector::select(to_usize(count)));
                position = offset + count;
            }
            builder = builder.with_row_selection(RowSelection::from(selectors));
        }
        let reader = builder.build().map_err(parquet_error)?;
        Ok(RowScan {
            path,
            reader: Some(reader),
            row: std::marker::PhantomData,
        })
    }

    fn read<Row: TableRow>(&self, range: Option<(u64, u64)>) -> Result<Vec<Row>, StoreError> {
        let path = self.directory.join(table_file::<Row>());
        let parquet_error = |source| StoreError::Parquet {
            path: path.clone(),
            source,
        };
        let file = File::open(&path).map_err(io_error(&path))?;
        let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
        let mut builder = ParquetRecordBatchReaderBuilder::try_new_with_options(file, options)
            .map_err(parquet_error)?;
        if let Some((offset, count)) = range {
            let to_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
            builder = builder.with_row_selection(RowSelection::from(vec![
                RowSelector::skip(to_usize(offset)),
                RowSelector::select(to_usize(count)),
            ]));
        }
        let reader = builder.build().map_err(parquet_error)?;
        let mut rows = Vec::new();
        for batch in reader {
            let batch: RecordBatch = batch.map_err(|error| StoreError::Parquet {
                path: path.clone(),
                source: error.into(),
            })?;
            rows.extend(
                Row::from_batch(&batch).map_err(|source| StoreError::Conversion {
                    path: path.clone(),
                    source,
                })?,
            );
        }
        Ok(rows)
    }
}

/// Batches of whole rows (`DatasetReader::rows`).
pub struct RowScan<Row> {
    path: PathBuf,
    reader: Option<ParquetRecordBatchReader>,
    row: std::marker::PhantomData<fn() -> Row>,
}

impl<Row> RowScan<Row> {
    /// The table file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl<Row: TableRow> Iterator for RowScan<Row> {
    type Item = Result<Vec<Row>, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        let batch = self.reader.as_mut()?.next()?;
        Some(
            batch
                .map_err(|error| StoreError::Parquet {
                    path: self.path.clone(),
                    source: error.into(),
                })
                .and_then(|batch| {
                    Row::from_batch(&batch).map_err(|source| StoreError::Conversion {
                        path: self.path.clone(),
                        source,
                    })
                }),
        )
    }
}

/// Record batches of a column scan (`DatasetReader::scan`).
pub struct BatchScan {
    path: PathBuf,
    reader: ParquetRecordBatchReader,
}

impl Iterator for BatchScan {
    type Item = Result<RecordBatch, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        let batch = self.reader.next()?;
        Some(batch.map_err(|error| StoreError::Parquet {
            path: self.path.clone(),
            source: error.into(),
        }))
    }
}
