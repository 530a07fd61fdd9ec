"""Selections and projects: creation rules, the type-ahead search, members."""

from __future__ import annotations

import pytest

from models.actions import add_to_selection
from models.filters import Target, ViewFilter
from models.selections import SelectionError, create_selection, find_selections, get_selection, selection_addresses
from tests import bulk_world


@pytest.fixture
def world(db):
    return bulk_world.build()


def names(rows) -> list[str]:
    return [r.name for r in rows]


def test_create_cleans_name_and_refuses_duplicates(db) -> None:
    sel = create_selection("  Bounced   Acme \n", "selection")
    assert (sel.name, sel.kind) == ("Bounced Acme", "selection")
    with pytest.raises(SelectionError, match="already exists"):
        create_selection("bounced acme", "selection")
    # the same name is fine as a project
    assert create_selection("Bounced Acme", "project").kind == "project"
    with pytest.raises(SelectionError, match="needs a name"):
        create_selection("   ", "selection")
    with pytest.raises(SelectionError, match="unknown selection kind"):
        create_selection("x", "folder")
    with pytest.raises(SelectionError, match="longer than"):
        create_selection("x" * 201, "selection")


def test_find_is_case_insensitive_prefix_first(db) -> None:
    for name in ("Winter Bounces", "Bounced at Acme", "acme phone list", "ACME complaints", "Other"):
        create_selection(name, "selection")
    create_selection("Acme project", "project")
    assert names(find_selections("acme", "selection")) == ["ACME complaints", "acme phone list", "Bounced at Acme"]
    assert names(find_selections("BOUNC", "selection")) == ["Bounced at Acme", "Winter Bounces"]
    assert names(find_selections("acme", "project")) == ["Acme project"]
    assert len(find_selections("acme", None)) == 4
    assert len(find_selections("", "selection", limit=2)) == 2
    assert names(find_selections("", "selection"))[0] == "ACME complaints"
    assert find_selections("nothing like it", "selection") == []


def test_find_treats_wildcards_literally(db) -> None:
    create_selection("50% off", "selection")
    create_selection("500 off", "selection")
    create_selection("a_b", "selection")
    create_selection("axb", "selection")
    assert names(find_selections("50%", "selection")) == ["50% off"]
    assert names(find_selections("a_", "selection")) == ["a_b"]


def test_members_by_name_and_id_with_counts(world) -> None:
    sel_id, n = add_to_selection(Target(ViewFilter("blocked")), name="Blocked", kind="selection")
    assert n == 2
    emails = [a.email for a in selection_addresses("blocked")]
    assert emails == ["gone@example.org", "full@example.net"]  # by address id
    assert selection_addresses(sel_id).count() == 2
    assert find_selections("bloc", "selection")[0].member_count == 2


def test_get_selection_errors(db) -> None:
    with pytest.raises(SelectionError, match="no selection named"):
        get_selection("missing")
    with pytest.raises(SelectionError, match="no selection with id"):
        get_selection(42)
    create_selection("Same", "selection")
    create_selection("Same", "project")
    with pytest.raises(SelectionError, match="several"):
        get_selection("same")
    assert get_selection("same", "project").kind == "project"
