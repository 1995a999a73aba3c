"""aiguard: an AI API gateway that lives inside your application."""

from ._context import CallContext, context, current_context

__version__ = "0.1.0"

__all__ = ["CallContext", "__version__", "context", "current_context"]
