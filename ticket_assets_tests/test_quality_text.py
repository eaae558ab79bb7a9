"""The text checks (label leakage, diversity, learnability) as plain Python: green on varied
text whose labels the text does not give away; red on a planted leak, on templated text and
on labels written into the text. The tickets are built here from seeded word pools."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import pytest

from ticket_assets.config import (
    DiversityQualityConfig,
    LabelLeakageQualityConfig,
    LearnabilityQualityConfig,
    QualityConfig,
    load_config,
)
from ticket_assets.quality import CHECKS, CheckResult, QualityInputs, QualityReport
from ticket_assets.quality.card import dataset_card
from ticket_assets.quality.diversity import (
    check_diversity,
    closing,
    common_sentence_share,
    diversity_table,
)
from ticket_assets.quality.label_leakage import check_label_leakage
from ticket_assets.quality.learnability import check_learnability
from ticket_assets.quality.plots import PLOT_FILES, write_plots
from ticket_assets.quality.registry import CheckData

QUALITY = QualityConfig()
SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "ta", "vo", "shi", "ple", "dra", "gen", "tor")
SYLLABLES += ("bel", "fin", "qua", "ser", "lim", "pod", "zek", "wan", "os", "ur")
WORDS = sorted({a + b + c for a in SYLLABLES for b in SYLLABLES for c in SYLLABLES})
NAMES = [word.capitalize() for word in WORDS[::37]]
GREETINGS = ("Hello", "Hi", "Dear", "Good morning", "Greetings", "Hey")
SIGN_OFFS = ("Regards", "Thanks", "Best", "Cheers", "Sincerely", "Warmly", "Kind regards")
TAGS = [f"Tag {word}" for word in WORDS[5:35]]
TYPES = {"Incident": 4, "Request": 3, "Problem": 2, "Change": 1}
PRIORITIES = ("Low", "Medium", "High")
QUEUES = ("Technical Support", "Billing and Payments", "Customer Service", "General Inquiry")
LEAK_SENTENCE = "Please escalate this before the end of the day."
TYPE_SENTENCES = {  # (c): a sentence per type, on every ticket
    "Incident": ("It stopped working this morning.", "Nothing works since the outage."),
    "Request": ("Could you send me the form?", "I would like to order a licence."),
    "Problem": ("The error keeps coming back.", "It fails again every few days."),
    "Change": ("Please move our plan to the next tier.", "We want to change the setup."),
}


def _sentence(rng: random.Random) -> str:
    return " ".join(rng.choices(WORDS, k=rng.randint(4, 14))).capitalize() + "."


def _varied(rows: int = 600, languages: tuple[str, ...] = ("DE", "EN"), seed: int = 1):
    """Tickets of random words: every text differs, lengths vary, labels are independent
    of the text. Half of them carry one shared sentence (common to all labels: no leak)."""
    rng = random.Random(seed)
    records = []
    for number in range(rows):
        sentences = [_sentence(rng) for _ in range(rng.choice((1, 2, 3, 5, 8, 12, 16)))]
        if rng.random() < 0.5:
            sentences.insert(rng.randint(0, len(sentences)), "Thanks for your help.")
        body = (
            f"{rng.choice(GREETINGS)} {rng.choice(WORDS)},\n\n"
            + " ".join(sentences)
            + f"\n\n{rng.choice(SIGN_OFFS)} from {rng.choice(WORDS)},\n"
            f"{rng.choice(NAMES)} {rng.choice(NAMES)}"
        )
        records.append(
            {
                "ticket_id": f"1001{number:09d}",
                "subject": " ".join(rng.choices(WORDS, k=rng.randint(3, 7))).capitalize(),
                "body": body,
                "language": languages[number % len(languages)],
                "type": rng.choices(list(TYPES), weights=list(TYPES.values()))[0],
                "queue": rng.choice(QUEUES),
                "priority": rng.choice(PRIORITIES),
                "tags": rng.sample(TAGS, rng.randint(4, 6)),
            }
        )
    return pd.DataFrame.from_records(records)


def _templated(rows: int = 600, language: str = "EN") -> pd.DataFrame:
    """(b): one skeleton, the same sentences, a few subjects, all bodies of one length."""
    rng = random.Random(2)
    frame = _varied(rows, (language,))
    products = ("Alpha", "Bravo", "Gamma", "Delta", "Omega")
    subjects = [f"Issue with {rng.choice(products)}" for _ in range(rows)]
    bodies = [
        f"Hello,\n\nWe use {product} in our company. It stopped working this morning. We "
        "restarted it twice. Please help us soon.\n\nKind regards,\n" + rng.choice(NAMES[:5])
        for product in (rng.choice(products) for _ in range(rows))
    ]
    return frame.assign(subject=subjects, body=bodies)


def _with_planted_leaks(frame: pd.DataFrame) -> pd.DataFrame:
    """(a): a sentence for 60 % of English High tickets, a tag for half of German Incidents."""
    rng = random.Random(3)
    frame = frame.copy()
    for row in frame.index:
        language, body = frame.at[row, "language"], frame.at[row, "body"]
        if language == "EN" and frame.at[row, "priority"] == "High" and rng.random() < 0.6:
            head, rest = body.split("\n\n", 1)
            frame.at[row, "body"] = f"{head}\n\n{LEAK_SENTENCE} {rest}"
        if language == "DE" and frame.at[row, "type"] == "Incident" and rng.random() < 0.5:
            frame.at[row, "tags"] = [*frame.at[row, "tags"], "Critical"]
    return frame


def _learnable(frame: pd.DataFrame) -> pd.DataFrame:
    """(c): every ticket says its type in one of two sentences reserved for it."""
    rng = random.Random(4)
    bodies = [
        body.replace("\n\n", f"\n\n{rng.choice(TYPE_SENTENCES[kind])} ", 1)
        for body, kind in zip(frame["body"], frame["type"], strict=True)
    ]
    return frame.assign(body=bodies)


@pytest.fixture(scope="module")
def varied() -> pd.DataFrame:
    return _varied()


# Label leakage


def test_varied_text_leaks_no_label(varied: pd.DataFrame) -> None:
    result = check_label_leakage(varied, QUALITY.label_leakage)
    assert result.passed, result.summary
    assert result.samples.empty and result.figures["leaks"] == 0
    # Change is 1 in 10 tickets: 30 per language, under the 50 needed; skipped and said so.
    assert result.figures["values_skipped"] == 2
    assert result.figures["values_checked"] == 2 * (3 + 3)
    assert "2 values with fewer skipped" in result.summary


def test_a_planted_sentence_and_tag_leak_and_are_listed(varied: pd.DataFrame) -> None:
    result = check_label_leakage(_with_planted_leaks(varied), QUALITY.label_leakage)
    assert not result.passed
    found = {
        (row.language, row.label, row.value, row.feature): row
        for row in result.samples.itertuples()
    }
    assert set(found) == {
        ("EN", "priority", "High", LEAK_SENTENCE.lower().rstrip(".")),
        ("DE", "type", "Incident", "tag:Critical"),
    }
    sentence = found[("EN", "priority", "High", LEAK_SENTENCE.lower().rstrip("."))]
    assert sentence.precision == 1.0 and 0.45 < sentence.recall < 0.75
    assert sentence.ngrams == 7  # its 3-grams, listed as one phrase
    assert result.samples["recall"].is_monotonic_decreasing
    worst = result.samples.iloc[0]
    assert f"{worst['language']} {worst['label']}={worst['value']}" in result.headline
    assert result.figures["leaks"] == 2 and result.figures["leaking_features"] == 8


def test_leak_thresholds_and_labels_come_from_the_settings(varied: pd.DataFrame) -> None:
    planted = _with_planted_leaks(varied)
    strict = LabelLeakageQualityConfig(min_recall=0.8)
    assert check_label_leakage(planted, strict).passed  # the leaks are on 50-60 %
    priority_only = LabelLeakageQualityConfig(labels=("priority",))
    result = check_label_leakage(planted, priority_only)
    assert set(result.samples["label"]) == {"priority"}
    queue = LabelLeakageQualityConfig(labels=("queue",), min_support=10_000)
    result = check_label_leakage(planted, queue)
    assert result.passed and result.figures["values_checked"] == 0
    assert result.figures["languages_skipped"] == 2


# Diversity


def test_varied_text_is_diverse(varied: pd.DataFrame) -> None:
    result = check_diversity(varied, QUALITY.diversity)
    assert result.passed, result.summary
    table = result.samples.set_index("language")
    assert list(table.index) == ["DE", "EN", "all"]
    assert table.loc["all", "distinct_subjects"] == 1.0
    assert table.loc["EN", "length_spread"] > 2.5
    assert table.loc["EN", "top_opening_share"] < 0.1
    assert 0.02 < table.loc["EN", "common_sentences"] < 0.15  # the one shared sentence
    assert result.figures["EN/distinct_subjects"] == 1.0


def test_templated_text_fails_every_diversity_figure() -> None:
    result = check_diversity(_templated(), QUALITY.diversity)
    assert not result.passed
    failed = result.samples.set_index("language")["failed"]
    for figure in ("distinct subjects", "reused sentences", "length p90/p10", "top opening"):
        assert figure in failed["EN"], figure
    assert "top closing" in failed["EN"]
    assert failed["all"] == "distinct subjects, distinct 3-grams"
    assert result.figures["distinct_3grams"] < 0.1
    assert result.headline.startswith(f"{result.figures['failing_figures']} figures fail")
    assert "(first: EN distinct subjects 0.83 % < 90.00 %)" in result.headline


def test_a_small_language_is_reported_not_decided(varied: pd.DataFrame) -> None:
    small = _templated(60, "FR").assign(ticket_id=lambda f: "2" + f["ticket_id"])
    frame = pd.concat([varied, small], ignore_index=True)
    result = check_diversity(frame, QUALITY.diversity)
    assert result.passed, result.summary
    table = result.samples.set_index("language")
    assert table.loc["FR", "top_opening_share"] == 1.0 and table.loc["FR", "failed"] == ""
    assert result.figures["languages_too_small"] == 1 and "reported: FR" in result.summary
    assert not check_diversity(frame, DiversityQualityConfig(min_language_rows=50)).passed


def test_a_sentence_is_common_only_in_three_tickets_or_more() -> None:
    bodies = [f"Unique sentence {i}. Other one {i}." for i in range(100)]
    twice = ["Shared sentence.", "Shared sentence.", *bodies[2:]]
    assert common_sentence_share(twice, 0.01) == 0.0
    thrice = ["Shared sentence.", *twice]
    assert common_sentence_share(thrice, 0.01) == pytest.approx(3 / (3 + 2 * 98))


def test_the_closing_skips_the_signature() -> None:
    assert closing("Hi,\n\nIt broke.\n\nKind regards,\nAnna Berg") == "kind regards,"
    assert closing("Hi,\n\nIt broke.\n\nThanks a lot.") == "thanks a lot."
    assert closing("Hi,\n\nIt broke. Call me.\nJ. O'Neil-Smith") == "it broke. call me."


# Learnability


def test_labels_independent_of_the_text_are_not_learnable(varied: pd.DataFrame) -> None:
    result = check_learnability(varied, QUALITY.learnability)
    assert result.passed, result.summary
    assert list(result.samples["label"]) == ["type", "priority", "queue"]
    assert all(score < 0.6 for score in result.samples["all"])
    assert set(result.samples.columns) >= {"DE", "EN"}  # 300 tickets each
    assert result.figures["type/macro_f1/DE"] < 0.6


def test_labels_written_into_the_text_are_flagged(varied: pd.DataFrame) -> None:
    result = check_learnability(_learnable(varied), QUALITY.learnability)
    assert not result.passed
    scores = result.samples.set_index("label")["all"]
    assert scores["type"] >= 0.95 and scores["priority"] < 0.6
    assert result.figures["labels_too_learnable"] == 1
    assert "type" in result.summary.split(";")[1]
    assert result.headline.startswith("too learnable: type; macro-F1 type 1.00, priority")


def test_the_evaluate_classifier_flags_them_too(varied: pd.DataFrame) -> None:
    settings = LearnabilityQualityConfig(labels=("type",), model="classifier", max_rows=400)
    result = check_learnability(_learnable(varied), settings)
    assert not result.passed and result.figures["sample_rows"] == 400
    assert check_learnability(varied, settings).passed


def test_too_few_tickets_are_not_measured(varied: pd.DataFrame) -> None:
    result = check_learnability(_learnable(varied).head(150), QUALITY.learnability)
    assert result.passed and result.headline == "not measured"


# Registry, plots and the card


def test_the_registry_runs_the_text_checks_on_the_export(varied: pd.DataFrame) -> None:
    checks = {check.name: check for check in CHECKS}
    data = CheckData(_with_planted_leaks(varied), QualityInputs({}))
    for name in ("label_leakage", "diversity", "learnability"):
        check = checks[name]
        assert check.measures == "exported" and check.node is None and not check.drops
        verdict = check.function(data, getattr(QUALITY, check.section))
        assert verdict is not None and verdict.drop == ()
        assert verdict.result.passed is (name != "label_leakage")


def test_the_card_shows_the_text_checks_and_their_plot(
    varied: pd.DataFrame, tmp_path: Path
) -> None:
    frame = _learnable(_with_planted_leaks(varied))
    plots = write_plots(frame, {}, tmp_path)
    assert plots["diversity"].name == PLOT_FILES["diversity"]
    assert plots["diversity"].read_bytes().startswith(b"\x89PNG")
    leakage = check_label_leakage(frame, LabelLeakageQualityConfig(min_recall=0.05))
    assert len(leakage.samples) > 10  # the type sentences too
    results = [
        leakage,
        check_diversity(frame, QUALITY.diversity),
        check_learnability(frame, QUALITY.learnability),
    ]
    titles = ("Label leakage", "Diversity", "Learnability")
    report = QualityReport(
        checks=tuple(
            CheckResult(**{**r.__dict__, "name": t.lower(), "title": t})
            for r, t in zip(results, titles, strict=True)
        ),
        generated_rows=len(frame),
        exported_rows=len(frame),
        dropped={},
    )
    card = dataset_card(frame, load_config(), report, plots, None, pd.DataFrame())
    assert f"The first 10 of {len(leakage.samples)} rows; `quality.json` lists them all." in card
    assert "**Learnability: FAILED.**" in card and "| type " in card
    assert "| all " in card and "length_spread" in card  # the diversity table
    assert f"]({PLOT_FILES['diversity']})" in card
    table = diversity_table(frame, QUALITY.diversity)
    assert len(table) == 3
