"""How OpenAI counts a chat request, and the estimator used for every other model family.

The rules follow OpenAI's published recipe (the "How to count tokens with tiktoken" cookbook):
3 tokens per message plus its encoded fields, 1 more for a ``name``, 3 to prime the reply;
tool definitions rendered as ``name:description`` and ``property:type:description`` lines with
fixed per-function and per-property overheads; images priced by 512-px tiles after OpenAI's
resizing. Where a rule is not published (tool calls replayed in the history, images whose size
cannot be read), the count is flagged ``estimated``.
"""

from __future__ import annotations

import base64
import json
import math
import struct
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._types import ImagePart, Message, TextPart, Tool
from ._encodings import encoding_name_for_model, get_encoding

__all__ = ["TokenCount", "chat_tokens", "count_chat", "count_text", "image_size"]

_PER_MESSAGE = 3
_PER_NAME = 1
_REPLY_PRIMING = 3
_ESTIMATE_BYTES_PER_TOKEN = 3
_ESTIMATE_PER_MESSAGE = 4
_ESTIMATE_PER_IMAGE = 1600


@dataclass(frozen=True, slots=True)
class TokenCount:
    """A token count and how much to trust it.

    ``estimated`` is False only when the count follows a published rule for the model's own
    tokenizer; budgets reserve it either way, and settlement replaces it with the provider's
    reported usage.
    """

    tokens: int
    estimated: bool
    encoding: str | None = None

    def __int__(self) -> int:
        return self.tokens


@dataclass(frozen=True, slots=True)
class _ToolCosts:
    func_init: int
    prop_init: int
    prop_key: int
    enum_init: int
    enum_item: int
    func_end: int


_TOOLS_O200K = _ToolCosts(7, 3, 3, -3, 3, 12)
_TOOLS_CL100K = _ToolCosts(10, 3, 3, -3, 3, 12)

# (prefix, base tokens, tokens per 512-px tile); longest prefix first.
_IMAGE_TILES: tuple[tuple[str, int, int], ...] = (
    ("gpt-4o-mini", 2833, 5667),
    ("gpt-4o", 85, 170),
    ("chatgpt-4o", 85, 170),
    ("gpt-4.1", 85, 170),
    ("gpt-4-turbo", 85, 170),
    ("gpt-4.5", 85, 170),
    ("o1", 75, 150),
    ("o3", 75, 150),
    ("gpt-5", 70, 140),
)
_EXACT_IMAGE_MODELS = ("gpt-4o", "chatgpt-4o", "gpt-4.1", "gpt-4-turbo")
_WORST_CASE_TILES = 8  # 2048x768 after OpenAI's resizing is the most tiles an image can need


class _Counts:
    """Remembers how many tokens a text has, per encoding.

    Chat requests resend the same system prompt and the whole history on every turn, so most
    texts a process counts it has counted before; BPE costs ~30-60 us per KB, a lookup well
    under 1 us. Bounded by total characters held (about 4 MB of text): when full it starts
    over. Lookups take no lock; storing does, so that threads counting the same new text at
    once keep ``_chars`` equal to what is held (the encode, which dominates a miss, runs
    outside it).
    """

    __slots__ = ("_chars", "_counts", "_encode", "_lock")

    def __init__(self, encode: Callable[[str], list[int]]) -> None:
        self._encode = encode
        self._counts: dict[str, int] = {}
        self._chars = 0
        self._lock = threading.Lock()

    def __call__(self, text: str) -> int:
        n = self._counts.get(text)
        if n is None:
            n = len(self._encode(text))
            size = len(text)
            if size <= _MAX_CACHED_TEXT:
                with self._lock:
                    if text in self._counts:  # another thread stored it meanwhile
                        return n
                    if self._chars + size > _MAX_CACHED_CHARS:
                        self._counts.clear()
                        self._chars = 0
                    self._counts[text] = n
                    self._chars += size
        return n


_MAX_CACHED_TEXT = 32_768
_MAX_CACHED_CHARS = 4_000_000
_COUNTERS: dict[str, _Counts] = {}


def _counter(enc_name: str) -> _Counts:
    c = _COUNTERS.get(enc_name)
    if c is None:
        c = _COUNTERS.setdefault(enc_name, _Counts(get_encoding(enc_name).encode_ordinary))
    return c


def count_text(text: str, model: str) -> TokenCount:
    """Tokens of a bare string (no chat overhead)."""
    enc_name = encoding_name_for_model(model)
    if enc_name is None:
        return TokenCount(_estimate_text(text), True, None)
    return TokenCount(_counter(enc_name)(text), False, enc_name)


def count_chat(
    messages: Sequence[Message], model: str, tools: Sequence[Tool] | None = None
) -> TokenCount:
    """Prompt tokens of a chat request as the provider will bill them."""
    return TokenCount(*chat_tokens(messages, model, tools))


def chat_tokens(
    messages: Sequence[Message], model: str, tools: Sequence[Tool] | None = None
) -> tuple[int, bool, str | None]:
    """``count_chat`` as a plain ``(tokens, estimated, encoding)`` tuple (budgets reserve on
    every call and need only the number)."""
    enc_name = encoding_name_for_model(model)
    if enc_name is None:
        return _estimate_chat(messages, tools), True, None
    n_tokens = _COUNTERS.get(enc_name) or _counter(enc_name)
    estimated = False
    total = _REPLY_PRIMING
    for m in messages:
        total += _PER_MESSAGE + n_tokens(m.role)
        c = m.content
        if isinstance(c, str):
            total += n_tokens(c)
        elif c is not None:
            for part in c:
                if isinstance(part, TextPart):
                    total += n_tokens(part.text)
                else:
                    n, exact = _image_tokens(part, model)
                    total += n
                    estimated = estimated or not exact
        if m.name is not None:
            total += n_tokens(m.name) + _PER_NAME
        if m.tool_calls:
            estimated = True  # OpenAI publishes no rule for replayed tool calls
            encode = get_encoding(enc_name).encode_ordinary
            for tc in m.tool_calls:
                total += 3 + len(encode(tc.function.name)) + len(encode(tc.function.arguments))
        if m.tool_call_id is not None:
            total += len(get_encoding(enc_name).encode_ordinary(m.tool_call_id))
    if tools:
        costs = _TOOLS_O200K if enc_name == "o200k_base" else _TOOLS_CL100K
        n, exact = _tool_tokens(tools, costs, get_encoding(enc_name).encode_ordinary)
        total += n
        estimated = estimated or not exact
    return total, estimated, enc_name


def _tool_tokens(tools: Sequence[Tool], c: _ToolCosts, encode: Any) -> tuple[int, bool]:
    exact = True
    total = 0
    for tool in tools:
        f = tool.function
        total += c.func_init
        desc = (f.description or "").removesuffix(".")
        total += len(encode(f"{f.name}:{desc}"))
        props = (f.parameters or {}).get("properties") or {}
        if not isinstance(props, Mapping):
            exact = False
            total += len(encode(json.dumps(f.parameters)))
            continue
        if props:
            total += c.prop_init
            for key, spec in props.items():
                total += c.prop_key
                spec = spec if isinstance(spec, Mapping) else {}
                p_type = spec.get("type", "")
                if not isinstance(p_type, str) or p_type in ("object", "array"):
                    exact = False  # nested schemas have no published rule
                    total += len(encode(json.dumps(spec)))
                enum = spec.get("enum")
                if isinstance(enum, list):
                    total += c.enum_init
                    for item in enum:
                        total += c.enum_item + len(encode(str(item)))
                p_desc = str(spec.get("description", "")).removesuffix(".")
                total += len(encode(f"{key}:{p_type}:{p_desc}"))
    total += c.func_end
    return total, exact


def _image_tokens(part: ImagePart, model: str) -> tuple[int, bool]:
    m = model.lower().split("/")[-1]
    base, per_tile = 85, 170
    known = False
    for prefix, b, t in _IMAGE_TILES:
        if m.startswith(prefix):
            base, per_tile, known = b, t, True
            break
    exact = known and any(m.startswith(p) for p in _EXACT_IMAGE_MODELS)
    if m.startswith(("gpt-4.1-mini", "gpt-4.1-nano")):
        exact = False  # these bill by 32-px patches; the tile rule is an upper bound
    if part.image_url.detail == "low":
        return base, exact
    size = image_size(part.image_url.url)
    if size is None:
        return base + per_tile * _WORST_CASE_TILES, False
    return base + per_tile * _tiles(*size), exact


def _tiles(width: int, height: int) -> int:
    w, h = float(width), float(height)
    if max(w, h) > 2048:
        s = 2048 / max(w, h)
        w, h = w * s, h * s
    if min(w, h) > 768:
        s = 768 / min(w, h)
        w, h = w * s, h * s
    return math.ceil(w / 512) * math.ceil(h / 512)


def image_size(url: str) -> tuple[int, int] | None:
    """Width and height of a ``data:`` URI image (PNG, GIF, JPEG); ``None`` if unreadable."""
    if not url.startswith("data:") or ";base64," not in url:
        return None
    try:
        raw = base64.b64decode(url.split(";base64,", 1)[1], validate=False)
    except ValueError:
        return None
    if raw[:8] == b"\x89PNG\r\n\x1a\n" and len(raw) >= 24:
        w, h = struct.unpack(">II", raw[16:24])
        return int(w), int(h)
    if raw[:6] in (b"GIF87a", b"GIF89a") and len(raw) >= 10:
        w, h = struct.unpack("<HH", raw[6:10])
        return int(w), int(h)
    if raw[:2] == b"\xff\xd8":
        return _jpeg_size(raw)
    return None


def _jpeg_size(raw: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(raw):
        if raw[i] != 0xFF:
            return None
        marker = raw[i + 1]
        length = int.from_bytes(raw[i + 2 : i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", raw[i + 5 : i + 9])
            return int(w), int(h)
        i += 2 + length
    return None


# --------------------------------------------------------------------------- estimator


def _estimate_text(text: str) -> int:
    # An ASCII string's UTF-8 length is its length (``isascii`` reads a flag): no copy.
    size = len(text) if text.isascii() else len(text.encode("utf-8"))
    return -(-size // _ESTIMATE_BYTES_PER_TOKEN)


def _estimate_chat(messages: Sequence[Message], tools: Sequence[Tool] | None) -> int:
    total = _REPLY_PRIMING
    for m in messages:
        total += _ESTIMATE_PER_MESSAGE
        c = m.content
        if isinstance(c, str):
            total += _estimate_text(c)
        elif c is not None:
            for part in c:
                total += (
                    _estimate_text(part.text) if isinstance(part, TextPart) else _ESTIMATE_PER_IMAGE
                )
        if m.name:
            total += _estimate_text(m.name)
        for tc in m.tool_calls or ():
            total += _estimate_text(tc.function.name + tc.function.arguments) + 3
    for t in tools or ():
        total += _estimate_text(t.function.model_dump_json(exclude_none=True)) + 10
    return total
