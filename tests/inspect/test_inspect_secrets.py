"""Secret detectors. Every credential-shaped fixture is assembled at run time from pieces so
that no secret scanner mistakes this file for a leak."""

from __future__ import annotations

import pytest

from aiguard.inspect import ContentInspector

ENGINE = ContentInspector({"secrets": {"action": "flag"}})
BODY = "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"


def kinds(text: str) -> list[str]:
    return [f.category for f in ENGINE.scan(text)]


SHAPES = {
    "openai_key": "sk-" + "proj-" + BODY + BODY,
    "anthropic_key": "sk-" + "ant-" + "api03-" + BODY * 3,
    "google_api_key": "AI" + "za" + "Sy" + BODY + "X",
    "aws_access_key_id": "AK" + "IA" + "QWERTYUIOPASDFGH",
    "github_token": "gh" + "p_" + BODY + "1234",
    "slack_token": "xo" + "xb-" + "123456789012-" + BODY,
    "stripe_key": "sk" + "_live_" + BODY,
    "jwt": "ey" + "JhbGciOiJIUzI1NiJ9" + "." + "ey" + "JzdWIiOiIxMjM0NTY3ODkwIn0" + "." + BODY,
}


@pytest.mark.parametrize(("kind", "value"), SHAPES.items())
def test_provider_key_shapes(kind: str, value: str) -> None:
    text = f"here is my key {value} please keep it safe"
    findings = ENGINE.scan(text)
    assert [f.category for f in findings] == [f"secrets.{kind}"]
    assert text[findings[0].start : findings[0].end] == value


def test_private_key_block_is_found_whole() -> None:
    pem = "-----BEGIN " + "RSA PRIVATE KEY-----\nMIIEow" + BODY + "\n" + BODY + "\n-----END RSA "
    pem += "PRIVATE KEY-----"
    text = f"config:\n{pem}\nthanks"
    (f,) = ENGINE.scan(text)
    assert f.category == "secrets.private_key"
    assert text[f.start : f.end] == pem


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("db_password=" + "hunter2x", "hunter2x"),
        ('{"api_key": "' + "zz9Qx81LmN" + '"}', "zz9Qx81LmN"),
        ("SECRET_KEY = '" + "abc123xyz" + "'", "abc123xyz"),
        ("export AUTH_TOKEN=" + "t0k3n-v4lue", "t0k3n-v4lue"),
    ],
)
def test_credential_assignments_redact_only_the_value(text: str, value: str) -> None:
    findings = [f for f in ENGINE.scan(text) if f.category == "secrets.credential_assignment"]
    assert [text[f.start : f.end] for f in findings] == [value]


@pytest.mark.parametrize(
    "text",
    [
        "the password: is required and the token: expired",
        "set password=${DB_PASSWORD} or password=<your password> or api_key=changeme",
        "monkey: banana, keyboard=qwerty",
    ],
)
def test_prose_and_placeholders_are_not_credentials(text: str) -> None:
    assert kinds(text) == []


def test_high_entropy_token_flagged_but_identifiers_are_not() -> None:
    token = "Zk9vQmFy" + "QmF6cXV4MTIzNDU2Nzg5MA"
    assert kinds(f"use {token} as the value") == ["secrets.high_entropy"]
    negatives = (
        "commit 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b, id 550e8400-e29b-41d4-a716-446655440000, "
        "see https://example.com/docs/getting-started-with-python and the "
        "AbstractSingletonProxyFactoryBean class"
    )
    assert kinds(negatives) == []


def test_kinds_can_be_narrowed() -> None:
    engine = ContentInspector({"secrets": {"kinds": ["jwt"], "action": "flag"}})
    text = SHAPES["jwt"] + " " + SHAPES["aws_access_key_id"]
    assert [f.category for f in engine.scan(text)] == ["secrets.jwt"]
