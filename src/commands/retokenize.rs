//! `trajkit retokenize`: counts a dataset again with another tokenizer. Sessions are rebuilt into
//! trajectories (`transform::trajectory`) and encoded as ingest does, a batch of sessions at a
//! time in parallel, written in dataset order.

use anyhow::Context as _;
use rayon::prelude::*;

use super::{ExitStatus, derivation, open_dataset};
use crate::cli::RetokenizeArgs;
use crate::ingest::identity_and_hash;
use crate::tokenizer::{Tokenizer, TokenizerSpec};
use crate::transform::trajectory::{reencode, to_trajectory};
use crate::transform::{DerivedWriter, Recounted, TransformError};

/// Sessions encoded in parallel at a time; bounds memory to a batch.
const BATCH_SESSIONS: usize = 64;

/// Runs `trajkit retokenize`.
pub fn run(args: &RetokenizeArgs) -> anyhow::Result<ExitStatus> {
    if let Some(threads) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global()
            .context("failed to start the worker threads")?;
    }
    let dataset = open_dataset(&args.dataset)?;
    let spec: TokenizerSpec = args.tokenizer.parse().unwrap_or(TokenizerSpec::None);
    let tokenizer = Tokenizer::load(&spec)?;
    let block_size = usize::from(args.block_size);
    let (identity, hash) = identity_and_hash(tokenizer.as_ref(), block_size);
    let mut writer = DerivedWriter::create(
        &args.output.output,
        args.output.force,
        &[dataset.reader()],
        derivation("retokenize", &[&args.dataset], &args.output),
        Some(Recounted {
            identity,
            hash,
            argument: args.tokenizer.clone(),
        }),
    )?;
    let all: Vec<usize> = (0..dataset.sessions().len()).collect();
    let mut stream = dataset.stream(&all)?.prefetched();
    loop {
        let batch = stream
            .by_ref()
            .take(BATCH_SESSIONS)
            .collect::<Result<Vec<_>, _>>()?;
        if batch.is_empty() {
            break;
        }
        let encoded = batch
            .par_iter()
            .map(|session| {
                let trajectory = to_trajectory(session)?;
                reencode(trajectory, session, tokenizer.as_ref(), block_size).map_err(|source| {
                    TransformError::Encode {
                        session_id: session.session.session_id.clone(),
                        source,
                    }
                })
            })
            .collect::<Result<Vec<_>, TransformError>>()?;
        for session in encoded {
            writer.write(session.into())?;
        }
    }
    let summary = writer.finish()?;
    eprintln!(
        "recounted {} sessions, {} turns with {} → {}",
        summary.sessions,
        summary.turns,
        args.tokenizer,
        args.output.output.display()
    );
    Ok(ExitStatus::Success)
}
