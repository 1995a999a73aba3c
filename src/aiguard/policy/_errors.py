"""Turn pydantic's validation errors into the sentences a policy author can act on.

Every problem becomes one line, ``<path>: <what is wrong>``, with the path in the document's
own (camelCase) spelling. Unknown keys name the closest valid key. Union branches that the
author plainly did not mean are dropped, so ``blockList[1]`` with a typo reports the typo and
not also "expected a string". Validators report several problems at once by raising one
``ValueError`` whose lines start with ``.sub.path:`` or ``:`` (relative to the model).
"""

from __future__ import annotations

import difflib
import inspect
import re
import types
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

__all__ = ["format_path", "problems_from"]

_SCALAR_TAGS = frozenset({"str", "int", "float", "bool", "none", "dict", "list", "tuple"})
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")

_EXPECTED = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "tuple_type": "a list",
    "list_type": "a list",
    "iterable_type": "a list",
    "set_type": "a list",
    "frozen_set_type": "a list",
    "dict_type": "a mapping",
    "mapping_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "none_required": "null",
}


def format_path(loc: Sequence[str | int]) -> str:
    out = ""
    for seg in loc:
        if isinstance(seg, int):
            out += f"[{seg}]"
        elif _IDENT.match(seg):
            out += f".{seg}" if out else seg
        else:
            out += f"[{seg!r}]"
    return out


def _describe(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    if value is None:
        return "null"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _tag_like(seg: str | int, model_names: frozenset[str]) -> bool:
    if not isinstance(seg, str):
        return False
    return (
        seg in _SCALAR_TAGS
        or seg in model_names
        or "[" in seg
        or seg.startswith(("function-", "literal"))
    )


def _branch_name(tp: Any) -> str:
    if inspect.isclass(tp):
        return "none" if tp is type(None) else tp.__name__
    origin = get_origin(tp)
    return getattr(origin, "__name__", "") if origin is not None else ""


def _strip_tags(
    root: type[BaseModel], raw: Sequence[str | int], model_names: frozenset[str]
) -> tuple[str | int, ...]:
    """``raw`` without the segments pydantic adds for union branches (``str``,
    ``function-after[...]``, a model's class name). Following the model, a segment is a tag
    only where a union stands, so a user's own key (``none``, ``[x``, ``Metadata`` under a
    mapping, any unknown key) is kept; where the model says nothing, the shape decides."""
    current: list[Any] = [root]
    out: list[str | int] = []
    for seg in raw:
        branches = [t for tp in current for t in _unwrap(tp) if t is not type(None)]
        if _tag_like(seg, model_names) and (len(branches) > 1 or not branches):
            chosen = [t for t in branches if _branch_name(t) == seg]
            if len(chosen) == 1:
                current = chosen
            continue
        out.append(seg)
        current = _step(current, seg)
    return tuple(out)


def _unwrap(tp: Any) -> list[Any]:
    origin = get_origin(tp)
    if origin is Annotated:
        return _unwrap(get_args(tp)[0])
    if origin is Union or origin is types.UnionType:
        return [t for a in get_args(tp) for t in _unwrap(a)]
    return [tp]


def _models_in(tp: Any, seen: set[type[BaseModel]]) -> None:
    for t in _unwrap(tp):
        if inspect.isclass(t) and issubclass(t, BaseModel):
            if t in seen:
                continue
            seen.add(t)
            for f in t.model_fields.values():
                _models_in(f.annotation, seen)
        else:
            for a in get_args(t):
                _models_in(a, seen)


def _step(current: list[Any], seg: str | int) -> list[Any]:
    nxt: list[Any] = []
    for tp in current:
        for t in _unwrap(tp):
            if inspect.isclass(t) and issubclass(t, BaseModel):
                for name, f in t.model_fields.items():
                    if seg in (name, f.alias):
                        nxt.append(f.annotation)
                continue
            origin, args = get_origin(t), get_args(t)
            if origin in (tuple, list) and isinstance(seg, int) and args:
                nxt.append(args[0])
            elif origin in (dict, Mapping) and len(args) == 2:
                nxt.append(args[1])
    return nxt


def _types_at(root: type[BaseModel], loc: Sequence[str | int]) -> list[Any]:
    current: list[Any] = [root]
    for seg in loc:
        current = _step(current, seg)
    return current


def _valid_keys(root: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    keys: list[str] = []
    for tp in _types_at(root, loc):
        for t in _unwrap(tp):
            if inspect.isclass(t) and issubclass(t, BaseModel):
                keys.extend(f.alias or n for n, f in t.model_fields.items())
    return list(dict.fromkeys(keys))


def _message(err: Mapping[str, Any], root: type[BaseModel], loc: list[str | int]) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    got = _describe(err.get("input"))
    if kind == "extra_forbidden" and loc:
        key = loc[-1]
        valid = _valid_keys(root, loc[:-1])
        near = difflib.get_close_matches(str(key), valid, n=1, cutoff=0.6)
        hint = f"; did you mean {near[0]!r}?" if near else f"; valid keys: {', '.join(valid)}"
        return f"unknown key {key!r}{hint}"
    if kind == "missing":
        return "required, but missing"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {got}"
    if kind in ("enum", "literal_error"):
        return f"expected one of {ctx.get('expected', '')}, got {got}"
    if kind == "greater_than":
        bound = ctx.get("gt")
        what = "a positive number" if bound == 0 else f"a number greater than {bound}"
        return f"expected {what}, got {got}"
    if kind in ("greater_than_equal", "less_than", "less_than_equal"):
        return f"{err['msg'].lower()}, got {got}"
    if kind in ("too_short", "string_too_short"):
        return "must not be empty"
    if kind == "string_pattern_mismatch":
        return f"{got} does not have the expected form ({ctx.get('pattern')})"
    msg = str(err["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    return msg


def problems_from(
    error: ValidationError,
    root: type[BaseModel],
    prefix: Sequence[str | int] = (),
    *,
    skip: frozenset[str] = frozenset(),
) -> list[str]:
    """One line per problem, ordered as pydantic found them, duplicates removed; error
    types in ``skip`` are left out."""
    names: set[type[BaseModel]] = set()
    _models_in(root, names)
    model_names = frozenset(m.__name__ for m in names)
    cleaned: list[tuple[tuple[str | int, ...], bool, Mapping[str, Any]]] = []
    for err in error.errors(include_url=False):
        if err["type"] in skip:
            continue
        raw = list(err["loc"])
        loc = _strip_tags(root, raw, model_names)
        cleaned.append((loc, len(loc) != len(raw), err))
    deeper = {loc[:n] for loc, tagged, _ in cleaned if tagged for n in range(len(loc))}
    merged: dict[tuple[str | int, ...], list[str]] = {}
    lines: list[str] = []
    for loc, tagged, detail in cleaned:
        if tagged and detail["type"] in _EXPECTED and loc in deeper:
            continue  # a union branch the author did not mean
        if tagged and detail["type"] in _EXPECTED:
            merged.setdefault(loc, []).append(_EXPECTED[detail["type"]])
            if len(merged[loc]) > 1:
                continue
            lines.append(f"\0{len(merged) - 1}")
            continue
        path = format_path([*prefix, *loc])
        try:
            msg = _message(detail, root, list(loc))
        except Exception:  # never let a formatting slip hide the problem (or escape)
            msg = str(detail.get("msg", "invalid value"))
        for line in msg.splitlines():
            if line.startswith((".", ":", "[")):
                lines.append(f"{path}{line}" if path else line.lstrip(".:"))
            else:
                lines.append(f"{path}: {line}" if path else line)
    out: list[str] = []
    keys = list(merged)
    inputs = {loc: e.get("input") for loc, _, e in cleaned}
    for line in lines:
        if line.startswith("\0"):
            loc = keys[int(line[1:])]
            wanted = " or ".join(dict.fromkeys(merged[loc]))
            line = (
                f"{format_path([*prefix, *loc])}: expected {wanted}, got {_describe(inputs[loc])}"
            )
        if line not in out:
            out.append(line)
    return out
