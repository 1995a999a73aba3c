"""Content inspection: throughput, clean-prompt latency and detection quality.

Run: ``.venv/bin/python bench/bench_inspect.py`` (add ``--quick`` for a shorter run).
``--instructions`` instead counts CPU instructions (needs valgrind): what inspecting the full
policy's 1 KB prompt (new each call) and its short canned answer costs per call, the figure
to compare versions by (timings on a shared machine drift more than the differences).

Prints, on one core:
  * MB/s of the default detector set (PII + secrets, redact) on realistic 1-4 KB prompts
    with sparse PII, and of the seed policy's set (PII + two topic lexicons);
  * microseconds for one clean 1 KB prompt (new, and seen before: texts found clean are
    remembered), and for a short reply;
  * the same prompts through five plain ``re`` patterns, for scale;
  * Presidio's analyzer side by side when ``presidio_analyzer`` is importable (optional);
  * precision / recall per PII entity on the generated labelled corpus (needs ``faker``).
Timings are CPU time of this process (``time.process_time``), the best of several
interleaved rounds: the least noisy estimate on a shared machine. Figures to read, never
assertions.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests" / "inspect"))

from aiguard.inspect import ContentInspector  # noqa: E402
from aiguard.inspect._memo import CLEAN  # noqa: E402
from aiguard.inspect._regex import engine as regex_engine  # noqa: E402

QUICK = "--quick" in sys.argv

PROSE = [
    "As AI agents become primary consumers of APIs, the importance of sophisticated API "
    "management only grows.",
    "We’re migrating the billing service to the new gateway — the old one is end-of-life.",
    "Can you summarise the attached meeting notes and list the action items per owner?",
    "Rewrite this paragraph so it sounds friendlier, but keep it under 120 words.",
    "The deployment failed at step 4 of 7; the logs mention a timeout after 30 seconds.",
    "Explain the difference between a mutex and a semaphore with a short Python example.",
    "Our Q3 revenue grew 12% to $4.2M, driven by 350 new customers in the EU region.",
    "Translate the following into German: “Thank you for your patience while we investigate.”",
    "def retry(fn, attempts=3):\n    for i in range(attempts):\n        try:\n"
    "            return fn()\n        except IOError:\n            time.sleep(2 ** i)",
    "The customer says the app crashes on Android 14 when uploading photos larger than 8 MB.",
    "Please draft a polite reminder about invoice INV-20931, due on 2024-07-15.",
    "Version 2.4.1 introduced the regression; 2.3.9 was fine according to the QA report.",
    "List three risks of the proposal and one mitigation for each, as a table.",
    "What's the time complexity of building a heap from n elements, and why?",
    "Order #8841239 shipped on Tuesday and should arrive within 3-5 business days.",
    "SELECT id, name FROM users WHERE created_at > '2024-01-01' ORDER BY id LIMIT 50;",
]
PII = [
    "You can reach me at maria.gonzalez@example.org if anything is unclear.",
    "My phone is (415) 555-2671, call after 5pm.",
    "The refund goes to card 4111 1111 1111 1111.",
    "Wire it to DE89 3704 0044 0532 0130 00 please.",
    "The server at 10.20.30.40 keeps dropping connections.",
]


def prompt(rng: random.Random, size: int, pii_every: int = 2048) -> str:
    parts: list[str] = []
    length = 0
    next_pii = rng.randint(pii_every // 4, pii_every)
    while length < size:
        if length >= next_pii:
            s = rng.choice(PII)
            next_pii += pii_every
        else:
            s = rng.choice(PROSE)
        parts.append(s)
        length += len(s) + 1
    return " ".join(parts)[:size]


def best_of(fn: Callable[[], object], number: int, repeat: int) -> float:
    """Seconds of this process's CPU per call: the best of ``repeat`` runs. CPU time, not
    wall time, so other processes on a shared machine do not count against us."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        t = time.process_time()
        for _ in range(number):
            fn()
        best = min(best, (time.process_time() - t) / number)
    return best


def throughputs(
    texts: list[str], contenders: list[tuple[str, Callable[[str], object]]], rounds: int
) -> dict[str, float]:
    """MB/s per contender; rounds interleave the contenders so that machine noise hits
    them alike, and each keeps its best round."""
    total = sum(len(t) for t in texts)
    best = {name: float("inf") for name, _ in contenders}
    for _ in range(rounds):
        for name, fn in contenders:
            CLEAN.clear()  # cold scans: no text is repeated within a round
            t = time.process_time()
            for text in texts:
                fn(text)
            best[name] = min(best[name], time.process_time() - t)
    return {name: total / seconds / 1e6 for name, seconds in best.items()}


FIVE_RE = [
    re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"),
    re.compile(r"\+?\d[\d ().-]{7,}\d"),
    re.compile(r"\b(?:\d[ -]?){13,19}\b"),
    re.compile(r"\b\d{3}-\d{2}-\d{4}\b"),
    re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b"),
]


def five_re(text: str) -> list[str]:
    out: list[str] = []
    for rx in FIVE_RE:
        out.extend(rx.findall(text))
    return out


_PRESIDIO = r"""
import json, os, sys, tempfile, time
import spacy, tldextract
# offline: the bundled public-suffix snapshot, and a blank spaCy pipeline (regex recognizers
# only; no NER model can be downloaded here)
tldextract.extract = tldextract.TLDExtract(suffix_list_urls=())
from presidio_analyzer import AnalyzerEngine
from presidio_analyzer.nlp_engine import SpacyNlpEngine
path = os.path.join(tempfile.gettempdir(), "aiguard-bench-spacy-blank-en")
if not os.path.exists(path):
    spacy.blank("en").to_disk(path)
engine = AnalyzerEngine(
    nlp_engine=SpacyNlpEngine(models=[{"lang_code": "en", "model_name": path}]),
    supported_languages=["en"],
)
texts = json.load(open(sys.argv[1]))
engine.analyze(text=texts[0], language="en")
best = float("inf")
for _ in range(int(sys.argv[2])):
    t = time.perf_counter()
    for text in texts:
        engine.analyze(text=text, language="en")
    best = min(best, time.perf_counter() - t)
print(sum(map(len, texts)) / best / 1e6)
"""


def presidio(texts: list[str], repeat: int) -> str:
    """Presidio's analyzer (regex recognizers, blank spaCy) on the same prompts, run by the
    interpreter in ``PRESIDIO_PYTHON`` (or this one if it has ``presidio_analyzer``)."""
    python = os.environ.get("PRESIDIO_PYTHON")
    if python is None:
        try:
            import presidio_analyzer  # type: ignore[import-not-found]  # noqa: F401
        except ImportError:
            return (
                "not installed (optional: pip install presidio-analyzer into any venv and set "
                "PRESIDIO_PYTHON=<its python>)"
            )
        python = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "texts.json"
        data.write_text(json.dumps(texts))
        script = Path(tmp) / "presidio_bench.py"
        script.write_text(_PRESIDIO)
        try:
            out = subprocess.run(
                [python, str(script), str(data), str(repeat)],
                capture_output=True,
                text=True,
                timeout=900,
                check=True,
            )
        except (OSError, subprocess.SubprocessError) as e:
            return f"could not run ({type(e).__name__})"
    return f"{float(out.stdout.strip().splitlines()[-1]):8.2f} MB/s"


def main() -> None:
    rng = random.Random(42)
    n = 60 if QUICK else 300
    repeat = 3 if QUICK else 7
    texts = [prompt(rng, rng.randint(1024, 4096)) for _ in range(n)]
    clean = prompt(random.Random(7), 1024, pii_every=10**9)

    default = ContentInspector(
        {
            "blockList": ["PII", "secrets"],
            "pii": {"action": "redact"},
            "secrets": {"action": "redact"},
        }
    )
    seed = ContentInspector(
        {"blockList": ["hate speech", "PII", "investment advice"], "pii": {"action": "redact"}}
    )
    found = sum(len(default.inspect_text(t).findings) for t in texts)
    size = sum(len(t) for t in texts) / len(texts)
    print(f"corpus: {len(texts)} prompts, mean {size:.0f} chars, {found} findings (sparse PII)")
    print(f"user-pattern engine: {regex_engine()}")
    print()
    print("throughput, CPU time on one core (best of interleaved rounds)")
    rows = [
        ("aiguard default set (PII+secrets)", lambda t: default.inspect_text(t)),
        ("aiguard seed set (PII+2 topics)", lambda t: seed.inspect_text(t)),
        ("five plain re patterns (scale)", five_re),
    ]
    for _name, fn in rows:
        fn(texts[0])  # warm up
    speeds = list(throughputs(texts, rows, repeat).items())
    scale = speeds[-1][1]
    for name, mbs in speeds:
        print(f"  {name:36s} {mbs:8.1f} MB/s   {mbs / scale:5.1f}x the plain-re scale")
    print(f"  {'presidio analyzer (regex, blank spaCy)':36s} {presidio(texts[:30], 2)}")
    print()
    calls = 200 if QUICK else 2000

    def cold(engine: ContentInspector, text: str, direction: str = "input") -> Callable[[], object]:
        def run() -> object:
            CLEAN.clear()  # as if the text were new
            return engine.inspect_text(text, direction)  # type: ignore[arg-type]

        return run

    us = best_of(cold(default, clean), calls, repeat) * 1e6
    us_seed = best_of(cold(seed, clean), calls, repeat) * 1e6
    print(f"clean 1 KB prompt: default set {us:.1f} us, seed set {us_seed:.1f} us (target < 50 us)")
    us = best_of(lambda: default.inspect_text(clean), calls, repeat) * 1e6
    us_seed = best_of(lambda: seed.inspect_text(clean), calls, repeat) * 1e6
    print(f"  the same prompt again (remembered clean): {us:.1f} us, {us_seed:.1f} us")
    reply = "Sure! Here is a short summary of the notes, with the action items per owner."
    us = best_of(cold(default, reply, "output"), calls, repeat) * 1e6
    us_seed = best_of(cold(seed, reply, "output"), calls, repeat) * 1e6
    print(f"  a short reply (77 chars), new each time:  {us:.1f} us, {us_seed:.1f} us")
    print()
    quality()


def quality() -> None:
    try:
        from inspect_corpus import ENTITIES, generate, score
    except ImportError:
        print("quality: faker not installed (pip install faker) -- skipped")
        return
    engine = ContentInspector({"pii": {"action": "flag"}})

    def detect(text: str) -> list[tuple[int, int, str]]:
        return [(f.start, f.end, f.category.split(".", 1)[1]) for f in engine.scan(text)]

    per = 200 if QUICK else 1000
    samples = generate(per_entity=per, seed=99, negatives=per * 3)
    results = score(samples, detect)
    print(f"detection quality: {per} labelled samples per entity + {per * 3} hard-negative texts")
    print(f"  {'entity':15s} {'precision':>9s} {'recall':>7s} {'tp':>6s} {'fp':>4s} {'fn':>4s}")
    for entity in ENTITIES:
        pr, rc, tp, fp, fn = results[entity]
        print(f"  {entity:15s} {pr:9.3f} {rc:7.3f} {tp:6d} {fp:4d} {fn:4d}")


# --------------------------------------------------------------------------- instructions

_CALLS = 100


def _instruction_child(mode: str, n: int) -> None:
    """``n`` calls after a warm-up: ``inspect`` inspects a new 1 KB prompt and the canned
    answer as the pipeline does; ``build`` only builds the request (subtracted)."""
    import itertools
    import warnings

    sys.path.insert(0, str(ROOT / "bench"))
    from aiguard._types import ChatRequest, ChatResponse, Message
    from aiguard.inspect import Vault
    from bench_core import PROMPT_1KB, full_policy

    warnings.simplefilter("ignore")
    spec = full_policy(Path(tempfile.gettempdir()) / "unused.db")["spec"]["contentModeration"]
    engine = ContentInspector(spec)
    answer = ChatResponse(text="Hello from the canned provider.")
    counter = itertools.count()
    for _ in range(200 + n):
        content = f"{next(counter)} {PROMPT_1KB}"
        request = ChatRequest(messages=(Message(role="user", content=content),))
        if mode == "inspect":
            vault = Vault()
            engine.inspect_request(request, vault=vault)
            engine.inspect_response(answer, vault=vault)


def _instructions(mode: str, n: int, out: Path) -> int:
    subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable,
         __file__, "--instruction-child", mode, str(n)],
        env={**os.environ, "PYTHONHASHSEED": "0"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
    )  # fmt: skip
    for line in out.read_text().splitlines():
        if line.startswith("summary:"):
            return int(line.split()[1])
    raise RuntimeError(f"no summary line in {out}")


def instructions() -> None:
    """Per call: ``(I(3N) - I(N)) / 2N`` of each mode, so start-up and warm-up cancel."""
    import shutil

    if shutil.which("valgrind") is None:
        print("instructions: valgrind is not installed; skipped")
        return
    with tempfile.TemporaryDirectory() as tmp:
        per = {}
        for mode in ("inspect", "build"):
            low = _instructions(mode, _CALLS, Path(tmp) / f"{mode}.low")
            high = _instructions(mode, 3 * _CALLS, Path(tmp) / f"{mode}.high")
            per[mode] = (high - low) // (2 * _CALLS)
    print("instructions per call, full policy, new 1 KB prompt in, canned answer out")
    print(f"  inspection (request + answer)  {per['inspect'] - per['build']:>10,}")


if __name__ == "__main__":
    if "--instruction-child" in sys.argv:
        i = sys.argv.index("--instruction-child")
        _instruction_child(sys.argv[i + 1], int(sys.argv[i + 2]))
    elif "--instructions" in sys.argv:
        instructions()
    else:
        main()
