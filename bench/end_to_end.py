"""Times `python -m ticket_assets --rows N` (offline, all languages) in a fresh data dir.

Prints wall time, tickets/s and the child's peak resident memory. Usage:
    python bench/end_to_end.py [--rows 10000] [--batch-size N] [--repeat 1]
Without --batch-size the config's (dev mode: 50, i.e. 400 partitions for 10,000 rows).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_once(rows: int, batch_size: int | None) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="ticket_bench_") as data_dir:
        env = {**os.environ, "DAGSTER_HOME": str(Path(data_dir) / "dagster_home")}
        command = [
            sys.executable,
            "-m",
            "ticket_assets",
            "run",
            "--rows",
            str(rows),
            "--data-dir",
            data_dir,
            *(["--batch-size", str(batch_size)] if batch_size else []),
        ]
        started = time.perf_counter()
        subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
        elapsed = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return elapsed, peak_mib


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10000)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    print(
        f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    for attempt in range(1, args.repeat + 1):
        elapsed, peak = run_once(args.rows, args.batch_size)
        print(
            f"run {attempt}: {args.rows} tickets (batch_size {args.batch_size or 'from config'}) "
            f"in {elapsed:.1f} s"
            f" = {args.rows / elapsed:.0f} tickets/s; peak RSS {peak:.0f} MiB"
        )


if __name__ == "__main__":
    main()
