"""The ``aiguard`` command's subcommands; :mod:`aiguard.cli` builds the parser and dispatches.

Each command is a function ``(args, out) -> int`` that returns an exit code from
:mod:`._common`, so the whole CLI can run in-process (tests call ``aiguard.cli.main([...])``)
and nothing here calls ``sys.exit``.
"""

from __future__ import annotations
