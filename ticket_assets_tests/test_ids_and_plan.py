"""Ticket ids are unique by construction and stable; the plan splits rows exactly."""

from __future__ import annotations

import itertools

import pytest

from ticket_assets.config import SUPPORTED_LANGUAGES, build_config
from ticket_assets.core.detection import detect_language
from ticket_assets.core.ids import LANGUAGE_DIGITS, TICKET_ID_PATTERN, parse_ticket_id, ticket_id
from ticket_assets.core.languages import LANGUAGES, SupportedLanguage, checked_registry
from ticket_assets.plan import (
    batch_count,
    batch_keys,
    plan_frame,
    rows_in_partition,
    rows_per_language,
)


def test_ids_are_13_digits_and_round_trip() -> None:
    value = ticket_id(7, "FR", 12, 345)
    assert TICKET_ID_PATTERN.match(value)
    assert len(value) == 13
    assert parse_ticket_id(value) == (7, "FR", 12, 345)


def test_ids_unique_across_datasets_languages_batches_rows() -> None:
    combos = itertools.product([0, 1, 999], LANGUAGE_DIGITS, [0, 1, 9999], [0, 1, 9998])
    ids = [ticket_id(*combo) for combo in combos]
    assert len(ids) == len(set(ids))


def test_config_ids_and_detection_derive_from_the_one_language_registry() -> None:
    assert {language.code: language.name for language in LANGUAGES} == SUPPORTED_LANGUAGES
    assert {language.code: language.id_digit for language in LANGUAGES} == LANGUAGE_DIGITS
    assert list(SUPPORTED_LANGUAGES) == ["DE", "EN", "ES", "FR", "PT"]
    assert LANGUAGE_DIGITS == {"DE": 1, "EN": 2, "ES": 3, "FR": 4, "PT": 5}  # ids never change
    text = "Guten Tag, seit dem letzten Update funktioniert die Anmeldung bei uns nicht mehr."
    assert detect_language(text) == "DE"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (SupportedLanguage("IT", "Italian", 5, "ITALIAN"), "digit 5 is taken by PT"),
        (SupportedLanguage("DE", "Deutsch", 6, "GERMAN"), "DE is registered twice"),
        (SupportedLanguage("it", "Italian", 6, "ITALIAN"), "upper-case"),
        (SupportedLanguage("IT", "Italian", 10, "ITALIAN"), "not 0-9"),
    ],
)
def test_the_language_registry_rejects_clashes(extra: SupportedLanguage, message: str) -> None:
    assert checked_registry((*LANGUAGES, SupportedLanguage("IT", "Italian", 6, "ITALIAN")))
    with pytest.raises(ValueError, match=message):
        checked_registry((*LANGUAGES, extra))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((1000, "DE", 0, 0), "dataset code"),
        ((0, "IT", 0, 0), "no id digit"),
        ((0, "DE", 10000, 0), "batch"),
        ((0, "DE", 0, 9999), "row"),
    ],
)
def test_id_ranges_are_enforced(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ticket_id(*args)


def test_rows_split_by_weight_add_up() -> None:
    config = build_config({"rows": 503, "languages": {"EN": 4, "DE": 2, "ES": 2, "FR": 1, "PT": 1}})
    counts = rows_per_language(config)
    assert sum(counts.values()) == 503
    assert counts["EN"] in (201, 202)
    assert counts["FR"] in (50, 51)


def test_partitions_respect_batch_size_and_sum_to_rows() -> None:
    config = build_config({"rows": 1000, "batch_size": 60})
    assert batch_keys(config)[0] == "b0000"
    per_partition = [
        rows_in_partition(config, lang, b)
        for lang in config.languages
        for b in range(batch_count(config))
    ]
    assert max(per_partition) <= 60
    assert sum(per_partition) == 1000


def test_plan_frame_is_stable_and_unique() -> None:
    config = build_config({"rows": 200, "batch_size": 20})
    partitions = [(lang, key) for lang in config.languages for key in batch_keys(config)]
    first = plan_frame(config, partitions, dataset_code=3)
    again = plan_frame(config, list(reversed(partitions)), dataset_code=3)
    assert len(first) == 200
    assert first["ticket_id"].is_unique
    assert sorted(first["ticket_id"]) == sorted(again["ticket_id"])
    other_dataset = plan_frame(config, partitions, dataset_code=4)
    assert not set(first["ticket_id"]) & set(other_dataset["ticket_id"])
