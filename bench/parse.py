"""Parse speed: bouncedesk's parser against flufl.bounce on the whole corpus, in one process.

flufl.bounce's ``scan_message`` only finds addresses and needs an
``email.message.Message``, so its side includes ``email.message_from_bytes``;
ours goes from bytes to kinds, addresses, codes and reasons.  Several rounds,
interleaved, best round reported for each, then the ratio.  Both the wall
clock and this process's CPU time are measured: on a shared machine other
jobs steal wall time from whichever side happens to run, and the CPU-time
ratio is the steadier of the two.

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


def timed(func, messages: list[bytes]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) for one pass."""
    w0, c0 = time.perf_counter(), time.process_time()
    func(messages)
    return time.perf_counter() - w0, time.process_time() - c0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    args = ap.parse_args(argv)
    messages = [p.read_bytes() for p in sorted(args.corpus.glob("*.eml"))]
    _ours(messages), _flufl(messages)  # warm-up (imports, regex compilation)
    # interleave the rounds so that machine load hits both sides alike
    inf = float("inf")
    ours_w = ours_c = flufl_w = flufl_c = inf
    for _ in range(args.rounds):
        w, c = timed(_ours, messages)
        ours_w, ours_c = min(ours_w, w), min(ours_c, c)
        w, c = timed(_flufl, messages)
        flufl_w, flufl_c = min(flufl_w, w), min(flufl_c, c)
    n = len(messages)
    print(f"corpus: {n} messages, {sum(map(len, messages)) / 1e6:.1f} MB, best of {args.rounds} interleaved rounds")
    print(f"{'':12}{'wall':>16}{'cpu':>16}")
    print(f"{'bouncedesk':12}{n / ours_w:12,.0f} m/s{n / ours_c:12,.0f} m/s")
    print(f"{'flufl':12}{n / flufl_w:12,.0f} m/s{n / flufl_c:12,.0f} m/s")
    print(f"{'ratio':12}{flufl_w / ours_w:15.2f}x{flufl_c / ours_c:15.2f}x  (target >= 2x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
