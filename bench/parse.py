"""Parse speed: bouncedesk's parser against flufl.bounce on the whole corpus, in one process.

flufl.bounce's ``scan_message`` only finds addresses and needs an
``email.message.Message``, so its side includes ``email.message_from_bytes``;
ours goes from bytes to kinds, addresses, codes and reasons.  Several rounds,
best round reported for each, then the ratio.

    .venv/bin/python bench/parse.py [--rounds N]
"""

from __future__ import annotations

import argparse
import email
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flufl.bounce import scan_message  # noqa: E402  (bench-only dependency)

from ingest.parse import parse_bytes  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "messages"


def _ours(messages: list[bytes]) -> int:
    n = 0
    for data in messages:
        n += len(parse_bytes(data).recipients)
    return n


def _flufl(messages: list[bytes]) -> int:
    n = 0
    for data in messages:
        n += len(scan_message(email.message_from_bytes(data)))
    return n


def best_rate(func, messages: list[bytes], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        func(messages)
        best = min(best, time.perf_counter() - t0)
    return len(messages) / best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    args = ap.parse_args(argv)
    messages = [p.read_bytes() for p in sorted(args.corpus.glob("*.eml"))]
    _ours(messages), _flufl(messages)  # warm-up (imports, regex compilation)
    # interleave the rounds so that machine load hits both sides alike
    ours = flufl = 0.0
    for _ in range(args.rounds):
        ours = max(ours, best_rate(_ours, messages, 1))
        flufl = max(flufl, best_rate(_flufl, messages, 1))
    print(f"corpus: {len(messages)} messages, {sum(map(len, messages)) / 1e6:.1f} MB, best of {args.rounds} rounds")
    print(f"bouncedesk  {ours:10,.0f} messages/s")
    print(f"flufl      {flufl:10,.0f} messages/s")
    print(f"ratio       {ours / flufl:10.2f}x  (target >= 2x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
