"""The policy document (``kind: AIAPIGatewayPolicy``) and the decisions made from it:
loading with complete error reports, scoped overrides and layering, the content hash,
authorization (scopes and tools) and ``explain``."""

from __future__ import annotations

from .audit import LoggingSpec
from .authentication import AuthenticationSpec, ToolPolicy
from .cache import CacheSpec
from .document import Metadata, Policy, PolicySpec
from .effective import EffectivePolicy
from .matching import Match
from .overrides import OverrideRule
from .rate_limit import LimitRule, LimitStore, RateLimitSpec
from .routing import EndpointGroup, EndpointRoutingSpec, GroupMember, RouteRule

__all__ = [
    "AuthenticationSpec",
    "CacheSpec",
    "EffectivePolicy",
    "EndpointGroup",
    "EndpointRoutingSpec",
    "GroupMember",
    "LimitRule",
    "LimitStore",
    "LoggingSpec",
    "Match",
    "Metadata",
    "OverrideRule",
    "Policy",
    "PolicySpec",
    "RateLimitSpec",
    "RouteRule",
    "ToolPolicy",
]
