"""Extending without code: prompt-defined nodes, sampled fields, styles and plug-in nodes,
added through files and config alone, in a copy of the project's prompts/ and tables/."""

from __future__ import annotations

import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest

from ticket_assets.config import ConfigError, ModelConfig, RunConfig, load_config
from ticket_assets.llm.client import LLMClient
from ticket_assets.llm.types import LLMRequest
from ticket_assets.nodes import NodeContext, build_pipeline, written_columns
from ticket_assets.orchestration.assets import EXPORT_ASSET
from ticket_assets.orchestration.definitions import build_definitions
from ticket_assets.orchestration.jobs import FULL_JOB
from ticket_assets.orchestration.partitions import full_range_tags, register_batches
from ticket_assets.plan import plan_frame
from ticket_assets.schema import SchemaViolation, ticket_schema, validate_or_raise
from ticket_assets.tables import TablesError
from ticket_assets.tables.loaded import tables_for

ROOT = Path(__file__).resolve().parent.parent

URGENCY = """\
description: How urgent the ticket is for the customer's business.
reads: [subject, body, priority, business_unit]
outputs:
  urgency:
    type: enum
    values: [Low, Medium, High, Critical]
    description: Critical only when the business stands still.
system: |
  You triage support tickets for the {{ business_unit }} unit. Rate the urgency.
user: |
  Priority: {{ priority }}
  Subject: {{ subject }}
  {{ body }}
"""
BUSINESS_UNITS = """\
business_unit,weight,queue
Retail,3,
Wealth Management,1,Billing and Payments;Sales and Pre-Sales;Customer Service
Corporate IT,2,Technical Support;IT Support;Service Outages and Maintenance;Product Support
"""
PIPELINE = ["topic", "email_draft", "tagging", "paraphrase", "translate", "first_response"]
FIELDS = {"business_unit": {"table": "business_units.csv", "given": "queue"}}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project's prompts/ and tables/, plus prompts/urgency.yaml and
    tables/business_units.csv (the repository's own folders stay untouched)."""
    for folder in ("prompts", "tables"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    (tmp_path / "prompts" / "urgency.yaml").write_text(URGENCY, encoding="utf-8")
    (tmp_path / "tables" / "business_units.csv").write_text(BUSINESS_UNITS, encoding="utf-8")
    return tmp_path


def _config(project: Path, rows: int = 16, **settings: Any) -> RunConfig:
    """The project's config file pointed at `project`: 2 languages x 1 batch of rows / 2,
    its pipeline built (resolved and checked) as the CLI does right after loading."""
    overrides = {
        "rows": rows,
        "batch_size": rows // 2,
        "languages": "DE,EN",
        "data_dir": str(project / "data"),
        "prompts_dir": str(project / "prompts"),
        "tables_dir": str(project / "tables"),
        **settings,
    }
    config = load_config(overrides=overrides)
    build_pipeline(config)
    return config


def _run_nodes(config: RunConfig, rows: int = 4, **providers: Any) -> pd.DataFrame:
    """The pipeline as plain Python over DE and EN, each node's output schema-checked."""
    tables = tables_for(config)
    ctx = NodeContext(config, tables, LLMClient(config, tables, local_providers=providers))
    frame = plan_frame(config, [("DE", "b0000"), ("EN", "b0000")], 1)
    frame = frame.groupby("language").head(rows).reset_index(drop=True)
    for name, node in build_pipeline(config).nodes.items():
        frame = node.run(frame, ctx)
        validate_or_raise(ticket_schema(config, tables, frame.columns), frame, name)
    return frame


def _materialize_all(config: RunConfig, instance: dg.DagsterInstance) -> dg.Definitions:
    defs = build_definitions(config)
    register_batches(instance, config)
    result = defs.resolve_job_def(FULL_JOB).execute_in_process(
        instance=instance, tags=full_range_tags(config), raise_on_error=False
    )
    assert result.success
    return defs


def test_a_prompt_file_and_a_table_add_a_node_and_a_field_through_config_alone(
    project: Path, instance: dg.DagsterInstance
) -> None:
    config = _config(
        project,
        pipeline=[*PIPELINE[:5], "urgency", "first_response"],
        fields=FIELDS,
        export={"formats": ["parquet", "csv", "jsonl", "wide"]},
    )
    defs = _materialize_all(config, instance)
    graph = defs.resolve_asset_graph()
    assert dg.AssetKey("urgency") in graph.get_all_asset_keys()
    assert graph.get(dg.AssetKey("urgency")).parent_keys == {dg.AssetKey("translate")}
    checks = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    assert ("urgency", "ticket_schema") in checks

    exports = config.exports_path
    tickets = pd.read_parquet(exports / "tickets.parquet")
    assert len(tickets) == 16
    assert set(tickets["urgency"]) <= {"Low", "Medium", "High", "Critical"}
    assert tickets["urgency"].nunique() > 1
    # Business units follow their queue restrictions.
    allowed = {
        "Wealth Management": {"Billing and Payments", "Sales and Pre-Sales", "Customer Service"},
        "Corporate IT": {
            "Technical Support",
            "IT Support",
            "Service Outages and Maintenance",
            "Product Support",
        },
    }
    for unit, queue in zip(tickets["business_unit"], tickets["queue"], strict=True):
        assert unit == "Retail" or queue in allowed[unit]
    assert tickets["business_unit"].nunique() > 1
    assert list(pd.read_csv(exports / "tickets.csv").columns) == list(tickets.columns)
    jsonl = pd.read_json(exports / "tickets.jsonl", lines=True)
    assert set(jsonl["urgency"]) == set(tickets["urgency"])
    wide = pd.read_csv(exports / "tickets_wide.csv")
    assert list(wide.columns[:8]) == [
        "subject",
        "body",
        "answer",
        "type",
        "queue",
        "priority",
        "language",
        "version",
    ]
    assert set(wide["language"]) == {"de", "en"}
    materialization = instance.get_latest_materialization_event(dg.AssetKey(EXPORT_ASSET))
    assert materialization is not None
    assert "jsonl_path" in materialization.asset_materialization.metadata  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "pipeline",
    [
        ["topic", "email_draft", "paraphrase", "tagging", "translate", "first_response"],
        ["topic", "email_draft", "tagging", "translate", "first_response"],
    ],
    ids=["tagging_after_paraphrase", "without_paraphrase"],
)
def test_reordered_and_dropped_pipelines_run(project: Path, pipeline: list[str]) -> None:
    config = _config(project, pipeline=pipeline)
    frame = _run_nodes(config)
    assert list(frame.columns) == written_columns(config)
    assert frame["tags"].map(len).between(4, 8).all()
    keys = build_definitions(config).resolve_asset_graph().get_all_asset_keys()
    assert {dg.AssetKey(name) for name in pipeline} <= keys


def test_prompt_defined_outputs_enum_list_integer_and_string(project: Path) -> None:
    (project / "prompts" / "triage.yaml").write_text(
        """\
reads: [subject, body, queue]
outputs:
  impact: {type: enum, values: {Minor: 1, Major: 3}}
  systems: {type: list, values: {table: tags.csv, column: tag}, min: 2, max: 3}
  users_affected: {type: integer, min: 1, max: 50}
  summary: {type: string, max_length: 200, examples: ["{{ queue }}: {{ subject }}"]}
system: Triage in {{ language_name }}.
user: "{{ subject }}"
""",
        encoding="utf-8",
    )
    config = _config(project, pipeline=[*PIPELINE[:5], "triage"])
    frame = _run_nodes(config)
    assert set(frame["impact"]) <= {"Minor", "Major"}
    assert frame["systems"].map(len).between(2, 3).all()
    assert frame["systems"].map(lambda items: len(set(items)) == len(items)).all()
    assert frame["users_affected"].between(1, 50).all()
    assert (frame["summary"] == frame["queue"] + ": " + frame["subject"]).all()
    assert frame["triage_prompt_version"].str.len().eq(12).all()
    again = _run_nodes(config)
    pd.testing.assert_frame_equal(frame, again)  # deterministic for a seed


class _Scripted:
    """A local provider answering from a script, recording the repair hints and requests."""

    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.repairs: list[str | None] = []
        self.requests: list[LLMRequest] = []

    def complete(self, request: LLMRequest, model: ModelConfig, repair: str | None) -> Any:
        self.repairs.append(repair)
        self.requests.append(request)
        content = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        fields = {"content": content, "input_tokens": 10, "output_tokens": 5, "cost_usd": 0.0}
        return type("Answer", (), fields)()


def test_a_model_answer_is_validated_into_the_declared_model_and_repaired(project: Path) -> None:
    config = _config(
        project,
        pipeline=[*PIPELINE[:5], "urgency"],
        fields=FIELDS,
        models={"urgency": {"model": "scripted/test", "max_repairs": 1}},
    )
    answers: list[Any] = [{"urgency": "Whenever"}, {"urgency": "High"}]
    provider = _Scripted(answers)
    frame = _run_nodes(config, rows=1, scripted=provider)
    assert list(frame["urgency"]) == ["High", "High"]
    assert "urgency: 'Whenever' is not in the vocabulary" in str(provider.repairs[1])
    schema = provider.requests[0].output_model.model_json_schema()
    assert schema["properties"]["urgency"]["enum"] == ["Low", "Medium", "High", "Critical"]
    # Still invalid after the repair: both tickets are quarantined, none is written.
    assert _run_nodes(config, rows=1, scripted=_Scripted([{"urgency": "Someday"}])).empty


def test_answer_models_travel_to_worker_processes(project: Path) -> None:
    """Remote calls may run in spawned workers: the request, with its answer model built at
    load time, is pickled there and the validated answer pickled back."""
    config = _config(project, pipeline=[*PIPELINE[:5], "urgency"], fields=FIELDS)
    tables = tables_for(config)
    ctx = NodeContext(config, tables, LLMClient(config, tables))
    frame = _run_nodes(config, rows=1).drop(columns=["urgency", "urgency_prompt_version"])
    node = build_pipeline(config).nodes["urgency"]
    [(_, request)] = node.requests(frame.head(1).to_dict("records"), ctx)
    script = (
        "import pickle, sys\n"
        "request = pickle.load(sys.stdin.buffer)\n"
        "answer = request.output_model.model_validate({'urgency': 'Critical'})\n"
        "sys.stdout.buffer.write(pickle.dumps(answer))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        input=pickle.dumps(request),
        capture_output=True,
        check=True,
        cwd=ROOT,
    )
    answer = pickle.loads(done.stdout)
    assert type(answer) is request.output_model and answer.urgency == "Critical"


def test_styles_are_sampled_per_ticket_and_the_offline_reply_follows_formality(
    project: Path,
) -> None:
    (project / "tables" / "styles.csv").write_text(
        "language,variant,formality,weight\n"
        "DE,de-DE,formal,1\nDE,de-AT,informal,1\nEN,en-GB,formal,1\nEN,en-US,informal,1\n",
        encoding="utf-8",
    )
    config = _config(
        project,
        fields={
            "variant": {"table": "styles.csv", "given": "language"},
            "formality": {"table": "styles.csv", "given": "language"},
        },
        styles={"first_response": ["formality", "variant"]},
    )
    frame = _run_nodes(config, rows=8)
    # Drawn together from one row: variant and formality always match.
    pairs = set(zip(frame["variant"], frame["formality"], strict=True))
    assert pairs == {
        ("de-DE", "formal"),
        ("de-AT", "informal"),
        ("en-GB", "formal"),
        ("en-US", "informal"),
    }
    german = frame[frame["language"] == "DE"]
    informal = german[german["formality"] == "informal"]["first_response"]
    formal = german[german["formality"] == "formal"]["first_response"]
    assert informal.str.contains(r"\b(?:du|dir|dich|dein\w*)\b").all()
    assert not informal.str.contains(r"\b(?:Sie|Ihnen|Ihr\w*)\b").any()
    assert formal.str.contains(r"\b(?:Sie|Ihnen|Ihr\w*)\b").all()
    # Only first_response gets the style; remote models read it in the user message.
    tables = tables_for(config)
    ctx = NodeContext(config, tables, LLMClient(config, tables))
    row = frame.iloc[:1].to_dict("records")
    [(_, request)] = build_pipeline(config).nodes["first_response"].requests(row, ctx)
    assert (
        f"Style: formality: {row[0]['formality']}; variant: {row[0]['variant']}."
        in (request.messages[1]["content"])
    )
    [(_, draft)] = build_pipeline(config).nodes["email_draft"].requests(row, ctx)
    assert draft.variables["style"] == {} and "Style:" not in draft.messages[1]["content"]


def test_a_plugin_node_follows_the_node_contract(
    project: Path, instance: dg.DagsterInstance
) -> None:
    entry = "ticket_assets_tests.plugin_nodes:BodyWordsNode"
    config = _config(
        project, pipeline=[*PIPELINE, entry], models={"body_words": {"temperature": 0}}
    )
    pipeline = build_pipeline(config)
    assert pipeline.names[-1] == "body_words" and pipeline.plugins == {"body_words": entry}
    assert config.pipeline[-1] == entry  # the config keeps the entry as written
    frame = _run_nodes(config)
    assert (frame["body_words"] > 10).all()
    keys = build_definitions(config).resolve_asset_graph().get_all_asset_keys()
    assert dg.AssetKey("body_words") in keys
    bad = frame.assign(body_words=0)
    with pytest.raises(SchemaViolation, match="body_words in_range"):
        validate_or_raise(ticket_schema(config, tables_for(config), bad.columns), bad, "x")


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            {"pipeline": ["topic", "urgency", *PIPELINE[1:]], "fields": FIELDS},
            "node 'urgency' reads subject, body, which no earlier node writes; "
            "move it after email_draft",
        ),
        (
            {"pipeline": [*PIPELINE, "urgency"]},
            "node 'urgency' reads business_unit, which no node writes and no field",
        ),
        (
            {"pipeline": ["topic", "email_draft", "translate", "first_response"]},
            None,  # runs: dropping tagging and paraphrase is fine
        ),
        (
            {"pipeline": [*PIPELINE, "looped"], "fields": FIELDS},
            "node 'looped' reads verdict, which only it writes (a cycle)",
        ),
        (
            {"pipeline": ["topic", "email_draft", "urgency", "translate"], "fields": FIELDS},
            None,
        ),
        ({"pipeline": [*PIPELINE, "nosuch"]}, "unknown node 'nosuch'; allowed: topic"),
        ({"pipeline": [*PIPELINE, "urgency", "urgency"], "fields": FIELDS}, "appears twice"),
        (
            {"fields": {"business_unit": {"table": "business_units.csv", "given": "subject"}}},
            "fields.business_unit.given: a field cannot depend on 'subject'",
        ),
        ({"fields": {"queue": {"table": "queues.csv"}}}, "fields: 'queue' is already a column"),
        ({"fields": {"x": {"table": "/etc/x.csv"}}}, "must be a .csv file inside tables_dir"),
        ({"fields": {"unit": {"table": "units.csv"}}}, "fields.unit.table: "),
        ({"pipeline": [*PIPELINE, "from_missing"]}, "the values of 'kind' come from"),
        ({"styles": {"tagging2": ["tone"]}}, "styles: 'tagging2' is not a node of the pipeline"),
        ({"styles": {"first_response": ["subject"]}}, "'subject' is not a sampled column"),
        ({"pipeline": [*PIPELINE, "no_examples"]}, "string output 'note' has no examples"),
        ({"pipeline": [*PIPELINE, "bad_type"]}, "outputs.score: needs a type; allowed: string"),
        ({"pipeline": [*PIPELINE, "unread"]}, "the templates use queue, which reads does not list"),
        (
            {"pipeline": [*PIPELINE, "ticket_assets_tests.plugin_nodes:NoRunNode"]},
            "the class lacks run(frame, ctx)",
        ),
        (
            {"pipeline": [*PIPELINE, "ticket_assets_tests.plugin_nodes:Missing"]},
            "module 'ticket_assets_tests.plugin_nodes' has no class 'Missing'",
        ),
        (
            {"pipeline": [*PIPELINE, "no_such_package.nodes:X"]},
            "cannot import 'no_such_package.nodes'",
        ),
        ({"models": {"urgnecy": {"model": "offline"}}}, "unknown key 'urgnecy'; allowed: default"),
        ({"export": {"formats": ["csv"]}}, "export.formats: must include parquet"),
        ({"export": {"splits": {"train": 0.8, "test": 0.1}}}, "shares must add up to 1, got 0.9"),
    ],
)
def test_extension_config_errors_are_one_clear_line(
    project: Path, settings: dict[str, Any], expected: str | None
) -> None:
    prompts = project / "prompts"
    (prompts / "looped.yaml").write_text(
        "reads: [subject, verdict]\noutputs: {verdict: {type: enum, values: [ok, bad]}}\n"
        "system: x\nuser: '{{ subject }} {{ verdict }}'\n",
        encoding="utf-8",
    )
    (prompts / "no_examples.yaml").write_text(
        "reads: [subject]\noutputs: {note: {type: string}}\nsystem: x\nuser: '{{ subject }}'\n",
        encoding="utf-8",
    )
    (prompts / "bad_type.yaml").write_text(
        "reads: [subject]\noutputs: {score: {values: [1]}}\nsystem: x\nuser: x\n",
        encoding="utf-8",
    )
    (prompts / "from_missing.yaml").write_text(
        "reads: [subject]\noutputs: {kind: {type: enum, values: {table: kinds.csv}}}\n"
        "system: x\nuser: '{{ subject }}'\n",
        encoding="utf-8",
    )
    (prompts / "unread.yaml").write_text(
        "reads: [subject]\noutputs: {x: {type: integer, min: 0, max: 1}}\n"
        "system: x\nuser: '{{ queue }}'\n",
        encoding="utf-8",
    )
    if expected is None:
        _config(project, **settings)
        return
    with pytest.raises(ConfigError) as caught:
        _config(project, **settings)
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        (
            "business_unit,weight,queue\nRetail,1,Technical Support\n",
            "business_units.csv: no row with a positive weight applies to queue 'Product Support'",
        ),
        (
            "business_unit,weight,queue\nRetail,1,\nIT,1,Tech Support\n",
            "line 3, column queue: 'Tech Support' is not a queue; allowed: Technical Support",
        ),
        ("business_unit,queue\nRetail,\n", "missing column 'weight'"),
    ],
)
def test_field_table_problems_name_file_line_and_column(
    project: Path, table: str, expected: str
) -> None:
    (project / "tables" / "business_units.csv").write_text(table, encoding="utf-8")
    config = _config(project, fields=FIELDS)
    with pytest.raises(TablesError, match=re.escape(expected)):
        _run_nodes(config, rows=1)
