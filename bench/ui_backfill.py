"""UI-path backfills timed from launch to success, on the offline provider.

Starts `python -m ticket_assets ui` (what `make ui` runs) on a fresh instance, then launches
through the UI's GraphQL API, as the UI's "Materialize" dialog does:
1. all six node assets for 5 languages x 4 batches (1,000 tickets), target under 60 s;
2. `translate` alone for the same 20 partitions.
Prints each backfill's time and its runs (created, started, ended, seconds after launch).

Setups, measured alternately in each round: `local` (SQLite instance, tickets.duckdb) and
`lake` (the instance in PostgreSQL, deploy/dagster.postgres.yaml, and the tables in a
DuckLake with its catalog in PostgreSQL and its data on S3; both servers are started here on
127.0.0.1, a fresh database and bucket per round).

Usage: python bench/ui_backfill.py [--repeat 2] [--setups local lake]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from ticket_assets_tests.dagster_ui import DagsterUI, running_ui  # noqa: E402
from ticket_assets_tests.services import (  # noqa: E402
    PostgresServer,
    S3Server,
    running_postgres,
    running_s3,
)

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


def lake_setup(
    root: Path, raw: dict[str, object], postgres: PostgresServer, s3: S3Server, attempt: int
) -> None:
    """Point `raw` at a new lake and this process's environment at a new Postgres instance."""
    name = f"bench_{attempt}_{uuid.uuid4().hex[:6]}"
    s3.create_bucket(name.replace("_", "-"))
    raw["storage"] = {
        "backend": "ducklake",
        "catalog": f"postgres:{postgres.create_database(name + '_lake')}",
        "data_path": f"s3://{name.replace('_', '-')}/tickets/",
    }
    postgres.create_database(name + "_dagster")
    os.environ.update(
        s3.environment(),
        TICKET_ASSETS_INSTANCE="postgres",
        DAGSTER_PG_HOST=postgres.host,
        DAGSTER_PG_PORT=str(postgres.port),
        DAGSTER_PG_USERNAME=postgres.user,
        DAGSTER_PG_PASSWORD="",
        DAGSTER_PG_DB=name + "_dagster",
    )
    home = root / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        (ROOT / "deploy" / "dagster.postgres.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--setups", nargs="+", choices=["local", "lake"], default=["local"])
    args = parser.parse_args()
    print(
        f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    partitions = [f"b{b:04d}|{language}" for b in range(BATCHES) for language in LANGUAGES]
    with contextlib.ExitStack() as services:
        if "lake" in args.setups:
            scratch = Path(services.enter_context(tempfile.TemporaryDirectory(prefix="svc_")))
            postgres = services.enter_context(running_postgres(scratch / "pg"))
            s3 = services.enter_context(running_s3(scratch / "s3"))
        for attempt in range(1, args.repeat + 1):
            for setup in args.setups:
                with tempfile.TemporaryDirectory(prefix="ui_bench_") as directory:
                    root = Path(directory)
                    raw = yaml.safe_load((ROOT / "ticket_assets.yaml").read_text(encoding="utf-8"))
                    rows = len(LANGUAGES) * BATCHES * BATCH_SIZE
                    raw.update(data_dir=str(root / "data"), languages=LANGUAGES, modes={})
                    raw.update(rows=rows, batch_size=BATCH_SIZE)
                    saved = dict(os.environ)
                    if setup == "lake":
                        lake_setup(root, raw, postgres, s3, attempt)
                    config = root / "config.yaml"
                    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
                    started = time.monotonic()
                    try:
                        with running_ui(config, root / "dagster_home", root) as ui:
                            label = f"[{attempt}] {setup}"
                            print(f"{label} UI up in {time.monotonic() - started:.1f} s")
                            full = timed_backfill(ui, NODES, partitions)
                            print(f"{label} six node assets, {len(partitions)} partitions: {full}")
                            translate = timed_backfill(ui, ["translate"], partitions)
                            print(
                                f"{label} translate only, {len(partitions)} partitions: {translate}"
                            )
                    finally:
                        os.environ.clear()
                        os.environ.update(saved)


if __name__ == "__main__":
    main()
