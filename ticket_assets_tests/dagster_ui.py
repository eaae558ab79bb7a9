"""`python -m ticket_assets ui` (what `make ui` runs) in its own process group, and a client
for its GraphQL API that launches and follows backfills as the UI does. Used by the UI tests
and by bench/ui_backfill.py."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
FINAL_STATUSES = ("COMPLETED", "COMPLETED_SUCCESS", "FAILED", "COMPLETED_FAILED", "CANCELED")
LAUNCH = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
  }
}
"""
RETRY = """
mutation Retry($params: ReexecutionParams!) {
  reexecutePartitionBackfill(reexecutionParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}
"""
STATUS = """
query Status($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    ... on PartitionBackfill {
      status
      runs { runId status creationTime startTime endTime }
    }
  }
}
"""

FAILURES = """
query Failures($id: ID!) {
  logsForRun(runId: $id) {
    ... on EventConnection {
      events {
        __typename
        ... on ExecutionStepFailureEvent { stepKey error { message cause { message } } }
        ... on RunFailureEvent { message }
      }
    }
  }
}
"""

_ENTRY_VALUES = """
  label
  ... on IntMetadataEntry { intValue }
  ... on FloatMetadataEntry { floatValue }
  ... on TextMetadataEntry { text }
  ... on MarkdownMetadataEntry { mdStr }
"""
LATEST_MATERIALIZATION = f"""
query Latest($key: AssetKeyInput!, $partition: String!) {{
  assetNodeOrError(assetKey: $key) {{
    ... on AssetNode {{
      assetMaterializations(partitions: [$partition], limit: 1) {{
        partition
        runId
        metadataEntries {{ {_ENTRY_VALUES} }}
      }}
    }}
  }}
}}
"""
CHECKS = f"""
query Checks($key: AssetKeyInput!) {{
  assetNodeOrError(assetKey: $key) {{
    ... on AssetNode {{
      assetChecksOrError {{
        ... on AssetChecks {{
          checks {{
            name
            executionForLatestMaterialization {{
              status
              evaluation {{ description metadataEntries {{ {_ENTRY_VALUES} }} }}
            }}
          }}
        }}
      }}
    }}
  }}
}}
"""


def entry_values(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Metadata entries of a GraphQL answer as {label: value} (ints, floats, texts)."""
    values = {}
    for entry in entries:
        for field in ("intValue", "floatValue", "text", "mdStr"):
            if field in entry:
                values[entry["label"]] = entry[field]
    return values


CHROMIUM = "/usr/bin/chromium"  # Debian's package, installed by `make test`
# Without the background-networking flags Chromium's own connections fail on a closed network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def screenshot(url: str, shoot: Callable[[Page], None]) -> None:
    """Open `url` in headless Chromium and hand the page to `shoot` (which waits for what it
    needs and saves the picture)."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # The graph draws full node cards only from some zoom on: a wide page scaled down
            # keeps the whole graph at that zoom in a 1600-pixel picture.
            page = browser.new_page(
                viewport={"width": 2048, "height": 768}, device_scale_factor=0.78125
            )
            page.add_init_script("localStorage.setItem('communityNux', '1')")  # no sign-up modal
            page.goto(url)
            shoot(page)
        finally:
            browser.close()


def small_config(directory: Path) -> Path:
    """The project's config for UI tests: 2 languages x 2 batches of 4 tickets, data under
    `directory`; returns the config file's path."""
    raw = yaml.safe_load((ROOT / "ticket_assets.yaml").read_text(encoding="utf-8"))
    raw.update(data_dir=str(directory / "data"), languages=["DE", "EN"], modes={})
    raw.update(rows=16, batch_size=4)
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class DagsterUI:
    """The GraphQL API of a running UI."""

    def __init__(self, url: str, home: Path) -> None:
        self.url = url
        self.home = home

    def graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps({"query": query, "variables": variables}).encode()
        request = urllib.request.Request(
            f"{self.url}/graphql", body, {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            payload = json.load(response)
        assert "errors" not in payload, payload
        return payload["data"]

    def launch(self, assets: list[str], partitions: list[str]) -> str:
        """Launch a partition backfill as the UI's "Materialize" dialog does; returns its id."""
        params = {
            "assetSelection": [{"path": [name]} for name in assets],
            "partitionNames": partitions,
        }
        launched = self.graphql(LAUNCH, {"params": params})["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        return launched["backfillId"]

    def retry_failed(self, backfill_id: str) -> str:
        """The backfill page's "Re-execute → From failure": a new backfill of what did not
        materialize; returns its id."""
        params = {"parentRunId": backfill_id, "strategy": "FROM_FAILURE"}
        launched = self.graphql(RETRY, {"params": params})["reexecutePartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        return launched["backfillId"]

    def wait(self, backfill_id: str, timeout: float = 240) -> dict[str, Any]:
        """The backfill once it has finished: its status and its runs."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.graphql(STATUS, {"id": backfill_id})["partitionBackfillOrError"]
            if state["status"] in FINAL_STATUSES:
                return state
            time.sleep(0.5)
        raise TimeoutError(f"backfill {backfill_id} did not finish in {timeout} s")

    def failures(self, backfill: dict[str, Any]) -> list[str]:
        """Why the backfill's failed runs failed: one line per failed step or run."""
        lines = []
        for run in backfill["runs"]:
            if run["status"] != "FAILURE":
                continue
            logs = self.graphql(FAILURES, {"id": run["runId"]})["logsForRun"]
            for event in logs["events"]:
                if event["__typename"] == "ExecutionStepFailureEvent":
                    error = event["error"]["cause"] or event["error"]  # our error, not the wrapper
                    lines.append(f"{event['stepKey']}: {error['message'].strip()}")
                elif event["__typename"] == "RunFailureEvent":
                    lines.append(event["message"])
        return lines

    def latest_materialization(self, asset: str, partition: str) -> tuple[str, dict[str, Any]]:
        """The run id and metadata of the partition's latest materialization, as the asset
        page loads them."""
        variables = {"key": {"path": [asset]}, "partition": partition}
        node = self.graphql(LATEST_MATERIALIZATION, variables)["assetNodeOrError"]
        [event] = node["assetMaterializations"]
        assert event["partition"] == partition
        return event["runId"], entry_values(event["metadataEntries"])

    def check_status(self, asset: str, check: str) -> tuple[str | None, dict[str, Any]]:
        """The status of the check's execution the graph shows (None when not evaluated
        since the asset's latest materialization) and that evaluation's metadata."""
        node = self.graphql(CHECKS, {"key": {"path": [asset]}})["assetNodeOrError"]
        [found] = [c for c in node["assetChecksOrError"]["checks"] if c["name"] == check]
        execution = found["executionForLatestMaterialization"]
        if execution is None:
            return None, {}
        evaluation = execution["evaluation"] or {"metadataEntries": []}
        return execution["status"], entry_values(evaluation["metadataEntries"])

    def backfill(self, assets: list[str], partitions: list[str]) -> str:
        """Launch, wait, and return the final status (failures are in the assertion)."""
        backfill = self.wait(self.launch(assets, partitions))
        assert backfill["status"] == "COMPLETED_SUCCESS", self.failures(backfill)
        return backfill["status"]


@contextmanager
def running_ui(
    config: Path | None,
    home: Path | None,
    cwd: Path,
    port: int | None = None,
    program: Sequence[str] = (sys.executable, "-m", "ticket_assets"),
) -> Iterator[DagsterUI]:
    """`<program> ui --config <config>` (without --config: the project of `cwd`) on the
    instance in `home` (None: the project's own, under its data directory), until the block
    ends; then the whole process group is stopped (TERM, then KILL)."""
    port = port or free_port()
    command = [*program, "ui", *(["--config", str(config)] if config else [])]
    env = {key: value for key, value in os.environ.items() if key != "DAGSTER_HOME"}
    process = subprocess.Popen(
        [*command, "--port", str(port)],
        cwd=cwd,
        env={**env, "DAGSTER_HOME": str(home)} if home else env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/server_info", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the Dagster UI did not start") from None
                time.sleep(0.5)
        yield DagsterUI(url, home or cwd / "data" / "dagster_home")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
