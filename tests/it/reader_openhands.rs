//! Reader tests for the `openhands` format (being written).
