"""The ``contentModeration`` section of a policy, as a typed, frozen model.

The policy loader embeds :class:`ModerationSpec`; the inspection engine compiles it once into
detectors. Everything that can be wrong with it (an unknown entity, a regex that could hang,
an entry that is both a phrase and a regex) is refused here, at load time, never at call time.

Block-list strings are read the way a policy author means them: ``"PII"`` and ``"secrets"``
turn those detector families on, ``"pii.email"`` one entity, a topic name (built-in or declared
under ``topics``, case-insensitive) that topic; any other string is a literal phrase.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any, Literal, TypeAlias

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic.alias_generators import to_camel

from ._lexicons import BUILTIN_TOPICS, TOPIC_ALIASES
from ._regex import check_pattern

__all__ = [
    "PII_ENTITIES",
    "SECRET_KINDS",
    "Action",
    "AllowEntry",
    "BlockEntry",
    "CustomDetectorSpec",
    "Direction",
    "ModerationSpec",
    "ModeratorSettings",
    "PiiSpec",
    "SecretsSpec",
    "TopicSpec",
    "normalize_entity",
    "resolve_category",
    "topic_key",
]

Action: TypeAlias = Literal["block", "redact", "mask", "hash", "flag"]
Direction: TypeAlias = Literal["input", "output", "both"]

PII_ENTITIES: tuple[str, ...] = (
    "email",
    "phone",
    "payment_card",
    "iban",
    "us_ssn",
    "ip_address",
    "crypto_wallet",
)
"""Built-in PII entities, in the order they are documented."""

SECRET_KINDS: tuple[str, ...] = (
    "openai_key",
    "anthropic_key",
    "google_api_key",
    "aws_access_key_id",
    "github_token",
    "slack_token",
    "stripe_key",
    "jwt",
    "private_key",
    "credential_assignment",
    "high_entropy",
)
"""Built-in secret kinds."""

_ENTITY_ALIASES: dict[str, str] = {
    "email_address": "email",
    "phone_number": "phone",
    "credit_card": "payment_card",
    "card": "payment_card",
    "iban_code": "iban",
    "ssn": "us_ssn",
    "ip": "ip_address",
    "ipv4": "ip_address",
    "ipv6": "ip_address",
    "crypto": "crypto_wallet",
    "wallet": "crypto_wallet",
}


def _closest(name: str, known: tuple[str, ...]) -> str:
    near = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {near[0]!r}? " if near else ""
    return f"{hint}known: {', '.join(known)}"


def normalize_entity(name: str) -> str:
    """The canonical built-in entity for a name or a Presidio-style alias (``EMAIL_ADDRESS``)."""
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    key = _ENTITY_ALIASES.get(key, key)
    if key not in PII_ENTITIES:
        raise ValueError(f"unknown PII entity {name!r}; {_closest(key, PII_ENTITIES)}")
    return key


def _short(entry: Any, key: str) -> Any:
    if isinstance(entry, dict):
        rest = {k: v for k, v in entry.items() if v is not None and k != key}
        if rest.get("direction") == "both":
            del rest["direction"]
        if not rest and entry.get(key) is not None:
            return entry[key]
    return entry


def topic_key(name: str) -> str:
    """Topic names compare case- and spacing-insensitively; aliases name built-ins."""
    key = " ".join(name.strip().lower().split())
    return TOPIC_ALIASES.get(key, key)


def resolve_category(
    name: str, declared_topics: Iterable[str] = ()
) -> tuple[str, str | None] | None:
    """What a block-list name refers to: ``("pii", None)``, ``("pii", "email")``,
    ``("secrets", kind)``, ``("topic", name)``, or ``None`` for a literal phrase."""
    key = name.strip().lower()
    if key == "pii":
        return ("pii", None)
    if key in ("secrets", "secret", "credentials"):
        return ("secrets", None)
    if key.startswith("pii."):
        return ("pii", normalize_entity(key[4:]))
    if key.startswith("secrets."):
        kind = key[8:].replace("-", "_")
        if kind not in SECRET_KINDS:
            raise ValueError(f"unknown secret kind {kind!r}; {_closest(kind, SECRET_KINDS)}")
        return ("secrets", kind)
    tkey = topic_key(name)
    if tkey in BUILTIN_TOPICS or tkey in {topic_key(t) for t in declared_topics}:
        return ("topic", tkey)
    return None


class _Spec(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        populate_by_name=True,
        alias_generator=to_camel,
        use_attribute_docstrings=True,
    )


class BlockEntry(_Spec):
    """One block-list rule: exactly one of ``term``, ``phrase``, ``regex`` or ``category``.

    A plain string in the YAML list becomes a ``term``: a category name when it names one,
    else a literal phrase. ``action`` defaults to the section's (for a category) or the
    spec's ``defaultAction``. ``name`` is what findings and errors report instead of the
    matched text.
    """

    term: str | None = None
    """A category name (`PII`, `secrets`, `pii.<entity>`, `secrets.<kind>`, a topic) or, failing
    that, a literal phrase. What a plain string entry becomes."""
    phrase: str | None = None
    """Literal words, matched whole-word on normalised text (case, width, accents, zero-width and
    look-alike characters folded)."""
    regex: str | None = None
    """A regular expression (case-insensitive, RE2 syntax; refused at load time if it could
    backtrack catastrophically)."""
    category: str | None = None
    """A category that must exist: `PII`, `secrets`, `pii.<entity>`, `secrets.<kind>` or a topic
    name."""
    action: Action | None = None
    """What happens on a match; default: the section's action for a category, else `defaultAction`.
"""
    direction: Direction = "both"
    """Where the entry applies: prompts (`input`), answers (`output`) or `both`."""
    name: str | None = None
    """Reported as the finding's category instead of `phrase`/`regex` (never the matched text)."""

    @model_validator(mode="after")
    def _one_kind(self) -> BlockEntry:
        kinds = ("term", "phrase", "regex", "category")
        given = [k for k in kinds if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "a block-list entry needs exactly one of 'phrase', 'regex' or 'category'"
                + (f" (got {', '.join(given)})" if given else "")
            )
        for text in (self.term, self.phrase, self.category):
            if text is not None and not text.strip():
                raise ValueError("an entry is empty: give a phrase or a category name")
        if self.regex is not None:
            check_pattern(self.regex)
        return self


class AllowEntry(_Spec):
    """An exception: text matching it is never reported (optionally only for one category)."""

    phrase: str | None = None
    """Text that is never reported, matched like a block-list phrase."""
    regex: str | None = None
    """A pattern whose matches are never reported."""
    category: str | None = None
    """Limit the exception to findings of this category (``pii.email``, ``secrets``...)."""

    @model_validator(mode="after")
    def _one_kind(self) -> AllowEntry:
        if (self.phrase is None) == (self.regex is None):
            raise ValueError("an allow-list entry needs exactly one of 'phrase' or 'regex'")
        if self.phrase is not None and not self.phrase.strip():
            raise ValueError("phrase is empty: give the words to allow")
        if self.regex is not None:
            check_pattern(self.regex)
        return self


class CustomDetectorSpec(_Spec):
    """A PII entity of your own: a name (``EMPLOYEE_ID``) and a regex that finds it."""

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,39}$")
    """Entity name: findings are `pii.<name>` and redact to `[<NAME>_1]`."""
    regex: str
    """The pattern that finds it (checked like block-list regexes)."""
    action: Action | None = None
    """Default: the `pii` section's action."""

    @field_validator("regex")
    @classmethod
    def _safe(cls, v: str) -> str:
        check_pattern(v)
        return v


class PiiSpec(_Spec):
    """PII detection. No ``entities`` means every built-in entity."""

    entities: tuple[str, ...] = ()
    """Any of `email`, `phone`, `payment_card`, `iban`, `us_ssn`, `ip_address`, `crypto_wallet`
    (Presidio names such as `EMAIL_ADDRESS` accepted). Empty: all."""
    action: Action | None = None
    """Default action for PII; `defaultAction` when unset."""
    restore: bool = False
    """Put the originals back where the model echoes ``redact`` placeholders in its answer."""
    direction: Direction = "both"
    """Where PII is looked for."""
    custom: tuple[CustomDetectorSpec, ...] = ()
    """Your own entities, each a name and a regex."""

    @field_validator("entities")
    @classmethod
    def _known(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(normalize_entity(e) for e in v))


class SecretsSpec(_Spec):
    """Credential detection. No ``kinds`` means every built-in kind."""

    kinds: tuple[str, ...] = ()
    """Any of the built-in kinds (provider keys, `jwt`, `private_key`, `credential_assignment`,
    `high_entropy`). Empty: all."""
    action: Action | None = None
    """Default action for secrets; `defaultAction` when unset."""
    direction: Direction = "both"
    """Where secrets are looked for."""

    @field_validator("kinds")
    @classmethod
    def _known(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        out = []
        for k in v:
            key = k.strip().lower().replace("-", "_")
            if key not in SECRET_KINDS:
                raise ValueError(f"unknown secret kind {k!r}; {_closest(key, SECRET_KINDS)}")
            out.append(key)
        return tuple(dict.fromkeys(out))


class TopicSpec(_Spec):
    """A topic scored by weighted phrases; it fires when the summed weight reaches
    ``threshold``. For a built-in topic these phrases extend its lexicon unless
    ``extend`` is false."""

    phrases: dict[str, float] = Field(default_factory=dict)
    """Phrase -> weight. Each occurrence adds its weight to the text's score."""
    threshold: float = Field(default=1.0, gt=0)
    """The score at which the topic fires."""
    action: Action | None = None
    """Default: `defaultAction`."""
    direction: Direction = "both"
    """Where the topic is looked for."""
    extend: bool = True
    """For a built-in topic: add these phrases to its lexicon (true) or replace it (false)."""

    @field_validator("phrases")
    @classmethod
    def _nonempty(cls, v: dict[str, float]) -> dict[str, float]:
        for phrase in v:
            if not phrase.strip():
                raise ValueError("a topic phrase is empty")
        return v


class ModeratorSettings(_Spec):
    """How a model-based moderator (a :class:`~aiguard.inspect.Moderator`) is used."""

    timeout: float = Field(default=5.0, gt=0)
    """Seconds to wait for a verdict."""
    fail_mode: Literal["open", "closed"] = "closed"
    """``closed``: a moderator that fails or times out blocks the call; ``open``: it passes."""
    direction: Direction = "both"
    """What it judges: prompts (`input`), answers and streams (`output`) or `both`."""
    action: Literal["block", "flag"] | None = None
    """What a flagged verdict does; ``None`` follows ``defaultAction`` (``flag`` if that is a
    rewriting action, since a verdict names a category, not a span to rewrite)."""
    stream: Literal["hold", "end"] = "hold"
    """Streamed answers: `hold` releases nothing until the moderator has judged the whole
    answer; `end` lets text flow and judges it when the stream ends, before its last event
    (text already delivered cannot be recalled). Either way a stream the moderator could not
    stop (action `flag` and failMode `open`) is never held."""


class ModerationSpec(_Spec):
    """The ``contentModeration`` section: what is looked for and what happens when found."""

    enabled: bool = True
    """Switches all inspection on or off."""
    block_list: tuple[BlockEntry, ...] = ()
    """What to look for: category names, phrases, regexes."""
    allow_list: tuple[AllowEntry, ...] = ()
    """Exceptions: matching text is never reported."""
    pii: PiiSpec | None = None
    """PII settings; present means PII detection is on."""
    secrets: SecretsSpec | None = None
    """Secret detection settings; present means it is on."""
    topics: dict[str, TopicSpec] = Field(default_factory=dict)
    """Topic lexicons to add or tune; a declared topic is on."""
    default_action: Action = "block"
    """The action for entries that name none."""
    hash_key: SecretStr | None = None
    """Key for the ``hash`` action's HMAC. Prefer ``hashKeyEnv``: a key written in a policy
    file is a secret in a file. Without either, a random per-process key is used."""
    hash_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    """Name of the environment variable that holds the ``hash`` key (read when the policy
    is compiled; a missing variable is an error, never a silent fallback)."""
    moderator: ModeratorSettings | None = None
    """Timeout, fail mode, action, direction and stream handling for a model-based moderator
    given in code."""

    @field_validator("block_list", mode="before")
    @classmethod
    def _block_strings(cls, v: object) -> object:
        if isinstance(v, (list, tuple)):
            return [{"term": x} if isinstance(x, str) else x for x in v]
        return v

    @field_validator("allow_list", mode="before")
    @classmethod
    def _allow_strings(cls, v: object) -> object:
        if isinstance(v, (list, tuple)):
            return [{"phrase": x} if isinstance(x, str) else x for x in v]
        return v

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Entries written as plain strings dump back to plain strings."""
        data: dict[str, Any] = handler(self)
        for key, short in (("blockList", "term"), ("block_list", "term")):
            if key in data:
                data[key] = [_short(e, short) for e in data[key]]
        for key in ("allowList", "allow_list"):
            if key in data:
                data[key] = [_short(e, "phrase") for e in data[key]]
        return data

    @model_validator(mode="after")
    def _one_hash_key(self) -> ModerationSpec:
        if self.hash_key is not None and self.hash_key_env is not None:
            raise ValueError("give hashKey or hashKeyEnv, not both")
        return self

    @field_validator("topics")
    @classmethod
    def _topic_names(cls, v: dict[str, TopicSpec]) -> dict[str, TopicSpec]:
        seen: dict[str, str] = {}
        for name, topic in v.items():
            key = topic_key(name)
            if not key:
                raise ValueError("a topic name is empty")
            if key in seen:
                raise ValueError(f"topics {seen[key]!r} and {name!r} name the same topic")
            seen[key] = name
            if key not in BUILTIN_TOPICS and not topic.phrases:
                raise ValueError(
                    f"topic {name!r} is not built in ({', '.join(BUILTIN_TOPICS)}), "
                    "so it needs its own phrases"
                )
        return v

    @model_validator(mode="after")
    def _categories_exist(self) -> ModerationSpec:
        for i, entry in enumerate(self.block_list):
            if entry.category is not None and resolve_category(entry.category, self.topics) is None:
                known = ["PII", "secrets", "pii.<entity>", "secrets.<kind>", *BUILTIN_TOPICS]
                known += [t for t in self.topics if topic_key(t) not in BUILTIN_TOPICS]
                raise ValueError(
                    f"blockList[{i}].category {entry.category!r} is not a category; "
                    f"known: {', '.join(known)} (use 'phrase' for literal text)"
                )
            if entry.term is not None:
                resolve_category(entry.term, self.topics)  # raises for pii.<typo>
        return self
