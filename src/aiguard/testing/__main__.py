"""``python -m aiguard.testing [--port N]``: run a FakeProvider in the foreground.

For trying an app or ``curl`` against a fake by hand, and for benchmarks that keep the server's
CPU out of the measured process. Prints the URL on the first line of stdout, then serves in
echo mode until interrupted (Ctrl-C or SIGTERM) or until stdin closes with ``--until-eof``.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from . import FakeProvider


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aiguard.testing", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--chunk-size", type=int, default=4, help="characters per stream event")
    parser.add_argument("--embed-dimensions", type=int, default=8)
    parser.add_argument(
        "--until-eof", action="store_true", help="stop when stdin closes (for parent processes)"
    )
    args = parser.parse_args(argv)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    fake = FakeProvider(
        host=args.host,
        port=args.port,
        chunk_size=args.chunk_size,
        embed_dimensions=args.embed_dimensions,
        log_limit=0,  # nobody reads the log of a foreground server: keep memory flat
    )
    with fake:
        print(fake.url, flush=True)
        try:
            if args.until_eof:
                sys.stdin.read()
            else:
                done.wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
