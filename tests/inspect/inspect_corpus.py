"""A labelled corpus for detection quality: PII made with Faker (plus wallet generators Faker
lacks) in varied sentence templates, mixed with hard negatives that look like PII and are
not (order numbers, timestamps, UUIDs, versions, arithmetic, part numbers).

Shared by ``test_quality.py`` (asserts the thresholds) and ``bench/bench_inspect.py``
(prints the table). Deterministic for a given seed.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from faker import Faker

from aiguard.inspect._checksums import keccak256

__all__ = ["ENTITIES", "Sample", "generate", "score"]

ENTITIES = (
    "email",
    "phone",
    "payment_card",
    "iban",
    "us_ssn",
    "ip_address",
    "crypto_wallet",
)


@dataclass(frozen=True)
class Sample:
    text: str
    spans: tuple[tuple[int, int, str], ...]


_TEMPLATES = (
    "Please contact {v} about the refund.",
    "My {label} is {v}.",
    "{v}",
    "Send the details to {v}, thanks!",
    "Customer record -- {label}: {v}; status: active",
    "Hi team,\nthe {label} on file is {v}\nCould you double-check it?",
    "I tried {v} twice but it did not work.",
    "(ref: {v})",
    'Update the field "{label}" to "{v}" please.',
    "Can you write a polite email to the person at {v}?",
    "{label}={v}",
    "Note - {v} - was added yesterday.",
)
_LABELS = {
    "email": ("email", "e-mail address", "contact"),
    "phone": ("phone number", "mobile", "number", "contact"),
    "payment_card": ("card number", "credit card", "card"),
    "iban": ("IBAN", "bank account", "account"),
    "us_ssn": ("SSN", "social security number", "tax id"),
    "ip_address": ("IP address", "server", "host"),
    "crypto_wallet": ("wallet", "BTC address", "ETH address", "payout address"),
}
_FILLER = (
    "The meeting moved to Thursday.",
    "Let me know if anything else is needed.",
    "We shipped {n} units last quarter.",
    "Version {ver} fixed the crash on startup.",
    "Order #{order} was delivered on {date}.",
    "The log shows {ts} for the first error.",
    "Request id {uuid} failed with status 502.",
    "Quick check: {a} * {b} = {ab} and {a} + {b} = {apb}.",
    "Part number {part} is out of stock.",
    "Tracking code ORD-{year}-{order6} is still pending.",
    "Commit {sha} introduced the regression.",
    "Build {ver4} is the one on staging.",
    "Total: ${price} for {n} seats, invoice {inv}.",
    "ISBN {isbn} is the second edition.",
    "Call the function with timeout={n} and retries=3.",
    "Room {room}, floor {floor}; the code for the door is {door}.",
)


def _btc_legacy(rng: random.Random) -> str:
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    payload = bytes([rng.choice((0x00, 0x05))]) + rng.randbytes(20)
    raw = payload + hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    n = int.from_bytes(raw, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = alphabet[r] + out
    return "1" * (len(raw) - len(raw.lstrip(b"\0"))) + out


def _bech32(rng: random.Random) -> str:
    charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
    prog = rng.randbytes(20)
    acc, bits, data = 0, 0, [0]
    for b in prog:
        acc = (acc << 8) | b
        bits += 8
        while bits >= 5:
            bits -= 5
            data.append((acc >> bits) & 31)
    if bits:
        data.append((acc << (5 - bits)) & 31)
    gen = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)

    def polymod(values: Iterable[int]) -> int:
        chk = 1
        for v in values:
            top = chk >> 25
            chk = (chk & 0x1FFFFFF) << 5 ^ v
            for i in range(5):
                chk ^= gen[i] if (top >> i) & 1 else 0
        return chk

    hrp = "bc"
    exp = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    pm = polymod([*exp, *data, 0, 0, 0, 0, 0, 0]) ^ 1
    checksum = [(pm >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(charset[d] for d in data + checksum)


def _eth(rng: random.Random) -> str:
    body = rng.randbytes(20).hex()
    digest = keccak256(body.encode()).hex()
    return "0x" + "".join(
        c.upper() if c.isalpha() and int(h, 16) >= 8 else c
        for c, h in zip(body, digest[:40], strict=True)
    )


def _values(fakers: dict[str, Faker], rng: random.Random) -> dict[str, Callable[[], str]]:
    us = fakers["en_US"]
    locales = list(fakers.values())
    iban_locales = [fakers[k] for k in ("en_GB", "de_DE", "fr_FR", "nl_NL", "es_ES", "it_IT")]
    phone_locales = [fakers[k] for k in ("en_US", "en_GB", "de_DE", "fr_FR")]

    def card() -> str:
        number = us.credit_card_number()
        style = rng.random()
        if style < 0.5 or len(number) not in (15, 16):
            return number
        sep = rng.choice(" -")
        if len(number) == 16:
            return sep.join(number[i : i + 4] for i in range(0, 16, 4))
        return sep.join((number[:4], number[4:10], number[10:]))

    def iban() -> str:
        value = rng.choice(iban_locales).iban()
        if rng.random() < 0.4:
            return " ".join(value[i : i + 4] for i in range(0, len(value), 4))
        return value

    def ip() -> str:
        return us.ipv4_public() if rng.random() < 0.6 else us.ipv6()

    def wallet() -> str:
        kind = rng.random()
        if kind < 0.4:
            return _btc_legacy(rng)
        if kind < 0.7:
            return _bech32(rng)
        return _eth(rng)

    return {
        "email": lambda: rng.choice(locales).email(),
        "phone": lambda: rng.choice(phone_locales).phone_number(),
        "payment_card": card,
        "iban": iban,
        "us_ssn": us.ssn,
        "ip_address": ip,
        "crypto_wallet": wallet,
    }


def _filler(us: Faker, rng: random.Random) -> str:
    a, b = rng.randint(10, 9999), rng.randint(10, 9999)
    return rng.choice(_FILLER).format(
        n=rng.randint(2, 5000),
        ver=f"{rng.randint(0, 12)}.{rng.randint(0, 30)}.{rng.randint(0, 40)}",
        ver4=f"{rng.randint(1, 9)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}",
        order=rng.randint(100000, 9999999999),
        order6=f"{rng.randint(0, 999999):06d}",
        year=rng.randint(2015, 2026),
        date=us.date(),
        ts=us.iso8601(),
        uuid=us.uuid4(),
        a=a,
        b=b,
        ab=a * b,
        apb=a + b,
        part=f"{rng.choice(['PN', 'XJ', 'AB'])}-{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}"
        f"-{rng.randint(10, 99)}",
        sha=us.sha1(),
        price=f"{rng.randint(1, 99)},{rng.randint(100, 999)}.{rng.randint(10, 99)}",
        inv=f"INV-{rng.randint(10000, 99999)}",
        isbn=us.isbn13(),
        room=rng.randint(100, 999),
        floor=rng.randint(1, 30),
        door=rng.randint(1000, 9999),
    )


def generate(per_entity: int = 300, seed: int = 1234, negatives: int = 600) -> list[Sample]:
    rng = random.Random(seed)
    Faker.seed(seed)
    fakers = {
        loc: Faker(loc) for loc in ("en_US", "en_GB", "de_DE", "fr_FR", "nl_NL", "es_ES", "it_IT")
    }
    for f in fakers.values():
        f.seed_instance(rng.randint(0, 2**31))
    us = fakers["en_US"]
    makers = _values(fakers, rng)
    samples: list[Sample] = []
    for entity in ENTITIES:
        for _ in range(per_entity):
            value = makers[entity]()
            template = rng.choice(_TEMPLATES)
            head, _, tail = template.partition("{v}")
            head = head.format(label=rng.choice(_LABELS[entity]))
            tail = tail.format(label=rng.choice(_LABELS[entity]))
            before = _filler(us, rng) + " " if rng.random() < 0.7 else ""
            after = " " + _filler(us, rng) if rng.random() < 0.7 else ""
            text = before + head + value + tail + after
            start = len(before) + len(head)
            samples.append(Sample(text, ((start, start + len(value), entity),)))
    for _ in range(negatives):
        samples.append(Sample(" ".join(_filler(us, rng) for _ in range(3)), ()))
    rng.shuffle(samples)
    return samples


def score(
    samples: Iterable[Sample], detect: Callable[[str], Iterable[tuple[int, int, str]]]
) -> dict[str, tuple[float, float, int, int, int]]:
    """Per entity: ``(precision, recall, true positives, false positives, false negatives)``.

    A detection counts when it overlaps a labelled span of the same entity."""
    tp = dict.fromkeys(ENTITIES, 0)
    fp = dict.fromkeys(ENTITIES, 0)
    fn = dict.fromkeys(ENTITIES, 0)
    for sample in samples:
        found = [d for d in detect(sample.text) if d[2] in tp]
        for s, e, ent in sample.spans:
            if any(fe == ent and fs < e and s < fe_end for fs, fe_end, fe in found):
                tp[ent] += 1
            else:
                fn[ent] += 1
        for fs, fe_end, fe in found:
            if not any(ent == fe and fs < e and s < fe_end for s, e, ent in sample.spans):
                fp[fe] += 1
    out = {}
    for ent in ENTITIES:
        p = tp[ent] / (tp[ent] + fp[ent]) if tp[ent] + fp[ent] else 1.0
        r = tp[ent] / (tp[ent] + fn[ent]) if tp[ent] + fn[ent] else 1.0
        out[ent] = (p, r, tp[ent], fp[ent], fn[ent])
    return out
