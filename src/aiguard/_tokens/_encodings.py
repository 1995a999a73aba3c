"""Offline tiktoken encodings, built from the files shipped in ``aiguard/_data``.

tiktoken fetches its ``.tiktoken`` files from the internet on first use and caches them in a
directory chosen by environment variables. aiguard must work on machines with no internet and
must not change process-wide settings, so it ships the two files it needs, checks them against
the SHA-256 hashes tiktoken itself pins (``tiktoken_ext/openai_public.py``), parses the ranks and
builds ``tiktoken.Encoding`` directly. Nothing is read at import: the first count loads the
file, once, under a lock.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import threading
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    import tiktoken

__all__ = ["ENCODINGS", "EncodingSpec", "encoding_name_for_model", "get_encoding"]

_ENDOFTEXT = "<|endoftext|>"
_FIM_PREFIX = "<|fim_prefix|>"
_FIM_MIDDLE = "<|fim_middle|>"
_FIM_SUFFIX = "<|fim_suffix|>"
_ENDOFPROMPT = "<|endofprompt|>"

_CL100K_PAT = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_O200K_PAT = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)


@dataclass(frozen=True, slots=True)
class EncodingSpec:
    """What tiktoken_ext/openai_public.py says about one encoding, pinned here."""

    name: str
    filename: str
    sha256: str
    pat_str: str
    special_tokens: tuple[tuple[str, int], ...]


ENCODINGS: dict[str, EncodingSpec] = {
    "cl100k_base": EncodingSpec(
        name="cl100k_base",
        filename="cl100k_base.tiktoken",
        sha256="223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        pat_str=_CL100K_PAT,
        special_tokens=(
            (_ENDOFTEXT, 100257),
            (_FIM_PREFIX, 100258),
            (_FIM_MIDDLE, 100259),
            (_FIM_SUFFIX, 100260),
            (_ENDOFPROMPT, 100276),
        ),
    ),
    "o200k_base": EncodingSpec(
        name="o200k_base",
        filename="o200k_base.tiktoken",
        sha256="446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        pat_str=_O200K_PAT,
        special_tokens=((_ENDOFTEXT, 199999), (_ENDOFPROMPT, 200018)),
    ),
}

# Longest prefix first: "gpt-4o" must win over "gpt-4". Names are matched after stripping a
# provider prefix such as "openai/" or "azure/".
_PREFIXES: tuple[tuple[str, str], ...] = (
    ("gpt-4o", "o200k_base"),
    ("chatgpt-4o", "o200k_base"),
    ("gpt-4.1", "o200k_base"),
    ("gpt-4.5", "o200k_base"),
    ("gpt-5", "o200k_base"),
    ("o1", "o200k_base"),
    ("o3", "o200k_base"),
    ("o4", "o200k_base"),
    ("omni-moderation", "o200k_base"),
    ("gpt-4", "cl100k_base"),
    ("gpt-3.5", "cl100k_base"),
    ("gpt-35", "cl100k_base"),
    ("text-embedding-3", "cl100k_base"),
    ("text-embedding-ada-002", "cl100k_base"),
)
_PROVIDER_PREFIXES = ("openai/", "azure/", "openai:", "azure_openai/")


@functools.lru_cache(maxsize=1024)
def encoding_name_for_model(model: str) -> str | None:
    """The tiktoken encoding an OpenAI model uses, or ``None`` for other model families."""
    m = model.strip().lower()
    for p in _PROVIDER_PREFIXES:
        if m.startswith(p):
            m = m[len(p) :]
            break
    for prefix, name in _PREFIXES:
        if m == prefix or m.startswith((prefix + "-", prefix + ".")):
            return name
    return None


class _Loader:
    """Loads each encoding at most once per process; concurrent first users wait on a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: dict[str, tiktoken.Encoding] = {}

    def get(self, name: str) -> tiktoken.Encoding:
        enc = self._loaded.get(name)
        if enc is not None:
            return enc
        with self._lock:
            enc = self._loaded.get(name)
            if enc is None:
                enc = _build(name)
                self._loaded[name] = enc
            return enc

    def loaded(self) -> frozenset[str]:
        return frozenset(self._loaded)


def _build(name: str) -> tiktoken.Encoding:
    import tiktoken

    spec = ENCODINGS.get(name)
    if spec is None:
        raise ConfigError(f"unknown encoding {name!r}; aiguard ships {', '.join(ENCODINGS)}")
    data = resources.files("aiguard._data").joinpath(spec.filename).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != spec.sha256:
        raise ConfigError(
            f"encoding file aiguard/_data/{spec.filename} is corrupted: sha256 {digest}, "
            f"expected {spec.sha256}; reinstall aiguard"
        )
    ranks: dict[bytes, int] = {}
    for lineno, line in enumerate(data.splitlines(), 1):
        if not line:
            continue
        token, _, rank = line.partition(b" ")
        try:
            ranks[base64.b64decode(token)] = int(rank)
        except ValueError as e:  # pragma: no cover - the hash check makes this unreachable
            raise ConfigError(f"aiguard/_data/{spec.filename}:{lineno}: bad line") from e
    return tiktoken.Encoding(
        spec.name,
        pat_str=spec.pat_str,
        mergeable_ranks=ranks,
        special_tokens=dict(spec.special_tokens),
    )


_LOADER = _Loader()


def get_encoding(name: str) -> tiktoken.Encoding:
    """A shipped encoding by name, loaded on first use and then shared."""
    return _LOADER.get(name)


def loaded_encodings() -> frozenset[str]:
    """Names of the encodings loaded so far (the benchmark shows import loads none)."""
    return _LOADER.loaded()
