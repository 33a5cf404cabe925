"""ONNX export of a model bundle (docs/serving.md).

* CTR bundle → a graph with inputs ``cat`` (int32 ``[B, F]``), ``num`` (float32 ``[B, D]``) and, for each
  sequence feature, ``seq_<name>`` / ``kind_<name>`` (int32 ``[B, T]``), exactly the tensors
  :meth:`denoiserec.bundle.CTRBundle.encode` builds; output ``logit`` ``[B]``. Inputs a model does not read may
  be dropped by the exporter: feed the ones ``session.get_inputs()`` lists.
* Transformer bundle → inputs ``tokens``, ``fb``, ``station`` (int64 ``[B, L]``, left-padded histories whose
  last position is the mask token at the query station, as :meth:`SeqBundle.recommend` builds them);
  output ``scores`` ``[B, n_items]`` (item id i at column i - 1).

The batch dimension is dynamic. The exporter is ``torch.onnx.export(dynamo=True)`` (torch.export + onnxscript);
a model it cannot trace falls back to the TorchScript exporter (``dynamo=False``), and the file's metadata
says which one was used.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from denoiserec.bundle import CTRBundle, SeqBundle, all_item_scores


class _Recorder(dict):
    """A batch dict that remembers which keys the model read."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.read: set[str] = set()

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)


def _ctr_sequences(bundle: CTRBundle, example: dict[str, np.ndarray]) -> list[str]:
    """The sequence features the model reads (an input it ignores would get no batch dimension in the graph)."""
    batch = _Recorder({k: torch.from_numpy(v) for k, v in example.items()})
    with torch.no_grad():
        bundle.model.eval()(batch)
    return [n for n, _ in bundle.spec.sequences if f"seq_{n}" in batch.read or f"kind_{n}" in batch.read]


class _CTRGraph(nn.Module):
    def __init__(self, model: nn.Module, seq_names: list[str]):
        super().__init__()
        self.model, self.seq_names = model, seq_names

    def forward(self, cat: torch.Tensor, num: torch.Tensor, seqs: list[torch.Tensor]):
        batch = {"cat": cat, "num": num}
        for i, name in enumerate(self.seq_names):
            batch[f"seq_{name}"], batch[f"kind_{name}"] = seqs[2 * i], seqs[2 * i + 1]
        out = self.model(batch)
        return out[0] if isinstance(out, tuple) else out


class _SeqGraph(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, tokens, fb, station):
        return all_item_scores(self.model, self.model(tokens, fb, station)[:, -1])


def _graph_inputs(graph: nn.Module, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    if isinstance(graph, _SeqGraph):
        return inputs
    keys = ["cat", "num", *[f"{p}_{n}" for n in graph.seq_names for p in ("seq", "kind")]]
    return {k: inputs[k] for k in keys}


def _args(graph: nn.Module, inputs: dict[str, np.ndarray]) -> tuple:
    t = [torch.from_numpy(v) for v in inputs.values()]
    return (t[0], t[1], t[2:]) if isinstance(graph, _CTRGraph) else tuple(t)


def example_inputs(bundle: CTRBundle | SeqBundle, rows: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    """Random but valid inputs of the exported graph (ids within each vocabulary)."""
    rng = np.random.default_rng(seed)
    if isinstance(bundle, SeqBundle):
        m = bundle.model
        L = m.max_len
        return {"tokens": np.concatenate([rng.integers(0, m.n_items + 2, (rows, L - 1)), np.ones((rows, 1), int)], 1)
                .astype(np.int64),
                "fb": rng.integers(0, 4, (rows, L)).astype(np.int64),
                "station": rng.integers(0, bundle.model.station.num_embeddings, (rows, L)).astype(np.int64)}
    spec = bundle.spec
    out = {"cat": np.stack([rng.integers(0, c, rows) for c in spec.cardinalities], 1).astype(np.int32)
           if spec.cardinalities else np.zeros((rows, 0), np.int32),
           "num": rng.standard_normal((rows, len(spec.numeric))).astype(np.float32)}
    items = spec.cardinalities[spec.item_field] if spec.sequences else 0
    for name, T in spec.sequences:
        out[f"seq_{name}"] = rng.integers(0, items, (rows, T)).astype(np.int32)
        out[f"kind_{name}"] = rng.integers(0, spec.n_feedback_kinds, (rows, T)).astype(np.int32)
    return out


def export_onnx(bundle: CTRBundle | SeqBundle, path: str | Path, opset: int = 18) -> dict:
    """Write ``bundle``'s model as ONNX to ``path`` (atomically); returns {exporter, inputs, outputs}."""
    from denoiserec.io import FILE_MARK, atomic_path

    if isinstance(bundle, SeqBundle):
        graph, output = _SeqGraph(bundle.model), "scores"
    else:
        graph, output = _CTRGraph(bundle.model, _ctr_sequences(bundle, example_inputs(bundle))), "logit"
    graph.eval()
    example = _graph_inputs(graph, example_inputs(bundle))
    names = list(example)
    args = _args(graph, example)
    batch = torch.export.Dim("batch", min=1)
    shapes = {n: {0: batch} for n in names}
    if isinstance(graph, _CTRGraph):
        shapes = {"cat": shapes["cat"], "num": shapes["num"], "seqs": [shapes[n] for n in names[2:]]}
    axes = {**{n: {0: "batch"} for n in names}, output: {0: "batch"}}
    path = Path(path)
    with atomic_path(path) as tmp:
        errors = []
        for exporter in ("dynamo", "torchscript"):
            try:
                with torch.no_grad(), _quiet():
                    if exporter == "dynamo":
                        torch.onnx.export(graph, args, str(tmp), input_names=names, output_names=[output],
                                          dynamo=True, dynamic_shapes=shapes, opset_version=opset, verbose=False)
                    else:
                        torch.onnx.export(graph, args, str(tmp), input_names=names, output_names=[output],
                                          dynamo=False, dynamic_axes=axes, opset_version=opset)
                proto = _checked(tmp)
                break
            except Exception as e:  # noqa: BLE001 - try the next exporter, report both if neither works
                errors.append(f"{exporter}: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
                tmp.unlink(missing_ok=True)
        else:
            raise RuntimeError(f"ONNX export of {bundle.meta['model']} failed: {'; '.join(errors)}")
        import onnx

        for key, value in ((FILE_MARK, "onnx"), ("denoiserec_kind", bundle.kind),
                           ("denoiserec_model", bundle.meta["model"]), ("exporter", exporter)):
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(proto, str(tmp))
    return {"exporter": exporter, "inputs": names, "outputs": [output], "fallback_reasons": errors}


@contextlib.contextmanager
def _quiet():
    """Silence the exporters' warnings and info logs (missing torchvision ops, deprecations, axis renames)."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _checked(file: Path):
    """The exported model, refused when the exporter made the batch size a constant (it may do so silently)."""
    import onnx

    proto = onnx.load(str(file))
    fixed = [i.name for i in proto.graph.input if not i.type.tensor_type.shape.dim[0].dim_param]
    if fixed:
        raise RuntimeError(f"the batch size of input(s) {fixed} became a constant")
    return proto


def parity(bundle: CTRBundle | SeqBundle, path: str | Path, inputs: dict[str, np.ndarray]) -> float:
    """Max |onnxruntime − PyTorch| of the exported graph on ``inputs``."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {i.name: inputs[i.name] for i in sess.get_inputs()})[0]
    graph = _SeqGraph(bundle.model) if isinstance(bundle, SeqBundle) else \
        _CTRGraph(bundle.model, _ctr_sequences(bundle, inputs))
    graph.eval()
    inputs = _graph_inputs(graph, inputs)
    with torch.no_grad():
        ref = graph(*_args(graph, inputs)).numpy()
    return float(np.abs(got - ref).max()) if got.size else 0.0
