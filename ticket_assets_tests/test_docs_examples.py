"""Every example in docs/extending.md runs: its sections are applied in order to a copy of
the project's prompts/ and tables/ (blocks marked `file=` or `append=`, config blocks merged),
then the pipeline runs offline on a few tickets and the export holds every declared column."""

from __future__ import annotations

import importlib
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from ticket_assets.config import DEFAULT_CONFIG_PATH, RunConfig, build_config
from ticket_assets.export import EXPORT_COLUMNS, write_exports
from ticket_assets.llm.client import LLMClient
from ticket_assets.nodes import NodeContext, build_pipeline, exported_columns
from ticket_assets.plan import plan_frame
from ticket_assets.schema import ticket_schema, validate_or_raise
from ticket_assets.tables.loaded import tables_for
from ticket_assets_tests.fake_llm_server import FakeLLMState, fake_llm_server

ROOT = Path(__file__).resolve().parent.parent

DOC = ROOT / "docs" / "extending.md"
CONFIG_FILE = "ticket_assets.yaml"
# The provider example's address, served by the fake OpenAI-compatible server in the test.
EXAMPLE_API_BASE = "http://127.0.0.1:8000/v1"
_FENCE = re.compile(r"^```(\w+)(?: (file|append)=(\S+))?\s*$")


@dataclass
class Block:
    action: str  # file or append
    path: str
    text: str


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)


def doc_sections() -> list[Section]:
    """The sections of the page that have runnable blocks, in order."""
    sections: list[Section] = []
    lines = iter(DOC.read_text(encoding="utf-8").splitlines())
    for line in lines:
        if line.startswith("## "):
            sections.append(Section(line[3:].strip()))
        fence = _FENCE.match(line)
        if fence is None:
            continue
        body = "\n".join(_until_fence(lines)) + "\n"
        if fence.group(2) and sections:
            sections[-1].blocks.append(Block(fence.group(2), fence.group(3), body))
    return [section for section in sections if section.blocks]


def _until_fence(lines: Iterator[str]) -> Iterator[str]:
    for line in lines:
        if line.startswith("```"):
            return
        yield line


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


SECTIONS = doc_sections()


def test_the_page_has_an_example_for_every_how_to() -> None:
    titles = [section.title for section in SECTIONS]
    for topic in ("field", "node with a prompt", "style", "plug-in", "provider", "language"):
        assert any(topic in title.lower() for title in titles), topic


@pytest.mark.parametrize("upto", range(len(SECTIONS)), ids=[s.title for s in SECTIONS])
def test_doc_examples_run(upto: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for folder in ("prompts", "tables"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    code = tmp_path / "code"
    monkeypatch.syspath_prepend(str(code))
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    with fake_llm_server(FakeLLMState()) as (url, state):
        state.fixed_answers["UrgencyAnswer"] = {"urgency": "High"}
        for section in SECTIONS[: upto + 1]:
            for block in section.blocks:
                if block.path == CONFIG_FILE:
                    snippet = yaml.safe_load(block.text.replace(EXAMPLE_API_BASE, url))
                    raw = _merge(raw, snippet)
                    continue
                root = tmp_path if block.path.split("/")[0] in ("prompts", "tables") else code
                target = root / block.path
                target.parent.mkdir(parents=True, exist_ok=True)
                with target.open("a" if block.action == "append" else "w", encoding="utf-8") as out:
                    out.write(block.text)
        # Modules written after their folder joined sys.path: else an import that looked
        # there before the folder existed hides them (which test runs first decides).
        importlib.invalidate_caches()
        config = build_config(
            {
                **raw,
                "prompts_dir": str(tmp_path / "prompts"),
                "tables_dir": str(tmp_path / "tables"),
                "data_dir": str(tmp_path / "data"),
            },
            overrides={"rows": 12, "batch_size": 4, "languages": "DE,EN,ES"},
        )
        frame = _run(config)
        # The provider example: its node really asked the server.
        if build_pipeline(config).remote_nodes:
            assert state.calls > 0
    exports = write_exports(
        frame,
        config.exports_path,
        config.export,
        seed=config.seed,
        extra_columns=[*exported_columns(config), "batch"],
    )
    exported = pd.read_parquet(exports.parquet)
    assert set(exported_columns(config)) <= set(exported.columns)
    assert exported[list(EXPORT_COLUMNS)].notna().all().all()
    assert len(exported) == 12


def _run(config: RunConfig) -> pd.DataFrame:
    tables = tables_for(config)
    ctx = NodeContext(config, tables, LLMClient(config, tables))
    partitions = [(language, "b0000") for language in config.languages]
    frame = plan_frame(config, partitions, 1)
    for name, node in build_pipeline(config).nodes.items():
        frame = node.run(frame, ctx)
        validate_or_raise(ticket_schema(config, tables, frame.columns), frame, name)
    return frame
