"""How much the policy costs per call: authorization, resolution, explain, and loading.

Run: .venv/bin/python bench/bench_policy.py
Prints microseconds per operation (best of 5 repeats); authorization runs on every call, so
its target is a few microseconds.
"""

from __future__ import annotations

import contextlib
import timeit
from pathlib import Path
from typing import Any

from aiguard import CallContext, ChatRequest, Message
from aiguard.errors import MissingScopeError
from aiguard.policy import Policy

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "tests" / "policy" / "seed_policy.yaml"

SCOPED: dict[str, Any] = {
    "spec": {
        "authentication": {
            "type": "oauth2",
            "scopes": ["ai.read", "ai.write"],
            "models": {"gpt-4*": ["ai.premium"]},
            "routes": {"support-*": ["support"]},
            "tools": {"allow": ["search_*", "calculator"], "deny": ["search_private"]},
        },
        "rateLimit": {"requestsPerMinute": 60},
        "overrides": [
            {"match": {"tenant": f"t{i}"}, "spec": {"rateLimit": {"requestsPerMinute": 100 + i}}}
            for i in range(20)
        ]
        + [
            {
                "match": {"region": "EU", "tags": {"tier": "gold"}},
                "spec": {"cache": {"enabled": True}},
            }
        ],
    }
}


def per_op_us(fn: Any, number: int) -> float:
    best = min(timeit.repeat(fn, number=number, repeat=5))
    return best / number * 1e6


def main() -> None:
    seed = Policy.from_yaml(SEED)
    scoped = Policy.from_dict(SCOPED)
    ok = CallContext.build(user="u-42", tenant="t7", region="EU", scopes={"ai.read", "ai.write"})
    gold = CallContext.build(
        user="u-42",
        tenant="t7",
        region="EU",
        scopes={"ai.read", "ai.write", "ai.premium"},
        tags={"tier": "gold"},
    )
    reader = CallContext.build(user="u-42", scopes={"ai.read"})
    tools = ("search_web", "calculator")
    request = ChatRequest(messages=(Message(role="user", content="hi"),), model="gpt-4o-mini")

    def denied() -> None:
        with contextlib.suppress(MissingScopeError):
            seed.authorize("chat", reader)

    text = SEED.read_text()
    rows = [
        ("authorize, seed policy, allowed", lambda: seed.authorize("chat", ok, "m"), 200_000),
        ("authorize, seed policy, refused (raise)", denied, 100_000),
        (
            "authorize, 21 overrides + model/route/tool rules",
            lambda: scoped.authorize("chat", gold, "gpt-4o", None, tools),
            200_000,
        ),
        ("resolve, 21 overrides, memoised key", lambda: scoped.resolve(gold, model="m"), 200_000),
        ("explain, seed policy", lambda: seed.explain(request, ok), 5_000),
        ("load seed YAML (parse + validate)", lambda: Policy.from_yaml(text), 500),
        ("load 21-override dict (validate)", lambda: Policy.from_dict(SCOPED), 100),
        ("hash, fresh seed policy", lambda: Policy.from_dict(seed.to_dict()).hash, 500),
    ]
    print(f"{'operation':<52} {'us/op':>10}")
    for name, fn, number in rows:
        print(f"{name:<52} {per_op_us(fn, number):>10.2f}")


if __name__ == "__main__":
    main()
