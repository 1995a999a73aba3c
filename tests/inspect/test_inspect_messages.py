"""Requests and responses: every role and part is inspected, JSON arguments stay JSON, and
placeholders the model echoes come back restored."""

from __future__ import annotations

import json

import pytest

from aiguard._types import ChatRequest, ChatResponse, FunctionCall, Message, TextPart, ToolCall
from aiguard.errors import ContentBlockedError
from aiguard.inspect import ContentInspector, Vault

REDACT = ContentInspector({"pii": {"action": "redact", "restore": True}})


def request() -> ChatRequest:
    call = ToolCall(
        id="c1",
        function=FunctionCall(
            name="send_mail",
            arguments=json.dumps({"to": ["amy@example.org"], "card": 4111111111111111, "n": 3}),
        ),
    )
    return ChatRequest(
        messages=(
            Message(role="system", content="Admin is root@example.com."),
            Message(role="user", content=(TextPart(text="I am bob@example.com"),)),
            Message(role="assistant", content=None, tool_calls=(call,)),
            Message(role="tool", tool_call_id="c1", content="sent to amy@example.org"),
        )
    )


def test_all_roles_parts_tool_calls_and_tool_results_are_redacted() -> None:
    result = REDACT.inspect_request(request())
    msgs = result.request.messages
    assert msgs[0].content == "Admin is [EMAIL_1]."
    assert msgs[1].text == "I am [EMAIL_2]"
    args = json.loads(msgs[2].tool_calls[0].function.arguments)  # type: ignore[index]
    assert args == {"to": ["[EMAIL_3]"], "card": "[CARD_1]", "n": 3}
    assert msgs[3].content == "sent to [EMAIL_3]"
    assert {f.location for f in result.findings} == {
        "messages[0].content",
        "messages[1].content[0]",
        "messages[2].tool_calls[0].arguments.to[0]",
        "messages[2].tool_calls[0].arguments.card",
        "messages[3].content",
    }
    assert "example" not in result.request.model_dump_json()


def test_clean_request_is_returned_unchanged() -> None:
    req = ChatRequest(messages=(Message(role="user", content="hello"),))
    assert REDACT.inspect_request(req).request is req


def test_block_names_the_message() -> None:
    engine = ContentInspector({"blockList": ["PII"]})
    with pytest.raises(ContentBlockedError) as e:
        engine.inspect_request(request())
    assert e.value.message_index == 0


def test_response_text_and_tool_arguments_are_restored() -> None:
    vault = Vault()
    REDACT.inspect_request(request(), vault=vault)
    answer = ChatResponse(
        text="I wrote to [EMAIL_3] and [EMAIL_2].",
        tool_calls=(
            ToolCall(
                id="c2",
                function=FunctionCall(name="send_mail", arguments='{"to": "[EMAIL_1]"}'),
            ),
        ),
    )
    seen = REDACT.inspect_response(answer, vault=vault).response
    assert seen.text == "I wrote to amy@example.org and bob@example.com."
    assert json.loads(seen.tool_calls[0].function.arguments) == {"to": "root@example.com"}


def test_output_inspection_blocks_answers() -> None:
    engine = ContentInspector({"secrets": {"action": "block", "direction": "output"}})
    leak = ChatResponse(text="the key is " + "AK" + "IA" + "QWERTYUIOPASDFGH")
    with pytest.raises(ContentBlockedError) as e:
        engine.inspect_response(leak)
    assert (e.value.direction, e.value.category) == ("output", "secrets.aws_access_key_id")


def test_invalid_json_arguments_are_inspected_as_text() -> None:
    call = ToolCall(id="x", function=FunctionCall(name="f", arguments='{"to": bob@example.com'))
    req = ChatRequest(messages=(Message(role="assistant", tool_calls=(call,)),))
    out = REDACT.inspect_request(req).request
    assert out.messages[0].tool_calls[0].function.arguments == '{"to": [EMAIL_1]'  # type: ignore[index]
