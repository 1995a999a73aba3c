"""Tool calls in answers through ``aiguard.http_client``: their arguments are inspected on
chat completions, Anthropic messages and the Responses API, streamed and not, and the
policy's tool allow-list refuses calls to tools it does not allow.

Each answer is read twice: as raw bytes from the guarded client (no byte may carry a raw
value) and through the official ``openai`` and ``anthropic`` SDKs (what they parse is valid
JSON with the redacted values; arguments without findings keep their exact bytes)."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx
import openai
import pytest

from aiguard.errors import ContentBlockedError, ToolNotAllowedError
from aiguard.sdk import async_http_client, http_client
from aiguard.testing import FakeProvider, Reply

from ._support import api_key

KINDS = pytest.mark.parametrize("kind", ["sync", "async"])
APIS = pytest.mark.parametrize("api", ["chat", "anthropic", "responses"])
STREAMED = pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])

POLICY: dict[str, Any] = {
    "spec": {
        "authentication": {"tools": {"deny": ["delete_*"]}},
        "contentModeration": {
            "enabled": True,
            "blockList": ["investment advice"],
            "pii": {"action": "redact"},
            "secrets": {"action": "block"},
        },
        "logging": {"enabled": False},
    }
}
PII = ("jane@example.com", "415 555 2671")
ARGS = '{"to": "jane@example.com", "note": "call +1 415 555 2671 now", "count": 3}'
REDACTED = {"to": "[EMAIL_1]", "note": "call [PHONE_1] now", "count": 3}
CLEAN = '{"city":  "Paris", "units": ["metric"], "days": 3}'  # odd spacing: bytes kept


def fake_secret() -> str:
    """A credential-shaped value, built at run time."""
    return "ghp_" + "".join(("aB3dE6gH9j", "K2mN5pQ8sT", "1vW4yZ7bC0", "eF3h"))


def payload(api: str, stream: bool) -> tuple[str, dict[str, Any]]:
    if api == "chat":
        body: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        path = "chat/completions"
    elif api == "anthropic":
        body = {"model": "m", "max_tokens": 200, "messages": [{"role": "user", "content": "hi"}]}
        path = "messages"
    else:
        body = {"model": "m", "input": "hi"}
        path = "responses"
    return path, {**body, "stream": stream}


def headers() -> dict[str, str]:
    return {"x-api-key": api_key(), "anthropic-version": "2023-06-01",
            "authorization": f"Bearer {api_key()}"}  # fmt: skip


def url(fake: FakeProvider, api: str, path: str) -> str:
    return f"{fake.url}/v1/{path}" if api == "anthropic" else f"{fake.openai_url}/{path}"


async def post(kind: str, fake: FakeProvider, api: str, stream: bool) -> bytes:
    """The bytes the guarded client hands its caller for one request."""
    path, body = payload(api, stream)
    options: dict[str, Any] = {"policy": POLICY, "retries": 0}
    raw = b""
    target = url(fake, api, path)
    if kind == "sync":
        with (
            http_client(**options) as hc,
            hc.stream("POST", target, json=body, headers=headers()) as r,
        ):
            for chunk in r.iter_raw():
                raw += chunk
        return raw
    async with (
        async_http_client(**options) as ahc,
        ahc.stream("POST", target, json=body, headers=headers()) as r,
    ):
        async for chunk in r.aiter_raw():
            raw += chunk
    return raw


def client(fake: FakeProvider, api: str, kind: str) -> Any:
    if api == "anthropic":
        cls: Any = anthropic.Anthropic if kind == "sync" else anthropic.AsyncAnthropic
        return cls(
            base_url=fake.url, api_key=api_key(), max_retries=0,
            default_headers={"x-api-key": api_key()},
            http_client=(http_client if kind == "sync" else async_http_client)(
                policy=POLICY, retries=0),
        )  # fmt: skip
    cls = openai.OpenAI if kind == "sync" else openai.AsyncOpenAI
    return cls(
        base_url=fake.openai_url, api_key=api_key(), max_retries=0,
        http_client=(http_client if kind == "sync" else async_http_client)(
            policy=POLICY, retries=0),
    )  # fmt: skip


async def _await(value: Any) -> Any:
    return await value if hasattr(value, "__await__") else value


async def _items(stream: Any) -> list[Any]:
    if hasattr(stream, "__aiter__"):
        return [e async for e in stream]
    return list(stream)


async def sdk_arguments(fake: FakeProvider, api: str, kind: str, stream: bool) -> list[str]:
    """The arguments of each tool call, as the official SDK parsed them (JSON texts)."""
    c = client(fake, api, kind)
    _, body = payload(api, stream)
    body.pop("stream")
    try:
        if api == "chat":
            if not stream:
                answer = await _await(c.chat.completions.create(**body))
                calls = answer.choices[0].message.tool_calls or []
                return [call.function.arguments for call in calls]
            chunks = await _items(await _await(c.chat.completions.create(stream=True, **body)))
            out: dict[int, str] = {}
            for chunk in chunks:
                for choice in chunk.choices:
                    for call in choice.delta.tool_calls or ():
                        piece = call.function.arguments if call.function else None
                        out[call.index] = out.get(call.index, "") + (piece or "")
            return [out[i] for i in sorted(out)]
        if api == "anthropic":
            if not stream:
                message = await _await(c.messages.create(**body))
            elif kind == "sync":
                with c.messages.stream(**body) as s:
                    message = s.get_final_message()
            else:
                async with c.messages.stream(**body) as s:
                    message = await s.get_final_message()
            return [json.dumps(b.input) for b in message.content if b.type == "tool_use"]
        if not stream:
            response = await _await(c.responses.create(**body))
        elif kind == "sync":
            with c.responses.stream(**body) as s:
                response = s.get_final_response()
        else:
            async with c.responses.stream(**body) as s:
                response = await s.get_final_response()
        return [item.arguments for item in response.output if item.type == "function_call"]
    finally:
        await _await(c.close())


def repeated_arguments(api: str, raw: bytes, stream: bool) -> list[str]:
    """Every place the raw bytes carry a call's arguments (each streamed call's fragments
    joined), as JSON texts."""
    if not stream:
        body = json.loads(raw)
        if api == "chat":
            return [c["function"]["arguments"] for c in body["choices"][0]["message"]["tool_calls"]]
        if api == "anthropic":
            return [json.dumps(b["input"]) for b in body["content"] if b["type"] == "tool_use"]
        return [i["arguments"] for i in body["output"] if i["type"] == "function_call"]
    events = []
    for block in raw.split(b"\n\n"):
        for line in block.split(b"\n"):
            if line.startswith(b"data:") and line[5:].strip() != b"[DONE]":
                events.append(json.loads(line[5:]))
    joined: dict[Any, str] = {}
    whole: list[str] = []
    for e in events:
        if api == "chat":
            for ch in e.get("choices") or ():
                for c in ch["delta"].get("tool_calls") or ():
                    piece = c.get("function", {}).get("arguments") or ""
                    joined[c["index"]] = joined.get(c["index"], "") + piece
        elif api == "anthropic":
            if e["type"] == "content_block_delta" and e["delta"]["type"] == "input_json_delta":
                joined[e["index"]] = joined.get(e["index"], "") + e["delta"]["partial_json"]
        else:
            kind = e["type"]
            if kind == "response.function_call_arguments.delta":
                joined[e["output_index"]] = joined.get(e["output_index"], "") + e["delta"]
            elif kind == "response.function_call_arguments.done":
                whole.append(e["arguments"])
            elif kind == "response.output_item.done" and e["item"]["type"] == "function_call":
                whole.append(e["item"]["arguments"])
            elif kind == "response.completed":
                out = e["response"]["output"]
                whole += [i["arguments"] for i in out if i["type"] == "function_call"]
    if api == "responses":
        numbers = [e["sequence_number"] for e in events]
        assert numbers == sorted(set(numbers)), numbers
    return [joined[k] for k in sorted(joined)] + whole


# ------------------------------------------------------------------------------ inspected


@KINDS
@APIS
@STREAMED
@pytest.mark.parametrize("size", [3, 1000])
async def test_arguments_are_redacted(
    fake: FakeProvider, kind: str, api: str, stream: bool, size: int
) -> None:
    reply = Reply(tool_calls=[("send", ARGS), ("lookup", CLEAN)], chunk_size=size)
    fake.script(reply)
    raw = await post(kind, fake, api, stream)
    for value in PII:
        assert value.encode() not in raw
    seen = repeated_arguments(api, raw, stream)
    assert seen, raw
    for text in seen:
        assert json.loads(text) in (REDACTED, json.loads(CLEAN))
    if api != "anthropic":  # Anthropic's input is an object, its spacing not kept whole
        assert seen.count(CLEAN) == len(seen) // 2
    elif stream:
        assert seen[1] == CLEAN  # streamed: the fragments joined, byte for byte

    fake.script(reply)
    parsed = await sdk_arguments(fake, api, kind, stream)
    assert [json.loads(a) for a in parsed] == [REDACTED, json.loads(CLEAN)]
    if api != "anthropic":
        assert parsed[1] == CLEAN


@KINDS
@APIS
@STREAMED
async def test_text_and_arguments_together(
    fake: FakeProvider, kind: str, api: str, stream: bool
) -> None:
    fake.script(Reply(text="mail jane@example.com", tool_calls=[("send", ARGS)], chunk_size=4))
    raw = await post(kind, fake, api, stream)
    for value in PII:
        assert value.encode() not in raw
    assert json.loads(repeated_arguments(api, raw, stream)[0]) == REDACTED


@KINDS
@APIS
@STREAMED
@pytest.mark.parametrize("what", ["phrase", "secret"])
async def test_a_block_in_arguments_raises(
    fake: FakeProvider, kind: str, api: str, stream: bool, what: str
) -> None:
    value = "some investment advice" if what == "phrase" else fake_secret()
    args = json.dumps({"q": "hello", "detail": value})
    fake.script(Reply(tool_calls=[("lookup", args)], chunk_size=5))
    received = b""
    with pytest.raises(ContentBlockedError) as caught:
        received = await post(kind, fake, api, stream)
    assert caught.value.direction == "output"
    assert value not in str(caught.value)
    assert value.encode() not in received

    fake.script(Reply(tool_calls=[("lookup", args)], chunk_size=5))
    with pytest.raises(ContentBlockedError):
        await sdk_arguments(fake, api, kind, stream)


@KINDS
@APIS
@STREAMED
async def test_a_block_stops_the_stream_before_the_arguments(
    fake: FakeProvider, kind: str, api: str, stream: bool
) -> None:
    """What reached the caller before the refusal carries none of the call's arguments."""
    args = json.dumps({"q": "my investment advice", "n": "jane@example.com"})
    fake.script(Reply(text="hello there", tool_calls=[("lookup", args)], chunk_size=3))
    path, body = payload(api, stream)
    got = b""
    options: dict[str, Any] = {"policy": POLICY, "retries": 0}
    with pytest.raises(ContentBlockedError):
        if kind == "sync":
            with (
                http_client(**options) as hc,
                hc.stream("POST", url(fake, api, path), json=body, headers=headers()) as r,
            ):
                for chunk in r.iter_raw():
                    got += chunk
        else:
            async with (
                async_http_client(**options) as ahc,
                ahc.stream("POST", url(fake, api, path), json=body, headers=headers()) as r,
            ):
                async for chunk in r.aiter_raw():
                    got += chunk
    assert b"investment" not in got and b"jane" not in got
    assert stream or got == b""


# ------------------------------------------------------------------------------ allow-list


@KINDS
@APIS
@STREAMED
async def test_a_tool_the_policy_denies_is_refused(
    fake: FakeProvider, kind: str, api: str, stream: bool
) -> None:
    fake.script(Reply(tool_calls=[("delete_everything", CLEAN)], chunk_size=4))
    with pytest.raises(ToolNotAllowedError) as caught:
        await sdk_arguments(fake, api, kind, stream)
    assert caught.value.direction == "output"

    fake.script(Reply(tool_calls=[("delete_everything", CLEAN)], chunk_size=4))
    received = b""
    with pytest.raises(ToolNotAllowedError):
        received = await post(kind, fake, api, stream)
    assert b"delete_everything" not in received


# ------------------------------------------------------------------------------ scripted


def _chat_sse(chunks: list[dict[str, Any]]) -> bytes:
    base = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    out = b"".join(b"data: " + json.dumps({**base, **c}).encode() + b"\n\n" for c in chunks)
    return out + b"data: [DONE]\n\n"


def _tc(index: int, args: str, name: str | None = None) -> dict[str, Any]:
    call: dict[str, Any] = {"index": index, "function": {"arguments": args}}
    if name is not None:
        call.update(id=f"call_{index}", type="function")
        call["function"]["name"] = name
    return {"choices": [{"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": None}]}


@KINDS
async def test_a_new_chat_index_ends_the_call_before_it(kind: str) -> None:
    """Two calls, the second starting while the first has no finish: the first call's
    arguments are released before the second call's first chunk."""
    half = len(ARGS) // 2
    chunks = [
        _tc(0, ARGS[:half], "send"),
        _tc(0, ARGS[half:]),
        _tc(1, "", "lookup"),
        _tc(1, CLEAN),
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    ]
    body = _chat_sse(chunks)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    options: dict[str, Any] = {
        "policy": POLICY, "retries": 0, "transport": httpx.MockTransport(handler),
        "library": "httpx",
    }  # fmt: skip
    cls: Any = openai.OpenAI if kind == "sync" else openai.AsyncOpenAI
    factory = http_client if kind == "sync" else async_http_client
    c = cls(base_url="http://upstream.test/v1", api_key=api_key(), max_retries=0,
            http_client=factory(**options))  # fmt: skip
    stream = await _await(
        c.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}],
                                  stream=True)
    )  # fmt: skip
    order: list[tuple[int, str]] = []
    for chunk in await _items(stream):
        for choice in chunk.choices:
            for call in choice.delta.tool_calls or ():
                order.append((call.index, (call.function.arguments or "") if call.function else ""))
    await _await(c.close())
    with_args = [(i, a) for i, a in order if a]
    assert [i for i, _ in with_args] == [0, 1]
    assert json.loads(with_args[0][1]) == REDACTED
    assert with_args[1][1] == CLEAN
    assert order.index((1, "")) > order.index(with_args[0])  # released before call 1 began


def _mock(body: bytes, policy: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    return {"policy": policy or POLICY, "retries": 0, "library": "httpx",
            "transport": httpx.MockTransport(handler), **kw}  # fmt: skip


async def _raw(kind: str, options: dict[str, Any], path: str, body: dict[str, Any]) -> bytes:
    raw = b""
    target = f"http://upstream.test/v1/{path}"
    if kind == "sync":
        with http_client(**options) as hc, hc.stream("POST", target, json=body) as r:
            for chunk in r.iter_raw():
                raw += chunk
        return raw
    async with async_http_client(**options) as ahc, ahc.stream("POST", target, json=body) as r:
        async for chunk in r.aiter_raw():
            raw += chunk
    return raw


def _function_call(
    arguments: str, status: str = "completed", custom: bool = False
) -> dict[str, Any]:
    if custom:  # a custom tool's input is free text
        return {"id": "ctc_1", "type": "custom_tool_call", "call_id": "call_1", "name": "send",
                "input": arguments}  # fmt: skip
    return {"id": "fc_1", "type": "function_call", "call_id": "call_1", "name": "send",
            "arguments": arguments, "status": status}  # fmt: skip


def _responses_stream(
    pieces: list[str], between: list[dict[str, Any]], custom: bool = False
) -> bytes:
    """A Responses stream of one function (or custom tool) call; ``between`` go after its
    last delta."""
    whole = "".join(pieces)
    name = "custom_tool_call_input" if custom else "function_call_arguments"
    field = "input" if custom else "arguments"
    envelope = {"id": "resp_1", "object": "response", "created_at": 1, "model": "m",
                "output": [], "parallel_tool_calls": True, "tools": [], "tool_choice": "auto",
                "error": None, "incomplete_details": None, "instructions": None,
                "metadata": {}, "temperature": 1.0, "top_p": 1.0}  # fmt: skip
    where = {"item_id": "fc_1", "output_index": 0}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": {**envelope, "status": "in_progress"}},
        {"type": "response.output_item.added", "output_index": 0,
         "item": _function_call("", "in_progress", custom)},
        *({"type": f"response.{name}.delta", **where, "delta": p} for p in pieces),
        *between,
        {"type": f"response.{name}.done", **where, field: whole},
        {"type": "response.output_item.done", "output_index": 0,
         "item": _function_call(whole, custom=custom)},
        {"type": "response.completed", "response": {
            **envelope, "status": "completed", "output": [_function_call(whole, custom=custom)]}},
    ]  # fmt: skip
    for n, e in enumerate(events):
        e["sequence_number"] = n
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


@KINDS
@pytest.mark.parametrize("between", [0, 1], ids=["adjacent", "event-between"])
async def test_responses_events_keep_their_order(kind: str, between: int) -> None:
    """The released arguments take the call's last delta event; when an event went out
    after it, the delta is numbered after that event and the rest are renumbered."""
    pieces = [ARGS[:10], ARGS[10:30], ARGS[30:]]
    other = [{"type": "response.in_progress", "response": {"id": "resp_1"}}] * between
    body = _responses_stream(pieces, other)
    raw = await _raw(kind, _mock(body), "responses", {"model": "m", "input": "x", "stream": True})
    for value in PII:
        assert value.encode() not in raw
    seen = repeated_arguments("responses", raw, True)  # asserts the sequence numbers
    assert [json.loads(a) for a in seen] == [REDACTED] * 4
    assert len(set(seen)) == 1  # every event repeats exactly what the delta delivered
    assert raw.count(b"response.function_call_arguments.delta") == 2  # name line + type
    kinds = [json.loads(b.split(b"data: ")[1])["type"] for b in raw.split(b"\n\n") if b]
    delta = kinds.index("response.function_call_arguments.delta")
    assert kinds[delta + 1] == "response.function_call_arguments.done"


@KINDS
async def test_arguments_without_deltas_are_inspected(kind: str) -> None:
    """Arguments that arrive only in the events that end the call are inspected once."""
    body = _responses_stream([], [])
    body = body.replace(b'"arguments": ""', b'"arguments": ' + json.dumps(json.dumps(
        json.loads(ARGS))).encode())  # fmt: skip
    raw = await _raw(kind, _mock(body), "responses", {"model": "m", "input": "x", "stream": True})
    for value in PII:
        assert value.encode() not in raw
    assert raw.count(b"[EMAIL_1]") == 4  # added, .done, output_item.done, completed


@KINDS
async def test_without_inspection_fragments_pass_as_they_come(kind: str) -> None:
    chunks = [_tc(0, ARGS[:7], "send"), _tc(0, ARGS[7:]),
              {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}]  # fmt: skip
    body = _chat_sse(chunks)
    plain: dict[str, Any] = {"spec": {"logging": {"enabled": False}}}
    raw = await _raw(kind, _mock(body, plain), "chat/completions",
                     {"model": "m", "messages": [], "stream": True})  # fmt: skip
    assert raw == body


@KINDS
async def test_the_moderator_judges_arguments(fake: FakeProvider, kind: str) -> None:
    from ._moderation import Judge, moderated_policy

    judge = Judge()
    args = json.dumps({"q": "something forbidden"})
    for stream in (False, True):
        fake.script(Reply(tool_calls=[("lookup", args)], chunk_size=4))
        options: dict[str, Any] = {"moderator": judge, "retries": 0}
        factory = http_client if kind == "sync" else async_http_client
        cls: Any = openai.OpenAI if kind == "sync" else openai.AsyncOpenAI
        c = cls(base_url=fake.openai_url, api_key=api_key(), max_retries=0,
                http_client=factory(moderated_policy(), **options))  # fmt: skip
        messages = [{"role": "user", "content": "hi"}]
        with pytest.raises(ContentBlockedError):
            answer = await _await(
                c.chat.completions.create(model="m", messages=messages, stream=stream)
            )
            if stream:
                await _items(answer)
        await _await(c.close())
    assert any("something forbidden" in text for text in judge.seen)


@KINDS
async def test_chat_arguments_in_the_first_chunk_and_side_by_side(kind: str) -> None:
    """Arguments that come whole with the call's id and name, and two calls in one chunk."""
    both = _tc(0, ARGS, "send")
    both["choices"][0]["delta"]["tool_calls"].append(_tc(1, CLEAN, "lookup")["choices"][0]
                                                     ["delta"]["tool_calls"][0])  # fmt: skip
    chunks = [both, {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}]
    options = _mock(_chat_sse(chunks))
    cls: Any = openai.OpenAI if kind == "sync" else openai.AsyncOpenAI
    factory = http_client if kind == "sync" else async_http_client
    c = cls(base_url="http://upstream.test/v1", api_key=api_key(), max_retries=0,
            http_client=factory(**options))  # fmt: skip
    stream = await _await(
        c.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}],
                                  stream=True)
    )  # fmt: skip
    got: dict[int, str] = {}
    names: dict[int, str] = {}
    for chunk in await _items(stream):
        for choice in chunk.choices:
            for call in choice.delta.tool_calls or ():
                assert call.function is not None
                got[call.index] = got.get(call.index, "") + (call.function.arguments or "")
                if call.function.name:
                    names[call.index] = call.function.name
    await _await(c.close())
    assert names == {0: "send", 1: "lookup"}
    assert json.loads(got[0]) == REDACTED
    assert got[1] == CLEAN


@KINDS
async def test_a_custom_tools_input_is_inspected(kind: str) -> None:
    text = "write to jane@example.com today"
    body = _responses_stream([text[:12], text[12:]], [], custom=True)
    raw = await _raw(kind, _mock(body), "responses", {"model": "m", "input": "x", "stream": True})
    assert b"jane@example.com" not in raw
    events = [json.loads(b.split(b"data: ")[1]) for b in raw.split(b"\n\n") if b]
    numbers = [e["sequence_number"] for e in events]
    assert numbers == sorted(set(numbers))
    deltas = [e["delta"] for e in events if e["type"] == "response.custom_tool_call_input.delta"]
    assert deltas == ["write to [EMAIL_1] today"]
    final = events[-1]["response"]["output"][0]["input"]
    assert final == deltas[0]


@KINDS
@STREAMED
async def test_a_legacy_function_call_is_inspected(kind: str, stream: bool) -> None:
    """The deprecated ``functions`` parameter's answer: ``message.function_call``."""
    if stream:
        pieces = [{"name": "send", "arguments": ARGS[:9]}, {"arguments": ARGS[9:]}]
        chunks = [{"choices": [{"index": 0, "delta": {"function_call": p},
                                "finish_reason": None}]} for p in pieces]  # fmt: skip
        chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "function_call"}]})
        options = _mock(_chat_sse(chunks))
    else:
        message = {"role": "assistant", "content": None,
                   "function_call": {"name": "send", "arguments": ARGS}}  # fmt: skip
        choice = {"index": 0, "message": message, "finish_reason": "function_call"}
        answer = {"id": "c1", "object": "chat.completion", "created": 1, "model": "m",
                  "choices": [choice]}  # fmt: skip

        def handler(request: httpx.Request) -> httpx.Response:
            return httpx.Response(200, json=answer)

        options = {**_mock(b""), "transport": httpx.MockTransport(handler)}
    cls: Any = openai.OpenAI if kind == "sync" else openai.AsyncOpenAI
    factory = http_client if kind == "sync" else async_http_client
    c = cls(base_url="http://upstream.test/v1", api_key=api_key(), max_retries=0,
            http_client=factory(**options))  # fmt: skip
    messages = [{"role": "user", "content": "x"}]
    got = await _await(c.chat.completions.create(model="m", messages=messages, stream=stream))
    if stream:
        args = ""
        for chunk in await _items(got):
            for choice in chunk.choices:
                if choice.delta.function_call is not None:
                    args += choice.delta.function_call.arguments or ""
    else:
        args = got.choices[0].message.function_call.arguments
    await _await(c.close())
    assert json.loads(args) == REDACTED

    denied = json.loads(json.dumps(options.get("policy")))
    denied["spec"]["authentication"]["tools"]["deny"] = ["send"]
    c = cls(base_url="http://upstream.test/v1", api_key=api_key(), max_retries=0,
            http_client=factory(**{**options, "policy": denied}))  # fmt: skip
    with pytest.raises(ToolNotAllowedError):
        got = await _await(c.chat.completions.create(model="m", messages=messages, stream=stream))
        if stream:
            await _items(got)
    await _await(c.close())
