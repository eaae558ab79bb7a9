"""Batch calls: a round's calls through the provider's Batch API (half price, hours of
latency); cached calls are not resubmitted, and a stopped wait resumes the same batch."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ticket_assets.llm.planning import Call
from ticket_assets.llm.processors.base import Fetched, NodeCalls
from ticket_assets.llm.types import PermanentProviderError, ProviderError

if TYPE_CHECKING:
    from ticket_assets.config import ModelConfig

BATCH_KEY_VARIABLE = "OPENAI_API_KEY"


def batch_api_key(model: ModelConfig) -> str:
    """The OpenAI SDK behind batch mode needs the key itself (litellm reads it for us
    elsewhere); it only ever lives in the SDK client, never in state or messages."""
    key = os.environ.get(BATCH_KEY_VARIABLE)
    if not key:
        raise PermanentProviderError(f"{model.model}: batch mode needs {BATCH_KEY_VARIABLE}")
    return key


class BatchProcessor:
    def __init__(self, calls: NodeCalls) -> None:
        self.ctx = calls

    async def fetch(self, calls: Sequence[Call], attempt: int) -> list[Fetched]:
        return await asyncio.to_thread(self._fetch, calls, attempt)

    def book_unanswered(self) -> None:
        """Nothing to book: a batch's calls are billed by the results it returns."""

    def _fetch(self, calls: Sequence[Call], attempt: int) -> list[Fetched]:
        # Deferred: the OpenAI SDK takes over a second to import, and only batch mode needs it.
        from ticket_assets.llm.providers.openai_batch import BatchRunner, BatchSettings

        ctx, model = self.ctx, self.ctx.model
        fetched: dict[int, Fetched] = {}
        pending: list[tuple[str, dict[str, Any]]] = []
        for position, call in enumerate(calls):
            cached = ctx.cached(call, attempt)
            if cached is not None:
                fetched[position] = cached
            else:
                pending.append((str(position), ctx.request_body(call)))
        if pending:
            worst_case = sum(
                ctx.price.max_cost(
                    calls[int(position)].prompt_tokens, body["max_tokens"], batch=True
                )
                for position, body in pending
            )
            ctx.budget.reserve(worst_case, f"a {ctx.node} batch with {model.model}")
            runner = BatchRunner(
                state_path=ctx.config.batch_state_path,
                api_base=model.api_base,
                api_key=batch_api_key(model),
                settings=BatchSettings(poll_interval_s=model.batch_poll_s),
            )
            spent = 0.0
            try:
                results = runner.run(
                    f"{ctx.config.dataset}/{ctx.node}/{attempt}",
                    model.model.removeprefix("openai/"),
                    pending,
                )
                for custom_id, result in results.items():
                    position = int(custom_id)
                    if isinstance(result, ProviderError):
                        ctx.status.count(failure=str(result))
                        fetched[position] = Fetched(error=str(result))
                        continue
                    ctx.status.count()
                    spent += ctx.price.cost(result, batch=True)
                    record = ctx.record(
                        calls[position], result, attempt, batch=True, http_attempts=0
                    )
                    kept = ctx.keep(calls[position], result, record)
                    fetched[position] = Fetched(kept, record)
            except ProviderError as error:
                for custom_id, _ in pending:
                    fetched.setdefault(int(custom_id), Fetched(error=str(error)))
            finally:
                ctx.budget.settle(worst_case, spent)
        return [fetched[position] for position in range(len(calls))]
