"""The batch contract of :mod:`denoiserec.train.batch`, for every registered model and method: a model reads only
its inputs (no label, no metadata, no hidden truth), a method only the label and the metadata it declares, and
no training-time code path can read a ``true_*`` tensor."""

from __future__ import annotations

import pytest
import torch

from denoiserec.data.encoder import encode_splits
from denoiserec.data.features import FeatureConfig
from denoiserec.data.schema import TRUTH_PREFIX
from denoiserec.methods import available as methods
from denoiserec.methods import build_method
from denoiserec.models import available as models
from denoiserec.models import build_model
from denoiserec.train.batch import METADATA, is_model_input, method_inputs, model_inputs, without_truth
from denoiserec.train.encoded import EncodedData, batchable
from denoiserec.train.trainer import TrainConfig, Trainer

#: every sequence any model attends over (DUMN's four, DIN/DIEN/DSIN's history, ``all``)
SEQUENCES = {k: {"max_len": 5} for k in ("click", "unclick", "like", "dislike", "all", "hist")}
#: quick estimator settings for the attention methods (the code paths are the defaults')
FAST = {"uae": {"epochs": 1}, "pn": {"epochs": 1}, "ndb": {"epochs": 1}, "sar": {"epochs": 1}}


@pytest.fixture(scope="module")
def data():
    sim = pytest.importorskip("denoiserec.data.simulate")
    from denoiserec.data.split import split

    df = split(sim.simulate(sim.SimConfig(users=40, items=60, artists=10, sessions=2, min_len=5, max_len=10)),
               how="user_temporal", fractions=(0.8, 0.1, 0.1))
    spec, parts = encode_splits(df, FeatureConfig.from_dict({"sequences": SEQUENCES}))
    assert any(k.startswith(TRUTH_PREFIX) for k in parts["train"].tensors)  # the truth is there to be guarded
    return spec, parts


class InputsOnly(dict):
    """A batch that fails on any look-up of a key that is not a model input."""

    def _check(self, key):
        assert is_model_input(key), f"a model looked up {key!r}"

    def __getitem__(self, key):
        self._check(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self._check(key)
        return super().get(key, default)

    def __contains__(self, key):
        self._check(key)
        return super().__contains__(key)


class Poisoned(torch.Tensor):
    """A tensor that fails on any use (indexing, slicing, moving, arithmetic)."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        raise AssertionError(f"training code used a hidden truth tensor ({getattr(func, '__name__', func)})")


def _poisoned(data: EncodedData) -> EncodedData:
    return EncodedData({k: v.as_subclass(Poisoned) if k.startswith(TRUTH_PREFIX) else v
                        for k, v in data.tensors.items()})


def test_model_inputs_hold_no_label_metadata_or_truth(data):
    _, parts = data
    keys = set(model_inputs(parts["train"].tensors))
    assert keys and all(is_model_input(k) for k in keys)
    assert not keys & {"label", *METADATA} and not any(k.startswith(TRUTH_PREFIX) for k in keys)
    assert not any(k.startswith(TRUTH_PREFIX) for k in without_truth(parts["train"]).tensors)


@pytest.mark.parametrize("name", models())
def test_every_model_runs_on_its_inputs_alone(data, name):
    spec, parts = data
    torch.manual_seed(0)
    model = build_model(name, spec).eval()
    batch = InputsOnly(model_inputs({k: v[:16] for k, v in parts["train"].tensors.items()}))
    with torch.no_grad():
        out = model(batch)
    logits = out[0] if isinstance(out, tuple) else out
    assert logits.shape == (16,) and torch.isfinite(logits).all()


@pytest.mark.parametrize("name", methods())
def test_every_method_returns_detached_weights_and_targets_of_shape_b(data, name):
    spec, parts = data
    torch.manual_seed(0)
    method = build_method(name, **FAST.get(name, {}))
    assert set(method.needs) <= set(METADATA)
    method.fit(without_truth(parts["train"]), spec, "cpu")
    method.on_epoch_start(3)  # past every method's start epoch
    batch = next(batchable(parts["train"]).batches(32))
    given = method_inputs(batch, method.needs)
    assert set(given) == {"label", *method.needs}
    logits = torch.randn(32)
    losses = torch.nn.functional.binary_cross_entropy_with_logits(logits, batch["label"], reduction="none")
    w, y = method.weights_and_targets(given, logits, losses)
    assert w.shape == y.shape == (32,)
    assert not w.requires_grad and not y.requires_grad


@pytest.mark.parametrize("name", methods())
def test_no_training_code_path_reads_the_truth(data, name):
    """One epoch of every method (``lr`` as the model) on training data whose ``true_*`` tensors fail on any
    use; the model sees only its inputs, the method only ``label`` and its ``needs``."""
    spec, parts = data
    torch.manual_seed(0)
    model, method = build_model("lr", spec), build_method(name, **FAST.get(name, {}))
    model_keys, method_keys = set(), set()
    model.register_forward_pre_hook(lambda mod, args: model_keys.update(args[0]))
    inner = method.weights_and_targets

    def spy(batch, logits, losses):
        method_keys.update(batch)
        return inner(batch, logits, losses)

    method.weights_and_targets = spy
    Trainer(TrainConfig(epochs=1, batch_size=64, progress=False)).fit(model, _poisoned(parts["train"]), None,
                                                                     method, spec)
    assert model_keys and all(is_model_input(k) for k in model_keys)
    assert method_keys == {"label", *method.needs}


def test_the_poison_works(data):
    with pytest.raises(AssertionError, match="hidden truth"):
        next(_poisoned(data[1]["train"]).batches(8))
