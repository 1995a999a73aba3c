"""Write docs/policy-reference.md from the policy models (run after changing a policy model)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from aiguard.policy._reference import render_reference  # noqa: E402

TARGET = ROOT / "docs" / "policy-reference.md"


def main() -> None:
    TARGET.write_text(render_reference(), encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
