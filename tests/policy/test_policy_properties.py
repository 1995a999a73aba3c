"""Properties that must hold for any valid policy: dumps round-trip, the hash ignores form,
and applying a layer twice is the same as applying it once."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from aiguard.policy import Policy

counts = st.fixed_dictionaries(
    {},
    optional={
        "requestsPerMinute": st.integers(1, 10_000),
        "tokensPerDay": st.integers(1, 10**9),
        "costPerDay": st.floats(0.01, 1e6, allow_nan=False),
        "maxConcurrent": st.integers(1, 1000),
        "key": st.sampled_from([["global"], ["tenant"], ["tenant", "user"], ["model", "route"]]),
        "mode": st.sampled_from(["reject", "wait"]),
    },
)
names = st.text("abcdefgh-", min_size=1, max_size=8)
specs = st.fixed_dictionaries(
    {},
    optional={
        "rateLimit": counts,
        "authentication": st.fixed_dictionaries(
            {"type": st.just("oauth2"), "scopes": st.lists(names, max_size=3)}
        ),
        "endpointRouting": st.fixed_dictionaries(
            {
                "rules": st.lists(
                    st.fixed_dictionaries(
                        {"match": st.fixed_dictionaries({"region": names}), "routeTo": names}
                    ),
                    max_size=3,
                )
            }
        ),
        "cache": st.fixed_dictionaries({"enabled": st.booleans(), "ttlSeconds": st.integers(1)}),
    },
)


@settings(max_examples=60, deadline=None)
@given(spec=specs)
def test_round_trip_and_hash_ignore_form(spec: dict[str, Any]) -> None:
    policy = Policy.from_dict({"metadata": {"name": "p"}, "spec": spec})
    again = Policy.from_dict(policy.to_dict())
    assert again == policy
    assert again.hash == policy.hash
    assert (
        Policy.from_json(json.dumps({"spec": spec, "metadata": {"name": "p"}})).hash == policy.hash
    )


@settings(max_examples=40, deadline=None)
@given(base=specs, layer=specs)
def test_layering_is_idempotent_and_later_wins(base: dict[str, Any], layer: dict[str, Any]) -> None:
    policy = Policy.from_dict({"spec": base})
    once = policy.layer({"spec": layer})
    assert once.layer({"spec": layer}) == once
    if "cache" in layer:
        assert once.spec.cache.enabled == layer["cache"]["enabled"]
