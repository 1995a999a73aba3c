"""A SaaS exposing models to third-party developers, with per-tenant budgets (seed scenario 3).

Each developer's app is a tenant, identified by its API key. The policy gives every tenant
its own request rate (5 per minute) and daily token budget (600), and audits every call to
SQLite. What it shows, against an offline FakeProvider:

1. Two tenants share the model; each call is counted against its own tenant only.
2. A burst from one tenant hits its rate limit (``RateLimited`` with ``retry_after``); the
   other tenant is unaffected.
3. A tenant that spends its daily tokens gets ``BudgetExceeded`` until the UTC day ends.
4. Remaining quota per tenant (``client.usage``), then the usage report from the audit log,
   the same table ``aiguard usage --db audit.db`` prints, and the HTML report.

Policy: ``examples/policies/saas-tenant-budgets.yaml``. Needs ``pip install 'aiguard[yaml]'``.
Run: ``python examples/saas_tenant_budgets.py``
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import aiguard
from aiguard import errors
from aiguard.policy import Policy
from aiguard.providers import OpenAI
from aiguard.telemetry import SQLiteAuditStore, usage_summary, write_html_report
from aiguard.testing import FakeProvider, Reply

POLICY = Path(__file__).parent / "policies" / "saas-tenant-budgets.yaml"

# What the platform's own authentication layer would look up: developer API key -> tenant.
DEVELOPER_KEYS = {"key-acme-demo": "acme-apps", "key-globex-demo": "globex-labs"}


def handle(client: aiguard.Client, api_key: str, prompt: str) -> str:
    """One request to the platform's API: authenticate, then call under the tenant's context."""
    tenant = DEVELOPER_KEYS[api_key]
    try:
        with aiguard.context(tenant=tenant, user=api_key, scopes={"models.invoke"}):
            reply = client.chat(prompt, max_tokens=40)
    except errors.RateLimited as e:
        return f"429 {tenant}: slow down, retry after {e.retry_after:.0f}s"
    except errors.BudgetExceeded as e:
        return f"402 {tenant}: daily token budget spent ({e.limit})"
    return f"200 {tenant}: {reply.usage.input_tokens + reply.usage.output_tokens} tokens"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, FakeProvider() as fake:
        db = Path(tmp) / "audit.db"
        # The same policy file, with the audit store pointed at this run's directory.
        policy = Policy.from_yaml(POLICY).layer({"spec": {"logging": {"path": str(db)}}})
        shared = OpenAI("gpt-4o-mini", base_url=fake.openai_url, api_key="offline")
        client = aiguard.Client({"shared-llm": shared}, policy=policy)

        print("1. two tenants, each counted on its own")
        fake.script(Reply(text="ok", usage=(30, 10)), Reply(text="ok", usage=(30, 10)))
        print("  ", handle(client, "key-acme-demo", "Classify this ticket: printer on fire"))
        print("  ", handle(client, "key-globex-demo", "Summarise: Q3 sales up 4%"))

        print("2. a burst from acme-apps hits its rate limit; globex-labs is unaffected")
        for i in range(5):
            print("  ", handle(client, "key-acme-demo", f"Tag ticket #{i}"))
        print("  ", handle(client, "key-globex-demo", "Summarise: Q4 sales flat"))

        print("3. globex-labs spends its daily token budget")
        fake.script(*[Reply(text="long answer", usage=(160, 100))] * 3)
        for i in range(3):
            print("  ", handle(client, "key-globex-demo", f"Write product copy #{i}"))

        print("4. quota left per tenant")
        for tenant in DEVELOPER_KEYS.values():
            for u in client.usage({"tenant": tenant}):
                if u.metric == "tokens":
                    print(f"   {tenant}: {u.remaining:,.0f} of {u.amount:,.0f} tokens left today")
        client.close()  # flushes the audit log

        print("\nusage by tenant (aiguard usage --db audit.db):")
        with SQLiteAuditStore(db) as store:
            print(usage_summary(store, group_by="tenant"))
            report = write_html_report(store, Path(tmp) / "report.html")
        print(f"\nHTML report: {report.name} ({report.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
