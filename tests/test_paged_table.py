"""PagedTable's own line painting: the same cells and colours as DataTable's, clicks still land on cells."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable

from tests.seed import seed_small
from tests.test_app_lists import open_may, settle
from tui.app import BouncedeskApp


@pytest.fixture
def seeded(sqlite_db):
    return seed_small(sqlite_db)


def cells_of(strip) -> list[tuple[str, object]]:  # noqa: ANN001
    """A painted line, character by character, with the style minus the click metadata."""
    return [(ch, seg.style.clear_meta_and_links() if seg.style else None)
            for seg in strip for ch in seg.text]


def assert_same_as_datatable(table) -> None:  # noqa: ANN001
    base = table.rich_style
    width = table.size.width
    table._pseudo_class_state = table.get_pseudo_class_state()
    x1 = round(table.scroll_x)
    for y in range(0, min(table.size.height, table.row_count + 1)):
        ours = table._render_line(y, x1, x1 + width, base)  # the header (line 0) from its cache, as painted
        table._line_cache.clear()
        table._row_render_cache.clear()
        cached_header, table._header_cells = table._header_cells, {}
        theirs = DataTable._render_line(table, y, x1, x1 + width, base)
        table._header_cells = cached_header
        table._line_cache.clear()
        assert cells_of(ours) == cells_of(theirs), f"line {y}"


@pytest.mark.parametrize("size", [(80, 24), (140, 30)])
async def test_lines_match_datatable_with_cursor_and_selection(seeded, size) -> None:
    app = BouncedeskApp()
    async with app.run_test(size=size) as pilot:
        screen = await open_may(app, pilot)
        table = screen.table
        await pilot.press("down", "down", "right", "space")  # cursor inside, one row selected
        await settle(app, pilot)
        assert_same_as_datatable(table)
        await pilot.press("c")  # the complaints filter holds the hostile diagnostic
        await settle(app, pilot)
        assert_same_as_datatable(table)
        await pilot.press("a")
        await settle(app, pilot)
        assert_same_as_datatable(table)
        assert table.row_count > 0
        await pilot.press("t")  # the sort arrow moves to the next column's header
        await settle(app, pilot)
        assert table.sort != table.spec.default_sort
        assert_same_as_datatable(table)
        await pilot.press("pagedown")  # painted from lines built ahead, after the previous paint
        await settle(app, pilot)
        assert table.cursor_coordinate.row > 0
        assert_same_as_datatable(table)
        for _ in range(len(table.columns)):  # to the last column: the view scrolls right (at 80 wide)
            await pilot.press("right")
        await settle(app, pilot)
        assert table.scroll_x > 0 or table.virtual_size.width <= table.size.width
        assert_same_as_datatable(table)


async def test_body_lines_take_the_one_pass_path(seeded) -> None:
    app = BouncedeskApp()
    async with app.run_test(size=(80, 24)) as pilot:
        table = (await open_may(app, pilot)).table
        table._line_cache.clear()
        table._pseudo_class_state = table.get_pseudo_class_state()
        table._render_line(3, 0, table.size.width, table.rich_style)
        assert [key[0] for key in table._line_cache.keys()] == ["line"]


async def test_click_on_a_cell_moves_the_cursor_there(seeded) -> None:
    app = BouncedeskApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_may(app, pilot)
        table = screen.table
        assert table.cursor_coordinate.row == 0
        await pilot.click("#rows", offset=(20, 4))  # the header is line 0: line 4 is the fourth row
        await settle(app, pilot)
        assert table.cursor_coordinate.row == 3
        assert table.cursor_coordinate.column >= 1
        await pilot.click("#rows", offset=(2, 2))
        await settle(app, pilot)
        assert tuple(table.cursor_coordinate) == (1, 0)


async def test_first_page_that_arrives_before_mount_is_shown_on_mount(seeded) -> None:
    """A screen starts the first page's query in compose; the page may come before the table's columns."""
    from models.filters import ViewFilter
    from models.queries import RECIPIENT_FILTERS
    from tui.widgets.paged_table import PagedTable

    app = BouncedeskApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        table = PagedTable("recipients")
        with app._context():  # as in a screen's compose, which runs in the app's context
            table.show(ViewFilter("recipients", mailing_id=seeded["may"], statuses=RECIPIENT_FILTERS["all"][1]))
        await app.workers.wait_for_complete()  # the worker hands its page over before it completes
        assert table._early is not None and table.row_count == 0
        await app.screen.mount(table)
        await settle(app, pilot)
        assert table._early is None and not table.fetching
        assert table.row_count == len(table.window) == 41  # May: 41 recipients
        assert table.cursor_coordinate.row == 0


async def test_the_screenful_below_is_built_ahead(seeded) -> None:
    """After a paint, the lines a page down will show are in the line cache already."""
    app = BouncedeskApp()
    async with app.run_test(size=(80, 24)) as pilot:
        table = (await open_may(app, pilot)).table
        height = table.size.height
        assert table.row_count > 2 * height  # May has more rows than two screenfuls
        built = {key[2] for key in table._line_cache.keys() if key[0] == "line"}  # row indexes
        below = set(range(height, 2 * height - 1))  # rows on the next screenful (line 0 is the header)
        assert below <= built
