"""The unified request and response types every provider adapter maps to and from.

The shapes follow OpenAI's chat format because it is what most application code already
speaks; plain dicts in that shape are accepted anywhere a model is. All models are frozen so a
request cannot change under a cache key or an audit hash after it was computed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal, TypeAlias, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import InvalidRequestError

__all__ = [
    "ChatRequest",
    "ChatResponse",
    "EmbeddingRequest",
    "EmbeddingResponse",
    "FinishReason",
    "FunctionCall",
    "FunctionDef",
    "ImagePart",
    "ImageURL",
    "Message",
    "ResponseFormat",
    "StreamEvent",
    "TextPart",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "Usage",
]

FinishReason: TypeAlias = Literal[
    "stop", "length", "tool_calls", "content_filter", "error", "unknown"
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class TextPart(_Frozen):
    type: Literal["text"] = "text"
    text: str


class ImageURL(_Frozen):
    url: str
    detail: Literal["auto", "low", "high"] | None = None


class ImagePart(_Frozen):
    """An image by URL or ``data:`` URI (base64), as OpenAI's ``image_url`` part."""

    type: Literal["image_url"] = "image_url"
    image_url: ImageURL


ContentPart: TypeAlias = TextPart | ImagePart


class FunctionCall(_Frozen):
    name: str
    arguments: str = ""
    """JSON text, exactly as the model produced it (it may be invalid JSON)."""


class ToolCall(_Frozen):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class Message(_Frozen):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | tuple[ContentPart, ...] | None = None
    name: str | None = None
    tool_calls: tuple[ToolCall, ...] | None = None
    tool_call_id: str | None = None

    @property
    def text(self) -> str:
        """The text of the message, parts joined; images contribute nothing."""
        c = self.content
        if c is None:
            return ""
        if isinstance(c, str):
            return c
        return "".join(p.text for p in c if isinstance(p, TextPart))


class FunctionDef(_Frozen):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class Tool(_Frozen):
    type: Literal["function"] = "function"
    function: FunctionDef


class ResponseFormat(_Frozen):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: dict[str, Any] | None = None


class ChatRequest(_Frozen):
    """What the application asked for, before routing picks a concrete endpoint.

    ``model`` is the name the caller used: an endpoint name or an alias. ``extra`` carries
    provider-specific body fields verbatim (they are part of the cache key too).
    """

    messages: tuple[Message, ...]
    model: str | None = None
    max_tokens: int | None = Field(default=None, gt=0)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    stop: tuple[str, ...] | None = None
    seed: int | None = None
    tools: tuple[Tool, ...] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    user: str | None = None
    extra: dict[str, Any] | None = None

    @property
    def has_images(self) -> bool:
        return any(
            isinstance(m.content, tuple) and any(isinstance(p, ImagePart) for p in m.content)
            for m in self.messages
        )


class Usage(_Frozen):
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    reasoning_tokens: int = 0
    estimated: bool = False
    """True when aiguard counted or guessed; False when the provider reported it."""

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


_REPORTED: dict[tuple[int, int, int, int, int], Usage] = {}


def reported_usage(
    input_tokens: int,
    output_tokens: int,
    cached_input_tokens: int = 0,
    reasoning_tokens: int = 0,
    cache_creation_input_tokens: int = 0,
) -> Usage:
    """The ``Usage`` a provider reported, shared between answers with the same counts.

    Why: validating a new ``Usage`` cost more than the rest of decoding an answer, and the
    objects are frozen, so one per distinct set of counts serves them all. The table is
    bounded; clearing it only costs the next answers a validation each.
    """
    key = (
        input_tokens,
        output_tokens,
        cached_input_tokens,
        reasoning_tokens,
        cache_creation_input_tokens,
    )
    usage = _REPORTED.get(key)
    if usage is None:
        if len(_REPORTED) >= 4096:
            _REPORTED.clear()
        usage = _REPORTED[key] = Usage(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cached_input_tokens=cached_input_tokens,
            reasoning_tokens=reasoning_tokens,
            cache_creation_input_tokens=cache_creation_input_tokens,
        )
    return usage


# The shared "nothing reported" default, built without validation so that importing aiguard
# does not build the validator (nor make pydantic scan installed packages for plugins).
_NO_USAGE = Usage.model_construct()


class ChatResponse(_Frozen):
    text: str
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: FinishReason = "stop"
    usage: Usage = _NO_USAGE
    model: str | None = None
    """The model the provider says answered."""
    id: str | None = None
    endpoint: str | None = None
    provider: str | None = None
    request_id: str | None = None
    cached: bool = False
    cost: float | None = None
    """US dollars, when the price of the model is known."""

    @property
    def message(self) -> Message:
        return Message(
            role="assistant", content=self.text or None, tool_calls=self.tool_calls or None
        )


class ToolCallDelta(_Frozen):
    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


class StreamEvent(_Frozen):
    """One piece of a streamed answer. Most events carry only ``text``."""

    text: str = ""
    tool_call: ToolCallDelta | None = None
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    model: str | None = None
    id: str | None = None


class EmbeddingRequest(_Frozen):
    inputs: tuple[str, ...]
    model: str | None = None
    dimensions: int | None = Field(default=None, gt=0)
    extra: dict[str, Any] | None = None


class EmbeddingResponse(_Frozen):
    """The vectors, one per input, with usage and where they came from.

    It also behaves as the sequence of vectors (``len()``, indexing, iteration), so
    ``vectors = client.embed(["a", "b"])`` reads naturally.
    """

    vectors: tuple[tuple[float, ...], ...]
    usage: Usage = _NO_USAGE
    model: str | None = None
    endpoint: str | None = None
    provider: str | None = None
    request_id: str | None = None
    cost: float | None = None

    def __len__(self) -> int:
        return len(self.vectors)

    def __getitem__(self, index: int) -> tuple[float, ...]:
        return self.vectors[index]

    def __iter__(self) -> Iterator[tuple[float, ...]]:  # type: ignore[override]
        return iter(self.vectors)


M = TypeVar("M", bound=BaseModel)


def stamped(model: M, fields: dict[str, Any]) -> M:
    """``model`` with ``fields`` set in place, for an object the caller just built and nobody
    else holds yet (a provider's parsed response). A validated ``model_copy`` on every call
    cost more than the rest of response handling; the values here come from aiguard itself."""
    model.__dict__.update(fields)
    model.__pydantic_fields_set__.update(fields)
    return model


# --------------------------------------------------------------------------- input coercion

MessageInput: TypeAlias = Message | Mapping[str, Any]

_set = object.__setattr__


def _trusted(cls: type[M], values: dict[str, Any], fields_set: set[str]) -> M:
    """An instance from values that already satisfy the schema, as ``model_construct`` makes
    one but without its per-field loop (a tenth of the cost). Only for values checked just
    before the call; for a small model pydantic's own validator is faster than this."""
    m = cls.__new__(cls)
    _set(m, "__dict__", values)
    _set(m, "__pydantic_fields_set__", fields_set)
    _set(m, "__pydantic_extra__", None)
    _set(m, "__pydantic_private__", None)
    return m


def request_like(
    template: ChatRequest, messages: tuple[Message, ...], model: str | None
) -> ChatRequest:
    """``template`` (a validated request) with other messages and model, without validating
    again: ``messages`` come from ``coerce_messages`` and ``model`` is a ``str`` or ``None``,
    which is all the schema asks of them. Requests differ mostly in their messages, so a
    client validates each distinct set of options once."""
    values = template.__dict__.copy()
    values["messages"] = messages
    values["model"] = model
    return _trusted(ChatRequest, values, set(template.__pydantic_fields_set__))


def coerce_messages(messages: str | Sequence[MessageInput]) -> tuple[Message, ...]:
    """Accept ``Message`` objects, OpenAI-shaped dicts or a bare prompt string.

    Errors name the message index and field so a caller can fix their input without reading
    pydantic internals.
    """
    if isinstance(messages, str):
        return (Message(role="user", content=messages),)
    if type(messages) is not list and (  # a list is the common case: skip the ABC checks
        isinstance(messages, Mapping) or not isinstance(messages, Sequence)
    ):
        raise InvalidRequestError(
            "messages must be a list of messages (dicts with 'role' and 'content'), "
            f"got {type(messages).__name__}"
        )
    if not messages:
        raise InvalidRequestError("messages is empty: give at least one message")
    out: list[Message] = []
    for i, m in enumerate(messages):
        if isinstance(m, Message):
            out.append(m)
            continue
        if type(m) is not dict and not isinstance(m, Mapping):
            raise InvalidRequestError(
                f"messages[{i}]: expected a dict with 'role' and 'content', got {type(m).__name__}"
            )
        try:
            out.append(Message.model_validate(m))
        except ValidationError as e:
            raise InvalidRequestError(f"messages[{i}]: {describe_validation(e)}") from None
    return tuple(out)


def describe_validation(e: ValidationError) -> str:
    """One line per problem: ``field.path: what was expected``. No pydantic URLs."""
    parts = []
    for err in e.errors(include_url=False):
        loc = ".".join(str(x) for x in err["loc"] if not str(x).startswith("function-"))
        got = err.get("input")
        got_s = f", got {got!r}" if not isinstance(got, (dict, list)) else ""
        parts.append(f"{loc or '(value)'}: {err['msg']}{got_s}")
    return "; ".join(parts)
