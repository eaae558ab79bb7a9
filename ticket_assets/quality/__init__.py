"""Dataset quality: checks over the finished tickets (language, duplicates, label balance,
fidelity of rewrites, leaks), the plots and the dataset card. Plain Python, no Dagster:
each check takes a frame and returns a `CheckResult`; `assess` runs them all."""

from ticket_assets.quality.report import QUALITY_FILE, QualityInputs, QualityReport, assess
from ticket_assets.quality.result import CheckResult

__all__ = ["QUALITY_FILE", "CheckResult", "QualityInputs", "QualityReport", "assess"]
