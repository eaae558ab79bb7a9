"""Where the project, its config file and its data live, and the names of the modes."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_CONFIG_PATH = PROJECT_ROOT / "ticket_assets.yaml"
CONFIG_ENV_VAR = "TICKET_ASSETS_CONFIG"
DEFAULT_DATA_DIR = Path("data")
# Overrides the file's data_dir (a flag overrides both): a container or a run's scratch volume.
DATA_DIR_ENV_VAR = "TICKET_ASSETS_DATA_DIR"
MODE_ENV_VAR = "TICKET_ASSETS_MODE"
MODES = ("dev", "prod")


def project_path(path: Path) -> Path:
    """`path`, relative paths taken from the project root."""
    return path if path.is_absolute() else PROJECT_ROOT / path
