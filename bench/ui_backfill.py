"""UI-path backfills timed from launch to success, on the offline provider.

Starts `python -m ticket_assets ui` (what `make ui` runs) on a fresh instance, then launches
through the UI's GraphQL API, as the UI's "Materialize" dialog does:
1. all six node assets for 5 languages x 4 batches (1,000 tickets), target under 60 s;
2. `translate` alone for the same 20 partitions.
Prints each backfill's time and its runs (created, started, ended, seconds after launch).

Usage: python bench/ui_backfill.py [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from ticket_assets_tests.dagster_ui import DagsterUI, running_ui  # noqa: E402

NODES = ["topic", "email_draft", "tagging", "paraphrase", "translate", "first_response"]
LANGUAGES = ["DE", "EN", "ES", "FR", "PT"]
BATCHES = 4
BATCH_SIZE = 50


def timed_backfill(ui: DagsterUI, assets: list[str], partitions: list[str]) -> str:
    launched = time.time()
    backfill = ui.wait(ui.launch(assets, partitions), timeout=600)
    elapsed = time.time() - launched
    runs = sorted(
        (run["creationTime"] - launched, run["startTime"] - launched, run["endTime"] - launched)
        for run in backfill["runs"]
    )
    detail = ", ".join(f"{c:.1f}/{s:.1f}/{e:.1f}" for c, s, e in runs)
    return (
        f"{backfill['status']} in {elapsed:.1f} s; {len(runs)} runs "
        f"(created/started/ended, s after launch: {detail})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    print(
        f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    partitions = [f"b{b:04d}|{language}" for b in range(BATCHES) for language in LANGUAGES]
    for attempt in range(1, args.repeat + 1):
        with tempfile.TemporaryDirectory(prefix="ui_bench_") as scratch:
            root = Path(scratch)
            raw = yaml.safe_load((ROOT / "ticket_assets.yaml").read_text(encoding="utf-8"))
            rows = len(LANGUAGES) * BATCHES * BATCH_SIZE
            raw.update(data_dir=str(root / "data"), languages=LANGUAGES, modes={})
            raw.update(rows=rows, batch_size=BATCH_SIZE)
            config = root / "config.yaml"
            config.write_text(yaml.safe_dump(raw), encoding="utf-8")
            started = time.monotonic()
            with running_ui(config, root / "dagster_home", root) as ui:
                print(f"[{attempt}] UI up in {time.monotonic() - started:.1f} s")
                full = timed_backfill(ui, NODES, partitions)
                print(f"[{attempt}] six node assets, {len(partitions)} partitions: {full}")
                translate = timed_backfill(ui, ["translate"], partitions)
                print(f"[{attempt}] translate only, {len(partitions)} partitions: {translate}")


if __name__ == "__main__":
    main()
