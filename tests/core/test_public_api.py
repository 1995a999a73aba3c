"""The public API is exactly what the docs list, and importing it stays light."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import aiguard

DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def documented_names() -> list[str]:
    text = DOCS.read_text()
    block = text.split("<!-- public-api:start -->")[1].split("<!-- public-api:end -->")[0]
    return re.findall(r"^- `([^`]+)`$", block, flags=re.M)


def test_all_is_exactly_the_documented_api() -> None:
    assert aiguard.__all__ == sorted(aiguard.__all__, key=str)
    assert sorted(aiguard.__all__) == sorted(documented_names())


def test_every_public_name_resolves() -> None:
    for name in aiguard.__all__:
        assert getattr(aiguard, name) is not None


def test_import_loads_no_engine_or_tokenizer() -> None:
    code = (
        "import sys, aiguard; "
        "heavy = [m for m in ('aiguard.policy', 'aiguard.inspect', 'aiguard.telemetry', "
        "'aiguard.decorators', 'aiguard.sdk', 'httpx', 'asyncio', "
        "'opentelemetry.sdk', 'tiktoken', 'redis', 'botocore', 'yaml') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.check_output([sys.executable, "-c", code], text=True).strip()
    assert out == ""
