"""The list screens driven with the pilot: navigation, filters, selection, sort, group, search, paging."""

from __future__ import annotations

import datetime as dt

import pytest

from models.filters import ViewFilter
from models.queries import RECIPIENT_FILTERS, fetch_page, offset_page, recipient_filter
from models.schema import Mailing, Recipient
from tests.seed import HOSTILE_DIAGNOSTIC, HOSTILE_NAME, seed_small
from tui.app import BouncedeskApp
from tui.cli import build_parser
from tui.screens.blocked import BlockedScreen
from tui.screens.complaints import ComplaintsScreen
from tui.screens.mailings import MailingsScreen
from tui.screens.recipients import RecipientsScreen
from tui.widgets import paged_table


@pytest.fixture
def seeded(sqlite_db):
    return seed_small(sqlite_db)


async def settle(app, pilot) -> None:
    """Until no worker runs: a page's arrival starts the counts after the next repaint."""
    for _ in range(2):
        await pilot.pause()
        await app.workers.wait_for_complete()
    await pilot.pause()


async def open_may(app, pilot) -> RecipientsScreen:
    await settle(app, pilot)
    assert isinstance(app.screen, MailingsScreen)
    await pilot.press("enter")  # the newest mailing is first: May
    await settle(app, pilot)
    assert isinstance(app.screen, RecipientsScreen)
    return app.screen


def plain_cells(table, row_id: int) -> list[str]:
    return [c.plain for c in table.get_row(str(row_id))]


async def test_mailings_show_rates_and_open_recipients(seeded) -> None:
    app = BouncedeskApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        table = app.screen.table
        assert [r.id for r in table.window][:1] == [seeded["may"]]
        may = table.stats[seeded["may"]]
        assert may.sent == 41 and may.bounced == 13
        assert plain_cells(table, seeded["may"])[3] == "41"
        screen = await open_may(app, pilot)
        assert screen.mailing_id == seeded["may"]
        await pilot.press("escape")
        await settle(app, pilot)
        assert isinstance(app.screen, MailingsScreen)


async def test_recipient_filters_and_counts(seeded) -> None:
    app = BouncedeskApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_may(app, pilot)
        assert screen.filter_counts["all"] == 41
        for name, key in (("sent", "s"), ("bounced", "b"), ("opened", "o"), ("pending", "p"),
                          ("complained", "c"), ("all", "a")):
            await pilot.press(key)
            await settle(app, pilot)
            statuses = RECIPIENT_FILTERS[name][1]
            rows = screen.table.window
            assert len(rows) == screen.filter_counts[name] == screen.total
            assert {r.values[3] for r in rows} <= set(statuses)
        bar = str(screen.query_one("#filterbar").render())
        assert "Bounced 13" in bar and "All 41" in bar


async def test_hostile_text_is_shown_literally(seeded) -> None:
    app = BouncedeskApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_may(app, pilot)
        await pilot.press("b")
        await settle(app, pilot)
        hostile = next(r for r in screen.table.window if r.values[0] == HOSTILE_NAME)
        cells = plain_cells(screen.table, hostile.id)
        assert HOSTILE_NAME in cells and "[bold]Evil[/bold] & Co" in cells
        rec = Recipient.get_by_id(hostile.id)
        assert rec.diagnostic == HOSTILE_DIAGNOSTIC


async def test_selection_toggle_all_and_clear(seeded) -> None:
    app = BouncedeskApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_may(app, pilot)
        await pilot.press("b")
        await settle(app, pilot)
        assert screen.current_target() is None
        await pilot.press("space", "down", "space", "down", "space", "up", "space")
        first, third = screen.table.window[0].id, screen.table.window[2].id
        target = screen.current_target()
        assert target is not None and target.ids == frozenset({first, third})
        assert target.filter.mailing_id == seeded["may"] and target.filter.statuses == ()
        assert "Selected: 2" in str(screen.query_one("#status").render())
        assert plain_cells(screen.table, first)[0] == "✓"
        await pilot.press("u")
        assert screen.current_target() is None
        await pilot.press("asterisk")
        target = screen.current_target()
        assert target is not None and target.ids is None
        assert target.filter == recipient_filter(seeded["may"], "bounced")
        assert "Selected: all 13 in filter" in str(screen.query_one("#status").render())
        await pilot.press("space")  # every row is selected: the row cannot be toggled alone
        assert screen.current_target().ids is None
        await pilot.press("u")
        assert screen.current_target() is None


async def test_sort_keys_and_header_click(seeded) -> None:
    app = BouncedeskApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_may(app, pilot)
        f = screen.view_filter()
        assert screen.table.sort == "name"
        await pilot.press("t")
        await settle(app, pilot)
        assert screen.table.sort == "company" and not screen.table.desc
        assert [r.id for r in screen.table.window] == [r.id for r in fetch_page(f, "company", False)]
        await pilot.press("T")
        await settle(app, pilot)
        assert screen.table.desc
        assert [r.id for r in screen.table.window] == [r.id for r in fetch_page(f, "company", True)]
        await pilot.click("#rows", offset=(64, 0))  # the header of the Status column
        await settle(app, pilot)
        assert screen.table.sort == "status"


async def test_group_by_column_and_drill_in(seeded) -> None:
    app = BouncedeskApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_may(app, pilot)
        await pilot.press("right", "right")  # the cursor on the Company column
        assert screen.table.current_column().key == "company"
        await pilot.press("g")
        await settle(app, pilot)
        assert screen.grouping == "company"
        labels = {label: n for _v, label, n in screen.groups}
        assert labels["Acme GmbH"] == 10 and sum(labels.values()) == 41
        index = next(i for i, g in enumerate(screen.groups) if g[1] == "Acme GmbH")
        screen.query_one("#groups").move_cursor(row=index)
        await pilot.press("enter")
        await settle(app, pilot)
        assert screen.extra == (("company", "Acme GmbH"),)
        assert len(screen.table.window) == 10 and screen.total == 10
        assert {r.values[1] for r in screen.table.window} == {"Acme GmbH"}
        await pilot.press("escape")  # out of the group
        await settle(app, pilot)
        assert screen.extra == () and len(screen.table.window) == 41
        await pilot.press("left", "g")  # the Name column cannot be grouped
        await settle(app, pilot)
        assert screen.grouping is None


async def test_search_and_escape(seeded) -> None:
    app = BouncedeskApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_may(app, pilot)
        await pilot.press("slash", *"[link", "enter")
        await settle(app, pilot)
        assert screen.search == "[link"
        assert [r.values[0] for r in screen.table.window] == [HOSTILE_NAME]
        assert screen.filter_counts["all"] == 1
        await pilot.press("escape")
        await settle(app, pilot)
        assert screen.search is None and len(screen.table.window) == 41
        await pilot.press("slash", "x", "escape")  # cancelled: nothing applied
        await settle(app, pilot)
        assert screen.search is None and isinstance(app.screen, RecipientsScreen)


async def test_number_keys_switch_screens_and_keep_stacks(seeded) -> None:
    app = BouncedeskApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_may(app, pilot)
        await pilot.press("2")
        await settle(app, pilot)
        assert isinstance(app.screen, BlockedScreen)
        assert len(app.screen.table.window) == len(seeded["blocked"])
        await pilot.press("3")
        await settle(app, pilot)
        assert isinstance(app.screen, ComplaintsScreen)
        assert {r.id for r in app.screen.table.window} == set(seeded["complaints"])
        await pilot.press("1")
        await settle(app, pilot)
        assert isinstance(app.screen, RecipientsScreen)  # the mailings stack kept its place
        await pilot.press("4")
        await settle(app, pilot)


async def test_account_switch_on_blocked(seeded) -> None:
    app = BouncedeskApp(screen="blocked")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, BlockedScreen) and app.account_id is None
        everyone = len(app.screen.table.window)
        await pilot.press("a")
        await settle(app, pilot)
        assert app.account_id == seeded["accounts"]["acme"]
        assert len(app.screen.table.window) == everyone - 1  # the Beta block is gone
        assert {r.values[6] for r in app.screen.table.window} == {"Acme Newsletters"}


@pytest.mark.parametrize("name,screen", [("mailings", MailingsScreen), ("blocked", BlockedScreen),
                                         ("complaints", ComplaintsScreen)])
async def test_screen_option(seeded, name, screen) -> None:
    args = build_parser().parse_args(["--screen", name])
    app = BouncedeskApp(screen=args.screen)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, screen)


async def test_paging_walks_the_whole_filter_with_a_bounded_window(seeded, monkeypatch) -> None:
    monkeypatch.setattr(paged_table, "PAGE_SIZE", 20)
    monkeypatch.setattr(paged_table.PagedTable, "WINDOW_MAX", 60)
    monkeypatch.setattr(paged_table.PagedTable, "MARGIN", 5)
    big = Mailing.create(account=seeded["accounts"]["acme"], code="big", name="Big", sent_at=dt.datetime(2030, 1, 1))
    Recipient.insert_many([
        {"mailing": big, "email": f"r{i:04d}@big.example", "domain": "big.example", "name": f"R {i % 37:02d}",
         "status": ("sent", "bounced", "opened")[i % 3], "phase": ("sent", "bounced", "opened")[i % 3]}
        for i in range(250)
    ]).execute()
    f = ViewFilter("recipients", mailing_id=big.id, statuses=RECIPIENT_FILTERS["all"][1])
    expected = [r.id for r in offset_page(f, "name", False, limit=1000)]
    app = BouncedeskApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("enter")  # "Big" is the newest mailing
        await settle(app, pilot)
        table = app.screen.table

        def contiguous() -> None:
            ids = [r.id for r in table.window]
            start = expected.index(ids[0])
            assert ids == expected[start:start + len(ids)]
            assert len(ids) <= 60

        for _ in range(40):
            await pilot.press("pagedown")
            await settle(app, pilot)
            contiguous()
            if table.current_row().id == expected[-1]:
                break
        assert table.current_row().id == expected[-1] and table.at_end and not table.at_start
        for _ in range(40):  # and back up, across dropped pages
            await pilot.press("pageup")
            await settle(app, pilot)
            contiguous()
            if table.current_row().id == expected[0]:
                break
        assert table.current_row().id == expected[0] and table.at_start
        await pilot.press("right", "right")
        column = table.cursor_coordinate.column
        await pilot.press("ctrl+end")  # the filter's last row, not the last row held; the same column
        await settle(app, pilot)
        assert table.current_row().id == expected[-1] and table.at_end
        assert table.cursor_coordinate.column == column
        contiguous()
        await pilot.press("pageup", "pageup", "pageup")
        await settle(app, pilot)
        contiguous()
        await pilot.press("ctrl+home")
        await settle(app, pilot)
        assert table.current_row().id == expected[0] and table.at_start


async def test_reload_refreshes_rows_in_place(seeded) -> None:
    app = BouncedeskApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_may(app, pilot)
        await pilot.press("b")
        await settle(app, pilot)
        first = screen.table.window[0]
        Recipient.update(status="delivered", phase="sent").where(Recipient.id == first.id).execute()
        second = screen.table.window[1]
        Recipient.update(name="Renamed Person").where(Recipient.id == second.id).execute()
        screen.reload()
        await settle(app, pilot)
        ids = [r.id for r in screen.table.window]
        assert first.id not in ids and second.id in ids  # the renamed row at its place in name order
        assert plain_cells(screen.table, second.id)[1] == "Renamed Person"
        names = [plain_cells(screen.table, i)[1] for i in ids]
        assert names == sorted(names, key=str.lower) or names == sorted(names)
        assert screen.filter_counts["bounced"] == 12
        assert len(ids) == 12


async def test_rows_entering_the_filter_are_shown_on_reload(seeded) -> None:
    """The count and the rows agree after a reload: a row that entered the filter between the visible rows
    (an undo, an ingest) is shown at its place, the cursor stays on its row (QA: "Rows: 20", 18 drawn)."""
    app = BouncedeskApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_may(app, pilot)
        await pilot.press("b")
        await settle(app, pilot)
        table = screen.table
        await pilot.press("down", "down")
        at = table.current_row().id
        shown = [r.id for r in table.window]
        newcomers = [r.id for r in Recipient.select(Recipient.id).where(
            (Recipient.mailing == screen.mailing_id) & (Recipient.status == "delivered")).limit(3)]
        Recipient.update(status="bounced", phase="bounced").where(Recipient.id.in_(newcomers)).execute()
        screen.reload()
        await settle(app, pilot)
        ids = [r.id for r in table.window]
        assert set(ids) == set(shown) | set(newcomers) and len(ids) == screen.filter_counts["bounced"]
        assert table.current_row().id == at
        assert table.row_count == len(ids)


async def test_rows_entering_above_the_cursor_do_not_push_its_row_out(seeded) -> None:
    """The cursor stays on its row even when more rows enter above it than the window had below it
    (review: the window was cut at its old length and the cursor landed on another row)."""
    mailing_id = seeded["may"]
    rows = [{"mailing": mailing_id, "email": f"zed{i:03}@example.com", "name": f"Zed {i:03}", "status": "bounced",
             "phase": "bounced"} for i in range(150)]
    rows += [{"mailing": mailing_id, "email": f"aaron{i:03}@example.com", "name": f"Aaron {i:03}",
              "status": "delivered", "phase": "sent"} for i in range(120)]
    Recipient.insert_many(rows).execute()
    app = BouncedeskApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_may(app, pilot)
        assert screen.mailing_id == mailing_id
        await pilot.press("b")
        await settle(app, pilot)
        table = screen.table
        for _ in range(10):
            await pilot.press("down")
        await settle(app, pilot)
        row = table.current_row()
        index = table.cursor_coordinate.row
        assert len(table.window) - index < 120  # more will enter above than the window holds below
        Recipient.update(status="bounced", phase="bounced").where(
            (Recipient.mailing == mailing_id) & (Recipient.name.startswith("Aaron "))).execute()
        screen.reload()
        await settle(app, pilot)
        assert table.current_row().id == row.id
        assert table.cursor_coordinate.row == index + 120
        ids = [r.id for r in table.window]
        assert len(ids) == len(set(ids)) and not table.at_end


# -- command palette, help, keymap ------------------------------------------------------------

async def test_command_palette_lists_every_key_and_runs_commands(seeded) -> None:
    from tui.actions import BULK_ACTIONS
    from tui.commands_palette import palette_commands

    app = BouncedeskApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_may(app, pilot)
        titles = {c.title for c in palette_commands(screen)}
        described = {a.binding.tooltip or a.binding.description for a in screen.active_bindings.values()
                     if a.binding.description and a.node is not app and not a.binding.system}
        assert described <= titles  # every key of the screen, the footer's and the hidden ones
        # each says what it does, not only the footer's one word ("All", "Select")
        assert {"Show the bounced recipients", "Sort by the next column", "Select all rows of the filter",
                "Select or unselect the cursor row", "Group by the cursor column: a count per value",
                "Search by address, name or company", "Actions"} <= titles
        assert not {"All", "Select", "Sort", "Group"} & titles, {"All", "Select", "Sort", "Group"} & titles
        assert {f"Action: {item.label}" for item in BULK_ACTIONS} <= titles
        assert {"Go to Mailings", "Go to Blocked addresses", "Go to Spam complaints", "Go to Audit log",
                "Help: all keys"} <= titles

        await pilot.press("ctrl+p")
        await pilot.press(*"Bounced")
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.screen is screen and screen.filter_name == "bounced"
        assert len(screen.table.window) == 13

        await pilot.press("ctrl+p")
        await pilot.press(*"Go to Blocked")
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, BlockedScreen)


async def test_help_lists_the_keys_of_the_screen(seeded) -> None:
    from tui.screens.help import HelpScreen, key_rows

    app = BouncedeskApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_may(app, pilot)
        await pilot.press("f1")
        await settle(app, pilot)
        assert isinstance(app.screen, HelpScreen) and app.screen.source is screen
        mine, globals_ = key_rows(app, screen)
        assert ("b", "Show the bounced recipients", "recipients.filter_bounced") in mine
        assert any(row[2] == "app.help" for row in globals_)
        await pilot.press("escape")
        await pilot.press("question_mark")
        await settle(app, pilot)
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("question_mark")
        await settle(app, pilot)
        assert isinstance(app.screen, RecipientsScreen)


async def test_keys_remapped_by_keymap_file(seeded, tmp_path) -> None:
    from tui.keymap import keymap_path

    path = keymap_path()
    assert str(path).startswith(str(tmp_path))  # conftest points XDG_CONFIG_HOME at tmp_path
    path.parent.mkdir(parents=True)
    path.write_text('"app.blocked" = "x"\nrecipients.filter_bounced = "z"\n"list.search" = "ctrl+h"\n',
                    encoding="utf-8")
    app = BouncedeskApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_may(app, pilot)
        await pilot.press("b")  # no longer the Bounced key
        await settle(app, pilot)
        assert screen.filter_name == "all"
        await pilot.press("z")
        await settle(app, pilot)
        assert screen.filter_name == "bounced" and len(screen.table.window) == 13
        # where the keys are shown: the filter bar and the title row say the remapped keys
        bar = str(screen.query_one("#filterbar").render())
        assert "z Bounced" in bar and "b Bounced" not in bar
        modes = str(screen.query_one("#modes").render())
        assert "x Blocked" in modes and "2 Blocked" not in modes
        from tui.commands_palette import palette_commands

        helps = {c.title: c.help for c in palette_commands(screen)}
        assert helps["Go to Blocked addresses"] == "Every blocked address (key x)"
        assert helps["Go to Mailings"] == "The mailings with their rates (key 1)"
        assert any("ctrl+h" in n.message for n in app._notifications)  # refused: not SSH-safe
        await pilot.press("x")
        await settle(app, pilot)
        assert isinstance(app.screen, BlockedScreen)


async def test_keymap_mistakes_are_reported_and_clashes_warned(seeded, tmp_path) -> None:
    from tui.keymap import keymap_path

    path = keymap_path()
    path.parent.mkdir(parents=True)
    path.write_text('"app.blockd" = "x"\n"list.search" = "Ctrl+K,escpe,f2"\n"list.sort" = "g"\n', encoding="utf-8")
    app = BouncedeskApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_may(app, pilot)
        told = [n.message for n in app._notifications]
        assert any("app.blockd: no binding has this id" in m for m in told)
        assert any("Ctrl+K: unknown modifier" in m for m in told) and any("escpe: not a key name" in m for m in told)
        await pilot.press("f2")  # the valid key of the three still applies
        await settle(app, pilot)
        assert not screen.query_one("#search").has_class("hidden")
        await pilot.press("escape", "g")  # sort and group now share g: one works, and the clash is told
        await settle(app, pilot)
        assert sum("share the key g" in n.message for n in app._notifications) == 1


async def test_status_and_filter_bar_follow_the_rows(seeded) -> None:
    """The status line and filter bar change with the new filter's rows (one frame), or alone after the hold."""
    app = BouncedeskApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_may(app, pilot)
        await pilot.press("b")
        await settle(app, pilot)
        assert screen.status_hold is None  # the rows came: the hold ended with them
        bar = screen.query_one("#filterbar").render()
        highlighted = [bar.plain[span.start:span.end] for span in bar.spans if span.style.reverse]
        assert highlighted == ["b Bounced 13"]
        assert "Rows: 13" in str(screen.query_one("#status").render())
        # No page on its way (nothing to wait for): the status is painted alone once the hold is over.
        screen.search = "nobody-here"
        screen.status_with_rows()
        assert "Search: nobody-here" not in str(screen.query_one("#status").render())
        await pilot.pause(screen.STATUS_HOLD + 0.1)
        assert screen.status_hold is None
        assert "Search: nobody-here" in str(screen.query_one("#status").render())


async def test_the_filter_bar_keeps_every_filter_at_80_columns(seeded) -> None:
    """Large counts are shortened rather than the last filter cut off (QA: "... p Pending 0  c")."""
    from tui.screens.recipients import short_count

    assert [short_count(n) for n in (999, 6443, 20_000, 974_123, 999_500, 1_000_000)] == [
        "999", "6.4k", "20k", "974k", "1.0M", "1.0M"]
    app = BouncedeskApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_may(app, pilot)
        bar = screen.query_one("#filterbar")
        assert "a All 41" in str(bar.render())  # small counts: written out
        screen.filter_counts = {"sent": 974_123, "bounced": 20_000, "opened": 300_000, "all": 1_000_000,
                                "pending": 14_787, "complained": 2_951}
        screen.update_bar()
        await settle(app, pilot)
        text = str(bar.render())
        assert text.endswith("c Complained 3.0k") and "a All 1.0M" in text
