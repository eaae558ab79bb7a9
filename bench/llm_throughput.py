"""Throughput and client CPU of the LLM path: one node's calls (the `topic` node: prompt ->
facade -> engine -> throttle -> provider -> validation) against an OpenAI-compatible server.

    python bench/llm_throughput.py [--api-base URL] [--model MODEL] [--calls 2048]
        [--concurrency 32] [--latency 0.25] [--no-cache] [--fault-rate 0.2] [--timeout 60]

Without --api-base it starts the test server (ticket_assets_tests/fake_llm_server.py) in a
process of its own with `--latency` seconds per answer and, with --fault-rate, that share of
faults: 429 (answered at once, `Retry-After: 1`), 500, malformed JSON (a cut answer, which
fails validation and is asked again) and timeouts (the answer comes 2 s late; with
`--timeout 1` the client gives up first and retries). It prints calls/s, the whole process's
CPU per call (time.process_time over the measured run, after a warm-up that builds the HTTP
session, loads the language detector and imports everything) and the share of the bound
concurrency / latency; with the test server also the ledger's paid calls against the calls the
server billed. Exits 0 when every ticket came back valid (and, with the test server, every
billed call is in the ledger once), else 1.
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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("OPENAI_API_KEY", "sk-bench-local-only")

from ticket_assets.config import load_config  # noqa: E402
from ticket_assets.llm.client import LLMClient  # noqa: E402
from ticket_assets.nodes import NODES, NodeContext  # noqa: E402
from ticket_assets.plan import plan_frame  # noqa: E402
from ticket_assets.tables.loaded import tables_for  # noqa: E402

WARMUP_CALLS = 64
FAULTS = "429,500,malformed,timeout"


@contextmanager
def test_server(latency_s: float, fault_rate: float, seed: int) -> Iterator[str]:
    """The fake OpenAI-compatible server in a process of its own, as a real provider would be
    (in this process it would compete for the GIL and count in our CPU). Yields its URL."""
    command = [sys.executable, "-m", "ticket_assets_tests.fake_llm_server"]
    command += ["--latency", str(latency_s), "--seed", str(seed)]
    command += ["--fault-rate", str(fault_rate), "--faults", FAULTS, "--retry-after", "1"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        yield process.stdout.readline().strip()  # type: ignore[union-attr]
    finally:
        process.kill()
        process.wait()


def server_stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/stats") as response:
        return json.load(response)


def node_context(args: argparse.Namespace, url: str, data_dir: Path, rows: int) -> NodeContext:
    overrides = {"rows": rows, "batch_size": rows, "languages": "EN", "cache": not args.no_cache}
    config = load_config(overrides={**overrides, "data_dir": str(data_dir)})
    config = config.with_model(model=args.model, api_base=url)
    settings = {"concurrency": args.concurrency, "workers": 1, "timeout_s": args.timeout}
    models = {name: m.model_copy(update=settings) for name, m in config.models.items()}
    # Quarantine instead of failing the step at the first few bad tickets: the bench counts.
    config = config.model_copy(update={"models": models, "max_reject_rate": 1.0})
    tables = tables_for(config)
    return NodeContext(config, tables, LLMClient(config, tables, use_cache=not args.no_cache))


def measure(args: argparse.Namespace, url: str, data_dir: Path) -> dict[str, Any]:
    ctx = node_context(args, url, data_dir, WARMUP_CALLS + args.calls)
    frame = plan_frame(ctx.config, [("EN", "b0000")], 0)
    warmup, measured = frame.head(WARMUP_CALLS), frame.iloc[WARMUP_CALLS:]
    NODES["topic"].run(warmup, ctx)
    if args.fault_rate:
        time.sleep(2.5)  # the warm-up's timed-out requests are billed when they finish
    before = server_stats(url) if args.stats else None
    records_before = len(ctx.llm.ledger.records)
    rejected_before = len(ctx.llm.rejections)
    started, cpu_started = time.perf_counter(), time.process_time()
    result = NODES["topic"].run(measured, ctx)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    records = [r for r in ctx.llm.ledger.records[records_before:] if not r.cache_hit]
    figures: dict[str, Any] = {
        "calls": len(records),
        "http_attempts": sum(r.http_attempts for r in records),
        "seconds": elapsed,
        "cpu_s": cpu,
        "valid": len(result),
        "rejected": len(ctx.llm.rejections) - rejected_before,
    }
    if before is not None:
        time.sleep(2.5)  # answers to requests the client gave up on are still billed
        after = server_stats(url)
        billed = after["billed_ids"][len(before["billed_ids"]) :]
        paid = [r.call_id for r in records]
        figures.update(
            requests=after["requests"] - before["requests"],
            billed=len(billed),
            paid_in_ledger=len(paid),
            paid_twice=len(paid) - len(set(paid)),
            billed_not_in_ledger=len(set(billed) - set(paid)),
            faults={k: v - before["faults"].get(k, 0) for k, v in after["faults"].items()},
        )
    return figures


def report(args: argparse.Namespace, figures: dict[str, Any]) -> bool:
    bound = args.concurrency / args.latency
    rate = figures["calls"] / figures["seconds"]
    requests = figures.get("requests", figures["http_attempts"])
    print(
        f"{args.model}: {figures['calls']} calls ({requests} HTTP requests) in "
        f"{figures['seconds']:.2f} s = {rate:.1f} calls/s, {100 * rate / bound:.1f} % of the "
        f"{bound:.0f} calls/s bound; client CPU {1000 * figures['cpu_s'] / requests:.2f} ms per "
        f"request ({figures['cpu_s']:.2f} s); {figures['valid']}/{args.calls} tickets valid"
    )
    ok = figures["valid"] == args.calls
    if "billed" in figures:
        print(
            f"  server billed {figures['billed']} calls, ledger holds {figures['paid_in_ledger']} "
            f"paid calls ({figures['paid_twice']} twice, {figures['billed_not_in_ledger']} "
            f"billed but missing); faults served: {figures['faults']}"
        )
        ok = ok and figures["paid_twice"] == 0 and figures["billed_not_in_ledger"] == 0
        ok = ok and figures["billed"] == figures["paid_in_ledger"]
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--api-base", help="an OpenAI-compatible server's /v1 URL")
    parser.add_argument("--model", default="openai/gpt-4o-mini")
    parser.add_argument("--calls", type=int, default=2048)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.25, help="the server's, seconds")
    parser.add_argument("--no-cache", action="store_true", help="do not write the cache")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="test server only")
    parser.add_argument("--timeout", type=float, default=60.0, help="client timeout_s")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args(argv)
    args.stats = args.api_base is None
    print(
        f"{platform.node()}: {os.cpu_count()} cores, {platform.processor() or platform.machine()},"
        f" Python {platform.python_version()}; concurrency {args.concurrency}, latency "
        f"{args.latency * 1000:.0f} ms, {args.calls} calls, "
        f"cache {'off' if args.no_cache else 'on'}"
    )
    with tempfile.TemporaryDirectory(prefix="llm_bench_") as scratch:
        if args.api_base:
            figures = measure(args, args.api_base, Path(scratch))
        else:
            with test_server(args.latency, args.fault_rate, args.seed) as url:
                figures = measure(args, url, Path(scratch))
    ok = report(args, figures)
    if args.json:
        print(json.dumps(figures))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
