"""SVG snapshots of the list screens at 80x24 on the seeded database, and the app in 16 colours / NO_COLOR.

Every screenshot is taken after the app's workers finished (pages, counts,
stats), so it never shows a half-loaded screen; the seeded data and its
timestamps are fixed, and no screen shows a clock or a spinner.
Update with ``pytest tests/test_snapshots_lists.py --snapshot-update`` and
look at the report once before committing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from tests.seed import HOSTILE_MAILING, HOSTILE_NAME, HOSTILE_TEXTS, seed_small
from tui.app import BouncedeskApp
from tui.screens.recipients import RecipientsScreen

SIZE = (80, 24)


@pytest.fixture
def seeded(sqlite_db):
    return seed_small(sqlite_db)


def drive(*keys: str) -> Callable[..., Awaitable[None]]:
    """A ``run_before`` pressing ``keys`` one by one, letting every worker finish after each."""

    async def run_before(pilot) -> None:  # noqa: ANN001
        app = pilot.app

        async def settle() -> None:  # twice: a page's arrival starts the counts after the next repaint
            for _ in range(2):
                await pilot.pause()
                await app.workers.wait_for_complete()
            await pilot.pause()

        await settle()
        for key in keys:
            await pilot.press(key)
            await settle()

    return run_before


def test_mailings(seeded, snap_compare) -> None:
    assert snap_compare(BouncedeskApp(), run_before=drive(), terminal_size=SIZE)


def test_recipients_all(seeded, snap_compare) -> None:
    assert snap_compare(BouncedeskApp(), run_before=drive("enter"), terminal_size=SIZE)


def test_recipients_bounced(seeded, snap_compare) -> None:
    assert snap_compare(BouncedeskApp(), run_before=drive("enter", "b"), terminal_size=SIZE)


def test_recipients_pending_sorted_by_company_descending(seeded, snap_compare) -> None:
    assert snap_compare(BouncedeskApp(), run_before=drive("enter", "p", "t", "T"), terminal_size=SIZE)


def test_recipients_grouped_by_status(seeded, snap_compare) -> None:
    # the cursor moves from the selection mark to the Status column, then groups by it
    keys = ("enter", "right", "right", "right", "right", "g")
    assert snap_compare(BouncedeskApp(), run_before=drive(*keys), terminal_size=SIZE)


def test_blocked(seeded, snap_compare) -> None:
    assert snap_compare(BouncedeskApp(), run_before=drive("2"), terminal_size=SIZE)


def test_complaints(seeded, snap_compare) -> None:
    assert snap_compare(BouncedeskApp(), run_before=drive("3"), terminal_size=SIZE)


def test_help(seeded, snap_compare) -> None:
    assert snap_compare(BouncedeskApp(), run_before=drive("enter", "question_mark"), terminal_size=SIZE)


def test_hostile_texts_shown_literally(seeded, snap_compare) -> None:
    """The mailing of markup, RTL, CJK and over-long texts: every one appears as written."""

    async def run_before(pilot) -> None:  # noqa: ANN001
        app = pilot.app
        await drive()(pilot)
        app.push_screen(RecipientsScreen(seeded["hostile_mailing"]))
        await drive()(pilot)
        screen = app.screen
        shown = {row.values[0] for row in screen.table.window}
        assert shown == {name for name, _company, _diag in HOSTILE_TEXTS}
        assert HOSTILE_MAILING in screen.query_one("#title").render().plain

    assert snap_compare(BouncedeskApp(), run_before=run_before, terminal_size=SIZE)


def test_hostile_person_in_the_bounced_list(seeded, snap_compare) -> None:
    """The May mailing's bounced recipients include the person named ``[link=http://x]y[/link]``."""

    async def run_before(pilot) -> None:  # noqa: ANN001
        await drive("enter", "b")(pilot)
        assert HOSTILE_NAME in {row.values[0] for row in pilot.app.screen.table.window}

    assert snap_compare(BouncedeskApp(), run_before=run_before, terminal_size=SIZE)


# -- colours ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("env", "ansi"), [
    ({"NO_COLOR": "1"}, False),
    ({"TEXTUAL_COLOR_SYSTEM": "standard"}, False),
    ({"TEXTUAL_COLOR_SYSTEM": "standard", "NO_COLOR": "1"}, True),
])
async def test_app_works_without_colour_and_in_16_colours(seeded, monkeypatch, env, ansi) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    app = BouncedeskApp()
    app.ansi_color = ansi
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await drive("enter", "b")(pilot)
        screen = app.screen
        assert isinstance(screen, RecipientsScreen)
        assert screen.table.row_count == 13
        assert app.no_color == ("NO_COLOR" in env)
        assert "Bounced 13" in str(screen.query_one("#filterbar").render())
        row = "".join(segment.text for segment in screen.table.render_line(1))
        assert screen.table.window[0].values[0] in row
