"""The policy applied to every request an official SDK sends, inside its HTTP transport.

``SdkGuard.exchange`` is one sans-IO generator per request: it reads the JSON body, runs
the stages (authorize, inspect and rewrite the body, route, admit), asks the driver to
``Forward`` the request, then inspects the answer (whole JSON bodies, or server-sent events
incrementally) while the SDK reads it, and settles and records the call when the body ends
or is closed. The sync and async transports only perform its effects.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from .._call import Call, Endpoint
from .._context import CallContext, current_context
from .._effects import CloseStream, ReadAll, ReadChunk
from .._types import ChatResponse, EmbeddingResponse, FunctionCall, ToolCall, Usage
from ..errors import ConfigError, NoRouteError, error_for_status
from ..providers._base import parse_retry_after
from ._calls import Inspect, calls_in, rewrite_calls
from ._flow import Yield, hand_over, optional_io
from ._runtime import Admission, Flow, Runtime, Target
from ._sse import SseRewriter
from ._texts import Scan
from ._wire import (
    Api,
    answer_texts_in,
    call_request,
    classify,
    drop_logprobs,
    rewrite_request,
    rewrite_response,
)
from ._wire import usage_in as _usage_in

__all__ = ["Forward", "Head", "SdkGuard"]

_HOP = frozenset(("content-length", "content-encoding", "transfer-encoding"))
_CREDENTIALS = frozenset(("authorization", "x-api-key", "api-key"))


@dataclass(slots=True)
class Forward:
    """Send this request (``url``/``headers``/``content`` replace the original's when set)
    with the wrapped transport; the result is an ``Upstream``."""

    request: Any
    url: str | None = None
    headers: list[tuple[str, str]] | None = None
    content: bytes | None = None


@dataclass(slots=True)
class Head:
    """Answer the SDK now with this status and these headers; the body follows as
    ``Yield(bytes)`` effects while the SDK reads it."""

    upstream: Any
    status_code: int
    headers: list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class _Destination:
    base_url: str
    headers: tuple[tuple[str, str], ...] = ()


class SdkGuard:
    """What one ``aiguard.http_client`` holds: the stages, the destinations policy routing
    may choose, and the defaults of the call context."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        endpoints: Mapping[str, Any] | None = None,
        client: Any = None,
        context: CallContext | None = None,
        routing: str = "rewrite",
        forward_credentials: bool = False,
        retries: int = 0,
    ) -> None:
        if routing not in ("rewrite", "refuse", "off"):
            raise ConfigError(f"routing must be 'rewrite', 'refuse' or 'off', got {routing!r}")
        self.runtime = runtime
        self.retry = runtime.retry_policy(retries)
        self.context = context or CallContext()
        self.routing = routing
        self.forward_credentials = forward_credentials
        self.destinations: dict[str, _Destination] = {}
        self.router: Any = None
        if routing == "off":
            return
        core = getattr(client, "_core", None)
        if endpoints is not None:
            self.destinations = {n: _destination(n, v) for n, v in endpoints.items()}
            if runtime.policy is not None:
                from ..providers import OpenAICompatible
                from ..routing import PolicyRouter

                eps = {
                    n: Endpoint(n, OpenAICompatible(base_url=d.base_url, model=n))
                    for n, d in self.destinations.items()
                }
                self.router = PolicyRouter.from_policy(runtime.policy, eps)
        elif core is not None and core.policy is not None:
            self.router = core.stages.router
            for name, ep in core.endpoints.items():
                base = getattr(ep.provider, "base_url", None)
                if isinstance(base, str):
                    self.destinations[name] = _Destination(base.rstrip("/"))

    # ------------------------------------------------------------------ one request

    def exchange(self, request: Any, content: bytes) -> Flow:
        """The flow for one request; its return value is a response to hand back as is."""
        api = classify(request.method, request.url.path)
        body = _json(content) if api is not None else None
        if api is not None and api.stored:
            body = {}  # a read: no prompt (a body, if any, is not one)
        if api is None or not isinstance(body, dict):
            upstream = yield Forward(request)
            return upstream.response
        rt = self.runtime
        ctx = self.context.merged(current_context())
        if api.stored:
            stream = request.url.params.get("stream") == "true"
        else:
            stream = body.get("stream") is True
        call = rt.new_call(call_request(api, body), ctx, stream=stream)
        claim = Admission(rt, call)
        return (yield from claim.around(self._exchange(claim, api, request, body)))

    def _exchange(self, claim: Admission, api: Api, request: Any, body: dict[str, Any]) -> Flow:
        rt, call = self.runtime, claim.call
        rt.authorize(call)
        inspector = rt.inspector(call)
        scan = None
        if inspector is not None:
            from ..inspect import Vault

            scan = Scan(inspector, Vault(), call.findings)
        changed = False
        if scan is not None and scan.inspector.active("input") and not api.stored:
            before = json.dumps(body, sort_keys=True)
            rewrite_request(api, body, scan.text_in, scan.arguments_in)
            changed = json.dumps(body, sort_keys=True) != before
            call.request = call_request(api, body)
        if scan is not None and not api.stored:
            yield from optional_io(scan.judge_prompt(call))
        if api.stored:  # where the response was made; nothing generated, nothing admitted
            url, headers, label = str(request.url), None, None
            rt.telemetry.event(call, "aiguard.sdk.stored_response", {"stream": call.stream})
        else:
            url, headers, label = self._route(call, api, request)
            yield from claim.admit()
        host = urlsplit(url).netloc
        target = Target(api.name.split(".", 1)[0], _str(body.get("model")), url)
        endpoint = target.endpoint(label or host)
        payload = json.dumps(body).encode() if changed else None
        while True:
            rt.attempt_start(call, endpoint)
            try:
                upstream = yield Forward(request, url, headers, payload)
            except Exception as e:
                yield from rt.failed(call, e, self.retry)
                continue
            status = upstream.status_code
            if status < 400:
                break
            error = error_for_status(status)(
                f"{api.name} answered HTTP {status}",
                provider=target.name,
                status_code=status,
                retry_after=parse_retry_after(upstream.headers),
            )
            try:
                yield from rt.failed(call, error, self.retry, CloseStream(upstream))
            except type(error):
                call.error = error
                yield from claim.settle()
                return upstream.response  # the SDK raises its own error from it
        rt.attempt_end(call, None)
        out_scan = scan if scan is not None and scan.inspector.active("output") else None
        gate = scan.gate() if scan is not None else None
        check = getattr(rt.authorizer, "check_tool_name", None)
        tools = (lambda name: check(call, name)) if check is not None else None
        out_headers = [(k, v) for k, v in upstream.headers.multi_items() if k.lower() not in _HOP]
        if "text/event-stream" in upstream.headers.get("content-type", ""):
            args: Inspect | None = out_scan.arguments_out if out_scan is not None else None
            if args is None and gate is not None:
                args = _as_is  # held whole for the moderator, which judges them too
            resumed = api.stored and "starting_after" in request.url.params
            sse = SseRewriter(api, out_scan, arguments=args, tools=tools, resumed=resumed)
            yield Head(upstream, status, out_headers)
            while True:
                chunk = yield ReadChunk(upstream)
                if not chunk:
                    break
                data = sse.feed(chunk)
                if data:
                    yield from hand_over(gate.release([data]) if gate is not None else [data])
            tail = sse.finish()
            rest: list[Any] = [tail] if tail else []
            if gate is not None:
                judged = [("stream", "".join(sse.text)), *((w, a) for w, _, _, a in sse.calls)]
                if sse.reasoning:
                    judged.append(("reasoning", "".join(sse.reasoning)))
                rest = [*gate.release(rest), *gate.end(judged)]
            yield from hand_over(rest)
            claim.usage = sse.usage
            calls = [(i, n, a) for _, i, n, a in sse.calls]
            call.response = _answer(api, "".join(sse.text), claim.usage, None, calls)
        else:
            raw = yield ReadAll(upstream)
            parsed = _json(raw)
            slots = calls_in(api.name, parsed)
            rewrite_calls(slots, out_scan.arguments_out if out_scan is not None else None, tools)
            if out_scan is not None and isinstance(parsed, dict):
                rewrite_response(api, parsed, out_scan.text_out, out_scan.thought)
                drop_logprobs(api, parsed)
                raw = json.dumps(parsed).encode()
            if scan is not None and isinstance(parsed, dict):
                texts = [*answer_texts_in(api, parsed), *((s.where, s.get()) for s in slots)]
                yield from optional_io(scan.judge_answer(texts))
            claim.usage = _usage_in(parsed)
            calls = [(s.id, s.name or "", s.get()) for s in slots]
            call.response = _answer(api, _answer_text(api, parsed), claim.usage, parsed, calls)
            out_headers.append(("content-length", str(len(raw))))
            yield Head(upstream, status, out_headers)
            yield Yield(raw)
        if api.stored:
            call.response = _read_back(call.response, api)
            return None
        yield from claim.settle()
        return None

    def _route(
        self, call: Call, api: Api, request: Any
    ) -> tuple[str, list[tuple[str, str]] | None, str | None]:
        """The URL to send to, replaced headers (``None``: unchanged) and the endpoint name.

        Routing decides when the policy's ``endpointRouting`` sends this call somewhere and
        the SDK's destination is not one of the endpoints it allows: the URL is rewritten to
        the first of them (``routing="rewrite"``) or the call refused (``"refuse"``)."""
        url = str(request.url)
        if self.router is None:
            return url, None, None
        from ..routing import route_decision

        try:
            plan = self.router.route(call)
        except NoRouteError:
            if route_decision(call) is None:
                return url, None, None  # no rule and no default speak about this call
            raise
        parts = urlsplit(url)
        path = parts.path.rstrip("/")
        base = f"{parts.scheme}://{parts.netloc}{path[: len(path) - len(api.suffix)]}"
        for ep in plan:
            dest = self.destinations.get(ep.name)
            if dest is not None and dest.base_url == base.rstrip("/"):
                return url, None, ep.name
        chosen = plan[0]
        dest = self.destinations.get(chosen.name)
        if self.routing == "refuse" or dest is None:
            raise NoRouteError(
                f"the policy routes this call to endpoint {chosen.name!r}, not to {base}; "
                "point the SDK's base_url there or let aiguard.http_client rewrite it"
            )
        query = f"?{parts.query}" if parts.query else ""
        new_url = f"{dest.base_url}{api.suffix}{query}"
        dropped = {"host"} | (set() if self.forward_credentials else set(_CREDENTIALS))
        headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() not in dropped]
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        headers.extend(dest.headers)
        return new_url, headers, chosen.name


def _destination(name: str, value: Any) -> _Destination:
    if isinstance(value, str):
        return _Destination(value.rstrip("/"))
    if isinstance(value, Mapping) and isinstance(value.get("base_url"), str):
        headers = value.get("headers") or {}
        return _Destination(
            value["base_url"].rstrip("/"), tuple((str(k), str(v)) for k, v in headers.items())
        )
    raise ConfigError(
        f"endpoints[{name!r}]: give the base URL the SDK would use for it, or "
        "{'base_url': ..., 'headers': {...}}"
    )


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _answer_text(api: Api, body: Any) -> str:
    return "".join(text for _where, text in answer_texts_in(api, body, reasoning=False))


def _read_back(response: Any, api: Api) -> Any:
    """A stored response read back, as its audit record tells it: an access to model output
    (the response's id from the path, its model and the delivered text) that generated
    nothing, so it carries no tokens and no cost; the call that made it recorded those."""
    if not isinstance(response, ChatResponse):
        return response
    rid = api.suffix.split("/")[2]  # "/responses/{id}[/cancel]"
    return response.model_copy(update={"usage": Usage(), "id": unquote(rid)})


def _answer(
    api: Api,
    text: str,
    usage: Usage | None,
    body: Any,
    calls: Sequence[tuple[str, str, str]] = (),
) -> Any:
    """The response the span and audit record describe; ``calls`` are the answer's tool
    calls ``(id, name, arguments)`` as delivered."""
    model = _str(body.get("model")) if isinstance(body, dict) else None
    if api.operation == "embeddings":
        return EmbeddingResponse(vectors=(), usage=usage or Usage(estimated=True), model=model)
    tool_calls = tuple(
        ToolCall(id=i, function=FunctionCall(name=n, arguments=a)) for i, n, a in calls
    )
    return ChatResponse(
        text=text, tool_calls=tool_calls, usage=usage or Usage(estimated=True), model=model
    )


def _as_is(args: str, where: str) -> str:
    return args
