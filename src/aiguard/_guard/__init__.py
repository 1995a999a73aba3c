"""The machinery behind ``aiguard.guard`` and ``aiguard.http_client``: the pipeline's stages
driven around a send step that aiguard does not own (a decorated function, an official SDK)."""

from __future__ import annotations
