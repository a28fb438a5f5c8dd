//! trajkit turns raw coding-agent logs into a columnar trajectory dataset for agentic-inference
//! benchmarking.
//!
//! The pipeline, bottom to top:
//! 1. [`formats`] read raw logs (one file per agent's format, one `TraceReader` trait) into
//!    in-memory [`schema::Trajectory`] values: messages once per session, turns as indexes.
//! 2. [`ingest`] tokenizes each message once ([`tokenizer`]), derives per-turn counts, reusable
//!    prefixes and chained block hashes ([`blocks`]), and streams rows to [`store`], the only
//!    module that touches Parquet, which writes the dataset directory atomically.
//! 3. [`dataset`] reads a dataset back and rebuilds any turn's exact request.
//! 4. [`commands`] glue the command line ([`cli`]) to the library.
//!
//! Glossary: a *session* (trajectory) is one agent run on one task; a *turn* is one LLM call in
//! it; a turn's *context* is the ordered messages it sent; its *output* is the message it got
//! back; a *tool call* is a function call in an output; *reported* figures come from the
//! provider or agent log, *counted* figures from the dataset's tokenizer.

pub mod atomic;
pub mod blocks;
pub mod cli;
pub mod commands;
pub mod dataset;
pub mod export;
pub mod formats;
pub mod ingest;
pub mod redact;
pub mod replay;
pub mod schema;
pub mod staged;
pub mod stats;
pub mod store;
pub mod tokenizer;
pub mod transform;
pub mod verify;
