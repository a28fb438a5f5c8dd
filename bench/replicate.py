#!/usr/bin/env python3
"""Replicates a directory of mini-swe-agent trajectories to a target size, giving every copy a new
instance id (`<id>__copy<k>`), so that benchmarks can measure ingest at corpus scale (>= 1 GB)
from the shared sample. Copies are byte-identical to their source except for the id.

usage: replicate.py SOURCE_DIR TARGET_DIR MEGABYTES
"""
import os
import sys


def main():
    source, target, megabytes = sys.argv[1], sys.argv[2], float(sys.argv[3])
    files = []
    for root, _, names in os.walk(source):
        for name in sorted(names):
            if name.endswith(".traj.json"):
                files.append(os.path.join(root, name))
    files.sort()
    originals = [(path, open(path, "rb").read()) for path in files]
    goal = megabytes * 1e6
    written = 0
    copy = 0
    os.makedirs(target, exist_ok=True)
    while written < goal:
        for path, data in originals:
            instance = os.path.basename(path)[: -len(".traj.json")]
            new_id = f"{instance}__copy{copy}"
            needle = f'"instance_id": "{instance}"'.encode()
            assert needle in data, path
            out = data.replace(needle, f'"instance_id": "{new_id}"'.encode())
            directory = os.path.join(target, f"copy{copy:04d}")
            os.makedirs(directory, exist_ok=True)
            with open(os.path.join(directory, f"{new_id}.traj.json"), "wb") as f:
                f.write(out)
            written += len(out)
            if written >= goal:
                break
        copy += 1
    print(f"{target}: {written / 1e6:.0f} MB in {copy} copies", file=sys.stderr)


if __name__ == "__main__":
    main()
