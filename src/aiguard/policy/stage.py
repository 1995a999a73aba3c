"""The pipeline's *authorize* stage, backed by a :class:`Policy`.

It resolves the policy for the call once and leaves the result in ``call.notes["policy"]``
so later stages (inspection, routing, limits, cache, audit) read the same
:class:`EffectivePolicy` instead of resolving it again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._types import ChatRequest, ChatResponse
from .document import Policy
from .effective import EffectivePolicy

if TYPE_CHECKING:
    from .._call import Call

__all__ = ["NOTES_KEY", "PolicyAuthorizer", "effective_policy", "routed_policy"]

NOTES_KEY = "policy"
"""Where the stage leaves the call's :class:`EffectivePolicy` in ``call.notes``."""
_DOCUMENT_KEY = "policy.document"


def effective_policy(call: Call) -> EffectivePolicy | None:
    """The policy resolved for ``call`` by the authorize stage, if one ran."""
    found = call.notes.get(NOTES_KEY)
    return found if isinstance(found, EffectivePolicy) else None


def routed_policy(call: Call) -> EffectivePolicy | None:
    """The policy for ``call`` once routing chose ``call.endpoint``: overrides that match on
    ``endpoint`` are included. Stages after routing (limits, cache, audit) use this."""
    document = call.notes.get(_DOCUMENT_KEY)
    if not isinstance(document, Policy):
        return None
    if call.endpoint is None:
        return effective_policy(call)
    return document.resolve(call.context, model=call.model, endpoint=call.endpoint.name)


class PolicyAuthorizer:
    """Implements the pipeline's ``Authorizer`` protocol.

    Refuses, before anything is sent: missing scopes (``MissingScopeError``) and tools the
    model may not be offered (``ToolNotAllowedError``). ``check_tool_calls`` is for the
    output side: call it on an answer before it reaches the caller.
    """

    __slots__ = ("policy",)

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def authorize(self, call: Call) -> None:
        eff = self.policy.resolve(call.context, model=call.model)
        call.notes[NOTES_KEY] = eff
        call.notes[_DOCUMENT_KEY] = self.policy
        request = call.request
        tools: tuple[str, ...] = ()
        if isinstance(request, ChatRequest) and request.tools:
            tools = tuple(t.function.name for t in request.tools)
        eff.authorize(call.operation, call.context, call.model, None, tools)

    def check_tool_calls(self, call: Call, response: ChatResponse) -> None:
        """Raise ``ToolNotAllowedError`` (direction ``output``) if the model called a tool
        the policy does not allow."""
        if not response.tool_calls:
            return
        eff = effective_policy(call) or self.policy.resolve(call.context, model=call.model)
        eff.check_tool_calls(tc.function.name for tc in response.tool_calls)

    def check_tool_name(self, call: Call, name: str) -> None:
        """The streamed form of ``check_tool_calls``: checked as soon as a tool call's name
        arrives, so nothing of a forbidden call reaches the caller."""
        eff = effective_policy(call) or self.policy.resolve(call.context, model=call.model)
        eff.check_tool_calls((name,))
