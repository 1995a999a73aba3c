"""Everything the two clients share: endpoints, stages, and turning arguments into a ``Call``.

``Client`` and ``AsyncClient`` hold one of these and differ only in how they perform effects.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypedDict

from pydantic import ValidationError

from ._call import CacheMode, Call, CallOptions, Endpoint
from ._context import CallContext, resolve_context
from ._pipeline import Pipeline, Pricing
from ._stages import DirectRouter, Stages
from ._types import (
    ChatRequest,
    EmbeddingRequest,
    Message,
    MessageInput,
    coerce_messages,
    describe_validation,
    request_like,
)
from .errors import ConfigError, InvalidRequestError
from .providers._base import Provider, build_provider

__all__ = ["ChatOptions", "Core", "EndpointsArg", "StageOverrides"]

EndpointsArg = Mapping[str, "Provider | Mapping[str, Any]"]


class ChatOptions(TypedDict, total=False):
    """Generation options, passed to ``chat``/``stream`` as keyword arguments."""

    max_tokens: int
    temperature: float
    top_p: float
    stop: str | Sequence[str]
    seed: int
    tools: Sequence[Any]
    tool_choice: str | dict[str, Any]
    parallel_tool_calls: bool
    response_format: Any
    presence_penalty: float
    frequency_penalty: float
    user: str
    extra: dict[str, Any]


class StageOverrides(TypedDict, total=False):
    """Stage implementations given directly to a client, overriding what a policy builds."""

    authorizer: Any
    inspector: Any
    router: Any
    cache: Any
    limiter: Any
    retry: Any
    telemetry: Any
    observers: Any


def _endpoint(name: str, value: Provider | Mapping[str, Any]) -> Endpoint:
    if not isinstance(name, str) or not name:
        raise ConfigError(f"endpoint names must be non-empty strings, got {name!r}")
    if isinstance(value, Provider):
        return Endpoint(name, value)
    if isinstance(value, Mapping):
        return Endpoint(name, build_provider(value))
    raise ConfigError(
        f"endpoint {name!r}: expected a provider such as OpenAI(model=...) or a config dict "
        f"with a 'provider' key, got {type(value).__name__}"
    )


class Core:
    __slots__ = ("_owned", "_templates", "clock", "endpoints", "pipeline", "policy", "stages")

    def __init__(
        self,
        endpoints: EndpointsArg | None,
        *,
        policy: Any = None,
        clock: Callable[[], float] | None = None,
        pricing: Pricing | None = None,
        stages: StageOverrides | None = None,
        telemetry: Any = None,
    ) -> None:
        self._templates: dict[Any, ChatRequest] = {}
        if endpoints is None:
            endpoints = {}
        if not isinstance(endpoints, Mapping):
            raise ConfigError(
                "endpoints must be a dict of name -> provider, e.g. "
                "{'cloud-llm': OpenAI(model='gpt-4o-mini')}"
            )
        self.endpoints: dict[str, Endpoint] = {
            name: _endpoint(name, value) for name, value in endpoints.items()
        }
        if not self.endpoints:
            raise ConfigError("a client needs at least one endpoint")
        self.clock = clock or time.monotonic
        from ._assembly import build_stages, coerce_policy

        self.policy = coerce_policy(policy)
        if pricing is None:
            from .tokens import PriceTable

            pricing = PriceTable()
        built: dict[str, Any] = build_stages(
            self.endpoints, self.policy, clock=self.clock, pricing=pricing, telemetry=telemetry
        )
        built.setdefault("router", DirectRouter(self.endpoints))
        given = dict(stages or {})
        self._owned = [
            v
            for k, v in built.items()
            if k in ("telemetry", "limiter", "cache")
            and k not in given
            and not (k == "telemetry" and telemetry is not None)
        ]
        if stages and ("router" in stages or "retry" in stages) and "observers" not in stages:
            built.pop("observers", None)  # they feed the built router's health, now unused
        for key, value in (stages or {}).items():
            if key not in StageOverrides.__annotations__:
                raise ConfigError(
                    f"unknown stage {key!r}; stages: {', '.join(StageOverrides.__annotations__)}"
                )
            built[key] = value
        self.stages = Stages(**built)
        self.pipeline = Pipeline(self.stages, self.clock, pricing)

    def closables(self) -> list[Any]:
        """Engines this client built that hold resources (audit writer, limit stores).

        What the caller passed in (``stages=``, ``telemetry=``) is the caller's to close.
        """
        seen: list[Any] = []
        for stage in self._owned:
            for obj in (stage, getattr(stage, "telemetry", None), getattr(stage, "limiter", None)):
                if obj is not None and obj not in seen and hasattr(obj, "close"):
                    seen.append(obj)
        return seen

    # ------------------------------------------------------------------ calls

    def chat_call(
        self,
        messages: str | Sequence[MessageInput],
        *,
        model: str | None,
        context: CallContext | Mapping[str, Any] | None,
        stream: bool,
        cache: CacheMode,
        cache_ttl: float | None,
        timeout: float | None,
        options: ChatOptions,
    ) -> Call:
        msgs = coerce_messages(messages)
        stop = options.get("stop")
        fields: dict[str, Any] = dict(options)
        if isinstance(stop, str):
            fields["stop"] = (stop,)
        request = self._request(msgs, model, fields)
        return Call(
            operation="chat",
            request=request,
            context=resolve_context(context),
            stream=stream,
            options=_options(cache, cache_ttl, timeout),
        )

    def _request(
        self, msgs: tuple[Message, ...], model: str | None, fields: dict[str, Any]
    ) -> ChatRequest:
        """The validated request. Options made only of plain values (numbers, strings,
        tuples) are validated once per distinct set and reused as a template: only the
        messages and the model change between most calls, and they are checked already."""
        key: Any = None
        if model is None or type(model) is str:
            key = tuple([(k, type(v), v) for k, v in fields.items()])
            try:
                template = self._templates.get(key)
            except TypeError:  # a list, a dict (tools, extra...): validated every time
                key = template = None
            if template is not None:
                return request_like(template, msgs, model)
        try:
            request = ChatRequest(messages=msgs, model=model, **fields)
        except ValidationError as e:
            raise InvalidRequestError(describe_validation(e)) from None
        except TypeError as e:
            raise InvalidRequestError(str(e)) from None
        if key is not None:
            if len(self._templates) >= 256:
                self._templates.clear()
            # Without this call's messages: a client must not keep a prompt alive.
            self._templates[key] = request_like(request, (), None)
        return request

    def embed_call(
        self,
        inputs: str | Sequence[str],
        *,
        model: str | None,
        context: CallContext | Mapping[str, Any] | None,
        dimensions: int | None,
        timeout: float | None,
    ) -> Call:
        if isinstance(inputs, str):
            inputs = [inputs]
        if not inputs or not all(isinstance(x, str) for x in inputs):
            raise InvalidRequestError("embed() takes a string or a non-empty list of strings")
        try:
            request = EmbeddingRequest(inputs=tuple(inputs), model=model, dimensions=dimensions)
        except ValidationError as e:
            raise InvalidRequestError(describe_validation(e)) from None
        return Call(
            operation="embeddings",
            request=request,
            context=resolve_context(context),
            options=_options("bypass", None, timeout),
        )


def _options(cache: CacheMode, cache_ttl: float | None, timeout: float | None) -> CallOptions:
    if cache not in ("default", "refresh", "bypass", "only"):
        raise InvalidRequestError(
            f"cache must be 'default', 'refresh', 'bypass' or 'only', got {cache!r}"
        )
    if cache_ttl is not None and cache_ttl <= 0:
        raise InvalidRequestError(f"cache_ttl must be > 0 seconds, got {cache_ttl!r}")
    if timeout is not None and timeout <= 0:
        raise InvalidRequestError(f"timeout must be > 0 seconds, got {timeout!r}")
    if cache == "default" and cache_ttl is None and timeout is None:
        return _DEFAULT_OPTIONS
    return CallOptions(cache=cache, cache_ttl=cache_ttl, timeout=timeout)


_DEFAULT_OPTIONS = CallOptions()
