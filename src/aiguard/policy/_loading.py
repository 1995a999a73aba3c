"""Reading policy text (YAML or JSON) into plain data, with errors that say where.

PyYAML is optional (``aiguard[yaml]``) and imported only when a YAML policy is read, so
``import aiguard`` stays light for applications that build policies in code.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError, PolicyError

__all__ = ["load_json_text", "load_yaml_text", "read_source"]


def read_source(source: str | Path, suffixes: tuple[str, ...]) -> tuple[str, str | None]:
    """``(text, origin)``: a ``Path``, or a string naming an existing file, is read; any
    other string is the document itself."""
    if isinstance(source, Path) or (
        isinstance(source, str)
        and "\n" not in source
        and (source.strip().endswith(suffixes) or os.path.isfile(source))
    ):
        path = Path(source)
        try:
            return path.read_text(encoding="utf-8"), str(path)
        except FileNotFoundError:
            raise PolicyError([f"{path}: no such file"], source=str(path)) from None
        except OSError as e:
            raise PolicyError([f"{path}: cannot read ({e.strerror})"], source=str(path)) from None
    if not isinstance(source, str):
        raise ConfigError(f"expected policy text or a path, got {type(source).__name__}")
    return source, None


def load_yaml_text(text: str, origin: str | None) -> Any:
    try:
        import yaml
    except ImportError:  # pragma: no cover - the dev environment has it
        raise ConfigError(
            "reading a YAML policy needs PyYAML: pip install aiguard[yaml] "
            "(or load the policy with Policy.from_dict / Policy.from_json)"
        ) from None

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built with it

    class _Loader(base):  # type: ignore[misc, valid-type]
        pass

    def _mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = loader.construct_object(key_node)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first on line {seen[key]})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line + 1
        return loader.construct_mapping(node)

    _Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e)
        raise PolicyError([f"{where}not valid YAML: {problem}"], source=origin) from None


def load_json_text(text: str, origin: str | None) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise PolicyError(
            [f"line {e.lineno}, column {e.colno}: not valid JSON: {e.msg}"], source=origin
        ) from None


def require_mapping(data: Any, origin: str | None) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        got = "an empty document" if data is None else type(data).__name__
        raise PolicyError(
            [f"a policy is a mapping with apiVersion, kind, metadata and spec; got {got}"],
            source=origin,
        )
    bad = [k for k in data if not isinstance(k, str)]
    if bad:
        raise PolicyError([f"keys must be strings, got {bad[0]!r}"], source=origin)
    return data
