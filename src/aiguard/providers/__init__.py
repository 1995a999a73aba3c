"""Provider adapters. Each is a sans-IO codec plus one endpoint's settings."""

from ._base import (
    Capabilities,
    Provider,
    StreamDecoder,
    build_provider,
    provider_class,
    register_provider,
    registered_providers,
)
from .openai import OpenAI, OpenAICompatible

__all__ = [
    "Capabilities",
    "OpenAI",
    "OpenAICompatible",
    "Provider",
    "StreamDecoder",
    "build_provider",
    "provider_class",
    "register_provider",
    "registered_providers",
]
