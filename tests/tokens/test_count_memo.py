"""The token-count memo stays exact when threads count the same new texts at once."""

from __future__ import annotations

import threading

from aiguard._tokens._chat import _Counts


def test_racing_threads_keep_the_memo_accounting_exact() -> None:
    texts = [f"message number {i} " * (i % 7 + 1) for i in range(300)]
    together = threading.Barrier(8, timeout=30)

    def encode(text: str) -> list[int]:
        if text == texts[0]:
            together.wait()  # all eight threads have missed the same text and are counting it
        return list(range(len(text.split())))

    counts = _Counts(encode)

    def work() -> None:
        for text in texts:
            assert counts(text) == len(text.split())

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(counts._counts) == set(texts)
    assert counts._chars == sum(map(len, texts))  # each text held, and counted, once
