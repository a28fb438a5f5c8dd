//! `--to mooncake`: a Mooncake FAST'25 request trace, `mooncake.jsonl`, one line per turn:
//! `{"timestamp", "input_length", "output_length", "hash_ids"}` (the shape `formats::mooncake`
//! reads), sessions one after another in dataset order.
//!
//! `timestamp` is the turn's arrival in ms: its `request_offset_ms` when the source gave relative
//! times (Mooncake, Weka), else its `request_time_unix_ms` minus the dataset's earliest one, so
//! sessions keep their recorded spacing; absent when the turn has neither. `input_length` is the
//! reported input, else counted; `hash_ids` are 512-token prefix blocks (Mooncake's size), from
//! the stored ids; `output_length` the reported output, else counted. The format has no session
//! id: a trace that holds several sessions is one stream of requests.

use serde_json::{Map, Value};

use super::output::OutputDirectory;
use super::{
    ExportError, ExportFormat, ExportSummary, block_ids, input_tokens, milliseconds, output_tokens,
};
use crate::dataset::{Dataset, DatasetIndex, ScanColumns};

/// Tokens per Mooncake hash block.
const BLOCK_SIZE: u32 = 512;

/// The file written.
const FILE: &str = "mooncake.jsonl";

pub(super) fn write(
    dataset: &Dataset,
    directory: &mut OutputDirectory,
    summary: &mut ExportSummary,
) -> Result<(), ExportError> {
    let epoch = earliest_request_time(dataset)?;
    let mut file = directory.create_file(FILE)?;
    let mut without_ids = false;
    let mut without_time = false;
    for session in dataset.sessions() {
        let data = dataset.load(session)?;
        let ids = block_ids(ExportFormat::Mooncake, &data, BLOCK_SIZE, true)?;
        without_ids |= ids.is_none();
        let mut written = 0u64;
        for (position, turn) in data.turns.iter().enumerate() {
            let Some(input) = input_tokens(turn) else {
                summary.skip("no input token count");
                continue;
            };
            let mut line = Map::new();
            #[expect(
                clippy::cast_precision_loss,
                reason = "differences of Unix ms stay far below 2^53"
            )]
            let timestamp = turn.request_offset_ms.or_else(|| {
                turn.request_time_unix_ms
                    .zip(epoch)
                    .map(|(time, epoch)| (time - epoch) as f64)
            });
            match timestamp {
                Some(timestamp) => {
                    line.insert("timestamp".to_owned(), milliseconds(timestamp));
                }
                None => without_time = true,
            }
            line.insert("input_length".to_owned(), Value::from(input));
            if let Some(output) = output_tokens(turn) {
                line.insert("output_length".to_owned(), Value::from(output));
            }
            if let Some(ids) = ids.as_ref().and_then(|all| all.get(position)) {
                line.insert("hash_ids".to_owned(), Value::from(ids.clone()));
            }
            file.write_line(&Value::Object(line))?;
            written += 1;
        }
        summary.turns += written;
        summary.sessions += u64::from(written > 0);
    }
    if without_ids {
        summary.note(
            "some sessions have no hash ids (dataset ingested without a tokenizer): their lines have no hash_ids".to_owned(),
        );
    }
    if without_time {
        summary.note("some turns have no recorded time: their lines have no timestamp".to_owned());
    }
    file.finish()
}

/// The earliest `request_time_unix_ms` of the dataset, from one column scan.
fn earliest_request_time(dataset: &Dataset) -> Result<Option<i64>, ExportError> {
    let index = DatasetIndex::open(dataset.reader().directory(), false)?;
    let mut earliest: Option<i64> = None;
    for batch in index.scan_turns(ScanColumns::default(), None)? {
        let batch = batch?;
        for row in 0..batch.len() {
            if let Some(time) = batch.facts(row).request_time_unix_ms {
                earliest = Some(earliest.map_or(time, |known| known.min(time)));
            }
        }
    }
    Ok(earliest)
}
