"""The competitors' virtual environment: ``.bench_venvs/competitors`` under the repo root (gitignored).

Built by the benchmark itself with ``python -m venv`` and pip, in this order, so that pip can never pull a
CUDA build of torch: the local CPU wheel ``torch==2.13.0+cpu`` (from pip's find-links) with ``--no-deps`` and
torch's own pure-Python dependencies; then ``deepctr-torch``, ``fuxictr`` and ``recbole`` with ``--no-deps``
(each pins or requires torch) and their real dependencies by hand. Left out on purpose: ``ray`` (FuxiCTR
imports it only for its parquet loader and its preprocessing, which the benchmark does not use; RecBole pins
``ray<=2.6.3``, which conflicts with FuxiCTR's ``ray>=2.52``), ``tensorboard``, ``plotly`` and ``thop``
(RecBole's logging and FLOP counting). pandas lives only here, never in denoiserec's environment.

``python -m benchmarks.venv`` builds it alone; a marker file makes a second run a no-op.

RecBole 1.2.1 predates NumPy 2 (its ``Config`` reads ``np.float_``) and pandas 3 (its ID remapping uses
``Series.agg(len)`` element-wise), so its SASRec (``benchmarks/seqrec_sasrec.py``) runs in a second venv,
``.bench_venvs/recbole``, with ``numpy<2`` and ``pandas<3`` and RecBole's own dependencies (``tensorboard``
included: RecBole imports it unconditionally); the competitors' venv keeps the newest NumPy and pandas that the
other benchmarks were measured with. ``python -m benchmarks.venv recbole`` builds it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".bench_venvs" / "competitors"
TORCH = os.environ.get("BENCH_TORCH_SPEC", "torch==2.13.0+cpu")
TORCH_DEPS = ["filelock", "typing-extensions>=4.10", "sympy>=1.13", "networkx", "jinja2", "fsspec", "setuptools"]
LIBS = ["deepctr-torch==0.3.0", "fuxictr==2.3.10", "recbole==1.2.1"]
LIB_DEPS = ["numpy", "pandas", "pyarrow", "polars", "scikit-learn", "scipy", "tqdm", "pyyaml", "h5py", "pydantic",
            "requests", "colorlog==4.7.2", "colorama==0.4.4", "tabulate", "texttable", "psutil"]
MARKER = VENV / ".complete"
RECBOLE_VENV = ROOT / ".bench_venvs" / "recbole"
RECBOLE_LIBS = ["recbole==1.2.1"]
RECBOLE_DEPS = ["numpy>=1.26,<2", "pandas>=2.0,<3", "polars", "pyarrow", "scipy", "scikit-learn", "tqdm", "pyyaml",
                "tensorboard", "colorlog==4.7.2", "colorama==0.4.4", "tabulate", "texttable", "psutil", "requests"]
RECBOLE_MARKER = RECBOLE_VENV / ".complete"


def python() -> Path:
    return VENV / "bin" / "python"


def recbole_python() -> Path:
    return RECBOLE_VENV / "bin" / "python"


def _pip(*args: str, venv: Path = VENV) -> None:
    cmd = [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q", *args]
    print("+", " ".join(cmd[1:]), file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True)


def _build(venv: Path, libs: list[str], deps: list[str], check: str, marker_text: str) -> Path:
    """Build ``venv`` once (CPU torch without its dependencies first, then torch's own, then ``libs`` with
    ``--no-deps`` and their ``deps``), run the ``check`` import, leave the marker; return its interpreter."""
    interpreter, marker = venv / "bin" / "python", venv / ".complete"
    if marker.exists():
        return interpreter
    if not interpreter.exists():
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    _pip("--no-deps", TORCH, venv=venv)
    _pip(*TORCH_DEPS, venv=venv)
    _pip("--no-deps", *libs, venv=venv)
    _pip(*deps, venv=venv)
    subprocess.run([str(interpreter), "-c", check + "; assert torch.version.cuda is None, "
                    "'a CUDA torch was installed: ' + torch.__version__"], check=True)
    marker.write_text(marker_text + "\n")
    return interpreter


def ensure() -> Path:
    """Build the competitors' venv once; return its interpreter."""
    return _build(VENV, LIBS, LIB_DEPS, "import torch, deepctr_torch, fuxictr, pandas; print(torch.__version__)",
                  " ".join([TORCH, *LIBS]))


def ensure_recbole() -> Path:
    """Build RecBole's venv once (same torch rule as :func:`ensure`); return its interpreter."""
    return _build(RECBOLE_VENV, RECBOLE_LIBS, RECBOLE_DEPS,
                  "import torch, recbole, pandas, polars; from recbole.config import Config; "
                  "print(torch.__version__, recbole.__version__, pandas.__version__)",
                  " ".join([TORCH, *RECBOLE_LIBS, *RECBOLE_DEPS]))


if __name__ == "__main__":
    print(ensure_recbole() if sys.argv[1:] == ["recbole"] else ensure())
