"""The training rows of an attention method as sessions (UAE, S. Dai et al., §IV-B: the estimators run over
each session's plays in order).

Sessions are read from the training tensors (``session``, ``position``, ``active``, ``cat``, ``num``) and
batched as right-padded ``[B, T]`` row-index matrices of sessions of similar length, so a GRU runs over a
whole batch in one cuDNN call; a GRU is causal, so right padding never changes the outputs at real
positions and no packing is needed.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from denoiserec.data.tensors import EncodedTensors


class Sessions:
    """The rows of ``data`` grouped into sessions (ordered by ``position``) and cut into batches of sessions
    of similar length: ``index[b]`` is a ``[B, T]`` int64 matrix of row indices, right-padded with -1, holding
    at most ``batch_rows`` cells (at least one session)."""

    def __init__(self, data: EncodedTensors, batch_rows: int = 1024, seed: int = 0):
        sess, pos = data["session"].cpu().numpy(), data["position"].cpu().numpy()
        n = len(sess)
        order = np.lexsort((pos, sess))
        s = sess[order]
        new = np.ones(n, dtype=bool)
        new[1:] = s[1:] != s[:-1]
        starts = np.flatnonzero(new)
        lengths = np.diff(np.append(starts, n))
        # longest first, random order among equal lengths
        tie = np.random.default_rng(seed).random(len(starts))
        by_len = np.lexsort((tie, -lengths))
        self.index: list[torch.Tensor] = []
        k = 0
        while k < len(by_len):
            t_max = int(lengths[by_len[k]])
            sel = by_len[k:k + max(1, batch_rows // t_max)]
            k += len(sel)
            lens = lengths[sel]
            seg = np.repeat(np.arange(len(sel)), lens)
            col = np.arange(lens.sum()) - np.repeat(np.cumsum(lens) - lens, lens)
            idx = np.full((len(sel), t_max), -1, dtype=np.int64)
            idx[seg, col] = order[np.repeat(starts[sel], lens) + col]
            self.index.append(torch.from_numpy(idx))
        self.n_rows, self.n_sessions = n, len(starts)

    def __len__(self) -> int:
        return len(self.index)


class SessionTensors:
    """The per-row inputs of the estimators, kept on ``device``, gathered per padded batch."""

    def __init__(self, data: EncodedTensors, device: torch.device | str):
        self.cat = data["cat"].to(device)
        self.num = data["num"].to(device)
        self.active = data["active"].float().to(device)
        self.device = device

    def batch(self, index: torch.Tensor) -> dict[str, torch.Tensor]:
        idx = index.to(self.device, non_blocking=True)
        mask = idx >= 0
        j = idx.clamp_min(0)
        return {"index": idx, "mask": mask, "cat": self.cat[j], "num": self.num[j],
                "e": self.active[j] * mask}


def passive_run(e: torch.Tensor) -> torch.Tensor:
    """For ``e [B, T]``: the number of consecutive passive plays right before each position (the plays since
    the last active one, or since the session start)."""
    t = torch.arange(e.shape[1], device=e.device).expand_as(e)
    last = torch.where(e > 0.5, t, torch.full_like(t, -1)).cummax(dim=1).values
    prev = F.pad(last[:, :-1], (1, 0), value=-1)
    return t - 1 - prev
