"""`init DIR` as plain Python (ticket_assets/project.py); test_wheel.py runs it installed."""

from __future__ import annotations

from pathlib import Path

import pytest

from ticket_assets.cli import main
from ticket_assets.config import DEFAULTS_DIR, load_config
from ticket_assets.project import MANIFEST, ProjectExistsError, init_project


def test_a_new_project_holds_the_defaults_and_loads_from_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = init_project(tmp_path / "p")
    project = tmp_path / "p"
    assert "ticket_assets.yaml" in report.added and "tables/topics.csv" in report.added
    assert (project / "prompts" / "email_draft.yaml").read_bytes() == (
        DEFAULTS_DIR / "prompts" / "email_draft.yaml"
    ).read_bytes()
    assert (project / ".gitignore").read_text() == "data/\n"
    monkeypatch.delenv("TICKET_ASSETS_CONFIG", raising=False)
    monkeypatch.chdir(project)
    config = load_config()
    assert config.root == project.resolve()
    assert config.data_path == project.resolve() / "data"
    assert config.tables_path == project.resolve() / "tables"


def test_a_project_without_its_own_tables_uses_the_defaults(tmp_path: Path) -> None:
    (tmp_path / "ticket_assets.yaml").write_text("rows: 20\n")
    config = load_config(tmp_path / "ticket_assets.yaml")
    assert config.tables_path == DEFAULTS_DIR / "tables"
    assert config.prompts_path == DEFAULTS_DIR / "prompts"
    assert config.data_path == tmp_path / "data"


def test_a_folder_with_files_of_its_own_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    (tmp_path / "README.md").write_text("my notes\n")
    with pytest.raises(ProjectExistsError, match=r"README\.md exists"):
        init_project(tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["README.md"]
    report = init_project(tmp_path, force=True)
    assert report.kept == ["README.md"]
    assert (tmp_path / "README.md").read_text() == "my notes\n"


def test_an_unreadable_record_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    init_project(tmp_path / "p")
    (tmp_path / "p" / MANIFEST).write_text("{not json")
    assert main(["init", "--force", str(tmp_path / "p")]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: ") and "defaults.json: unreadable" in line
