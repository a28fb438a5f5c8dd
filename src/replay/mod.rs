//! Replaying a dataset against an OpenAI-compatible server (issue 6), built bottom-up: the run
//! record that `verify` reads (`record`), the teacher-forced request bodies with output-length
//! and tool-delay policies and salting (`request`), and the folding of a streamed response into
//! what was served (`stream`). The network driver (agents, SSE transport, capacity search) is
//! not written yet; these parts are pure and tested on their own.

pub mod record;
pub mod request;
pub mod stream;
