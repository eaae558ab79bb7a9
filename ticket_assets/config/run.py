"""`RunConfig`: everything a run needs to know, validated when it is loaded.

Pure data: the pipeline's entries are kept as written (node names and plug-in `module:Class`
strings); `ticket_assets.nodes.build_pipeline` resolves them to nodes and checks their order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, PrivateAttr, ValidationError, ValidationInfo, field_validator

from ticket_assets.config.base import StrictModel
from ticket_assets.config.errors import ConfigError
from ticket_assets.config.evaluate import EvaluateConfig
from ticket_assets.config.export import ExportConfig, FieldConfig
from ticket_assets.config.languages import language_code
from ticket_assets.config.models import CostLimits, CurrencyConfig, ModelConfig, PriceOverride
from ticket_assets.config.origins import SettingOrigins, format_validation_error
from ticket_assets.config.paths import (
    DEFAULT_DATA_DIR,
    DEFAULT_PROMPTS_DIR,
    DEFAULT_TABLES_DIR,
    default_path,
    find_config,
    project_root,
)
from ticket_assets.config.quality import BalanceConfig, CardConfig, QualityConfig
from ticket_assets.config.refresh import RefreshConfig
from ticket_assets.config.storage import StorageConfig

# The pipeline a config without `pipeline` runs: entries, data like any default. Which names
# are nodes is the node registry's business (nodes/registry.py; nodes.build_pipeline checks).
DEFAULT_PIPELINE = ("topic", "email_draft", "tagging", "paraphrase", "translate", "first_response")


def unknown_model_key(keys: Iterable[str], nodes: Iterable[str]) -> str | None:
    """The problem with the first `models` key that is neither `default` nor a node of the
    pipeline (`nodes`) or of the default one (so a dropped node's settings may stay)."""
    allowed = ("default", *dict.fromkeys((*DEFAULT_PIPELINE, *nodes)))
    unknown = next((key for key in keys if key not in allowed), None)
    return None if unknown is None else f"unknown key {unknown!r}; allowed: {', '.join(allowed)}"


class RunConfig(StrictModel):
    """Everything a run needs to know. See ticket_assets.yaml for the commented reference."""

    dataset: str = "support_tickets"
    mode: Literal["dev", "prod"] = "dev"
    rows: int = Field(default=500, gt=0)
    batch_size: int = Field(default=50, gt=0, le=9999)
    languages: dict[str, float] = Field(
        default_factory=lambda: {"EN": 4.0, "DE": 2.0, "ES": 2.0, "FR": 1.0, "PT": 1.0}
    )
    source_language: str = "EN"
    draft_in_target_language: bool = False
    timezone: str = "Europe/Berlin"
    seed: int = 42
    # Entries as written: node names, and plug-ins as `module:Class` (nodes.build_pipeline
    # resolves them; ask its Pipeline for node names).
    pipeline: tuple[str, ...] = DEFAULT_PIPELINE
    fields: dict[str, FieldConfig] = Field(default_factory=dict)
    styles: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    models: dict[str, ModelConfig] = Field(default_factory=lambda: {"default": ModelConfig()})
    cost_limits: CostLimits = CostLimits()
    budget_usd: float | None = Field(default=None, gt=0)
    max_error_rate: float = Field(default=0.1, ge=0, le=1)
    max_reject_rate: float = Field(default=0.02, ge=0, le=1)
    prices: dict[str, PriceOverride] = Field(default_factory=dict)
    cache: bool = True
    refresh: RefreshConfig = RefreshConfig()
    balance: BalanceConfig = BalanceConfig()
    quality: QualityConfig = QualityConfig()
    card: CardConfig = CardConfig()
    export: ExportConfig = ExportConfig()
    currency: CurrencyConfig = CurrencyConfig()
    storage: StorageConfig = StorageConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    # UI backfills: None runs each as few runs as Dagster can (one per language or per batch,
    # the fastest on one machine); N splits them into runs of at most N partitions, which a
    # cluster's run launcher spreads over containers or pods (docs/scaling-out.md).
    backfill_partitions_per_run: int | None = Field(default=None, gt=0)
    data_dir: Path = DEFAULT_DATA_DIR
    tables_dir: Path = DEFAULT_TABLES_DIR
    prompts_dir: Path = DEFAULT_PROMPTS_DIR
    # Where each setting came from (flag, file line), for errors found after loading.
    _origins: SettingOrigins | None = PrivateAttr(default=None)
    # The project folder relative paths are taken from (the loaded file's; config/paths.py).
    _root: Path | None = PrivateAttr(default=None)

    @field_validator("dataset")
    @classmethod
    def _check_dataset(cls, name: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", name):
            raise ValueError(
                f"{name!r} is not a valid dataset name; use lower-case letters, digits and _"
            )
        return name

    @field_validator("languages", mode="before")
    @classmethod
    def _check_languages(cls, value: Any) -> dict[str, float]:
        if isinstance(value, str):
            value = [part for part in value.split(",") if part.strip()]
        if isinstance(value, list | tuple):
            value = {code: 1.0 for code in value}
        if not isinstance(value, Mapping) or not value:
            raise ValueError("must be a non-empty list of language codes or a code: weight map")
        weights: dict[str, float] = {}
        for code, weight in value.items():
            if not isinstance(weight, int | float) or weight <= 0:
                raise ValueError(f"weight of {code} must be a positive number, got {weight!r}")
            weights[language_code(code)] = float(weight)
        return weights

    @field_validator("source_language", mode="before")
    @classmethod
    def _check_source_language(cls, value: Any) -> str:
        return language_code(value)

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{name!r} is not an IANA time zone (e.g. Europe/Berlin)") from None
        return name

    @field_validator("pipeline", mode="before")
    @classmethod
    def _check_pipeline(cls, value: Any) -> tuple[str, ...]:
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise ValueError("expected a list of nodes")
        return tuple(str(name).removesuffix("_node") for name in value)

    @field_validator("models", mode="before")
    @classmethod
    def _check_models(cls, value: Any, info: ValidationInfo) -> Any:
        # Unknown node names first, before the settings of a misspelled node are judged.
        # Plug-in names are known only once imported: nodes.build_pipeline applies the same
        # rule then (an entry that names no node at all is its error too).
        entries = info.data.get("pipeline", DEFAULT_PIPELINE)
        if isinstance(value, Mapping) and not any(":" in entry for entry in entries):
            problem = unknown_model_key(value, entries)
            if problem:
                raise ValueError(problem)
        return value

    @field_validator("styles", mode="before")
    @classmethod
    def _style_lists(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {node: [c] if isinstance(c, str) else c for node, c in value.items()}
        return value

    # --- derived views -------------------------------------------------------------------

    def model_for(self, node: str) -> ModelConfig:
        """The default model settings with the node's own overrides on top."""
        default = self.models.get("default", ModelConfig())
        override = self.models.get(node)
        if override is None:
            return default
        return default.model_copy(update=override.model_dump(exclude_unset=True))

    def with_model(self, model: str | None = None, api_base: str | None = None) -> RunConfig:
        """The same config with every node's model (and/or API base) replaced."""
        update = {k: v for k, v in {"model": model, "api_base": api_base}.items() if v}
        entries = {"default": ModelConfig(), **self.models}
        try:
            models = {
                name: ModelConfig.model_validate({**entry.model_dump(exclude_unset=True), **update})
                for name, entry in entries.items()
            }
        except ValidationError as error:
            raise ConfigError(
                format_validation_error(error, SettingOrigins("--model/--api-base"))
            ) from None
        copy = self.model_copy(update={"models": models})
        origins = self._origins or SettingOrigins("config")
        flags = {"model": "--model", "api_base": "--api-base"}
        copy._origins = replace(
            origins, model_flags={**origins.model_flags, **{k: flags[k] for k in update}}
        )
        return copy

    def problem(self, key: tuple[str | int, ...], message: str) -> str:
        """One error line about the setting at `key`, naming where its value came from:
        `--rows: ...` or `file:line:column: models.default.api_base: ...`."""
        return (self._origins or SettingOrigins("config")).line(key, message)

    @property
    def root(self) -> Path:
        """The project folder: the loaded config file's, else that of the one in use."""
        return self._root or project_root(find_config())

    def resolve(self, path: Path) -> Path:
        """`path`, relative paths taken from the project folder."""
        return path if path.is_absolute() else self.root / path

    @property
    def tables_path(self) -> Path:
        """The tables: the project's own, else the default ones."""
        return default_path(self.root, self.tables_dir, DEFAULT_TABLES_DIR)

    @property
    def prompts_path(self) -> Path:
        """The prompts: the project's own, else the default ones."""
        return default_path(self.root, self.prompts_dir, DEFAULT_PROMPTS_DIR)

    @property
    def data_path(self) -> Path:
        return self.resolve(self.data_dir)

    @property
    def database_path(self) -> Path:
        return self.data_path / "tickets.duckdb"

    @property
    def exports_path(self) -> Path:
        return self.data_path / "exports"

    @property
    def cache_path(self) -> Path:
        return self.data_path / "llm_cache.sqlite"

    @property
    def batch_state_path(self) -> Path:
        return self.data_path / "llm_batches.sqlite"
