"""Train one model with DeepCTR-Torch or FuxiCTR on the shared ``.npz`` (run inside the competitors' venv).

Each library runs through its own training loop and data path, with the settings every library shares:
embedding 8, MLP 256-128-64 (ReLU, no dropout, no batch norm, no regularisation), Adam (lr), batch size,
epochs, threads. Timed: the library's training loop per epoch -- its batch iteration (DataLoader, collation,
per-step conversions), forward, loss, backward and optimiser step. Not timed: reading the file, building the
model, the optimiser and the loader objects, scoring valid and test after each epoch.

* DeepCTR-Torch 0.3.0: ``DeepFM``, ``DCN(cross_parameterization="matrix")`` (= DCN-V2, parallel) and ``DIN``
  through ``model.fit`` (verbose 0, no validation, no metrics), timed from ``on_epoch_begin`` to
  ``on_epoch_end``. Its DIN reads the history as a ``VarLenSparseFeat`` sharing the item field's embedding and
  masks by a length column (valid entries first), so the left-padded history is packed to the front here
  (attention pooling ignores order); the set of attended items is the same as for the others.
* FuxiCTR 2.3.10: the PyPI wheel ships the library but not the ``model_zoo`` of plain CTR models, so
  ``DeepFM``, ``DCNv2`` and ``DIN`` are the repository's model_zoo classes written out here over the wheel's
  layers (``FeatureEmbedding(Dict)``, ``FactorizationMachine``, ``CrossNetV2``, ``DIN_Attention``,
  ``MLP_Block``) and its ``BaseModel``; the history is a ``sequence`` feature with ``share_embedding`` of the
  item field (mask: id != 0). Batches come from its ``NpzDataLoader`` (1 worker, its default) and each epoch is
  its ``train_epoch`` (which also clips gradients to norm 10 and reads ``loss.item()`` every step, as the
  library does).

DIN everywhere: embedding 8, the activation unit ``[target, item, difference, product] → 80 → 40 → 1`` with
sigmoid activations and no softmax, padding weighted 0, the pooled history one more field of the MLP
(256-128-64, one-parameter PReLU as denoiserec's), no dropout or batch norm.

Usage: ``python -m benchmarks.competitors --lib deepctr --model deepfm --data D.npz --out R.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import types
from collections import OrderedDict

import numpy as np
import torch

EMBED, HIDDEN, ATT_HIDDEN = 8, (256, 128, 64), (80, 40)
HIST = "hist_item"  # the history column (DeepCTR-Torch's DIN wants "hist_" + the target field's name)


def _load(path):
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def need_sequences(d, args):
    if "seq_len" not in d:
        raise SystemExit(f"{args.model} needs behaviour sequences: {args.data} has none (benchmarks.data seq_len)")


def packed_front(seq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Left-padded histories (0 = padding or OOV, never attended) → the same non-zero ids packed to the front in
    their order, zeros after, and their count per row (DeepCTR-Torch masks positions ``>= length``)."""
    keep = seq != 0
    order = np.argsort(~keep, axis=1, kind="stable")  # non-zero positions first, each group in its order
    return np.take_along_axis(seq, order, axis=1), keep.sum(1).astype(np.int64)


# ---------------------------------------------------------------------------------------------- DeepCTR-Torch
def run_deepctr(d, args):
    # deepctr_torch's import starts a non-daemon thread asking PyPI for newer versions (requests, no timeout):
    # on a machine without internet that could hold the process open; a refused proxy makes it fail at once
    os.environ["HTTPS_PROXY"] = os.environ["https_proxy"] = "http://127.0.0.1:9"
    from deepctr_torch.callbacks import Callback
    from deepctr_torch.inputs import SparseFeat, VarLenSparseFeat
    from deepctr_torch.models import DCN, DIN, DeepFM

    fields = [str(f) for f in d["fields"]]
    cols = [SparseFeat(f, vocabulary_size=int(c), embedding_dim=EMBED) for f, c in zip(fields, d["cards"], strict=True)]
    common = dict(dnn_hidden_units=HIDDEN, l2_reg_embedding=0.0, l2_reg_dnn=0.0, dnn_dropout=0.0, seed=args.seed,
                  device=args.device)
    if args.model == "deepfm":
        model = DeepFM(cols, cols, l2_reg_linear=0.0, **common)
    elif args.model == "dcnv2":
        model = DCN(cols, cols, cross_num=3, cross_parameterization="matrix", l2_reg_linear=0.0, **common)
    elif args.model == "din":
        need_sequences(d, args)
        hist = SparseFeat(HIST, vocabulary_size=int(d["cards"][fields.index("item")]), embedding_dim=EMBED,
                          embedding_name="item")
        model = DIN([*cols, VarLenSparseFeat(hist, maxlen=int(d["seq_len"]), length_name="hist_len")], ["item"],
                    dnn_activation="prelu", att_hidden_size=ATT_HIDDEN, att_activation="sigmoid",
                    att_weight_normalization=False, **common)
    else:
        raise SystemExit(f"deepctr: no model {args.model}")
    model.compile(torch.optim.Adam(model.parameters(), lr=args.lr), "binary_crossentropy")

    def inputs(split):
        x = {f: d[f"cat_{split}"][:, i] for i, f in enumerate(fields)}
        if args.model == "din":
            x[HIST], x["hist_len"] = packed_front(d[f"seq_{split}"])
        return x

    x = inputs("train")
    times = []

    class Clock(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0, self.c0 = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch, logs=None):
            times.append((time.perf_counter() - self.t0, time.process_time() - self.c0))

    scores = {}
    parts = {s: inputs(s) for s in ("valid", "test")}

    class Score(Callback):  # runs after Clock has stopped
        def on_epoch_end(self, epoch, logs=None):
            for s, xs in parts.items():
                scores[f"{s}_{epoch + 1}"] = model.predict(xs, batch_size=32768).reshape(-1)
            model.train()

    model.fit(x, d["y_train"], batch_size=args.batch_size, epochs=args.epochs, verbose=0, shuffle=True,
              callbacks=[Clock(), Score()])
    return model, times, scores


# ---------------------------------------------------------------------------------------------------- FuxiCTR
def _stub_ray():
    """FuxiCTR imports ``ray`` at module level for its parquet loader and preprocessing only (see venv.py):
    stand-in modules whose every attribute is an inert placeholder class."""
    if "ray" in sys.modules:
        return

    class _Placeholder:
        pass

    def placeholder(attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _Placeholder

    for name in ("ray", "ray.data", "ray.data.datasource", "ray.data.datasource.filename_provider"):
        mod = types.ModuleType(name)
        mod.__path__ = []
        mod.__getattr__ = placeholder
        sys.modules[name] = mod


def _fuxi_models():
    _stub_ray()
    from fuxictr.pytorch.layers import (
        CrossNetV2,
        DIN_Attention,
        FactorizationMachine,
        FeatureEmbedding,
        FeatureEmbeddingDict,
        MLP_Block,
    )
    from fuxictr.pytorch.models import BaseModel

    class DeepFM(BaseModel):  # FuxiCTR model_zoo/DeepFM/DeepFM_torch/src/DeepFM.py
        def __init__(self, feature_map, model_id="DeepFM", gpu=-1, learning_rate=1e-3, embedding_dim=10,
                     hidden_units=(64, 64, 64), hidden_activations="ReLU", net_dropout=0, batch_norm=False,
                     embedding_regularizer=None, net_regularizer=None, **kwargs):
            super().__init__(feature_map, model_id=model_id, gpu=gpu, embedding_regularizer=embedding_regularizer,
                             net_regularizer=net_regularizer, **kwargs)
            self.embedding_layer = FeatureEmbedding(feature_map, embedding_dim)
            self.fm = FactorizationMachine(feature_map)
            self.mlp = MLP_Block(input_dim=feature_map.sum_emb_out_dim(), output_dim=1, hidden_units=list(hidden_units),
                                 hidden_activations=hidden_activations, output_activation=None,
                                 dropout_rates=net_dropout, batch_norm=batch_norm)
            self.compile(kwargs["optimizer"], kwargs["loss"], learning_rate)
            self.reset_parameters()
            self.model_to_device()

        def forward(self, inputs):
            X = self.get_inputs(inputs)
            feature_emb = self.embedding_layer(X)
            y_pred = self.fm(X, feature_emb)
            y_pred += self.mlp(feature_emb.flatten(start_dim=1))
            return {"y_pred": self.output_activation(y_pred)}

    class DCNv2(BaseModel):  # FuxiCTR model_zoo/DCNv2/src/DCNv2.py, structure "parallel"
        def __init__(self, feature_map, model_id="DCNv2", gpu=-1, learning_rate=1e-3, embedding_dim=10,
                     parallel_dnn_hidden_units=(), dnn_activations="ReLU", num_cross_layers=3, net_dropout=0,
                     batch_norm=False, embedding_regularizer=None, net_regularizer=None, **kwargs):
            super().__init__(feature_map, model_id=model_id, gpu=gpu, embedding_regularizer=embedding_regularizer,
                             net_regularizer=net_regularizer, **kwargs)
            self.embedding_layer = FeatureEmbedding(feature_map, embedding_dim)
            input_dim = feature_map.sum_emb_out_dim()
            self.crossnet = CrossNetV2(input_dim, num_cross_layers)
            self.parallel_dnn = MLP_Block(input_dim=input_dim, output_dim=None,
                                          hidden_units=list(parallel_dnn_hidden_units),
                                          hidden_activations=dnn_activations, output_activation=None,
                                          dropout_rates=net_dropout, batch_norm=batch_norm)
            self.fc = torch.nn.Linear(input_dim + parallel_dnn_hidden_units[-1], 1)
            self.compile(kwargs["optimizer"], kwargs["loss"], learning_rate)
            self.reset_parameters()
            self.model_to_device()

        def forward(self, inputs):
            X = self.get_inputs(inputs)
            feature_emb = self.embedding_layer(X, flatten_emb=True)
            final_out = torch.cat([self.crossnet(feature_emb), self.parallel_dnn(feature_emb)], dim=-1)
            return {"y_pred": self.output_activation(self.fc(final_out))}

    class DIN(BaseModel):  # FuxiCTR model_zoo/DIN/src/DIN.py, one target field and one sequence field
        def __init__(self, feature_map, model_id="DIN", gpu=-1, learning_rate=1e-3, embedding_dim=10,
                     dnn_hidden_units=(512, 128, 64), dnn_activations="ReLU", attention_hidden_units=(64,),
                     attention_hidden_activations="Dice", net_dropout=0, batch_norm=False,
                     din_target_field="item_id", din_sequence_field="click_history", din_use_softmax=False,
                     embedding_regularizer=None, net_regularizer=None, **kwargs):
            super().__init__(feature_map, model_id=model_id, gpu=gpu, embedding_regularizer=embedding_regularizer,
                             net_regularizer=net_regularizer, **kwargs)
            self.target, self.sequence = din_target_field, din_sequence_field
            self.embedding_layer = FeatureEmbeddingDict(feature_map, embedding_dim)
            self.attention = DIN_Attention(embedding_dim, attention_units=list(attention_hidden_units),
                                           hidden_activations=attention_hidden_activations,
                                           output_activation=None, dropout_rate=0, use_softmax=din_use_softmax)
            self.dnn = MLP_Block(input_dim=feature_map.sum_emb_out_dim(), output_dim=1,
                                 hidden_units=list(dnn_hidden_units), hidden_activations=dnn_activations,
                                 output_activation=self.output_activation, dropout_rates=net_dropout,
                                 batch_norm=batch_norm)
            self.compile(kwargs["optimizer"], kwargs["loss"], learning_rate)
            self.reset_parameters()
            self.model_to_device()

        def forward(self, inputs):
            X = self.get_inputs(inputs)
            emb = self.embedding_layer(X)
            mask = X[self.sequence].long() != 0  # padding id 0
            emb[self.sequence] = self.attention(emb[self.target], emb[self.sequence], mask)
            return {"y_pred": self.dnn(self.embedding_layer.dict2tensor(emb, flatten_emb=True))}

    return {"deepfm": DeepFM, "dcnv2": DCNv2, "din": DIN}


def run_fuxictr(d, args):
    models = _fuxi_models()
    from fuxictr.features import FeatureMap
    from fuxictr.pytorch.dataloaders.npz_dataloader import NpzDataLoader

    if args.model not in models:
        raise SystemExit(f"fuxictr: no model {args.model}")
    tmp = tempfile.mkdtemp(prefix="fuxi_")
    fields = [str(f) for f in d["fields"]]
    fmap = FeatureMap("bench", tmp)
    fmap.features = OrderedDict((f, {"type": "categorical", "vocab_size": int(c), "source": ""})
                                for f, c in zip(fields, d["cards"], strict=True))
    if args.model == "din":  # the history: a sequence feature in the item field's embedding table
        need_sequences(d, args)
        fmap.features[HIST] = {"type": "sequence", "vocab_size": int(d["cards"][fields.index("item")]), "source": "",
                               "share_embedding": "item", "max_len": int(d["seq_len"])}
    fmap.labels = ["label"]
    fmap.num_fields = len(fmap.features)
    fmap.total_features = int(d["cards"].sum())
    fmap.default_emb_dim = EMBED
    fmap.set_column_index()
    for split in ("train", "valid", "test"):  # its loader reads one array per column
        seq = {HIST: d[f"seq_{split}"]} if args.model == "din" else {}
        np.savez(os.path.join(tmp, f"{split}.npz"), label=d[f"y_{split}"],
                 **{f: d[f"cat_{split}"][:, i] for i, f in enumerate(fields)}, **seq)
    kw = dict(model_root=tmp, verbose=0, metrics=["AUC"], optimizer="adam", loss="binary_crossentropy",
              learning_rate=args.lr, embedding_dim=EMBED, net_dropout=0, batch_norm=False,
              gpu=torch.device(args.device).index or 0 if args.device.startswith("cuda") else -1)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    if args.model == "deepfm":
        model = models["deepfm"](fmap, hidden_units=HIDDEN, **kw)
    elif args.model == "din":  # one-parameter PReLU (init 0.25) as denoiserec's; FuxiCTR's "PReLU" is per unit
        model = models["din"](fmap, dnn_hidden_units=HIDDEN, dnn_activations=[torch.nn.PReLU() for _ in HIDDEN],
                              attention_hidden_units=ATT_HIDDEN, attention_hidden_activations="Sigmoid",
                              din_target_field="item", din_sequence_field=HIST, **kw)
    else:
        model = models["dcnv2"](fmap, parallel_dnn_hidden_units=HIDDEN, num_cross_layers=3, **kw)
    train = NpzDataLoader(fmap, os.path.join(tmp, "train.npz"), batch_size=args.batch_size, shuffle=True)
    # the state BaseModel.fit sets before its epochs; evaluation never triggers inside the timed epochs
    model._max_gradient_norm, model._total_steps, model._eval_steps = 10.0, 0, 1 << 60
    model._stop_training, model._epoch_index = False, 0
    evals = {s: NpzDataLoader(fmap, os.path.join(tmp, f"{s}.npz"), batch_size=32768, shuffle=False)
             for s in ("valid", "test")}
    times, scores = [], {}
    for epoch in range(args.epochs):
        model._epoch_index = epoch
        t0, c0 = time.perf_counter(), time.process_time()
        model.train_epoch(train)
        times.append((time.perf_counter() - t0, time.process_time() - c0))
        for s, loader in evals.items():
            scores[f"{s}_{epoch + 1}"] = model.predict(loader)
    return model, times, scores


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--lib", required=True, choices=["deepctr", "fuxictr"])
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=4096)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu | cuda:N (DeepCTR-Torch's device, FuxiCTR's gpu index)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    d = _load(args.data)
    model, times, scores = (run_deepctr if args.lib == "deepctr" else run_fuxictr)(d, args)
    np.savez(args.out + ".scores.npz", **{k: np.asarray(v, dtype=np.float64) for k, v in scores.items()})
    n = len(d["y_train"])
    wall, cpu = [t for t, _ in times], [c for _, c in times]
    result = {"lib": args.lib, "model": args.model, "epoch_seconds": wall, "epoch_cpu_seconds": cpu,
              "train_rows": n, "samples_per_s": n * len(wall) / sum(wall), "torch": torch.__version__,
              "params": sum(p.numel() for p in model.parameters())}
    with open(args.out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
