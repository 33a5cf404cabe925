"""Ranges and allowed values of settings, declared once where a setting is taken -- a model's or method's
constructor, a settings dataclass -- as :data:`typing.Annotated` markers, and read from there by the config
check (:func:`denoiserec.validate.coerce`) and by docs/config.md (:mod:`denoiserec.config_doc`)::

    def __init__(self, spec, embed_dim: Dim = 8, hidden: Dims = (256, 128), dropout: Rate = 0.0,
                 structure: Literal["parallel", "stacked"] = "parallel"): ...

A marker is any object with ``problem(value) -> str | None`` and ``text`` (what it allows, as docs/config.md
shows it): :class:`Range` for numbers, :class:`Check` for a rule of its own; ``Literal[...]`` lists choices.
A marker on a list's or tuple's item type applies to each item (``hidden[0]: must be >= 1, got -5``).
No torch, no polars: models import this.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated


def _num(x: float) -> str:
    return str(int(x)) if isinstance(x, float) and x.is_integer() and abs(x) < 1e15 else str(x)


@dataclass(frozen=True)
class Range:
    """A number's bounds: ``ge``/``gt`` below, ``le``/``lt`` above (None: unbounded); None values pass."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    @property
    def text(self) -> str:
        lo = f"[{_num(self.ge)}" if self.ge is not None else f"({_num(self.gt)}" if self.gt is not None else None
        hi = f"{_num(self.le)}]" if self.le is not None else f"{_num(self.lt)})" if self.lt is not None else None
        if lo and hi:
            return f"{lo}, {hi}"
        if lo:
            return f">= {lo[1:]}" if lo[0] == "[" else f"> {lo[1:]}"
        if hi:
            return f"<= {hi[:-1]}" if hi[-1] == "]" else f"< {hi[:-1]}"
        return ""

    def problem(self, v: object) -> str | None:
        if v is None:
            return None
        ok = ((self.ge is None or v >= self.ge) and (self.gt is None or v > self.gt)
              and (self.le is None or v <= self.le) and (self.lt is None or v < self.lt))
        if ok:
            return None
        return f"must be {'in ' if ',' in self.text else ''}{self.text}, got {v!r}"


@dataclass(frozen=True)
class Check:
    """A rule of its own: ``rule(value)`` gives the problem or None; ``text`` is what it allows."""

    text: str
    rule: Callable[[object], str | None]

    def problem(self, v: object) -> str | None:
        return None if v is None else self.rule(v)


@dataclass(frozen=True)
class MultipleOf:
    """A rule across two settings of one class, declared as its ``settings_rules``: ``key`` a multiple of ``of``
    (attention heads splitting an embedding)."""

    key: str
    of: str

    @property
    def text(self) -> str:
        return f"{self.key} a multiple of {self.of}"

    def problem(self, values: dict) -> str | None:
        a, b = values.get(self.key), values.get(self.of)
        if isinstance(a, int) and isinstance(b, int) and b > 0 and a % b:
            return f"{self.key} ({a}) must be a multiple of {self.of} ({b})"
        return None


def declared_problem(cls: type, values: dict) -> tuple[str, str] | None:
    """The first ``(key, problem)`` of ``values`` against the markers and ``Literal`` choices declared on ``cls``'s
    fields (no type check: a dataclass built in code checks its ranges with this in ``__post_init__``)."""
    hints = typing.get_type_hints(cls, include_extras=True)
    for key, v in values.items():
        hint = hints.get(key)
        for m in markers(hint):
            if problem := m.problem(v):
                return key, problem
        choices = typing.get_args(hint) if typing.get_origin(hint) is typing.Literal else None
        if choices is not None and v not in choices:
            return key, f"must be one of {list(choices)}, got {v!r}"
    return None


def rules_problem(cls: object, values: dict) -> str | None:
    """The first problem of ``cls``'s ``settings_rules`` with ``values`` (its defaults filled in), or None."""
    for rule in getattr(cls, "settings_rules", ()):
        if problem := rule.problem(values):
            return problem
    return None


#: the common declarations
Count = Annotated[int, Range(ge=1)]  #: a size, a number of layers / heads / epochs, a batch size: >= 1
Dim = Count  #: an embedding or hidden width
Dims = tuple[Count, ...]  #: an MLP's layer widths (empty: no hidden layer)
NonNegInt = Annotated[int, Range(ge=0)]
NonNeg = Annotated[float, Range(ge=0)]  #: a weight, a decay, an exponent such as UAE's gamma
Positive = Annotated[float, Range(gt=0)]  #: a learning rate, a margin
Rate = Annotated[float, Range(ge=0, lt=1)]  #: dropout: [0, 1)
Share = Annotated[float, Range(ge=0, le=1)]  #: a probability or share: [0, 1]


def markers(hint: object) -> list:
    """The markers on ``hint`` itself (``Annotated[int, Range(ge=1)]`` -> ``[Range(ge=1)]``)."""
    if typing.get_origin(hint) is Annotated:
        return [m for m in hint.__metadata__ if hasattr(m, "problem")]
    return []


def bare(hint: object) -> object:
    """``hint`` without its markers, at every depth (``tuple[Count, ...]`` -> ``tuple[int, ...]``)."""
    if typing.get_origin(hint) is Annotated:
        return bare(typing.get_args(hint)[0])
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        out = bare(args[0])
        for a in args[1:]:
            out = out | bare(a)
        return out
    if origin in (list, tuple, dict) and args:
        return origin[tuple(bare(a) if a is not Ellipsis else a for a in args)]
    return hint


def type_text(hint: object) -> str:
    """How docs/config.md writes a type: ``int``, ``tuple[int, ...]``, ``str | None``; a ``Literal`` as the type
    of its values."""
    hint = bare(hint)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        kinds = sorted({"null" if a is None else type(a).__name__ for a in args})
        return " | ".join(k for k in kinds if k != "null") + (" | None" if "null" in kinds else "")
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_text(a) for a in args)
    if isinstance(origin, type) and args:  # list[int], tuple[int, ...], Sequence[float]
        return f"{origin.__name__}[{', '.join('...' if a is Ellipsis else type_text(a) for a in args)}]"
    if hint is type(None):
        return "None"
    return hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")


def allowed_text(hint: object) -> str:
    """What ``hint`` allows beyond its type, as docs/config.md shows it (``>= 1``, ``[0, 1)``, ``one of a, b``,
    ``each >= 1``); empty when any value of the type is allowed."""
    texts = [m.text for m in markers(hint)]
    if typing.get_origin(hint) is Annotated:
        hint = typing.get_args(hint)[0]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        texts.append("one of " + ", ".join("null" if a is None else str(a) for a in args))
    elif origin in (typing.Union, types.UnionType):
        literal = [a for a in args if typing.get_origin(a) is typing.Literal]
        if literal and type(None) in args:  # Literal[...] | None: null is one of the choices
            return allowed_text(typing.Literal[(None, *(v for a in literal for v in typing.get_args(a)))])
        texts += [t for a in args if a is not type(None) and (t := allowed_text(a))]
    elif origin in (list, tuple) and args and (t := allowed_text(args[0])):
        texts.append(f"each {t}")
    return "; ".join(texts)
