//! The integration tests: one binary, a module per subcommand or concern.

mod corpus;
mod datasets;
mod formats;
mod help;
mod ingest;
mod python_readers;
mod robustness;
mod schemas;
mod show;
mod tokenizer;
mod util;
