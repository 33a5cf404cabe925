"""docs/config.md is generated from the declarations the config check uses: it fails when they drift."""

from __future__ import annotations

from pathlib import Path

import pytest

from denoiserec.config_check import DATA_KEYS, KNOWN_KEYS
from denoiserec.config_doc import missing_meanings, render
from denoiserec.errors import ConfigError
from denoiserec.experiment import check_config

DOC = Path(__file__).resolve().parents[1] / "docs" / "config.md"


def test_config_md_is_generated_from_the_declarations():
    assert DOC.read_text() == render(), "regenerate: python -m denoiserec.config_doc > docs/config.md"
    assert missing_meanings() == []


def test_every_checked_key_is_documented():
    text = DOC.read_text()
    for k in KNOWN_KEYS:
        assert f"| `{k}` |" in text
    for k in DATA_KEYS:
        assert f"| `data.{k}` |" in text
    from dataclasses import fields

    from denoiserec.train.trainer import TrainConfig

    for f in fields(TrainConfig):
        if f.name not in ("seed", "checkpoint", "progress"):
            assert f"| `train.{f.name}` |" in text


@pytest.mark.parametrize("key, value, shown", [("train.epochs", 0, ">= 1"), ("train.lr", 0.0, "> 0"),
                                               ("split.how", "sideways", "one of temporal"),
                                               ("features.min_count", 0, ">= 1")])
def test_the_documented_range_is_the_checked_one(key, value, shown):
    """The `allowed` column shows the rule the check enforces: a value outside it is refused."""
    line = next(ln for ln in DOC.read_text().splitlines() if ln.startswith(f"| `{key}` |"))
    assert shown in line.split("|")[4]
    section, leaf = key.split(".")
    with pytest.raises(ConfigError, match=key):
        check_config({"data": {"simulate": {}}, section: {leaf: value}})


def test_documented_data_keys_are_the_checked_ones():
    from denoiserec.data.load import KEYS

    assert set(DATA_KEYS) == set(KEYS)


def test_the_seqrec_sections_are_documented_and_checked():
    """Every key of the seqrec task's sections has a row; a documented range is the one its check enforces."""
    from dataclasses import fields

    from denoiserec.tasks import get_task

    text = DOC.read_text().split("## task: seqrec", 1)[1]
    for section, cls in get_task("seqrec").sections().items():
        for f in fields(cls):
            assert f"| `{section}.{f.name}` |" in text
    line = next(ln for ln in text.splitlines() if ln.startswith("| `train.min_epochs` |"))
    assert ">= 1" in line.split("|")[4]
    with pytest.raises(ConfigError, match="min_epochs"):
        check_config({"task": "seqrec", "data": {"simulate": {}}, "train": {"min_epochs": 0}})
