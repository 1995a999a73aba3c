"""``aiguard policy validate`` and ``aiguard policy explain``.

``validate`` exists so a policy change fails in CI, with every mistake listed at once, rather
than at a deploy; ``explain`` answers "what would happen to this caller?" without an endpoint,
a counter store or a network, by rendering :meth:`Policy.explain`.
"""

from __future__ import annotations

import argparse
import re
from typing import IO, Any

from ..errors import ConfigError, PolicyError
from ._common import (
    EXIT_BLOCKED,
    EXIT_INVALID,
    EXIT_OK,
    context_dict,
    emit_json,
    load_policy,
    parse_context,
    parse_list,
    table,
)

__all__ = ["explain", "validate"]


_PATH = re.compile(r"^(apiVersion|kind|metadata|spec)\b|^line \d+, column \d+$")


def _split(problem: str) -> dict[str, str | None]:
    """``{"path", "message"}`` of one problem line (``path`` is None when it names none)."""
    path, sep, message = problem.partition(": ")
    if not sep or not _PATH.match(path):
        return {"path": None, "message": problem}
    return {"path": path, "message": message}


def validate(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Load the policy; on failure list every problem with its path (exit 1)."""
    try:
        policy = load_policy(args.file)
    except PolicyError as e:
        if args.json:
            emit_json(
                {"file": args.file, "valid": False, "problems": [_split(p) for p in e.problems]},
                out,
            )
        else:
            err.write(f"{args.file}: invalid ({len(e.problems)} problem(s))\n")
            for p in e.problems:
                err.write(f"  - {p}\n")
        return EXIT_INVALID
    warnings = _warnings(policy)
    endpoints = sorted(policy.referenced_endpoints())
    if args.json:
        emit_json(
            {
                "file": args.file,
                "valid": True,
                "name": policy.metadata.name,
                "hash": policy.hash,
                "referencedEndpoints": endpoints,
                "overrides": [o.name for o in policy.spec.overrides],
                "warnings": warnings,
            },
            out,
        )
        return EXIT_OK
    out.write(f"{args.file}: valid policy {policy.metadata.name!r}\n")
    out.write(f"  hash       {policy.hash}\n")
    out.write(f"  endpoints  {', '.join(endpoints) or '(none named by routing)'}\n")
    names = [o.name or f"overrides[{i}]" for i, o in enumerate(policy.spec.overrides)]
    out.write(f"  overrides  {', '.join(names) or '(none)'}\n")
    for w in warnings:
        err.write(f"warning: {w}\n")
    return EXIT_OK


def _warnings(policy: Any) -> list[str]:
    """Problems that depend on the environment rather than on the document (a ``hashKeyEnv``
    variable not set here): reported, but they do not make the document invalid."""
    from ..inspect import ContentInspector

    try:
        ContentInspector(policy.spec.content_moderation)
    except ConfigError as e:
        return [str(e)]
    return []


# --------------------------------------------------------------------------- explain


def explain(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Render ``Policy.explain`` for one hypothetical call; exit 2 if it would be refused."""
    policy = load_policy(args.file)
    ctx = parse_context(args.context, args.scopes)
    request: dict[str, Any] = {"model": args.model}
    if args.operation == "embeddings":
        request["input"] = [""]
    else:
        request["messages"] = []
        tools = parse_list(args.tools)
        if tools:
            request["tools"] = [{"type": "function", "function": {"name": t}} for t in tools]
    decisions = policy.explain(request, ctx)
    refusals = [d for d in decisions if d.get("outcome") == "refuse"]
    outcome = "refuse" if refusals else "allow"
    if args.json:
        emit_json(
            {
                "file": args.file,
                "context": context_dict(ctx),
                "request": {"operation": args.operation, "model": args.model},
                "outcome": outcome,
                "decisions": decisions,
            },
            out,
        )
    else:
        rows = [["context", _context_line(ctx)]]
        rows += [[d["step"], _render(d)] for d in decisions]
        rows.append(["outcome", _outcome_line(outcome, refusals)])
        out.write(table(rows) + "\n")
    return EXIT_BLOCKED if refusals else EXIT_OK


def _context_line(ctx: Any) -> str:
    data = context_dict(ctx)
    scopes = data.pop("scopes")
    tags = data.pop("tags", {})
    parts = [f"{k}={v}" for k, v in data.items()]
    parts += [f"tags.{k}={v}" for k, v in tags.items()]
    parts.append(f"scopes={','.join(scopes) or '(none)'}")
    return " ".join(parts)


def _outcome_line(outcome: str, refusals: list[dict[str, Any]]) -> str:
    if outcome == "allow":
        return "ALLOW (the call would be admitted, subject to content and limits at call time)"
    reasons = []
    for d in refusals:
        if d["step"] == "authorize":
            if d["missing"]:
                reasons.append(f"missing scope(s) {', '.join(d['missing'])}")
            if d["tools"]["denied"]:
                reasons.append(f"tool(s) not allowed: {', '.join(d['tools']['denied'])}")
        else:
            reasons.append(str(d.get("error", d["step"])))
    return "REFUSE: " + "; ".join(reasons)


def _names(values: list[Any]) -> str:
    return ", ".join(str(v) for v in values) if values else "(none)"


def _render(d: dict[str, Any]) -> str:
    step = d["step"]
    if step == "policy":
        return f"{d['name']} (sha256 {d['hash'][:12]})"
    if step == "overrides":
        if "error" in d:
            return f"REFUSE: {d['error']}"
        text = f"matched: {_names(d['matched'])}"
        if "matchedAfterRouting" in d:
            text += f"; after routing: {_names(d['matchedAfterRouting'])}"
        return text
    if step == "authorize":
        verdict = "ALLOW" if d["outcome"] == "allow" else "REFUSE"
        text = (
            f"{verdict} {d['operation']} ({d['type']}): requires {_names(d['required'])}; "
            f"holds {_names(d['held'])}"
        )
        if d["missing"]:
            text += f"; missing {_names(d['missing'])}"
        if d["tools"]["offered"]:
            text += f"; tools offered {_names(d['tools']['offered'])}"
        if d["tools"]["denied"]:
            text += f", denied {_names(d['tools']['denied'])}"
        return text
    if step == "moderation":
        return _render_moderation(d)
    if step == "route":
        return _render_route(d)
    if step == "limits":
        return _render_limits(d)
    if step == "cache":
        if not d["enabled"]:
            return "off"
        share = "shared across tenants" if d["shareAcrossTenants"] else "per tenant"
        return f"on: {d['backend']}, ttl {d['ttlSeconds']}s, {share}"
    if step == "logging":
        if not d["enabled"]:
            return "off (no audit record)"
        keep = f"{d['retentionDays']} days" if d["retentionDays"] else "no retention limit"
        content = "content captured (redacted)" if d["captureContent"] else "no content"
        return f"audit to {d['sink']}, kept {keep}, {content}"
    return ", ".join(f"{k}={v}" for k, v in d.items() if k != "step")


def _render_moderation(d: dict[str, Any]) -> str:
    if not d["enabled"]:
        return "off"
    entries = []
    for e in d["blockList"]:
        if isinstance(e, str):
            entries.append(e)
        else:
            keys = ("name", "term", "phrase", "category", "regex")
            what = next((e[k] for k in keys if k in e), "?")
            entries.append(f"{what} ({e['action']})" if "action" in e else str(what))
    parts = [f"block list: {_names(entries)}"]
    if d["pii"]:
        pii = d["pii"]
        action = pii.get("action") or d["defaultAction"]
        parts.append(f"pii {action}{' + restore' if pii.get('restore') else ''}")
    if d["secrets"]:
        parts.append(f"secrets {d['secrets'].get('action') or d['defaultAction']}")
    if d["topics"]:
        parts.append(f"topics {_names(d['topics'])}")
    parts.append(f"default action {d['defaultAction']}")
    return "; ".join(parts)


def _render_route(d: dict[str, Any]) -> str:
    if d["target"] is None:
        return "no route (the call would need model=, or the policy a default)"
    text = f"{d['target']}"
    if d["routeTo"] != d["target"]:
        text += f" (alias {d['routeTo']})"
    source = d["source"]
    if d.get("name"):
        source += f" {d['name']!r}"
    text += f" from {source}"
    if d.get("mandatory"):
        text += ", mandatory (never falls through)"
    group = d.get("group")
    if group:
        members = ", ".join(
            f"{m['endpoint']}" + (f"x{m['weight']:g}" if group["strategy"] == "weighted" else "")
            for m in group["members"]
        )
        text += f"; group {group['strategy']}: {members}"
    return text


def _number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,g}"


def _render_limits(d: dict[str, Any]) -> str:
    if not d["rules"]:
        return "none"
    rules = []
    for r in d["rules"]:
        counts = ", ".join(f"{k} {_number(v)}" for k, v in r["limits"].items())
        if r["key"].get("global"):
            key = "global"
        else:
            key = ", ".join(f"{k}={'-' if v is None else v}" for k, v in r["key"].items())
        rules.append(f"{r['name']}: {counts} per {key}")
    mode = d["mode"] + (f" (max wait {d['maxWait']:g}s)" if d["maxWait"] else "")
    return f"{'; '.join(rules)} [mode {mode}, store {d['store']}, fail {d['failMode']}]"
