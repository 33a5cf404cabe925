"""DataSpec: the one reading of a config's ``data`` section (check, load, fingerprint, expected rows, cache key)."""

import os

import pytest
from conftest import make_log

from denoiserec.data.load import DataSpec
from denoiserec.data.log import EVENTS
from denoiserec.errors import ConfigError


def test_kinds_and_round_trip_of_the_checked_section():
    assert DataSpec.from_dict({"simulate": {"users": 5}}).kind == "simulate"
    assert DataSpec.from_dict({"source": "piki", "path": "x"}).kind == "source"
    spec = DataSpec.from_dict({"path": "x", "stream": True, "cache": "c"})
    assert (spec.kind, spec.stream, spec.cache, spec.cache_key()) == ("prepared", True, "c", None)
    with pytest.raises(ConfigError, match="data.path: required"):
        DataSpec.check({"source": "piki"})
    with pytest.raises(ConfigError, match="data.options: only with 'source'"):
        DataSpec.check({"path": "x", "options": {}})


def test_a_prepared_log_is_loaded_counted_and_fingerprinted_by_its_content(tmp_path):
    folder = tmp_path / "prepared"
    folder.mkdir()
    log = make_log(n_users=6, per_user=10)
    log.write_parquet(folder / EVENTS)
    spec = DataSpec.from_dict({"path": str(folder)})
    assert spec.expected_rows() == len(log) == len(spec.load())
    before = spec.fingerprint()
    assert spec.fingerprint() == before
    st = (folder / EVENTS).stat()
    os.utime(folder / EVENTS, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    assert spec.fingerprint() == before  # a touched file with the same bytes is the same data
    log.head(len(log) - 1).write_parquet(folder / EVENTS)
    changed = spec.fingerprint()
    assert changed != before  # other bytes are other data
    (folder / "extra.txt").write_text("x")
    assert len({before, changed, spec.fingerprint()}) == 3


def test_simulated_data_is_keyed_by_its_effective_settings():
    a = DataSpec.from_dict({"simulate": {"users": 20, "seed": 1}})
    b = DataSpec.from_dict({"simulate": {"users": 20, "seed": 2}})
    assert a.fingerprint() != b.fingerprint() and a.cache_key() != b.cache_key()
    assert a.fingerprint() == DataSpec.from_dict({"simulate": {"seed": 1, "users": 20}}).fingerprint()
    assert a.expected_rows() == a.sim_config().expected_rows > 0
