//! Reader tests for the `aider` format (being written).
