"""The benchmark's behaviour-sequence data (DIN against the competitors, ``benchmarks/data.py``): the histories
are each row's user's earlier positives, and adding them leaves the 40-field arrays unchanged. No competitors'
venv needed."""

import numpy as np
import pytest

from benchmarks import data as bdata

ROWS, L = 3000, 8
SPLITS = ("train", "valid", "test")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bench_seq")
    plain, seq = bdata.path_for(folder, ROWS), bdata.path_for(folder, ROWS, seq_len=L)
    bdata.build(plain, ROWS)
    info = bdata.build(seq, ROWS, seq_len=L)
    return bdata.load(plain), bdata.load(seq), info


def test_sequence_data_keeps_the_40_field_arrays(built):
    plain, seq, info = built
    assert set(seq) - set(plain) == {"seq_len", *(f"seq_{s}" for s in SPLITS)}
    for k in plain:
        assert np.array_equal(plain[k], seq[k]), k
    assert int(seq["seq_len"]) == L and info["seq_len"] == L and 0 < info["mean_history"] <= L


def test_histories_are_the_users_earlier_positives(built):
    """Brute force over sampled rows of every split: the last L items (encoded ids) of the same user's rows with
    label 1 strictly earlier in (timestamp, session, position), oldest first, left-padded with 0."""
    _, z, _ = built
    log = bdata.simulated(ROWS).with_row_index("row")
    split = log["split"].to_numpy()
    item = np.zeros(log.height, dtype=np.int64)  # each log row's encoded item id, from whichever split holds it
    item_col = bdata.FIELDS.index("item")
    for code, name in enumerate(SPLITS):
        item[split == code] = z[f"cat_{name}"][:, item_col]
    card = int(z["cards"][item_col])
    order = log.sort(["user", "timestamp", "session", "position"], maintain_order=True)
    users, rows, labels = (order[c].to_numpy() for c in ("user", "row", "label"))
    rank = np.empty(log.height, dtype=np.int64)
    rank[rows] = np.arange(log.height)
    rng = np.random.default_rng(0)
    checked = nonempty = 0
    for code, name in enumerate(SPLITS):
        seq = z[f"seq_{name}"]
        assert seq.dtype == np.int32 and seq.shape == (int((split == code).sum()), L)
        assert seq.min() >= 0 and seq.max() < card
        part_rows = np.flatnonzero(split == code)  # the split's rows in log order, as encode_splits keeps them
        for i in rng.choice(len(part_rows), size=min(150, len(part_rows)), replace=False):
            k = rank[part_rows[i]]
            earlier = [j for j in range(k) if users[j] == users[k] and labels[j] == 1]
            want = [int(item[rows[j]]) for j in earlier[-L:]]
            want = [0] * (L - len(want)) + want
            assert seq[i].tolist() == want, (name, i)
            checked += 1
            nonempty += bool(earlier)
    assert checked > 300 and nonempty > checked // 2  # the check saw real histories, not only padding


def test_packed_front_keeps_the_attended_items():
    """DeepCTR-Torch's DIN masks by length: the non-zero ids move to the front in order, the count is the length."""
    from benchmarks.competitors import packed_front

    seq = np.array([[0, 0, 5, 7], [0, 3, 0, 4], [0, 0, 0, 0], [1, 2, 3, 4]], dtype=np.int32)
    packed, length = packed_front(seq)
    assert packed.tolist() == [[5, 7, 0, 0], [3, 4, 0, 0], [0, 0, 0, 0], [1, 2, 3, 4]]
    assert length.tolist() == [2, 2, 0, 4]
    assert np.array_equal(np.sort(packed, 1), np.sort(seq, 1))
