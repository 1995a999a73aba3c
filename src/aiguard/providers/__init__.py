"""Provider adapters. Each is a sans-IO codec plus one endpoint's settings.

Switching or mixing providers changes the endpoint line only::

    endpoints = {
        "cloud-llm": OpenAI(model="gpt-4o-mini"),
        "claude": Anthropic(model="claude-sonnet-4-5"),
        "gemini": Gemini(model="gemini-2.5-flash"),
        "bedrock": Bedrock(model="anthropic.claude-3-5-haiku-20241022-v1:0", region="eu-west-1"),
        "azure": AzureOpenAI(deployment="gpt-4o", endpoint="https://acme.openai.azure.com"),
        "on-prem-llm": OpenAICompatible("http://vllm.internal:8000/v1", "llama-3.1-8b"),
    }
"""

from typing import TYPE_CHECKING, Any

from ._base import (
    Capabilities,
    Provider,
    StreamDecoder,
    build_provider,
    provider_class,
    register_provider,
    registered_providers,
)

if TYPE_CHECKING:
    from ._auth import (
        CachingTokenSource,
        CallableTokenSource,
        GoogleAuthTokenSource,
        OAuth2ClientCredentials,
        StaticToken,
        Token,
        TokenSource,
    )
    from .anthropic import Anthropic
    from .azure import AzureOpenAI
    from .bedrock import Bedrock
    from .gemini import Gemini, VertexAI
    from .openai import OpenAI, OpenAICompatible

# Adapters load on first use: an app that talks to one provider does not pay for six.
_LAZY = {
    "Anthropic": ".anthropic",
    "AzureOpenAI": ".azure",
    "Bedrock": ".bedrock",
    "CachingTokenSource": "._auth",
    "CallableTokenSource": "._auth",
    "Gemini": ".gemini",
    "GoogleAuthTokenSource": "._auth",
    "OAuth2ClientCredentials": "._auth",
    "OpenAI": ".openai",
    "OpenAICompatible": ".openai",
    "StaticToken": "._auth",
    "Token": "._auth",
    "TokenSource": "._auth",
    "VertexAI": ".gemini",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'aiguard.providers' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "Anthropic",
    "AzureOpenAI",
    "Bedrock",
    "CachingTokenSource",
    "CallableTokenSource",
    "Capabilities",
    "Gemini",
    "GoogleAuthTokenSource",
    "OAuth2ClientCredentials",
    "OpenAI",
    "OpenAICompatible",
    "Provider",
    "StaticToken",
    "StreamDecoder",
    "Token",
    "TokenSource",
    "VertexAI",
    "build_provider",
    "provider_class",
    "register_provider",
    "registered_providers",
]
