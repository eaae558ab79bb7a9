"""The loader: `ticket_assets.yaml` holds the base settings plus `modes` (`dev`, `prod`)
whose values are deep-merged over the base; command-line overrides are merged last. Every
key is checked before anything runs, and an error names where its value came from."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ticket_assets.config.errors import ConfigError
from ticket_assets.config.origins import SettingOrigins, format_validation_error
from ticket_assets.config.paths import (
    CONFIG_ENV_VAR,
    DATA_DIR_ENV_VAR,
    DEFAULT_DATA_DIR,
    MODE_ENV_VAR,
    MODES,
    find_config,
    project_root,
)
from ticket_assets.config.run import RunConfig


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


def build_config(
    raw: Mapping[str, Any],
    *,
    mode: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    source: str = "config",
    document: yaml.Node | None = None,
    flags: Mapping[str, str] | None = None,
    root: Path | None = None,
) -> RunConfig:
    """Validate a raw mapping: base, then the chosen mode's profile, then overrides.
    `document` (the parsed file) and `flags` (override key -> flag) let errors say where a
    value came from; `root` is the project folder its relative paths are taken from
    (default: that of the config file in use)."""
    origins = SettingOrigins(
        source, document, flags or {}, settings=frozenset(RunConfig.model_fields)
    )
    merged, origins = _merged_settings(raw, mode, overrides, origins)
    try:
        config = RunConfig.model_validate(merged)
    except ValidationError as error:
        raise ConfigError(format_validation_error(error, origins)) from None
    config._origins = origins
    config._root = root
    return config


class LanguageSelection(str):
    """Languages picked from the configured ones (`--languages de,fr`): they keep the weights
    the settings give them (1 for one they leave out), so picking does not flatten the mix. A
    plain list or string override sets the languages with equal weights, as in the file."""


def _kept_weights(selection: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    configured = settings.get("languages")
    weights = (
        {str(code).strip().upper(): w for code, w in configured.items()}
        if isinstance(configured, Mapping)
        else {}
    )
    codes = [code.strip() for code in selection.split(",") if code.strip()]
    return {code: weights.get(code.upper(), 1.0) for code in codes}


def _merged_settings(
    raw: Mapping[str, Any],
    mode: str | None,
    overrides: Mapping[str, Any] | None,
    origins: SettingOrigins,
) -> tuple[dict[str, Any], SettingOrigins]:
    """Base, then the chosen mode's profile, then $TICKET_ASSETS_DATA_DIR, then overrides; and
    where each value came from."""
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
    if os.environ.get(DATA_DIR_ENV_VAR):
        merged["data_dir"] = os.environ[DATA_DIR_ENV_VAR]
    set_overrides = {key: v for key, v in (overrides or {}).items() if v is not None}
    if isinstance(set_overrides.get("languages"), LanguageSelection):
        set_overrides["languages"] = _kept_weights(set_overrides["languages"], merged)
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
    """Load the config file in use (`path`, `$TICKET_ASSETS_CONFIG`, the working directory's
    `ticket_assets.yaml` or the default one: paths.find_config) and validate it. `flags`
    names the command-line flag of each override, for error messages."""
    config_path = find_config(path)
    raw, document, source = _read_config_file(config_path, named=bool(path))
    return build_config(
        raw or {},
        mode=mode,
        overrides=overrides,
        source=source,
        document=document,
        flags=flags,
        root=project_root(config_path),
    )


def configured_data_path(
    path: Path | str | None = None,
    *,
    mode: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Path:
    """The data directory the settings name, found without validating the rest (the CLI
    takes the directory's run lock before the slower checks)."""
    config_path = find_config(path)
    raw, document, source = _read_config_file(config_path, named=bool(path))
    merged, _ = _merged_settings(raw or {}, mode, overrides, SettingOrigins(source, document))
    data_dir = merged.get("data_dir")
    # A value of the wrong type is left to the full check, which names it.
    relative = Path(data_dir) if isinstance(data_dir, str | Path) else DEFAULT_DATA_DIR
    return project_root(config_path) / relative


def _read_config_file(config_path: Path, named: bool) -> tuple[Any, yaml.Node | None, str]:
    """The file's settings, its parsed document (lines and columns) and its name as shown;
    `named`: the path was given (not found from the environment or the folder)."""
    source = _shown_path(config_path)
    try:
        data = config_path.read_bytes()
    except OSError as error:
        from_env = not named and CONFIG_ENV_VAR in os.environ
        shown = f"{source} ({CONFIG_ENV_VAR})" if from_env else source
        raise ConfigError(f"{shown}: cannot read config: {error.strerror}") from None
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
