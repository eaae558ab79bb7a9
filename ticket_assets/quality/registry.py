"""The quality checks, one entry each in `CHECKS`: adding a check is its module plus one entry.

`report.assess` runs them in this order (and writes them so into quality.json and the card);
`orchestration/quality_checks.py` turns each into a Dagster asset check: on the export when
it measures the dataset, on its node's asset when it belongs to a node (`node`). A check's
function gets its `quality.<section>` settings and returns its result, and the ticket ids
it leaves out of the export when its settings say so (`drops`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from ticket_assets.config import (
    DiversityQualityConfig,
    DuplicatesQualityConfig,
    FidelityQualityConfig,
    LabelBalanceQualityConfig,
    LabelLeakageQualityConfig,
    LanguageQualityConfig,
    LeaksQualityConfig,
    LearnabilityQualityConfig,
)
from ticket_assets.quality.balance import check_label_balance
from ticket_assets.quality.diversity import check_diversity
from ticket_assets.quality.duplicates import Cluster, check_duplicates, find_clusters
from ticket_assets.quality.fidelity import Kind, check_fidelity
from ticket_assets.quality.label_leakage import check_label_leakage
from ticket_assets.quality.language import check_language
from ticket_assets.quality.leaks import check_leaks
from ticket_assets.quality.learnability import check_learnability
from ticket_assets.quality.result import CheckResult


@dataclass(frozen=True)
class QualityInputs:
    """What the checks compare against: the configured class shares, and for each rewriting
    node (paraphrase, translate) the pairs of source and rewritten text (fidelity.py)."""

    expected: Mapping[str, Mapping[str, float]]
    rewritten: Mapping[str, pd.DataFrame] = field(default_factory=dict)  # by node name


@dataclass(frozen=True)
class CheckData:
    """What a check measures: `rows` (every generated row, or the exported ones), the inputs,
    and the ticket ids that earlier checks already leave out of the export."""

    rows: pd.DataFrame
    inputs: QualityInputs
    left_out: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Verdict:
    result: CheckResult
    drop: tuple[str, ...] = ()  # ticket ids to leave out of the export (checks that drop)


# The settings' actions that leave a check's flagged rows out of the export.
DROP_ACTIONS = ("drop", "regenerate")

# (what it measures, its quality.<section> settings) -> verdict; None: nothing to measure.
CheckFunction = Callable[[CheckData, Any], Verdict | None]


@dataclass(frozen=True)
class QualityCheck:
    name: str  # in quality.json and the card; the asset check's name (see `check_name`)
    title: str
    description: str  # what it measures and when it fails (the asset check's description)
    function: CheckFunction
    section: str  # its settings: quality.<section>
    measures: Literal["generated", "exported"] = "generated"  # every row, or the export's
    drops: bool = False  # may leave rows out of the export (per its settings' action)
    # Its work holds the GIL on every core for seconds (lingua's native code): when its
    # settings leave no row out, it runs in a worker process beside the other checks
    # (report.assess). Such a check must not read `left_out`.
    in_worker: bool = False
    blocking: bool = False  # a failure stops the run instead of marking the data
    node: str | None = None  # belongs to this node's asset; runs only if the pipeline has it

    @property
    def check_name(self) -> str:
        """Its name on its asset: `fidelity` on paraphrase, `language` on the export."""
        return self.name.removeprefix(f"{self.node}_") if self.node else self.name

    def leaves_out(self, settings: Any) -> bool:
        """Whether, with these settings, it may leave rows out of the export."""
        return self.drops and getattr(settings, "action", None) in DROP_ACTIONS


def _language(data: CheckData, settings: LanguageQualityConfig) -> Verdict:
    result = check_language(data.rows, settings)
    return Verdict(result, result.flagged if settings.action in DROP_ACTIONS else ())


def _duplicates(data: CheckData, settings: DuplicatesQualityConfig) -> Verdict:
    clusters = find_clusters(data.rows, settings.near_threshold)
    result = check_duplicates(data.rows, settings, clusters)
    if settings.action != "drop":
        return Verdict(result)
    return Verdict(result, _duplicates_to_drop(data.rows, clusters, data.left_out))


def _duplicates_to_drop(
    rows: pd.DataFrame, clusters: list[Cluster], already: frozenset[str]
) -> tuple[str, ...]:
    """Every member of a cluster but the first one that is still exported."""
    ids = rows["ticket_id"].tolist()
    dropped: list[str] = []
    for cluster in clusters:
        kept = [ids[p] for p in cluster.positions if ids[p] not in already]
        dropped += kept[1:]
    return tuple(dropped)


def _label_balance(data: CheckData, settings: LabelBalanceQualityConfig) -> Verdict:
    return Verdict(check_label_balance(data.rows, data.inputs.expected, settings))


def _fidelity(kind: Kind) -> CheckFunction:
    def function(data: CheckData, settings: FidelityQualityConfig) -> Verdict | None:
        pairs = data.inputs.rewritten.get(kind)
        if pairs is None:
            return None
        pairs = pairs[pairs["ticket_id"].isin(set(data.rows["ticket_id"]))]
        return Verdict(check_fidelity(pairs, kind, settings))

    return function


def _leaks(data: CheckData, settings: LeaksQualityConfig) -> Verdict:
    return Verdict(check_leaks(data.rows, settings))


def _label_leakage(data: CheckData, settings: LabelLeakageQualityConfig) -> Verdict:
    return Verdict(check_label_leakage(data.rows, settings))


def _diversity(data: CheckData, settings: DiversityQualityConfig) -> Verdict:
    return Verdict(check_diversity(data.rows, settings))


def _learnability(data: CheckData, settings: LearnabilityQualityConfig) -> Verdict:
    return Verdict(check_learnability(data.rows, settings))


def _fidelity_description(node: str, measures: str = "") -> str:
    return (
        f"The rows {node} rewrote keep their meaning: {measures}length ratio within bounds, "
        "numbers and product names preserved. Fails past quality.fidelity.max_flagged_rate."
    )


CHECKS: tuple[QualityCheck, ...] = (
    QualityCheck(
        "language",
        "Language",
        "Subject, body and first response are in the row's language (lingua, offline); fails "
        "past quality.language.max_mismatch_rate. Mismatched rows are listed; the action "
        "(fail, drop, regenerate) decides whether they are exported.",
        _language,
        section="language",
        drops=True,
        in_worker=True,
    ),
    QualityCheck(
        "duplicates",
        "Duplicates",
        "Exact and near duplicates (MinHash/LSH over word 3-grams, verified Jaccard) of "
        "subject + body across all partitions and batches, with the clusters.",
        _duplicates,
        section="duplicates",
        drops=True,
    ),
    QualityCheck(
        "label_balance",
        "Label balance",
        "Shares of language, type, queue, priority and business type versus the configured "
        "weights, overall and per language, within tolerance plus sampling noise.",
        _label_balance,
        section="label_balance",
        measures="exported",
    ),
    QualityCheck(
        "paraphrase_fidelity",
        "Paraphrase fidelity",
        _fidelity_description("paraphrase", "character 3-gram similarity within bounds, "),
        _fidelity("paraphrase"),
        section="fidelity",
        node="paraphrase",
    ),
    QualityCheck(
        "translate_fidelity",
        "Translate fidelity",
        _fidelity_description("translate"),
        _fidelity("translate"),
        section="fidelity",
        node="translate",
    ),
    QualityCheck(
        "leaks",
        "Leaks",
        "No placeholders, JSON, markdown fences, real-looking e-mail addresses or phone "
        "numbers in subject, body or first response.",
        _leaks,
        section="leaks",
    ),
    QualityCheck(
        "label_leakage",
        "Label leakage",
        "Within each language, no word n-gram of subject and body and no tag gives a label "
        "(type, priority, ...) away: fails when a feature's tickets have one value at least "
        "quality.label_leakage.min_precision of the time and it is on at least min_recall of "
        "that value's tickets. Lists every leak.",
        _label_leakage,
        section="label_leakage",
        measures="exported",
    ),
    QualityCheck(
        "diversity",
        "Diversity",
        "Distinct subjects and word 3-grams, reused sentences, body length spread, most "
        "common opening and closing, per language and overall, against quality.diversity's "
        "thresholds.",
        _diversity,
        section="diversity",
        measures="exported",
    ),
    QualityCheck(
        "learnability",
        "Learnability",
        "A quick classifier's macro-F1 per label on held-out tickets (overall and per "
        "language): fails at or above quality.learnability.max_macro_f1, where the text gives "
        "the label away.",
        _learnability,
        section="learnability",
        measures="exported",
    ),
)
