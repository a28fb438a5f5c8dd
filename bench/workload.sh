#!/usr/bin/env bash
# Times the workload commands on the >= 1,000,000-turn dataset that bench/stats.sh builds, and
# the session-scope filter against DuckDB doing the same selection on the same Parquet files
# (three semi-join COPYs of the kept sessions' rows; DuckDB writes the rows as they are, without
# restating offsets or a manifest, so it does less work than trajkit). Prints wall time, CPU time
# and peak memory of each, the median of ROUNDS runs, and the ratio trajkit / DuckDB; checks that
# both kept the same sessions, turns and messages.
#
# usage: bench/workload.sh [ROUNDS] [DATASET]   (defaults: 3 rounds, the bench/stats.sh dataset)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
dataset="${2:-$HOME/.cache/trajkit/bench/stats-544.trajkit}"
[ -f "$dataset/manifest.json" ] || { echo "no dataset at $dataset: run bench/stats.sh first" >&2; exit 2; }
scripts/setup
python="${TRAJKIT_VENV:-$HOME/.cache/trajkit/venv}/bin/python"
cargo build --release --locked --quiet
target_dir="$(cargo metadata --format-version 1 --no-deps | "$python" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
trajkit="$target_dir/release/trajkit"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
limit=32000

cat > "$work/duck.py" <<PY
import duckdb, sys
d, out = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute(f"""CREATE TEMP TABLE kept AS
  SELECT session_id FROM '{d}/sessions.parquet'
  EXCEPT SELECT session_id FROM '{d}/turns.parquet'
  WHERE coalesce(input_tokens_reported, input_tokens_counted) IS NULL
     OR coalesce(input_tokens_reported, input_tokens_counted) > $limit""")
for table in ["sessions", "turns", "messages"]:
    con.execute(f"""COPY (SELECT t.* FROM '{d}/{table}.parquet' t SEMI JOIN kept USING (session_id))
                    TO '{out}/{table}.parquet' (FORMAT parquet, COMPRESSION zstd)""")
PY

measure() { # name, command...: appends "name wall cpu peak_kib" to $work/times
    local name="$1"; shift
    /usr/bin/time -f "%e %U %S %M" -o "$work/one" "$@" >/dev/null 2>"$work/stderr" || { cat "$work/stderr" >&2; exit 1; }
    read -r wall user system peak < "$work/one"
    echo "$name $wall $(echo "$user + $system" | bc) $peak" >> "$work/times"
}
for round in $(seq "$rounds"); do
    rm -rf "$work"/out-* && mkdir -p "$work/out-duck"
    measure "filter(session)" "$trajkit" filter "$dataset" --max-input-tokens "$limit" -o "$work/out-filter"
    measure "duckdb(session)" "$python" "$work/duck.py" "$dataset" "$work/out-duck"
    measure "filter(turn)" "$trajkit" filter "$dataset" --scope turn --max-input-tokens "$limit" -o "$work/out-turns"
    measure "truncate(end)" "$trajkit" truncate "$dataset" --max-context "$limit" -o "$work/out-truncate"
    measure "sample(10%)" "$trajkit" sample "$dataset" --fraction 0.1 -o "$work/out-sample"
    measure "split(20/80)" "$trajkit" split "$dataset" --part a=0.2 --part b=0.8 -o "$work/out-split"
    measure "anonymize" "$trajkit" anonymize "$dataset" -o "$work/out-anonymize"
done
"$python" - "$work" "$dataset" <<'PY'
import json, statistics, sys, collections, duckdb
work, dataset = sys.argv[1], sys.argv[2]
rows = collections.defaultdict(list)
for line in open(f"{work}/times"):
    name, wall, cpu, peak = line.split()
    rows[name].append((float(wall), float(cpu), int(peak)))
turns = json.load(open(f"{dataset}/manifest.json"))["tables"]["turns"]["rows"]
print(f"input: {dataset} ({turns:,} turns); median of {len(rows['anonymize'])} rounds")
print(f"{'command':<18}{'wall s':>8}{'cpu s':>8}{'peak MiB':>10}")
med = {}
for name, values in rows.items():
    wall = statistics.median(v[0] for v in values); cpu = statistics.median(v[1] for v in values)
    med[name] = wall
    print(f"{name:<18}{wall:>8.2f}{cpu:>8.2f}{max(v[2] for v in values)/1024:>10.0f}")
print(f"ratio filter(session) / duckdb(session), wall: {med['filter(session)']/med['duckdb(session)']:.2f}")
kept = json.load(open(f"{work}/out-filter/manifest.json"))["tables"]
con = duckdb.connect()
for table in ["sessions", "turns", "messages"]:
    duck = con.execute(f"SELECT count(*) FROM '{work}/out-duck/{table}.parquet'").fetchone()[0]
    assert duck == kept[table]["rows"], (table, duck, kept[table]["rows"])
print("same rows kept: " + ", ".join(f"{t} {kept[t]['rows']:,}" for t in ["sessions", "turns", "messages"]))
PY
