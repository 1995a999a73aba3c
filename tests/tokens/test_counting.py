"""Token counts match OpenAI's published recipe, offline, with the shipped encodings."""

from __future__ import annotations

import base64
import struct
import subprocess
import sys
import zlib

import pytest
import tiktoken_ext.openai_public as openai_public

from aiguard._tokens._encodings import ENCODINGS
from aiguard._types import ChatRequest, Message, Tool
from aiguard.errors import InvalidRequestError
from aiguard.tokens import (
    count_messages,
    count_request,
    count_text,
    encoding_for_model,
    encoding_name_for_model,
    image_size,
)

# The example conversation and expected counts from OpenAI's "How to count tokens with
# tiktoken" cookbook, which the API's reported prompt_tokens agreed with.
JARGON = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates corporate "
        "jargon into plain English.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "New synergies will help drive top-line growth.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Things working well together will increase revenue.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on opportunities "
        "for increased leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the client "
        "deliverable.",
    },
]
WEATHER_TOOL = Tool.model_validate(
    {
        "type": "function",
        "function": {
            "name": "get_current_weather",
            "description": "Get the current weather in a given location",
            "parameters": {
                "type": "object",
                "properties": {
                    "location": {
                        "type": "string",
                        "description": "The city and state, e.g. San Francisco, CA",
                    },
                    "unit": {
                        "type": "string",
                        "description": "The unit of temperature to return",
                        "enum": ["celsius", "fahrenheit"],
                    },
                },
                "required": ["location"],
            },
        },
    }
)
WEATHER_MSGS = [
    {
        "role": "system",
        "content": "You are a helpful assistant that can answer to questions about the weather.",
    },
    {"role": "user", "content": "What's the weather like in San Francisco?"},
]


@pytest.mark.parametrize(
    ("model", "expected"),
    [("gpt-3.5-turbo", 129), ("gpt-4-0613", 129), ("gpt-4o", 124), ("gpt-4o-mini", 124)],
)
def test_chat_count_matches_openai_cookbook(model: str, expected: int) -> None:
    c = count_messages(JARGON, model)
    assert (c.tokens, c.estimated) == (expected, False)


@pytest.mark.parametrize(
    ("model", "expected"),
    [("gpt-3.5-turbo", 105), ("gpt-4", 105), ("gpt-4o", 101), ("gpt-4o-mini", 101)],
)
def test_tool_definitions_count_matches_openai_cookbook(model: str, expected: int) -> None:
    c = count_messages(WEATHER_MSGS, model, tools=[WEATHER_TOOL])
    assert (c.tokens, c.estimated) == (expected, False)


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-mini-2024-07-18", "o200k_base"),
        ("gpt-4.1-nano", "o200k_base"),
        ("gpt-5", "o200k_base"),
        ("gpt-5.1-codex", "o200k_base"),
        ("o1-preview", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("o4-mini", "o200k_base"),
        ("openai/gpt-4o", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("gpt-3.5-turbo-0125", "cl100k_base"),
        ("gpt-35-turbo", "cl100k_base"),
        ("text-embedding-3-small", "cl100k_base"),
        ("claude-sonnet-4-5", None),
        ("gemini-2.5-flash", None),
        ("llama-3.1-8b", None),
        ("o1x", None),
    ],
)
def test_encoding_per_model_family(model: str, encoding: str | None) -> None:
    assert encoding_name_for_model(model) == encoding


def test_pinned_hashes_are_tiktokens_own() -> None:
    # tiktoken_ext pins the hash inside each constructor's source; ours must be the same.
    import inspect

    for name, spec in ENCODINGS.items():
        assert spec.sha256 in inspect.getsource(getattr(openai_public, name))


def test_shipped_encoding_counts_like_tiktoken_reference() -> None:
    enc = encoding_for_model("gpt-4o")
    assert enc is not None
    assert enc.name == "o200k_base"
    # Token ids of a known string under o200k_base (from tiktoken's own test-suite).
    assert enc.encode("hello world") == [24912, 2375]
    cl = encoding_for_model("gpt-4")
    assert cl is not None
    assert cl.encode("hello world") == [15339, 1917]
    assert cl.encode("<|endoftext|>", allowed_special="all") == [100257]


def test_special_token_text_in_a_prompt_counts_as_plain_text() -> None:
    # Users may paste "<|endoftext|>"; it must be counted, never raise.
    assert count_text("<|endoftext|>", "gpt-4o").tokens > 1


def test_other_families_are_estimated_generously() -> None:
    text = "x" * 300
    c = count_text(text, "claude-sonnet-4-5")
    assert c == type(c)(100, True, None)
    chat = count_messages([{"role": "user", "content": text}], "gemini-2.5-pro")
    assert chat.estimated and chat.tokens == 3 + 4 + 100


def test_count_request_uses_request_model_or_argument() -> None:
    req = ChatRequest(messages=(Message(role="user", content="Hi"),), model="gpt-4o")
    assert count_request(req).tokens == count_request(req, "gpt-4o-mini").tokens == 8
    with pytest.raises(InvalidRequestError, match="needs a model"):
        count_request(ChatRequest(messages=req.messages))


def _png(width: int, height: int) -> str:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    raw = (
        b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
    )
    return "data:image/png;base64," + base64.b64encode(raw).decode()


def _image_msg(url: str, detail: str | None = None) -> list[dict[str, object]]:
    image: dict[str, object] = {"url": url}
    if detail:
        image["detail"] = detail
    return [{"role": "user", "content": [{"type": "image_url", "image_url": image}]}]


def test_image_parts_use_openai_tile_rule() -> None:
    base = count_messages([{"role": "user", "content": []}], "gpt-4o").tokens
    # 1024x1024 -> 768x768 -> 4 tiles -> 85 + 4 * 170 (OpenAI's documented example).
    hi = count_messages(_image_msg(_png(1024, 1024)), "gpt-4o")
    assert (hi.tokens - base, hi.estimated) == (765, False)
    low = count_messages(_image_msg(_png(4096, 4096), "low"), "gpt-4o")
    assert low.tokens - base == 85
    # 2048x4096 -> 1024x2048 -> 768x1536 -> 6 tiles
    tall = count_messages(_image_msg(_png(2048, 4096)), "gpt-4o")
    assert tall.tokens - base == 85 + 6 * 170


def test_image_of_unknown_size_reserves_worst_case_and_says_estimated() -> None:
    base = count_messages([{"role": "user", "content": []}], "gpt-4o").tokens
    c = count_messages(_image_msg("https://example.com/cat.png"), "gpt-4o")
    assert c.estimated and c.tokens - base == 85 + 8 * 170


def test_image_size_reads_png_gif_jpeg_headers() -> None:
    assert image_size(_png(640, 480)) == (640, 480)
    gif = b"GIF89a" + struct.pack("<HH", 32, 16) + b"\x00" * 8
    assert image_size("data:image/gif;base64," + base64.b64encode(gif).decode()) == (32, 16)
    jpeg = (
        b"\xff\xd8"
        + b"\xff\xe0\x00\x04\x00\x00"
        + b"\xff\xc0\x00\x11\x08"
        + struct.pack(">HH", 300, 200)
        + b"\x03"
        + b"\x00" * 9
    )
    assert image_size("data:image/jpeg;base64," + base64.b64encode(jpeg).decode()) == (200, 300)
    assert image_size("https://example.com/a.png") is None


def test_importing_does_not_load_any_encoding() -> None:
    code = (
        "import aiguard, aiguard.tokens as t; "
        "assert t.loaded_encodings() == frozenset(), t.loaded_encodings(); "
        "t.count_text('hi', 'gpt-4o'); print(sorted(t.loaded_encodings()))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['o200k_base']"


def test_load_is_once_under_concurrency() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from aiguard._tokens._encodings import _Loader

    loader = _Loader()
    with ThreadPoolExecutor(8) as ex:
        encs = list(ex.map(lambda _: loader.get("cl100k_base"), range(16)))
    assert all(e is encs[0] for e in encs)
