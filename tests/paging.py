"""Reading a whole filter page by page, as the screens do: the reference walk for pagination tests."""

from __future__ import annotations

from models.filters import ViewFilter
from models.queries import cursor_of, fetch_page


def walk_forward(f: ViewFilter, sort: str, desc: bool, limit: int = 7) -> list[int]:
    """The ids of every row of ``f`` in ``sort`` order, fetched ``limit`` at a time by keyset cursor."""
    ids: list[int] = []
    after = None
    while True:
        page = fetch_page(f, sort, desc, after=after, limit=limit)
        ids += [r.id for r in page]
        if len(page) < limit:
            return ids
        after = cursor_of(page[-1], f, sort)
