"""Worker processes: a node's requests spread over processes that each run the engine on a
slice. A call costs about 1.5 ms of CPU on our OpenAI-compatible client and 6–7 ms through
litellm, so one event loop saturates a core near 600 or 150 calls/s. A worker needs no tables
and no facade: it gets the config (with its share of the limits and budget), the node, its
requests and the run id, and returns its answers with the ledger records it accounted, which
the parent books."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import cache
from typing import TYPE_CHECKING

from pydantic import BaseModel

from ticket_assets.llm.processors.base import NodeCalls
from ticket_assets.llm.types import CallRecord, LLMRequest, Rejection

if TYPE_CHECKING:
    from ticket_assets.config import ModelConfig, RunConfig

# Below this many requests per worker, starting processes costs more than it saves.
MIN_PER_WORKER = 64

# What a worker runs on its slice: (config, node, requests, use_cache, run_id) -> its
# answers, its ledger records, and the error that stopped it (the records come back even
# then, so every paid call reaches the parent's ledger). A module-level function, so it
# pickles by name.
Work = Callable[
    ["RunConfig", str, list[LLMRequest], bool, str],
    tuple[list[BaseModel | Rejection], list[CallRecord], BaseException | None],
]


def uses_workers(model: ModelConfig, requests: int) -> bool:
    workers = model.workers
    return workers > 1 and not model.batch and requests >= workers * MIN_PER_WORKER


def _split(limit: int | None, parts: int) -> int | None:
    return None if limit is None else max(1, limit // parts)


@cache
def _worker_pool(workers: int) -> ProcessPoolExecutor:
    """Kept for the whole process, so later nodes do not pay the workers' start-up again."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def run_in_workers(
    work: Work, calls: NodeCalls, requests: Sequence[LLMRequest]
) -> list[BaseModel | Rejection]:
    """Each worker gets a contiguous slice (partitions stay together), its share of
    concurrency, rate limits and budget; its records go to `calls.accounts`' ledger."""
    config, node, model = calls.config, calls.node, calls.model
    workers = model.workers
    share = model.model_copy(
        update={
            "workers": 1,
            "concurrency": max(1, model.concurrency // workers),
            "requests_per_minute": _split(model.requests_per_minute, workers),
            "tokens_per_minute": _split(model.tokens_per_minute, workers),
        }
    )
    budget = calls.budget
    remaining = (
        None
        if budget.limit_usd is None
        else max(0.0, budget.limit_usd - budget.spent_usd - budget.reserved_usd) / workers
    )
    worker_config = config.model_copy(
        update={"models": {**config.models, node: share}, "budget_usd": remaining}
    )
    size = -(-len(requests) // workers)
    slices = [list(requests[i : i + size]) for i in range(0, len(requests), size)]
    pool = _worker_pool(workers)
    futures = [
        pool.submit(work, worker_config, node, part, calls.use_cache, calls.run_id)
        for part in slices
    ]
    outputs: list[BaseModel | Rejection] = []
    error: BaseException | None = None
    for future in futures:
        part_outputs, records, part_error = future.result()
        outputs.extend(part_outputs)
        calls.accounts.ledger.extend(records)
        budget.settle(0.0, sum(r.cost_usd for r in records))
        error = error or part_error
    if error is not None:
        raise error
    return outputs
