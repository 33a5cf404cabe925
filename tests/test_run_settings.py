"""Typed settings (denoiserec.run_settings): what the config check returns, and its dict for records."""

import dataclasses

import pytest
import yaml

from denoiserec.data.features import FeatureConfig
from denoiserec.data.load import DataSpec
from denoiserec.data.noise import LabelNoise
from denoiserec.eval.seqrec import EvalConfig
from denoiserec.fingerprint import run_fingerprint, seqrec_fingerprint
from denoiserec.run_settings import CtrSettings, MethodSpec, ModelSpec, SeqrecSettings
from denoiserec.seqrec.train import ModelConfig, SeqTrainConfig
from denoiserec.tasks import check_config
from denoiserec.train.trainer import TrainConfig

SIM = {"simulate": {"users": 20, "items": 40}}
CTR = {"name": "t", "data": SIM, "seeds": 3, "train": {"epochs": 2},
       "models": {"deepfm": {"embed_dim": 4}, "small": {"model": "deepfm", "embed_dim": 2}},
       "methods": {"none": {}, "lcd5": {"method": "lcd", "a": 5}, "oracle": {"oracle": True}},
       "noise": {"flip": 0.2}, "select": {"best": ["none", "lcd5"]}}


def test_ctr_settings_are_typed_with_defaults_filled_once():
    s = check_config(CTR)
    assert isinstance(s, CtrSettings) and s.task == "ctr" and s.name == "t" and s.seeds == (3,)
    assert s.data == DataSpec("simulate", simulate={"users": 20, "items": 40})
    assert s.train == TrainConfig(epochs=2) and s.features == FeatureConfig() and s.split == {"how": "temporal"}
    assert s.noise == LabelNoise(flip=0.2) and s.target == "click"
    assert s.models == {"deepfm": ModelSpec("deepfm", {"embed_dim": 4}), "small": ModelSpec("deepfm", {"embed_dim": 2})}
    assert s.methods == {"none": MethodSpec("none", {}), "lcd5": MethodSpec("lcd", {"a": 5}),
                         "oracle": MethodSpec("none", {}, oracle=True)}
    assert s.baseline == "none" and s.select == {"best": ["none", "lcd5"]} and s.baseline_model is None
    bare = CtrSettings.from_checked({**s.to_dict(), "methods": {"oracle": {"oracle": True}, "lcd": {"a": 5}}})
    assert bare.methods == {"oracle": MethodSpec("none", {}, oracle=True), "lcd": MethodSpec("lcd", {"a": 5})}


def test_to_dict_is_the_checked_config_exactly():
    """What config.yaml, the fingerprints and the bundles record: the dict the check returned before settings."""
    s = check_config(CTR)
    assert s.to_dict() == {**CTR, "seeds": [3], "data": {"simulate": {"users": 20, "items": 40}},
                           "methods": {**CTR["methods"], "oracle": {"method": "none", "oracle": True}},
                           "baseline": "none"}
    assert s.given("split") is None and s.given("train") == {"epochs": 2}
    assert yaml.safe_load(yaml.safe_dump(s, sort_keys=False)) == s.to_dict()
    assert check_config(s).to_dict() == s.to_dict()  # checking settings again changes nothing


def test_settings_are_frozen_and_their_mapping_view_is_a_copy():
    s = check_config(CTR)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.name = "other"
    s["train"]["epochs"] = 9  # a copy: the settings and their dict keep the checked value
    assert s.to_dict()["train"] == {"epochs": 2} and s["name"] == "t" and dict(s) == s.to_dict()


def test_fingerprints_hash_the_checked_dict():
    """Settings and their dict give the same fingerprint; a changed setting changes it."""
    s = check_config(CTR)
    fp = run_fingerprint(s, "small", "lcd5", 3, "d")
    assert fp == run_fingerprint(s.to_dict(), "small", "lcd5", 3, "d")
    assert fp != run_fingerprint(s, "deepfm", "lcd5", 3, "d") != run_fingerprint(s, "small", "none", 3, "d")
    assert fp != run_fingerprint(check_config({**CTR, "train": {"epochs": 3}}), "small", "lcd5", 3, "d")


def test_seqrec_settings_route_each_label_once():
    cfg = {"task": "seqrec", "name": "s", "data": SIM, "train": {"epochs": 3}, "eval": {"k": [5]},
           "models": {"a": {"dim": 16, "p_hard": 1.0, "candidates": 20, "epochs": 4}, "b": {}}, "baseline": "b"}
    s = check_config(cfg)
    assert isinstance(s, SeqrecSettings) and s.task == "seqrec" and s.seeds == (0, 1, 2, 3, 4)
    a, b = s.models["a"], s.models["b"]
    assert a.params == {"dim": 16, "p_hard": 1.0, "candidates": 20, "epochs": 4} and b.params == {}
    assert a.model == ModelConfig(dim=16) and b.model == ModelConfig()
    assert a.train == SeqTrainConfig(epochs=4, p_hard=1.0) and b.train == SeqTrainConfig(epochs=3)  # label wins
    assert a.eval == EvalConfig(k=[5], candidates=20) and b.eval == EvalConfig(k=[5]) == s.eval
    assert s.to_dict() == {**cfg, "seeds": [0, 1, 2, 3, 4]} and s.baseline == "b"
    assert seqrec_fingerprint(s, 0) == seqrec_fingerprint(s.to_dict(), 0) != seqrec_fingerprint(s, 1)
