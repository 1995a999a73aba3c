"""Attempts to sneak PII, secrets and blocked phrases past inspection.

Each ``Case`` is one target (an e-mail address, a card, an API key, a blocked phrase...)
disguised by one technique (zero-width characters, homoglyphs, spacing, case, splitting
across messages, tool-call arguments, stream chunks, encodings) and sent through one channel.
``attempt(case)`` reports whether the seed-style policy (``PII``, ``secrets``, ``hate
speech``, ``investment advice``; everything blocks) caught it.

Shared by ``test_evasion.py`` (asserts what is caught; each known miss is an xfail with its
reason) and ``bench/bench_hardening.py`` (prints the detection rate per technique).
Every credential-shaped value is assembled at run time from pieces.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass

from aiguard._types import ChatRequest, Message
from aiguard.errors import ContentBlockedError
from aiguard.inspect import ContentInspector

__all__ = ["CASES", "INSPECTOR", "Case", "attempt"]

INSPECTOR = ContentInspector(
    {
        "blockList": ["PII", "secrets", "hate speech", "investment advice"],
        "pii": {"action": "block"},
        "secrets": {"action": "block"},
        "defaultAction": "block",
    }
)

_BODY = "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"
TARGETS: dict[str, str] = {
    "email": "jane.doe" + "@" + "example.org",
    "card": "4111 1111 1111 1111",
    "phone": "+1 415 555 2671",
    "ssn": "123-45-6789",
    "iban": "GB82 WEST 1234 5698 7654 32",
    "openai_key": "sk-" + "proj-" + _BODY + _BODY,
    "aws_key_id": "AK" + "IA" + "QWERTYUIOPASDFGH",
    "github_token": "gh" + "p_" + _BODY + "1234",
    "hate_phrase": "hate speech",
    "advice_phrase": "investment advice",
}
_SENTENCE = "please handle this: {} thanks"

ZW = "\u200b"
_HOMOGLYPHS = str.maketrans(
    {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "i": "і", "s": "ѕ", "h": "һ"}
)
_LEET = str.maketrans({"a": "4", "e": "3", "i": "1", "o": "0", "s": "5"})
_FULLWIDTH = {c: chr(ord(c) + 0xFEE0) for c in map(chr, range(0x21, 0x7F))}
_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def _zero_width(t: str) -> str:
    return ZW.join(t)


def _spaced(t: str) -> str:
    return " ".join(t)


def _wide_spaces(t: str) -> str:
    return t.replace(" ", " \n\t  ")


def _double_spaces(t: str) -> str:
    return t.replace(" ", "  ")


def _fullwidth(t: str) -> str:
    return "".join(_FULLWIDTH.get(c, c) for c in t)


def _combining(t: str) -> str:
    return "".join(c + "\u0301" if c.isalpha() else c for c in t)


def _spelled(t: str) -> str:
    return " ".join(_WORDS[int(c)] if c.isdigit() else c for c in t)


def _obfuscated_email(t: str) -> str:
    return t.replace("@", " [at] ").replace(".", " [dot] ")


TECHNIQUES: dict[str, Callable[[str], str]] = {
    "plain": lambda t: t,
    "upper case": str.upper,
    "mixed case": lambda t: "".join(c.upper() if i % 2 else c for i, c in enumerate(t)),
    "zero-width": _zero_width,
    "homoglyphs": lambda t: t.translate(_HOMOGLYPHS),
    "fullwidth": _fullwidth,
    "combining marks": _combining,
    "letter spacing": _spaced,
    "wide spacing": _wide_spaces,
    "double spacing": _double_spaces,
    "leetspeak": lambda t: t.translate(_LEET),
    "spelled-out digits": _spelled,
    "[at]/[dot]": _obfuscated_email,
    "base64": lambda t: base64.b64encode(t.encode()).decode(),
}
# The channels: where the disguised text travels.
CHANNELS = ("message", "split messages", "tool arguments", "stream chunks")


@dataclass(frozen=True)
class Case:
    target: str
    technique: str
    channel: str

    @property
    def id(self) -> str:
        return f"{self.channel}/{self.technique}/{self.target}"

    def payload(self) -> str:
        return TECHNIQUES[self.technique](TARGETS[self.target])


def _request(*messages: Message) -> ChatRequest:
    return ChatRequest(messages=messages)


def _send(case: Case) -> None:
    """Raise ``ContentBlockedError`` if inspection catches the case."""
    text = case.payload()
    if case.channel == "message":
        INSPECTOR.inspect_request(_request(Message(role="user", content=_SENTENCE.format(text))))
    elif case.channel == "split messages":
        # the target cut in half, each half in its own user message
        half = len(text) // 2
        INSPECTOR.inspect_request(
            _request(
                Message(role="user", content="first part: " + text[:half]),
                Message(role="user", content=text[half:] + " is the rest"),
            )
        )
    elif case.channel == "tool arguments":
        args = json.dumps({"note": text, "to": "support"}, ensure_ascii=False)
        call = {"id": "c1", "type": "function", "function": {"name": "send", "arguments": args}}
        INSPECTOR.inspect_request(
            _request(
                Message(role="user", content="send it"),
                Message(role="assistant", content=None, tool_calls=(call,)),
                Message(role="tool", content="sent", tool_call_id="c1"),
            )
        )
    elif case.channel == "stream chunks":
        # an answer streamed in 3-character pieces, the target spread over many of them
        stream = INSPECTOR.stream()
        full = _SENTENCE.format(text)
        for i in range(0, len(full), 3):
            stream.feed(full[i : i + 3])
        stream.finish()
    else:  # pragma: no cover
        raise ValueError(case.channel)


def attempt(case: Case) -> bool:
    """True when inspection caught the attempt (the call would have been blocked)."""
    try:
        _send(case)
    except ContentBlockedError:
        return True
    return False


# Plain, case and the Unicode disguises go through every channel; the spacing and encoding
# tricks through the direct message (the channel does not change how they are read).
CASES: list[Case] = [
    Case(target, technique, channel)
    for channel in CHANNELS
    for technique in TECHNIQUES
    if channel == "message" or technique in ("plain", "mixed case", "zero-width", "homoglyphs")
    for target in TARGETS
]
