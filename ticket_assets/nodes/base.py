"""The node contract: a node reads some ticket columns and writes others, frame in, frame out.

Most nodes ask an LLM one question per ticket: `PromptNode` renders the node's prompt from
`prompts/<node>.yaml` for each row, sends the batch through the LLM facade and turns the
validated answers into columns. Nodes know nothing about Dagster.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

import jinja2
import pandas as pd
import yaml
from pydantic import BaseModel

from ticket_assets.config import SUPPORTED_LANGUAGES, ConfigError
from ticket_assets.llm.offline import Responder
from ticket_assets.llm.types import LLMRequest, Rejection
from ticket_assets.tables.spec import Output

if TYPE_CHECKING:
    from ticket_assets.nodes.context import NodeContext

# Columns every frame carries from the start: the partition plan makes them.
PLAN_COLUMNS = ("ticket_id", "language", "batch")

_JINJA = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False)


@dataclass(frozen=True)
class Prompt:
    """A node's system and user templates; `version` is a hash of the file. `path` and
    `lines_before` (per role, the file's lines before the template's first) place errors."""

    node: str
    version: str
    system: jinja2.Template
    user: jinja2.Template
    path: str
    lines_before: Mapping[str, int]

    def render(self, variables: Mapping[str, Any]) -> tuple[dict[str, str], ...]:
        return tuple(
            {"role": role, "content": self._render(role, template, variables)}
            for role, template in (("system", self.system), ("user", self.user))
        )

    def _render(self, role: str, template: jinja2.Template, variables: Mapping[str, Any]) -> str:
        try:
            return template.render(variables)
        except jinja2.UndefinedError as error:
            line = self.lines_before[role] + (_template_line(error) or 1)
            usable = sorted(name for name in variables if not name.endswith("_prompt_version"))
            raise ConfigError(
                f"{self.path}: line {line}: {role}: {error.message}; this node's prompt can "
                f"use {', '.join(usable)}"
            ) from None


def _template_line(error: BaseException) -> int | None:
    """The template line an error was raised at (Jinja puts it in the traceback)."""
    line = None
    frame = error.__traceback__
    while frame is not None:
        if frame.tb_frame.f_code.co_filename == "<template>":
            line = frame.tb_lineno
        frame = frame.tb_next
    return line


def _lines_before_templates(text: str, keys: Sequence[str]) -> dict[str, int]:
    """Per key of the YAML mapping in `text`, the file's lines before its value's first line
    (a block scalar, `|` or `>`, starts on the line after its indicator)."""
    try:
        document = yaml.compose(text)
    except yaml.YAMLError:
        document = None
    values = (
        {key.value: value for key, value in document.value}
        if isinstance(document, yaml.MappingNode)
        else {}
    )
    return {
        key: values[key].start_mark.line + (values[key].style in ("|", ">")) if key in values else 0
        for key in keys
    }


def load_prompt(prompts_dir: Path, node: str) -> Prompt:
    """Read `prompts/<node>.yaml` now (so edits apply to the next run) and compile it once."""
    path = prompts_dir / f"{node}.yaml"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        raise ConfigError(f"{path}: prompt file missing for node {node!r}") from None
    return _compile_prompt(str(path), node, text)


@cache
def _compile_prompt(path: str, node: str, text: str) -> Prompt:
    try:
        spec = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(spec, dict) or not {"system", "user"} <= set(spec):
        raise ConfigError(f"{path}: needs keys 'system' and 'user' (Jinja templates)")
    lines_before = _lines_before_templates(text, ("system", "user"))
    templates = {}
    for role in ("system", "user"):
        try:
            templates[role] = _JINJA.from_string(spec[role])
        except jinja2.TemplateSyntaxError as error:
            line = lines_before[role] + (error.lineno or 1)
            raise ConfigError(f"{path}: line {line}: {role}: {error.message}") from None
    version = hashlib.sha256(text.encode()).hexdigest()[:12]
    return Prompt(node, version, templates["system"], templates["user"], path, lines_before)


def language_name(code: str) -> str:
    return SUPPORTED_LANGUAGES[code]


class Node:
    """A step of the pipeline: `run` returns the frame with the `writes` columns added (or
    rewritten), using only the `reads` columns. `outputs` types the written columns (pandera
    rules, export columns); a written column without one only has to be present.

    Built-in nodes, prompt-defined nodes (nodes/declared.py) and plug-in nodes (a
    `module:Class` entry in `pipeline`, see docs/extending.md) all follow this contract."""

    name: str
    description: str
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    outputs: Mapping[str, Output] = MappingProxyType({})

    def run(self, frame: pd.DataFrame, ctx: NodeContext) -> pd.DataFrame:
        raise NotImplementedError


class PromptNode(Node):
    """One LLM question per ticket; the fields of `output_model` become columns. A ticket
    whose answer stayed invalid after its repairs is left out of the result (the LLM client
    records it as quarantined)."""

    output_model: ClassVar[type[BaseModel]]
    # How the offline provider answers the node (e.g. `OfflineProvider.topic`); a node without
    # one runs offline only if its answer model carries a declaration (prompt-defined nodes).
    offline_answer: ClassVar[Responder | None] = None

    def answer_model(self, ctx: NodeContext) -> type[BaseModel]:
        """The pydantic model every answer is validated into; its fields become columns."""
        return self.output_model

    def extra_variables(self, row: Mapping[str, Any], ctx: NodeContext) -> dict[str, Any]:
        """Values the prompt needs beyond the row's own columns."""
        return {}

    def needs_call(self, row: Mapping[str, Any], ctx: NodeContext) -> bool:
        return True

    def validation_context(self, ctx: NodeContext) -> dict[str, Any]:
        return {}

    def expected_language(self, row: Mapping[str, Any], ctx: NodeContext) -> str | None:
        """The language the answer's text must be in, if the node writes text."""
        return None

    def requests(
        self, records: Sequence[Mapping[str, Any]], ctx: NodeContext
    ) -> list[tuple[int, LLMRequest]]:
        """(row position, request) for every row that needs a call."""
        prompt = ctx.prompt(self.name)
        output_model = self.answer_model(ctx)
        shared_validation = self.validation_context(ctx)
        style_fields = ctx.config.styles.get(self.name, ())
        requests = []
        for position, row in enumerate(records):
            if not self.needs_call(row, ctx):
                continue
            # `style`: the ticket's values of the style fields configured for this node.
            style = {column: row[column] for column in style_fields}
            variables = {**row, "style": style, **self.extra_variables(row, ctx)}
            validation = {
                **shared_validation,
                "expected_language": self.expected_language(row, ctx),
            }
            if ctx.config.quality.language.action == "regenerate":
                # Subjects in another language are re-asked too; the product name is ignored.
                validation.update(regenerate_subjects=True, product=row.get("product"))
            request = LLMRequest(
                node=self.name,
                key=row["ticket_id"],
                messages=prompt.render(variables),
                variables=variables,
                output_model=output_model,
                prompt_version=prompt.version,
                validation_context=validation,
                offline_answer=self.offline_answer,
            )
            requests.append((position, request))
        return requests

    @property
    def version_column(self) -> str:
        return f"{self.name}_prompt_version"

    def prepare(self, frame: pd.DataFrame, ctx: NodeContext) -> pd.DataFrame:
        """Columns the node adds without the LLM, before its prompts are rendered."""
        return frame

    def run(self, frame: pd.DataFrame, ctx: NodeContext) -> pd.DataFrame:
        frame = self.prepare(frame, ctx)
        records = frame.to_dict("records")
        planned = self.requests(records, ctx)
        answers = ctx.llm.complete(self.name, [request for _, request in planned])
        # Rows that needed no call keep their values (e.g. translate into the same language).
        answer_columns = list(self.answer_model(ctx).model_fields)
        written = [{c: row.get(c) for c in answer_columns} for row in records]
        versions: list[str | None] = [None] * len(records)
        keep = [True] * len(records)
        for (position, request), answer in zip(planned, answers, strict=True):
            if isinstance(answer, Rejection):
                keep[position] = False
                continue
            written[position] = answer.model_dump()
            versions[position] = request.prompt_version
        result = frame.copy()
        for column in answer_columns:
            result[column] = [values[column] for values in written]
        # Which prompt produced each row's answer (None where no call was needed).
        result[self.version_column] = versions
        return result[keep].reset_index(drop=True) if not all(keep) else result
