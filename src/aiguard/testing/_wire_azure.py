"""Azure OpenAI for ``FakeProvider``: OpenAI's handlers behind deployment URLs.

Azure serves the OpenAI wire format at ``/openai/deployments/{deployment}/chat/completions``
and ``.../embeddings`` and requires an ``api-version`` query parameter and either an
``api-key`` header or an Entra ID bearer token
(https://learn.microsoft.com/en-us/azure/ai-services/openai/reference). Point
``AzureOpenAI(deployment, endpoint=fake.url, ...)`` at it.
"""

from __future__ import annotations

from ._wire import Body, Call, Stream, WireError, register_route
from ._wire_openai import WIRE, chat_completions, embeddings

__all__ = ["azure_chat", "azure_embeddings"]


def _check(call: Call) -> None:
    req = call.request
    if "api-version" not in req.query:
        raise WireError(404, "Resource not found (the api-version query parameter is missing)")
    if not (
        req.headers.get("api-key") or req.headers.get("authorization", "").startswith("Bearer ")
    ):
        raise WireError(401, "Access denied due to invalid subscription key or wrong API endpoint.")


def azure_chat(call: Call) -> Body | Stream:
    _check(call)
    result = chat_completions(call)
    result.headers = {**(result.headers or {}), "apim-request-id": call.request.request_id}
    return result


def azure_embeddings(call: Call) -> Body:
    _check(call)
    return embeddings(call)


register_route("POST", "/openai/deployments/{deployment}/chat/completions", azure_chat, WIRE)
register_route(
    "POST", "/openai/deployments/{deployment}/embeddings", azure_embeddings, WIRE, replies=False
)
