"""Request bodies the fake tests share (imported by module name: tests are not a package)."""

from __future__ import annotations


def chat_body(
    text: str = "hello there", *, stream: bool = False, usage: bool = True
) -> dict[str, object]:
    body: dict[str, object] = {"model": "gpt-test", "messages": [{"role": "user", "content": text}]}
    if stream:
        body["stream"] = True
        if usage:
            body["stream_options"] = {"include_usage": True}
    return body
