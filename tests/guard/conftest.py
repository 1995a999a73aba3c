from __future__ import annotations

from ._fixtures import _fresh, fake, recorded

__all__ = ["_fresh", "fake", "recorded"]
