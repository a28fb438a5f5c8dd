//! The integration tests: one binary, a module per subcommand or concern.

mod corpus;
mod datasets;
mod formats;
mod help;
mod ingest;
mod llama_server;
mod python_readers;
mod reader_aa_replay;
mod reader_aider;
mod reader_claude_code;
mod reader_codex;
mod reader_openhands;
mod reader_sizes_only;
mod reader_swe_agent;
mod real_data;
mod replay;
mod robustness;
mod schemas;
mod show;
mod stats;
mod stats_duckdb;
mod stats_html;
mod tokenizer;
mod util;
mod verify;
