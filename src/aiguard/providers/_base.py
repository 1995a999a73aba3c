"""What every provider adapter is: a sans-IO codec plus the settings of one endpoint.

An adapter turns a ``ChatRequest`` into an ``HttpRequest`` and bytes back into a
``ChatResponse``/``StreamEvent``s; it never opens a socket. That keeps it testable on recorded
bytes and lets the sync and async clients share it. Adapters register by name so endpoints can
be built from plain config (``{"provider": "openai", "model": ...}``) and third parties can add
their own through the ``aiguard.providers`` entry-point group.
"""

from __future__ import annotations

import json
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from pydantic_core import from_json

from .._effects import HttpRequest, Io, RawResponse
from .._types import ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse, StreamEvent
from ..errors import (
    ConfigError,
    ContextWindowExceeded,
    DecodeError,
    InvalidRequestError,
    MissingCredentialsError,
    ProviderError,
    error_for_status,
)

__all__ = [
    "Capabilities",
    "Provider",
    "StreamDecoder",
    "body_snippet",
    "build_provider",
    "parse_retry_after",
    "provider_class",
    "register_provider",
    "registered_providers",
]


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What an endpoint can serve; routing skips endpoints that cannot serve a request."""

    streaming: bool = True
    tools: bool = True
    images: bool = True
    json_mode: bool = True
    json_schema: bool = True
    embeddings: bool = False
    context_window: int | None = None


class StreamDecoder(Protocol):
    """Incremental decoder for one streamed response.

    ``feed`` takes raw bytes as they arrive (any split) and returns the events now complete.
    ``close`` is called at end of body and raises ``StreamInterrupted`` unless the provider's
    terminal event was seen: a truncated stream is an error, never a silent short answer.
    """

    done: bool

    def feed(self, data: bytes) -> list[StreamEvent]: ...

    def close(self) -> None: ...


class Provider(ABC):
    """One endpoint's provider: model, location, credentials and the wire codec.

    Subclasses set ``name`` (the registry key) and implement the codec methods. Secrets are
    held privately and never appear in ``repr()``.
    """

    name: ClassVar[str]
    api_key_env: ClassVar[str | None] = None

    model: str
    base_url: str
    timeout: float | None
    capabilities: Capabilities

    def __init__(
        self,
        *,
        model: str,
        base_url: str,
        api_key: str | None = None,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
        capabilities: Capabilities | None = None,
    ) -> None:
        if not isinstance(model, str) or not model:
            raise ConfigError(f"{type(self).__name__}: model must be a non-empty string")
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"{type(self).__name__}: base_url must start with http:// or https://, "
                f"got {base_url!r}"
            )
        if timeout is not None and timeout <= 0:
            raise ConfigError(f"{type(self).__name__}: timeout must be > 0 seconds")
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.capabilities = capabilities or Capabilities()
        self._api_key = api_key
        self._extra_headers = dict(headers or {})

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, base_url={self.base_url!r})"

    # -- credentials --------------------------------------------------------------------------

    def api_key(self, endpoint: str | None = None) -> str:
        """The key from the constructor, else the provider's environment variable.

        Looked up at call time, not construction, so a client can name endpoints whose keys
        only exist in production; a missing key is a ``ConfigError`` before anything is sent.
        """
        if self._api_key:
            return self._api_key
        env = self.api_key_env
        if env:
            value = os.environ.get(env)
            if value:
                return value
            raise MissingCredentialsError(self.name, env, endpoint)
        raise MissingCredentialsError(self.name, "(no variable: pass api_key=...)", endpoint)

    def auth_headers(self, endpoint: str | None = None) -> dict[str, str] | Io:
        """Headers that authenticate a request; an ``Io`` when a token must be fetched."""
        return {}

    # -- codec ----------------------------------------------------------------------------------

    @abstractmethod
    def build_chat(
        self, request: ChatRequest, *, stream: bool, auth: Mapping[str, str]
    ) -> HttpRequest: ...

    @abstractmethod
    def parse_chat(self, response: RawResponse) -> ChatResponse:
        """A new ``ChatResponse`` for every call: the pipeline fills in where it came from
        (endpoint, request id, cost) on the object itself rather than copying it."""

    @abstractmethod
    def stream_decoder(self) -> StreamDecoder: ...

    def build_embed(self, request: EmbeddingRequest, *, auth: Mapping[str, str]) -> HttpRequest:
        raise InvalidRequestError(f"provider {self.name!r} does not offer embeddings")

    def parse_embed(self, response: RawResponse) -> EmbeddingResponse:
        raise InvalidRequestError(f"provider {self.name!r} does not offer embeddings")

    def classify_error(self, response: RawResponse) -> ProviderError:
        """Map an error status and body to the ``aiguard.errors`` tree.

        The default reads OpenAI-style ``{"error": {"message", "type", "code"}}`` bodies;
        adapters override for their own shapes.
        """
        message, code = _error_message(response.content)
        cls = error_for_status(response.status_code)
        if code in {"context_length_exceeded", "string_above_max_length"}:
            cls = ContextWindowExceeded
        return cls(
            message or f"HTTP {response.status_code}",
            provider=self.name,
            status_code=response.status_code,
            **self._error_facts(response),
        )

    def _error_facts(self, response: RawResponse) -> dict[str, Any]:
        """What every classified error carries besides its class, message and status, read
        the same way for all providers: ``request_id``, ``retry_after`` and ``body_snippet``."""
        return {
            "request_id": self.request_id(response.headers),
            "retry_after": parse_retry_after(response.headers),
            "body_snippet": body_snippet(response.content),
        }

    def request_id(self, headers: Mapping[str, str]) -> str | None:
        return headers.get("x-request-id")

    def describe(self) -> dict[str, Any]:
        """Non-secret facts about the endpoint, for audit records and cache keys."""
        return {"provider": self.name, "model": self.model, "base_url": self.base_url}


# --------------------------------------------------------------------------- shared helpers


def parse_retry_after(
    headers: Mapping[str, str], *, now: Callable[[], float] = time.time
) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` or ``retry-after`` (seconds or HTTP date)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    import email.utils  # an HTTP date is rare: not loaded with ``import aiguard``

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now())


def body_snippet(content: bytes, limit: int = 200) -> str:
    text = content[:limit].decode("utf-8", "replace")
    return text + ("..." if len(content) > limit else "")


def error_body(content: bytes) -> Any:
    """An error response's parsed JSON, or ``None``: error bodies may be HTML from a proxy."""
    try:
        return json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return None


def _error_message(content: bytes) -> tuple[str | None, str | None]:
    body = error_body(content)
    if not isinstance(body, dict):
        return None, None
    err = body.get("error")
    if isinstance(err, dict):
        msg = err.get("message")
        code = err.get("code") or err.get("type")
        return (str(msg) if msg else None), (str(code) if code else None)
    if isinstance(err, str):
        return err, None
    msg = body.get("message")
    return (str(msg) if msg else None), None


def load_json(response: RawResponse, provider: str) -> Any:
    """Parse a success body; anything but JSON is a ``DecodeError`` with a snippet."""
    content = response.content
    try:  # UTF-8 text, as providers send it
        return from_json(content)
    except ValueError:  # a BOM, UTF-16/32 or not JSON at all: json's own reading decides
        pass
    try:
        return json.loads(content)
    except (ValueError, UnicodeDecodeError) as e:
        raise DecodeError(
            f"response body is not valid JSON: {e}",
            provider=provider,
            status_code=response.status_code,
            body_snippet=body_snippet(response.content),
        ) from e


# --------------------------------------------------------------------------- registry

_REGISTRY: dict[str, type[Provider]] = {}
_ENTRY_POINTS_LOADED = False


def register_provider(cls: type[Provider]) -> type[Provider]:
    """Class decorator: make ``cls`` buildable by its ``name`` from plain config."""
    _REGISTRY[cls.name] = cls
    return cls


def _load_entry_points() -> None:
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return
    _ENTRY_POINTS_LOADED = True
    from importlib.metadata import entry_points

    for ep in entry_points(group="aiguard.providers"):
        cls = ep.load()
        if isinstance(cls, type) and issubclass(cls, Provider):
            _REGISTRY.setdefault(cls.name, cls)


# Built-in adapters register themselves when their module is imported; this says where.
_BUILTIN = {
    "openai": "openai",
    "openai-compatible": "openai",
    "anthropic": "anthropic",
    "gemini": "gemini",
    "vertex": "gemini",
    "bedrock": "bedrock",
    "azure-openai": "azure",
}


def registered_providers() -> list[str]:
    _load_entry_points()
    return sorted(set(_REGISTRY) | set(_BUILTIN))


def provider_class(name: str) -> type[Provider]:
    if name not in _REGISTRY and name in _BUILTIN:
        from importlib import import_module

        import_module(f"{__package__}.{_BUILTIN[name]}")
    if name not in _REGISTRY:
        _load_entry_points()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"unknown provider {name!r}; registered: {', '.join(registered_providers())}"
        ) from None


def build_provider(config: Mapping[str, Any]) -> Provider:
    """``{"provider": "openai", "model": "gpt-4o-mini", ...}`` -> a provider instance."""
    if "provider" not in config:
        raise ConfigError(f"endpoint config needs a 'provider' key, got keys {sorted(config)}")
    options = {k: v for k, v in config.items() if k != "provider"}
    cls = provider_class(str(config["provider"]))
    try:
        return cls(**options)
    except TypeError as e:
        raise ConfigError(f"endpoint config for provider {cls.name!r}: {e}") from None
