"""Quickstart: chat, stream and embed through aiguard.

Runs offline against the built-in FakeProvider; with OPENAI_API_KEY set, the same code talks
to OpenAI instead. Nothing else changes: that is the point of one client over many providers.
"""

from __future__ import annotations

import os
from contextlib import ExitStack

import aiguard
from aiguard.providers import OpenAI
from aiguard.testing import FakeProvider


def main() -> None:
    with ExitStack() as stack:
        if os.environ.get("OPENAI_API_KEY"):
            base_url, api_key = "https://api.openai.com/v1", None  # the key comes from the env
        else:
            base_url, api_key = stack.enter_context(FakeProvider()).openai_url, "offline"
        client = stack.enter_context(
            aiguard.Client(
                endpoints={
                    "cloud-llm": OpenAI("gpt-4o-mini", base_url=base_url, api_key=api_key),
                    "embedder": OpenAI(
                        "text-embedding-3-small", base_url=base_url, api_key=api_key
                    ),
                }
            )
        )

        with aiguard.context(user="u-42", tenant="acme", scopes={"ai.read"}):
            reply = client.chat(
                [{"role": "user", "content": "Say hello in five words."}],
                model="cloud-llm",
                max_tokens=50,
            )
        print(f"chat     : {reply.text!r}")
        print(
            f"           {reply.usage.input_tokens} in / {reply.usage.output_tokens} out, "
            f"finish={reply.finish_reason}, endpoint={reply.endpoint}"
        )

        print("stream   : ", end="")
        with client.stream("Count to five.", model="cloud-llm", max_tokens=50) as stream:
            for event in stream:
                print(event.text, end="", flush=True)
        print(f"\n           aggregated: {stream.response.text!r}")

        vectors = client.embed(["a", "b"], model="embedder").vectors
        print(f"embed    : {len(vectors)} vectors of {len(vectors[0])} dimensions")


if __name__ == "__main__":
    main()
