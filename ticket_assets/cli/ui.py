"""`ui`: the Dagster webserver and daemon on the project's instance."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg

from ticket_assets.config import (
    CONFIG_ENV_VAR,
    DEFAULTS_DIR,
    MODE_ENV_VAR,
    RunConfig,
    find_config,
)
from ticket_assets.orchestration.partitions import register_batches

WORKSPACE_FILE = "workspace.yaml"


def handle(args: argparse.Namespace, config: RunConfig, log_path: Path) -> int:
    """Register the configured batches, then serve the UI: the Dagster webserver plus the
    daemon (schedules, sensors, the run queue, backfills) with its short backfill loop
    (orchestration/daemon.py), as `dagster dev` would but without its 30 s backfill waits.
    Runs until Ctrl-C or SIGTERM, then stops both."""
    with dg.DagsterInstance.get() as instance:
        register_batches(instance, config)
    port = str(args.port or os.environ.get("PORT") or 3000)
    own = config.root / WORKSPACE_FILE
    workspace = str(own if own.is_file() else DEFAULTS_DIR / WORKSPACE_FILE)
    # The code location and every run's process load this project's config, from any folder.
    env = {
        **os.environ,
        MODE_ENV_VAR: config.mode,
        CONFIG_ENV_VAR: str(find_config(args.config).resolve()),
    }
    daemon = "ticket_assets.orchestration.daemon"
    services = {
        "webserver": [sys.executable, "-m", "dagster_webserver", "-w", workspace, "-p", port],
        "daemon": [sys.executable, "-m", daemon, "run", "-w", workspace],
    }
    print(f"starting the Dagster webserver and daemon (instance {os.environ['DAGSTER_HOME']})")
    sys.stdout.flush()
    # SIGTERM ends the wait below like Ctrl-C does, so `finally` stops both services.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    started = time.monotonic()
    processes = {name: subprocess.Popen(command, env=env) for name, command in services.items()}
    url = f"http://127.0.0.1:{port}"
    announced = False
    try:
        while True:
            if not announced and _answers(url):
                # Printed once the server answers, so the link works when it appears.
                print(f"Dagster UI on {url} (ready in {time.monotonic() - started:.0f} s)")
                sys.stdout.flush()
                announced = True
            for name, process in processes.items():
                if process.poll() is not None:
                    print(f"error: the {name} stopped (exit code {process.returncode})")
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0
    finally:
        _stop(list(processes.values()))


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/server_info", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def _stop(processes: list[subprocess.Popen[bytes]], grace_s: float = 15) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + grace_s
    for process in processes:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
