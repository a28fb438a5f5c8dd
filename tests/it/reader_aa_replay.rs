//! Reader tests for the `aa_replay` format (being written).
