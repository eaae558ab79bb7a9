"""What a user of the wheel gets: `uv build` makes a wheel carrying the default config, prompts
and tables; in a new virtual environment with nothing else installed, `pip install` of it,
`ticket-assets init demo`, `cd demo && ticket-assets run` writes a valid export, and
`ticket-assets ui` serves demo's assets.

The dependencies are pinned to the lock file's versions (what `make` installs); their wheels
come from uv's cache, which `make`'s own sync filled, the index from the package registry."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from ticket_assets.config import load_config
from ticket_assets.nodes import build_pipeline
from ticket_assets.schema import check_frame, ticket_schema
from ticket_assets.tables import Tables
from ticket_assets_tests.dagster_ui import running_ui

ROOT = Path(__file__).resolve().parent.parent
UV = ROOT / ".tools" / "bin" / "uv"
ASSET_KEYS = "{ assetNodes { assetKey { path } } }"


def _run(command: list[str | Path], cwd: Path, timeout: float = 300) -> str:
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"{command}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment with the wheel and its locked dependencies; its bin/."""
    root = tmp_path_factory.mktemp("wheel")
    _run([UV, "build", "--wheel", "--out-dir", root / "dist", ROOT], cwd=root)
    [wheel] = (root / "dist").glob("ticket_assets-*.whl")
    pins = root / "pins.txt"
    _run([UV, "export", "--frozen", "--no-dev", "--no-emit-project", "-o", pins, "-q"], ROOT)
    venv = root / "venv"
    _run([UV, "venv", "--python", sys.executable, venv], cwd=root)
    python = venv / "bin" / "python"
    install = [UV, "pip", "install", "--python", python, "-c", pins, wheel]
    _run(install, cwd=root)
    return venv / "bin"


def test_the_wheel_carries_the_defaults_from_the_repository(installed: Path) -> None:
    [wheel] = installed.parent.parent.glob("dist/*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        packaged = archive.read("ticket_assets/defaults/ticket_assets.yaml")
    assert packaged == (ROOT / "ticket_assets.yaml").read_bytes()
    for folder in ("prompts", "tables"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                assert f"ticket_assets/defaults/{path.relative_to(ROOT).as_posix()}" in names
    assert "ticket_assets/defaults/workspace.yaml" in names
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)


def test_init_run_and_ui_from_the_installed_wheel(installed: Path, tmp_path: Path) -> None:
    program = installed / "ticket-assets"
    printed = _run([program, "init", "demo"], cwd=tmp_path)
    demo = tmp_path / "demo"
    assert "next: cd demo && ticket-assets run" in printed
    assert (demo / "ticket_assets.yaml").read_bytes() == (ROOT / "ticket_assets.yaml").read_bytes()
    assert {".gitignore", "README.md", "workspace.yaml", "prompts", "tables"} <= {
        path.name for path in demo.iterdir()
    }
    _run([program, "run", "--rows", "40", "--languages", "de,en"], cwd=demo, timeout=600)
    export = pd.read_parquet(demo / "data" / "exports" / "tickets.parquet")
    assert len(export) == 40 and set(export["language"]) == {"DE", "EN"}
    config = load_config(demo / "ticket_assets.yaml", overrides={"languages": ["DE", "EN"]})
    tables = Tables.load(demo / "tables")
    report = check_frame(ticket_schema(config, tables, export.columns), export)
    assert report.passed, report.summary
    assert (demo / "data" / "exports" / "README.md").is_file()

    with running_ui(None, None, demo, program=[str(program)]) as ui:
        keys = {node["assetKey"]["path"][-1] for node in ui.graphql(ASSET_KEYS, {})["assetNodes"]}
    assert set(build_pipeline(config).names) <= keys
    assert len(set(build_pipeline(config).names)) == 6
    assert (demo / "data" / "dagster_home" / "dagster.yaml").is_file()


def test_without_a_project_the_built_in_defaults_run_with_data_in_this_folder(
    installed: Path, tmp_path: Path
) -> None:
    _run([installed / "ticket-assets", "run", "--rows", "8", "--languages", "en"], cwd=tmp_path)
    assert len(pd.read_parquet(tmp_path / "data" / "exports" / "tickets.parquet")) == 8
    # Nothing was written inside the installed package, whose defaults were used.
    site = next((installed.parent / "lib").glob("python3*/site-packages/ticket_assets"))
    written = {path.name for path in (site / "defaults").iterdir()}
    assert written == {
        "ticket_assets.yaml",
        "prompts",
        "tables",
        "workspace.yaml",
        "dagster.yaml",
        "deploy",
    }


def test_init_refuses_an_existing_project_and_force_keeps_your_changes(
    installed: Path, tmp_path: Path
) -> None:
    program = installed / "ticket-assets"
    assert _run([program, "init", "--help"], cwd=tmp_path).startswith("usage: ticket-assets init")
    _run([program, "init", "mine"], cwd=tmp_path)
    mine = tmp_path / "mine"
    refused = subprocess.run(
        [program, "init", "mine"], cwd=tmp_path, capture_output=True, text=True
    )
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "error: mine already holds a project (ticket_assets.yaml); nothing was written. "
        "--force updates the defaults you have not changed and keeps the others"
    ]
    config = mine / "ticket_assets.yaml"
    config.write_text(config.read_text() + "\n# mine\n")
    (mine / "prompts" / "topic.yaml").unlink()
    stale = mine / "tables" / "tones.csv"
    manifest = mine / ".ticket_assets" / "defaults.json"
    # As if an older release had written another tones.csv that the user never touched.
    stale.write_text("tone,weight\nold,1\n")
    manifest.write_text(
        manifest.read_text().replace(_digest_of(ROOT / "tables" / "tones.csv"), _digest_of(stale))
    )
    printed = _run([program, "init", "--force", "mine"], cwd=tmp_path)
    assert "kept (yours): ticket_assets.yaml" in printed
    assert "updated: tables/tones.csv" in printed
    assert config.read_text().endswith("# mine\n")
    assert stale.read_bytes() == (ROOT / "tables" / "tones.csv").read_bytes()
    assert (mine / "prompts" / "topic.yaml").is_file()


def _digest_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
