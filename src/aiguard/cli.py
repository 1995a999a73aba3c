"""The ``aiguard`` command: check policies and read usage without writing Python.

``main(argv)`` returns an exit code instead of exiting, so tests and other programs can run
it in-process; the console script and ``python -m aiguard`` pass it to ``sys.exit``. Exit
codes are a contract: 0 ok, 1 invalid input or policy, 2 blocked or refused by the policy,
64 a mistake on the command line. Results go to standard output (``--json`` for scripts),
errors to standard error.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Callable, Sequence
from typing import IO, NoReturn

from ._cli._common import (
    EXIT_BLOCKED,
    EXIT_INVALID,
    EXIT_OK,
    EXIT_USAGE,
    InvalidInput,
    UsageError,
)

__all__ = ["EXIT_BLOCKED", "EXIT_INVALID", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]

_EPILOG = """\
exit codes:
  0   ok (valid policy, allowed call, clean or rewritten text, report written)
  1   invalid input: a policy that does not load, a missing file or audit store
  2   blocked: `check` hit a blocking rule, `policy explain` shows a refused call
  64  usage error: unknown command, option or argument

examples:
  aiguard policy validate policy.yaml
  aiguard policy explain policy.yaml --context region=EU,tenant=acme --scopes ai.read \\
      --model chat-default
  echo "my card is 4111 1111 1111 1111" | aiguard check policy.yaml -
  aiguard usage --db audit.db --by tenant,model --since 7d
  aiguard report --db audit.db -o report.html

documentation: docs/cli.md
"""

_CONTEXT_HELP = (
    "the call context as key=value pairs, comma-separated or repeated: user, tenant, region, "
    "route, run_id, data_classification, tags.<name> (e.g. region=EU,tenant=acme)"
)


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that raises instead of exiting with argparse's code 2, which
    would collide with our "blocked" code."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def _wrap(text: str) -> str:
    """Descriptions are kept as written (the epilogs hold aligned examples), so wrap here."""
    return textwrap.fill(text, 79)


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=30)


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree (also used by the docs test that checks ``docs/cli.md``)."""
    from . import __version__

    parser = _Parser(
        prog="aiguard",
        description=_wrap("aiguard: check policies, try content inspection, read usage."),
        epilog=_EPILOG,
        formatter_class=_formatter,
    )
    parser.add_argument("--version", action="version", version=f"aiguard {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    policy = commands.add_parser(
        "policy", help="validate or explain a policy file", formatter_class=_formatter
    )
    policy_cmds = policy.add_subparsers(dest="policy_command", metavar="SUBCOMMAND")

    validate = policy_cmds.add_parser(
        "validate",
        help="check a policy file; list every problem with its path",
        description=_wrap(
            "Load a policy and report every problem at once, each with the path to "
            "fix (spec.rateLimit.requestsPerMinute: ...). Exit 1 if it does not load."
        ),
        epilog="example:\n  aiguard policy validate examples/policies/secure-llm-endpoint.yaml",
        formatter_class=_formatter,
    )
    validate.add_argument("file", help="the policy (YAML, or JSON by its .json extension)")
    validate.add_argument("--json", action="store_true", help="machine-readable output")
    validate.set_defaults(handler=_policy_validate)

    explain = policy_cmds.add_parser(
        "explain",
        help="show the decisions the policy would take for one call",
        description=_wrap(
            "Show what the policy decides for a call with this context: overrides, "
            "scopes, moderation, route, limits, cache and audit. Nothing is sent and no counter "
            "changes. Exit 2 if the call would be refused."
        ),
        epilog="example:\n  aiguard policy explain policy.yaml --context region=EU,tenant=acme "
        "\\\n      --scopes ai.read,ai.write --model chat-default",
        formatter_class=_formatter,
    )
    explain.add_argument("file", help="the policy file")
    explain.add_argument("--context", action="append", metavar="K=V,...", help=_CONTEXT_HELP)
    explain.add_argument("--scopes", metavar="A,B", help="scopes the caller holds")
    explain.add_argument("--model", help="the model or alias the call asks for")
    explain.add_argument(
        "--operation", choices=("chat", "embeddings"), default="chat", help="default: chat"
    )
    explain.add_argument("--tools", metavar="A,B", help="tool names the request offers")
    explain.add_argument("--json", action="store_true", help="machine-readable output")
    explain.set_defaults(handler=_policy_explain)

    check = commands.add_parser(
        "check",
        help="inspect a text with the policy's contentModeration",
        description=_wrap(
            "Run the policy's content inspection over a text and print the result: "
            "the text as it would be sent (redacted, masked, hashed) and the findings (category, "
            "action, offsets). A blocked text is withheld and the exit code is 2. Matched text "
            "is never printed."
        ),
        epilog="examples:\n  aiguard check policy.yaml --text 'mail me at jane@example.com'\n"
        "  aiguard check policy.yaml - < prompt.txt\n"
        "  aiguard check policy.yaml --direction output --json - < answer.txt",
        formatter_class=_formatter,
    )
    check.add_argument("file", help="the policy file")
    check.add_argument("source", nargs="?", metavar="-", help="read the text from stdin")
    check.add_argument("--text", help="the text to inspect")
    check.add_argument(
        "--direction",
        choices=("input", "output"),
        default="input",
        help="inspect as a prompt (input, default) or as an answer (output)",
    )
    check.add_argument("--context", action="append", metavar="K=V,...", help=_CONTEXT_HELP)
    check.add_argument("--scopes", metavar="A,B", help=argparse.SUPPRESS)
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.set_defaults(handler=_check)

    when = "a date (2026-03-01), a UTC time (2026-03-01T12:00) or a duration back (24h, 7d)"
    usage = commands.add_parser(
        "usage",
        help="usage table from a SQLite audit store",
        description=_wrap(
            "Calls, tokens, cost, policy findings, blocked calls, errors, cache hit "
            "rate and p50/p95 latency per group, from the audit store the policy's "
            "`logging: {sink: sqlite, path: ...}` writes."
        ),
        epilog="examples:\n  aiguard usage --db audit.db\n"
        "  aiguard usage --db audit.db --by tenant,model --since 7d --json",
        formatter_class=_formatter,
    )
    usage.add_argument("--db", required=True, metavar="PATH", help="the SQLite audit store")
    usage.add_argument(
        "--by",
        metavar="A,B",
        help="group by: tenant (default), user, model, endpoint, provider, route, region, "
        "outcome, day",
    )
    usage.add_argument("--since", metavar="WHEN", help=when)
    usage.add_argument("--until", metavar="WHEN", help=when)
    usage.add_argument("--json", action="store_true", help="machine-readable output")
    usage.set_defaults(handler=_usage)

    report = commands.add_parser(
        "report",
        help="write the offline HTML usage report",
        description=_wrap(
            "Write one self-contained HTML page (no scripts, nothing from the "
            "network) charting calls, tokens, cost, latency and findings per day."
        ),
        epilog="example:\n  aiguard report --db audit.db -o report.html --since 30d",
        formatter_class=_formatter,
    )
    report.add_argument("--db", required=True, metavar="PATH", help="the SQLite audit store")
    report.add_argument("-o", "--output", required=True, metavar="FILE", help="the HTML file")
    report.add_argument("--since", metavar="WHEN", help=when)
    report.add_argument("--until", metavar="WHEN", help=when)
    report.add_argument("--title", default="aiguard usage report", help="the page title")
    report.add_argument("--json", action="store_true", help="print {'output': path}")
    report.set_defaults(handler=_report)
    return parser


Handler = Callable[[argparse.Namespace, IO[str], IO[str]], int]


def _policy_validate(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    from ._cli._policy import validate

    return validate(args, out, err)


def _policy_explain(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    from ._cli._policy import explain

    return explain(args, out, err)


def _check(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    from ._cli._check import check

    return check(args, out, err)


def _usage(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    from ._cli._usage import usage

    return usage(args, out, err)


def _report(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    from ._cli._usage import report

    return report(args, out, err)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``aiguard`` command with ``argv`` (default: ``sys.argv[1:]``); return the
    exit code."""
    out, err = sys.stdout, sys.stderr
    parser = build_parser()
    try:
        try:
            args, extra = parser.parse_known_args(list(argv) if argv is not None else None)
        except SystemExit as e:  # --help and --version
            return e.code if isinstance(e.code, int) else EXIT_OK
        # argparse fills an optional positional before it sees later options, so the "-" of
        # `check FILE --json -` arrives here as an extra argument.
        if len(extra) == 1 and getattr(args, "source", "") is None and extra[0] == "-":
            args.source = extra.pop()
        if extra:
            raise UsageError(f"aiguard: unrecognized arguments: {' '.join(extra)}")
        handler: Handler | None = getattr(args, "handler", None)
        if handler is None:
            sub = "policy " if args.command == "policy" else ""
            raise UsageError(f"aiguard {sub}needs a command; see aiguard {sub}--help")
        return _run(handler, args, out, err)
    except UsageError as e:
        message = str(e)
        err.write(message if message.startswith("aiguard") else f"aiguard: {message}")
        err.write(" (see --help)\n")
        return EXIT_USAGE


def _run(handler: Handler, args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    from .errors import AIGuardError, PolicyError

    try:
        return handler(args, out, err)
    except PolicyError as e:
        err.write(f"aiguard: {e}\n")
        return EXIT_INVALID
    except (AIGuardError, InvalidInput) as e:
        err.write(f"aiguard: {e}\n")
        return EXIT_INVALID
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
