"""A run's spending limit, shared by every step of one Dagster run in this process.

Calls reserve their worst-case cost (prompt plus max_tokens) before they start and settle
the real cost after, so concurrent calls cannot jointly overshoot the budget.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from ticket_assets.llm.types import BudgetExceeded


@dataclass
class Budget:
    limit_usd: float | None
    spent_usd: float = 0.0
    reserved_usd: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def reserve(self, amount: float, what: str) -> None:
        with self._lock:
            if self.limit_usd is not None and (
                self.spent_usd + self.reserved_usd + amount > self.limit_usd
            ):
                raise BudgetExceeded(
                    f"run budget ${self.limit_usd:.4f}: ${self.spent_usd:.4f} spent and "
                    f"${self.reserved_usd:.4f} in flight, {what} could cost up to "
                    f"${amount:.4f}; stopped before exceeding it"
                )
            self.reserved_usd += amount

    def settle(self, reserved: float, actual: float) -> None:
        with self._lock:
            self.reserved_usd -= reserved
            self.spent_usd += actual


_RUN_BUDGETS: dict[str, Budget] = {}
_REGISTRY_LOCK = threading.Lock()


def budget_for_run(run_id: str, limit_usd: float | None) -> Budget:
    """The same Budget for every step of a run (steps of one run share this process)."""
    with _REGISTRY_LOCK:
        budget = _RUN_BUDGETS.get(run_id)
        if budget is None:
            budget = _RUN_BUDGETS[run_id] = Budget(limit_usd)
        return budget
