"""The run configuration: pydantic models, one loader, one-line errors.

`ticket_assets.yaml` holds the base settings plus `modes` (`dev`, `prod`) whose values are
deep-merged over the base; command-line overrides are merged last. Everything is checked
before anything runs.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_PATH = PROJECT_ROOT / "ticket_assets.yaml"
CONFIG_ENV_VAR = "TICKET_ASSETS_CONFIG"
DEFAULT_DATA_DIR = Path("data")
MODE_ENV_VAR = "TICKET_ASSETS_MODE"

# Languages the offline provider can write; each has a fixed digit inside ticket ids.
SUPPORTED_LANGUAGES: dict[str, str] = {
    "DE": "German",
    "EN": "English",
    "ES": "Spanish",
    "FR": "French",
    "PT": "Portuguese",
}
BUILTIN_NODES = ("topic", "email_draft", "tagging", "paraphrase", "translate", "first_response")
MODES = ("dev", "prod")


class ConfigError(ValueError):
    """A problem in the run configuration, phrased as one line per problem."""


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


def _language_code(value: Any) -> str:
    code = str(value).strip().upper()
    if code not in SUPPORTED_LANGUAGES:
        raise ValueError(
            f"{value!r} is not a supported language; allowed: {', '.join(SUPPORTED_LANGUAGES)}"
        )
    return code


class ModelConfig(StrictModel):
    """Which LLM a node calls and how. `model` is `provider/name` as litellm spells it.
    API keys are never configured here: litellm reads them from the environment."""

    model: str = "offline"
    max_tokens: int = Field(default=800, gt=0)
    temperature: float = Field(default=0.7, ge=0, le=2)
    api_base: str | None = None
    tickets_per_call: int = Field(default=1, ge=1, le=50)
    concurrency: int = Field(default=16, ge=1, le=1024)
    workers: int = Field(default=1, ge=1, le=64)
    requests_per_minute: int | None = Field(default=None, gt=0)
    tokens_per_minute: int | None = Field(default=None, gt=0)
    timeout_s: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=6, ge=0, le=20)
    max_repairs: int = Field(default=2, ge=0, le=10)
    batch: bool = False
    batch_poll_s: float = Field(default=30.0, gt=0)
    # How answers are constrained: a JSON-schema response_format, or JSON mode with the schema
    # in the prompt only; `auto` picks json_schema where the model or its api_base allows it.
    structured_output: Literal["auto", "json_schema", "json_object"] = "auto"

    @model_validator(mode="after")
    def _batch_needs_openai(self) -> ModelConfig:
        if self.batch and self.provider != "openai":
            raise ValueError(
                f"batch: true needs an OpenAI Batch API (model openai/...), not {self.model!r}"
            )
        return self

    @model_validator(mode="after")
    def _model_has_provider(self) -> ModelConfig:
        if self.model != "offline" and "/" not in self.model:
            raise ValueError(
                f"model {self.model!r} needs a provider prefix, e.g. openai/{self.model}; "
                "or use offline"
            )
        return self

    @property
    def provider(self) -> str:
        return self.model.split("/", 1)[0] if "/" in self.model else self.model


class CostLimits(StrictModel):
    """USD thresholds for one LLM call: `warn` logs, `error` fails the step."""

    warn: float = Field(default=0.001, ge=0)
    error: float = Field(default=0.01, ge=0)

    @model_validator(mode="after")
    def _warn_below_error(self) -> CostLimits:
        if self.warn > self.error:
            raise ValueError(f"warn ({self.warn}) must not exceed error ({self.error})")
        return self


class PriceOverride(StrictModel):
    """USD per million tokens, for models litellm's price map lacks or prices differently."""

    input_per_million: float = Field(ge=0)
    output_per_million: float = Field(ge=0)
    batch_input_per_million: float | None = Field(default=None, ge=0)
    batch_output_per_million: float | None = Field(default=None, ge=0)


class CurrencyConfig(StrictModel):
    """Units of each currency per US dollar, as of `date`."""

    date: dt.date = dt.date(2026, 11, 1)
    rates: dict[str, float] = Field(default_factory=lambda: {"EUR": 0.86})

    @field_validator("rates")
    @classmethod
    def _check_rates(cls, rates: dict[str, float]) -> dict[str, float]:
        checked = {}
        for code, rate in rates.items():
            if not re.fullmatch(r"[A-Za-z]{3}", code):
                raise ValueError(f"{code!r} is not a three-letter currency code")
            if rate <= 0:
                raise ValueError(f"rate for {code} must be positive, got {rate}")
            checked[code.upper()] = float(rate)
        return checked


class RefreshConfig(StrictModel):
    """Scheduled growth of the dataset: `batches` new batches per language on `cron`."""

    cron: str = "0 3 * * *"
    batches: int = Field(default=1, ge=1, le=100)
    enabled: bool = False

    @field_validator("cron")
    @classmethod
    def _check_cron(cls, cron: str) -> str:
        # Dagster's own parser, so the config check and the schedule agree.
        from dagster._utils.schedules import is_valid_cron_string

        if not is_valid_cron_string(cron):
            raise ValueError(f"{cron!r} is not a cron expression (e.g. '0 3 * * *')")
        return cron


BALANCE_COLUMNS = ("type", "queue", "priority", "business_type")
# Domains reserved for examples (RFC 2606, RFC 6761): addresses there are not real people's.
RESERVED_EMAIL_DOMAINS = (
    "example.com",
    "example.net",
    "example.org",
    "example",
    "test",
    "invalid",
    "localhost",
)


def _bounds(value: tuple[float, float]) -> tuple[float, float]:
    low, high = value
    if not 0 <= low < high:
        raise ValueError(f"expected [low, high] with 0 <= low < high, got [{low}, {high}]")
    return value


Bounds = Annotated[tuple[float, float], AfterValidator(_bounds)]
Share = Annotated[float, Field(ge=0, le=1)]


class BalanceConfig(StrictModel):
    """Sampling of rare classes: every class of `columns` is drawn at least `target_share` of
    the time (or uniformly where the column has too many classes for that); 0 is off."""

    target_share: float = Field(default=0.0, ge=0, lt=1)
    columns: tuple[Literal["type", "queue", "priority", "business_type"], ...] = BALANCE_COLUMNS


class LanguageQualityConfig(StrictModel):
    """Subject, body and first response must be in the row's language."""

    max_mismatch_rate: Share = 0.01
    action: Literal["fail", "drop", "regenerate"] = "fail"


class DuplicatesQualityConfig(StrictModel):
    """Exact and near duplicates over subject + body, across the whole dataset."""

    near_threshold: float = Field(default=0.7, gt=0, le=1)
    max_exact_rate: Share = 0.0
    max_near_rate: Share = 0.02
    action: Literal["keep", "drop"] = "keep"


class LabelBalanceQualityConfig(StrictModel):
    """Achieved label shares versus the configured weights, overall and per language."""

    tolerance: Share = 0.05
    noise_z: float = Field(default=3.0, ge=0)


class FidelityQualityConfig(StrictModel):
    """Paraphrases reword without losing meaning; translations keep it."""

    paraphrase_similarity: Bounds = (0.05, 0.9)
    length_ratio: Bounds = (0.5, 2.0)
    max_flagged_rate: Share = 0.01


class LeaksQualityConfig(StrictModel):
    """No template residue, JSON or markdown, real-looking e-mail addresses or phone numbers."""

    allowed_email_domains: tuple[str, ...] = RESERVED_EMAIL_DOMAINS


class QualityConfig(StrictModel):
    language: LanguageQualityConfig = LanguageQualityConfig()
    duplicates: DuplicatesQualityConfig = DuplicatesQualityConfig()
    label_balance: LabelBalanceQualityConfig = LabelBalanceQualityConfig()
    fidelity: FidelityQualityConfig = FidelityQualityConfig()
    leaks: LeaksQualityConfig = LeaksQualityConfig()


class CardConfig(StrictModel):
    """What the dataset card (data/exports/README.md) says about the dataset."""

    pretty_name: str = "Synthetic multilingual customer-support tickets"
    license: str = "cc-by-4.0"


class FieldConfig(StrictModel):
    """A sampled column: one value per ticket drawn from `table` (a CSV in tables_dir with a
    column named after the field and a `weight` column); with `given`, a row applies to the
    tickets whose values of those columns its cells list (ticket_assets/fields.py)."""

    table: str
    given: tuple[str, ...] = ()

    @field_validator("given", mode="before")
    @classmethod
    def _one_or_more(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @field_validator("table")
    @classmethod
    def _csv_file(cls, table: str) -> str:
        if not table.endswith(".csv") or Path(table).is_absolute() or ".." in Path(table).parts:
            raise ValueError(f"{table!r} must be a .csv file inside tables_dir")
        return table


EXPORT_FORMATS = ("parquet", "csv", "jsonl", "wide")


class ExportConfig(StrictModel):
    """The files the export writes (export.py): `formats`, and with `splits` each format
    again per split, stratified by queue and language."""

    formats: tuple[Literal["parquet", "csv", "jsonl", "wide"], ...] = ("parquet", "csv")
    splits: dict[str, float] = Field(default_factory=dict)
    version: str = "1"

    @field_validator("formats")
    @classmethod
    def _check_formats(cls, formats: tuple[str, ...]) -> tuple[str, ...]:
        if "parquet" not in formats:
            raise ValueError("must include parquet (the dataset card and the CLI read it)")
        if len(set(formats)) != len(formats):
            raise ValueError("lists a format twice")
        return formats

    @field_validator("splits")
    @classmethod
    def _check_splits(cls, splits: dict[str, float]) -> dict[str, float]:
        for name, share in splits.items():
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                raise ValueError(f"{name!r} is not a split name; use lower-case letters and _")
            if share <= 0:
                raise ValueError(f"share of {name} must be positive, got {share}")
        if splits and abs(sum(splits.values()) - 1) > 1e-6:
            raise ValueError(f"shares must add up to 1, got {sum(splits.values()):g}")
        return splits

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) else value


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
    pipeline: tuple[str, ...] = BUILTIN_NODES
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
    data_dir: Path = DEFAULT_DATA_DIR
    tables_dir: Path = Path("tables")
    prompts_dir: Path = Path("prompts")
    # Plug-in nodes: node name -> its `module:Class` pipeline entry (set by _check_graph).
    _plugins: dict[str, str] = PrivateAttr(default_factory=dict)
    # Where each setting came from (flag, file line), for errors found after loading.
    _origins: SettingOrigins | None = PrivateAttr(default=None)

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
            weights[_language_code(code)] = float(weight)
        return weights

    @field_validator("source_language", mode="before")
    @classmethod
    def _check_source_language(cls, value: Any) -> str:
        return _language_code(value)

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
        # Plug-in names are known only once imported: _check_graph checks those.
        entries = info.data.get("pipeline", BUILTIN_NODES)
        if isinstance(value, Mapping) and not any(":" in entry for entry in entries):
            allowed = ("default", *dict.fromkeys((*BUILTIN_NODES, *entries)))
            for name in value:
                if name not in allowed:
                    raise ValueError(f"unknown key {name!r}; allowed: {', '.join(allowed)}")
        return value

    @field_validator("styles", mode="before")
    @classmethod
    def _style_lists(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {node: [c] if isinstance(c, str) else c for node, c in value.items()}
        return value

    @model_validator(mode="after")
    def _check_graph(self) -> RunConfig:
        """Resolve the pipeline's entries to node names (plug-ins are imported), then check
        that the nodes can run in their order and the per-node keys name pipeline nodes."""
        from ticket_assets.nodes import check_pipeline, resolve_pipeline

        names, self._plugins = resolve_pipeline(self)
        self.__dict__["pipeline"] = names  # frozen model: set once, while validating
        allowed = ("default", *dict.fromkeys((*BUILTIN_NODES, *names)))
        for name in self.models:
            if name not in allowed:
                raise ValueError(f"models: unknown key {name!r}; allowed: {', '.join(allowed)}")
        check_pipeline(self)
        return self

    # --- derived views -------------------------------------------------------------------

    @property
    def plugins(self) -> dict[str, str]:
        """Plug-in nodes of the pipeline: name -> `module:Class`."""
        return dict(self._plugins)

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
                _format_validation_error(error, SettingOrigins("--model/--api-base"))
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

    def resolve(self, path: Path) -> Path:
        return _project_path(path)

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

    @property
    def remote_nodes(self) -> list[str]:
        return [node for node in self.pipeline if self.model_for(node).provider != "offline"]


def _deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if (
            isinstance(value, Mapping)
            and isinstance(merged.get(key), Mapping)
            and key != "languages"
        ):
            merged[key] = _deep_merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


@dataclass(frozen=True)
class SettingOrigins:
    """Where each setting came from, so that an error names the flag that set it, or the
    line and column of its value in the config file, not only the file."""

    source: str  # the config file, as the user knows it
    document: yaml.Node | None = None  # the parsed file: lines and columns
    flags: Mapping[str, str] = dataclass_field(default_factory=dict)  # setting -> its flag
    overridden: frozenset[str] = frozenset()  # top-level keys the overrides set
    mode: str = ""
    profile_keys: frozenset[str] = frozenset()  # top-level keys the mode's profile sets
    model_flags: Mapping[str, str] = dataclass_field(default_factory=dict)  # --model, --api-base

    def line(self, loc: tuple[str | int, ...], message: str) -> str:
        """One error line: `--rows: ...`, or `file:line:column: key.path: ...`."""
        path = loc or _leading_key(message)
        location = ".".join(str(part) for part in loc)
        if path and path[0] == "models" and path[-1] in self.model_flags:  # every model's
            where = self.model_flags[str(path[-1])]
        elif path and path[0] in self.flags:  # the flag names the setting
            where, location = self.flags[str(path[0])], ".".join(str(p) for p in loc[1:])
        elif path and path[0] in self.overridden:  # set by a caller without a flag
            where = "overrides"
        else:
            where = self.position(path)
        return f"{where}: {location}: {message}" if location else f"{where}: {message}"

    def position(self, path: tuple[str | int, ...]) -> str:
        """`file:line:column` of the value at `path` (the mode's profile wins), or the file."""
        if path and path[0] in self.profile_keys:
            path = ("modes", self.mode, *path)
        node = _deepest_node(self.document, path)
        if node is None:
            return self.source
        return f"{self.source}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"


def _leading_key(message: str) -> tuple[str, ...]:
    """Model-level checks start their message with the setting they are about."""
    key = message.split(":", 1)[0]
    return (key,) if key in RunConfig.model_fields else ()


def _deepest_node(document: yaml.Node | None, path: tuple[str | int, ...]) -> yaml.Node | None:
    """The node of `path` in the parsed file, or of its deepest ancestor found there."""
    found = None
    node = document
    for part in path:
        if isinstance(node, yaml.MappingNode):
            node = next((value for key, value in node.value if key.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            node = node.value[part] if part < len(node.value) else None
        else:
            node = None
        if node is None:
            break
        found = node
    return found


def _format_validation_error(error: ValidationError, origins: SettingOrigins) -> str:
    lines = [
        origins.line(item["loc"], item["msg"].removeprefix("Value error, "))
        for item in error.errors()
    ]
    return "\n".join(lines)


def build_config(
    raw: Mapping[str, Any],
    *,
    mode: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    source: str = "config",
    document: yaml.Node | None = None,
    flags: Mapping[str, str] | None = None,
) -> RunConfig:
    """Validate a raw mapping: base, then the chosen mode's profile, then overrides.
    `document` (the parsed file) and `flags` (override key -> flag) let errors say where a
    value came from."""
    merged, origins = _merged_settings(
        raw, mode, overrides, SettingOrigins(source, document, flags or {})
    )
    try:
        config = RunConfig.model_validate(merged)
    except ValidationError as error:
        raise ConfigError(_format_validation_error(error, origins)) from None
    config._origins = origins
    return config


def _merged_settings(
    raw: Mapping[str, Any],
    mode: str | None,
    overrides: Mapping[str, Any] | None,
    origins: SettingOrigins,
) -> tuple[dict[str, Any], SettingOrigins]:
    """Base, then the chosen mode's profile, then overrides; and where each value came from."""
    source = origins.source
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: expected a mapping of settings at the top level")
    base = dict(raw)
    profiles = base.pop("modes", None) or {}
    if not isinstance(profiles, Mapping) or set(profiles) - set(MODES):
        unknown = sorted(set(profiles) - set(MODES)) if isinstance(profiles, Mapping) else profiles
        raise ConfigError(f"{source}: modes: unknown mode {unknown}; allowed: {', '.join(MODES)}")
    chosen, mode_origin = _chosen_mode(mode, base, origins)
    if chosen not in MODES:
        raise ConfigError(
            f"{mode_origin}: mode: {chosen!r} is not a mode; allowed: {', '.join(MODES)}"
        )
    profile = profiles.get(chosen) or {}
    if not isinstance(profile, Mapping):
        raise ConfigError(f"{source}: modes.{chosen}: expected a mapping of settings")
    if "modes" in profile or "mode" in profile:
        raise ConfigError(f"{source}: modes.{chosen}: a mode profile cannot set mode or modes")
    merged = _deep_merge(base, profile)
    set_overrides = {key: v for key, v in (overrides or {}).items() if v is not None}
    merged = _deep_merge(merged, set_overrides)
    merged["mode"] = chosen
    return merged, replace(
        origins,
        flags={key: flag for key, flag in origins.flags.items() if key in set_overrides},
        overridden=frozenset(set_overrides),
        mode=chosen,
        profile_keys=frozenset(profile),
    )


def _chosen_mode(
    mode: str | None, base: Mapping[str, Any], origins: SettingOrigins
) -> tuple[str, str]:
    """The mode and what chose it: the argument (--mode), the environment, or the file."""
    if mode:
        return mode, origins.flags.get("mode", "argument")
    if os.environ.get(MODE_ENV_VAR):
        return os.environ[MODE_ENV_VAR], MODE_ENV_VAR
    return base.get("mode") or "dev", origins.position(("mode",))


def load_config(
    path: Path | str | None = None,
    *,
    mode: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    flags: Mapping[str, str] | None = None,
) -> RunConfig:
    """Load `ticket_assets.yaml` (or `$TICKET_ASSETS_CONFIG`, or `path`) and validate it.
    `flags` names the command-line flag of each override, for error messages."""
    raw, document, source = _read_config_file(path)
    return build_config(
        raw or {}, mode=mode, overrides=overrides, source=source, document=document, flags=flags
    )


def configured_data_path(
    path: Path | str | None = None,
    *,
    mode: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Path:
    """The data directory the settings name, found without validating the rest (which
    imports Dagster and pandas, seconds): the CLI takes the directory's run lock first."""
    raw, document, source = _read_config_file(path)
    merged, _ = _merged_settings(raw or {}, mode, overrides, SettingOrigins(source, document))
    data_dir = merged.get("data_dir")
    # A value of the wrong type is left to the full check, which names it.
    return _project_path(Path(data_dir) if isinstance(data_dir, str | Path) else DEFAULT_DATA_DIR)


def _project_path(path: Path) -> Path:
    return path if path.is_absolute() else PROJECT_ROOT / path


def _read_config_file(path: Path | str | None) -> tuple[Any, yaml.Node | None, str]:
    """The file's settings, its parsed document (lines and columns) and its name as shown."""
    config_path = Path(path or os.environ.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG_PATH)
    source = _shown_path(config_path)
    try:
        data = config_path.read_bytes()
    except OSError as error:
        named = (
            source if path or CONFIG_ENV_VAR not in os.environ else f"{source} ({CONFIG_ENV_VAR})"
        )
        raise ConfigError(f"{named}: cannot read config: {error.strerror}") from None
    raw, document = _parse_yaml(_decode(data, source), source)
    return raw, document, source


def _shown_path(path: Path) -> str:
    """The config file as the user can open it: relative to the working directory if inside."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _decode(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - data.rfind(b"\n", 0, error.start)
        raise ConfigError(
            f"{source}:{line}:{column}: not UTF-8 text (byte 0x{data[error.start]:02x}); "
            "save the file as UTF-8"
        ) from None


def _parse_yaml(text: str, source: str) -> tuple[Any, yaml.Node | None]:
    """The settings and the parsed document they came from (which knows lines and columns)."""
    try:
        loader = yaml.SafeLoader(text)  # checks the characters first
    except yaml.reader.ReaderError as error:
        line = text.count("\n", 0, error.position) + 1
        column = error.position - text.rfind("\n", 0, error.position)
        raise ConfigError(
            f"{source}:{line}:{column}: not valid YAML: control character "
            f"{error.character:#04x} is not allowed"
        ) from None
    try:
        document = loader.get_single_node()
        return (loader.construct_document(document) if document else None), document
    except yaml.MarkedYAMLError as error:
        raise ConfigError(_yaml_error_line(error, source)) from None
    finally:
        loader.dispose()


def _yaml_error_line(error: yaml.MarkedYAMLError, source: str) -> str:
    """`file:line:column: ...` where the parser stopped, and where the construct it was
    reading began (an unclosed bracket is often lines above)."""
    mark = error.problem_mark or error.context_mark
    where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
    text = f"{where}: not valid YAML: {error.problem or error.context}"
    begun = error.context_mark
    if error.problem and error.context and begun is not None:
        text += f" ({error.context} at line {begun.line + 1}, column {begun.column + 1})"
    return text
