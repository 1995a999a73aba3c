"""The inspection engine: detectors in, decisions out, no I/O.

:class:`ContentInspector` is compiled once from a :class:`ModerationSpec` and is then safe to
share between threads and calls (it holds no per-call state; a call's placeholders live in its
own :class:`Vault`). The pipeline stage in :mod:`aiguard.inspect._stage` drives it; it is also
usable on its own to check or clean any text.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from .._types import ChatRequest, ChatResponse, describe_validation
from ..errors import ContentBlockedError, PolicyError
from ._actions import Vault, hash_token, mask
from ._compile import Compiled, CustomDetector, Plan, Rule, compile_spec
from ._memo import CLEAN, MAX_TEXT
from ._messages import RequestResult, ResponseResult, inspect_request, inspect_response
from ._normalize import (
    Normalized,
    detector_view,
    folds_into_words,
    normalize,
    original_span,
    two_gap_chars,
)
from ._pii import find_pii
from ._scan import Prepared
from ._secrets import find_secrets
from ._terms import FOLDED_WORD_TABLE, word_set
from .findings import Finding, FlowDirection, Hit
from .spec import PII_ENTITIES, ModerationSpec

if TYPE_CHECKING:
    from .moderator import Moderator
    from .stream import StreamInspector

__all__ = ["ContentInspector", "CustomDetector", "TextResult"]

_LABEL_CLEAN = re.compile(r"[^A-Z0-9]+")
_TAIL_DETECTORS = frozenset((*PII_ENTITIES, "custom"))
"""Detectors whose masks keep the last four characters (identifiers people recognise)."""


@dataclass(frozen=True, slots=True)
class TextResult:
    """A text after inspection: what may be sent (or shown), and what was found."""

    text: str
    findings: tuple[Finding, ...]


def _label(category: str) -> str:
    return _LABEL_CLEAN.sub("_", category.upper()).strip("_") or "REDACTED"


class ContentInspector:
    """Finds what a :class:`ModerationSpec` looks for and applies its actions.

    ``detectors`` adds Python-defined PII entities (a regex plus an optional validator);
    ``moderator`` a model-based check whose I/O the pipeline stage performs.
    """

    def __init__(
        self,
        spec: ModerationSpec | Mapping[str, Any] | None = None,
        *,
        detectors: Sequence[CustomDetector] = (),
        moderator: Moderator | None = None,
    ) -> None:
        if spec is None:
            spec = ModerationSpec()
        elif not isinstance(spec, ModerationSpec):
            try:
                spec = ModerationSpec.model_validate(spec)
            except ValidationError as e:
                raise PolicyError([describe_validation(e)], source="contentModeration") from None
        self._c: Compiled = compile_spec(spec, detectors)
        self.moderator = moderator

    @property
    def spec(self) -> ModerationSpec:
        return self._c.spec

    @property
    def enabled(self) -> bool:
        return self._c.enabled

    def active(self, direction: FlowDirection) -> bool:
        """Whether anything at all is looked for in ``direction`` (lets callers skip work)."""
        return self._c.enabled and not self._c.plan(direction).empty

    def restores(self) -> bool:
        """Whether ``redact`` placeholders are restored in answers (``pii.restore``)."""
        return bool(self._c.spec.pii and self._c.spec.pii.restore)

    # ----------------------------------------------------------------------- text

    def scan(self, text: str, direction: FlowDirection = "input") -> list[Finding]:
        """Everything the spec would act on in ``text``, without acting (nothing raises)."""
        if not self.active(direction):
            return []
        return [
            self._finding(h, r, direction, "text", None, None)
            for h, r in self._hits(text, self._c.plan(direction))
        ]

    def inspect_text(
        self,
        text: str,
        direction: FlowDirection = "input",
        *,
        vault: Vault | None = None,
        location: str = "text",
        message_index: int | None = None,
    ) -> TextResult:
        """Apply the spec to one text: raise :class:`ContentBlockedError` for a ``block``,
        otherwise return the rewritten text and the findings."""
        new, findings = self.process(
            text, direction, vault if vault is not None else Vault(), location, message_index
        )
        return TextResult(new, tuple(findings))

    def inspect_request(self, request: ChatRequest, *, vault: Vault | None = None) -> RequestResult:
        """All roles, text parts, tool results and tool-call arguments of an outgoing request.
        Pass the call's ``vault`` so the answer can be restored with the same one."""
        return inspect_request(self, request, vault if vault is not None else Vault())

    def inspect_response(
        self, response: ChatResponse, *, vault: Vault | None = None
    ) -> ResponseResult:
        """The answer's text and tool-call arguments, then restore of echoed placeholders."""
        return inspect_response(self, response, vault if vault is not None else Vault())

    def stream(
        self, *, vault: Vault | None = None, direction: FlowDirection = "output"
    ) -> StreamInspector:
        """An incremental inspector for one streamed text."""
        from .stream import StreamInspector

        return StreamInspector(self, vault if vault is not None else Vault(), direction)

    # ----------------------------------------------------------------------- internals

    def process(
        self,
        text: str,
        direction: FlowDirection,
        vault: Vault,
        location: str,
        message_index: int | None,
        *,
        offset: int = 0,
    ) -> tuple[str, list[Finding]]:
        """Detect and act. ``offset`` shifts reported positions (streams)."""
        c = self._c
        plan = c.input if direction == "input" else c.output
        if not text or plan.empty or not c.enabled:
            return text, []
        hits = self._hits(text, plan)
        if not hits:  # most texts: nothing to act on
            return text, []
        return self.apply(text, hits, direction, vault, location, message_index, offset=offset)

    def apply(
        self,
        text: str,
        hits: list[tuple[Hit, Rule]],
        direction: FlowDirection,
        vault: Vault,
        location: str,
        message_index: int | None,
        *,
        offset: int = 0,
        quote: Callable[[int], bool] | None = None,
    ) -> tuple[str, list[Finding]]:
        """Act on ``hits`` (spans of ``text``): raise for a block, rewrite, record.

        ``quote(start)`` says whether a replacement at ``start`` must be written as a JSON
        string (streamed tool-call arguments, where a card may be a bare JSON number)."""
        if not hits:
            return text, []
        for h, r in hits:
            if r.action == "block":
                raise ContentBlockedError(
                    r.category,
                    direction,
                    message_index=message_index,
                    start=h.start + offset,
                    end=h.end + offset,
                    detector=h.detector,
                )
        findings: list[Finding] = []
        rewrites: list[tuple[Hit, Rule]] = []
        for h, r in hits:
            if r.action == "flag":
                findings.append(
                    self._finding(h, r, direction, location, message_index, None, offset=offset)
                )
            else:
                rewrites.append((h, r))
        if not rewrites:
            return text, findings
        kept = _without_overlaps(rewrites)
        parts: list[str] = []
        last = 0
        for h, r in kept:
            value = text[h.start : h.end]
            if r.action == "redact":
                rep = vault.placeholder(
                    h.label, value, restorable=r.restore and direction == "input"
                )
            elif r.action == "mask":
                rep = mask(value, h.label, keep_tail=h.detector in _TAIL_DETECTORS)
            else:
                rep = hash_token(value, h.label, self._c.hash_key)
            if quote is not None and quote(h.start):
                rep = f'"{rep}"'
            parts.append(text[last : h.start])
            parts.append(rep)
            last = h.end
            findings.append(
                self._finding(h, r, direction, location, message_index, rep, offset=offset)
            )
        parts.append(text[last:])
        findings.sort(key=lambda f: f.start)
        return "".join(parts), findings

    @staticmethod
    def _finding(
        h: Hit,
        r: Rule,
        direction: FlowDirection,
        location: str,
        message_index: int | None,
        replacement: str | None,
        *,
        offset: int = 0,
    ) -> Finding:
        return Finding(
            category=r.category,
            action=r.action,
            direction=direction,
            start=h.start + offset,
            end=h.end + offset,
            location=location,
            message_index=message_index,
            detector=h.detector,
            score=h.score,
            replacement=replacement,
        )

    def plan(self, direction: FlowDirection) -> Plan:
        return self._c.plan(direction)

    def _hits(
        self,
        text: str,
        plan: Plan,
        *,
        topic_base: Mapping[str, float] | None = None,
        skip_before: int = 0,
    ) -> list[tuple[Hit, Rule]]:
        """Every rule-bearing hit in ``text`` that the allow list does not exempt.

        Streams pass the text already released as leading context: hits starting before
        ``skip_before`` are dropped, and ``topic_base`` carries the topic scores so far."""
        memo = plan.memo and topic_base is None and not skip_before and len(text) <= MAX_TEXT
        if memo and (plan.serial, text) in CLEAN:
            return []
        prep = Prepared(text)
        out: list[tuple[Hit, Rule]] = []
        if plan.detects:
            # the detectors read a folded view when the text has anything to fold (full-width
            # or look-alike characters, zero-width ones, combining marks, spread-out numbers)
            view = None
            if prep.is_ascii:
                # only a wide gap between a number's groups folds in ASCII, and every one has
                # a digit and two whitespace characters in a row: most texts need no number
                # runs here (the digit shape is the PII scan's own, so asking costs nothing)
                if plan.pii and prep.digit_shape.find(b"0") >= 0 and two_gap_chars(text):
                    numbers = prep.number_runs(4)
                    if numbers:
                        view = detector_view(text, prep.ascii, numbers, gaps=True)
            else:
                runs = prep.non_ascii_runs if plan.needs_normalized else None  # phrases too
                numbers = prep.number_runs(4) if plan.pii else []  # spread-out groups: PII only
                view = detector_view(text, prep.ascii, numbers, runs)
            scan = prep if view is None else Prepared(view.text)
            if plan.pii:
                rules = plan.pii
                out.extend([(h, rules[h.detector]) for h in find_pii(scan, plan.pii_entities)])
            if plan.secrets:
                rules = plan.secrets
                out.extend([(h, rules[h.detector]) for h in find_secrets(scan, plan.secret_kinds)])
            if view is not None and out:
                out = [(_mapped(h, view, text), r) for h, r in out]
        for rx, validator, label, rule in plan.custom:
            for m in rx.finditer(text):
                if m.end() > m.start() and (validator is None or validator(m.group())):
                    out.append((Hit(m.start(), m.end(), rule.category, label, "custom", 60), rule))
        if len(out) > 1:
            # one span, one entity: the IBAN wins over the card-like digits inside it
            out = _without_overlaps(out)
        for rx, rule in plan.regexes:
            for m in rx.finditer(text):
                if m.end() > m.start():
                    out.append((Hit(m.start(), m.end(), rule.category, _label(rule.category),
                                    "regex", 45), rule))  # fmt: skip
        norm: Normalized | None = None
        words: list[bytes] | None = None
        if plan.needs_normalized:
            if prep.is_ascii or not folds_into_words(text, prep.ascii, prep.non_ascii_runs):
                # folding cannot change the words: the scan's ASCII bytes have them
                words = prep.ascii.translate(FOLDED_WORD_TABLE).split()  # ascii_words, inline
            else:
                norm = normalize(text, prep.ascii, prep.non_ascii_runs)
                words = word_set(norm.text)
            # one look at the key words of every matcher proves most texts phrase-free
            if (plan.phrases_always or not plan.phrase_keys.isdisjoint(words)) and (
                plan.phrases.may_match(words) or plan.topics.may_match(words)
            ):
                if norm is None:
                    norm = normalize(text, prep.ascii, prep.non_ascii_runs)
                for s, e, rule in plan.phrases.find(norm, words):
                    hit = Hit(s, e, rule.category, _label(rule.category), "phrase", 35)
                    out.append((hit, rule))
                if plan.topics:
                    out.extend(_topic_hits(plan, norm, words, topic_base or {}, skip_before))
        if out and (self._c.allow_phrases or self._c.allow_regexes):
            out = self._allowed_removed(text, out, norm, words)
        if skip_before:
            out = [hr for hr in out if hr[0].start >= skip_before]
        if not out:
            if memo:
                CLEAN.add(plan.serial, text)
            return out
        out.sort(key=lambda hr: (hr[0].start, hr[0].end))
        return out

    def _allowed_removed(
        self,
        text: str,
        hits: list[tuple[Hit, Rule]],
        norm: Normalized | None,
        words: list[bytes] | None,
    ) -> list[tuple[Hit, Rule]]:
        spans: list[tuple[int, int, str | None]] = []
        if self._c.allow_phrases:
            if norm is None:
                norm = normalize(text)
            spans.extend(self._c.allow_phrases.find(norm, words))
        for rx, cat in self._c.allow_regexes:
            spans.extend((m.start(), m.end(), cat) for m in rx.finditer(text))
        if not spans:
            return hits
        # per category: starts sorted, and the furthest end among the spans starting so far;
        # a hit is exempt when some span starting at or before it reaches past its end
        groups: dict[str | None, tuple[list[int], list[int]]] = {}
        for s, e, cat in sorted(spans, key=lambda sp: sp[0]):
            starts, reach = groups.setdefault(cat, ([], []))
            starts.append(s)
            reach.append(max(e, reach[-1]) if reach else e)

        def allowed(h: Hit, r: Rule) -> bool:
            for cat, (starts, reach) in groups.items():
                if cat is not None and not any(
                    c == cat or c.startswith(cat + ".") for c in (h.category, r.category)
                ):
                    continue
                k = bisect.bisect_right(starts, h.start)
                if k and reach[k - 1] >= h.end:
                    return True
            return False

        return [(h, r) for h, r in hits if not allowed(h, r)]


def _topic_hits(
    plan: Plan,
    norm: Normalized,
    words: list[bytes],
    base: Mapping[str, float],
    skip_before: int,
) -> list[tuple[Hit, Rule]]:
    found = [f for f in plan.topics.find(norm, words) if f[0] >= skip_before]
    if not found:
        return []
    scores: dict[str, float] = dict(base)
    for _s, _e, (name, weight) in found:
        scores[name] = scores.get(name, 0.0) + weight
    out: list[tuple[Hit, Rule]] = []
    for s, e, (name, _w) in found:
        threshold, rule = plan.topic_rules[name]
        if scores[name] >= threshold:
            label = _label(rule.category)
            out.append((Hit(s, e, rule.category, label, "topic", 30, scores[name]), rule))
    return out


def _mapped(h: Hit, view: Normalized, text: str) -> Hit:
    """A hit in the detectors' view, moved onto the original characters it came from."""
    s, e = original_span(view, text, h.start, h.end)
    return Hit(s, e, h.category, h.label, h.detector, h.priority, h.score)


def _without_overlaps(hits: list[tuple[Hit, Rule]]) -> list[tuple[Hit, Rule]]:
    """Keep the strongest of overlapping spans: higher priority, then longer, then earlier.

    A sweep in start order cuts the hits into clusters of chained overlaps (most hits are a
    cluster of one); inside a cluster the strongest are kept first, each checked against its
    neighbours among those kept (bisect). O(n log n) in the number of hits."""
    spans = sorted((h.start, h.end, h.priority, i) for i, (h, _r) in enumerate(hits))
    kept: list[int] = []
    cluster: list[tuple[int, int, int, int]] = []
    reach = 0
    for span in spans:
        if cluster and span[0] >= reach:
            _resolve(cluster, kept)
            cluster = []
        reach = max(reach, span[1]) if cluster else span[1]
        cluster.append(span)
    if cluster:
        _resolve(cluster, kept)
    return [hits[i] for i in kept]


def _resolve(cluster: list[tuple[int, int, int, int]], kept: list[int]) -> None:
    """Greedy over one cluster, strongest first; appends the kept indices in start order."""
    if len(cluster) == 1:
        kept.append(cluster[0][3])
        return
    starts: list[int] = []
    ends: list[int] = []
    ids: list[int] = []
    for s, e, _p, i in sorted(cluster, key=lambda sp: (-sp[2], sp[0] - sp[1], sp[0])):
        k = bisect.bisect_left(starts, e)  # kept spans starting before e: [0, k), disjoint
        if k and ends[k - 1] > s:
            continue
        starts.insert(k, s)
        ends.insert(k, e)
        ids.insert(k, i)
    kept.extend(ids)
