//! Reader tests for the `swe_agent` format (being written).
