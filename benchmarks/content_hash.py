"""Cost of keying results and caches by content (denoiserec.data.content): the data fingerprint of the largest
sample in ../shared/data read in full, then with its stored hash, beside the stat-only fingerprint it replaced.

    OMP_NUM_THREADS=1 nice -n 10 python -m benchmarks.content_hash [FOLDER]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path


def main(folder: str | None = None) -> None:
    os.environ["DENOISEREC_CACHE"] = tempfile.mkdtemp(prefix="content-hash-")  # no stored hashes at first
    import denoiserec.data.store  # noqa: F401 - imported before timing
    from denoiserec.data import content

    root = Path(folder) if folder else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    path = max((p for p in root.iterdir() if p.is_dir()),
               key=lambda d: sum(f.stat().st_size for f in d.rglob("*") if f.is_file()))
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    data = {"source": path.name, "path": str(path)}
    for label in ("read in full", "stored hash", "stored hash"):
        t = time.perf_counter()
        content.inputs_digest(data)
        dt = time.perf_counter() - t
        print(f"{path.name} ({size / 1e6:.2f} MB), {label}: {dt * 1e3:.1f} ms ({size / dt / 1e6:.0f} MB/s)")
    t = time.perf_counter()
    for f in sorted(path.rglob("*")):
        if f.is_file():
            f.stat()
    print(f"{path.name}, stat only (the fingerprint before): {(time.perf_counter() - t) * 1e3:.2f} ms")


if __name__ == "__main__":
    main(*sys.argv[1:])
