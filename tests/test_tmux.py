"""The real ``bouncedesk`` command in a real terminal: tmux at 80x24, keys in, screen text out.

tmux comes from ``tests/setup/system.sh``.  Each test run uses its own tmux
server (``-L`` with a unique socket name), so parallel runs never meet, and
kills it at the end whatever happened.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from models.db import close_database, open_database
from tests.seed import seed_small

BOUNCEDESK = Path(sys.executable).with_name("bouncedesk")


class Tmux:
    """One private tmux server holding one 80x24 session."""

    def __init__(self) -> None:
        self.socket = f"bouncedesk-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def run(self, *args: str, check: bool = True) -> str:
        out = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=20)
        if check and out.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)} failed: {out.stderr.strip()}")
        return out.stdout

    def start(self, command: str) -> None:
        self.run("new-session", "-d", "-s", "t", "-x", "80", "-y", "24", command)
        self.run("set-option", "-t", "t", "remain-on-exit", "on")
        self.run("set-option", "-s", "escape-time", "0")  # Escape is Escape, not the start of alt+key

    def keys(self, *keys: str) -> None:
        for key in keys:
            self.run("send-keys", "-t", "t", key)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "t")

    def wait_for(self, text: str | Callable[[str], bool], timeout: float = 20.0) -> str:
        """The screen once ``text`` is on it, or ``text(screen)`` holds (the app paints asynchronously)."""
        ready = text if callable(text) else (lambda shown: text in shown)
        deadline = time.monotonic() + timeout
        shown = ""
        while time.monotonic() < deadline:
            shown = self.screen()
            if ready(shown):
                return shown
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never held; the screen was:\n{shown}")

    def pane(self, fmt: str) -> str:
        return self.run("display-message", "-p", "-t", "t", fmt).strip()

    def post_mortem(self) -> str:
        """What the pane was doing: its state, then every thread's stack of the
        app (the shell's child; it runs with ``PYTHONFAULTHANDLER``, so SIGABRT
        makes it print them into the pane, which the shell keeps open)."""
        state = self.pane("dead=#{pane_dead} status=#{pane_dead_status} pid=#{pane_pid}")
        shell = self.pane("#{pane_pid}")
        children = subprocess.run(["ps", "-o", "pid=", "--ppid", shell], capture_output=True, text=True).stdout.split()
        for pid in children:
            os.kill(int(pid), signal.SIGABRT)
        time.sleep(1.0)
        history = self.run("capture-pane", "-p", "-t", "t", "-S", "-2000", check=False)
        return f"{state} app={children}\n{history}"

    def kill(self) -> None:
        self.run("kill-server", check=False)


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed: run tests/setup/system.sh")
    t = Tmux()
    try:
        yield t
    finally:
        t.kill()


@pytest.fixture
def seeded_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'seeded.db'}"
    db = open_database(url)
    try:
        seed_small(db)
    finally:
        close_database()
    return url


def test_bouncedesk_in_tmux_at_80x24(tmux: Tmux, seeded_url: str, tmp_path: Path) -> None:
    env = (f"env TERM=xterm-256color XDG_CONFIG_HOME={tmp_path / 'config'} XDG_DATA_HOME={tmp_path / 'data'} "
           "TEXTUAL_ANIMATIONS=none PYTHONFAULTHANDLER=1")
    # tmux runs the command through the shell, which reaps bouncedesk and writes its exit status
    # down: tmux itself sometimes leaves a finished pane's process unreaped (a zombie, no status)
    exit_status = tmp_path / "exit-status"
    tmux.start(f"{env} {BOUNCEDESK} --db {seeded_url}; echo $? > {exit_status}")
    shown = tmux.wait_for("May newsletter")
    assert "Mailings" in shown and "April offers" in shown
    assert "[/] Hostile [link=htt" in shown  # markup shown as typed

    tmux.keys("1", "Enter")
    shown = tmux.wait_for("Recipients of May newsletter")
    shown = tmux.wait_for("All 41")

    def table_lines(shown: str) -> list[str]:
        return [line for line in shown.splitlines() if "@" in line]

    tmux.keys("b")
    shown = tmux.wait_for(lambda shown: "Rows: 13" in shown
                          and all("bounced" in line for line in table_lines(shown)))
    assert len(table_lines(shown)) == 13
    assert any("[link=http://x]" in line for line in table_lines(shown))  # the hostile name, literally, cut to width

    tmux.keys("2")
    shown = tmux.wait_for("Blocked addresses")
    tmux.wait_for("[red]x[/red]@hostile.e")  # the hostile address, literally (cut to the column's width)

    tmux.keys("?")
    shown = tmux.wait_for("Keys of")
    assert "keymap.toml" in shown

    tmux.keys("Escape")
    tmux.wait_for(lambda shown: "Keys of" not in shown and "Blocked addresses" in shown)
    tmux.keys("q")
    deadline = time.monotonic() + 30
    while not exit_status.exists() or not exit_status.read_text().strip():
        if time.monotonic() > deadline:
            raise AssertionError(f"bouncedesk did not quit on q:\n{tmux.post_mortem()}")
        time.sleep(0.1)
    assert exit_status.read_text().strip() == "0"
