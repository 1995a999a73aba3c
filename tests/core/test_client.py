"""The client end to end over real loopback HTTP, identical for Client and AsyncClient."""

from __future__ import annotations

import json
from typing import Any

import pytest

import aiguard
from aiguard import errors
from aiguard.providers import OpenAI, OpenAICompatible
from aiguard.testing import FakeProvider, Fault, Reply


def local(fake: FakeProvider, model: str = "llama-3.1-8b", **kw: Any) -> OpenAICompatible:
    return OpenAICompatible(fake.openai_url, model, **kw)


async def test_chat_returns_text_usage_and_where_it_came_from(
    fake: FakeProvider, make_driver: Any
) -> None:
    d = make_driver({"on-prem-llm": local(fake)})
    fake.script(Reply(text="Hello there", usage=(12, 3)))
    reply = await d.chat([{"role": "user", "content": "Hi"}], model="on-prem-llm", max_tokens=100)
    assert reply.text == "Hello there"
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (12, 3)
    assert reply.usage.estimated is False
    assert reply.finish_reason == "stop"
    assert reply.endpoint == "on-prem-llm" and reply.provider == "openai-compatible"
    assert reply.request_id
    sent = fake.requests[-1].json
    assert sent["model"] == "llama-3.1-8b" and sent["max_tokens"] == 100
    assert sent["messages"] == [{"role": "user", "content": "Hi"}]


async def test_stream_yields_events_and_aggregates(fake: FakeProvider, make_driver: Any) -> None:
    d = make_driver({"llm": local(fake)})
    fake.script(Reply(chunks=["Hel", "lo", " world"], usage=(5, 3)))
    events, final = await d.stream("Hi")
    assert "".join(e.text for e in events) == "Hello world"
    assert final is not None and final.text == "Hello world"
    assert final.usage.output_tokens == 3 and final.finish_reason == "stop"
    assert final.endpoint == "llm"
    assert fake.requests[-1].json["stream_options"] == {"include_usage": True}


async def test_tool_calls_round_trip(fake: FakeProvider, make_driver: Any) -> None:
    d = make_driver({"llm": local(fake)})
    tools = [
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    ]
    fake.script(
        Reply(tool_calls=[("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Oslo"})]),
        Reply(tool_calls=[("get_weather", {"city": "Rome"})]),
    )
    reply = await d.chat("Weather?", tools=tools, parallel_tool_calls=True)
    assert reply.finish_reason == "tool_calls"
    assert [json.loads(t.function.arguments)["city"] for t in reply.tool_calls] == ["Paris", "Oslo"]
    _, streamed = await d.stream("Weather?", tools=tools)
    assert streamed is not None and json.loads(streamed.tool_calls[0].function.arguments) == {
        "city": "Rome"
    }
    follow_up = [
        {"role": "user", "content": "Weather?"},
        reply.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": reply.tool_calls[0].id, "content": "18C"},
    ]
    await d.chat(follow_up, tools=tools)
    sent = fake.requests[-1].json["messages"]
    assert sent[1]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert sent[2] == {"role": "tool", "content": "18C", "tool_call_id": reply.tool_calls[0].id}


async def test_json_mode_and_images_reach_the_provider(
    fake: FakeProvider, make_driver: Any
) -> None:
    d = make_driver({"llm": local(fake)})
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    await d.chat(
        [{"role": "user", "content": [{"type": "text", "text": "Describe"}, image]}],
        response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {}}},
        seed=3,
        temperature=0,
    )
    sent = fake.requests[-1].json
    assert sent["messages"][0]["content"][1] == image
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["seed"] == 3 and sent["temperature"] == 0


async def test_embeddings(fake: FakeProvider, make_driver: Any) -> None:
    d = make_driver({"embedder": local(fake, "text-embedding-3-small")})
    out = await d.embed(["a", "b"], model="embedder")
    assert len(out.vectors) == 2 and all(len(v) == 8 for v in out.vectors)
    assert out.vectors[0] != out.vectors[1]
    assert out.endpoint == "embedder"
    assert len(out) == 2 and list(out) == list(out.vectors) and out[1] == out.vectors[1]
    assert fake.requests[-1].json["input"] == ["a", "b"]


async def test_context_reaches_the_stages(fake: FakeProvider, make_driver: Any) -> None:
    seen: list[aiguard.CallContext] = []

    class Recorder:
        def authorize(self, call: Any) -> None:
            seen.append(call.context)

    d = make_driver({"llm": local(fake)}, stages={"authorizer": Recorder()})
    with aiguard.context(
        user="u-42", tenant="acme", region="EU", scopes={"ai.read"}, tags={"app": "bot"}
    ):
        await d.chat("Hi", context={"route": "faq"})
    ctx = seen[-1]
    assert (ctx.user, ctx.tenant, ctx.region, ctx.route) == ("u-42", "acme", "EU", "faq")
    assert ctx.scopes == {"ai.read"} and dict(ctx.tags) == {"app": "bot"}


# ----------------------------------------------------------------------------- errors


async def test_rate_limit_error_carries_retry_after_and_ids(
    fake: FakeProvider, make_driver: Any
) -> None:
    d = make_driver({"llm": local(fake)})
    fake.fault(Fault.status_code(429, retry_after=7, times=None))
    with pytest.raises(errors.RateLimitError) as e:
        await d.chat("Hi")
    err = e.value
    assert err.retry_after == 7 and err.status_code == 429
    assert err.provider == "openai-compatible" and err.endpoint == "llm" and err.request_id


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.status_code(500, times=None), errors.ServerError),
        (
            Fault.status_code(400, code="context_length_exceeded", times=None),
            errors.ContextWindowExceeded,
        ),
        (Fault.status_code(401, times=None), errors.AuthenticationError),
        (Fault.malformed_json(times=None), errors.DecodeError),
        (Fault.reset(times=None), errors.ConnectError),
        (Fault.status_code(502, body="<html>Bad Gateway</html>", times=None), errors.ServerError),
    ],
)
async def test_provider_failures_are_typed(
    fake: FakeProvider, make_driver: Any, fault: Fault, error: type
) -> None:
    d = make_driver({"llm": local(fake)})
    fake.fault(fault)
    with pytest.raises(error) as e:
        await d.chat("Hi")
    assert e.value.endpoint == "llm"


async def test_timeout(fake: FakeProvider, make_driver: Any) -> None:
    d = make_driver({"llm": local(fake, timeout=0.2)})
    fake.fault(Fault.hang(times=None))
    with pytest.raises(errors.TimeoutError):
        await d.chat("Hi")


@pytest.mark.parametrize(
    "fault", [Fault.cut_stream(after=2), Fault.no_terminal(), Fault.cut_stream(after=2, clean=True)]
)
async def test_broken_stream_keeps_partial_text(
    fake: FakeProvider, make_driver: Any, fault: Fault
) -> None:
    d = make_driver({"llm": local(fake)})
    fake.fault(fault)
    fake.script(Reply(chunks=["one ", "two ", "three"]))
    with pytest.raises(errors.StreamInterrupted) as e:
        await d.stream("Hi")
    assert e.value.partial_text.startswith("one ")


async def test_error_event_mid_stream(fake: FakeProvider, make_driver: Any) -> None:
    d = make_driver({"llm": local(fake)})
    fake.fault(Fault.error_event(after=1))
    fake.script(Reply(chunks=["a", "b", "c"]))
    with pytest.raises(errors.StreamInterrupted) as e:
        await d.stream("Hi")
    assert e.value.partial_text == "a"


async def test_stream_failure_before_first_event_fails_over(make_driver: Any) -> None:
    with FakeProvider() as bad, FakeProvider() as good:
        router = _InOrder(a=local(bad), b=local(good))
        d = make_driver(router.providers, stages={"router": router})
        bad.fault(Fault.status_code(503, times=None))
        good.script(Reply(text="from b"))
        _, final = await d.stream("Hi")
        assert final is not None and final.text == "from b" and final.endpoint == "b"


async def test_all_endpoints_down_lists_every_attempt(make_driver: Any) -> None:
    with FakeProvider() as a, FakeProvider() as b:
        router = _InOrder(a=local(a), b=local(b))
        d = make_driver(router.providers, stages={"router": router})
        a.fault(Fault.status_code(503, times=None))
        b.fault(Fault.reset(times=None))
        with pytest.raises(errors.AllEndpointsFailedError) as e:
            await d.chat("Hi")
        attempts = [(name, type(err)) for name, err in e.value.attempts]
        # every retry of "a" first, then "b": each attempt with its own reason
        assert sorted(set(attempts)) == [("a", errors.ServerError), ("b", errors.ConnectError)]
        assert attempts.index(("b", errors.ConnectError)) > attempts.index(
            ("a", errors.ServerError)
        )
        assert [n for n, _ in attempts] == sorted(n for n, _ in attempts)
        assert "a: ServerError" in str(e.value) and "b: ConnectError" in str(e.value)


class _InOrder:
    """A router that always plans the given endpoints, in order (failover tests)."""

    def __init__(self, **providers: Any) -> None:
        from aiguard import Endpoint

        self.plan = [Endpoint(name, p) for name, p in providers.items()]
        self.providers = providers

    def route(self, call: Any) -> list[Any]:
        return list(self.plan)


# ----------------------------------------------------------------------------- bad input


async def test_missing_key_names_the_variable_and_sends_nothing(
    fake: FakeProvider, make_driver: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    d = make_driver({"cloud-llm": OpenAI(model="gpt-4o-mini", base_url=fake.openai_url)})
    with pytest.raises(errors.MissingCredentialsError, match="OPENAI_API_KEY"):
        await d.chat("Hi", model="cloud-llm")
    assert fake.requests == []


async def test_key_is_sent_but_never_shown(fake: FakeProvider, make_driver: Any) -> None:
    key = "sk-" + "test" * 8
    provider = OpenAI(model="gpt-4o-mini", base_url=fake.openai_url, api_key=key)
    d = make_driver({"cloud-llm": provider})
    await d.chat("Hi")
    assert fake.requests[-1].headers["authorization"] == f"Bearer {key}"
    assert key not in repr(provider) and key not in repr(d.client.endpoints)


async def test_unknown_endpoint_lists_known_ones(fake: FakeProvider, make_driver: Any) -> None:
    d = make_driver({"cloud-llm": local(fake), "on-prem-llm": local(fake)})
    with pytest.raises(errors.UnknownEndpointError, match="'cloud-llm', 'on-prem-llm'"):
        await d.chat("Hi", model="gpt-5")
    with pytest.raises(errors.NoRouteError, match="pass model="):
        await d.chat("Hi")  # two endpoints and no model: ambiguous
    assert fake.requests == []


@pytest.mark.parametrize(
    ("messages", "match"),
    [
        (
            [{"role": "user", "content": "ok"}, {"role": "robot", "content": "x"}],
            r"messages\[1\]: role",
        ),
        ([{"content": "no role"}], r"messages\[0\]: role"),
        ([], "empty"),
        ({"role": "user", "content": "x"}, "list of messages"),
        (["just a string in a list"], r"messages\[0\]"),
    ],
)
async def test_malformed_messages_name_the_message(
    fake: FakeProvider, make_driver: Any, messages: Any, match: str
) -> None:
    d = make_driver({"llm": local(fake)})
    with pytest.raises(errors.InvalidRequestError, match=match):
        await d.chat(messages)
    assert fake.requests == []


async def test_bad_options_are_clear(fake: FakeProvider, make_driver: Any) -> None:
    d = make_driver({"llm": local(fake)})
    with pytest.raises(errors.InvalidRequestError, match="max_tokens"):
        await d.chat("Hi", max_tokens=0)
    with pytest.raises(errors.InvalidRequestError, match="temprature"):
        await d.chat("Hi", temprature=0.5)
    with pytest.raises(errors.InvalidRequestError, match="cache"):
        await d.chat("Hi", cache="sometimes")
    assert fake.requests == []


def test_bad_configuration_fails_at_construction() -> None:
    with pytest.raises(errors.ConfigError, match="at least one endpoint"):
        aiguard.Client({})
    with pytest.raises(errors.ConfigError, match="base_url"):
        OpenAICompatible("vllm.internal:8000", "m")
    with pytest.raises(errors.ConfigError, match="unknown provider 'opena1'"):
        aiguard.Client({"x": {"provider": "opena1", "model": "m"}})
    with pytest.raises(errors.ConfigError, match="expected a provider"):
        aiguard.Client({"x": "gpt-4o"})  # type: ignore[dict-item]


async def test_endpoint_from_plain_config(fake: FakeProvider, make_driver: Any) -> None:
    d = make_driver(
        {"llm": {"provider": "openai-compatible", "base_url": fake.openai_url, "model": "m"}}
    )
    assert (await d.chat("Hi")).text == "echo: Hi"


async def test_leaving_a_stream_early_releases_it(fake: FakeProvider, make_driver: Any) -> None:
    d = make_driver({"llm": local(fake)})
    fake.script(Reply(chunks=[f"w{i} " for i in range(50)]))
    events, final = await d.stream("Hi", stop_after=2)
    assert len(events) == 2 and final is None
    assert (await d.chat("again")).text == "echo: again"
