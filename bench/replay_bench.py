#!/usr/bin/env python3
"""The driver of bench/replay.sh: one fake SSE server, the same load driven by trajkit replay,
NVIDIA AIPerf and agentperf-local's per-request path, one after the other, and a table.

For each client run it
- resets the server's counters (`GET /stats?reset=1`), starts the client, and every 0.5 s
  samples the CPU time of the client's whole process tree (utime + stime + cutime + cstime of
  every live descendant, from /proc) and the server's counters;
- when the client exits, takes the tree's exact total from wait4's rusage (which includes every
  reaped descendant), and the server's final counters and CPU time;
- judges the run by the server's tally, the same for every client: tokens streamed, streams
  active (sampled mean over the steady window and the peak), first-token lateness;
- a client sustained the load when that window lasted at least half the run and its median TTFT
  error is below one token interval (see `sustained`);
- the steady window is the span of samples during which the server had at least 95 % of the
  asked-for streams open: CPU and tokens over that span give CPU per token without start-up
  (Python imports, dataset loading) or ramp-down;
- TTFT error is each successful request's client-measured TTFT minus the configured first-token
  delay of the server (which waits that long after reading the request).

usage: replay_bench.py --help
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def proc_stat(pid: int) -> tuple[int, int] | None:
    """(ppid, utime + stime + cutime + cstime in ticks) of a process, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), sum(int(value) for value in fields[11:15])


def tree_cpu_seconds(root: int) -> float:
    children: dict[int, list[int]] = {}
    cpu: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = proc_stat(int(entry))
        if stat is None:
            continue
        children.setdefault(stat[0], []).append(int(entry))
        cpu[int(entry)] = stat[1]
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += cpu.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total / TICKS


def own_cpu_seconds(pid: int) -> float:
    stat = proc_stat(pid)
    return (stat[1] if stat else 0) / TICKS


def server_stats(base: str, reset: bool = False) -> dict:
    url = f"{base}/stats" + ("?reset=1" if reset else "")
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def quantile(values: list[float], q: float) -> float | None:
    """Nearest rank, as trajkit stats."""
    if not values:
        return None
    ordered = sorted(values)
    rank = min(max(1, -(-int(q * len(ordered) * 1_000_000) // 1_000_000)), len(ordered))
    return ordered[rank - 1]


def measure(name: str, command: list[str], env: dict, args, base: str, server_pid: int) -> dict:
    """Runs one client and measures it; the TTFTs are read afterwards by the caller."""
    server_stats(base, reset=True)
    server_cpu_before = own_cpu_seconds(server_pid)
    log = open(Path(args.work) / f"{name}.log", "w")
    started = time.monotonic()
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    samples = []  # (seconds, tree cpu s, server tokens, server active, server cpu s)
    rusage = None
    deadline = started + args.seconds * 4 + 300
    while True:
        time.sleep(0.5)
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid != 0:
            rusage = usage
            process.returncode = os.waitstatus_to_exitcode(status)
            break
        stats = server_stats(base)
        samples.append(
            (
                time.monotonic() - started,
                tree_cpu_seconds(process.pid),
                stats["tokens"],
                stats["active"],
                own_cpu_seconds(server_pid),
            )
        )
        if time.monotonic() > deadline:
            process.kill()
    wall = time.monotonic() - started
    log.close()
    final = server_stats(base)
    server_cpu = own_cpu_seconds(server_pid) - server_cpu_before
    client_cpu = rusage.ru_utime + rusage.ru_stime
    steady = [s for s in samples if s[3] >= 0.95 * args.agents]
    result = {
        "client": name,
        "exit": process.returncode,
        "wall_s": wall,
        "client_cpu_s": client_cpu,
        "server_cpu_s": server_cpu,
        "tokens": final["tokens"],
        "requests": final["completed"],
        "peak_streams": final["most_active"],
        "lateness": final["first_token_lateness_ms"],
        "steady_s": 0.0,
    }
    if len(steady) >= 2:
        first, last = steady[0], steady[-1]
        tokens = last[2] - first[2]
        result.update(
            steady_s=last[0] - first[0],
            steady_streams=statistics.mean(s[3] for s in steady),
            steady_tokens=tokens,
            steady_cpu_s=last[1] - first[1],
            steady_server_cpu_s=last[4] - first[4],
        )
    else:
        # Never at 95 % of the streams asked for: the mean over the run is what it sustained.
        result["steady_streams"] = statistics.mean(s[3] for s in samples) if samples else 0
    return result


def trajkit_client(args, base: str) -> tuple[list[str], callable]:
    run = Path(args.work) / "trajkit-run"
    command = [
        args.trajkit, "replay", str(Path(args.work) / "load.trajkit"),
        "--base-url", f"{base}/v1", "--model", "bench", "--agents", str(args.agents),
        "--duration", f"{args.seconds}s", "--output-policy", f"fixed:{args.tokens}",
        "--tool-delay", "none", "-o", str(run), "--force", "-q",
    ]  # fmt: skip

    def ttfts() -> tuple[list[float], int]:
        values, failed = [], 0
        with open(run / "requests.jsonl") as file:
            for line in file:
                record = json.loads(line)
                if record["error_kind"] is not None:
                    failed += 1
                elif record["ttft_ms"] is not None:
                    values.append(record["ttft_ms"])
        return values, failed

    return command, ttfts


def aiperf_client(args, base: str) -> tuple[list[str], callable]:
    artifacts = Path(args.work) / "aiperf-artifacts"
    subprocess.run(["rm", "-rf", str(artifacts)], check=True)
    command = [
        str(Path(args.aiperf_venv) / "bin" / "aiperf"), "profile",
        "--model", "bench", "--url", base, "--endpoint-type", "chat", "--streaming",
        "--concurrency", str(args.agents), "--benchmark-duration", str(args.seconds),
        "--input-file", str(Path(args.work) / "aiperf.jsonl"),
        "--custom-dataset-type", "single_turn",
        "--output-tokens-mean", str(args.tokens), "--extra-inputs", "ignore_eos:true",
        "--tokenizer", "builtin", "--use-server-token-count",
        "--ui-type", "none", "--no-server-metrics", "--no-gpu-telemetry",
        "--output-artifact-dir", str(artifacts),
    ]  # fmt: skip

    def ttfts() -> tuple[list[float], int]:
        values, failed = [], 0
        exports = list(artifacts.rglob("profile_export.jsonl"))
        if not exports:
            raise SystemExit(f"AIPerf wrote no profile_export.jsonl under {artifacts}")
        with open(exports[0]) as file:
            for line in file:
                record = json.loads(line)
                if record.get("error"):
                    failed += 1
                    continue
                ttft = (record.get("metrics") or {}).get("time_to_first_token")
                if ttft is not None:
                    values.append(float(ttft["value"]) * unit_to_ms(ttft.get("unit", "ms")))
        return values, failed

    return command, ttfts


def unit_to_ms(unit: str) -> float:
    return {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1000.0, "sec": 1000.0}.get(unit, 1.0)


def agentperf_client(args, base: str) -> tuple[list[str], callable]:
    out = Path(args.work) / "agentperf.json"
    command = [
        str(Path(args.agentperf_venv) / "bin" / "python"),
        str(Path(__file__).with_name("agentperf_concurrent.py")),
        str(Path(args.work) / "replay" / "manifest.json"), f"{base}/v1", "bench",
        str(args.agents), str(args.seconds), str(out),
    ]  # fmt: skip

    def ttfts() -> tuple[list[float], int]:
        report = json.loads(out.read_text())
        return report["ttft_ms"], report["failed"]

    return command, ttfts


CLIENTS = {"trajkit": trajkit_client, "aiperf": aiperf_client, "agentperf": agentperf_client}


def fmt(value, digits=1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trajkit", required=True)
    parser.add_argument("--server", required=True, help="the sse_server binary")
    parser.add_argument("--work", required=True)
    parser.add_argument("--aiperf-venv", required=True)
    parser.add_argument("--agentperf-venv", required=True)
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--ttft-ms", type=float, default=200)
    parser.add_argument("--itl-ms", type=float, default=100)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--clients", default="trajkit,aiperf,agentperf")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)

    request_seconds = (args.ttft_ms + (args.tokens - 1) * args.itl_ms) / 1000
    turns_per_session = 10
    sessions = int(args.agents * (args.seconds / request_seconds + 2) / turns_per_session * 1.5) + 1
    load_key = f"{sessions}x{turns_per_session}x{args.tokens}"
    if not (work / "load.trajkit").exists() or (work / "load.key").read_text() != load_key:
        subprocess.run(
            [sys.executable, str(Path(__file__).with_name("replay_load.py")), str(work),
             str(sessions), str(turns_per_session), str(args.tokens)],
            check=True,
        )  # fmt: skip
        subprocess.run(
            [args.trajkit, "ingest", str(work / "replay"), "--format", "aa-replay",
             "--tokenizer", "none", "-o", str(work / "load.trajkit"), "--force", "-q"],
            check=True,
        )  # fmt: skip
        (work / "load.key").write_text(load_key)

    env = dict(os.environ)
    # agentperf-local and AIPerf's builtin tokenizer use tiktoken's o200k_base, which tiktoken
    # would download: replay.sh seeds its cache from the copy trajkit's tiktoken-rs ships.
    env.setdefault("TIKTOKEN_CACHE_DIR", str(Path.home() / ".cache/trajkit/bench/tiktoken"))
    env["NO_COLOR"] = "1"
    server = subprocess.Popen(
        [args.server, "--port", "0", "--ttft-ms", str(args.ttft_ms), "--itl-ms",
         str(args.itl_ms), "--tokens", str(args.tokens), "--threads", "1"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        address = server.stdout.readline().split()[-1]
        base = f"http://{address}"
        chosen = args.clients.split(",")
        results: dict[str, list[dict]] = {name: [] for name in chosen}
        for run in range(args.runs):
            for name in chosen:
                command, read_ttfts = CLIENTS[name](args, base)
                print(f"run {run + 1}/{args.runs}: {name} …", file=sys.stderr, flush=True)
                result = measure(name, command, env, args, base, server.pid)
                log_text = (work / f"{name}.log").read_text()
                # trajkit replay exits 1 when --duration stopped it before every planned request:
                # the benchmark asks for that.
                expected_stop = name == "trajkit" and "(--duration reached)" in log_text
                if result["exit"] != 0 and not (result["exit"] == 1 and expected_stop):
                    print(
                        f"  {name} exited {result['exit']}; see {work / (name + '.log')}",
                        file=sys.stderr,
                    )
                try:
                    ttfts, failed = read_ttfts()
                except (OSError, ValueError, KeyError) as error:
                    ttfts, failed = [], None
                    print(f"  {name}: no TTFTs read: {error}", file=sys.stderr)
                errors = [value - args.ttft_ms for value in ttfts]
                result.update(
                    failed=failed,
                    ttft_n=len(errors),
                    ttft_err_mean=statistics.mean(errors) if errors else None,
                    ttft_err_p50=quantile(errors, 0.5),
                    ttft_err_p99=quantile(errors, 0.99),
                )
                print("  " + json.dumps(result), file=sys.stderr, flush=True)
                results[name].append(result)
    finally:
        server.terminate()
        server.wait()
    (work / "results.json").write_text(json.dumps(results, indent=1))
    report(results, args)


def median(runs: list[dict], key: str):
    values = [run[key] for run in runs if run.get(key) is not None]
    return statistics.median(values) if values else None


def report(results: dict[str, list[dict]], args) -> None:
    rows = {}
    for name, runs in results.items():
        row = {
            key: median(runs, key)
            for key in runs[0]
            if isinstance(runs[0][key], (int, float)) or runs[0][key] is None
        }
        row["lateness"] = {
            key: median([run["lateness"] for run in runs], key) for key in ("mean", "p99")
        }
        row["cpu_us_per_token"] = (
            row["client_cpu_s"] / row["tokens"] * 1e6 if row["tokens"] else None
        )
        row["steady_us_per_token"] = median(
            [
                {"v": run["steady_cpu_s"] / run["steady_tokens"] * 1e6}
                for run in runs
                # A window shorter than half the run (the client never held the streams for
                # long) measures too little to count.
                if run.get("steady_tokens") and run["steady_s"] >= 0.5 * args.seconds
            ],
            "v",
        )
        rows[name] = row
    print(
        f"\nLoad: {args.agents} concurrent streams asked, {args.tokens} tokens per response, "
        f"first token {args.ttft_ms:g} ms after the request, then one every {args.itl_ms:g} ms; "
        f"{args.seconds} s per client; median of {args.runs} run(s). CPU = user + sys of the "
        "client's whole process tree."
    )
    header = (
        "| client | sustained | streams (steady mean / peak) | tokens | requests (failed) | client CPU s "
        "| CPU µs/token (whole run) | CPU µs/token (steady) | TTFT error ms mean / p50 / p99 "
        "| server CPU s | server first-token lateness ms mean / p99 |"
    )
    print(header)
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, row in rows.items():
        lateness = row["lateness"] or {}
        print(
            f"| {name} | {sustained(row, args)} "
            f"| {fmt(row.get('steady_streams'), 0)} / {fmt(row['peak_streams'], 0)} "
            f"| {fmt(row['tokens'], 0)} | {fmt(row['requests'], 0)} ({fmt(row.get('failed'), 0)}) "
            f"| {fmt(row['client_cpu_s'], 2)} | {fmt(row['cpu_us_per_token'])} "
            f"| {fmt(row['steady_us_per_token'])} "
            f"| {fmt(row['ttft_err_mean'])} / {fmt(row['ttft_err_p50'])} / {fmt(row['ttft_err_p99'])} "
            f"| {fmt(row['server_cpu_s'], 2)} "
            f"| {fmt(lateness.get('mean'), 2)} / {fmt(lateness.get('p99'), 2)} |"
        )
    base = rows.get("trajkit")
    if base:
        print("\nRatios against trajkit (client CPU per token; > 1: the peer spends more):")
        for name, row in rows.items():
            if name == "trajkit":
                continue
            whole = ratio(row["cpu_us_per_token"], base["cpu_us_per_token"])
            steady = ratio(row["steady_us_per_token"], base["steady_us_per_token"])
            print(f"- {name}: whole run {fmt(whole)}×, steady window {fmt(steady)}×")


def sustained(row: dict, args) -> str:
    """Whether the client kept up: the server had 95 % of the streams open for at least half the
    run, and the client read the median first token less than one token interval late (a client
    that falls behind leaves tokens in the socket buffers: the server then counts them as sent,
    but the client's TTFT shows the lag)."""
    kept_up = (
        (row.get("steady_s") or 0) >= 0.5 * args.seconds
        and row.get("ttft_err_p50") is not None
        and row["ttft_err_p50"] < args.itl_ms
    )
    return "yes" if kept_up else "**no**"


def ratio(a, b):
    return a / b if a is not None and b else None


if __name__ == "__main__":
    main()
