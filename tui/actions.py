"""The bulk-action menu of the list screens (recipients, blocked, complaints).

A list screen inherits ``BulkActionsMixin`` and provides ``current_target()``
(the selected rows, or the whole filter after ``*``) and ``reload()``.  The
mixin binds ``m`` to the action menu and runs one flow per action: ask what
is needed (format and file, a name, a selection, a confirmation that states
the row count), run the models function in a thread worker under a progress
dialog, report the outcome, reload the list.  Every rule lives in
``models.actions``; this module only asks and shows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.dom import DOMNode

from models.text import count_text
from tui.commands_palette import EXTRA_COMMANDS, PaletteCommand
from tui.dbthread import in_thread
from tui.dialogs.confirm import ConfirmDialog
from tui.dialogs.export import ExportChoice, ExportDialog
from tui.dialogs.menu import ActionMenu, MenuItem
from tui.dialogs.name import NameDialog
from tui.dialogs.picker import PickerDialog
from tui.dialogs.progress import JobOutcome, ProgressDialog
from tui.workers import failure_text, recoverable

if TYPE_CHECKING:
    from models.filters import Target
    from models.validation import TargetDomainCheck

#: Every bulk action, in menu order; the letter picks it inside the menu.
BULK_ACTIONS: Final[tuple[MenuItem, ...]] = (
    MenuItem("export", "Export (CSV, XLSX, JSON Lines)…", "e"),
    MenuItem("new_selection", "Add to new selection…", "n"),
    MenuItem("new_project", "Add to new project…", "p"),
    MenuItem("existing_selection", "Add to existing selection…", "s"),
    MenuItem("existing_project", "Add to existing project…", "j"),
    MenuItem("delete", "Delete selected addresses", "d", destructive=True),
    MenuItem("clear_bounce", "Clear bounce flag", "c", destructive=True),
    MenuItem("former_employee", "Set as former employee", "f", destructive=True),
)
ACTIONS_BY_ID: Final[dict[str, MenuItem]] = {item.id: item for item in BULK_ACTIONS}

#: What the confirm dialog asks before each destructive action.
QUESTIONS: Final[dict[str, tuple[str, str]]] = {
    "delete": ("Delete addresses",
               "Delete these addresses? Their people, events and history stay; "
               "the deletion is written to the audit log."),
    "clear_bounce": ("Clear bounce flag",
                     "Unblock these addresses and reset their bounce counts? "
                     "This can be undone from the audit log."),
    "former_employee": ("Set as former employee",
                        "Mark the people behind these addresses as former employees? "
                        "This can be undone from the audit log."),
}


def scope_text(target: Target, hidden: int = 0) -> str:
    """Where the action applies, in words: the selected rows or the whole filter.

    ``hidden``: selected rows the current search or filter does not show (a
    selection outlives a search): said, so the operator is not surprised.
    """
    if target.ids is None:
        return "Every row of the current filter (in the database, not only the visible ones)."
    if hidden:
        shown = count_text(hidden, "of them", "of them")
        return f"The selected rows ({shown} not shown by the current search or filter)."
    return "The selected rows."


def hidden_text(hidden: int) -> str:
    """"2 selected rows are not shown by the current search or filter" (and are acted on all the same)."""
    verb = "is" if hidden == 1 else "are"
    return f"{count_text(hidden, 'selected row')} {verb} not shown by the current search or filter"


@dataclass(frozen=True, slots=True)
class Added:
    """What an add to a selection or project did: the members added (the rest were members already)."""

    rows: int


def _added(selection_and_rows: tuple[int, int]) -> Added:
    return Added(selection_and_rows[1])  # ``models.actions.add_to_selection``: (selection id, rows added)


def outcome_text(label: str, result: Any) -> str:
    """A one-line report of a finished action (the models functions return counts or audit entries)."""
    if isinstance(result, int) and not isinstance(result, bool):
        return f"{label}: {count_text(result, 'row')}."
    if isinstance(result, Added):
        if result.rows == 0:
            return f"{label}: nothing added, every row was already a member."
        return f"{label}: {count_text(result.rows, 'row')} added."
    affected = getattr(result, "affected", None)
    audit_id = getattr(result, "audit_id", None) or (getattr(result, "id", None) if affected is not None else None)
    if affected is not None:
        tail = f" (audit entry {audit_id})" if audit_id else ""
        return f"{label}: {count_text(affected, 'row')}{tail}."
    return f"{label}: done."


def dead_domain_text(check: TargetDomainCheck) -> Text | None:
    """The confirm dialog's warning about dead domains (None when every checked domain may take mail)."""
    partial = ""
    if check.checked < check.total:
        partial = f" (checked the {check.checked:,} largest of {check.total:,} domains)"
    if not check.dead:
        return Text(f"DNS: no dead domain found{partial}.", style="dim") if partial else None
    n, domains = check.dead_addresses, len(check.dead)
    text = Text(f"⚠ {n:,} of these addresses {'is' if n == 1 else 'are'} on {domains:,} "
                f"domain{'s' if domains != 1 else ''} that cannot receive mail{partial}:", style="bold")
    for dead in check.dead[:5]:
        text.append(f"\n  {dead.domain}: {dead.status} ({dead.addresses:,})", style="")
    if len(check.dead) > 5:
        text.append(f"\n  … and {len(check.dead) - 5:,} more", style="")
    return text


class BulkActionsMixin(DOMNode):
    """Action menu (``m``) and bulk-action flows for a list screen.

    A ``DOMNode`` subclass so Textual merges its ``BINDINGS`` into the screen
    that inherits it (``class BlockedScreen(Screen, BulkActionsMixin)``: Screen first, so that its CSS applies).
    """

    BINDINGS = [Binding("m", "bulk_menu", "Actions", id="bulk.menu")]

    # -- provided by the list screen -------------------------------------------------
    def current_target(self) -> Target | None:  # pragma: no cover - overridden
        raise NotImplementedError

    def reload(self, forget_selection: bool = False) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    # -- entry points ----------------------------------------------------------------
    def action_bulk_menu(self) -> None:
        """Open the action menu for the current target."""
        self.bulk_flow(None)

    def run_bulk_action(self, action_id: str) -> None:
        """Run one action directly (the command palette's entry point)."""
        if action_id not in ACTIONS_BY_ID:
            raise KeyError(f"unknown bulk action {action_id!r}")
        self.bulk_flow(action_id)

    #: True while an action's dialogs are up: the screen reloads once at its end, not on each dialog's close.
    acting = False

    @work(exclusive=True, group="bulk-flow")
    @recoverable("the action")
    async def bulk_flow(self, action_id: str | None) -> None:
        """Ask, confirm, run, report, reload: one action from menu to result."""
        self.acting = True
        try:
            await self._bulk_flow(action_id)
        finally:
            self.acting = False

    async def _bulk_flow(self, action_id: str | None) -> None:
        from models.actions import count_target

        target = self.current_target()
        if target is None:
            self.app.notify("Nothing to act on: select rows with space, or every row of the filter with *.",
                            severity="warning", markup=False)
            return
        count = await in_thread(self, count_target, target, group="bulk-count")
        if count == 0:
            self.app.notify("The selection is empty: nothing to do.", severity="warning", markup=False)
            return
        hidden = 0
        if target.ids is not None and (shown := replace(target, filter=self.view_filter())) != target:
            hidden = count - await in_thread(self, count_target, shown, group="bulk-count")
        if action_id is None:
            action_id = await self.app.push_screen_wait(ActionMenu(BULK_ACTIONS, count, scope_text(target, hidden)))
            if action_id is None:
                return
        job = await self._prepare(action_id, target, count, hidden)
        if job is None:
            return
        title, fn, total = job
        outcome: JobOutcome = await self.app.push_screen_wait(ProgressDialog(title, fn, total))
        done = False
        if outcome.cancelled:
            self.app.notify(f"{title}: cancelled, nothing changed.", markup=False)
        elif outcome.error is not None:
            self.app.notify(failure_text(title, outcome.error), severity="error", markup=False, timeout=10)
        else:
            self.app.notify(outcome_text(title, outcome.result), markup=False)
            done = True
        self.reload(forget_selection=done and ACTIONS_BY_ID[action_id].destructive)

    async def _dead_domain_warning(self, target: Target) -> Text | None:
        """Re-validate the target's domains (bounded) before clearing.

        The warning for the confirm dialog (empty when nothing is dead), or
        None when the operator pressed Escape during the check.
        """
        from models.validation import check_target_domains

        outcome: JobOutcome = await self.app.push_screen_wait(ProgressDialog(
            "Checking the domains before clearing", lambda progress: check_target_domains(target, progress=progress)))
        if outcome.cancelled:
            return None
        if outcome.error is not None:
            return Text(f"⚠ The domains could not be re-checked: {outcome.error}")
        return dead_domain_text(outcome.result) or Text("")

    async def _prepare(self, action_id: str, target: Target, count: int, hidden: int = 0
                       ) -> tuple[str, Any, int | None] | None:
        """Ask what the action needs; the job to run, or None when the operator cancelled."""
        from models import actions
        from models.selections import find_selections, name_problem

        if action_id == "export":
            choice: ExportChoice | None = await self.app.push_screen_wait(
                ExportDialog(count, f"bouncedesk-{target.filter.view}"))
            if choice is None:
                return None
            return (f"Export to {choice.path.name}",
                    lambda progress: actions.export_rows(target, choice.path, choice.fmt, progress=progress),
                    count)
        if action_id in ("new_selection", "new_project"):
            kind = "selection" if action_id == "new_selection" else "project"
            name = await self.app.push_screen_wait(
                NameDialog(f"Add to a new {kind}", f"Name of the new {kind} for {count_text(count, 'row')}:",
                           check=lambda text: name_problem(text, kind, target.filter.account_id)))
            if name is None:
                return None
            return (f"Add to new {kind} {name!r}",
                    lambda progress: _added(actions.add_to_selection(target, name=name, kind=kind)), None)
        if action_id in ("existing_selection", "existing_project"):
            kind = "selection" if action_id == "existing_selection" else "project"
            other, key = ("Add to new selection", "n") if kind == "selection" else ("Add to new project", "p")
            selection_id = await self.app.push_screen_wait(
                PickerDialog(f"Add {count_text(count, 'row')} to an existing {kind}",
                             lambda text: find_selections(text, kind),
                             empty=f"There is no {kind} yet: create one with '{other}' "
                                   f"(key {key} in the action menu)."))
            if selection_id is None:
                return None
            return (f"Add to {kind}",
                    lambda progress: _added(actions.add_to_selection(target, selection_id=selection_id, kind=kind)),
                    None)
        title, question = QUESTIONS[action_id]
        warning: Text | None = None
        if action_id == "clear_bounce":
            checked = await self._dead_domain_warning(target)
            if checked is None:
                self.app.notify(f"{title}: cancelled, nothing changed.", markup=False)
                return None
            warning = checked or None
        if hidden:
            note = Text(f"⚠ {hidden_text(hidden)}: included all the same.")
            warning = note if warning is None else Text("\n").join([note, warning])
        if not await self.app.push_screen_wait(ConfirmDialog(title, question, count, warning=warning)):
            return None
        fn = {"delete": actions.delete_addresses, "clear_bounce": actions.clear_bounce_flag,
              "former_employee": actions.set_former_employee}[action_id]
        return (title, lambda progress: fn(target), None)



def _open_person(app: Any) -> None:
    """The palette's "person details": what Enter on the cursor row of a list screen does."""
    screen = app.screen
    row = screen.table.current_row()
    if row is None:
        app.notify("No row under the cursor.", markup=False)
        return
    screen.open_row(row)


EXTRA_COMMANDS.append(PaletteCommand(
    "Person details of the cursor row", "Addresses, why they fail, history; edit an address (Enter on a row)",
    _open_person, applies=lambda screen: isinstance(screen, BulkActionsMixin) and hasattr(screen, "open_row")))
