"""A table that holds a window of a view's rows, paged from the database by keyset.

The table never holds the whole result: it starts with one page, fetches the
next (or previous) page in a thread worker when the cursor comes near the
edge of the window, and drops rows far from the cursor once the window is
full.  Every fetch carries a generation number; a result for an older filter
or sort is dropped.  Outside text is always put in cells as ``rich.text.Text``
so that a diagnostic like ``550 5.7.1 [1.2.3.4] blocked [/]`` shows literally.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events, work
from textual._segment_tools import line_crop
from textual.binding import Binding
from textual.color import Color
from textual.coordinate import Coordinate
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets._data_table import Row as TableRow
from textual.widgets._data_table import RowKey

from models.filters import ViewFilter
from models.queries import PAGE_SIZE, Column, Cursor, Row, ViewSpec, cursor_of, fetch_page, fetch_rows, view_spec
from tui.dbthread import db_call
from tui.workers import recoverable

SELECTED_MARK = "✓"
SEL_KEY = "_sel"


def format_value(value: Any) -> str:
    """How a cell value reads on screen: dates to the minute, booleans yes/no, NULL empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def fit_plain(plain: str, inner: int, right: bool, pad: int) -> str:
    """A one-line cell's text cut (with an ellipsis) or padded to ``inner`` cells, aligned, padded."""
    if cell_len(plain) > inner:
        plain = set_cell_size(plain, inner - 1) + "…" if inner > 0 else ""
    gap = " " * (inner - cell_len(plain))
    edge = " " * pad
    return edge + (gap + plain if right else plain + gap) + edge


def cell(value: Any, column: Column) -> Text:
    """One cell as literal text (never markup), numbers right-aligned."""
    return Text(format_value(value), justify="right" if column.numeric else "left", no_wrap=True,
                overflow="ellipsis")


@dataclass(frozen=True, slots=True)
class Ranged:
    """A window's range read again (``PagedTable._range``): its rows, and whether they start and end the filter."""

    rows: list[Row]
    at_start: bool
    ends: bool


class PagedTable(DataTable):
    """A keyset-paged window over one view; see the module docstring."""

    #: DataTable calls Enter "Select", which in the palette and on the help screen read like the
    #: selection key (space); here it opens the cursor row (its person, a mailing's recipients).
    BINDINGS = [Binding("enter", "select_cursor", "Open", show=False, tooltip="Open the cursor row")]

    #: Most rows held at once; beyond it, rows far from the cursor are dropped.
    WINDOW_MAX = 500
    #: How close (in rows) to the window's edge the cursor gets before the next page is fetched.
    MARGIN = 40
    #: Rows of the first page after a filter or sort change: a screenful and some (the rest follows
    #: as the cursor moves); fewer rows to add before the first paint.
    FIRST_PAGE = 60

    def _limit(self, mode: str) -> int:
        return min(self.FIRST_PAGE, PAGE_SIZE) if mode == "first" else PAGE_SIZE

    class Loaded(Message):
        """A page arrived (``first``: the window was replaced, e.g. after a filter change)."""

        def __init__(self, table: PagedTable, first: bool) -> None:
            super().__init__()
            self.table = table
            self.first = first

    class SelectionChanged(Message):
        """Rows were selected or unselected."""

        def __init__(self, table: PagedTable) -> None:
            super().__init__()
            self.table = table

    def __init__(self, view: str, *, id: str | None = None) -> None:  # noqa: A002
        self._header_cells: dict[tuple, list[list[Segment]]] = {}  # kept across refills: _header_cell
        super().__init__(id=id, cursor_type="cell", zebra_stripes=True)
        self.spec: ViewSpec = view_spec(view)
        self.filter: ViewFilter | None = None
        self.sort: str = self.spec.default_sort
        self.desc: bool = self.spec.default_desc
        self.window: list[Row] = []  # the rows held, in display order
        self.at_start = True
        self.at_end = True
        self.fetching = False
        self.filling = False
        self.generation = 0
        self.selected: set[int] = set()
        self.all_selected = False
        self._ready = False  # on_mount has added the columns
        #: DataTable's update count keys its caches; of its updates, rows appended and a new height
        #: leave every held line as it was, so the line cache's key leaves them out.
        self._unchanged_lines_updates = 0
        self._early: tuple[int, str, list[Row]] | None = None  # a page that arrived before that

    def on_mount(self) -> None:
        self.add_column(Text(" "), width=1, key=SEL_KEY)
        for col in self.spec.columns:
            self.add_column(self._label(col), width=col.width, key=col.key)
        self.add_extra_columns()
        self._ready = True
        if self._early is not None:  # the first page came before the table was mounted
            early, self._early = self._early, None
            self._apply(*early)

    def add_extra_columns(self) -> None:
        """Columns a subclass shows after the view's own (filled by it, not by the page query)."""

    # -- what is shown ---------------------------------------------------------------------
    def _update_dimensions(self, new_rows) -> None:  # noqa: ANN001 - DataTable's signature
        """The table's size, without measuring each new cell.

        DataTable measures every cell of every added row to widen auto-width
        columns and size auto-height rows; here every column has a fixed width
        and every row one line, so that work (a Rich measure per cell, 900 per
        page) changes nothing.  The size computation itself is DataTable's.
        """
        super()._update_dimensions(())

    def _render_cell(self, row_index: int, column_index: int, base_style: Style, width: int,
                     cursor: bool = False, hover: bool = False) -> list[list[Segment]]:
        """One body cell as one line of segments, without Rich's general layout machinery.

        Every cell here is a one-line ``Text`` in a fixed-width column, yet
        DataTable renders each through ``Styled(Padding(...))`` and a console
        render: ~250 us a cell, so ~80 ms to paint a 120x40 screen of rows (it
        repaints every visible cell after any change to the table).  Truncating,
        aligning and styling the Text directly gives the same line for a tenth
        of that.  The header, and any cell that is not a one-line Text, take
        DataTable's own path.  (Uses DataTable's cache and style helpers, as
        its own ``_render_cell`` does; textual is pinned below 9.)
        """
        if row_index == -1 and column_index >= 0:
            return self._header_cell(column_index, base_style, width, cursor, hover)
        if row_index < 0 or column_index < 0:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        cache_key = (row_key, column_key, base_style, cursor, hover, self._show_hover_cursor,
                     self._update_count, self._pseudo_class_state)
        lines = self._cell_render_cache.get(cache_key)
        if lines is not None:
            return lines
        value = self._data.get(row_key, {}).get(column_key)
        if not isinstance(value, Text) or "\n" in value.plain or self.rows[row_key].height != 1:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        component_style, post_style = self._get_styles_to_render_cell(
            False, False, row_index < self.fixed_rows or column_index < self.fixed_columns, hover, cursor,
            self.show_cursor, self._show_hover_cursor, self.cursor_foreground_priority == "css",
            self.cursor_background_priority == "css")
        style = base_style + Style.from_meta({"row": row_index, "column": column_index}) + component_style
        pad = self.cell_padding
        inner = max(0, width - 2 * pad)
        if not value.spans and not value.style:  # plain text (nearly every cell): one segment
            segment_style = style + post_style if post_style else style
            lines = [[Segment(fit_plain(value.plain, inner, value.justify == "right", pad), segment_style)]]
        else:
            text = value.copy()
            text.truncate(inner, overflow="ellipsis")
            text.align("right" if value.justify == "right" else "left", inner)
            segments = [Segment(" " * pad), *text.render(self.app.console), Segment(" " * pad)]
            lines = [list(Segment.apply_style(segments, style, post_style))]
        self._cell_render_cache[cache_key] = lines
        return lines

    def _header_cell(self, column_index: int, base_style: Style, width: int, cursor: bool,
                     hover: bool) -> list[list[Segment]]:
        """A header cell, rendered by DataTable, cached by what it shows.

        DataTable's cell cache key holds its update count, which every data
        change bumps, so each refill re-rendered the whole header through Rich
        (~2-3 ms of a filter switch); a header cell changes only with its label
        (the sort arrow), width and styles, so these are its key here.
        """
        label = self.ordered_columns[column_index].label
        key = (column_index, label.plain, label.style, tuple(label.spans), label.justify, base_style, width,
               cursor, hover, self._show_hover_cursor, self._pseudo_class_state)
        lines = self._header_cells.get(key)
        if lines is None:
            lines = super()._render_cell(-1, column_index, base_style, width, cursor, hover)
            if len(self._header_cells) > 200:
                self._header_cells.clear()
            self._header_cells[key] = lines
        return lines

    def _on_resize(self, event: events.Resize) -> None:
        # Textual also calls DataTable's own _on_resize (handlers run per class), which counts an update.
        self._unchanged_lines_updates += 1  # a line's key holds the width

    def _clear_caches(self) -> None:
        super()._clear_caches()
        self._header_cells = {}  # a new dict: _fill keeps the old one

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._header_cells = {}

    def render_lines(self, crop: Region) -> list[Strip]:
        with self._paint_pass():
            return super().render_lines(crop)

    @contextmanager
    def _paint_pass(self) -> Iterator[None]:
        """One paint; what can't change during it is computed once, not per line.

        The styles of the cells, the columns in order (DataTable sorts them
        on every access) and the widget's own style (DataTable's
        ``render_line`` reads ``rich_style`` per line, which walks the
        ancestors and blends their colours each time).
        """
        self._pass_styles: dict[tuple, Style] | None = {}
        self._pass_columns = self.ordered_columns
        self._pass_rich_style = self.rich_style
        try:
            yield
        finally:
            self._pass_styles = self._pass_columns = self._pass_rich_style = None

    def _warm_next_screenful(self) -> None:
        """Render the screenful below the view into the line cache, after a paint, while idle.

        A page down shows ~20-40 rows never painted before: building their
        lines was half of its time.  Built ahead (as the next page of rows is
        fetched ahead), the page down only paints them, and the line the
        cursor lands on.  Lines already cached cost a lookup.
        """
        if not self.is_mounted or not self.window or not self.display:
            return
        width, height = self.size
        scroll_x, scroll_y = self.scroll_offset
        self._pseudo_class_state = self.get_pseudo_class_state()  # as DataTable.render_lines sets it
        with self._paint_pass():
            base_style = self.rich_style
            for y in range(scroll_y + height, scroll_y + 2 * height):
                self._render_line(y, scroll_x, scroll_x + width, base_style)

    @property
    def rich_style(self) -> Style:
        style = getattr(self, "_pass_rich_style", None)
        return style if style is not None else super().rich_style

    def _pass_style(self, key: tuple, make) -> Style:  # noqa: ANN001 - a zero-argument callable
        styles = getattr(self, "_pass_styles", None)
        if styles is None:
            return make()
        style = styles.get(key)
        if style is None:
            style = styles[key] = make()
        return style

    def _render_line(self, y: int, x1: int, x2: int, base_style: Style) -> Strip:
        """One body line in one pass, cached whether or not the cursor moved elsewhere.

        DataTable builds a line from its cells through two caches whose keys
        hold the cursor's position, so moving the cursor (a page down, every
        arrow key) re-assembles every visible line, each cell with its own
        style arithmetic: ~1-3 ms a line under load, most of a page down.  Here
        a line's cache key holds the cursor only when the cursor (or the mouse
        hover) is on that line, the cell styles are combined once per paint
        (row style + cursor/hover component + the cell's click metadata last),
        and a plain one-line cell is one segment.  The header, multi-line rows
        and non-plain cells take DataTable's own path, so the output is the
        same (the snapshots are unchanged).
        """
        width = self.size.width
        try:
            row_key, line_no = self._get_offsets(y)
        except LookupError:
            return Strip.blank(width, base_style)
        if (row_key is self._header_row_key or line_no or self.fixed_columns or self.fixed_rows
                or self.cursor_type != "cell"
                or (self._labelled_row_exists and self.show_row_labels) or self.rows[row_key].height != 1):
            return super()._render_line(y, x1, x2, base_style)
        row_index = self._row_locations.get(row_key)
        cursor, hover = self.cursor_coordinate, self.hover_coordinate
        cursor_col = cursor.column if cursor.row == row_index else -1
        hover_col = hover.column if hover.row == row_index else -1
        cache_key = ("line", row_key, row_index, x1, x2, width, cursor_col, hover_col, base_style,
                     self.show_cursor, self._show_hover_cursor, self._update_count - self._unchanged_lines_updates,
                     self._pseudo_class_state)
        strip = self._line_cache.get(cache_key)
        if strip is not None:
            return strip
        row_style = self._pass_style(("row", row_index % 2, base_style),
                                     lambda: self._get_row_style(row_index, base_style))
        show_cursor, show_hover = self.show_cursor, self._show_hover_cursor
        fg_css = self.cursor_foreground_priority == "css"
        bg_css = self.cursor_background_priority == "css"

        def cell_style(on_cursor: bool, on_hover: bool) -> Style:
            component, post = self._get_styles_to_render_cell(
                False, False, False, on_hover, on_cursor, show_cursor, show_hover, fg_css, bg_css)
            return row_style + component + post

        values = self._data.get(row_key, {})
        pad = self.cell_padding
        segments: list[Segment] = []
        x = self._row_label_column_width
        for column_index, column in enumerate(self._pass_columns or self.ordered_columns):
            column_width = column.get_render_width(self)
            start, x = x, x + column_width
            if x <= x1 or start >= x2:
                continue  # scrolled out of view
            on_cursor, on_hover = column_index == cursor_col, column_index == hover_col
            value = values.get(column.key)
            if not isinstance(value, Text) or value.spans or value.style or "\n" in value.plain:
                cell_segments = self._render_cell(row_index, column_index, row_style, column_width,
                                                  cursor=on_cursor, hover=on_hover)[0]
            else:
                style = self._pass_style(("cell", row_style, on_cursor, on_hover),
                                         lambda: cell_style(on_cursor, on_hover))
                text = fit_plain(value.plain, max(0, column_width - 2 * pad), value.justify == "right", pad)
                cell_segments = [Segment(text, style + Style.from_meta({"row": row_index, "column": column_index}))]
            if start < x1 or x > x2:  # the cell at an edge of the view: cut to the part in view
                cell_segments = line_crop(list(cell_segments), max(x1, start) - start, min(x2, x) - start,
                                          column_width)
            segments.extend(cell_segments)
        table_width = x
        right, left = min(x2, width), max(x1, table_width)  # the space right of the last column, in view
        if right > left:
            extend = self._pass_style(("extend", row_style), lambda: self._extend_style(row_style))
            segments.append(Segment(" " * (right - left),
                                    extend + Style.from_meta({"row": row_index, "column": 0, "out_of_bounds": True})))
        painted = max(0, min(x2, max(table_width, width)) - x1)
        strip = Strip(segments, painted).adjust_cell_length(width, base_style)  # short only when scrolled right
        self._line_cache[cache_key] = strip
        return strip

    def _extend_style(self, row_style: Style) -> Style:
        """The style of the space right of the last column (DataTable's, for a cell cursor)."""
        if row_style.bgcolor is None:
            return Style.from_color(row_style.color, row_style.bgcolor)
        faded = Color.from_rich_color(row_style.bgcolor).blend(self.background_colors[1], factor=0.25)
        return Style.from_color(color=row_style.color, bgcolor=faded.rich_color)

    def _label(self, col: Column) -> Text:
        arrow = ("▼" if self.desc else "▲") if col.key == self.sort else ""
        return Text(col.label + arrow, no_wrap=True)

    def _cells(self, row: Row) -> list[Text]:
        mark = SELECTED_MARK if (self.all_selected or row.id in self.selected) else " "
        return [Text(mark)] + [cell(v, c) for v, c in zip(row.values, self.spec.columns)]

    def _fill(self, rows: list[Row]) -> None:
        """Replace every row (DataTable's ``clear``; the header's cells stay rendered)."""
        header = self._header_cells
        self.clear()
        self._header_cells = header
        self.window = self._append(rows)

    def _append(self, rows: list[Row]) -> list[Row]:
        """Add rows at the bottom: what ``add_row`` does per row, with the per-table work done once.

        ``add_row`` re-sorts the columns, re-validates the cursor (its watcher
        schedules a callback) and wakes the table once per row: ~0.1 ms a row,
        6 ms of a 60-row first page, 30-40 ms when the window slides by 300.
        Rows are one line and unlabelled, and ``_update_dimensions`` measures
        none of them, so they are not queued for measuring.  A row already in
        the table (a row whose sort value changed between two pages) is
        skipped; the rows added are returned.
        """
        keys = [column.key for column in self.ordered_columns]
        index = len(self.rows)
        added: list[Row] = []
        for row in rows:
            row_key = RowKey(str(row.id))
            if row_key in self._row_locations:
                continue
            self._row_locations[row_key] = index
            self._data[row_key] = dict(zip(keys, self._cells(row)))
            self.rows[row_key] = TableRow(row_key, 1)
            index += 1
            added.append(row)
        if added:
            self._require_update_dimensions = True
            self.cursor_coordinate = self.cursor_coordinate  # validated against the new size
            if index == len(added) and self.columns and self.show_cursor and self.cursor_type != "none":
                self._highlight_cursor()  # a cell under the cursor exists now (DataTable's add_row does it)
            self._update_count += 1
            self._unchanged_lines_updates += 1  # the rows already held paint as before
            self.check_idle()
        return added

    def current_row(self) -> Row | None:
        """The row under the cursor, if any."""
        index = self.cursor_coordinate.row
        return self.window[index] if 0 <= index < len(self.window) else None

    def current_column(self) -> Column | None:
        """The column under the cursor (None on the selection mark)."""
        index = self.cursor_coordinate.column - 1
        return self.spec.columns[index] if 0 <= index < len(self.spec.columns) else None

    # -- loading -----------------------------------------------------------------------------
    def show(self, f: ViewFilter, sort: str | None = None, desc: bool | None = None) -> None:
        """Show view filter ``f`` (optionally with a new sort) from its first row.

        May be called before the table is mounted (a screen's ``compose``): the
        first page's query then runs while the screen mounts, and the page is
        shown once the table has its columns.
        """
        if f != self.filter:
            self.all_selected = False
        self.filter = f
        if sort is not None:
            self.sort = sort
        if desc is not None:
            self.desc = desc
        for col in self.spec.columns:
            if col.key in self.columns:
                self.columns[col.key].label = self._label(col)
        self.generation += 1
        self.fetching = True
        # The worker's thread finds the app through the table's parents, which a table shown from
        # its screen's compose may not have yet when the page arrives.
        self._home_app = self.app
        self._fetch(self.generation, f, self.sort, self.desc, None, False, "first")

    def sort_by(self, key: str, desc: bool | None = None) -> bool:
        """Sort by column ``key``; the same column again reverses the order.

        False (and nothing changes) for a column the view does not offer as a sort.
        """
        if not self.spec.column(key).sortable:
            return False
        if desc is None:
            desc = (not self.desc) if key == self.sort else False
        if self.filter is not None:
            self.show(self.filter, key, desc)
        return True

    def sort_next(self) -> None:
        """Sort by the next sortable column (wrapping around), ascending."""
        keys = [c.key for c in self.spec.columns if c.sortable]
        at = keys.index(self.sort) if self.sort in keys else -1
        self.sort_by(keys[(at + 1) % len(keys)], False)

    def reverse(self) -> None:
        self.sort_by(self.sort, not self.desc)

    @work(thread=True, exclusive=True, group="page")
    @recoverable("reading rows", reset="_fetch_failed")
    def _fetch(self, generation: int, f: ViewFilter, sort: str, desc: bool, after: Cursor | None,
               before: bool, mode: str) -> None:
        rows = db_call(fetch_page, f, sort, desc, after=after, limit=self._limit(mode), before=before)
        self._home_app.call_from_thread(self._apply, generation, mode, rows)

    def _fetch_failed(self) -> None:
        """A page could not be read: the next cursor move (or ``r``) asks again."""
        self.fetching = False

    def _apply(self, generation: int, mode: str, rows: list[Row]) -> None:
        if generation != self.generation:
            return  # a result for an outdated filter or sort
        if not self._ready:
            self._early = (generation, mode, rows)  # shown by on_mount
            return
        self.filling = True  # adding rows moves the cursor: no fetch from a half-updated window
        try:
            self._merge(mode, rows)
        finally:
            self.filling = False
            self.fetching = False
        self.post_message(self.Loaded(self, mode == "first"))
        self._maybe_fetch(self.cursor_coordinate.row)
        self.call_after_refresh(self._warm_next_screenful)

    def _merge(self, mode: str, rows: list[Row]) -> None:
        if mode in ("first", "last"):  # a new window: from the top, or the filter's last page (ctrl+End)
            column = self.cursor_coordinate.column  # refilling puts the cursor on the first column
            self._fill(rows)
            if mode == "first":
                self.at_start, self.at_end = True, len(rows) < self._limit(mode)
                self.move_cursor(row=0, column=column, scroll=False)
                self.scroll_to(y=0, animate=False, immediate=True)
            else:
                self.at_start, self.at_end = len(rows) < self._limit(mode), True
                self.move_cursor(row=max(0, len(rows) - 1), column=column, scroll=True)
            return
        full = len(rows) == PAGE_SIZE
        held = {r.id for r in self.window}
        rows = [r for r in rows if r.id not in held]  # a row whose sort value changed between two pages
        if mode == "after":
            self.at_end = not full
            window = self.window + rows
            drop_top = max(0, len(window) - self.WINDOW_MAX)
            if drop_top:  # the window slides: refilled once, not grown and then refilled
                self.at_start = False
                self._refill_keeping(window[drop_top:], shift=-drop_top)
            else:
                self.window = self.window + self._append(rows)
        else:  # "before": rows go on top, the cursor stays on its row
            self.at_start = not full
            window = rows + self.window
            drop_bottom = max(0, len(window) - self.WINDOW_MAX)
            if drop_bottom:
                window = window[:-drop_bottom]
                self.at_end = False
            self._refill_keeping(window, shift=len(rows))

    def _refill_keeping(self, window: list[Row], shift: int) -> None:
        """Replace the window, keeping the cursor on the same row and the view in place."""
        row, column = self.cursor_coordinate
        scroll_y = self.scroll_y
        self._fill(window)
        self.move_cursor(row=max(0, row + shift), column=column, scroll=False)
        self.call_after_refresh(self.scroll_to, y=max(0, scroll_y + shift), animate=False, immediate=True)

    def action_scroll_bottom(self) -> None:
        """ctrl+End: the last row of the filter, read from the database, not the last row held."""
        if self.at_end or self.filter is None or not self.window:
            super().action_scroll_bottom()
            return
        self.generation += 1  # pages on their way belong to the window being left
        self.fetching = True
        self._fetch(self.generation, self.filter, self.sort, self.desc, None, True, "last")

    def action_scroll_top(self) -> None:
        """ctrl+Home: the first row of the filter (read again when the window has slid past it)."""
        if self.at_start or self.filter is None or not self.window:
            super().action_scroll_top()
            return
        self.show(self.filter)

    def watch_cursor_coordinate(self, old: Coordinate, new: Coordinate) -> None:
        super().watch_cursor_coordinate(old, new)
        # The rows the cursor moved to are in the window: paint them first, then fetch the next
        # page (a worker started now would share the CPU with that paint and delay it).
        self.call_after_refresh(self._after_paint)

    def _after_paint(self) -> None:
        self._maybe_fetch(self.cursor_coordinate.row)
        self._warm_next_screenful()

    def _maybe_fetch(self, index: int) -> None:
        if self.fetching or self.filling or self.filter is None or not self.window:
            return
        if not self.at_end and index >= len(self.window) - self.MARGIN:
            self.fetching = True
            after = cursor_of(self.window[-1], self.filter, self.sort)
            self._fetch(self.generation, self.filter, self.sort, self.desc, after, False, "after")
        elif not self.at_start and index < self.MARGIN:
            self.fetching = True
            after = cursor_of(self.window[0], self.filter, self.sort)
            self._fetch(self.generation, self.filter, self.sort, self.desc, after, True, "before")

    # -- refresh in place --------------------------------------------------------------------
    def refresh_rows(self) -> None:
        """Read the window's rows again: changed cells update, vanished rows go, and rows that entered the
        filter between them since (an undo, an ingest) come in at their place.  An empty window is read
        again from the top."""
        if self.filter is None:
            return
        if not self.window:
            self.show(self.filter)
            return
        cursor = self.current_row()
        self._refresh(self.generation, self.filter, self.sort, self.desc, [r.id for r in self.window],
                      None if self.at_start else cursor_of(self.window[0], self.filter, self.sort),
                      cursor.id if cursor is not None else None)

    @work(thread=True, exclusive=True, group="refresh")
    @recoverable("refreshing rows")
    def _refresh(self, generation: int, f: ViewFilter, sort: str, desc: bool, ids: list[int],
                 first: Cursor | None, cursor_id: int | None) -> None:
        fresh, ranged = db_call(self._reread, f, sort, desc, ids, first, cursor_id)
        self.app.call_from_thread(self._apply_refresh, generation, ids, fresh, ranged)

    @staticmethod
    def _reread(f: ViewFilter, sort: str, desc: bool, ids: list[int], first: Cursor | None, cursor_id: int | None
                ) -> tuple[list[Row], Ranged]:
        """The window's rows that still match, and the range they span now (``_range``).

        Usually nothing entered or left: the range holds the same rows, and they are the answer.  Only
        when it differs are the window's rows read by id, to tell the rows that left the filter (no
        longer selected) from those pushed past the window's end by newcomers.
        """
        keep = cursor_id if cursor_id is not None and fetch_rows(f, [cursor_id]) else None
        ranged = PagedTable._range(f, sort, desc, first, len(ids), keep)
        if [r.id for r in ranged.rows] == ids:
            return ranged.rows, ranged
        return fetch_rows(f, ids), ranged

    @staticmethod
    def _range(f: ViewFilter, sort: str, desc: bool, first: Cursor | None, n: int, keep: int | None = None
               ) -> Ranged:
        """The rows of ``f`` from the window's first row on (None: from the top): ``n`` of them, more when
        needed to reach row ``keep`` (the cursor's, still in the filter: rows that entered above it must
        not push it out), at most ``WINDOW_MAX`` (the top ones dropped then).  The first row's predecessor
        is looked up so that the first row itself, or a row that entered just before it, is read too."""
        after = None
        from_top = first is None
        if first is not None:
            before = fetch_page(f, sort, desc, after=first, limit=1, before=True)
            after = cursor_of(before[0], f, sort) if before else None
            from_top = not before
        rows: list[Row] = []
        seen = keep is None
        ends = False
        while len(rows) < n or not seen:
            page = fetch_page(f, sort, desc, after=after, limit=PAGE_SIZE)
            rows += page
            seen = seen or any(r.id == keep for r in page)
            if len(page) < PAGE_SIZE:
                ends = True
                break
            after = cursor_of(page[-1], f, sort)
        upto = max(n, next((i + 1 for i, r in enumerate(rows) if r.id == keep), 0))
        ends = ends and len(rows) <= upto
        rows = rows[:upto]
        drop = max(0, len(rows) - PagedTable.WINDOW_MAX)
        return Ranged(rows[drop:], from_top and not drop, ends)

    def _apply_refresh(self, generation: int, asked_ids: list[int], fresh: list[Row], ranged: Ranged) -> None:
        if generation != self.generation:
            return
        asked = set(asked_ids)
        unchanged = [r.id for r in self.window] == asked_ids  # no page merged in meanwhile
        if unchanged and [r.id for r in ranged.rows] != asked_ids:
            self._rewindow(ranged, gone=asked - {r.id for r in fresh})
            return
        by_id = {r.id: r for r in fresh}
        kept: list[Row] = []
        for old in self.window:
            if old.id not in asked:  # a page that arrived meanwhile: not part of this refresh
                kept.append(old)
                continue
            new = by_id.get(old.id)
            if new is None:  # left the filter: no longer shown, no longer selected
                self.remove_row(str(old.id))
                if old.id in self.selected:
                    self.selected.discard(old.id)
                    self.post_message(self.SelectionChanged(self))
                continue
            for value_old, value_new, col in zip(old.values, new.values, self.spec.columns):
                if value_old != value_new:
                    self.update_cell(str(old.id), col.key, cell(value_new, col))
            kept.append(new)
        self.window = kept

    def _rewindow(self, ranged: Ranged, gone: set[int]) -> None:
        """Rows entered (or moved within) the window's range: show the range as it is now, the cursor
        kept on its row (or, when that row left, at the same place)."""
        rows = ranged.rows
        if not rows:  # every row from the window's first on left the filter: rows above may remain
            self.show(self.filter)
            return
        self.generation += 1  # a page on its way was asked from the old window's edges
        self.fetching = False
        cursor = self.current_row()
        index = self.cursor_coordinate.row
        ids = [r.id for r in rows]
        shift = (ids.index(cursor.id) - index) if cursor is not None and cursor.id in ids else 0
        if gone & self.selected:  # left the filter: no longer selected
            self.selected -= gone
            self.post_message(self.SelectionChanged(self))
        self.at_start, self.at_end = ranged.at_start, ranged.ends
        self.filling = True
        try:
            self._refill_keeping(rows, shift=shift)
        finally:
            self.filling = False
        self.call_after_refresh(self._after_paint)  # near an edge that is no longer the filter's: read on

    # -- selection ---------------------------------------------------------------------------
    def _mark(self, row_id: int) -> None:
        mark = SELECTED_MARK if (self.all_selected or row_id in self.selected) else " "
        self.update_cell(str(row_id), SEL_KEY, Text(mark))

    def toggle_current(self) -> bool:
        """Toggle the cursor row's selection; False when every row of the filter is selected."""
        row = self.current_row()
        if row is None or self.all_selected:
            return False
        self.selected.symmetric_difference_update({row.id})
        self._mark(row.id)
        self.post_message(self.SelectionChanged(self))
        return True

    def select_all(self) -> None:
        """Select every row of the current filter, in the database (not only the window)."""
        self.all_selected = True
        self.selected.clear()
        for row in self.window:
            self._mark(row.id)
        self.post_message(self.SelectionChanged(self))

    def clear_selection(self) -> None:
        self.all_selected = False
        self.selected.clear()
        for row in self.window:
            self._mark(row.id)
        self.post_message(self.SelectionChanged(self))
