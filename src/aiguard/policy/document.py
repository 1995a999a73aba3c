"""The policy document: ``apiVersion``/``kind``/``metadata``/``spec``, loading and dumping.

A :class:`Policy` is immutable and validated completely when it is built; every later
question (who may call, what is limited, where it goes) is answered from it without I/O.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, ValidationError, model_validator

from .._context import CallContext
from ..errors import ConfigError, PolicyError
from ..inspect.spec import ModerationSpec
from ._errors import problems_from
from ._loading import load_json_text, load_yaml_text, read_source, require_mapping
from ._merge import SecretMode, canonical_json, deep_merge, jsonable
from ._model import Section
from .audit import LoggingSpec
from .authentication import AuthenticationSpec
from .cache import CacheSpec
from .overrides import OverrideRule
from .rate_limit import RateLimitSpec
from .routing import EndpointRoutingSpec

if TYPE_CHECKING:
    from .effective import EffectivePolicy, Resolver

__all__ = ["Metadata", "Policy", "PolicySpec"]

_LAYER_MEMO_LIMIT = 256
_DERIVED = ("hash", "_engine", "_layer_memo")
_MODERATION_OFF = ModerationSpec(enabled=False)


class Metadata(Section):
    name: str = Field(default="default", min_length=1)
    """Names the policy in errors, audit records and telemetry."""
    description: str | None = None
    """Free text for people reading the policy."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Free-form key/value pairs (owner, environment...); part of the hash."""


class PolicySpec(Section):
    """What the policy governs; every section is optional and off or permissive when absent,
    except that a present ``authentication`` section with scopes fails closed."""

    authentication: AuthenticationSpec = Field(default_factory=AuthenticationSpec)
    """Scopes the caller must hold and the tools a model may use."""
    rate_limit: RateLimitSpec = Field(default_factory=RateLimitSpec)
    """Requests, tokens, cost and concurrency per key (enforced by ``aiguard.limits``)."""
    content_moderation: ModerationSpec = Field(
        default_factory=lambda: ModerationSpec(enabled=False)
    )
    """Inspection of what leaves and what comes back (``aiguard.inspect``). Off when the
    section is absent; once present, ``enabled`` defaults to true."""
    logging: LoggingSpec = Field(default_factory=LoggingSpec)
    """The audit record of every call (written by ``aiguard.telemetry``)."""
    endpoint_routing: EndpointRoutingSpec = Field(default_factory=EndpointRoutingSpec)
    """Which endpoint serves a call (planned by ``aiguard.routing``)."""
    cache: CacheSpec = Field(default_factory=CacheSpec)
    """Response caching (``aiguard.cache``)."""
    overrides: tuple[OverrideRule, ...] = ()
    """Partial ``spec`` changes applied when a call matches; see "Scoping"."""

    @model_validator(mode="after")
    def _overrides_load(self) -> PolicySpec:
        if not self.overrides:
            return self
        base = self.model_dump(by_alias=True, exclude_unset=True, exclude={"overrides"})
        problems: list[str] = []
        for i, rule in enumerate(self.overrides):
            if "overrides" in rule.spec:
                problems.append(f".overrides[{i}].spec.overrides: overrides cannot be nested")
                continue
            try:
                PolicySpec.model_validate(deep_merge(base, rule.spec))
            except ValidationError as e:
                problems.extend(
                    "." + p for p in problems_from(e, PolicySpec, ("overrides", i, "spec"))
                )
        if problems:
            raise ValueError("\n".join(problems))
        return self


class Policy(Section):
    """An ``AIAPIGatewayPolicy`` document.

    Build it in Python (snake_case) or load it (camelCase) with :meth:`from_yaml`,
    :meth:`from_json` or :meth:`from_dict`; every mistake in the document is reported at
    once as a :class:`~aiguard.errors.PolicyError`.
    """

    api_version: Literal["v1"] = "v1"
    kind: Literal["AIAPIGatewayPolicy"] = "AIAPIGatewayPolicy"
    metadata: Metadata = Field(default_factory=Metadata)
    spec: PolicySpec = Field(default_factory=PolicySpec)

    # Derived state lives in cached properties (plain ``__dict__`` entries, read at attribute
    # speed on the hot path) and is dropped by ``model_copy`` so a copy never reuses it.
    @cached_property
    def _engine(self) -> Resolver:
        from .effective import Resolver

        return Resolver(self)

    @cached_property
    def _layer_memo(self) -> dict[str, Policy]:
        return {}

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Policy:
        copy = super().model_copy(update=update, deep=deep)
        for name in _DERIVED:
            copy.__dict__.pop(name, None)
        return copy

    # ------------------------------------------------------------------ loading

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str | None = None) -> Policy:
        data = require_mapping(data, source)
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            raise PolicyError(problems_from(e, cls), source=source) from None

    @classmethod
    def from_yaml(cls, path_or_text: str | Path) -> Policy:
        """A policy from a YAML file (``Path``, or a string ending in ``.yaml``/``.yml``) or
        from YAML text. Needs ``pip install aiguard[yaml]``."""
        text, origin = read_source(path_or_text, (".yaml", ".yml"))
        return cls.from_dict(require_mapping(load_yaml_text(text, origin), origin), source=origin)

    @classmethod
    def from_json(cls, path_or_text: str | Path) -> Policy:
        text, origin = read_source(path_or_text, (".json",))
        return cls.from_dict(require_mapping(load_json_text(text, origin), origin), source=origin)

    @classmethod
    def coerce(cls, value: Policy | Mapping[str, Any] | str | Path | None) -> Policy | None:
        """Accept what a ``policy=`` argument may be: a Policy, a dict, YAML text or a path."""
        if value is None or isinstance(value, Policy):
            return value
        if isinstance(value, Mapping):
            return cls.from_dict(value)
        if isinstance(value, (str, Path)):
            if str(value).strip().endswith(".json"):
                return cls.from_json(value)
            return cls.from_yaml(value)
        raise ConfigError(
            f"policy must be a Policy, a dict, YAML text or a file path, got {type(value).__name__}"
        )

    # ------------------------------------------------------------------ dumping

    def to_dict(self, *, reveal_secrets: bool = False) -> dict[str, Any]:
        """The document in its camelCase form, defaults left out, so that
        ``Policy.from_dict(p.to_dict()) == p``. Secrets (``hashKey``) are masked unless
        ``reveal_secrets`` is true; pass it to round-trip a policy that holds one."""
        mode: SecretMode = "reveal" if reveal_secrets else "mask"
        return self._plain(mode)

    def to_json(self, *, reveal_secrets: bool = False, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(reveal_secrets=reveal_secrets), indent=indent)

    def to_yaml(self, *, reveal_secrets: bool = False) -> str:
        try:
            import yaml
        except ImportError:  # pragma: no cover
            raise ConfigError("writing YAML needs PyYAML: pip install aiguard[yaml]") from None
        text: str = yaml.safe_dump(
            self.to_dict(reveal_secrets=reveal_secrets), sort_keys=False, allow_unicode=True
        )
        return text

    def _plain(self, secrets: SecretMode) -> dict[str, Any]:
        body = self.model_dump(mode="python", by_alias=True, exclude_defaults=True)
        out: dict[str, Any] = {"apiVersion": self.api_version, "kind": self.kind}
        out["metadata"] = {"name": self.metadata.name, **body.get("metadata", {})}
        out["spec"] = body.get("spec", {})
        result: dict[str, Any] = jsonable(out, secrets=secrets)
        return result

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(self.hash)

    @cached_property
    def hash(self) -> str:
        """SHA-256 (hex) of the canonical JSON of the document: identical for the YAML, JSON,
        dict and Python forms of the same content, different when anything changes."""
        import hashlib

        return hashlib.sha256(canonical_json(self._plain("digest")).encode()).hexdigest()

    # ------------------------------------------------------------------ layering

    def layer(self, *layers: Policy | Mapping[str, Any]) -> Policy:
        """This policy with ``layers`` applied in order (later wins, field by field).

        Only what a layer sets counts: mappings merge key by key, lists and scalars replace.
        Use it for organisation -> application -> per-call policies. Results are memoised.
        """
        result = self
        for layer in layers:
            result = result._layer_one(layer)
        return result

    def _layer_one(self, layer: Policy | Mapping[str, Any]) -> Policy:
        if isinstance(layer, Policy):
            data = layer.model_dump(by_alias=True, exclude_unset=True)
            key = "p:" + layer.hash
        elif isinstance(layer, Mapping):
            data = dict(require_mapping(layer, "layer"))
            key = "d:" + canonical_json(data)
        else:
            raise ConfigError(f"a policy layer is a Policy or a dict, got {type(layer).__name__}")
        memo = self._layer_memo
        found = memo.get(key)
        if found is not None:
            return found
        if not isinstance(layer, Policy):
            # Spell the layer as the document does (camelCase) before merging; a layer that
            # is only valid on top of this policy is merged as written.
            with contextlib.suppress(ValidationError):
                data = Policy.model_validate(data).model_dump(by_alias=True, exclude_unset=True)
        base = self.model_dump(by_alias=True, exclude_unset=True)
        merged = Policy.from_dict(deep_merge(base, data), source="(layered)")
        if len(memo) >= _LAYER_MEMO_LIMIT:
            memo.clear()
        memo[key] = merged
        return merged

    # ------------------------------------------------------------------ decisions

    def resolve(
        self, context: CallContext, *, model: str | None = None, endpoint: str | None = None
    ) -> EffectivePolicy:
        """The policy as it applies to this call: overrides matched and merged. Memoised per
        distinct value of the attributes the overrides look at, so repeated calls are cheap."""
        return self._engine.resolve(context, model, endpoint)

    def authorize(
        self,
        operation: str,
        context: CallContext,
        model: str | None = None,
        route: str | None = None,
        tools: Iterable[str] = (),
    ) -> None:
        """Refuse a call the principal may not make: ``MissingScopeError`` naming the missing
        scopes, ``ToolNotAllowedError`` for a tool the model may not be offered. ``route``
        defaults to ``context.route``."""
        self.resolve(context, model=model).authorize(operation, context, model, route, tools)

    def explain(
        self, request: Any = None, context: CallContext | None = None
    ) -> list[dict[str, Any]]:
        """The decisions the policy would make for ``request`` (a ``ChatRequest``,
        ``EmbeddingRequest``, an OpenAI-shaped dict or ``None``), computed from the policy
        alone: nothing is sent and no counter changes. JSON-serialisable."""
        from ._explain import explain

        return explain(self, request, context or CallContext())

    def referenced_endpoints(self) -> frozenset[str]:
        """Endpoint names the routing section and its overrides use; a client checks them."""
        names = set(self.spec.endpoint_routing.referenced_endpoints())
        for i, _ in enumerate(self.spec.overrides):
            names |= self._engine.spec_for((i,)).endpoint_routing.referenced_endpoints()
        return frozenset(names)
