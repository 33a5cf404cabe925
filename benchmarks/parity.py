"""Parity of denoiserec's CTR models with FuxiCTR 2.3.10: same weights, same batch, same logits.

Run inside the competitors' venv (``python -m benchmarks.venv`` builds it; it has polars, so denoiserec imports
there from the repository root)::

    .bench_venvs/competitors/bin/python -m benchmarks.parity

For every model both libraries have, the script builds denoiserec's model (``denoiserec.models``) and
FuxiCTR's on the same feature layout, gives denoiserec's model random weights, copies them into FuxiCTR's
model through a per-model weight-mapping function (denoiserec parameter → FuxiCTR parameter name and shape;
every trainable FuxiCTR parameter must be set, or the script stops), runs one batch through both and prints
the largest absolute logit difference. Two columns: ``cat`` -- categorical fields only (and DIN's history), in
float64, target ≤ 1e-5; ``cat+num`` -- with two numeric fields too, in float32, because FuxiCTR's
``FeatureEmbeddingDict`` casts numeric inputs with ``.float()`` and so cannot run them in float64; there the
target is ≤ 1e-5 relative to the largest logit. Exit status 1 if any row misses its target.

FuxiCTR's PyPI wheel ships its layers (``fuxictr.pytorch.layers``) but not the ``model_zoo`` that defines
DeepFM, DCN, ... (see ``benchmarks/competitors.py``), so the FuxiCTR models below are the model_zoo classes of
the FuxiCTR repository at v2.3.10 (path given on each class), rewritten over the wheel's layers with their
layer construction and ``forward`` unchanged; dropped are only the ``BaseModel`` plumbing (``get_inputs``,
``compile``, ``reset_parameters``) and the final sigmoid, since logits are compared.

Layout differences that are mapped, not excused: denoiserec fuses all categorical fields into one table with
per-field row offsets (FuxiCTR: one ``nn.Embedding`` per field), and where a model has a first-order term its
weights are that table's last column (FuxiCTR: a 1-dim table per field); denoiserec's ``LinearTerm`` has a bias in
its numeric ``nn.Linear`` besides its own bias (summed into FuxiCTR's single bias); where FuxiCTR's first-order
term has no bias (Wide&Deep, xDeepFM) denoiserec's is added to the bias of the layer that produces the logit;
denoiserec's CIN concatenates ``X^{k-1} ∘ X^0`` pairs map-major, FuxiCTR field-major (the conv's input
channels are permuted); AutoInt's fused ``qkv`` is split into ``W_q, W_k, W_v``; DIN's activation unit reads
``[e_j, v_A, e_j − v_A, e_j ⊙ v_A]``, FuxiCTR's ``[v_A, e_j, v_A − e_j, v_A ⊙ e_j]``; DIEN's AUGRU keeps
``nn.GRU``'s gate order ``(r, z, n)`` with ``u = 1 − z``, FuxiCTR's cell ``(u, r, n)``; denoiserec's histories are
left-padded, FuxiCTR's DIEN packs them with ``pack_padded_sequence`` and so gets them right-padded; one PReLU
slope per layer (denoiserec) is repeated over FuxiCTR's one per unit. The two AutoInt/DIEN adjustments of
denoiserec's weights (``W_Res = I``, zero weights on DIEN's pooled history) and the differences by design are
listed in :data:`DIFFERS` and ``docs/models.md``.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.competitors import _stub_ray  # noqa: E402
from denoiserec.data.spec import FeatureSpec  # noqa: E402
from denoiserec.models import build_model  # noqa: E402

CATEGORICAL = (("user", 7), ("item", 11), ("artist", 5), ("context", 4))
NUMERIC = ("x0", "x1")
SEQUENCE, SEQ_LEN = "hist", 6  # a history of item ids, left-padded with 0 (DIN only)
DIN_ROW = "din + hist (sigmoid unit, PReLU MLP, no softmax)"
DIEN_ROW = "dien + hist (AUGRU, bilinear attention, PReLU MLP), pooled history's MLP weights = 0"
EMBED, HIDDEN = 8, [32, 16]
TOLERANCE = 1e-5


# ----------------------------------------------------------------------------------- FuxiCTR model_zoo models
def fuxi_models():
    _stub_ray()
    from fuxictr.pytorch.layers import (
        CompressedInteractionNet,
        CrossNet,
        CrossNetV2,
        DIN_Attention,
        FactorizationMachine,
        FeatureEmbedding,
        FeatureEmbeddingDict,
        InnerProductInteraction,
        LogisticRegression,
        MLP_Block,
        ScaledDotProductAttention,
    )

    def mlp(input_dim, hidden_units, output_dim):
        return MLP_Block(input_dim=input_dim, output_dim=output_dim, hidden_units=list(hidden_units),
                         hidden_activations="ReLU", output_activation=None, dropout_rates=0, batch_norm=False)

    class LR(nn.Module):  # model_zoo/LR/src/LR.py
        def __init__(self, fmap):
            super().__init__()
            self.lr_layer = LogisticRegression(fmap, use_bias=True)

        def forward(self, X):
            return self.lr_layer(X)

    class FM(nn.Module):  # model_zoo/FM/src/FM.py
        def __init__(self, fmap, embedding_dim):
            super().__init__()
            self.embedding_layer = FeatureEmbedding(fmap, embedding_dim)
            self.fm = FactorizationMachine(fmap)

        def forward(self, X):
            return self.fm(X, self.embedding_layer(X))

    class WideDeep(nn.Module):  # model_zoo/WideDeep/WideDeep_torch/src/WideDeep.py
        def __init__(self, fmap, embedding_dim, hidden_units):
            super().__init__()
            self.embedding_layer = FeatureEmbedding(fmap, embedding_dim)
            self.lr_layer = LogisticRegression(fmap, use_bias=False)
            self.dnn = mlp(embedding_dim * fmap.num_fields, hidden_units, 1)

        def forward(self, X):
            feature_emb = self.embedding_layer(X)
            y_pred = self.lr_layer(X)
            y_pred += self.dnn(feature_emb.flatten(start_dim=1))
            return y_pred

    class DeepFM(nn.Module):  # model_zoo/DeepFM/DeepFM_torch/src/DeepFM.py
        def __init__(self, fmap, embedding_dim, hidden_units):
            super().__init__()
            self.embedding_layer = FeatureEmbedding(fmap, embedding_dim)
            self.fm = FactorizationMachine(fmap)
            self.mlp = mlp(fmap.sum_emb_out_dim(), hidden_units, 1)

        def forward(self, X):
            feature_emb = self.embedding_layer(X)
            y_pred = self.fm(X, feature_emb)
            y_pred += self.mlp(feature_emb.flatten(start_dim=1))
            return y_pred

    class DCN(nn.Module):  # model_zoo/DCN/DCN_torch/src/DCN.py
        def __init__(self, fmap, embedding_dim, dnn_hidden_units, num_cross_layers):
            super().__init__()
            self.embedding_layer = FeatureEmbedding(fmap, embedding_dim)
            input_dim = fmap.sum_emb_out_dim()
            self.dnn = mlp(input_dim, dnn_hidden_units, None)
            self.crossnet = CrossNet(input_dim, num_cross_layers)
            self.fc = nn.Linear(input_dim + dnn_hidden_units[-1], 1)

        def forward(self, X):
            feature_emb = self.embedding_layer(X, flatten_emb=True)
            final_out = torch.cat([self.crossnet(feature_emb), self.dnn(feature_emb)], dim=-1)
            return self.fc(final_out)

    class DCNv2(nn.Module):  # model_zoo/DCNv2/src/DCNv2.py (use_low_rank_mixture=False)
        def __init__(self, fmap, embedding_dim, model_structure, dnn_hidden_units, num_cross_layers):
            super().__init__()
            self.embedding_layer = FeatureEmbedding(fmap, embedding_dim)
            input_dim = fmap.sum_emb_out_dim()
            self.crossnet = CrossNetV2(input_dim, num_cross_layers)
            self.model_structure = model_structure
            if model_structure == "stacked":
                self.stacked_dnn = mlp(input_dim, dnn_hidden_units, None)
                final_dim = dnn_hidden_units[-1]
            else:
                self.parallel_dnn = mlp(input_dim, dnn_hidden_units, None)
                final_dim = input_dim + dnn_hidden_units[-1]
            self.fc = nn.Linear(final_dim, 1)

        def forward(self, X):
            feature_emb = self.embedding_layer(X, flatten_emb=True)
            cross_out = self.crossnet(feature_emb)
            if self.model_structure == "stacked":
                final_out = self.stacked_dnn(cross_out)
            else:
                final_out = torch.cat([cross_out, self.parallel_dnn(feature_emb)], dim=-1)
            return self.fc(final_out)

    class xDeepFM(nn.Module):  # model_zoo/xDeepFM/src/xDeepFM.py
        def __init__(self, fmap, embedding_dim, dnn_hidden_units, cin_hidden_units):
            super().__init__()
            self.embedding_layer = FeatureEmbedding(fmap, embedding_dim)
            self.dnn = mlp(fmap.sum_emb_out_dim(), dnn_hidden_units, 1)
            self.lr_layer = LogisticRegression(fmap, use_bias=False)
            self.cin = CompressedInteractionNet(fmap.num_fields, cin_hidden_units, output_dim=1)

        def forward(self, X):
            feature_emb = self.embedding_layer(X)
            y_pred = self.lr_layer(X) + self.cin(feature_emb)
            y_pred += self.dnn(feature_emb.flatten(start_dim=1))
            return y_pred

    class MultiHeadSelfAttention(nn.Module):  # model_zoo/AutoInt/src/AutoInt.py (dropout 0, no layer norm)
        def __init__(self, input_dim, attention_dim, num_heads, use_residual, use_scale):
            super().__init__()
            self.head_dim = attention_dim // num_heads
            self.num_heads = num_heads
            self.use_residual = use_residual
            self.scale = self.head_dim ** 0.5 if use_scale else None
            self.W_q = nn.Linear(input_dim, attention_dim, bias=False)
            self.W_k = nn.Linear(input_dim, attention_dim, bias=False)
            self.W_v = nn.Linear(input_dim, attention_dim, bias=False)
            if self.use_residual and input_dim != attention_dim:
                self.W_res = nn.Linear(input_dim, attention_dim, bias=False)
            else:
                self.W_res = None
            self.dot_attention = ScaledDotProductAttention(0.0)

        def forward(self, X):
            residual = X
            query, key, value = self.W_q(X), self.W_k(X), self.W_v(X)
            batch_size = query.size(0)
            query = query.view(batch_size, -1, self.num_heads, self.head_dim).transpose(1, 2)
            key = key.view(batch_size, -1, self.num_heads, self.head_dim).transpose(1, 2)
            value = value.view(batch_size, -1, self.num_heads, self.head_dim).transpose(1, 2)
            output, _ = self.dot_attention(query, key, value, scale=self.scale)
            output = output.transpose(1, 2).contiguous().view(batch_size, -1, self.num_heads * self.head_dim)
            if self.W_res is not None:
                residual = self.W_res(residual)
            if self.use_residual:
                output += residual
            return output.relu()

    class AutoInt(nn.Module):  # model_zoo/AutoInt/src/AutoInt.py (use_wide=False, layer_norm=False)
        def __init__(self, fmap, embedding_dim, dnn_hidden_units, attention_layers, num_heads, attention_dim,
                     use_residual, use_scale):
            super().__init__()
            self.embedding_layer = FeatureEmbedding(fmap, embedding_dim)
            self.dnn = mlp(fmap.sum_emb_out_dim(), dnn_hidden_units, 1) if dnn_hidden_units else None
            self.self_attention = nn.Sequential(*[
                MultiHeadSelfAttention(embedding_dim if i == 0 else attention_dim, attention_dim, num_heads,
                                       use_residual, use_scale) for i in range(attention_layers)])
            self.fc = nn.Linear(fmap.num_fields * attention_dim, 1)

        def forward(self, X):
            feature_emb = self.embedding_layer(X)
            y_pred = self.fc(torch.flatten(self.self_attention(feature_emb), start_dim=1))
            if self.dnn is not None:
                y_pred += self.dnn(feature_emb.flatten(start_dim=1))
            return y_pred

    class PNN(nn.Module):  # model_zoo/PNN/src/PNN.py (product_type="inner", the only one it implements)
        def __init__(self, fmap, embedding_dim, hidden_units):
            super().__init__()
            self.embedding_layer = FeatureEmbedding(fmap, embedding_dim)
            self.inner_product_layer = InnerProductInteraction(fmap.num_fields, output="inner_product")
            input_dim = int(fmap.num_fields * (fmap.num_fields - 1) / 2) + fmap.num_fields * embedding_dim
            self.dnn = mlp(input_dim, hidden_units, 1)  # model_zoo: output_activation=sigmoid; logits here

        def forward(self, X):
            feature_emb = self.embedding_layer(X)
            inner_products = self.inner_product_layer(feature_emb)
            return self.dnn(torch.cat([feature_emb.flatten(start_dim=1), inner_products], dim=1))

    class DIN(nn.Module):  # model_zoo/DIN/src/DIN.py (one target field, one sequence field)
        def __init__(self, fmap, embedding_dim, dnn_hidden_units, dnn_activations, attention_hidden_units,
                     attention_hidden_activations, din_target_field, din_sequence_field, din_use_softmax):
            super().__init__()
            self.din_target_field, self.din_sequence_field = [din_target_field], [din_sequence_field]
            self.feature_map, self.embedding_dim = fmap, embedding_dim
            self.embedding_layer = FeatureEmbeddingDict(fmap, embedding_dim)
            self.attention_layers = nn.ModuleList(
                [DIN_Attention(embedding_dim, attention_units=attention_hidden_units,
                               hidden_activations=attention_hidden_activations, output_activation=None,
                               dropout_rate=0, use_softmax=din_use_softmax) for _ in self.din_target_field])
            self.dnn = MLP_Block(input_dim=fmap.sum_emb_out_dim(), output_dim=1, hidden_units=dnn_hidden_units,
                                 hidden_activations=dnn_activations, output_activation=None, dropout_rates=0,
                                 batch_norm=False)

        def forward(self, X):
            feature_emb_dict = self.embedding_layer(X)
            for idx, (target_field, sequence_field) in enumerate(zip(self.din_target_field,
                                                                     self.din_sequence_field, strict=True)):
                target_emb = feature_emb_dict[target_field]
                sequence_emb = feature_emb_dict[sequence_field]
                mask = X[sequence_field].long() != 0  # padding_idx = 0 required
                feature_emb_dict[sequence_field] = self.attention_layers[idx](target_emb, sequence_emb, mask)
            feature_emb = self.embedding_layer.dict2tensor(feature_emb_dict, flatten_emb=True)
            return self.dnn(feature_emb)

    from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

    class AttentionLayer(nn.Module):  # model_zoo/DIEN/src/DIEN.py, attention_type="bilinear_attention"
        def __init__(self, model_dim, use_attention_softmax=True):
            super().__init__()
            self.use_attention_softmax = use_attention_softmax
            self.W_kernel = nn.Parameter(torch.eye(model_dim))

        def forward(self, sequence_emb, target_emb, mask=None):
            seq_len = sequence_emb.size(1)
            attn_score = (sequence_emb @ self.W_kernel) @ target_emb.unsqueeze(-1)
            attn_score = attn_score.view(-1, seq_len)
            if mask is not None:
                attn_score = attn_score * mask.float()
            if self.use_attention_softmax:
                if mask is not None:
                    attn_score += -1.e9 * (1 - mask.float())
                attn_score = attn_score.softmax(dim=-1)
            return attn_score

    class AUGRUCell(nn.Module):  # model_zoo/DIEN/src/DIEN.py
        def __init__(self, input_size, hidden_size, bias=True):
            super().__init__()
            self.x2h = nn.Linear(input_size, 3 * hidden_size, bias=bias)
            self.h2h = nn.Linear(hidden_size, 3 * hidden_size, bias=bias)

        def forward(self, x, hx, attn):
            gate_x = self.x2h(x)
            gate_h = self.h2h(hx)
            i_u, i_r, i_n = gate_x.chunk(3, 1)
            h_u, h_r, h_n = gate_h.chunk(3, 1)
            update_gate = torch.sigmoid(i_u + h_u)
            update_gate = update_gate * attn.unsqueeze(-1)
            reset_gate = torch.sigmoid(i_r + h_r)
            new_gate = torch.tanh(i_n + reset_gate * h_n)
            return hx + update_gate * (new_gate - hx)

    class DynamicGRU(nn.Module):  # model_zoo/DIEN/src/DIEN.py, gru_type="AUGRU"
        def __init__(self, input_size, hidden_size, bias=True):
            super().__init__()
            self.hidden_size = hidden_size
            self.gru_cell = AUGRUCell(input_size, hidden_size, bias=bias)

        def forward(self, packed_seq_emb, attn_score=None, h=None):
            x, batch_sizes, sorted_indices, unsorted_indices = packed_seq_emb
            attn, _, _, _ = attn_score
            if h is None:
                h = torch.zeros(batch_sizes[0], self.hidden_size, device=x.device)
            output_h = torch.zeros(batch_sizes[0], self.hidden_size, device=x.device)
            outputs = torch.zeros(x.shape[0], self.hidden_size, device=x.device)
            start = 0
            for batch_size in batch_sizes:
                _x = x[start: start + batch_size]
                _h = h[:batch_size]
                _attn = attn[start: start + batch_size]
                h = self.gru_cell(_x, _h, _attn)
                outputs[start: start + batch_size] = h
                output_h[:batch_size] = h
                start += batch_size
            return PackedSequence(outputs, batch_sizes, sorted_indices, unsorted_indices), output_h[unsorted_indices]

    class DIEN(nn.Module):  # model_zoo/DIEN/src/DIEN.py: AUGRU, bilinear attention, one target/sequence field
        def __init__(self, fmap, embedding_dim, dnn_hidden_units, dnn_activations, dien_target_field,
                     dien_sequence_field, dien_neg_seq_field, use_attention_softmax=True):
            super().__init__()
            self.dien_target_field, self.dien_sequence_field = [dien_target_field], [dien_sequence_field]
            self.dien_neg_seq_field = [dien_neg_seq_field]
            self.embedding_layer = FeatureEmbeddingDict(fmap, embedding_dim)
            self.extraction_modules, self.evolving_modules = nn.ModuleList(), nn.ModuleList()
            self.attention_modules = nn.ModuleList()
            model_dim = embedding_dim
            self.extraction_modules.append(nn.GRU(input_size=model_dim, hidden_size=model_dim, batch_first=True))
            self.evolving_modules.append(DynamicGRU(model_dim, model_dim))
            self.attention_modules.append(AttentionLayer(model_dim, use_attention_softmax))
            # feature_dim as DIEN.__init__ computes it (no sum pooling, one negative-sequence field)
            feature_dim = model_dim * 2 + fmap.sum_emb_out_dim() - embedding_dim - embedding_dim * 2
            self.dnn = MLP_Block(input_dim=feature_dim, output_dim=1, hidden_units=dnn_hidden_units,
                                 hidden_activations=dnn_activations, output_activation=None, dropout_rates=0,
                                 batch_norm=False)

        def forward(self, X):  # aux_loss_alpha=0, enable_sum_pooling=False
            feature_emb_dict = self.embedding_layer(X)
            concat_emb = []
            for idx, (target_field, sequence_field) in enumerate(zip(self.dien_target_field,
                                                                     self.dien_sequence_field, strict=True)):
                target_emb = feature_emb_dict[target_field]
                sequence_emb = feature_emb_dict[sequence_field]
                pad_mask = X[sequence_field].long() > 0  # padding_idx = 0 required
                non_zero_mask = pad_mask.sum(dim=1) > 0
                packed_interests, interest_emb = self.interest_extraction(idx, sequence_emb[non_zero_mask],
                                                                          pad_mask[non_zero_mask])
                h_out = self.interest_evolution(idx, packed_interests, interest_emb, target_emb[non_zero_mask],
                                                pad_mask[non_zero_mask])
                concat_emb.append(self.get_unmasked_tensor(h_out, non_zero_mask))
            for feature, emb in feature_emb_dict.items():
                if emb.ndim == 2 and feature not in self.dien_neg_seq_field:
                    concat_emb.append(emb)
            return self.dnn(torch.cat(concat_emb, dim=-1))

        def get_unmasked_tensor(self, h, non_zero_mask):
            out = torch.zeros([non_zero_mask.size(0)] + list(h.shape[1:]), device=h.device)
            out[non_zero_mask] = h
            return out

        def interest_extraction(self, idx, sequence_emb, mask):
            seq_lens = mask.sum(dim=1).cpu()
            packed_seq = pack_padded_sequence(sequence_emb, seq_lens, batch_first=True, enforce_sorted=False)
            packed_interests, _ = self.extraction_modules[idx](packed_seq)
            interest_emb, _ = pad_packed_sequence(packed_interests, batch_first=True, padding_value=0.0,
                                                  total_length=mask.size(1))
            return packed_interests, interest_emb

        def interest_evolution(self, idx, packed_interests, interest_emb, target_emb, mask):
            attn_scores = self.attention_modules[idx](interest_emb, target_emb, mask)
            seq_lens = mask.sum(dim=1).cpu()
            packed_scores = pack_padded_sequence(attn_scores, seq_lens, batch_first=True, enforce_sorted=False)
            _, h_out = self.evolving_modules[idx](packed_interests, packed_scores)
            return h_out.squeeze()

    return dict(LR=LR, FM=FM, WideDeep=WideDeep, DeepFM=DeepFM, DCN=DCN, DCNv2=DCNv2, xDeepFM=xDeepFM,
                AutoInt=AutoInt, PNN=PNN, DIN=DIN, DIEN=DIEN)


def feature_map(numeric: bool, sequence: bool = False, negatives: bool = False):
    from fuxictr.features import FeatureMap

    fmap = FeatureMap("parity", tempfile.mkdtemp(prefix="parity_"))
    fmap.features = OrderedDict((name, {"type": "categorical", "vocab_size": card, "source": ""})
                                for name, card in CATEGORICAL)
    if numeric:
        fmap.features.update((name, {"type": "numeric", "source": ""}) for name in NUMERIC)
    if sequence:  # item ids, 0 = padding, in the item field's table
        fmap.features[SEQUENCE] = {"type": "sequence", "source": "", "share_embedding": "item", "padding_idx": 0,
                                   "vocab_size": dict(CATEGORICAL)["item"], "max_len": SEQ_LEN}
    if negatives:  # FuxiCTR's DIEN sizes its MLP assuming a negative-sample sequence field (unused at alpha=0)
        fmap.features[f"neg_{SEQUENCE}"] = dict(fmap.features[SEQUENCE])
    fmap.labels = ["label"]
    fmap.num_fields = len(fmap.features)
    fmap.total_features = sum(card for _, card in CATEGORICAL) + (len(NUMERIC) if numeric else 0)
    fmap.default_emb_dim = EMBED
    fmap.set_column_index()
    return fmap


def feature_spec(numeric: bool, sequence: bool = False) -> FeatureSpec:
    return FeatureSpec(categorical=tuple(n for n, _ in CATEGORICAL), cardinalities=tuple(c for _, c in CATEGORICAL),
                       numeric=NUMERIC if numeric else (), sequences=((SEQUENCE, SEQ_LEN),) if sequence else ())


# ------------------------------------------------------------------------- weight mapping: denoiserec → FuxiCTR
class StateDict(OrderedDict):
    """FuxiCTR parameter name → tensor, with a shape check against the FuxiCTR model on :meth:`load`."""

    def set(self, name: str, value: torch.Tensor):
        self[name] = value.detach().clone()

    def load(self, fuxi: nn.Module):
        own = fuxi.state_dict()
        for name, value in self.items():
            if name not in own:
                raise KeyError(f"no FuxiCTR parameter {name!r}")
            if own[name].shape != value.shape:
                raise ValueError(f"{name}: FuxiCTR shape {tuple(own[name].shape)}, mapped {tuple(value.shape)}")
        missing = [n for n, p in fuxi.named_parameters() if p.requires_grad and n not in self]
        if missing:
            raise KeyError(f"FuxiCTR parameters left unmapped: {missing}")
        own.update(self)
        fuxi.load_state_dict(own)


def map_embedding(sd: StateDict, prefix: str, embed, spec: FeatureSpec):
    """denoiserec ``FieldEmbedding`` (one fused table, per-field row offsets) → FuxiCTR ``FeatureEmbeddingDict``
    at ``prefix`` (one ``nn.Embedding`` per field)."""
    for f, (name, card) in enumerate(zip(spec.categorical, spec.cardinalities, strict=True)):
        start = int(embed.offsets[f])  # the embedding columns (a first_order table's last one is LinearTerm's w_f)
        sd.set(f"{prefix}.embedding_layers.{name}.weight", embed.table.weight[start:start + card, :embed.dim])
    for d, name in enumerate(spec.numeric):  # x_d · v_d = nn.Linear(1, E, bias=False)(x_d)
        sd.set(f"{prefix}.embedding_layers.{name}.weight", embed.numeric[d].unsqueeze(1))


def map_linear(sd: StateDict, prefix: str, linear, spec: FeatureSpec, with_bias: bool, embed=None) -> torch.Tensor:
    """denoiserec ``LinearTerm`` → FuxiCTR ``LogisticRegression`` (a 1-dim ``FeatureEmbedding`` + bias); a fused
    ``LinearTerm``'s categorical weights are the last column of ``embed``'s table (``first_order``).
    Returns the total bias (``LinearTerm.bias`` + the numeric ``nn.Linear``'s bias); set here when FuxiCTR's
    layer has a bias, else the caller adds it to another bias."""
    weights, offsets = (embed.table.weight[:, embed.dim:], embed.offsets) if linear.fused else (
        linear.weight.weight, linear.offsets)
    for f, (name, card) in enumerate(zip(spec.categorical, spec.cardinalities, strict=True)):
        start = int(offsets[f])
        sd.set(f"{prefix}.embedding_layer.embedding_layer.embedding_layers.{name}.weight",
               weights[start:start + card])
    bias = linear.bias.detach().clone()
    for d, name in enumerate(spec.numeric):
        sd.set(f"{prefix}.embedding_layer.embedding_layer.embedding_layers.{name}.weight",
               linear.numeric.weight[:, d:d + 1])
    if linear.numeric is not None:
        bias = bias + linear.numeric.bias.detach()
    if with_bias:
        sd.set(f"{prefix}.bias", bias)
    return bias


def map_linears(sd: StateDict, fuxi_seq: nn.Sequential, prefix: str, linears: list[nn.Linear],
                extra_bias: torch.Tensor | None = None):
    """denoiserec ``nn.Linear`` layers, in order → the ``nn.Linear`` layers of FuxiCTR's ``nn.Sequential``
    (``MLP_Block.mlp``); ``extra_bias`` is added to the last one's bias."""
    names = [n for n, m in fuxi_seq.named_children() if isinstance(m, nn.Linear)]
    if len(names) != len(linears):
        raise ValueError(f"{prefix}: {len(names)} FuxiCTR linear layers, {len(linears)} denoiserec")
    for i, (name, lin) in enumerate(zip(names, linears, strict=True)):
        sd.set(f"{prefix}.{name}.weight", lin.weight)
        bias = lin.bias.detach()
        if extra_bias is not None and i == len(linears) - 1:
            bias = bias + extra_bias
        sd.set(f"{prefix}.{name}.bias", bias)


def linears(module: nn.Module) -> list[nn.Linear]:
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


def map_lr(ours, fuxi, spec):
    sd = StateDict()
    map_linear(sd, "lr_layer", ours.linear, spec, with_bias=True)
    return sd


def map_fm(ours, fuxi, spec):
    sd = StateDict()
    map_embedding(sd, "embedding_layer.embedding_layer", ours.embed, spec)
    map_linear(sd, "fm.lr_layer", ours.linear, spec, with_bias=True, embed=ours.embed)
    return sd


def map_widedeep(ours, fuxi, spec):
    sd = StateDict()
    map_embedding(sd, "embedding_layer.embedding_layer", ours.embed, spec)
    bias = map_linear(sd, "lr_layer", ours.wide, spec, with_bias=False, embed=ours.embed)
    map_linears(sd, fuxi.dnn.mlp, "dnn.mlp", linears(ours.deep), extra_bias=bias)
    return sd


def map_deepfm(ours, fuxi, spec):
    sd = StateDict()
    map_embedding(sd, "embedding_layer.embedding_layer", ours.embed, spec)
    map_linear(sd, "fm.lr_layer", ours.linear, spec, with_bias=True, embed=ours.embed)
    map_linears(sd, fuxi.mlp.mlp, "mlp.mlp", linears(ours.dnn))
    return sd


def map_dcn(ours, fuxi, spec):
    sd = StateDict()
    map_embedding(sd, "embedding_layer.embedding_layer", ours.embed, spec)
    for i, (w, b) in enumerate(zip(ours.cross.w, ours.cross.b, strict=True)):  # x0 (x_l·w_l) + b_l + x_l
        sd.set(f"crossnet.cross_net.{i}.weight.weight", w.unsqueeze(0))
        sd.set(f"crossnet.cross_net.{i}.bias", b)
    map_linears(sd, fuxi.dnn.mlp, "dnn.mlp", linears(ours.dnn))
    sd.set("fc.weight", ours.out.weight)
    sd.set("fc.bias", ours.out.bias)
    return sd


def map_dcnv2(ours, fuxi, spec):
    sd = StateDict()
    map_embedding(sd, "embedding_layer.embedding_layer", ours.embed, spec)
    for i, m in enumerate(ours.cross.maps):  # x0 ⊙ (W_l x_l + b_l) + x_l
        sd.set(f"crossnet.cross_layers.{i}.weight", m.weight)
        sd.set(f"crossnet.cross_layers.{i}.bias", m.bias)
    if ours.structure == "stacked":  # denoiserec: MLP(x_L) with its last layer = FuxiCTR's fc
        *hidden, last = linears(ours.dnn)
        map_linears(sd, fuxi.stacked_dnn.mlp, "stacked_dnn.mlp", hidden)
        sd.set("fc.weight", last.weight)
        sd.set("fc.bias", last.bias)
    else:
        map_linears(sd, fuxi.parallel_dnn.mlp, "parallel_dnn.mlp", linears(ours.dnn))
        sd.set("fc.weight", ours.out.weight)
        sd.set("fc.bias", ours.out.bias)
    return sd


def map_xdeepfm(ours, fuxi, spec):
    sd = StateDict()
    map_embedding(sd, "embedding_layer.embedding_layer", ours.embed, spec)
    bias = map_linear(sd, "lr_layer", ours.linear, spec, with_bias=False, embed=ours.embed)
    m = ours.embed.n_fields
    h = m
    for k, conv in enumerate(ours.cin.convs):
        # denoiserec's channel h·m + f holds X^{k-1}_h ∘ X^0_f; FuxiCTR's einsum("bhd,bmd->bhmd", X_0, X_i) puts
        # it at channel f·H + h
        w = conv.weight.view(conv.out_channels, h, m, 1).transpose(1, 2).reshape(conv.out_channels, m * h, 1)
        sd.set(f"cin.cin_layer.layer_{k + 1}.weight", w)
        sd.set(f"cin.cin_layer.layer_{k + 1}.bias", conv.bias)
        h = conv.out_channels
    sd.set("cin.fc.weight", ours.cin_out.weight)
    sd.set("cin.fc.bias", bias)  # denoiserec's CIN output has no bias; its first-order term's goes here
    map_linears(sd, fuxi.dnn.mlp, "dnn.mlp", linears(ours.dnn))
    return sd


def map_autoint(ours, fuxi, spec):
    sd = StateDict()
    map_embedding(sd, "embedding_layer.embedding_layer", ours.embed, spec)
    for i, layer in enumerate(ours.attn):
        q, k, v = layer.qkv.weight.chunk(3, dim=0)  # view(b, f, 3, H, d'): rows [W_q; W_k; W_v], head-major
        for name, w in (("W_q", q), ("W_k", k), ("W_v", v)):
            sd.set(f"self_attention.{i}.{name}.weight", w)
        if fuxi.self_attention[i].W_res is not None:
            sd.set(f"self_attention.{i}.W_res.weight", layer.res.weight)
    sd.set("fc.weight", ours.out.weight)
    sd.set("fc.bias", ours.out.bias)
    if ours.dnn is not None:
        map_linears(sd, fuxi.dnn.mlp, "dnn.mlp", linears(ours.dnn))
    return sd


def map_pnn(ours, fuxi, spec):
    sd = StateDict()
    map_embedding(sd, "embedding_layer.embedding_layer", ours.embed, spec)
    map_linears(sd, fuxi.dnn.mlp, "dnn.mlp", linears(ours.dnn))
    return sd


def map_din(ours, fuxi, spec):
    sd = StateDict()
    map_embedding(sd, "embedding_layer", ours.embed, spec)  # FuxiCTR's DIN uses FeatureEmbeddingDict itself
    # FuxiCTR's history shares the item field's nn.Embedding; its state_dict lists it under both names
    sd.set(f"embedding_layer.embedding_layers.{SEQUENCE}.weight",
           sd["embedding_layer.embedding_layers.item.weight"])
    first, *rest = linears(ours.att[SEQUENCE].mlp)
    # denoiserec's unit reads [e_j, v_A, e_j − v_A, e_j ⊙ v_A], FuxiCTR's [v_A, e_j, v_A − e_j, v_A ⊙ e_j]
    w_k, w_q, w_d, w_p = first.weight.detach().chunk(4, dim=1)
    att = fuxi.attention_layers[0].attention_layer.mlp
    names = [n for n, m in att.named_children() if isinstance(m, nn.Linear)]
    sd.set(f"attention_layers.0.attention_layer.mlp.{names[0]}.weight", torch.cat([w_q, w_k, -w_d, w_p], 1))
    sd.set(f"attention_layers.0.attention_layer.mlp.{names[0]}.bias", first.bias)
    for name, lin in zip(names[1:], rest, strict=True):
        sd.set(f"attention_layers.0.attention_layer.mlp.{name}.weight", lin.weight)
        sd.set(f"attention_layers.0.attention_layer.mlp.{name}.bias", lin.bias)
    map_linears(sd, fuxi.dnn.mlp, "dnn.mlp", linears(ours.dnn))
    # denoiserec's nn.PReLU() has one slope per layer, FuxiCTR's one per unit: the same slope for every unit
    ours_prelu = [m for m in ours.dnn.modules() if isinstance(m, nn.PReLU)]
    fuxi_prelu = [n for n, m in fuxi.dnn.mlp.named_children() if isinstance(m, nn.PReLU)]
    for name, ours_act, units in zip(fuxi_prelu, ours_prelu, HIDDEN, strict=True):
        sd.set(f"dnn.mlp.{name}.weight", ours_act.weight.detach().expand(units))
    return sd


def map_dien(ours, fuxi, spec):
    sd = StateDict()
    map_embedding(sd, "embedding_layer", ours.embed, spec)
    for shared in (SEQUENCE, f"neg_{SEQUENCE}"):  # both share the item field's nn.Embedding
        sd.set(f"embedding_layer.embedding_layers.{shared}.weight", sd["embedding_layer.embedding_layers.item.weight"])
    # interest extractor: denoiserec's MaskedGRU uses nn.GRU's gate order (r, z, n) and equations
    sd.set("extraction_modules.0.weight_ih_l0", ours.extractor.x2h.weight)
    sd.set("extraction_modules.0.bias_ih_l0", ours.extractor.x2h.bias)
    sd.set("extraction_modules.0.weight_hh_l0", ours.extractor.h2h.weight)
    sd.set("extraction_modules.0.bias_hh_l0", ours.extractor.h2h.bias)
    # attention h_tᵀ W e_A: denoiserec's nn.Linear(E, H) weight is FuxiCTR's bilinear W_kernel
    sd.set("attention_modules.0.W_kernel", ours.att.weight)
    # AUGRU: denoiserec (r, z, n) with u = 1 − σ(z-pre) = σ(−z-pre); FuxiCTR (u, r, n) with u = σ(u-pre)
    for part in ("x2h", "h2h"):
        lin = getattr(ours.evolver, part)
        for kind in ("weight", "bias"):
            r, z, n = getattr(lin, kind).detach().chunk(3, dim=0)
            sd.set(f"evolving_modules.0.gru_cell.{part}.{kind}", torch.cat([-z, r, n], 0))
    # MLP: denoiserec's input [fields, pooled histories, final state], FuxiCTR's [final state, fields]
    first, *rest = linears(ours.dnn)
    n_fields = len(spec.categorical) + len(spec.numeric)
    e = ours.embed.dim
    w = first.weight.detach()
    names = [n for n, m in fuxi.dnn.mlp.named_children() if isinstance(m, nn.Linear)]
    sd.set(f"dnn.mlp.{names[0]}.weight", torch.cat([w[:, -ours.evolver.hidden:], w[:, :n_fields * e]], 1))
    sd.set(f"dnn.mlp.{names[0]}.bias", first.bias)
    for name, lin in zip(names[1:], rest, strict=True):
        sd.set(f"dnn.mlp.{name}.weight", lin.weight)
        sd.set(f"dnn.mlp.{name}.bias", lin.bias)
    ours_prelu = [m for m in ours.dnn.modules() if isinstance(m, nn.PReLU)]
    fuxi_prelu = [n for n, m in fuxi.dnn.mlp.named_children() if isinstance(m, nn.PReLU)]
    for name, ours_act, units in zip(fuxi_prelu, ours_prelu, HIDDEN, strict=True):
        sd.set(f"dnn.mlp.{name}.weight", ours_act.weight.detach().expand(units))
    return sd


def dien_no_pooled_history(ours):
    """denoiserec's DIEN also feeds the mean-pooled history to its MLP, FuxiCTR's (``enable_sum_pooling=False``)
    does not: zero denoiserec's MLP weights on that input."""
    n_fields = len(ours.embed.spec.categorical) + len(ours.embed.spec.numeric)
    e = ours.embed.dim
    with torch.no_grad():
        linears(ours.dnn)[0].weight[:, n_fields * e:(n_fields + len(ours.embed.sequences)) * e] = 0


def autoint_identity_residual(ours):
    """FuxiCTR's residual is the identity where a layer's input and output widths agree (layers 2..L);
    denoiserec learns ``W_Res`` in every layer (Song et al. 2019, eq. 8): set those to the identity."""
    with torch.no_grad():
        for layer in list(ours.attn)[1:]:
            layer.res.weight.copy_(torch.eye(*layer.res.weight.shape))


# ------------------------------------------------------------------------------------------------------- cases
# (row label, denoiserec model + hparams, FuxiCTR class + kwargs (fmap and embedding_dim added), mapping,
#  adjustment of denoiserec's weights before the mapping or None)
CASES = [
    ("lr", ("lr", {}), ("LR", {}), map_lr, None),
    ("fm", ("fm", dict(embed_dim=EMBED)), ("FM", {}), map_fm, None),
    ("widedeep", ("widedeep", dict(embed_dim=EMBED, hidden=HIDDEN)), ("WideDeep", dict(hidden_units=HIDDEN)),
     map_widedeep, None),
    ("deepfm", ("deepfm", dict(embed_dim=EMBED, hidden=HIDDEN)), ("DeepFM", dict(hidden_units=HIDDEN)),
     map_deepfm, None),
    ("dcn", ("dcn", dict(embed_dim=EMBED, hidden=HIDDEN, cross_layers=3)),
     ("DCN", dict(dnn_hidden_units=HIDDEN, num_cross_layers=3)), map_dcn, None),
    ("dcnv2 parallel", ("dcnv2", dict(embed_dim=EMBED, hidden=HIDDEN, cross_layers=3)),
     ("DCNv2", dict(model_structure="parallel", dnn_hidden_units=HIDDEN, num_cross_layers=3)), map_dcnv2, None),
    ("dcnv2 stacked", ("dcnv2", dict(embed_dim=EMBED, hidden=HIDDEN, cross_layers=3, structure="stacked")),
     ("DCNv2", dict(model_structure="stacked", dnn_hidden_units=HIDDEN, num_cross_layers=3)), map_dcnv2, None),
    ("xdeepfm split_half=False", ("xdeepfm", dict(embed_dim=EMBED, hidden=HIDDEN, cin_layers=(6, 4, 4),
                                                  split_half=False)),
     ("xDeepFM", dict(dnn_hidden_units=HIDDEN, cin_hidden_units=[6, 4, 4])), map_xdeepfm, None),
    ("autoint, W_Res=I in layers 2-3", ("autoint", dict(embed_dim=EMBED, layers=3, heads=2, head_dim=32)),
     ("AutoInt", dict(dnn_hidden_units=[], attention_layers=3, num_heads=2, attention_dim=64, use_residual=True,
                      use_scale=False)), map_autoint, autoint_identity_residual),
    ("autoint+ scaled, W_Res=I in layers 2-3",
     ("autoint", dict(embed_dim=EMBED, layers=3, heads=2, head_dim=32, scaled=True, hidden=HIDDEN)),
     ("AutoInt", dict(dnn_hidden_units=HIDDEN, attention_layers=3, num_heads=2, attention_dim=64,
                      use_residual=True, use_scale=True)), map_autoint, autoint_identity_residual),
    ("pnn inner", ("pnn", dict(embed_dim=EMBED, hidden=HIDDEN, product="inner")), ("PNN", dict(hidden_units=HIDDEN)),
     map_pnn, None),
    (DIN_ROW, ("din", dict(embed_dim=EMBED, att_hidden=(16, 8), hidden=HIDDEN)),
     ("DIN", dict(dnn_hidden_units=HIDDEN, dnn_activations="PReLU", attention_hidden_units=[16, 8],
                  attention_hidden_activations="Sigmoid", din_target_field="item", din_sequence_field=SEQUENCE,
                  din_use_softmax=False)), map_din, None),
    (DIEN_ROW, ("dien", dict(embed_dim=EMBED, sequence=SEQUENCE, hidden=HIDDEN)),
     ("DIEN", dict(dnn_hidden_units=HIDDEN, dnn_activations="PReLU", dien_target_field="item",
                   dien_sequence_field=SEQUENCE, dien_neg_seq_field=f"neg_{SEQUENCE}")), map_dien,
     dien_no_pooled_history),
]
SEQUENCE_MODELS = {"din", "dien"}

#: Models FuxiCTR has that this script does not compare.
NOT_COMPARED: list[tuple[str, str]] = []

#: Where the formulas differ by design (read from both implementations), one line each.
DIFFERS = [
    ("autoint, learned W_Res in layers 2-3", "FuxiCTR's MultiHeadSelfAttention uses W_res only when the input "
     "and attention widths differ (layer 1) and the identity otherwise; denoiserec learns W_Res in every layer, "
     "as in Song et al. 2019 (eq. 8). Equal once denoiserec's W_Res = I (rows above)."),
    ("xdeepfm split_half=True (denoiserec's default)", "FuxiCTR's CompressedInteractionNet feeds every feature map "
     "to the next layer and sum-pools all of them; denoiserec by default splits each hidden layer's maps in half "
     "(half pooled, half passed on), as the xDeepFM authors' code does. Equal with split_half=False (row above)."),
    ("dcnv2 rank=r (low-rank)", "FuxiCTR's low-rank DCN-V2 is the mixture of experts (CrossNetMix: tanh, gating, "
     "r×r core); denoiserec's is the plain U_l V_lᵀ x_l of Wang et al. 2021 -- no FuxiCTR counterpart."),
    ("pnn outer / both", "FuxiCTR's PNN implements only product_type='inner' (raises NotImplementedError "
     "otherwise)."),
    ("din softmax=True", "on a row whose history is empty denoiserec's masked softmax gives all-zero weights "
     "(pooled vector 0), FuxiCTR's DIN_Attention (scores − 1e9 on padding) a uniform average of the padding "
     "positions' embeddings (zero only if the item table's padding row is zero)."),
    ("dien, pooled history in the MLP", "denoiserec's DIEN joins every encoded history, mean-pooled, to the MLP "
     "input (FieldEmbedding); FuxiCTR's joins only the AUGRU's final state (or, with enable_sum_pooling, the "
     "sum-pooled history and its product with the target). Equal once denoiserec's MLP weights on the pooled "
     "history are 0 (row above). The auxiliary loss is training-only and not compared."),
    ("din defaults", "FuxiCTR's model_zoo DIN defaults to Dice in the activation unit and ReLU in the MLP; "
     "denoiserec uses sigmoid and PReLU (one slope per layer; FuxiCTR's PReLU has one per unit, mapped by "
     "repeating it). The row above configures FuxiCTR like denoiserec."),
]


def randomise(model: nn.Module, seed: int):
    """Random weights everywhere (denoiserec's ``LinearTerm`` starts at zero, which would hide a mapping error)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            std = 0.3 if p.dim() == 1 else 1.0 / math.sqrt(p.shape[-1])
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * std)


def batch(spec: FeatureSpec, rows: int, dtype: torch.dtype, seed: int):
    g = torch.Generator().manual_seed(seed)
    cat = torch.stack([torch.randint(0, c, (rows,), generator=g) for c in spec.cardinalities], 1)
    num = torch.randn(rows, len(spec.numeric), generator=g, dtype=dtype)
    ours = {"cat": cat, "num": num}
    fuxi = OrderedDict((name, cat[:, f]) for f, name in enumerate(spec.categorical))
    fuxi.update((name, num[:, d]) for d, name in enumerate(spec.numeric))
    for name, max_len in spec.sequences:  # left-padded histories of 0..max_len items (some empty)
        ids = torch.randint(1, spec.cardinalities[spec.item_field], (rows, max_len), generator=g)
        length = torch.randint(0, max_len + 1, (rows,), generator=g)
        ids = ids.masked_fill(torch.arange(max_len) < (max_len - length).unsqueeze(1), 0)
        ours[f"seq_{name}"] = ids  # denoiserec: left-padded (its encoder's layout)
        # FuxiCTR's DIEN packs sequences with pack_padded_sequence, which reads the first `length` positions:
        # the same items in the same order, right-padded
        fuxi[name] = ids.gather(1, (torch.arange(max_len) + (max_len - length).unsqueeze(1)) % max_len)
    return ours, fuxi


def compare(case, numeric: bool, rows: int, seed: int) -> tuple[float, float]:
    """Max |logit difference| and max |logit| of one case."""
    _, (name, hp), (fuxi_name, fkw), mapping, adjust = case
    dtype = torch.float32 if numeric else torch.float64
    sequence = name in SEQUENCE_MODELS
    spec, fmap = feature_spec(numeric, sequence), feature_map(numeric, sequence, negatives=name == "dien")
    torch.manual_seed(seed)
    ours = build_model(name, spec, **hp).to(dtype).eval()
    randomise(ours, seed)
    if adjust is not None:
        adjust(ours)
    extra = {} if fuxi_name == "LR" else dict(embedding_dim=EMBED)
    fuxi = fuxi_models()[fuxi_name](fmap, **extra, **fkw).to(dtype).eval()
    mapping(ours, fuxi, spec).load(fuxi)
    xb, xf = batch(spec, rows, dtype, seed + 1)
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # FuxiCTR's DIEN allocates its GRU outputs with torch.zeros(...) (no dtype)
    try:
        with torch.no_grad():
            a = ours(xb).reshape(-1)
            b = fuxi(xf).reshape(-1)
    finally:
        torch.set_default_dtype(default)
    return float((a - b).abs().max()), float(a.abs().max())


def _mutations():
    """Deliberate errors the comparison must catch: (label, case, context manager applying the error)."""
    from contextlib import contextmanager, nullcontext

    import denoiserec.models.dcn as dcn_module
    import denoiserec.models.fm as fm_module
    import denoiserec.models.pnn as pnn_module

    cases = {c[0]: c for c in CASES}

    @contextmanager
    def patched(obj, name, value):
        old = getattr(obj, name)
        setattr(obj, name, value)
        try:
            yield
        finally:
            setattr(obj, name, old)

    mapped = map_embedding

    def swap_fields(sd, prefix, embed, spec):  # the first rows of two fields' tables exchanged
        mapped(sd, prefix, embed, spec)
        a, b = (f"{prefix}.embedding_layers.{n}.weight" for n in (spec.categorical[0],
                                                                                  spec.categorical[-1]))
        sd[a][:3], sd[b][:3] = sd[b][:3].clone(), sd[a][:3].clone()

    def unpermuted_cin(ours, fuxi, spec):
        sd = map_xdeepfm(ours, fuxi, spec)
        for k, conv in enumerate(ours.cin.convs):
            sd.set(f"cin.cin_layer.layer_{k + 1}.weight", conv.weight)
        return sd

    def dropped_bias(ours, fuxi, spec):  # first-order bias not added to the deep part's last bias
        return map_widedeep(ours, fuxi, spec) | {"dnn.mlp.4.bias": linears(ours.deep)[-1].bias.detach()}

    fm = fm_module.fm_interaction

    def swapped_cross(self, x0):  # x_{l+1} = x_l (x_0·w_l) + b_l + x_l instead of x_0 (x_l·w_l) + b_l + x_l
        x = x0
        for w, b in zip(self.w, self.b, strict=True):
            x = x * (x0 @ w).unsqueeze(-1) + b + x
        return x

    pnn_forward = pnn_module.PNN.forward

    def reversed_pairs(self, batch):
        self.pairs = self.pairs.flip(0)
        try:
            return pnn_forward(self, batch)
        finally:
            self.pairs = self.pairs.flip(0)

    def din_difference_unsigned(ours, fuxi, spec):  # e_j − v_A mapped onto v_A − e_j without the sign
        sd = map_din(ours, fuxi, spec)
        first = linears(ours.att[SEQUENCE].mlp)[0].weight.detach()
        w_k, w_q, w_d, w_p = first.chunk(4, dim=1)
        name = next(k for k in sd if k.startswith("attention_layers.0.") and k.endswith("weight"))
        sd.set(name, torch.cat([w_q, w_k, w_d, w_p], 1))
        return sd

    def augru_gate_unsigned(ours, fuxi, spec):  # AUGRU's update gate mapped without u = σ(−z-pre)
        sd = map_dien(ours, fuxi, spec)
        for part in ("x2h", "h2h"):
            for kind in ("weight", "bias"):
                r, z, n = getattr(getattr(ours.evolver, part), kind).detach().chunk(3, dim=0)
                sd.set(f"evolving_modules.0.gru_cell.{part}.{kind}", torch.cat([z, r, n], 0))
        return sd

    def with_mapping(case, mapping, adjust="same"):
        return (case[0], case[1], case[2], mapping, case[4] if adjust == "same" else adjust)

    return [
        ("deepfm: two fields' embedding rows exchanged", cases["deepfm"],
         patched(sys.modules[__name__], "map_embedding", swap_fields)),
        ("fm: sign of the FM term flipped", cases["fm"], patched(fm_module, "fm_interaction", lambda e: -fm(e))),
        ("xdeepfm: CIN input channels not permuted", with_mapping(cases["xdeepfm split_half=False"], unpermuted_cin),
         nullcontext()),
        ("widedeep: first-order bias not mapped", with_mapping(cases["widedeep"], dropped_bias),
         nullcontext()),
        ("dcn: cross-layer inputs swapped", cases["dcn"],
         patched(dcn_module.CrossNetwork, "forward", swapped_cross)),
        ("pnn: inner-product pairs in reverse order", cases["pnn inner"],
         patched(pnn_module.PNN, "forward", reversed_pairs)),
        ("autoint: learned W_Res in layers 2-3", with_mapping(cases["autoint, W_Res=I in layers 2-3"],
                                                             map_autoint, None),
         nullcontext()),
        ("din: sign of e_j − v_A not mapped", with_mapping(cases[DIN_ROW], din_difference_unsigned), nullcontext()),
        ("dien: AUGRU update gate not negated", with_mapping(cases[DIEN_ROW], augru_gate_unsigned), nullcontext()),
        ("dien: pooled history's MLP weights kept", with_mapping(cases[DIEN_ROW], map_dien, None), nullcontext()),
    ]


def check_harness(rows: int, seed: int) -> int:
    """Every deliberate error in :func:`_mutations` must move the logits by more than 1e-3."""
    print("| deliberate error | max abs diff, cat (float64) | caught |")
    print("|---|---|---|")
    missed = 0
    for label, case, ctx in _mutations():
        with ctx:
            d64, _ = compare(case, False, rows, seed)
        missed += d64 <= 1e-3
        print(f"| {label} | {d64:.1e} | {'yes' if d64 > 1e-3 else '**NO**'} |")
    return 1 if missed else 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--check-harness", action="store_true",
                   help="instead: apply deliberate mapping/formula errors and check that each is caught")
    args = p.parse_args(argv)
    import fuxictr

    if args.check_harness:
        return check_harness(args.rows, args.seed)

    print(f"FuxiCTR {fuxictr.__version__}, torch {torch.__version__}; batch {args.rows} rows, "
          f"{len(CATEGORICAL)} categorical + {len(NUMERIC)} numeric fields, embedding {EMBED}, MLP {HIDDEN}\n")
    print("| model | max abs diff, cat (float64) | max abs diff, cat+num (float32) | max abs logit (float32) | equal |")
    print("|---|---|---|---|---|")
    failed = 0
    for case in CASES:
        d64, _ = compare(case, False, args.rows, args.seed)
        d32, scale = compare(case, True, args.rows, args.seed)
        # float64: absolute 1e-5; float32 (numeric fields): 1e-5 relative to the largest logit, float32's
        # rounding being ~6e-8 of the value per operation
        ok = d64 <= TOLERANCE and d32 <= TOLERANCE * max(1.0, scale)
        failed += not ok
        print(f"| {case[0]} | {d64:.1e} | {d32:.1e} | {scale:.1f} | {'yes' if ok else '**NO**'} |")
    for label, why in DIFFERS:
        print(f"| {label} | differs on purpose: {why} | | | |")
    for label, why in NOT_COMPARED:
        print(f"| {label} | not compared: {why} | | | |")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
