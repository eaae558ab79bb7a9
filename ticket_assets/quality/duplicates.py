"""Duplicates: exact and near-duplicate e-mails (subject + body) across the whole dataset.

Exact means equal after case folding and collapsing whitespace. Near means a Jaccard
similarity of at least `near_threshold` between the sets of word 3-grams: one e-mail sent
again with another name and order number stays above 0.7. Candidate pairs come from MinHash
signatures banded by datasketch's LSH index, so the cost grows with the rows, not with their
pairs; every candidate's true Jaccard similarity is then computed, so the clusters contain
no false positives. The signatures use permutations of shingle ids numbered in row order,
so results do not depend on the process (Python's hash() is salted).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ticket_assets.config import DuplicatesQualityConfig
from ticket_assets.quality.result import SAMPLE_ROWS, CheckResult, percent, snippet

PERMUTATIONS = 64
SHINGLE_WORDS = 3
_WORD = re.compile(r"\w+")
_SIGNATURE_SEED = 20261101


@dataclass(frozen=True)
class Cluster:
    """Rows whose e-mails are (near) copies of each other, in ticket-id order."""

    positions: tuple[int, ...]
    exact: bool  # all members are identical after normalization
    similarity: float  # the lowest verified Jaccard similarity inside the cluster


def normalized(subject: object, body: object) -> str:
    return " ".join(f"{subject}\n{body}".casefold().split())


def _shingles(text: str) -> frozenset[str]:
    words = _WORD.findall(text)
    if len(words) < SHINGLE_WORDS:
        return frozenset({" ".join(words)})
    return frozenset(map(" ".join, zip(*(words[i:] for i in range(SHINGLE_WORDS)), strict=False)))


def _signatures(shingle_sets: Sequence[frozenset[str]]) -> np.ndarray:
    """MinHash signatures (rows x PERMUTATIONS) from multiply-shift hashes of shingle ids."""
    vocabulary: dict[str, int] = {}
    ids = [
        np.fromiter(
            (vocabulary.setdefault(s, len(vocabulary)) for s in sorted(shingles)),
            dtype=np.uint64,
            count=len(shingles),
        )
        for shingles in shingle_sets
    ]
    values = np.concatenate(ids) * np.uint64(0x9E3779B97F4A7C15)
    starts = np.cumsum([0, *(len(chunk) for chunk in ids[:-1])])
    rng = np.random.default_rng(_SIGNATURE_SEED)
    multipliers = rng.integers(1, 2**63, size=PERMUTATIONS, dtype=np.uint64) | np.uint64(1)
    offsets = rng.integers(0, 2**63, size=PERMUTATIONS, dtype=np.uint64)
    signatures = np.empty((len(ids), PERMUTATIONS), dtype=np.uint64)
    with np.errstate(over="ignore"):  # arithmetic modulo 2**64 is the point
        for k in range(PERMUTATIONS):
            hashed = (multipliers[k] * values + offsets[k]) >> np.uint64(32)
            signatures[:, k] = np.minimum.reduceat(hashed, starts)
    return signatures


def _candidate_pairs(signatures: np.ndarray, threshold: float) -> set[tuple[int, int]]:
    from datasketch import LeanMinHash, MinHashLSH  # scipy underneath: only when there are rows

    index = MinHashLSH(threshold=threshold, num_perm=PERMUTATIONS)
    sketches = [
        LeanMinHash(seed=_SIGNATURE_SEED, hashvalues=row, scheme="affine64") for row in signatures
    ]
    with index.insertion_session() as session:
        for position, sketch in enumerate(sketches):
            session.insert(position, sketch, check_duplication=False)
    return {
        (position, other)
        for position, sketch in enumerate(sketches)
        for other in index.query(sketch)
        if other > position
    }


def find_clusters(frame: pd.DataFrame, threshold: float) -> list[Cluster]:
    """Clusters of near-duplicate e-mails (exact copies included), by row position."""
    texts = [normalized(s, b) for s, b in zip(frame["subject"], frame["body"], strict=True)]
    if len(texts) < 2:
        return []
    shingle_sets = [_shingles(text) for text in texts]
    parent = list(range(len(texts)))

    def root(position: int) -> int:
        while parent[position] != position:
            parent[position] = parent[parent[position]]
            position = parent[position]
        return position

    lowest: dict[int, float] = {}
    for first, second in sorted(_candidate_pairs(_signatures(shingle_sets), threshold)):
        a, b = shingle_sets[first], shingle_sets[second]
        similarity = len(a & b) / len(a | b)
        if similarity < threshold:
            continue
        left, right = root(first), root(second)
        merged = min(lowest.get(left, 1.0), lowest.get(right, 1.0), similarity)
        parent[max(left, right)] = min(left, right)
        lowest[min(left, right)] = merged
    members: dict[int, list[int]] = {}
    for position in range(len(texts)):
        members.setdefault(root(position), []).append(position)
    return [
        Cluster(
            positions=tuple(positions),
            exact=len({texts[p] for p in positions}) == 1,
            similarity=lowest.get(top, 1.0),
        )
        for top, positions in sorted(members.items())
        if len(positions) > 1
    ]


def check_duplicates(
    frame: pd.DataFrame, config: DuplicatesQualityConfig, clusters: Sequence[Cluster]
) -> CheckResult:
    """Exact duplicates are rows equal to an earlier row; near duplicates are rows (exact
    copies included) in a cluster after its first member. Both are counted against rows."""
    frame = frame.reset_index(drop=True)
    rows = len(frame)
    texts = [normalized(s, b) for s, b in zip(frame["subject"], frame["body"], strict=True)]
    exact = rows - len(set(texts))
    repeats = [p for cluster in clusters for p in cluster.positions[1:]]
    exact_rate = exact / rows if rows else 0.0
    near_rate = len(repeats) / rows if rows else 0.0
    ids = frame["ticket_id"]
    samples = pd.DataFrame(
        [
            {
                "cluster": number,
                "rows": len(cluster.positions),
                "kind": "exact" if cluster.exact else "near",
                "similarity": round(cluster.similarity, 3),
                "ticket_ids": ", ".join(ids.iloc[list(cluster.positions)]),
                "batches": ", ".join(sorted(set(frame["batch"].iloc[list(cluster.positions)])))
                if "batch" in frame
                else "",
                "subject": snippet(frame["subject"].iloc[cluster.positions[0]], 60),
            }
            for number, cluster in enumerate(clusters[:SAMPLE_ROWS], 1)
        ]
    )
    return CheckResult(
        passed=exact_rate <= config.max_exact_rate and near_rate <= config.max_near_rate,
        summary=(
            f"{exact} exact duplicates ({percent(exact_rate)}, max "
            f"{percent(config.max_exact_rate)}); {len(repeats)} near duplicates "
            f"({percent(near_rate)}, Jaccard >= {config.near_threshold} on word 3-grams, max "
            f"{percent(config.max_near_rate)}) in {len(clusters)} clusters."
        ),
        headline=f"{exact} exact, {len(repeats)} near duplicates ({percent(near_rate)})",
        figures={
            "rows": rows,
            "exact_duplicates": exact,
            "exact_duplicate_rate": exact_rate,
            "near_duplicates": len(repeats),
            "near_duplicate_rate": near_rate,
            "clusters": len(clusters),
        },
        flagged=tuple(ids.iloc[sorted(repeats)]),
        samples=samples,
    )
