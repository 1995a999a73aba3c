"""Turn a :class:`ModerationSpec` into per-direction plans the engine runs without further
decisions: which entities and kinds to look for, and the rule (action, reported category)
for every kind of hit.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from ._lexicons import BUILTIN_TOPICS
from ._regex import SafePattern, compile_user_pattern
from ._terms import PhraseMatcher
from .findings import FlowDirection
from .spec import (
    PII_ENTITIES,
    SECRET_KINDS,
    Action,
    BlockEntry,
    Direction,
    ModerationSpec,
    resolve_category,
    topic_key,
)

__all__ = ["Compiled", "CustomDetector", "Plan", "Rule", "compile_spec"]

_SERIALS = itertools.count(1)


@dataclass(frozen=True, slots=True)
class CustomDetector:
    """A PII entity of your own, in Python: a regex and an optional ``validator`` that
    confirms a candidate (a checksum, a lookup). Findings are ``pii.<name>`` and redact to
    ``[<NAME>_1]``."""

    name: str
    pattern: str
    validator: Callable[[str], bool] | None = None
    action: Action | None = None
    direction: Direction = "both"


@dataclass(frozen=True, slots=True)
class Rule:
    category: str
    """What findings and errors report (the entry's ``name`` when it has one)."""
    action: Action
    restore: bool = False


@dataclass(slots=True)
class Plan:
    """Everything to look for in one direction."""

    pii: dict[str, Rule] = field(default_factory=dict)
    secrets: dict[str, Rule] = field(default_factory=dict)
    phrases: PhraseMatcher[Rule] = field(default_factory=lambda: PhraseMatcher([]))
    regexes: list[tuple[SafePattern, Rule]] = field(default_factory=list)
    custom: list[tuple[SafePattern, Callable[[str], bool] | None, str, Rule]] = field(
        default_factory=list
    )
    topics: PhraseMatcher[tuple[str, float]] = field(default_factory=lambda: PhraseMatcher([]))
    topic_rules: dict[str, tuple[float, Rule]] = field(default_factory=dict)

    pii_entities: frozenset[str] = frozenset()
    secret_kinds: frozenset[str] = frozenset()

    # derived by finish(), read on every text
    detects: bool = False
    """PII or secret detectors to run."""
    needs_normalized: bool = False
    """Phrases or topics to match (on the normalised view)."""
    phrase_keys: frozenset[bytes] = frozenset()
    """The key words of every phrase and topic matcher: a text none of whose words is one
    cannot match any (unless ``phrases_always``)."""
    phrases_always: bool = False
    """Some phrase has no ASCII word to key on: the matchers always run."""
    empty: bool = True
    serial: int = 0
    """Identifies this plan in the clean-text memo (never reused, unlike ``id()``)."""
    memo: bool = False
    """Whether a text found clean may be remembered as clean: every detector is a pure
    function of the text (a custom ``validator`` may consult changing state)."""

    def finish(self) -> Plan:
        self.pii_entities = frozenset(self.pii)
        self.secret_kinds = frozenset(self.secrets)
        self.detects = bool(self.pii or self.secrets)
        self.needs_normalized = bool(self.phrases) or bool(self.topics)
        self.phrase_keys = self.phrases.keys | self.topics.keys
        self.phrases_always = self.phrases.always or self.topics.always
        self.empty = not (
            self.pii or self.secrets or self.phrases or self.regexes or self.custom or self.topics
        )
        self.serial = next(_SERIALS)
        self.memo = all(validator is None for _rx, validator, _label, _rule in self.custom)
        return self

    @property
    def max_span(self) -> int:
        """The longest text a phrase rule can match (streams hold back at least this)."""
        return max(self.phrases.max_length, self.topics.max_length)


@dataclass(slots=True)
class Compiled:
    enabled: bool
    input: Plan
    output: Plan
    allow_phrases: PhraseMatcher[str | None]
    allow_regexes: list[tuple[SafePattern, str | None]]
    hash_key: bytes | None
    spec: ModerationSpec

    def plan(self, direction: FlowDirection) -> Plan:
        return self.input if direction == "input" else self.output


def _applies(direction: Direction, flow: FlowDirection) -> bool:
    return direction == "both" or direction == flow


def _entry_direction(entry: BlockEntry, section: Any) -> Direction:
    """A plain string entry follows its section's direction; an explicit one wins."""
    if "direction" in entry.model_fields_set or section is None:
        return entry.direction
    d: Direction = section.direction
    return d


def compile_spec(spec: ModerationSpec, detectors: Sequence[CustomDetector] = ()) -> Compiled:
    allow_phrases: list[tuple[str, str | None]] = []
    allow_regexes: list[tuple[SafePattern, str | None]] = []
    for a in spec.allow_list:
        if a.phrase is not None:
            allow_phrases.append((a.phrase, a.category))
        elif a.regex is not None:
            allow_regexes.append((compile_user_pattern(a.regex), a.category))
    key = spec.hash_key.get_secret_value().encode() if spec.hash_key else None
    if spec.hash_key_env is not None:
        value = os.environ.get(spec.hash_key_env)
        if not value:
            raise ConfigError(
                f"contentModeration.hashKeyEnv names {spec.hash_key_env!r}, which is not set "
                "in the environment: set it to the key for the hash action"
            )
        key = value.encode()
    return Compiled(
        enabled=spec.enabled,
        input=_plan(spec, detectors, "input"),
        output=_plan(spec, detectors, "output"),
        allow_phrases=PhraseMatcher(allow_phrases),
        allow_regexes=allow_regexes,
        hash_key=key,
        spec=spec,
    )


def _plan(spec: ModerationSpec, detectors: Sequence[CustomDetector], flow: FlowDirection) -> Plan:
    plan = Plan()
    default = spec.default_action
    pii, secrets = spec.pii, spec.secrets
    restore = bool(pii and pii.restore)
    pii_action = (pii.action if pii else None) or default
    sec_action = (secrets.action if secrets else None) or default
    pii_all = pii.entities if pii and pii.entities else PII_ENTITIES
    sec_all = secrets.kinds if secrets and secrets.kinds else SECRET_KINDS

    if pii and _applies(pii.direction, flow):
        for e in pii_all:
            plan.pii[e] = Rule(f"pii.{e}", pii_action, restore)
    if secrets and _applies(secrets.direction, flow):
        for k in sec_all:
            plan.secrets[k] = Rule(f"secrets.{k}", sec_action)

    topics: dict[str, tuple[Action | None, Direction]] = {}
    for name, t in spec.topics.items():
        topics[topic_key(name)] = (t.action, t.direction)
    phrases: list[tuple[str, Rule]] = []
    for entry in spec.block_list:
        if entry.regex is not None:
            if _applies(entry.direction, flow):
                rule = Rule(entry.name or "regex", entry.action or default)
                plan.regexes.append((compile_user_pattern(entry.regex), rule))
            continue
        if entry.phrase is not None:
            if _applies(entry.direction, flow):
                phrases.append(
                    (entry.phrase, Rule(entry.name or "phrase", entry.action or default))
                )
            continue
        term = entry.term if entry.term is not None else entry.category
        assert term is not None  # the model validator guarantees one kind
        resolved = resolve_category(term, spec.topics)
        if resolved is None:
            if _applies(entry.direction, flow):
                phrases.append((term, Rule(entry.name or "phrase", entry.action or default)))
            continue
        family, which = resolved
        if family == "pii":
            if not _applies(_entry_direction(entry, pii), flow):
                continue
            act = entry.action or pii_action
            for e in [which] if which else pii_all:
                plan.pii[e] = Rule(entry.name or f"pii.{e}", act, restore)
        elif family == "secrets":
            if not _applies(_entry_direction(entry, secrets), flow):
                continue
            act = entry.action or sec_action
            for k in [which] if which else sec_all:
                plan.secrets[k] = Rule(entry.name or f"secrets.{k}", act)
        else:
            assert which is not None
            t_spec = spec.topics.get(which) or next(
                (t for n, t in spec.topics.items() if topic_key(n) == which), None
            )
            direction = _entry_direction(entry, t_spec)
            if not _applies(direction, flow):
                topics.pop(which, None)
                continue
            topics[which] = (entry.action or (t_spec.action if t_spec else None), direction)
    plan.phrases = PhraseMatcher(phrases)

    topic_phrases: list[tuple[str, tuple[str, float]]] = []
    for name, (action, direction) in topics.items():
        if not _applies(direction, flow):
            continue
        t_spec = next((t for n, t in spec.topics.items() if topic_key(n) == name), None)
        weights: dict[str, float] = {}
        if name in BUILTIN_TOPICS and (t_spec is None or t_spec.extend):
            weights.update(BUILTIN_TOPICS[name])
        if t_spec is not None:
            weights.update(t_spec.phrases)
        threshold = t_spec.threshold if t_spec is not None else 1.0
        plan.topic_rules[name] = (threshold, Rule(f"topic.{name}", action or default))
        topic_phrases.extend((p, (name, w)) for p, w in weights.items())
    plan.topics = PhraseMatcher(topic_phrases)

    custom: list[tuple[str, str, Callable[[str], bool] | None, Action | None, Direction]] = []
    if pii is not None:
        custom += [(c.name, c.regex, None, c.action, pii.direction) for c in pii.custom]
    custom += [(d.name, d.pattern, d.validator, d.action, d.direction) for d in detectors]
    for cname, pattern, validator, action, direction in custom:
        if _applies(direction, flow):
            label = cname.upper()
            rule = Rule(f"pii.{cname.lower()}", action or pii_action, restore)
            plan.custom.append((compile_user_pattern(pattern), validator, label, rule))
    return plan.finish()
