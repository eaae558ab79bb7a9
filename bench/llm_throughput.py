"""LLM-path figures against the local OpenAI-compatible server (real HTTP, real litellm).

1. Throughput: one node's calls at concurrency 32 with 250 ms server latency; the bound is
   32 / 0.25 s = 128 calls/s. Target: at least 90 % of it.
2. Calls and input tokens per ticket for a whole run, one ticket per call versus
   `tickets_per_call` (target: at most 2 calls per ticket).
3. A fully cached rerun's time versus the first run (target: at most 10 %).

Usage: python bench/llm_throughput.py [--calls 1024] [--rows 200]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("OPENAI_API_KEY", "sk-bench-local-only")

from ticket_assets.config import load_config  # noqa: E402
from ticket_assets.llm.client import LLMClient  # noqa: E402
from ticket_assets.llm.processors.workers import MIN_PER_WORKER  # noqa: E402
from ticket_assets.nodes import NODES, NodeContext  # noqa: E402
from ticket_assets.plan import plan_frame  # noqa: E402
from ticket_assets.tables.loaded import tables_for  # noqa: E402

LATENCY_S = 0.25
CONCURRENCY = 32
# The same local server through litellm's two paths for OpenAI-compatible endpoints: the
# OpenAI SDK (`openai/`) and litellm's own HTTP handler (`hosted_vllm/`, for self-hosted
# servers such as vLLM), which costs less CPU per call.
OPENAI_MODEL = "openai/gpt-4o-mini"
SELF_HOSTED_MODEL = "hosted_vllm/gpt-4o-mini"


@contextmanager
def server_process(latency_s: float) -> Iterator[tuple[str, Callable[[], int]]]:
    """The fake OpenAI-compatible server in a process of its own, as a real provider would
    be (in this process it would compete for the GIL). Yields its URL and a request counter
    read from its /stats endpoint."""
    process = subprocess.Popen(
        [sys.executable, "-m", "ticket_assets_tests.fake_llm_server", "--latency", str(latency_s)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = process.stdout.readline().strip()  # type: ignore[union-attr]

        def served() -> int:
            with urllib.request.urlopen(f"{url}/stats") as response:
                return int(json.load(response)["calls"])

        yield url, served
    finally:
        process.kill()
        process.wait()


def node_context(
    url: str, data_dir: Path, calls: int, workers: int, cache: bool, model: str = OPENAI_MODEL
) -> NodeContext:
    overrides = {"rows": calls, "batch_size": calls, "languages": "EN", "cache": cache}
    config = load_config(overrides={**overrides, "data_dir": str(data_dir)})
    config = config.with_model(model=model, api_base=url)
    models = {
        name: entry.model_copy(update={"concurrency": CONCURRENCY, "workers": workers})
        for name, entry in config.models.items()
    }
    config = config.model_copy(update={"models": models})
    tables = tables_for(config)
    return NodeContext(config, tables, LLMClient(config, tables))


def throughput(calls: int, data_dir: Path, workers: int, model: str) -> None:
    """`calls` topic calls through the facade (cache off), timed from first to last."""
    with server_process(LATENCY_S) as (url, served):
        ctx = node_context(url, data_dir, calls, workers, cache=False, model=model)
        frame = plan_frame(ctx.config, [("EN", "b0000")], 0)
        # Warm up: litellm's first call builds its HTTP client, lingua loads its model, and
        # worker processes start.
        NODES["topic"].run(frame.head(max(32, workers * MIN_PER_WORKER)), ctx)
        warmup_calls = served()
        started = time.perf_counter()
        cpu_started = time.process_time()
        NODES["topic"].run(frame, ctx)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        calls = served() - warmup_calls
    bound = CONCURRENCY / LATENCY_S
    rate = calls / elapsed
    print(
        f"throughput, {model}, {workers} worker process(es): {calls} calls in {elapsed:.2f} s = "
        f"{rate:.1f} calls/s, {100 * rate / bound:.1f} % of the {bound:.0f} calls/s bound"
        + (f"; {1000 * cpu / calls:.1f} ms client CPU per call" if workers == 1 else "")
    )


def cached_rerun(calls: int, data_dir: Path) -> None:
    """One node's calls live (filling the cache), then the same calls again from the cache."""
    with server_process(LATENCY_S) as (url, served):
        ctx = node_context(url, data_dir, calls, 1, cache=True)
        frame = plan_frame(ctx.config, [("EN", "b0000")], 0)
        started = time.perf_counter()
        NODES["topic"].run(frame, ctx)
        live = time.perf_counter() - started
        paid = served()
        started = time.perf_counter()
        NODES["topic"].run(frame, ctx)
        cached = time.perf_counter() - started
        assert served() == paid, "the cached rerun made HTTP calls"
    print(
        f"LLM path, {calls} topic calls: {live:.2f} s live, fully cached rerun "
        f"{cached:.2f} s = {100 * cached / live:.1f} %"
    )


def whole_run(rows: int, data_dir: Path, url: str, tickets_per_call: int) -> float:
    raw = yaml.safe_load((ROOT / "ticket_assets.yaml").read_text(encoding="utf-8"))
    raw["models"] = {
        "default": {
            "model": OPENAI_MODEL,
            "api_base": url,
            "concurrency": CONCURRENCY,
            "tickets_per_call": tickets_per_call,
        }
    }
    config = data_dir / "config.yaml"
    data_dir.mkdir(parents=True, exist_ok=True)
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    command = [
        sys.executable,
        "-m",
        "ticket_assets",
        "run",
        "--config",
        str(config),
        "--data-dir",
        str(data_dir),
        "--rows",
        str(rows),
    ]
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - started


def ledger_figures(data_dir: Path, rows: int) -> str:
    with duckdb.connect(str(data_dir / "tickets.duckdb"), read_only=True) as con:
        calls, tokens = con.execute(
            "SELECT count(*), sum(input_tokens) FROM support_tickets.llm_calls WHERE NOT cache_hit"
        ).fetchone()
    return f"{calls / rows:.2f} calls and {tokens / rows:.0f} input tokens per ticket"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1024)
    parser.add_argument("--rows", type=int, default=200)
    args = parser.parse_args()
    print(
        f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; server latency {LATENCY_S * 1000:.0f} ms, "
        f"concurrency {CONCURRENCY}"
    )
    with tempfile.TemporaryDirectory(prefix="llm_bench_") as scratch:
        root = Path(scratch)
        for model in (OPENAI_MODEL, SELF_HOSTED_MODEL):
            for workers in (1, 2):
                throughput(args.calls, root / f"throughput_{workers}", workers, model)
        cached_rerun(args.calls, root / "cached")
        with server_process(LATENCY_S) as (url, _):
            single = whole_run(args.rows, root / "single", url, 1)
            print(
                f"one ticket per call: {args.rows} tickets in {single:.1f} s, "
                f"{ledger_figures(root / 'single', args.rows)}"
            )
            grouped = whole_run(args.rows, root / "grouped", url, 10)
            print(
                f"10 tickets per call: {args.rows} tickets in {grouped:.1f} s, "
                f"{ledger_figures(root / 'grouped', args.rows)}"
            )
            cached = whole_run(args.rows, root / "single", url, 1)
            print(
                f"fully cached rerun of the first: {cached:.1f} s = "
                f"{100 * cached / single:.1f} % of {single:.1f} s"
            )


if __name__ == "__main__":
    main()
