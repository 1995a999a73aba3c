"""PII detectors find the real thing and leave look-alikes alone (checksums, ranges)."""

from __future__ import annotations

import pytest

from aiguard.inspect import ContentInspector

ENGINE = ContentInspector({"pii": {"action": "flag"}})


def found(text: str) -> list[tuple[str, str]]:
    return [(f.category, text[f.start : f.end]) for f in ENGINE.scan(text)]


@pytest.mark.parametrize(
    ("text", "category", "value"),
    [
        ("mail jane.o'neil+tag@mail.example.co.uk now", "pii.email", "tag@mail.example.co.uk"),
        ("write to john.doe@example.com.", "pii.email", "john.doe@example.com"),
        ("call (415) 555-2671 today", "pii.phone", "(415) 555-2671"),
        ("call +1-537-640-6812x41586", "pii.phone", "+1-537-640-6812x41586"),
        ("ring +44 20 7946 0958 please", "pii.phone", "+44 20 7946 0958"),
        ("tel. 04 15 39 15 00", "pii.phone", "04 15 39 15 00"),
        ("E.164 +14155552671.", "pii.phone", "+14155552671"),
        ("card 4111 1111 1111 1111 ok", "pii.payment_card", "4111 1111 1111 1111"),
        ("amex 3782-822463-10005", "pii.payment_card", "3782-822463-10005"),
        ("IBAN GB82 WEST 1234 5698 7654 32.", "pii.iban", "GB82 WEST 1234 5698 7654 32"),
        ("to DE89370400440532013000", "pii.iban", "DE89370400440532013000"),
        ("ssn 536-90-4399", "pii.us_ssn", "536-90-4399"),
        ("SSN: 536904399", "pii.us_ssn", "536904399"),
        ("host 192.168.10.254 down", "pii.ip_address", "192.168.10.254"),
        ("v6 2001:db8:85a3::8a2e:370:7334 up", "pii.ip_address", "2001:db8:85a3::8a2e:370:7334"),
        ("btc 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "pii.crypto_wallet",
         "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"),
        ("to bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "pii.crypto_wallet",
         "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"),
        ("eth 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "pii.crypto_wallet",
         "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"),
    ],
)  # fmt: skip
def test_detects(text: str, category: str, value: str) -> None:
    hits = found(text)
    assert any(c == category and value in v for c, v in hits), hits


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112 (Luhn fails)",
        "ssn 666-12-3456, 900-12-3456, 123-00-4567, 123-45-0000",
        "order 536904399 shipped",  # nine bare digits without SSN context
        "IBAN GB82 WEST 1234 5698 7654 33",  # mod-97 fails
        "btc 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb",  # base58check fails
        "eth 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD",  # EIP-55 mixed case fails
        "version 1.2.3.4 and v10.0.0.1 released",
        "at 10:30:00 on 2024-01-15T10:30:00Z, mac 00:1A:2B:3C:4D:5E, std::vector",
        "uuid 550e8400-e29b-41d4-a716-446655440000, sha 9f86d081884c7d659a2feaa0c55ad015",
        "Order #1002349876, ORD-2024-000123, part PN-4411-2231-77, ISBN 978-3-16-148410-0",
        "1234 * 5678 = 7006652 and (12 + 34) * 56 = 2576",
        "user@localhost and @mention and pkg@1.2.3",
    ],
)
def test_look_alikes_are_not_pii(text: str) -> None:
    assert found(text) == []


def test_entities_can_be_narrowed() -> None:
    engine = ContentInspector({"pii": {"entities": ["email"], "action": "flag"}})
    cats = {f.category for f in engine.scan("a@example.com 4111 1111 1111 1111")}
    assert cats == {"pii.email"}


def test_card_inside_an_iban_is_reported_once_as_iban() -> None:
    assert [c for c, _ in found("DE73 9104 2749 0995 4080 94")] == ["pii.iban"]
