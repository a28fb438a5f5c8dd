//! Replaying a dataset against an OpenAI-compatible server (issue 6), built bottom-up: the run
//! record that `verify` reads (`record`), the teacher-forced request bodies with output-length
//! and tool-delay policies and salting (`request`), and the folding of a streamed response into
//! what was served (`stream`); and the network driver (`drive`, feature `replay`): simulated
//! agents, the SSE transport, error recording. The capacity search is not written yet.

pub mod capacity;
#[cfg(feature = "replay")]
pub mod drive;
pub mod power;
pub mod record;
pub mod request;
pub mod stream;
