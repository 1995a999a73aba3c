"""The state of one call as it moves through the pipeline, and the endpoints it may use.

Stages read and write this object instead of passing growing argument lists around; each
stage keeps its private state under ``notes[<stage name>]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ._context import CallContext
from ._types import ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse

if TYPE_CHECKING:
    from .providers._base import Provider

__all__ = ["Attempt", "Call", "CallOptions", "Endpoint"]

CacheMode = Literal["default", "refresh", "bypass", "only"]

PROMPT_TOKENS_NOTE = "routing.prompt_tokens"
"""``Call.notes`` key: the prompt's token count per provider model, counted once per call by
whichever stage needs it first (routing's context-window check), read by the others (limits)."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A named provider configuration: what ``model=`` and routing rules refer to."""

    name: str
    provider: Provider

    @property
    def provider_name(self) -> str:
        return self.provider.name

    @property
    def model(self) -> str:
        return self.provider.model


@dataclass(frozen=True, slots=True)
class CallOptions:
    """Per-call controls that are not part of the request sent to the provider."""

    cache: CacheMode = "default"
    cache_ttl: float | None = None
    timeout: float | None = None


@dataclass(slots=True)
class Attempt:
    endpoint: str
    number: int
    started: float
    ended: float | None = None
    error: BaseException | None = None


@dataclass(slots=True)
class Call:
    operation: Literal["chat", "embeddings"]
    request: ChatRequest | EmbeddingRequest
    context: CallContext
    stream: bool = False
    options: CallOptions = field(default_factory=CallOptions)
    started: float = 0.0
    """Monotonic seconds from the client's clock."""
    plan: list[Endpoint] = field(default_factory=list)
    endpoint: Endpoint | None = None
    attempts: list[Attempt] = field(default_factory=list)
    findings: list[Any] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)
    response: ChatResponse | EmbeddingResponse | None = None
    error: BaseException | None = None
    cached: bool = False
    ended: float | None = None

    @property
    def model(self) -> str | None:
        """The name the caller asked for (endpoint or alias), before routing."""
        return self.request.model

    @property
    def chat_request(self) -> ChatRequest:
        assert isinstance(self.request, ChatRequest)
        return self.request
