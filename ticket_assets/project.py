"""A project folder of one's own (`ticket-assets init DIR`): the default config, prompts,
tables and workspace, a `.gitignore` for the data and a short README, ready for
`ticket-assets run` and `ticket-assets ui` inside it.

What init wrote is recorded, file by file, in `.ticket_assets/defaults.json` (SHA-256 of the
content written), so that `init --force` later updates exactly the defaults the user did not
change and keeps every file they edited.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from ticket_assets.config import DEFAULTS_DIR
from ticket_assets.config.paths import CONFIG_FILE, DEFAULT_PROMPTS_DIR, DEFAULT_TABLES_DIR

MANIFEST = Path(".ticket_assets") / "defaults.json"
# The defaults copied as they are: single files, then whole folders.
COPIED_FILES = (CONFIG_FILE, "workspace.yaml")
COPIED_FOLDERS = (DEFAULT_PROMPTS_DIR, DEFAULT_TABLES_DIR)
GITIGNORE = "data/\n"
README = """\
# {name}

A ticket_assets project: synthetic multilingual support tickets as Dagster assets.

    ticket-assets run            # generate the configured dataset (offline by default)
    ticket-assets ui             # the Dagster UI on http://127.0.0.1:3000

- `ticket_assets.yaml`: rows, languages, models and providers, quality thresholds, modes.
- `prompts/`: one YAML per node (system and user prompts, outputs); add a file to add a node.
- `tables/`: products, queues, topics, tags and the offline writer's phrase banks
  (`tables/README.md` describes each file).
- `data/`: DuckDB, the exports (`data/exports/`, with the dataset card) and the Dagster
  instance; not for version control.

`ticket-assets init --force .` brings in the defaults of a newer ticket_assets: files you
have not changed are updated, files you changed are kept (and listed).
"""


class ProjectExistsError(ValueError):
    """The folder already holds a project, or a file init would write."""


@dataclass
class InitReport:
    """What init did to each file, by path relative to the project folder."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # changed by the user: left as they are


def default_files(name: str) -> dict[str, bytes]:
    """Every file of a new project named `name`, by relative path (POSIX separators)."""
    files = {path: (DEFAULTS_DIR / path).read_bytes() for path in COPIED_FILES}
    for folder in COPIED_FOLDERS:
        for path in sorted(_files_under(DEFAULTS_DIR / folder)):
            files[path.relative_to(DEFAULTS_DIR).as_posix()] = path.read_bytes()
    files[".gitignore"] = GITIGNORE.encode()
    files["README.md"] = README.format(name=name).encode()
    return files


def _files_under(folder: Path) -> Iterator[Path]:
    for path in folder.rglob("*"):
        if path.is_file() and not any(
            part.startswith(".") or part == "__pycache__" for part in path.parts
        ):
            yield path


def _digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def init_project(folder: Path, force: bool = False) -> InitReport:
    """Write a new project into `folder` (created if missing). Without `force`, refuses a
    folder that already holds a project or any file init would write; with it, adds missing
    defaults, updates those still as init wrote them, and keeps those the user changed."""
    files = default_files(folder.resolve().name)
    recorded = _read_manifest(folder)
    if not force:
        _refuse_existing(folder, files)
    report = InitReport()
    written: dict[str, str] = {}
    for relative, content in files.items():
        target = folder / relative
        new = _digest(content)
        if not target.exists():
            report.added.append(relative)
        else:
            current = _digest(target.read_bytes())
            if current == new:
                report.unchanged.append(relative)
                written[relative] = new
                continue
            if recorded.get(relative) != current:
                report.kept.append(relative)
                if relative in recorded:
                    written[relative] = recorded[relative]
                continue
            report.updated.append(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        written[relative] = new
    _write_manifest(folder, written)
    return report


def _refuse_existing(folder: Path, files: Mapping[str, bytes]) -> None:
    if (folder / CONFIG_FILE).exists() or (folder / MANIFEST).exists():
        raise ProjectExistsError(
            f"{folder} already holds a project ({CONFIG_FILE}); nothing was written. "
            "--force updates the defaults you have not changed and keeps the others"
        )
    existing = [relative for relative in files if (folder / relative).exists()]
    if existing:
        raise ProjectExistsError(
            f"{folder / existing[0]} exists ({len(existing)} of the project's files do); "
            "nothing was written. Choose another folder, or --force to keep them"
        )


def _read_manifest(folder: Path) -> dict[str, str]:
    path = folder / MANIFEST
    if not path.is_file():
        return {}
    try:
        files = json.loads(path.read_text(encoding="utf-8"))["files"]
    except (ValueError, KeyError, TypeError) as error:
        raise ProjectExistsError(
            f"{path}: unreadable ({error}); delete it to treat every file as yours"
        ) from None
    return {str(k): str(v) for k, v in files.items()}


def _write_manifest(folder: Path, files: Mapping[str, str]) -> None:
    path = folder / MANIFEST
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"ticket_assets": _package_version(), "files": dict(sorted(files.items()))}
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _package_version() -> str:
    try:
        return version("ticket_assets")
    except PackageNotFoundError:  # imported from a checkout that was never installed
        return "unknown"
