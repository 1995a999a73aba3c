"""Requests built without pydantic's validator are the very requests it would build.

A repeated set of plain options is validated once and reused as a template
(``Core._request``, ``request_like``); these tests hold the shortcut to the validator's
answer, invalid input included: a shortcut must never let through what validation refuses.
"""

from __future__ import annotations

from typing import Any

import pytest

from aiguard._core import Core
from aiguard._types import ChatRequest, coerce_messages
from aiguard.errors import InvalidRequestError
from aiguard.providers import OpenAICompatible


def _core() -> Core:
    return Core({"llm": OpenAICompatible("http://127.0.0.1:9/v1", "m")})


def _same(a: Any, b: Any) -> None:
    assert a == b
    assert type(a) is type(b)
    assert a.model_fields_set == b.model_fields_set
    assert a.model_dump_json() == b.model_dump_json()


OPTIONS: list[dict[str, Any]] = [
    {},
    {"max_tokens": 20},
    {"max_tokens": 20, "temperature": 0},
    {"temperature": 0.5, "top_p": 0.9, "seed": 7, "stop": ("x", "y"), "user": "u"},
    {"temperature": 1},
    {"temperature": True},
    {"parallel_tool_calls": False, "presence_penalty": 0.1, "frequency_penalty": -0.1},
    {"tool_choice": "auto"},
]


@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("model", [None, "llm"])
def test_requests_with_repeated_options_equal_validated_ones(
    options: dict[str, Any], model: str | None
) -> None:
    core = _core()
    for text in ("first", "second", "third"):
        msgs = [{"role": "user", "content": text}]
        call = core.chat_call(
            msgs, model=model, context=None, stream=False, cache="default", cache_ttl=None,
            timeout=None, options=options,  # type: ignore[arg-type]
        )  # fmt: skip
        _same(call.request, ChatRequest(messages=coerce_messages(msgs), model=model, **options))


@pytest.mark.parametrize(
    "bad",
    [{"max_tokens": 0}, {"max_tokens": -1}, {"temperature": 3}, {"top_p": 0}, {"seed": "x"}],
)
def test_invalid_options_are_refused_every_time(bad: dict[str, Any]) -> None:
    core = _core()
    ok = {k: 1 if k != "seed" else 3 for k in bad}  # the same keys, valid values
    kw: Any = dict(
        model=None, context=None, stream=False, cache="default", cache_ttl=None, timeout=None
    )
    core.chat_call("hi", options=ok, **kw)
    core.chat_call("hi", options=ok, **kw)
    for _ in range(2):
        with pytest.raises(InvalidRequestError):
            core.chat_call("hi", options=bad, **kw)


def test_a_model_that_is_not_a_string_is_refused_after_a_valid_call() -> None:
    core = _core()
    kw: Any = dict(
        context=None, stream=False, cache="default", cache_ttl=None, timeout=None, options={}
    )
    core.chat_call("hi", model="llm", **kw)
    with pytest.raises(InvalidRequestError):
        core.chat_call("hi", model=3, **kw)


def test_templates_do_not_share_mutable_state() -> None:
    core = _core()
    kw: Any = dict(
        model=None, context=None, stream=False, cache="default", cache_ttl=None, timeout=None
    )
    a = core.chat_call("one", options={"max_tokens": 5}, **kw).request
    b = core.chat_call("two", options={"max_tokens": 5}, **kw).request
    assert a.messages[0].content == "one" and b.messages[0].content == "two"
    assert a.model_fields_set is not b.model_fields_set


def test_templates_keep_no_prompt() -> None:
    core = _core()
    kw: Any = dict(
        model=None, context=None, stream=False, cache="default", cache_ttl=None, timeout=None
    )
    core.chat_call("a secret prompt", options={"max_tokens": 5}, **kw)
    assert all(t.messages == () for t in core._templates.values())
