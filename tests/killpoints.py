"""Kill a denoiserec command at each of its renames and check what is left (tests/test_hostile_inputs.py).

``python tests/killpoints.py WORKDIR CASE``: in WORKDIR, for CASE (``simulate``, ``run``, ``predict``), write the old
output, then run the new command once per rename k, killed (``os._exit``, no clean-up) just before its k-th
``os.replace``/``os.rename``; check that the output is then the old or the new one (after :func:`recover`, as the
next command sees it), rerun the new command and check that the new output is complete. Prints a JSON summary.
Each command runs in a forked child of this process, so torch and polars are imported once (and their thread
pools are started in children only: a pool started before a fork deadlocks the child).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

import denoiserec.bundle  # noqa: F401 - imported once here, before the forks (no thread pool is started)
import denoiserec.experiment  # noqa: F401
import denoiserec.report.ctr  # noqa: F401
from denoiserec.cli import app
from denoiserec.io import MARKER, pyplot, recover

KILLED = 77
TINY = ["--users", "8", "--items", "20", "--sessions", "2", "--min-len", "5", "--max-len", "8", "--quiet"]


pyplot()


def invoke(args: list[str], kill_at: int | None = None) -> tuple[int, int]:
    """Run ``denoiserec ARGS`` in a forked child, killed before its ``kill_at``-th rename; (exit code, renames)."""
    counter = Path(".renames")
    pid = os.fork()
    if pid == 0:
        seen = [0]
        for name in ("replace", "rename"):
            real = getattr(os, name)

            def counted(src, dst, *a, _real=real, **kw):
                seen[0] += 1
                counter.write_text(str(seen[0]))
                if os.environ.get("KILLPOINTS_TRACE"):
                    print(f"rename {seen[0]}: {dst}", file=sys.stderr)
                if seen[0] == kill_at:
                    os._exit(KILLED)
                return _real(src, dst, *a, **kw)
            setattr(os, name, counted)
        counter.write_text("0")
        try:
            app([str(a) for a in args])
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except BaseException:  # noqa: BLE001 - a bug: reported as exit 1
            import traceback

            traceback.print_exc()
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), int(counter.read_text())


def digest(path: Path, only: tuple[str, ...] = ()) -> dict[str, str] | None:
    """Content hashes of the files of ``path`` (a file or folder; its marker and ``only`` filter aside)."""
    if not path.exists():
        return None
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file() and p.name != MARKER)
    return {str(p.relative_to(path)) if p != path else p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in files if not only or any(str(p.relative_to(path)).startswith(o) for o in only)}


def copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(src, dst, symlinks=True) if src.is_dir() else shutil.copy2(src, dst)


def leftovers(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.glob(f".{path.name}.denoiserec-tmp-*"))


def run_results(out: Path) -> dict | None:
    """Test metrics of every run record, and whether every record has its bundle."""
    runs = sorted((out / "runs").glob("*.json")) if (out / "runs").is_dir() else []
    return {p.stem: [json.loads(p.read_text())["test"], (out / "bundles" / p.stem / "bundle.json").is_file()]
            for p in runs} or None


def case(name: str) -> dict:
    """The old and new commands of a case, its output path and how its output is compared."""
    if name == "simulate":
        return {"old": ["simulate", "--out", "sim", "--seed", "0", *TINY],
                "new": ["simulate", "--out", "sim", "--seed", "1", *TINY], "out": "sim", "state": digest}
    if not Path("log").exists() and (pid := os.fork()) == 0:  # polars' threads: used in children only
        from conftest import make_log

        from denoiserec.data.log import write_log

        write_log(make_log(n_users=12, per_user=20), "log", source="test")
        write_log(make_log(n_users=12, per_user=20, seed=1), "log2", source="test")
        os._exit(0)
    elif not Path("log").exists():
        os.waitpid(pid, 0)
    cfg = {"data": {"path": "log"}, "seeds": [0], "train": {"epochs": 1, "batch_size": 64, "threads": 1},
           "models": {"deepfm": {"embed_dim": 4}}, "methods": {"none": {}}}
    Path("old.yaml").write_text(json.dumps(cfg))
    Path("new.yaml").write_text(json.dumps({**cfg, "train": {**cfg["train"], "lr": 0.01}}))
    if name == "run":
        return {"old": ["run", "old.yaml", "-o", "res", "--no-progress"],
                "new": ["run", "new.yaml", "-o", "res", "--no-progress"], "out": "res", "state": run_results}
    if name == "predict":
        if not Path("model").exists():
            assert invoke(["run", "old.yaml", "-o", "model", "--no-progress"])[0] == 0
        bundle = "model/bundles/deepfm__none__seed0"
        return {"old": ["predict", bundle, "--data", "log", "-o", "scores.parquet", "--batch-size", "7"],
                "new": ["predict", bundle, "--data", "log2", "-o", "scores.parquet"],
                "out": "scores.parquet", "state": digest}
    raise SystemExit(f"unknown case {name}")


def main(workdir: str, name: str) -> None:
    os.chdir(workdir)
    c = case(name)
    out, state = Path(c["out"]), c["state"]

    def fresh() -> None:
        for p in [q for q in [out, *out.parent.glob(f".{out.name}.denoiserec-tmp-*")] if q.exists()]:
            shutil.rmtree(p) if p.is_dir() else p.unlink()

    fresh()
    code, _ = invoke(c["new"])
    assert code == 0, "the new command fails on its own"
    new = state(out)
    fresh()
    code, renames = invoke(c["old"])
    assert code == 0, "the old command fails"
    old = state(out)
    assert old != new, "old and new outputs must differ to tell them apart"
    kept = Path(".old") / out.name  # the old output, copied back before each kill (not recomputed)
    copy(out, kept)
    code, total = invoke(c["new"])
    report = {"renames": total, "points": []}
    for k in range(1, total + 1):
        fresh()
        copy(kept, out)
        killed, _ = invoke(c["new"], kill_at=k)
        recover(out)
        after_kill = state(out)
        consistent = (after_kill in (old, new) if name != "run"  # run: every record has its bundle
                      else all(bundle for _, bundle in (after_kill or {}).values()))
        rerun, _ = invoke(c["new"])
        report["points"].append({
            "k": k, "killed": killed == KILLED, "consistent": consistent,
            "after_kill": "old" if after_kill == old else "new" if after_kill == new else "neither",
            "rerun_code": rerun, "after_rerun_new": state(out) == new, "leftovers": leftovers(out)})
    print(json.dumps(report))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main(*sys.argv[1:])
