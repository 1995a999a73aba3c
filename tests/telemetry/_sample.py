"""Deterministic audit records that look like two weeks of a real deployment."""

from __future__ import annotations

import random

from aiguard.telemetry import AuditRecord, Violation

TENANTS = ("acme", "globex", "initech")
USERS = ("u-1", "u-2", "u-3", "u-4", "u-5")
MODELS = (("cloud-llm", "openai", "gpt-4o-mini"), ("on-prem-llm", "openai", "llama-3.1-8b"))
CATEGORIES = (("pii.email", "redact"), ("secrets.api_key", "block"), ("topic.investment", "block"))


def sample_records(
    start: float, days: int = 14, per_day: int = 60, seed: int = 7
) -> list[AuditRecord]:
    rnd = random.Random(seed)
    out = []
    for d in range(days):
        n = per_day + rnd.randint(-20, 40) + d * 3
        for _ in range(n):
            endpoint, provider, model = rnd.choice(MODELS)
            roll = rnd.random()
            violations: tuple[Violation, ...] = ()
            if roll < 0.05:
                cat, _ = rnd.choice(CATEGORIES[1:])
                outcome, violations = "blocked", (Violation(cat, "block"),)
            elif roll < 0.08:
                outcome = "error"
            elif roll < 0.10:
                outcome = "limited"
            elif roll < 0.30:
                outcome = "cached"
            else:
                outcome = "ok"
                if rnd.random() < 0.1:
                    violations = (Violation("pii.email", "redact"),)
            answered = outcome in ("ok", "cached")
            tin = rnd.randint(50, 1500) if answered else 0
            tout = rnd.randint(20, 600) if answered else 0
            out.append(
                AuditRecord(
                    time=start + d * 86400 + rnd.uniform(0, 86399),
                    operation="chat",
                    outcome=outcome,
                    principal=rnd.choice(USERS),
                    tenant=rnd.choice(TENANTS),
                    region="EU" if endpoint == "on-prem-llm" else "US",
                    endpoint=endpoint if outcome != "blocked" else None,
                    provider=provider,
                    model=model,
                    violations=violations,
                    input_tokens=tin,
                    output_tokens=tout,
                    cost=(tin * 0.15 + tout * 0.6) / 1e6 if outcome == "ok" else None,
                    latency_ms=rnd.lognormvariate(6.2, 0.5)
                    if outcome == "ok"
                    else rnd.uniform(1, 9),
                    cache_hit=outcome == "cached",
                    attempts=1 if answered else 0,
                )
            )
    return sorted(out, key=lambda r: r.time)
