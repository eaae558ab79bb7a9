"""The base of every settings model: frozen, and unknown keys rejected with the allowed ones."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator


class StrictModel(BaseModel):
    """Rejects unknown keys with the list of allowed ones (pydantic alone does not list them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_keys(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = [key for key in data if key not in cls.model_fields]
            if unknown:
                allowed = ", ".join(cls.model_fields)
                raise ValueError(f"unknown key {unknown[0]!r}; allowed: {allowed}")
        return data
