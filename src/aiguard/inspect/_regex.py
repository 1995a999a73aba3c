"""User-supplied patterns, made safe to run on any input.

A policy author's regex runs over every prompt the application sends, so one careless
``(a+)+$`` must not be able to freeze a worker. Two layers make that impossible:

* a static check refuses what can backtrack without bound in a backtracking engine (a
  quantified group that contains another unbounded quantifier, a quantified alternation
  whose branches can start with the same character, backreferences) and what RE2 cannot run
  (lookaround), so a policy is accepted or refused the same way on every machine;
* patterns are compiled with RE2 (linear time, ``google-re2``) when it is installed; the
  stdlib ``re`` fallback relies on the static check.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from typing import Any, Protocol

from ..errors import ConfigError

try:  # pragma: no cover - exercised in whichever environment the tests run
    import re2 as _re2  # type: ignore[import-untyped,import-not-found,unused-ignore]
except ImportError:  # pragma: no cover
    _re2 = None

if sys.version_info >= (3, 11):
    from re import _constants as _c
    from re import _parser as _sre_parse
else:  # pragma: no cover
    import sre_constants as _c
    import sre_parse as _sre_parse

__all__ = ["MAX_PATTERN_LENGTH", "SafePattern", "check_pattern", "compile_user_pattern", "engine"]

MAX_PATTERN_LENGTH = 2000
"""Longer patterns are refused: they are a sign of generated input, not a policy rule."""

_UNBOUNDED = 1 << 16  # sre's MAXREPEAT is larger, but anything this big is "unbounded" to us


class SafePattern(Protocol):
    """What the engine needs from a compiled user pattern (``re`` and RE2 both fit)."""

    @property
    def pattern(self) -> str: ...

    def finditer(self, string: str) -> Iterator[Any]: ...


def engine() -> str:
    """Which engine runs user patterns: ``"re2"`` (linear time) or ``"re"`` (guarded)."""
    return "re2" if _re2 is not None else "re"


def check_pattern(pattern: str) -> None:
    """Refuse a pattern that does not compile or could run for ever; say what to change."""
    if not isinstance(pattern, str):
        raise ConfigError(f"pattern must be a string, got {type(pattern).__name__}")
    if not pattern:
        raise ConfigError("pattern is empty: give a regular expression that matches something")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ConfigError(
            f"pattern is {len(pattern)} characters long; the limit is {MAX_PATTERN_LENGTH}"
        )
    try:
        parsed = _sre_parse.parse(pattern, 0)
    except (re.error, RecursionError, OverflowError) as e:
        raise ConfigError(f"pattern {pattern!r} does not compile: {e}") from None
    problem = _find_problem(list(parsed.data), inside_repeat=False)
    if problem:
        raise ConfigError(f"pattern {pattern!r} refused: {problem}")
    try:
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError) as e:  # pragma: no cover - parse caught it
        raise ConfigError(f"pattern {pattern!r} does not compile: {e}") from None
    if _re2 is not None:
        try:
            _re2.compile(pattern)
        except Exception as e:  # re2.error, or a wrapper error on odd syntax
            raise ConfigError(
                f"pattern {pattern!r} is not supported by the RE2 engine: {e}"
            ) from None
    if re.compile(pattern).fullmatch(""):
        raise ConfigError(
            f"pattern {pattern!r} matches the empty string, so it would match everywhere"
        )


def compile_user_pattern(pattern: str, *, ignore_case: bool = True) -> SafePattern:
    """Compile a checked user pattern with the safest engine available."""
    check_pattern(pattern)
    if _re2 is not None:
        opts = _re2.Options()
        opts.case_sensitive = not ignore_case
        compiled: SafePattern = _re2.compile(pattern, opts)
        return compiled
    return re.compile(pattern, re.IGNORECASE if ignore_case else 0)


# --------------------------------------------------------------------------- static check


def _find_problem(items: list[tuple[Any, Any]], *, inside_repeat: bool) -> str | None:
    for op, av in items:
        if op is _c.GROUPREF or op is _c.GROUPREF_EXISTS:
            return "backreferences can take exponential time; match the text explicitly"
        if op is _c.ASSERT or op is _c.ASSERT_NOT:
            return "lookahead/lookbehind is not supported; match the text explicitly"
        if op in (_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", None)):
            _lo, hi, body = av
            body_items = list(body)
            if hi > 1 and inside_repeat and hi >= _UNBOUNDED:
                return (
                    "a quantifier inside a quantified group (like (a+)+) can backtrack "
                    "catastrophically; quantify only the outer group or the inner atom"
                )
            if hi >= _UNBOUNDED or (hi > 1 and _has_unbounded(body_items)):
                if _has_unbounded(body_items) and not _separated(body_items):
                    return (
                        "a quantifier inside a quantified group (like (a+)+) can backtrack "
                        "catastrophically; quantify only the outer group or the inner atom"
                    )
                if _overlapping_alternation(body_items):
                    return (
                        "a repeated alternation whose branches can start with the same "
                        "character (like (a|ab)*) can backtrack catastrophically; make the "
                        "branches start differently"
                    )
            if _separated(body_items):
                continue  # (label+ sep)+: each inner repeat is closed by its separator
            found = _find_problem(body_items, inside_repeat=inside_repeat or hi > 1)
            if found:
                return found
        elif op is _c.SUBPATTERN:
            found = _find_problem(list(av[-1]), inside_repeat=inside_repeat)
            if found:
                return found
        elif op is _c.BRANCH:
            for alt in av[1]:
                found = _find_problem(list(alt), inside_repeat=inside_repeat)
                if found:
                    return found
        elif op is getattr(_c, "ATOMIC_GROUP", None):
            found = _find_problem(list(av), inside_repeat=inside_repeat)
            if found:
                return found
    return None


_REPEATS = (_c.MAX_REPEAT, _c.MIN_REPEAT)


def _separated(items: list[tuple[Any, Any]]) -> bool:
    r"""True for a group body like ``[a-z]+\.`` or ``\w+-``: every unbounded repeat in it
    is of a single character class and is immediately followed by a mandatory character
    the class cannot match. Such a body splits any text into iterations one way only, so
    repeating it cannot backtrack exponentially."""
    while len(items) == 1 and items[0][0] is _c.SUBPATTERN:
        items = list(items[0][1][-1])
    found = False
    for i, (op, av) in enumerate(items):
        if op in _REPEATS and av[1] >= _UNBOUNDED:
            inner = list(av[2])
            if len(inner) != 1 or i + 1 >= len(items):
                return False
            sep = _literal_chars(items[i + 1])
            if sep is None or any(_matches(inner[0], ch) for ch in sep):
                return False
            found = True
        elif op in (*_REPEATS, _c.SUBPATTERN, _c.BRANCH) and _has_unbounded([(op, av)]):
            return False
    return found


def _literal_chars(item: tuple[Any, Any]) -> list[str] | None:
    """The characters a mandatory one-character item can match, when it is a short list."""
    op, av = item
    if op is _c.LITERAL:
        return [chr(av)]
    if op is _c.IN and all(sub_op is _c.LITERAL for sub_op, _ in av):
        return [chr(v) for _, v in av]
    return None


def _matches(item: tuple[Any, Any], ch: str) -> bool:
    """Whether a one-character item may match ``ch`` in either case; unknown -> True."""
    return any(_matches_exact(item, c) for c in {ch, ch.lower(), ch.upper()})


def _matches_exact(item: tuple[Any, Any], ch: str) -> bool:
    op, av = item
    if op is _c.LITERAL:
        return ch == chr(av)
    if op is _c.NOT_LITERAL:
        return ch != chr(av)
    if op is _c.ANY:
        return ch != "\n"
    if op is not _c.IN:
        return True
    negate = False
    hit = False
    for sub_op, sub_av in av:
        if sub_op is _c.NEGATE:
            negate = True
        elif sub_op is _c.LITERAL:
            hit = hit or ch == chr(sub_av)
        elif sub_op is _c.RANGE:
            hit = hit or sub_av[0] <= ord(ch) <= sub_av[1]
        elif sub_op is _c.CATEGORY:
            hit = hit or _in_category(sub_av, ch)
        else:
            return True
    return hit != negate


def _in_category(cat: Any, ch: str) -> bool:
    word = ch.isalnum() or ch == "_"
    table = {
        _c.CATEGORY_DIGIT: ch.isdigit(),
        _c.CATEGORY_NOT_DIGIT: not ch.isdigit(),
        _c.CATEGORY_SPACE: ch.isspace(),
        _c.CATEGORY_NOT_SPACE: not ch.isspace(),
        _c.CATEGORY_WORD: word,
        _c.CATEGORY_NOT_WORD: not word,
    }
    return table.get(cat, True)


def _has_unbounded(items: list[tuple[Any, Any]]) -> bool:
    for op, av in items:
        if op in (_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", None)):
            if av[1] >= _UNBOUNDED or _has_unbounded(list(av[2])):
                return True
        elif op is _c.SUBPATTERN:
            if _has_unbounded(list(av[-1])):
                return True
        elif op is _c.BRANCH and any(_has_unbounded(list(alt)) for alt in av[1]):
            return True
    return False


def _overlapping_alternation(items: list[tuple[Any, Any]]) -> bool:
    """True if a branch in ``items`` has two alternatives that may begin with one character."""
    for op, av in items:
        if op is _c.SUBPATTERN:
            if _overlapping_alternation(list(av[-1])):
                return True
        elif op is _c.BRANCH:
            firsts = [_first_chars(list(alt)) for alt in av[1]]
            for i in range(len(firsts)):
                for j in range(i + 1, len(firsts)):
                    a, b = firsts[i], firsts[j]
                    if a is None or b is None or a & b:
                        return True
        elif op is _c.IN:
            continue
    return False


def _first_chars(items: list[tuple[Any, Any]]) -> set[int] | None:
    """Code points a sequence can start with; ``None`` when unknown or too broad to tell."""
    if not items:
        return None
    op, av = items[0]
    if op is _c.LITERAL:
        return {av, *_case_variants(av)}
    if op is _c.IN:
        out: set[int] = set()
        for sub_op, sub_av in av:
            if sub_op is _c.LITERAL:
                out |= {sub_av, *_case_variants(sub_av)}
            elif sub_op is _c.RANGE and sub_av[1] - sub_av[0] < 512:
                for cp in range(sub_av[0], sub_av[1] + 1):
                    out |= {cp, *_case_variants(cp)}
            else:
                return None
        return out
    if op is _c.SUBPATTERN:
        return _first_chars(list(av[-1]))
    if op is _c.BRANCH:
        acc: set[int] = set()
        for alt in av[1]:
            f = _first_chars(list(alt))
            if f is None:
                return None
            acc |= f
        return acc
    if op in (_c.MAX_REPEAT, _c.MIN_REPEAT) and av[0] >= 1:
        return _first_chars(list(av[2]))
    return None


def _case_variants(cp: int) -> set[int]:
    ch = chr(cp)
    return {ord(c) for c in (ch.lower(), ch.upper()) if len(c) == 1}
