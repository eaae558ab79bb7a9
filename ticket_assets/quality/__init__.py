"""Dataset quality: checks over the finished tickets (language, duplicates, label balance,
fidelity of rewrites, leaks, label leakage, diversity, learnability), the plots and the
dataset card. Plain Python, no Dagster: each check takes a frame and returns a
`CheckResult`; `CHECKS` (registry.py) lists them, `assess` runs them all."""

from ticket_assets.quality.registry import CHECKS, QualityCheck
from ticket_assets.quality.report import (
    QUALITY_FILE,
    QualityInputs,
    QualityReport,
    assess,
    check_order,
)
from ticket_assets.quality.result import CheckResult

__all__ = [
    "CHECKS",
    "QUALITY_FILE",
    "CheckResult",
    "QualityCheck",
    "QualityInputs",
    "QualityReport",
    "assess",
    "check_order",
]
