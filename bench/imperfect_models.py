"""Runs against imperfect models: what reaches the export, what is quarantined, what is paid.

Each scenario runs the CLI (`python -m ticket_assets run`) in a process of its own against
`ticket_assets_tests/schema_llm_server.py`, an OpenAI-compatible server in another process
that answers from the JSON schema it is sent and, where the schema allows, invents its own
tags (like many hosted and local models). The model is `openai/gpt-4o-mini` at that server,
so the printed cost can be checked against the server's billed tokens x litellm's prices.

1. vocabulary: tags the model picks itself; target exit 0 and >= 99 % of tickets exported.
2. faults: 30 % faults (429, 500, timeouts, malformed JSON) plus 5 % answers in the wrong
   language; target exit 0, >= 97 % exported, every exported row valid. Then the same command
   against a healthy server: every ticket, with at most a quarter of the first run's requests.
3. kill: SIGKILL at half the calls, then a rerun: every ticket, and the ledger's paid calls
   equal the server's billed calls.
Every scenario also scans the data directory, the Dagster home and the output for the key.

Usage: python bench/imperfect_models.py [--rows 300] [--scenarios vocabulary,faults,kill]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parent.parent
MODEL = "openai/gpt-4o-mini"
KEY = "sk-bench-imperfect-7d1e0c94b2a6"
# gpt-4o-mini in litellm's bundled price map (USD per token).
INPUT_PRICE, OUTPUT_PRICE = 1.5e-07, 6e-07


@contextmanager
def model_server(*options: str) -> Iterator[str]:
    command = [sys.executable, "-m", "ticket_assets_tests.schema_llm_server", *options]
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        yield server.stdout.readline().strip()
    finally:
        server.terminate()
        server.wait()


def stats(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/stats") as response:
        return json.loads(response.read())


@dataclass
class Outcome:
    code: int
    seconds: float
    requests: int
    billed: int
    output: str


def config_file(directory: Path, url: str) -> Path:
    raw = yaml.safe_load((ROOT / "ticket_assets.yaml").read_text(encoding="utf-8"))
    raw["models"] = {
        "default": {"model": MODEL, "api_base": url, "timeout_s": 1.0, "concurrency": 16}
    }
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def command(config: Path, data: Path, rows: int) -> list[str]:
    run = ["run", "--config", str(config), "--data-dir", str(data), "--rows", str(rows)]
    return [sys.executable, "-m", "ticket_assets", *run]


def environment(home: Path) -> dict[str, str]:
    return {**os.environ, "OPENAI_API_KEY": KEY, "DAGSTER_HOME": str(home)}


def run(url: str, work: Path, rows: int) -> Outcome:
    work.mkdir(parents=True, exist_ok=True)
    before = stats(url)
    started = time.perf_counter()
    done = subprocess.run(
        command(config_file(work, url), work / "data", rows),
        cwd=ROOT,
        env=environment(work / "home"),
        capture_output=True,
        text=True,
    )
    after = stats(url)
    return Outcome(
        done.returncode,
        time.perf_counter() - started,
        after["requests"] - before["requests"],
        after["billed_calls"] - before["billed_calls"],
        done.stdout + done.stderr,
    )


def ledger(data: Path) -> pd.DataFrame:
    with duckdb.connect(str(data / "tickets.duckdb"), read_only=True) as con:
        return con.execute("SELECT * FROM support_tickets.llm_calls").df()


def rejects(data: Path) -> int:
    with duckdb.connect(str(data / "tickets.duckdb"), read_only=True) as con:
        found = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'rejects'"
        ).fetchone()
        if not found or not found[0]:
            return 0
        row = con.execute("SELECT count(*) FROM support_tickets.rejects").fetchone()
        return int(row[0]) if row else 0


def exported(data: Path) -> pd.DataFrame:
    return pd.read_parquet(data / "exports" / "tickets.parquet")


def key_leaks(work: Path, *texts: str) -> int:
    found = sum(KEY in text for text in texts)
    for path in work.rglob("*"):
        if path.is_file() and KEY.encode() in path.read_bytes():
            print(f"  key found in {path}")
            found += 1
    return found


def printed_cost(output: str) -> float:
    total = next(line for line in output.splitlines() if line.strip().startswith("total"))
    return float(total.split()[5])


def describe(name: str, outcome: Outcome, data: Path, rows: int) -> None:
    tickets = exported(data) if (data / "exports" / "tickets.parquet").exists() else None
    count = 0 if tickets is None else len(tickets)
    print(
        f"{name}: exit {outcome.code}, {outcome.seconds:.1f} s, {count}/{rows} tickets exported, "
        f"{rejects(data)} quarantined, {outcome.requests} requests, {outcome.billed} billed"
    )


def vocabulary(rows: int, work: Path) -> None:
    with model_server("--latency", "0.05", "--seed", "1") as url:
        outcome = run(url, work, rows)
        server = stats(url)
    data = work / "data"
    describe("vocabulary", outcome, data, rows)
    paid = ledger(data).query("not cache_hit")
    expected = server["prompt_tokens"] * INPUT_PRICE + server["completion_tokens"] * OUTPUT_PRICE
    cost = printed_cost(outcome.output)
    print(
        f"  ledger paid calls {len(paid)} vs billed {server['billed_calls']}; printed cost "
        f"${cost:.6f} vs billed tokens x prices ${expected:.6f} "
        f"({(cost / expected - 1) * 100:+.2f} %); key leaks: {key_leaks(work, outcome.output)}"
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def faults(rows: int, work: Path) -> None:
    # The same address both times: the rerun is the same command, now answered healthily.
    port = ["--port", str(free_port()), "--latency", "0.05"]
    options = [*port, "--seed", "2", "--fault-rate", "0.3"]
    options += ["--faults", "429,500,timeout,malformed", "--wrong-language-rate", "0.05"]
    data = work / "data"
    with model_server(*options) as url:
        first = run(url, work, rows)
        served = stats(url)["faults"]
    describe("faults", first, data, rows)
    print(f"  faults served: {served}")
    with model_server(*port, "--seed", "3") as url:
        second = run(url, work, rows)
    describe("faults, rerun healthy", second, data, rows)
    share = second.requests / first.requests
    print(
        f"  rerun requests: {share:.1%} of the first run's; "
        f"key leaks: {key_leaks(work, first.output, second.output)}"
    )


def kill(rows: int, work: Path) -> None:
    data = work / "data"
    with model_server("--latency", "0.05", "--seed", "4") as url:
        reference = run(url, work / "reference", rows)
        half = reference.billed // 2
        child = subprocess.Popen(
            command(config_file(work, url), data, rows),
            cwd=ROOT,
            env=environment(work / "home"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        start = stats(url)["billed_calls"]
        while stats(url)["billed_calls"] - start < half and child.poll() is None:
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
        child.wait()
        time.sleep(2.5)  # requests in flight at the kill finish (and are billed)
        killed_billed = stats(url)["billed_calls"] - start
        rerun = run(url, work, rows)
        billed = stats(url)["billed_calls"] - start
    describe("kill, rerun", rerun, data, rows)
    paid = ledger(data).query("not cache_hit")
    estimated = paid["price_source"].str.startswith("estimated").sum()
    print(
        f"  killed at {killed_billed} billed calls (reference run: {reference.billed}); "
        f"ledger paid calls {len(paid)} ({estimated} without an answer) vs billed {billed}; "
        f"key leaks: {key_leaks(work, rerun.output)}"
    )


SCENARIOS = {"vocabulary": vocabulary, "faults": faults, "kill": kill}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    args = parser.parse_args()
    print(f"{platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    for name in args.scenarios.split(","):
        with tempfile.TemporaryDirectory() as directory:
            SCENARIOS[name](args.rows, Path(directory))


if __name__ == "__main__":
    main()
