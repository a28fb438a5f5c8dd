//! Reader tests for the `claude_code` format (being written).
