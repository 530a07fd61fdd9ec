"""Static selections and projects: named sets of addresses.

A selection is a list an operator builds by hand ("bounced at Acme, check by
phone"); a project groups addresses for a piece of work.  Both are the same
table with a ``kind``, because they behave identically; the kind only decides
where they are offered.  Filling them is a bulk action
(``models.actions.add_to_selection``), so it is audit-logged and undoable.
"""

from __future__ import annotations

from peewee import Case, ModelSelect, fn

from models.schema import Address, Selection, SelectionMember

KINDS: tuple[str, ...] = ("selection", "project")
MAX_NAME = 200


class SelectionError(ValueError):
    """A selection cannot be created or found as asked."""


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise SelectionError(f"unknown selection kind {kind!r} (use 'selection' or 'project')")


def clean_name(name: str) -> str:
    """The name as stored: stripped, one line, not empty, not too long."""
    cleaned = " ".join((name or "").split())
    if not cleaned:
        raise SelectionError("a selection needs a name")
    if len(cleaned) > MAX_NAME:
        raise SelectionError(f"selection name longer than {MAX_NAME} characters")
    return cleaned


def create_selection(name: str, kind: str = "selection", account_id: int | None = None) -> Selection:
    """Create an empty selection or project; names are unique per kind and account.

    Unique names are what make the type-ahead picker unambiguous: two
    "Bounced Acme" projects could not be told apart in it.
    """
    problem = name_problem(name, kind, account_id)
    if problem is not None:
        raise SelectionError(problem)
    return Selection.create(name=clean_name(name), kind=kind, account=account_id)


def name_problem(name: str, kind: str = "selection", account_id: int | None = None) -> str | None:
    """Why a new ``kind`` cannot be called ``name`` (empty, too long, taken), or None when it can.

    The app asks before it closes the name dialog, so the operator can
    change the name instead of typing it again.
    """
    _check_kind(kind)
    try:
        cleaned = clean_name(name)
    except SelectionError as exc:
        return str(exc)
    clash = named(cleaned, kind, account_id=account_id)
    if clash:
        return f"a {kind} named {clash[0].name!r} already exists"
    return None


#: ``named``'s ``account_id`` default: selections of every account and none.
ANY_ACCOUNT = -1


def named(name: str, kind: str | None = None, *, account_id: int | None = ANY_ACCOUNT) -> list[Selection]:
    """The selections and projects called ``name``: spaces and case ignored, Unicode-aware.

    Compared in Python (``str.casefold``): SQLite's ``lower()`` folds ASCII
    only, so "Ärzte Q1" and "ärzte q1" were two names there but one on
    PostgreSQL.  Operators make selections by hand; the candidates are read
    by kind and account, a few hundred rows at most.
    """
    wanted = " ".join(name.split()).casefold()
    q = Selection.select()
    if kind is not None:
        q = q.where(Selection.kind == kind)
    if account_id is None:
        q = q.where(Selection.account.is_null())
    elif account_id != ANY_ACCOUNT:
        q = q.where(Selection.account == account_id)
    return [s for s in q.order_by(Selection.id) if " ".join(s.name.split()).casefold() == wanted]


def find_selections(text: str, kind: str | None = None, limit: int = 20) -> list[Selection]:
    """Selections whose name contains ``text`` (case-insensitive), prefix matches first.

    For a type-ahead picker: an empty ``text`` lists the first ``limit`` by
    name.  Each result carries ``member_count``.  Matching is Unicode-aware on
    PostgreSQL (ILIKE); SQLite's LIKE folds ASCII letters only.
    """
    if kind is not None:
        _check_kind(kind)
    text = " ".join((text or "").split())
    members = (SelectionMember.select(fn.COUNT(SelectionMember.id))
               .where(SelectionMember.selection == Selection.id))
    q = Selection.select(Selection, members.alias("member_count"))
    if kind is not None:
        q = q.where(Selection.kind == kind)
    if text:
        q = q.where(Selection.name.contains(text)).order_by(
            Case(None, ((Selection.name.startswith(text), 0),), 1), fn.LOWER(Selection.name), Selection.id)
    else:
        q = q.order_by(fn.LOWER(Selection.name), Selection.id)
    return list(q.limit(max(1, limit)))


def get_selection(name_or_id: int | str, kind: str | None = None) -> Selection:
    """The selection with this id, or with exactly this name (case-insensitive)."""
    if isinstance(name_or_id, int):
        sel = Selection.get_or_none(Selection.id == name_or_id)
        if sel is None:
            raise SelectionError(f"no selection with id {name_or_id}")
        return sel
    if kind is not None:
        _check_kind(kind)
    found = named(clean_name(name_or_id), kind)
    if not found:
        raise SelectionError(f"no selection named {name_or_id!r}")
    if len(found) > 1:
        raise SelectionError(f"several selections are named {name_or_id!r}: use the id")
    return found[0]


def selection_addresses(name_or_id: int | str) -> ModelSelect:
    """The addresses in a selection, by id (a query: iterate or page it, never load it whole)."""
    sel = get_selection(name_or_id)
    return (Address.select(Address)
            .join(SelectionMember, on=(SelectionMember.address == Address.id))
            .where(SelectionMember.selection == sel.id)
            .order_by(Address.id))

