"""What each part of the full policy costs, in CPU instructions per call (needs valgrind).

Timings on a shared machine drift by more than the differences worth knowing; instruction
counts under ``valgrind --tool=callgrind`` repeat to about 1%. For each variant this runs the
full-policy call of ``bench_pipeline.py`` (a new 1 KB prompt per call, canned provider bytes)
N and 3N times after a warm-up and prints ``(I(3N) - I(N)) / 2N``: the start-up, imports and
warm-up cancel out. Every thread is counted, the audit writer's included.

A policy block's cost is ``full-nosdk`` minus ``without-<block>`` (neither has the SDK). The
``-sdk`` rows add the OpenTelemetry SDK with a discarding span exporter and an in-memory
metric reader.

    python bench/bench_instructions.py                    # every variant (about 10 minutes)
    python bench/bench_instructions.py full-sdk none-nosdk
    python bench/bench_instructions.py --import           # instructions of `import aiguard`
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

BLOCKS = (
    "authentication",
    "contentModeration",
    "rateLimit",
    "cache",
    "endpointRouting",
    "logging",
)
VARIANTS = (
    "full-sdk",
    "full-nosdk",
    "none-sdk",
    "none-nosdk",
    *(f"without-{b}" for b in BLOCKS),
)
WARMUP, N = 200, 100


def _make_call(variant: str, tmp: Path) -> tuple[Any, Any]:
    """The client and the call to repeat for ``variant``."""
    import aiguard
    from bench_core import CTX, PROMPT_1KB, full_policy, sdk_telemetry
    from bench_pipeline import canned, endpoints

    sdk = variant.endswith("-sdk")  # the "without-" variants leave the SDK out too
    base = variant.removesuffix("-nosdk").removesuffix("-sdk")
    drop = () if base == "full" else BLOCKS if base == "none" else (base.removeprefix("without-"),)
    spec = full_policy(tmp / "audit.db")
    for block in drop:
        spec["spec"].pop(block, None)
    if "authentication" in drop:
        spec["spec"]["authentication"] = {"type": "none"}
    policy = aiguard.Policy.from_dict(spec)
    telemetry = sdk_telemetry(policy)[0] if sdk else None
    client = canned(aiguard.Client(endpoints(), policy=policy, telemetry=telemetry))
    counter = itertools.count()

    def call() -> None:
        messages = [{"role": "user", "content": f"{next(counter)} {PROMPT_1KB}"}]
        client.chat(messages, max_tokens=20, temperature=0, context=CTX)

    return client, call


def _child(variant: str, n: int) -> None:
    warnings.simplefilter("ignore")
    client, call = _make_call(variant, Path(tempfile.mkdtemp(prefix="aiguard-bench-")))
    for _ in range(WARMUP + n):
        call()
    client.close()


def _instructions(args: list[str], out: Path) -> int:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
    )
    for line in out.read_text().splitlines():
        if line.startswith("summary:"):
            return int(line.split()[1])
    raise RuntimeError(f"no summary line in {out}")


def per_call(variant: str, work: Path) -> int:
    me = [sys.executable, __file__, "--child", variant]
    low = _instructions([*me, str(N)], work / f"{variant}.{N}.out")
    high = _instructions([*me, str(3 * N)], work / f"{variant}.{3 * N}.out")
    return (high - low) // (2 * N)


def import_instructions(work: Path) -> int:
    bare = _instructions([sys.executable, "-c", "pass"], work / "bare.out")
    full = _instructions([sys.executable, "-c", "import aiguard"], work / "import.out")
    return full - bare


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("variants", nargs="*", metavar="VARIANT", help=", ".join(VARIANTS))
    parser.add_argument("--child", nargs=2, metavar=("VARIANT", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--import", dest="imp", action="store_true")
    parser.add_argument("-j", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], int(args.child[1]))
        return
    if shutil.which("valgrind") is None:
        print("instructions: valgrind is not installed; skipped")
        return
    work = Path(tempfile.mkdtemp(prefix="aiguard-callgrind-"))
    if args.imp:
        print(f"import aiguard: {import_instructions(work) / 1e6:.0f}M instructions")
        return
    names = args.variants or list(VARIANTS)
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {unknown}; choose from {', '.join(VARIANTS)}")
    with ThreadPoolExecutor(args.j) as pool:
        counts = dict(zip(names, pool.map(lambda v: per_call(v, work), names), strict=True))
    print("instructions per call, full-policy call with a new 1 KB prompt, canned I/O")
    for name, count in counts.items():
        print(f"  {name:<28} {count:>12,}")
    full = counts.get("full-nosdk")
    if full is not None:
        for block in BLOCKS:
            without = counts.get(f"without-{block}")
            if without is not None:
                print(f"  cost of {block:<20} {full - without:>12,}")
    if "full-sdk" in counts and full is not None:
        print(f"  cost of {'telemetry (SDK)':<20} {counts['full-sdk'] - full:>12,}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
