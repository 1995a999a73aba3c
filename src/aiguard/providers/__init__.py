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

from ._auth import (
    CachingTokenSource,
    CallableTokenSource,
    GoogleAuthTokenSource,
    OAuth2ClientCredentials,
    StaticToken,
    Token,
    TokenSource,
)
from ._base import (
    Capabilities,
    Provider,
    StreamDecoder,
    build_provider,
    provider_class,
    register_provider,
    registered_providers,
)
from .anthropic import Anthropic
from .azure import AzureOpenAI
from .bedrock import Bedrock
from .gemini import Gemini, VertexAI
from .openai import OpenAI, OpenAICompatible

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
