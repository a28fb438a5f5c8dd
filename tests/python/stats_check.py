"""Recomputes the figures of a `trajkit stats --format json` report from the dataset's Parquet
files with DuckDB (and plain Python where SQL is awkward), independently of trajkit's Rust code,
and compares them with the report. Prints every mismatch and exits 1 if there is any (0 when all
figures agree, 2 on a usage error). Used by tests/it/stats_duckdb.rs; see its doc for why.

usage: stats_check.py DATASET_DIR REPORT.json

What is recomputed, for the overall report and for every group of `--by` (source, agent, model or
session-length-bucket):
- sessions, sub-agent sessions, turns, sizes-only turns, and the set of group keys;
- every distribution: count and non-finite count exactly; min, p5 ... p99 and max exactly with
  DuckDB's `quantile_disc`; the mean within a relative tolerance (integers: exact sum / count,
  1e-12; reals: DuckDB's `avg`, which sums in another order, 1e-9); the histogram recounted bin by
  bin (log2 bins `[2^k, 2^(k+1))` and `[0, 1)`, found exactly with `math.frexp`; linear 0.05 bins
  of ratios, bounds the doubles nearest k/20 as printed, 1.0 in the last bin);
- context growth: per bucket of 10 turn indexes (the last open at 200+), the count, median and
  p90 of the input tokens;
- KV reuse: the message-level token-weighted prefix reuse and the provider's cached share
  (relative tolerance 1e-12), and the block hit rates at 16, 64 and 512 tokens and the per-turn
  block reuse ratio, by brute force in Python: each turn's whole hash-id list is rebuilt from the
  delta encoding, coarsened, and its leading run of ids sent by earlier turns of the session is
  counted against the set of every earlier turn's ids.
"""
import json
import math
import os
import sys
from collections import defaultdict
from fractions import Fraction

import duckdb
import pyarrow as pa

QUANTILES = [("p5", 0.05), ("p25", 0.25), ("p50", 0.50), ("p75", 0.75), ("p90", 0.90),
             ("p95", 0.95), ("p99", 0.99)]
# Relative tolerances of means and ratios: integer sums are exact on both sides, so only the final
# division rounds; DuckDB sums doubles in another order than trajkit does.
INTEGER_TOLERANCE = 1e-12
REAL_TOLERANCE = 1e-9
RATIO_TOLERANCE = 1e-12
REPORTED_BLOCK_SIZES = [16, 64, 512]
GROWTH_BUCKET_TURNS = 10
GROWTH_BUCKETS = 21
OVERALL = "all"

# Each per-turn metric as an SQL expression over the joined turn table `t` (own SQL; the report's
# `definition` strings are documentation only). None: computed in Python (block reuse).
INTEGER_METRICS = {
    "input_tokens": "coalesce(input_tokens_reported, input_tokens_counted)",
    "new_tokens_reported": "new_tokens_reported",
    "new_tokens_counted": "new_tokens_counted",
    "cached_tokens_reported": "cached_tokens_reported",
    "output_tokens": "coalesce(output_tokens_reported, output_tokens_counted)",
    "reasoning_tokens": "coalesce(reasoning_tokens_reported, reasoning_tokens_counted)",
}
REAL_METRICS = {
    "model_latency_ms": ("model_latency_ms", "log2"),
    "tool_delay_ms": ("tool_delay_ms_after", "log2"),
    "prefix_reuse_ratio": (
        "CASE WHEN input_tokens_counted > 0 "
        "THEN prefix_tokens_counted::DOUBLE / input_tokens_counted END",
        "linear",
    ),
    "block_reuse_ratio": (None, "linear"),
}
SESSION_LENGTH_BUCKET = """CASE
    WHEN turn_count < 10 THEN '001-009 turns'
    WHEN turn_count < 25 THEN '010-024 turns'
    WHEN turn_count < 50 THEN '025-049 turns'
    WHEN turn_count < 100 THEN '050-099 turns'
    WHEN turn_count < 200 THEN '100-199 turns'
    ELSE '200+ turns' END"""
# The group key of a session (for turn-level keys, the fallback of a turn without its own).
SESSION_KEYS = {
    None: "'all'",
    "source": "source_format",
    "agent": "coalesce(agent, 'unknown')",
    "model": "coalesce(model, 'unknown')",
    "session-length-bucket": SESSION_LENGTH_BUCKET,
}


class Checker:
    """Collects comparisons and mismatches."""

    def __init__(self):
        self.checked = 0
        self.mismatches = []

    def fail(self, where, message):
        self.mismatches.append(f"{where}: {message}")

    def exact(self, where, reported, expected):
        self.checked += 1
        if not same_number(reported, expected):
            self.fail(where, f"report {reported!r}, recomputed {expected!r}")

    def close(self, where, reported, expected, tolerance):
        self.checked += 1
        if expected is None or reported is None:
            if reported is not None or expected is not None:
                self.fail(where, f"report {reported!r}, recomputed {expected!r}")
            return
        if abs(reported - expected) > tolerance * max(abs(expected), abs(reported)):
            self.fail(where, f"report {reported!r}, recomputed {expected!r} "
                             f"(relative tolerance {tolerance:g})")


def same_number(a, b):
    if a is None or b is None:
        return a is None and b is None
    return a == b and not isinstance(a, (str, bool)) and not isinstance(b, (str, bool))


def exact_ratio(numerator, denominator):
    return None if not denominator else float(Fraction(int(numerator), int(denominator)))


def log2_bin(value):
    """The log2 bin `(lower, upper)` of a value; lower None below 0."""
    if value < 1:
        return (None if value < 0 else 0, 1)
    _, exponent = math.frexp(value)  # value = m * 2^exponent with 0.5 <= m < 1, exactly
    lower = 2 ** (exponent - 1)
    return (lower, lower * 2)


def linear_bin(value):
    """The 0.05-wide bin index of a ratio: the k with k/20 <= value < (k+1)/20, the bounds being
    the doubles nearest those fractions, as the report prints them (so a ratio of 17/20, stored as
    the double 0.85, is in [0.85, 0.9) though that double is a hair below the rational 17/20)."""
    index = 0
    while index < 19 and (index + 1) / 20 <= value:
        index += 1
    return index


def check_histogram(checker, where, scale, reported_bins, value_counts):
    """Recounts the values of every bin and checks the report lists exactly the non-empty bins."""
    expected = defaultdict(int)
    for value, count in value_counts:
        if scale == "log2":
            expected[log2_bin(value)] += count
        else:
            expected[linear_bin(value)] += count
    seen = set()
    for bin_ in reported_bins:
        lower, upper, count = bin_["lower"], bin_["upper"], bin_["count"]
        if scale == "log2":
            key = (lower, upper)
            power_of_two = lower is not None and lower >= 1 and math.frexp(lower)[0] == 0.5
            if upper != (2 * lower if power_of_two else 1) or (lower is not None and lower < 0):
                checker.fail(where, f"bin [{lower}, {upper}) is not a log2 bin")
        else:
            key = round(lower * 20) if lower is not None else None
            if key is None or abs(lower - key / 20) > 1e-12 or abs(upper - lower - 0.05) > 1e-12:
                checker.fail(where, f"bin [{lower}, {upper}) is not a 0.05-wide ratio bin")
        seen.add(key)
        checker.exact(f"{where} bin [{lower}, {upper}) count", count, expected.get(key, 0))
    for key, count in sorted(expected.items(), key=lambda item: str(item[0])):
        if key not in seen:
            checker.fail(where, f"bin {key} holds {count} values but is missing from the report")
    ordered = [bin_["lower"] for bin_ in reported_bins]
    ordered_key = [(-math.inf if lower is None else lower) for lower in ordered]
    if ordered_key != sorted(ordered_key):
        checker.fail(where, "histogram bins are not in increasing order")


def rebuild_block_hits(connection, checker):
    """Per turn: blocks and leading hits at the stored size and at each reported size, by brute
    force over whole id lists. Returns an Arrow table (row, ratio, blocks_S, hits_S...)."""
    table = connection.sql("""
        SELECT row, session_id, hash_block_size, hash_prefix_blocks, hash_ids_new
        FROM t ORDER BY session_id, row""").to_arrow_table()
    rows = table.column("row").to_pylist()
    sessions = table.column("session_id").to_pylist()
    block_sizes = table.column("hash_block_size").to_pylist()
    prefixes = table.column("hash_prefix_blocks").to_pylist()
    new_ids = table.column("hash_ids_new").to_pylist()
    out = {"row": [], "ratio": []}
    for size in REPORTED_BLOCK_SIZES:
        out[f"blocks_{size}"] = []
        out[f"hits_{size}"] = []
    current_session = None
    previous = None  # the whole id list of the session's previous turn with ids
    seen = {}  # (stored block size, factor) -> ids of earlier turns' coarsened lists
    for row, session, block_size, prefix, new in zip(rows, sessions, block_sizes, prefixes,
                                                      new_ids):
        if session != current_session:
            current_session, previous, seen = session, None, {}
        if block_size is None or prefix is None or new is None:
            continue
        base = previous or []
        if prefix > len(base):
            checker.fail(f"dataset row {row}", f"hash_prefix_blocks {prefix} exceeds the "
                                               f"previous turn's {len(base)} ids")
        ids = base[:prefix] + new
        previous = ids
        out["row"].append(row)

        results = {}

        def hits_at(factor):
            # Once per turn and factor: the stored size and a reported size can coincide.
            if factor in results:
                return results[factor]
            count = len(ids)
            coarse = [ids[min(factor * (j + 1), count) - 1]
                      for j in range((count + factor - 1) // factor)]
            earlier = seen.setdefault((block_size, factor), set())
            leading = 0
            for block in coarse:
                if block not in earlier:
                    break
                leading += 1
            earlier.update(coarse)
            results[factor] = (len(coarse), leading)
            return results[factor]

        blocks, hits = hits_at(1)
        out["ratio"].append(hits / blocks if blocks else None)
        for size in REPORTED_BLOCK_SIZES:
            if block_size and size % block_size == 0:
                blocks, hits = hits_at(size // block_size)
            else:
                blocks, hits = None, None
            out[f"blocks_{size}"].append(blocks)
            out[f"hits_{size}"].append(hits)
    return pa.table({
        "row": pa.array(out["row"], pa.int64()),
        "ratio": pa.array(out["ratio"], pa.float64()),
        **{name: pa.array(values, pa.int64()) for name, values in out.items()
           if name not in ("row", "ratio")},
    })


def query(connection, sql):
    """Every row of a query (DuckDB 2 wants each result fetched to the end)."""
    return connection.execute(sql).fetchall()


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    directory, report_path = sys.argv[1], sys.argv[2]
    with open(report_path) as file:
        report = json.load(file)
    by = report.get("group_by")
    if by not in SESSION_KEYS:
        print(f"stats_check.py: grouping by `{by}` is not recomputed", file=sys.stderr)
        return 2
    checker = Checker()
    connection = duckdb.connect()
    turns_path = os.path.join(directory, "turns.parquet").replace("'", "''")
    sessions_path = os.path.join(directory, "sessions.parquet").replace("'", "''")
    connection.execute(f"""
        CREATE TEMP TABLE s AS
        SELECT session_id, turn_count, turn_row_offset, parent_session_id IS NOT NULL AS sub_agent,
               {SESSION_KEYS[by]} AS grp
        FROM read_parquet('{sessions_path}')""")
    turn_key = "coalesce(tr.model, s.grp)" if by == "model" else "s.grp"
    connection.execute(f"""
        CREATE TEMP TABLE t AS
        SELECT tr.file_row_number AS row, tr.*, s.turn_row_offset, s.turn_count, s.sub_agent,
               {turn_key} AS grp
        FROM read_parquet('{turns_path}', file_row_number = true) AS tr
        JOIN s USING (session_id)""")
    # The dataset itself: every turn row lies within its session's declared rows.
    [(stray,)] = query(connection, """
        SELECT count(*) FROM t
        WHERE row < turn_row_offset OR row >= turn_row_offset + turn_count""")
    [(rows,)] = query(connection, f"SELECT count(*) FROM read_parquet('{turns_path}')")
    [(joined,)] = query(connection, "SELECT count(*) FROM t")
    if stray or rows != joined:
        checker.fail("dataset", f"{stray} turn rows outside their session's range, "
                                f"{rows - joined} turns without a session")

    connection.register("block_hits", rebuild_block_hits(connection, checker))
    # Every row once under the key 'all' and once under its group's key (with `--by`), so that
    # each figure below is one GROUP BY key.
    group_rows = " UNION ALL SELECT grp AS key, * FROM {}" if by else ""
    connection.execute("CREATE TEMP VIEW tk AS SELECT 'all' AS key, * FROM t"
                       + group_rows.format("t"))
    connection.execute("CREATE TEMP VIEW sk AS SELECT 'all' AS key, * FROM s"
                       + group_rows.format("s"))
    connection.execute("CREATE TEMP VIEW hk AS SELECT * FROM block_hits JOIN tk USING (row)")

    # Values of every distribution, one long table per kind.
    connection.execute("CREATE TEMP TABLE ints (key VARCHAR, metric VARCHAR, v UBIGINT)")
    connection.execute("CREATE TEMP TABLE reals (key VARCHAR, metric VARCHAR, v DOUBLE)")
    if by == "model":
        # A turn-level key: the overall figure counts whole sessions, a group's the session's
        # turns with that key (a session without turns counts 0 under its own model).
        connection.execute(
            "INSERT INTO ints SELECT 'all', 'turns_per_session', turn_count FROM s")
        connection.execute("""
            INSERT INTO ints SELECT grp, 'turns_per_session', count(*) FROM t
            GROUP BY session_id, grp""")
        connection.execute("""
            INSERT INTO ints SELECT grp, 'turns_per_session', 0 FROM s WHERE turn_count = 0""")
    else:
        connection.execute(
            "INSERT INTO ints SELECT key, 'turns_per_session', turn_count FROM sk")
    for metric, expression in INTEGER_METRICS.items():
        connection.execute(f"""
            INSERT INTO ints SELECT key, '{metric}', v
            FROM (SELECT key, {expression} AS v FROM tk) WHERE v IS NOT NULL""")
    non_finite = {}
    for metric, (expression, _) in REAL_METRICS.items():
        source = (f"SELECT key, {expression} AS v FROM tk" if expression else
                  "SELECT key, ratio AS v FROM hk")
        connection.execute(f"""
            INSERT INTO reals SELECT key, '{metric}', v
            FROM ({source}) WHERE v IS NOT NULL AND isfinite(v)""")
        for key, count in query(connection, f"""
                SELECT key, count(*) FROM ({source}) WHERE v IS NOT NULL AND NOT isfinite(v)
                GROUP BY key"""):
            non_finite[(key, metric)] = count

    quantile_list = "[" + ", ".join(str(q) for _, q in QUANTILES) + "]"
    figures = {}
    value_counts = defaultdict(list)
    for table in ("ints", "reals"):
        mean = "sum(v)::HUGEINT" if table == "ints" else "avg(v)"
        for key, metric, count, total, low, quantiles, high in query(connection, f"""
                SELECT key, metric, count(*), {mean}, min(v), quantile_disc(v, {quantile_list}),
                       max(v)
                FROM {table} GROUP BY key, metric"""):
            mean_value = exact_ratio(total, count) if table == "ints" else total
            figures[(key, metric)] = {
                "count": count, "mean": mean_value, "min": low, "max": high,
                **{name: value for (name, _), value in zip(QUANTILES, quantiles)},
            }
        for key, metric, value, count in query(
                connection, f"SELECT key, metric, v, count(*) FROM {table} GROUP BY ALL"):
            value_counts[(key, metric)].append((value, count))

    counts = {}
    if by == "model":
        # The sessions with a turn of that model, or whose own model it is when without turns.
        sessions_sql = """
            SELECT key, count(DISTINCT session_id),
                   count(DISTINCT session_id) FILTER (WHERE sub_agent)
            FROM (SELECT key, session_id, sub_agent FROM sk WHERE key = 'all'
                  UNION ALL SELECT grp, session_id, sub_agent FROM t
                  UNION ALL SELECT grp, session_id, sub_agent FROM s WHERE turn_count = 0)
            GROUP BY key"""
    else:
        sessions_sql = """
            SELECT key, count(*), count(*) FILTER (WHERE sub_agent) FROM sk GROUP BY key"""
    for key, sessions, sub_agents in query(connection, sessions_sql):
        counts[key] = {"sessions": sessions, "sub_agent_sessions": sub_agents,
                       "turns": 0, "sizes_only_turns": 0}
    for key, turns, sizes_only in query(connection, """
            SELECT key, count(*), count(*) FILTER (WHERE exactness = 'sizes_only')
            FROM tk GROUP BY key"""):
        counts[key]["turns"] = turns
        counts[key]["sizes_only_turns"] = sizes_only

    growth = {}
    for key, bucket, turns, median, p90 in query(connection, f"""
            SELECT key, bucket, count(*), quantile_disc(v, 0.5), quantile_disc(v, 0.9)
            FROM (SELECT key,
                         least(turn_index // {GROWTH_BUCKET_TURNS}, {GROWTH_BUCKETS - 1}) AS bucket,
                         coalesce(input_tokens_reported, input_tokens_counted) AS v FROM tk)
            WHERE v IS NOT NULL GROUP BY key, bucket"""):
        growth[(key, bucket)] = (turns, median, p90)

    reuse = {}
    for key, prefix_turns, prefix, prefix_input, cached_turns, cached, cached_input in \
            query(connection, """
            SELECT key,
                count(*) FILTER (WHERE prefix_tokens_counted IS NOT NULL
                                 AND input_tokens_counted IS NOT NULL),
                sum(prefix_tokens_counted) FILTER (WHERE input_tokens_counted IS NOT NULL),
                sum(input_tokens_counted) FILTER (WHERE prefix_tokens_counted IS NOT NULL),
                count(*) FILTER (WHERE cached_tokens_reported IS NOT NULL
                                 AND input_tokens_reported IS NOT NULL),
                sum(cached_tokens_reported) FILTER (WHERE input_tokens_reported IS NOT NULL),
                sum(input_tokens_reported) FILTER (WHERE cached_tokens_reported IS NOT NULL)
            FROM tk GROUP BY key"""):
        reuse[key] = {
            "prefix_turns": prefix_turns,
            "prefix_reuse_token_weighted": exact_ratio(prefix or 0, prefix_input or 0),
            "provider_cached_turns": cached_turns,
            "provider_cached_share": exact_ratio(cached or 0, cached_input or 0),
        }
    block_columns = ", ".join(
        f"count(blocks_{size}), coalesce(sum(blocks_{size}), 0), coalesce(sum(hits_{size}), 0)"
        for size in REPORTED_BLOCK_SIZES)
    block_rates = {}
    for key, *values in query(connection, f"SELECT key, {block_columns} FROM hk GROUP BY key"):
        block_rates[key] = [tuple(values[index * 3:index * 3 + 3])
                            for index in range(len(REPORTED_BLOCK_SIZES))]

    groups = [report["overall"]] + report["groups"]
    expected_keys = sorted(key for key in counts if key != OVERALL) if by else []
    reported_keys = [group["key"] for group in report["groups"]]
    checker.checked += 1
    if reported_keys != expected_keys:
        checker.fail("groups", f"report keys {reported_keys}, recomputed {expected_keys}")
    if report["overall"]["key"] != OVERALL:
        checker.fail("overall", f"key {report['overall']['key']!r}")
    for group in groups:
        key = group["key"]
        where = "overall" if group is report["overall"] else f"group {key!r}"
        if key not in counts:
            continue
        for name in ("sessions", "sub_agent_sessions", "turns", "sizes_only_turns"):
            checker.exact(f"{where} {name}", group[name], counts[key][name])
        metrics = [distribution["metric"] for distribution in group["distributions"]]
        expected_metrics = ["turns_per_session", *INTEGER_METRICS, *REAL_METRICS]
        if sorted(metrics) != sorted(expected_metrics):
            checker.fail(where, f"metrics {metrics}, expected {expected_metrics}")
        for distribution in group["distributions"]:
            metric = distribution["metric"]
            is_integer = metric == "turns_per_session" or metric in INTEGER_METRICS
            empty = {"count": 0, "mean": None, "min": None, "max": None,
                     **{name: None for name, _ in QUANTILES}}
            expected = figures.get((key, metric), empty)
            label = f"{where} {metric}"
            checker.exact(f"{label} count", distribution["count"], expected["count"])
            checker.exact(f"{label} non_finite", distribution["non_finite"],
                          non_finite.get((key, metric), 0))
            for name in ("min", *(name for name, _ in QUANTILES), "max"):
                checker.exact(f"{label} {name}", distribution[name], expected[name])
            checker.close(f"{label} mean", distribution["mean"], expected["mean"],
                          INTEGER_TOLERANCE if is_integer else REAL_TOLERANCE)
            scale = "log2" if is_integer else REAL_METRICS[metric][1]
            if distribution["histogram_scale"] != scale:
                checker.fail(label, f"histogram scale {distribution['histogram_scale']!r}, "
                                    f"expected {scale!r}")
            check_histogram(checker, f"{label} histogram", scale, distribution["histogram"],
                            value_counts.get((key, metric), []))
        if len(group["context_growth"]) != GROWTH_BUCKETS:
            checker.fail(where, f"{len(group['context_growth'])} growth buckets")
        for bucket in group["context_growth"]:
            index = bucket["first_turn_index"] // GROWTH_BUCKET_TURNS
            label = f"{where} context_growth[{bucket['first_turn_index']}..]"
            last = None if index == GROWTH_BUCKETS - 1 else (index + 1) * GROWTH_BUCKET_TURNS - 1
            checker.exact(f"{label} last_turn_index", bucket["last_turn_index"], last)
            turns, median, p90 = growth.get((key, index), (0, None, None))
            checker.exact(f"{label} turns", bucket["turns"], turns)
            checker.exact(f"{label} median", bucket["median"], median)
            checker.exact(f"{label} p90", bucket["p90"], p90)
        kv = group["kv_reuse"]
        for name in ("prefix_turns", "provider_cached_turns"):
            checker.exact(f"{where} kv_reuse {name}", kv[name], reuse[key][name])
        for name in ("prefix_reuse_token_weighted", "provider_cached_share"):
            checker.close(f"{where} kv_reuse {name}", kv[name], reuse[key][name],
                          RATIO_TOLERANCE)
        reported_sizes = [rate["block_size"] for rate in kv["block_hit_rates"]]
        if reported_sizes != REPORTED_BLOCK_SIZES:
            checker.fail(where, f"block hit rates at {reported_sizes}")
        expected_rates = block_rates.get(key, [(0, 0, 0)] * len(REPORTED_BLOCK_SIZES))
        for rate, (turns, blocks, hit_blocks) in zip(kv["block_hit_rates"], expected_rates):
            label = f"{where} kv_reuse block {rate['block_size']}"
            checker.exact(f"{label} turns", rate["turns"], turns)
            checker.exact(f"{label} blocks", rate["blocks"], int(blocks))
            checker.exact(f"{label} hit_blocks", rate["hit_blocks"], int(hit_blocks))
            checker.close(f"{label} hit_rate", rate["hit_rate"], exact_ratio(hit_blocks, blocks),
                          RATIO_TOLERANCE)

    for line in checker.mismatches:
        print(f"MISMATCH {line}")
    [(turn_rows,)] = query(connection, "SELECT count(*) FROM t")
    print(f"stats_check: {turn_rows} turns, {len(groups)} reports (overall + {len(groups) - 1} "
          f"groups by {by}), {checker.checked} figures checked, "
          f"{len(checker.mismatches)} mismatches")
    return 1 if checker.mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
