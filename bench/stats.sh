#!/usr/bin/env bash
# Times `trajkit stats` against DuckDB computing the same figures on the same Parquet files, at
# >= 1,000,000 turns, in one run on one machine (issue 4: "no slower than DuckDB"), and prints
# wall time, CPU time and peak memory of each with the ratio trajkit / DuckDB.
#
# The dataset is the shared mini-swe-agent corpus replicated with new session ids
# (bench/replicate.py) and ingested with the release binary (built-in o200k tokenizer, so the
# turns carry hash ids); it is cached under ~/.cache/trajkit/bench/ and rebuilt when the trajectory
# format version changes. The raw copies (about 5 GB) are deleted once ingested.
#
# Rows, each the median of ROUNDS runs (rounds alternate the programs; peak memory is the
# largest of the rounds, from /usr/bin/time):
#   trajkit            `trajkit stats D --format json -o /dev/null` (everything, block hits too)
#   trajkit no-blocks  the same with `--no-block-hits` (no hash-id columns read)
#   duckdb             DuckDB (the venv's Python duckdb, default threads = every core): count,
#                      mean, min, p5..p99 (quantile_disc), max of every per-turn metric that SQL
#                      can state (6 token metrics, 2 durations, the prefix reuse ratio), turns per
#                      session, and count/median/p90 per context-growth bucket; the process's wall
#                      time includes starting Python and importing duckdb, so the query time alone
#                      is printed too
#   duckdb 1 thread    the same with `SET threads = 1` (trajkit's stats pass is one thread)
# DuckDB's figures are then compared with trajkit's report (exact; means to 1e-9), so the two
# sides are known to compute the same thing.
#
# usage: bench/stats.sh [TURNS] [ROUNDS]     (defaults: 1000000 turns, 5 rounds)
set -euo pipefail
cd "$(dirname "$0")/.."
want_turns="${1:-1000000}"
rounds="${2:-5}"
source_dir=../shared/data/corpus/mini-swe-agent-gemini3pro/trajs
scripts/setup
python="${TRAJKIT_VENV:-$HOME/.cache/trajkit/venv}/bin/python"
cargo build --release --locked --quiet
target_dir="$(cargo metadata --format-version 1 --no-deps | "$python" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
trajkit="$target_dir/release/trajkit"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# How many copies of the corpus give the wanted turns (one more than needed: the last copy of
# bench/replicate.py may stop a few files short), and which format version a fresh ingest writes.
"$trajkit" ingest "$source_dir" -o "$work/corpus.trajkit" --quiet
read -r corpus_turns schema_version < <("$python" -c 'import json,sys; m=json.load(open(sys.argv[1])); print(sum(s["turns"] for s in m["sources"]), m["schema_version"])' "$work/corpus.trajkit/manifest.json")
copies=$(( (want_turns + corpus_turns - 1) / corpus_turns + 1 ))
cache="$HOME/.cache/trajkit/bench"
dataset="$cache/stats-$copies.trajkit"
dataset_turns() {
    "$python" -c 'import json,sys; m=json.load(open(sys.argv[1])); print(sum(s["turns"] for s in m["sources"]) if m["schema_version"] == sys.argv[2] else 0)' "$dataset/manifest.json" "$schema_version" 2>/dev/null || echo 0
}
if [ "$(dataset_turns)" -lt "$want_turns" ]; then
    raw="$cache/stats-raw-$copies"
    rm -rf "$raw"
    corpus_bytes="$(find "$source_dir" -name '*.traj.json' -printf '%s\n' | awk '{s+=$1} END {print s}')"
    echo "building $dataset: $copies copies of the corpus ($corpus_turns turns each)" >&2
    python3 bench/replicate.py "$source_dir" "$raw" "$(( copies * corpus_bytes / 1000000 ))"
    /usr/bin/time -f "ingest: %e s wall, %M KiB peak" "$trajkit" ingest "$raw" -o "$dataset" --force --quiet
    rm -rf "$raw"
fi
turns="$(dataset_turns)"
[ "$turns" -ge "$want_turns" ] || { echo "dataset has $turns turns, wanted $want_turns" >&2; exit 1; }

cat > "$work/duckdb_stats.py" <<'PY'
"""The figures of `trajkit stats --no-block-hits` that SQL states, with DuckDB; prints the query
time and writes the figures as JSON."""
import json, sys, time
import duckdb
directory, threads, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
QUANTILES = [0.05, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99]
METRICS = {
    "input_tokens": "coalesce(input_tokens_reported, input_tokens_counted)",
    "new_tokens_reported": "new_tokens_reported",
    "new_tokens_counted": "new_tokens_counted",
    "cached_tokens_reported": "cached_tokens_reported",
    "output_tokens": "coalesce(output_tokens_reported, output_tokens_counted)",
    "reasoning_tokens": "coalesce(reasoning_tokens_reported, reasoning_tokens_counted)",
    "model_latency_ms": "model_latency_ms",
    "tool_delay_ms": "tool_delay_ms_after",
    "prefix_reuse_ratio": "CASE WHEN input_tokens_counted > 0 "
                          "THEN prefix_tokens_counted::DOUBLE / input_tokens_counted END",
}
def summary(expression):
    return (f"count({expression}), avg({expression}), min({expression}), "
            f"quantile_disc({expression}, {QUANTILES}), max({expression})")
turns = f"read_parquet('{directory}/turns.parquet')"
sessions = f"read_parquet('{directory}/sessions.parquet')"
start = time.perf_counter()
connection = duckdb.connect()
if threads:
    connection.execute(f"SET threads = {threads}")
per_turn = connection.execute(
    "SELECT " + ", ".join(summary(e) for e in METRICS.values()) + f" FROM {turns}").fetchall()[0]
per_session = connection.execute(f"SELECT {summary('turn_count')} FROM {sessions}").fetchall()[0]
growth = connection.execute(f"""
    SELECT bucket, count(v), quantile_disc(v, [0.5, 0.9])
    FROM (SELECT least(turn_index // 10, 20) AS bucket,
                 coalesce(input_tokens_reported, input_tokens_counted) AS v FROM {turns})
    WHERE v IS NOT NULL GROUP BY bucket ORDER BY bucket""").fetchall()
elapsed = time.perf_counter() - start
[(used_threads,)] = connection.execute("SELECT current_setting('threads')").fetchall()
figures = {}
for index, metric in enumerate(["turns_per_session", *METRICS]):
    row = per_session if index == 0 else per_turn[(index - 1) * 5:index * 5]
    count, mean, low, quantiles, high = row
    figures[metric] = {"count": count, "mean": mean, "min": low, "max": high,
                       **dict(zip(["p5", "p25", "p50", "p75", "p90", "p95", "p99"],
                                  quantiles or [None] * 7))}
json.dump({"seconds": elapsed, "threads": used_threads, "figures": figures,
           "growth": [[b, n, q[0], q[1]] for b, n, q in growth]}, open(out, "w"))
PY

echo "dataset: $dataset ($turns turns, $(du -sm "$dataset/turns.parquet" | cut -f1) MB turns.parquet)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
timed() {  # NAME ROUND COMMAND...: wall, user, system seconds and peak KiB into $work/NAME.ROUND
    local name="$1" round="$2"
    shift 2
    /usr/bin/time -f "%e %U %S %M" -o "$work/$name.$round" "$@" >/dev/null
}
for round in $(seq "$rounds"); do
    timed trajkit "$round" "$trajkit" stats "$dataset" --format json -o "$work/trajkit.json"
    timed no-blocks "$round" "$trajkit" stats "$dataset" --format json -o /dev/null --no-block-hits
    timed duckdb "$round" "$python" "$work/duckdb_stats.py" "$dataset" 0 "$work/duckdb.$round.json"
    timed duckdb-1 "$round" "$python" "$work/duckdb_stats.py" "$dataset" 1 "$work/duckdb-1.$round.json"
done
"$python" - "$work" "$rounds" <<'PY'
import json, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
def load(name):
    rows = [list(map(float, open(f"{work}/{name}.{r}").read().split()[-4:]))
            for r in range(1, rounds + 1)]
    return (statistics.median(r[0] for r in rows), statistics.median(r[1] + r[2] for r in rows),
            max(r[3] for r in rows) / 1024)
def query(name):
    runs = [json.load(open(f"{work}/{name}.{r}.json")) for r in range(1, rounds + 1)]
    return statistics.median(run["seconds"] for run in runs), runs[0]
rows = {name: load(name) for name in ("trajkit", "no-blocks", "duckdb", "duckdb-1")}
duck_query, duck = query("duckdb")
duck1_query, _ = query("duckdb-1")
print(f"{'':24} {'wall s':>8} {'cpu s':>8} {'peak MiB':>9}   (median of {rounds} rounds; peak over rounds)")
labels = {"trajkit": "trajkit stats", "no-blocks": "trajkit --no-block-hits",
          "duckdb": f"duckdb ({duck['threads']} threads)", "duckdb-1": "duckdb (1 thread)"}
for name, (wall, cpu, rss) in rows.items():
    print(f"{labels[name]:24} {wall:8.2f} {cpu:8.2f} {rss:9.0f}")
print(f"duckdb query time alone (no Python start): {duck_query:.2f} s at {duck['threads']} threads, "
      f"{duck1_query:.2f} s at 1 thread")
for name in ("trajkit", "no-blocks"):
    print(f"ratio {labels[name]} / duckdb ({duck['threads']} threads): wall "
          f"{rows[name][0] / rows['duckdb'][0]:.2f} (against the query time alone "
          f"{rows[name][0] / duck_query:.2f}); peak memory {rows[name][2] / rows['duckdb'][2]:.2f}")
# The two sides computed the same figures.
report = json.load(open(f"{work}/trajkit.json"))["overall"]
mismatches = []
for distribution in report["distributions"]:
    expected = duck["figures"].get(distribution["metric"])
    if expected is None:
        continue
    for name, value in expected.items():
        got = distribution[name]
        if name == "mean" and value is not None and got is not None:
            same = abs(got - value) <= 1e-9 * abs(value)
        else:
            same = got == value
        if not same:
            mismatches.append(f"{distribution['metric']} {name}: trajkit {got}, duckdb {value}")
growth = {b: (n, m, p) for b, n, m, p in duck["growth"]}
for index, bucket in enumerate(report["context_growth"]):
    got = (bucket["turns"], bucket["median"], bucket["p90"])
    if got != growth.get(index, (0, None, None)):
        mismatches.append(f"growth bucket {index}: trajkit {got}, duckdb {growth.get(index)}")
print(f"figures compared: {len(duck['figures'])} distributions + growth; "
      f"{'all agree' if not mismatches else str(len(mismatches)) + ' DISAGREE'}")
for line in mismatches:
    print("  " + line)
sys.exit(1 if mismatches else 0)
PY
