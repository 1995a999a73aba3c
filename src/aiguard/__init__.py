"""aiguard: an AI API gateway that lives inside your application.

One client over many LLM providers; before any call leaves the process it applies policy
(scopes, content inspection, budgets and rate limits, routing), and it records what happened.
"""

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
