"""Quarantined tickets: how many a step may leave out, and how to say why in one line."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import pandas as pd

from ticket_assets.llm.types import LLMOutputError, Rejection

_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_NUMBER = re.compile(r"\d+")
SHOWN_REASONS = 3


def reason_kind(reason: str) -> str:
    """A reason without its particulars (quoted values, numbers), so alike reasons group."""
    return _NUMBER.sub("N", _QUOTED.sub("'…'", reason))


def worst_reasons(reasons: Sequence[str], shown: int = SHOWN_REASONS) -> str:
    """The most frequent kinds of reason, each with its count and first example, e.g.
    "5x tags: tag 'Dashboard' is not in the vocabulary"."""
    counts = Counter(reason_kind(reason) for reason in reasons)
    examples: dict[str, str] = {}
    for reason in reasons:
        examples.setdefault(reason_kind(reason), reason)
    return "; ".join(f"{n}x {examples[kind]}" for kind, n in counts.most_common(shown))


def check_reject_rate(
    node: str, tickets: int, rejections: Sequence[Rejection], limit: float
) -> None:
    """Fail the step when more than `limit` of its `tickets` were quarantined."""
    if not rejections or tickets == 0 or len(rejections) / tickets <= limit:
        return
    rate = len(rejections) / tickets
    raise LLMOutputError(
        f"node {node}: {len(rejections)} of {tickets} tickets ({rate:.1%}) stayed invalid "
        f"after {rejections[0].attempts - 1} repairs with {rejections[0].model}, over "
        f"max_reject_rate {limit:.1%}; stored rows kept as they were. Worst reasons: "
        f"{worst_reasons([r.reason for r in rejections])}"
    )


def rejection_frame(rejections: Sequence[Rejection], run_id: str) -> pd.DataFrame:
    """The rows of the `rejects` table for these rejections."""
    recorded_at = pd.Timestamp.now(tz="UTC")
    return pd.DataFrame(
        {
            "node": [r.node for r in rejections],
            "ticket_id": [r.key for r in rejections],
            "language": [r.language for r in rejections],
            "batch": [r.batch for r in rejections],
            "reason": [r.reason for r in rejections],
            "attempts": pd.array([r.attempts for r in rejections], dtype="int32"),
            "model": [r.model for r in rejections],
            "run_id": run_id,
            "recorded_at": recorded_at,
        }
    )


def current_rejects(
    rejects: pd.DataFrame, nodes: Sequence[str], languages: Sequence[str], batches: Sequence[str]
) -> pd.DataFrame:
    """The quarantined tickets of the dataset as configured now: its nodes, languages and
    batches (the table also keeps those of dropped nodes or languages)."""
    keep = (
        rejects["node"].isin(list(nodes))
        & rejects["language"].isin(list(languages))
        & rejects["batch"].isin(list(batches))
    )
    return rejects[keep].reset_index(drop=True)


def quarantine_summary(rejects: pd.DataFrame) -> str:
    """One sentence: how many tickets, at which nodes, and the commonest reasons."""
    if rejects.empty:
        return "No ticket was quarantined: every answer was valid after its repairs."
    by_node = rejects["node"].value_counts()
    nodes = ", ".join(f"{node} {count}" for node, count in by_node.items())
    return (
        f"{rejects['ticket_id'].nunique()} tickets quarantined (by node: {nodes}); reasons: "
        f"{worst_reasons(list(rejects['reason']))}. Rerunning retries them."
    )
