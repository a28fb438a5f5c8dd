//! Reader tests for the sizes-only formats (being written).
