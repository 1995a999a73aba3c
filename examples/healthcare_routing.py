"""A healthcare app routing private data on-prem and the rest to the cloud (seed scenario 2).

Two offline FakeProviders stand in for an on-premises vLLM server (OpenAI-compatible) and
AWS Bedrock. What it shows:

1. A patient summary (``data_classification="phi"``) goes on-prem; a general question goes
   to the cloud. The policy decides, from the call context; the code names no endpoint.
2. Asking for the cloud explicitly does not move private data there: the rule is mandatory.
3. EU traffic stays on-prem too (a second mandatory rule).
4. When the cloud is down, general traffic fails over to on-prem.
5. When on-prem is down, private data fails rather than leaking to the cloud.

Policy: ``examples/policies/healthcare-routing.yaml``.
Needs ``pip install 'aiguard[yaml,bedrock]'`` (botocore signs the Bedrock requests).
Run: ``python examples/healthcare_routing.py``
"""

from __future__ import annotations

from pathlib import Path

import aiguard
from aiguard import errors
from aiguard.providers import Bedrock, OpenAICompatible
from aiguard.testing import FakeProvider, Fault
from aiguard.tokens import Price, PriceTable

POLICY = Path(__file__).parent / "policies" / "healthcare-routing.yaml"
CLINICIAN = aiguard.CallContext.build(
    user="dr-okafor", tenant="st-mary", region="US", scopes={"clinical.assist"}
)


def main() -> None:
    with FakeProvider() as on_prem, FakeProvider() as cloud:
        endpoints = {
            "on-prem-llm": OpenAICompatible(on_prem.openai_url, "llama-3.1-8b-instruct"),
            "cloud-llm": Bedrock(
                "anthropic.claude-3-5-haiku-20241022-v1:0",
                region="us-east-1",
                base_url=cloud.url,
                # Credentials for the fake only; real ones come from the AWS credential chain.
                aws_access_key_id="offline-example",
                aws_secret_access_key="offline-example",
            ),
        }
        # The on-prem model costs nothing per token; say so rather than leave it unpriced.
        pricing = PriceTable({"llama-3.1-8b-instruct": Price(input=0.0, output=0.0)})
        with aiguard.Client(endpoints, policy=POLICY, pricing=pricing) as client:

            def ask(prompt: str, **facts: str) -> str:
                context = CLINICIAN.with_values(**facts)  # e.g. data_classification="phi"
                reply = client.chat(prompt, context=context, max_tokens=200)
                return f"{reply.endpoint} ({reply.provider})"

            print("1. the policy routes by data classification")
            summary = ask("Summarise: 54-year-old, type 2 diabetes", data_classification="phi")
            general = ask("What is a normal resting heart rate?", data_classification="public")
            print(f"   patient summary  -> {summary}")
            print(f"   general question -> {general}")

            print("2. a mandatory rule wins over model=")
            reply = client.chat(
                "Draft a discharge letter for bed 12",
                model="cloud-llm",
                context=CLINICIAN.with_values(data_classification="private"),
            )
            print(f"   asked for cloud-llm, served by {reply.endpoint}")

            print("3. EU traffic stays on-prem")
            print("   EU clinic        ->", ask("Translate 'fasting' into German", region="EU"))

            print("4. the cloud is down: general traffic fails over to on-prem")
            cloud.fault(Fault.status_code(503, retry_after=0, times=None))
            print("   general question ->", ask("List three causes of anaemia"))
            cloud.reset()

            print("5. on-prem is down: private data fails instead of leaving the building")
            on_prem.fault(Fault.status_code(503, retry_after=0, times=None))
            sent_to_cloud = len(cloud.requests)
            try:
                ask("Summarise the attached lab results", data_classification="phi")
            except errors.ProviderError as e:
                print(
                    f"   refused with {type(e).__name__} from {e.endpoint}; "
                    f"requests to the cloud: {len(cloud.requests) - sent_to_cloud}"
                )

            print("\nwhat the policy decides for PHI (aiguard policy explain, in code):")
            ctx = aiguard.CallContext(
                data_classification="phi", scopes=frozenset({"clinical.assist"})
            )
            for step in client.policy.explain(None, ctx):
                if step["step"] == "route":
                    print(
                        f"   route: {step['target']} from {step['source']} "
                        f"{step['name']!r}, mandatory={step['mandatory']}"
                    )


if __name__ == "__main__":
    main()
