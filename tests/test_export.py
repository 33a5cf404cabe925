"""ONNX export: onnxruntime agrees with PyTorch on 1,000 rows (max |diff| <= 1e-5) for a CTR model with
sequence inputs and for the negative-feedback transformer; the batch size stays dynamic."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import make_log

import denoiserec
from denoiserec.bundle import save_ctr
from denoiserec.data.encoder import fit_encode_splits
from denoiserec.data.features import FeatureConfig
from denoiserec.export import example_inputs, export_onnx, parity
from denoiserec.models import build_model

pytest.importorskip("onnxruntime")


def test_ctr_onnx_parity_on_1000_rows(tmp_path):
    log = make_log(n_users=20, per_user=20)
    enc, parts = fit_encode_splits(log, FeatureConfig.from_dict({"sequences": {"hist": {"max_len": 5}}}))
    model = build_model("din", enc.spec, embed_dim=4)
    with torch.no_grad():  # non-trivial weights without training
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    b = denoiserec.load(save_ctr(tmp_path / "din", model, enc, "din", {"embed_dim": 4}))
    info = export_onnx(b, tmp_path / "din.onnx")
    assert info["exporter"] == "dynamo" and info["inputs"][:2] == ["cat", "num"] and "seq_hist" in info["inputs"]
    assert parity(b, tmp_path / "din.onnx", example_inputs(b, rows=1000, seed=1)) <= 1e-5
    from denoiserec.io import check_output  # a re-export may replace its own earlier file

    assert check_output(tmp_path / "din.onnx", "onnx", folder=False) == tmp_path / "din.onnx"
    # the encoded rows of a real log, as `predict` builds them
    data, _ = b.encode(log)
    rows = {k: data[k][:1000].numpy() for k in ("cat", "num", "seq_hist", "kind_hist")}
    assert parity(b, tmp_path / "din.onnx", rows) <= 1e-5
    import onnxruntime as ort

    sess = ort.InferenceSession(str(tmp_path / "din.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(None, {i.name: rows[i.name] for i in sess.get_inputs()})[0]
    assert np.abs(got - b.predict(log).scores["logit"].to_numpy()[:1000]).max() <= 1e-5


def test_transformer_onnx_parity_on_1000_rows(tmp_path):
    from test_bundle import seq_config
    from test_negfeedback import _log

    from denoiserec.tasks.seqrec import run_seed

    run_seed(seq_config(), 0, tmp_path, log=_log(n_users=6, per_user=20))
    b = denoiserec.load(tmp_path / "bundles" / "seqrec__default__seed0")
    info = export_onnx(b, tmp_path / "t.onnx")
    assert info["outputs"] == ["scores"]
    assert parity(b, tmp_path / "t.onnx", example_inputs(b, rows=1000, seed=1)) <= 1e-5
