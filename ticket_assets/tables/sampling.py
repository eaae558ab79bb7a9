"""Weighted sampling and class balancing for `Tables`.

`Weighted` holds labels with precomputed cumulative weights, so one draw is a bisect. `Sampling`
is the set of samplers one ticket is drawn from (type, queue given type, priority given queue,
...). `balanced_tables` raises rare classes to a target share: a marginal by water-filling, a
conditional column (queue given type, priority given queue) by one factor per class fitted with
iterative proportional fitting, so the conditionals keep their shape.
"""

from __future__ import annotations

import bisect
import functools
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ticket_assets.tables.taxonomy import Tables


@dataclass(frozen=True)
class Weighted:
    """Labels with cumulative weights; zero-weight labels are left out so they are never drawn."""

    items: tuple[str, ...]
    cumulative: tuple[float, ...]

    @classmethod
    def of(cls, weights: Iterable[tuple[str, float]]) -> Weighted:
        items: list[str] = []
        cumulative: list[float] = []
        total = 0.0
        for item, weight in weights:
            if weight > 0:
                total += weight
                items.append(item)
                cumulative.append(total)
        return cls(tuple(items), tuple(cumulative))

    def __bool__(self) -> bool:
        return bool(self.items)

    def pick(self, rng: random.Random) -> str:
        point = rng.random() * self.cumulative[-1]
        # `hi` guards against rounding pushing the point onto the total.
        return self.items[bisect.bisect_right(self.cumulative, point, 0, len(self.items) - 1)]

    def shares(self) -> dict[str, float]:
        """Each label's probability of being drawn."""
        total = self.cumulative[-1]
        previous = (0.0, *self.cumulative[:-1])
        return {
            item: (upper - lower) / total
            for item, lower, upper in zip(self.items, previous, self.cumulative, strict=True)
        }

    def scaled(self, factors: Mapping[str, float]) -> Weighted:
        """The same labels with each weight multiplied by its factor (1 where none is given)."""
        return Weighted.of(
            (item, share * factors.get(item, 1.0)) for item, share in self.shares().items()
        )


@dataclass(frozen=True)
class Sampling:
    """The samplers of one `Tables`: what `Tables.sample_ticket` draws from."""

    type: Weighted
    queue_by_type: Mapping[str, Weighted]
    priority_by_queue: Mapping[str, Weighted]
    business_type: Weighted
    product_by_business_queue: Mapping[tuple[str, str], Weighted]
    persona_by_queue: Mapping[str, Weighted]
    tone_by_priority: Mapping[str, Weighted]
    topics_by_queue_type: Mapping[tuple[str, str], tuple[str, ...]]
    names: Mapping[str, tuple[tuple[str, ...], ...]]


# --- balancing ----------------------------------------------------------------------------

# Rounds of iterative proportional fitting for conditional columns; converges in a few dozen.
_FITTING_ROUNDS = 200


def mixture(parents: Mapping[str, float], conditional: Mapping[str, Weighted]) -> dict[str, float]:
    """P(child) = sum over parents of P(parent) * P(child | parent)."""
    shares: dict[str, float] = {}
    for parent, weight in parents.items():
        for child, share in conditional[parent].shares().items():
            shares[child] = shares.get(child, 0.0) + weight * share
    return shares


def _raised(shares: Mapping[str, float], target: float) -> dict[str, float]:
    """Shares with every class at `target` or more (capped at uniform), the rest scaled down
    proportionally (water-filling)."""
    floor = min(target, 1.0 / len(shares))
    raised: set[str] = set()
    while True:
        rest = {label: share for label, share in shares.items() if label not in raised}
        if not rest:
            return dict.fromkeys(shares, floor)
        scale = (1.0 - floor * len(raised)) / sum(rest.values())
        low = {label for label, share in rest.items() if share * scale < floor}
        if not low:
            return {label: floor if label in raised else shares[label] * scale for label in shares}
        raised |= low


def _fitted(
    parents: Mapping[str, float], conditional: Mapping[str, Weighted], target: float
) -> dict[str, Weighted]:
    """The conditional with one factor per child, fitted so that the children's marginal
    reaches the raised shares (iterative proportional fitting)."""
    goal = _raised(mixture(parents, conditional), target)
    factors = dict.fromkeys(goal, 1.0)
    fitted = dict(conditional)
    for _ in range(_FITTING_ROUNDS):
        fitted = {parent: weighted.scaled(factors) for parent, weighted in conditional.items()}
        marginal = mixture(parents, fitted)
        if all(abs(marginal[label] - goal[label]) < 1e-6 for label in goal):
            break
        factors = {label: factors[label] * goal[label] / marginal[label] for label in goal}
    return fitted


@functools.cache
def balanced_tables(tables: Tables, target_share: float, columns: frozenset[str]) -> Tables:
    """The work of `Tables.balanced` (cached: a Tables object hashes by identity)."""
    sampling = tables._sampling
    type_ = sampling.type
    if "type" in columns:
        type_ = Weighted.of(_raised(type_.shares(), target_share).items())
    queue_by_type = sampling.queue_by_type
    if "queue" in columns:
        queue_by_type = _fitted(type_.shares(), queue_by_type, target_share)
    priority_by_queue = sampling.priority_by_queue
    if "priority" in columns:
        queues = mixture(type_.shares(), queue_by_type)
        priority_by_queue = _fitted(queues, priority_by_queue, target_share)
    business_type = sampling.business_type
    if "business_type" in columns:
        business_type = Weighted.of(_raised(business_type.shares(), target_share).items())
    return replace(
        tables,
        _sampling=replace(
            sampling,
            type=type_,
            queue_by_type=queue_by_type,
            priority_by_queue=priority_by_queue,
            business_type=business_type,
        ),
    )
