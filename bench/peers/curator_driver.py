"""Bespoke Curator's client on the same work as `bench/llm_throughput.py`, for comparing
client CPU per request against the same test server (interleave the two, back to back).

Curator is not a dependency: run this with a scratch virtualenv that has it,

    python -m venv /tmp/curator-venv && /tmp/curator-venv/bin/pip install bespokelabs-curator
    /tmp/curator-venv/bin/python bench/peers/curator_driver.py --api-base URL --calls 2048 \
        --concurrency 32 [--latency 0.25]

or without --api-base to start the test server (ticket_assets_tests/fake_llm_server.py, in
a process of its own, with this repository's .venv). Each request asks for a structured
answer (a pydantic model, sent as a JSON schema, answers parsed and validated), as ours do;
Curator's cache, rich progress display and telemetry are off. Prints calls/s and the whole
process's CPU per request (time.process_time over the run, after a warm-up of 64 calls).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WARMUP_CALLS = 64


def _quiet_environment(cache_dir: str) -> None:
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench-local-only")
    os.environ["CURATOR_DISABLE_CACHE"] = "true"
    os.environ["CURATOR_DISABLE_RICH_DISPLAY"] = "1"
    os.environ["TELEMETRY_ENABLED"] = "False"
    os.environ["BESPOKE_CURATOR_TRACKER_DISABLED"] = "1"
    os.environ["CURATOR_CACHE_DIR"] = cache_dir
    # tiktoken's encodings, as litellm bundles them (this machine may not reach the web).
    import litellm

    tokenizers = Path(litellm.__file__).parent / "litellm_core_utils" / "tokenizers"
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(tokenizers))


def run(url: str, model: str, calls: int, concurrency: int) -> tuple[int, float, float]:
    from bespokelabs import curator
    from pydantic import BaseModel

    class TopicAnswer(BaseModel):
        topic: str

    class Topics(curator.LLM):
        def prompt(self, row: dict) -> list[dict[str, str]]:
            return [
                {"role": "system", "content": 'Answer with a "TopicAnswer" JSON object.'},
                {"role": "user", "content": f"Ticket {row['i']}: the printer is offline."},
            ]

        def parse(self, row: dict, response: TopicAnswer) -> dict:
            return {"i": row["i"], "topic": response.topic}

    llm = Topics(
        model_name=model,
        backend="openai",
        response_format=TopicAnswer,
        generation_params={"temperature": 0.7, "max_tokens": 800, "seed": 1},
        backend_params={
            "base_url": url,
            "max_concurrent_requests": concurrency,
            "max_requests_per_minute": 1_000_000,
            "max_tokens_per_minute": 1_000_000_000,
            "max_retries": 3,
            "require_all_responses": False,
        },
    )
    llm([{"i": -i - 1} for i in range(WARMUP_CALLS)])
    started, cpu_started = time.perf_counter(), time.process_time()
    answers = llm([{"i": i} for i in range(calls)])
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return len(answers.dataset if hasattr(answers, "dataset") else answers), elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--api-base")
    parser.add_argument("--model", default="gpt-4o-mini")
    parser.add_argument("--calls", type=int, default=2048)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.25)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="curator_bench_") as scratch:
        _quiet_environment(scratch)
        server = None
        url = args.api_base
        if url is None:
            command = [str(ROOT / ".venv/bin/python"), "-m", "ticket_assets_tests.fake_llm_server"]
            command += ["--latency", str(args.latency)]
            server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
            url = server.stdout.readline().strip()  # type: ignore[union-attr]
        try:
            answered, elapsed, cpu = run(url, args.model, args.calls, args.concurrency)
        finally:
            if server is not None:
                server.kill()
                server.wait()
    bound = args.concurrency / args.latency
    rate = args.calls / elapsed
    print(
        f"curator: {answered}/{args.calls} answers in {elapsed:.2f} s = {rate:.1f} calls/s, "
        f"{100 * rate / bound:.1f} % of the {bound:.0f} calls/s bound; client CPU "
        f"{1000 * cpu / args.calls:.2f} ms per request ({cpu:.2f} s)"
    )


if __name__ == "__main__":
    sys.exit(main())
