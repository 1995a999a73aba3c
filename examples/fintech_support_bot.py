"""A fintech customer-support bot governed by a policy (scenario 1 of the seed).

What it shows, against an offline FakeProvider:

1. PII in a customer's message is pseudonymised before it leaves the process (the provider
   sees ``[EMAIL_1]`` and ``[CARD_1]``) and restored in the answer the customer reads.
2. A request for investment advice is refused before anything is sent.
3. An answer that drifts into investment advice is refused on the way back.
4. A caller without the ``ai.write`` scope (a read-only dashboard) is refused.

Policy: ``examples/policies/fintech-support-bot.yaml``. Needs ``pip install 'aiguard[yaml]'``.
Run: ``python examples/fintech_support_bot.py``
"""

from __future__ import annotations

from pathlib import Path

import aiguard
from aiguard import errors
from aiguard.providers import OpenAI
from aiguard.testing import FakeProvider, Reply

POLICY = Path(__file__).parent / "policies" / "fintech-support-bot.yaml"
# Who is calling: the application authenticated the customer and passes what it granted.
CUSTOMER = aiguard.CallContext.build(
    user="cust-1042", tenant="retail-banking", scopes={"ai.read", "ai.write"}
)


def main() -> None:
    with (
        FakeProvider() as fake,
        aiguard.Client(
            {"cloud-llm": OpenAI("gpt-4o-mini", base_url=fake.openai_url, api_key="offline")},
            policy=POLICY,
        ) as client,
    ):
        print(f"policy: {client.policy.metadata.name} (sha256 {client.policy.hash[:12]})")

        print("\n1. PII is pseudonymised on the way out and restored on the way back")
        question = (
            "Hi, I'm Jane. My card 4111 1111 1111 1111 was charged twice. "
            "Please reply to jane.doe@example.com."
        )
        fake.script(
            Reply(
                text="Sorry about that! I have opened a dispute for [CARD_1] and "
                "will write to [EMAIL_1] within two days."
            )
        )
        reply = client.chat(question, context=CUSTOMER, max_tokens=200)
        sent = fake.last_request.json["messages"][-1]["content"]  # type: ignore[union-attr]
        print(f"   provider received: {sent}")
        print(f"   customer reads:    {reply.text}")

        print("\n2. Investment advice is refused before anything is sent")
        before = len(fake.requests)
        try:
            client.chat("Which stocks should I buy? Give me investment advice.", context=CUSTOMER)
        except errors.ContentBlockedError as e:
            print(
                f"   refused: {e.category} ({e.direction}); requests sent: "
                f"{len(fake.requests) - before}"
            )

        print("\n3. An answer that gives investment advice is refused on the way back")
        fake.script(
            Reply(
                text="You should buy tech stocks now: guaranteed returns, "
                "a great investment opportunity."
            )
        )
        try:
            client.chat("What do you think about the markets today?", context=CUSTOMER)
        except errors.ContentBlockedError as e:
            print(f"   refused: {e.category} ({e.direction}); the customer sees nothing")

        print("\n4. A caller without the ai.write scope is refused")
        try:
            with aiguard.context(user="dashboard", scopes={"ai.read"}):  # the ambient form
                client.chat("Summarise today's tickets")
        except errors.MissingScopeError as e:
            print(f"   refused: missing scope(s) {', '.join(e.missing)}")

        print("\nquota left for this customer:")
        for u in client.usage(CUSTOMER):
            print(f"   {u.limit}: {u.remaining:,.0f} of {u.amount:,.0f}")


if __name__ == "__main__":
    main()
