//! `--to aiperf`: NVIDIA AIPerf's `mooncake_trace` JSONL (`aiperf profile --input-file
//! aiperf.jsonl --custom-dataset-type mooncake_trace`), one line per turn, grouped by
//! `session_id`.
//!
//! History mode (default): each line carries the turn's whole request, `messages` and `tools`
//! (omitted when none: AIPerf rejects an empty list), which AIPerf sends verbatim; the session's
//! turns replay in order. `delay` is the previous turn's tool delay in ms (AIPerf waits it before
//! sending), absent on a session's first turn; `output_length` is the reported output, else the
//! counted one. With `--sizes-only`, each line is a standalone request `{input_length,
//! output_length, hash_ids}`: the whole context's length (reported input, else counted) and its
//! 512-token prefix blocks, from which AIPerf synthesizes prompts with the same prefix sharing;
//! this works for sizes-only datasets too. Those lines carry no `session_id` (nor `delay`): AIPerf
//! treats a session's `input_length` lines as deltas and prepends the earlier turns and live
//! answers, which would count every context several times over.

use serde_json::{Map, Value};

use super::output::OutputDirectory;
use super::{
    ExportError, ExportFormat, ExportSummary, block_ids, input_tokens, milliseconds, output_tokens,
    require_text,
};
use crate::dataset::Dataset;

/// AIPerf's default block size for `hash_ids` (`--isl-block-size`).
const BLOCK_SIZE: u32 = 512;

/// The file written.
const FILE: &str = "aiperf.jsonl";

pub(super) fn write(
    dataset: &Dataset,
    directory: &mut OutputDirectory,
    summary: &mut ExportSummary,
    sizes_only: bool,
) -> Result<(), ExportError> {
    let mut file = directory.create_file(FILE)?;
    let mut without_ids = false;
    for session in dataset.sessions() {
        let data = dataset.load(session)?;
        let ids = if sizes_only {
            block_ids(ExportFormat::Aiperf, &data, BLOCK_SIZE, true)?
        } else {
            require_text(ExportFormat::Aiperf, &data)?;
            None
        };
        without_ids |= sizes_only && ids.is_none();
        let mut previous_delay: Option<f64> = None;
        let mut written = 0u64;
        for (position, turn) in data.turns.iter().enumerate() {
            let mut line = Map::new();
            if !sizes_only {
                line.insert(
                    "session_id".to_owned(),
                    Value::from(session.session_id.clone()),
                );
                if written > 0
                    && let Some(delay) = previous_delay
                {
                    line.insert("delay".to_owned(), milliseconds(delay));
                }
            }
            if sizes_only {
                let Some(input) = input_tokens(turn) else {
                    summary.skip("no input token count");
                    continue;
                };
                line.insert("input_length".to_owned(), Value::from(input));
                if let Some(output) = output_tokens(turn) {
                    line.insert("output_length".to_owned(), Value::from(output));
                }
                if let Some(ids) = ids.as_ref().and_then(|all| all.get(position)) {
                    line.insert("hash_ids".to_owned(), Value::from(ids.clone()));
                }
            } else {
                let request = data.request(position)?;
                if request.messages.is_empty() {
                    summary.skip("turn sends no messages");
                    continue;
                }
                if let Some(output) = output_tokens(turn) {
                    line.insert("output_length".to_owned(), Value::from(output));
                }
                line.insert("messages".to_owned(), Value::Array(request.messages));
                if !request.tools.is_empty() {
                    line.insert("tools".to_owned(), Value::Array(request.tools));
                }
            }
            previous_delay = turn.tool_delay_ms_after;
            file.write_line(&Value::Object(line))?;
            written += 1;
        }
        summary.turns += written;
        summary.sessions += u64::from(written > 0);
    }
    if without_ids {
        summary.note(
            "some sessions have no hash ids (dataset ingested without a tokenizer): their lines have input_length only, and AIPerf fills them with unshared text".to_owned(),
        );
    }
    file.finish()
}
