"""Scheduled growth of the dataset.

`cron` is checked where the schedule is built (orchestration/schedules.py, with Dagster's own
parser through its public API), so this layer needs no scheduler library.
"""

from __future__ import annotations

from pydantic import Field

from ticket_assets.config.base import StrictModel


class RefreshConfig(StrictModel):
    """Scheduled growth of the dataset: `batches` new batches per language on `cron`."""

    cron: str = "0 3 * * *"
    batches: int = Field(default=1, ge=1, le=100)
    enabled: bool = False
