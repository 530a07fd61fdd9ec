"""The real app, headless, over a mailing of 1,000,000 recipients.

Targets (issue 5): first screen of a mailing's recipients 150 ms, a filter
switch 50 ms, a page down 30 ms, a sort change 100 ms, peak memory 150 MB.

The database is ``bench/dataset.py``'s 1M build with every recipient moved
into one mailing (``bench/queries.py: one_mailing_copy``): the worst case,
a single mailing of a million recipients.  ``BouncedeskApp`` runs under
``App.run_test()`` (headless, 120x40 unless ``--size``) and a pilot; each operation is timed
from the key (or the screen push) to the first frame painted while the rows
it asks for are in the table (a spy on ``App._display``, through which every
repaint goes, checks the operation's condition at each frame; until 14:40 the
bench polled the condition and then waited for the next frame, which missed a
frame painted before its own task ran and so counted the one after).  Keys
are sent as the terminal driver would send them, without the pilot's idle
waits.

* first screen: ``push_screen(RecipientsScreen(mailing))``, which is what
  Enter on the mailings screen does, until the first page is shown;
* filter switch: ``b`` (Bounced), until the first bounced page is shown;
* page down: ``pagedown`` ten times from the top, each timed until the
  cursor's new screenful is painted; the rows are already in the window (it
  fetches the next page in a worker, after that paint, when the cursor
  nears its edge), so the fetch is not part of the time: it completes in
  the pause between two keys, as it would while a person reads the screen;
* sort change: ``t`` (next sort column), until its first page is shown.

Memory: the growth of the process's peak RSS (``ru_maxrss``) from just
before the app starts to the end of all runs (the database's page cache
included), not tracemalloc (which slows Python code several times).

References, measured in the same run so the numbers compare on a noisy
machine: the bare ``fetch_page`` call for the same first page (the query
cost without Textual), and pushing an empty screen with one ``Static``
(Textual's own cost of showing a screen).  The page-query plan cache is
cleared before each run, so every first screen pays for its SQL generation.

Run: ``python bench/tui.py [--runs 5] [--recipients N] [--size 80x24] [--db FILE]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGETS = {"first screen": 150.0, "filter switch": 50.0, "page down": 30.0, "sort change": 100.0}
SIZE = (120, 40)


def prepare(recipients: int) -> Path:
    """Build (or find) the one-mailing database; in a child process, so its memory is not ours."""
    out = subprocess.run(
        [sys.executable, __file__, "--prepare", "--recipients", str(recipients)],
        check=True, capture_output=True, text=True,
    )
    return Path(out.stdout.strip().splitlines()[-1])


def _prepare_here(recipients: int) -> None:
    from bench.dataset import build
    from bench.queries import one_mailing_copy

    src = build(addresses=recipients, recipients=recipients, verbose=True)
    print(one_mailing_copy(src))


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class Frames:
    """When the app paints: wraps ``App._display``, which every repaint goes through (headless,
    the frame is fully computed and then not written anywhere).  While an operation is timed, the
    spy checks its condition at each frame, so the time is that of the first frame painted with
    the asked-for state (a frame can come before the bench's own task sees the state change)."""

    def __init__(self, app) -> None:  # noqa: ANN001
        self.condition: Callable[[], bool] | None = None
        self.hit: float | None = None
        original = app._display

        def spy(screen, renderable) -> None:  # noqa: ANN001
            if renderable is not None and self.condition is not None and self.hit is None:
                now = time.perf_counter()
                if self.condition():
                    self.hit = now
            return original(screen, renderable)

        app._display = spy


def send_key(app, key: str) -> None:  # noqa: ANN001
    """Send one key as the terminal would (no pilot idle-waits, which would pad the timings)."""
    from textual import events

    event = events.Key(key, key if len(key) == 1 else None)
    event.set_sender(app)
    app._driver.send_message(event)


async def until(frames: Frames, condition: Callable[[], bool], timeout: float = 30.0) -> float:
    """Wait until the app has painted a frame while ``condition()`` held: that frame's time."""
    frames.condition, frames.hit = condition, None
    deadline = time.perf_counter() + timeout
    try:
        while frames.hit is None and not condition():
            if time.perf_counter() > deadline:
                raise TimeoutError("the app did not get there in time")
            await asyncio.sleep(0.0002)
        held = time.perf_counter()
        while frames.hit is None:
            if time.perf_counter() > held + 1.0:
                return held  # nothing left to repaint
            await asyncio.sleep(0.0002)
        return frames.hit
    finally:
        frames.condition = None


class Profile:
    """cProfile of the UI thread during one named operation (``--profile``), summed over runs."""

    def __init__(self, operation: str | None) -> None:
        import cProfile

        self.operation = operation
        self.profiler = cProfile.Profile() if operation else None

    def start(self, operation: str) -> None:
        if self.profiler is not None and operation == self.operation:
            self.profiler.enable()

    def stop(self, operation: str) -> None:
        if self.profiler is not None and operation == self.operation:
            self.profiler.disable()

    def report(self) -> None:
        if self.profiler is not None:
            import pstats

            path = ROOT / "bench" / ".data" / f"tui-{self.operation.replace(' ', '-')}.prof"
            self.profiler.dump_stats(path)
            print(f"profile of {self.operation!r} saved to {path} (python -m pstats)")
            pstats.Stats(self.profiler).sort_stats("cumulative").print_stats(45)
            pstats.Stats(self.profiler).sort_stats("tottime").print_stats(25)


async def measure(db_path: Path, runs: int, profile: Profile) -> dict[str, list[float]]:
    from textual.screen import Screen
    from textual.widgets import Static

    import models.queries as queries
    from models.db import open_database
    from models.queries import RECIPIENT_FILTERS, fetch_page
    from models.filters import ViewFilter
    from models.schema import Mailing, Recipient
    from tui.app import BouncedeskApp
    from tui.dbthread import db_call
    from tui.screens.recipients import RecipientsScreen

    open_database(f"sqlite:///{db_path}", migrate=False)
    mailing = Recipient.select(Recipient.mailing).limit(1).scalar()
    name = Mailing.get_by_id(mailing).name
    size = Recipient.select().where(Recipient.mailing == mailing).count()
    print(f"mailing {mailing} ({name!r}): {size:,} recipients; terminal {SIZE[0]}x{SIZE[1]}, {runs} runs;"
          f" load average {os.getloadavg()[0]:.2f}")

    class Empty(Screen):
        def compose(self):  # noqa: ANN202
            yield Static("empty")

    times: dict[str, list[float]] = {k: [] for k in
                                      ("first screen", "filter switch", "page down", "sort change",
                                       "ref: fetch_page", "ref: empty screen")}
    rss_before = maxrss_mb()
    app = BouncedeskApp(screen="mailings")
    async with app.run_test(size=SIZE) as pilot:
        frames = Frames(app)
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()

        async def settle() -> None:  # twice: a page's arrival starts the counts after the next repaint
            for _ in range(2):
                await pilot.pause()
                await app.workers.wait_for_complete()
            await pilot.pause()

        for _run in range(runs):
            # reference 1: the bare query of the same first page, plan cache cold
            queries._PLANS.clear()
            f = ViewFilter("recipients", mailing_id=mailing, statuses=RECIPIENT_FILTERS["all"][1])
            t = time.perf_counter()
            db_call(fetch_page, f)
            times["ref: fetch_page"].append((time.perf_counter() - t) * 1000)
            # reference 2: Textual showing an empty screen
            t = time.perf_counter()
            empty = Empty()
            app.push_screen(empty)
            shown = await until(frames, lambda: app.screen is empty and empty.is_mounted)
            times["ref: empty screen"].append((shown - t) * 1000)
            app.pop_screen()
            await settle()

            queries._PLANS.clear()
            profile.start("first screen")
            t = time.perf_counter()
            screen = RecipientsScreen(mailing, mailing_name=name)
            app.push_screen(screen)
            shown = await until(frames, lambda: app.screen is screen and screen.is_mounted
                                and screen.table.row_count > 0 and not screen.table.fetching)
            profile.stop("first screen")
            times["first screen"].append((shown - t) * 1000)
            table = screen.table
            await settle()

            profile.start("filter switch")
            t = time.perf_counter()
            send_key(app, "b")
            shown = await until(frames, lambda: table.filter.statuses == ("bounced",) and not table.fetching
                                and table.row_count > 0)
            profile.stop("filter switch")
            times["filter switch"].append((shown - t) * 1000)
            await settle()

            send_key(app, "a")
            await until(frames, lambda: len(table.filter.statuses) > 1 and not table.fetching)
            await settle()
            for _ in range(10):
                row = table.cursor_coordinate.row
                profile.start("page down")
                t = time.perf_counter()
                send_key(app, "pagedown")
                shown = await until(frames, lambda: table.cursor_coordinate.row != row)
                profile.stop("page down")
                times["page down"].append((shown - t) * 1000)
                await settle()

            before = table.sort
            profile.start("sort change")
            t = time.perf_counter()
            send_key(app, "t")
            shown = await until(frames, lambda: table.sort != before and not table.fetching
                                and table.row_count > 0)
            profile.stop("sort change")
            times["sort change"].append((shown - t) * 1000)
            await settle()

            app.pop_screen()
            await settle()
    times["peak RSS growth MB"] = [maxrss_mb() - rss_before]
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--db", type=Path, default=None,
                        help="use this one-mailing database file instead of building one")
    parser.add_argument("--size", default="120x40", help="terminal size, WIDTHxHEIGHT (default 120x40)")
    parser.add_argument("--profile", choices=list(TARGETS), default=None,
                        help="print a cProfile of the UI thread during this operation")
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.prepare:
        _prepare_here(args.recipients)
        return 0
    global SIZE
    width, height = (int(n) for n in args.size.lower().split("x"))
    SIZE = (width, height)
    db_path = args.db.resolve() if args.db else prepare(args.recipients)
    profile = Profile(args.profile)
    times = asyncio.run(measure(db_path, args.runs, profile))
    profile.report()
    ref_query = statistics.median(times["ref: fetch_page"])
    ref_screen = statistics.median(times["ref: empty screen"])
    print(f"\n{'operation':<16} {'median':>9} {'max':>9} {'target':>8}  ratio to empty-screen push")
    for key, target in TARGETS.items():
        values = times[key]
        med = statistics.median(values)
        mark = "ok" if med <= target else "MISS"
        print(f"{key:<16} {med:7.1f} ms {max(values):7.1f} ms {target:6.0f} ms  {med / ref_screen:5.1f}x  {mark}")
    print(f"{'ref: fetch_page':<16} {ref_query:7.1f} ms {max(times['ref: fetch_page']):7.1f} ms"
          "           (the first page's query alone)")
    print(f"{'ref: empty push':<16} {ref_screen:7.1f} ms {max(times['ref: empty screen']):7.1f} ms"
          "           (Textual pushing an empty screen)")
    print(f"load average at the end {os.getloadavg()[0]:.2f} (1 min; 2 cores shared)")
    rss = times["peak RSS growth MB"][0]
    print(f"peak RSS growth {rss:.0f} MB (ru_maxrss, app start to end of all runs; target 150 MB)"
          f"  {'ok' if rss <= 150 else 'MISS'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
