"""The run configuration: pure pydantic data, one loader, one-line errors.

This layer imports nothing else from `ticket_assets` but `ticket_assets.core` (the language
registry), besides the standard library, pydantic and PyYAML: what the settings mean for
nodes (plug-ins, prompt files, the order check) is `ticket_assets.nodes.build_pipeline`'s
business.

    errors.py     ConfigError
    paths.py      the project folder, its config file, the defaults, data directory, modes
    languages.py  SUPPORTED_LANGUAGES (from core/languages.py), language_code
    base.py       StrictModel (frozen, unknown keys named with the allowed ones)
    models.py     ModelConfig, CostLimits, PriceOverride, CurrencyConfig
    quality.py    BalanceConfig, the quality checks' settings, CardConfig
    export.py     FieldConfig, ExportConfig
    refresh.py    RefreshConfig
    storage.py    StorageConfig (local DuckDB file or a shared DuckLake)
    evaluate.py   EvaluateConfig (`evaluate --real FILE`: column mapping, labels)
    run.py        RunConfig
    origins.py    SettingOrigins: where a setting came from (flag, env var, file:line:column)
    loader.py     load_config, build_config, configured_data_path
"""

from ticket_assets.config.base import StrictModel
from ticket_assets.config.errors import ConfigError
from ticket_assets.config.evaluate import EVALUATE_COLUMNS, EVALUATE_LABELS, EvaluateConfig
from ticket_assets.config.export import EXPORT_FORMATS, ExportConfig, FieldConfig
from ticket_assets.config.languages import SUPPORTED_LANGUAGES
from ticket_assets.config.loader import (
    LanguageSelection,
    build_config,
    configured_data_path,
    load_config,
)
from ticket_assets.config.models import CostLimits, CurrencyConfig, ModelConfig, PriceOverride
from ticket_assets.config.origins import SettingOrigins
from ticket_assets.config.paths import (
    CONFIG_ENV_VAR,
    DATA_DIR_ENV_VAR,
    DEFAULT_CONFIG_PATH,
    DEFAULT_DATA_DIR,
    DEFAULTS_DIR,
    MODE_ENV_VAR,
    MODES,
    find_config,
    project_root,
)
from ticket_assets.config.quality import (
    BALANCE_COLUMNS,
    RESERVED_EMAIL_DOMAINS,
    BalanceConfig,
    CardConfig,
    DiversityQualityConfig,
    DuplicatesQualityConfig,
    FidelityQualityConfig,
    LabelBalanceQualityConfig,
    LabelLeakageQualityConfig,
    LanguageQualityConfig,
    LeaksQualityConfig,
    LearnabilityQualityConfig,
    QualityConfig,
)
from ticket_assets.config.refresh import RefreshConfig
from ticket_assets.config.run import DEFAULT_PIPELINE, RunConfig, unknown_model_key
from ticket_assets.config.storage import StorageConfig

__all__ = [
    "BALANCE_COLUMNS",
    "CONFIG_ENV_VAR",
    "DATA_DIR_ENV_VAR",
    "DEFAULTS_DIR",
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_DATA_DIR",
    "DEFAULT_PIPELINE",
    "EVALUATE_COLUMNS",
    "EVALUATE_LABELS",
    "EXPORT_FORMATS",
    "MODES",
    "MODE_ENV_VAR",
    "RESERVED_EMAIL_DOMAINS",
    "SUPPORTED_LANGUAGES",
    "BalanceConfig",
    "CardConfig",
    "ConfigError",
    "CostLimits",
    "CurrencyConfig",
    "DiversityQualityConfig",
    "DuplicatesQualityConfig",
    "EvaluateConfig",
    "ExportConfig",
    "FidelityQualityConfig",
    "FieldConfig",
    "LabelBalanceQualityConfig",
    "LabelLeakageQualityConfig",
    "LanguageQualityConfig",
    "LanguageSelection",
    "LeaksQualityConfig",
    "LearnabilityQualityConfig",
    "ModelConfig",
    "PriceOverride",
    "QualityConfig",
    "RefreshConfig",
    "RunConfig",
    "SettingOrigins",
    "StorageConfig",
    "StrictModel",
    "build_config",
    "configured_data_path",
    "find_config",
    "load_config",
    "project_root",
    "unknown_model_key",
]
