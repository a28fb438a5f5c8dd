//! Reader tests for the `codex` format (being written).
