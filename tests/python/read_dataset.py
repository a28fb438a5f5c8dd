"""Reads a trajkit dataset with pyarrow and with DuckDB, independently of trajkit, and prints
row counts, token sums and the Parquet key-value metadata as JSON (used by tests/it/python_readers.rs).

usage: read_dataset.py DATASET_DIR
"""
import json
import os
import sys

import duckdb
import pyarrow.compute as pc
import pyarrow.parquet as pq

SUMS = {
    "turns": ["input_tokens_reported", "input_tokens_counted", "cached_tokens_reported",
              "prefix_tokens_counted", "output_tokens_reported", "output_tokens_counted",
              "reasoning_tokens_reported", "context_messages"],
    "sessions": ["turn_count", "message_count"],
    "messages": ["tokens"],
}


def main():
    directory = sys.argv[1]
    result = {"pyarrow": {}, "duckdb": {}, "metadata": {}}
    connection = duckdb.connect()
    for table, columns in SUMS.items():
        path = os.path.join(directory, f"{table}.parquet")
        arrow_table = pq.read_table(path)
        result["pyarrow"][table] = {"rows": arrow_table.num_rows}
        for column in columns:
            total = pc.sum(arrow_table[column]).as_py()
            result["pyarrow"][table][column] = int(total or 0)
        metadata = pq.read_metadata(path).metadata
        result["metadata"][table] = {k.decode(): v.decode() for k, v in metadata.items()
                                     if k.decode().startswith("trajkit.")}
        sums = ", ".join(f"coalesce(sum({c}), 0)::BIGINT" for c in columns)
        row = connection.execute(f"select count(*), {sums} from read_parquet(?)", [path]).fetchone()
        result["duckdb"][table] = {"rows": row[0], **{c: int(v) for c, v in zip(columns, row[1:])}}
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
