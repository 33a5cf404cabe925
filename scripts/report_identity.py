"""Check that ``denoiserec report`` re-makes every committed result folder's report byte for byte.

    python scripts/report_identity.py [docs/results] [--save DIR] [--against DIR]

Every folder under the root that holds a ``runs/`` folder is copied into a temporary folder (the committed one is
never written), ``python -m denoiserec report`` runs on the copy (the denoiserec that ``PYTHONPATH`` or the
venv gives, from a temporary working folder), and its ``report.md`` is compared byte for byte
with the committed one. ``--save DIR`` keeps each folder's re-made report, printed summary and PNGs in DIR;
``--against DIR`` (a DIR saved before a change) also compares those (a committed report that an older version
wrote differs from any re-make, but before and after a change the re-makes must agree). Exits 1 when a re-make
fails, or differs: from the committed report, or with ``--against`` from the saved one.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def folders(root: Path) -> list[Path]:
    """Result folders under ``root``: those with a ``runs/`` folder and a committed ``report.md``."""
    return sorted(p.parent for p in root.rglob("runs") if p.is_dir() and (p.parent / "report.md").is_file())


def remake(folder: Path, tmp: Path) -> tuple[Path, subprocess.CompletedProcess]:
    """``denoiserec report`` on a copy of ``folder``; returns the copy and the process."""
    # the report's title is the folder's name; an absolute root's "/" must not make the copy's path absolute
    copy = tmp / "_".join(folder.parts).replace("/", "_") / folder.name
    shutil.copytree(folder, copy)
    proc = subprocess.run(  # run outside the checkout: the denoiserec of PYTHONPATH / the venv, not the cwd's
        [sys.executable, "-m", "denoiserec", "report", str(copy)], capture_output=True, text=True, cwd=tmp
    )
    return copy, proc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("root", nargs="?", default="docs/results", type=Path)
    ap.add_argument("--save", type=Path, help="keep each folder's printed summary and PNGs here")
    ap.add_argument("--against", type=Path, help="compare the summary and PNGs with a --save of before")
    args = ap.parse_args()
    found = folders(args.root)
    same = differ = failed = extra_differ = 0
    with tempfile.TemporaryDirectory(prefix="report_identity_") as t:
        for folder in found:
            copy, proc = remake(folder, Path(t))
            key = "_".join(folder.relative_to(args.root).parts)
            if proc.returncode != 0:
                failed += 1
                print(f"FAILED  {folder}: {proc.stderr.strip().splitlines()[-1:] or proc.returncode}")
                continue
            ok = (copy / "report.md").read_bytes() == (folder / "report.md").read_bytes()
            same, differ = same + ok, differ + (not ok)
            outputs = {
                "report.md": (copy / "report.md").read_bytes(),
                "stdout.txt": proc.stdout.replace(t, "TMP").encode(),  # the copy's path varies
                **{p.name: p.read_bytes() for p in sorted(copy.glob("*.png"))},
            }
            notes = []
            if args.save:
                (args.save / key).mkdir(parents=True, exist_ok=True)
                for name, data in outputs.items():
                    (args.save / key / name).write_bytes(data)
            if args.against:
                ref = args.against / key
                bad = [n for n, d in outputs.items() if not (ref / n).is_file() or (ref / n).read_bytes() != d]
                bad += [p.name for p in ref.glob("*") if p.name not in outputs] if ref.is_dir() else ["(no saved copy)"]
                extra_differ += bool(bad)
                notes.append(
                    f"re-made outputs differ: {', '.join(bad)}" if bad else "re-made outputs identical to before"
                )
            print(f"{'same' if ok else 'DIFFERS'}  {folder}" + (f"  ({'; '.join(notes)})" if notes else ""))
    print(
        f"{len(found)} folders: {same} report.md identical to the committed one, {differ} differ, {failed} failed"
        + (f"; re-made outputs differ in {extra_differ}" if args.against else "")
    )
    return 1 if (differ and not args.against) or failed or extra_differ else 0


if __name__ == "__main__":
    sys.exit(main())
