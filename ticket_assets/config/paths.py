"""Where the project, its config file and its data live, and the names of the modes.

A project is a folder with a `ticket_assets.yaml`, and optionally its own `prompts/` and
`tables/`: this repository is one, `ticket-assets init DIR` writes another. Relative paths in
a config are taken from its folder. The defaults (config, prompts, tables, workspace and
instance settings) are the repository's top-level files; an installed wheel carries copies
of them in `ticket_assets/defaults/`, which the build takes from there (pyproject.toml).
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent.parent
_PACKAGED_DEFAULTS = _PACKAGE_DIR / "defaults"
# The wheel's copies when installed, else (a checkout) the repository's top level.
DEFAULTS_DIR = _PACKAGED_DEFAULTS if _PACKAGED_DEFAULTS.is_dir() else _PACKAGE_DIR.parent
CONFIG_FILE = "ticket_assets.yaml"
DEFAULT_CONFIG_PATH = DEFAULTS_DIR / CONFIG_FILE
CONFIG_ENV_VAR = "TICKET_ASSETS_CONFIG"
DEFAULT_DATA_DIR = Path("data")
DEFAULT_TABLES_DIR = Path("tables")
DEFAULT_PROMPTS_DIR = Path("prompts")
# Overrides the file's data_dir (a flag overrides both): a container or a run's scratch volume.
DATA_DIR_ENV_VAR = "TICKET_ASSETS_DATA_DIR"
MODE_ENV_VAR = "TICKET_ASSETS_MODE"
MODES = ("dev", "prod")


def find_config(path: Path | str | None = None) -> Path:
    """The config file in use: `path`, else $TICKET_ASSETS_CONFIG, else `ticket_assets.yaml`
    in the working directory (a project's folder), else the default one."""
    if path or os.environ.get(CONFIG_ENV_VAR):
        return Path(path or os.environ[CONFIG_ENV_VAR])
    here = Path.cwd() / CONFIG_FILE
    return here if here.is_file() else DEFAULT_CONFIG_PATH


def project_root(config_path: Path) -> Path:
    """The folder a config's relative paths are taken from: the config file's, except for
    the wheel's own copy, where it is the working directory (nothing is ever written inside
    the installed package)."""
    folder = config_path.resolve().parent
    return Path.cwd() if folder == _PACKAGED_DEFAULTS else folder


def default_path(root: Path, path: Path, default: Path) -> Path:
    """`path` taken from `root`; a project without its own folder of that default name
    (prompts, tables) uses the default folder."""
    resolved = path if path.is_absolute() else root / path
    if path == default and not resolved.exists():
        return DEFAULTS_DIR / default
    return resolved
