"""Quality checks as plain Python: a clean offline dataset passes every check; each planted
defect fails the right check and names the right rows."""

from __future__ import annotations

import random
from collections import Counter

import pandas as pd
import pytest

import ticket_assets.quality.report as report_module
from ticket_assets.config import (
    BalanceConfig,
    ConfigError,
    LabelBalanceQualityConfig,
    QualityConfig,
    RunConfig,
    build_config,
)
from ticket_assets.core.progress import Stages
from ticket_assets.llm.client import LLMClient, validate_answer
from ticket_assets.llm.types import LLMRequest
from ticket_assets.nodes import NODES, NodeContext
from ticket_assets.nodes.outputs import EmailAnswer
from ticket_assets.plan import batch_key, plan_frame
from ticket_assets.quality import CHECKS, QualityInputs, assess, check_order
from ticket_assets.quality.balance import check_label_balance, expected_shares
from ticket_assets.quality.duplicates import check_duplicates, find_clusters
from ticket_assets.quality.fidelity import check_fidelity, rewritten_pairs
from ticket_assets.quality.language import check_language
from ticket_assets.quality.leaks import check_leaks, find_leaks
from ticket_assets.tables.loaded import tables_for

QUALITY = QualityConfig()


@pytest.fixture(scope="module")
def config() -> RunConfig:
    return build_config({"rows": 60, "batch_size": 10, "languages": ["DE", "EN", "ES"]})


@pytest.fixture(scope="module")
def stages(config: RunConfig) -> dict[str, pd.DataFrame]:
    """Each node's output for 3 languages x 2 batches of 10 tickets, offline."""
    tables = tables_for(config)
    ctx = NodeContext(config, tables, LLMClient(config, tables))
    partitions = [(language, batch_key(b)) for language in config.languages for b in range(2)]
    frame = plan_frame(config, partitions, dataset_code=1)
    outputs = {}
    for name in config.pipeline:
        frame = NODES[name].run(frame, ctx)
        outputs[name] = frame
    return outputs


@pytest.fixture
def tickets(stages: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return stages["first_response"].sort_values("ticket_id").reset_index(drop=True).copy()


def _inputs(config: RunConfig, stages: dict[str, pd.DataFrame]) -> QualityInputs:
    return QualityInputs(
        expected_shares(config, tables_for(config)),
        {
            "paraphrase": rewritten_pairs(
                stages["tagging"], stages["paraphrase"], "paraphrase_prompt_version"
            ),
            "translate": rewritten_pairs(
                stages["paraphrase"], stages["translate"], "translate_prompt_version"
            ),
        },
    )


def _row(frame: pd.DataFrame, language: str, number: int = 0) -> int:
    return int(frame.index[frame["language"] == language][number])


def test_the_offline_dataset_passes_every_check(
    config: RunConfig, stages: dict[str, pd.DataFrame], tickets: pd.DataFrame
) -> None:
    exported, report = assess(tickets, QUALITY, _inputs(config, stages))
    assert report.passed, report.markdown()
    assert [check.name for check in report.checks] == [
        "language",
        "duplicates",
        "label_balance",
        "paraphrase_fidelity",
        "translate_fidelity",
        "leaks",
        "label_leakage",
        "diversity",
        "learnability",
    ]
    assert report.check("language").figures["mismatched_rows"] == 0
    assert report.check("duplicates").figures["near_duplicates"] == 0
    assert report.check("paraphrase_fidelity").figures["rows"] == 60
    assert report.check("translate_fidelity").figures["rows"] == 40  # DE and ES only
    assert len(exported) == len(tickets) and not any(report.dropped.values())
    assert [check.title for check in report.checks][:2] == ["Language", "Duplicates"]
    assert set(report.dropped) == {"language", "duplicates"}


def test_one_registry_of_checks() -> None:
    """CHECKS lists every check once, each reading its own quality.<section> settings."""
    names = [check.name for check in CHECKS]
    assert len(set(names)) == len(names)
    assert all(check.section in QualityConfig.model_fields for check in CHECKS)
    assert {check.node for check in CHECKS if check.node} == {"paraphrase", "translate"}
    assert {check.name for check in CHECKS if check.drops} == {"language", "duplicates"}


def test_an_english_body_labelled_de_fails_the_language_check(tickets: pd.DataFrame) -> None:
    german, english = _row(tickets, "DE", 3), _row(tickets, "EN")
    tickets.loc[german, "body"] = tickets.loc[english, "body"]
    result = check_language(tickets, QUALITY.language)
    assert not result.passed  # 1 of 60 rows is 1.7 %, over the 1 % maximum
    assert result.flagged == (tickets.loc[german, "ticket_id"],)
    sample = result.samples.iloc[0]
    assert (sample["field"], sample["detected"], sample["language"]) == ("body", "EN", "DE")


def test_an_english_subject_alone_is_caught(tickets: pd.DataFrame) -> None:
    spanish = _row(tickets, "ES", 5)
    tickets.loc[spanish, "subject"] = "Cannot log in after the password reset"
    result = check_language(tickets, QUALITY.language)
    assert result.flagged == (tickets.loc[spanish, "ticket_id"],)
    assert result.figures["subject_mismatched"] == 1 and result.figures["body_mismatched"] == 0


@pytest.mark.parametrize("action", ["drop", "regenerate"])
def test_mismatched_rows_are_left_out_of_the_export_never_kept(
    config: RunConfig, stages: dict[str, pd.DataFrame], tickets: pd.DataFrame, action: str
) -> None:
    german, english = _row(tickets, "DE"), _row(tickets, "EN")
    tickets.loc[german, "first_response"] = tickets.loc[english, "first_response"]
    quality = QUALITY.model_copy(
        update={"language": QUALITY.language.model_copy(update={"action": action})}
    )
    exported, report = assess(tickets, quality, _inputs(config, stages))
    assert tickets.loc[german, "ticket_id"] not in set(exported["ticket_id"])
    assert len(exported) == len(tickets) - 1
    assert report.dropped["language"] == 1
    assert not report.check("language").passed  # the measured rate still fails the check
    assert "1 by language" in report.dropped_line()


def test_the_default_action_keeps_and_reports_mismatched_rows(
    config: RunConfig, stages: dict[str, pd.DataFrame], tickets: pd.DataFrame
) -> None:
    german, english = _row(tickets, "DE"), _row(tickets, "EN")
    tickets.loc[german, "body"] = tickets.loc[english, "body"]
    exported, report = assess(tickets, QUALITY, _inputs(config, stages))
    assert len(exported) == len(tickets)
    assert report.failed == ["language"]


def test_the_language_check_in_a_worker_process_reports_the_same(
    config: RunConfig,
    stages: dict[str, pd.DataFrame],
    tickets: pd.DataFrame,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Run beside the others (as from WORKER_MIN_ROWS on), the language check finds the
    same rows, comes last in the stages, and the report keeps the registry's order."""
    german, english = _row(tickets, "DE"), _row(tickets, "EN")
    tickets.loc[german, "body"] = tickets.loc[english, "body"]
    _, in_process = assess(tickets, QUALITY, _inputs(config, stages))
    monkeypatch.setattr(report_module, "WORKER_MIN_ROWS", 1)
    started: list[str] = []
    monkeypatch.setattr(Stages, "start", lambda self, name: started.append(name))
    _, beside = assess(tickets, QUALITY, _inputs(config, stages), Stages("checks", (), None))
    assert beside.to_dict() == in_process.to_dict()
    assert beside.check("language").flagged == (tickets.loc[german, "ticket_id"],)
    assert started == [check.title for check in check_order(QUALITY, len(tickets))]
    assert started[-1] == "Language"
    # A language check that leaves rows out runs first, in this process: duplicates after it
    # must know what it drops.
    dropping = QUALITY.model_copy(
        update={"language": QUALITY.language.model_copy(update={"action": "drop"})}
    )
    assert check_order(dropping, len(tickets))[0].name == "language"


def test_duplicates_across_batches_fail_with_their_cluster(tickets: pd.DataFrame) -> None:
    first = _row(tickets, "EN", 0)  # batch b0000
    copy = _row(tickets, "EN", 15)  # batch b0001
    near = _row(tickets, "EN", 16)
    assert tickets.loc[first, "batch"] != tickets.loc[copy, "batch"]
    tickets.loc[copy, ["subject", "body"]] = tickets.loc[first, ["subject", "body"]].to_numpy()
    # The same e-mail with another signature and a changed number: a near duplicate.
    body = tickets.loc[first, "body"]
    signature = body.rsplit("\n", 1)[-1]
    tickets.loc[near, "subject"] = tickets.loc[first, "subject"]
    tickets.loc[near, "body"] = body.replace(signature, "Jane Roe") + " 42"

    clusters = find_clusters(tickets, QUALITY.duplicates.near_threshold)
    result = check_duplicates(tickets, QUALITY.duplicates, clusters)
    assert not result.passed
    assert result.figures["exact_duplicates"] == 1
    assert result.figures["near_duplicates"] == 2
    ids = tickets["ticket_id"]
    assert [sorted(ids.iloc[list(c.positions)]) for c in clusters] == [
        sorted(ids.iloc[[first, copy, near]])
    ]
    assert set(result.flagged) == {ids.iloc[copy], ids.iloc[near]}  # the first one is kept
    assert result.samples.iloc[0]["batches"] == "b0000, b0001"


def test_duplicate_drop_keeps_the_first_of_each_cluster(
    config: RunConfig, stages: dict[str, pd.DataFrame], tickets: pd.DataFrame
) -> None:
    first, copy = _row(tickets, "DE", 1), _row(tickets, "DE", 12)
    tickets.loc[copy, ["subject", "body"]] = tickets.loc[first, ["subject", "body"]].to_numpy()
    quality = QUALITY.model_copy(
        update={"duplicates": QUALITY.duplicates.model_copy(update={"action": "drop"})}
    )
    exported, report = assess(tickets, quality, _inputs(config, stages))
    assert tickets.loc[first, "ticket_id"] in set(exported["ticket_id"])
    assert tickets.loc[copy, "ticket_id"] not in set(exported["ticket_id"])
    assert report.dropped == {"language": 0, "duplicates": 1}


@pytest.mark.parametrize(
    ("planted", "kind"),
    [
        ("Best regards,\n[Your Name]", "placeholder"),
        ("Your order {order_number} has shipped.", "placeholder"),
        ("Dear <customer_name>,", "placeholder"),
        ('{"subject": "Printer offline", "body": "..."}', "json"),
        ("```\nHello\n```", "markdown_fence"),
        ("Write to max.mustermann@gmail.com for details.", "email"),
        ("Call me on +49 30 12345678 today.", "phone"),
        ("Mi número es 0612 345 678.", "phone"),
    ],
)
def test_a_leak_fails_the_leak_check_naming_the_row(
    tickets: pd.DataFrame, planted: str, kind: str
) -> None:
    row = _row(tickets, "ES", 2)
    tickets.loc[row, "body"] = f"{tickets.loc[row, 'body']}\n\n{planted}"
    result = check_leaks(tickets, QUALITY.leaks)
    assert not result.passed
    assert result.flagged == (tickets.loc[row, "ticket_id"],)
    assert (result.samples.iloc[0]["field"], result.samples.iloc[0]["kind"]) == ("body", kind)


def test_reserved_examples_and_business_numbers_are_not_leaks() -> None:
    text = (
        "Write to support@example.com or it@acme.test, call +1 212 555 0142 or 07700 900123. "
        "Order 123456789, invoice 2024-17464, customer 2937567, asset IT-01234, error "
        "0x8007045D, version 2.3.14, €1,234.56, 1.234,56 €, 24/7, 18:00-20:00."
    )
    assert find_leaks(text, QUALITY.leaks.allowed_email_domains) == []


def test_a_skewed_batch_fails_label_balance(
    config: RunConfig, stages: dict[str, pd.DataFrame], tickets: pd.DataFrame
) -> None:
    expected = _inputs(config, stages).expected
    assert check_label_balance(tickets, expected, QUALITY.label_balance).passed
    skewed = (tickets["language"] == "DE") & (tickets["batch"] == "b0001")
    tickets.loc[skewed, "type"] = "Change"
    result = check_label_balance(tickets, expected, QUALITY.label_balance)
    assert not result.passed
    samples = result.samples
    outside = set(zip(samples["column"], samples["scope"], samples["class"], strict=True))
    assert ("type", "DE", "Change") in outside
    assert {column for column, _, _ in outside} == {"type"}


def test_fidelity_flags_copies_lost_numbers_and_lost_products(
    stages: dict[str, pd.DataFrame],
) -> None:
    paraphrased = stages["paraphrase"].copy()
    source = stages["tagging"]
    copied, shortened = paraphrased.index[0], paraphrased.index[1]
    paraphrased.loc[copied, ["subject", "body"]] = source.loc[copied, ["subject", "body"]]
    paraphrased.loc[shortened, "body"] = "Bitte helfen."
    result = check_fidelity(
        rewritten_pairs(source, paraphrased, "paraphrase_prompt_version"),
        "paraphrase",
        QUALITY.fidelity,
    )
    assert not result.passed
    problems = dict(zip(result.samples["ticket_id"], result.samples["problems"], strict=True))
    assert set(problems) == {
        paraphrased.loc[copied, "ticket_id"],
        source.loc[shortened, "ticket_id"],
    }
    assert "barely reworded" in problems[paraphrased.loc[copied, "ticket_id"]]
    assert "length ratio" in problems[paraphrased.loc[shortened, "ticket_id"]]

    translated = stages["translate"].copy()
    row = translated.index[translated["translate_prompt_version"].notna()][0]
    product = translated.loc[row, "product"]
    for column in ("subject", "body"):
        translated.loc[row, column] = translated.loc[row, column].replace(product, "es")
    result = check_fidelity(
        rewritten_pairs(stages["paraphrase"], translated, "translate_prompt_version"),
        "translate",
        QUALITY.fidelity,
    )
    assert result.flagged == (translated.loc[row, "ticket_id"],)
    assert f"product name lost: {product}" in result.samples.iloc[0]["problems"]


def test_regenerate_re_asks_a_subject_in_the_wrong_language() -> None:
    german_body = (
        "Sehr geehrte Damen und Herren,\n\nseit dem letzten Update startet mein Laptop nicht "
        "mehr. Ich habe ihn bereits zweimal neu gestartet.\n\nMit freundlichen Grüßen\nAnna"
    )
    request = LLMRequest(
        node="translate",
        key="1000100000000",
        messages=(),
        variables={},
        output_model=EmailAnswer,
        prompt_version="v",
        validation_context={
            "expected_language": "DE",
            "regenerate_subjects": True,
            "product": "Lenovo ThinkPad T14",
        },
    )
    answer = {"subject": "Laptop does not start after the update", "body": german_body}
    error = validate_answer(request, answer, check_language=True)
    assert error == "subject: is written in English, expected German"
    fixed = {**answer, "subject": "Laptop startet nach dem Update nicht mehr"}
    assert isinstance(validate_answer(request, fixed, check_language=True), EmailAnswer)


def test_balance_raises_rare_classes_to_the_target_share(config: RunConfig) -> None:
    tables = tables_for(config)
    assert min(tables.label_shares()["queue"].values()) < 0.03
    balanced = tables.balanced(0.08, ["queue", "business_type"])
    shares = balanced.label_shares()
    assert min(shares["queue"].values()) == pytest.approx(0.08, abs=1e-4)
    assert min(shares["business_type"].values()) == pytest.approx(0.08, abs=1e-4)
    assert shares["type"] == tables.label_shares()["type"]  # not asked for
    rng = random.Random(7)
    drawn = Counter(balanced.sample_ticket(rng, "EN")["queue"] for _ in range(4000))
    assert drawn["General Inquiry"] / 4000 == pytest.approx(0.08, abs=0.015)
    # More classes than 1 / target_share: as even as possible.
    even = tables.balanced(0.5, ["queue"]).label_shares()["queue"]
    assert list(even.values()) == pytest.approx([0.1] * 10, abs=1e-4)


def test_balance_shapes_the_topic_node_deterministically() -> None:
    config = build_config(
        {"rows": 400, "batch_size": 50, "languages": ["EN"], "balance": {"target_share": 0.08}}
    )
    tables = tables_for(config)
    frame = plan_frame(config, [("EN", batch_key(b)) for b in range(8)], dataset_code=1)
    first = NODES["topic"].prepare(frame, NodeContext(config, tables, LLMClient(config, tables)))
    again = NODES["topic"].prepare(frame, NodeContext(config, tables, LLMClient(config, tables)))
    pd.testing.assert_frame_equal(first, again)
    expected = expected_shares(config, tables)
    assert expected["queue"]["General Inquiry"] == pytest.approx(0.08, abs=1e-4)
    # Within sampling noise of the balanced shares, clearly off the unbalanced ones.
    noise_only = LabelBalanceQualityConfig(tolerance=0.0)
    assert check_label_balance(first, expected, noise_only).passed
    unbalanced = expected_shares(config.model_copy(update={"balance": BalanceConfig()}), tables)
    assert not check_label_balance(first, unbalanced, noise_only).passed


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"quality": {"language": {"action": "ignore"}}}, "quality.language.action"),
        ({"quality": {"duplicates": {"near_threshold": 0}}}, "quality.duplicates.near_threshold"),
        ({"quality": {"fidelity": {"length_ratio": [2, 1]}}}, "0 <= low < high"),
        ({"quality": {"leak": {}}}, "unknown key 'leak'; allowed: language, duplicates"),
        ({"balance": {"target_share": 1.5}}, "balance.target_share"),
        ({"balance": {"columns": ["tags"]}}, "balance.columns.0"),
    ],
)
def test_bad_quality_config_is_one_line(raw: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build_config(raw, source="ticket_assets.yaml")
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)
