"""Compare the run records of two results folders key by key, timings left out: the behaviour check of a refactor
(issue 28, "identical run records except timings"). Run one config with each code tree, then compare::

    PYTHONPATH=/path/to/old python -m denoiserec run cfg.yaml -o /tmp/old --no-progress
    PYTHONPATH=$PWD         python -m denoiserec run cfg.yaml -o /tmp/new --no-progress
    python scripts/compare_runs.py /tmp/old /tmp/new

Prints each differing key path and exits 1 when any record differs (or one folder lacks a record), else 0.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path

#: keys that measure time, not behaviour
TIMING = re.compile(r"(^|_)(seconds|elapsed|time|minutes)($|_)")


def differences(a: object, b: object, path: str = "") -> list[str]:
    """Key paths where ``a`` and ``b`` differ (timings left out); NaN equals NaN."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            if TIMING.search(str(k)):
                continue
            if k not in a or k not in b:
                out.append(f"{path}.{k}: only in {'new' if k not in a else 'old'}")
            else:
                out += differences(a[k], b[k], f"{path}.{k}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items vs {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in differences(x, y, f"{path}[{i}]")]
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return []
    return [] if a == b else [f"{path}: {a!r} vs {b!r}"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("old", type=Path)
    p.add_argument("new", type=Path)
    args = p.parse_args(argv)
    old = {f.name: f for f in sorted((args.old / "runs").glob("*.json"))}
    new = {f.name: f for f in sorted((args.new / "runs").glob("*.json"))}
    bad = 0
    for name in sorted(set(old) | set(new)):
        if name not in old or name not in new:
            print(f"{name}: only in {'new' if name not in old else 'old'}")
            bad += 1
            continue
        diff = differences(json.loads(old[name].read_text()), json.loads(new[name].read_text()))
        bad += bool(diff)
        print(f"{name}: {'identical except timings' if not diff else f'{len(diff)} difference(s)'}")
        for d in diff[:20]:
            print(f"  {d}")
    print(f"{len(set(old) | set(new))} records, {bad} differing")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
