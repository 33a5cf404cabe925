"""Run fingerprints (denoiserec.fingerprint): the tasks' meaning versions."""

from denoiserec import fingerprint
from denoiserec.fingerprint import _code_version, _digest, data_fingerprint, run_fingerprint, seqrec_fingerprint

SEQREC = {
    "task": "seqrec",
    "name": "s",
    "data": {"simulate": {"users": 50, "seed": 0}},
    "seeds": [0],
    "model": {"dim": 8},
    "train": {"epochs": 1},
}
CTR = {"data": {"simulate": {"users": 50}}, "models": {"deepfm": {}}, "methods": {"none": {}}, "train": {}}


def test_meaning_version_one_keeps_the_fingerprints_of_before():
    """At meaning 1 the fingerprints are those the formula gave before the number existed (stored results and
    checkpoints stay current)."""
    before = _digest(
        {
            "data": data_fingerprint(SEQREC["data"]),
            "code": _code_version(),
            "config": {k: v for k, v in SEQREC.items() if k not in ("data", "seeds", "name")},
            "seed": 0,
        }
    )
    assert fingerprint.MEANING == {"ctr": 1, "seqrec": 1}
    assert seqrec_fingerprint(SEQREC, 0) == before


def test_bumping_a_tasks_meaning_changes_only_its_fingerprints(monkeypatch):
    seq, ctr = seqrec_fingerprint(SEQREC, 0), run_fingerprint(CTR, "deepfm", "none", 0, "d")
    monkeypatch.setitem(fingerprint.MEANING, "seqrec", 2)
    assert seqrec_fingerprint(SEQREC, 0) != seq and run_fingerprint(CTR, "deepfm", "none", 0, "d") == ctr
    monkeypatch.setitem(fingerprint.MEANING, "seqrec", 1)
    monkeypatch.setitem(fingerprint.MEANING, "ctr", 2)
    assert seqrec_fingerprint(SEQREC, 0) == seq and run_fingerprint(CTR, "deepfm", "none", 0, "d") != ctr
