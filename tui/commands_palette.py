"""The command palette (ctrl+p): every screen, every key of the current screen, every bulk action.

What it lists, for the screen the palette was opened from:

* ``SCREEN_COMMANDS``: going to each top-level screen (modes of the app)
  and the help screen, always;
* every binding of the current screen and its focused widget that has a
  description (the same list the footer and the help screen show), run
  exactly as the key would run it, so a remapped or newly added key needs no
  palette entry of its own;
* the bulk actions of ``tui.actions.BULK_ACTIONS`` on a list screen;
* ``EXTRA_COMMANDS``: a plain list other modules append to for things
  without a key (e.g. "Open settings"); each entry says when it applies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from textual.app import App
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.screen import Screen


@dataclass(frozen=True, slots=True)
class PaletteCommand:
    """One palette entry: ``run(app)`` is called when it is chosen (it may return an awaitable)."""

    title: str
    help: str
    run: Callable[[App], Any]
    applies: Callable[[Screen], bool] = lambda screen: True
    #: the app binding whose key ``{key}`` in ``help`` names (as keymap.toml may have remapped it)
    key_id: str | None = None


def _mode(name: str) -> Callable[[App], Any]:
    return lambda app: app.run_action(f"switch_mode({name!r})")


#: Always offered: the top-level screens (keys 1-4) and help.
SCREEN_COMMANDS: list[PaletteCommand] = [
    PaletteCommand("Go to Mailings", "The mailings with their rates (key {key})", _mode("mailings"),
                   key_id="app.mailings"),
    PaletteCommand("Go to Blocked addresses", "Every blocked address (key {key})", _mode("blocked"),
                   key_id="app.blocked"),
    PaletteCommand("Go to Spam complaints", "Every complaint and its consent state (key {key})",
                   _mode("complaints"), key_id="app.complaints"),
    PaletteCommand("Go to Audit log", "What was done, by whom; undo (key {key})", _mode("audit"), key_id="app.audit"),
    PaletteCommand("Help: all keys", "Every key of this screen and the global keys (key {key})",
                   lambda app: app.run_action("help"), key_id="app.help"),
]

#: Entries added by other modules (settings, person details, ...): append a PaletteCommand.
EXTRA_COMMANDS: list[PaletteCommand] = []


def _binding_commands(screen: Screen) -> Iterator[PaletteCommand]:
    """The described bindings active on ``screen`` (global ones are covered by SCREEN_COMMANDS)."""
    seen: set[str] = set()
    for key, active in screen.active_bindings.items():
        binding = active.binding
        if isinstance(active.node, App) or not binding.description or binding.system:
            continue
        if binding.action in seen:
            continue
        seen.add(binding.action)
        node = active.node
        title = f"{binding.tooltip or binding.description}"
        yield PaletteCommand(title, f"key {screen.app.get_key_display(binding)}",
                             lambda app, a=binding.action, n=node: app.run_action(a, n))


def _bulk_commands(screen: Screen) -> Iterator[PaletteCommand]:
    run_bulk = getattr(screen, "run_bulk_action", None)
    if run_bulk is None:
        return
    from tui.actions import BULK_ACTIONS

    for item in BULK_ACTIONS:
        yield PaletteCommand(f"Action: {item.label}", "on the selected rows (menu key m)",
                             lambda app, i=item.id: run_bulk(i))


def palette_commands(screen: Screen) -> list[PaletteCommand]:
    """Every command the palette offers on ``screen``, in display order."""
    from tui.widgets.title_bar import bound_keys

    keys = bound_keys(screen.app)
    out = [replace(c, help=c.help.format(key=keys.get(c.key_id, "?"))) if c.key_id else c
           for c in SCREEN_COMMANDS if c.applies(screen)]
    out += list(_binding_commands(screen))
    out += list(_bulk_commands(screen))
    out += [c for c in EXTRA_COMMANDS if c.applies(screen)]
    return out


class BouncedeskCommands(Provider):
    """The palette provider of the app (registered in ``BouncedeskApp.COMMANDS``)."""

    async def discover(self) -> Hits:
        for command in palette_commands(self.screen):
            yield DiscoveryHit(command.title, self._runner(command), help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in palette_commands(self.screen):
            score = matcher.match(command.title)
            if score > 0:
                yield Hit(score, matcher.highlight(command.title), self._runner(command), help=command.help)

    def _runner(self, command: PaletteCommand) -> Callable[[], Any]:
        app = self.app
        return lambda: command.run(app)
