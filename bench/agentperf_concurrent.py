#!/usr/bin/env python3
"""Drives agentperf-local's own per-request path at a given concurrency, for bench/replay.sh.

agentperf-local's runner (`agentperf_local.replay.runner.run_manifest`) replays a manifest one
request at a time on one connection (`SEQUENTIAL_MAX_CONNECTIONS = 1`): it has no concurrency
of its own. So this harness runs AGENTS asyncio tasks, each working through whole tasks of the
manifest in order (as trajkit's agents do), and for every turn calls the runner's own
`_run_turn`: it builds the request (`_request`: cache-isolation salt, max tokens, ignore_eos for
the `exact` policy), streams it through the package's client (`streaming_client`: httpx for the
`python` backend, its default), decodes and measures it (`measure_request`: SSE decoding,
tiktoken output count, TTFT), and checks it (`_verify_turn`). Only the loop around `_run_turn`
is ours; the client is shared by all agents with AGENTS connections.

Agents stop starting requests after SECONDS; the TTFT of every turn (ms) and the failure count
are written as JSON to OUT.

usage: agentperf_concurrent.py MANIFEST BASE_URL MODEL AGENTS SECONDS OUT [BACKEND]
"""

import asyncio
import json
import sys
import time
from pathlib import Path

from agentperf_local.client.backends import streaming_client
from agentperf_local.metrics.tokenization import TiktokenTokenCounter
from agentperf_local.replay.cache_isolation import resolve_cache_namespace
from agentperf_local.replay.config import RunConfig
from agentperf_local.replay.runner import _run_turn
from agentperf_local.workload.schema import load_manifest, load_trace


async def main() -> None:
    manifest_path, base_url, model = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    agents, seconds, out = int(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
    backend = sys.argv[7] if len(sys.argv) > 7 else "python"
    load_started = time.monotonic()
    manifest = load_manifest(manifest_path)
    tasks = [load_trace(manifest_path.parent / task.trace) for task in manifest.tasks]
    config = RunConfig(
        base_url=base_url,
        model=model,
        client_backend=backend,
        output_token_policy="exact",
        tool_mode="none",
    )
    sampling = config.sampling()
    counter = TiktokenTokenCounter()
    cache_namespace = resolve_cache_namespace(config.cache_namespace)
    client = streaming_client(
        backend,
        base_url=base_url,
        api_key=None,
        timeout_seconds=config.request_timeout_seconds,
        max_connections=agents,
    )
    load_seconds = time.monotonic() - load_started
    ttft_ms: list[float] = []
    sent_at: list[float] = []
    errors: list[str] = []
    next_task = 0
    started = time.monotonic()

    async def agent() -> None:
        nonlocal next_task
        while time.monotonic() - started < seconds:
            rows = tasks[next_task % len(tasks)]
            next_task += 1
            for row in rows:
                if time.monotonic() - started >= seconds:
                    return
                sent_at.append(time.monotonic() - started)
                turn = await _run_turn(
                    row, config, sampling, cache_namespace, client, counter, None, asyncio.sleep
                )
                if turn.error is not None:
                    errors.append(turn.error)
                elif turn.metrics is not None and turn.metrics.time_to_first_token is not None:
                    ttft_ms.append(turn.metrics.time_to_first_token * 1000.0)

    await asyncio.gather(*(agent() for _ in range(agents)))
    await client.close()
    with open(out, "w") as file:
        report = {
            "load_seconds": load_seconds,
            "run_seconds": time.monotonic() - started,
            "last_send_s": max(sent_at, default=None),
            "ttft_ms": ttft_ms,
            "failed": len(errors),
            "first_errors": errors[:5],
        }
        json.dump(report, file)


if __name__ == "__main__":
    asyncio.run(main())
