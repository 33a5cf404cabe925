"""DMT: Deep Multifaceted Transformers (Gu et al., CIKM 2020), single-objective version. Each behaviour
sequence has its own Transformer: an encoder layer over the sequence (plus a learned position embedding counted
from the most recent event, so left padding does not move it) and a decoder step whose query is the target item,
``v_x = MHA(e_target, Enc(e_x + p), Enc(e_x + p))``; ``ŷ = σ(MLP([fields, v_1 … v_S]))``. The MMoE multi-task
head and the bias (position) network are left out: this library trains one CTR objective."""

from __future__ import annotations

import torch
from torch import nn

from denoiserec.data.spec import FeatureSpec
from denoiserec.nn.layers import MLP, FieldEmbedding
from denoiserec.nn.sequence import key_padding, positions_from_end, sequence_names, user_item
from denoiserec.settings import Count, Dim, Dims, MultipleOf, Rate


class DMT(nn.Module):
    default_sequences = ("hist",)  # every earlier event (the CLI's and the API's default)

    settings_rules = (MultipleOf("embed_dim", "heads"),)  #: attention heads split the embedding

    def __init__(self, spec: FeatureSpec, embed_dim: Dim = 16, sequences: list[str] | None = None, heads: Count = 2,
                 hidden: Dims = (256, 128, 64), dropout: Rate = 0.0):
        super().__init__()
        self.names = sequence_names(spec, sequences)
        lengths = dict(spec.sequences)
        self.embed = FieldEmbedding(spec, embed_dim, pool_sequences=False)
        self.pos = nn.ModuleDict({n: nn.Embedding(lengths[n], embed_dim) for n in self.names})
        self.enc = nn.ModuleDict({n: nn.TransformerEncoderLayer(embed_dim, heads, 4 * embed_dim, dropout=0.0,
                                                                batch_first=True) for n in self.names})
        self.dec = nn.ModuleDict({n: nn.MultiheadAttention(embed_dim, heads, batch_first=True) for n in self.names})
        self.dnn = MLP((self.embed.n_fields + len(self.names)) * embed_dim, tuple(hidden), dropout)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        fields = self.embed(batch)
        _, e_item = user_item(self.embed, batch)
        pooled = []
        for n in self.names:
            ids = batch[f"seq_{n}"]
            mask = ids > 0
            kpm = key_padding(mask)
            x = self.embed.item_embedding(ids) + self.pos[n](positions_from_end(mask))
            h = self.enc[n](x, src_key_padding_mask=kpm)
            v, _ = self.dec[n](e_item.unsqueeze(1), h, h, key_padding_mask=kpm, need_weights=False)
            pooled.append(v.squeeze(1) * mask.any(1, keepdim=True).to(v.dtype))
        return self.dnn(torch.cat([fields.flatten(1), *pooled], -1)).squeeze(-1)


MODEL = DMT
