"""Build the pipeline's stages from a policy.

This is the one place that knows which engine serves which part of the policy document; the
pipeline and the clients only see the stage protocols.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._call import Endpoint

__all__ = ["build_stages"]


def build_stages(endpoints: Mapping[str, Endpoint], policy: Any) -> dict[str, Any]:
    """Stage implementations for ``policy``; stages it does not govern keep their defaults."""
    if policy is None:
        return {}
    return {}
