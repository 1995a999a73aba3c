"""aiguard: an AI API gateway that lives inside your application.

One client over many LLM providers; before any call leaves the process it applies policy
(scopes, content inspection, budgets and rate limits, routing), and it records what happened.
"""

from typing import TYPE_CHECKING, Any

from . import errors
from ._async_client import AsyncChatStream, AsyncClient
from ._call import Endpoint
from ._context import CallContext, context, current_context
from ._sync_client import ChatStream, Client
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
    from .decorators import Governor, guard
    from .policy import Policy
    from .sdk import async_http_client, http_client

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
    "Governor",
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
    "async_http_client",
    "context",
    "current_context",
    "errors",
    "guard",
    "http_client",
]


def __getattr__(name: str) -> Any:
    # Loaded on first use, so that `import aiguard` stays cheap: the policy engine, the
    # decorators and the SDK transports are most of the package.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'aiguard' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


_LAZY = {
    "Policy": ".policy",
    "Governor": ".decorators",
    "guard": ".decorators",
    "http_client": ".sdk",
    "async_http_client": ".sdk",
}
