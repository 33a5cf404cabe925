"""One checker for every settings section: a mapping is checked against a dataclass (or a function's
signature) -- unknown keys, value types, ranges and allowed values -- and the first problem is one
:class:`~denoiserec.errors.ConfigError` naming the key path (``train.epochs``) and what is allowed.

::

    check_fields(TrainConfig, {"epochs": 0}, "train", rules={"epochs": at_least(1)})
    # ConfigError: train.epochs: must be >= 1, got 0

Types, ranges and allowed values come from the annotations (``int``, ``float``, ``bool``, ``str``, ``X | None``,
``list[X]``, ``tuple[X, ...]``, ``dict[str, X]``, ``Literal[...]``, and ``Annotated[X, Range(...)]`` markers of
:mod:`denoiserec.settings`, declared once on the constructor or dataclass); for an un-annotated parameter, from
its default's type. ``rules`` add checks a declaration cannot carry (a source's options).
A float key accepts an int; an int key rejects bools and non-integral floats; nothing is parsed from strings
except by the caller.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import operator
import types
import typing
from collections.abc import Callable, Iterable

from denoiserec.errors import ConfigError
from denoiserec.settings import bare, rules_problem

Rule = Callable[[object], "str | None"]  # a problem description, or None when the value is fine


def described(text: str, rule: Rule) -> Rule:
    """``rule`` with ``text`` (what it allows: ``>= 1``) as ``rule.text``, which docs/config.md shows."""
    rule.text = text  # type: ignore[attr-defined]
    return rule


def at_least(lo: float) -> Rule:
    return described(f">= {lo}", lambda v: None if v is None or v >= lo else f"must be >= {lo}, got {v!r}")


def greater_than(lo: float) -> Rule:
    return described(f"> {lo}", lambda v: None if v is None or v > lo else f"must be > {lo}, got {v!r}")


def between(lo: float, hi: float) -> Rule:
    return described(f"[{lo}, {hi}]",
                     lambda v: None if v is None or lo <= v <= hi else f"must be in [{lo}, {hi}], got {v!r}")


def one_of(*allowed: object) -> Rule:
    return described("one of " + ", ".join("null" if a is None else str(a) for a in allowed),
                     lambda v: None if v in allowed else f"must be one of {list(allowed)}, got {v!r}")


def _type_name(hint: object) -> str:
    from denoiserec.settings import type_text

    return type_text(hint)


def coerce(value: object, hint: object, key: str, text: bool = False) -> object:
    """``value`` checked against the type ``hint`` (a float key turns an int into a float, a tuple key turns a
    list into a tuple); a mismatch raises :class:`ConfigError` naming ``key``. ``text``: a string may be parsed
    as a number or boolean where the hint asks for one (command-line values)."""
    if text and isinstance(value, str) and hint in (int, float, bool):
        import yaml

        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            parsed = value
        if isinstance(parsed, (int, float, bool)):
            value = parsed
    if hint is typing.Any or hint is inspect.Parameter.empty:
        return value
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Annotated:  # a declared range or rule (denoiserec.settings)
        value = coerce(value, args[0], key, text)
        for marker in hint.__metadata__:
            problem = marker.problem(value) if hasattr(marker, "problem") else None
            if problem:
                raise ConfigError(f"{key}: {problem}")
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for a in (a for a in args if a is not type(None)):
            shape = bare(a)
            if typing.get_origin(shape) is typing.Literal:  # the choices' type: the choice itself is checked below
                shape = functools.reduce(operator.or_, {type(v) for v in typing.get_args(shape)})
            try:
                coerce(value, shape, key, text)
            except ConfigError:
                continue
            return coerce(value, a, key, text)  # the type fits: its declared range or choices decide
        raise ConfigError(f"{key}: expected {_type_name(hint)}, got {value!r}")
    if origin is typing.Literal:
        if value in args:
            return value
        raise ConfigError(f"{key}: must be one of {list(args)}, got {value!r}")
    bad = ConfigError(f"{key}: expected {_type_name(hint)}, got {value!r}")
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise bad
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        if isinstance(value, float) and not value.is_integer():
            raise bad
        return int(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        if not math.isfinite(value):
            raise ConfigError(f"{key}: must be a finite number, got {value!r}")
        return float(value)
    if hint is str:
        if isinstance(value, str):
            return value
        raise bad
    if origin in (list, tuple) or hint in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise bad
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{key}: expected {len(args)} values, got {len(value)}")
            items = [coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True))]
        else:
            item = args[0] if args else typing.Any
            items = [coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if (origin or hint) is tuple else items
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise bad
        vt = args[1] if len(args) == 2 else typing.Any
        return {k: coerce(v, vt, f"{key}.{k}") for k, v in value.items()}
    if isinstance(hint, type):
        if isinstance(value, hint):
            return value
        raise bad
    return value


def _join(where: str, key: str) -> str:
    """``train`` + ``epochs`` -> ``train.epochs``; a command-line option: ``--opt`` + ``gap`` -> ``--opt gap``."""
    return f"{where} {key}" if where.startswith("--") else f"{where}.{key}" if where else key


def check_mapping(d: object, where: str) -> dict:
    if d is None:
        return {}
    if not isinstance(d, dict):
        raise ConfigError(f"{where}: expected a mapping of keys to values, got {d!r}")
    return d


def check_fields(cls: type, d: object, where: str, rules: dict[str, Rule] | None = None,
                 skip: Iterable[str] = ()) -> dict:
    """Check mapping ``d`` against dataclass ``cls``: returns the checked (coerced) mapping, ready for
    ``cls(**d)``. ``rules`` add range/choice checks per key; keys in ``skip`` are left to the caller."""
    d = check_mapping(d, where)
    hints = typing.get_type_hints(cls, include_extras=True)
    known = [f.name for f in dataclasses.fields(cls)]
    out = {}
    for key, value in d.items():
        path = _join(where, str(key))
        if key in skip:
            out[key] = value
            continue
        if key not in known:
            raise ConfigError(f"{path}: unknown key; known: {', '.join(sorted(known))}")
        out[key] = coerce(value, hints.get(key, typing.Any), path)
        rule = (rules or {}).get(key)
        problem = rule(out[key]) if rule else None
        if problem:
            raise ConfigError(f"{path}: {problem}")
    defaults = {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}
    if problem := rules_problem(cls, {**defaults, **out}):
        raise ConfigError(f"{where}: {problem}")
    return out


def signature_params(func: Callable) -> tuple[dict[str, inspect.Parameter], dict[str, object], bool]:
    """``func``'s keyword parameters, their annotations (markers kept) and whether it takes ``**kwargs``; for a
    class whose constructor passes ``**kwargs`` on, the base classes' constructor parameters too (PN's
    ``**hparams`` are UAE's)."""
    classes = inspect.getmro(func) if inspect.isclass(func) else (func,)
    params, hints, var_kw = {}, {}, False
    for c in classes:
        target = c.__init__ if inspect.isclass(func) else c
        if inspect.isclass(func) and (c is object or "__init__" not in vars(c)):
            continue
        sig = inspect.signature(target)
        try:
            h = typing.get_type_hints(target, include_extras=True)
        except Exception:  # unresolvable annotation: fall back to the defaults' types
            h = {}
        for n, p in sig.parameters.items():
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and n not in params:
                params[n] = p
                if n in h:
                    hints[n] = h[n]
        var_kw = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
        if not var_kw:
            break
    return params, hints, var_kw


def check_params(func: Callable, d: object, where: str, skip: Iterable[str] = ("self",),
                 rules: dict[str, Rule] | None = None, text: bool = False) -> dict:
    """Check keyword arguments ``d`` against ``func``'s signature (a class: its constructor, and its bases' where
    it passes ``**kwargs`` on): unknown names, types and declared ranges from annotations, else the defaults'
    types."""
    d = check_mapping(d, where)
    params, hints, var_kw = signature_params(func)
    params = {n: p for n, p in params.items() if n not in skip}
    out = {}
    for key, value in d.items():
        path = _join(where, str(key))
        if key not in params:
            if var_kw:
                out[key] = value
                continue
            raise ConfigError(f"{path}: unknown parameter; known: {', '.join(sorted(params)) or '(none)'}")
        p = params[key]
        hint = hints.get(key, inspect.Parameter.empty)
        if hint is inspect.Parameter.empty and p.default is not inspect.Parameter.empty and p.default is not None:
            hint = float if type(p.default) is float else type(p.default)
            if hint not in (int, float, bool, str):
                hint = inspect.Parameter.empty
        if bare(hint) is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        out[key] = coerce(value, hint, path, text)
        rule = (rules or {}).get(key)
        problem = rule(out[key]) if rule else None
        if problem:
            raise ConfigError(f"{path}: {problem}")
    defaults = {n: p.default for n, p in params.items() if p.default is not inspect.Parameter.empty}
    if problem := rules_problem(func, {**defaults, **out}):
        raise ConfigError(f"{where}: {problem}")
    return out


def check_args(func: Callable, name: Callable[[str], str] = str, **values: object) -> dict:
    """``values`` checked against ``func``'s declared parameter types and ranges (:mod:`denoiserec.settings`),
    each named ``name(parameter)`` in the error (a command line: ``--batch-size``)."""
    _, hints, _ = signature_params(func)
    return {k: coerce(v, hints.get(k, typing.Any), name(k)) for k, v in values.items()}
