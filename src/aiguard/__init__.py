"""aiguard: an AI API gateway that lives inside your application.

One client over many LLM providers; before any call leaves the process it applies policy
(scopes, content inspection, budgets and rate limits, routing), and it records what happened.
"""

from typing import TYPE_CHECKING, Any

from . import errors
from ._call import Endpoint
from ._client import AsyncChatStream, AsyncClient, ChatStream, Client
from ._context import CallContext, context, current_context
from ._types import (
    ChatRequest,
    ChatResponse,
    EmbeddingResponse,
    FunctionCall,
    FunctionDef,
    ImagePart,
    ImageURL,
    Message,
    ResponseFormat,
    StreamEvent,
    TextPart,
    Tool,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from .errors import AIGuardError

if TYPE_CHECKING:
    from .policy import Policy

__version__ = "0.1.0"

__all__ = [
    "AIGuardError",
    "AsyncChatStream",
    "AsyncClient",
    "CallContext",
    "ChatRequest",
    "ChatResponse",
    "ChatStream",
    "Client",
    "EmbeddingResponse",
    "Endpoint",
    "FunctionCall",
    "FunctionDef",
    "ImagePart",
    "ImageURL",
    "Message",
    "Policy",
    "ResponseFormat",
    "StreamEvent",
    "TextPart",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "Usage",
    "__version__",
    "context",
    "current_context",
    "errors",
]


def __getattr__(name: str) -> Any:
    # The policy engine is loaded on first use: most of import time otherwise.
    if name == "Policy":
        from .policy import Policy

        return Policy
    raise AttributeError(f"module 'aiguard' has no attribute {name!r}")
