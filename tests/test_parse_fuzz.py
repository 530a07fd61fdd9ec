"""Robustness: mutated and truncated corpus messages never raise and never take long."""

from __future__ import annotations

import random
import time

from hypothesis import given, settings, HealthCheck
from hypothesis import strategies as st

from ingest.parse import MAX_MESSAGE_BYTES, parse_bytes, parse_unchecked
from tests.conftest import CORPUS

_MESSAGES = [p.read_bytes() for p in sorted((CORPUS / "messages").glob("*.eml"))]
_JUNK = [b"\r", b"\n", b"\r\n", b"\x00", b"\xff\xfe", b"=?utf-8?B?", b"--", b"boundary=", b"Content-Type: multipart/report; boundary=x\n",
         b"Final-Recipient: rfc822; ", b"@", b"<", b">", b"\t", b" " * 5000, b"a" * 20000, b"@a" * 3000, b"5.1.1 " * 500,
         b"\x1b$B", b"=\n", b"Content-Transfer-Encoding: base64\n", b"\n\n", b"From ", b"@example.com " * 200]


def mutate(rng: random.Random, data: bytes) -> bytes:
    """Truncate, splice, duplicate, flip bytes or insert junk (long lines included)."""
    op = rng.randrange(6)
    if op == 0:
        return data[: rng.randrange(len(data) + 1)]
    if op == 1:
        pos = rng.randrange(len(data) + 1)
        return data[:pos] + rng.choice(_JUNK) * rng.randrange(1, 20) + data[pos:]
    if op == 2:
        buf = bytearray(data)
        for _ in range(rng.randrange(1, 50)):
            if buf:
                buf[rng.randrange(len(buf))] = rng.randrange(256)
        return bytes(buf)
    if op == 3:
        a, b = sorted(rng.randrange(len(data) + 1) for _ in range(2))
        return data[:a] + data[a:b] * rng.randrange(2, 6) + data[b:]
    if op == 4:
        return data.replace(b"\n", rng.choice([b"\r", b"\r\n", b"", b" ", b"\n\n"]))
    other = rng.choice(_MESSAGES)
    return data[: rng.randrange(len(data) + 1)] + other[rng.randrange(len(other) + 1) :]


def test_ten_thousand_mutations_never_raise_nor_hang() -> None:
    rng = random.Random(20240611)  # fixed seed: reproducible and bounded in time
    slowest = (0.0, b"")
    for i in range(10_000):
        data = mutate(rng, _MESSAGES[i % len(_MESSAGES)])
        if rng.random() < 0.3:
            data = mutate(rng, data)
        t0 = time.process_time()
        msg = parse_unchecked(data, source=f"fuzz-{i}")  # raises on a bug: parse_bytes would hide it
        took = time.process_time() - t0
        if took > slowest[0]:
            slowest = (took, data)
        assert msg.kind in ("bounce", "delay", "complaint", "autoreply", "delivered", "other")
        for rec in msg.recipients:
            assert isinstance(rec.address, str) and isinstance(rec.reason, str)
    # issue 3's per-message budget (50 ms), in CPU time of this process: on a
    # shared 2-core machine wall time also counts the other jobs' turns.  The
    # slowest input is timed again (best of 3) so that a cache or scheduler
    # hiccup is not mistaken for catastrophic backtracking, which would be
    # slow every time.
    best = min(_timed(slowest[1]) for _ in range(3))
    assert best < 0.05, f"slowest message took {best * 1000:.1f} ms ({len(slowest[1])} bytes)"


def _timed(data: bytes) -> float:
    t0 = time.process_time()
    parse_unchecked(data)
    return time.process_time() - t0


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000))
def test_arbitrary_bytes(data: bytes) -> None:
    msg = parse_unchecked(data)
    assert msg.error is None


def test_long_lines_are_fast() -> None:
    evil = [
        b"Subject: x\n\n" + b"a" * 2_000_000,
        b"Subject: x\n\n" + b"@" * 500_000,
        b"Subject: x\n\n" + b"a@b." * 300_000,
        b"From: MAILER-DAEMON\nSubject: Undelivered\n\n" + (b"<x@y.zz> 550 5.1.1 user unknown " * 50_000),
        b"Content-Type: multipart/report; boundary=b\n\n" + b"--b\n" * 100_000,
    ]
    for data in evil:
        t0 = time.perf_counter()
        parse_unchecked(data)
        assert time.perf_counter() - t0 < 2.0


def test_oversized_message_is_an_error_not_a_crash() -> None:
    msg = parse_bytes(b"x" * (MAX_MESSAGE_BYTES + 1), source="big.eml")
    assert msg.error is not None and "25 MB" in msg.error
    assert msg.recipients == []
