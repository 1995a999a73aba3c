"""The main job, offline: the seed AIAPIGatewayPolicy governing a real client.

Two FakeProvider servers stand in for a cloud model and an on-prem model. The policy file is
the sample from the AI API management guide, unchanged. Watch what is refused before anything
leaves the process, where each call goes, what it costs, and what the audit log kept.

Run with ``make demo``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import aiguard
from aiguard import errors
from aiguard.providers import OpenAICompatible
from aiguard.telemetry import SQLiteAuditStore, usage_summary
from aiguard.testing import FakeProvider, Fault, Reply
from aiguard.tokens import Price, PriceTable

POLICY = Path(__file__).parent / "policies" / "secure-llm-endpoint.yaml"
CALLER = {"user": "u-42", "tenant": "acme", "scopes": {"ai.read", "ai.write"}}


def step(title: str) -> None:
    print(f"\n== {title}")


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="aiguard-demo-"))
    seed = aiguard.Policy.from_yaml(POLICY)
    # The seed keeps 90 days of audit records; the demo keeps them in a scratch folder.
    policy = seed.layer({"spec": {"logging": {"path": str(workdir / "audit.db")}}})
    print(f"policy {seed.metadata.name!r} loaded from {POLICY.name} (hash {seed.hash[:12]}...)")

    with FakeProvider() as cloud, FakeProvider() as on_prem:
        client = aiguard.Client(
            endpoints={
                "cloud-llm": OpenAICompatible(cloud.openai_url, "gpt-4o-mini"),
                "on-prem-llm": OpenAICompatible(on_prem.openai_url, "llama-3.1-8b"),
            },
            policy=policy,
            # Self-hosted models cost nothing per token; the cloud model's price is built in.
            pricing=PriceTable(overrides={"llama-3.1-8b": Price(input=0.0, output=0.0)}),
        )
        sent = lambda: len(cloud.requests) + len(on_prem.requests)  # noqa: E731

        step("authentication: a caller without the policy's scopes")
        try:
            client.chat("Hello", context={"user": "u-7", "tenant": "acme", "region": "EU"})
        except errors.MissingScopeError as e:
            print(f"refused: {e}  (requests sent: {sent()})")

        step("routing: EU traffic goes on-prem, US traffic to the cloud")
        with aiguard.context(**CALLER, region="EU"):
            reply = client.chat("Summarise our refund policy.")
            print(f"EU -> {reply.endpoint}: {reply.text!r}")
        with aiguard.context(**CALLER, region="US"):
            reply = client.chat("Summarise our refund policy.")
            print(f"US -> {reply.endpoint}: {reply.text!r}  cost ${reply.cost or 0:.8f}")

        step("content moderation: PII and blocked topics never leave the process")
        before = sent()
        with aiguard.context(**CALLER, region="EU"):
            for prompt in (
                "My card is 4111 1111 1111 1111, can you update it?",
                "Email me at jane.doe@example.com",
                "Which stocks should I buy? I want investment advice.",
            ):
                try:
                    client.chat(prompt)
                except errors.ContentBlockedError as e:
                    print(f"blocked: {e}")
        print(f"requests sent while blocking: {sent() - before}")

        step("streaming, with the same policy on every chunk")
        on_prem.script(Reply(chunks=["Refunds ", "are ", "issued ", "within ", "14 days."]))
        with aiguard.context(**CALLER, region="EU"), client.stream("Refunds?") as stream:
            for event in stream:
                print(event.text, end="", flush=True)
        print(
            f"\nusage: {stream.response.usage.input_tokens} in / "
            f"{stream.response.usage.output_tokens} out"
        )

        step("resilience: a 429 with Retry-After is retried, not surfaced")
        cloud.fault(Fault.status_code(429, retry_after=0.2))
        with aiguard.context(**CALLER, region="US"):
            reply = client.chat("Still there?")
        print(f"answered after a retry: {reply.text!r}")

        step("rate limits and token budget left for acme/u-42")
        for u in client.usage(CALLER):
            print(f"{u.limit:<28} used {u.used:>8.1f} of {u.amount:>9.0f}", end="")
            print(f"  remaining {u.remaining:.1f}")

        client.close()  # flushes the audit log

    step("audit log (SQLite, 90-day retention) summarised by endpoint")
    store = SQLiteAuditStore(workdir / "audit.db", retention_days=90)
    print(usage_summary(store, group_by=("endpoint",)))
    store.close()


if __name__ == "__main__":
    main()
