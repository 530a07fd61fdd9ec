"""The bouncedesk app: one App, a mode per top-level screen, keys 1-4 between them.

Screens are registered in ``MODES`` (one stack each, so going to Blocked and
back keeps the recipients you were on) and pushed on top of a mode with
``app.push_screen(...)`` (recipients of a mailing, person details).  To add a
top-level screen: import it here, add it to ``MODES`` and give it a key.
"""

from __future__ import annotations

import argparse
import gc

from rich.text import Text
from textual.app import App
from textual.binding import Binding
from textual.dom import DOMNode
from textual.screen import ModalScreen

from models.db import close_database, open_chosen
from models.queries import accounts
from tui.commands_palette import BouncedeskCommands
from tui.keymap import load_keymap
from tui.screens.audit import AuditScreen, open_settings
from tui.screens.blocked import BlockedScreen
from tui.screens.complaints import ComplaintsScreen
from tui.screens.help import HelpScreen
from tui.screens.mailings import MailingsScreen

def _binding_classes() -> list[type[DOMNode]]:
    """The app's screens, dialogs and widgets (every module imported, so none is missed)."""
    import importlib
    import pkgutil

    import tui.dialogs
    import tui.screens
    import tui.widgets

    for package in (tui.screens, tui.dialogs, tui.widgets):
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package.__name__}.{module.name}")
    found: list[type[DOMNode]] = []
    todo: list[type] = [DOMNode]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith("tui."):
            found.append(cls)
    return found


def _bindings(cls: type) -> list[Binding]:
    """The bindings ``cls`` declares and inherits (Textual merges them along the MRO)."""
    return [b for klass in reversed(cls.__mro__) for b in vars(klass).get("BINDINGS", ())
            if isinstance(b, Binding)]


def binding_ids() -> set[str]:
    """Every binding id of the app, its screens, dialogs and widgets (what a keymap may name)."""
    return {b.id for cls in _binding_classes() for b in _bindings(cls) if b.id}


def keymap_clashes(keymap: dict[str, str]) -> list[str]:
    """Keys the keymap gives to two bindings of one screen: only one of them would work.

    Textual (8.x) replaces the other binding's key without a word when that
    binding is not in the keymap itself, so the check is ours.
    """
    told: set[tuple[str, tuple[str, ...]]] = set()
    out: list[str] = []
    for cls in _binding_classes():
        by_key: dict[str, set[str]] = {}
        for b in _bindings(cls):
            if b.id is None:
                continue
            for key in keymap.get(b.id, b.key).split(","):
                by_key.setdefault(key.strip(), set()).add(b.id)
        for key, ids in sorted(by_key.items()):
            clash = (key, tuple(sorted(ids)))
            if len(ids) > 1 and ids & keymap.keys() and clash not in told:
                told.add(clash)
                out.append(f"keymap: {', '.join(clash[1])} share the key {key}; only one of them works")
    return out


#: mode name (also the ``--screen`` value) -> the screen that starts it
SCREENS = {
    "mailings": MailingsScreen,
    "blocked": BlockedScreen,
    "complaints": ComplaintsScreen,
    "audit": AuditScreen,
}


class BouncedeskApp(App[int]):
    """Keyboard-driven operator app over the bouncedesk database."""

    TITLE = "bouncedesk"
    CSS_PATH = "app.tcss"
    MODES = dict(SCREENS)
    COMMANDS = App.COMMANDS | {BouncedeskCommands}
    BINDINGS = [
        # 1-4 are shown in every screen's title row (tui.widgets.title_bar), not in the footer, which at
        # 80 columns has room for the screen's own keys only; 5 is on the help screen and in the palette
        Binding("1", "switch_mode('mailings')", "Mailings", id="app.mailings", show=False),
        Binding("2", "switch_mode('blocked')", "Blocked", id="app.blocked", show=False),
        Binding("3", "switch_mode('complaints')", "Complaints", id="app.complaints", show=False),
        Binding("4", "switch_mode('audit')", "Audit", id="app.audit", show=False),
        Binding("5", "settings", "Settings", id="app.settings", show=False),
        Binding("question_mark,f1", "help", "Help", id="app.help"),
        Binding("q", "quit", "Quit", id="app.quit", show=False),  # the footer's room goes to the screen's keys
    ]

    def __init__(self, screen: str = "mailings", account_list: list[tuple[int, str]] | None = None) -> None:
        super().__init__()
        self.start_mode = screen
        self.accounts: list[tuple[int, str]] = account_list if account_list is not None else accounts()
        #: the account the mailings, blocked and complaints screens show (None: all accounts)
        self.account_id: int | None = self.accounts[0][0] if len(self.accounts) == 1 else None

    def on_mount(self) -> None:
        keymap, problems = load_keymap(known=binding_ids)
        if keymap:
            problems += keymap_clashes(keymap)
        if keymap:
            self.set_keymap(keymap)
        for problem in problems:
            self.notify(problem, severity="warning", markup=False, timeout=10)
        self.switch_mode(self.start_mode if self.start_mode in self.MODES else "mailings")
        self.call_after_refresh(self._freeze_startup_objects)

    def _freeze_startup_objects(self) -> None:
        """Keep what start-up built out of the garbage collector's full passes.

        A full collection traverses every tracked object: with the ~80,000
        that importing Textual, Rich, Peewee and the models and showing the
        first screen leave, it held the UI thread for 60-200 ms at random
        moments (bench/tui.py: a sort change of 146 ms, 95 of them in gc).
        Frozen objects are still freed as soon as nothing refers to them;
        only reference cycles among them are no longer collected.
        """
        gc.freeze()

    def action_help(self) -> None:
        """Every key of the current screen and the global keys (not on top of itself)."""
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def action_settings(self) -> None:
        """The rule settings, from any screen (pushed on top of it; Escape returns)."""
        open_settings(self)

    def account_label(self) -> Text:
        """The chosen account's name, as literal text."""
        names = dict(self.accounts)
        return Text(names.get(self.account_id, "all accounts") if self.account_id else "all accounts")

    def next_account(self) -> None:
        """Cycle the chosen account: all accounts, then each account by name."""
        choices: list[int | None] = [None] + [a for a, _name in self.accounts]
        self.account_id = choices[(choices.index(self.account_id) + 1) % len(choices)]

    async def action_switch_mode(self, mode: str) -> None:
        if mode not in self.MODES:
            self.notify(f"The {mode} screen is not part of this build yet.", severity="warning", markup=False)
            return
        if mode != self.current_mode:
            await self.switch_mode(mode)  # its own stack: where the operator left it
        else:  # the key of the screen one is on: back to its list (from person details, a mailing's recipients)
            while len(self.screen_stack) > 1 and not isinstance(self.screen, ModalScreen):
                self.pop_screen()


def run_app(args: argparse.Namespace) -> int:
    """Open the database named on the command line and run the app until the operator quits."""
    open_chosen(args.db)
    account_list = accounts()
    close_database()
    app = BouncedeskApp(screen=args.screen or "mailings", account_list=account_list)
    app.run()
    return app.return_code or 0
