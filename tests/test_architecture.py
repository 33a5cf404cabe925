"""The import graph of the ``denoiserec`` package, read with :mod:`ast` (``docs/design.md``, "Layout").

Every ``import`` / ``from … import`` statement in the package is an edge from its module to the ``denoiserec``
module it names (``from pkg import name`` points at ``pkg.name`` when that is a module, else at ``pkg``).
An edge is *eager* when the statement runs at import time (outside any function body) and *lazy* inside a
function. Implicit parent-package imports (importing ``a.b.c`` runs ``a/__init__``) are not edges.

The rules asserted:

1. The eager graph has no cycle at module granularity.
2. The full graph (eager and lazy, i.e. function-level, edges) has no cycle either, per module and collapsed to
   top-level subpackages/modules: the dispatch goes one way, ``cli`` → ``experiment`` → ``tasks`` (the only
   place that dispatches on a config's task) → ``tasks.ctr`` / ``tasks.seqrec`` → the library. The library
   never imports that entry layer (:data:`ENTRY`) nor the root facade, which eagerly imports only
   ``denoiserec._version``.
3. ``denoiserec.methods`` never reaches ``denoiserec.models`` (directly or through other modules) and vice
   versa; ``denoiserec.nn`` reaches neither. What models and methods share lives in ``denoiserec.nn``.
4. Every module of the model, method and source packages is registered by name there (and only those).
5. ``denoiserec.data`` reaches neither the trainer, the models, the methods nor ``nn``; ``denoiserec.eval`` reaches
   none of them either, nor ``seqrec`` or the reports (evaluation reads data and predictions only).
6. Importing the models and :mod:`denoiserec.nn` does not import polars (the model contract is light).
"""

from __future__ import annotations

import ast
import graphlib
from collections.abc import Iterable
from pathlib import Path

import pytest

import denoiserec

ROOT = Path(denoiserec.__file__).parent
#: the entry layer: what runs a config; nothing below imports it
ENTRY = {"denoiserec", "denoiserec.__main__", "denoiserec.api", "denoiserec.cli", "denoiserec.config_doc",
         "denoiserec.experiment",
         "denoiserec.tasks",
         "denoiserec.tasks.base", "denoiserec.tasks.ctr", "denoiserec.tasks.seqrec"}


def _modules() -> dict[str, Path]:
    out = {}
    for p in ROOT.rglob("*.py"):
        parts = list(p.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _targets(node: ast.AST, package: str) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            parts = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join(parts + ([base] if base else []))
        return [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
    return []


def _edges(module: str, path: Path) -> Iterable[tuple[str, bool]]:
    """``(target, eager)`` for every import of ``module``."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def visit(node: ast.AST, eager: bool):
        for t in _targets(node, package):
            r = _resolve(t) if t.split(".")[0] == "denoiserec" else None
            if r and r != module:
                yield r, eager
        inner = eager and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child in ast.iter_child_nodes(node):
            yield from visit(child, inner)

    yield from visit(ast.parse(path.read_text(), str(path)), True)


EDGES = {m: list(_edges(m, p)) for m, p in MODULES.items()}


def _graph(eager_only: bool = False, keep=lambda m: True) -> dict[str, set[str]]:
    return {m: {t for t, eager in es if (eager or not eager_only) and keep(t)} for m, es in EDGES.items() if keep(m)}


def _assert_acyclic(graph: dict[str, set[str]]) -> None:
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as e:
        pytest.fail(f"import cycle: {' -> '.join(e.args[1])}")


def _reaches(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for t in graph.get(todo.pop(), ()):
            if t not in seen:
                seen.add(t)
                todo.append(t)
    return seen


def test_the_graph_sees_the_package():
    assert {"denoiserec.nn.layers", "denoiserec.models.deepfm", "denoiserec.methods.uae"} <= set(MODULES)
    assert ("denoiserec.nn.layers", True) in EDGES["denoiserec.models.deepfm"]
    assert ("denoiserec.bundle", False) in EDGES["denoiserec"]  # a lazy import inside denoiserec.load


def test_no_cycle_among_eager_imports():
    _assert_acyclic(_graph(eager_only=True))


def test_no_cycle_with_function_level_imports_either():
    """No whitelist: the whole package, lazy imports included, is acyclic per module and per component."""
    graph = _graph()
    _assert_acyclic(graph)
    top = lambda m: ".".join(m.split(".")[:2])  # noqa: E731
    collapsed: dict[str, set[str]] = {}
    for m, ts in graph.items():
        collapsed.setdefault(top(m), set()).update(top(t) for t in ts if top(t) != top(m))
    _assert_acyclic(collapsed)


def test_tasks_are_the_only_dispatch():
    """Only :mod:`denoiserec.tasks` imports the task modules; the CLI and the Python entry go through it."""
    tasks = ("denoiserec.tasks.ctr", "denoiserec.tasks.seqrec")
    importers = {m for m, es in EDGES.items() for t, _ in es if t in tasks}
    assert importers <= {"denoiserec.tasks", "denoiserec.experiment"}, importers
    assert ("denoiserec.tasks", True) in EDGES["denoiserec.experiment"]


def test_the_library_never_imports_the_entry_layer():
    bad = [(m, t) for m, es in EDGES.items() if m not in ENTRY for t, _ in es if t in ENTRY]
    assert not bad
    assert [t for t, eager in EDGES["denoiserec"] if eager] == ["denoiserec._version"]


@pytest.mark.parametrize(("source", "forbidden"), [("denoiserec.methods", "denoiserec.models"),
                                                    ("denoiserec.models", "denoiserec.methods"),
                                                    ("denoiserec.nn", "denoiserec.models"),
                                                    ("denoiserec.nn", "denoiserec.methods")])
def test_methods_and_models_stay_apart(source, forbidden):
    graph = _graph()
    bad = {(m, t) for m in graph if m == source or m.startswith(source + ".")
           for t in _reaches(graph, m) if t == forbidden or t.startswith(forbidden + ".")}
    assert not bad


@pytest.mark.parametrize("forbidden", ["denoiserec.train", "denoiserec.models", "denoiserec.methods", "denoiserec.nn"])
def test_data_flows_one_way(forbidden):
    """Data never reaches what consumes it: the encoder returns :class:`denoiserec.data.tensors.EncodedTensors`,
    which the trainer batches (:mod:`denoiserec.train.encoded`), not the other way round."""
    graph = _graph()
    bad = {(m, t) for m in graph if m.startswith("denoiserec.data.") or m == "denoiserec.data"
           for t in _reaches(graph, m) if t == forbidden or t.startswith(forbidden + ".")}
    assert not bad


@pytest.mark.parametrize("forbidden", ["denoiserec.train", "denoiserec.models", "denoiserec.methods", "denoiserec.nn",
                                       "denoiserec.seqrec", "denoiserec.report"])
def test_evaluation_reads_only_data(forbidden):
    """:mod:`denoiserec.eval` scores predictions and data; the trainer, the task code and the reports import it."""
    graph = _graph()
    bad = {(m, t) for m in graph if m.startswith("denoiserec.eval.") or m == "denoiserec.eval"
           for t in _reaches(graph, m) if t == forbidden or t.startswith(forbidden + ".")}
    assert not bad


@pytest.mark.parametrize(("registry", "helpers"), [("denoiserec.models", set()), ("denoiserec.methods", {"base"}),
                                                   ("denoiserec.data.sources", set())])
def test_every_module_of_a_registry_package_is_registered(registry, helpers):
    """Models, methods and sources are registered explicitly by name in their package; a module added to one of
    those packages without registering it (or a name registered without its module) fails here."""
    import importlib

    package = importlib.import_module(registry)
    names = set(getattr(package, {"denoiserec.models": "MODELS", "denoiserec.methods": "METHODS"}.get(
        registry, "SOURCES")))
    modules = {m.rpartition(".")[2] for m in MODULES if m.rpartition(".")[0] == registry}
    assert names == {m for m in modules if not m.startswith("_")} - helpers


def test_models_and_nn_do_not_import_polars():
    """The model contract (:mod:`denoiserec.data.spec`) is light: building any model imports torch, not polars."""
    import subprocess
    import sys

    code = ("import sys, importlib, denoiserec.models as m, denoiserec.nn.layers, denoiserec.nn.sequence, "
            "denoiserec.nn.attention\n"
            "for name in m.MODELS: importlib.import_module(f'denoiserec.models.{name}')\n"
            "print(sorted(k for k in sys.modules if k == 'polars' or k.startswith('polars.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=ROOT.parent).stdout.strip()
    assert out == "[]"
